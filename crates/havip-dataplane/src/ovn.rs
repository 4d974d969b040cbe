//! The OVN backend: the control plane programs the northbound database and reads the
//! southbound one; OVN (northd, ovn-controller, OVS) does the rest on every chassis.
//!
//! **What is programmed** (every row marked `external_ids:havip-owner=<prefix>`, with the
//! cloud ID in `havip-id`, so observing, diffing and teardown touch only this prefix's rows):
//! - a logical switch per vSwitch, named as the Linux backend names its bridge
//!   ([`Names::bridge`]);
//! - a logical switch port per instance / ENI, named [`Names::port`] (the name the desired
//!   state's `claim_of` maps back to the claimant), `addresses = "<mac> <ip>"`, port security
//!   `"<mac> <ip> <VIP>…"` with the VIPs of the HAVIPs it may claim (completed associations),
//!   disabled when the instance is not running;
//! - a `virtual` port per HAVIP (`<prefix>v<hash>`) with `virtual-ip` and `virtual-parents`
//!   (the same associated ports); ovn-controller binds it to the parent that sends a
//!   gratuitous ARP (or ARP reply) for the VIP and records that parent in the southbound
//!   `Port_Binding.virtual_parent`. A port that is not a parent, or whose port security
//!   lacks the VIP, cannot move it: its ARP is dropped at `ls_in_apply_port_sec`;
//! - a gateway router `<prefix>-gw` pinned to `gateway_chassis` (`options:chassis`), with a
//!   router port per vSwitch carrying the gateway address, a port `100.64.0.1/30` on the
//!   logical switch `<prefix>-public`, whose other port (`<prefix>up`) is the public
//!   namespace's uplink (`100.64.0.2`), and one `dnat_and_snat` EIP → VIP per bound EIP.
//!
//! A pass reads the five NB tables, diffs them against the desired rows and applies every
//! difference as **one** `ovn-nbctl` transaction (commands chained with `--`, all
//! `--may-exist`/`--if-exists`), so a pass is atomic and repeating it is harmless.
//!
//! **Host plumbing (single-host lab only, `ovs` set).** In a real deployment the hypervisor
//! plugs each VIF into its integration bridge with `external_ids:iface-id=<LSP name>`; the
//! control plane never touches a hypervisor. A lab has no hypervisor, so with `ovs` set the
//! backend also does that part on this host: a namespace per instance (and the public one),
//! a veth whose outer end lives in `<prefix>-fabric` (where the lab runs ovs-vswitchd with
//! the userspace `netdev` datapath, since this kernel has no openvswitch module) and is an
//! OVS port with the iface-id, and `ethtool -K <inner end> tx off` (the userspace datapath
//! does not complete TCP checksums that veth offloads). [`lab`] starts and stops the
//! daemons.
//!
//! **Watcher.** A long-lived `ovsdb-client monitor <SB> OVN_Southbound Port_Binding
//! logical_port,virtual_parent --format=json` child; when the `virtual_parent` of one of
//! this prefix's virtual ports changes to a port, a [`Claim`] of kind
//! [`ClaimKind::VirtualParent`] is delivered (port = the parent, ip = the VIP, no MAC,
//! `seen` = when the update was read). It is restarted when it dies.

use crate::config::OvnConfig;
use crate::desired::{
    fnv32, mac_of, DesiredState, Names, PortSpec, UPLINK_FABRIC, UPLINK_PREFIX, UPLINK_PUBLIC,
};
use crate::linux::{ip, ip_tolerant, list_namespaces, parse_links, peer_end, run, veth_pair};
use crate::plan::LinkKind;
use crate::{Claim, ClaimKind, ClaimSink, DataPlane, DataPlaneError, PassReport};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::SystemTime;

pub mod lab;

const OWNER: &str = "havip-owner";
const ID: &str = "havip-id";
/// The alias on the uplink's outer end (fabric side).
const UPLINK_ALIAS: &str = "havip uplink";

/// OVN names derived from the prefix (beside [`Names`], shared with the Linux backend).
pub trait OvnNames {
    /// The `virtual` port of an HAVIP.
    fn vport(&self, havip: &str) -> String;
    /// The gateway router.
    fn router(&self) -> String;
    /// The router port on a vSwitch's logical switch.
    fn rport(&self, vswitch: &str) -> String;
    /// The switch-side (type `router`) port peering with [`OvnNames::rport`].
    fn rpeer(&self, vswitch: &str) -> String;
    /// The logical switch of the public side.
    fn public_switch(&self) -> String;
    /// The lab's integration bridge.
    fn int_bridge(&self) -> String;
}

impl OvnNames for Names {
    fn vport(&self, havip: &str) -> String {
        format!("{}v{:08x}", self.prefix, fnv32(havip))
    }
    fn router(&self) -> String {
        format!("{}-gw", self.prefix)
    }
    fn rport(&self, vswitch: &str) -> String {
        format!("{}r{:08x}", self.prefix, fnv32(vswitch))
    }
    fn rpeer(&self, vswitch: &str) -> String {
        format!("{}s{:08x}", self.prefix, fnv32(vswitch))
    }
    fn public_switch(&self) -> String {
        format!("{}-public", self.prefix)
    }
    fn int_bridge(&self) -> String {
        format!("{}-int", self.prefix)
    }
}

/// A logical switch port as programmed (the columns the backend owns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lsp {
    /// Its logical switch.
    pub switch: String,
    /// `external_ids:havip-id`.
    pub id: String,
    /// `""`, `"virtual"` or `"router"`.
    pub kind: String,
    /// `addresses`.
    pub addresses: BTreeSet<String>,
    /// `port_security`.
    pub port_security: BTreeSet<String>,
    /// `options`.
    pub options: BTreeMap<String, String>,
    /// `enabled` (absent means enabled).
    pub enabled: bool,
}

/// The northbound rows of one prefix: desired or observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NbState {
    /// Logical switches: name → `havip-id`.
    pub switches: BTreeMap<String, String>,
    /// Logical switch ports by name.
    pub ports: BTreeMap<String, Lsp>,
    /// The gateway router's `options:chassis`, when the router exists.
    pub router: Option<String>,
    /// Router ports: name → (mac, network).
    pub rports: BTreeMap<String, (String, String)>,
    /// `dnat_and_snat` rules of the router: EIP → VIP.
    pub nat: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

/// The northbound rows the desired state calls for.
pub fn desired_nb(names: &Names, chassis: &str, d: &DesiredState) -> NbState {
    let mut nb = NbState::default();
    let mut vips_of: BTreeMap<&str, Vec<Ipv4Addr>> = BTreeMap::new();
    for (vip, port) in &d.claims {
        vips_of.entry(port.as_str()).or_default().push(*vip);
    }
    for (name, sw) in &d.switches {
        nb.switches.insert(name.clone(), sw.vswitch.to_string());
    }
    for (name, p) in &d.ports {
        let mut ps = format!("{} {}", p.mac, p.ip);
        for vip in vips_of.get(name.as_str()).into_iter().flatten() {
            ps.push_str(&format!(" {vip}"));
        }
        nb.ports.insert(
            name.clone(),
            Lsp {
                switch: p.bridge.clone(),
                id: p.owner.clone(),
                kind: String::new(),
                addresses: BTreeSet::from([format!("{} {}", p.mac, p.ip)]),
                port_security: BTreeSet::from([ps]),
                options: BTreeMap::new(),
                enabled: p.up,
            },
        );
    }
    for ((vswitch, vip), havip) in &d.vips {
        let switch = names.bridge(vswitch);
        if !nb.switches.contains_key(&switch) {
            continue;
        }
        let parents: Vec<&str> = d
            .claims
            .iter()
            .filter(|(v, p)| v == vip && d.ports.get(p).is_some_and(|s| s.bridge == switch))
            .map(|(_, p)| p.as_str())
            .collect();
        let mut options = BTreeMap::from([("virtual-ip".to_string(), vip.to_string())]);
        if !parents.is_empty() {
            options.insert("virtual-parents".into(), parents.join(","));
        }
        nb.ports.insert(
            names.vport(havip.as_str()),
            Lsp {
                switch,
                id: havip.to_string(),
                kind: "virtual".into(),
                addresses: BTreeSet::new(),
                port_security: BTreeSet::new(),
                options,
                enabled: true,
            },
        );
    }
    if nb.switches.is_empty() {
        return nb;
    }
    // The gateway router: a port per routed vSwitch, and the public side.
    nb.router = Some(chassis.to_string());
    let router_peer = |nb: &mut NbState, switch: &str, id: &str, rport: String, peer: String| {
        nb.ports.insert(
            peer,
            Lsp {
                switch: switch.to_string(),
                id: id.to_string(),
                kind: "router".into(),
                addresses: BTreeSet::from(["router".to_string()]),
                port_security: BTreeSet::new(),
                options: BTreeMap::from([("router-port".to_string(), rport)]),
                enabled: true,
            },
        );
    };
    for (name, sw) in &d.switches {
        let Some((gw, len)) = sw.gateway else {
            continue;
        };
        let v = sw.vswitch.as_str();
        let rport = names.rport(v);
        nb.rports
            .insert(rport.clone(), (mac_of(&rport), format!("{gw}/{len}")));
        router_peer(&mut nb, name, v, rport, names.rpeer(v));
    }
    let public = names.public_switch();
    nb.switches.insert(public.clone(), "public".into());
    let rport = names.rport("public");
    nb.rports.insert(
        rport.clone(),
        (mac_of(&rport), format!("{UPLINK_FABRIC}/{UPLINK_PREFIX}")),
    );
    router_peer(&mut nb, &public, "public", rport, names.rpeer("public"));
    let up = names.uplink();
    nb.ports.insert(
        up.clone(),
        Lsp {
            switch: public,
            id: "public".into(),
            kind: String::new(),
            addresses: BTreeSet::from([format!("{} {UPLINK_PUBLIC}", mac_of(&up))]),
            port_security: BTreeSet::new(),
            options: BTreeMap::new(),
            enabled: true,
        },
    );
    nb.nat = d.eips.clone();
    nb
}

/// The `ovn-nbctl` commands (each one argument list, to be chained with `--`) that take
/// `actual` to `desired`, and how many objects they change.
pub fn nb_commands(
    names: &Names,
    desired: &NbState,
    actual: &NbState,
) -> (Vec<Vec<String>>, usize) {
    let p = &names.prefix;
    let router = names.router();
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut changed = 0;
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    // 1. Out of the way: ports that are unwanted or on another switch, then switches, router
    //    ports and NAT rules that differ.
    for (name, lsp) in &actual.ports {
        if desired
            .ports
            .get(name)
            .is_none_or(|d| d.switch != lsp.switch)
        {
            cmds.push(v(&["--if-exists", "lsp-del", name]));
            changed += 1;
        }
    }
    for name in actual.switches.keys() {
        if !desired.switches.contains_key(name) {
            cmds.push(v(&["--if-exists", "ls-del", name]));
            changed += 1;
        }
    }
    if desired.router.is_none() && actual.router.is_some() {
        cmds.push(v(&["--if-exists", "lr-del", &router]));
        changed += 1;
    }
    let router_stays = desired.router.is_some() && actual.router.is_some();
    if router_stays {
        for (name, rp) in &actual.rports {
            if desired.rports.get(name) != Some(rp) {
                cmds.push(v(&["--if-exists", "lrp-del", name]));
                changed += 1;
            }
        }
        for (eip, vip) in &actual.nat {
            if desired.nat.get(eip) != Some(vip) {
                let e = eip.to_string();
                cmds.push(v(&[
                    "--if-exists",
                    "lr-nat-del",
                    &router,
                    "dnat_and_snat",
                    &e,
                ]));
                changed += 1;
            }
        }
    }
    // 2. Switches, the router, its ports, then switch ports and NAT.
    for (name, id) in &desired.switches {
        if actual.switches.get(name) != Some(id) {
            cmds.push(v(&["--may-exist", "ls-add", name]));
            cmds.push(v(&[
                "set",
                "Logical_Switch",
                name,
                &format!("external_ids:{OWNER}={p}"),
                &format!("external_ids:{ID}={id}"),
            ]));
            changed += 1;
        }
    }
    if let Some(chassis) = &desired.router {
        if actual.router.as_ref() != Some(chassis) {
            cmds.push(v(&["--may-exist", "lr-add", &router]));
            cmds.push(v(&[
                "set",
                "Logical_Router",
                &router,
                &format!("options:chassis={chassis}"),
                &format!("external_ids:{OWNER}={p}"),
            ]));
            changed += 1;
        }
        for (name, rp) in &desired.rports {
            if !router_stays || actual.rports.get(name) != Some(rp) {
                cmds.push(v(&["--may-exist", "lrp-add", &router, name, &rp.0, &rp.1]));
                changed += 1;
            }
        }
        for (eip, vip) in &desired.nat {
            if !router_stays || actual.nat.get(eip) != Some(vip) {
                let (e, l) = (eip.to_string(), vip.to_string());
                cmds.push(v(&[
                    "--may-exist",
                    "lr-nat-add",
                    &router,
                    "dnat_and_snat",
                    &e,
                    &l,
                ]));
                changed += 1;
            }
        }
    }
    for (name, lsp) in &desired.ports {
        if actual.ports.get(name) == Some(lsp) {
            continue;
        }
        changed += 1;
        cmds.push(v(&["--may-exist", "lsp-add", &lsp.switch, name]));
        cmds.push(v(&["lsp-set-type", name, &lsp.kind]));
        let mut c = v(&["lsp-set-addresses", name]);
        c.extend(lsp.addresses.iter().cloned());
        cmds.push(c);
        let mut c = v(&["lsp-set-port-security", name]);
        c.extend(lsp.port_security.iter().cloned());
        cmds.push(c);
        let mut c = v(&["lsp-set-options", name]);
        c.extend(lsp.options.iter().map(|(k, v)| format!("{k}={v}")));
        cmds.push(c);
        cmds.push(v(&[
            "lsp-set-enabled",
            name,
            if lsp.enabled { "enabled" } else { "disabled" },
        ]));
        cmds.push(v(&[
            "set",
            "Logical_Switch_Port",
            name,
            &format!("external_ids:{OWNER}={p}"),
            &format!("external_ids:{ID}={}", lsp.id),
        ]));
    }
    (cmds, changed)
}

// ---- OVSDB JSON (as `ovn-nbctl -f json` prints it) ----

/// A set column: a scalar is a one-element set, `["set", [...]]` the general case.
fn set_of(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) if a.first().and_then(Value::as_str) == Some("set") => a
            .get(1)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        other => vec![other.clone()],
    }
}

fn strings(v: &Value) -> BTreeSet<String> {
    set_of(v)
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn uuid(v: &Value) -> Option<String> {
    let a = v.as_array()?;
    (a.first()?.as_str()? == "uuid").then(|| a.get(1)?.as_str().map(str::to_string))?
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .filter(|a| a.first().and_then(Value::as_str) == Some("map"))
        .and_then(|a| a.get(1)?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|kv| {
            let kv = kv.as_array()?;
            Some((
                kv.first()?.as_str()?.to_string(),
                kv.get(1)?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Rows of an `ovn-nbctl -f json list` answer, as heading → value.
fn rows(command: &str, out: &str) -> Result<Vec<BTreeMap<String, Value>>, DataPlaneError> {
    let bad = |m: String| DataPlaneError::Parse {
        command: command.to_string(),
        message: m,
    };
    let v: Value = serde_json::from_str(out).map_err(|e| bad(e.to_string()))?;
    let heads: Vec<String> = v["headings"]
        .as_array()
        .ok_or_else(|| bad("no headings".into()))?
        .iter()
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect();
    Ok(v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_array())
        .map(|r| heads.iter().cloned().zip(r.iter().cloned()).collect())
        .collect())
}

/// Parses the five tables (`ls`, `lsp`, `lr`, `lrp`, `nat`: `list` answers in JSON) into the
/// rows of `prefix` (routers and their ports by name, NAT through the router).
pub fn parse_nb(
    names: &Names,
    ls: &str,
    lsp: &str,
    lr: &str,
    lrp: &str,
    nat: &str,
) -> Result<NbState, DataPlaneError> {
    let p = names.prefix.as_str();
    let mine = |r: &BTreeMap<String, Value>| {
        r.get("external_ids")
            .is_some_and(|e| map_of(e).get(OWNER).map(String::as_str) == Some(p))
    };
    let name = |r: &BTreeMap<String, Value>| {
        r.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut nb = NbState::default();
    let mut switch_of: BTreeMap<String, String> = BTreeMap::new();
    for r in rows("list Logical_Switch", ls)?.iter().filter(|r| mine(r)) {
        let n = name(r);
        for u in set_of(&r["ports"]).iter().filter_map(uuid) {
            switch_of.insert(u, n.clone());
        }
        nb.switches
            .insert(n, map_of(&r["external_ids"]).remove(ID).unwrap_or_default());
    }
    for r in rows("list Logical_Switch_Port", lsp)?
        .iter()
        .filter(|r| mine(r))
    {
        let Some(sw) = uuid(&r["_uuid"]).and_then(|u| switch_of.get(&u).cloned()) else {
            continue; // a port of a switch that is not ours: leave it
        };
        nb.ports.insert(
            name(r),
            Lsp {
                switch: sw,
                id: map_of(&r["external_ids"]).remove(ID).unwrap_or_default(),
                kind: r["type"].as_str().unwrap_or_default().to_string(),
                addresses: strings(&r["addresses"]),
                port_security: strings(&r["port_security"]),
                options: map_of(&r["options"]),
                enabled: set_of(&r["enabled"]).first().and_then(Value::as_bool) != Some(false),
            },
        );
    }
    let router = names.router();
    let mut nat_rows: BTreeSet<String> = BTreeSet::new();
    let mut rport_rows: BTreeSet<String> = BTreeSet::new();
    for r in rows("list Logical_Router", lr)?.iter() {
        if name(r) != router || !mine(r) {
            continue;
        }
        nb.router = Some(map_of(&r["options"]).remove("chassis").unwrap_or_default());
        nat_rows = set_of(&r["nat"]).iter().filter_map(uuid).collect();
        rport_rows = set_of(&r["ports"]).iter().filter_map(uuid).collect();
    }
    for r in rows("list Logical_Router_Port", lrp)? {
        if uuid(&r["_uuid"]).is_some_and(|u| rport_rows.contains(&u)) {
            let nets: Vec<String> = strings(&r["networks"]).into_iter().collect();
            nb.rports.insert(
                name(&r),
                (
                    r["mac"].as_str().unwrap_or_default().to_string(),
                    nets.join(" "),
                ),
            );
        }
    }
    for r in rows("list NAT", nat)? {
        if !uuid(&r["_uuid"]).is_some_and(|u| nat_rows.contains(&u)) {
            continue;
        }
        let (Some(e), Some(l)) = (
            r["external_ip"].as_str().and_then(|s| s.parse().ok()),
            r["logical_ip"].as_str().and_then(|s| s.parse().ok()),
        ) else {
            continue;
        };
        if r["type"] == "dnat_and_snat" {
            nb.nat.insert(e, l);
        }
    }
    Ok(nb)
}

/// The OVN backend.
pub struct OvnDataPlane {
    names: Names,
    cfg: OvnConfig,
    /// Virtual port → VIP, from the last pass (what the watcher reports on).
    vports: Arc<Mutex<BTreeMap<String, Ipv4Addr>>>,
    watcher: Mutex<Option<Watcher>>,
}

struct Watcher {
    child: Arc<Mutex<Child>>,
    thread: std::thread::JoinHandle<()>,
    /// Set by `stop_watching` before it kills the child (an expected end is not a warning).
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl OvnDataPlane {
    /// A backend for `prefix` talking to the databases of `cfg`.
    pub fn new(prefix: &str, cfg: &OvnConfig) -> Self {
        OvnDataPlane {
            names: Names::new(prefix),
            cfg: cfg.clone(),
            vports: Arc::new(Mutex::new(BTreeMap::new())),
            watcher: Mutex::new(None),
        }
    }

    /// Runs `ovn-nbctl` against the northbound database.
    pub fn nbctl(&self, args: &[&str]) -> Result<String, DataPlaneError> {
        let db = format!("--db={}", self.cfg.nb);
        let mut a = vec![db.as_str(), "--timeout=10"];
        a.extend_from_slice(args);
        run("ovn-nbctl", &a, None)
    }

    /// Runs `ovn-sbctl` against the southbound database.
    pub fn sbctl(&self, args: &[&str]) -> Result<String, DataPlaneError> {
        let db = format!("--db={}", self.cfg.sb);
        let mut a = vec![db.as_str(), "--timeout=10"];
        a.extend_from_slice(args);
        run("ovn-sbctl", &a, None)
    }

    fn vsctl(&self, args: &[&str]) -> Result<String, DataPlaneError> {
        let ovs = self.cfg.ovs.as_deref().unwrap_or_default();
        let db = format!("--db={ovs}");
        let mut a = vec![db.as_str(), "--timeout=10"];
        a.extend_from_slice(args);
        run("ovs-vsctl", &a, None)
    }

    /// This prefix's northbound rows as they are now.
    pub fn observe_nb(&self) -> Result<NbState, DataPlaneError> {
        let list = |t: &str, cols: &str| {
            self.nbctl(&["-f", "json", &format!("--columns={cols}"), "list", t])
        };
        parse_nb(
            &self.names,
            &list("Logical_Switch", "_uuid,name,ports,external_ids")?,
            &list(
                "Logical_Switch_Port",
                "_uuid,name,type,addresses,port_security,options,enabled,external_ids",
            )?,
            &list(
                "Logical_Router",
                "_uuid,name,ports,nat,options,external_ids",
            )?,
            &list("Logical_Router_Port", "_uuid,name,mac,networks")?,
            &list("NAT", "_uuid,type,external_ip,logical_ip")?,
        )
    }

    /// The southbound `virtual_parent` of a logical port (`None`: unbound or no parent).
    pub fn virtual_parent(&self, lport: &str) -> Result<Option<String>, DataPlaneError> {
        let out = self.sbctl(&[
            "--bare",
            "--columns=virtual_parent",
            "find",
            "Port_Binding",
            &format!("logical_port={lport}"),
        ])?;
        let s = out.trim();
        Ok((!s.is_empty()).then(|| s.to_string()))
    }

    fn pass_nb(&self, desired: &DesiredState) -> Result<usize, DataPlaneError> {
        let want = desired_nb(&self.names, &self.cfg.gateway_chassis, desired);
        let have = self.observe_nb()?;
        let (cmds, changed) = nb_commands(&self.names, &want, &have);
        if cmds.is_empty() {
            return Ok(0);
        }
        let mut args: Vec<&str> = Vec::new();
        for c in &cmds {
            args.push("--");
            args.extend(c.iter().map(String::as_str));
        }
        self.nbctl(&args)?;
        tracing::info!(
            changed,
            commands = cmds.len(),
            "ovn: northbound transaction applied"
        );
        Ok(changed)
    }

    /// The lab's host side: namespaces, veths, OVS ports. Returns (applied, failed).
    fn pass_host(&self, desired: &DesiredState) -> (usize, usize) {
        let mut r = (0, 0);
        let mut step = |what: &str, res: Result<(), DataPlaneError>| match res {
            Ok(()) => {
                r.0 += 1;
                tracing::info!(step = what, "ovn host: applied");
            }
            Err(e) => {
                r.1 += 1;
                tracing::warn!(step = what, error = %e, "ovn host: failed; retried next pass");
            }
        };
        let fabric = self.names.fabric();
        let public = self.names.public();
        let namespaces: BTreeSet<String> = match list_namespaces(&self.names) {
            Ok(n) => n.into_iter().collect(),
            Err(e) => {
                step("list namespaces", Err(e));
                return r;
            }
        };
        if !namespaces.contains(&fabric) {
            step(
                "fabric namespace",
                Err(DataPlaneError::Watch(format!(
                    "{fabric} is missing: the OVN lab is not running (havip-lab up)"
                ))),
            );
            return r;
        }
        let mut wanted = desired.hosts.clone();
        wanted.insert(public.clone());
        for ns in &wanted {
            if !namespaces.contains(ns) {
                step(&format!("create namespace {ns}"), create_ns(ns));
            }
        }
        let links = match ip(&["-n", &fabric, "-j", "-d", "addr", "show"])
            .and_then(|o| parse_links(&self.names, &o))
        {
            Ok(l) => l,
            Err(e) => {
                step("list links", Err(e));
                return r;
            }
        };
        let ifaces = match self.plugged() {
            Ok(i) => i,
            Err(e) => {
                step("list OVS interfaces", Err(e));
                return r;
            }
        };
        let uplink = self.names.uplink();
        for (name, l) in &links {
            if l.kind == LinkKind::Veth && *name != uplink && !desired.ports.contains_key(name) {
                step(&format!("remove port {name}"), self.unplug(name));
            }
        }
        let up_ok = namespaces.contains(&public)
            && ifaces.contains(&uplink)
            && links.get(&uplink).is_some_and(|l| {
                l.kind == LinkKind::Veth && l.up && l.alias.as_deref() == Some(UPLINK_ALIAS)
            });
        if !up_ok {
            step("create uplink", self.create_uplink());
        }
        for (name, spec) in &desired.ports {
            let ok = ifaces.contains(name)
                && links.get(name).is_some_and(|l| {
                    l.kind == LinkKind::Veth && l.alias.as_deref() == Some(&spec.alias())
                });
            if !ok {
                step(&format!("create port {name}"), self.create_port(name, spec));
            } else if links[name].up != spec.up {
                let state = if spec.up { "up" } else { "down" };
                step(
                    &format!("set port {name} {state}"),
                    ip(&["-n", &fabric, "link", "set", name, state]).map(|_| ()),
                );
            }
        }
        for ns in &namespaces {
            if *ns != fabric && !wanted.contains(ns) {
                step(
                    &format!("delete namespace {ns}"),
                    ip_tolerant(&["netns", "del", ns]),
                );
            }
        }
        r
    }

    /// OVS interfaces on the integration bridge that carry an `iface-id` equal to their name.
    fn plugged(&self) -> Result<BTreeSet<String>, DataPlaneError> {
        let out = self.vsctl(&[
            "-f",
            "json",
            "--columns=name,external_ids",
            "list",
            "Interface",
        ])?;
        Ok(rows("ovs-vsctl list Interface", &out)?
            .iter()
            .filter_map(|r| {
                let n = r["name"].as_str()?;
                (map_of(&r["external_ids"])
                    .get("iface-id")
                    .map(String::as_str)
                    == Some(n))
                .then(|| n.to_string())
            })
            .collect())
    }

    fn unplug(&self, name: &str) -> Result<(), DataPlaneError> {
        self.vsctl(&["--if-exists", "del-port", &self.names.int_bridge(), name])?;
        ip_tolerant(&["-n", &self.names.fabric(), "link", "del", name])
    }

    fn plug(&self, name: &str) -> Result<(), DataPlaneError> {
        self.vsctl(&[
            "--may-exist",
            "add-port",
            &self.names.int_bridge(),
            name,
            "--",
            "set",
            "Interface",
            name,
            &format!("external_ids:iface-id={name}"),
            &format!("external_ids:{OWNER}={}", self.names.prefix),
        ])
        .map(|_| ())
    }

    fn create_uplink(&self) -> Result<(), DataPlaneError> {
        let (f, up, public) = (
            self.names.fabric(),
            self.names.uplink(),
            self.names.public(),
        );
        self.unplug(&up)?;
        veth_pair(&f, &up, &public, "eth0")?;
        inner_end(
            &public,
            "eth0",
            &mac_of(&up),
            &format!("{UPLINK_PUBLIC}/{UPLINK_PREFIX}"),
            Some(UPLINK_FABRIC),
        )?;
        ip(&["-n", &f, "link", "set", &up, "up"])?;
        self.plug(&up)?;
        ip(&["-n", &f, "link", "set", &up, "alias", UPLINK_ALIAS]).map(|_| ())
    }

    fn create_port(&self, name: &str, spec: &PortSpec) -> Result<(), DataPlaneError> {
        let f = self.names.fabric();
        let ns = spec.netns.as_str();
        self.unplug(name)?;
        veth_pair(&f, name, ns, &spec.ifname)?;
        inner_end(
            ns,
            &spec.ifname,
            &spec.mac,
            &format!("{}/{}", spec.ip, spec.prefix),
            spec.gateway,
        )?;
        ip(&[
            "-n",
            &f,
            "link",
            "set",
            name,
            if spec.up { "up" } else { "down" },
        ])?;
        self.plug(name)?;
        // Labelled last: a half-built port has no alias and is rebuilt next pass.
        ip(&["-n", &f, "link", "set", name, "alias", &spec.alias()]).map(|_| ())
    }

    /// Removes this prefix's northbound rows (a pass towards nothing) and, on a lab host, its
    /// namespaces (the daemons are [`lab::stop`]'s business).
    pub fn teardown(&self) -> PassReport {
        self.stop_watching();
        self.reconcile(&DesiredState::default())
    }
}

fn create_ns(ns: &str) -> Result<(), DataPlaneError> {
    ip_tolerant(&["netns", "add", ns])?;
    ip(&["-n", ns, "link", "set", "lo", "up"]).map(|_| ())
}

/// Configures the namespace end of a veth: MAC, address, up, default route, checksum
/// offload off (the userspace datapath forwards what veth hands it without a checksum).
fn inner_end(
    ns: &str,
    ifname: &str,
    mac: &str,
    addr: &str,
    gateway: Option<Ipv4Addr>,
) -> Result<(), DataPlaneError> {
    peer_end(ns, ifname, mac, addr, gateway)?;
    run(
        "ip",
        &["netns", "exec", ns, "ethtool", "-K", ifname, "tx", "off"],
        None,
    )
    .map(|_| ())
}

impl DataPlane for OvnDataPlane {
    fn names(&self) -> &Names {
        &self.names
    }

    fn reconcile(&self, desired: &DesiredState) -> PassReport {
        let mut r = PassReport::default();
        *self.vports.lock() = desired
            .vips
            .iter()
            .map(|((_, vip), h)| (self.names.vport(h.as_str()), *vip))
            .collect();
        if self.cfg.ovs.is_some() {
            let (a, f) = self.pass_host(desired);
            r.applied += a;
            r.failed += f;
        }
        match self.pass_nb(desired) {
            Ok(n) => r.applied += n,
            Err(e) => {
                r.failed += 1;
                tracing::warn!(error = %e, "ovn: northbound pass failed; retried next pass");
            }
        }
        r
    }

    fn ensure_watching(&self, sink: ClaimSink) -> Result<(), DataPlaneError> {
        let mut w = self.watcher.lock();
        if w.as_ref().is_some_and(|w| !w.thread.is_finished()) {
            return Ok(());
        }
        if let Some(old) = w.take() {
            let _ = old.child.lock().kill();
            let _ = old.child.lock().wait();
        }
        let mut child = Command::new("ovsdb-client")
            .args([
                "monitor",
                &self.cfg.sb,
                "OVN_Southbound",
                "Port_Binding",
                "logical_port,virtual_parent",
                "--format=json",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| DataPlaneError::Watch(format!("ovsdb-client monitor: {e}")))?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| DataPlaneError::Watch("no stdout".into()))?;
        let vports = self.vports.clone();
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("havip-ovn-watch".into())
            .spawn(move || {
                let mut parents: BTreeMap<String, Option<String>> = BTreeMap::new();
                for line in std::io::BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let seen = SystemTime::now();
                    for (lport, parent) in parse_monitor(&line) {
                        if parents.get(&lport) == Some(&parent) {
                            continue;
                        }
                        parents.insert(lport.clone(), parent.clone());
                        let (Some(port), Some(vip)) = (parent, vports.lock().get(&lport).copied())
                        else {
                            continue;
                        };
                        sink(Claim {
                            port,
                            ip: vip,
                            mac: String::new(),
                            kind: ClaimKind::VirtualParent,
                            seen,
                        });
                    }
                }
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    tracing::info!("ovn: southbound monitor stopped");
                } else {
                    tracing::warn!("ovn: southbound monitor ended; the next pass restarts it");
                }
            })
            .map_err(|e| DataPlaneError::Watch(e.to_string()))?;
        *w = Some(Watcher {
            child: Arc::new(Mutex::new(child)),
            thread,
            stopping,
        });
        tracing::info!(sb = %self.cfg.sb, "ovn: southbound virtual_parent monitor started");
        Ok(())
    }

    fn stop_watching(&self) {
        if let Some(w) = self.watcher.lock().take() {
            w.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = w.child.lock().kill();
            let _ = w.child.lock().wait();
            let _ = w.thread.join();
        }
    }
}

/// (logical_port, virtual_parent) of every row an `ovsdb-client monitor --format=json` line
/// reports as present now (`initial`, `insert`, `new`); a deleted row has no parent.
pub fn parse_monitor(line: &str) -> Vec<(String, Option<String>)> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return vec![];
    };
    let heads: Vec<&str> = v["headings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let col = |n: &str| heads.iter().position(|h| *h == n);
    let (Some(a), Some(lp), Some(vp)) = (col("action"), col("logical_port"), col("virtual_parent"))
    else {
        return vec![];
    };
    let mut out = Vec::new();
    for r in v["data"].as_array().into_iter().flatten() {
        let Some(lport) = r.get(lp).and_then(Value::as_str) else {
            continue;
        };
        let parent = match r.get(a).and_then(Value::as_str) {
            Some("initial" | "insert" | "new") => r
                .get(vp)
                .and_then(|x| strings(x).into_iter().next())
                .filter(|s| !s.is_empty()),
            Some("delete") => None,
            _ => continue,
        };
        out.push((lport.to_string(), parent));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{derive, tests::snapshot};

    #[test]
    fn desired_rows_should_give_associated_ports_the_vip_and_make_them_parents() {
        let n = Names::new("hv");
        let d = derive(&n, &snapshot());
        let nb = desired_nb(&n, "ch1", &d);
        let (pa, pb) = (n.port("i-a"), n.port("i-b"));
        let vip = "192.168.1.100";
        assert!(nb.ports[&pa]
            .port_security
            .iter()
            .next()
            .unwrap()
            .ends_with(vip));
        assert!(
            !nb.ports[&pb]
                .port_security
                .iter()
                .next()
                .unwrap()
                .contains(vip),
            "i-b is still associating"
        );
        let v = &nb.ports[&n.vport("havip-1")];
        assert_eq!(v.kind, "virtual");
        assert_eq!(v.options["virtual-ip"], vip);
        assert_eq!(v.options["virtual-parents"], pa);
        assert_eq!(nb.router.as_deref(), Some("ch1"));
        assert_eq!(nb.nat.len(), 1);
        assert!(nb.ports.contains_key(&n.uplink()));
    }

    #[test]
    fn commands_should_be_empty_when_nothing_differs_and_repair_a_deleted_port() {
        let n = Names::new("hv");
        let nb = desired_nb(&n, "ch1", &derive(&n, &snapshot()));
        assert_eq!(nb_commands(&n, &nb, &nb), (vec![], 0));
        let mut drift = nb.clone();
        let vport = n.vport("havip-1");
        drift.ports.remove(&vport);
        drift.nat.clear();
        let (cmds, changed) = nb_commands(&n, &nb, &drift);
        assert_eq!(changed, 2, "{cmds:?}");
        assert!(cmds
            .iter()
            .any(|c| c[..2] == ["--may-exist".to_string(), "lsp-add".into()] && c[3] == vport));
        assert!(cmds
            .iter()
            .any(|c| c.get(1).map(String::as_str) == Some("lr-nat-add")));
        let (cmds, _) = nb_commands(&n, &NbState::default(), &nb);
        assert!(cmds.iter().any(|c| c[1] == "lr-del"));
        assert!(cmds.iter().all(|c| c[0] == "--if-exists"), "{cmds:?}");
    }

    #[test]
    fn nb_parser_should_read_only_this_prefixes_rows() {
        let ls = r#"{"data":[[["uuid","s1"],"hvbx",["set",[["uuid","p1"],["uuid","p2"]]],["map",[["havip-owner","hv"],["havip-id","vsw-1"]]]],
                            [["uuid","s2"],"other",["uuid","p3"],["map",[]]]],"headings":["_uuid","name","ports","external_ids"]}"#;
        let lsp = r#"{"data":[[["uuid","p1"],"hvpa","","0a:00:00:00:00:01 10.0.0.1","0a:00:00:00:00:01 10.0.0.1 10.0.0.100",["map",[]],["set",[]],["map",[["havip-owner","hv"],["havip-id","i-a"]]]],
                             [["uuid","p2"],"hvv1","virtual",["set",[]],["set",[]],["map",[["virtual-ip","10.0.0.100"],["virtual-parents","hvpa"]]],false,["map",[["havip-owner","hv"],["havip-id","h"]]]],
                             [["uuid","p3"],"x","",["set",[]],["set",[]],["map",[]],["set",[]],["map",[]]]],
                     "headings":["_uuid","name","type","addresses","port_security","options","enabled","external_ids"]}"#;
        let lr = r#"{"data":[[["uuid","r1"],"hv-gw",["uuid","rp1"],["uuid","n1"],["map",[["chassis","ch1"]]],["map",[["havip-owner","hv"]]]]],"headings":["_uuid","name","ports","nat","options","external_ids"]}"#;
        let lrp = r#"{"data":[[["uuid","rp1"],"hvrx","0a:00:00:00:01:01","10.0.0.254/24"]],"headings":["_uuid","name","mac","networks"]}"#;
        let nat = r#"{"data":[[["uuid","n1"],"dnat_and_snat","1.2.3.4","10.0.0.100"]],"headings":["_uuid","type","external_ip","logical_ip"]}"#;
        let nb = parse_nb(&Names::new("hv"), ls, lsp, lr, lrp, nat).unwrap();
        assert_eq!(nb.switches.len(), 1);
        assert_eq!(nb.ports.len(), 2);
        assert!(!nb.ports["hvv1"].enabled);
        assert_eq!(nb.ports["hvpa"].port_security.len(), 1);
        assert_eq!(nb.router.as_deref(), Some("ch1"));
        assert_eq!(nb.rports["hvrx"].1, "10.0.0.254/24");
        assert_eq!(nb.nat.len(), 1);
    }

    #[test]
    fn monitor_parser_should_follow_virtual_parent() {
        let init = r#"{"data":[["u1","initial","hvv1",["set",[]]],["u2","initial","hvpa",["set",[]]]],"headings":["row","action","logical_port","virtual_parent"]}"#;
        assert_eq!(
            parse_monitor(init),
            vec![("hvv1".to_string(), None), ("hvpa".to_string(), None)]
        );
        let moved = r#"{"data":[["u1","old",null,["set",[]]],["","new","hvv1","hvpb"]],"headings":["row","action","logical_port","virtual_parent"]}"#;
        assert_eq!(
            parse_monitor(moved),
            vec![("hvv1".to_string(), Some("hvpb".to_string()))]
        );
    }
}
