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

use havip_api_tencent::auth::V1_PROTOCOL as V1_PROTOCOL_PARAMS;
use havip_api_tencent::signature::{
    constant_time_eq, parse_tc3_authorization, tc3_canonical_request, tc3_payload_hash, tc3_sign,
    tc3_string_to_sign, utc_date_of_timestamp, v1_sign, v1_string_to_sign, V1SignatureMethod,
    UNSIGNED_PAYLOAD,
};
use havip_testkit::ensure;
use havip_testkit::fixtures::{self, Fixture, SignatureCase};
use havip_testkit::form::decode as form_decode;
use havip_testkit::json::unique_map;
use serde_json::Value;

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
fn check_fixture(fx: &Fixture) -> Result<(Flavour, bool), String> {
    let case = SignatureCase::new(fx)?;
    let query = &case.query;
    let method = fx.raw.method.as_str();
    let path = fx.raw.path.as_str();
    let body = fx.body_text();
    let raw_query = fx.raw.query.as_str();
    let headers = &fx.raw.headers;
    let first_header = |name: &str| fx.raw.header(name);

    let expected = fx.json.get("expected").ok_or("no expected block")?;
    let expected_params = expected.get("params").ok_or("no expected.params")?;
    let mut expected_flat = BTreeMap::new();
    flatten("", expected_params, &mut expected_flat);

    let authorization = first_header("authorization");
    let (flavour, verified, action, version, region) = if let Some(auth) =
        authorization.filter(|a| a.starts_with("TC3-"))
    {
        let parsed = parse_tc3_authorization(auth).ok_or_else(|| format!("unparsable {auth:?}"))?;
        ensure!(
            case.recorded("access_key_id") == Some(parsed.secret_id.as_str()),
            "secret id {:?} differs from signing.access_key_id",
            parsed.secret_id
        );
        let timestamp = first_header("x-tc-timestamp").ok_or("no X-TC-Timestamp")?;
        let date_ok = utc_date_of_timestamp(timestamp).as_deref() == Some(parsed.date.as_str());
        let unsigned = first_header("x-tc-content-sha256") == Some(UNSIGNED_PAYLOAD);
        let hash = tc3_payload_hash(method, body.as_bytes(), unsigned);
        let cr = tc3_canonical_request(
            method,
            path,
            raw_query,
            headers,
            &parsed.signed_headers,
            &hash,
        );
        case.check_recorded("canonical_request", &cr)?;
        let scope = parsed.credential_scope();
        // The scope does not depend on the tampered body: it matches in every file.
        ensure!(
            case.recorded("credential_scope") == Some(scope.as_str()),
            "credential scope {scope:?} differs from signing.credential_scope"
        );
        let sts = tc3_string_to_sign(timestamp, &scope, &cr);
        case.check_recorded("string_to_sign", &sts)?;
        let ok = date_ok
            && constant_time_eq(
                tc3_sign(case.secret, &parsed.date, &parsed.service, &sts).as_bytes(),
                parsed.signature.as_bytes(),
            );
        let flavour = if method == "GET" {
            // Parameters are flattened into the query string.
            let flat = unique_map(query, &[], "parameter")?;
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
            first_header("x-tc-action").map(str::to_owned),
            first_header("x-tc-version").map(str::to_owned),
            first_header("x-tc-region").map(str::to_owned),
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
            case.recorded("signature") == Some(signature),
            "decoded Signature {signature:?} differs from signing.signature"
        );
        let sign_method = V1SignatureMethod::from_param(param("SignatureMethod"))
            .ok_or_else(|| format!("SignatureMethod {:?}", param("SignatureMethod")))?;
        ensure!(
            case.recorded("algorithm") == Some(sign_method.as_str()),
            "SignatureMethod differs from signing.algorithm"
        );
        let host = first_header("host").ok_or("no Host header")?;
        let sts = v1_string_to_sign(method, host, path, &params);
        case.check_recorded("string_to_sign", &sts)?;
        let ok = constant_time_eq(
            v1_sign(sign_method, case.secret, &sts).as_bytes(),
            signature.as_bytes(),
        );
        let flat = unique_map(&params, V1_PROTOCOL_PARAMS, "parameter")?;
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
    case.check_verdict(verified)
        .map_err(|e| format!("{flavour:?} {e}"))?;
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
    let must_see = [
        (Flavour::Tc3Post, true),
        (Flavour::Tc3Post, false),
        (Flavour::Tc3Get, true),
        (Flavour::V1, true),
    ];
    fixtures::check_each("tencent", "Tencent", &must_see, check_fixture);
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
