//! havipd: the HAVIP control plane.
//!
//! Startup is one linear sequence, each phase logged: config, store, core, the admin
//! listener (probes answer from here on; `/admin/v1/ready` says 503 until serving), topology,
//! workers, one listener per API, `ports.json`, ready; then wait for a signal, mark draining,
//! drain the API listeners (at most `limits.drain`), stop the workers, close the admin
//! listener. Operations still pending stay in the store and are completed after a restart.

/// mimalloc: glibc malloc serialised the request path on its free lists (a quarter of the
/// CPU under 64 connections); the ceiling in havip-loadgen uses the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod config;
mod dataplane;

use clap::Parser;
use config::{Config, StoreChoice};
use havip_api::serve::{serve, ServeOptions};
use havip_api_aliyun::Aliyun;
use havip_api_baidu::Baidu;
use havip_api_tencent::Tencent;
use havip_core::auth::NonceLedger;
use havip_core::metrics::{MeteredStore, Metrics};
use havip_core::store::Store;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_store_postgres::PgStore;
use havip_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "havipd",
    version,
    about = "HAVIP control plane speaking the Alibaba Cloud VPC HAVIP API"
)]
struct Args {
    /// Configuration file (TOML). Without it, every setting has its default.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides `data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Overrides `topology`.
    #[arg(long)]
    topology: Option<PathBuf>,
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("havipd: {msg}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAVIPD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    // 1. Config.
    let mut cfg = match &args.config {
        Some(p) => Config::load(p).unwrap_or_else(|e| fail(e)),
        None => Config::default(),
    };
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(t) = args.topology {
        cfg.topology = Some(t);
    }
    let token = cfg
        .admin
        .token
        .clone()
        .or_else(|| std::env::var("HAVIPD_ADMIN_TOKEN").ok())
        .unwrap_or_else(|| {
            let t = uuid_like();
            eprintln!("havipd: no admin token configured; using {t}");
            t
        });
    tracing::info!(data_dir = %cfg.data_dir.display(), store = ?cfg.store, mode = ?cfg.operations.mode, "config loaded");

    // 2. Store; the rest is the same for every backend.
    match cfg.store.clone() {
        StoreChoice::Sqlite => {
            let store = SqliteStore::open_dir(&cfg.data_dir)
                .unwrap_or_else(|e| fail(format!("opening the store: {e}")));
            run(cfg, token, store, NodeLinks::default())
                .await
                .store()
                .inner()
                .close();
        }
        StoreChoice::Postgres(url) => {
            std::fs::create_dir_all(&cfg.data_dir)
                .unwrap_or_else(|e| fail(format!("creating {}: {e}", cfg.data_dir.display())));
            let store = PgStore::connect(&url)
                .await
                .unwrap_or_else(|e| fail(format!("opening the store: {e}")));
            // Several nodes may share the database: nonces and cache news go through it.
            let nonces = store.nonce_ledger();
            let links = NodeLinks {
                nonces: Some(nonces.clone()),
                cache_changes: Some(store.watch_caches()),
            };
            run(cfg, token, store, links).await.store().inner().close();
            nonces.close();
        }
    }
    tracing::info!("stopped");
}

/// What ties a node to the other nodes of its store (nothing for SQLite, which has one).
#[derive(Default)]
struct NodeLinks {
    /// The nonces every node has accepted, consulted after this node's own cache.
    nonces: Option<Arc<dyn NonceLedger>>,
    /// Ticks when accounts, keys or regions changed in the store (whichever node wrote them):
    /// the in-memory copies are then reloaded.
    cache_changes: Option<watch::Receiver<u64>>,
}

/// Reloads keys and regions at every tick of `changes` until `stop`.
async fn follow_cache_changes<S: Store>(
    core: Core<S>,
    mut changes: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = changes.changed() => {
                if r.is_err() {
                    return;
                }
            }
            _ = stop.wait_for(|s| *s) => return,
        }
        let tick = *changes.borrow_and_update();
        match core.reload_caches().await {
            Ok(()) => tracing::debug!(tick, "keys and regions reloaded (store changed)"),
            Err(e) => {
                // Next tick (a notice or the generation poll) tries again.
                tracing::warn!(error = %e, "reloading keys and regions failed");
            }
        }
    }
}

/// Phases 3 to 7 over an open store; returns the core once every task has stopped.
async fn run<S: Store>(
    cfg: Config,
    token: String,
    store: S,
    links: NodeLinks,
) -> Core<MeteredStore<S>> {
    // 3. Core and the admin listener (probes and metrics from here on).
    let metrics = Arc::new(Metrics::new());
    let core = Core::new(MeteredStore::new(store, metrics.clone()), cfg.core());
    if let Some(ledger) = links.nonces {
        core.nonces().share_with(ledger);
    }
    let readiness = Arc::new(admin::Readiness::default());
    let admin_l = TcpListener::bind(cfg.listen.admin)
        .await
        .unwrap_or_else(|e| fail(format!("binding {}: {e}", cfg.listen.admin)));
    let admin_addr = admin_l.local_addr().unwrap_or_else(|e| fail(e));
    let admin_router = admin::router(core.clone(), token, metrics.clone(), readiness.clone());
    let (admin_stop_tx, mut admin_stop_rx) = watch::channel(false);
    let admin_task = tokio::spawn(async move {
        let _ = axum::serve(admin_l, admin_router)
            .with_graceful_shutdown(async move {
                let _ = admin_stop_rx.wait_for(|s| *s).await;
            })
            .await;
    });
    tracing::info!(admin = %admin_addr, "admin listening (not ready yet)");

    // 4. Topology.
    if let Some(path) = &cfg.topology {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        let doc: WorldDoc =
            toml::from_str(&text).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        core.world_apply(doc)
            .await
            .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        tracing::info!(topology = %path.display(), "topology applied");
    }
    core.reload_caches().await.unwrap_or_else(|e| fail(e));

    // 5. Workers.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = vec![
        tokio::spawn(havip_worker::run_operations(core.clone(), stop_rx.clone())),
        tokio::spawn(havip_worker::run_housekeeping(
            core.clone(),
            stop_rx.clone(),
        )),
    ];
    if let Some(changes) = links.cache_changes {
        workers.push(tokio::spawn(follow_cache_changes(
            core.clone(),
            changes,
            stop_rx.clone(),
        )));
    }
    if let Some(dp) = dataplane::backend(&cfg.dataplane) {
        workers.push(tokio::spawn(havip_worker::run_dataplane(
            core.clone(),
            dp,
            cfg.dataplane.resync,
            stop_rx.clone(),
        )));
    }

    // 6. Listeners.
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| fail(format!("binding {addr}: {e}")))
    };
    let aliyun_l = bind(cfg.listen.aliyun).await;
    let baidu_l = bind(cfg.listen.baidu).await;
    let tencent_l = bind(cfg.listen.tencent).await;
    let aliyun_addr = aliyun_l.local_addr().unwrap_or_else(|e| fail(e));
    let baidu_addr = baidu_l.local_addr().unwrap_or_else(|e| fail(e));
    let tencent_addr = tencent_l.local_addr().unwrap_or_else(|e| fail(e));
    let opts = ServeOptions {
        max_body: cfg.limits.max_body_bytes,
        drain: cfg.limits.drain.0,
        metrics: Some(metrics.clone()),
        threads: Some(Arc::new(
            havip_api::serve::ConnThreads::start(cfg.listen.connection_threads())
                .unwrap_or_else(|e| fail(format!("starting connection threads: {e}"))),
        )),
    };
    let shutdown = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let aliyun = Arc::new(
        Aliyun::new(core.clone(), "vpc.aliyuncs.com")
            .with_rate_limit(cfg.limits.aliyun_requests_per_second),
    );
    let aliyun_task = tokio::spawn(serve(
        aliyun_l,
        aliyun,
        opts.clone(),
        shutdown(stop_rx.clone()),
    ));
    let baidu = Arc::new(
        Baidu::new(core.clone(), cfg.baidu.default_region.clone())
            .with_rate_limit(cfg.limits.baidu_requests_per_second),
    );
    let baidu_task = tokio::spawn(serve(
        baidu_l,
        baidu,
        opts.clone(),
        shutdown(stop_rx.clone()),
    ));
    let tencent = Arc::new(Tencent::new(
        core.clone(),
        cfg.limits.tencent_requests_per_second,
    ));
    let tencent_task = tokio::spawn(serve(
        tencent_l,
        tencent,
        opts.clone(),
        shutdown(stop_rx.clone()),
    ));
    tracing::info!(admin = %admin_addr, aliyun = %aliyun_addr, baidu = %baidu_addr, tencent = %tencent_addr, "listening");
    write_ports(
        &cfg.data_dir,
        &admin_addr.to_string(),
        &aliyun_addr.to_string(),
        &baidu_addr.to_string(),
        &tencent_addr.to_string(),
    );
    readiness.set_serving();

    // 7. Wait for a signal, then drain.
    wait_for_signal().await;
    tracing::info!("shutting down: draining requests");
    readiness.set_draining();
    let _ = stop_tx.send(true);
    let _ = aliyun_task.await;
    let _ = baidu_task.await;
    let _ = tencent_task.await;
    for w in workers {
        let _ = w.await;
    }
    // The admin listener last, so probes see "draining" until the API listeners closed.
    let _ = admin_stop_tx.send(true);
    if tokio::time::timeout(cfg.limits.drain.0, admin_task)
        .await
        .is_err()
    {
        tracing::warn!("admin listener did not close within the drain deadline");
    }
    let pending = core
        .operations_pending()
        .await
        .map(|o| o.len())
        .unwrap_or(0);
    tracing::info!(
        pending_operations = pending,
        "drained; pending operations resume at the next start"
    );
    core
}

fn uuid_like() -> String {
    havip_core::ids::new_request_id().to_lowercase()
}

/// Writes `ports.json` atomically (write, then rename).
fn write_ports(dir: &std::path::Path, admin: &str, aliyun: &str, baidu: &str, tencent: &str) {
    let body =
        serde_json::json!({"admin": admin, "aliyun": aliyun, "baidu": baidu, "tencent": tencent})
            .to_string();
    let tmp = dir.join("ports.json.tmp");
    let done =
        std::fs::write(&tmp, body).and_then(|_| std::fs::rename(&tmp, dir.join("ports.json")));
    if let Err(e) = done {
        fail(format!("writing ports.json: {e}"));
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).unwrap_or_else(|e| fail(e));
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
