//! The shared backend suite against PostgreSQL (needs `--features postgres-tests` and
//! `$HAVIP_TEST_POSTGRES_URL`; scripts/test-all.sh provides both).
#![cfg(feature = "postgres-tests")]

mod common;

use havip_store_postgres::PgStore;

async fn open(dir: &std::path::Path) -> PgStore {
    common::open(dir).await
}

havip_core::store_conformance!(open);
