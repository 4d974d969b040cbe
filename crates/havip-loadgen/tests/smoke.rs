//! Smoke test of the load generator: a real havip server (the same pieces havipd wires
//! together: SQLite store, core with `operations.mode = immediate`, operation worker, the
//! Alibaba dialect on `havip_api::serve`) on 127.0.0.1:0, a small seeded world, and every
//! Alibaba scenario run for a few hundred milliseconds. It checks that the generator signs
//! requests the server accepts and reads real answers; it measures nothing.

use havip_api::serve::{serve, ServeOptions};
use havip_api_aliyun::Aliyun;
use havip_core::config::{CoreConfig, OpTiming};
use havip_core::Core;
use havip_loadgen::aliyun::{SigVersion, Signer};
use havip_loadgen::scenario::{run_aliyun, AliyunCtx, RunOpts, Scenario};
use havip_loadgen::seed;
use havip_store_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_should_get_signed_answers_from_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = seed::seed(dir.path(), 300, 100, 4).await.unwrap();
    assert_eq!(manifest.read_vpcs.len(), 3);

    let mut cfg = CoreConfig {
        timing: OpTiming::Immediate,
        ..CoreConfig::default()
    };
    for (_, q) in cfg.quotas.iter_mut() {
        q.havips_per_vpc = 1_000_000;
        q.havips_per_account = 1_000_000;
    }
    let core = Core::new(SqliteStore::open_dir(dir.path()).unwrap(), cfg);
    core.reload_caches().await.unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(havip_worker::run_operations(core.clone(), stop_rx.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut rx = stop_rx.clone();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(Aliyun::new(core.clone(), "vpc.aliyuncs.com")),
        ServeOptions::default(),
        async move {
            let _ = rx.wait_for(|s| *s).await;
        },
    ));

    let ctx = |version| AliyunCtx {
        signer: Signer {
            key_id: manifest.key_id.clone(),
            secret: manifest.secret.clone(),
            host: addr.to_string(),
            version,
        },
        manifest: manifest.clone(),
    };
    let opts = |connections, ms, probes| RunOpts {
        targets: vec![addr],
        connections,
        duration: Duration::from_millis(ms),
        warmup: Duration::from_millis(50),
        probes,
    };

    for version in [SigVersion::V3, SigVersion::V2] {
        let s = run_aliyun(Scenario::Describe, ctx(version), opts(4, 250, 0)).await;
        assert!(
            s.ok > 0 && s.failed == 0,
            "describe {version:?}: {}",
            s.human()
        );
        assert!(s.response_bytes > 1000, "ten items expected: {}", s.human());
    }
    let s = run_aliyun(Scenario::Create, ctx(SigVersion::V3), opts(4, 300, 1)).await;
    assert!(s.ok > 0 && s.failed == 0, "create: {}", s.human());
    let conv = s
        .convergence
        .as_ref()
        .expect("the probe saw creations complete");
    assert!(conv.count > 0, "create: {}", s.human());
    let s = run_aliyun(Scenario::Associate, ctx(SigVersion::V3), opts(4, 300, 0)).await;
    assert!(s.ok > 0 && s.failed == 0, "associate: {}", s.human());
    assert!(
        s.counters.get("cycles").copied().unwrap_or(0) > 0,
        "associate: {}",
        s.human()
    );
    let s = run_aliyun(Scenario::Mix, ctx(SigVersion::V3), opts(4, 250, 0)).await;
    assert!(s.ok > 0 && s.failed == 0, "mix: {}", s.human());

    // Two targets (a second listener on the same core stands for a second node): the
    // clients are split between them and each request is signed for its server's Host.
    let listener2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr2 = listener2.local_addr().unwrap();
    let mut rx2 = stop_rx.clone();
    let server2 = tokio::spawn(serve(
        listener2,
        Arc::new(Aliyun::new(core.clone(), "vpc.aliyuncs.com")),
        ServeOptions::default(),
        async move {
            let _ = rx2.wait_for(|s| *s).await;
        },
    ));
    let two = RunOpts {
        targets: vec![addr, addr2],
        ..opts(4, 250, 1)
    };
    assert_eq!(
        (two.target_of(0), two.target_of(1), two.target_of(2)),
        (addr, addr2, addr)
    );
    let s = run_aliyun(Scenario::Create, ctx(SigVersion::V3), two).await;
    assert!(
        s.ok > 0 && s.failed == 0,
        "create on two targets: {}",
        s.human()
    );
    assert_eq!(s.target, format!("{addr},{addr2}"));

    let _ = stop_tx.send(true);
    let _ = server2.await;
    let _ = server.await;
    let _ = worker.await;
    core.store().close();
}

#[tokio::test]
async fn ceiling_should_answer_the_requested_number_of_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(havip_loadgen::ceiling::serve(
        listener,
        havip_loadgen::ceiling::body_of(777),
    ));
    let mut conn = havip_loadgen::client::Conn::new(addr);
    for _ in 0..3 {
        let req = http::Request::builder()
            .uri("/")
            .header("host", addr.to_string())
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let (status, body) = conn.send(req).await.unwrap();
        assert_eq!((status, body.len()), (200, 777));
    }
    assert_eq!(
        conn.opened, 1,
        "keep-alive: one connection for every request"
    );
    server.abort();
}
