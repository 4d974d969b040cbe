//! Start-up and memory of havipd over a large store: spawns the real binary on an existing
//! data directory, measures the time from `spawn` to the first successful signed
//! DescribeHaVips answer (polling `ports.json` every millisecond, then retrying the request),
//! reads the resident set from `/proc/<pid>/status` idle and after a Describe load, then
//! stops the process with SIGTERM.

use crate::aliyun::{SigVersion, Signer};
use crate::client::Conn;
use crate::scenario::{run_aliyun, AliyunCtx, RunOpts, Scenario};
use crate::seed::Manifest;
use crate::stats::Summary;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a restart showed.
#[derive(Clone, Debug, Serialize)]
pub struct RestartReport {
    /// Milliseconds from spawn to `ports.json`.
    pub ports_ms: f64,
    /// Milliseconds from spawn to the first 200 answer to a signed DescribeHaVips.
    pub first_answer_ms: f64,
    /// VmRSS right after the first answer, MiB.
    pub rss_idle_mib: f64,
    /// VmRSS after the Describe load, MiB.
    pub rss_loaded_mib: f64,
    /// VmHWM (peak resident set) at the end, MiB.
    pub rss_peak_mib: f64,
    /// The Describe load run in between.
    pub load: Summary,
}

fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN)
}

/// Reads the Alibaba listener from `<data_dir>/ports.json`.
pub fn aliyun_addr(data_dir: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(data_dir.join("ports.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["aliyun"].as_str()?.parse().ok()
}

/// Spawns `havipd --config config --data-dir data_dir` and measures it.
pub async fn measure(
    havipd: &Path,
    config: &Path,
    data_dir: &Path,
    manifest: Manifest,
    load: Duration,
    connections: usize,
) -> Result<RestartReport, String> {
    let _ = std::fs::remove_file(data_dir.join("ports.json"));
    let log =
        std::fs::File::create(data_dir.join("havipd-restart.log")).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(havipd)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", havipd.display()))?;
    let pid = child.id();
    let result = async {
        let deadline = started + Duration::from_secs(30);
        let addr = loop {
            if let Some(a) = aliyun_addr(data_dir) {
                break a;
            }
            if Instant::now() > deadline {
                return Err("no ports.json within 30 s".to_string());
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("havipd exited early: {st}"));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let ports_ms = started.elapsed().as_secs_f64() * 1000.0;
        let signer = Signer {
            key_id: manifest.key_id.clone(),
            secret: manifest.secret.clone(),
            host: addr.to_string(),
            version: SigVersion::V3,
        };
        let vpc = manifest.read_vpcs.first().cloned().unwrap_or_default();
        let first_answer_ms = loop {
            let mut conn = Conn::new(addr);
            let req = signer.request(
                "DescribeHaVips",
                &[
                    ("RegionId", &manifest.region),
                    ("PageSize", "10"),
                    ("Filter.1.Key", "VpcId"),
                    ("Filter.1.Value.1", &vpc),
                ],
            );
            if let Ok((200, _)) = conn.send(req).await {
                break started.elapsed().as_secs_f64() * 1000.0;
            }
            if Instant::now() > deadline {
                return Err("no successful answer within 30 s".to_string());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let rss_idle_mib = status_kib(pid, "VmRSS:") / 1024.0;
        let opts = RunOpts {
            targets: vec![addr],
            connections,
            duration: load,
            warmup: Duration::ZERO,
            probes: 0,
        };
        let load = run_aliyun(Scenario::Describe, AliyunCtx { signer, manifest }, opts).await;
        Ok(RestartReport {
            ports_ms,
            first_answer_ms,
            rss_idle_mib,
            rss_loaded_mib: status_kib(pid, "VmRSS:") / 1024.0,
            rss_peak_mib: status_kib(pid, "VmHWM:") / 1024.0,
            load,
        })
    }
    .await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let stop = Instant::now() + Duration::from_secs(15);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            _ if Instant::now() > stop => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    result
}
