//! `havip-loadgen`: the command line of the benchmark tooling. Every subcommand prints a
//! human summary on stderr and, with `--json FILE`, writes its result as JSON.

/// mimalloc: glibc malloc serialised the request path on its free lists (a quarter of the
/// CPU under 64 connections); the ceiling in havip-loadgen uses the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use havip_loadgen::aliyun::{SigVersion, Signer};
use havip_loadgen::scenario::{self, AliyunCtx, MotoWorld, RunOpts, Scenario};
use havip_loadgen::seed::Manifest;
use havip_loadgen::{allocbench, ceiling, fsync, restart, seed, MAX_DURATION};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "havip-loadgen",
    about = "Load generator and baselines for havip"
)]
struct Cli {
    /// Tokio worker threads of the generator itself (1 = current-thread runtime).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Seeds a data directory (or, with --store, a PostgreSQL database) with the benchmark
    /// world and N HAVIPs (in-process, through the store's transaction API) and writes the
    /// manifest the runs need.
    Seed {
        /// SQLite: the data directory havipd will open.
        #[arg(long, required_unless_present = "store", conflicts_with = "store")]
        data_dir: Option<PathBuf>,
        /// PostgreSQL instead: `postgres://user[:password]@host[:port]/db` (an empty
        /// database; migrated on connection, as havipd does).
        #[arg(long)]
        store: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        havips: u64,
        #[arg(long, default_value_t = 1_000)]
        per_vpc: u64,
        /// HAVIP/instance couples for the Associate scenario (one per client).
        #[arg(long, default_value_t = 64)]
        pairs: usize,
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Runs one scenario against havipd (or the ceiling, which answers anything) or moto.
    /// Several targets (repeated or comma-separated --target / --ports-file) split the
    /// connections evenly: client i talks to target i mod N.
    Run {
        /// Server address(es); or give --ports-file.
        #[arg(long, value_delimiter = ',')]
        target: Vec<SocketAddr>,
        /// havipd's `ports.json` (its `aliyun` address is a target); may be repeated.
        #[arg(long, value_delimiter = ',')]
        ports_file: Vec<PathBuf>,
        #[arg(long, value_enum)]
        scenario: Scenario,
        /// The seed manifest (Alibaba scenarios).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// The moto world (moto scenarios).
        #[arg(long)]
        moto_world: Option<PathBuf>,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Measured window, e.g. `10s`, `500ms` (at most 120 s).
        #[arg(long, default_value = "10s", value_parser = parse_dur)]
        duration: Duration,
        /// Unrecorded warm-up before the window.
        #[arg(long, default_value = "1s", value_parser = parse_dur)]
        warmup: Duration,
        /// Convergence probe clients (Create), on top of --connections.
        #[arg(long, default_value_t = 0)]
        probes: usize,
        /// Signature generation: v3 (ACS3-HMAC-SHA256) or v2 (HMAC-SHA1).
        #[arg(long, default_value = "v3")]
        sig: SigVersion,
        /// Label written into the JSON (defaults to the scenario name).
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Serves fixed bytes over hyper 1 (the ceiling baseline) until killed.
    Ceiling {
        /// Body size, bytes.
        #[arg(long)]
        bytes: usize,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Written with the bound address once listening.
        #[arg(long)]
        port_file: PathBuf,
    },
    /// Seeds moto with VPCs, subnets and ENIs.
    MotoSeed {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 10)]
        vpcs: usize,
        #[arg(long, default_value_t = 100)]
        enis_per: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Measures the disk's single-commit ceiling (raw 4 KiB fdatasync and SQLite WAL FULL).
    Fsync {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "3s", value_parser = parse_dur)]
        each: Duration,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Times `claim_any` in a /8 holding `--held` addresses (real SQLite Tx).
    Alloc {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        held: u64,
        #[arg(long, default_value_t = 20_000)]
        samples: u64,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Spawns havipd on a seeded data directory: time to first answer, resident memory.
    Restart {
        #[arg(long)]
        havipd: PathBuf,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        manifest: PathBuf,
        #[arg(long, default_value = "3s", value_parser = parse_dur)]
        load: Duration,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn parse_dur(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 10s or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: expected e.g. 10s or 500ms")),
    };
    let d = Duration::from_secs_f64(secs);
    if d > MAX_DURATION {
        return Err(format!(
            "{s:?} is over the {} s bound",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("havip-loadgen: {msg}");
    std::process::exit(2);
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> T {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| fail(format!("{}: {e}", p.display())));
    serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("{}: {e}", p.display())))
}

fn write_json(p: Option<&Path>, v: &impl Serialize) {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|e| fail(e));
    match p {
        Some(p) => {
            std::fs::write(p, text).unwrap_or_else(|e| fail(format!("{}: {e}", p.display())))
        }
        None => println!("{text}"),
    }
}

fn main() {
    let cli = Cli::parse();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .unwrap_or_else(|e| fail(e));
    rt.block_on(run(cli.cmd));
}

async fn run(cmd: Cmd) {
    match cmd {
        Cmd::Seed {
            data_dir,
            store,
            havips,
            per_vpc,
            pairs,
            manifest,
        } => {
            let m = match (store, data_dir) {
                (Some(url), _) => seed::seed_postgres(&url, havips, per_vpc, pairs).await,
                (None, Some(dir)) => seed::seed(&dir, havips, per_vpc, pairs).await,
                (None, None) => fail("give --data-dir or --store"),
            }
            .unwrap_or_else(|e| fail(e));
            eprintln!(
                "seeded {} HAVIPs in {} VPCs (+{} couples) in {:.1} s",
                m.havips,
                m.read_vpcs.len(),
                m.pairs.len(),
                m.seed_seconds
            );
            write_json(Some(&manifest), &m);
        }
        Cmd::Run {
            target,
            ports_file,
            scenario,
            manifest,
            moto_world,
            connections,
            duration,
            warmup,
            probes,
            sig,
            label,
            json,
        } => {
            let mut targets = target;
            for p in &ports_file {
                let addr = p
                    .parent()
                    .and_then(restart::aliyun_addr)
                    .unwrap_or_else(|| fail(format!("{}: no aliyun address", p.display())));
                targets.push(addr);
            }
            if targets.is_empty() {
                fail("give --target or --ports-file");
            }
            let target = targets[0];
            let opts = RunOpts {
                targets,
                connections,
                duration,
                warmup,
                probes,
            };
            let mut summary = match scenario {
                Scenario::MotoDescribe | Scenario::MotoCreate => {
                    let w: MotoWorld = read_json(
                        &moto_world.unwrap_or_else(|| fail("moto scenarios need --moto-world")),
                    );
                    scenario::run_moto(scenario, w, opts).await
                }
                _ => {
                    let m: Manifest =
                        read_json(&manifest.unwrap_or_else(|| fail("--manifest is required")));
                    let signer = Signer {
                        key_id: m.key_id.clone(),
                        secret: m.secret.clone(),
                        host: target.to_string(),
                        version: sig,
                    };
                    scenario::run_aliyun(
                        scenario,
                        AliyunCtx {
                            signer,
                            manifest: m,
                        },
                        opts,
                    )
                    .await
                }
            };
            if let Some(l) = label {
                summary.scenario = l;
            }
            eprintln!("{}", summary.human());
            write_json(json.as_deref(), &summary);
        }
        Cmd::Ceiling {
            bytes,
            listen,
            port_file,
        } => {
            let l = tokio::net::TcpListener::bind(listen)
                .await
                .unwrap_or_else(|e| fail(format!("bind {listen}: {e}")));
            let addr = l.local_addr().unwrap_or_else(|e| fail(e));
            let tmp = port_file.with_extension("tmp");
            std::fs::write(&tmp, addr.to_string())
                .and_then(|_| std::fs::rename(&tmp, &port_file))
                .unwrap_or_else(|e| fail(e));
            eprintln!("ceiling: {bytes} bytes on {addr}");
            ceiling::serve(l, ceiling::body_of(bytes)).await;
        }
        Cmd::MotoSeed {
            target,
            vpcs,
            enis_per,
            out,
        } => {
            let w = scenario::moto_seed(target, vpcs, enis_per)
                .await
                .unwrap_or_else(|e| fail(e));
            eprintln!(
                "moto: {} VPCs, {} ENIs in {:.1} s",
                w.vpcs.len(),
                w.enis,
                w.seed_seconds
            );
            write_json(Some(&out), &w);
        }
        Cmd::Fsync { dir, each, json } => {
            let r = fsync::measure(&dir, each).unwrap_or_else(|e| fail(e));
            eprintln!(
                "fsync: raw 4 KiB overwrite+fdatasync {:.0}/s (p50 {:.3} ms); sqlite WAL FULL 1 row/txn {:.0}/s (p50 {:.3} ms)",
                r.raw_commits_per_s, r.raw_latency.p50_ms, r.sqlite_commits_per_s, r.sqlite_latency.p50_ms
            );
            write_json(json.as_deref(), &r);
        }
        Cmd::Alloc {
            dir,
            held,
            samples,
            json,
        } => {
            let r = allocbench::run(&dir, held, samples)
                .await
                .unwrap_or_else(|e| fail(e));
            eprintln!(
                "claim_any in a /8 holding {} addresses: median {:.2} µs, p99 {:.2} µs, max {:.1} µs ({} samples); with no hint: median {:.2} µs, p99 {:.2} µs",
                r.held, r.median_us, r.p99_us, r.max_us, r.samples, r.cold_median_us, r.cold_p99_us
            );
            write_json(json.as_deref(), &r);
        }
        Cmd::Restart {
            havipd,
            config,
            data_dir,
            manifest,
            load,
            connections,
            json,
        } => {
            let m: Manifest = read_json(&manifest);
            let r = restart::measure(&havipd, &config, &data_dir, m, load, connections)
                .await
                .unwrap_or_else(|e| fail(e));
            eprintln!(
                "restart: ports.json after {:.0} ms, first answer after {:.0} ms; RSS idle {:.1} MiB, after load {:.1} MiB, peak {:.1} MiB",
                r.ports_ms, r.first_answer_ms, r.rss_idle_mib, r.rss_loaded_mib, r.rss_peak_mib
            );
            eprintln!("{}", r.load.human());
            write_json(json.as_deref(), &r);
        }
    }
}
