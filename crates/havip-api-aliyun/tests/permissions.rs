//! Per-key policies, the per-(account, action) rate limit and the cross-account rules,
//! through the whole Alibaba request path (`Aliyun::handle` over a SQLite core) with requests
//! signed here (V2): an allowed call succeeds, a disallowed one gets 403 `Forbidden.RAM` with
//! an `AccessDeniedDetail` and changes nothing, a call over the limit gets 400
//! `Throttling.User`.

use havip_api::time::iso8601_utc;
use havip_api::{Dialect, RawRequest, RawResponse};
use havip_api_aliyun::signature::{pct_encode, rpc_v2_sign, rpc_v2_string_to_sign};
use havip_api_aliyun::Aliyun;
use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

const WORLD: &str = r#"
[[region]]
cloud = "aliyun"
id = "cn-hangzhou"
[[account]]
id = "1111"
cloud = "aliyun"
access_keys = [
  { id = "akFull", secret = "skFull" },
  { id = "akLimited", secret = "skLimited", policy = { allow = ["vpc:DescribeHaVips", "vpc:CreateHaVip"], resources = ["acs:vpc:*:*:havip/*"] } },
  { id = "akOther", secret = "skOther", policy = { allow = ["vpc:*"], resources = ["acs:vpc:cn-hangzhou:1111:havip/havip-not-yours"] } },
]
[[account]]
id = "2222"
cloud = "aliyun"
access_keys = [{ id = "akB", secret = "skB", policy = { allow = ["vpc:*"], resources = ["acs:vpc:*:1111:havip/*", "*"] } }]
[[vpc]]
id = "vpc-a"
account = "1111"
region = "cn-hangzhou"
cidr = "192.168.0.0/16"
[[vswitch]]
id = "vsw-a"
vpc = "vpc-a"
cidr = "192.168.1.0/24"
"#;

async fn dialect(dir: &std::path::Path, rate: u32) -> Aliyun<SqliteStore> {
    let store = SqliteStore::open_dir(dir).unwrap();
    let core = Core::new(store, CoreConfig::default());
    let doc: WorldDoc = toml::from_str(WORLD).unwrap();
    core.world_apply(doc).await.unwrap();
    Aliyun::new(core, "vpc.aliyuncs.com").with_rate_limit(rate)
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A V2 GET for `action` signed with (`ak`, `sk`) at `now + offset_s`.
fn signed_at(
    ak: &str,
    sk: &str,
    offset_s: i64,
    action: &str,
    params: &[(&str, &str)],
) -> RawRequest {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut pairs = havip_testkit::pairs(&[
        ("AccessKeyId", ak),
        ("Action", action),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Version", "2016-04-28"),
        ("RegionId", "cn-hangzhou"),
    ]);
    pairs.push((
        "SignatureNonce".into(),
        format!(
            "perm-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
    ));
    pairs.push(("Timestamp".into(), iso8601_utc(now_s() + offset_s)));
    pairs.extend(havip_testkit::pairs(params));
    let sts = rpc_v2_string_to_sign("GET", &pairs);
    pairs.push(("Signature".into(), rpc_v2_sign(sk, &sts)));
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct_encode(k), pct_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    havip_testkit::request(
        "GET",
        "/",
        &query,
        havip_testkit::pairs(&[("host", "127.0.0.1:9081")]),
        "",
    )
}

fn signed(ak: &str, sk: &str, action: &str, params: &[(&str, &str)]) -> RawRequest {
    signed_at(ak, sk, 0, action, params)
}

fn body(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn status_code(r: &RawResponse) -> (u16, String) {
    (
        r.status,
        body(r)["Code"].as_str().unwrap_or_default().to_string(),
    )
}

async fn create(d: &Aliyun<SqliteStore>, ak: &str, sk: &str) -> String {
    let r = d
        .handle(signed(ak, sk, "CreateHaVip", &[("VSwitchId", "vsw-a")]))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    body(&r)["HaVipId"].as_str().unwrap().to_string()
}

async fn ids_seen_by(d: &Aliyun<SqliteStore>, ak: &str, sk: &str) -> Vec<String> {
    let r = d.handle(signed(ak, sk, "DescribeHaVips", &[])).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    body(&r)["HaVips"]["HaVip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["HaVipId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limited_key_should_call_what_its_policy_allows_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 0).await;
    // Allowed: Create (on havip/*) and Describe.
    let id = create(&d, "akLimited", "skLimited").await;
    assert_eq!(
        ids_seen_by(&d, "akLimited", "skLimited").await,
        vec![id.clone()]
    );
    // Not allowed: Delete and Modify, refused before anything changes.
    for (action, params) in [
        ("DeleteHaVip", vec![("HaVipId", id.as_str())]),
        (
            "ModifyHaVipAttribute",
            vec![("HaVipId", id.as_str()), ("Name", "x")],
        ),
    ] {
        let r = d
            .handle(signed("akLimited", "skLimited", action, &params))
            .await;
        assert_eq!(
            status_code(&r),
            (403, "Forbidden.RAM".to_string()),
            "{action}"
        );
        let detail = &body(&r)["AccessDeniedDetail"];
        assert_eq!(detail["AuthAction"], format!("vpc:{action}"));
        assert_eq!(detail["NoPermissionType"], "ImplicitDeny");
        assert_eq!(detail["AuthPrincipalOwnerId"], "1111");
        assert!(body(&r)["RequestId"].is_string());
    }
    // A key allowed every action but on another HAVIP only.
    let r = d
        .handle(signed(
            "akOther",
            "skOther",
            "DeleteHaVip",
            &[("HaVipId", &id)],
        ))
        .await;
    assert_eq!(status_code(&r).1, "Forbidden.RAM");
    let r = d
        .handle(signed(
            "akOther",
            "skOther",
            "CreateHaVip",
            &[("VSwitchId", "vsw-a")],
        ))
        .await;
    assert_eq!(status_code(&r).1, "Forbidden.RAM");
    // Nothing changed: the full key sees the one HAVIP with its name unchanged.
    let r = d
        .handle(signed("akFull", "skFull", "DescribeHaVips", &[]))
        .await;
    let havips = body(&r)["HaVips"]["HaVip"].as_array().unwrap().clone();
    assert_eq!(havips.len(), 1);
    assert_eq!(havips[0]["HaVipId"], id.as_str());
    assert_ne!(havips[0]["Name"], "x");
    // A key without a policy may do anything.
    let r = d
        .handle(signed(
            "akFull",
            "skFull",
            "ModifyHaVipAttribute",
            &[("HaVipId", &id), ("Name", "y")],
        ))
        .await;
    // (The HAVIP is still Creating, so the core refuses it: the policy let it through.)
    assert_eq!(status_code(&r), (400, "IncorrectStatus".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_permission_error_should_carry_its_detail_in_xml_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 0).await;
    let mut req = signed(
        "akLimited",
        "skLimited",
        "DeleteHaVip",
        &[("HaVipId", "havip-x")],
    );
    req.query = req.query.replace("Format=JSON", "Format=XML");
    // Re-sign: the format is part of the signature.
    let mut pairs = havip_testkit::form::decode(&req.query).unwrap();
    pairs.retain(|(k, _)| k != "Signature");
    let sts = rpc_v2_string_to_sign("GET", &pairs);
    pairs.push(("Signature".into(), rpc_v2_sign("skLimited", &sts)));
    req.query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct_encode(k), pct_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = d.handle(req).await;
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 403, "{text}");
    assert!(text.contains("<Code>Forbidden.RAM</Code>"), "{text}");
    assert!(
        text.contains("<AuthAction>vpc:DeleteHaVip</AuthAction>"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_accounts_key_should_neither_see_nor_change_the_havip_whatever_its_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 0).await;
    let id = create(&d, "akFull", "skFull").await;
    // B's policy names A's account in a resource pattern: that grants nothing in A.
    assert!(ids_seen_by(&d, "akB", "skB").await.is_empty());
    for (action, params) in [
        ("DeleteHaVip", vec![("HaVipId", id.as_str())]),
        (
            "ModifyHaVipAttribute",
            vec![("HaVipId", id.as_str()), ("Name", "b")],
        ),
        (
            "AssociateHaVip",
            vec![("HaVipId", id.as_str()), ("InstanceId", "i-x")],
        ),
    ] {
        let r = d.handle(signed("akB", "skB", action, &params)).await;
        assert_eq!(
            r.status,
            404,
            "{action}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(ids_seen_by(&d, "akFull", "skFull").await, vec![id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_should_count_per_account_and_action() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 2).await;
    for _ in 0..2 {
        let r = d
            .handle(signed("akFull", "skFull", "DescribeHaVips", &[]))
            .await;
        assert_eq!(r.status, 200);
    }
    let r = d
        .handle(signed("akFull", "skFull", "DescribeHaVips", &[]))
        .await;
    assert_eq!(status_code(&r), (400, "Throttling.User".to_string()));
    assert!(r
        .headers
        .iter()
        .all(|(n, _)| !n.eq_ignore_ascii_case("x-acs-retry-after")));
    // Another action of the same account, another account: their own buckets.
    create(&d, "akFull", "skFull").await;
    assert!(ids_seen_by(&d, "akB", "skB").await.is_empty());
    // The other key of the same account shares the account's bucket.
    let r = d
        .handle(signed("akLimited", "skLimited", "DescribeHaVips", &[]))
        .await;
    assert_eq!(status_code(&r).1, "Throttling.User");
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_and_secret_checks_should_refuse_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path(), 0).await;
    for offset in [-20 * 60, 20 * 60] {
        let r = d
            .handle(signed_at(
                "akFull",
                "skFull",
                offset,
                "CreateHaVip",
                &[("VSwitchId", "vsw-a")],
            ))
            .await;
        assert_eq!(
            status_code(&r),
            (400, "InvalidTimeStamp.Expired".to_string()),
            "{offset}"
        );
    }
    let r = d
        .handle(signed(
            "akFull",
            "not-the-secret",
            "CreateHaVip",
            &[("VSwitchId", "vsw-a")],
        ))
        .await;
    assert_eq!(status_code(&r), (400, "SignatureDoesNotMatch".to_string()));
    // A disallowed action signed with a wrong secret is a signature error, not a permission one.
    let r = d
        .handle(signed(
            "akLimited",
            "wrong",
            "DeleteHaVip",
            &[("HaVipId", "havip-x")],
        ))
        .await;
    assert_eq!(status_code(&r).1, "SignatureDoesNotMatch");
    assert!(ids_seen_by(&d, "akFull", "skFull").await.is_empty());
}
