//! `cargo bench -p havip-loadgen --bench sigpath`: the CPU of the signed request path without
//! sockets, in two parts: the generator signing V3 DescribeHaVips requests as the Describe
//! scenario does (fresh nonce and timestamp each), and the Alibaba dialect answering them
//! (`Aliyun::handle`: decoding, signature, clock and nonce checks, parameters and the
//! response cache, which answers all but the first request per VPC). Reports ns per request
//! for each part. `HAVIP_SIG_N` (20,000) requests over `HAVIP_SIG_SEED` (1,000) HAVIPs, 100
//! per VPC.
//!
//! For repeatable counts on a noisy machine, run the binary under
//! `valgrind --tool=callgrind` and read the inclusive cost of `sign_all` and `serve_all`
//! (note that valgrind hides SHA-NI, so SHA-256 is counted in its portable form).

use bytes::Bytes;
use havip_api::{Dialect, RawRequest};
use havip_api_aliyun::Aliyun;
use havip_core::config::CoreConfig;
use havip_core::Core;
use havip_loadgen::aliyun::{SigVersion, Signer};
use havip_loadgen::scenario::describe_vpc_req;
use havip_loadgen::seed::{self, Manifest};
use havip_store_sqlite::SqliteStore;
use http_body_util::Full;
use std::time::Instant;

/// The request as the listener would hand it over (`havip_api::serve::read_request`).
fn to_raw(req: http::Request<Full<Bytes>>) -> RawRequest {
    let (parts, _) = req.into_parts();
    RawRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                let v = v.to_str().expect("the signer writes text headers");
                (n.as_str().to_string(), v.to_string())
            })
            .collect(),
        body: Bytes::new(),
        body_too_large: false,
        bad_header: false,
    }
}

#[inline(never)]
fn sign_all(signer: &Signer, m: &Manifest, n: usize) -> Vec<http::Request<Full<Bytes>>> {
    (0..n)
        .map(|i| describe_vpc_req(signer, m, &m.read_vpcs[i % m.read_vpcs.len()]))
        .collect()
}

#[inline(never)]
async fn serve_all(d: &Aliyun<SqliteStore>, reqs: Vec<RawRequest>) -> usize {
    let mut ok = 0;
    for r in reqs {
        if d.handle(r).await.status == 200 {
            ok += 1;
        }
    }
    ok
}

fn main() {
    let env = havip_loadgen::bench_env;
    let n = env("HAVIP_SIG_N", 20_000) as usize;
    let seeded = env("HAVIP_SIG_SEED", 1_000).max(100);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async move {
        let m = seed::seed(dir.path(), seeded, 100, 0)
            .await
            .expect("seeding");
        let store = SqliteStore::open_dir(dir.path()).expect("the store opens");
        let core = Core::new(store, CoreConfig::default());
        core.reload_caches().await.expect("caches load");
        let dialect = Aliyun::new(core.clone(), "vpc.aliyuncs.com");
        let signer = Signer {
            key_id: m.key_id.clone(),
            secret: m.secret.clone(),
            host: "127.0.0.1:8080".into(),
            version: SigVersion::V3,
        };
        // Fill the response cache: one answer per VPC.
        let warm = sign_all(&signer, &m, m.read_vpcs.len());
        let warm: Vec<RawRequest> = warm.into_iter().map(to_raw).collect();
        assert_eq!(serve_all(&dialect, warm).await, m.read_vpcs.len());

        let t = Instant::now();
        let reqs = sign_all(&signer, &m, n);
        let sign_ns = t.elapsed().as_nanos() as f64 / n as f64;
        let raw: Vec<RawRequest> = reqs.into_iter().map(to_raw).collect();
        let t = Instant::now();
        let ok = serve_all(&dialect, raw).await;
        let serve_ns = t.elapsed().as_nanos() as f64 / n as f64;
        assert_eq!(ok, n, "every request verifies");
        println!("{n} V3 DescribeHaVips: sign {sign_ns:.0} ns, serve {serve_ns:.0} ns per request");
        core.store().close();
    });
}
