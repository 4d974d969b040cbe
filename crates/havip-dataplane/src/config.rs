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
}

/// `[dataplane]`: every key optional, unknown keys refused.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPlaneConfig {
    /// `"none"` (default) or `"linux"`.
    #[serde(default)]
    pub backend: Backend,
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
            prefix: default_prefix(),
            resync: default_resync(),
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
