//! `cargo bench -p havip-loadgen --bench create`: durable Create through the core and the
//! SQLite store, without HTTP: `HAVIP_CREATE_CLIENTS` (64) tasks each creating in a loop
//! (automatic address, the benchmark's write vSwitch) while the operation worker completes
//! them, until `HAVIP_CREATE_TOTAL` (50,000) are acknowledged. Reports the rate and the CPU
//! time each thread spent per Create (from /proc; Linux only), which is steadier than the rate
//! on a shared machine. `HAVIP_CREATE_SEED` (100,000) HAVIPs are seeded first.

use havip_core::config::{CoreConfig, OpTiming};
use havip_core::ctx::Ctx;
use havip_core::service::CreateHavip;
use havip_core::types::{AccountId, Cloud, RegionId, VSwitchId};
use havip_core::Core;
use havip_loadgen::seed;
use havip_store_sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// CPU ticks (user + system) per thread name.
fn thread_ticks() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks = f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        *out.entry(comm.trim().to_string()).or_default() += ticks;
    }
    out
}

fn main() {
    let env = havip_loadgen::bench_env;
    let clients = env("HAVIP_CREATE_CLIENTS", 64);
    let total = env("HAVIP_CREATE_TOTAL", 50_000);
    let seeded = env("HAVIP_CREATE_SEED", 100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async move {
        seed::seed(dir.path(), seeded, 1000, 64)
            .await
            .expect("seeding");
        let store = SqliteStore::open_dir(dir.path()).expect("the store opens");
        let mut cfg = CoreConfig {
            timing: OpTiming::Immediate,
            ..CoreConfig::default()
        };
        for (_, q) in cfg.quotas.iter_mut() {
            q.havips_per_vpc = u32::MAX;
            q.havips_per_account = u32::MAX;
        }
        let core = Core::new(store, cfg);
        core.reload_caches().await.expect("caches load");
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(havip_worker::run_operations(core.clone(), stop_rx));
        let done = Arc::new(AtomicU64::new(0));
        let before = thread_ticks();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let core = core.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let ctx = Ctx {
                    account: AccountId(seed::ACCOUNT.into()),
                    cloud: Cloud::Aliyun,
                    region: RegionId(seed::REGION.into()),
                    request_id: String::new(),
                    idempotency: None,
                    track_tasks: false,
                };
                while done.fetch_add(1, Ordering::Relaxed) < total {
                    let req = CreateHavip {
                        vswitch: Some(VSwitchId(seed::WRITE_VSWITCH.into())),
                        vpc: None,
                        ip: None,
                        name: String::new(),
                        description: String::new(),
                        resource_group: None,
                        tags: Vec::new(),
                    };
                    core.havip_create(&ctx, req).await.expect("create");
                }
            }));
        }
        for t in tasks {
            t.await.expect("client task");
        }
        let secs = started.elapsed().as_secs_f64();
        let _ = stop.send(true);
        let _ = worker.await;
        let after = thread_ticks();
        let tick_us = 1e6 / 100.0;
        println!(
            "{total} creates, {clients} clients: {:.0}/s; CPU µs per create by thread:",
            total as f64 / secs
        );
        let mut sum = 0.0;
        for (name, t) in &after {
            let d = t - before.get(name).copied().unwrap_or(0);
            let us = d as f64 * tick_us / total as f64;
            sum += us;
            if us >= 0.05 {
                println!("  {name:<20} {us:8.2}");
            }
        }
        println!("  {:<20} {sum:8.2}", "all");
        core.store().close();
    });
}
