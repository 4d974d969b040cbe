//! Test support for the dialect crates (a dev-dependency only; never published).
//!
//! The captured SDK requests in `shared/fixtures/wire/<cloud>/` are replayed by several test
//! files per dialect. What they share lives here: finding and loading the fixtures (a missing
//! directory fails the test, it is never skipped), turning a recorded request into the
//! [`RawRequest`] the listener would hand over, running a check over every fixture with all
//! failures reported together under their file names, a form decoder as lenient as the
//! Python capture tool's, and small JSON accessors that name the field they miss.

pub mod fixtures;
pub mod form;
pub mod json;

use havip_api::RawRequest;

/// Returns `Err(format!(...))` from the enclosing function unless the condition holds: the
/// fixture checks collect messages instead of panicking, so every file gets reported.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Owned `(name, value)` pairs from literals, as decoded queries and header lists are held.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A request as the listener hands it to a dialect: header names lower-cased (wire order and
/// duplicates kept), no limit or encoding flag set.
pub fn request(
    method: &str,
    path: &str,
    query: &str,
    headers: Vec<(String, String)>,
    body: impl Into<bytes::Bytes>,
) -> RawRequest {
    RawRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers: headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        body: body.into(),
        body_too_large: false,
        bad_header: false,
    }
}
