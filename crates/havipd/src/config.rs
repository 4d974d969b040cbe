//! Typed configuration (TOML). Unknown keys are errors; durations are written `300ms`, `2s`,
//! `15m`, `1h`.

use havip_core::config::{CoreConfig, OpTiming, Quotas};
use havip_core::types::Cloud;
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A duration written as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `300ms`, `2s`, `15m`, `1h`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 300ms, 2s, 15m or 1h"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => {
            return Err(format!(
                "{s:?} is not a duration such as 300ms, 2s, 15m or 1h"
            ))
        }
    };
    Ok(Duration::from_millis(ms))
}

/// Listen addresses, one per API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// The admin API.
    #[serde(default = "default_admin")]
    pub admin: SocketAddr,
    /// The Alibaba Cloud VPC API.
    #[serde(default = "default_aliyun")]
    pub aliyun: SocketAddr,
    /// The Baidu AI Cloud VPC havip API.
    #[serde(default = "default_baidu")]
    pub baidu: SocketAddr,
    /// The Tencent Cloud API 3.0 (VPC 2017-03-12, ECM 2019-07-19).
    #[serde(default = "default_tencent")]
    pub tencent: SocketAddr,
    /// Threads that run the API connections, each a single-threaded runtime; 0 (the
    /// default) is one per core.
    #[serde(default)]
    pub threads: usize,
}

impl Listen {
    /// How many connection threads to start.
    pub fn connection_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

fn default_admin() -> SocketAddr {
    "127.0.0.1:9080".parse().expect("literal address")
}
fn default_aliyun() -> SocketAddr {
    "127.0.0.1:9081".parse().expect("literal address")
}
fn default_tencent() -> SocketAddr {
    "127.0.0.1:9082".parse().expect("literal address")
}
fn default_baidu() -> SocketAddr {
    "127.0.0.1:9083".parse().expect("literal address")
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            admin: default_admin(),
            aliyun: default_aliyun(),
            baidu: default_baidu(),
            tencent: default_tencent(),
            threads: 0,
        }
    }
}

/// The Baidu API. Baidu requests carry no region: each region has its own endpoint host
/// (`bcc.{region}.baidubce.com`), which selects the region when a client sends it; any
/// other `Host` (an SDK pointed at this listener's address) gets `default_region`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaiduApi {
    /// The region of requests whose host names none.
    #[serde(default = "default_baidu_region", deserialize_with = "non_empty")]
    pub default_region: String,
}

fn default_baidu_region() -> String {
    "bj".into()
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(s)
}

impl Default for BaiduApi {
    fn default() -> Self {
        BaiduApi {
            default_region: default_baidu_region(),
        }
    }
}

/// The admin API.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Bearer token; when absent, `HAVIPD_ADMIN_TOKEN` from the environment, else a random one
    /// printed at start.
    pub token: Option<String>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admin { token: <redacted> }")
    }
}

/// How the clouds' asynchronous states progress.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Complete as soon as committed.
    Immediate,
    /// Complete after `delay`.
    Delay,
    /// Complete only when advanced through the admin API.
    Manual,
}

/// Operation timing.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operations {
    /// Mode.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Delay for `mode = "delay"`.
    #[serde(default = "default_delay")]
    pub delay: Dur,
}

fn default_mode() -> Mode {
    Mode::Delay
}
fn default_delay() -> Dur {
    Dur(Duration::from_millis(300))
}

impl Default for Operations {
    fn default() -> Self {
        Operations {
            mode: default_mode(),
            delay: default_delay(),
        }
    }
}

/// Request authentication.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Accepted clock skew of signed requests.
    #[serde(default = "default_skew")]
    pub max_clock_skew: Dur,
}

fn default_skew() -> Dur {
    Dur(Duration::from_secs(15 * 60))
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            max_clock_skew: default_skew(),
        }
    }
}

/// Overrides of one cloud's quotas; a field left out keeps that cloud's documented default.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverrides {
    /// Instances or ENIs one HAVIP may be associated with.
    pub instances_per_havip: Option<u32>,
    /// HAVIPs one instance or ENI may be associated with.
    pub havips_per_instance: Option<u32>,
    /// HAVIPs in one VPC.
    pub havips_per_vpc: Option<u32>,
    /// HAVIPs of one account.
    pub havips_per_account: Option<u32>,
    /// Tags on one HAVIP.
    pub tags_per_havip: Option<u32>,
}

impl QuotaOverrides {
    /// `base` with these overrides applied.
    pub fn over(self, base: Quotas) -> Quotas {
        Quotas {
            instances_per_havip: self.instances_per_havip.unwrap_or(base.instances_per_havip),
            havips_per_instance: self.havips_per_instance.unwrap_or(base.havips_per_instance),
            havips_per_vpc: self.havips_per_vpc.unwrap_or(base.havips_per_vpc),
            havips_per_account: self.havips_per_account.unwrap_or(base.havips_per_account),
            tags_per_havip: self.tags_per_havip.unwrap_or(base.tags_per_havip),
        }
    }
}

/// Quotas per cloud; every field defaults to the cloud's documented value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Alibaba Cloud.
    #[serde(default)]
    pub aliyun: QuotaOverrides,
    /// Tencent Cloud.
    #[serde(default)]
    pub tencent: QuotaOverrides,
    /// Baidu AI Cloud.
    #[serde(default)]
    pub baidu: QuotaOverrides,
}

/// Request limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, bytes.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// How long in-flight requests may finish after SIGTERM.
    #[serde(default = "default_drain")]
    pub drain: Dur,
    /// Tencent API rate limit: requests a second per (account, product, action); Tencent
    /// documents 20 for the HAVIP APIs. `0` disables the limit.
    #[serde(default = "default_tencent_rate")]
    pub tencent_requests_per_second: u32,
    /// Alibaba API rate limit: requests a second per (account, action), answered with 400
    /// `Throttling.User` beyond it. Alibaba documents no number: `0` (the default) disables it.
    #[serde(default)]
    pub aliyun_requests_per_second: u32,
    /// Baidu API rate limit: requests a second per (account, operation), answered with 429
    /// `RequestLimitExceeded` beyond it. Baidu documents no number: `0` (the default)
    /// disables it.
    #[serde(default)]
    pub baidu_requests_per_second: u32,
}

fn default_body() -> usize {
    1 << 20
}
fn default_drain() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_tencent_rate() -> u32 {
    20
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: default_body(),
            drain: default_drain(),
            tencent_requests_per_second: default_tencent_rate(),
            aliyun_requests_per_second: 0,
            baidu_requests_per_second: 0,
        }
    }
}

/// The storage backend, a closed choice: `store = "sqlite"` (the default) or
/// `store = "postgres://user[:password]@host[:port]/db"`. Anything else is refused at start.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum StoreChoice {
    /// SQLite in `<data_dir>/havip.db`: one node.
    #[default]
    Sqlite,
    /// PostgreSQL at this URL: several nodes may share it.
    Postgres(String),
}

impl<'de> Deserialize<'de> for StoreChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "sqlite" {
            return Ok(StoreChoice::Sqlite);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            havip_store_postgres::check_url(&s).map_err(serde::de::Error::custom)?;
            return Ok(StoreChoice::Postgres(s));
        }
        Err(serde::de::Error::custom(
            "store is \"sqlite\" or a postgres:// URL",
        ))
    }
}

impl std::fmt::Debug for StoreChoice {
    /// The URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreChoice::Sqlite => f.write_str("Sqlite"),
            StoreChoice::Postgres(url) => write!(f, "Postgres({})", redact_url(url)),
        }
    }
}

/// `scheme://user:secret@host/...` → `scheme://user:<redacted>@host/...`.
fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) else {
        return url.to_string();
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}:<redacted>{}", &url[..colon], &url[at..]),
        None => url.to_string(),
    }
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database lives (`havip.db`) and `ports.json` is written.
    #[serde(default = "default_data")]
    pub data_dir: PathBuf,
    /// The storage backend: absent or `"sqlite"`, or a `postgres://` URL.
    #[serde(default)]
    pub store: StoreChoice,
    /// A topology file applied at start.
    #[serde(default)]
    pub topology: Option<PathBuf>,
    /// Listen addresses.
    #[serde(default)]
    pub listen: Listen,
    /// Admin API.
    #[serde(default)]
    pub admin: Admin,
    /// The Baidu API.
    #[serde(default)]
    pub baidu: BaiduApi,
    /// Operation timing.
    #[serde(default)]
    pub operations: Operations,
    /// Authentication.
    #[serde(default)]
    pub auth: Auth,
    /// Quotas.
    #[serde(default)]
    pub quotas: QuotaConfig,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// The data plane (`[dataplane]`): `backend = "none"` (record-only, the default) or
    /// `"linux"`; see `havip_dataplane::DataPlaneConfig`.
    #[serde(default)]
    pub dataplane: havip_dataplane::DataPlaneConfig,
}

fn default_data() -> PathBuf {
    PathBuf::from("data")
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c: Config = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        c.dataplane
            .check()
            .map_err(|e| format!("{}: [dataplane]: {e}", path.display()))?;
        Ok(c)
    }

    /// What the core needs.
    pub fn core(&self) -> CoreConfig {
        let q = |c: Cloud, o: QuotaOverrides| (c, o.over(Quotas::default_for(c)));
        CoreConfig {
            quotas: [
                q(Cloud::Aliyun, self.quotas.aliyun),
                q(Cloud::Tencent, self.quotas.tencent),
                q(Cloud::Baidu, self.quotas.baidu),
            ],
            timing: match self.operations.mode {
                Mode::Immediate => OpTiming::Immediate,
                Mode::Delay => OpTiming::Delay(self.operations.delay.0),
                Mode::Manual => OpTiming::Manual,
            },
            max_clock_skew: self.auth.max_clock_skew.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_configs_should_load_including_the_ovn_lab() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for f in ["demo/havipd.toml", "demo/lab.toml", "demo/lab-ovn.toml"] {
            Config::load(&root.join(f)).unwrap_or_else(|e| panic!("{e}"));
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[dataplane]\nbackend = \"ovn\"\n").unwrap();
        assert!(Config::load(&p).unwrap_err().contains("[dataplane.ovn]"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.listen.aliyun.port(), 9081);
        assert_eq!(c.listen.baidu.port(), 9083);
        assert_eq!(c.listen.tencent.port(), 9082);
        assert_eq!(c.limits.tencent_requests_per_second, 20);
        assert_eq!(c.limits.aliyun_requests_per_second, 0);
        assert_eq!(c.limits.baidu_requests_per_second, 0);
        assert_eq!(c.baidu.default_region, "bj");
        assert_eq!(c.core().quotas(Cloud::Baidu).instances_per_havip, 5);
        assert_eq!(c.operations.mode, Mode::Delay);
        assert_eq!(c.core().quotas(Cloud::Aliyun).instances_per_havip, 2);
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        assert!(toml::from_str::<Config>("colour = 1").is_err());
        assert!(toml::from_str::<Config>("[operations]\ndelay = \"fast\"").is_err());
        assert!(toml::from_str::<Config>("[quotas.aliyun]\nbogus = 1").is_err());
        assert!(toml::from_str::<Config>("[baidu]\ndefault_region = \"\"").is_err());
        assert!(toml::from_str::<Config>("[baidu]\nregion = \"bj\"").is_err());
    }

    #[test]
    fn store_is_sqlite_or_a_postgres_url() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.store, StoreChoice::Sqlite);
        let c: Config = toml::from_str("store = \"sqlite\"").unwrap();
        assert_eq!(c.store, StoreChoice::Sqlite);
        let url = "postgres://havip:s3cret@127.0.0.1:5432/havip";
        let c: Config = toml::from_str(&format!("store = \"{url}\"")).unwrap();
        assert_eq!(c.store, StoreChoice::Postgres(url.into()));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://havip:<redacted>@127.0.0.1:5432/havip"),
            "{shown}"
        );
        for bad in [
            "mysql://u@h/db",
            "sqlite3",
            "",
            "postgres://u@h:port/db",
            "host=h user=u",
        ] {
            assert!(
                toml::from_str::<Config>(&format!("store = \"{bad}\"")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert!(parse_duration("1d").is_err());
    }

    #[test]
    fn partial_quotas_keep_other_defaults() {
        let c: Config = toml::from_str("[quotas.aliyun]\nhavips_per_account = 3").unwrap();
        let q = c.core().quotas(Cloud::Aliyun);
        assert_eq!((q.havips_per_account, q.havips_per_vpc), (3, 5));
        // Another cloud's partial override keeps that cloud's own defaults, not Alibaba's.
        let c: Config = toml::from_str("[quotas.tencent]\nhavips_per_account = 3").unwrap();
        let q = c.core().quotas(Cloud::Tencent);
        assert_eq!(
            q.instances_per_havip,
            Quotas::default_for(Cloud::Tencent).instances_per_havip
        );
        assert_eq!(q.havips_per_account, 3);
    }
}
