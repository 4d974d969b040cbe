//! An upgraded database equals a fresh one: same tables, columns, indexes and constraints,
//! and derived data (the counters) equal to what the rows say.
#![cfg(feature = "postgres-tests")]

mod common;

use havip_store_postgres::{PgStore, MIGRATIONS, VERSIONS_TABLE};

/// Every schema object of `public`, as comparable text.
fn schema(c: &mut postgres::Client) -> Vec<String> {
    let mut out = Vec::new();
    for r in c
        .query(
            "SELECT table_name, column_name, data_type, COALESCE(collation_name, ''), is_nullable,
                    COALESCE(column_default, '')
             FROM information_schema.columns WHERE table_schema = 'public'
             ORDER BY table_name, column_name",
            &[],
        )
        .unwrap()
    {
        let v: Vec<String> = (0..6).map(|i| r.get::<_, String>(i)).collect();
        out.push(format!("column {}", v.join(" ")));
    }
    for r in c
        .query(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
            &[],
        )
        .unwrap()
    {
        out.push(format!("index {} {}", r.get::<_, String>(0), r.get::<_, String>(1)));
    }
    for r in c
        .query(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
            &[],
        )
        .unwrap()
    {
        out.push(format!(
            "constraint {} {} {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2)
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_from_version_1_equals_a_fresh_database() {
    let old = tokio::task::spawn_blocking(common::create_database)
        .await
        .unwrap();
    common::with_client(&old, |c| {
        let (v1, sql) = MIGRATIONS.iter().find(|(v, _)| *v == 1).unwrap();
        c.batch_execute(sql).unwrap();
        c.batch_execute(&format!(
            "CREATE TABLE {VERSIONS_TABLE} (version INTEGER PRIMARY KEY);
             INSERT INTO {VERSIONS_TABLE} VALUES ({v1});
             INSERT INTO ip_allocations VALUES ('vsw-1', 10, 'havip:h1'), ('vsw-1', 11, 'havip:h2'), ('vsw-2', 12, 'instance:i');
             INSERT INTO havips (id, account, region, vpc, vswitch, ip, status, name, description, created_at)
               VALUES ('h1', 'A', 'r1', 'vpc-1', 'vsw-1', 10, 'Available', '', '', 0),
                      ('h2', 'A', 'r1', 'vpc-1', 'vsw-1', 11, 'Available', '', '', 0);"
        ))
        .unwrap();
    })
    .await;
    let store = PgStore::connect_config(common::config_for(&old))
        .await
        .unwrap();
    store.close();
    let fresh = tokio::task::spawn_blocking(common::create_database)
        .await
        .unwrap();
    let store = PgStore::connect_config(common::config_for(&fresh))
        .await
        .unwrap();
    store.close();
    let fresh_schema = common::with_client(&fresh, schema).await;
    let (old_schema, counters, versions) = common::with_client(&old, |c| {
        let n = |c: &mut postgres::Client, name: &str| -> i64 {
            c.query_one("SELECT n FROM counters WHERE name = $1", &[&name])
                .unwrap()
                .get(0)
        };
        let counters = (
            n(c, "vsw:vsw-1"),
            n(c, "vsw:vsw-2"),
            n(c, "vpc:vpc-1"),
            n(c, "acct:A"),
            n(c, "ar:A/r1"),
        );
        let versions: Vec<i32> = c
            .query(
                &format!("SELECT version FROM {VERSIONS_TABLE} ORDER BY version"),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        (schema(c), counters, versions)
    })
    .await;
    assert_eq!(old_schema, fresh_schema);
    assert_eq!(counters, (2, 1, 2, 2, 2));
    let mut all: Vec<i32> = MIGRATIONS.iter().map(|(v, _)| *v as i32).collect();
    all.sort();
    assert_eq!(versions, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let name = tokio::task::spawn_blocking(common::create_database)
        .await
        .unwrap();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let cfg = common::config_for(&name);
            tokio::spawn(async move { PgStore::connect_config(cfg).await })
        })
        .collect();
    for o in opens {
        o.await
            .unwrap()
            .expect("every node opens the database")
            .close();
    }
    let rows: i64 = common::with_client(&name, |c| {
        c.query_one(&format!("SELECT COUNT(*) FROM {VERSIONS_TABLE}"), &[])
            .unwrap()
            .get(0)
    })
    .await;
    assert_eq!(rows, MIGRATIONS.len() as i64);
}
