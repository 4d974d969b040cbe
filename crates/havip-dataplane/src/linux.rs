//! The Linux backend: bridges, veths and nftables in network namespaces on this host.
//!
//! Layout (every name starts with the configured prefix, `hv` below):
//! - `hv-fabric`: the "cloud". One bridge per vSwitch (`hvb<hash>`) carrying the vSwitch's
//!   gateway address, so the namespace routes between vSwitches and to the uplink; the
//!   switch-side ends of every port (`hvp<hash>`); the uplink `hvup` (100.64.0.1/30); the
//!   tables `bridge havip` (the guard) and `ip havip_nat` (EIPs).
//! - `hv-public`: the far end of the uplink (`eth0`, 100.64.0.2/30, default route into the
//!   fabric): where an "internet" client reaches EIPs.
//! - `hv-<instance id>`: one namespace per instance, `eth0` its primary address with a default
//!   route through the gateway, `eth1`… its ENIs; a free ENI gets a namespace of its own.
//!
//! The guard (bridge family, forward and input hooks): a frame whose ARP sender address or
//! IPv4 source address is in `@vips` is dropped unless (address, input port) is in
//! `@owners`. Association changes rewrite both sets in one nftables transaction (`nft -f`
//! applies a file atomically), so there is no instant at which a legitimate owner is
//! missing while another is being added.
//!
//! Everything goes through `ip` and `nft` (JSON for reading); each command is bounded by
//! [`COMMAND_TIMEOUT`]. The watcher is a thread that enters the fabric namespace (setns only
//! moves that thread) and reads every frame of the namespace from one AF_PACKET socket,
//! keeping ARP frames that arrive on a port (not the copies the bridge sends out).

use crate::desired::DesiredState;
use crate::desired::{Names, UPLINK_FABRIC, UPLINK_PREFIX, UPLINK_PUBLIC};
use crate::plan::{Action, ActualState, GuardState, Link, LinkKind, NatState};
use crate::{
    reconcile_planned, Claim, ClaimKind, ClaimSink, DataPlane, DataPlaneError, PassReport, Planned,
};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Longest a single `ip` or `nft` invocation may take before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

const GUARD_RULES: [&str; 4] = [
    "havip-guard-arp",
    "havip-guard-ip",
    "havip-hook-forward",
    "havip-hook-input",
];
const NAT_RULES: [&str; 2] = ["havip-dnat", "havip-snat"];

/// Runs a command with optional stdin, bounded by [`COMMAND_TIMEOUT`]; stdout on success.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, DataPlaneError> {
    let line = format!("{program} {}", args.join(" "));
    let err = |message: String| DataPlaneError::Command {
        command: line.clone(),
        message,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }
    let (mut out, mut errout) = (child.stdout.take(), child.stderr.take());
    let reader = std::thread::spawn(move || {
        let (mut o, mut e) = (String::new(), String::new());
        if let Some(p) = out.as_mut() {
            let _ = p.read_to_string(&mut o);
        }
        if let Some(p) = errout.as_mut() {
            let _ = p.read_to_string(&mut e);
        }
        (o, e)
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait().map_err(|e| err(e.to_string()))? {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!("timed out after {COMMAND_TIMEOUT:?}")));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let (o, e) = reader.join().unwrap_or_default();
    if status.success() {
        Ok(o)
    } else {
        Err(err(e.trim().to_string()))
    }
}

pub(crate) fn ip(args: &[&str]) -> Result<String, DataPlaneError> {
    run("ip", args, None)
}

/// `ip` that tolerates "already there" / "not there" answers (idempotent steps).
pub(crate) fn ip_tolerant(args: &[&str]) -> Result<(), DataPlaneError> {
    match ip(args) {
        Ok(_) => Ok(()),
        Err(DataPlaneError::Command { message, .. })
            if message.contains("File exists")
                || message.contains("Cannot find device")
                || message.contains("does not exist")
                || message.contains("No such file") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Creates the veth `name` in namespace `fabric` whose peer is `peer` in namespace `ns`, after
/// deleting a leftover `peer` there.
pub(crate) fn veth_pair(
    fabric: &str,
    name: &str,
    ns: &str,
    peer: &str,
) -> Result<(), DataPlaneError> {
    ip_tolerant(&["-n", ns, "link", "del", peer])?;
    ip(&[
        "-n", fabric, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", ns,
    ])
    .map(|_| ())
}

/// Configures the namespace end of a veth: MAC, address, up, and a default route through
/// `gateway` when there is one.
pub(crate) fn peer_end(
    ns: &str,
    ifname: &str,
    mac: &str,
    addr: &str,
    gateway: Option<Ipv4Addr>,
) -> Result<(), DataPlaneError> {
    ip(&["-n", ns, "link", "set", ifname, "address", mac])?;
    ip(&["-n", ns, "addr", "add", addr, "dev", ifname])?;
    ip(&["-n", ns, "link", "set", ifname, "up"])?;
    if let Some(gw) = gateway {
        ip(&[
            "-n",
            ns,
            "route",
            "replace",
            "default",
            "via",
            &gw.to_string(),
            "dev",
            ifname,
        ])?;
    }
    Ok(())
}

/// The Linux backend.
pub struct LinuxDataPlane {
    names: Names,
    watcher: Mutex<Option<Watcher>>,
}

struct Watcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl LinuxDataPlane {
    /// A backend whose objects are named under `prefix`.
    pub fn new(prefix: &str) -> Self {
        LinuxDataPlane {
            names: Names::new(prefix),
            watcher: Mutex::new(None),
        }
    }

    fn nft(&self, script: &str) -> Result<(), DataPlaneError> {
        let fabric = self.names.fabric();
        run(
            "ip",
            &["netns", "exec", &fabric, "nft", "-f", "-"],
            Some(script),
        )
        .map(|_| ())
    }

    /// Removes every namespace of this lab (after stopping the processes inside them) and
    /// with them every link; the nftables tables live in the fabric namespace and go too.
    pub fn teardown(&self) -> Result<Vec<String>, DataPlaneError> {
        self.stop_watching();
        let mut gone = Vec::new();
        for ns in list_namespaces(&self.names)? {
            if let Ok(pids) = ip(&["netns", "pids", &ns]) {
                for pid in pids.split_whitespace() {
                    let _ = run("kill", &["-TERM", pid], None);
                }
            }
            ip_tolerant(&["netns", "del", &ns])?;
            gone.push(ns);
        }
        Ok(gone)
    }

    fn guard_script(
        &self,
        vips: &BTreeSet<Ipv4Addr>,
        owners: &BTreeSet<(Ipv4Addr, String)>,
        rebuild: bool,
    ) -> String {
        let mut s = String::new();
        if rebuild {
            s.push_str("table bridge havip\ndelete table bridge havip\n");
            s.push_str(
                "table bridge havip {\n\
                 \tset vips { type ipv4_addr; }\n\
                 \tset owners { type ipv4_addr . ifname; }\n\
                 \tchain guard {\n\
                 \t\tether type arp arp saddr ip @vips arp saddr ip . iifname != @owners counter drop comment \"havip-guard-arp\"\n\
                 \t\tether type ip ip saddr @vips ip saddr . iifname != @owners counter drop comment \"havip-guard-ip\"\n\
                 \t}\n\
                 \tchain forward_hook { type filter hook forward priority 0; policy accept; jump guard comment \"havip-hook-forward\"; }\n\
                 \tchain input_hook { type filter hook input priority 0; policy accept; jump guard comment \"havip-hook-input\"; }\n\
                 }\n",
            );
        } else {
            s.push_str("flush set bridge havip vips\nflush set bridge havip owners\n");
        }
        if !vips.is_empty() {
            let v: Vec<String> = vips.iter().map(|ip| ip.to_string()).collect();
            s.push_str(&format!(
                "add element bridge havip vips {{ {} }}\n",
                v.join(", ")
            ));
        }
        if !owners.is_empty() {
            let o: Vec<String> = owners
                .iter()
                .map(|(ip, port)| format!("{ip} . \"{port}\""))
                .collect();
            s.push_str(&format!(
                "add element bridge havip owners {{ {} }}\n",
                o.join(", ")
            ));
        }
        s
    }

    fn nat_script(&self, eips: &BTreeMap<Ipv4Addr, Ipv4Addr>, rebuild: bool) -> String {
        let mut s = String::new();
        if rebuild {
            s.push_str("table ip havip_nat\ndelete table ip havip_nat\n");
            s.push_str(&format!(
                "table ip havip_nat {{\n\
                 \tmap eip2vip {{ type ipv4_addr : ipv4_addr; }}\n\
                 \tmap vip2eip {{ type ipv4_addr : ipv4_addr; }}\n\
                 \tchain pre {{ type nat hook prerouting priority dstnat; policy accept; dnat to ip daddr map @eip2vip comment \"havip-dnat\"; }}\n\
                 \tchain post {{ type nat hook postrouting priority srcnat; policy accept; oifname \"{}\" snat to ip saddr map @vip2eip comment \"havip-snat\"; }}\n\
                 }}\n",
                self.names.uplink()
            ));
        } else {
            s.push_str("flush map ip havip_nat eip2vip\nflush map ip havip_nat vip2eip\n");
        }
        if !eips.is_empty() {
            let fwd: Vec<String> = eips.iter().map(|(e, v)| format!("{e} : {v}")).collect();
            let rev: BTreeMap<&Ipv4Addr, &Ipv4Addr> = eips.iter().map(|(e, v)| (v, e)).collect();
            let rev: Vec<String> = rev.iter().map(|(v, e)| format!("{v} : {e}")).collect();
            s.push_str(&format!(
                "add element ip havip_nat eip2vip {{ {} }}\n",
                fwd.join(", ")
            ));
            s.push_str(&format!(
                "add element ip havip_nat vip2eip {{ {} }}\n",
                rev.join(", ")
            ));
        }
        s
    }
}

pub(crate) fn list_namespaces(names: &Names) -> Result<Vec<String>, DataPlaneError> {
    let out = ip(&["-j", "netns", "list"])?;
    if out.trim().is_empty() {
        return Ok(vec![]);
    }
    let v: Value = serde_json::from_str(&out).map_err(|e| DataPlaneError::Parse {
        command: "ip -j netns list".into(),
        message: e.to_string(),
    })?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str())
        .filter(|n| names.owns_namespace(n))
        .map(str::to_string)
        .collect())
}

pub(crate) fn parse_links(
    names: &Names,
    out: &str,
) -> Result<BTreeMap<String, Link>, DataPlaneError> {
    let v: Value = serde_json::from_str(out).map_err(|e| DataPlaneError::Parse {
        command: "ip -j -d addr show".into(),
        message: e.to_string(),
    })?;
    let mut links = BTreeMap::new();
    for l in v.as_array().into_iter().flatten() {
        let Some(name) = l["ifname"].as_str() else {
            continue;
        };
        if !names.owns_link(name) {
            continue;
        }
        let kind = match l["linkinfo"]["info_kind"].as_str() {
            Some("bridge") => LinkKind::Bridge,
            Some("veth") => LinkKind::Veth,
            _ => LinkKind::Other,
        };
        let up = l["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"));
        let addrs = l["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["family"] == "inet")
            .filter_map(|a| {
                Some((
                    a["local"].as_str()?.parse().ok()?,
                    a["prefixlen"].as_u64()? as u8,
                ))
            })
            .collect();
        links.insert(
            name.to_string(),
            Link {
                kind,
                alias: l["ifalias"].as_str().map(str::to_string),
                master: l["master"].as_str().map(str::to_string),
                up,
                addrs,
            },
        );
    }
    Ok(links)
}

fn elems(set: &Value) -> Vec<&Value> {
    match &set["elem"] {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        v => vec![v],
    }
}

/// Parses `nft -j list ruleset` into the two tables' observed state.
fn parse_ruleset(out: &str) -> Result<(Option<GuardState>, Option<NatState>), DataPlaneError> {
    let v: Value = serde_json::from_str(out).map_err(|e| DataPlaneError::Parse {
        command: "nft -j list ruleset".into(),
        message: e.to_string(),
    })?;
    let items = v["nftables"].as_array().cloned().unwrap_or_default();
    let (mut guard, mut nat): (Option<GuardState>, Option<NatState>) = (None, None);
    let (mut guard_comments, mut nat_comments) = (BTreeSet::new(), BTreeSet::new());
    let (mut vip2eip, mut have_sets, mut have_maps) = (BTreeMap::new(), 0, 0);
    for it in &items {
        if let Some(t) = it.get("table") {
            match (t["family"].as_str(), t["name"].as_str()) {
                (Some("bridge"), Some("havip")) => guard = Some(GuardState::default()),
                (Some("ip"), Some("havip_nat")) => nat = Some(NatState::default()),
                _ => {}
            }
        }
        if let Some(s) = it.get("set") {
            if s["family"] == "bridge" && s["table"] == "havip" {
                let g = guard.get_or_insert_with(GuardState::default);
                match s["name"].as_str() {
                    Some("vips") => {
                        have_sets += 1;
                        g.vips = elems(s)
                            .iter()
                            .filter_map(|e| e.as_str()?.parse().ok())
                            .collect();
                    }
                    Some("owners") => {
                        have_sets += 1;
                        g.owners = elems(s)
                            .iter()
                            .filter_map(|e| {
                                let c = e["concat"].as_array()?;
                                Some((
                                    c.first()?.as_str()?.parse().ok()?,
                                    c.get(1)?.as_str()?.to_string(),
                                ))
                            })
                            .collect();
                    }
                    _ => {}
                }
            }
        }
        if let Some(m) = it.get("map") {
            if m["family"] == "ip" && m["table"] == "havip_nat" {
                let n = nat.get_or_insert_with(NatState::default);
                let pairs: BTreeMap<Ipv4Addr, Ipv4Addr> = elems(m)
                    .iter()
                    .filter_map(|e| {
                        let p = e.as_array()?;
                        Some((
                            p.first()?.as_str()?.parse().ok()?,
                            p.get(1)?.as_str()?.parse().ok()?,
                        ))
                    })
                    .collect();
                match m["name"].as_str() {
                    Some("eip2vip") => {
                        have_maps += 1;
                        n.eips = pairs;
                    }
                    Some("vip2eip") => {
                        have_maps += 1;
                        vip2eip = pairs;
                    }
                    _ => {}
                }
            }
        }
        if let Some(r) = it.get("rule") {
            let c = r["comment"].as_str().unwrap_or_default().to_string();
            if r["family"] == "bridge" && r["table"] == "havip" {
                guard_comments.insert(c);
            } else if r["family"] == "ip" && r["table"] == "havip_nat" {
                nat_comments.insert(c);
            }
        }
    }
    if let Some(g) = guard.as_mut() {
        g.intact = have_sets == 2 && GUARD_RULES.iter().all(|c| guard_comments.contains(*c));
    }
    if let Some(n) = nat.as_mut() {
        let inverse: BTreeMap<Ipv4Addr, Ipv4Addr> = n.eips.iter().map(|(e, v)| (*v, *e)).collect();
        n.intact = have_maps == 2
            && inverse == vip2eip
            && NAT_RULES.iter().all(|c| nat_comments.contains(*c));
    }
    Ok((guard, nat))
}

impl Planned for LinuxDataPlane {
    fn plan_names(&self) -> &Names {
        &self.names
    }

    fn observe(&self) -> Result<ActualState, DataPlaneError> {
        let fabric = self.names.fabric();
        let mut a = ActualState {
            namespaces: list_namespaces(&self.names)?.into_iter().collect(),
            ..ActualState::default()
        };
        if !a.namespaces.contains(&fabric) {
            return Ok(a);
        }
        a.links = parse_links(
            &self.names,
            &ip(&["-n", &fabric, "-j", "-d", "addr", "show"])?,
        )?;
        a.forwarding = run(
            "ip",
            &[
                "netns",
                "exec",
                &fabric,
                "sysctl",
                "-n",
                "net.ipv4.ip_forward",
            ],
            None,
        )?
        .trim()
            == "1";
        let rules = run(
            "ip",
            &["netns", "exec", &fabric, "nft", "-j", "list", "ruleset"],
            None,
        )?;
        (a.guard, a.nat) = parse_ruleset(&rules)?;
        Ok(a)
    }

    fn apply(&self, action: &Action) -> Result<(), DataPlaneError> {
        let fabric = self.names.fabric();
        let f = fabric.as_str();
        match action {
            Action::CreateNamespace { name } => {
                ip_tolerant(&["netns", "add", name])?;
                ip(&["-n", name, "link", "set", "lo", "up"])?;
                if *name == fabric {
                    run(
                        "ip",
                        &["netns", "exec", f, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                        None,
                    )?;
                }
            }
            Action::EnableForwarding => {
                run(
                    "ip",
                    &["netns", "exec", f, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                    None,
                )?;
            }
            Action::DeleteLink { name } => ip_tolerant(&["-n", f, "link", "del", name])?,
            Action::CreateBridge { name, spec } => {
                ip_tolerant(&["-n", f, "link", "add", "name", name, "type", "bridge"])?;
                self.apply(&Action::ConfigureBridge {
                    name: name.clone(),
                    spec: spec.clone(),
                })?;
                ip(&["-n", f, "link", "set", name, "alias", &spec.alias()])?;
            }
            Action::ConfigureBridge { name, spec } => {
                ip(&["-n", f, "addr", "flush", "dev", name])?;
                if let Some((gw, len)) = spec.gateway {
                    ip(&["-n", f, "addr", "add", &format!("{gw}/{len}"), "dev", name])?;
                }
                ip(&["-n", f, "link", "set", name, "up"])?;
            }
            Action::CreateUplink => {
                let (up, public) = (self.names.uplink(), self.names.public());
                ip_tolerant(&["-n", f, "link", "del", &up])?;
                veth_pair(f, &up, &public, "eth0")?;
                ip(&[
                    "-n",
                    f,
                    "addr",
                    "add",
                    &format!("{UPLINK_FABRIC}/{UPLINK_PREFIX}"),
                    "dev",
                    &up,
                ])?;
                ip(&[
                    "-n",
                    &public,
                    "addr",
                    "add",
                    &format!("{UPLINK_PUBLIC}/{UPLINK_PREFIX}"),
                    "dev",
                    "eth0",
                ])?;
                ip(&["-n", &public, "link", "set", "eth0", "up"])?;
                ip(&["-n", f, "link", "set", &up, "up"])?;
                ip(&[
                    "-n",
                    &public,
                    "route",
                    "replace",
                    "default",
                    "via",
                    &UPLINK_FABRIC.to_string(),
                ])?;
            }
            Action::CreatePort { name, spec } => {
                let ns = spec.netns.as_str();
                ip_tolerant(&["-n", f, "link", "del", name])?;
                veth_pair(f, name, ns, &spec.ifname)?;
                peer_end(
                    ns,
                    &spec.ifname,
                    &spec.mac,
                    &format!("{}/{}", spec.ip, spec.prefix),
                    spec.gateway,
                )?;
                self.apply(&Action::ConfigurePort {
                    name: name.clone(),
                    spec: spec.clone(),
                })?;
                ip(&["-n", f, "link", "set", name, "alias", &spec.alias()])?;
            }
            Action::ConfigurePort { name, spec } => {
                ip(&["-n", f, "link", "set", name, "master", &spec.bridge])?;
                ip(&[
                    "-n",
                    f,
                    "link",
                    "set",
                    name,
                    if spec.up { "up" } else { "down" },
                ])?;
            }
            Action::SetGuard {
                vips,
                owners,
                rebuild,
            } => self.nft(&self.guard_script(vips, owners, *rebuild))?,
            Action::SetNat { eips, rebuild } => self.nft(&self.nat_script(eips, *rebuild))?,
            Action::DeleteNamespace { name } => ip_tolerant(&["netns", "del", name])?,
        }
        Ok(())
    }
}

impl DataPlane for LinuxDataPlane {
    fn names(&self) -> &Names {
        &self.names
    }

    fn reconcile(&self, desired: &DesiredState) -> PassReport {
        reconcile_planned(self, desired)
    }

    fn ensure_watching(&self, sink: ClaimSink) -> Result<(), DataPlaneError> {
        let mut w = self.watcher.lock();
        if w.as_ref().is_some_and(|w| !w.thread.is_finished()) {
            return Ok(());
        }
        let path = format!("/run/netns/{}", self.names.fabric());
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("havip-arp-watch".into())
            .spawn(move || {
                if let Err(e) = watch_loop(&path, &s, &sink, &ready_tx) {
                    let _ = ready_tx.send(Err(e.clone()));
                    tracing::warn!(error = %e, "ARP watcher stopped");
                }
            })
            .map_err(|e| DataPlaneError::Watch(e.to_string()))?;
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => {
                *w = Some(Watcher { stop, thread });
                tracing::info!("ARP watcher started");
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                Err(DataPlaneError::Watch("did not start within 5 s".into()))
            }
        }
    }

    fn stop_watching(&self) {
        if let Some(w) = self.watcher.lock().take() {
            w.stop.store(true, Ordering::Relaxed);
            let _ = w.thread.join();
        }
    }
}

/// Reads frames in the namespace at `path` until `stop`, or until the namespace behind the
/// path is replaced (then the caller starts a new watcher in the new one).
fn watch_loop(
    path: &str,
    stop: &AtomicBool,
    sink: &ClaimSink,
    ready: &std::sync::mpsc::Sender<Result<(), DataPlaneError>>,
) -> Result<(), DataPlaneError> {
    use nix::sched::{setns, CloneFlags};
    use nix::sys::socket::{
        recvfrom, setsockopt, socket, sockopt, AddressFamily, LinkAddr, SockFlag, SockProtocol,
        SockType,
    };
    use nix::sys::time::{TimeVal, TimeValLike};
    use std::os::fd::AsRawFd;
    let werr =
        |what: &str, e: &dyn std::fmt::Display| DataPlaneError::Watch(format!("{what}: {e}"));
    let ns = std::fs::File::open(path).map_err(|e| werr(path, &e))?;
    let ino = ns.metadata().map_err(|e| werr(path, &e))?.ino();
    setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| werr("setns", &e))?;
    let sock = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map_err(|e| werr("AF_PACKET socket", &e))?;
    setsockopt(&sock, sockopt::ReceiveTimeout, &TimeVal::milliseconds(200))
        .map_err(|e| werr("SO_RCVTIMEO", &e))?;
    let _ = ready.send(Ok(()));
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut buf = [0u8; 2048];
    let mut checked = Instant::now();
    const PACKET_OUTGOING: u8 = 4;
    while !stop.load(Ordering::Relaxed) {
        if checked.elapsed() > Duration::from_secs(1) {
            checked = Instant::now();
            match std::fs::metadata(path) {
                Ok(m) if m.ino() == ino => {}
                _ => return Err(DataPlaneError::Watch("fabric namespace replaced".into())),
            }
        }
        let (n, addr) = match recvfrom::<LinkAddr>(sock.as_raw_fd(), &mut buf) {
            Ok((n, Some(a))) => (n, a),
            Ok(_) => continue,
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(werr("recvfrom", &e)),
        };
        let seen = SystemTime::now();
        let f = &buf[..n];
        if addr.pkttype() == PACKET_OUTGOING || n < 42 || f[12..14] != [0x08, 0x06] {
            continue;
        }
        // ARP for IPv4 over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4.
        if f[14..20] != [0, 1, 8, 0, 6, 4] {
            continue;
        }
        let op = u16::from_be_bytes([f[20], f[21]]);
        let spa = Ipv4Addr::new(f[28], f[29], f[30], f[31]);
        let tpa = Ipv4Addr::new(f[38], f[39], f[40], f[41]);
        let kind = match op {
            1 if spa == tpa => ClaimKind::GratuitousArp,
            2 => ClaimKind::ArpReply,
            _ => continue,
        };
        let idx = addr.ifindex();
        let port = match names.get(&idx) {
            Some(p) => p.clone(),
            None => match nix::net::if_::if_indextoname(idx as u32) {
                Ok(c) => {
                    let p = c.to_string_lossy().into_owned();
                    names.insert(idx, p.clone());
                    p
                }
                Err(_) => continue,
            },
        };
        let mac = f[22..28]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        sink(Claim {
            port,
            ip: spa,
            mac,
            kind,
            seen,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_parser_should_read_sets_maps_and_notice_a_missing_rule() {
        let json = r#"{"nftables":[{"metainfo":{}},
          {"table":{"family":"bridge","name":"havip","handle":1}},
          {"set":{"family":"bridge","name":"vips","table":"havip","type":"ipv4_addr","elem":["10.0.0.100"]}},
          {"set":{"family":"bridge","name":"owners","table":"havip","type":["ipv4_addr","ifname"],"elem":[{"concat":["10.0.0.100","hvpabc"]}]}},
          {"rule":{"family":"bridge","table":"havip","chain":"guard","comment":"havip-guard-arp"}},
          {"rule":{"family":"bridge","table":"havip","chain":"guard","comment":"havip-guard-ip"}},
          {"rule":{"family":"bridge","table":"havip","chain":"forward_hook","comment":"havip-hook-forward"}},
          {"table":{"family":"ip","name":"havip_nat","handle":2}},
          {"map":{"family":"ip","name":"eip2vip","table":"havip_nat","elem":[["1.2.3.4","10.0.0.100"]]}},
          {"map":{"family":"ip","name":"vip2eip","table":"havip_nat","elem":[["10.0.0.100","1.2.3.4"]]}},
          {"rule":{"family":"ip","table":"havip_nat","chain":"pre","comment":"havip-dnat"}},
          {"rule":{"family":"ip","table":"havip_nat","chain":"post","comment":"havip-snat"}}]}"#;
        let (g, n) = parse_ruleset(json).unwrap();
        let g = g.unwrap();
        assert_eq!(
            g.owners,
            BTreeSet::from([("10.0.0.100".parse().unwrap(), "hvpabc".to_string())])
        );
        assert!(!g.intact, "the input hook's rule is missing");
        let n = n.unwrap();
        assert!(n.intact);
        assert_eq!(n.eips.len(), 1);
    }

    #[test]
    fn scripts_should_flush_and_fill_sets_in_one_file() {
        let dp = LinuxDataPlane::new("hv");
        let vip: Ipv4Addr = "10.0.0.100".parse().unwrap();
        let s = dp.guard_script(
            &BTreeSet::from([vip]),
            &BTreeSet::from([(vip, "hvp1".to_string())]),
            false,
        );
        assert_eq!(
            s,
            "flush set bridge havip vips\nflush set bridge havip owners\n\
             add element bridge havip vips { 10.0.0.100 }\n\
             add element bridge havip owners { 10.0.0.100 . \"hvp1\" }\n"
        );
        assert!(dp
            .nat_script(&BTreeMap::new(), true)
            .contains("oifname \"hvup\""));
    }
}
