//! Credentials and replay protection shared by every dialect's signature check.
//!
//! The key ring is an in-memory copy of the access keys, reloaded whenever the topology
//! changes, so that verifying a request never waits on the store. The nonce cache remembers
//! (key, nonce) pairs for the accepted clock window; a pair seen twice inside it is a replay.
//!
//! One node (SQLite) needs nothing more: the in-memory cache sees every request. Several
//! nodes on one database each see only their own requests, so a backend shared by nodes
//! hands the cache a [`NonceLedger`] at start ([`NonceCache::share_with`]); the dialects then
//! ask the ledger too ([`NonceCache::shared`]) once the in-memory check has passed, i.e. a
//! replay to the same node is still refused without a round trip, and a node without a
//! ledger pays nothing but one empty `OnceLock` read.

use crate::error::DomainError;
use crate::model::AccessKey;
use crate::policy::Policy;
use crate::types::{AccessKeyId, AccountId, Cloud};
use parking_lot::{Mutex, RwLock};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// What a valid access key resolves to.
#[derive(Clone)]
pub struct Credential {
    /// The owning account.
    pub account: AccountId,
    /// The account's cloud.
    pub cloud: Cloud,
    /// The signing secret.
    pub secret: Arc<str>,
    /// What the key may do (`None` = full access); see [`crate::policy`].
    pub policy: Option<Arc<Policy>>,
}

impl Credential {
    /// Whether this key may call `action` on `resource` (see [`crate::policy::allows`]).
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        crate::policy::allows(self.policy.as_deref(), action, resource)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("account", &self.account)
            .field("cloud", &self.cloud)
            .finish_non_exhaustive()
    }
}

/// Access keys by ID.
#[derive(Default)]
pub struct KeyRing {
    keys: RwLock<HashMap<AccessKeyId, Credential>>,
}

impl KeyRing {
    /// Replaces the whole ring.
    pub fn load(&self, keys: Vec<AccessKey>, clouds: &HashMap<AccountId, Cloud>) {
        let map = keys
            .into_iter()
            .filter_map(|k| {
                let cloud = *clouds.get(&k.account)?;
                Some((
                    k.id,
                    Credential {
                        account: k.account,
                        cloud,
                        secret: Arc::from(k.secret.as_str()),
                        policy: k.policy.map(Arc::new),
                    },
                ))
            })
            .collect();
        *self.keys.write() = map;
    }

    /// Resolves a key ID.
    pub fn get(&self, id: &str) -> Option<Credential> {
        self.keys.read().get(&AccessKeyId(id.to_string())).cloned()
    }
}

const SHARDS: usize = 16;

/// What [`NonceLedger::admit`] resolves to: `Ok(true)` first use, `Ok(false)` a replay.
pub type NonceAdmission = Pin<Box<dyn Future<Output = Result<bool, DomainError>> + Send>>;

/// Nonces remembered where every node sees them (the PostgreSQL store's `nonces` table).
pub trait NonceLedger: Send + Sync {
    /// Records `nonce` for `key` until `expires_ms`; resolves to `false` if any node recorded
    /// it before and it has not expired (a replay). An error means the ledger could not
    /// answer: the request must be refused, never let through unchecked.
    fn admit(&self, key: &str, nonce: &str, now_ms: i64, expires_ms: i64) -> NonceAdmission;
}

/// Nonces seen inside the clock window.
pub struct NonceCache {
    shards: Vec<Mutex<HashMap<u64, i64>>>,
    shared: OnceLock<Arc<dyn NonceLedger>>,
}

impl Default for NonceCache {
    fn default() -> Self {
        NonceCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shared: OnceLock::new(),
        }
    }
}

impl NonceCache {
    /// Makes `ledger` the cross-node record every dialect also consults; set once, at start,
    /// before serving. `false` if a ledger was already set (the first one stays).
    pub fn share_with(&self, ledger: Arc<dyn NonceLedger>) -> bool {
        self.shared.set(ledger).is_ok()
    }

    /// The cross-node ledger, if this node shares its store with others.
    pub fn shared(&self) -> Option<&dyn NonceLedger> {
        self.shared.get().map(|l| l.as_ref())
    }

    /// Records `nonce` for `key` until `expires_ms`; `false` if it was already seen and has not
    /// expired (a replay).
    pub fn check_and_insert(&self, key: &str, nonce: &str, now_ms: i64, expires_ms: i64) -> bool {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        0u8.hash(&mut h);
        nonce.hash(&mut h);
        let digest = h.finish();
        let mut shard = self.shards[(digest as usize) % SHARDS].lock();
        if shard.len() >= 4096 && shard.len().is_power_of_two() {
            shard.retain(|_, exp| *exp > now_ms);
        }
        match shard.get(&digest) {
            Some(&exp) if exp > now_ms => false,
            _ => {
                shard.insert(digest, expires_ms);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_inside_its_window() {
        let c = NonceCache::default();
        assert!(c.check_and_insert("k", "n1", 0, 1000));
        assert!(!c.check_and_insert("k", "n1", 10, 1010));
        assert!(c.check_and_insert("other", "n1", 10, 1010));
        assert!(c.check_and_insert("k", "n1", 2000, 3000));
    }

    struct Refuses;
    impl NonceLedger for Refuses {
        fn admit(&self, _: &str, _: &str, _: i64, _: i64) -> NonceAdmission {
            Box::pin(async { Ok(false) })
        }
    }

    #[test]
    fn a_ledger_is_set_once() {
        let c = NonceCache::default();
        assert!(c.shared().is_none());
        assert!(c.share_with(Arc::new(Refuses)));
        assert!(!c.share_with(Arc::new(Refuses)));
        assert!(c.shared().is_some());
    }
}
