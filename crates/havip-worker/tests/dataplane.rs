//! The reconciler against the fake data plane and a real SQLite store.

use havip_core::config::{CoreConfig, OpTiming};
use havip_core::ctx::Ctx;
use havip_core::service::{now_ms, CreateHavip, TargetRef};
use havip_core::types::*;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_dataplane::fake::FakeDataPlane;
use havip_dataplane::{Action, DataPlane};
use havip_store_sqlite::SqliteStore;
use havip_worker::dataplane::reconcile_once;
use std::sync::Arc;
use std::time::Duration;

const WORLD: &str = r#"
[[region]]
cloud = "aliyun"
id = "cn-hangzhou"
[[account]]
id = "1"
cloud = "aliyun"
name = "t"
access_keys = [{ id = "k", secret = "s" }]
[[vpc]]
id = "vpc-1"
account = "1"
region = "cn-hangzhou"
cidr = "192.168.0.0/16"
[[vswitch]]
id = "vsw-1"
vpc = "vpc-1"
zone = "z"
cidr = "192.168.1.0/24"
[[instance]]
id = "i-a"
vswitch = "vsw-1"
private_ip = "192.168.1.11"
[[instance]]
id = "i-b"
vswitch = "vsw-1"
private_ip = "192.168.1.12"
[[instance]]
id = "i-c"
vswitch = "vsw-1"
private_ip = "192.168.1.13"
"#;

fn ctx() -> Ctx {
    Ctx {
        account: AccountId::from("1"),
        cloud: Cloud::Aliyun,
        region: RegionId::from("cn-hangzhou"),
        request_id: "r".into(),
        idempotency: None,
        track_tasks: false,
    }
}

async fn settle(core: &Core<SqliteStore>) {
    while !core.operations_pending().await.unwrap().is_empty() {
        core.operations_run_due(now_ms() + 1_000_000, 100)
            .await
            .unwrap();
    }
}

async fn setup(dir: &std::path::Path) -> (Core<SqliteStore>, HavipId) {
    let store = SqliteStore::open_dir(dir).unwrap();
    let core = Core::new(
        store,
        CoreConfig {
            timing: OpTiming::Immediate,
            ..CoreConfig::default()
        },
    );
    core.world_apply(toml::from_str::<WorldDoc>(WORLD).unwrap())
        .await
        .unwrap();
    let h = core
        .havip_create(
            &ctx(),
            CreateHavip {
                vswitch: Some(VSwitchId::from("vsw-1")),
                ip: Some("192.168.1.100".parse().unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    settle(&core).await;
    for i in ["i-a", "i-b"] {
        core.havip_associate(
            &ctx(),
            &h,
            TargetRef {
                kind: TargetKind::Instance,
                id: i.into(),
            },
        )
        .await
        .unwrap();
        settle(&core).await;
    }
    (core, h)
}

#[tokio::test]
async fn reconciler_should_program_associations_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let (core, _h) = setup(dir.path()).await;
    let fake = Arc::new(FakeDataPlane::new("hv"));
    let dp: Arc<dyn DataPlane> = fake.clone();
    let (d, r) = reconcile_once(&core, &dp).await.unwrap();
    assert_eq!(r.failed, 0);
    assert!(r.applied > 0);
    let n = fake.names();
    let vip = "192.168.1.100".parse().unwrap();
    assert_eq!(
        d.claims,
        [(vip, n.port("i-a")), (vip, n.port("i-b"))]
            .into_iter()
            .collect()
    );
    let (_, r) = reconcile_once(&core, &dp).await.unwrap();
    assert_eq!(r.applied, 0, "a second pass has nothing to do");
}

#[tokio::test]
async fn reconciler_should_rederive_after_a_restart_and_repair_drift() {
    let dir = tempfile::tempdir().unwrap();
    let (core, h) = setup(dir.path()).await;
    let fake = Arc::new(FakeDataPlane::new("hv"));
    let dp: Arc<dyn DataPlane> = fake.clone();
    reconcile_once(&core, &dp).await.unwrap();
    core.store().close();
    drop(core);
    // A new process over the same store and the same (surviving) network.
    let core = Core::new(
        SqliteStore::open_dir(dir.path()).unwrap(),
        CoreConfig::default(),
    );
    fake.take_log();
    let (_, r) = reconcile_once(&core, &dp).await.unwrap();
    assert_eq!(r.applied, 0, "nothing to redo after a restart");
    fake.tamper(|a| {
        a.guard.as_mut().unwrap().owners.clear();
    });
    fake.fail_next(1);
    let (_, r) = reconcile_once(&core, &dp).await.unwrap();
    assert_eq!(r.failed, 1, "an injected failure is reported, not fatal");
    reconcile_once(&core, &dp).await.unwrap();
    let log = fake.take_log();
    assert!(
        matches!(&log[..], [Action::SetGuard { owners, rebuild: false, .. }] if owners.len() == 2),
        "{log:?}"
    );
    let _ = h;
}

#[tokio::test]
async fn claims_should_set_the_master_and_refuse_strangers() {
    let dir = tempfile::tempdir().unwrap();
    let (core, h) = setup(dir.path()).await;
    let fake = Arc::new(FakeDataPlane::new("hv"));
    let dp: Arc<dyn DataPlane> = fake.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(havip_worker::run_dataplane(
        core.clone(),
        dp,
        Duration::from_millis(200),
        stop_rx,
    ));
    let vip = "192.168.1.100".parse().unwrap();
    let master = || async { core.havip_get(&ctx(), &h).await.unwrap().havip.master };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let names = fake.names().clone();
    for (port, want) in [
        ("i-b", Some("i-b")),
        ("i-c", Some("i-b")),
        ("i-a", Some("i-a")),
    ] {
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "claim by {port} not seen"
            );
            if fake.claim(&names.port(port), vip) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if master().await.as_deref() == want
                    && (port != "i-c"
                        || tokio::time::Instant::now() > deadline - Duration::from_secs(4))
                {
                    break;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
