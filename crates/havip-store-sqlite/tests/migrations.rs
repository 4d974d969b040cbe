//! An upgraded database equals a fresh one: same schema objects, and derived data (the
//! counters) equal to what the rows say.

use havip_store_sqlite::{SqliteStore, MIGRATIONS};
use rusqlite::Connection;

fn schema(path: &std::path::Path) -> Vec<(String, String, String)> {
    let c = Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    rows.map(|r| r.unwrap()).collect()
}

#[test]
fn upgrading_from_version_1_equals_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    {
        let c = Connection::open(&old).unwrap();
        let (v1, sql) = MIGRATIONS.iter().find(|(v, _)| *v == 1).unwrap();
        c.execute_batch(sql).unwrap();
        c.pragma_update(None, "user_version", v1).unwrap();
        c.execute_batch(
            "INSERT INTO ip_allocations VALUES ('vsw-1', 10, 'havip:h1'), ('vsw-1', 11, 'havip:h2'), ('vsw-2', 12, 'instance:i');
             INSERT INTO havips (id, account, region, vpc, vswitch, ip, status, name, description, created_at)
               VALUES ('h1', 'A', 'r1', 'vpc-1', 'vsw-1', 10, 'Available', '', '', 0),
                      ('h2', 'A', 'r1', 'vpc-1', 'vsw-1', 11, 'Available', '', '', 0);",
        )
        .unwrap();
    }
    drop(SqliteStore::open(&old).unwrap());
    let fresh = dir.path().join("fresh.db");
    drop(SqliteStore::open(&fresh).unwrap());
    assert_eq!(schema(&old), schema(&fresh));
    let c = Connection::open(&old).unwrap();
    let n = |name: &str| -> i64 {
        c.query_row("SELECT n FROM counters WHERE name = ?", [name], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(
        (
            n("vsw:vsw-1"),
            n("vsw:vsw-2"),
            n("vpc:vpc-1"),
            n("acct:A"),
            n("ar:A/r1")
        ),
        (2, 1, 2, 2, 2)
    );
    let version: u32 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap());
}
