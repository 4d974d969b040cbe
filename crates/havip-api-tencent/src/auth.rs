//! Who sent the request: picks the signature scheme, gathers the signed inputs, checks the
//! signature, the clock window and (v1) the nonce, resolves the SecretId, and decodes the
//! business parameters. Signature math lives in [`crate::signature`]; this module only
//! feeds it.
//!
//! Scheme rule: an `Authorization` header starting with `TC3-HMAC-SHA256` is TC3 (Action,
//! Version, Region and Timestamp in `X-TC-*` headers; parameters in the JSON body of a POST
//! or the flattened query of a GET); any other `Authorization` header is malformed; otherwise
//! a `Signature` parameter (query of a GET, form body of a POST) is the legacy v1 scheme
//! (everything, common parameters included, in the signed parameters); anything else is
//! unsigned and refused.
//!
//! TC3 signs only `content-type` and `host` (plus the timestamp through the string to sign):
//! `X-TC-Action` and `X-TC-Version` are not covered, so a captured request can be replayed
//! with another action inside the clock window. That is the protocol's property, not ours to
//! fix; it is why the clock window is Tencent's documented five minutes.

use crate::error::TcError;
use crate::params::{missing, unflatten};
use crate::signature as sig;
use havip_api::{form, RawRequest};
use havip_core::auth::{Credential, KeyRing, NonceCache};
use havip_core::types::Cloud;
use serde_json::{Map, Value};

/// Tencent's documented clock window: a signed timestamp may differ from server time by at
/// most five minutes.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// Which signature the request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// TC3-HMAC-SHA256, signed for this credential-scope service (`vpc`, `ecm`, ...).
    Tc3 {
        /// The scope's service name.
        service: String,
    },
    /// The legacy `HmacSHA1` / `HmacSHA256` parameter signature.
    V1,
}

/// A request whose signature checked out.
#[derive(Debug)]
pub struct Authenticated {
    /// The caller.
    pub credential: Credential,
    /// The scheme.
    pub scheme: Scheme,
    /// The action as sent (`""` when absent).
    pub action: String,
    /// The API version as sent (`""` when absent).
    pub version: String,
    /// The region as sent (`None` when absent or empty).
    pub region: Option<String>,
    /// The business parameters as one object.
    pub params: Map<String, Value>,
    /// v1: the (SecretId, timestamp/nonce) pair this node's cache admitted, for
    /// [`admit_shared`]; `None` for TC3, which has no nonce.
    pub replay: Option<(String, String)>,
}

/// The clock and replay settings of a check.
pub struct Clock<'a> {
    /// Now, Unix ms.
    pub now_ms: i64,
    /// Accepted skew either way, ms.
    pub skew_ms: i64,
    /// Seen v1 nonces.
    pub nonces: &'a NonceCache,
}

/// v1 parameters that belong to the protocol, not to the operation.
pub const V1_PROTOCOL: &[&str] = &[
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

fn malformed_query(_: form::FormError) -> TcError {
    TcError::new(
        "InvalidParameter",
        "The query string or form body is not validly URL-encoded UTF-8.",
    )
}

fn content_type(req: &RawRequest) -> String {
    req.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn credential(keys: &KeyRing, id: &str) -> Result<Credential, TcError> {
    match keys.get(id) {
        Some(c) if c.cloud == Cloud::Tencent => Ok(c),
        _ => Err(TcError::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        )),
    }
}

fn nonce_used() -> TcError {
    signature_failure("the Nonce was used before")
}

/// The cross-node half of the v1 replay check: when the store is shared by several nodes,
/// the nonce [`authenticate`] admitted locally must also be new to the shared ledger.
/// Returns at once for TC3 and without a ledger (one node).
pub async fn admit_shared(a: &Authenticated, clock: &Clock<'_>) -> Result<(), TcError> {
    let (Some(ledger), Some((key, nonce))) = (clock.nonces.shared(), a.replay.as_ref()) else {
        return Ok(());
    };
    match ledger
        .admit(key, nonce, clock.now_ms, clock.now_ms + 2 * clock.skew_ms)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(nonce_used()),
        Err(e) => {
            tracing::error!(error = %e, "the shared nonce ledger did not answer");
            Err(TcError::new(
                "InternalError",
                "An internal error occurred: the request could not be checked for replay.",
            ))
        }
    }
}

fn signature_failure(why: &str) -> TcError {
    TcError::new(
        "AuthFailure.SignatureFailure",
        format!("The provided credentials could not be validated. Please check your signature is correct. ({why})"),
    )
}

fn parse_timestamp(name: &str, s: &str) -> Result<i64, TcError> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TcError::new(
            "InvalidParameterValue",
            format!("The parameter `{name}` must be a UNIX timestamp in seconds."),
        ));
    }
    s.parse()
        .map_err(|_| TcError::new("InvalidParameterValue", format!("`{name}` is malformed.")))
}

fn check_clock(stamp_s: i64, clock: &Clock<'_>) -> Result<(), TcError> {
    if (clock.now_ms - stamp_s.saturating_mul(1000)).abs() > clock.skew_ms {
        return Err(TcError::new(
            "AuthFailure.SignatureExpire",
            "Signature expired: the request timestamp differs from the server time by more than five minutes.",
        ));
    }
    Ok(())
}

fn no_token(present: bool) -> Result<(), TcError> {
    if present {
        return Err(TcError::new(
            "AuthFailure.TokenFailure",
            "Temporary credentials (Token) are not supported by this endpoint.",
        ));
    }
    Ok(())
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

/// Verifies `req` and decodes its parameters.
pub fn authenticate(
    req: &RawRequest,
    keys: &KeyRing,
    clock: &Clock<'_>,
) -> Result<Authenticated, TcError> {
    if let Some(auth) = req.header("authorization") {
        if auth.starts_with(sig::TC3_ALGORITHM) {
            return tc3(req, auth, keys, clock);
        }
        return Err(TcError::new(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is malformed: only TC3-HMAC-SHA256 is supported.",
        ));
    }
    let mut pairs = form::parse(&req.query).map_err(malformed_query)?;
    if req.method == "POST" && content_type(req) == "application/x-www-form-urlencoded" {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| TcError::new("InvalidParameter", "The form body is not valid UTF-8."))?;
        pairs.extend(form::parse(text).map_err(malformed_query)?);
    }
    if pairs.iter().any(|(k, _)| k == "Signature") {
        return v1(req, pairs, keys, clock);
    }
    Err(TcError::new(
        "AuthFailure.InvalidAuthorization",
        "The request is not signed: send a TC3-HMAC-SHA256 Authorization header or v1 signature parameters.",
    ))
}

fn tc3(
    req: &RawRequest,
    auth: &str,
    keys: &KeyRing,
    clock: &Clock<'_>,
) -> Result<Authenticated, TcError> {
    let parsed = sig::parse_tc3_authorization(auth).ok_or_else(|| {
        TcError::new(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is malformed.",
        )
    })?;
    for must in ["content-type", "host"] {
        if !parsed
            .signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(must))
        {
            return Err(TcError::new(
                "AuthFailure.InvalidAuthorization",
                format!("The Authorization header must sign the `{must}` header."),
            ));
        }
    }
    let cred = credential(keys, &parsed.secret_id)?;
    let stamp = req
        .header("x-tc-timestamp")
        .ok_or_else(|| missing("X-TC-Timestamp"))?;
    let stamp_s = parse_timestamp("X-TC-Timestamp", stamp)?;
    if sig::utc_date_of_timestamp(stamp).as_deref() != Some(parsed.date.as_str()) {
        return Err(signature_failure(
            "the credential date is not the UTC date of X-TC-Timestamp",
        ));
    }
    let unsigned = req.header("x-tc-content-sha256") == Some(sig::UNSIGNED_PAYLOAD);
    let hash = sig::tc3_payload_hash(&req.method, &req.body, unsigned);
    let canonical = sig::tc3_canonical_request(
        &req.method,
        &req.path,
        &req.query,
        &req.headers,
        &parsed.signed_headers,
        &hash,
    );
    let sts = sig::tc3_string_to_sign(stamp, &parsed.credential_scope(), &canonical);
    let expect = sig::tc3_sign(&cred.secret, &parsed.date, &parsed.service, &sts);
    if !sig::constant_time_eq(expect.as_bytes(), parsed.signature.as_bytes()) {
        return Err(signature_failure("signature mismatch"));
    }
    check_clock(stamp_s, clock)?;
    no_token(req.header("x-tc-token").is_some_and(|t| !t.is_empty()))?;
    let params = match req.method.as_str() {
        "GET" => unflatten(&form::parse(&req.query).map_err(malformed_query)?)?,
        _ => match content_type(req).as_str() {
            "application/json" => {
                if req.body.iter().all(u8::is_ascii_whitespace) {
                    Map::new()
                } else {
                    match serde_json::from_slice::<Value>(&req.body) {
                        Ok(Value::Object(m)) => m,
                        _ => {
                            return Err(TcError::new(
                                "InvalidParameter",
                                "The request body must be a JSON object.",
                            ))
                        }
                    }
                }
            }
            "application/x-www-form-urlencoded" => {
                let text = std::str::from_utf8(&req.body).map_err(|_| {
                    TcError::new("InvalidParameter", "The form body is not valid UTF-8.")
                })?;
                unflatten(&form::parse(text).map_err(malformed_query)?)?
            }
            other => {
                return Err(TcError::new(
                    "InvalidParameter",
                    format!("The Content-Type `{other}` is not supported by these APIs; use application/json."),
                ))
            }
        },
    };
    Ok(Authenticated {
        credential: cred,
        scheme: Scheme::Tc3 {
            service: parsed.service,
        },
        action: req.header("x-tc-action").unwrap_or("").to_string(),
        version: req.header("x-tc-version").unwrap_or("").to_string(),
        region: non_empty(req.header("x-tc-region")),
        params,
        replay: None,
    })
}

fn v1(
    req: &RawRequest,
    pairs: Vec<(String, String)>,
    keys: &KeyRing,
    clock: &Clock<'_>,
) -> Result<Authenticated, TcError> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    for (i, (k, _)) in pairs.iter().enumerate() {
        if V1_PROTOCOL.contains(&k.as_str()) && pairs[..i].iter().any(|(o, _)| o == k) {
            return Err(TcError::new(
                "InvalidParameter",
                format!("The parameter `{k}` is given more than once."),
            ));
        }
    }
    let secret_id = get("SecretId").ok_or_else(|| missing("SecretId"))?;
    let given = get("Signature").unwrap_or("");
    let method = sig::V1SignatureMethod::from_param(get("SignatureMethod")).ok_or_else(|| {
        TcError::new(
            "InvalidParameterValue",
            "The parameter `SignatureMethod` must be HmacSHA1 or HmacSHA256.",
        )
    })?;
    let stamp = get("Timestamp").ok_or_else(|| missing("Timestamp"))?;
    let stamp_s = parse_timestamp("Timestamp", stamp)?;
    let nonce = get("Nonce")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing("Nonce"))?
        .to_string();
    let cred = credential(keys, secret_id)?;
    let host = req.header("host").unwrap_or("");
    let sts = sig::v1_string_to_sign(&req.method, host, &req.path, &pairs);
    let expect = sig::v1_sign(method, &cred.secret, &sts);
    if !sig::constant_time_eq(expect.as_bytes(), given.as_bytes()) {
        return Err(signature_failure("signature mismatch"));
    }
    check_clock(stamp_s, clock)?;
    let replay_key = format!("{stamp}/{nonce}");
    if !clock.nonces.check_and_insert(
        secret_id,
        &replay_key,
        clock.now_ms,
        clock.now_ms + 2 * clock.skew_ms,
    ) {
        return Err(nonce_used());
    }
    no_token(get("Token").is_some_and(|t| !t.is_empty()))?;
    let business: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !V1_PROTOCOL.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(Authenticated {
        credential: cred,
        scheme: Scheme::V1,
        action: get("Action").unwrap_or("").to_string(),
        version: get("Version").unwrap_or("").to_string(),
        region: non_empty(get("Region")),
        params: unflatten(&business)?,
        replay: Some((secret_id.to_string(), replay_key)),
    })
}
