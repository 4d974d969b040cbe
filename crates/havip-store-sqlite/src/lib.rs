//! The embedded SQLite backend: one database file, WAL journal, `synchronous = FULL`.
//!
//! Concurrency essay. SQLite allows one writer at a time, so the store owns exactly one write
//! connection, on a dedicated thread. Requests send their closures to it; the thread takes
//! every closure that is waiting (up to [`MAX_GROUP`]), opens one transaction, runs each
//! closure inside its own SAVEPOINT (a failing closure rolls back to its savepoint and leaves
//! no trace), commits once, and only then answers each caller. One fsync thus makes a whole
//! group durable (group commit), and no caller hears "done" before its write is on disk.
//! Closures run one after another, so each sees the committed-or-grouped effects of the ones
//! before it: the serial order is the order on the thread. Reads go to a small pool of
//! connections, each read in its own deferred transaction (a consistent WAL snapshot).

mod schema;
mod tx;

pub use schema::MIGRATIONS;
pub use tx::SqliteTx;

use havip_core::error::DomainError;
use havip_core::store::{Store, StoreError, Tx};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most closures committed together.
pub const MAX_GROUP: usize = 256;

type Finish = Box<dyn FnOnce(Option<DomainError>) + Send>;
type Job = Box<dyn FnOnce(&mut SqliteTx<'_>) -> (bool, Finish) + Send>;

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

fn open(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn backend(e: rusqlite::Error) -> DomainError {
    DomainError::from(StoreError::Backend(e.to_string()))
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/havip.db`, migrates it, and starts the writer thread.
    pub fn open_dir(dir: &Path) -> Result<Self, DomainError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DomainError::Internal(format!("create {}: {e}", dir.display())))?;
        Self::open(&dir.join("havip.db"))
    }

    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, DomainError> {
        let mut conn = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .map_err(backend)?;
        let version = schema::migrate(&mut conn).map_err(backend)?;
        tracing::info!(path = %path.display(), schema = version, "sqlite store open");
        let (send, recv) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, recv))
            .map_err(|e| DomainError::Internal(format!("spawn writer: {e}")))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(send)),
            writer_thread: Mutex::new(Some(handle)),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Stops accepting writes and waits for the writer to finish what it has.
    pub fn close(&self) {
        self.writer.lock().take();
        if let Some(h) = self.writer_thread.lock().take() {
            let _ = h.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(mut conn: Connection, recv: mpsc::Receiver<Job>) {
    while let Ok(first) = recv.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match recv.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let mut finishes: Vec<Finish> = Vec::with_capacity(group.len());
        let outcome = (|| -> rusqlite::Result<()> {
            let txn = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for job in group.drain(..) {
                txn.execute_batch("SAVEPOINT job")?;
                let mut t = SqliteTx { conn: &txn };
                let (ok, finish) = job(&mut t);
                if !ok {
                    txn.execute_batch("ROLLBACK TO job")?;
                }
                txn.execute_batch("RELEASE job")?;
                finishes.push(finish);
            }
            txn.commit()
        })();
        let err = outcome.err().map(|e| {
            tracing::error!(error = %e, "sqlite group commit failed");
            backend(e)
        });
        for f in finishes {
            f(err.clone());
        }
    }
}

impl Store for SqliteStore {
    fn read<R, F>(&self, f: F) -> impl std::future::Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = match readers.lock().pop() {
                    Some(c) => c,
                    None => open(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(backend)?,
                };
                conn.execute_batch("BEGIN").map_err(backend)?;
                let r = catch_unwind(AssertUnwindSafe(|| f(&mut SqliteTx { conn: &conn })))
                    .unwrap_or_else(|_| {
                        Err(DomainError::Internal("panic in a read transaction".into()))
                    });
                let ended = conn.execute_batch("COMMIT");
                if ended.is_ok() {
                    readers.lock().push(conn);
                }
                r
            })
            .await
            .map_err(|e| DomainError::Internal(format!("read task: {e}")))?
        }
    }

    fn write<R, F>(&self, f: F) -> impl std::future::Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let (send, recv) = oneshot::channel::<Result<R, DomainError>>();
        let job: Job = Box::new(move |t: &mut SqliteTx<'_>| {
            let r = catch_unwind(AssertUnwindSafe(|| f(t))).unwrap_or_else(|_| {
                Err(DomainError::Internal("panic in a write transaction".into()))
            });
            let ok = r.is_ok();
            let finish: Finish = Box::new(move |commit_err| {
                let _ = send.send(match (r, commit_err) {
                    (Ok(_), Some(e)) => Err(e),
                    (r, _) => r,
                });
            });
            (ok, finish)
        });
        let sent = self
            .writer
            .lock()
            .as_ref()
            .map(|w| w.send(job).is_ok())
            .unwrap_or(false);
        async move {
            if !sent {
                return Err(DomainError::from(StoreError::Unavailable));
            }
            recv.await
                .unwrap_or_else(|_| Err(DomainError::from(StoreError::Unavailable)))
        }
    }
}
