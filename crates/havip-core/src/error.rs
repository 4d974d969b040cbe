//! `DomainError`: what went wrong, in the core's words. Every dialect maps each variant to its
//! own status and code in one exhaustive match, so a new variant fails to compile until every
//! vendor has decided how to say it.

use crate::types::HavipStatus;

/// A fault that an operator armed through the admin API (see [`crate::faults`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InjectedFault {
    /// Another operation on the same resource is in progress.
    OperationConflict,
    /// The resource is in a state that does not allow the operation.
    IncorrectStatus,
    /// An earlier request with the same client token is still being processed.
    LastTokenProcessing,
    /// The service is busy; retry later.
    SystemBusy,
    /// The caller is throttled.
    Throttling,
}

/// Why a domain operation was refused. The doc line of each variant is its internal message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The region does not exist for this cloud.
    #[error("the region does not exist")]
    RegionNotFound,
    /// The vSwitch does not exist in this account and region.
    #[error("the vSwitch does not exist")]
    VSwitchNotFound,
    /// The VPC does not exist in this account and region.
    #[error("the VPC does not exist")]
    VpcNotFound,
    /// The vSwitch exists but belongs to another VPC than the one named.
    #[error("the vSwitch does not belong to the VPC")]
    VSwitchNotInVpc,
    /// The HAVIP does not exist in this account and region.
    #[error("the HAVIP does not exist")]
    HavipNotFound,
    /// The instance does not exist in this account and region.
    #[error("the instance does not exist")]
    InstanceNotFound,
    /// The ENI does not exist in this account and region.
    #[error("the ENI does not exist")]
    EniNotFound,
    /// The EIP does not exist in this account and region.
    #[error("the EIP does not exist")]
    EipNotFound,
    /// The resource group does not exist in this account.
    #[error("the resource group does not exist")]
    ResourceGroupNotFound,

    /// The address lies outside the vSwitch CIDR.
    #[error("the address is outside the vSwitch CIDR")]
    IpOutOfRange,
    /// The address is one the vSwitch reserves for itself.
    #[error("the address is reserved by the system")]
    IpReserved,
    /// The address is held by another instance, ENI or HAVIP.
    #[error("the address is already in use")]
    IpInUse,
    /// No free address is left in the vSwitch.
    #[error("no free address is left in the vSwitch")]
    SubnetExhausted,

    /// The VPC holds as many HAVIPs as its quota allows.
    #[error("the VPC HAVIP quota is reached")]
    HavipQuotaPerVpc,
    /// The account holds as many HAVIPs as its quota allows.
    #[error("the account HAVIP quota is reached")]
    HavipQuotaPerAccount,
    /// The HAVIP's status does not allow the operation.
    #[error("the HAVIP status {0:?} does not allow this operation")]
    HavipWrongStatus(HavipStatus),
    /// The HAVIP still has associated instances.
    #[error("the HAVIP still has associated instances")]
    HavipInUse,
    /// The instance's state does not allow the operation.
    #[error("the instance state does not allow this operation")]
    InstanceWrongStatus,
    /// The target is in another vSwitch than the HAVIP.
    #[error("the target is in another vSwitch than the HAVIP")]
    TargetInOtherVSwitch,
    /// The HAVIP is associated with targets of the other kind.
    #[error("the HAVIP is associated with targets of another kind")]
    MixedTargetKinds,
    /// The ENI is not attached to an instance.
    #[error("the ENI is not attached to an instance")]
    EniNotAttached,
    /// Another ENI of the same instance is already associated.
    #[error("another ENI of the same instance is already associated")]
    SameInstanceTwice,
    /// The target holds as many HAVIPs as its quota allows.
    #[error("the target holds too many HAVIPs")]
    TooManyHavipsOnTarget,
    /// The HAVIP has as many targets as its quota allows.
    #[error("the HAVIP has too many targets")]
    TooManyTargetsOnHavip,
    /// The target is already associated with the HAVIP.
    #[error("the target is already associated with the HAVIP")]
    AlreadyAssociated,
    /// The target is not associated with the HAVIP.
    #[error("the target is not associated with the HAVIP")]
    NotAssociated,
    /// The target is the master and removal was not forced.
    #[error("the target is the master; removal needs force")]
    MasterNotForced,

    /// The HAVIP already has an EIP.
    #[error("the HAVIP already has an EIP")]
    HavipHasEip,
    /// The EIP is bound to something else, or is binding.
    #[error("the EIP is already bound")]
    EipInUse,
    /// The EIP is not bound to this HAVIP.
    #[error("the EIP is not bound to this HAVIP")]
    EipNotBoundHere,
    /// The EIP is in a transient state.
    #[error("the EIP status does not allow this operation")]
    EipWrongStatus,
    /// The EIP lives in another region than the HAVIP.
    #[error("the EIP is in another region")]
    EipOtherRegion,
    /// An EIP is still bound to the HAVIP.
    #[error("an EIP is still bound to the HAVIP")]
    HavipHasEipOnDelete,

    /// A resource would carry more tags than allowed.
    #[error("too many tags on the resource")]
    TooManyTags,
    /// The client token was used before with other parameters.
    #[error("the client token was used with other parameters")]
    IdempotentParameterMismatch,
    /// The claimant of a VIP is not associated with the HAVIP.
    #[error("the claimant is not associated with the HAVIP")]
    ClaimantNotAssociated,
    /// The object named in an admin change conflicts with the world (bad reference, overlap).
    #[error("invalid topology: {0}")]
    InvalidTopology(String),
    /// An operator-armed fault.
    #[error("injected fault {0:?}")]
    Injected(InjectedFault),
    /// Something unexpected; the detail is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for DomainError {
    fn from(e: crate::store::StoreError) -> Self {
        DomainError::Internal(e.to_string())
    }
}
