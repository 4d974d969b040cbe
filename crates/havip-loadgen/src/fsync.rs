//! The durable-commit ceiling of the disk under the data directory, two ways:
//!
//! - **raw**: one 4 KiB `pwrite`-style overwrite at offset 0 of a preallocated file followed by
//!   `fdatasync` (`File::sync_data`), back to back: the most single commits per second the
//!   disk can make durable.
//! - **sqlite**: SQLite in WAL mode with `synchronous = FULL` (havipd's settings), one
//!   one-row INSERT per transaction: the most single commits per second the store could
//!   make without group commit.

use crate::stats::{Latency, Recorder};
use serde::Serialize;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The measured ceilings.
#[derive(Clone, Debug, Serialize)]
pub struct FsyncReport {
    /// 4 KiB overwrite + fdatasync per second.
    pub raw_commits_per_s: f64,
    /// Latency of one raw commit.
    pub raw_latency: Latency,
    /// SQLite WAL synchronous=FULL one-row transactions per second.
    pub sqlite_commits_per_s: f64,
    /// Latency of one SQLite commit.
    pub sqlite_latency: Latency,
}

/// Runs both measurements for `each` in `dir`.
pub fn measure(dir: &Path, each: Duration) -> std::io::Result<FsyncReport> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fsync-probe.bin");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let block = vec![0x5au8; 4096];
    f.write_all(&block)?;
    f.sync_all()?;
    let mut rec = Recorder::default();
    let start = Instant::now();
    while start.elapsed() < each {
        let t = Instant::now();
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&block)?;
        f.sync_data()?;
        rec.ok(t.elapsed());
    }
    let raw_secs = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);

    let db = dir.join("fsync-probe.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let conn = rusqlite::Connection::open(&db).map_err(std::io::Error::other)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
        .and_then(|_| {
            conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        })
        .map_err(std::io::Error::other)?;
    let mut srec = Recorder::default();
    let start = Instant::now();
    let mut i: i64 = 0;
    while start.elapsed() < each {
        let t = Instant::now();
        conn.execute("INSERT INTO t (id, v) VALUES (?1, 'havip-bench-row')", [i])
            .map_err(std::io::Error::other)?;
        srec.ok(t.elapsed());
        i += 1;
    }
    let sqlite_secs = start.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Ok(FsyncReport {
        raw_commits_per_s: rec.ok.len() as f64 / raw_secs,
        raw_latency: Latency::of(&rec.ok),
        sqlite_commits_per_s: srec.ok.len() as f64 / sqlite_secs,
        sqlite_latency: Latency::of(&srec.ok),
    })
}
