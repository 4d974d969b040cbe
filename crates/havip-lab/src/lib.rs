//! havip-lab: the data plane of a topology, without the daemon.
//!
//! `havipd` with `[dataplane] backend = "linux"` or `"ovn"` builds and maintains the same
//! network by itself (same names, same code); this crate lets a user build it before (or
//! without) the daemon, look at it, and tear it down. For OVN it also starts (and stops) the
//! single-host lab's daemons under `[dataplane.ovn] run_dir`: Open vSwitch with the userspace
//! datapath and OVN's databases, northd and controller, inside `<prefix>-fabric`.

use havip_core::config::CoreConfig;
use havip_core::world::WorldDoc;
use havip_core::Core;
use havip_dataplane::linux::LinuxDataPlane;
use havip_dataplane::ovn::{lab as ovn_lab, OvnDataPlane, OvnNames};
use havip_dataplane::{Backend, DataPlane, DataPlaneConfig, Planned};
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
        dataplane
            .check()
            .map_err(|e| format!("{}: [dataplane]: {e}", path.display()))?;
        Ok(LabConfig {
            topology,
            dataplane,
        })
    }
}

/// The backend `cfg` names (`none` is refused: there is nothing to build).
pub fn backend(cfg: &DataPlaneConfig) -> Result<Arc<dyn DataPlane>, String> {
    match (cfg.backend, &cfg.ovn) {
        (Backend::Linux, _) => Ok(Arc::new(LinuxDataPlane::new(&cfg.prefix))),
        (Backend::Ovn, Some(o)) => Ok(Arc::new(OvnDataPlane::new(&cfg.prefix, o))),
        (Backend::Ovn, None) => Err("backend = \"ovn\" needs [dataplane.ovn]".into()),
        (Backend::None, _) => {
            Err("[dataplane] backend is \"none\": there is no lab to build".into())
        }
    }
}

/// Builds the network of the topology file (no HAVIPs yet: every port, no claim) and
/// returns how many changes it took. For OVN with a `run_dir`, starts the daemons first.
pub async fn up(cfg: &LabConfig) -> Result<usize, String> {
    if let (Backend::Ovn, Some(o)) = (cfg.dataplane.backend, &cfg.dataplane.ovn) {
        if o.run_dir.is_some() {
            let dir = ovn_lab::check_config(o)?;
            let (dir2, prefix) = (dir.clone(), cfg.dataplane.prefix.clone());
            tokio::task::spawn_blocking(move || ovn_lab::start(&dir2, &prefix))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
    }
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
    let dp = backend(&cfg.dataplane)?;
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

/// Removes everything under the prefix: for OVN, this prefix's northbound rows and the
/// lab's daemons (when it has a `run_dir`); then every namespace (and so every link and
/// table). Returns what was removed.
pub fn down(cfg: &DataPlaneConfig) -> Result<Vec<String>, String> {
    let mut gone = Vec::new();
    if let (Backend::Ovn, Some(o)) = (cfg.backend, &cfg.ovn) {
        let dp = OvnDataPlane::new(&cfg.prefix, o);
        let r = dp.teardown();
        if r.failed > 0 {
            gone.push(format!(
                "(northbound cleanup failed: is the NB database up? {} failures)",
                r.failed
            ));
        } else {
            gone.push(format!("{} northbound objects", r.applied));
        }
        if let Some(dir) = &o.run_dir {
            gone.extend(
                ovn_lab::stop(dir)
                    .into_iter()
                    .map(|d| format!("daemon {d}")),
            );
        }
    }
    gone.extend(
        LinuxDataPlane::new(&cfg.prefix)
            .teardown()
            .map_err(|e| e.to_string())?,
    );
    Ok(gone)
}

/// A human summary of what exists under the prefix.
pub fn status(cfg: &DataPlaneConfig) -> Result<String, String> {
    match (cfg.backend, &cfg.ovn) {
        (Backend::Ovn, Some(o)) => ovn_status(&cfg.prefix, o),
        _ => linux_status(&cfg.prefix),
    }
}

fn ovn_status(prefix: &str, o: &havip_dataplane::config::OvnConfig) -> Result<String, String> {
    let dp = OvnDataPlane::new(prefix, o);
    let nb = dp.observe_nb().map_err(|e| e.to_string())?;
    let mut out = format!(
        "northbound {} (rows with external_ids:havip-owner={prefix}):\n",
        o.nb
    );
    for (name, id) in &nb.switches {
        out.push_str(&format!("  switch {name} ({id})\n"));
    }
    for (name, p) in &nb.ports {
        out.push_str(&format!(
            "  port {name:<15} on {} type={:<8} id={} security={:?} options={:?}{}\n",
            p.switch,
            if p.kind.is_empty() { "vif" } else { &p.kind },
            p.id,
            p.port_security,
            p.options,
            if p.enabled { "" } else { " DISABLED" }
        ));
    }
    if let Some(ch) = &nb.router {
        out.push_str(&format!(
            "  router {} on chassis {ch}\n",
            dp.names().router()
        ));
    }
    for (eip, vip) in &nb.nat {
        out.push_str(&format!("  dnat_and_snat {eip} -> {vip}\n"));
    }
    out.push_str(&format!("southbound {}:\n", o.sb));
    for (name, p) in nb.ports.iter().filter(|(_, p)| p.kind == "virtual") {
        let parent = dp.virtual_parent(name).map_err(|e| e.to_string())?;
        out.push_str(&format!(
            "  {name} ({}) virtual_parent={}\n",
            p.id,
            parent.as_deref().unwrap_or("-")
        ));
    }
    Ok(out)
}

fn linux_status(prefix: &str) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_lab_configs_should_load_and_the_ovn_one_match_its_run_dir() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let l = LabConfig::load(&root.join("demo/lab.toml")).unwrap();
        assert_eq!(l.dataplane.backend, Backend::Linux);
        let o = LabConfig::load(&root.join("demo/lab-ovn.toml")).unwrap();
        assert_eq!(o.dataplane.backend, Backend::Ovn);
        let ovn = o.dataplane.ovn.as_ref().unwrap();
        assert_eq!(
            ovn_lab::check_config(ovn).unwrap(),
            PathBuf::from("/tmp/havip-lab-ovn")
        );
        let mut wrong = ovn.clone();
        wrong.sb = "unix:/elsewhere/sb.sock".into();
        assert!(ovn_lab::check_config(&wrong).is_err());
    }
}
