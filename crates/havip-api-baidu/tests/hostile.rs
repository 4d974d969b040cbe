//! Hostile input through the whole Baidu request path (`Baidu::handle` over a SQLite core):
//! a named corpus of malformed requests, and property tests that mutate the captured SDK
//! requests and sign random routes, queries and JSON bodies (bce-auth-v1). Every answer must
//! come within two seconds, without a panic, with a status below 500, and every error must be
//! BCE's envelope (`code`, `message`, `requestId`, and the `x-bce-request-id` header). The
//! corpus cases must moreover be 4xx.
//!
//! The property tests run 256 cases each by default; `PROPTEST_CASES` overrides that.

use havip_api::crypto::pct_encode;
use havip_api::time::iso8601_utc;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_api_baidu::signature::{bce_canonical_request, bce_sign, bce_signing_key};
use havip_api_baidu::Baidu;
use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use havip_testkit::fixtures;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const AK: &str = "testAK";
const SK: &str = "testSecret";
const HOST: &str = "127.0.0.1:9083";

const WORLD: &str = r#"
[[region]]
cloud = "baidu"
id = "bj"
[[account]]
id = "acct-hostile"
cloud = "baidu"
access_keys = [{ id = "testAK", secret = "testSecret" }]
[[vpc]]
id = "vpc-h1"
account = "acct-hostile"
region = "bj"
cidr = "10.0.0.0/16"
[[vswitch]]
id = "sbn-h1"
vpc = "vpc-h1"
cidr = "10.0.1.0/24"
[[instance]]
id = "i-Hostile1"
vswitch = "sbn-h1"
private_ip = "10.0.1.10"
"#;

/// The dialect over a fresh core, and the runtime that drives it.
struct Harness {
    rt: tokio::runtime::Runtime,
    dialect: Arc<Baidu<SqliteStore>>,
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
        let dialect = rt.block_on(async {
            let store = SqliteStore::open_dir(dir.path()).expect("store");
            let core = Core::new(store, CoreConfig::default());
            let doc: WorldDoc = toml::from_str(WORLD).expect("topology");
            core.world_apply(doc).await.expect("apply");
            Arc::new(Baidu::new(core, "bj"))
        });
        Harness {
            rt,
            dialect,
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

    /// [`Harness::call`], then the answer must be below 500 and, if an error, the envelope.
    fn check(&self, req: RawRequest) -> Result<RawResponse, String> {
        let r = self.call(req)?;
        envelope(&r)?;
        Ok(r)
    }
}

/// The status is below 500; an error (4xx) carries `code`, `message` and `requestId`, the
/// last equal to the `x-bce-request-id` header.
fn envelope(r: &RawResponse) -> Result<(), String> {
    let body = String::from_utf8_lossy(&r.body);
    if r.status >= 500 {
        return Err(format!("status {}: {body}", r.status));
    }
    if r.status < 400 {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&r.body)
        .map_err(|e| format!("status {}: error body is not JSON ({e}): {body}", r.status))?;
    let header = r
        .headers
        .iter()
        .find(|(n, _)| *n == "x-bce-request-id")
        .map(|(_, v)| v.as_str());
    let ok = ["code", "message", "requestId"]
        .iter()
        .all(|k| v[*k].as_str().is_some_and(|s| !s.is_empty()))
        && header == v["requestId"].as_str();
    if !ok {
        return Err(format!(
            "status {}: not BCE's error envelope: {body}",
            r.status
        ));
    }
    Ok(())
}

fn code_of(r: &RawResponse) -> String {
    serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    havip_testkit::pairs(pairs)
}

/// A request whose query is exactly `query` (decoded pairs, encoded here), signed
/// correctly with bce-auth-v1 over the SDK's default header set.
fn sign_raw(method: &str, path: &str, query: &[(String, String)], body: Vec<u8>) -> RawRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    let ts = iso8601_utc(now.as_secs() as i64);
    let mut headers = owned(&[
        ("host", HOST),
        ("content-type", "application/json;charset=utf-8"),
    ]);
    headers.push(("content-length".into(), body.len().to_string()));
    headers.push(("x-bce-date".into(), ts.clone()));
    let prefix = format!("bce-auth-v1/{AK}/{ts}/1800");
    let key = bce_signing_key(SK, &prefix);
    let sig = bce_sign(
        &key,
        &bce_canonical_request(method, path, query, &headers, &[]),
    );
    headers.push(("authorization".into(), format!("{prefix}//{sig}")));
    let q = query
        .iter()
        .map(|(k, v)| format!("{}={}", pct_encode(k), pct_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    havip_testkit::request(method, path, &q, headers, body)
}

fn signed(method: &str, path: &str, query: &[(&str, &str)], body: &str) -> RawRequest {
    sign_raw(method, path, &owned(query), body.as_bytes().to_vec())
}

fn unsigned(method: &str, path: &str, query: &str, body: impl Into<bytes::Bytes>) -> RawRequest {
    havip_testkit::request(
        method,
        path,
        query,
        owned(&[("host", HOST), ("content-type", "application/json")]),
        body,
    )
}

/// What a corpus case must come to.
enum Expect {
    /// Any 4xx in the envelope.
    ClientError,
    /// This status and code.
    Code(u16, &'static str),
}

fn run_corpus(h: &Harness, cases: Vec<(String, RawRequest, Expect)>) {
    let mut failures = Vec::new();
    for (name, req, expect) in cases {
        match h.check(req) {
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(r) => {
                let code = code_of(&r);
                match expect {
                    Expect::ClientError if (400..500).contains(&r.status) => {}
                    Expect::Code(s, c) if r.status == s && code == c => {}
                    Expect::ClientError => failures.push(format!(
                        "{name}: expected a 4xx, got {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                    Expect::Code(s, c) => failures.push(format!(
                        "{name}: expected {s} {c}, got {} {code}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                }
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

const ID: &str = "/v1/havip/havip-nonexist0001";

#[test]
fn malformed_requests_should_get_bces_4xx() {
    let h = Harness::new();
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", r#"{"name":"#.repeat(10_000), "}".repeat(10_000));
    let deep_path = format!("/v1/havip{}", "/a".repeat(10_000));
    let many: Vec<(String, String)> = (0..50_000)
        .map(|i| (format!("x{i}"), "v".to_string()))
        .collect();
    let create = r#"{"name":"h1","subnetId":"sbn-h1","privateIpAddress":"","description":""}"#;
    let mut too_large = signed("POST", "/v1/havip", &[("clientToken", "t1")], create);
    too_large.body_too_large = true;
    let mut bad_header = signed("GET", "/v1/havip", &[], "");
    bad_header.bad_header = true;
    let mut cases: Vec<(String, RawRequest, Expect)> = vec![
        (
            "oversized body".into(),
            too_large,
            Expect::Code(400, "InvalidHTTPRequest"),
        ),
        (
            "a header value that is not UTF-8".into(),
            bad_header,
            Expect::ClientError,
        ),
        (
            "invalid UTF-8 in the query".into(),
            unsigned("GET", "/v1/havip", "vpcId=%ff%fe", ""),
            Expect::Code(400, "InvalidURI"),
        ),
        (
            "invalid UTF-8 in a signed JSON body".into(),
            sign_raw(
                "POST",
                "/v1/havip",
                &[],
                b"{\"name\":\"\xff\xfe\",\"subnetId\":\"sbn-h1\",\"privateIpAddress\":\"\"}"
                    .to_vec(),
            ),
            Expect::ClientError,
        ),
        (
            "invalid UTF-8 escapes in the path".into(),
            signed("GET", "/v1/havip/%ff%fe", &[], ""),
            Expect::ClientError,
        ),
        (
            "a broken % escape at the end of the query".into(),
            unsigned("GET", "/v1/havip", "marker=%", ""),
            Expect::Code(400, "InvalidURI"),
        ),
        (
            "a % escape with non-hex digits".into(),
            unsigned("GET", "/v1/havip", "ma%zzrker=1", ""),
            Expect::Code(400, "InvalidURI"),
        ),
        (
            "a broken % escape in the path".into(),
            signed("GET", "/v1/havip/%zz", &[], ""),
            Expect::ClientError,
        ),
        (
            "a signed JSON array nested 10,000 levels".into(),
            signed("POST", "/v1/havip", &[], &deep_json),
            Expect::ClientError,
        ),
        (
            "a signed JSON object nested 10,000 levels".into(),
            signed("POST", "/v1/havip", &[], &deep_object),
            Expect::ClientError,
        ),
        (
            "a signed nested JSON body on an operation without one".into(),
            signed("GET", "/v1/havip", &[], &deep_json),
            Expect::ClientError,
        ),
        (
            "an unsigned JSON body nested 10,000 levels".into(),
            unsigned("POST", "/v1/havip", "", deep_json.clone()),
            Expect::ClientError,
        ),
        (
            "a path 10,000 segments deep".into(),
            signed("GET", &deep_path, &[], ""),
            Expect::Code(400, "InvalidURI"),
        ),
        (
            "50,000 signed query parameters".into(),
            sign_raw("GET", "/v1/havip", &many, Vec::new()),
            Expect::ClientError,
        ),
        (
            "50,000 copies of one signed query parameter".into(),
            sign_raw(
                "GET",
                "/v1/havip",
                &vec![("maxKeys".to_string(), "1".to_string()); 50_000],
                Vec::new(),
            ),
            Expect::ClientError,
        ),
        (
            "an empty request".into(),
            havip_testkit::request("GET", "/", "", vec![], ""),
            Expect::ClientError,
        ),
        (
            "an empty method and path".into(),
            havip_testkit::request("", "", "", vec![], ""),
            Expect::ClientError,
        ),
        (
            "a signed request with an empty path".into(),
            signed("GET", "", &[], ""),
            Expect::ClientError,
        ),
        (
            "an unknown resource".into(),
            signed("GET", "/v1/subnet", &[], ""),
            Expect::Code(400, "InvalidURI"),
        ),
        (
            "an unknown version".into(),
            signed("GET", "/v2/havip", &[], ""),
            Expect::Code(404, "InvalidVersion"),
        ),
        (
            "a huge version number".into(),
            signed("GET", "/v99999999999999999999/havip", &[], ""),
            Expect::Code(404, "InvalidVersion"),
        ),
        (
            "an unknown flag".into(),
            signed("PUT", ID, &[("explode", "")], "{}"),
            Expect::ClientError,
        ),
        (
            "two flags".into(),
            signed("PUT", ID, &[("attach", ""), ("detach", "")], "{}"),
            Expect::Code(400, "InvalidURI"),
        ),
        (
            "a duplicate query parameter".into(),
            signed(
                "GET",
                "/v1/havip",
                &[("maxKeys", "1"), ("maxKeys", "2")],
                "",
            ),
            Expect::ClientError,
        ),
        (
            "a duplicate flag".into(),
            signed(
                "PUT",
                ID,
                &[("modifyAttribute", ""), ("modifyAttribute", "")],
                r#"{"name":"n"}"#,
            ),
            Expect::ClientError,
        ),
        (
            "a duplicate clientToken".into(),
            signed(
                "POST",
                "/v1/havip",
                &[("clientToken", "a"), ("clientToken", "b")],
                create,
            ),
            Expect::ClientError,
        ),
        (
            "a duplicate key in a JSON body".into(),
            signed(
                "PUT",
                ID,
                &[("modifyAttribute", "")],
                r#"{"name":"a","name":"b"}"#,
            ),
            Expect::ClientError,
        ),
        (
            "a forged signature".into(),
            {
                let mut r = signed("GET", "/v1/havip", &[], "");
                r.query = "maxKeys=1".into();
                r
            },
            Expect::Code(400, "SignatureDoesNotMatch"),
        ),
        (
            "a malformed Authorization header".into(),
            havip_testkit::request(
                "GET",
                "/v1/havip",
                "",
                owned(&[("authorization", "bce-auth-v1/testAK/garbage")]),
                "",
            ),
            Expect::ClientError,
        ),
        (
            "an expiration of 99999999999999999999 seconds".into(),
            havip_testkit::request(
                "GET",
                "/v1/havip",
                "",
                owned(&[(
                    "authorization",
                    "bce-auth-v1/testAK/2020-01-01T00:00:00Z/99999999999999999999//00",
                )]),
                "",
            ),
            Expect::ClientError,
        ),
    ];
    for method in ["PATCH", "OPTIONS", "TRACE", "get", "HEAD"] {
        cases.push((
            format!("the method {method}"),
            signed(method, ID, &[], ""),
            Expect::Code(400, "InvalidURI"),
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
        "1001",
    ] {
        cases.push((
            format!("ListHaVips with maxKeys={v:?}"),
            signed("GET", "/v1/havip", &[("maxKeys", v)], ""),
            Expect::ClientError,
        ));
    }
    let unicode = "havip-ü中文\u{202e}\u{0}";
    let long = "n".repeat(10_000);
    let unicode_path = format!("/v1/havip/{}", pct_encode(unicode));
    let hostile_bodies: Vec<(&str, &str, Vec<(&str, &str)>, Value)> = vec![
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": unicode, "subnetId": "sbn-h1", "privateIpAddress": ""}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": long, "subnetId": "sbn-h1", "privateIpAddress": ""}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": "h", "subnetId": unicode, "privateIpAddress": ""}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": "h", "subnetId": "sbn-h1", "privateIpAddress": "NaN"}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": "h", "subnetId": "sbn-h1", "privateIpAddress": "10.0.1.999"}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": "h", "subnetId": "sbn-h1", "privateIpAddress": "192.168.0.1"}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": 1e300, "subnetId": "sbn-h1", "privateIpAddress": ""}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![],
            json!({"name": "h", "subnetId": "sbn-h1", "privateIpAddress": "", "colour": "red"}),
        ),
        (
            "POST",
            "/v1/havip",
            vec![("clientToken", unicode)],
            json!({"name": "h", "subnetId": "sbn-h1", "privateIpAddress": ""}),
        ),
        (
            "PUT",
            ID,
            vec![("attach", "")],
            json!({"instanceIds": "i-Hostile1", "instanceType": "SERVER"}),
        ),
        (
            "PUT",
            ID,
            vec![("attach", "")],
            json!({"instanceIds": [1, 2], "instanceType": "SERVER"}),
        ),
        (
            "PUT",
            ID,
            vec![("attach", "")],
            json!({"instanceIds": [unicode], "instanceType": "SERVER"}),
        ),
        (
            "PUT",
            ID,
            vec![("attach", "")],
            json!({"instanceIds": ["i-Hostile1"], "instanceType": "TOASTER"}),
        ),
        (
            "PUT",
            ID,
            vec![("attach", "")],
            json!({"instanceIds": vec!["i-Hostile1"; 100_000], "instanceType": "SERVER"}),
        ),
        (
            "PUT",
            ID,
            vec![("bindPublicIp", "")],
            json!({"publicIpAddress": "NaN"}),
        ),
        (
            "PUT",
            ID,
            vec![("modifyAttribute", "")],
            json!({"name": null}),
        ),
        ("DELETE", &unicode_path, vec![], json!({})),
    ];
    for (method, path, query, body) in hostile_bodies {
        cases.push((
            format!("{method} {path:.40} {query:?} {:.80}", body.to_string()),
            signed(method, path, &query, &body.to_string()),
            Expect::ClientError,
        ));
    }
    run_corpus(&h, cases);
}

#[test]
fn every_required_parameter_missing_in_turn_should_get_a_4xx() {
    let h = Harness::new();
    let complete: Vec<(&str, &str, &str, Value)> = vec![
        (
            "POST",
            "/v1/havip",
            "",
            json!({"name": "h", "subnetId": "sbn-h1", "privateIpAddress": ""}),
        ),
        ("PUT", ID, "modifyAttribute", json!({"name": "h"})),
        (
            "PUT",
            ID,
            "attach",
            json!({"instanceIds": ["i-Hostile1"], "instanceType": "SERVER"}),
        ),
        (
            "PUT",
            ID,
            "detach",
            json!({"instanceIds": ["i-Hostile1"], "instanceType": "SERVER"}),
        ),
        (
            "PUT",
            ID,
            "bindPublicIp",
            json!({"publicIpAddress": "203.0.113.9"}),
        ),
    ];
    let mut cases = Vec::new();
    for (method, path, flag, body) in complete {
        let Value::Object(fields) = &body else {
            unreachable!("bodies are objects")
        };
        let query: Vec<(&str, &str)> = if flag.is_empty() {
            vec![]
        } else {
            vec![(flag, "")]
        };
        for drop in fields.keys() {
            let mut less = fields.clone();
            less.remove(drop);
            cases.push((
                format!("{method} {flag} without {drop}"),
                signed(method, path, &query, &Value::Object(less).to_string()),
                Expect::ClientError,
            ));
            let mut nulled = fields.clone();
            nulled.insert(drop.clone(), Value::Null);
            cases.push((
                format!("{method} {flag} with {drop}: null"),
                signed(method, path, &query, &Value::Object(nulled).to_string()),
                Expect::ClientError,
            ));
        }
        cases.push((
            format!("{method} {flag} without a body"),
            signed(method, path, &query, ""),
            Expect::ClientError,
        ));
        if !flag.is_empty() {
            cases.push((
                format!("{method} {flag} without its flag"),
                signed(method, path, &[], &body.to_string()),
                Expect::ClientError,
            ));
        }
    }
    for header in ["authorization", "host"] {
        let mut r = signed("GET", "/v1/havip", &[], "");
        r.headers.retain(|(k, _)| k != header);
        cases.push((
            format!("ListHaVips without {header}"),
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
        Just("clientToken".to_string()),
        Just("maxKeys".to_string()),
        Just("marker".to_string()),
        Just("vpcId".to_string()),
        Just("attach".to_string()),
        Just("detach".to_string()),
        Just("modifyAttribute".to_string()),
        Just("bindPublicIp".to_string()),
        Just("unbindPublicIp".to_string()),
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
        Just("i-Hostile1".to_string()),
        Just("sbn-h1".to_string()),
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
            prop::collection::vec((body_key_strategy(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn body_key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_string()),
        Just("description".to_string()),
        Just("subnetId".to_string()),
        Just("privateIpAddress".to_string()),
        Just("instanceIds".to_string()),
        Just("instanceType".to_string()),
        Just("publicIpAddress".to_string()),
        any::<String>(),
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
                Just("authorization"),
                Just("x-bce-date"),
                Just("host"),
                Just("content-type"),
            ],
            value_strategy()
        )
            .prop_map(|(n, v)| Mutation::SetHeader(n, v)),
        any::<usize>().prop_map(Mutation::TruncateBody),
        Just(Mutation::TooLarge),
        Just(Mutation::BadHeader),
        prop_oneof![
            Just("PUT"),
            Just("GET"),
            Just("POST"),
            Just("DELETE"),
            Just("")
        ]
        .prop_map(|m| Mutation::Method(m.to_string())),
    ]
}

fn runner() -> TestRunner {
    // Config::default() reads PROPTEST_CASES (256 when unset).
    TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn mutated_sdk_requests_should_never_panic_hang_or_5xx() {
    let h = Harness::new();
    let fixtures = fixtures::load_at_least("baidu", 10);
    let n = fixtures.len();
    let strategy = (0..n, prop::collection::vec(mutation_strategy(), 1..5));
    runner()
        .run(&strategy, |(i, muts)| {
            let fx = &fixtures[i];
            let req = mutate(fx.raw.clone(), &muts);
            h.check(req)
                .map(|_| ())
                .map_err(|e| TestCaseError::fail(format!("{} {muts:?}: {e}", fx.name)))
        })
        .unwrap();
}

#[test]
fn signed_random_requests_should_never_panic_hang_or_5xx() {
    let h = Harness::new();
    let path = prop_oneof![
        Just("/v1/havip".to_string()),
        Just(ID.to_string()),
        "/v[0-9]{1,3}/havip(/[a-z0-9-]{0,16}){0,3}",
        any::<String>().prop_map(|s| format!("/v1/havip/{}", pct_encode(&s))),
    ];
    let method = prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")];
    let body = prop_oneof![
        Just(String::new()),
        json_strategy().prop_map(|v| v.to_string()),
        prop::collection::vec((body_key_strategy(), json_strategy()), 0..6)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()).to_string()),
    ];
    let strategy = (
        method,
        path,
        prop::collection::vec((key_strategy(), value_strategy()), 0..6),
        body,
    );
    runner()
        .run(&strategy, |(method, path, query, body)| {
            let req = sign_raw(method, &path, &query, body.clone().into_bytes());
            h.check(req)
                .map(|_| ())
                .map_err(|e| TestCaseError::fail(format!("{method} {path} {query:?} {body}: {e}")))
        })
        .unwrap();
}
