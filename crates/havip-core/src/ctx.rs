//! Who is asking, where, and under which idempotency token.

use crate::types::{AccountId, Cloud, RegionId};

/// A client token and the fingerprint of the request it came with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    /// Which operation the token belongs to (the cloud's action name).
    pub scope: &'static str,
    /// The token as sent (ASCII, bounded by the dialect).
    pub token: String,
    /// A digest of every business parameter except the token.
    pub fingerprint: String,
}

/// The context of one authenticated request.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The caller's account.
    pub account: AccountId,
    /// The caller's cloud.
    pub cloud: Cloud,
    /// The region the request targets.
    pub region: RegionId,
    /// The request ID echoed to the client.
    pub request_id: String,
    /// Present when the client sent a token.
    pub idempotency: Option<Idempotency>,
    /// Whether the async work this request starts is recorded as a task pollable by its
    /// request ID (for dialects with such a poller); off, it costs nothing.
    pub track_tasks: bool,
}
