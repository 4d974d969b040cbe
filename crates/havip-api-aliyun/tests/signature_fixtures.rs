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

use havip_api_aliyun::params::PROTOCOL as PROTOCOL_PARAMS;
use havip_api_aliyun::signature::{
    acs3_canonical_request, acs3_sign, acs3_string_to_sign, constant_time_eq,
    parse_acs3_authorization, rpc_v2_canonicalized_query, rpc_v2_sign, rpc_v2_string_to_sign,
    sha256_hex,
};
use havip_testkit::ensure;
use havip_testkit::fixtures::{self, Fixture, SignatureCase};
use havip_testkit::form::decode as form_decode;
use havip_testkit::json::{string_object, unique_map, Pairs};
use serde_json::Value;

/// Which algorithm a fixture exercised, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Algorithm {
    V2,
    V3,
}

/// Checks one fixture; returns the algorithm and whether it verified.
fn check_fixture(fx: &Fixture) -> Result<(Algorithm, bool), String> {
    let case = SignatureCase::new(fx)?;
    let query = &case.query;
    let method = fx.raw.method.as_str();
    let path = fx.raw.path.as_str();
    let body = fx.body_text();
    let headers = &fx.raw.headers;
    let first_header = |name: &str| fx.raw.header(name);
    let content_type = first_header("content-type").unwrap_or("");
    let form = if content_type.starts_with("application/x-www-form-urlencoded") {
        form_decode(body)?
    } else {
        Vec::new()
    };
    let mut all_params = query.clone();
    all_params.extend(form.iter().cloned());

    let authorization = first_header("authorization");
    let (algorithm, verified, action, version) =
        if let Some(auth) = authorization.filter(|a| a.starts_with("ACS3-")) {
            let parsed =
                parse_acs3_authorization(auth).ok_or_else(|| format!("unparsable {auth:?}"))?;
            ensure!(
                case.recorded("access_key_id") == Some(parsed.access_key_id.as_str()),
                "access key id {:?} differs from signing.access_key_id",
                parsed.access_key_id
            );
            let declared = first_header("x-acs-content-sha256").unwrap_or("");
            let body_ok = declared == sha256_hex(body.as_bytes());
            let cr = acs3_canonical_request(
                method,
                path,
                query,
                headers,
                &parsed.signed_headers,
                declared,
            );
            case.check_recorded("canonical_request", &cr)?;
            let sts = acs3_string_to_sign(&cr);
            case.check_recorded("string_to_sign", &sts)?;
            let ok = body_ok
                && constant_time_eq(
                    acs3_sign(case.secret, &sts).as_bytes(),
                    parsed.signature.as_bytes(),
                );
            (
                Algorithm::V3,
                ok,
                first_header("x-acs-action"),
                first_header("x-acs-version"),
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
                case.recorded("signature") == Some(signature),
                "decoded Signature {signature:?} differs from signing.signature"
            );
            let unsigned: Pairs = all_params
                .iter()
                .filter(|(n, _)| n != "Signature")
                .cloned()
                .collect();
            case.check_recorded(
                "canonicalized_query_string",
                &rpc_v2_canonicalized_query(&unsigned),
            )?;
            let sts = rpc_v2_string_to_sign(method, &unsigned);
            case.check_recorded("string_to_sign", &sts)?;
            let ok = constant_time_eq(
                rpc_v2_sign(case.secret, &sts).as_bytes(),
                signature.as_bytes(),
            );
            // Action and Version come from the signed parameters, never from x-acs-* headers.
            (Algorithm::V2, ok, param("Action"), param("Version"))
        };
    case.check_verdict(verified)
        .map_err(|e| format!("{algorithm:?} {e}"))?;

    let expected = fx.json.get("expected").ok_or("no expected block")?;
    ensure!(
        action == expected.get("action").and_then(Value::as_str),
        "action {action:?} differs from expected.action"
    );
    ensure!(
        version == expected.get("version").and_then(Value::as_str),
        "version {version:?} differs from expected.version"
    );
    let business = string_object(unique_map(&all_params, PROTOCOL_PARAMS, "parameter")?);
    ensure!(
        Some(&business) == expected.get("params"),
        "params differ from expected.params:\n ours: {business}\n file: {}",
        expected.get("params").unwrap_or(&Value::Null)
    );
    Ok((algorithm, verified))
}

#[test]
fn every_alibaba_fixture_should_verify_as_recorded() {
    // Both algorithms and both verdicts must be exercised.
    let must_see = [
        (Algorithm::V2, true),
        (Algorithm::V2, false),
        (Algorithm::V3, true),
        (Algorithm::V3, false),
    ];
    fixtures::check_each("alibaba", "Alibaba", &must_see, check_fixture);
}
