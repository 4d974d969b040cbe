//! The desired state of the data plane, derived from the store alone.
//!
//! Nothing here remembers anything between two derivations: after a restart (or a change made
//! by any node sharing the store) the same rows give the same desired state, which is what
//! lets the reconciler repair drift and survive crashes without a journal.
//!
//! What is derived:
//! - one **switch** (Linux bridge) per vSwitch, carrying the vSwitch's gateway address;
//! - one **port** per instance (its primary interface, `eth0` in the instance's namespace)
//!   and per ENI (`eth1`, `eth2`, … in the namespace of the instance it is attached to, or
//!   `eth0` of a namespace of its own when it is free);
//! - the **VIPs**: every HAVIP's address in its vSwitch, claimable by nobody unless allowed;
//! - the **claims**: (VIP, port) pairs allowed to send ARP or IPv4 from the VIP: the ports of
//!   the HAVIP's members whose association has completed (`Associated` or `Unassociating`, the
//!   same rule `Core::havip_announce` applies);
//! - the **EIP map**: each EIP bound to an HAVIP (`InUse` or `Unassociating`) to its VIP.
//!
//! Names: Linux links have at most 15 bytes, far fewer than a cloud ID, so bridge and
//! switch-side port names are `<prefix>b<hash>` / `<prefix>p<hash>` with an FNV-1a hash of the
//! ID; the ID itself is written into the link's alias, with a fingerprint of the spec, so that
//! an observer (and a human running `ip -d link`) can tell which object a link stands for and
//! whether it is still built as desired.

use havip_core::model::*;
use havip_core::store::{HavipFilter, Tx};
use havip_core::types::*;
use havip_core::DomainError;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// Address of the fabric's end of the uplink to the public namespace (EIP traffic).
pub const UPLINK_FABRIC: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// Address of the public namespace's end of the uplink: where a lab's "internet" client sits.
pub const UPLINK_PUBLIC: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
/// Prefix length of the uplink.
pub const UPLINK_PREFIX: u8 = 30;

/// 32-bit FNV-1a, for short stable link names and spec fingerprints.
pub fn fnv32(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// How the objects of one lab are named (all derived from the prefix).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Names {
    /// The configured prefix.
    pub prefix: String,
}

impl Names {
    /// Names under `prefix` (checked by the config).
    pub fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
        }
    }
    /// The namespace holding every bridge, the nftables tables and the router.
    pub fn fabric(&self) -> String {
        format!("{}-fabric", self.prefix)
    }
    /// The namespace on the far side of the uplink (the "internet" of EIPs).
    pub fn public(&self) -> String {
        format!("{}-public", self.prefix)
    }
    /// The namespace of an instance, or of a free ENI.
    pub fn host(&self, id: &str) -> String {
        let clean: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}-{}", self.prefix, clean)
    }
    /// Whether a namespace name is one of this lab's.
    pub fn owns_namespace(&self, ns: &str) -> bool {
        ns.starts_with(&format!("{}-", self.prefix))
    }
    /// The bridge of a vSwitch.
    pub fn bridge(&self, vswitch: &VSwitchId) -> String {
        format!("{}b{:08x}", self.prefix, fnv32(vswitch.as_str()))
    }
    /// The switch-side end of a port (instance or ENI ID).
    pub fn port(&self, owner: &str) -> String {
        format!("{}p{:08x}", self.prefix, fnv32(owner))
    }
    /// The fabric's end of the uplink.
    pub fn uplink(&self) -> String {
        format!("{}up", self.prefix)
    }
    /// Whether a link in the fabric namespace is one of this lab's.
    pub fn owns_link(&self, name: &str) -> bool {
        name.starts_with(&self.prefix) && name != "lo"
    }
}

/// One vSwitch's bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SwitchSpec {
    /// The vSwitch.
    pub vswitch: VSwitchId,
    /// The gateway address and prefix length on the bridge (`None` when the vSwitch's block
    /// overlaps one already routed by the fabric: it is then switched but not routed).
    pub gateway: Option<(Ipv4Addr, u8)>,
}

impl SwitchSpec {
    /// The alias written on the bridge: the vSwitch ID and a fingerprint of this spec.
    pub fn alias(&self) -> String {
        format!("havip {} {:08x}", self.vswitch, fnv32(&format!("{self:?}")))
    }
}

/// One port: a veth whose switch-side end is on a bridge and whose other end is an
/// interface of an instance (or free ENI) namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    /// The instance or ENI ID: the claimant the watcher reports.
    pub owner: String,
    /// Instance or ENI.
    pub kind: TargetKind,
    /// The vSwitch.
    pub vswitch: VSwitchId,
    /// The bridge (switch-side master).
    pub bridge: String,
    /// The namespace of the far end.
    pub netns: String,
    /// The far end's name inside `netns` (`eth0`, `eth1`, …).
    pub ifname: String,
    /// The far end's MAC (locally administered, derived from the owner).
    pub mac: String,
    /// The far end's address.
    pub ip: Ipv4Addr,
    /// Prefix length of the vSwitch.
    pub prefix: u8,
    /// Default route through the vSwitch's gateway (primary interfaces only).
    pub gateway: Option<Ipv4Addr>,
    /// Administratively up: the instance is `Running` (a stopped instance's port is down).
    pub up: bool,
}

impl PortSpec {
    /// The alias written on the switch-side end: the owner and a fingerprint of everything
    /// fixed at creation (not `up`, which is repaired in place).
    pub fn alias(&self) -> String {
        let fixed = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}/{}|{:?}",
            self.owner,
            self.kind.as_str(),
            self.vswitch,
            self.bridge,
            self.netns,
            self.ifname,
            self.mac,
            self.ip,
            self.prefix,
            self.gateway
        );
        format!("havip {} {:08x}", self.owner, fnv32(&fixed))
    }
}

/// Everything the data plane should be, derived from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DesiredState {
    /// Bridges by name.
    pub switches: BTreeMap<String, SwitchSpec>,
    /// Ports by switch-side name.
    pub ports: BTreeMap<String, PortSpec>,
    /// Instance and free-ENI namespaces (besides the fabric and the public one).
    pub hosts: BTreeSet<String>,
    /// Every VIP, by (vSwitch, address), to its HAVIP.
    pub vips: BTreeMap<(VSwitchId, Ipv4Addr), HavipId>,
    /// (VIP, switch-side port name) pairs allowed to claim the VIP.
    pub claims: BTreeSet<(Ipv4Addr, String)>,
    /// Bound EIP → VIP.
    pub eips: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

impl DesiredState {
    /// Every VIP address (the guard's `vips` set).
    pub fn vip_addresses(&self) -> BTreeSet<Ipv4Addr> {
        self.vips.keys().map(|(_, ip)| *ip).collect()
    }

    /// The HAVIP and the claimant behind an ARP that claimed `ip` on switch-side `port`, if
    /// `ip` is a VIP of the port's vSwitch.
    pub fn claim_of(&self, port: &str, ip: Ipv4Addr) -> Option<(HavipId, String)> {
        let p = self.ports.get(port)?;
        let h = self.vips.get(&(p.vswitch.clone(), ip))?;
        Some((h.clone(), p.owner.clone()))
    }
}

/// The rows a derivation reads, in one read transaction.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Accounts (for each vSwitch's cloud).
    pub accounts: Vec<Account>,
    /// vSwitches.
    pub vswitches: Vec<VSwitch>,
    /// Instances.
    pub instances: Vec<Instance>,
    /// ENIs.
    pub enis: Vec<Eni>,
    /// HAVIPs.
    pub havips: Vec<Havip>,
    /// Their members.
    pub members: Vec<Member>,
    /// EIPs.
    pub eips: Vec<Eip>,
}

impl Snapshot {
    /// Reads every row the derivation needs.
    pub fn read(tx: &mut dyn Tx) -> Result<Snapshot, DomainError> {
        let (_, havips) = tx.havip_query(&HavipFilter {
            limit: i64::MAX as u64,
            ..HavipFilter::default()
        })?;
        let ids: Vec<HavipId> = havips.iter().map(|h| h.id.clone()).collect();
        Ok(Snapshot {
            accounts: tx.accounts()?,
            vswitches: tx.vswitches()?,
            instances: tx.instances()?,
            enis: tx.enis()?,
            members: if ids.is_empty() {
                vec![]
            } else {
                tx.members_of(&ids)?
            },
            havips,
            eips: tx.eips()?,
        })
    }
}

/// The gateway a cloud's vSwitch uses: one of its reserved addresses (Alibaba: the third
/// from last, `.253` of a /24; Tencent and Baidu: `.1`).
pub fn gateway_of(cloud: Cloud, cidr: Cidr) -> Option<Ipv4Addr> {
    if cidr.prefix() > 29 {
        return None;
    }
    Some(Ipv4Addr::from(match cloud {
        Cloud::Aliyun => cidr.last() - 2,
        Cloud::Tencent | Cloud::Baidu => cidr.base() + 1,
    }))
}

fn overlaps(a: Cidr, b: Cidr) -> bool {
    a.base() <= b.last() && b.base() <= a.last()
}

/// The locally administered MAC derived from a name (ports and router ports).
pub fn mac_of(owner: &str) -> String {
    let h = fnv32(owner).to_be_bytes();
    let g = fnv32(&format!("{owner}#")).to_be_bytes();
    format!(
        "0a:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        g[0], h[0], h[1], h[2], h[3]
    )
}

/// Derives the desired state from a snapshot. Pure: same rows, same result.
pub fn derive(names: &Names, s: &Snapshot) -> DesiredState {
    let mut d = DesiredState::default();
    let cloud_of: BTreeMap<&AccountId, Cloud> =
        s.accounts.iter().map(|a| (&a.id, a.cloud)).collect();
    let mut vswitches: Vec<&VSwitch> = s.vswitches.iter().collect();
    vswitches.sort_by(|a, b| a.id.cmp(&b.id));
    let mut routed: Vec<Cidr> = Vec::new();
    let mut vsw: BTreeMap<&VSwitchId, (&VSwitch, Option<Ipv4Addr>)> = BTreeMap::new();
    for v in vswitches {
        let cloud = cloud_of.get(&v.account).copied().unwrap_or(Cloud::Aliyun);
        let gw = gateway_of(cloud, v.cidr).filter(|_| !routed.iter().any(|r| overlaps(*r, v.cidr)));
        if gw.is_some() {
            routed.push(v.cidr);
        } else {
            tracing::debug!(vswitch = %v.id, "vSwitch not routed by the fabric (overlap or too small)");
        }
        d.switches.insert(
            names.bridge(&v.id),
            SwitchSpec {
                vswitch: v.id.clone(),
                gateway: gw.map(|g| (g, v.cidr.prefix())),
            },
        );
        vsw.insert(&v.id, (v, gw));
    }

    let mut port =
        |owner: &str, kind, vswitch: &VSwitchId, netns: String, ifname: String, ip, primary, up| {
            let Some((v, gw)) = vsw.get(vswitch) else {
                return;
            };
            d.hosts.insert(netns.clone());
            d.ports.insert(
                names.port(owner),
                PortSpec {
                    owner: owner.to_string(),
                    kind,
                    vswitch: vswitch.clone(),
                    bridge: names.bridge(vswitch),
                    netns,
                    ifname,
                    mac: mac_of(owner),
                    ip,
                    prefix: v.cidr.prefix(),
                    gateway: if primary { *gw } else { None },
                    up,
                },
            );
        };
    let mut running: BTreeMap<&InstanceId, bool> = BTreeMap::new();
    for i in &s.instances {
        running.insert(&i.id, i.state == InstanceState::Running);
        port(
            i.id.as_str(),
            TargetKind::Instance,
            &i.vswitch,
            names.host(i.id.as_str()),
            "eth0".into(),
            i.private_ip,
            true,
            i.state == InstanceState::Running,
        );
    }
    let mut enis: Vec<&Eni> = s.enis.iter().collect();
    enis.sort_by(|a, b| a.id.cmp(&b.id));
    let mut next_if: BTreeMap<&InstanceId, u32> = BTreeMap::new();
    for e in enis {
        match e.instance.as_ref().filter(|i| running.contains_key(i)) {
            Some(i) => {
                let n = next_if.entry(i).or_insert(1);
                let ifname = format!("eth{n}");
                *n += 1;
                port(
                    e.id.as_str(),
                    TargetKind::Eni,
                    &e.vswitch,
                    names.host(i.as_str()),
                    ifname,
                    e.private_ip,
                    false,
                    running[i],
                );
            }
            None => port(
                e.id.as_str(),
                TargetKind::Eni,
                &e.vswitch,
                names.host(e.id.as_str()),
                "eth0".into(),
                e.private_ip,
                true,
                true,
            ),
        }
    }

    let vip_of: BTreeMap<&HavipId, (VSwitchId, Ipv4Addr)> = s
        .havips
        .iter()
        .map(|h| (&h.id, (h.vswitch.clone(), h.ip)))
        .collect();
    for h in &s.havips {
        d.vips.insert((h.vswitch.clone(), h.ip), h.id.clone());
    }
    for m in &s.members {
        if m.state == MemberState::Associating {
            continue;
        }
        let (Some((_, vip)), name) = (vip_of.get(&m.havip), names.port(&m.target)) else {
            continue;
        };
        if d.ports.contains_key(&name) {
            d.claims.insert((*vip, name));
        }
    }
    for e in &s.eips {
        if !matches!(e.status, EipStatus::InUse | EipStatus::Unassociating) {
            continue;
        }
        if let Some((_, vip)) = e.havip.as_ref().and_then(|h| vip_of.get(h)) {
            d.eips.insert(e.address, *vip);
        }
    }
    d
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    /// Two running instances and a stopped one on one vSwitch, an ENI on the first, a free
    /// ENI, one HAVIP associated with the first two (the second still associating), an EIP.
    pub(crate) fn snapshot() -> Snapshot {
        let acc = AccountId::from("1");
        let reg = RegionId::from("cn-hangzhou");
        let vsw = VSwitchId::from("vsw-1");
        let inst = |id: &str, ip: &str, state| Instance {
            id: InstanceId::from(id),
            account: acc.clone(),
            region: reg.clone(),
            vswitch: vsw.clone(),
            private_ip: ip.parse().unwrap(),
            state,
        };
        let h = HavipId::from("havip-1");
        Snapshot {
            accounts: vec![Account {
                id: acc.clone(),
                cloud: Cloud::Aliyun,
                name: "a".into(),
            }],
            vswitches: vec![VSwitch {
                id: vsw.clone(),
                vpc: VpcId::from("vpc-1"),
                account: acc.clone(),
                region: reg.clone(),
                zone: "z".into(),
                cidr: cidr("192.168.1.0/24"),
            }],
            instances: vec![
                inst("i-a", "192.168.1.11", InstanceState::Running),
                inst("i-b", "192.168.1.12", InstanceState::Running),
                inst("i-c", "192.168.1.13", InstanceState::Stopped),
            ],
            enis: vec![
                Eni {
                    id: EniId::from("eni-a"),
                    account: acc.clone(),
                    region: reg.clone(),
                    vswitch: vsw.clone(),
                    private_ip: "192.168.1.21".parse().unwrap(),
                    instance: Some(InstanceId::from("i-a")),
                },
                Eni {
                    id: EniId::from("eni-free"),
                    account: acc.clone(),
                    region: reg.clone(),
                    vswitch: vsw.clone(),
                    private_ip: "192.168.1.23".parse().unwrap(),
                    instance: None,
                },
            ],
            havips: vec![Havip {
                id: h.clone(),
                account: acc.clone(),
                region: reg.clone(),
                vpc: VpcId::from("vpc-1"),
                vswitch: vsw.clone(),
                ip: "192.168.1.100".parse().unwrap(),
                status: HavipStatus::Associating,
                name: String::new(),
                description: String::new(),
                resource_group: None,
                created_at: 0,
                master: None,
            }],
            members: vec![
                Member {
                    havip: h.clone(),
                    target: "i-a".into(),
                    kind: TargetKind::Instance,
                    instance: None,
                    state: MemberState::Associated,
                },
                Member {
                    havip: h.clone(),
                    target: "i-b".into(),
                    kind: TargetKind::Instance,
                    instance: None,
                    state: MemberState::Associating,
                },
            ],
            eips: vec![Eip {
                id: EipId::from("eip-1"),
                account: acc,
                region: reg,
                address: "47.96.10.1".parse().unwrap(),
                havip: Some(h),
                status: EipStatus::InUse,
            }],
        }
    }

    #[test]
    fn derive_should_give_one_bridge_per_vswitch_and_one_port_per_instance_and_eni() {
        let n = Names::new("hv");
        let d = derive(&n, &snapshot());
        assert_eq!(d.switches.len(), 1);
        let sw = &d.switches[&n.bridge(&VSwitchId::from("vsw-1"))];
        assert_eq!(sw.gateway, Some(("192.168.1.253".parse().unwrap(), 24)));
        assert_eq!(d.ports.len(), 5);
        let eni = &d.ports[&n.port("eni-a")];
        assert_eq!(
            (eni.netns.as_str(), eni.ifname.as_str(), eni.gateway),
            ("hv-i-a", "eth1", None)
        );
        let free = &d.ports[&n.port("eni-free")];
        assert_eq!(
            (free.netns.as_str(), free.ifname.as_str()),
            ("hv-eni-free", "eth0")
        );
        assert!(
            !d.ports[&n.port("i-c")].up,
            "a stopped instance's port is down"
        );
        assert_eq!(d.hosts.len(), 4);
        for name in d.ports.keys().chain(d.switches.keys()) {
            assert!(name.len() <= 15, "{name}");
        }
    }

    #[test]
    fn derive_should_allow_only_completed_members_to_claim() {
        let n = Names::new("hv");
        let d = derive(&n, &snapshot());
        let vip: Ipv4Addr = "192.168.1.100".parse().unwrap();
        assert_eq!(d.claims, BTreeSet::from([(vip, n.port("i-a"))]));
        assert_eq!(d.vip_addresses(), BTreeSet::from([vip]));
        assert_eq!(d.eips[&"47.96.10.1".parse().unwrap()], vip);
        assert_eq!(
            d.claim_of(&n.port("i-b"), vip),
            Some((HavipId::from("havip-1"), "i-b".to_string())),
            "the watcher maps any port's claim; the core decides"
        );
        assert_eq!(
            d.claim_of(&n.port("i-b"), "192.168.1.12".parse().unwrap()),
            None
        );
    }

    #[test]
    fn derive_should_be_a_function_of_the_rows() {
        let n = Names::new("hv");
        let mut s = snapshot();
        let a = derive(&n, &s);
        s.instances.reverse();
        s.enis.reverse();
        assert_eq!(a, derive(&n, &s));
    }
}
