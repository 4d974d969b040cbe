//! The daemons of a single-host OVN lab: Open vSwitch (ovsdb-server, ovs-vswitchd with the
//! userspace `netdev` datapath) and OVN (northbound and southbound ovsdb-servers,
//! ovn-northd, ovn-controller), all under one run directory with their own databases,
//! sockets, pid, log and control files, and all inside the lab's fabric namespace
//! (`<prefix>-fabric`), so the taps the userspace datapath creates (`ovs-netdev`, the
//! bridge's own port) never appear in the host's namespace.
//!
//! [`start`] is idempotent (a daemon whose pid file names a live process is left alone);
//! [`stop`] ends them (ovs-vswitchd with `exit --cleanup`) and waits, bounded.

use super::OvnNames;
use crate::config::OvnConfig;
use crate::desired::Names;
use crate::linux::{ip, ip_tolerant, run};
use crate::DataPlaneError;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the Open vSwitch and OVN schemas are installed (Debian's openvswitch-common and
/// ovn-common).
pub const OVS_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
/// The northbound schema.
pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
/// The southbound schema.
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

/// The daemons in start order, by pid-file stem.
const DAEMONS: [&str; 6] = [
    "ovsdb-server",
    "ovs-vswitchd",
    "ovn-nb",
    "ovn-sb",
    "ovn-northd",
    "ovn-controller",
];

/// The `[dataplane.ovn]` settings of a lab running in `dir` (chassis `<prefix>-chassis`).
pub fn config_for(dir: &Path, prefix: &str) -> OvnConfig {
    let sock = |s: &str| format!("unix:{}", dir.join(s).display());
    OvnConfig {
        nb: sock("nb.sock"),
        sb: sock("sb.sock"),
        gateway_chassis: format!("{prefix}-chassis"),
        ovs: Some(sock("ovs.sock")),
        run_dir: Some(dir.to_path_buf()),
    }
}

/// Checks that `cfg`'s remotes are the sockets of its `run_dir` (what [`start`] creates).
pub fn check_config(cfg: &OvnConfig) -> Result<PathBuf, String> {
    let dir = cfg
        .run_dir
        .clone()
        .ok_or("[dataplane.ovn] has no run_dir: the daemons are not this lab's to start")?;
    let want = |s: &str| format!("unix:{}", dir.join(s).display());
    if cfg.nb != want("nb.sock")
        || cfg.sb != want("sb.sock")
        || cfg.ovs.as_deref() != Some(want("ovs.sock").as_str())
    {
        return Err(format!(
            "with run_dir = {:?}, nb, sb and ovs must be {}, {} and {}",
            dir.display(),
            want("nb.sock"),
            want("sb.sock"),
            want("ovs.sock")
        ));
    }
    Ok(dir)
}

fn alive(dir: &Path, stem: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join(format!("{stem}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    std::path::Path::new(&format!("/proc/{pid}"))
        .exists()
        .then_some(pid)
}

/// Runs `program args` inside the fabric namespace with the OVS/OVN directories set to `dir`.
fn in_fabric(
    fabric: &str,
    dir: &Path,
    program: &str,
    args: &[&str],
) -> Result<String, DataPlaneError> {
    let d = dir.display().to_string();
    let envs: Vec<String> = [
        "OVS_RUNDIR",
        "OVS_LOGDIR",
        "OVS_DBDIR",
        "OVN_RUNDIR",
        "OVN_LOGDIR",
        "OVN_DBDIR",
    ]
    .iter()
    .map(|k| format!("{k}={d}"))
    .collect();
    let mut a: Vec<&str> = vec!["netns", "exec", fabric, "env"];
    a.extend(envs.iter().map(String::as_str));
    a.push(program);
    a.extend_from_slice(args);
    run("ip", &a, None)
}

/// Starts every daemon that is not running, in `dir`, inside `<prefix>-fabric` (created if
/// missing), and waits until the chassis has registered in the southbound database.
pub fn start(dir: &Path, prefix: &str) -> Result<(), DataPlaneError> {
    let names = Names::new(prefix);
    let fabric = names.fabric();
    let cfg = config_for(dir, prefix);
    std::fs::create_dir_all(dir).map_err(|e| DataPlaneError::Command {
        command: format!("mkdir {}", dir.display()),
        message: e.to_string(),
    })?;
    ip_tolerant(&["netns", "add", &fabric])?;
    ip(&["-n", &fabric, "link", "set", "lo", "up"])?;
    let p = |f: &str| dir.join(f).display().to_string();
    let f = fabric.as_str();
    let daemon = |stem: &str, program: &str, args: &[&str]| -> Result<(), DataPlaneError> {
        if alive(dir, stem).is_some() {
            return Ok(());
        }
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.push(format!("--pidfile={}", p(&format!("{stem}.pid"))));
        a.push(format!("--log-file={}", p(&format!("{stem}.log"))));
        a.push("--detach".into());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        in_fabric(f, dir, program, &a).map(|_| ())
    };
    let create_db = |db: &str, schema: &str| -> Result<(), DataPlaneError> {
        if !dir.join(db).exists() {
            run("ovsdb-tool", &["create", &p(db), schema], None)?;
        }
        Ok(())
    };
    create_db("ovs.db", OVS_SCHEMA)?;
    create_db("nb.db", NB_SCHEMA)?;
    create_db("sb.db", SB_SCHEMA)?;
    let ovs = cfg.ovs.clone().unwrap_or_default();
    daemon(
        "ovsdb-server",
        "ovsdb-server",
        &[
            &p("ovs.db"),
            &format!("--remote=punix:{}", p("ovs.sock")),
            &format!("--unixctl={}", p("ovsdb-server.ctl")),
        ],
    )?;
    let vsctl = |args: &[&str]| {
        let db = format!("--db={ovs}");
        let mut a = vec![db.as_str(), "--timeout=10"];
        a.extend_from_slice(args);
        run("ovs-vsctl", &a, None)
    };
    vsctl(&["--no-wait", "init"])?;
    daemon(
        "ovs-vswitchd",
        "ovs-vswitchd",
        &[&ovs, &format!("--unixctl={}", p("ovs-vswitchd.ctl"))],
    )?;
    let br = names.int_bridge();
    vsctl(&[
        "--may-exist",
        "add-br",
        &br,
        "--",
        "set",
        "bridge",
        &br,
        "datapath_type=netdev",
        "fail-mode=secure",
        "other-config:disable-in-band=true",
    ])?;
    for (stem, db, sock) in [
        ("ovn-nb", "nb.db", "nb.sock"),
        ("ovn-sb", "sb.db", "sb.sock"),
    ] {
        daemon(
            stem,
            "ovsdb-server",
            &[
                &p(db),
                &format!("--remote=punix:{}", p(sock)),
                &format!("--unixctl={}", p(&format!("{stem}.ctl"))),
            ],
        )?;
    }
    run(
        "ovn-nbctl",
        &[&format!("--db={}", cfg.nb), "--timeout=10", "init"],
        None,
    )?;
    run(
        "ovn-sbctl",
        &[&format!("--db={}", cfg.sb), "--timeout=10", "init"],
        None,
    )?;
    daemon(
        "ovn-northd",
        "ovn-northd",
        &[
            &format!("--ovnnb-db={}", cfg.nb),
            &format!("--ovnsb-db={}", cfg.sb),
            &format!("--unixctl={}", p("ovn-northd.ctl")),
        ],
    )?;
    vsctl(&[
        "set",
        "open",
        ".",
        &format!("external-ids:system-id={}", cfg.gateway_chassis),
        &format!("external-ids:ovn-remote={}", cfg.sb),
        "external-ids:ovn-encap-type=geneve",
        "external-ids:ovn-encap-ip=127.0.0.1",
        &format!("external-ids:ovn-bridge={br}"),
        "external-ids:ovn-bridge-datapath-type=netdev",
    ])?;
    // ovn-controller 23.03 takes no --unixctl (it creates ovn-controller.<pid>.ctl in
    // OVN_RUNDIR, which is `dir`).
    daemon("ovn-controller", "ovn-controller", &[&ovs])?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = run(
            "ovn-sbctl",
            &[
                &format!("--db={}", cfg.sb),
                "--timeout=5",
                "--bare",
                "--columns=name",
                "list",
                "Chassis",
            ],
            None,
        )?;
        if out.lines().any(|l| l.trim() == cfg.gateway_chassis) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DataPlaneError::Command {
                command: "ovn-sbctl list Chassis".into(),
                message: format!(
                    "chassis {} did not register within 20 s (see {}/ovn-controller.log)",
                    cfg.gateway_chassis,
                    dir.display()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops every daemon of the lab in `dir` (reverse order; ovs-vswitchd removes its
/// datapath first) and returns the ones that were running.
pub fn stop(dir: &Path) -> Vec<String> {
    let mut stopped = Vec::new();
    for stem in DAEMONS.iter().rev() {
        let Some(pid) = alive(dir, stem) else {
            continue;
        };
        if *stem == "ovs-vswitchd" {
            let ctl = dir.join("ovs-vswitchd.ctl").display().to_string();
            let _ = run(
                "ovs-appctl",
                &["-t", &ctl, "--timeout=5", "exit", "--cleanup"],
                None,
            );
        } else {
            let _ = run("kill", &["-TERM", &pid.to_string()], None);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(dir, stem) == Some(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(dir, stem) == Some(pid) {
            let _ = run("kill", &["-KILL", &pid.to_string()], None);
        }
        stopped.push(stem.to_string());
    }
    stopped
}
