//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.
//! Never edit a shipped migration: add the next one.

use rusqlite::Connection;

/// (version, SQL). Version N brings a database from N-1 to N.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    cloud TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    secret TEXT NOT NULL
);
CREATE INDEX access_keys_account ON access_keys(account);
CREATE TABLE regions (
    cloud TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (cloud, id)
);
CREATE TABLE resource_groups (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL
);
CREATE TABLE vpcs (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    cidr TEXT NOT NULL
);
CREATE TABLE vswitches (
    id TEXT PRIMARY KEY,
    vpc TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    zone TEXT NOT NULL,
    cidr TEXT NOT NULL
);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    vswitch TEXT NOT NULL,
    private_ip TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE enis (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    vswitch TEXT NOT NULL,
    private_ip TEXT NOT NULL,
    instance TEXT
);
CREATE TABLE eips (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    address TEXT NOT NULL,
    havip TEXT,
    status TEXT NOT NULL
);
CREATE INDEX eips_havip ON eips(havip) WHERE havip IS NOT NULL;
-- One row per held address: the unique key is what makes a double allocation impossible.
CREATE TABLE ip_allocations (
    vswitch TEXT NOT NULL,
    ip INTEGER NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (vswitch, ip)
) WITHOUT ROWID;
CREATE TABLE havips (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    vpc TEXT NOT NULL,
    vswitch TEXT NOT NULL,
    ip INTEGER NOT NULL,
    status TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    resource_group TEXT,
    created_at INTEGER NOT NULL,
    master TEXT
);
CREATE INDEX havips_account_region ON havips(account, region, seq);
CREATE INDEX havips_vpc ON havips(vpc, account, region, seq);
CREATE TABLE havip_members (
    havip TEXT NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    instance TEXT,
    state TEXT NOT NULL,
    PRIMARY KEY (havip, target)
);
CREATE INDEX havip_members_target ON havip_members(target);
CREATE INDEX havip_members_instance ON havip_members(instance) WHERE instance IS NOT NULL;
CREATE TABLE havip_tags (
    havip TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (havip, key)
) WITHOUT ROWID;
CREATE INDEX havip_tags_key ON havip_tags(key, value);
CREATE TABLE operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    havip TEXT NOT NULL,
    target TEXT,
    due_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX operations_due ON operations(due_at_ms) WHERE due_at_ms IS NOT NULL;
CREATE TABLE idempotency (
    account TEXT NOT NULL,
    scope TEXT NOT NULL,
    token TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    last_used_ms INTEGER NOT NULL,
    PRIMARY KEY (account, scope, token)
) WITHOUT ROWID;
CREATE INDEX idempotency_last_used ON idempotency(last_used_ms);
"#,
    ),
    (
        2,
        r#"
-- Async work pollable by the request that started it (Tencent DescribeVpcTaskResult): one
-- row per (request, operation). A task is running while any of its operations is pending.
CREATE TABLE tasks (
    account TEXT NOT NULL,
    request_id TEXT NOT NULL,
    op_id INTEGER NOT NULL,
    havip TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (account, request_id, op_id)
) WITHOUT ROWID;
CREATE INDEX tasks_created ON tasks(created_at_ms);
-- EIP lookups by public address (Tencent binds EIPs to HAVIPs by address).
CREATE INDEX eips_address ON eips(address);
"#,
    ),
    (
        4,
        r#"
-- Row counts the quotas and the allocator read on every request, kept in the same
-- transaction as the rows they count, so neither ever runs COUNT(*) over a large table.
-- Names: 'vsw:<id>' held addresses, 'vpc:<id>' and 'acct:<id>' HAVIPs, 'ar:<account>/<region>'
-- HAVIPs of an account in a region.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    n INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, n) SELECT 'vsw:' || vswitch, COUNT(*) FROM ip_allocations GROUP BY vswitch;
INSERT INTO counters (name, n) SELECT 'vpc:' || vpc, COUNT(*) FROM havips GROUP BY vpc;
INSERT INTO counters (name, n) SELECT 'acct:' || account, COUNT(*) FROM havips GROUP BY account;
INSERT INTO counters (name, n) SELECT 'ar:' || account || '/' || region, COUNT(*) FROM havips GROUP BY account, region;
"#,
    ),
    (
        5,
        r#"
-- Per-key permissions: the key's policy as JSON ({"allow": [...], "resources": [...]}),
-- NULL = full access.
ALTER TABLE access_keys ADD COLUMN policy TEXT;
"#,
    ),
];

/// Brings `conn` to the newest schema, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    let mut version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // Applied in version order whatever their order in the list.
    let mut ordered: Vec<&(u32, &str)> = MIGRATIONS.iter().collect();
    ordered.sort_by_key(|(v, _)| *v);
    for (v, sql) in ordered {
        if *v <= version {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", v)?;
        tx.commit()?;
        tracing::info!(version = v, "applied schema migration");
        version = *v;
    }
    Ok(version)
}
