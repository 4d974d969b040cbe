//! Picks the data-plane backend named by `[dataplane]`.

use havip_dataplane::linux::LinuxDataPlane;
use havip_dataplane::{Backend, DataPlane, DataPlaneConfig};
use std::sync::Arc;

/// The backend to reconcile, or `None` in record-only mode.
pub fn backend(cfg: &DataPlaneConfig) -> Option<Arc<dyn DataPlane>> {
    match cfg.backend {
        Backend::None => {
            tracing::info!("data plane: none (record-only; announce through the admin API)");
            None
        }
        Backend::Linux => {
            tracing::info!(prefix = %cfg.prefix, fabric = %format!("{}-fabric", cfg.prefix), "data plane: linux");
            Some(Arc::new(LinuxDataPlane::new(&cfg.prefix)))
        }
    }
}
