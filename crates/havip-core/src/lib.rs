//! havip-core: the HAVIP domain, with no HTTP and no vendor types.
//!
//! - [`types`]: typed IDs, closed enums, the CIDR newtype.
//! - [`model`]: the rows.
//! - [`lifecycle`]: the state machine, one table.
//! - [`alloc`]: address allocation policy.
//! - [`service`]: one function per domain operation, each one store transaction.
//! - [`world`]: the topology document, applied idempotently.
//! - [`store`]: the storage boundary every backend implements.
//! - [`auth`], [`faults`], [`ids`], [`config`], [`ctx`]: what the service functions lean on.
//! - [`policy`]: per-key permissions (allowed actions and resources), a pure check.
//! - [`metrics`]: request and store metrics in the Prometheus text format.
//! - [`ratelimit`]: per-key token buckets for clouds with documented per-API rate limits.

pub mod alloc;
pub mod auth;
pub mod config;
pub mod ctx;
pub mod error;
pub mod faults;
pub mod ids;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod ratelimit;
pub mod service;
pub mod store;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod types;
pub mod world;

pub use error::{DomainError, InjectedFault};
pub use service::Core;
