//! Baidu AI Cloud request signatures: `bce-auth-v1`.
//!
//! This module is pure math over already-extracted request parts: it never reads a socket,
//! never looks at the clock and never decides which secret belongs to which access key. The
//! dialect's request plumbing gathers the inputs, calls these functions, compares the result
//! with [`constant_time_eq`] and checks the validity window
//! (`timestamp .. timestamp + expiration_seconds`) itself.
//!
//! The header is
//! `Authorization: bce-auth-v1/{ak}/{timestamp}/{expiration}/{signedHeaders}/{signature}`.
//! Verification runs in two HMAC-SHA256 steps:
//!
//! 1. `SigningKey = hex(HMAC(secret, "bce-auth-v1/{ak}/{timestamp}/{expiration}"))`.
//! 2. `Signature = hex(HMAC(SigningKey, CanonicalRequest))`, keyed by the 64-character hex
//!    **text** of the signing key, not its 32 raw bytes.
//!
//! `CanonicalRequest = METHOD\nURI\nQUERY\nHEADERS` (no trailing newline, no payload hash):
//! URI is the path with every segment RFC 3986-encoded and `/` kept; QUERY is every parameter
//! except `authorization` as `pct(name)=pct(value)`, the encoded strings sorted and joined
//! with `&`; HEADERS is one `pct(lower(name)):pct(trim(value))` line per chosen header,
//! sorted and joined with `\n`, skipping empty values. The chosen headers are those listed in
//! `signedHeaders`, or, when that field is empty (as the Python SDK sends it), the default
//! set `host`, `content-length`, `content-type`, `content-md5` and every `x-bce-*` header.
//!
//! The body is not signed: only `content-length` (and `content-md5` when sent) protect it, so
//! an equal-length body change still verifies. That is a property of the protocol.

use havip_api::crypto::{hmac_sha256, RFC3986};
use percent_encoding::{percent_decode_str, percent_encode, AsciiSet};

pub use havip_api::crypto::{constant_time_eq, pct_encode};

/// The version tag that opens every `bce-auth-v1` authorization string.
pub const BCE_AUTH_VERSION: &str = "bce-auth-v1";

/// [`RFC3986`] that also keeps `/`, for the canonical URI.
const RFC3986_PATH: &AsciiSet = &RFC3986.remove(b'/');

/// The headers signed when `signedHeaders` is empty (besides every `x-bce-*` header).
const DEFAULT_SIGNED_HEADERS: &[&str] = &["host", "content-length", "content-type", "content-md5"];

fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_sha256(key, message))
}

/// The fields of a `bce-auth-v1` authorization string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BceAuthorization {
    /// The access key id.
    pub access_key_id: String,
    /// The signing time, UTC `YYYY-MM-DDThh:mm:ssZ`, exactly as sent.
    pub timestamp: String,
    /// How long the signature stays valid after `timestamp`, in seconds.
    pub expiration_seconds: u64,
    /// The lower-case header names listed in the string; empty means the default set.
    pub signed_headers: Vec<String>,
    /// The signature: lower-case hex HMAC-SHA256.
    pub signature: String,
}

impl BceAuthorization {
    /// `bce-auth-v1/{ak}/{timestamp}/{expiration}`, the message of the signing-key HMAC.
    pub fn auth_string_prefix(&self) -> String {
        format!(
            "{BCE_AUTH_VERSION}/{}/{}/{}",
            self.access_key_id, self.timestamp, self.expiration_seconds
        )
    }
}

/// Parses `bce-auth-v1/{ak}/{timestamp}/{expiration}/{signedHeaders}/{signature}`; None when
/// malformed.
///
/// Malformed means: not exactly six `/`-separated parts, another version tag, an empty access
/// key, timestamp or signature, an expiration that is not a decimal number without leading
/// zeros that fits in a `u64`, or an empty name
/// in a non-empty `signedHeaders` list. Header names are trimmed and lower-cased.
pub fn parse_bce_authorization(value: &str) -> Option<BceAuthorization> {
    let parts: Vec<&str> = value.trim().split('/').collect();
    let [version, access_key_id, timestamp, expiration, signed_headers, signature] =
        parts.as_slice()
    else {
        return None;
    };
    if *version != BCE_AUTH_VERSION
        || access_key_id.is_empty()
        || timestamp.is_empty()
        || signature.is_empty()
        || expiration.is_empty()
        || !expiration.bytes().all(|b| b.is_ascii_digit())
        // A leading zero would not survive the round trip through `auth_string_prefix`.
        || (expiration.len() > 1 && expiration.starts_with('0'))
    {
        return None;
    }
    let expiration_seconds = expiration.parse().ok()?;
    let signed_headers: Vec<String> = if signed_headers.is_empty() {
        Vec::new()
    } else {
        signed_headers
            .split(';')
            .map(|name| name.trim().to_ascii_lowercase())
            .collect()
    };
    if signed_headers.iter().any(String::is_empty) {
        return None;
    }
    Some(BceAuthorization {
        access_key_id: (*access_key_id).to_owned(),
        timestamp: (*timestamp).to_owned(),
        expiration_seconds,
        signed_headers,
        signature: (*signature).to_owned(),
    })
}

/// The signing key: `hex(HMAC-SHA256(secret, auth_string_prefix))`, as lower-case hex text.
pub fn bce_signing_key(secret: &str, auth_string_prefix: &str) -> String {
    hmac_sha256_hex(secret.as_bytes(), auth_string_prefix.as_bytes())
}

/// The canonical URI: the received path percent-decoded, then RFC 3986-encoded with `/` kept;
/// `/` when the path is empty.
pub fn bce_canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let decoded: Vec<u8> = percent_decode_str(raw_path).collect();
    percent_encode(&decoded, RFC3986_PATH).to_string()
}

/// The canonical query string: every decoded (name, value) pair except `authorization`
/// (any case) as `pct(name)=pct(value)` (`name=` for a flag), the encoded strings sorted and
/// joined with `&`.
pub fn bce_canonical_query(params: &[(String, String)]) -> String {
    let mut encoded: Vec<String> = params
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("authorization"))
        .map(|(name, value)| format!("{}={}", pct_encode(name), pct_encode(value)))
        .collect();
    encoded.sort();
    encoded.join("&")
}

/// Whether header `name` (lower-case) is signed under the given `signedHeaders` list.
fn is_signed(name: &str, signed_headers: &[String]) -> bool {
    if signed_headers.is_empty() {
        DEFAULT_SIGNED_HEADERS.contains(&name) || name.starts_with("x-bce-")
    } else {
        signed_headers.iter().any(|signed| signed == name)
    }
}

/// The canonical headers: one `pct(lower(name)):pct(trim(value))` line per signed header that
/// has a non-empty value, sorted and joined with `\n`.
///
/// `headers` are the received headers as (name, value), duplicates kept; the first value of
/// each name counts. `signed_headers` is the (lower-case) list from the authorization string;
/// when it is empty the default set applies: `host`, `content-length`, `content-type`,
/// `content-md5` and every `x-bce-*` header.
pub fn bce_canonical_headers(headers: &[(String, String)], signed_headers: &[String]) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            continue;
        }
        let value = value.trim();
        if !value.is_empty() && is_signed(&name, signed_headers) {
            lines.push(format!("{}:{}", pct_encode(&name), pct_encode(value)));
        }
        seen.push(name);
    }
    lines.sort();
    lines.join("\n")
}

/// Builds the canonical request `METHOD\nCanonicalURI\nCanonicalQueryString\nCanonicalHeaders`.
///
/// `raw_path` is the path as received (still percent-encoded), `query` the decoded query
/// pairs, `headers` every received header as (name, value) and `signed_headers` the list from
/// the authorization string (empty for the default set).
pub fn bce_canonical_request(
    method: &str,
    raw_path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed_headers: &[String],
) -> String {
    format!(
        "{method}\n{}\n{}\n{}",
        bce_canonical_uri(raw_path),
        bce_canonical_query(query),
        bce_canonical_headers(headers, signed_headers)
    )
}

/// The signature: `hex(HMAC-SHA256(key = signing_key_hex as ASCII text, canonical_request))`.
pub fn bce_sign(signing_key_hex: &str, canonical_request: &str) -> String {
    hmac_sha256_hex(signing_key_hex.as_bytes(), canonical_request.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use havip_testkit::pairs;

    #[test]
    fn should_reproduce_baidus_published_example() {
        let auth = BceAuthorization {
            access_key_id: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
            timestamp: "2015-04-27T08:23:49Z".to_owned(),
            expiration_seconds: 1800,
            signed_headers: Vec::new(),
            signature: String::new(),
        };
        let key = bce_signing_key(
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            &auth.auth_string_prefix(),
        );
        assert_eq!(
            key,
            "1d5ce5f464064cbee060330d973218821825ac6952368a482a592e6615aef479"
        );
        let headers = pairs(&[
            ("Host", "bj.bcebos.com"),
            ("Content-Type", "text/plain"),
            ("Content-Length", "8"),
            ("Content-Md5", "NFzcPqhviddjRNnSOGo4rw=="),
            ("x-bce-date", "2015-04-27T08:23:49Z"),
            ("User-Agent", "not signed by default"),
        ]);
        let query = pairs(&[
            ("partNumber", "9"),
            ("uploadId", "a44cc9bab11cbd156984767aad637851"),
        ]);
        let cr = bce_canonical_request(
            "PUT",
            "/v1/test/myfolder/readme.txt",
            &query,
            &headers,
            &auth.signed_headers,
        );
        assert_eq!(
            bce_sign(&key, &cr),
            "d74a04362e6a848f5b39b15421cb449427f419c95a480fd6b8cf9fc783e2999e"
        );
        // The path must include `/v1`.
        let without_v1 =
            bce_canonical_request("PUT", "/test/myfolder/readme.txt", &query, &headers, &[]);
        assert_ne!(
            bce_sign(&key, &without_v1),
            "d74a04362e6a848f5b39b15421cb449427f419c95a480fd6b8cf9fc783e2999e"
        );
    }

    const HAVIP_AUTH: &str = "bce-auth-v1/testid/2024-01-01T00:00:00Z/1800//\
        20c7c033022915b114c3129a67f9bf70659bc5dd4f6d8faa522eb637c297ada5";

    #[test]
    fn should_match_the_havip_attach_vector() {
        let auth = parse_bce_authorization(HAVIP_AUTH).expect("vector header parses");
        assert!(auth.signed_headers.is_empty());
        let key = bce_signing_key("testsecret", &auth.auth_string_prefix());
        assert_eq!(
            key,
            "09dc716f36abd79c35ed0f73c53850b266dd2c6033af640dd923a15015257222"
        );
        let headers = pairs(&[
            ("host", "bcc.bj.baidubce.com"),
            ("content-type", "application/json;charset=utf-8"),
            ("content-length", "52"),
            ("x-bce-date", "2024-01-01T00:00:00Z"),
            ("authorization", HAVIP_AUTH),
        ]);
        let query = pairs(&[
            ("attach", ""),
            ("clientToken", "cecad37a-5a1e-4135-a1bc-b1a105d12dec"),
        ]);
        let cr = bce_canonical_request(
            "PUT",
            "/v1/havip/havip-w2d4kgc3x0y1",
            &query,
            &headers,
            &auth.signed_headers,
        );
        assert_eq!(
            cr,
            "PUT\n/v1/havip/havip-w2d4kgc3x0y1\n\
             attach=&clientToken=cecad37a-5a1e-4135-a1bc-b1a105d12dec\n\
             content-length:52\n\
             content-type:application%2Fjson%3Bcharset%3Dutf-8\n\
             host:bcc.bj.baidubce.com\n\
             x-bce-date:2024-01-01T00%3A00%3A00Z"
        );
        let sig = bce_sign(&key, &cr);
        assert_eq!(sig, auth.signature);
        assert!(constant_time_eq(sig.as_bytes(), auth.signature.as_bytes()));
    }

    #[test]
    fn canonical_headers_should_follow_an_explicit_list() {
        let headers = pairs(&[
            ("Host", "h"),
            ("X-Bce-Date", "d"),
            ("X-Custom", " v w "),
            ("x-custom", "second value ignored"),
            ("Content-Type", "   "),
        ]);
        let signed = vec![
            "host".to_owned(),
            "x-custom".to_owned(),
            "content-type".to_owned(),
        ];
        assert_eq!(
            bce_canonical_headers(&headers, &signed),
            "host:h\nx-custom:v%20w"
        );
        assert_eq!(bce_canonical_headers(&headers, &[]), "host:h\nx-bce-date:d");
    }

    #[test]
    fn canonical_query_should_sort_encoded_strings_and_skip_authorization() {
        let query = pairs(&[
            ("b", "x y"),
            ("Authorization", "secret"),
            ("a-b", "1"),
            ("a", "/"),
        ]);
        // `a=` sorts after `a-b=` because `-` (0x2D) < `=` (0x3D).
        assert_eq!(bce_canonical_query(&query), "a-b=1&a=%2F&b=x%20y");
    }

    #[test]
    fn canonical_uri_should_encode_segments_and_keep_slashes() {
        assert_eq!(bce_canonical_uri("/v1/havip/h-1"), "/v1/havip/h-1");
        assert_eq!(bce_canonical_uri("/a%20b/c d/é"), "/a%20b/c%20d/%C3%A9");
        assert_eq!(bce_canonical_uri("/x%7Ey*"), "/x~y%2A");
        assert_eq!(bce_canonical_uri(""), "/");
    }

    #[test]
    fn parse_bce_authorization_should_reject_malformed_values() {
        for bad in [
            "",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/1800/",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/1800//sig/extra",
            "bce-auth-v2/ak/2024-01-01T00:00:00Z/1800//sig",
            "bce-auth-v1//2024-01-01T00:00:00Z/1800//sig",
            "bce-auth-v1/ak//1800//sig",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z///sig",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/-1//sig",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/+1//sig",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/01800//sig",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/99999999999999999999999//sig",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/1800//",
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/1800/host;;x-bce-date/sig",
        ] {
            assert_eq!(parse_bce_authorization(bad), None, "{bad:?}");
        }
        let explicit =
            parse_bce_authorization("bce-auth-v1/ak/2024-01-01T00:00:00Z/60/Host;x-bce-date/00")
                .expect("explicit list parses");
        assert_eq!(explicit.signed_headers, vec!["host", "x-bce-date"]);
        assert_eq!(explicit.expiration_seconds, 60);
        assert_eq!(
            explicit.auth_string_prefix(),
            "bce-auth-v1/ak/2024-01-01T00:00:00Z/60"
        );
    }
}
