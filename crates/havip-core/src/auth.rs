//! Credentials and replay protection shared by every dialect's signature check.
//!
//! The key ring is an in-memory copy of the access keys, reloaded whenever the topology
//! changes, so that verifying a request never waits on the store. The nonce cache remembers
//! (key, nonce) pairs for the accepted clock window; a pair seen twice inside it is a replay.

use crate::model::AccessKey;
use crate::policy::Policy;
use crate::types::{AccessKeyId, AccountId, Cloud};
use parking_lot::{Mutex, RwLock};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

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

/// Nonces seen inside the clock window.
pub struct NonceCache {
    shards: Vec<Mutex<HashMap<u64, i64>>>,
}

impl Default for NonceCache {
    fn default() -> Self {
        NonceCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl NonceCache {
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
}
