//! The HAVIP state machine as one table.
//!
//! A mutation is accepted only from the states listed here; an accepted asynchronous mutation
//! moves the HAVIP into a transient state, which is the lock: until a worker completes the
//! operation, every other mutation of the same HAVIP is refused. Completion rules are in
//! [`complete`].

use crate::error::DomainError;
use crate::types::HavipStatus::{self, *};

/// A request that touches an HAVIP's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Add an instance or ENI.
    Associate,
    /// Remove an instance or ENI.
    Unassociate,
    /// Delete the HAVIP.
    Delete,
    /// Rename / re-describe.
    Modify,
    /// Bind an EIP (the HAVIP's status does not change).
    EipAssociate,
    /// Unbind an EIP (the HAVIP's status does not change).
    EipUnassociate,
}

impl Mutation {
    /// Every mutation, for exhaustive tests.
    pub const ALL: [Mutation; 6] = [
        Mutation::Associate,
        Mutation::Unassociate,
        Mutation::Delete,
        Mutation::Modify,
        Mutation::EipAssociate,
        Mutation::EipUnassociate,
    ];
}

/// Whether `m` may start from `status`, and the transient state it enters (`None`: the status
/// stays as it is).
pub fn begin(status: HavipStatus, m: Mutation) -> Result<Option<HavipStatus>, DomainError> {
    use Mutation as M;
    match (m, status) {
        (M::Associate, Available | InUse) => Ok(Some(Associating)),
        (M::Unassociate, Available | InUse) => Ok(Some(Unassociating)),
        (M::Delete, Available) => Ok(Some(Deleting)),
        (M::Delete, InUse) => Err(DomainError::HavipInUse),
        (M::Modify | M::EipAssociate | M::EipUnassociate, Available | InUse) => Ok(None),
        (_, s @ (Creating | Associating | Unassociating | Deleting)) => {
            Err(DomainError::HavipWrongStatus(s))
        }
    }
}

/// The state an HAVIP settles in when the pending operation of its transient state completes;
/// `None` means the HAVIP is gone. `members_left` is the number of associations after it.
pub fn complete(status: HavipStatus, members_left: usize) -> Option<HavipStatus> {
    match status {
        Creating => Some(Available),
        Associating => Some(InUse),
        Unassociating | Available | InUse => Some(if members_left > 0 { InUse } else { Available }),
        Deleting => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (state, mutation) pair, spelled out: the table above must agree with this one.
    #[test]
    fn every_state_and_mutation_pair_is_decided() {
        use Mutation as M;
        let expect = |s: HavipStatus, m: Mutation| -> Result<Option<HavipStatus>, DomainError> {
            let stable = matches!(s, Available | InUse);
            match m {
                M::Associate if stable => Ok(Some(Associating)),
                M::Unassociate if stable => Ok(Some(Unassociating)),
                M::Delete if s == Available => Ok(Some(Deleting)),
                M::Delete if s == InUse => Err(DomainError::HavipInUse),
                M::Modify | M::EipAssociate | M::EipUnassociate if stable => Ok(None),
                _ => Err(DomainError::HavipWrongStatus(s)),
            }
        };
        for s in HavipStatus::ALL {
            for m in Mutation::ALL {
                assert_eq!(begin(s, m), expect(s, m), "{s:?} × {m:?}");
            }
        }
    }

    #[test]
    fn transient_states_are_locks() {
        for s in [Creating, Associating, Unassociating, Deleting] {
            for m in Mutation::ALL {
                assert!(begin(s, m).is_err(), "{s:?} must refuse {m:?}");
            }
        }
    }

    #[test]
    fn completion_follows_the_docs() {
        assert_eq!(complete(Creating, 0), Some(Available));
        assert_eq!(complete(Associating, 1), Some(InUse));
        assert_eq!(complete(Unassociating, 1), Some(InUse));
        assert_eq!(complete(Unassociating, 0), Some(Available));
        assert_eq!(complete(Deleting, 0), None);
    }
}
