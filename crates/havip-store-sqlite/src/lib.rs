//! The embedded SQLite backend: one database file, WAL journal, `synchronous = FULL`.
//!
//! Concurrency essay. SQLite allows one writer at a time, so the store owns exactly one write
//! connection, on a dedicated thread. Requests send their closures to it; the thread takes
//! every closure that is waiting (up to [`MAX_GROUP`]), opens one transaction, runs each
//! closure inside a SAVEPOINT (a failing closure rolls back to its savepoint and leaves no
//! trace), commits once, and only then answers each caller. One fsync thus makes a whole
//! group durable (group commit), and no caller hears "done" before its write is on disk.
//! Closures run one after another, so each sees the effects of the ones before it: the serial
//! order is the order on the thread.
//!
//! A savepoint is not free: SQLite copies each page to its sub-journal the first time a write
//! touches it under the savepoint, about ten pages for a Create. Closures that may run again
//! ([`Store::write_retryable`]) therefore share one savepoint per run of consecutive such
//! closures, and a run that starts the transaction needs none: the transaction is its
//! savepoint. One that fails without having written anything needs no undo. One that fails
//! after writing (rare: the checks come before the writes) rolls the whole run back (to its
//! savepoint, or the whole transaction, then begun again), and the run is replayed closure by
//! closure, each in its own savepoint as a run-once closure is: the earlier closures' first
//! results are discarded unseen, and the serial order still holds.
//!
//! Reads go to a fixed pool of [`READERS`] threads, each with its own connection, each read in
//! its own deferred transaction (a consistent WAL snapshot). A fixed pool keeps the number of
//! threads, connections and page caches bounded however many requests wait.
//!
//! Checkpoints (copying the WAL back into the database file) run on their own thread and
//! connection, in PASSIVE mode, so the writer seldom stops to copy pages and readers are never
//! blocked by it. After each, the writer copies the few frames committed meanwhile, between
//! two groups: only a write transaction that begins with every frame copied back restarts
//! the WAL from its first frame, and without that the file grows for as long as writes
//! last, each commit then extending it (block allocation, and an inode write in every fsync).

mod held;
mod schema;
mod tx;

use held::{Held, Prepared};
pub use schema::MIGRATIONS;
use tx::GroupCache;
pub use tx::SqliteTx;

use havip_core::error::DomainError;
use havip_core::store::{Store, StoreError, Tx};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// Most closures committed together.
pub const MAX_GROUP: usize = 256;
/// Reader threads (and connections).
pub const READERS: usize = 3;
/// How often the checkpointer copies the WAL back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// Largest WAL file kept once the log restarts (a quarter second of Creates is ~25 MB).
const WAL_KEEP_BYTES: i64 = 64 << 20;
/// Page cache of the write connection, KiB (the address and HAVIP indexes stay resident).
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// Page cache of each read connection, KiB.
const READER_CACHE_KIB: i64 = 16 * 1024;

type Finish = Box<dyn FnOnce(Option<DomainError>) + Send>;
type OnceJob = Box<dyn FnOnce(&mut SqliteTx<'_>) -> (bool, Finish) + Send>;
type ReadJob = Box<dyn FnOnce(&mut SqliteTx<'_>) + Send>;

/// A write closure that may run more than once; it keeps its last result until `finish`.
trait Retry: Send {
    /// Runs the closure; whether it succeeded.
    fn run(&mut self, t: &mut SqliteTx<'_>) -> bool;
    /// Answers the caller with the last run's result (or the commit's failure).
    fn finish(self: Box<Self>, commit_err: Option<DomainError>);
}

struct RetryJob<R, F> {
    f: F,
    last: Option<Result<R, DomainError>>,
    send: oneshot::Sender<Result<R, DomainError>>,
}

impl<R, F> Retry for RetryJob<R, F>
where
    F: Fn(&mut dyn Tx) -> Result<R, DomainError> + Send,
    R: Send,
{
    fn run(&mut self, t: &mut SqliteTx<'_>) -> bool {
        let r = catch_unwind(AssertUnwindSafe(|| (self.f)(t)))
            .unwrap_or_else(|_| Err(DomainError::Internal("panic in a write transaction".into())));
        let ok = r.is_ok();
        self.last = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit_err: Option<DomainError>) {
        let r = self
            .last
            .unwrap_or_else(|| Err(DomainError::Internal("write closure never ran".into())));
        let _ = self.send.send(match (r, commit_err) {
            (Ok(_), Some(e)) => Err(e),
            (r, _) => r,
        });
    }
}

enum Job {
    Once(OnceJob),
    Retry(Box<dyn Retry>),
}

/// The SQLite store.
pub struct SqliteStore {
    generation: Arc<AtomicU64>,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    reader: Mutex<Option<mpsc::Sender<ReadJob>>>,
    stop_checkpoints: Mutex<Option<mpsc::Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn open(path: &Path, flags: OpenFlags, cache_kib: i64) -> rusqlite::Result<Connection> {
    // Each connection lives on exactly one thread: SQLite's own per-call mutexes are waste.
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The checkpointer thread does this work; no connection stops to do it on commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Plans must not depend on bound values (LIMIT/OFFSET), or every new page number would
    // re-prepare the cached statement.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, DomainError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| DomainError::Internal(format!("spawn {name}: {e}")))
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
        let rw = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let mut conn = open(path, rw, WRITER_CACHE_KIB).map_err(backend)?;
        // After a burst, the WAL's first commit once it restarts cuts the file back to this.
        conn.pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES)
            .map_err(backend)?;
        let version = schema::migrate(&mut conn).map_err(backend)?;
        tracing::info!(path = %path.display(), schema = version, "sqlite store open");
        let mut threads = Vec::new();
        let (send, recv) = mpsc::channel::<Job>();
        let generation = Arc::new(AtomicU64::new(1));
        let gen = generation.clone();
        let backfilled = Arc::new(AtomicBool::new(false));
        let finish_checkpoint = backfilled.clone();
        threads.push(spawn("sqlite-writer", move || {
            writer_loop(conn, recv, gen, finish_checkpoint)
        })?);
        let (rsend, rrecv) = mpsc::channel::<ReadJob>();
        let rrecv = Arc::new(Mutex::new(rrecv));
        for i in 0..READERS {
            let conn =
                open(path, OpenFlags::SQLITE_OPEN_READ_ONLY, READER_CACHE_KIB).map_err(backend)?;
            let rrecv = rrecv.clone();
            threads.push(spawn(&format!("sqlite-reader-{i}"), move || {
                reader_loop(conn, rrecv)
            })?);
        }
        let ckpt = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE, 1024).map_err(backend)?;
        let (stop, stopped) = mpsc::channel::<()>();
        threads.push(spawn("sqlite-checkpoint", move || {
            checkpoint_loop(ckpt, stopped, backfilled)
        })?);
        Ok(SqliteStore {
            generation,
            writer: Mutex::new(Some(send)),
            reader: Mutex::new(Some(rsend)),
            stop_checkpoints: Mutex::new(Some(stop)),
            threads: Mutex::new(threads),
        })
    }

    /// Stops accepting work and waits for the threads to finish what they have.
    pub fn close(&self) {
        self.writer.lock().take();
        self.reader.lock().take();
        self.stop_checkpoints.lock().take();
        for h in self.threads.lock().drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn reader_loop(conn: Connection, jobs: Arc<Mutex<mpsc::Receiver<ReadJob>>>) {
    let held = Held::new(&conn);
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let job = { jobs.lock().recv() };
        let Ok(job) = job else { return };
        if let Err(e) = exec_held(&held, "BEGIN") {
            tracing::error!(error = %e, "sqlite read transaction could not begin");
        }
        job(&mut SqliteTx {
            conn: &conn,
            counters: None,
            held: &held,
        });
        if let Err(e) = exec_held(&held, "COMMIT") {
            tracing::error!(error = %e, "sqlite read transaction could not end");
        }
    }
}

/// Copies the WAL back every [`CHECKPOINT_EVERY`], then tells the writer (`backfilled`) to
/// copy the frames committed meanwhile, which lets its next transaction restart the WAL.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>, backfilled: Arc<AtomicBool>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => backfilled.store(true, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed; retrying later"),
        }
    }
    // A final full checkpoint leaves a short WAL for the next start.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Runs a parameterless `'static` statement held by the connection.
fn exec_held(held: &dyn Prepared, sql: &'static str) -> rusqlite::Result<()> {
    held.with(sql, &mut |st| st.execute([]).map(|_| ()))
}

/// The write connection and its pending counter changes, kept in step with savepoints.
struct Writer<'a> {
    conn: &'a Connection,
    counters: &'a RefCell<GroupCache>,
    held: &'a dyn Prepared,
}

impl Writer<'_> {
    fn tx(&self) -> SqliteTx<'_> {
        SqliteTx {
            conn: self.conn,
            counters: Some(self.counters),
            held: self.held,
        }
    }

    /// What a job has written so far (rows, and counters not yet written).
    fn changes(&self) -> (u64, u64) {
        (self.conn.total_changes(), self.counters.borrow().changes)
    }

    fn exec(&self, sql: &'static str) -> rusqlite::Result<()> {
        exec_held(self.held, sql)
    }

    /// Opens a savepoint (`SAVEPOINT job`), the counters written first so that a rollback to
    /// it undoes only what is still pending.
    fn savepoint(&self, sql: &'static str) -> rusqlite::Result<()> {
        self.counters.borrow_mut().flush(self.held)?;
        self.exec(sql)
    }

    /// Rolls back (`ROLLBACK TO job`, `ROLLBACK`) with the pending counters.
    fn rollback(&self, sql: &'static str) -> rusqlite::Result<()> {
        self.counters.borrow_mut().discard();
        self.exec(sql)
    }

    /// Runs one closure in its own savepoint; its answer is pushed to `finishes`.
    fn run_once(&self, job: OnceJob, finishes: &mut Vec<Finish>) -> rusqlite::Result<()> {
        self.savepoint("SAVEPOINT job")?;
        let (ok, finish) = job(&mut self.tx());
        finishes.push(finish);
        if !ok {
            self.rollback("ROLLBACK TO job")?;
        }
        self.exec("RELEASE job")
    }

    /// Runs a retryable closure (again) in its own savepoint.
    fn rerun_alone(&self, job: &mut dyn Retry) -> rusqlite::Result<()> {
        self.savepoint("SAVEPOINT job")?;
        if !job.run(&mut self.tx()) {
            self.rollback("ROLLBACK TO job")?;
        }
        self.exec("RELEASE job")
    }

    /// Runs one group in one transaction and commits it; answers go to `finishes` (run-once
    /// closures) and `retries` (the others), to be sent after.
    fn run_group(
        &self,
        group: Vec<Job>,
        finishes: &mut Vec<Finish>,
        retries: &mut Vec<Box<dyn Retry>>,
    ) -> rusqlite::Result<()> {
        self.exec("BEGIN IMMEDIATE")?;
        // The current run of retryable closures: where it starts in `retries`, and whether
        // it starts the transaction (then the transaction itself is its savepoint, and no
        // page is copied to a sub-journal). Otherwise the savepoint `run` is open while this
        // is `Some`.
        let mut run: Option<(usize, bool)> = None;
        for job in group {
            match job {
                Job::Once(job) => {
                    if let Some((_, anchored)) = run.take() {
                        if !anchored {
                            self.exec("RELEASE run")?;
                        }
                    }
                    self.run_once(job, finishes)?;
                }
                Job::Retry(mut job) => {
                    let (from, anchored) = match run {
                        Some(r) => r,
                        None => {
                            let anchored = finishes.is_empty() && retries.is_empty();
                            if !anchored {
                                self.savepoint("SAVEPOINT run")?;
                            }
                            run = Some((retries.len(), anchored));
                            (retries.len(), anchored)
                        }
                    };
                    let before = self.changes();
                    let ok = job.run(&mut self.tx());
                    let wrote = self.changes() != before;
                    retries.push(job);
                    if ok || !wrote {
                        continue;
                    }
                    // A failure that left writes behind: undo the run and replay it one
                    // closure at a time, each in its own savepoint, this one included.
                    if anchored {
                        self.rollback("ROLLBACK")?;
                        self.exec("BEGIN IMMEDIATE")?;
                    } else {
                        self.rollback("ROLLBACK TO run")?;
                        self.exec("RELEASE run")?;
                    }
                    run = None;
                    for j in &mut retries[from..] {
                        self.rerun_alone(j.as_mut())?;
                    }
                }
            }
        }
        if let Some((_, false)) = run {
            self.exec("RELEASE run")?;
        }
        self.counters.borrow_mut().flush(self.held)?;
        self.exec("COMMIT")
    }
}

fn writer_loop(
    conn: Connection,
    recv: mpsc::Receiver<Job>,
    generation: Arc<AtomicU64>,
    backfilled: Arc<AtomicBool>,
) {
    let counters = RefCell::new(GroupCache::default());
    let held = Held::new(&conn);
    let w = Writer {
        conn: &conn,
        counters: &counters,
        held: &held,
    };
    while let Ok(first) = recv.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match recv.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let mut finishes: Vec<Finish> = Vec::new();
        let mut retries: Vec<Box<dyn Retry>> = Vec::new();
        let outcome = w.run_group(group, &mut finishes, &mut retries);
        if outcome.is_err() && !conn.is_autocommit() {
            if let Err(e) = exec_held(&held, "ROLLBACK") {
                tracing::error!(error = %e, "sqlite rollback after a failed group failed");
            }
        }
        // The values read are good for one transaction only.
        counters.borrow_mut().discard();
        let err = outcome.err().map(|e| {
            tracing::error!(error = %e, "sqlite group commit failed");
            backend(e)
        });
        // Before anyone hears of the commit, so that no cached read predates an ack.
        generation.fetch_add(1, Ordering::AcqRel);
        for f in finishes {
            f(err.clone());
        }
        for r in retries {
            r.finish(err.clone());
        }
        // The WAL restarts from its first frame only when a write transaction begins with
        // every frame already copied back, which a checkpoint on another connection never
        // sees under steady writes (frames arrive while it copies), so the file would grow
        // without end. The checkpointer copies the bulk; the writer copies the few frames
        // committed since, between two groups, when no frame can arrive.
        if backfilled.swap(false, Ordering::AcqRel) {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "sqlite checkpoint on the writer failed");
            }
        }
    }
}

impl Store for SqliteStore {
    fn write_generation(&self) -> Option<u64> {
        Some(self.generation.load(Ordering::Acquire))
    }

    fn read<R, F>(&self, f: F) -> impl std::future::Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let (send, recv) = oneshot::channel::<Result<R, DomainError>>();
        let job: ReadJob = Box::new(move |t: &mut SqliteTx<'_>| {
            let r = catch_unwind(AssertUnwindSafe(|| f(t))).unwrap_or_else(|_| {
                Err(DomainError::Internal("panic in a read transaction".into()))
            });
            let _ = send.send(r);
        });
        let sent = self
            .reader
            .lock()
            .as_ref()
            .map(|r| r.send(job).is_ok())
            .unwrap_or(false);
        async move {
            if !sent {
                return Err(DomainError::from(StoreError::Unavailable));
            }
            recv.await
                .unwrap_or_else(|_| Err(DomainError::from(StoreError::Unavailable)))
        }
    }

    fn write<R, F>(&self, f: F) -> impl std::future::Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let (send, recv) = oneshot::channel::<Result<R, DomainError>>();
        let job: OnceJob = Box::new(move |t: &mut SqliteTx<'_>| {
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
        self.submit(Job::Once(job), recv)
    }

    fn write_retryable<R, F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = Result<R, DomainError>> + Send
    where
        F: Fn(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let (send, recv) = oneshot::channel::<Result<R, DomainError>>();
        let job = Job::Retry(Box::new(RetryJob {
            f,
            last: None,
            send,
        }));
        self.submit(job, recv)
    }
}

impl SqliteStore {
    /// Queues `job` for the writer; the future is its answer.
    fn submit<R: Send + 'static>(
        &self,
        job: Job,
        recv: oneshot::Receiver<Result<R, DomainError>>,
    ) -> impl std::future::Future<Output = Result<R, DomainError>> + Send {
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
