//! Who sent the request: picks the request generation, gathers the signed inputs, checks the
//! signature, the clock window and the nonce, and resolves the access key. Signature math
//! lives in [`crate::signature`]; this module only feeds it.
//!
//! Generation rule: an `Authorization` header starting with `ACS3-` is V3 (Action and
//! Version in `x-acs-action` / `x-acs-version`); otherwise a `Signature` parameter is V2
//! (Action and Version in the signed parameters, never from the unsigned headers the old
//! SDK also sends); anything else is unsigned and refused.

use crate::error::AliError;
use crate::params::Params;
use crate::render::Format;
use crate::signature as sig;
use havip_api::time::parse_rfc3339_ms;
use havip_api::{form, RawRequest};
use havip_core::auth::{Credential, KeyRing, NonceCache};
use havip_core::types::Cloud;

/// A request whose signature checked out.
#[derive(Debug)]
pub struct Verified {
    /// The caller.
    pub credential: Credential,
    /// The action as sent.
    pub action: String,
    /// The API version as sent.
    pub version: String,
    /// Business parameters (query ∪ form body, protocol parameters included).
    pub params: Params,
    /// The signature nonce, already admitted by this node's cache; [`admit_shared`] asks the
    /// other nodes' record (if any) about it.
    pub nonce: String,
    /// The access key ID the request was signed with.
    pub key_id: String,
}

/// The clock and replay settings of a check.
pub struct Clock<'a> {
    /// Now, Unix ms.
    pub now_ms: i64,
    /// Accepted skew either way, ms.
    pub skew_ms: i64,
    /// Seen nonces.
    pub nonces: &'a NonceCache,
}

/// Decodes the query and a form body into pairs.
pub fn gather(
    req: &RawRequest,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), AliError> {
    let malformed = |_| {
        AliError::code(
            400,
            "InvalidParameter",
            "The request has a malformed query string or form body.",
        )
    };
    let query = form::parse(&req.query).map_err(malformed)?;
    let is_form = req
        .header("content-type")
        .map(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    let body = if is_form && !req.body.is_empty() {
        let text = std::str::from_utf8(&req.body).map_err(|_| {
            AliError::code(400, "InvalidParameter", "The form body is not valid UTF-8.")
        })?;
        form::parse(text).map_err(malformed)?
    } else {
        Vec::new()
    };
    Ok((query, body))
}

/// The format the caller asked for: `Format` when present, else JSON for V3 and XML (the
/// documented default) for V2. `query` and `body` are the decoded pairs from [`gather`]
/// (the query's come first).
pub fn format_of(
    req: &RawRequest,
    query: &[(String, String)],
    body: &[(String, String)],
) -> Format {
    let pairs = || query.iter().chain(body);
    match pairs()
        .find(|(k, _)| k == "Format")
        .map(|(_, v)| v.as_str())
    {
        Some(f) if f.eq_ignore_ascii_case("xml") => Format::Xml,
        Some(_) => Format::Json,
        None if req
            .header("authorization")
            .map(|a| a.starts_with("ACS3-"))
            .unwrap_or(false) =>
        {
            Format::Json
        }
        None if pairs().any(|(k, _)| k == "Signature") => Format::Xml,
        None => Format::Json,
    }
}

fn check_clock(stamp: &str, clock: &Clock<'_>) -> Result<(), AliError> {
    let t = parse_rfc3339_ms(stamp).ok_or_else(|| {
        AliError::code(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    if (clock.now_ms - t).abs() > clock.skew_ms {
        return Err(AliError::code(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

fn nonce_used() -> AliError {
    AliError::code(
        400,
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    )
}

/// The cross-node half of the replay check: when the store is shared by several nodes, the
/// nonce [`verify`] admitted locally must also be new to the shared ledger. Without a ledger
/// (one node) this returns at once.
pub async fn admit_shared(key: &str, nonce: &str, clock: &Clock<'_>) -> Result<(), AliError> {
    let Some(ledger) = clock.nonces.shared() else {
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
            Err(AliError::code(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            ))
        }
    }
}

fn check_nonce(key: &str, nonce: &str, clock: &Clock<'_>) -> Result<(), AliError> {
    if !clock
        .nonces
        .check_and_insert(key, nonce, clock.now_ms, clock.now_ms + 2 * clock.skew_ms)
    {
        return Err(nonce_used());
    }
    Ok(())
}

fn credential(keys: &KeyRing, id: &str) -> Result<Credential, AliError> {
    match keys.get(id) {
        Some(c) if c.cloud == Cloud::Aliyun => Ok(c),
        _ => Err(AliError::code(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )),
    }
}

fn mismatch(string_to_sign: &str) -> AliError {
    AliError::code(
        400,
        "SignatureDoesNotMatch",
        format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"),
    )
}

/// Verifies `req`. `query` and `body` are the decoded pairs from [`gather`].
pub fn verify(
    req: &RawRequest,
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
    keys: &KeyRing,
    clock: &Clock<'_>,
) -> Result<Verified, AliError> {
    if let Some(auth) = req
        .header("authorization")
        .filter(|a| a.starts_with("ACS3-"))
    {
        return verify_v3(req, auth, query, body, keys, clock);
    }
    let mut all = query;
    all.extend(body);
    if all.iter().any(|(k, _)| k == "Signature") {
        return verify_v2(req, all, keys, clock);
    }
    Err(AliError::code(
        400,
        "IncompleteSignature",
        "The request signature does not conform to Aliyun standards: no signature was sent.",
    ))
}

fn verify_v2(
    req: &RawRequest,
    all: Vec<(String, String)>,
    keys: &KeyRing,
    clock: &Clock<'_>,
) -> Result<Verified, AliError> {
    let params = Params::from_pairs(all.clone())?;
    let key_id = params.required("AccessKeyId")?.to_string();
    let method = params.optional("SignatureMethod").unwrap_or("");
    if method != "HMAC-SHA1" {
        return Err(AliError::code(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: SignatureMethod must be HMAC-SHA1.",
        ));
    }
    if params.optional("SignatureVersion") != Some("1.0") {
        return Err(AliError::code(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: SignatureVersion must be 1.0.",
        ));
    }
    let stamp = params.required("Timestamp")?.to_string();
    let nonce = params.required("SignatureNonce")?.to_string();
    let given = params.required("Signature")?.to_string();
    let cred = credential(keys, &key_id)?;
    let unsigned: Vec<(String, String)> =
        all.into_iter().filter(|(k, _)| k != "Signature").collect();
    let sts = sig::rpc_v2_string_to_sign(&req.method, &unsigned);
    let expect = sig::rpc_v2_sign(&cred.secret, &sts);
    if !sig::constant_time_eq(expect.as_bytes(), given.as_bytes()) {
        return Err(mismatch(&sts));
    }
    check_clock(&stamp, clock)?;
    check_nonce(&key_id, &nonce, clock)?;
    let action = params.required("Action")?.to_string();
    let version = params.required("Version")?.to_string();
    Ok(Verified {
        credential: cred,
        action,
        version,
        params,
        nonce,
        key_id,
    })
}

/// Headers a V3 signature must cover.
const V3_MUST_SIGN: &[&str] = &[
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

fn verify_v3(
    req: &RawRequest,
    auth: &str,
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
    keys: &KeyRing,
    clock: &Clock<'_>,
) -> Result<Verified, AliError> {
    let incomplete = |why: &str| {
        AliError::code(
            400,
            "IncompleteSignature",
            format!("The request signature does not conform to Aliyun standards: {why}."),
        )
    };
    let parsed = sig::parse_acs3_authorization(auth)
        .ok_or_else(|| incomplete("malformed Authorization header"))?;
    if !auth.starts_with(sig::ACS3_ALGORITHM) {
        return Err(incomplete("only ACS3-HMAC-SHA256 is supported"));
    }
    for h in V3_MUST_SIGN {
        if !parsed.signed_headers.iter().any(|s| s == h) {
            return Err(incomplete(&format!("header {h} must be signed")));
        }
        if req.header(h).is_none() {
            return Err(incomplete(&format!("header {h} is missing")));
        }
    }
    let cred = credential(keys, &parsed.access_key_id)?;
    let declared = req.header("x-acs-content-sha256").unwrap_or("");
    let body_hash;
    let actual: &[u8] = if req.body.is_empty() {
        sig::EMPTY_PAYLOAD_SHA256.as_bytes()
    } else {
        body_hash = sig::sha256_hex_array(&req.body);
        &body_hash
    };
    let canonical = sig::acs3_canonical_request(
        &req.method,
        &req.path,
        &query,
        &req.headers,
        &parsed.signed_headers,
        declared,
    );
    let expect = sig::acs3_signature(&cred.secret, &canonical);
    if !sig::constant_time_eq(&expect, parsed.signature.as_bytes()) || declared.as_bytes() != actual
    {
        // The string to sign is built only to be quoted back to the client.
        return Err(mismatch(&sig::acs3_string_to_sign(&canonical)));
    }
    check_clock(req.header("x-acs-date").unwrap_or(""), clock)?;
    let nonce = req
        .header("x-acs-signature-nonce")
        .unwrap_or("")
        .to_string();
    check_nonce(&parsed.access_key_id, &nonce, clock)?;
    let action = req.header("x-acs-action").unwrap_or("").to_string();
    let version = req.header("x-acs-version").unwrap_or("").to_string();
    let mut all = query;
    all.extend(body);
    let params = Params::from_pairs(all)?;
    Ok(Verified {
        credential: cred,
        action,
        version,
        params,
        nonce,
        key_id: parsed.access_key_id,
    })
}
