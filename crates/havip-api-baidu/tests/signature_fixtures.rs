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

use havip_api_baidu::signature::{
    bce_canonical_headers, bce_canonical_request, bce_sign, bce_signing_key, constant_time_eq,
    parse_bce_authorization,
};
use havip_testkit::ensure;
use havip_testkit::fixtures::{self, Fixture, SignatureCase};
use havip_testkit::json::{str_field, string_object, unique_map};
use serde_json::Value;

/// Checks one fixture; returns its variant and whether it verified.
fn check_fixture(fx: &Fixture) -> Result<(String, bool), String> {
    let case = SignatureCase::new(fx)?;
    let variant = str_field(&fx.json, &["variant"])?.to_owned();
    let query = &case.query;
    let method = fx.raw.method.as_str();
    let path = fx.raw.path.as_str();
    let body = fx.body_text();
    let headers = &fx.raw.headers;

    let auth = fx
        .raw
        .header("authorization")
        .ok_or("no Authorization header")?;
    let parsed = parse_bce_authorization(auth).ok_or_else(|| format!("unparsable {auth:?}"))?;
    ensure!(
        case.recorded("access_key_id") == Some(parsed.access_key_id.as_str())
            && case.recorded("timestamp") == Some(parsed.timestamp.as_str())
            && case
                .signing
                .get("expiration_seconds")
                .and_then(Value::as_u64)
                == Some(parsed.expiration_seconds)
            && case.recorded("signed_headers") == Some(parsed.signed_headers.join(";").as_str()),
        "parsed authorization {parsed:?} differs from signing"
    );
    // The key depends only on the authorization prefix: it matches in every file.
    let key = bce_signing_key(case.secret, &parsed.auth_string_prefix());
    ensure!(
        case.recorded("signing_key") == Some(key.as_str()),
        "signing key {key} differs from signing.signing_key"
    );
    let canonical_headers = bce_canonical_headers(headers, &parsed.signed_headers);
    let effective: Vec<Value> = canonical_headers
        .split('\n')
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| Value::String(name.to_owned()))
        .collect();
    ensure!(
        case.signing.get("signed_headers_effective") == Some(&Value::Array(effective.clone())),
        "effective signed headers {effective:?} differ from signing.signed_headers_effective"
    );
    let cr = bce_canonical_request(method, path, query, headers, &parsed.signed_headers);
    ensure!(
        case.recorded("canonical_request").is_some(),
        "no signing.canonical_request"
    );
    case.check_recorded("canonical_request", &cr)?;
    let verified = constant_time_eq(bce_sign(&key, &cr).as_bytes(), parsed.signature.as_bytes());
    case.check_verdict(verified)?;

    let expected = fx.json.get("expected").ok_or("no expected block")?;
    ensure!(
        expected.get("method").and_then(Value::as_str) == Some(method)
            && expected.get("path").and_then(Value::as_str) == Some(path),
        "method/path {method} {path} differ from expected"
    );
    let query_map = string_object(unique_map(query, &[], "query parameter")?);
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
    let must_see = [
        ("default".to_owned(), true),
        ("tampered".to_owned(), false),
        ("body-tampered-unsigned".to_owned(), true),
    ];
    fixtures::check_each("baidu", "Baidu", &must_see, check_fixture);
}
