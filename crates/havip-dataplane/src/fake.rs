//! An in-memory backend: applies actions to an [`ActualState`] it keeps, records every action
//! (intent), lets a test change the state behind the reconciler's back (drift), fail the next
//! calls, and inject claims as if a watcher had seen them.

use crate::desired::DesiredState;
use crate::desired::{Names, UPLINK_FABRIC, UPLINK_PREFIX};
use crate::plan::{Action, ActualState, GuardState, Link, LinkKind, NatState};
use crate::{
    reconcile_planned, Claim, ClaimKind, ClaimSink, DataPlane, DataPlaneError, PassReport, Planned,
};
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

#[derive(Default)]
struct Inner {
    actual: ActualState,
    log: Vec<Action>,
    fail: u32,
    sink: Option<ClaimSink>,
}

/// The fake data plane.
pub struct FakeDataPlane {
    names: Names,
    inner: Mutex<Inner>,
}

impl FakeDataPlane {
    /// An empty network under `prefix`.
    pub fn new(prefix: &str) -> Self {
        FakeDataPlane {
            names: Names::new(prefix),
            inner: Mutex::new(Inner::default()),
        }
    }
    /// Every action applied since the last call, in order.
    pub fn take_log(&self) -> Vec<Action> {
        std::mem::take(&mut self.inner.lock().log)
    }
    /// The next `n` calls to `observe` or `apply` fail.
    pub fn fail_next(&self, n: u32) {
        self.inner.lock().fail = n;
    }
    /// Changes the state as someone with a shell would.
    pub fn tamper(&self, f: impl FnOnce(&mut ActualState)) {
        f(&mut self.inner.lock().actual);
    }
    /// Delivers a claim as the watcher would; `false` when nothing watches.
    pub fn claim(&self, port: &str, ip: Ipv4Addr) -> bool {
        let sink = self.inner.lock().sink.clone();
        match sink {
            Some(s) => {
                s(Claim {
                    port: port.to_string(),
                    ip,
                    mac: "0a:00:00:00:00:01".into(),
                    kind: ClaimKind::GratuitousArp,
                    seen: std::time::SystemTime::now(),
                });
                true
            }
            None => false,
        }
    }

    fn check(inner: &mut Inner) -> Result<(), DataPlaneError> {
        if inner.fail > 0 {
            inner.fail -= 1;
            return Err(DataPlaneError::Injected);
        }
        Ok(())
    }
}

impl Planned for FakeDataPlane {
    fn plan_names(&self) -> &Names {
        &self.names
    }

    fn observe(&self) -> Result<ActualState, DataPlaneError> {
        let mut inner = self.inner.lock();
        Self::check(&mut inner)?;
        Ok(inner.actual.clone())
    }

    fn apply(&self, action: &Action) -> Result<(), DataPlaneError> {
        let mut inner = self.inner.lock();
        Self::check(&mut inner)?;
        inner.log.push(action.clone());
        let fabric = self.names.fabric();
        let a = &mut inner.actual;
        match action {
            Action::CreateNamespace { name } => {
                a.namespaces.insert(name.clone());
                if *name == fabric {
                    a.forwarding = true;
                }
            }
            Action::EnableForwarding => a.forwarding = true,
            Action::DeleteLink { name } => {
                a.links.remove(name);
            }
            Action::CreateBridge { name, spec } | Action::ConfigureBridge { name, spec } => {
                a.links.insert(
                    name.clone(),
                    Link {
                        kind: LinkKind::Bridge,
                        alias: Some(spec.alias()),
                        master: None,
                        up: true,
                        addrs: spec.gateway.into_iter().collect(),
                    },
                );
            }
            Action::CreateUplink => {
                a.links.insert(
                    self.names.uplink(),
                    Link {
                        kind: LinkKind::Veth,
                        alias: None,
                        master: None,
                        up: true,
                        addrs: BTreeSet::from([(UPLINK_FABRIC, UPLINK_PREFIX)]),
                    },
                );
            }
            Action::CreatePort { name, spec } | Action::ConfigurePort { name, spec } => {
                a.links.insert(
                    name.clone(),
                    Link {
                        kind: LinkKind::Veth,
                        alias: Some(spec.alias()),
                        master: Some(spec.bridge.clone()),
                        up: spec.up,
                        addrs: BTreeSet::new(),
                    },
                );
            }
            Action::SetGuard { vips, owners, .. } => {
                a.guard = Some(GuardState {
                    vips: vips.clone(),
                    owners: owners.clone(),
                    intact: true,
                });
            }
            Action::SetNat { eips, .. } => {
                a.nat = Some(NatState {
                    eips: eips.clone(),
                    intact: true,
                });
            }
            Action::DeleteNamespace { name } => {
                a.namespaces.remove(name);
            }
        }
        Ok(())
    }
}

impl DataPlane for FakeDataPlane {
    fn names(&self) -> &Names {
        &self.names
    }

    fn reconcile(&self, desired: &DesiredState) -> PassReport {
        reconcile_planned(self, desired)
    }

    fn ensure_watching(&self, sink: ClaimSink) -> Result<(), DataPlaneError> {
        self.inner.lock().sink = Some(sink);
        Ok(())
    }

    fn stop_watching(&self) {
        self.inner.lock().sink = None;
    }
}
