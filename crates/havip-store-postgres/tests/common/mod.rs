//! Test databases: one fresh database per test directory on the server named by
//! `$HAVIP_TEST_POSTGRES_URL`. The database's name is kept in `<dir>/postgres-database`, so
//! reopening with the same directory (the restart case) reaches the same database.
#![allow(dead_code)]

use havip_store_postgres::PgStore;
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Test databases older than this are dropped when a new one is made (leftovers of
/// interrupted runs on a long-lived server).
const STALE_SECS: u64 = 6 * 3600;

/// The server's URL; panics (fails the test, never skips it) when unset.
pub fn url() -> String {
    match std::env::var("HAVIP_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "HAVIP_TEST_POSTGRES_URL is not set{}: the PostgreSQL tests need a server. \
             Run scripts/test-all.sh (it starts a throwaway cluster), or set it to a URL \
             such as postgres://postgres@127.0.0.1:5432/postgres whose user may CREATE DATABASE.",
            if std::env::var("CI").as_deref() == Ok("true") {
                " in CI"
            } else {
                ""
            }
        ),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A blocking admin connection to the URL's own database.
fn admin() -> postgres::Client {
    postgres::Client::connect(&url(), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to HAVIP_TEST_POSTGRES_URL: {e}"))
}

/// Creates a database named `havip_t_<unix seconds>_<random>`, dropping stale ones.
pub fn create_database() -> String {
    let name = format!(
        "havip_t_{}_{}",
        now_secs(),
        uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
    );
    let mut c = admin();
    let old: Vec<String> = c
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'havip\\_t\\_%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for d in old {
        let born: u64 = d
            .split('_')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        if born.saturating_add(STALE_SECS) < now_secs() {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{d}\""));
        }
    }
    c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    name
}

/// The client configuration of database `name` on the test server.
pub fn config_for(name: &str) -> postgres::Config {
    let mut cfg = postgres::Config::from_str(&url()).expect("HAVIP_TEST_POSTGRES_URL parses");
    cfg.dbname(name);
    cfg
}

/// The database of `dir`: made on first use, the same one afterwards.
pub async fn database_for(dir: &Path) -> String {
    let marker = dir.join("postgres-database");
    if let Ok(name) = std::fs::read_to_string(&marker) {
        return name;
    }
    let name = tokio::task::spawn_blocking(create_database).await.unwrap();
    std::fs::write(&marker, &name).unwrap();
    name
}

/// Opens (migrating) the store of `dir`.
pub async fn open(dir: &Path) -> PgStore {
    let name = database_for(dir).await;
    PgStore::connect_config(config_for(&name))
        .await
        .unwrap_or_else(|e| panic!("opening database {name}: {e}"))
}

/// Runs blocking SQL against database `name`.
pub async fn with_client<T: Send + 'static>(
    name: &str,
    f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> T {
    let cfg = config_for(name);
    tokio::task::spawn_blocking(move || {
        let mut c = cfg
            .connect(postgres::NoTls)
            .expect("connect to the test database");
        f(&mut c)
    })
    .await
    .unwrap()
}
