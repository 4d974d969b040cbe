//! The `[dataplane]` section of havipd's configuration (also read by `havip-lab`).

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Which data plane havipd drives: a closed choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Record-only: the API changes state, nothing is programmed, and `MasterInstanceId` moves
    /// only through the admin API's announce route.
    #[default]
    None,
    /// Linux bridges, veths and nftables in network namespaces on this host (needs root).
    Linux,
    /// OVN: programs the northbound database, reads `virtual_parent` from the southbound
    /// one (settings in `[dataplane.ovn]`).
    Ovn,
}

/// `[dataplane.ovn]`: where the OVN databases are, and whether this host is also plumbed.
///
/// The control plane's part is always the same: program the northbound database (logical
/// switches, ports, `virtual` ports, the gateway router and its NAT) and read the southbound
/// one. Plugging VIFs into the integration bridge is the hypervisor's job in a real
/// deployment; a single-host lab sets `ovs` (and `bridge`), and the backend then also builds
/// the instance namespaces and veths and plugs them into that bridge, as the Linux backend
/// does for its lab.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvnConfig {
    /// The northbound database, as `ovn-nbctl --db` takes it (`unix:/path` or `tcp:host:port`).
    #[serde(deserialize_with = "remote")]
    pub nb: String,
    /// The southbound database (`unix:/path` or `tcp:host:port`).
    #[serde(deserialize_with = "remote")]
    pub sb: String,
    /// The chassis (its `system-id`) the gateway router is pinned to (`options:chassis`):
    /// where EIP NAT happens.
    pub gateway_chassis: String,
    /// Single-host lab only: this host's Open vSwitch database (`unix:/path`). When set, the
    /// backend also creates the namespaces, veths and integration-bridge ports.
    #[serde(default, deserialize_with = "opt_remote")]
    pub ovs: Option<String>,
    /// Single-host lab only: the directory where `havip-lab up` runs the OVS and OVN daemons
    /// (their databases, sockets, pid and log files); the remotes above must then be its
    /// sockets (`<run_dir>/nb.sock`, `sb.sock`, `ovs.sock`).
    #[serde(default)]
    pub run_dir: Option<std::path::PathBuf>,
}

fn check_remote(s: &str) -> Result<(), String> {
    let ok = s.strip_prefix("unix:").is_some_and(|p| p.starts_with('/'))
        || s.strip_prefix("tcp:")
            .and_then(|r| r.rsplit_once(':'))
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not unix:/absolute/path or tcp:host:port"))
    }
}

fn remote<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_remote(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

fn opt_remote<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    remote(d).map(Some)
}

/// `[dataplane]`: every key optional, unknown keys refused.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPlaneConfig {
    /// `"none"` (default), `"linux"` or `"ovn"`.
    #[serde(default)]
    pub backend: Backend,
    /// `[dataplane.ovn]`: required with `backend = "ovn"`, refused otherwise.
    #[serde(default)]
    pub ovn: Option<OvnConfig>,
    /// Prefix of every namespace and link the Linux backend creates (1 to 5 of `a-z0-9`), so
    /// that several labs (or a test) can live on one host and teardown finds exactly its own.
    #[serde(default = "default_prefix", deserialize_with = "prefix")]
    pub prefix: String,
    /// Longest time between two full reconciliations (drift repair); a change in the store is
    /// noticed within 100 ms regardless.
    #[serde(default = "default_resync", deserialize_with = "duration")]
    pub resync: Duration,
}

impl Default for DataPlaneConfig {
    fn default() -> Self {
        DataPlaneConfig {
            backend: Backend::None,
            ovn: None,
            prefix: default_prefix(),
            resync: default_resync(),
        }
    }
}

impl DataPlaneConfig {
    /// The cross-field rule: `[dataplane.ovn]` exactly when `backend = "ovn"`.
    pub fn check(&self) -> Result<(), String> {
        match (self.backend, &self.ovn) {
            (Backend::Ovn, None) => Err("backend = \"ovn\" needs a [dataplane.ovn] section".into()),
            (Backend::None | Backend::Linux, Some(_)) => {
                Err("[dataplane.ovn] is only for backend = \"ovn\"".into())
            }
            _ => Ok(()),
        }
    }
}

fn default_prefix() -> String {
    "hv".into()
}

fn default_resync() -> Duration {
    Duration::from_secs(1)
}

/// Checks a name prefix: 1 to 5 characters of `a-z0-9` (link names are at most 15 bytes).
pub fn check_prefix(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 5
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(format!("prefix {s:?} must be 1 to 5 characters of a-z0-9"));
    }
    Ok(())
}

fn prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_prefix(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Parses `100ms`, `2s`, `1m` (at least 100 ms: a resync is a burst of `ip`/`nft` calls).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration such as 500ms, 2s or 1m (at least 100ms)");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(bad()),
    };
    if d < Duration::from_millis(100) {
        return Err(bad());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataplane_section_should_default_to_record_only() {
        let c: DataPlaneConfig = toml::from_str("").unwrap();
        assert_eq!(c, DataPlaneConfig::default());
        assert_eq!(c.backend, Backend::None);
        let c: DataPlaneConfig =
            toml::from_str("backend = \"linux\"\nprefix = \"lab1\"\nresync = \"500ms\"").unwrap();
        assert_eq!((c.backend, c.prefix.as_str()), (Backend::Linux, "lab1"));
        assert_eq!(c.resync, Duration::from_millis(500));
    }

    #[test]
    fn ovn_section_should_parse_and_be_required_with_the_ovn_backend() {
        let c: DataPlaneConfig = toml::from_str(
            "backend = \"ovn\"\n[ovn]\nnb = \"unix:/run/ovn/nb.sock\"\nsb = \"tcp:10.0.0.1:6642\"\ngateway_chassis = \"gw1\"\n",
        )
        .unwrap();
        assert_eq!(c.check(), Ok(()));
        let o = c.ovn.unwrap();
        assert_eq!((o.sb.as_str(), o.ovs), ("tcp:10.0.0.1:6642", None));
        let c: DataPlaneConfig = toml::from_str("backend = \"ovn\"").unwrap();
        assert!(c.check().is_err());
        for bad in [
            "[ovn]\nnb = \"nb.sock\"\nsb = \"unix:/s\"\ngateway_chassis = \"x\"",
            "[ovn]\nnb = \"tcp:host\"\nsb = \"unix:/s\"\ngateway_chassis = \"x\"",
            "[ovn]\nnb = \"unix:/n\"\nsb = \"unix:/s\"",
            "[ovn]\nnb = \"unix:/n\"\nsb = \"unix:/s\"\ngateway_chassis = \"x\"\nbridge = \"br\"",
        ] {
            assert!(toml::from_str::<DataPlaneConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dataplane_section_should_refuse_bad_values() {
        for bad in [
            "backend = \"ovs\"",
            "prefix = \"toolong\"",
            "prefix = \"Up\"",
            "prefix = \"\"",
            "resync = \"10ms\"",
            "resync = \"fast\"",
            "colour = 1",
        ] {
            assert!(toml::from_str::<DataPlaneConfig>(bad).is_err(), "{bad}");
        }
    }
}
