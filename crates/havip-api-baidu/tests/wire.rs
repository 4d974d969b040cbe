//! The whole dialect in-process: requests signed here (bce-auth-v1, the Python SDK's
//! default header set) go through `Baidu::handle` over a SQLite core in immediate mode, and
//! the answers are checked as the SDK reads them: status, `x-bce-request-id`, JSON shape.

use havip_api::time::iso8601_utc;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_api_baidu::signature::{bce_canonical_request, bce_sign, bce_signing_key};
use havip_api_baidu::Baidu;
use havip_core::config::{CoreConfig, OpTiming};
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use serde_json::{json, Value};

const AK: &str = "wireak";
const SK: &str = "wiresecret";

const WORLD: &str = r#"
[[region]]
cloud = "baidu"
id = "bj"
[[account]]
id = "acct-a"
cloud = "baidu"
access_keys = [{ id = "wireak", secret = "wiresecret" }]
[[vpc]]
id = "vpc-w1"
account = "acct-a"
region = "bj"
cidr = "10.0.0.0/16"
[[vswitch]]
id = "sbn-w1"
vpc = "vpc-w1"
cidr = "10.0.1.0/24"
[[vswitch]]
id = "sbn-w2"
vpc = "vpc-w1"
cidr = "10.0.2.0/24"
[[instance]]
id = "i-One"
vswitch = "sbn-w1"
private_ip = "10.0.1.10"
[[instance]]
id = "i-Two"
vswitch = "sbn-w2"
private_ip = "10.0.2.10"
"#;

/// The dialect over a fresh core, with the operation worker running until the sender drops.
async fn dialect(dir: &std::path::Path) -> (Baidu<SqliteStore>, tokio::sync::watch::Sender<bool>) {
    let store = SqliteStore::open_dir(dir).unwrap();
    let cfg = CoreConfig {
        timing: OpTiming::Immediate,
        ..Default::default()
    };
    let core = Core::new(store, cfg);
    let doc: WorldDoc = toml::from_str(WORLD).unwrap();
    core.world_apply(doc).await.unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(havip_worker::run_operations(core.clone(), rx));
    (Baidu::new(core, "bj"), stop)
}

fn signed(method: &str, path: &str, query: &[(&str, &str)], body: &str) -> RawRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    let ts = iso8601_utc(now.as_secs() as i64);
    let headers = vec![
        ("host".to_string(), "127.0.0.1:9083".to_string()),
        (
            "content-type".to_string(),
            "application/json;charset=utf-8".to_string(),
        ),
        ("content-length".to_string(), body.len().to_string()),
        ("x-bce-date".to_string(), ts.clone()),
    ];
    let pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let prefix = format!("bce-auth-v1/{AK}/{ts}/1800");
    let key = bce_signing_key(SK, &prefix);
    let sig = bce_sign(
        &key,
        &bce_canonical_request(method, path, &pairs, &headers, &[]),
    );
    let mut headers = headers;
    headers.push(("authorization".into(), format!("{prefix}//{sig}")));
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    havip_testkit::request(method, path, &query, headers, body.to_string())
}

fn json_of(r: &RawResponse) -> Value {
    if r.body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&r.body).unwrap()
}

fn request_id(r: &RawResponse) -> String {
    r.headers
        .iter()
        .find(|(n, _)| *n == "x-bce-request-id")
        .map(|(_, v)| v.clone())
        .expect("x-bce-request-id header")
}

async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_attach_list_detail_and_errors_should_take_the_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _stop) = dialect(dir.path()).await;
    let create = d
        .handle(signed(
            "POST",
            "/v1/havip",
            &[("clientToken", "t1")],
            r#"{"name":"w1","subnetId":"sbn-w1","privateIpAddress":"10.0.1.20","description":""}"#,
        ))
        .await;
    assert_eq!(create.status, 200, "{:?}", create.body);
    let id = json_of(&create)["haVipId"].as_str().unwrap().to_string();
    assert!(id.starts_with("havip-") && id.len() == 18, "{id}");
    assert!(!request_id(&create).is_empty());

    let get = d
        .handle(signed("GET", &format!("/v1/havip/{id}"), &[], ""))
        .await;
    let h = json_of(&get);
    assert_eq!(h["privateIpAddress"], "10.0.1.20");
    assert_eq!(h["vpcId"], "vpc-w1");
    assert!(["creating", "available"].contains(&h["status"].as_str().unwrap()));
    settle().await;

    // All or nothing: one unknown server refuses the whole attach.
    let bad = d
        .handle(signed(
            "PUT",
            &format!("/v1/havip/{id}"),
            &[("attach", ""), ("clientToken", "t2")],
            r#"{"instanceIds":["i-One","i-Nope"],"instanceType":"SERVER"}"#,
        ))
        .await;
    let err = json_of(&bad);
    assert_eq!(
        (bad.status, err["code"].as_str()),
        (404, Some("NoSuchObject"))
    );
    assert_eq!(err["requestId"].as_str().unwrap(), request_id(&bad));

    // Two servers of two subnets of the same VPC: accepted.
    let ok = d
        .handle(signed(
            "PUT",
            &format!("/v1/havip/{id}"),
            &[("attach", ""), ("clientToken", "t3")],
            r#"{"instanceIds":["i-One","i-Two"],"instanceType":"SERVER"}"#,
        ))
        .await;
    assert_eq!(
        (ok.status, ok.body.is_empty()),
        (200, true),
        "{:?}",
        ok.body
    );
    settle().await;
    let list = d
        .handle(signed("GET", "/v1/havip", &[("maxKeys", "1")], ""))
        .await;
    let l = json_of(&list);
    assert_eq!(l["isTruncated"], false);
    assert_eq!(l["marker"], json!(id));
    let binded: Vec<&str> = l["haVips"][0]["bindedInstances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["instanceId"].as_str().unwrap())
        .collect();
    assert_eq!(binded, ["i-One", "i-Two"]);

    let deleted = d
        .handle(signed("DELETE", &format!("/v1/havip/{id}"), &[], ""))
        .await;
    assert_eq!(json_of(&deleted)["code"], "HaVipInUse");
    assert_eq!(deleted.status, 409);
}
