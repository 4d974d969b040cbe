//! Per-key policies and the cross-account rule through the whole Tencent request path
//! (`Tencent::handle` over a SQLite core) with TC3 requests signed here: an allowed call
//! succeeds, a disallowed one gets `AuthFailure.UnauthorizedOperation` and changes nothing.
//! The CAM action names the product (`vpc:` or `ecm:`), the resource is
//! `qcs::<product>:{region}:uin/{account}:havip/{id}`.

use havip_api::{Dialect, RawRequest, RawResponse};
use havip_api_tencent::signature::{
    tc3_canonical_request, tc3_credential_scope, tc3_payload_hash, tc3_sign, tc3_string_to_sign,
    utc_date_of_timestamp,
};
use havip_api_tencent::Tencent;
use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use serde_json::{json, Value};

const HOST: &str = "127.0.0.1:9082";
const REGION: &str = "ap-guangzhou";

const WORLD: &str = r#"
[[region]]
cloud = "tencent"
id = "ap-guangzhou"
[[account]]
id = "100000000001"
cloud = "tencent"
access_keys = [
  { id = "AKIDfull", secret = "skFull" },
  { id = "AKIDlimited", secret = "skLimited", policy = { allow = ["vpc:DescribeHaVips", "vpc:CreateHaVip"], resources = ["qcs::vpc:*:uin/100000000001:havip/*"] } },
  { id = "AKIDecm", secret = "skEcm", policy = { allow = ["ecm:*"] } },
]
[[account]]
id = "100000000002"
cloud = "tencent"
access_keys = [{ id = "AKIDb", secret = "skB", policy = { allow = ["vpc:*"], resources = ["qcs::vpc:*:uin/100000000001:havip/*", "*"] } }]
[[vpc]]
id = "vpc-aaaaaaaa"
account = "100000000001"
region = "ap-guangzhou"
cidr = "172.16.0.0/16"
[[vswitch]]
id = "subnet-aaaaaaaa"
vpc = "vpc-aaaaaaaa"
cidr = "172.16.0.0/24"
"#;

async fn dialect(dir: &std::path::Path) -> Tencent<SqliteStore> {
    let store = SqliteStore::open_dir(dir).unwrap();
    let core = Core::new(store, CoreConfig::default());
    let doc: WorldDoc = toml::from_str(WORLD).unwrap();
    core.world_apply(doc).await.unwrap();
    Tencent::new(core, 0)
}

/// A TC3 POST of `body` for `action` of `service` (`vpc` or `ecm`), signed with (`ak`, `sk`).
fn tc3(ak: &str, sk: &str, service: &str, action: &str, body: &Value) -> RawRequest {
    let version = if service == "vpc" {
        "2017-03-12"
    } else {
        "2019-07-19"
    };
    let body = body.to_string().into_bytes();
    let ts = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs())
    .to_string();
    let date = utc_date_of_timestamp(&ts).unwrap();
    let mut headers = havip_testkit::pairs(&[
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
    let sig = tc3_sign(sk, &date, service, &sts);
    headers.push((
        "authorization".into(),
        format!("TC3-HMAC-SHA256 Credential={ak}/{date}/{service}/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
    ));
    havip_testkit::request("POST", "/", "", headers, body)
}

fn response(r: &RawResponse) -> Value {
    assert_eq!(r.status, 200);
    serde_json::from_slice::<Value>(&r.body).unwrap()["Response"].clone()
}

fn error_code(r: &RawResponse) -> Option<String> {
    response(r)["Error"]["Code"].as_str().map(str::to_string)
}

async fn create(d: &Tencent<SqliteStore>, ak: &str, sk: &str, service: &str) -> String {
    let body = json!({"VpcId": "vpc-aaaaaaaa", "SubnetId": "subnet-aaaaaaaa", "HaVipName": "p"});
    let r = d.handle(tc3(ak, sk, service, "CreateHaVip", &body)).await;
    let v = response(&r);
    v["HaVip"]["HaVipId"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

async fn ids_seen_by(d: &Tencent<SqliteStore>, ak: &str, sk: &str) -> Vec<String> {
    let r = d
        .handle(tc3(ak, sk, "vpc", "DescribeHaVips", &json!({})))
        .await;
    let v = response(&r);
    v["HaVipSet"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|h| h["HaVipId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limited_key_should_call_what_its_policy_allows_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path()).await;
    let id = create(&d, "AKIDlimited", "skLimited", "vpc").await;
    assert_eq!(
        ids_seen_by(&d, "AKIDlimited", "skLimited").await,
        vec![id.clone()]
    );
    for (action, body) in [
        ("DeleteHaVip", json!({"HaVipId": id})),
        (
            "ModifyHaVipAttribute",
            json!({"HaVipId": id, "HaVipName": "x"}),
        ),
    ] {
        let r = d
            .handle(tc3("AKIDlimited", "skLimited", "vpc", action, &body))
            .await;
        assert_eq!(
            error_code(&r).as_deref(),
            Some("AuthFailure.UnauthorizedOperation"),
            "{action}"
        );
        assert!(response(&r)["RequestId"].is_string());
    }
    // The same action through the other product is another CAM action.
    let r = d
        .handle(tc3(
            "AKIDlimited",
            "skLimited",
            "ecm",
            "DescribeHaVips",
            &json!({}),
        ))
        .await;
    assert_eq!(
        error_code(&r).as_deref(),
        Some("AuthFailure.UnauthorizedOperation")
    );
    // An `ecm:*` key may use ECM but not VPC.
    let r = d
        .handle(tc3("AKIDecm", "skEcm", "ecm", "DescribeHaVips", &json!({})))
        .await;
    assert_eq!(error_code(&r), None, "{}", response(&r));
    let r = d
        .handle(tc3(
            "AKIDecm",
            "skEcm",
            "vpc",
            "DeleteHaVip",
            &json!({"HaVipId": id}),
        ))
        .await;
    assert_eq!(
        error_code(&r).as_deref(),
        Some("AuthFailure.UnauthorizedOperation")
    );
    // Nothing changed.
    let r = d
        .handle(tc3(
            "AKIDfull",
            "skFull",
            "vpc",
            "DescribeHaVips",
            &json!({}),
        ))
        .await;
    let set = response(&r)["HaVipSet"].as_array().unwrap().clone();
    assert_eq!(set.len(), 1);
    assert_eq!(set[0]["HaVipId"], id.as_str());
    assert_eq!(set[0]["HaVipName"], "p");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_accounts_key_should_neither_see_nor_change_the_havip_whatever_its_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dialect(dir.path()).await;
    let id = create(&d, "AKIDfull", "skFull", "vpc").await;
    assert!(ids_seen_by(&d, "AKIDb", "skB").await.is_empty());
    for (action, body) in [
        ("DeleteHaVip", json!({"HaVipId": id})),
        (
            "ModifyHaVipAttribute",
            json!({"HaVipId": id, "HaVipName": "b"}),
        ),
    ] {
        let r = d.handle(tc3("AKIDb", "skB", "vpc", action, &body)).await;
        assert_eq!(
            error_code(&r).as_deref(),
            Some("ResourceNotFound"),
            "{action}"
        );
    }
    assert_eq!(ids_seen_by(&d, "AKIDfull", "skFull").await, vec![id]);
}
