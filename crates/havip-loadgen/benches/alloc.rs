//! `cargo bench -p havip-loadgen --bench alloc`: `claim_any` in a /8 vSwitch holding a
//! million addresses, against the real SQLite transaction (see `havip_loadgen::allocbench`).
//! A plain timed loop, no harness; `HAVIP_ALLOC_HELD` / `HAVIP_ALLOC_SAMPLES` override the
//! sizes.

fn main() {
    let env = havip_loadgen::bench_env;
    let held = env("HAVIP_ALLOC_HELD", 1_000_000);
    let samples = env("HAVIP_ALLOC_SAMPLES", 20_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let r = rt
        .block_on(havip_loadgen::allocbench::run(dir.path(), held, samples))
        .expect("the allocation benchmark runs");
    println!(
        "claim_any, /8 holding {} addresses: median {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, max {:.1} µs over {} calls; with no hint: median {:.2} µs, p99 {:.2} µs (seeded in {:.1} s)",
        r.held, r.median_us, r.p90_us, r.p99_us, r.max_us, r.samples, r.cold_median_us, r.cold_p99_us, r.seed_seconds
    );
}
