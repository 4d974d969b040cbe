//! Dialect-neutral HTTP plumbing.
//!
//! A [`Dialect`] turns a [`RawRequest`] (method, raw target, headers in wire order, body
//! bytes) into a [`RawResponse`]; this crate owns everything around that: the listener, the
//! body-size limit, request IDs, the drain on shutdown, and form decoding. Dialects never see
//! hyper types, so their routers and parsers test without IO. It also holds the wire-level
//! helpers the dialects share: signature building blocks ([`crypto`]) and timestamps
//! ([`time`]).

pub mod cache;
pub mod crypto;
pub mod form;
pub mod serve;
pub mod time;

use bytes::Bytes;
use std::future::Future;

/// A request exactly as it arrived.
#[derive(Clone, Debug)]
pub struct RawRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path, still percent-encoded.
    pub path: String,
    /// Query string as sent (without `?`), still encoded.
    pub query: String,
    /// Headers in wire order; names lower-cased, duplicates kept.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// Set when the body exceeded the limit (the body is then empty).
    pub body_too_large: bool,
    /// Set when a header value was not valid UTF-8 (such headers are dropped).
    pub bad_header: bool,
}

impl RawRequest {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response a dialect built.
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Bytes,
    /// What the request was, for metrics: the action name and the outcome (`"OK"` or the
    /// error code sent). `None` (a request the dialect could not name) is counted as
    /// action `"unknown"` with the status as its code. Never sent.
    pub label: Option<(&'static str, String)>,
}

impl RawResponse {
    /// A response with one content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        RawResponse {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body: body.into(),
            label: None,
        }
    }

    /// The same response labelled for metrics (see [`RawResponse::label`]).
    pub fn labelled(mut self, action: &'static str, code: impl Into<String>) -> Self {
        self.label = Some((action, code.into()));
        self
    }
}

/// One cloud's API on one listener.
pub trait Dialect: Send + Sync + 'static {
    /// Short name for logs and metrics.
    fn name(&self) -> &'static str;
    /// Handles one request; never panics, never fails: every problem is a response.
    fn handle(&self, req: RawRequest) -> impl Future<Output = RawResponse> + Send;
}
