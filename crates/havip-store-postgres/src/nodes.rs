//! What several nodes on one database share besides the domain rows: the nonces they have
//! accepted, and news that the accounts, access keys or regions they copy into memory changed.
//!
//! # Nonces
//!
//! [`PgNonces`] is the [`NonceLedger`] a node hands its nonce cache at start. Each check is
//! one autocommit upsert on a pool of its own ([`NONCE_POOL`] connections), so it never waits
//! for a connection held by a write transaction queued on an account's advisory lock, and
//! takes no advisory lock itself: its only lock is the row of its own (key, nonce), which
//! another check holds only when the same nonce arrives twice at once (then exactly one of
//! the two inserts; the other sees the committed row and is told "replay"). A row that has
//! expired but not yet been purged is overwritten, which is how a nonce becomes usable again
//! after its window, as in the in-memory cache.
//!
//! The nonce sessions run with `synchronous_commit = off`: the row is visible to every node
//! the moment the upsert returns (visibility does not wait for the WAL flush), and a write
//! request's own COMMIT, which does wait, flushes the WAL up to and including its nonce. Only
//! the nonces of read requests accepted in the last fraction of a second before a PostgreSQL
//! crash can be forgotten (a replayed read changes nothing). Expired rows are deleted by each
//! node at most once per [`PURGE_EVERY_MS`], off the request path.
//!
//! # Cache news
//!
//! Migration 6 puts a statement trigger on `accounts`, `access_keys` and `regions` that bumps
//! `cache_generation` and notifies [`CACHE_CHANNEL`] at commit. [`PgStore::watch_caches`]
//! keeps one connection LISTENing on a thread of its own and reports a change when a
//! notification arrives, and also when the generation read every [`CACHE_POLL`] differs from
//! the last one seen (a notification is lost while the connection is down). So a key added
//! or revoked through one node's admin API is in force on every node within about
//! [`CACHE_POLL`] at worst, and usually within milliseconds.

use crate::{backend, Conn, Inner, PgStore};
use havip_core::auth::{NonceAdmission, NonceLedger};
use havip_core::error::DomainError;
use havip_core::store::StoreError;
use parking_lot::Mutex;
use postgres::fallible_iterator::FallibleIterator;
use postgres::NoTls;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// Connections of a node's nonce pool.
pub const NONCE_POOL: usize = 4;

/// How often a node deletes expired nonces, at most.
pub const PURGE_EVERY_MS: i64 = 60_000;

/// The channel of cache news.
pub const CACHE_CHANNEL: &str = "havip_cache";

/// Longest time between two reads of the cache generation.
pub const CACHE_POLL: Duration = Duration::from_secs(1);

/// Settings of a nonce session; see the module documentation.
const NONCE_SETUP: &str = "SET synchronous_commit = off;
SET client_min_messages = warning;
SET lock_timeout = '10s';
SET statement_timeout = '10s';
SET application_name = 'havipd-nonces'";

/// First use when a row comes back: inserted, or an expired row taken over.
const ADMIT: &str =
    "INSERT INTO nonces (key_id, nonce_md5, expires_ms) VALUES ($1, md5($2::bytea), $3)
ON CONFLICT (key_id, nonce_md5) DO UPDATE SET expires_ms = EXCLUDED.expires_ms
WHERE nonces.expires_ms <= $4
RETURNING 1";

const PURGE: &str = "DELETE FROM nonces WHERE expires_ms <= $1";

/// The nonces of every node on the database.
pub struct PgNonces {
    inner: Arc<Inner>,
    last_purge_ms: AtomicI64,
}

impl PgNonces {
    /// Deletes the rows expired at `now_ms`; returns how many.
    pub async fn purge(&self, now_ms: i64) -> Result<u64, DomainError> {
        purge(self.inner.clone(), now_ms).await
    }

    /// Refuses new checks and closes idle connections.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.permits.close();
        crate::discard(std::mem::take(&mut *self.inner.idle.lock()));
    }
}

async fn on_pool<R: Send + 'static>(
    inner: Arc<Inner>,
    f: impl FnOnce(&mut Conn) -> Result<R, postgres::Error> + Send + 'static,
) -> Result<R, DomainError> {
    let permit = inner
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| DomainError::from(StoreError::Unavailable))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut conn = inner.take()?;
        let r = f(&mut conn);
        inner.put(conn);
        r.map_err(backend)
    })
    .await
    .map_err(|e| DomainError::Internal(format!("nonce task: {e}")))?
}

async fn purge(inner: Arc<Inner>, now_ms: i64) -> Result<u64, DomainError> {
    on_pool(inner, move |c| c.client.execute(PURGE, &[&now_ms])).await
}

impl NonceLedger for PgNonces {
    fn admit(&self, key: &str, nonce: &str, now_ms: i64, expires_ms: i64) -> NonceAdmission {
        let last = self.last_purge_ms.load(Ordering::Relaxed);
        if now_ms - last >= PURGE_EVERY_MS
            && self
                .last_purge_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let inner = self.inner.clone();
            tokio::spawn(async move {
                match purge(inner, now_ms).await {
                    Ok(n) => tracing::debug!(deleted = n, "expired nonces purged"),
                    Err(e) => tracing::warn!(error = %e, "purging expired nonces failed"),
                }
            });
        }
        let inner = self.inner.clone();
        let key = key.to_string();
        let nonce = nonce.as_bytes().to_vec();
        Box::pin(on_pool(inner, move |c| {
            let st = c.prepare(ADMIT)?;
            let rows = c.client.query(&st, &[&key, &nonce, &expires_ms, &now_ms])?;
            Ok(!rows.is_empty())
        }))
    }
}

impl PgStore {
    /// The nonce ledger of this node: a pool of its own on the same database.
    pub fn nonce_ledger(&self) -> Arc<PgNonces> {
        Arc::new(PgNonces {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                setup: NONCE_SETUP,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(NONCE_POOL)),
                closed: AtomicBool::new(false),
            }),
            // The first check purges: a node starting after a long pause cleans up at once.
            last_purge_ms: AtomicI64::new(i64::MIN / 2),
        })
    }

    /// Reports every change of the accounts, access keys or regions committed by any node
    /// (this one included): the value is a counter of changes seen, and the first report
    /// comes as soon as the watcher has connected (a change may have been missed before).
    /// The watcher runs on a thread of its own until every receiver is dropped; it
    /// reconnects after an error, and a change made meanwhile is reported at reconnection.
    pub fn watch_caches(&self) -> watch::Receiver<u64> {
        let (tx, rx) = watch::channel(0u64);
        let config = self.inner.config.clone();
        let spawned = std::thread::Builder::new()
            .name("pg-cache-watch".into())
            .spawn(move || watch_loop(config, tx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the cache watcher");
        }
        rx
    }
}

fn watch_loop(config: postgres::Config, tx: watch::Sender<u64>) {
    let mut seen: Option<i64> = None;
    let mut changes = 0u64;
    let mut backoff = Duration::from_millis(100);
    while !tx.is_closed() {
        let r = (|| -> Result<(), postgres::Error> {
            let mut c = config.connect(NoTls)?;
            c.batch_execute(&format!(
                "SET application_name = 'havipd-cache-watch'; LISTEN {CACHE_CHANNEL}"
            ))?;
            backoff = Duration::from_millis(100);
            loop {
                let n: i64 = c
                    .query_one("SELECT n FROM cache_generation WHERE id = 1", &[])?
                    .get(0);
                if seen != Some(n) {
                    seen = Some(n);
                    changes += 1;
                    if tx.send(changes).is_err() {
                        return Ok(());
                    }
                }
                // Sleeps until a notification or CACHE_POLL; then drains what else came.
                let mut notes = c.notifications();
                let _ = notes.timeout_iter(CACHE_POLL).next()?;
                while notes.iter().next()?.is_some() {}
                if tx.is_closed() {
                    return Ok(());
                }
            }
        })();
        match r {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cache watcher lost PostgreSQL");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
