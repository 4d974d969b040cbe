//! Alibaba Cloud request signatures: RPC "V2" (HMAC-SHA1) and V3 (`ACS3-HMAC-SHA256`).
//!
//! This module is pure math over already-extracted request parts: it never reads a socket,
//! never looks at the clock and never decides which secret belongs to which key id. The
//! dialect's request plumbing gathers the inputs, calls these functions and compares the
//! result with [`constant_time_eq`].
//!
//! **V2** (`SignatureVersion=1.0`, sent by `aliyun-python-sdk-core` and by the Tea SDK with
//! `signature_algorithm="v2"`): take every decoded parameter from the query string and the
//! form body except `Signature`, sort them by name, join `pct(name)=pct(value)` with `&`,
//! and sign `METHOD&%2F&pct(that string)` (so values are encoded twice) with HMAC-SHA1 keyed
//! by `secret + "&"`; the result is Base64.
//!
//! **V3** (`Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`,
//! the Tea SDK default): build the canonical request
//! `METHOD\nURI\nQUERY\nHEADERS\nSIGNED_HEADERS\nPAYLOAD_HASH`, where QUERY is the decoded
//! query re-encoded with RFC 3986 and sorted, HEADERS holds one `name:trim(value)\n` line per
//! signed header (hence the blank line before SIGNED_HEADERS) and PAYLOAD_HASH is the hex
//! SHA-256 of the body (the client declares it in `x-acs-content-sha256`). The string to sign
//! is `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request, signed with HMAC-SHA256
//! keyed by the bare secret; the result is lower-case hex.
//!
//! `pct` is RFC 3986 percent-encoding of UTF-8 bytes with upper-case hex: only
//! `A-Z a-z 0-9 - _ . ~` stay literal (space is `%20`, `*` is `%2A`).
//!
//! Sorting: parameters are sorted by name and then by value, comparing bytes. For UTF-8 text,
//! byte order equals code-point order, which is what the SDKs' sorts produce.

use base64::Engine as _;
use havip_api::crypto::{hex32, hmac_sha256, parse_authorization_fields, split_signed_headers};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

pub use havip_api::crypto::{
    constant_time_eq, pct_encode, pct_encode_into, sha256_hex, sha256_hex_array,
};

/// The V3 algorithm name, as it opens the `Authorization` header and the string to sign.
pub const ACS3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Hex SHA-256 of an empty payload (what `x-acs-content-sha256` carries for an empty body).
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Sorts `(name, value)` pairs by name, then value, and appends them to `out` as
/// `pct(name)=pct(value)` joined with `&`.
fn push_sorted_encoded_pairs<'a, K, V>(out: &mut String, pairs: impl Iterator<Item = &'a (K, V)>)
where
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    let mut sorted: Vec<(&str, &str)> = pairs.map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    sorted.sort_unstable();
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        pct_encode_into(out, name);
        out.push('=');
        pct_encode_into(out, value);
    }
}

/// V2 `CanonicalizedQueryString`: every parameter except `Signature`, sorted, as
/// `pct(name)=pct(value)` joined with `&`.
///
/// `params` are the decoded (name, value) pairs from the query and the form body; empty
/// values are kept (`SignatureType=`).
pub fn rpc_v2_canonicalized_query(params: &[(String, String)]) -> String {
    let mut out = String::with_capacity(params.len() * 32);
    push_sorted_encoded_pairs(
        &mut out,
        params.iter().filter(|(name, _)| name != "Signature"),
    );
    out
}

/// V2 (HMAC-SHA1) string to sign. `params` are the decoded (name, value) pairs from the query and form body, WITHOUT `Signature`.
///
/// A `Signature` pair, if passed anyway, is ignored. The result is
/// `METHOD + "&%2F&" + pct(CanonicalizedQueryString)`.
pub fn rpc_v2_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let query = rpc_v2_canonicalized_query(params);
    let mut out = String::with_capacity(method.len() + 5 + query.len() * 5 / 4);
    out.push_str(method);
    out.push('&');
    pct_encode_into(&mut out, "/");
    out.push('&');
    pct_encode_into(&mut out, &query);
    out
}

/// base64(HMAC-SHA1(secret + "&", sts))
pub fn rpc_v2_sign(secret: &str, string_to_sign: &str) -> String {
    let key = format!("{secret}&");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The three fields of a V3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Authorization {
    /// The `Credential` field: the AccessKeyId.
    pub access_key_id: String,
    /// The `SignedHeaders` field split on `;`, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// The `Signature` field: lower-case hex HMAC-SHA256.
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=a;b,Signature=hex`; None when malformed.
///
/// Malformed means: another algorithm, a missing, repeated, unknown or empty field, or an
/// empty header name in `SignedHeaders`. Whitespace around the comma-separated fields is
/// tolerated.
pub fn parse_acs3_authorization(value: &str) -> Option<Acs3Authorization> {
    let [credential, signed_headers, signature] = parse_authorization_fields(
        value,
        ACS3_ALGORITHM,
        ["Credential", "SignedHeaders", "Signature"],
    )?;
    Some(Acs3Authorization {
        access_key_id: credential.to_owned(),
        signed_headers: split_signed_headers(signed_headers)?,
        signature: signature.to_owned(),
    })
}

/// V3 `CanonicalQueryString`: the decoded query pairs sorted and joined as
/// `pct(name)=pct(value)` with `&` (`name=` for an empty value).
pub fn acs3_canonical_query<K: AsRef<str>, V: AsRef<str>>(query: &[(K, V)]) -> String {
    let mut out = String::with_capacity(query.len() * 32);
    push_sorted_encoded_pairs(&mut out, query.iter());
    out
}

/// Appends the V3 `CanonicalHeaders` (see [`acs3_canonical_headers`]) to `out`.
fn push_canonical_headers<K, V, S>(out: &mut String, headers: &[(K, V)], signed_headers: &[S])
where
    K: AsRef<str>,
    V: AsRef<str>,
    S: AsRef<str>,
{
    for name in signed_headers {
        let name = name.as_ref();
        out.push_str(name);
        out.push(':');
        let mut received = headers
            .iter()
            .filter(|(received, _)| received.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref().trim());
        // Nearly always one value: no list to sort then.
        if let Some(first) = received.next() {
            match received.next() {
                None => out.push_str(first),
                Some(second) => {
                    let mut values: Vec<&str> = vec![first, second];
                    values.extend(received);
                    values.sort_unstable();
                    for (i, v) in values.into_iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(v);
                    }
                }
            }
        }
        out.push('\n');
    }
}

/// V3 `CanonicalHeaders`: one `name:value\n` line per signed header, in the listed order.
///
/// `value` is every received value of that header (matched case-insensitively), trimmed,
/// sorted and joined with `,`; a signed header that was not received gives `name:\n`.
pub fn acs3_canonical_headers<K, V, S>(headers: &[(K, V)], signed_headers: &[S]) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
    S: AsRef<str>,
{
    let mut out = String::with_capacity(signed_headers.len() * 48);
    push_canonical_headers(&mut out, headers, signed_headers);
    out
}

/// `headers`: every received header as (lower-case name, value), duplicates kept.
///
/// Builds the V3 canonical request
/// `METHOD\nURI\nCanonicalQueryString\nCanonicalHeaders\nSignedHeaders\nHashedRequestPayload`.
/// `path` is the request path as received (`/` when empty), `query` the decoded query pairs,
/// `signed_headers` the list from the `Authorization` header and `payload_hash_hex` the hex
/// SHA-256 of the body (the value of `x-acs-content-sha256`, once checked against the body).
/// It is written into one buffer: it is built for every signed request, on both ends.
pub fn acs3_canonical_request<QK, QV, HK, HV, S>(
    method: &str,
    path: &str,
    query: &[(QK, QV)],
    headers: &[(HK, HV)],
    signed_headers: &[S],
    payload_hash_hex: &str,
) -> String
where
    QK: AsRef<str>,
    QV: AsRef<str>,
    HK: AsRef<str>,
    HV: AsRef<str>,
    S: AsRef<str>,
{
    let uri = if path.is_empty() { "/" } else { path };
    let mut out = String::with_capacity(
        160 + method.len() + uri.len() + query.len() * 40 + signed_headers.len() * 64,
    );
    out.push_str(method);
    out.push('\n');
    out.push_str(uri);
    out.push('\n');
    push_sorted_encoded_pairs(&mut out, query.iter());
    out.push('\n');
    push_canonical_headers(&mut out, headers, signed_headers);
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name.as_ref());
    }
    out.push('\n');
    out.push_str(payload_hash_hex);
    out
}

/// V3 string to sign: `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical request)).
pub fn acs3_string_to_sign(canonical_request: &str) -> String {
    let digest = sha256_hex_array(canonical_request.as_bytes());
    let mut out = String::with_capacity(ACS3_ALGORITHM.len() + 1 + digest.len());
    out.push_str(ACS3_ALGORITHM);
    out.push('\n');
    out.extend(digest.iter().map(|&b| char::from(b)));
    out
}

/// hex(HMAC-SHA256(secret, sts))
pub fn acs3_sign(secret: &str, string_to_sign: &str) -> String {
    let hex = hex32(&hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()));
    hex.iter().map(|&b| char::from(b)).collect()
}

/// `acs3_sign(secret, &acs3_string_to_sign(canonical_request))` as lower-case hex ASCII on
/// the stack, without building the string to sign: the digest is fed to the MAC directly.
/// (A verifier builds the string to sign only when it has to quote it in an error.)
pub fn acs3_signature(secret: &str, canonical_request: &str) -> [u8; 64] {
    let digest = sha256_hex_array(canonical_request.as_bytes());
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(ACS3_ALGORITHM.as_bytes());
    mac.update(b"\n");
    mac.update(&digest);
    hex32(&mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use havip_testkit::pairs;

    /// The common parameters of the signatures.md §1 vector.
    fn v2_common() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AccessKeyId", "testid"),
            ("Format", "JSON"),
            ("RegionId", "cn-hangzhou"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("Version", "2016-04-28"),
        ]
    }

    #[test]
    fn rpc_v2_should_match_the_describe_havips_vector() {
        let mut list = v2_common();
        // Passed in shuffled order: the canonical form must sort.
        list.insert(
            0,
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        );
        list.push(("Filter.1.Value.1", "havip-2zeo05qre24nhrqpy"));
        list.push(("Action", "DescribeHaVips"));
        list.push(("Filter.1.Key", "HaVipId"));
        let params = pairs(&list);
        let sts = rpc_v2_string_to_sign("POST", &params);
        assert_eq!(
            sts,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeHaVips%26Filter.1.Key%3DHaVipId\
             %26Filter.1.Value.1%3Dhavip-2zeo05qre24nhrqpy%26Format%3DJSON%26RegionId%3Dcn-hangzhou\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2024-01-01T00%253A00%253A00Z%26Version%3D2016-04-28"
        );
        assert_eq!(
            rpc_v2_sign("testsecret", &sts),
            "AFg5N2yAveNSezJnDVB8c0ablKQ="
        );
    }

    #[test]
    fn rpc_v2_should_double_encode_the_encoding_edge_case() {
        let mut list = v2_common();
        list.extend([
            ("Action", "ModifyHaVipAttribute"),
            ("HaVipId", "havip-x"),
            ("SignatureNonce", "n1"),
            ("Description", "a b*c~d/é+"),
        ]);
        let params = pairs(&list);
        assert!(
            rpc_v2_canonicalized_query(&params).contains("&Description=a%20b%2Ac~d%2F%C3%A9%2B&")
        );
        let sts = rpc_v2_string_to_sign("GET", &params);
        assert!(sts.starts_with("GET&%2F&"));
        assert!(sts.contains("%26Description%3Da%2520b%252Ac~d%252F%25C3%25A9%252B%26"));
        assert_eq!(
            rpc_v2_sign("testsecret", &sts),
            "JJptniE81p0ilFNl5XczppidrQ8="
        );
    }

    #[test]
    fn rpc_v2_should_ignore_a_signature_param_and_keep_empty_values() {
        let with = pairs(&[("A", "1"), ("Signature", "xyz"), ("SignatureType", "")]);
        let without = pairs(&[("A", "1"), ("SignatureType", "")]);
        assert_eq!(
            rpc_v2_string_to_sign("POST", &with),
            rpc_v2_string_to_sign("POST", &without)
        );
        assert_eq!(rpc_v2_canonicalized_query(&without), "A=1&SignatureType=");
    }

    const V3_AUTH: &str = "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;\
        x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
        Signature=d60e917078237c5dddc46372c8610be11473806e67842ca3c6b2c07e86e7781c";

    #[test]
    fn acs3_should_match_the_delete_havip_vector() {
        let auth = parse_acs3_authorization(V3_AUTH).expect("vector header parses");
        assert_eq!(auth.access_key_id, "testid");
        assert_eq!(auth.signed_headers.len(), 6);
        let headers = pairs(&[
            ("host", "vpc.aliyuncs.com"),
            ("x-acs-action", "DeleteHaVip"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-date", "2024-01-01T00:00:00Z"),
            (
                "x-acs-signature-nonce",
                "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
            ),
            ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
            ("accept-encoding", "identity"),
        ]);
        let query = pairs(&[
            ("RegionId", "cn-hangzhou"),
            ("HaVipId", "havip-2zeo05qre24nhrqpy"),
        ]);
        assert_eq!(sha256_hex(b""), EMPTY_PAYLOAD_SHA256);
        let cr = acs3_canonical_request(
            "POST",
            "/",
            &query,
            &headers,
            &auth.signed_headers,
            EMPTY_PAYLOAD_SHA256,
        );
        assert_eq!(
            cr,
            "POST\n/\nHaVipId=havip-2zeo05qre24nhrqpy&RegionId=cn-hangzhou\n\
             host:vpc.aliyuncs.com\n\
             x-acs-action:DeleteHaVip\n\
             x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-acs-date:2024-01-01T00:00:00Z\n\
             x-acs-signature-nonce:3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\n\
             x-acs-version:2016-04-28\n\
             \n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let sts = acs3_string_to_sign(&cr);
        assert!(sts.starts_with("ACS3-HMAC-SHA256\n"));
        let sig = acs3_sign("testsecret", &sts);
        assert_eq!(sig, auth.signature);
        assert_eq!(&acs3_signature("testsecret", &cr)[..], sig.as_bytes());
        assert!(constant_time_eq(sig.as_bytes(), auth.signature.as_bytes()));
    }

    #[test]
    fn acs3_canonical_headers_should_trim_sort_and_join_repeated_values() {
        let headers = pairs(&[("x-a", " b "), ("X-A", "a"), ("x-b", "1")]);
        let signed = vec!["x-a".to_owned(), "x-c".to_owned()];
        assert_eq!(acs3_canonical_headers(&headers, &signed), "x-a:a,b\nx-c:\n");
    }

    #[test]
    fn acs3_canonical_query_should_reencode_values_with_rfc3986() {
        let query = pairs(&[("Name", "renamed havip"), ("Flag", ""), ("D", "*~+/")]);
        assert_eq!(
            acs3_canonical_query(&query),
            "D=%2A~%2B%2F&Flag=&Name=renamed%20havip"
        );
    }

    #[test]
    fn parse_acs3_authorization_should_reject_malformed_values() {
        for bad in [
            "",
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 ",
            "ACS3-HMAC-SHA256Credential=a,SignedHeaders=host,Signature=00",
            "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=00",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=00",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host;;date,Signature=00",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=00,Signature=11",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=00,Extra=1",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature",
        ] {
            assert_eq!(parse_acs3_authorization(bad), None, "{bad:?}");
        }
        let ok = parse_acs3_authorization(
            "ACS3-HMAC-SHA256 Credential=a, SignedHeaders=host;x-acs-date, Signature=00",
        )
        .expect("spaces after commas are tolerated");
        assert_eq!(ok.signed_headers, vec!["host", "x-acs-date"]);
    }
}
