//! End to end, as root, once per backend (Linux bridge + nftables, and OVN on OVS's userspace
//! datapath), the same steps: havipd with the data plane, keepalived (VRRPv3, unicast,
//! 100 ms adverts) in two instance namespaces, a client pinging and connecting to the VIP,
//! the master's link cut, a rogue third instance, an unassociated instance, drift repair,
//! and the EIP path. Only the checks of "who may claim the VIP" and the drift injected by
//! hand differ: nftables sets and rules for Linux; northbound rows, an OVS port and the
//! southbound `virtual_parent` for OVN. Everything it creates (namespaces under a per-run
//! prefix, processes, the OVN lab's daemons) is removed by a Drop guard, also on failure;
//! every wait is bounded. The two tests take a lock so they never run at the same time
//! (their failover timings would disturb each other).
//!
//! Run by `scripts/test-all.sh` (`cargo test -p havip-lab --features privileged-tests`),
//! which installs keepalived, nftables, iputils-ping, iputils-arping, ethtool,
//! openvswitch-switch, ovn-central and ovn-host when missing. If anything it needs is
//! missing, it fails: it never skips.

use havip_dataplane::config::OvnConfig;
use havip_dataplane::desired::mac_of;
use havip_dataplane::linux::{run, LinuxDataPlane};
use havip_dataplane::ovn::{lab as ovn_lab, OvnDataPlane, OvnNames};
use havip_dataplane::{DataPlane, Planned};
use havip_loadgen::aliyun::{SigVersion, Signer};
use havip_loadgen::client::Conn;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const VIP: &str = "192.168.77.100";
const EIP: &str = "47.96.77.1";
const KEY: &str = "LTAI5tLabTestKey0001";
const SECRET: &str = "LabTestSecret";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Which backend a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Linux,
    Ovn,
}

/// The two tests never overlap.
static SERIAL: Mutex<()> = Mutex::new(());

/// Everything to undo, undone in Drop.
struct Lab {
    kind: Kind,
    prefix: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
    stop: Arc<AtomicBool>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in &mut self.children {
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        std::thread::sleep(Duration::from_millis(300)); // threads inside namespaces leave
        if self.kind == Kind::Ovn {
            let stopped = ovn_lab::stop(&self.path("ovn"));
            eprintln!("teardown: stopped {}", stopped.join(", "));
        }
        match LinuxDataPlane::new(&self.prefix).teardown() {
            Ok(gone) => eprintln!("teardown: removed {} namespaces", gone.len()),
            Err(e) => eprintln!("teardown failed: {e}"),
        }
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(self.dir.path().join("havipd.log")) {
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                eprintln!("--- havipd.log (last lines) ---");
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Lab {
    fn ns(&self, id: &str) -> String {
        format!("{}-{}", self.prefix, id)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
    fn ovn_config(&self) -> OvnConfig {
        ovn_lab::config_for(&self.path("ovn"), &self.prefix)
    }
    fn sh(&self, args: &[&str]) -> String {
        run(args[0], &args[1..], None).unwrap_or_else(|e| panic!("{e}"))
    }
    /// havipd's log without its ANSI colours.
    fn log(&self) -> String {
        let raw = std::fs::read_to_string(self.path("havipd.log")).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}

fn wait_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn require_tools(kind: Kind) {
    assert!(nix_is_root(), "the data-plane end-to-end test needs root");
    let ovn: &[&str] = match kind {
        Kind::Linux => &[],
        Kind::Ovn => &[
            "ovsdb-server",
            "ovs-vswitchd",
            "ovs-vsctl",
            "ovn-northd",
            "ovn-controller",
            "ovn-nbctl",
            "ovn-sbctl",
            "ovsdb-client",
            "ethtool",
        ],
    };
    for tool in ["ip", "nft", "keepalived", "ping", "arping"]
        .iter()
        .chain(ovn.iter())
    {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is not installed (scripts/test-all.sh installs it)"
        );
    }
}

fn nix_is_root() -> bool {
    run("id", &["-u"], None)
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

fn havipd_bin() -> PathBuf {
    if let Ok(p) = std::env::var("HAVIPD_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/havipd");
    assert!(
        p.exists(),
        "{} missing: run `cargo build -p havipd` first (or set HAVIPD_BIN)",
        p.display()
    );
    p
}

/// Runs `f` on a thread that first enters namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
}

/// A TCP server on :8080 in `ns` that answers every connection with `name`.
fn serve_name(ns: &str, name: &'static str, stop: Arc<AtomicBool>) {
    in_netns(ns, move || {
        let l = TcpListener::bind("0.0.0.0:8080").unwrap();
        l.set_nonblocking(true).unwrap();
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(name.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

/// One TCP exchange with `addr`: the server's name.
fn fetch_name(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

struct Api {
    rt: tokio::runtime::Runtime,
    conn: Mutex<Conn>,
    signer: Signer,
}

impl Api {
    #[allow(clippy::await_holding_lock)] // one thread, one call at a time
    fn call(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let req = self.signer.request(action, params);
        let (status, body) = self
            .rt
            .block_on(async { self.conn.lock().unwrap().send(req).await })
            .expect("API call");
        let v: Value = serde_json::from_slice(&body).expect("JSON answer");
        assert_eq!(status, 200, "{action}: {v}");
        v
    }
    fn havip(&self, id: &str) -> Value {
        let v = self.call(
            "DescribeHaVips",
            &[
                ("RegionId", "cn-hangzhou"),
                ("Filter.1.Key", "HaVipId"),
                ("Filter.1.Value.1", id),
            ],
        );
        v["HaVips"]["HaVip"][0].clone()
    }
    fn master(&self, id: &str) -> String {
        self.havip(id)["MasterInstanceId"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn keepalived(lab: &mut Lab, id: &str, me: &str, peer: &str, priority: u32) {
    let conf = format!(
        "global_defs {{\n  router_id {id}\n  vrrp_version 3\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 77\n  priority {priority}\n\
         advert_int 0.1\n  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n\
         virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n}}\n"
    );
    let p = |s: &str| lab.path(&format!("ka-{id}.{s}")).display().to_string();
    std::fs::write(p("conf"), conf).unwrap();
    let log = std::fs::File::create(p("log")).unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns(id),
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-f",
            &p("conf"),
            "-p",
            &p("pid"),
            "-r",
            &p("vrrp.pid"),
            "-c",
            &p("chk.pid"),
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting keepalived");
    lab.children.push(child);
}

fn topology() -> String {
    format!(
        r#"
[[region]]
cloud = "aliyun"
id = "cn-hangzhou"
[[account]]
id = "1777"
cloud = "aliyun"
name = "lab"
access_keys = [{{ id = "{KEY}", secret = "{SECRET}" }}]
[[vpc]]
id = "vpc-lab"
account = "1777"
region = "cn-hangzhou"
cidr = "192.168.0.0/16"
[[vswitch]]
id = "vsw-lab"
vpc = "vpc-lab"
zone = "cn-hangzhou-h"
cidr = "192.168.77.0/24"
[[instance]]
id = "i-a"
vswitch = "vsw-lab"
private_ip = "192.168.77.11"
[[instance]]
id = "i-b"
vswitch = "vsw-lab"
private_ip = "192.168.77.12"
[[instance]]
id = "i-c"
vswitch = "vsw-lab"
private_ip = "192.168.77.13"
[[instance]]
id = "i-client"
vswitch = "vsw-lab"
private_ip = "192.168.77.50"
[[eip]]
id = "eip-lab"
account = "1777"
region = "cn-hangzhou"
address = "{EIP}"
"#
    )
}

/// Longest gap between two consecutive ping replies (`ping -D` lines) after `from_ms`.
fn ping_outage_ms(out: &str, from_ms: u64) -> (f64, usize) {
    let mut stamps: Vec<f64> = out
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse::<f64>().ok())
        .map(|s| s * 1000.0)
        .collect();
    stamps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut worst = 0.0f64;
    for w in stamps.windows(2) {
        if w[1] >= from_ms as f64 - 1000.0 {
            worst = worst.max(w[1] - w[0]);
        }
    }
    (worst, stamps.len())
}

fn log_field(line: &str, key: &str) -> Option<String> {
    let i = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[i..];
    let rest = rest.trim_start_matches('"');
    Some(rest.split([' ', '"']).next()?.to_string())
}

/// The backend as the scenario looks at it.
enum Dp {
    Linux(LinuxDataPlane),
    Ovn(OvnDataPlane),
}

impl Dp {
    fn names(&self) -> &havip_dataplane::Names {
        match self {
            Dp::Linux(d) => d.names(),
            Dp::Ovn(d) => d.names(),
        }
    }

    /// Every port of the topology exists (before any HAVIP).
    fn built(&self) -> bool {
        match self {
            Dp::Linux(d) => d.observe().is_ok_and(|a| {
                a.guard.as_ref().is_some_and(|g| g.intact)
                    && a.links.len() >= 6
                    && a.namespaces.len() == 6
            }),
            Dp::Ovn(d) => {
                let names = d.names();
                let ports_ok = d.observe_nb().is_ok_and(|nb| {
                    ["i-a", "i-b", "i-c", "i-client"]
                        .iter()
                        .all(|i| nb.ports.contains_key(&names.port(i)))
                        && nb.router.is_some()
                });
                ports_ok
                    && ["i-a", "i-b", "i-c", "i-client"].iter().all(|i| {
                        d.sbctl(&[
                            "--bare",
                            "--columns=up",
                            "find",
                            "Port_Binding",
                            &format!("logical_port={}", names.port(i)),
                        ])
                        .is_ok_and(|o| o.trim() == "true")
                    })
            }
        }
    }

    /// The ports the data plane lets claim `vip` (Linux: the guard's owners; OVN: the
    /// virtual port's parents whose port security also carries the VIP).
    fn claimants(&self, havip: &str, vip: Ipv4Addr) -> Option<BTreeSet<String>> {
        match self {
            Dp::Linux(d) => {
                let g = d.observe().ok()?.guard?;
                g.intact.then(|| {
                    g.owners
                        .iter()
                        .filter(|(v, _)| *v == vip)
                        .map(|(_, p)| p.clone())
                        .collect()
                })
            }
            Dp::Ovn(d) => {
                let nb = d.observe_nb().ok()?;
                let v = nb.ports.get(&d.names().vport(havip))?;
                let parents = v
                    .options
                    .get("virtual-parents")
                    .map(|s| s.split(',').map(str::to_string).collect::<BTreeSet<_>>())
                    .unwrap_or_default();
                Some(
                    parents
                        .into_iter()
                        .filter(|p| {
                            nb.ports.get(p).is_some_and(|l| {
                                l.port_security
                                    .iter()
                                    .any(|ps| ps.split_whitespace().any(|w| w == vip.to_string()))
                            })
                        })
                        .collect(),
                )
            }
        }
    }
}

/// Breaks what the backend built, by hand (as an operator with a shell would), and returns
/// a check that it is whole again.
fn inject_drift(lab: &Lab, dp: &Dp, havip: &str, pb: &str) -> &'static str {
    match dp {
        Dp::Linux(d) => {
            let fabric = d.names().fabric();
            let rules: Value = serde_json::from_str(&lab.sh(&[
                "ip", "netns", "exec", &fabric, "nft", "-j", "-a", "list", "chain", "bridge",
                "havip", "guard",
            ]))
            .unwrap();
            let handle = rules["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|x| {
                    (x["rule"]["comment"] == "havip-guard-arp")
                        .then(|| x["rule"]["handle"].to_string())
                })
                .unwrap();
            lab.sh(&[
                "ip", "netns", "exec", &fabric, "nft", "delete", "rule", "bridge", "havip",
                "guard", "handle", &handle,
            ]);
            lab.sh(&[
                "ip", "netns", "exec", &fabric, "nft", "flush", "set", "bridge", "havip", "owners",
            ]);
            lab.sh(&["ip", "-n", &fabric, "link", "set", pb, "nomaster"]);
            "rule deleted, set flushed, port unplugged"
        }
        Dp::Ovn(d) => {
            let cfg = lab.ovn_config();
            let nb = format!("--db={}", cfg.nb);
            let vport = d.names().vport(havip);
            lab.sh(&["ovn-nbctl", &nb, "lsp-del", pb, "--", "lsp-del", &vport]);
            let ovs = format!("--db={}", cfg.ovs.unwrap());
            lab.sh(&["ovs-vsctl", &ovs, "del-port", &d.names().int_bridge(), pb]);
            "LSP and virtual port deleted with ovn-nbctl, OVS port deleted with ovs-vsctl"
        }
    }
}

fn repaired(dp: &Dp, havip: &str, vip: Ipv4Addr, pa: &str, pb: &str) -> bool {
    let both = dp
        .claimants(havip, vip)
        .is_some_and(|c| c.contains(pa) && c.contains(pb));
    both && match dp {
        Dp::Linux(d) => d
            .observe()
            .ok()
            .and_then(|a| a.links.get(pb).map(|l| l.master.is_some()))
            .unwrap_or(false),
        Dp::Ovn(d) => d
            .sbctl(&[
                "--bare",
                "--columns=up",
                "find",
                "Port_Binding",
                &format!("logical_port={pb}"),
            ])
            .is_ok_and(|o| o.trim() == "true"),
    }
}

/// Starts havipd (appending to `havipd.log`) and returns a client of its Alibaba listener.
fn start_havipd(lab: &mut Lab) -> Api {
    let _ = std::fs::remove_file(lab.path("data/ports.json"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(lab.path("havipd.log"))
        .unwrap();
    let havipd = Command::new(havipd_bin())
        .args(["--config", &lab.path("havipd.toml").display().to_string()])
        .env("HAVIPD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting havipd");
    lab.children.push(havipd);
    let ports: Value = wait_until("ports.json", Duration::from_secs(20), || {
        serde_json::from_str(&std::fs::read_to_string(lab.path("data/ports.json")).ok()?).ok()
    });
    let aliyun: SocketAddr = ports["aliyun"].as_str().unwrap().parse().unwrap();
    Api {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        conn: Mutex::new(Conn::new(aliyun)),
        signer: Signer {
            key_id: KEY.into(),
            secret: SECRET.into(),
            host: aliyun.to_string(),
            version: SigVersion::V3,
        },
    }
}

/// Stops the first havipd (the lab's first child: keepalived starts later), SIGTERM and a
/// bounded wait.
fn stop_havipd(lab: &mut Lab) {
    let mut c = lab.children.remove(0);
    run("kill", &["-TERM", &c.id().to_string()], None).unwrap();
    let status = wait_until("havipd to exit", Duration::from_secs(15), || {
        c.try_wait().ok().flatten()
    });
    assert!(status.success(), "havipd exited with {status}");
}

/// The child processes of `pid` (every thread's `children` list).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// Records, from namespace `ns`, every gratuitous ARP request for `vip` until `stop`:
/// (ms since the epoch when read, sender MAC).
fn sniff_garps(
    ns: &str,
    vip: Ipv4Addr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(u64, String)>> {
    in_netns(ns, move || {
        use nix::sys::socket::{
            recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
            SockType,
        };
        use nix::sys::time::{TimeVal, TimeValLike};
        use std::os::fd::AsRawFd;
        let sock = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .expect("AF_PACKET socket");
        setsockopt(&sock, sockopt::ReceiveTimeout, &TimeVal::milliseconds(50)).unwrap();
        let (mut out, mut buf) = (Vec::new(), [0u8; 2048]);
        let v = vip.octets();
        while !stop.load(Ordering::Relaxed) {
            let Ok(n) = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
                continue;
            };
            let f = &buf[..n];
            if n >= 42
                && f[12..14] == [8, 6]
                && f[20..22] == [0, 1]
                && f[28..32] == v
                && f[38..42] == v
            {
                let mac = f[22..28]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
                out.push((now_ms(), mac));
            }
        }
        out
    })
}

/// What the client, the instances and the backend look like (printed when a check fails).
fn diagnose(lab: &Lab, dp: &Dp, havip: &str) {
    let show = |args: &[&str]| match run(args[0], &args[1..], None) {
        Ok(o) => eprintln!("$ {}\n{o}", args.join(" ")),
        Err(e) => eprintln!("$ {}\n{e}", args.join(" ")),
    };
    show(&["ip", "-n", &lab.ns("i-client"), "neigh"]);
    for i in ["i-a", "i-b"] {
        show(&["ip", "-n", &lab.ns(i), "addr", "show", "eth0"]);
    }
    if let Dp::Ovn(d) = dp {
        let sb = format!("--db={}", lab.ovn_config().sb);
        show(&[
            "ovn-sbctl",
            &sb,
            "--columns=logical_port,virtual_parent,chassis,up",
            "find",
            "Port_Binding",
            &format!("logical_port={}", d.names().vport(havip)),
        ]);
        show(&["ovn-sbctl", &sb, "list", "MAC_Binding"]);
    }
}

#[test]
fn linux_keepalived_failover_moves_the_master_and_only_associated_instances_may_claim() {
    scenario(Kind::Linux);
}

#[test]
fn ovn_keepalived_failover_moves_the_master_and_only_associated_instances_may_claim() {
    scenario(Kind::Ovn);
}

fn scenario(kind: Kind) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_tools(kind);
    let started = Instant::now();
    let tag = match kind {
        Kind::Linux => 'l',
        Kind::Ovn => 'o',
    };
    let prefix = format!("{tag}{:04x}", std::process::id() & 0xffff);
    let mut lab = Lab {
        kind,
        prefix: prefix.clone(),
        dir: tempfile::tempdir().unwrap(),
        children: vec![],
        stop: Arc::new(AtomicBool::new(false)),
    };
    let _ = LinuxDataPlane::new(&prefix).teardown();

    // 1. havipd with the data plane (for OVN, the lab's daemons first).
    std::fs::write(lab.path("topology.toml"), topology()).unwrap();
    let dataplane = match kind {
        Kind::Linux => format!("backend = \"linux\"\nprefix = \"{prefix}\"\nresync = \"500ms\"\n"),
        Kind::Ovn => {
            let t = Instant::now();
            ovn_lab::start(&lab.path("ovn"), &prefix).unwrap_or_else(|e| panic!("{e}"));
            eprintln!("[{kind:?}] OVS and OVN daemons up in {:?}", t.elapsed());
            let c = lab.ovn_config();
            format!(
                "backend = \"ovn\"\nprefix = \"{prefix}\"\nresync = \"500ms\"\n\
                 [dataplane.ovn]\nnb = \"{}\"\nsb = \"{}\"\ngateway_chassis = \"{}\"\novs = \"{}\"\n",
                c.nb,
                c.sb,
                c.gateway_chassis,
                c.ovs.unwrap()
            )
        }
    };
    let cfg = format!(
        "data_dir = \"{d}/data\"\ntopology = \"{d}/topology.toml\"\n\
         [listen]\nadmin = \"127.0.0.1:0\"\naliyun = \"127.0.0.1:0\"\ntencent = \"127.0.0.1:0\"\nbaidu = \"127.0.0.1:0\"\n\
         [admin]\ntoken = \"t\"\n[operations]\nmode = \"immediate\"\n\
         [dataplane]\n{dataplane}",
        d = lab.dir.path().display()
    );
    std::fs::write(lab.path("havipd.toml"), cfg).unwrap();
    let mut api = start_havipd(&mut lab);
    let dp = match kind {
        Kind::Linux => Dp::Linux(LinuxDataPlane::new(&prefix)),
        Kind::Ovn => Dp::Ovn(OvnDataPlane::new(&prefix, &lab.ovn_config())),
    };
    let built = Instant::now();
    wait_until("the lab network", Duration::from_secs(30), || {
        dp.built().then_some(())
    });
    eprintln!(
        "[{kind:?}] network built by havipd in {:?}",
        built.elapsed()
    );

    // 2. An HAVIP associated with i-a and i-b.
    let h = api.call(
        "CreateHaVip",
        &[
            ("RegionId", "cn-hangzhou"),
            ("VSwitchId", "vsw-lab"),
            ("IpAddress", VIP),
        ],
    );
    let h = h["HaVipId"].as_str().unwrap().to_string();
    for i in ["i-a", "i-b"] {
        wait_until("HAVIP settled", Duration::from_secs(5), || {
            (api.havip(&h)["Status"] != "Associating" && api.havip(&h)["Status"] != "Creating")
                .then_some(())
        });
        api.call(
            "AssociateHaVip",
            &[
                ("RegionId", "cn-hangzhou"),
                ("HaVipId", &h),
                ("InstanceId", i),
            ],
        );
    }
    let (pa, pb) = (dp.names().port("i-a"), dp.names().port("i-b"));
    let vip: Ipv4Addr = VIP.parse().unwrap();
    wait_until(
        "i-a and i-b may claim the VIP in the data plane",
        Duration::from_secs(5),
        || {
            dp.claimants(&h, vip)
                .is_some_and(|c| c.contains(&pa) && c.contains(&pb))
                .then_some(())
        },
    );

    // 3. Drift: what the backend built, broken by hand, is restored.
    let t = Instant::now();
    let what = inject_drift(&lab, &dp, &h, &pb);
    wait_until("drift repaired", Duration::from_secs(10), || {
        repaired(&dp, &h, vip, &pa, &pb).then_some(())
    });
    let drift_repair = t.elapsed();
    eprintln!("[{kind:?}] FIGURES: drift ({what}) repaired in {drift_repair:?}");

    // 4. keepalived in i-a (priority 150) and i-b (100); services on :8080.
    for (id, name) in [("i-a", "i-a"), ("i-b", "i-b"), ("i-c", "i-c")] {
        serve_name(&lab.ns(id), name, lab.stop.clone());
    }
    keepalived(&mut lab, "i-a", "192.168.77.11", "192.168.77.12", 150);
    keepalived(&mut lab, "i-b", "192.168.77.12", "192.168.77.11", 100);
    wait_until("MasterInstanceId = i-a", Duration::from_secs(15), || {
        (api.master(&h) == "i-a").then_some(())
    });
    let target: SocketAddr = format!("{VIP}:8080").parse().unwrap();
    let client_ns = lab.ns("i-client");
    let fabric = dp.names().fabric();
    let t = Instant::now();
    let first = (0..60).find_map(|_| {
        let r = in_netns(&client_ns, move || fetch_name(target))
            .join()
            .unwrap();
        if r.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    });
    if first.is_none() {
        eprintln!(
            "{}",
            run(
                "ip",
                &["netns", "exec", &client_ns, "ping", "-c", "2", "-W", "1", VIP],
                None
            )
            .unwrap_or_else(|e| e.to_string())
        );
        eprintln!("{}", lab.sh(&["ip", "-n", &client_ns, "neigh"]));
        eprintln!("{}", lab.sh(&["ip", "-n", &lab.ns("i-a"), "addr"]));
        eprintln!(
            "{}",
            lab.sh(&["ip", "netns", "exec", &lab.ns("i-a"), "ss", "-ltn"])
        );
        eprintln!(
            "{}",
            lab.sh(&["ip", "netns", "exec", &fabric, "nft", "list", "ruleset"])
        );
    }
    assert_eq!(
        first.as_deref(),
        Some("i-a"),
        "the client reaches the master"
    );
    eprintln!(
        "[{kind:?}] client reached the master via TCP after {:?}",
        t.elapsed()
    );

    // 5. EIP: bound to the HAVIP, reachable from the public namespace, served by the master.
    api.call(
        "AssociateEipAddress",
        &[
            ("RegionId", "cn-hangzhou"),
            ("AllocationId", "eip-lab"),
            ("InstanceId", &h),
            ("InstanceType", "HaVip"),
        ],
    );
    let eip_target: SocketAddr = format!("{EIP}:8080").parse().unwrap();
    let public = dp.names().public();
    let via_eip = wait_until("the EIP path", Duration::from_secs(5), || {
        in_netns(&public, move || fetch_name(eip_target))
            .join()
            .unwrap()
    });
    assert_eq!(via_eip, "i-a");
    // The EIP's NAT removed by hand comes back (and the EIP path with it).
    let eip: Ipv4Addr = EIP.parse().unwrap();
    let t = Instant::now();
    match &dp {
        Dp::Linux(d) => {
            lab.sh(&[
                "ip",
                "netns",
                "exec",
                &d.names().fabric(),
                "nft",
                "flush",
                "map",
                "ip",
                "havip_nat",
                "eip2vip",
            ]);
        }
        Dp::Ovn(d) => {
            let nb = format!("--db={}", lab.ovn_config().nb);
            lab.sh(&[
                "ovn-nbctl",
                &nb,
                "lr-nat-del",
                &d.names().router(),
                "dnat_and_snat",
                EIP,
            ]);
        }
    }
    wait_until("the EIP's NAT restored", Duration::from_secs(10), || {
        let back = match &dp {
            Dp::Linux(d) => d
                .observe()
                .ok()?
                .nat
                .is_some_and(|n| n.intact && n.eips.get(&eip) == Some(&vip)),
            Dp::Ovn(d) => d.observe_nb().ok()?.nat.get(&eip) == Some(&vip),
        };
        back.then_some(())
    });
    let nat_repair = t.elapsed();
    let via_eip = wait_until(
        "the EIP path after the repair",
        Duration::from_secs(5),
        || {
            in_netns(&public, move || fetch_name(eip_target))
                .join()
                .unwrap()
        },
    );
    assert_eq!(via_eip, "i-a");
    eprintln!("[{kind:?}] FIGURES: EIP NAT deleted by hand, restored in {nat_repair:?}");

    // 5b. Restart havipd: the new process re-derives the same desired state from the store,
    //     finds the network as the old one left it, and changes nothing.
    stop_havipd(&mut lab);
    let before = lab.log().len();
    api = start_havipd(&mut lab);
    wait_until("the restarted reconciler", Duration::from_secs(10), || {
        lab.log()[before..]
            .contains("data-plane reconciler started")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let after_restart = lab.log()[before..].to_string();
    assert!(
        !after_restart.contains("data plane reconciled"),
        "a restarted havipd changed the network that was already right:\n{after_restart}"
    );
    assert_eq!(api.master(&h), "i-a", "the master survives a restart");
    eprintln!(
        "[{kind:?}] restarted havipd: no change to the network in 2 s of passes (every 500 ms)"
    );
    if kind == Kind::Ovn {
        // The southbound monitor (havipd's ovsdb-client child) dies: the next pass restarts
        // it, and the failover below is still seen.
        let havipd_pid = lab.children.last().unwrap().id();
        let monitor = children_of(havipd_pid)
            .into_iter()
            .find(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("ovsdb-client"))
            })
            .expect("havipd runs an ovsdb-client monitor");
        let starts = |log: &str| {
            log.matches("southbound virtual_parent monitor started")
                .count()
        };
        let n = starts(&lab.log());
        lab.sh(&["kill", "-KILL", &monitor.to_string()]);
        wait_until("the monitor restarted", Duration::from_secs(5), || {
            (starts(&lab.log()) > n).then_some(())
        });
        eprintln!("[{kind:?}] southbound monitor killed and restarted by the next pass");
    }

    // 6. The client pings (10 ms) and connects (every 50 ms) while the master's link goes down.
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &client_ns, "ping", "-D", "-n", "-i", "0.01", "-W", "1", "-w", "6",
            VIP,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stop = lab.stop.clone();
    let tcp = in_netns(&client_ns, move || {
        let mut seen = Vec::new();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            seen.push((now_ms(), fetch_name(target)));
            std::thread::sleep(Duration::from_millis(50));
        }
        seen
    });
    let sniff_stop = Arc::new(AtomicBool::new(false));
    let sniffer = sniff_garps(&client_ns, vip, sniff_stop.clone());
    std::thread::sleep(Duration::from_millis(1500));
    lab.sh(&["ip", "-n", &lab.ns("i-a"), "link", "set", "eth0", "down"]);
    // Taken once the link is down: a connection begun before (while `ip` ran) may still
    // reach i-a and is not counted as "after the fault".
    let fault_ms = now_ms();
    let api_seen_ms = wait_until("MasterInstanceId = i-b", Duration::from_secs(10), || {
        (api.master(&h) == "i-b").then(now_ms)
    });
    sniff_stop.store(true, Ordering::Relaxed);
    let b_mac = mac_of("i-b");
    let wire_garp_ms = sniffer
        .join()
        .unwrap()
        .into_iter()
        .find(|(t, mac)| *t > fault_ms && *mac == b_mac)
        .map(|(t, _)| t)
        .expect("the client's namespace saw i-b's gratuitous ARP after the fault");
    let ping_out = ping.wait_with_output().unwrap();
    let ping_text = String::from_utf8_lossy(&ping_out.stdout).to_string();
    let tcp_seen = tcp.join().unwrap();
    let (outage, replies) = ping_outage_ms(&ping_text, fault_ms);
    let after: Vec<&Option<String>> = tcp_seen
        .iter()
        .filter(|(t, _)| *t > fault_ms)
        .map(|(_, r)| r)
        .collect();
    let tcp_failed = after.iter().filter(|r| r.is_none()).count();
    if !after.iter().any(|r| r.as_deref() == Some("i-b")) {
        diagnose(&lab, &dp, &h);
    }
    assert!(
        after.iter().any(|r| r.as_deref() == Some("i-b")),
        "TCP reaches the backup after failover: {after:?}"
    );
    assert!(
        after.iter().all(|r| r.as_deref() != Some("i-a")),
        "nothing reaches the downed master"
    );
    assert!(replies > 100, "the client's pings got answers ({replies})");
    assert!(outage < 2000.0, "outage {outage} ms");
    let claim_line = wait_until(
        "havipd's log of i-b's claim after the fault",
        Duration::from_secs(2),
        || {
            lab.log()
                .lines()
                .filter(|l| l.contains("master set") && l.contains("master=i-b"))
                .find(|l| {
                    log_field(l, "seen_ms")
                        .and_then(|v| v.parse::<u64>().ok())
                        .is_some_and(|t| t > fault_ms)
                })
                .map(str::to_string)
        },
    );
    let garp_ms: u64 = log_field(&claim_line, "seen_ms").unwrap().parse().unwrap();
    let wire_to_api: f64 = log_field(&claim_line, "wire_to_api_ms")
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("[{kind:?}] FIGURES: ping outage {outage:.0} ms ({replies} replies, 10 ms interval); TCP attempts failed after the fault: {tcp_failed} of {} (every 50 ms)", after.len());
    let seen_what = match kind {
        Kind::Linux => "the AF_PACKET watcher read i-b's GARP in the fabric",
        Kind::Ovn => "the southbound monitor read virtual_parent = i-b",
    };
    eprintln!("[{kind:?}] FIGURES: link down -> i-b's first GARP seen in the client's namespace: {} ms (keepalived detection: 3 x 100 ms + (256-100)/256 x 100 ms = 361 ms)", wire_garp_ms as i64 - fault_ms as i64);
    eprintln!("[{kind:?}] FIGURES: GARP -> {seen_what}: {} ms; claim read -> announce committed: {wire_to_api} ms", garp_ms as i64 - wire_garp_ms as i64);
    eprintln!(
        "[{kind:?}] FIGURES: GARP -> DescribeHaVips (polled every ~10 ms) shows i-b: {} ms",
        api_seen_ms as i64 - wire_garp_ms as i64
    );
    let via_eip = wait_until(
        "the EIP path after failover",
        Duration::from_secs(5),
        || {
            in_netns(&public, move || fetch_name(eip_target))
                .join()
                .unwrap()
        },
    );
    assert_eq!(via_eip, "i-b", "the EIP follows the VIP");

    // 7. A third instance adds the VIP and announces it: the guard drops it, the core refuses.
    let nc = lab.ns("i-c");
    lab.sh(&[
        "ip",
        "-n",
        &nc,
        "addr",
        "add",
        &format!("{VIP}/32"),
        "dev",
        "eth0",
    ]);
    lab.sh(&[
        "ip", "netns", "exec", &nc, "arping", "-U", "-c", "3", "-w", "2", "-s", VIP, "-I", "eth0",
        VIP,
    ]);
    let _ = run(
        "ip",
        &[
            "netns", "exec", &nc, "arping", "-A", "-c", "3", "-w", "2", "-s", VIP, "-I", "eth0",
            VIP,
        ],
        None,
    );
    match &dp {
        Dp::Linux(_) => wait_until("i-c's claim refused", Duration::from_secs(3), || {
            lab.log()
                .lines()
                .any(|l| l.contains("claim refused") && l.contains("claimant=i-c"))
                .then_some(())
        }),
        Dp::Ovn(d) => {
            // Port security drops i-c's ARPs before ovn-controller sees them: the virtual
            // port stays bound to i-b, and no claim reaches havipd at all.
            std::thread::sleep(Duration::from_millis(500));
            assert_eq!(
                d.virtual_parent(&d.names().vport(&h)).unwrap().as_deref(),
                Some(pb.as_str()),
                "the rogue's GARPs did not move the virtual port"
            );
        }
    }
    assert_eq!(
        api.master(&h),
        "i-b",
        "a non-associated instance cannot take the VIP"
    );
    let to_vip = in_netns(&client_ns, move || fetch_name(target))
        .join()
        .unwrap();
    assert_eq!(
        to_vip.as_deref(),
        Some("i-b"),
        "the client still reaches the master"
    );
    if let Dp::Linux(_) = &dp {
        let counters = lab.sh(&[
            "ip", "netns", "exec", &fabric, "nft", "list", "chain", "bridge", "havip", "guard",
        ]);
        assert!(
            !counters.contains("counter packets 0 bytes 0 drop comment \"havip-guard-arp\""),
            "the guard dropped the rogue ARPs:\n{counters}"
        );
    }
    lab.sh(&[
        "ip",
        "-n",
        &nc,
        "addr",
        "del",
        &format!("{VIP}/32"),
        "dev",
        "eth0",
    ]);

    // 8. After unassociating i-a, its keepalived (higher priority) preempts when its link
    //    returns, but it can no longer claim the VIP.
    api.call(
        "UnassociateHaVip",
        &[
            ("RegionId", "cn-hangzhou"),
            ("HaVipId", &h),
            ("InstanceId", "i-a"),
        ],
    );
    wait_until(
        "i-a no longer allowed to claim the VIP",
        Duration::from_secs(5),
        || {
            dp.claimants(&h, vip)
                .is_some_and(|c| !c.contains(&pa) && c.contains(&pb))
                .then_some(())
        },
    );
    let na = lab.ns("i-a");
    lab.sh(&["ip", "-n", &na, "link", "set", "eth0", "up"]);
    lab.sh(&[
        "ip",
        "-n",
        &na,
        "route",
        "replace",
        "default",
        "via",
        "192.168.77.253",
    ]);
    match &dp {
        Dp::Linux(_) => wait_until("i-a's claim refused", Duration::from_secs(5), || {
            lab.log()
                .lines()
                .any(|l| l.contains("claim refused") && l.contains("claimant=i-a"))
                .then_some(())
        }),
        Dp::Ovn(d) => {
            // keepalived in i-a preempts within about a second and sends its GARPs; they
            // no longer pass i-a's port security, and i-a is no longer a virtual parent.
            std::thread::sleep(Duration::from_millis(1500));
            assert_eq!(
                d.virtual_parent(&d.names().vport(&h)).unwrap().as_deref(),
                Some(pb.as_str()),
                "the unassociated instance did not move the virtual port"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        api.master(&h),
        "i-b",
        "an unassociated instance cannot take the VIP"
    );
    let to_vip = in_netns(&client_ns, move || fetch_name(target))
        .join()
        .unwrap();
    assert_ne!(
        to_vip.as_deref(),
        Some("i-a"),
        "nothing reaches the unassociated instance"
    );
    eprintln!(
        "[{kind:?}] end to end: all checks passed in {:?}",
        started.elapsed()
    );
}
