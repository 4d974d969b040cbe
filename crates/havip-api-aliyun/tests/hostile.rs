//! Hostile input through the whole Alibaba request path (`Aliyun::handle` over a SQLite
//! core): a named corpus of malformed requests, and property tests that mutate the captured
//! SDK requests and sign random parameter maps. Every answer must come within two seconds,
//! without a panic, with a status below 500, and every error must be Alibaba's envelope
//! (`Code`, `Message`, `RequestId`, as JSON or XML). The corpus cases must moreover be 4xx.
//!
//! The property tests run 256 cases each by default; `PROPTEST_CASES` overrides that.

use havip_api::time::iso8601_utc;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_api_aliyun::signature::{pct_encode, rpc_v2_sign, rpc_v2_string_to_sign};
use havip_api_aliyun::Aliyun;
use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use havip_testkit::fixtures;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const AK: &str = "testAK";
const SK: &str = "testSecret";
const VERSION: &str = "2016-04-28";

const WORLD: &str = r#"
[[region]]
cloud = "aliyun"
id = "cn-hangzhou"
[[account]]
id = "1234567890123456"
cloud = "aliyun"
access_keys = [{ id = "testAK", secret = "testSecret" }]
[[vpc]]
id = "vpc-hostile01"
account = "1234567890123456"
region = "cn-hangzhou"
cidr = "192.168.0.0/16"
[[vswitch]]
id = "vsw-hostile01"
vpc = "vpc-hostile01"
cidr = "192.168.1.0/24"
[[instance]]
id = "i-hostile01"
vswitch = "vsw-hostile01"
private_ip = "192.168.1.11"
"#;

/// The dialect over a fresh core, and the runtime that drives it.
struct Harness {
    rt: tokio::runtime::Runtime,
    dialect: Arc<Aliyun<SqliteStore>>,
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
            Arc::new(Aliyun::new(core, "vpc.aliyuncs.com"))
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

fn header<'a>(r: &'a RawResponse, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The text of `<tag>…</tag>` in an XML body.
fn xml_field<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(&body[start..end])
}

/// The status is below 500; an error (4xx) carries `Code`, `Message` and `RequestId`.
fn envelope(r: &RawResponse) -> Result<(), String> {
    let body = String::from_utf8_lossy(&r.body);
    if r.status >= 500 {
        return Err(format!("status {}: {body}", r.status));
    }
    if r.status < 400 {
        return Ok(());
    }
    let fields: Vec<Option<String>> = if header(r, "content-type").contains("xml") {
        ["Code", "Message", "RequestId"]
            .iter()
            .map(|t| xml_field(&body, t).map(str::to_string))
            .collect()
    } else {
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("status {}: error body is not JSON ({e}): {body}", r.status))?;
        ["Code", "Message", "RequestId"]
            .iter()
            .map(|k| v[*k].as_str().map(str::to_string))
            .collect()
    };
    if fields
        .iter()
        .any(|f| f.as_deref().is_none_or(str::is_empty))
    {
        return Err(format!(
            "status {}: not Alibaba's error envelope: {body}",
            r.status
        ));
    }
    Ok(())
}

/// The `Code` of an error answer (JSON or XML).
fn code_of(r: &RawResponse) -> String {
    let body = String::from_utf8_lossy(&r.body);
    if let Some(c) = xml_field(&body, "Code") {
        return c.to_string();
    }
    serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v["Code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    havip_testkit::pairs(pairs)
}

fn nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "hostile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn now_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    iso8601_utc(now.as_secs() as i64)
}

/// The V2 protocol parameters of a fresh request for `action`.
fn protocol(action: &str) -> Vec<(String, String)> {
    owned(&[
        ("AccessKeyId", AK),
        ("Action", action),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Version", VERSION),
    ])
    .into_iter()
    .chain([
        ("SignatureNonce".to_string(), nonce()),
        ("Timestamp".to_string(), now_stamp()),
    ])
    .collect()
}

/// A GET whose query is exactly `pairs` plus a correct V2 `Signature` over them.
fn sign_pairs(mut pairs: Vec<(String, String)>) -> RawRequest {
    let sts = rpc_v2_string_to_sign("GET", &pairs);
    pairs.push(("Signature".into(), rpc_v2_sign(SK, &sts)));
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct_encode(k), pct_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    havip_testkit::request("GET", "/", &query, owned(&[("host", "127.0.0.1:9081")]), "")
}

/// A correctly signed request for `action` with `params` (business parameters).
fn signed(action: &str, params: &[(&str, &str)]) -> RawRequest {
    let mut pairs = protocol(action);
    pairs.extend(owned(params));
    sign_pairs(pairs)
}

fn unsigned(method: &str, path: &str, query: &str, body: impl Into<bytes::Bytes>) -> RawRequest {
    havip_testkit::request(
        method,
        path,
        query,
        owned(&[
            ("host", "127.0.0.1:9081"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]),
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

const DESCRIBE: &[(&str, &str)] = &[("RegionId", "cn-hangzhou")];

#[test]
fn malformed_requests_should_get_alibabas_4xx() {
    let h = Harness::new();
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_name = format!("Filter{}", ".1".repeat(10_000));
    let many: Vec<(String, String)> = (0..50_000)
        .map(|i| (format!("X{i}"), "v".to_string()))
        .collect();
    let mut too_large = signed("DescribeHaVips", DESCRIBE);
    too_large.body_too_large = true;
    let mut bad_header = signed("DescribeHaVips", DESCRIBE);
    bad_header.bad_header = true;
    let dup_across = {
        let mut r = signed("DescribeHaVips", DESCRIBE);
        r.method = "POST".into();
        r.headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        r.body = "RegionId=cn-hangzhou".into();
        r
    };
    let mut cases: Vec<(String, RawRequest, Expect)> = vec![
        (
            "oversized body".into(),
            too_large,
            Expect::Code(413, "RequestEntityTooLarge"),
        ),
        (
            "a header value that is not UTF-8".into(),
            bad_header,
            Expect::ClientError,
        ),
        (
            "invalid UTF-8 in the query".into(),
            unsigned("GET", "/", "Action=%ff%fe", ""),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "an overlong UTF-8 sequence in the query".into(),
            unsigned("GET", "/", "RegionId=%c0%af", ""),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "invalid UTF-8 in the form body".into(),
            unsigned("POST", "/", "", vec![b'a', b'=', 0xff, 0xfe]),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "a broken % escape at the end".into(),
            unsigned("GET", "/", "Action=%", ""),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "a % escape with one digit".into(),
            unsigned("GET", "/", "Action=%4", ""),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "a % escape with non-hex digits".into(),
            unsigned("GET", "/", "Act%zzion=x", ""),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "a broken % escape in the form body".into(),
            unsigned("POST", "/", "", "RegionId=%g0"),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "deeply nested JSON body (10,000 levels)".into(),
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
            "deeply nested JSON in a form value (10,000 levels)".into(),
            unsigned(
                "POST",
                "/",
                "",
                format!("RegionId={}", pct_encode(&deep_json)),
            ),
            Expect::ClientError,
        ),
        (
            "a signed parameter name nested 10,000 levels".into(),
            signed(
                "DescribeHaVips",
                &[("RegionId", "cn-hangzhou"), (&deep_name, "x")],
            ),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "50,000 signed parameters".into(),
            sign_pairs(protocol("DescribeHaVips").into_iter().chain(many).collect()),
            Expect::ClientError,
        ),
        (
            "an empty request".into(),
            havip_testkit::request("GET", "/", "", vec![], ""),
            Expect::Code(400, "IncompleteSignature"),
        ),
        (
            "an empty method".into(),
            havip_testkit::request("", "/", "", vec![], ""),
            Expect::ClientError,
        ),
        (
            "an unknown path".into(),
            unsigned("GET", "/admin/../etc", "", ""),
            Expect::Code(404, "InvalidAction.NotFound"),
        ),
        (
            "an empty path".into(),
            unsigned("GET", "", "", ""),
            Expect::ClientError,
        ),
        (
            "an unknown action".into(),
            signed("DropAllTables", DESCRIBE),
            Expect::Code(404, "InvalidAction.NotFound"),
        ),
        (
            "an action in the wrong case".into(),
            signed("describehavips", DESCRIBE),
            Expect::Code(404, "InvalidAction.NotFound"),
        ),
        (
            "an unknown version".into(),
            sign_pairs(
                protocol("DescribeHaVips")
                    .into_iter()
                    .map(|(k, v)| match k.as_str() {
                        "Version" => (k, "2099-01-01".to_string()),
                        _ => (k, v),
                    })
                    .chain(owned(DESCRIBE))
                    .collect(),
            ),
            Expect::Code(400, "InvalidVersion"),
        ),
        (
            "a duplicate business parameter".into(),
            signed(
                "DescribeHaVips",
                &[("RegionId", "cn-hangzhou"), ("RegionId", "cn-shanghai")],
            ),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "a duplicate Action".into(),
            signed(
                "DescribeHaVips",
                &[("RegionId", "cn-hangzhou"), ("Action", "DeleteHaVip")],
            ),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "a parameter in both the query and the form body".into(),
            dup_across,
            Expect::ClientError,
        ),
        (
            "an unknown Format".into(),
            signed("DescribeHaVips", &[("RegionId", "cn-hangzhou")]).tap_query("&Format=YAML"),
            Expect::Code(400, "InvalidParameter"),
        ),
        (
            "a forged signature".into(),
            signed("DescribeHaVips", DESCRIBE).tap_query("&RegionId2=x"),
            Expect::Code(400, "SignatureDoesNotMatch"),
        ),
        (
            "an unknown region".into(),
            signed("DescribeHaVips", &[("RegionId", "mars-north-1")]),
            Expect::ClientError,
        ),
    ];
    for method in [
        "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "GETT",
    ] {
        cases.push((
            format!("the method {method}"),
            unsigned(method, "/", "", ""),
            Expect::Code(404, "InvalidAction.NotFound"),
        ));
    }
    let indices = [
        ("DescribeHaVips", "Filter.99999999.Key"),
        ("DescribeHaVips", "Filter.1.Value.99999999"),
        ("DescribeHaVips", "Filter.99999999999999999999.Key"),
        ("DescribeHaVips", "Filter.0.Key"),
        ("DescribeHaVips", "Filter.-1.Key"),
        ("DescribeHaVips", "Filter.01.Key"),
        ("DescribeHaVips", "Filter.1.Nope"),
        ("DescribeHaVips", "Tags.4294967296.Key"),
        ("CreateHaVip", "Tag.99999999.Key"),
        ("CreateHaVip", "Tag.1.Colour"),
    ];
    for (action, key) in indices {
        let mut params = vec![("RegionId", "cn-hangzhou"), (key, "x")];
        if action == "CreateHaVip" {
            params.push(("VSwitchId", "vsw-hostile01"));
        }
        cases.push((
            format!("{action} with {key}"),
            signed(action, &params),
            Expect::Code(400, "InvalidParameter"),
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
        "51",
    ] {
        for name in ["PageSize", "PageNumber"] {
            if name == "PageNumber" && v == "51" {
                continue;
            }
            cases.push((
                format!("DescribeHaVips with {name}={v:?}"),
                signed("DescribeHaVips", &[("RegionId", "cn-hangzhou"), (name, v)]),
                Expect::Code(400, "InvalidParameter"),
            ));
        }
    }
    let unicode = "havip-ü中文\u{202e}\u{0}";
    let absurd: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("DeleteHaVip", vec![("HaVipId", unicode)]),
        ("DeleteHaVip", vec![("HaVipId", &deep_json[..5000])]),
        (
            "AssociateHaVip",
            vec![("HaVipId", unicode), ("InstanceId", unicode)],
        ),
        ("CreateHaVip", vec![("VSwitchId", unicode)]),
        (
            "CreateHaVip",
            vec![("VSwitchId", "vsw-hostile01"), ("IpAddress", "NaN")],
        ),
        (
            "CreateHaVip",
            vec![
                ("VSwitchId", "vsw-hostile01"),
                ("IpAddress", "192.168.1.999"),
            ],
        ),
        (
            "CreateHaVip",
            vec![("VSwitchId", "vsw-hostile01"), ("IpAddress", "10.0.0.1")],
        ),
        (
            "CreateHaVip",
            vec![("VSwitchId", "vsw-hostile01"), ("ClientToken", unicode)],
        ),
        (
            "AssociateHaVip",
            vec![
                ("HaVipId", "havip-none"),
                ("InstanceId", "i-hostile01"),
                ("InstanceType", "Toaster"),
            ],
        ),
        (
            "DeleteHaVip",
            vec![("HaVipId", "havip-none"), ("Force", "maybe")],
        ),
    ];
    for (action, params) in absurd {
        let mut all = vec![("RegionId", "cn-hangzhou")];
        all.extend(params.iter().copied());
        let shown: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={:.20?}", v))
            .collect();
        cases.push((
            format!("{action} with {}", shown.join(" ")),
            signed(action, &all),
            Expect::ClientError,
        ));
    }
    run_corpus(&h, cases);
}

/// A request for each action with every required parameter, so that dropping one must fail.
fn complete_requests() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let rid = ("RegionId", "cn-hangzhou");
    vec![
        ("DescribeHaVips", vec![rid]),
        ("CreateHaVip", vec![rid, ("VSwitchId", "vsw-hostile01")]),
        ("DeleteHaVip", vec![rid, ("HaVipId", "havip-none")]),
        (
            "ModifyHaVipAttribute",
            vec![rid, ("HaVipId", "havip-none"), ("Name", "n")],
        ),
        (
            "AssociateHaVip",
            vec![
                rid,
                ("HaVipId", "havip-none"),
                ("InstanceId", "i-hostile01"),
            ],
        ),
        (
            "UnassociateHaVip",
            vec![
                rid,
                ("HaVipId", "havip-none"),
                ("InstanceId", "i-hostile01"),
            ],
        ),
    ]
}

#[test]
fn every_required_parameter_missing_in_turn_should_get_a_4xx() {
    let h = Harness::new();
    let mut cases = Vec::new();
    for (action, params) in complete_requests() {
        let full: Vec<(String, String)> =
            protocol(action).into_iter().chain(owned(&params)).collect();
        for drop in full.iter().map(|(k, _)| k.clone()) {
            if drop == "Format" {
                continue;
            }
            let mut pairs = protocol(action);
            pairs.extend(owned(&params));
            pairs.retain(|(k, _)| *k != drop);
            cases.push((
                format!("{action} without {drop}"),
                sign_pairs(pairs),
                Expect::ClientError,
            ));
            // Present but empty counts as missing too.
            let mut pairs = protocol(action);
            pairs.extend(owned(&params));
            for (k, v) in pairs.iter_mut() {
                if *k == drop {
                    v.clear();
                }
            }
            cases.push((
                format!("{action} with an empty {drop}"),
                sign_pairs(pairs),
                Expect::ClientError,
            ));
        }
    }
    run_corpus(&h, cases);
}

trait TapQuery {
    fn tap_query(self, extra: &str) -> Self;
}

impl TapQuery for RawRequest {
    /// Appends to the query after signing (the signature no longer covers it).
    fn tap_query(mut self, extra: &str) -> Self {
        self.query.push_str(extra);
        self
    }
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
            Mutation::DropParam(i) | Mutation::DupParam(i) => {
                let mut parts: Vec<String> = req
                    .query
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
                if !parts.is_empty() {
                    let i = i % parts.len();
                    if matches!(m, Mutation::DropParam(_)) {
                        parts.remove(i);
                    } else {
                        let p = parts[i].clone();
                        parts.push(p);
                    }
                }
                req.query = parts.join("&");
            }
            Mutation::InsertParam(k, v) => {
                if !req.query.is_empty() {
                    req.query.push('&');
                }
                req.query.push_str(&format!("{k}={v}"));
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
        Just("RegionId".to_string()),
        Just("Action".to_string()),
        Just("Signature".to_string()),
        Just("HaVipId".to_string()),
        Just("PageSize".to_string()),
        "Filter\\.[0-9]{1,12}\\.(Key|Value\\.[0-9]{1,12})",
        "(Tag|Tags)\\.[0-9]{1,10}\\.(Key|Value)",
        "[A-Za-z%.+=]{0,12}",
        any::<String>().prop_map(|s| pct_encode(&s)),
    ]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("NaN".to_string()),
        Just("%".to_string()),
        Just("%ff".to_string()),
        "[ -~]{0,16}",
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
        (
            key_strategy(),
            value_strategy().prop_map(|v| pct_encode(&v))
        )
            .prop_map(|(k, v)| Mutation::InsertParam(k, v)),
        any::<usize>().prop_map(Mutation::TruncateBody),
        Just(Mutation::TooLarge),
        Just(Mutation::BadHeader),
        prop_oneof![Just("PUT"), Just("DELETE"), Just("get"), Just("")]
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
    let fixtures = fixtures::load_at_least("alibaba", 20);
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
fn signed_random_parameters_should_never_panic_hang_or_5xx() {
    let h = Harness::new();
    let action = prop_oneof![
        Just("DescribeHaVips".to_string()),
        Just("CreateHaVip".to_string()),
        Just("DeleteHaVip".to_string()),
        Just("ModifyHaVipAttribute".to_string()),
        Just("AssociateHaVip".to_string()),
        Just("UnassociateHaVip".to_string()),
        Just("TagResources".to_string()),
        Just("ListTagResources".to_string()),
        "[A-Za-z]{0,20}",
    ];
    let strategy = (
        action,
        any::<bool>(),
        prop::collection::vec((key_strategy(), value_strategy()), 0..12),
    );
    runner()
        .run(&strategy, |(action, with_region, params)| {
            let mut pairs = protocol(&action);
            if with_region {
                pairs.push(("RegionId".into(), "cn-hangzhou".into()));
            }
            // Keys arrive decoded: undo the strategy's own escaping of arbitrary strings.
            pairs.extend(params.iter().map(|(k, v)| {
                let k = havip_api::form::parse(&format!("{k}="))
                    .ok()
                    .and_then(|p| p.into_iter().next().map(|(k, _)| k))
                    .unwrap_or_else(|| k.clone());
                (k, v.clone())
            }));
            h.check(sign_pairs(pairs))
                .map(|_| ())
                .map_err(|e| TestCaseError::fail(format!("{action} {params:?}: {e}")))
        })
        .unwrap();
}
