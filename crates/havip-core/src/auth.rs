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
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
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

/// Hands a digest through unchanged: the shard maps are keyed by digests that are already
/// a keyed hash of (key ID, nonce), so hashing them again is waste.
#[derive(Default)]
struct Digest(u64);

impl Hasher for Digest {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; this keeps any other input well mixed anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Digests = HashMap<u64, i64, BuildHasherDefault<Digest>>;

/// Nonces seen inside the clock window, by a digest of (key ID, nonce) keyed with this
/// process's random SipHash keys, so no client can aim nonces at one bucket.
pub struct NonceCache {
    shards: Vec<Mutex<Digests>>,
    keys: RandomState,
    shared: OnceLock<Arc<dyn NonceLedger>>,
}

impl Default for NonceCache {
    fn default() -> Self {
        NonceCache {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Digests::default()))
                .collect(),
            keys: RandomState::new(),
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
        // `str` hashes end with a terminator byte, so ("ab", "c") and ("a", "bc") differ.
        let digest = self.keys.hash_one((key, nonce));
        // The shard from middle bits: the map takes its bucket from the low bits and its
        // tag from the top seven.
        let mut shard = self.shards[(digest >> 32) as usize % SHARDS].lock();
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
        // The key ID and the nonce do not run together.
        assert!(c.check_and_insert("ab", "c", 0, 1000));
        assert!(c.check_and_insert("a", "bc", 0, 1000));
    }

    #[test]
    fn many_nonces_are_each_accepted_once_across_the_sweeps() {
        let c = NonceCache::default();
        // Past the 4096-entry sweeps of every shard, none expiring.
        for i in 0..100_000 {
            assert!(c.check_and_insert("k", &format!("n{i}"), 0, 1000), "{i}");
        }
        for i in (0..100_000).step_by(997) {
            assert!(!c.check_and_insert("k", &format!("n{i}"), 1, 1001), "{i}");
        }
        let held: usize = c.shards.iter().map(|s| s.lock().len()).sum();
        assert_eq!(held, 100_000);
        // Every shard is used.
        assert!(c
            .shards
            .iter()
            .all(|s| s.lock().len() > 100_000 / SHARDS / 2));
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
