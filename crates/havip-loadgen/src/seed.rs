//! The benchmark world and in-process seeding.
//!
//! World: one Alibaba account in `cn-hangzhou` with one access key; "read" VPCs, each with
//! one vSwitch (a /20 of 10.0.0.0/8) holding `per_vpc` HAVIPs; one "write" VPC
//! (172.16.0.0/12, one vSwitch of the same block) where the Create scenario allocates; and
//! `pairs` (HAVIP, instance) couples in the write vSwitch for the Associate cycles.
//!
//! Seeding writes through the store's own transaction API in-process (not over HTTP): each
//! HAVIP's address is claimed with the real allocator ([`havip_core::alloc::claim_any`]) and
//! the row is inserted already `Available`, 20,000 rows per transaction. That is what a long
//! run of CreateHaVip would leave behind (address claimed by `havip:<id>`, row, counters), minus
//! the idempotency and operation rows that a finished creation no longer has. The same world
//! goes into a SQLite data directory ([`seed`]) or any other store, e.g. a PostgreSQL
//! database ([`seed_postgres`], [`seed_store`]).

use havip_core::alloc::{claim_any, Hints, Reserved};
use havip_core::config::CoreConfig;
use havip_core::ids::new_havip_id;
use havip_core::model::Havip;
use havip_core::store::Store;
use havip_core::types::*;
use havip_core::world::*;
use havip_core::Core;
use havip_store_postgres::PgStore;
use havip_store_sqlite::SqliteStore;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// What the load generator needs to know about a seeded world.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// AccessKeyId.
    pub key_id: String,
    /// AccessKeySecret.
    pub secret: String,
    /// Region.
    pub region: String,
    /// VPCs holding the seeded HAVIPs (Describe filters on one of them).
    pub read_vpcs: Vec<String>,
    /// The vSwitch Create allocates in.
    pub write_vswitch: String,
    /// (HAVIP, instance) couples for Associate + Unassociate cycles, one per client.
    pub pairs: Vec<(String, String)>,
    /// HAVIPs seeded.
    pub havips: u64,
    /// HAVIPs per read VPC.
    pub per_vpc: u64,
    /// Seconds the seeding took.
    pub seed_seconds: f64,
}

/// The account of the benchmark world.
pub const ACCOUNT: &str = "1000000000000001";
/// Its access key.
pub const KEY_ID: &str = "LTAI5tBenchAccessKey0001";
/// Its secret.
pub const SECRET: &str = "BenchAccessKeySecretNotForProduction";
/// The region.
pub const REGION: &str = "cn-hangzhou";
/// The write vSwitch.
pub const WRITE_VSWITCH: &str = "vsw-bp1benchwrite000000001";
const WRITE_VPC: &str = "vpc-bp1benchwrite000000001";
/// Rows per seeding transaction.
const BATCH: u64 = 20_000;
/// Read VPCs fit as /20 blocks of 10.0.0.0/8.
const MAX_READ_VPCS: u64 = 4096;
/// Addresses a /20 can hand out (4096 minus Alibaba's four reserved).
const MAX_PER_VPC: u64 = 4092;

fn read_vpc(i: u64) -> (String, String, Cidr) {
    let base = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + (i as u32) * 4096);
    (
        format!("vpc-bp1bench{i:013}"),
        format!("vsw-bp1bench{i:013}"),
        Cidr::new(base, 20).expect("aligned /20"),
    )
}

fn pair_instance(j: usize) -> (String, Ipv4Addr) {
    (
        format!("i-bp1bench{j:012}"),
        Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 31, 0, 16)) + j as u32),
    )
}

/// The world document of a run with `vpcs` read VPCs and `pairs` instances.
pub fn world(vpcs: u64, pairs: usize) -> WorldDoc {
    let account = AccountId(ACCOUNT.into());
    let region = RegionId(REGION.into());
    let mut doc = WorldDoc {
        region: vec![RegionDoc {
            cloud: Cloud::Aliyun,
            id: region.clone(),
        }],
        account: vec![AccountDoc {
            id: account.clone(),
            cloud: Cloud::Aliyun,
            name: "bench".into(),
            access_keys: vec![KeyDoc {
                id: AccessKeyId(KEY_ID.into()),
                secret: SECRET.into(),
                policy: None,
            }],
        }],
        resource_group: vec![],
        vpc: vec![],
        vswitch: vec![],
        instance: vec![],
        eni: vec![],
        eip: vec![],
    };
    let write: Cidr = "172.16.0.0/12".parse().expect("literal CIDR");
    doc.vpc.push(VpcDoc {
        id: VpcId(WRITE_VPC.into()),
        account: account.clone(),
        region: region.clone(),
        cidr: write,
    });
    doc.vswitch.push(VSwitchDoc {
        id: VSwitchId(WRITE_VSWITCH.into()),
        vpc: VpcId(WRITE_VPC.into()),
        zone: "cn-hangzhou-h".into(),
        cidr: write,
    });
    for i in 0..vpcs {
        let (vpc, vsw, cidr) = read_vpc(i);
        doc.vpc.push(VpcDoc {
            id: VpcId(vpc.clone()),
            account: account.clone(),
            region: region.clone(),
            cidr,
        });
        doc.vswitch.push(VSwitchDoc {
            id: VSwitchId(vsw),
            vpc: VpcId(vpc),
            zone: "cn-hangzhou-h".into(),
            cidr,
        });
    }
    for j in 0..pairs {
        let (id, ip) = pair_instance(j);
        doc.instance.push(InstanceDoc {
            id: InstanceId(id),
            vswitch: VSwitchId(WRITE_VSWITCH.into()),
            private_ip: ip,
            state: InstanceState::Running,
        });
    }
    doc
}

/// Inserts `n` Available HAVIPs into `vsw` (of `vpc`, block `cidr`) through the store's
/// transaction API, `BATCH` per transaction; returns their IDs.
async fn insert_havips<S: Store>(
    core: &Core<S>,
    vpc: &str,
    vsw: &str,
    cidr: Cidr,
    n: u64,
) -> Result<Vec<String>, String> {
    let mut ids = Vec::with_capacity(n as usize);
    let mut left = n;
    // One vSwitch's hints across the batches, as one server would keep them.
    let hints = Arc::new(Hints::default());
    while left > 0 {
        let take = left.min(BATCH);
        left -= take;
        let (vpc_id, vsw_id) = (VpcId(vpc.into()), VSwitchId(vsw.into()));
        let hints = hints.clone();
        let batch = core
            .store()
            .write(move |tx| {
                let mut rng = rand::thread_rng();
                let region = RegionId(REGION.into());
                let now = chrono::Utc::now().timestamp();
                let mut out = Vec::with_capacity(take as usize);
                for _ in 0..take {
                    let id = new_havip_id(Cloud::Aliyun, &region);
                    let owner = format!("havip:{id}");
                    let ip = claim_any(
                        tx,
                        &vsw_id,
                        cidr,
                        Reserved::of(Cloud::Aliyun),
                        &owner,
                        &hints,
                        &mut rng,
                    )?;
                    tx.havip_insert(&Havip {
                        id: id.clone(),
                        account: AccountId(ACCOUNT.into()),
                        region: region.clone(),
                        vpc: vpc_id.clone(),
                        vswitch: vsw_id.clone(),
                        ip: Ipv4Addr::from(ip),
                        status: HavipStatus::Available,
                        name: format!("bench-{ip}"),
                        description: String::new(),
                        resource_group: None,
                        created_at: now,
                        master: None,
                    })?;
                    out.push(id.0);
                }
                Ok(out)
            })
            .await
            .map_err(|e| format!("seeding {vsw}: {e}"))?;
        ids.extend(batch);
    }
    Ok(ids)
}

/// Seeds `dir` with the benchmark world: `havips` HAVIPs spread `per_vpc` to a read VPC,
/// plus `pairs` HAVIP/instance couples. The directory should be empty (seeding twice adds
/// twice).
pub async fn seed(dir: &Path, havips: u64, per_vpc: u64, pairs: usize) -> Result<Manifest, String> {
    check(havips, per_vpc)?;
    let started = Instant::now();
    let store = SqliteStore::open_dir(dir).map_err(|e| e.to_string())?;
    let core = Core::new(store, CoreConfig::default());
    let m = seed_store(&core, havips, per_vpc, pairs, started).await;
    core.store().close();
    m
}

/// [`seed`] into the PostgreSQL database at `url` (`postgres://user@host:port/db`, migrated
/// on connection), which should be empty.
pub async fn seed_postgres(
    url: &str,
    havips: u64,
    per_vpc: u64,
    pairs: usize,
) -> Result<Manifest, String> {
    check(havips, per_vpc)?;
    let started = Instant::now();
    let store = PgStore::connect(url).await.map_err(|e| e.to_string())?;
    let core = Core::new(store, CoreConfig::default());
    let m = seed_store(&core, havips, per_vpc, pairs, started).await;
    core.store().close();
    m
}

fn check(havips: u64, per_vpc: u64) -> Result<(), String> {
    if per_vpc == 0 || per_vpc > MAX_PER_VPC {
        return Err(format!("per_vpc must be 1..={MAX_PER_VPC}"));
    }
    let vpcs = havips.div_ceil(per_vpc);
    if vpcs > MAX_READ_VPCS {
        return Err(format!(
            "{havips} HAVIPs at {per_vpc} per VPC need {vpcs} VPCs; at most {MAX_READ_VPCS}"
        ));
    }
    Ok(())
}

/// Seeds the benchmark world through `core`'s store (whatever the backend); `started` is
/// when the seeding began (the manifest reports the time since).
pub async fn seed_store<S: Store>(
    core: &Core<S>,
    havips: u64,
    per_vpc: u64,
    pairs: usize,
    started: Instant,
) -> Result<Manifest, String> {
    check(havips, per_vpc)?;
    let vpcs = havips.div_ceil(per_vpc);
    core.world_apply(world(vpcs, pairs))
        .await
        .map_err(|e| format!("applying the bench world: {e}"))?;
    let mut read_vpcs = Vec::new();
    let mut left = havips;
    for i in 0..vpcs {
        let (vpc, vsw, cidr) = read_vpc(i);
        let n = left.min(per_vpc);
        left -= n;
        insert_havips(core, &vpc, &vsw, cidr, n).await?;
        read_vpcs.push(vpc);
    }
    let write: Cidr = "172.16.0.0/12".parse().expect("literal CIDR");
    let pair_havips = insert_havips(core, WRITE_VPC, WRITE_VSWITCH, write, pairs as u64).await?;
    let pairs = pair_havips
        .into_iter()
        .enumerate()
        .map(|(j, h)| (h, pair_instance(j).0))
        .collect();
    Ok(Manifest {
        key_id: KEY_ID.into(),
        secret: SECRET.into(),
        region: REGION.into(),
        read_vpcs,
        write_vswitch: WRITE_VSWITCH.into(),
        pairs,
        havips,
        per_vpc,
        seed_seconds: started.elapsed().as_secs_f64(),
    })
}
