//! Replays every captured Alibaba SDK request in `shared/fixtures/wire/alibaba/` through the
//! signature math of `havip_api_aliyun::signature`.
//!
//! For each fixture file: decode the recorded request (query, form body, headers), pick V3
//! when `Authorization` starts with `ACS3-`, else V2 when a `Signature` parameter exists,
//! recompute the signature with the recorded secret and check the verdict against
//! `expect`. The canonical strings must equal the ones the reference verifier recorded in
//! `signing` (for `.tampered` copies, which describe the request before tampering, they must
//! differ), and the business parameters must equal `expected.params`.
//!
//! Every file is checked; all failures are reported together, each with its file name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use havip_api_aliyun::signature::{
    acs3_canonical_request, acs3_sign, acs3_string_to_sign, constant_time_eq,
    parse_acs3_authorization, rpc_v2_canonicalized_query, rpc_v2_sign, rpc_v2_string_to_sign,
    sha256_hex,
};
use serde_json::Value;

/// Parameters that belong to the RPC protocol, not to the operation.
const PROTOCOL_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
];

type Pairs = Vec<(String, String)>;

fn wire_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/wire")
}

/// Every `*.json` below `dir`, sorted, recursively.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read fixture directory {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
    out.sort();
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
/// A `%` not followed by two hex digits stays literal, as in Python's `unquote_plus`.
fn form_decode_component(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

/// Decodes a urlencoded string into (name, value) pairs in wire order; empty segments are
/// skipped and a segment without `=` has an empty value.
fn form_decode(s: &str) -> Result<Pairs, String> {
    s.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            Ok((form_decode_component(name)?, form_decode_component(value)?))
        })
        .collect()
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, String> {
    let mut cur = v;
    for key in path {
        cur = cur
            .get(key)
            .ok_or_else(|| format!("missing field {}", path.join(".")))?;
    }
    cur.as_str()
        .ok_or_else(|| format!("field {} is not a string", path.join(".")))
}

fn pairs_field(v: &Value, name: &str) -> Result<Pairs, String> {
    let list = v
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("request.{name} is not a list"))?;
    list.iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
            _ => Err(format!("request.{name} has a malformed pair {pair}")),
        })
        .collect()
}

fn first_header<'a>(headers: &'a Pairs, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Which algorithm a fixture exercised, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Algorithm {
    V2,
    V3,
}

/// Checks one fixture; returns the algorithm and whether it verified.
fn check_fixture(fx: &Value) -> Result<(Algorithm, bool), String> {
    let req = fx.get("request").ok_or("no request block")?;
    let secret = str_field(fx, &["credentials", "access_key_secret"])?;
    let expect = str_field(fx, &["expect"])?;
    ensure!(
        expect == "signature-valid" || expect == "signature-mismatch",
        "unknown expect {expect:?}"
    );
    let want_valid = expect == "signature-valid";

    let method = str_field(req, &["method"])?;
    let path = str_field(req, &["path"])?;
    let body = str_field(req, &["body"])?;
    let query = form_decode(str_field(req, &["query_string"])?)?;
    // Cross-check the decoder against the capture's own decoding. The `.tampered` copies
    // change `query_string` (and `raw_path`) but keep the pre-tampering `request.query`, so
    // the check only holds for untouched captures.
    ensure!(
        !want_valid || query == pairs_field(req, "query")?,
        "own query decoding differs from request.query: {query:?}"
    );
    let headers: Pairs = pairs_field(req, "headers")?
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let content_type = first_header(&headers, "content-type").unwrap_or("");
    let form = if content_type.starts_with("application/x-www-form-urlencoded") {
        form_decode(body)?
    } else {
        Vec::new()
    };
    let mut all_params = query.clone();
    all_params.extend(form.iter().cloned());
    let signing = fx.get("signing").ok_or("no signing block")?;
    let recorded = |key: &str| signing.get(key).and_then(Value::as_str);
    // For a tampered copy the recorded canonical strings describe the untampered request.
    let check_recorded = |key: &str, ours: &str| -> Result<(), String> {
        match recorded(key) {
            Some(theirs) if want_valid => {
                ensure!(
                    ours == theirs,
                    "{key} differs:\n ours: {ours:?}\n file: {theirs:?}"
                )
            }
            Some(theirs) => ensure!(
                ours != theirs,
                "{key} of a tampered request equals the untampered one"
            ),
            None => {}
        }
        Ok(())
    };

    let authorization = first_header(&headers, "authorization");
    let (algorithm, verified, action, version) =
        if let Some(auth) = authorization.filter(|a| a.starts_with("ACS3-")) {
            let parsed =
                parse_acs3_authorization(auth).ok_or_else(|| format!("unparsable {auth:?}"))?;
            ensure!(
                recorded("access_key_id") == Some(parsed.access_key_id.as_str()),
                "access key id {:?} differs from signing.access_key_id",
                parsed.access_key_id
            );
            let declared = first_header(&headers, "x-acs-content-sha256").unwrap_or("");
            let body_ok = declared == sha256_hex(body.as_bytes());
            let cr = acs3_canonical_request(
                method,
                path,
                &query,
                &headers,
                &parsed.signed_headers,
                declared,
            );
            check_recorded("canonical_request", &cr)?;
            let sts = acs3_string_to_sign(&cr);
            check_recorded("string_to_sign", &sts)?;
            let ok = body_ok
                && constant_time_eq(
                    acs3_sign(secret, &sts).as_bytes(),
                    parsed.signature.as_bytes(),
                );
            (
                Algorithm::V3,
                ok,
                first_header(&headers, "x-acs-action"),
                first_header(&headers, "x-acs-version"),
            )
        } else {
            let param = |name: &str| {
                all_params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            let signature = param("Signature").ok_or("neither ACS3 Authorization nor Signature")?;
            ensure!(
                param("SignatureMethod") == Some("HMAC-SHA1"),
                "SignatureMethod {:?}",
                param("SignatureMethod")
            );
            ensure!(
                recorded("signature") == Some(signature),
                "decoded Signature {signature:?} differs from signing.signature"
            );
            let unsigned: Pairs = all_params
                .iter()
                .filter(|(n, _)| n != "Signature")
                .cloned()
                .collect();
            check_recorded(
                "canonicalized_query_string",
                &rpc_v2_canonicalized_query(&unsigned),
            )?;
            let sts = rpc_v2_string_to_sign(method, &unsigned);
            check_recorded("string_to_sign", &sts)?;
            let ok = constant_time_eq(rpc_v2_sign(secret, &sts).as_bytes(), signature.as_bytes());
            // Action and Version come from the signed parameters, never from x-acs-* headers.
            (Algorithm::V2, ok, param("Action"), param("Version"))
        };
    ensure!(
        verified == want_valid,
        "{algorithm:?} signature {} but the fixture expects {expect}",
        if verified { "verified" } else { "was rejected" }
    );

    let expected = fx.get("expected").ok_or("no expected block")?;
    ensure!(
        action == expected.get("action").and_then(Value::as_str),
        "action {action:?} differs from expected.action"
    );
    ensure!(
        version == expected.get("version").and_then(Value::as_str),
        "version {version:?} differs from expected.version"
    );
    let mut business = BTreeMap::new();
    for (name, value) in &all_params {
        if PROTOCOL_PARAMS.contains(&name.as_str()) {
            continue;
        }
        ensure!(
            business
                .insert(name.clone(), Value::String(value.clone()))
                .is_none(),
            "parameter {name} appears twice"
        );
    }
    let business = Value::Object(business.into_iter().collect());
    ensure!(
        Some(&business) == expected.get("params"),
        "params differ from expected.params:\n ours: {business}\n file: {}",
        expected.get("params").unwrap_or(&Value::Null)
    );
    Ok((algorithm, verified))
}

#[test]
fn every_alibaba_fixture_should_verify_as_recorded() {
    let dir = wire_root().join("alibaba");
    assert!(
        dir.is_dir(),
        "fixture directory {} is missing: the wire fixtures live in shared/ next to the repo \
         (shared/fixtures/wire); this test must not be skipped",
        dir.display()
    );
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    assert!(
        !files.is_empty(),
        "no *.json fixtures under {}",
        dir.display()
    );

    let mut failures = Vec::new();
    let mut seen = BTreeMap::new();
    for file in &files {
        let name = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        let outcome = std::fs::read_to_string(file)
            .map_err(|e| format!("unreadable: {e}"))
            .and_then(|text| {
                serde_json::from_str::<Value>(&text).map_err(|e| format!("invalid JSON: {e}"))
            })
            .and_then(|fx| check_fixture(&fx));
        match outcome {
            Ok(kind) => {
                eprintln!("ok   alibaba/{name}: {kind:?}");
                *seen.entry(kind).or_insert(0) += 1;
            }
            Err(e) => failures.push(format!("alibaba/{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} Alibaba fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    // Both algorithms and both verdicts must have been exercised.
    for kind in [
        (Algorithm::V2, true),
        (Algorithm::V2, false),
        (Algorithm::V3, true),
        (Algorithm::V3, false),
    ] {
        assert!(seen.contains_key(&kind), "no fixture exercised {kind:?}");
    }
}

#[test]
fn form_decoder_should_handle_plus_percent_and_flags() {
    assert_eq!(
        form_decode("a=b+c&d=%2A%7e%E4%B8%AD&flag&&e=").expect("decodes"),
        vec![
            ("a".to_owned(), "b c".to_owned()),
            ("d".to_owned(), "*~中".to_owned()),
            ("flag".to_owned(), String::new()),
            ("e".to_owned(), String::new()),
        ]
    );
    assert_eq!(form_decode_component("100%").expect("literal"), "100%");
    assert_eq!(form_decode_component("%zz%4").expect("literal"), "%zz%4");
    assert!(form_decode_component("%FF").is_err());
}
