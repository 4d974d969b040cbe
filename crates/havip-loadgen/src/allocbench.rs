//! Micro-benchmark of address allocation: [`havip_core::alloc::claim_any`] in a /8 vSwitch
//! that already holds a million addresses, against the real SQLite transaction (`SqliteTx`
//! behind `Store::write`), with no HTTP and no commit in the timed section.
//!
//! Setup: a world with one /8 VPC and one /8 vSwitch (10.0.0.0/8); one transaction claims
//! `held` addresses through `Tx::ip_claim` (every 16th address from 10.0.0.1, spread over
//! the whole block), and commits. Then one more transaction runs a warm-up of 1,000
//! allocations and times `samples` calls of `claim_any` one by one (`Instant` around each
//! call) as the server makes them (one `Hints` for the vSwitch: next fit, falling back to a
//! random probe when the next address is held, as every 16th is), then `samples` more with no
//! hint (a fresh `Hints` per call: the random probe a vSwitch's first allocation makes); every
//! claimed address stays held, so the block only gets fuller.

use havip_core::alloc::{claim_any, Hints, Reserved};
use havip_core::config::CoreConfig;
use havip_core::store::Store;
use havip_core::types::*;
use havip_core::world::*;
use havip_core::Core;
use havip_store_sqlite::SqliteStore;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The result.
#[derive(Clone, Debug, Serialize)]
pub struct AllocReport {
    /// Addresses held before timing.
    pub held: u64,
    /// Timed calls.
    pub samples: u64,
    /// Median, µs (the server's path: with the vSwitch's hint).
    pub median_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Largest, µs.
    pub max_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Median with no hint (a random first probe), µs.
    pub cold_median_us: f64,
    /// 99th percentile with no hint, µs.
    pub cold_p99_us: f64,
    /// Seconds to seed the held addresses (one transaction).
    pub seed_seconds: f64,
}

const VSW: &str = "vsw-bp1allocbench00000001";

/// Runs the benchmark in `dir` (an empty directory).
pub async fn run(dir: &Path, held: u64, samples: u64) -> Result<AllocReport, String> {
    let cidr: Cidr = "10.0.0.0/8".parse().expect("literal CIDR");
    if held * 16 + 16 >= cidr.size() {
        return Err(format!("{held} addresses spaced by 16 do not fit a /8"));
    }
    let store = SqliteStore::open_dir(dir).map_err(|e| e.to_string())?;
    let core = Core::new(store, CoreConfig::default());
    let mut doc = crate::seed::world(0, 0);
    doc.vpc = vec![VpcDoc {
        id: VpcId("vpc-bp1allocbench00000001".into()),
        account: AccountId(crate::seed::ACCOUNT.into()),
        region: RegionId(crate::seed::REGION.into()),
        cidr,
    }];
    doc.vswitch = vec![VSwitchDoc {
        id: VSwitchId(VSW.into()),
        vpc: VpcId("vpc-bp1allocbench00000001".into()),
        zone: "cn-hangzhou-h".into(),
        cidr,
    }];
    core.world_apply(doc).await.map_err(|e| e.to_string())?;

    let t = Instant::now();
    core.store()
        .write(move |tx| {
            let vsw = VSwitchId(VSW.into());
            let base = cidr.base() + 1;
            for i in 0..held {
                tx.ip_claim(&vsw, base + (i as u32) * 16, "seed")?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    let seed_seconds = t.elapsed().as_secs_f64();

    let (mut ns, mut cold): (Vec<u64>, Vec<u64>) = core
        .store()
        .write(move |tx| {
            let vsw = VSwitchId(VSW.into());
            let mut rng = rand::thread_rng();
            let reserved = Reserved::of(Cloud::Aliyun);
            let hints = Hints::default();
            for i in 0..1_000u32 {
                let owner = format!("warm:{i}");
                claim_any(tx, &vsw, cidr, reserved, &owner, &hints, &mut rng)?;
            }
            let mut out = Vec::with_capacity(samples as usize);
            for i in 0..samples {
                let owner = format!("bench:{i}");
                let t = Instant::now();
                claim_any(tx, &vsw, cidr, reserved, &owner, &hints, &mut rng)?;
                out.push(t.elapsed().as_nanos() as u64);
            }
            let mut cold = Vec::with_capacity(samples as usize);
            for i in 0..samples {
                let owner = format!("cold:{i}");
                let fresh = Hints::default();
                let t = Instant::now();
                claim_any(tx, &vsw, cidr, reserved, &owner, &fresh, &mut rng)?;
                cold.push(t.elapsed().as_nanos() as u64);
            }
            Ok((out, cold))
        })
        .await
        .map_err(|e| e.to_string())?;
    core.store().close();
    ns.sort_unstable();
    cold.sort_unstable();
    let pick = |v: &[u64], q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    let at = |q: f64| pick(&ns, q);
    Ok(AllocReport {
        held,
        samples,
        median_us: at(0.5),
        p90_us: at(0.9),
        p99_us: at(0.99),
        max_us: at(1.0),
        mean_us: ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64 / 1000.0,
        cold_median_us: pick(&cold, 0.5),
        cold_p99_us: pick(&cold, 0.99),
        seed_seconds,
    })
}
