//! The planner: desired versus actual → an ordered list of idempotent actions. Pure.
//!
//! The actual state is whatever a backend observed just now; the planner trusts nothing else,
//! so running it again after a partial failure, a restart or a change made by hand yields
//! exactly the actions still missing (and none when the two agree). Every action is itself
//! idempotent on the backend side, so a repeated plan is harmless.
//!
//! Order: namespaces first (a port's far end needs its namespace), then stale ports and
//! links out of the way, bridges, the uplink, ports, the two nftables tables, and finally the
//! namespaces nobody needs any more.

use crate::desired::{DesiredState, Names, PortSpec, SwitchSpec, UPLINK_FABRIC, UPLINK_PREFIX};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// The kind of a link seen in the fabric namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge,
    /// One end of a veth pair.
    Veth,
    /// Anything else.
    Other,
}

/// One link of the fabric namespace, as observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Kind.
    pub kind: LinkKind,
    /// The alias (`havip <id> <fingerprint>` on links this crate made).
    pub alias: Option<String>,
    /// The bridge it is enslaved to.
    pub master: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// IPv4 addresses with their prefix length.
    pub addrs: BTreeSet<(Ipv4Addr, u8)>,
}

/// The bridge-family guard table, as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GuardState {
    /// The `vips` set.
    pub vips: BTreeSet<Ipv4Addr>,
    /// The `owners` set: (VIP, switch-side port name).
    pub owners: BTreeSet<(Ipv4Addr, String)>,
    /// Every chain and rule is present as built (rules are recognised by their comments).
    pub intact: bool,
}

/// The EIP NAT table, as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NatState {
    /// The `eip2vip` map.
    pub eips: BTreeMap<Ipv4Addr, Ipv4Addr>,
    /// Every chain, rule and the reverse map are present as built.
    pub intact: bool,
}

/// What a backend observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ActualState {
    /// This lab's namespaces.
    pub namespaces: BTreeSet<String>,
    /// This lab's links in the fabric namespace, by name.
    pub links: BTreeMap<String, Link>,
    /// IPv4 forwarding is on in the fabric namespace.
    pub forwarding: bool,
    /// The guard table (`None`: absent).
    pub guard: Option<GuardState>,
    /// The NAT table (`None`: absent).
    pub nat: Option<NatState>,
}

/// One idempotent step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Creates a namespace (loopback up; the fabric one also forwards IPv4).
    CreateNamespace {
        /// Name.
        name: String,
    },
    /// Turns IPv4 forwarding on in the fabric namespace.
    EnableForwarding,
    /// Deletes a link of the fabric namespace (a veth takes its peer with it).
    DeleteLink {
        /// Name.
        name: String,
    },
    /// Creates a bridge and configures it.
    CreateBridge {
        /// Name.
        name: String,
        /// Spec.
        spec: SwitchSpec,
    },
    /// Brings a bridge up and sets exactly its gateway address.
    ConfigureBridge {
        /// Name.
        name: String,
        /// Spec.
        spec: SwitchSpec,
    },
    /// Creates the uplink veth to the public namespace, with its addresses and the public
    /// side's default route.
    CreateUplink,
    /// Creates a port: the veth, its far end configured in its namespace, then the
    /// switch-side end enslaved, up, and labelled (last, so a half-built port is rebuilt).
    CreatePort {
        /// Switch-side name.
        name: String,
        /// Spec.
        spec: PortSpec,
    },
    /// Enslaves a port to its bridge and sets its administrative state.
    ConfigurePort {
        /// Switch-side name.
        name: String,
        /// Spec.
        spec: PortSpec,
    },
    /// Makes the guard's sets exactly these, in one nftables transaction (`rebuild`: the
    /// whole table is replaced, also in one transaction).
    SetGuard {
        /// Every VIP.
        vips: BTreeSet<Ipv4Addr>,
        /// Allowed (VIP, port) pairs.
        owners: BTreeSet<(Ipv4Addr, String)>,
        /// Replace the table, not only its sets.
        rebuild: bool,
    },
    /// Makes the EIP maps exactly this, in one nftables transaction.
    SetNat {
        /// EIP → VIP.
        eips: BTreeMap<Ipv4Addr, Ipv4Addr>,
        /// Replace the table, not only its maps.
        rebuild: bool,
    },
    /// Deletes a namespace.
    DeleteNamespace {
        /// Name.
        name: String,
    },
}

/// The actions that take `actual` to `desired`.
pub fn plan(names: &Names, desired: &DesiredState, actual: &ActualState) -> Vec<Action> {
    let mut out = Vec::new();
    let fabric = names.fabric();
    let public = names.public();
    let uplink = names.uplink();

    // 1. Namespaces.
    let mut wanted: BTreeSet<String> = desired.hosts.clone();
    wanted.insert(fabric.clone());
    wanted.insert(public.clone());
    for ns in [&fabric, &public].into_iter().chain(desired.hosts.iter()) {
        if !actual.namespaces.contains(ns)
            && !out
                .iter()
                .any(|a| matches!(a, Action::CreateNamespace { name } if name == ns))
        {
            out.push(Action::CreateNamespace { name: ns.clone() });
        }
    }
    let fabric_exists = actual.namespaces.contains(&fabric);
    if fabric_exists && !actual.forwarding {
        out.push(Action::EnableForwarding);
    }

    // 2. Stale links: unknown, of the wrong kind, or built from another spec.
    let bridge_ok = |name: &str, spec: &SwitchSpec| {
        actual.links.get(name).is_some_and(|l| {
            l.kind == LinkKind::Bridge && l.alias.as_deref() == Some(&spec.alias())
        })
    };
    let port_ok = |name: &str, spec: &PortSpec| {
        actual
            .links
            .get(name)
            .is_some_and(|l| l.kind == LinkKind::Veth && l.alias.as_deref() == Some(&spec.alias()))
    };
    let uplink_ok = actual.namespaces.contains(&public)
        && actual.links.get(&uplink).is_some_and(|l| {
            l.kind == LinkKind::Veth && l.up && l.addrs.contains(&(UPLINK_FABRIC, UPLINK_PREFIX))
        });
    for (name, link) in &actual.links {
        let keep = if *name == uplink {
            uplink_ok
        } else if let Some(spec) = desired.ports.get(name) {
            port_ok(name, spec)
        } else if let Some(spec) = desired.switches.get(name) {
            bridge_ok(name, spec)
        } else {
            false
        };
        if !keep && link.kind != LinkKind::Bridge {
            out.push(Action::DeleteLink { name: name.clone() });
        }
    }
    for (name, link) in &actual.links {
        let keep = desired
            .switches
            .get(name)
            .is_some_and(|s| bridge_ok(name, s));
        if !keep && link.kind == LinkKind::Bridge {
            out.push(Action::DeleteLink { name: name.clone() });
        }
    }

    // 3. Bridges.
    for (name, spec) in &desired.switches {
        if !bridge_ok(name, spec) {
            out.push(Action::CreateBridge {
                name: name.clone(),
                spec: spec.clone(),
            });
            continue;
        }
        let l = &actual.links[name];
        let addrs: BTreeSet<(Ipv4Addr, u8)> = spec.gateway.into_iter().collect();
        if !l.up || l.addrs != addrs {
            out.push(Action::ConfigureBridge {
                name: name.clone(),
                spec: spec.clone(),
            });
        }
    }

    // 4. Uplink.
    if !uplink_ok {
        out.push(Action::CreateUplink);
    }

    // 5. Ports.
    for (name, spec) in &desired.ports {
        if !port_ok(name, spec) {
            out.push(Action::CreatePort {
                name: name.clone(),
                spec: spec.clone(),
            });
            continue;
        }
        let l = &actual.links[name];
        if l.master.as_deref() != Some(spec.bridge.as_str()) || l.up != spec.up {
            out.push(Action::ConfigurePort {
                name: name.clone(),
                spec: spec.clone(),
            });
        }
    }

    // 6. nftables.
    let vips = desired.vip_addresses();
    match &actual.guard {
        Some(g) if g.intact && fabric_exists => {
            if g.vips != vips || g.owners != desired.claims {
                out.push(Action::SetGuard {
                    vips,
                    owners: desired.claims.clone(),
                    rebuild: false,
                });
            }
        }
        _ => out.push(Action::SetGuard {
            vips,
            owners: desired.claims.clone(),
            rebuild: true,
        }),
    }
    match &actual.nat {
        Some(n) if n.intact && fabric_exists => {
            if n.eips != desired.eips {
                out.push(Action::SetNat {
                    eips: desired.eips.clone(),
                    rebuild: false,
                });
            }
        }
        _ => out.push(Action::SetNat {
            eips: desired.eips.clone(),
            rebuild: true,
        }),
    }

    // 7. Namespaces nobody needs.
    for ns in &actual.namespaces {
        if !wanted.contains(ns) {
            out.push(Action::DeleteNamespace { name: ns.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{derive, tests::snapshot};
    use crate::fake::FakeDataPlane;
    use crate::{DataPlane, Planned};

    fn converge(dp: &FakeDataPlane, d: &DesiredState) -> usize {
        let mut applied = 0;
        for _ in 0..3 {
            let actions = plan(dp.names(), d, &dp.observe().unwrap());
            if actions.is_empty() {
                return applied;
            }
            for a in &actions {
                dp.apply(a).unwrap();
                applied += 1;
            }
        }
        panic!("no convergence after 3 rounds");
    }

    #[test]
    fn plan_should_build_everything_from_nothing_then_do_nothing() {
        let dp = FakeDataPlane::new("hv");
        let d = derive(dp.names(), &snapshot());
        let first = plan(dp.names(), &d, &dp.observe().unwrap());
        assert!(matches!(&first[0], Action::CreateNamespace { name } if name == "hv-fabric"));
        assert!(first.iter().any(|a| matches!(a, Action::CreateUplink)));
        assert_eq!(
            first
                .iter()
                .filter(|a| matches!(a, Action::CreatePort { .. }))
                .count(),
            5
        );
        converge(&dp, &d);
        assert_eq!(plan(dp.names(), &d, &dp.observe().unwrap()), vec![]);
        let a = dp.observe().unwrap();
        assert_eq!(a.guard.unwrap().owners, d.claims);
        assert_eq!(a.nat.unwrap().eips, d.eips);
    }

    #[test]
    fn plan_should_update_only_the_sets_when_an_association_completes() {
        let dp = FakeDataPlane::new("hv");
        let mut s = snapshot();
        converge(&dp, &derive(dp.names(), &s));
        dp.take_log();
        s.members[1].state = havip_core::types::MemberState::Associated;
        let d = derive(dp.names(), &s);
        let actions = plan(dp.names(), &d, &dp.observe().unwrap());
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert!(
            matches!(&actions[0], Action::SetGuard { owners, rebuild: false, .. } if owners.len() == 2)
        );
    }

    #[test]
    fn plan_should_repair_a_rule_deleted_by_hand_and_a_port_unplugged() {
        let dp = FakeDataPlane::new("hv");
        let d = derive(dp.names(), &snapshot());
        converge(&dp, &d);
        let port = dp.names().port("i-a");
        dp.tamper(|a| {
            a.guard.as_mut().unwrap().intact = false;
            a.links.get_mut(&port).unwrap().master = None;
        });
        let actions = plan(dp.names(), &d, &dp.observe().unwrap());
        assert!(actions.contains(&Action::SetGuard {
            vips: d.vip_addresses(),
            owners: d.claims.clone(),
            rebuild: true
        }));
        assert!(actions
            .iter()
            .any(|a| matches!(a, Action::ConfigurePort { name, .. } if *name == port)));
        converge(&dp, &d);
        assert_eq!(plan(dp.names(), &d, &dp.observe().unwrap()), vec![]);
    }

    #[test]
    fn plan_should_remove_what_the_store_no_longer_has() {
        let dp = FakeDataPlane::new("hv");
        let mut s = snapshot();
        converge(&dp, &derive(dp.names(), &s));
        s.enis.retain(|e| e.id.as_str() != "eni-free");
        s.havips.clear();
        s.members.clear();
        let d = derive(dp.names(), &s);
        let actions = plan(dp.names(), &d, &dp.observe().unwrap());
        let gone = dp.names().port("eni-free");
        assert!(actions.contains(&Action::DeleteLink { name: gone }));
        assert!(actions.contains(&Action::DeleteNamespace {
            name: "hv-eni-free".into()
        }));
        assert!(matches!(
            actions.last(),
            Some(Action::DeleteNamespace { .. })
        ));
        converge(&dp, &d);
        assert!(dp.observe().unwrap().guard.unwrap().owners.is_empty());
    }

    #[test]
    fn plan_should_rebuild_a_port_whose_spec_changed() {
        let dp = FakeDataPlane::new("hv");
        let mut s = snapshot();
        converge(&dp, &derive(dp.names(), &s));
        s.instances[1].private_ip = "192.168.1.42".parse().unwrap();
        let d = derive(dp.names(), &s);
        let port = dp.names().port("i-b");
        let actions = plan(dp.names(), &d, &dp.observe().unwrap());
        let del = actions
            .iter()
            .position(|a| *a == Action::DeleteLink { name: port.clone() });
        let add = actions
            .iter()
            .position(|a| matches!(a, Action::CreatePort { name, .. } if *name == port));
        assert!(del.unwrap() < add.unwrap(), "{actions:?}");
    }

    #[test]
    fn plan_should_recreate_a_deleted_host_namespace_and_its_port() {
        let dp = FakeDataPlane::new("hv");
        let d = derive(dp.names(), &snapshot());
        converge(&dp, &d);
        let port = dp.names().port("i-b");
        dp.tamper(|a| {
            a.namespaces.remove("hv-i-b");
            a.links.remove(&port);
        });
        let actions = plan(dp.names(), &d, &dp.observe().unwrap());
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert_eq!(
            actions[0],
            Action::CreateNamespace {
                name: "hv-i-b".into()
            }
        );
    }
}
