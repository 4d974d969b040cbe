//! The PostgreSQL backend: several havipd processes share one database.
//!
//! # Concurrency essay
//!
//! The core's write closures are `FnOnce`: a transaction cannot be retried, so this backend
//! must never need to retry one. It therefore does not use SERIALIZABLE (whose
//! serialisation failures ask for retries) but READ COMMITTED plus advisory locks taken
//! *before the first statement that reads data*, which make every write transaction run as
//! if alone among the writers it could conflict with. Read transactions take no lock: each
//! is one REPEATABLE READ READ ONLY snapshot (the counterpart of a SQLite WAL snapshot),
//! which never blocks and never fails to serialise.
//!
//! Locks (transaction-scoped advisory locks, released by COMMIT or ROLLBACK, or by the
//! server when a node's connection dies):
//!
//! 1. `G`, the global key, taken first by every write transaction: shared by scoped
//!    transactions, exclusive by the rest.
//! 2. `A(k)`, one key per account (`k = hashtext(account)`), exclusive, taken after `G`,
//!    several in ascending `k` order.
//!
//! Which a write transaction takes is decided by its first call:
//! - [`Tx::scope_account`] (the core's `mutate`, i.e. every cloud API write): `G` shared,
//!   then `A(k)` of that account. By the trait's contract such a closure touches only rows
//!   of its account (HAVIPs, members, tags, EIPs, tasks, idempotency records, the counters
//!   `vsw:`/`vpc:`/`acct:`/`ar:` of its vSwitches and VPCs) and reads topology it does not
//!   change.
//! - [`Tx::ops_due`] (the operation worker): `G` shared; then, without a lock, the accounts
//!   owning the due operations; then their `A(k)` in ascending `k`; then the due operations
//!   of exactly those accounts (plus orphans whose HAVIP is gone) `FOR UPDATE SKIP LOCKED`.
//!   The worker completes and deletes them in the same transaction, so each operation is
//!   executed by exactly one worker: another worker either waits for the account locks and
//!   then no longer sees the deleted rows, or skips the rows it finds locked.
//! - anything else (topology, admin calls, purges, announcements): `G` exclusive, i.e. alone
//!   among all writers of all nodes, as SQLite's single writer is.
//!
//! Why this is correct across nodes. Two write transactions that can touch a common row
//! either hold `A` of the same account (then one waits for the other's commit), or one of
//! them holds `G` exclusively (ditto); rows of different accounts are disjoint. Once a
//! transaction holds its locks, every statement it runs (READ COMMITTED: a fresh snapshot
//! per statement) sees everything committed by the transactions it waited for, and nothing
//! that could change what it reads is written until it commits. So each write transaction
//! is equivalent to running alone, in lock order, which is what the core's closures assume:
//! the idempotency lookup-then-insert cannot admit a token twice, the quota counters read
//! then checked cannot be exceeded, and `ops_max_id`/`ops_after` see no foreign operation
//! (`ops_after` also returns only the operations this transaction recorded, since another
//! account's may commit meanwhile). The `(vswitch, ip)` primary key with
//! `ON CONFLICT DO NOTHING` stays the last guard against a double allocation, and
//! `(account, scope, token)` the one against a duplicate idempotency record.
//!
//! Why it cannot deadlock. Every transaction takes `G` before any `A`, and several `A` only
//! in ascending key order; a transaction holding `G` exclusively takes no `A`. Row locks
//! (writes, `FOR UPDATE`) are taken only after the advisory locks, and two transactions
//! that may wait on each other's rows are already ordered by a common advisory lock. A
//! transaction never upgrades its locks after its first statement: a later
//! `scope_account` for a different account is refused unless its key sorts after every key
//! held (which keeps the order). Waits are bounded by `lock_timeout` (30 s), and a node
//! that stops in the middle of a transaction loses its locks when the server ends its
//! session (`idle_in_transaction_session_timeout`, 60 s, or the TCP connection dying).
//!
//! # Durability
//!
//! Every session sets `synchronous_commit = on`: COMMIT returns only after the commit
//! record is flushed to the server's WAL (and to synchronous standbys, when the server
//! names any), and [`Store::write`] resolves only after COMMIT returned. If the connection
//! breaks during COMMIT the outcome is unknown; the write is reported as failed, and a
//! client retrying with its idempotency token gets the remembered result if it had
//! committed.
//!
//! # Threads
//!
//! The sync `postgres` client runs each call on the calling thread (its own small
//! runtime), which is what the core's synchronous closures need: every transaction runs on
//! a tokio blocking thread with a connection taken from a pool of [`POOL_SIZE`] (the
//! measured sweet spot is 4 to 8 connections). A permit is awaited asynchronously before a
//! blocking thread is taken, so waiting for a connection never occupies one. Connections
//! are opened lazily, reused, and dropped after an error that closed them.

mod nodes;
mod schema;
mod tx;

pub use nodes::{PgNonces, CACHE_CHANNEL, CACHE_POLL};
pub use schema::{MIGRATIONS, VERSIONS_TABLE};
pub use tx::PgTx;

use havip_core::error::DomainError;
use havip_core::store::{Store, StoreError, Tx};
use parking_lot::Mutex;
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Connections per store (per node).
pub const POOL_SIZE: usize = 8;

/// Settings of every session; see the module essay.
const SESSION_SETUP: &str = "SET synchronous_commit = on;
SET client_min_messages = warning;
SET lock_timeout = '30s';
SET idle_in_transaction_session_timeout = '60s';
SET application_name = 'havipd'";

/// Prepared statements kept per connection before the cache is emptied.
const STATEMENT_CACHE: usize = 512;

/// Checks a `store` URL: `postgres://` or `postgresql://`, parsable by the client.
pub fn check_url(url: &str) -> Result<postgres::Config, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("a PostgreSQL store is a postgres:// or postgresql:// URL".into());
    }
    postgres::Config::from_str(url).map_err(|e| format!("invalid PostgreSQL URL: {e}"))
}

/// One pooled connection with its prepared statements.
pub(crate) struct Conn {
    pub(crate) client: Client,
    pub(crate) stmts: HashMap<String, Statement>,
    /// BEGIN, COMMIT or ROLLBACK failed: the session's state is unknown, never reuse it.
    broken: bool,
}

impl Conn {
    fn open(config: &postgres::Config, setup: &str) -> Result<Conn, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(setup)?;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
            broken: false,
        })
    }

    pub(crate) fn prepare(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        if self.stmts.len() >= STATEMENT_CACHE {
            self.stmts.clear();
        }
        let s = self.client.prepare(sql)?;
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs `f` in one transaction: read-only snapshot, or a write committed before return.
    fn run<R>(
        &mut self,
        write: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, DomainError>,
    ) -> Result<R, DomainError> {
        let begin = if write {
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        } else {
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        };
        self.end(begin)?;
        let mut tx = PgTx::new(self, write);
        let r = catch_unwind(AssertUnwindSafe(|| f(&mut tx))).unwrap_or_else(|_| {
            Err(DomainError::Internal(
                "panic in a PostgreSQL transaction".into(),
            ))
        });
        // A statement that failed aborted the transaction on the server: COMMIT would
        // answer ROLLBACK. Never report such a transaction as committed.
        let failed = tx.failed();
        let r = match r {
            Ok(_) if failed => Err(DomainError::from(StoreError::Backend(
                "a statement failed; the transaction was rolled back".into(),
            ))),
            r => r,
        };
        match r {
            Ok(v) => {
                self.end("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                self.end("ROLLBACK")?;
                Err(e)
            }
        }
    }

    /// Runs a transaction-control statement; a failure marks the connection broken.
    fn end(&mut self, sql: &str) -> Result<(), DomainError> {
        self.client.batch_execute(sql).map_err(|e| {
            self.broken = true;
            tracing::error!(error = %e, statement = sql, "PostgreSQL transaction control failed");
            backend(e)
        })
    }
}

fn backend(e: postgres::Error) -> DomainError {
    DomainError::from(StoreError::Backend(e.to_string()))
}

struct Inner {
    config: postgres::Config,
    /// Statements run by every new session of this pool.
    setup: &'static str,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    closed: AtomicBool,
}

impl Inner {
    fn take(&self) -> Result<Conn, DomainError> {
        if let Some(c) = self.idle.lock().pop() {
            return Ok(c);
        }
        Conn::open(&self.config, self.setup).map_err(|e| {
            tracing::error!(error = %e, "connecting to PostgreSQL failed");
            DomainError::from(StoreError::Unavailable)
        })
    }

    fn put(&self, c: Conn) {
        if c.broken || c.client.is_closed() || self.closed.load(Ordering::SeqCst) {
            discard(vec![c]);
        } else {
            self.idle.lock().push(c);
        }
    }
}

/// Drops connections on a thread of their own: the sync client runs a small runtime that
/// must not be dropped (or blocked on) from inside an async task.
fn discard(conns: Vec<Conn>) {
    if conns.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("pg-close".into())
        .spawn(move || drop(conns));
}

impl Drop for Inner {
    fn drop(&mut self) {
        discard(std::mem::take(&mut *self.idle.lock()));
    }
}

/// The PostgreSQL store.
pub struct PgStore {
    inner: Arc<Inner>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`), migrates the
    /// database and keeps the connection for the pool.
    pub async fn connect(url: &str) -> Result<Self, DomainError> {
        let config = check_url(url).map_err(DomainError::Internal)?;
        Self::connect_config(config).await
    }

    /// [`PgStore::connect`] with a parsed configuration.
    pub async fn connect_config(config: postgres::Config) -> Result<Self, DomainError> {
        let (config, conn, version) = tokio::task::spawn_blocking(move || {
            let mut conn = Conn::open(&config, SESSION_SETUP)
                .map_err(|e| DomainError::Internal(format!("connecting to PostgreSQL: {e}")))?;
            let version = schema::migrate(&mut conn.client)
                .map_err(|e| DomainError::Internal(format!("migrating PostgreSQL: {e}")))?;
            Ok::<_, DomainError>((config, conn, version))
        })
        .await
        .map_err(|e| DomainError::Internal(format!("connect task: {e}")))??;
        tracing::info!(
            host = ?config.get_hosts(),
            db = config.get_dbname().unwrap_or(""),
            schema = version,
            pool = POOL_SIZE,
            "postgres store open"
        );
        Ok(PgStore {
            inner: Arc::new(Inner {
                config,
                setup: SESSION_SETUP,
                idle: Mutex::new(vec![conn]),
                permits: Arc::new(Semaphore::new(POOL_SIZE)),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Refuses new transactions and closes idle connections; running ones finish.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.permits.close();
        discard(std::mem::take(&mut *self.inner.idle.lock()));
    }

    async fn run<R, F>(&self, write: bool, f: F) -> Result<R, DomainError>
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DomainError::from(StoreError::Unavailable))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = inner.take()?;
            let r = conn.run(write, f);
            inner.put(conn);
            r
        })
        .await
        .map_err(|e| DomainError::Internal(format!("transaction task: {e}")))?
    }
}

impl Store for PgStore {
    fn read<R, F>(&self, f: F) -> impl std::future::Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        self.run(false, f)
    }

    fn write<R, F>(&self, f: F) -> impl std::future::Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        self.run(true, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_checked() {
        assert!(check_url("postgres://havip@127.0.0.1:5432/havip").is_ok());
        assert!(check_url("postgresql://u:p@db.example:6543/x").is_ok());
        assert!(check_url("host=127.0.0.1 user=havip").is_err());
        assert!(check_url("mysql://u@h/db").is_err());
        assert!(check_url("postgres://u@h:notaport/db").is_err());
    }
}
