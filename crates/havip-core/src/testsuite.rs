//! The backend conformance suite: one set of behaviours every [`Store`] must show through the
//! core, run by each backend's tests with `havip_core::store_conformance!(factory)`.
//!
//! A factory is `async fn(dir: &Path, cfg: CoreConfig) -> S`: it opens (or reopens) the store
//! whose state lives under `dir`, so restart cases can drop a core and open a new one on the
//! same data.

use crate::config::{CoreConfig, OpTiming, Quotas};
use crate::ctx::{Ctx, Idempotency};
use crate::error::DomainError;
use crate::service::{CreateHavip, TargetRef};
use crate::store::{HavipFilter, Store};
use crate::types::*;
use crate::world::{self, WorldDoc};
use crate::Core;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// The world the suite runs in: account A with a /24, a /28 and a /8 vSwitch, instances and
/// ENIs; account B with its own VPC.
pub const WORLD: &str = r#"
[[region]]
cloud = "aliyun"
id = "cn-hangzhou"

[[account]]
id = "A"
cloud = "aliyun"
access_keys = [{ id = "ak-a", secret = "sa" }]

[[account]]
id = "B"
cloud = "aliyun"
access_keys = [{ id = "ak-b", secret = "sb" }]

[[resource_group]]
id = "rg-a"
account = "A"

[[vpc]]
id = "vpc-a"
account = "A"
region = "cn-hangzhou"
cidr = "10.0.0.0/8"

[[vpc]]
id = "vpc-b"
account = "B"
region = "cn-hangzhou"
cidr = "172.16.0.0/12"

[[vswitch]]
id = "vsw-24"
vpc = "vpc-a"
cidr = "10.1.1.0/24"

[[vswitch]]
id = "vsw-28"
vpc = "vpc-a"
cidr = "10.1.2.0/28"

[[vswitch]]
id = "vsw-16"
vpc = "vpc-a"
cidr = "10.2.0.0/16"

[[vswitch]]
id = "vsw-b"
vpc = "vpc-b"
cidr = "172.16.1.0/24"

[[instance]]
id = "i-1"
vswitch = "vsw-24"
private_ip = "10.1.1.11"

[[instance]]
id = "i-2"
vswitch = "vsw-24"
private_ip = "10.1.1.12"

[[instance]]
id = "i-3"
vswitch = "vsw-24"
private_ip = "10.1.1.13"
state = "Starting"

[[instance]]
id = "i-28"
vswitch = "vsw-28"
private_ip = "10.1.2.5"

[[eni]]
id = "eni-1"
vswitch = "vsw-24"
private_ip = "10.1.1.21"
instance = "i-1"

[[eni]]
id = "eni-free"
vswitch = "vsw-24"
private_ip = "10.1.1.22"

[[eip]]
id = "eip-1"
account = "A"
region = "cn-hangzhou"
address = "47.0.0.1"
"#;

/// A context for account `a` in cn-hangzhou.
pub fn ctx(a: &str) -> Ctx {
    Ctx {
        account: AccountId(a.into()),
        cloud: Cloud::Aliyun,
        region: RegionId("cn-hangzhou".into()),
        request_id: "req".into(),
        idempotency: None,
        track_tasks: true,
    }
}

/// Config with immediate operations and roomy quotas.
pub fn config(timing: OpTiming) -> CoreConfig {
    let mut c = CoreConfig {
        timing,
        ..CoreConfig::default()
    };
    let q = Quotas {
        havips_per_vpc: 100_000,
        havips_per_account: 100_000,
        ..Quotas::default_for(Cloud::Aliyun)
    };
    c.quotas = [(Cloud::Aliyun, q), (Cloud::Tencent, q), (Cloud::Baidu, q)];
    c
}

/// Builds a core over `store`, applies [`WORLD`].
pub async fn seeded<S: Store>(store: S, cfg: CoreConfig) -> Core<S> {
    let core = Core::new(store, cfg);
    let doc: WorldDoc = toml::from_str(WORLD).expect("suite world parses");
    core.world_apply(doc).await.expect("suite world applies");
    core
}

fn create(vsw: &str, ip: Option<&str>) -> CreateHavip {
    CreateHavip {
        vswitch: Some(VSwitchId(vsw.into())),
        ip: ip.map(|s| s.parse().unwrap()),
        ..Default::default()
    }
}

async fn settle<S: Store>(core: &Core<S>) {
    core.operations_advance(None).await.unwrap();
    while core
        .operations_run_due(crate::service::now_ms(), 1000)
        .await
        .unwrap()
        > 0
    {}
}

async fn status<S: Store>(core: &Core<S>, id: &HavipId) -> Option<HavipStatus> {
    core.havip_get(&ctx("A"), id)
        .await
        .ok()
        .map(|v| v.havip.status)
}

/// Automatic addresses are unique, inside the block, never reserved, never a NIC's; a full
/// block answers `SubnetExhausted` and changes nothing.
pub async fn allocation_fills_a_small_vswitch_exactly<S: Store>(core: Core<S>) {
    let c = ctx("A");
    // /28: 16 addresses, 4 reserved (first, last three), one held by i-28 → 11 free.
    let mut seen = HashSet::new();
    for _ in 0..11 {
        let r = core.havip_create(&c, create("vsw-28", None)).await.unwrap();
        let n = u32::from(r.ip);
        assert!(
            (u32::from(Ipv4Addr::new(10, 1, 2, 1))..=u32::from(Ipv4Addr::new(10, 1, 2, 12)))
                .contains(&n),
            "{} is reserved or outside",
            r.ip
        );
        assert_ne!(
            r.ip,
            Ipv4Addr::new(10, 1, 2, 5),
            "the instance's address was handed out"
        );
        assert!(seen.insert(r.ip), "{} handed out twice", r.ip);
    }
    assert_eq!(
        core.havip_create(&c, create("vsw-28", None)).await,
        Err(DomainError::SubnetExhausted)
    );
    let page = core
        .havip_list(
            &c,
            HavipFilter {
                vswitches: Some(vec![VSwitchId("vsw-28".into())]),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 11);
    // The VPC-only filter is answered from counters: it must agree with the rows.
    let by_vpc = core
        .havip_list(
            &c,
            HavipFilter {
                vpcs: Some(vec![VpcId("vpc-a".into()), VpcId("vpc-b".into())]),
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((by_vpc.total, by_vpc.items.len()), (11, 1));
    let all = core
        .havip_list(
            &c,
            HavipFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.total, 11);
    assert_eq!(
        core.havip_list(
            &ctx("B"),
            HavipFilter {
                vpcs: Some(vec![VpcId("vpc-a".into())]),
                limit: 1,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .total,
        0
    );
}

/// Explicit addresses are checked: outside, reserved, held.
pub async fn explicit_addresses_are_checked<S: Store>(core: Core<S>) {
    let c = ctx("A");
    let cases = [
        ("10.9.9.9", DomainError::IpOutOfRange),
        ("10.1.1.0", DomainError::IpReserved),
        ("10.1.1.253", DomainError::IpReserved),
        ("10.1.1.255", DomainError::IpReserved),
        ("10.1.1.11", DomainError::IpInUse),
        ("10.1.1.21", DomainError::IpInUse),
    ];
    for (ip, err) in cases {
        assert_eq!(
            core.havip_create(&c, create("vsw-24", Some(ip))).await,
            Err(err),
            "{ip}"
        );
    }
    let ok = core
        .havip_create(&c, create("vsw-24", Some("10.1.1.100")))
        .await
        .unwrap();
    assert_eq!(ok.ip, Ipv4Addr::new(10, 1, 1, 100));
    assert_eq!(
        core.havip_create(&c, create("vsw-24", Some("10.1.1.100")))
            .await,
        Err(DomainError::IpInUse)
    );
}

/// Many concurrent creates never share an address.
pub async fn concurrent_creates_never_share_an_address<S: Store>(core: Core<S>) {
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            core.havip_create(&ctx("A"), create("vsw-16", None)).await
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert!(seen.insert(r.ip), "{} handed out twice", r.ip);
    }
    assert_eq!(seen.len(), 300);
}

/// A dense block is still allocated to the last address, through the gap search.
pub async fn dense_block_allocates_every_last_address<S: Store>(core: Core<S>) {
    let c = ctx("A");
    // /24: 256 - 4 reserved - 5 NICs (i-1, i-2, i-3, eni-1, eni-free) = 247.
    for _ in 0..247 {
        core.havip_create(&c, create("vsw-24", None)).await.unwrap();
    }
    assert_eq!(
        core.havip_create(&c, create("vsw-24", None)).await,
        Err(DomainError::SubnetExhausted)
    );
}

/// Same token and parameters → same HAVIP; other parameters → mismatch; other account → its own.
pub async fn idempotency_tokens_are_scoped_and_checked<S: Store>(core: Core<S>) {
    let with = |a: &str, token: &str, fp: &str| Ctx {
        idempotency: Some(Idempotency {
            scope: "CreateHaVip",
            token: token.into(),
            fingerprint: fp.into(),
        }),
        ..ctx(a)
    };
    let first = core
        .havip_create(&with("A", "t1", "p1"), create("vsw-24", None))
        .await
        .unwrap();
    let again = core
        .havip_create(&with("A", "t1", "p1"), create("vsw-24", None))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        core.havip_create(&with("A", "t1", "p2"), create("vsw-24", None))
            .await,
        Err(DomainError::IdempotentParameterMismatch)
    );
    let b = core
        .havip_create(&with("B", "t1", "p1"), create("vsw-b", None))
        .await
        .unwrap();
    assert_ne!(b.id, first.id);
    let page = core
        .havip_list(
            &ctx("A"),
            HavipFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.total, 1,
        "a replayed token must not create a second HAVIP"
    );
}

/// Concurrent requests with one token yield one HAVIP.
pub async fn one_token_sent_concurrently_yields_one_havip<S: Store>(core: Core<S>) {
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            let c = Ctx {
                idempotency: Some(Idempotency {
                    scope: "CreateHaVip",
                    token: "same".into(),
                    fingerprint: "fp".into(),
                }),
                ..ctx("A")
            };
            core.havip_create(&c, create("vsw-24", None)).await
        }));
    }
    let ids: HashSet<HavipId> = futures_join(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert_eq!(ids.len(), 1);
}

async fn futures_join<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The lifecycle through the core: transient states lock; completion settles them.
pub async fn lifecycle_moves_through_transient_states<S: Store>(core: Core<S>) {
    let c = ctx("A");
    let h = core
        .havip_create(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    assert_eq!(status(&core, &h).await, Some(HavipStatus::Creating));
    let inst = |id: &str| TargetRef {
        kind: TargetKind::Instance,
        id: id.into(),
    };
    assert_eq!(
        core.havip_associate(&c, &h, inst("i-1")).await,
        Err(DomainError::HavipWrongStatus(HavipStatus::Creating))
    );
    settle(&core).await;
    assert_eq!(status(&core, &h).await, Some(HavipStatus::Available));
    core.havip_associate(&c, &h, inst("i-1")).await.unwrap();
    assert_eq!(status(&core, &h).await, Some(HavipStatus::Associating));
    assert_eq!(
        core.havip_associate(&c, &h, inst("i-2")).await,
        Err(DomainError::HavipWrongStatus(HavipStatus::Associating))
    );
    settle(&core).await;
    core.havip_associate(&c, &h, inst("i-2")).await.unwrap();
    settle(&core).await;
    assert_eq!(status(&core, &h).await, Some(HavipStatus::InUse));
    assert_eq!(
        core.havip_associate(&c, &h, inst("i-1")).await,
        Err(DomainError::AlreadyAssociated)
    );
    assert_eq!(
        core.havip_associate(&c, &h, inst("i-3")).await,
        Err(DomainError::InstanceWrongStatus)
    );
    assert_eq!(
        core.havip_delete(&c, &h).await,
        Err(DomainError::HavipInUse)
    );
    // Master: only an associated target may announce; the master needs force to leave.
    assert_eq!(
        core.havip_announce(&h, "i-28").await,
        Err(DomainError::ClaimantNotAssociated)
    );
    core.havip_announce(&h, "i-2").await.unwrap();
    assert_eq!(
        core.havip_unassociate(&c, &h, inst("i-2"), false).await,
        Err(DomainError::MasterNotForced)
    );
    core.havip_unassociate(&c, &h, inst("i-1"), false)
        .await
        .unwrap();
    settle(&core).await;
    assert_eq!(status(&core, &h).await, Some(HavipStatus::InUse));
    core.havip_unassociate(&c, &h, inst("i-2"), true)
        .await
        .unwrap();
    settle(&core).await;
    let v = core.havip_get(&c, &h).await.unwrap();
    assert_eq!(
        (v.havip.status, v.havip.master.clone(), v.members.len()),
        (HavipStatus::Available, None, 0)
    );
    core.havip_delete(&c, &h).await.unwrap();
    assert_eq!(status(&core, &h).await, Some(HavipStatus::Deleting));
    settle(&core).await;
    assert_eq!(status(&core, &h).await, None);
}

/// Association rules: vSwitch, kinds, free ENI, tenancy.
pub async fn association_rules_hold<S: Store>(core: Core<S>) {
    let c = ctx("A");
    let h = core
        .havip_create(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    settle(&core).await;
    let t = |k, id: &str| TargetRef {
        kind: k,
        id: id.into(),
    };
    assert_eq!(
        core.havip_associate(&c, &h, t(TargetKind::Instance, "i-28"))
            .await,
        Err(DomainError::TargetInOtherVSwitch)
    );
    assert_eq!(
        core.havip_associate(&c, &h, t(TargetKind::Eni, "eni-free"))
            .await,
        Err(DomainError::EniNotAttached)
    );
    assert_eq!(
        core.havip_associate(&c, &h, t(TargetKind::Instance, "i-nope"))
            .await,
        Err(DomainError::InstanceNotFound)
    );
    assert_eq!(
        core.havip_associate(&c, &h, t(TargetKind::Eni, "eni-nope"))
            .await,
        Err(DomainError::EniNotFound)
    );
    core.havip_associate(&c, &h, t(TargetKind::Eni, "eni-1"))
        .await
        .unwrap();
    settle(&core).await;
    assert_eq!(
        core.havip_associate(&c, &h, t(TargetKind::Instance, "i-2"))
            .await,
        Err(DomainError::MixedTargetKinds)
    );
    // Tenancy: B sees none of A's HAVIP.
    assert_eq!(
        core.havip_get(&ctx("B"), &h).await.err(),
        Some(DomainError::HavipNotFound)
    );
    assert_eq!(
        core.havip_delete(&ctx("B"), &h).await,
        Err(DomainError::HavipNotFound)
    );
    // Deleting the ENI removes the association and settles the HAVIP.
    assert!(core.world_delete(world::Kind::Eni, "eni-1").await.unwrap());
    let v = core.havip_get(&c, &h).await.unwrap();
    assert_eq!(
        (v.havip.status, v.members.len()),
        (HavipStatus::Available, 0)
    );
}

/// Quotas: targets per HAVIP, HAVIPs per VPC.
pub async fn quotas_are_never_exceeded<S: Store>(core: Core<S>) {
    let c = ctx("A");
    let h = core
        .havip_create(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    settle(&core).await;
    let inst = |id: &str| TargetRef {
        kind: TargetKind::Instance,
        id: id.into(),
    };
    for i in ["i-1", "i-2"] {
        core.havip_associate(&c, &h, inst(i)).await.unwrap();
        settle(&core).await;
    }
    core.world_apply(
        toml::from_str(
            "[[instance]]\nid = \"i-4\"\nvswitch = \"vsw-24\"\nprivate_ip = \"10.1.1.14\"",
        )
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        core.havip_associate(&c, &h, inst("i-4")).await,
        Err(DomainError::TooManyTargetsOnHavip)
    );
}

/// EIP binding: one per HAVIP; delete refused while bound.
pub async fn eip_binding_blocks_delete<S: Store>(core: Core<S>) {
    let c = ctx("A");
    let h = core
        .havip_create(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    let h2 = core
        .havip_create(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    settle(&core).await;
    let eip = EipId("eip-1".into());
    core.havip_eip_associate(&c, &h, &eip).await.unwrap();
    assert_eq!(
        core.havip_eip_associate(&c, &h2, &eip).await,
        Err(DomainError::EipInUse)
    );
    settle(&core).await;
    assert_eq!(core.havip_get(&c, &h).await.unwrap().eips.len(), 1);
    assert_eq!(
        core.havip_delete(&c, &h).await,
        Err(DomainError::HavipHasEipOnDelete)
    );
    core.havip_eip_unassociate(&c, &h, &eip).await.unwrap();
    settle(&core).await;
    core.havip_delete(&c, &h).await.unwrap();
    settle(&core).await;
    assert_eq!(status(&core, &h).await, None);
}

/// Reopening the store mid-operation loses nothing and completes what was pending, with no
/// address leaked or given twice.
pub async fn restart_completes_pending_operations<S: Store, F, Fut>(open: F)
where
    F: Fn(CoreConfig) -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let c = ctx("A");
    let (ids, ips) = {
        let core = seeded(
            open(config(OpTiming::Manual)).await,
            config(OpTiming::Manual),
        )
        .await;
        let mut ids = Vec::new();
        let mut ips = HashSet::new();
        for _ in 0..20 {
            let r = core.havip_create(&c, create("vsw-24", None)).await.unwrap();
            ids.push(r.id);
            ips.insert(r.ip);
        }
        (ids, ips)
    };
    let core = Core::new(
        open(config(OpTiming::Manual)).await,
        config(OpTiming::Manual),
    );
    core.reload_caches().await.unwrap();
    assert_eq!(core.operations_pending().await.unwrap().len(), 20);
    settle(&core).await;
    let page = core
        .havip_list(
            &c,
            HavipFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 20);
    for v in &page.items {
        assert_eq!(v.havip.status, HavipStatus::Available);
        assert!(ids.contains(&v.havip.id) && ips.contains(&v.havip.ip));
    }
    // Delete half; their addresses come back, the others stay held.
    for id in &ids[..10] {
        core.havip_delete(&c, id).await.unwrap();
    }
    settle(&core).await;
    let held: u64 = core
        .store()
        .read(|tx| Ok(tx.ip_count(&VSwitchId("vsw-24".into()))?))
        .await
        .unwrap();
    assert_eq!(held, 5 + 10, "NIC addresses plus the ten remaining HAVIPs");
}

/// Applying the same topology twice changes nothing.
pub async fn topology_apply_is_idempotent<S: Store>(core: Core<S>) {
    let before = core.world_dump().await.unwrap();
    core.world_apply(toml::from_str(WORLD).unwrap())
        .await
        .unwrap();
    assert_eq!(core.world_dump().await.unwrap(), before);
    // A NIC on a reserved or held address is refused, and nothing of the document is applied.
    let bad: WorldDoc = toml::from_str(
        "[[instance]]\nid = \"i-x\"\nvswitch = \"vsw-24\"\nprivate_ip = \"10.1.1.11\"",
    )
    .unwrap();
    assert!(matches!(
        core.world_apply(bad).await,
        Err(DomainError::InvalidTopology(_))
    ));
    assert_eq!(core.world_dump().await.unwrap(), before);
}

/// An access key's policy is stored with the key, shown by the dump, reaches the key ring,
/// and is replaced or removed by the next document; a malformed one is refused.
pub async fn key_policies_round_trip<S: Store>(core: Core<S>) {
    let with = |policy: &str| -> WorldDoc {
        toml::from_str(&format!(
            "[[account]]\nid = \"A\"\ncloud = \"aliyun\"\naccess_keys = [{{ id = \"ak-a\", secret = \"sa\"{policy} }}]"
        ))
        .unwrap()
    };
    core.world_apply(with(
        r#", policy = { allow = ["vpc:Describe*"], resources = ["acs:vpc:*:*:havip/*"] }"#,
    ))
    .await
    .unwrap();
    let dumped = core.world_dump().await.unwrap();
    let key = &dumped
        .account
        .iter()
        .find(|a| a.id.as_str() == "A")
        .unwrap()
        .access_keys[0];
    let p = key.policy.as_ref().expect("the policy is stored");
    assert_eq!(p.allow, vec!["vpc:Describe*"]);
    assert_eq!(p.resources, vec!["acs:vpc:*:*:havip/*"]);
    let cred = core.keys().get("ak-a").unwrap();
    assert!(cred.allows("vpc:DescribeHaVips", "acs:vpc:r:A:havip/*"));
    assert!(!cred.allows("vpc:DeleteHaVip", "acs:vpc:r:A:havip/havip-1"));
    // Empty patterns are refused whole.
    assert!(matches!(
        core.world_apply(with(r#", policy = { allow = [""] }"#))
            .await,
        Err(DomainError::InvalidTopology(_))
    ));
    // The next document without a policy gives the key full access again.
    core.world_apply(with("")).await.unwrap();
    let dumped = core.world_dump().await.unwrap();
    let key = &dumped
        .account
        .iter()
        .find(|a| a.id.as_str() == "A")
        .unwrap()
        .access_keys[0];
    assert!(key.policy.is_none());
    assert!(core
        .keys()
        .get("ak-a")
        .unwrap()
        .allows("vpc:DeleteHaVip", "x"));
}

/// Async work is pollable by the request that started it: one task row per operation,
/// running until the worker completes it; synchronous requests and other accounts see none.
pub async fn async_requests_are_pollable_tasks<S: Store>(core: Core<S>) {
    let mut c = ctx("A");
    c.request_id = "req-create".into();
    let h = core
        .havip_create(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    let t = core
        .task_get(&c, "req-create")
        .await
        .unwrap()
        .expect("create is async here");
    assert_eq!(
        (t.running, t.resources.clone()),
        (true, vec![(h.clone(), true)])
    );
    settle(&core).await;
    let t = core.task_get(&c, "req-create").await.unwrap().unwrap();
    assert_eq!((t.running, t.resources), (false, vec![(h.clone(), false)]));
    c.request_id = "req-modify".into();
    core.havip_modify(&c, &h, Some("n".into()), None)
        .await
        .unwrap();
    assert_eq!(core.task_get(&c, "req-modify").await.unwrap(), None);
    assert_eq!(core.task_get(&ctx("B"), "req-create").await.unwrap(), None);
    // Two targets in one request: one task, two operations.
    c.request_id = "req-assoc".into();
    let inst = |id: &str| TargetRef {
        kind: TargetKind::Instance,
        id: id.into(),
    };
    core.havip_associate_sets(
        &c,
        vec![(h.clone(), vec![inst("i-1"), inst("i-2")])],
        crate::service::TargetScope::VSwitch,
    )
    .await
    .unwrap();
    let t = core.task_get(&c, "req-assoc").await.unwrap().unwrap();
    assert_eq!(t.resources.len(), 2);
    assert!(t.running);
    settle(&core).await;
    assert!(
        !core
            .task_get(&c, "req-assoc")
            .await
            .unwrap()
            .unwrap()
            .running
    );
}

/// A settled create is Available at once and records no operation; with targets it is all
/// or nothing; association sets across HAVIPs are all or nothing.
pub async fn settled_create_and_association_sets_are_atomic<S: Store>(core: Core<S>) {
    use crate::service::TargetScope;
    let c = ctx("A");
    let inst = |id: &str| TargetRef {
        kind: TargetKind::Instance,
        id: id.into(),
    };
    let h = core
        .havip_create_settled(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    assert_eq!(status(&core, &h).await, Some(HavipStatus::Available));
    assert!(core.operations_pending().await.unwrap().is_empty());
    let before = core
        .havip_list(
            &c,
            HavipFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .total;
    let bad = core
        .havip_create_settled_with(
            &c,
            create("vsw-24", None),
            vec![inst("i-1"), inst("i-28")],
            TargetScope::VSwitch,
        )
        .await;
    assert_eq!(bad, Err(DomainError::TargetInOtherVSwitch));
    let after = core
        .havip_list(
            &c,
            HavipFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .total;
    assert_eq!(before, after, "a refused create leaves nothing behind");
    let g = core
        .havip_create_settled(&c, create("vsw-24", None))
        .await
        .unwrap()
        .id;
    let refused = core
        .havip_associate_sets(
            &c,
            vec![
                (h.clone(), vec![inst("i-1")]),
                (g.clone(), vec![inst("i-28")]),
            ],
            TargetScope::VSwitch,
        )
        .await;
    assert_eq!(refused, Err(DomainError::TargetInOtherVSwitch));
    assert!(core.havip_get(&c, &h).await.unwrap().members.is_empty());
    core.havip_associate_sets(
        &c,
        vec![
            (h.clone(), vec![inst("i-1")]),
            (g.clone(), vec![inst("i-1")]),
        ],
        TargetScope::VSwitch,
    )
    .await
    .unwrap();
    settle(&core).await;
    core.havip_unassociate_sets(
        &c,
        vec![
            (h.clone(), vec![inst("i-1")]),
            (g.clone(), vec![inst("i-1")]),
        ],
        true,
    )
    .await
    .unwrap();
    settle(&core).await;
    assert!(core.havip_get(&c, &g).await.unwrap().members.is_empty());
}

/// Instantiates the suite for a backend. `$open` is an expression of type
/// `impl Fn(&std::path::Path) -> impl Future<Output = S>`.
#[macro_export]
macro_rules! store_conformance {
    ($open:expr) => {
        mod store_conformance {
            use super::*;
            use $crate::config::OpTiming;
            use $crate::testsuite as suite;

            async fn fresh(
                timing: OpTiming,
            ) -> (tempfile::TempDir, $crate::Core<impl $crate::store::Store>) {
                let dir = tempfile::tempdir().unwrap();
                let store = ($open)(dir.path()).await;
                (dir, suite::seeded(store, suite::config(timing)).await)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn allocation_fills_a_small_vswitch_exactly() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::allocation_fills_a_small_vswitch_exactly(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn explicit_addresses_are_checked() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::explicit_addresses_are_checked(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_creates_never_share_an_address() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::concurrent_creates_never_share_an_address(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dense_block_allocates_every_last_address() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::dense_block_allocates_every_last_address(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn idempotency_tokens_are_scoped_and_checked() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::idempotency_tokens_are_scoped_and_checked(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn one_token_sent_concurrently_yields_one_havip() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::one_token_sent_concurrently_yields_one_havip(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn lifecycle_moves_through_transient_states() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::lifecycle_moves_through_transient_states(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn association_rules_hold() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::association_rules_hold(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn quotas_are_never_exceeded() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::quotas_are_never_exceeded(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn eip_binding_blocks_delete() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::eip_binding_blocks_delete(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn async_requests_are_pollable_tasks() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::async_requests_are_pollable_tasks(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn settled_create_and_association_sets_are_atomic() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::settled_create_and_association_sets_are_atomic(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn topology_apply_is_idempotent() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::topology_apply_is_idempotent(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn key_policies_round_trip() {
                let (_d, c) = fresh(OpTiming::Manual).await;
                suite::key_policies_round_trip(c).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn restart_completes_pending_operations() {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().to_path_buf();
                suite::restart_completes_pending_operations(|_cfg| ($open)(&path)).await;
            }
        }
    };
}
