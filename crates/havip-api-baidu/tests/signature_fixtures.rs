//! Replays every captured Baidu SDK request in `shared/fixtures/wire/baidu/` through the
//! `bce-auth-v1` math of `havip_api_baidu::signature`.
//!
//! For each fixture file: decode the recorded request, parse the `Authorization` string,
//! recompute the signing key, canonical request and signature with the recorded secret and
//! check the verdict against `expect` (the `.body-tampered-unsigned` copy must still verify:
//! the body is not signed). The signing key and effective signed headers must equal the ones
//! the reference verifier recorded in `signing`; so must the canonical request, except for
//! `.tampered` copies, which describe the request before tampering and must differ. Method,
//! path, query and body must equal `expected`.
//!
//! Every file is checked; all failures are reported together, each with its file name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use havip_api_baidu::signature::{
    bce_canonical_headers, bce_canonical_request, bce_sign, bce_signing_key, constant_time_eq,
    parse_bce_authorization,
};
use serde_json::Value;

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

/// Checks one fixture; returns its variant and whether it verified.
fn check_fixture(fx: &Value) -> Result<(String, bool), String> {
    let req = fx.get("request").ok_or("no request block")?;
    let secret = str_field(fx, &["credentials", "access_key_secret"])?;
    let variant = str_field(fx, &["variant"])?.to_owned();
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
    ensure!(
        !want_valid || query == pairs_field(req, "query")?,
        "own query decoding differs from request.query: {query:?}"
    );
    let headers: Pairs = pairs_field(req, "headers")?
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let signing = fx.get("signing").ok_or("no signing block")?;
    let recorded = |key: &str| signing.get(key).and_then(Value::as_str);

    let auth = first_header(&headers, "authorization").ok_or("no Authorization header")?;
    let parsed = parse_bce_authorization(auth).ok_or_else(|| format!("unparsable {auth:?}"))?;
    ensure!(
        recorded("access_key_id") == Some(parsed.access_key_id.as_str())
            && recorded("timestamp") == Some(parsed.timestamp.as_str())
            && signing.get("expiration_seconds").and_then(Value::as_u64)
                == Some(parsed.expiration_seconds)
            && recorded("signed_headers") == Some(parsed.signed_headers.join(";").as_str()),
        "parsed authorization {parsed:?} differs from signing"
    );
    // The key depends only on the authorization prefix: it matches in every file.
    let key = bce_signing_key(secret, &parsed.auth_string_prefix());
    ensure!(
        recorded("signing_key") == Some(key.as_str()),
        "signing key {key} differs from signing.signing_key"
    );
    let canonical_headers = bce_canonical_headers(&headers, &parsed.signed_headers);
    let effective: Vec<Value> = canonical_headers
        .split('\n')
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| Value::String(name.to_owned()))
        .collect();
    ensure!(
        signing.get("signed_headers_effective") == Some(&Value::Array(effective.clone())),
        "effective signed headers {effective:?} differ from signing.signed_headers_effective"
    );
    let cr = bce_canonical_request(method, path, &query, &headers, &parsed.signed_headers);
    match recorded("canonical_request") {
        Some(theirs) if want_valid => ensure!(
            cr == theirs,
            "canonical_request differs:\n ours: {cr:?}\n file: {theirs:?}"
        ),
        Some(theirs) => ensure!(
            cr != theirs,
            "canonical_request of a tampered request equals the untampered one"
        ),
        None => return Err("no signing.canonical_request".to_owned()),
    }
    let verified = constant_time_eq(bce_sign(&key, &cr).as_bytes(), parsed.signature.as_bytes());
    ensure!(
        verified == want_valid,
        "signature {} but the fixture expects {expect}",
        if verified { "verified" } else { "was rejected" }
    );

    let expected = fx.get("expected").ok_or("no expected block")?;
    ensure!(
        expected.get("method").and_then(Value::as_str) == Some(method)
            && expected.get("path").and_then(Value::as_str) == Some(path),
        "method/path {method} {path} differ from expected"
    );
    let mut query_map = serde_json::Map::new();
    for (name, value) in &query {
        ensure!(
            query_map
                .insert(name.clone(), Value::String(value.clone()))
                .is_none(),
            "query parameter {name} appears twice"
        );
    }
    let query_map = Value::Object(query_map);
    ensure!(
        Some(&query_map) == expected.get("query"),
        "query differs from expected.query: {query_map}"
    );
    let parsed_body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).map_err(|e| format!("body is not JSON: {e}"))?
    };
    ensure!(
        Some(&parsed_body) == expected.get("body"),
        "body differs from expected.body: {parsed_body}"
    );
    Ok((variant, verified))
}

#[test]
fn every_baidu_fixture_should_verify_as_recorded() {
    let dir = wire_root().join("baidu");
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
                eprintln!("ok   baidu/{name}: {kind:?}");
                *seen.entry(kind).or_insert(0) += 1;
            }
            Err(e) => failures.push(format!("baidu/{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} Baidu fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    for kind in [
        ("default", true),
        ("tampered", false),
        ("body-tampered-unsigned", true),
    ] {
        assert!(
            seen.contains_key(&(kind.0.to_owned(), kind.1)),
            "no fixture exercised {kind:?}"
        );
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
    assert!(form_decode_component("%FF").is_err());
}
