//! Picks the data-plane backend named by `[dataplane]`.

use havip_dataplane::linux::LinuxDataPlane;
use havip_dataplane::ovn::OvnDataPlane;
use havip_dataplane::{Backend, DataPlane, DataPlaneConfig};
use std::sync::Arc;

/// The backend to reconcile, or `None` in record-only mode.
pub fn backend(cfg: &DataPlaneConfig) -> Option<Arc<dyn DataPlane>> {
    match (cfg.backend, &cfg.ovn) {
        (Backend::None, _) => {
            tracing::info!("data plane: none (record-only; announce through the admin API)");
            None
        }
        (Backend::Linux, _) => {
            tracing::info!(prefix = %cfg.prefix, fabric = %format!("{}-fabric", cfg.prefix), "data plane: linux");
            Some(Arc::new(LinuxDataPlane::new(&cfg.prefix)))
        }
        (Backend::Ovn, Some(ovn)) => {
            tracing::info!(
                prefix = %cfg.prefix, nb = %ovn.nb, sb = %ovn.sb, chassis = %ovn.gateway_chassis,
                host_plumbing = ovn.ovs.is_some(), "data plane: ovn"
            );
            Some(Arc::new(OvnDataPlane::new(&cfg.prefix, ovn)))
        }
        (Backend::Ovn, None) => {
            unreachable!("Config::load refuses backend = \"ovn\" without [dataplane.ovn]")
        }
    }
}
