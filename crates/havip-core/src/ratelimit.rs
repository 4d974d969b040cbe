//! Per-key request rate limits (token buckets), for the clouds that document a per-API limit
//! ("20 requests per second for this API"). The core knows nothing about which key a dialect
//! uses; a dialect typically keys by (account, product, action) and answers with its own
//! throttling error when [`RateLimiter::admit`] refuses.
//!
//! Concurrency: the buckets sit in a few mutex-guarded shards, so two requests with different
//! keys rarely contend; one admission is a hash, a lock and a few float operations. A bucket
//! holds at most `per_second` tokens and refills continuously at `per_second` tokens a second,
//! so a client may burst `per_second` requests and then sustain `per_second` a second.
//! Idle buckets (full again) are dropped when a shard grows, so memory stays bounded by the
//! keys active in the last second.

use parking_lot::Mutex;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

const SHARDS: usize = 16;
/// A shard prunes idle buckets when it holds more than this many.
const PRUNE_AT: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last_ms: i64,
}

/// Token buckets by key.
pub struct RateLimiter {
    per_second: u32,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
}

impl RateLimiter {
    /// A limiter admitting `per_second` requests a second per key (bursts up to the same
    /// number). `0` disables limiting.
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The configured rate (`0` = unlimited).
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Takes one token for `key` at `now_ms`; `false` when the bucket is empty (throttled).
    pub fn admit(&self, key: &str, now_ms: i64) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let cap = f64::from(self.per_second);
        let rate_per_ms = cap / 1000.0;
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let mut shard = self.shards[(h.finish() as usize) % SHARDS].lock();
        if shard.len() > PRUNE_AT {
            shard
                .retain(|_, b| b.tokens + ((now_ms - b.last_ms).max(0) as f64) * rate_per_ms < cap);
        }
        let b = shard.entry(key.to_string()).or_insert(Bucket {
            tokens: cap,
            last_ms: now_ms,
        });
        let elapsed = (now_ms - b.last_ms).max(0) as f64;
        b.tokens = (b.tokens + elapsed * rate_per_ms).min(cap);
        b.last_ms = b.last_ms.max(now_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_should_admit_a_burst_then_refuse_until_refilled() {
        let l = RateLimiter::new(20);
        for i in 0..20 {
            assert!(l.admit("acct/vpc/CreateHaVip", 1000), "request {i}");
        }
        assert!(!l.admit("acct/vpc/CreateHaVip", 1000));
        // Another key has its own bucket.
        assert!(l.admit("acct/vpc/DescribeHaVips", 1000));
        // 50 ms later one token (20/s) is back.
        assert!(l.admit("acct/vpc/CreateHaVip", 1050));
        assert!(!l.admit("acct/vpc/CreateHaVip", 1050));
        // A second later the bucket is full again, but never above its capacity.
        for _ in 0..20 {
            assert!(l.admit("acct/vpc/CreateHaVip", 5000));
        }
        assert!(!l.admit("acct/vpc/CreateHaVip", 5000));
    }

    #[test]
    fn zero_rate_should_disable_limiting() {
        let l = RateLimiter::new(0);
        for _ in 0..1000 {
            assert!(l.admit("k", 0));
        }
    }

    #[test]
    fn sustained_rate_should_be_admitted() {
        let l = RateLimiter::new(20);
        // One request every 50 ms forever: always admitted.
        for i in 0..200 {
            assert!(l.admit("k", i * 50), "request {i}");
        }
    }
}
