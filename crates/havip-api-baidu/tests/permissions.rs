//! Per-key policies, the per-(account, operation) rate limit and the cross-account rule
//! through the whole Baidu request path (`Baidu::handle` over a SQLite core) with
//! bce-auth-v1 requests signed here: an allowed call succeeds, a disallowed one gets 403
//! `AccessDenied` and changes nothing, a call over the limit gets 429 `RequestLimitExceeded`.
//! Actions are `bce:havip:<Operation>`, resources `bce:vpc:{region}:{account}:havip/{id}`.

use havip_api::time::iso8601_utc;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_api_baidu::signature::{bce_canonical_request, bce_sign, bce_signing_key};
use havip_api_baidu::Baidu;
use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use serde_json::Value;

const WORLD: &str = r#"
[[region]]
cloud = "baidu"
id = "bj"
[[account]]
id = "acct-a"
cloud = "baidu"
access_keys = [
  { id = "akfull", secret = "skfull" },
  { id = "aklimited", secret = "sklimited", policy = { allow = ["bce:havip:CreateHaVip", "bce:havip:ListHaVips", "bce:havip:GetHaVip"], resources = ["bce:vpc:bj:acct-a:havip/*"] } },
]
[[account]]
id = "acct-b"
cloud = "baidu"
access_keys = [{ id = "akb", secret = "skb", policy = { allow = ["bce:havip:*"], resources = ["bce:vpc:*:acct-a:havip/*", "*"] } }]
[[vpc]]
id = "vpc-p1"
account = "acct-a"
region = "bj"
cidr = "10.0.0.0/16"
[[vswitch]]
id = "sbn-p1"
vpc = "vpc-p1"
cidr = "10.0.1.0/24"
"#;

async fn dialect(dir: &std::path::Path, rate: u32) -> Baidu<SqliteStore> {
    let store = SqliteStore::open_dir(dir).unwrap();
    let core = Core::new(store, CoreConfig::default());
    let doc: WorldDoc = toml::from_str(WORLD).unwrap();
    core.world_apply(doc).await.unwrap();
    Baidu::new(core, "bj").with_rate_limit(rate)
}

fn signed(
    ak: &str,
    sk: &str,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &str,
) -> RawRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
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
    let pairs = havip_testkit::pairs(query);
    let prefix = format!("bce-auth-v1/{ak}/{ts}/1800");
    let key = bce_signing_key(sk, &prefix);
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

fn status_code(r: &RawResponse) -> (u16, String) {
    (
        r.status,
        json_of(r)["code"].as_str().unwrap_or_default().to_string(),
    )
}

async fn create(d: &Baidu<SqliteStore>, ak: &str, sk: &str) -> String {
    let r = d
        .handle(signed(
            ak,
            sk,
            "POST",
            "/v1/havip",
            &[],
            r#"{"name":"p1","subnetId":"sbn-p1","privateIpAddress":"10.0.1.20"}"#,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json_of(&r)["haVipId"].as_str().unwrap().to_string()
}

async fn ids_seen_by(d: &Baidu<SqliteStore>, ak: &str, sk: &str) -> Vec<String> {
    let r = d.handle(signed(ak, sk, "GET", "/v1/havip", &[], "")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json_of(&r)["haVips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["haVipId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limited_key_should_call_what_its_policy_allows_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 0).await;
    let id = create(&d, "aklimited", "sklimited").await;
    assert_eq!(
        ids_seen_by(&d, "aklimited", "sklimited").await,
        vec![id.clone()]
    );
    let path = format!("/v1/havip/{id}");
    let r = d
        .handle(signed("aklimited", "sklimited", "GET", &path, &[], ""))
        .await;
    assert_eq!(r.status, 200);
    let r = d
        .handle(signed("aklimited", "sklimited", "DELETE", &path, &[], ""))
        .await;
    assert_eq!(status_code(&r), (403, "AccessDenied".to_string()));
    assert!(json_of(&r)["requestId"].is_string());
    let r = d
        .handle(signed(
            "aklimited",
            "sklimited",
            "PUT",
            &path,
            &[("modifyAttribute", "")],
            r#"{"name":"x"}"#,
        ))
        .await;
    assert_eq!(status_code(&r), (403, "AccessDenied".to_string()));
    // Nothing changed.
    let r = d
        .handle(signed("akfull", "skfull", "GET", &path, &[], ""))
        .await;
    assert_eq!(json_of(&r)["name"], "p1");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_accounts_key_should_neither_see_nor_change_the_havip_whatever_its_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 0).await;
    let id = create(&d, "akfull", "skfull").await;
    let path = format!("/v1/havip/{id}");
    assert!(ids_seen_by(&d, "akb", "skb").await.is_empty());
    let r = d.handle(signed("akb", "skb", "GET", &path, &[], "")).await;
    assert_eq!(r.status, 404);
    let r = d
        .handle(signed("akb", "skb", "DELETE", &path, &[], ""))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(ids_seen_by(&d, "akfull", "skfull").await, vec![id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_should_count_per_account_and_operation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 2).await;
    ids_seen_by(&d, "akfull", "skfull").await;
    ids_seen_by(&d, "akfull", "skfull").await;
    let r = d
        .handle(signed("akfull", "skfull", "GET", "/v1/havip", &[], ""))
        .await;
    assert_eq!(status_code(&r), (429, "RequestLimitExceeded".to_string()));
    // Another operation, another account: their own buckets.
    create(&d, "akfull", "skfull").await;
    assert!(ids_seen_by(&d, "akb", "skb").await.is_empty());
}
