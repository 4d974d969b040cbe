//! The shared backend suite against SQLite.

use havip_store_sqlite::SqliteStore;

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open_dir(dir).expect("open sqlite store")
}

havip_core::store_conformance!(open);
