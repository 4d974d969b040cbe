//! `havip-lab up|status|down --config FILE`: the data plane (Linux or OVN) of havipd's
//! topology in network namespaces (root).

use clap::{Parser, Subcommand};
use havip_lab::LabConfig;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "havip-lab",
    about = "Build, show or remove the network-namespace lab of a havipd topology (root)"
)]
struct Args {
    /// havipd's configuration file (its `topology` and `[dataplane]` are used).
    #[arg(long, global = true, default_value = "demo/lab.toml")]
    config: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Builds the namespaces, bridges and ports of the topology (idempotent); for OVN with a
    /// run_dir, starts the OVS and OVN daemons first.
    Up,
    /// Shows namespaces, links, the guard's sets and the EIP map (OVN: the northbound rows
    /// and each virtual port's southbound virtual_parent).
    Status,
    /// Removes every namespace under the prefix (processes inside get SIGTERM); for OVN,
    /// also this prefix's northbound rows and the lab's daemons.
    Down,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAVIPD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = LabConfig::load(&args.config).unwrap_or_else(|e| fail(e));
    let p = cfg.dataplane.prefix.clone();
    match args.cmd {
        Cmd::Up => {
            let n = havip_lab::up(&cfg).await.unwrap_or_else(|e| fail(e));
            println!(
                "lab {p}: {n} changes; fabric namespace {p}-fabric, instances in {p}-<instance id>"
            );
            println!("enter one with: ip netns exec {p}-<instance id> bash");
        }
        Cmd::Status => print!(
            "{}",
            havip_lab::status(&cfg.dataplane).unwrap_or_else(|e| fail(e))
        ),
        Cmd::Down => {
            for ns in havip_lab::down(&cfg.dataplane).unwrap_or_else(|e| fail(e)) {
                println!("removed {ns}");
            }
        }
    }
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("havip-lab: {msg}");
    std::process::exit(2);
}
