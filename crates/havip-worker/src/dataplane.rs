//! The data-plane reconciler and the claim reporter.
//!
//! **Reconciler.** Every pass re-derives the desired state from the store (never from a
//! hint) and hands it to the backend's `reconcile`, which observes what exists and changes
//! what differs (Linux and the fake through the pure planner, action by action; OVN through
//! its own diff, one northbound transaction). The loop knows no backend. A pass runs when
//! the store's write generation changed (checked every [`POLL`]) and at least every
//! `resync` (drift repair: a rule or a port removed by hand is back within `resync` plus one
//! pass). A failed change is logged and the pass goes on; the next pass starts again from
//! what it observes, so partial failures, restarts and
//! hand edits all converge the same way. Backend calls block, so each pass runs on the
//! blocking pool, and passes never overlap (one task, sequential).
//!
//! **Claims.** The backend's watcher reports every claim of an address on a port (Linux: an
//! ARP read on a switch port; OVN: the southbound `virtual_parent` of the VIP's virtual
//! port).
//! A separate task maps (port, address) to (HAVIP, claimant) with the last derived state,
//! and calls `Core::havip_announce`, which sets the master or refuses a claimant that is
//! not associated. A claim identical to the one reported less than [`REPEAT`] ago is
//! skipped (keepalived sends its gratuitous ARPs in bursts of five); a different claimant
//! for the same HAVIP is always reported at once. The task never waits for a reconcile
//! pass, so the delay from the wire to the API is one store write.

use havip_core::store::Store;
use havip_core::types::HavipId;
use havip_core::{Core, DomainError};
use havip_dataplane::{derive, Claim, ClaimSink, DataPlane, DesiredState, Snapshot};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};

/// How often the store's write generation is compared with the last pass's.
pub const POLL: Duration = Duration::from_millis(100);
/// A repeated identical claim within this window is not reported again.
pub const REPEAT: Duration = Duration::from_secs(1);

/// What one reconcile pass did (the backend's report).
pub use havip_dataplane::PassReport;

/// One pass: derive the desired state from the store, let the backend converge to it.
/// Returns the derived state and what was done.
pub async fn reconcile_once<S: Store>(
    core: &Core<S>,
    dp: &Arc<dyn DataPlane>,
) -> Result<(DesiredState, PassReport), DomainError> {
    let snapshot = core.store().read(|tx| Snapshot::read(tx)).await?;
    let dp = dp.clone();
    let desired = derive(dp.names(), &snapshot);
    let d = desired.clone();
    let report = tokio::task::spawn_blocking(move || dp.reconcile(&d))
        .await
        .map_err(|e| DomainError::Internal(format!("reconcile task: {e}")))?;
    Ok((desired, report))
}

/// Drives `dp` until `shutdown` turns true, then stops its watcher (the network stays).
pub async fn run_dataplane<S: Store>(
    core: Core<S>,
    dp: Arc<dyn DataPlane>,
    resync: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!(resync = ?resync, "data-plane reconciler started");
    let desired = Arc::new(RwLock::new(DesiredState::default()));
    let (tx, rx) = mpsc::unbounded_channel::<Claim>();
    let sink: ClaimSink = Arc::new(move |c| {
        let _ = tx.send(c);
    });
    let claims = tokio::spawn(run_claims(
        core.clone(),
        desired.clone(),
        rx,
        shutdown.clone(),
    ));
    let mut last_gen: Option<u64> = None;
    let mut last_pass: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let gen = core.write_generation();
        let due =
            last_pass.is_none_or(|t| t.elapsed() >= resync) || gen.is_none() || gen != last_gen;
        if due {
            match reconcile_once(&core, &dp).await {
                Ok((d, report)) => {
                    *desired.write() = d;
                    if report.applied > 0 || report.failed > 0 {
                        tracing::info!(
                            applied = report.applied,
                            failed = report.failed,
                            "data plane reconciled"
                        );
                    }
                    let (dp2, sink2) = (dp.clone(), sink.clone());
                    match tokio::task::spawn_blocking(move || dp2.ensure_watching(sink2)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "data plane: watcher not running"),
                        Err(e) => tracing::warn!(error = %e, "data plane: watcher task"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "data plane: reading the store failed"),
            }
            last_gen = gen;
            last_pass = Some(Instant::now());
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
    let _ = claims.await;
    let _ = tokio::task::spawn_blocking(move || dp.stop_watching()).await;
    tracing::info!("data-plane reconciler stopped");
}

/// Reports claims to the core until `shutdown`.
async fn run_claims<S: Store>(
    core: Core<S>,
    desired: Arc<RwLock<DesiredState>>,
    mut rx: mpsc::UnboundedReceiver<Claim>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last: HashMap<HavipId, (String, Instant)> = HashMap::new();
    loop {
        let claim = tokio::select! {
            c = rx.recv() => match c { Some(c) => c, None => return },
            _ = shutdown.changed() => return,
        };
        let Some((havip, claimant)) = desired.read().claim_of(&claim.port, claim.ip) else {
            continue;
        };
        if last
            .get(&havip)
            .is_some_and(|(who, at)| *who == claimant && at.elapsed() < REPEAT)
        {
            continue;
        }
        last.insert(havip.clone(), (claimant.clone(), Instant::now()));
        let result = core.havip_announce(&havip, &claimant).await;
        let seen_ms = claim
            .seen
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let wire_to_api_ms = SystemTime::now()
            .duration_since(claim.seen)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or_default();
        match result {
            Ok(master) => tracing::info!(
                havip = %havip, master = %master, vip = %claim.ip, port = %claim.port, mac = %claim.mac,
                kind = ?claim.kind, seen_ms, wire_to_api_ms = format!("{wire_to_api_ms:.1}"), "VIP claimed: master set"
            ),
            Err(e) => tracing::warn!(
                havip = %havip, claimant = %claimant, vip = %claim.ip, port = %claim.port, mac = %claim.mac,
                seen_ms, error = %e, "VIP claim refused"
            ),
        }
    }
}
