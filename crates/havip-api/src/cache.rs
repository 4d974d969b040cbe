//! A cache of rendered read responses, valid for one store write generation.
//!
//! Correctness argument. An entry is tagged with the generation read *before* the read
//! transaction began; it is served only while the store's generation still equals that tag.
//! The store changes its generation after every commit and before the writer is answered, so
//! (a) an entry can only be older than a commit if that commit changed the generation, which
//! retires the entry, and (b) a client whose write was acknowledged reads the new generation
//! and therefore misses every entry made before its write. Keys carry the caller's account,
//! so tenants never share entries. The request ID of the response that filled an entry is
//! replaced by the new request's ID on every hit.

use crate::RawResponse;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

const SHARDS: usize = 16;

#[derive(Clone)]
struct Entry {
    generation: u64,
    response: RawResponse,
    request_id: String,
    at: Option<usize>,
}

/// Rendered responses by key, each for one generation.
pub struct ResponseCache {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl ResponseCache {
    /// A cache holding at most about `capacity` responses.
    pub fn new(capacity: usize) -> Self {
        ResponseCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(1),
            hasher: Default::default(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Entry>> {
        let mut h = self.hasher.build_hasher();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// The cached response for `key` if it was made at `generation`, re-stamped with
    /// `request_id`.
    pub fn get(&self, key: &str, generation: u64, request_id: &str) -> Option<RawResponse> {
        // Built straight from the entry under the shard lock (a copy of the body, which a hit
        // needs anyway), rather than cloning the entry first.
        let shard = self.shard(key).lock();
        let e = shard.get(key)?;
        if e.generation != generation {
            return None;
        }
        let r = &e.response;
        let body = match e.at {
            Some(at) => {
                let old = e.request_id.len();
                let mut body = BytesMut::with_capacity(r.body.len() - old + request_id.len());
                body.extend_from_slice(&r.body[..at]);
                body.extend_from_slice(request_id.as_bytes());
                body.extend_from_slice(&r.body[at + old..]);
                body.freeze()
            }
            None => r.body.clone(),
        };
        let headers = r
            .headers
            .iter()
            .map(|(n, v)| {
                let v = if *v == e.request_id {
                    request_id.to_string()
                } else {
                    v.clone()
                };
                (*n, v)
            })
            .collect();
        Some(RawResponse {
            status: r.status,
            headers,
            body,
            label: r.label.clone(),
        })
    }

    /// Remembers `response` (answered with `request_id`) for `key` at `generation`.
    pub fn put(&self, key: String, generation: u64, response: &RawResponse, request_id: &str) {
        let at = find(&response.body, request_id.as_bytes());
        let mut shard = self.shard(&key).lock();
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            // Entries of older generations go first; if all are current, start afresh.
            shard.retain(|_, e| e.generation == generation);
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(
            key,
            Entry {
                generation,
                response: response.clone(),
                request_id: request_id.to_string(),
                at,
            },
        );
    }
}

/// Where the request ID sits in a body (a substring search: comparing every window with
/// `==` cost a `memcmp` per byte of a 5 KB page, a tenth of an uncached Describe).
fn find(hay: &Bytes, needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(rid: &str) -> RawResponse {
        let mut r = RawResponse::new(
            200,
            "application/json",
            format!("{{\"RequestId\":\"{rid}\",\"TotalCount\":1}}"),
        );
        r.headers.push(("x-acs-request-id", rid.to_string()));
        r
    }

    #[test]
    fn a_hit_is_restamped_and_a_new_generation_misses() {
        let c = ResponseCache::new(64);
        c.put("k".into(), 7, &resp("AAAA-1"), "AAAA-1");
        let hit = c.get("k", 7, "BBBB-2").unwrap();
        assert_eq!(
            &hit.body[..],
            b"{\"RequestId\":\"BBBB-2\",\"TotalCount\":1}"
        );
        assert_eq!(hit.headers[1].1, "BBBB-2");
        assert!(c.get("k", 8, "C").is_none());
        assert!(c.get("other", 7, "C").is_none());
    }

    #[test]
    fn request_ids_of_another_length_are_spliced() {
        let c = ResponseCache::new(64);
        c.put("k".into(), 1, &resp("AAAA-1"), "AAAA-1");
        let hit = c.get("k", 1, "a-much-longer-request-id").unwrap();
        assert_eq!(
            &hit.body[..],
            b"{\"RequestId\":\"a-much-longer-request-id\",\"TotalCount\":1}"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = ResponseCache::new(32);
        for i in 0..1000 {
            c.put(format!("k{i}"), 1, &resp("R"), "R");
        }
        let n: usize = c.shards.iter().map(|s| s.lock().len()).sum();
        assert!(n <= 32 + SHARDS, "{n}");
    }
}
