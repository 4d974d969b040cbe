//! Replays every captured Tencent SDK request in `shared/fixtures/wire/tencent/` through the
//! signature math of `havip_api_tencent::signature`.
//!
//! For each fixture file: decode the recorded request, pick TC3 when `Authorization` starts
//! with `TC3-`, else v1 (`Signature` parameter in the query of a GET or the form body of a
//! POST), recompute the signature with the recorded secret and check the verdict against
//! `expect`. The canonical strings must equal the ones the reference verifier recorded in
//! `signing` (for `.tampered` copies, which describe the request before tampering, they must
//! differ), and action, version, region and business parameters must equal `expected`.
//!
//! Every file is checked; all failures are reported together, each with its file name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use havip_api_tencent::signature::{
    constant_time_eq, parse_tc3_authorization, tc3_canonical_request, tc3_payload_hash, tc3_sign,
    tc3_string_to_sign, utc_date_of_timestamp, v1_sign, v1_string_to_sign, V1SignatureMethod,
    UNSIGNED_PAYLOAD,
};
use serde_json::Value;

/// v1 parameters that belong to the protocol, not to the operation.
const V1_PROTOCOL_PARAMS: &[&str] = &[
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

/// Flattens a JSON request object the way the SDK puts it on the wire for GET and v1:
/// 0-based list indices and object keys joined with `.`, every scalar as a string.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&key(k), v, out)),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&key(&i.to_string()), v, out)),
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        // Python's str() of a bool, as the SDK would send it.
        Value::Bool(b) => {
            out.insert(
                prefix.to_owned(),
                if *b { "True" } else { "False" }.to_owned(),
            );
        }
        Value::Number(n) => {
            out.insert(prefix.to_owned(), n.to_string());
        }
        Value::Null => {
            out.insert(prefix.to_owned(), "None".to_owned());
        }
    }
}

/// Which signature flavour a fixture exercised, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Flavour {
    Tc3Post,
    Tc3Get,
    V1,
}

/// Checks one fixture; returns the flavour and whether it verified.
fn check_fixture(fx: &Value) -> Result<(Flavour, bool), String> {
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
    let raw_query = str_field(req, &["query_string"])?;
    let query = form_decode(raw_query)?;
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

    let expected = fx.get("expected").ok_or("no expected block")?;
    let expected_params = expected.get("params").ok_or("no expected.params")?;
    let mut expected_flat = BTreeMap::new();
    flatten("", expected_params, &mut expected_flat);

    let authorization = first_header(&headers, "authorization");
    let (flavour, verified, action, version, region) = if let Some(auth) =
        authorization.filter(|a| a.starts_with("TC3-"))
    {
        let parsed = parse_tc3_authorization(auth).ok_or_else(|| format!("unparsable {auth:?}"))?;
        ensure!(
            recorded("access_key_id") == Some(parsed.secret_id.as_str()),
            "secret id {:?} differs from signing.access_key_id",
            parsed.secret_id
        );
        let timestamp = first_header(&headers, "x-tc-timestamp").ok_or("no X-TC-Timestamp")?;
        let date_ok = utc_date_of_timestamp(timestamp).as_deref() == Some(parsed.date.as_str());
        let unsigned = first_header(&headers, "x-tc-content-sha256") == Some(UNSIGNED_PAYLOAD);
        let hash = tc3_payload_hash(method, body.as_bytes(), unsigned);
        let cr = tc3_canonical_request(
            method,
            path,
            raw_query,
            &headers,
            &parsed.signed_headers,
            &hash,
        );
        check_recorded("canonical_request", &cr)?;
        let scope = parsed.credential_scope();
        // The scope does not depend on the tampered body: it matches in every file.
        ensure!(
            recorded("credential_scope") == Some(scope.as_str()),
            "credential scope {scope:?} differs from signing.credential_scope"
        );
        let sts = tc3_string_to_sign(timestamp, &scope, &cr);
        check_recorded("string_to_sign", &sts)?;
        let ok = date_ok
            && constant_time_eq(
                tc3_sign(secret, &parsed.date, &parsed.service, &sts).as_bytes(),
                parsed.signature.as_bytes(),
            );
        let flavour = if method == "GET" {
            // Parameters are flattened into the query string.
            let mut flat = BTreeMap::new();
            for (name, value) in &query {
                ensure!(
                    flat.insert(name.clone(), value.clone()).is_none(),
                    "parameter {name} appears twice"
                );
            }
            ensure!(
                flat == expected_flat,
                "query params differ from expected.params:\n ours: {flat:?}\n file: {expected_flat:?}"
            );
            Flavour::Tc3Get
        } else {
            let params: Value =
                serde_json::from_str(body).map_err(|e| format!("body is not JSON: {e}"))?;
            ensure!(
                &params == expected_params,
                "body differs from expected.params:\n ours: {params}\n file: {expected_params}"
            );
            Flavour::Tc3Post
        };
        (
            flavour,
            ok,
            first_header(&headers, "x-tc-action").map(str::to_owned),
            first_header(&headers, "x-tc-version").map(str::to_owned),
            first_header(&headers, "x-tc-region").map(str::to_owned),
        )
    } else {
        let params = if method == "GET" {
            query.clone()
        } else {
            form_decode(body)?
        };
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let signature = param("Signature").ok_or("neither TC3 Authorization nor Signature")?;
        ensure!(
            recorded("signature") == Some(signature),
            "decoded Signature {signature:?} differs from signing.signature"
        );
        let sign_method = V1SignatureMethod::from_param(param("SignatureMethod"))
            .ok_or_else(|| format!("SignatureMethod {:?}", param("SignatureMethod")))?;
        ensure!(
            recorded("algorithm") == Some(sign_method.as_str()),
            "SignatureMethod differs from signing.algorithm"
        );
        let host = first_header(&headers, "host").ok_or("no Host header")?;
        let sts = v1_string_to_sign(method, host, path, &params);
        check_recorded("string_to_sign", &sts)?;
        let ok = constant_time_eq(
            v1_sign(sign_method, secret, &sts).as_bytes(),
            signature.as_bytes(),
        );
        let mut flat = BTreeMap::new();
        for (name, value) in &params {
            if V1_PROTOCOL_PARAMS.contains(&name.as_str()) {
                continue;
            }
            ensure!(
                flat.insert(name.clone(), value.clone()).is_none(),
                "parameter {name} appears twice"
            );
        }
        ensure!(
            flat == expected_flat,
            "params differ from expected.params:\n ours: {flat:?}\n file: {expected_flat:?}"
        );
        (
            Flavour::V1,
            ok,
            param("Action").map(str::to_owned),
            param("Version").map(str::to_owned),
            param("Region").map(str::to_owned),
        )
    };
    ensure!(
        verified == want_valid,
        "{flavour:?} signature {} but the fixture expects {expect}",
        if verified { "verified" } else { "was rejected" }
    );
    for (what, ours) in [
        ("action", &action),
        ("version", &version),
        ("region", &region),
    ] {
        ensure!(
            ours.as_deref() == expected.get(what).and_then(Value::as_str),
            "{what} {ours:?} differs from expected.{what}"
        );
    }
    Ok((flavour, verified))
}

#[test]
fn every_tencent_fixture_should_verify_as_recorded() {
    let dir = wire_root().join("tencent");
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
                eprintln!("ok   tencent/{name}: {kind:?}");
                *seen.entry(kind).or_insert(0) += 1;
            }
            Err(e) => failures.push(format!("tencent/{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} Tencent fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    for kind in [
        (Flavour::Tc3Post, true),
        (Flavour::Tc3Post, false),
        (Flavour::Tc3Get, true),
        (Flavour::V1, true),
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
    assert!(form_decode_component("%FF").is_err());
}

#[test]
fn flatten_should_use_zero_based_indices_and_strings() {
    let mut out = BTreeMap::new();
    flatten(
        "",
        &serde_json::json!({"Filters": [{"Name": "n", "Values": ["a", "b"]}], "Limit": 10}),
        &mut out,
    );
    let want: BTreeMap<String, String> = [
        ("Filters.0.Name", "n"),
        ("Filters.0.Values.0", "a"),
        ("Filters.0.Values.1", "b"),
        ("Limit", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(out, want);
}
