//! Who sent the request: parses the `bce-auth-v1` authorization string, resolves the access
//! key, recomputes the signature over the received request and checks the validity window.
//! Signature math lives in [`crate::signature`]; this module only feeds it.
//!
//! Window rule: a signature is valid from its timestamp (less the accepted clock skew, for a
//! client whose clock runs ahead) until timestamp + `expirationPeriodInSeconds`. The
//! `x-bce-date` header, when sent, must satisfy the same window: the SDKs compute it
//! separately from the authorization timestamp. BCE has no nonce, so the window is the only
//! replay protection, as the protocol defines it.

use crate::error::BceError;
use crate::signature as sig;
use havip_api::RawRequest;
use havip_core::auth::{Credential, KeyRing};
use havip_core::types::Cloud;

/// The clock of a check.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Now, Unix ms.
    pub now_ms: i64,
    /// Accepted skew of a timestamp in the future, ms.
    pub skew_ms: i64,
}

fn auth_header(why: impl std::fmt::Display) -> BceError {
    BceError::new(
        400,
        "InvalidHTTPAuthHeader",
        format!("The Authorization header you provided is invalid: {why}."),
    )
}

/// Parses `YYYY-MM-DDThh:mm:ssZ` (UTC), the only form BCE timestamps take.
pub fn parse_bce_time(s: &str) -> Option<i64> {
    if s.len() != 20 || !s.ends_with('Z') {
        return None;
    }
    havip_api::time::parse_rfc3339_ms(s)
}

fn expired() -> BceError {
    BceError::new(
        400,
        "RequestExpired",
        "The request is outside the validity window of its signature (timestamp + expiration).",
    )
}

fn check_window(start_ms: i64, expiration_s: u64, clock: &Clock) -> Result<(), BceError> {
    let end_ms = (expiration_s.min(i64::MAX as u64 / 1000) as i64 * 1000).saturating_add(start_ms);
    if clock.now_ms < start_ms.saturating_sub(clock.skew_ms) || clock.now_ms > end_ms {
        return Err(expired());
    }
    Ok(())
}

/// Verifies `req` (its decoded `query`) and returns the caller.
pub fn verify(
    req: &RawRequest,
    query: &[(String, String)],
    keys: &KeyRing,
    clock: &Clock,
) -> Result<Credential, BceError> {
    let value = req
        .header("authorization")
        .ok_or_else(|| auth_header("it is missing"))?;
    let auth = sig::parse_bce_authorization(value).ok_or_else(|| {
        auth_header(
            "it is not bce-auth-v1/{ak}/{timestamp}/{expiration}/{signedHeaders}/{signature}",
        )
    })?;
    let start_ms = parse_bce_time(&auth.timestamp)
        .ok_or_else(|| auth_header("the timestamp is not YYYY-MM-DDThh:mm:ssZ"))?;
    if !auth.signed_headers.is_empty() && !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(auth_header("the host header must be signed"));
    }
    let cred = match keys.get(&auth.access_key_id) {
        Some(c) if c.cloud == Cloud::Baidu => c,
        _ => {
            return Err(BceError::new(
                403,
                "InvalidAccessKeyId",
                "The Access Key ID you provided does not exist in our records.",
            ))
        }
    };
    let key = sig::bce_signing_key(&cred.secret, &auth.auth_string_prefix());
    let canonical = sig::bce_canonical_request(
        &req.method,
        &req.path,
        query,
        &req.headers,
        &auth.signed_headers,
    );
    let expect = sig::bce_sign(&key, &canonical);
    if !sig::constant_time_eq(expect.as_bytes(), auth.signature.as_bytes()) {
        return Err(BceError::new(
            400,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    check_window(start_ms, auth.expiration_seconds, clock)?;
    if let Some(date) = req.header("x-bce-date") {
        let date_ms = parse_bce_time(date.trim()).ok_or_else(|| {
            BceError::new(
                400,
                "InvalidHTTPRequest",
                "The x-bce-date header is not YYYY-MM-DDThh:mm:ssZ.",
            )
        })?;
        check_window(date_ms, auth.expiration_seconds, clock)?;
    }
    Ok(cred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_runs_from_timestamp_less_skew_to_timestamp_plus_expiration() {
        let clock = |now_ms| Clock {
            now_ms,
            skew_ms: 1000,
        };
        assert!(check_window(10_000, 5, &clock(10_000)).is_ok());
        assert!(check_window(10_000, 5, &clock(15_000)).is_ok());
        assert!(check_window(10_000, 5, &clock(15_001)).is_err());
        assert!(check_window(10_000, 5, &clock(9_000)).is_ok());
        assert!(check_window(10_000, 5, &clock(8_999)).is_err());
        assert!(check_window(10_000, u64::MAX, &clock(i64::MAX)).is_ok());
    }

    #[test]
    fn bce_times_are_strict_utc() {
        assert_eq!(parse_bce_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_bce_time("1970-01-01T00:00:01+00:00"), None);
        assert_eq!(parse_bce_time("1970-01-01T00:00:01.5Z"), None);
        assert_eq!(parse_bce_time("yesterday"), None);
    }
}
