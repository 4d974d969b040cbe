//! Schema migrations, the PostgreSQL counterparts of `havip-store-sqlite`'s: the same tables,
//! columns and indexes, version for version, so migration N here does what migration N does
//! there. Never edit a shipped migration: add the next one (to both backends).
//!
//! Differences from the SQLite text, all forced by the engine:
//! - addresses and times are `BIGINT` (an IPv4 address does not fit an `INTEGER`);
//! - `INTEGER PRIMARY KEY AUTOINCREMENT` is `BIGSERIAL`; `havip_members` gets a `seq`
//!   column where SQLite orders by its implicit rowid (an upsert keeps both);
//! - every text column is `COLLATE "C"`, so comparisons and `ORDER BY` are bytewise as in
//!   SQLite, whatever the database's default collation.
//!
//! Applied versions are rows of `havip_schema_migrations`; every migration not yet applied
//! runs, in version order, each in its own transaction, under a session advisory lock, so
//! several nodes starting at once migrate the database exactly once.

use postgres::Client;

/// (version, SQL). Version N brings a database from N-1 to N. The numbers follow the SQLite
/// backend's (3 is not used there either).
pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE accounts (
    id TEXT COLLATE "C" PRIMARY KEY,
    cloud TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL
);
CREATE TABLE access_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    secret TEXT COLLATE "C" NOT NULL
);
CREATE INDEX access_keys_account ON access_keys(account);
CREATE TABLE regions (
    cloud TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (cloud, id)
);
CREATE TABLE resource_groups (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL
);
CREATE TABLE vpcs (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    cidr TEXT COLLATE "C" NOT NULL
);
CREATE TABLE vswitches (
    id TEXT COLLATE "C" PRIMARY KEY,
    vpc TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    zone TEXT COLLATE "C" NOT NULL,
    cidr TEXT COLLATE "C" NOT NULL
);
CREATE TABLE instances (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    vswitch TEXT COLLATE "C" NOT NULL,
    private_ip TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL
);
CREATE TABLE enis (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    vswitch TEXT COLLATE "C" NOT NULL,
    private_ip TEXT COLLATE "C" NOT NULL,
    instance TEXT COLLATE "C"
);
CREATE TABLE eips (
    id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    address TEXT COLLATE "C" NOT NULL,
    havip TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL
);
CREATE INDEX eips_havip ON eips(havip) WHERE havip IS NOT NULL;
-- One row per held address: the unique key is what makes a double allocation impossible,
-- across every node sharing the database.
CREATE TABLE ip_allocations (
    vswitch TEXT COLLATE "C" NOT NULL,
    ip BIGINT NOT NULL,
    owner TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (vswitch, ip)
);
CREATE TABLE havips (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    account TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    vpc TEXT COLLATE "C" NOT NULL,
    vswitch TEXT COLLATE "C" NOT NULL,
    ip BIGINT NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    resource_group TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    master TEXT COLLATE "C"
);
CREATE INDEX havips_account_region ON havips(account, region, seq);
CREATE INDEX havips_vpc ON havips(vpc, account, region, seq);
CREATE TABLE havip_members (
    seq BIGSERIAL NOT NULL,
    havip TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    instance TEXT COLLATE "C",
    state TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (havip, target)
);
CREATE INDEX havip_members_target ON havip_members(target);
CREATE INDEX havip_members_instance ON havip_members(instance) WHERE instance IS NOT NULL;
CREATE TABLE havip_tags (
    havip TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (havip, key)
);
CREATE INDEX havip_tags_key ON havip_tags(key, value);
CREATE TABLE operations (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    havip TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C",
    due_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX operations_due ON operations(due_at_ms) WHERE due_at_ms IS NOT NULL;
CREATE TABLE idempotency (
    account TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    token TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    result TEXT COLLATE "C" NOT NULL,
    last_used_ms BIGINT NOT NULL,
    PRIMARY KEY (account, scope, token)
);
CREATE INDEX idempotency_last_used ON idempotency(last_used_ms);
"#,
    ),
    (
        2,
        r#"
-- Async work pollable by the request that started it (Tencent DescribeVpcTaskResult): one
-- row per (request, operation). A task is running while any of its operations is pending.
CREATE TABLE tasks (
    account TEXT COLLATE "C" NOT NULL,
    request_id TEXT COLLATE "C" NOT NULL,
    op_id BIGINT NOT NULL,
    havip TEXT COLLATE "C" NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (account, request_id, op_id)
);
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
    name TEXT COLLATE "C" PRIMARY KEY,
    n BIGINT NOT NULL
);
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
    (
        6,
        r#"
-- Node coordination, PostgreSQL only (a SQLite database has one node; its version 6 is
-- unused). See nodes.rs.
-- Replay protection across nodes: a (key, nonce) pair is new when its upsert returns a row.
-- The nonce is kept as its MD5 (any bytes, any length, a fixed-size key).
CREATE TABLE nonces (
    key_id TEXT COLLATE "C" NOT NULL,
    nonce_md5 TEXT COLLATE "C" NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce_md5)
);
CREATE INDEX nonces_expires ON nonces(expires_ms);
-- What every node copies into memory (accounts, access keys, regions) has a generation,
-- bumped by any statement on those tables and announced on the channel havip_cache at
-- commit: nodes reload on the notice, and poll the generation in case a notice was missed.
CREATE TABLE cache_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO cache_generation (id, n) VALUES (1, 0);
CREATE FUNCTION havip_cache_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_generation SET n = n + 1 WHERE id = 1;
    PERFORM pg_notify('havip_cache', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION havip_cache_changed();
CREATE TRIGGER access_keys_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON access_keys
    FOR EACH STATEMENT EXECUTE FUNCTION havip_cache_changed();
CREATE TRIGGER regions_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON regions
    FOR EACH STATEMENT EXECUTE FUNCTION havip_cache_changed();
"#,
    ),
];

/// The table that records applied migrations.
pub const VERSIONS_TABLE: &str = "havip_schema_migrations";

/// Key of the session advisory lock held while migrating (first half: "HVIM").
const MIGRATION_LOCK: (i32, i32) = (0x4856_494d, 0);

/// Brings the database to the newest schema; returns the highest applied version.
pub fn migrate(client: &mut Client) -> Result<u32, postgres::Error> {
    client.execute(
        "SELECT pg_advisory_lock($1, $2)",
        &[&MIGRATION_LOCK.0, &MIGRATION_LOCK.1],
    )?;
    let r = migrate_locked(client);
    let unlocked = client.execute(
        "SELECT pg_advisory_unlock($1, $2)",
        &[&MIGRATION_LOCK.0, &MIGRATION_LOCK.1],
    );
    let v = r?;
    unlocked?;
    Ok(v)
}

fn migrate_locked(client: &mut Client) -> Result<u32, postgres::Error> {
    client.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (version INTEGER PRIMARY KEY)"
    ))?;
    let applied: Vec<u32> = client
        .query(&format!("SELECT version FROM {VERSIONS_TABLE}"), &[])?
        .iter()
        .map(|r| r.get::<_, i32>(0) as u32)
        .collect();
    let mut ordered: Vec<&(u32, &str)> = MIGRATIONS.iter().collect();
    ordered.sort_by_key(|(v, _)| *v);
    for (v, sql) in ordered {
        if applied.contains(v) {
            continue;
        }
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            &format!("INSERT INTO {VERSIONS_TABLE} (version) VALUES ($1)"),
            &[&(*v as i32)],
        )?;
        tx.commit()?;
        tracing::info!(version = v, "applied schema migration");
    }
    let newest: Option<i32> = client
        .query_one(&format!("SELECT MAX(version) FROM {VERSIONS_TABLE}"), &[])?
        .get(0);
    Ok(newest.unwrap_or(0) as u32)
}
