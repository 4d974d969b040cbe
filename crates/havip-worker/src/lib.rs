//! Background work. The operation driver finishes persisted operations: it wakes when the
//! core records one (or an operator advances them), when the earliest one falls due, and at
//! least every second, and each time re-derives what to do from the store, never from the
//! wake-up itself. A crash between two runs loses nothing: the rows are still there.
//! The data-plane reconciler ([`dataplane`]) follows the same rule for the network.

pub mod dataplane;
pub use dataplane::run_dataplane;

use havip_core::service::now_ms;
use havip_core::store::Store;
use havip_core::Core;
use std::time::Duration;
use tokio::sync::watch;

/// Operations completed per transaction.
const BATCH: u32 = 256;
/// Longest sleep between two looks at the store.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// How long an idempotency record is kept after its last use (the clouds promise 24 hours).
const IDEMPOTENCY_KEEP: Duration = Duration::from_secs(48 * 3600);

/// Drives operations until `shutdown` turns true.
pub async fn run_operations<S: Store>(core: Core<S>, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("operation worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match core.operations_run_due(now_ms(), BATCH).await {
            Ok(n) if n as u32 == BATCH => continue,
            Ok(n) if n > 0 => tracing::debug!(completed = n, "operations completed"),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "operation batch failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        let wait = match core.operations_next_due().await {
            Ok(Some(t)) => Duration::from_millis((t - now_ms()).max(0) as u64).min(MAX_IDLE),
            _ => MAX_IDLE,
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = core.wake_signal().notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("operation worker stopped");
}

/// Forgets stale idempotency records every ten minutes until `shutdown` turns true.
pub async fn run_housekeeping<S: Store>(core: Core<S>, mut shutdown: watch::Receiver<bool>) {
    loop {
        match core
            .idempotency_purge(IDEMPOTENCY_KEEP.as_millis() as i64)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(purged = n, "idempotency records purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
