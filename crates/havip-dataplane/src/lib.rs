//! havip-dataplane: what the network should look like, and the backends that make it so.
//!
//! - [`desired`]: the desired state, derived from the store alone ([`desired::derive`]).
//! - [`plan`]: desired versus actual → ordered, idempotent actions (pure).
//! - [`DataPlane`]: the backend boundary: reconcile one pass towards a desired state, watch
//!   VIP claims. [`Planned`] is the narrower shape of the backends driven by the planner
//!   (observe an [`ActualState`], apply one [`Action`]): the fake and Linux.
//! - [`fake::FakeDataPlane`]: an in-memory backend that records intent, can be tampered
//!   with (drift) and can fail on demand.
//! - `linux` (feature `linux`): Linux bridges and veths in network namespaces, nftables
//!   (bridge-family guard, ip-family EIP NAT), an AF_PACKET watcher of gratuitous ARPs.
//! - `ovn` (feature `ovn`): OVN northbound programming (logical switches, ports with port
//!   security, `virtual` ports, a gateway router with EIP NAT), the southbound
//!   `virtual_parent` watcher, and the optional host plumbing of a single-host lab.
//! - [`config`]: the `[dataplane]` section of havipd's configuration.
//!
//! The reconciler loop that drives a backend lives in `havip-worker`; record-only mode (no
//! data plane) is the default and needs nothing from this crate at run time.

pub mod config;
pub mod desired;
pub mod fake;
#[cfg(feature = "linux")]
pub mod linux;
#[cfg(feature = "ovn")]
pub mod ovn;
pub mod plan;

pub use config::{Backend, DataPlaneConfig};
pub use desired::{derive, DesiredState, Names, Snapshot};
pub use plan::{plan, Action, ActualState};

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;

/// A data-plane failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataPlaneError {
    /// A command failed: what ran and what it said.
    #[error("{command}: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr (or the spawn error).
        message: String,
    },
    /// Observed state could not be parsed.
    #[error("unexpected output of {command}: {message}")]
    Parse {
        /// The command line.
        command: String,
        /// What was wrong.
        message: String,
    },
    /// An injected failure (the fake).
    #[error("injected failure")]
    Injected,
    /// The watcher could not start.
    #[error("watcher: {0}")]
    Watch(String),
}

/// How an address was claimed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimKind {
    /// A gratuitous ARP request (sender address = target address).
    GratuitousArp,
    /// An ARP reply.
    ArpReply,
    /// OVN bound the `virtual` port of the VIP to this parent port (southbound
    /// `Port_Binding.virtual_parent`), which ovn-controller does on a gratuitous ARP or ARP
    /// reply from the VIP that passed the parent's port security.
    VirtualParent,
}

/// An ARP that claimed an address, seen on a switch-side port (before any filtering: the
/// guard may have dropped it; the core decides whether the claimant may hold the VIP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The switch-side port it arrived on.
    pub port: String,
    /// The claimed (sender) address.
    pub ip: Ipv4Addr,
    /// The sender hardware address, `aa:bb:…`.
    pub mac: String,
    /// Gratuitous request or reply.
    pub kind: ClaimKind,
    /// When the frame was read.
    pub seen: SystemTime,
}

/// Where a watcher delivers claims (called on the watcher's thread).
pub type ClaimSink = Arc<dyn Fn(Claim) + Send + Sync>;

/// What one reconcile pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Changes applied (planner actions, or OVN transactions and host steps).
    pub applied: usize,
    /// Changes that failed (retried next pass).
    pub failed: usize,
}

/// A data-plane backend. Calls block (they run commands); the reconciler calls them off the
/// async executor, one at a time.
pub trait DataPlane: Send + Sync + 'static {
    /// How this backend names its objects.
    fn names(&self) -> &Names;
    /// One pass: observe what exists, change what differs from `desired`, report. Never
    /// remembers anything between passes (it observes every time), so a pass after a
    /// restart, a partial failure or a hand edit converges the same way. A failure is
    /// logged and counted, never fatal.
    fn reconcile(&self, desired: &DesiredState) -> PassReport;
    /// Makes sure the claim watcher runs (starting or restarting it, e.g. after its namespace
    /// was recreated), delivering to `sink`. Cheap when it already runs.
    fn ensure_watching(&self, sink: ClaimSink) -> Result<(), DataPlaneError>;
    /// Stops the watcher (at shutdown); the network itself is left as it is.
    fn stop_watching(&self);
}

/// A backend driven by the pure planner ([`plan()`]): it observes an [`ActualState`] and
/// applies [`Action`]s (the fake and the Linux backend).
pub trait Planned {
    /// How this backend names its objects.
    fn plan_names(&self) -> &Names;
    /// The state as it is now.
    fn observe(&self) -> Result<ActualState, DataPlaneError>;
    /// Applies one action; applying it twice is the same as once.
    fn apply(&self, action: &Action) -> Result<(), DataPlaneError>;
}

/// One planner pass: observe, plan, apply each action (a failed action is logged and the
/// pass goes on; the next pass plans again from what it observes).
pub fn reconcile_planned(dp: &dyn Planned, desired: &DesiredState) -> PassReport {
    let actual = match dp.observe() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "data plane: observing failed");
            return PassReport {
                applied: 0,
                failed: 1,
            };
        }
    };
    let mut r = PassReport::default();
    for action in plan(dp.plan_names(), desired, &actual) {
        match dp.apply(&action) {
            Ok(()) => {
                r.applied += 1;
                tracing::info!(action = ?action, "data plane: applied");
            }
            Err(e) => {
                r.failed += 1;
                tracing::warn!(action = ?action, error = %e, "data plane: action failed; retried next pass");
            }
        }
    }
    r
}
