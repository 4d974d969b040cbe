//! The write-ahead log stays bounded under writes that never pause. SQLite restarts the WAL
//! from its first frame only when a write transaction begins with every frame copied back;
//! a checkpoint on another connection never gets there while frames keep arriving, and the
//! file then grows for as long as the load lasts (about 90 MB/s at 25,000 Creates/s).
//!
//! Its own test binary: it reads the process's write count (`/proc/self/io`), which other
//! tests running in parallel would inflate.

use havip_core::model::Region;
use havip_core::store::Store;
use havip_core::types::{Cloud, RegionId};
use havip_store_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes this process has handed to write(2)/pwrite(2) so far.
fn written() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io (Linux)");
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a wchar line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_unbroken_writes() {
    const WRITERS: usize = 32;
    const FOR: Duration = Duration::from_millis(2500);
    const MOST_WRITES: usize = 2_000_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    let wal = dir.path().join("havip.db-wal");
    let before = written();
    let end = Instant::now() + FOR;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            // Bounded twice: by time, and by count should the clock misbehave.
            while Instant::now() < end && n < MOST_WRITES / WRITERS {
                let id = format!("r-{w}-{n}");
                store
                    .write(move |tx| {
                        Ok(tx.region_put(&Region {
                            cloud: Cloud::Aliyun,
                            id: RegionId(id),
                        })?)
                    })
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut writes = 0;
    for t in tasks {
        writes += t.await.unwrap();
    }
    // Measured while the load is on: the last checkpoint has not run since.
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let total = written() - before;
    // Every frame is written to the WAL once and copied into the database at most once, so
    // a WAL that never restarts holds at least half of everything written.
    assert!(
        total > 8 << 20,
        "{writes} writes put only {total} bytes through write(2): too light a load to tell"
    );
    assert!(
        wal_len * 4 < total,
        "the WAL holds {wal_len} bytes of the {total} written by {writes} writes: it does not restart"
    );
    store.close();
}
