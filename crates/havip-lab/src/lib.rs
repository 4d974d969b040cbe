//! havip-lab: the Linux data plane of a topology, without the daemon.
//!
//! `havipd` with `[dataplane] backend = "linux"` builds and maintains the same network by
//! itself (same names, same code); this crate lets a user build it before (or without)
//! the daemon, look at it, and tear it down.

use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_dataplane::linux::LinuxDataPlane;
use havip_dataplane::{DataPlane, DataPlaneConfig};
use havip_store_sqlite::SqliteStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The parts of havipd's configuration file the lab reads (the rest is ignored).
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// The topology file (as havipd resolves it: relative to the working directory).
    pub topology: Option<PathBuf>,
    /// `[dataplane]`.
    pub dataplane: DataPlaneConfig,
}

impl LabConfig {
    /// Reads `topology` and `[dataplane]` from a havipd configuration file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: toml::Table =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let topology = v
            .get("topology")
            .and_then(|t| t.as_str())
            .map(PathBuf::from);
        let dataplane = match v.get("dataplane") {
            Some(d) => d
                .clone()
                .try_into()
                .map_err(|e| format!("{}: [dataplane]: {e}", path.display()))?,
            None => DataPlaneConfig::default(),
        };
        Ok(LabConfig {
            topology,
            dataplane,
        })
    }
}

/// Builds the network of the topology file (no HAVIPs yet: every port, no claim) and
/// returns how many actions it took.
pub async fn up(cfg: &LabConfig) -> Result<usize, String> {
    let path = cfg
        .topology
        .as_ref()
        .ok_or("the configuration names no topology file")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: WorldDoc = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = SqliteStore::open_dir(dir.path()).map_err(|e| e.to_string())?;
    let core = Core::new(store, CoreConfig::default());
    core.world_apply(doc).await.map_err(|e| e.to_string())?;
    let dp: Arc<dyn DataPlane> = Arc::new(LinuxDataPlane::new(&cfg.dataplane.prefix));
    let mut total = 0;
    for _ in 0..3 {
        let (_, r) = havip_worker::dataplane::reconcile_once(&core, &dp)
            .await
            .map_err(|e| e.to_string())?;
        if r.failed > 0 {
            return Err(format!("{} actions failed (see the log)", r.failed));
        }
        if r.applied == 0 {
            core.store().close();
            return Ok(total);
        }
        total += r.applied;
    }
    Err("the network did not converge in three passes".into())
}

/// Removes every namespace (and so every link and table) under the prefix.
pub fn down(prefix: &str) -> Result<Vec<String>, String> {
    LinuxDataPlane::new(prefix)
        .teardown()
        .map_err(|e| e.to_string())
}

/// A human summary of what exists under the prefix.
pub fn status(prefix: &str) -> Result<String, String> {
    let dp = LinuxDataPlane::new(prefix);
    let a = dp.observe().map_err(|e| e.to_string())?;
    let mut out = String::new();
    out.push_str(&format!("namespaces ({}):\n", a.namespaces.len()));
    for ns in &a.namespaces {
        out.push_str(&format!("  {ns}\n"));
    }
    out.push_str(&format!(
        "links in {} ({}):\n",
        dp.names().fabric(),
        a.links.len()
    ));
    for (name, l) in &a.links {
        out.push_str(&format!(
            "  {name:<15} {:?} {} master={} alias={}\n",
            l.kind,
            if l.up { "up" } else { "down" },
            l.master.as_deref().unwrap_or("-"),
            l.alias.as_deref().unwrap_or("-")
        ));
    }
    match &a.guard {
        Some(g) => {
            out.push_str(&format!("guard: vips={:?}\n", g.vips));
            for (ip, port) in &g.owners {
                out.push_str(&format!("  {ip} may be claimed on {port}\n"));
            }
        }
        None => out.push_str("guard: absent\n"),
    }
    if let Some(n) = &a.nat {
        out.push_str(&format!("eip nat: {:?}\n", n.eips));
    }
    Ok(out)
}
