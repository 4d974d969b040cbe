//! Hostile input through the whole Tencent request path (`Tencent::handle` over a SQLite
//! core): a named corpus of malformed requests, and property tests that mutate the captured
//! SDK requests and sign random parameters (v1 GET and TC3 JSON POST). Every answer must come
//! within two seconds, without a panic, as HTTP 200 with `Response.RequestId`; an error must be
//! `Response.Error` with a client-side code, never `InternalError*` or
//! `FailedOperation.InternalOperationFailure`. The corpus cases must moreover be errors.
//!
//! The property tests run 256 cases each by default; `PROPTEST_CASES` overrides that.

use havip_api::crypto::pct_encode;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_api_tencent::signature::{
    tc3_canonical_request, tc3_credential_scope, tc3_payload_hash, tc3_sign, tc3_string_to_sign,
    utc_date_of_timestamp, v1_sign, v1_string_to_sign, V1SignatureMethod,
};
use havip_api_tencent::Tencent;
use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use havip_testkit::fixtures;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const AK: &str = "testAK";
const SK: &str = "testSecret";
const HOST: &str = "127.0.0.1:9082";
const VPC: &str = "2017-03-12";
const ECM: &str = "2019-07-19";
const REGION: &str = "ap-guangzhou";

const WORLD: &str = r#"
[[region]]
cloud = "tencent"
id = "ap-guangzhou"
[[account]]
id = "100000000099"
cloud = "tencent"
access_keys = [{ id = "testAK", secret = "testSecret" }]
[[vpc]]
id = "vpc-m0c2kcun"
account = "100000000099"
region = "ap-guangzhou"
cidr = "172.16.0.0/16"
[[vswitch]]
id = "subnet-rtmfkg4w"
vpc = "vpc-m0c2kcun"
cidr = "172.16.0.0/24"
[[instance]]
id = "ins-hostile1"
vswitch = "subnet-rtmfkg4w"
private_ip = "172.16.0.10"
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

/// The dialect over a fresh core, and the runtime that drives it. The dialect's clock is
/// `pinned` when non-zero (captured requests replay at their own time), else real time.
struct Harness {
    rt: tokio::runtime::Runtime,
    dialect: Arc<Tencent<SqliteStore>>,
    pinned: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let pinned = Arc::new(AtomicI64::new(0));
        let clock = pinned.clone();
        let dialect = rt.block_on(async {
            let store = SqliteStore::open_dir(dir.path()).expect("store");
            let core = Core::new(store, CoreConfig::default());
            let doc: WorldDoc = toml::from_str(WORLD).expect("topology");
            core.world_apply(doc).await.expect("apply");
            Arc::new(Tencent::with_clock(
                core,
                0,
                Arc::new(move || match clock.load(Ordering::Relaxed) {
                    0 => now_ms(),
                    t => t,
                }),
            ))
        });
        Harness {
            rt,
            dialect,
            pinned,
            _dir: dir,
        }
    }

    /// Runs one request on a runtime worker (as the listener does), bounded by two seconds;
    /// a panic or a hang is an error.
    fn call(&self, req: RawRequest) -> Result<RawResponse, String> {
        let d = self.dialect.clone();
        self.rt.block_on(async move {
            let task = tokio::spawn(async move { d.handle(req).await });
            match tokio::time::timeout(Duration::from_secs(2), task).await {
                Err(_) => Err("no answer within 2 s".to_string()),
                Ok(Err(e)) => Err(format!("the handler panicked: {e}")),
                Ok(Ok(r)) => Ok(r),
            }
        })
    }

    /// [`Harness::call`], then the answer must be Tencent's envelope; returns the error code
    /// (`None` on success).
    fn check(&self, req: RawRequest) -> Result<Option<String>, String> {
        let r = self.call(req)?;
        envelope(&r)
    }
}

fn internal(code: &str) -> bool {
    code.starts_with("InternalError") || code == "FailedOperation.InternalOperationFailure"
}

/// HTTP 200 JSON with `Response.RequestId`; an error has a non-empty client-side
/// `Response.Error.Code` and a `Message`. Returns the code of an error.
fn envelope(r: &RawResponse) -> Result<Option<String>, String> {
    let body = String::from_utf8_lossy(&r.body);
    if r.status != 200 {
        return Err(format!("status {}: {body}", r.status));
    }
    let v: Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("body is not JSON ({e}): {body}"))?;
    let resp = &v["Response"];
    if resp["RequestId"].as_str().is_none_or(str::is_empty) {
        return Err(format!("no Response.RequestId: {body}"));
    }
    let err = &resp["Error"];
    if err.is_null() {
        return Ok(None);
    }
    let code = err["Code"].as_str().unwrap_or("");
    if code.is_empty() || !err["Message"].is_string() {
        return Err(format!("not Tencent's error envelope: {body}"));
    }
    if internal(code) {
        return Err(format!("an internal error code: {body}"));
    }
    Ok(Some(code.to_string()))
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    havip_testkit::pairs(pairs)
}

fn nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn now_secs() -> String {
    (now_ms() / 1000).to_string()
}

fn query_of(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct_encode(k), pct_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The v1 protocol parameters of a fresh request.
fn v1_protocol(action: &str, version: &str) -> Vec<(String, String)> {
    owned(&[
        ("Action", action),
        ("Version", version),
        ("Region", REGION),
        ("SecretId", AK),
        ("SignatureMethod", "HmacSHA256"),
    ])
    .into_iter()
    .chain([
        ("Timestamp".to_string(), now_secs()),
        ("Nonce".to_string(), nonce()),
    ])
    .collect()
}

/// A GET whose query is exactly `pairs` plus a correct v1 `Signature` over them.
fn sign_v1(mut pairs: Vec<(String, String)>) -> RawRequest {
    let sts = v1_string_to_sign("GET", HOST, "/", &pairs);
    pairs.push((
        "Signature".into(),
        v1_sign(V1SignatureMethod::HmacSha256, SK, &sts),
    ));
    havip_testkit::request("GET", "/", &query_of(&pairs), owned(&[("host", HOST)]), "")
}

/// A correctly v1-signed VPC request for `action` with flattened `params`.
fn v1(action: &str, params: &[(&str, &str)]) -> RawRequest {
    let mut pairs = v1_protocol(action, VPC);
    pairs.extend(owned(params));
    sign_v1(pairs)
}

/// A correctly TC3-signed POST of `body` (any bytes) as `application/json`.
fn tc3_raw(action: &str, version: &str, service: &str, body: Vec<u8>) -> RawRequest {
    let ts = now_secs();
    let date = utc_date_of_timestamp(&ts).expect("a date");
    let mut headers = owned(&[
        ("host", HOST),
        ("content-type", "application/json"),
        ("x-tc-action", action),
        ("x-tc-version", version),
        ("x-tc-region", REGION),
    ]);
    headers.push(("x-tc-timestamp".into(), ts.clone()));
    let signed = ["content-type".to_string(), "host".to_string()];
    let canonical = tc3_canonical_request(
        "POST",
        "/",
        "",
        &headers,
        &signed,
        &tc3_payload_hash("POST", &body, false),
    );
    let sts = tc3_string_to_sign(&ts, &tc3_credential_scope(&date, service), &canonical);
    let sig = tc3_sign(SK, &date, service, &sts);
    headers.push((
        "authorization".into(),
        format!("TC3-HMAC-SHA256 Credential={AK}/{date}/{service}/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
    ));
    havip_testkit::request("POST", "/", "", headers, body)
}

/// A correctly TC3-signed VPC request with a JSON body.
fn tc3(action: &str, body: &Value) -> RawRequest {
    tc3_raw(action, VPC, "vpc", body.to_string().into_bytes())
}

fn unsigned(method: &str, path: &str, query: &str, body: impl Into<bytes::Bytes>) -> RawRequest {
    havip_testkit::request(
        method,
        path,
        query,
        owned(&[
            ("host", HOST),
            ("content-type", "application/x-www-form-urlencoded"),
        ]),
        body,
    )
}

/// What a corpus case must come to.
enum Expect {
    /// Any client-side error.
    ClientError,
    /// This code.
    Code(&'static str),
    /// A success or a client-side error (the protocol allows both).
    NoServerError,
}

fn run_corpus(h: &Harness, cases: Vec<(String, RawRequest, Expect)>) {
    let mut failures = Vec::new();
    for (name, req, expect) in cases {
        match (h.check(req), expect) {
            (Err(e), _) => failures.push(format!("{name}: {e}")),
            (Ok(_), Expect::NoServerError) | (Ok(Some(_)), Expect::ClientError) => {}
            (Ok(Some(c)), Expect::Code(want)) if c == want => {}
            (Ok(got), Expect::Code(want)) => {
                failures.push(format!("{name}: expected {want}, got {got:?}"))
            }
            (Ok(None), Expect::ClientError) => {
                failures.push(format!("{name}: expected an error, got a success"))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn malformed_requests_should_get_tencents_client_errors() {
    let h = Harness::new();
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!(
        "{}1{}",
        r#"{"HaVipIds":"#.repeat(10_000),
        "}".repeat(10_000)
    );
    let deep_name = format!("Filters{}", ".Values".repeat(10_000));
    let deep_index = format!("Filters{}", ".0".repeat(10_000));
    let many: Vec<(String, String)> = (0..50_000)
        .map(|i| (format!("X{i}"), "v".to_string()))
        .collect();
    let mut too_large = v1("DescribeHaVips", &[]);
    too_large.body_too_large = true;
    let mut bad_header = v1("DescribeHaVips", &[]);
    bad_header.bad_header = true;
    let mut cases: Vec<(String, RawRequest, Expect)> = vec![
        (
            "oversized body".into(),
            too_large,
            Expect::Code("RequestSizeLimitExceeded"),
        ),
        (
            "a header value that is not UTF-8".into(),
            bad_header,
            Expect::ClientError,
        ),
        (
            "invalid UTF-8 in the query".into(),
            unsigned("GET", "/", "Signature=x&Action=%ff%fe", ""),
            Expect::Code("InvalidParameter"),
        ),
        (
            "invalid UTF-8 in the form body".into(),
            unsigned("POST", "/", "", vec![b'a', b'=', 0xc3, 0x28]),
            Expect::Code("InvalidParameter"),
        ),
        (
            "invalid UTF-8 in a signed JSON body".into(),
            tc3_raw(
                "DescribeHaVips",
                VPC,
                "vpc",
                b"{\"HaVipIds\":[\"\xff\xfe\"]}".to_vec(),
            ),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a broken % escape at the end".into(),
            unsigned("GET", "/", "Signature=x&Action=%", ""),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a % escape with non-hex digits".into(),
            unsigned("GET", "/", "Signature=%zz", ""),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a broken % escape in the form body".into(),
            unsigned("POST", "/", "", "Signature=x&Region=%4"),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a signed JSON array nested 10,000 levels".into(),
            tc3_raw("DescribeHaVips", VPC, "vpc", deep_json.clone().into_bytes()),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a signed JSON object nested 10,000 levels".into(),
            tc3_raw("DescribeHaVips", VPC, "vpc", deep_object.into_bytes()),
            Expect::Code("InvalidParameter"),
        ),
        (
            "an unsigned JSON body nested 10,000 levels".into(),
            havip_testkit::request(
                "POST",
                "/",
                "",
                owned(&[("content-type", "application/json")]),
                deep_json.clone(),
            ),
            Expect::ClientError,
        ),
        (
            "a signed flattened name nested 10,000 levels".into(),
            v1("DescribeHaVips", &[(&deep_name, "x")]),
            Expect::ClientError,
        ),
        (
            "a signed flattened list nested 10,000 levels".into(),
            v1("DescribeHaVips", &[(&deep_index, "x")]),
            Expect::ClientError,
        ),
        (
            "50,000 signed parameters".into(),
            sign_v1(
                v1_protocol("DescribeHaVips", VPC)
                    .into_iter()
                    .chain(many)
                    .collect(),
            ),
            Expect::ClientError,
        ),
        (
            "a signed JSON list of 100,000 IDs".into(),
            tc3(
                "DescribeHaVips",
                &json!({"HaVipIds": vec!["havip-abcdefgh"; 100_000]}),
            ),
            Expect::ClientError,
        ),
        (
            "an empty request".into(),
            havip_testkit::request("GET", "/", "", vec![], ""),
            Expect::Code("AuthFailure.InvalidAuthorization"),
        ),
        (
            "an empty method".into(),
            havip_testkit::request("", "/", "", vec![], ""),
            Expect::Code("UnsupportedProtocol"),
        ),
        (
            "an unknown path".into(),
            unsigned("GET", "/v2/../admin", "", ""),
            Expect::Code("InvalidAction"),
        ),
        (
            "an unknown action".into(),
            v1("DropAllTables", &[]),
            Expect::Code("InvalidAction"),
        ),
        (
            "an action of the other product".into(),
            tc3_raw("DescribeVpcTaskResult", ECM, "ecm", b"{}".to_vec()),
            Expect::ClientError,
        ),
        (
            "an unknown version".into(),
            sign_v1(v1_protocol("DescribeHaVips", "2099-01-01")),
            Expect::Code("NoSuchVersion"),
        ),
        (
            "a TC3 scope naming another service".into(),
            tc3_raw("DescribeHaVips", VPC, "cvm", b"{}".to_vec()),
            Expect::Code("AuthFailure.InvalidAuthorization"),
        ),
        (
            "a non-TC3 Authorization header".into(),
            havip_testkit::request(
                "POST",
                "/",
                "",
                owned(&[("authorization", "Basic YWRtaW46YWRtaW4=")]),
                "{}",
            ),
            Expect::Code("AuthFailure.InvalidAuthorization"),
        ),
        (
            "a duplicate Action".into(),
            v1("DescribeHaVips", &[("Action", "DeleteHaVip")]),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a duplicate business parameter".into(),
            v1(
                "DeleteHaVip",
                &[("HaVipId", "havip-abcdefgh"), ("HaVipId", "havip-hgfedcba")],
            ),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a parameter that is both a value and a list".into(),
            v1(
                "DescribeHaVips",
                &[("HaVipIds", "x"), ("HaVipIds.0", "havip-abcdefgh")],
            ),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a duplicate key in a JSON body".into(),
            tc3_raw(
                "DescribeHaVips",
                VPC,
                "vpc",
                br#"{"Limit":1,"Limit":2}"#.to_vec(),
            ),
            Expect::NoServerError,
        ),
        (
            "a JSON body that is not an object".into(),
            tc3_raw("DescribeHaVips", VPC, "vpc", b"[1,2,3]".to_vec()),
            Expect::Code("InvalidParameter"),
        ),
        (
            "a truncated JSON body".into(),
            tc3_raw("DescribeHaVips", VPC, "vpc", br#"{"Limit":"#.to_vec()),
            Expect::Code("InvalidParameter"),
        ),
        (
            "trailing bytes after the JSON body".into(),
            tc3_raw("DescribeHaVips", VPC, "vpc", br#"{"Limit":1}xyz"#.to_vec()),
            Expect::Code("InvalidParameter"),
        ),
        (
            "an unknown parameter".into(),
            v1("DescribeHaVips", &[("Colour", "blue")]),
            Expect::ClientError,
        ),
        (
            "an unknown region".into(),
            sign_v1(
                v1_protocol("DescribeHaVips", VPC)
                    .into_iter()
                    .map(|(k, v)| match k.as_str() {
                        "Region" => (k, "mars-north-1".to_string()),
                        _ => (k, v),
                    })
                    .collect(),
            ),
            Expect::Code("UnsupportedRegion"),
        ),
        (
            "a forged signature".into(),
            {
                let mut r = v1("DescribeHaVips", &[]);
                r.query.push_str("&Limit=1");
                r
            },
            Expect::Code("AuthFailure.SignatureFailure"),
        ),
    ];
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS", "get"] {
        cases.push((
            format!("the method {method}"),
            unsigned(method, "/", "", ""),
            Expect::Code("UnsupportedProtocol"),
        ));
    }
    for key in [
        "Filters.99999999.Name",
        "Filters.0.Values.99999999",
        "Filters.99999999999999999999.Name",
        "HaVipIds.9999",
        "HaVipIds.1",
        "HaVipIds.-1",
        "HaVipIds.00",
        "Filters..Name",
        "Filters.0.",
        ".Filters",
        "0",
    ] {
        cases.push((
            format!("DescribeHaVips with {key}"),
            v1("DescribeHaVips", &[(key, "x")]),
            Expect::ClientError,
        ));
    }
    for v in [
        "-1",
        "0",
        "99999999999999999999",
        "NaN",
        "1e3",
        "0x10",
        " 10",
        "１０",
        "101",
    ] {
        for name in ["Limit", "Offset"] {
            if name == "Offset" && ["0", "101", "1e3"].contains(&v) {
                continue;
            }
            if name == "Offset" && v == "1e3" {
                continue;
            }
            cases.push((
                format!("DescribeHaVips with {name}={v:?}"),
                v1("DescribeHaVips", &[(name, v)]),
                Expect::ClientError,
            ));
        }
    }
    for body in [
        json!({"Limit": -1}),
        json!({"Limit": 1e300}),
        json!({"Limit": 99999999999999999999.0}),
        json!({"Limit": "NaN"}),
        json!({"Limit": true}),
        json!({"Offset": -1}),
        json!({"HaVipIds": "havip-abcdefgh"}),
        json!({"HaVipIds": [1, 2]}),
        json!({"HaVipIds": ["havip-ü中文\u{202e}"]}),
        json!({"Filters": [{"Name": "havip-id"}]}),
        json!({"Filters": [{"Name": "colour", "Values": ["x"]}]}),
        json!({"Filters": {"Name": "havip-id"}}),
        json!({"Filters": [null]}),
    ] {
        cases.push((
            format!("DescribeHaVips with {body}"),
            tc3("DescribeHaVips", &body),
            Expect::ClientError,
        ));
    }
    let unicode = "havip-ü中文\u{202e}\u{0}";
    let long_name = "n".repeat(10_000);
    for (action, body) in [
        ("DeleteHaVip", json!({"HaVipId": unicode})),
        ("DeleteHaVip", json!({"HaVipId": deep_json[..5000]})),
        ("DeleteHaVip", json!({"HaVipId": ["havip-abcdefgh"]})),
        (
            "ModifyHaVipAttribute",
            json!({"HaVipId": "havip-abcdefgh", "HaVipName": long_name}),
        ),
        (
            "HaVipAssociateAddressIp",
            json!({"HaVipId": "havip-abcdefgh", "AddressIp": "NaN"}),
        ),
        (
            "HaVipAssociateAddressIp",
            json!({"HaVipId": "havip-abcdefgh", "AddressIp": "1.2.3.999"}),
        ),
        (
            "CreateHaVip",
            json!({"VpcId": "vpc-m0c2kcun", "SubnetId": unicode, "HaVipName": "n"}),
        ),
        (
            "CreateHaVip",
            json!({"VpcId": "vpc-m0c2kcun", "SubnetId": "subnet-rtmfkg4w", "HaVipName": "n", "Vip": "NaN"}),
        ),
        (
            "CreateHaVip",
            json!({"VpcId": "vpc-m0c2kcun", "SubnetId": "subnet-rtmfkg4w", "HaVipName": "n", "ClientToken": unicode}),
        ),
        (
            "AssociateHaVipInstance",
            json!({"HaVipAssociationSet": [{"HaVipId": unicode, "InstanceId": unicode}]}),
        ),
        ("DescribeVpcTaskResult", json!({"TaskId": unicode})),
    ] {
        cases.push((
            format!("{action} with {:.80}", body.to_string()),
            tc3(action, &body),
            Expect::ClientError,
        ));
    }
    run_corpus(&h, cases);
}

#[test]
fn every_required_parameter_missing_in_turn_should_get_a_client_error() {
    let h = Harness::new();
    let complete: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "CreateHaVip",
            vec![
                ("VpcId", "vpc-m0c2kcun"),
                ("SubnetId", "subnet-rtmfkg4w"),
                ("HaVipName", "n"),
            ],
        ),
        ("DeleteHaVip", vec![("HaVipId", "havip-abcdefgh")]),
        (
            "ModifyHaVipAttribute",
            vec![("HaVipId", "havip-abcdefgh"), ("HaVipName", "n")],
        ),
        (
            "HaVipAssociateAddressIp",
            vec![("HaVipId", "havip-abcdefgh"), ("AddressIp", "203.0.113.10")],
        ),
        (
            "HaVipDisassociateAddressIp",
            vec![("HaVipId", "havip-abcdefgh")],
        ),
        ("DescribeVpcTaskResult", vec![("TaskId", "12345")]),
    ];
    let mut cases = Vec::new();
    for (action, params) in complete {
        let names: Vec<String> = v1_protocol(action, VPC)
            .into_iter()
            .map(|(k, _)| k)
            .chain(params.iter().map(|(k, _)| k.to_string()))
            .filter(|k| k != "SignatureMethod")
            .collect();
        for drop in names {
            for empty in [false, true] {
                let mut pairs = v1_protocol(action, VPC);
                pairs.extend(owned(&params));
                if empty {
                    pairs
                        .iter_mut()
                        .filter(|(k, _)| *k == drop)
                        .for_each(|(_, v)| v.clear());
                } else {
                    pairs.retain(|(k, _)| *k != drop);
                }
                let how = if empty { "an empty" } else { "no" };
                cases.push((
                    format!("{action} (v1) with {how} {drop}"),
                    sign_v1(pairs),
                    Expect::ClientError,
                ));
            }
        }
        for drop in params.iter().map(|(k, _)| *k) {
            let body: serde_json::Map<String, Value> = params
                .iter()
                .filter(|(k, _)| *k != drop)
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            cases.push((
                format!("{action} (TC3) without {drop}"),
                tc3(action, &Value::Object(body.clone())),
                Expect::ClientError,
            ));
            let mut nulled = body;
            nulled.insert(drop.to_string(), Value::Null);
            cases.push((
                format!("{action} (TC3) with {drop}: null"),
                tc3(action, &Value::Object(nulled)),
                Expect::ClientError,
            ));
        }
    }
    for header in [
        "x-tc-action",
        "x-tc-version",
        "x-tc-timestamp",
        "x-tc-region",
    ] {
        let mut r = tc3("DescribeHaVips", &json!({}));
        r.headers.retain(|(k, _)| k != header);
        cases.push((
            format!("DescribeHaVips (TC3) without {header}"),
            r,
            Expect::ClientError,
        ));
    }
    run_corpus(&h, cases);
}

/// One change to a captured request.
#[derive(Clone, Debug)]
enum Mutation {
    FlipQuery(usize, u8),
    FlipBody(usize, u8),
    FlipHeader(usize, usize, u8),
    DropParam(usize),
    DupParam(usize),
    InsertParam(String, String),
    DropHeader(usize),
    DupHeader(usize),
    SetHeader(&'static str, String),
    TruncateBody(usize),
    TooLarge,
    BadHeader,
    Method(String),
}

fn flip(s: &str, at: usize, x: u8) -> String {
    let mut b = s.as_bytes().to_vec();
    if !b.is_empty() {
        let i = at % b.len();
        b[i] ^= x.max(1);
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Applies `m` to the query, or to a form body when the query is empty.
fn edit_pairs(req: &mut RawRequest, f: impl FnOnce(&mut Vec<String>)) {
    let in_body = req.query.is_empty() && !req.body.is_empty() && !req.body.starts_with(b"{");
    let text = if in_body {
        String::from_utf8_lossy(&req.body).into_owned()
    } else {
        req.query.clone()
    };
    let mut parts: Vec<String> = text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    f(&mut parts);
    if in_body {
        req.body = parts.join("&").into();
    } else {
        req.query = parts.join("&");
    }
}

fn mutate(mut req: RawRequest, muts: &[Mutation]) -> RawRequest {
    for m in muts {
        match m {
            Mutation::FlipQuery(at, x) => req.query = flip(&req.query, *at, *x),
            Mutation::FlipBody(at, x) => {
                let mut b = req.body.to_vec();
                if !b.is_empty() {
                    let i = at % b.len();
                    b[i] ^= (*x).max(1);
                }
                req.body = b.into();
            }
            Mutation::FlipHeader(h, at, x) => {
                if !req.headers.is_empty() {
                    let i = h % req.headers.len();
                    req.headers[i].1 = flip(&req.headers[i].1, *at, *x);
                }
            }
            Mutation::DropParam(i) => edit_pairs(&mut req, |parts| {
                if !parts.is_empty() {
                    parts.remove(i % parts.len());
                }
            }),
            Mutation::DupParam(i) => edit_pairs(&mut req, |parts| {
                if !parts.is_empty() {
                    let p = parts[i % parts.len()].clone();
                    parts.push(p);
                }
            }),
            Mutation::InsertParam(k, v) => {
                edit_pairs(&mut req, |parts| parts.push(format!("{k}={v}")))
            }
            Mutation::DropHeader(i) => {
                if !req.headers.is_empty() {
                    let i = i % req.headers.len();
                    req.headers.remove(i);
                }
            }
            Mutation::DupHeader(i) => {
                if !req.headers.is_empty() {
                    let h = req.headers[i % req.headers.len()].clone();
                    req.headers.insert(0, h);
                }
            }
            Mutation::SetHeader(name, v) => {
                req.headers.retain(|(n, _)| n != name);
                req.headers.push((name.to_string(), v.clone()));
            }
            Mutation::TruncateBody(n) => {
                let n = n % (req.body.len() + 1);
                req.body = req.body.slice(..n);
            }
            Mutation::TooLarge => {
                req.body_too_large = true;
                req.body = Default::default();
            }
            Mutation::BadHeader => req.bad_header = true,
            Mutation::Method(m) => req.method = m.clone(),
        }
    }
    req
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Action".to_string()),
        Just("Region".to_string()),
        Just("Signature".to_string()),
        Just("HaVipId".to_string()),
        Just("Limit".to_string()),
        Just("Offset".to_string()),
        "HaVipIds\\.[0-9]{1,12}",
        "Filters\\.[0-9]{1,12}\\.(Name|Values\\.[0-9]{1,12})",
        "HaVipAssociationSet\\.[0-9]{1,3}\\.(HaVipId|InstanceId|InstanceType)",
        "(Tags)\\.[0-9]{1,6}\\.(Key|Value)",
        "[A-Za-z%._=]{0,12}",
        any::<String>(),
    ]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("NaN".to_string()),
        Just("True".to_string()),
        Just("havip-abcdefgh".to_string()),
        "[ -~]{0,16}",
        any::<String>(),
    ]
}

fn json_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        value_strategy().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key_strategy(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn action_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("CreateHaVip".to_string()),
        Just("DescribeHaVips".to_string()),
        Just("ModifyHaVipAttribute".to_string()),
        Just("DeleteHaVip".to_string()),
        Just("HaVipAssociateAddressIp".to_string()),
        Just("HaVipDisassociateAddressIp".to_string()),
        Just("AssociateHaVipInstance".to_string()),
        Just("DisassociateHaVipInstance".to_string()),
        Just("DescribeVpcTaskResult".to_string()),
        "[A-Za-z]{0,20}",
    ]
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, x)| Mutation::FlipQuery(a, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, x)| Mutation::FlipBody(a, x)),
        (any::<usize>(), any::<usize>(), any::<u8>())
            .prop_map(|(h, a, x)| Mutation::FlipHeader(h, a, x)),
        any::<usize>().prop_map(Mutation::DropParam),
        any::<usize>().prop_map(Mutation::DupParam),
        (key_strategy(), value_strategy())
            .prop_map(|(k, v)| Mutation::InsertParam(pct_encode(&k), pct_encode(&v))),
        any::<usize>().prop_map(Mutation::DropHeader),
        any::<usize>().prop_map(Mutation::DupHeader),
        (
            prop_oneof![
                Just("x-tc-action"),
                Just("x-tc-version"),
                Just("x-tc-region"),
                Just("x-tc-timestamp"),
                Just("content-type"),
                Just("x-tc-token"),
            ],
            prop_oneof![action_strategy(), value_strategy()]
        )
            .prop_map(|(n, v)| Mutation::SetHeader(n, v)),
        any::<usize>().prop_map(Mutation::TruncateBody),
        Just(Mutation::TooLarge),
        Just(Mutation::BadHeader),
        prop_oneof![Just("PUT"), Just("GET"), Just("POST"), Just("")]
            .prop_map(|m| Mutation::Method(m.to_string())),
    ]
}

/// The request's own time, Unix ms (X-TC-Timestamp, or the v1 Timestamp parameter).
fn request_time_ms(req: &RawRequest) -> i64 {
    if let Some(t) = req.header("x-tc-timestamp") {
        return t.parse::<i64>().unwrap_or(0) * 1000;
    }
    let text = if req.method == "GET" {
        req.query.clone()
    } else {
        String::from_utf8_lossy(&req.body).into_owned()
    };
    havip_api::form::parse(&text)
        .ok()
        .and_then(|p| p.into_iter().find(|(k, _)| k == "Timestamp"))
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .unwrap_or(0)
        * 1000
}

fn runner() -> TestRunner {
    // Config::default() reads PROPTEST_CASES (256 when unset).
    TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn mutated_sdk_requests_should_never_panic_hang_or_fail_internally() {
    let h = Harness::new();
    let fixtures = fixtures::load_at_least("tencent", 18);
    let n = fixtures.len();
    let strategy = (0..n, prop::collection::vec(mutation_strategy(), 1..5));
    runner()
        .run(&strategy, |(i, muts)| {
            let fx = &fixtures[i];
            // Replay at the capture's own time, so mutations of unsigned parts get past
            // the clock check.
            h.pinned
                .store(request_time_ms(&fx.raw).max(1), Ordering::Relaxed);
            let req = mutate(fx.raw.clone(), &muts);
            h.check(req)
                .map(|_| ())
                .map_err(|e| TestCaseError::fail(format!("{} {muts:?}: {e}", fx.name)))
        })
        .unwrap();
}

#[test]
fn v1_signed_random_parameters_should_never_panic_hang_or_fail_internally() {
    let h = Harness::new();
    let strategy = (
        action_strategy(),
        prop_oneof![Just(VPC), Just(ECM)],
        prop::collection::vec((key_strategy(), value_strategy()), 0..12),
    );
    runner()
        .run(&strategy, |(action, version, params)| {
            let mut pairs = v1_protocol(&action, version);
            pairs.extend(params.iter().cloned());
            h.check(sign_v1(pairs))
                .map(|_| ())
                .map_err(|e| TestCaseError::fail(format!("{action} {params:?}: {e}")))
        })
        .unwrap();
}

#[test]
fn tc3_signed_random_json_should_never_panic_hang_or_fail_internally() {
    let h = Harness::new();
    let strategy = (
        action_strategy(),
        prop_oneof![Just((VPC, "vpc")), Just((ECM, "ecm"))],
        prop::collection::vec((key_strategy(), json_strategy()), 0..8),
    );
    runner()
        .run(&strategy, |(action, (version, service), params)| {
            let body = Value::Object(params.into_iter().collect());
            let text = body.to_string();
            h.check(tc3_raw(
                &action,
                version,
                service,
                text.clone().into_bytes(),
            ))
            .map(|_| ())
            .map_err(|e| TestCaseError::fail(format!("{action} {text}: {e}")))
        })
        .unwrap();
}
