//! havip-loadgen: the benchmark tooling of havip.
//!
//! - [`aliyun`]: builds properly signed Alibaba Cloud VPC requests (V3 `ACS3-HMAC-SHA256` and
//!   V2 HMAC-SHA1), a fresh nonce and timestamp per request, through the dialect's own pure
//!   signature module.
//! - [`sigv4`]: AWS Signature Version 4 for the EC2 query API (the moto baseline).
//! - [`client`]: one keep-alive HTTP/1.1 connection per virtual client (hyper 1).
//! - [`stats`]: per-client recorders with HDR histograms, merged into one summary.
//! - [`scenario`]: the closed-loop runner and the scenarios (Describe, Create, Associate +
//!   Unassociate cycles, the 90/10 mix, the convergence probe, the moto equivalents).
//! - [`ceiling`]: a bare hyper 1 / tokio server answering fixed bytes (the ceiling baseline).
//! - [`seed`]: the benchmark world and in-process seeding of N HAVIPs into a data directory.
//! - [`fsync`]: the durable-commit ceiling of the disk (raw fdatasync and SQLite).
//! - [`restart`]: spawn havipd on a big store: time to first answer, resident memory.
//! - [`allocbench`]: `claim_any` in a /8 holding a million addresses, against the real
//!   SQLite transaction.
//!
//! Every loop here is bounded by a deadline; every address is loopback.

pub mod aliyun;
pub mod allocbench;
pub mod ceiling;
pub mod client;
pub mod fsync;
pub mod restart;
pub mod scenario;
pub mod seed;
pub mod sigv4;
pub mod stats;

/// Longest run any scenario accepts: the tool never runs unbounded.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(120);

/// A size a `cargo bench` target reads from the environment: `name` parsed as a number, else
/// `default`.
pub fn bench_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
