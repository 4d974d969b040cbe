//! Replays every captured Tencent SDK request in `shared/fixtures/wire/tencent/` through the
//! dialect's whole request path (`Tencent::handle`) over a real core on a temporary SQLite
//! store, with the clock pinned to each request's own timestamp.
//!
//! For each fixture: the answer is HTTP 200 `application/json` in Tencent's envelope; a
//! `signature-valid` request is never refused by authentication (and the decoded action,
//! version, region and parameters equal the fixture's `expected` block); a
//! `signature-mismatch` (tampered) request is refused with `AuthFailure.SignatureFailure`.
//! The same valid requests replayed ten minutes later are `AuthFailure.SignatureExpire`.

use std::path::Path;
use std::sync::Arc;

use havip_api::{Dialect, RawRequest};
use havip_api_tencent::auth::{authenticate, Clock};
use havip_api_tencent::Tencent;
use havip_core::auth::NonceCache;
use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use havip_testkit::fixtures::{self, Fixture};
use serde_json::Value;

/// Every tencent fixture; there must be at least 18.
fn all_fixtures() -> Vec<Fixture> {
    fixtures::load_at_least("tencent", 18)
}

/// The request's own time, Unix ms (X-TC-Timestamp, or the v1 Timestamp parameter).
fn request_time_ms(req: &RawRequest) -> i64 {
    if let Some(t) = req.header("x-tc-timestamp") {
        return t.parse::<i64>().unwrap() * 1000;
    }
    let text = if req.method == "GET" {
        req.query.clone()
    } else {
        String::from_utf8(req.body.to_vec()).unwrap()
    };
    let pairs = havip_api::form::parse(&text).unwrap();
    let ts = pairs.iter().find(|(k, _)| k == "Timestamp").unwrap();
    ts.1.parse::<i64>().unwrap() * 1000
}

const TOPOLOGY: &str = r#"
[[region]]
cloud = "tencent"
id = "ap-guangzhou"
[[region]]
cloud = "tencent"
id = "ap-xian-ecm"
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
[[vswitch]]
id = "subnet-2x8vwq1d"
vpc = "vpc-m0c2kcun"
cidr = "172.16.1.0/24"
[[eip]]
id = "eip-fixture1"
account = "100000000099"
region = "ap-guangzhou"
address = "203.0.113.10"
"#;

async fn core(dir: &Path) -> Core<SqliteStore> {
    let store = SqliteStore::open_dir(dir).expect("store");
    let core = Core::new(store, CoreConfig::default());
    let doc: WorldDoc = toml::from_str(TOPOLOGY).expect("topology");
    core.world_apply(doc).await.expect("apply");
    core
}

fn envelope(resp: &havip_api::RawResponse) -> Value {
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers,
        vec![("content-type", "application/json".to_string())]
    );
    let v: Value = serde_json::from_slice(&resp.body).expect("json body");
    let r = &v["Response"];
    assert!(
        r["RequestId"].as_str().is_some_and(|s| !s.is_empty()),
        "no RequestId: {v}"
    );
    v
}

fn error_code(v: &Value) -> Option<String> {
    v["Response"]["Error"]["Code"].as_str().map(str::to_string)
}

/// Stringifies scalars, as the flattened forms carry every value as a string.
fn stringify(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(if *b { "True" } else { "False" }.into()),
        Value::Array(a) => Value::Array(a.iter().map(stringify).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), stringify(v))).collect())
        }
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_should_verify_or_be_refused_through_the_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let mut failures = Vec::new();
    for fixture in all_fixtures() {
        let (name, fx, req) = (&fixture.name, &fixture.json, fixture.raw.clone());
        let at = request_time_ms(&req);
        let dialect = Tencent::with_clock(core.clone(), 0, Arc::new(move || at));
        let v = envelope(&dialect.handle(req.clone()).await);
        let code = error_code(&v);
        match fx["expect"].as_str().unwrap() {
            "signature-valid" => {
                if code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("AuthFailure"))
                {
                    failures.push(format!("{name}: valid request refused: {v}"));
                }
                // Decoding: what the dialect extracted equals the fixture's expectation.
                let nonces = NonceCache::default();
                let clock = Clock {
                    now_ms: at,
                    skew_ms: 300_000,
                    nonces: &nonces,
                };
                match authenticate(&req, core.keys(), &clock) {
                    Err(e) => failures.push(format!("{name}: authenticate failed: {e:?}")),
                    Ok(a) => {
                        let exp = &fx["expected"];
                        if a.action != exp["action"].as_str().unwrap()
                            || a.version != exp["version"].as_str().unwrap()
                            || a.region.as_deref() != exp["region"].as_str()
                        {
                            failures.push(format!(
                                "{name}: decoded {}/{}/{:?}, expected {exp}",
                                a.action, a.version, a.region
                            ));
                        }
                        if stringify(&Value::Object(a.params.clone())) != stringify(&exp["params"])
                        {
                            failures.push(format!(
                                "{name}: params {:?} != expected {}",
                                a.params, exp["params"]
                            ));
                        }
                    }
                }
            }
            "signature-mismatch" => {
                if code.as_deref() != Some("AuthFailure.SignatureFailure") {
                    failures.push(format!("{name}: tampered request not refused: {v}"));
                }
            }
            other => failures.push(format!("{name}: unknown expectation {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_fixtures_should_succeed_where_the_topology_allows() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    // ECM CreateHaVip (auto IP) and VPC CreateHaVip with an explicit Vip create HAVIPs.
    for file in [
        "tencentcloud-sdk-python-ecm/CreateHaVip.auto-ip.json",
        "tencentcloud-sdk-python-vpc/CreateHaVip.json",
        "tencentcloud-sdk-python-vpc/DescribeHaVips.get.json",
        "tencentcloud-sdk-python-vpc/DescribeHaVips.hmac-sha256.json",
        "tencentcloud-sdk-python-ecm/DescribeHaVips.json",
    ] {
        let req = fixtures::find(all_fixtures(), file).raw;
        let at = request_time_ms(&req);
        let dialect = Tencent::with_clock(core.clone(), 0, Arc::new(move || at));
        let v = envelope(&dialect.handle(req).await);
        assert_eq!(error_code(&v), None, "{file}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_fixtures_should_expire_ten_minutes_later() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    for fx in all_fixtures() {
        if fx.json["expect"] != "signature-valid" {
            continue;
        }
        let req = fx.raw.clone();
        let at = request_time_ms(&req) + 10 * 60 * 1000;
        let dialect = Tencent::with_clock(core.clone(), 0, Arc::new(move || at));
        let v = envelope(&dialect.handle(req).await);
        assert_eq!(
            error_code(&v).as_deref(),
            Some("AuthFailure.SignatureExpire"),
            "{}: {v}",
            fx.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_v1_nonce_should_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let req = fixtures::find(all_fixtures(), "DescribeHaVips.hmac-sha256.json").raw;
    let at = request_time_ms(&req);
    let dialect = Tencent::with_clock(core.clone(), 0, Arc::new(move || at));
    assert_eq!(
        error_code(&envelope(&dialect.handle(req.clone()).await)),
        None
    );
    assert_eq!(
        error_code(&envelope(&dialect.handle(req).await)).as_deref(),
        Some("AuthFailure.SignatureFailure")
    );
}

/// A ledger two cores share, as nodes on one PostgreSQL share its `nonces` table.
#[derive(Default)]
struct SharedLedger {
    seen: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    broken: std::sync::atomic::AtomicBool,
}

impl havip_core::auth::NonceLedger for SharedLedger {
    fn admit(&self, key: &str, nonce: &str, _: i64, _: i64) -> havip_core::auth::NonceAdmission {
        let r = if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            Err(havip_core::DomainError::Internal("ledger down".into()))
        } else {
            Ok(self
                .seen
                .lock()
                .unwrap()
                .insert((key.to_string(), nonce.to_string())))
        };
        Box::pin(async move { r })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v1_nonce_used_on_one_node_should_be_refused_by_another_sharing_the_ledger() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (core(da.path()).await, core(db.path()).await);
    let ledger = Arc::new(SharedLedger::default());
    assert!(a.nonces().share_with(ledger.clone()));
    assert!(b.nonces().share_with(ledger.clone()));
    let req = fixtures::find(all_fixtures(), "DescribeHaVips.hmac-sha256.json").raw;
    let at = request_time_ms(&req);
    let node_a = Tencent::with_clock(a.clone(), 0, Arc::new(move || at));
    let node_b = Tencent::with_clock(b.clone(), 0, Arc::new(move || at));
    assert_eq!(
        error_code(&envelope(&node_a.handle(req.clone()).await)),
        None
    );
    // Node B's own cache has never seen the nonce: only the ledger can refuse it.
    assert_eq!(
        error_code(&envelope(&node_b.handle(req.clone()).await)).as_deref(),
        Some("AuthFailure.SignatureFailure")
    );
    // A ledger that cannot answer refuses the request rather than let it through unchecked.
    let fresh = tempfile::tempdir().unwrap();
    let c = core(fresh.path()).await;
    c.nonces().share_with(ledger.clone());
    ledger
        .broken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let node_c = Tencent::with_clock(c.clone(), 0, Arc::new(move || at));
    assert_eq!(
        error_code(&envelope(&node_c.handle(req).await)).as_deref(),
        Some("InternalError")
    );
}
