//! The writer's group commit: retryable closures share a savepoint, and one that fails after
//! writing is undone alone (its neighbours' writes survive, replayed).

use havip_core::error::DomainError;
use havip_core::model::Region;
use havip_core::store::{Store, Tx};
use havip_core::types::{Cloud, RegionId};
use havip_store_sqlite::SqliteStore;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn region(id: &str) -> Region {
    Region {
        cloud: Cloud::Aliyun,
        id: RegionId(id.into()),
    }
}

/// A retryable write of region `id` that fails (after writing) when `fail` is set; counts runs.
fn put(
    id: &'static str,
    fail: bool,
    runs: Arc<AtomicUsize>,
) -> impl Fn(&mut dyn Tx) -> Result<u32, DomainError> + Send + 'static {
    move |tx: &mut dyn Tx| {
        runs.fetch_add(1, Ordering::SeqCst);
        tx.region_put(&region(id))?;
        if fail {
            return Err(DomainError::Internal(format!("{id} fails after writing")));
        }
        Ok(1)
    }
}

#[tokio::test]
async fn a_failed_closure_leaves_no_trace_and_its_group_commits() {
    group(false).await;
}

/// The same with a retryable first closure: the run starts the transaction, which is then
/// its only savepoint, and the replay starts a new transaction.
#[tokio::test]
async fn a_failed_closure_in_a_run_that_starts_the_transaction_replays_it() {
    group(true).await;
}

async fn group(retryable_first: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let runs: Vec<Arc<AtomicUsize>> = (0..7).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    // The writer is kept busy while the others queue up, so that they commit as one group,
    // `hold` first.
    let busy = occupy(&store);
    let hold_runs = runs[6].clone();
    let hold_f = move |tx: &mut dyn Tx| {
        hold_runs.fetch_add(1, Ordering::SeqCst);
        tx.region_put(&region("hold"))?;
        Ok(0u32)
    };
    let hold = if retryable_first {
        futures_box(store.write_retryable(hold_f))
    } else {
        futures_box(store.write(hold_f))
    };
    let a = store.write_retryable(put("a", false, runs[0].clone()));
    let b = store.write_retryable(put("b", true, runs[1].clone()));
    let c = store.write_retryable(put("c", false, runs[2].clone()));
    let d = store.write(|tx| {
        tx.region_put(&region("d"))?;
        Err::<u32, _>(DomainError::Internal("d fails after writing".into()))
    });
    let e_runs = runs[4].clone();
    let e = store.write_retryable(move |_tx| {
        e_runs.fetch_add(1, Ordering::SeqCst);
        Err::<u32, _>(DomainError::VSwitchNotFound)
    });
    let f = store.write_retryable(put("f", false, runs[5].clone()));
    let (_, h, a, b, c, d, e, f) = tokio::join!(busy, hold, a, b, c, d, e, f);
    assert_eq!(h.unwrap(), 0);
    assert_eq!(a.unwrap(), 1);
    assert!(b.is_err());
    assert_eq!(c.unwrap(), 1);
    assert!(d.is_err());
    assert!(matches!(e, Err(DomainError::VSwitchNotFound)));
    assert_eq!(f.unwrap(), 1);
    // b's failure replays the run it was in (a, then b itself, each alone); the others run once.
    // With a retryable first closure, the run (and its replay) starts with it.
    let n: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    let hold_runs = if retryable_first { 2 } else { 1 };
    assert_eq!(n, vec![2, 2, 1, 0, 1, 1, hold_runs]);
    let mut ids: Vec<String> = store
        .read(|tx| Ok(tx.regions()?))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.0)
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["a", "c", "f", "hold"]);
}

/// Occupies the writer for 100 ms and returns once it is busy, so that every write sent
/// before the returned future completes queues up and commits as one group. Await the
/// future after the others.
fn occupy(store: &SqliteStore) -> impl std::future::Future<Output = ()> + Send + '_ {
    let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = busy.clone();
    let f = store.write(move |_tx| {
        flag.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    });
    while !busy.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    async move { f.await.unwrap() }
}

fn futures_box<'a, T>(
    f: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    Box::pin(f)
}

fn havip(n: u32) -> havip_core::model::Havip {
    use havip_core::types::*;
    havip_core::model::Havip {
        id: HavipId(format!("havip-{n}")),
        account: AccountId("acct".into()),
        region: RegionId("r".into()),
        vpc: VpcId("vpc-1".into()),
        vswitch: VSwitchId("vsw-1".into()),
        ip: std::net::Ipv4Addr::from(0x0a00_0000 + n),
        status: havip_core::types::HavipStatus::Available,
        name: String::new(),
        description: String::new(),
        resource_group: None,
        created_at: 0,
        master: None,
    }
}

/// The writer sums counter changes over a group and writes them at savepoints and at the
/// commit: rolled-back jobs must not leave their counts behind, in either kind of run.
#[tokio::test]
async fn counters_follow_rollbacks_within_a_group() {
    use havip_core::types::{AccountId, VpcId};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let insert = |n: u32, fail: bool| {
        move |tx: &mut dyn Tx| {
            tx.havip_insert(&havip(n))?;
            // Reads see this group's earlier counts.
            let seen = tx.havip_count_in_vpc(&VpcId("vpc-1".into()))?;
            if fail {
                return Err(DomainError::Internal("fails after writing".into()));
            }
            Ok(seen)
        }
    };
    let busy = occupy(&store);
    let hold = store.write_retryable(insert(0, false));
    let r1 = store.write_retryable(insert(1, false));
    let r2 = store.write_retryable(insert(2, true));
    let o3 = store.write(insert(3, true));
    let r4 = store.write_retryable(insert(4, false));
    let r5 = store.write_retryable(insert(5, true));
    let o6 = store.write(insert(6, false));
    let (_, h, r1, r2, o3, r4, r5, o6) = tokio::join!(busy, hold, r1, r2, o3, r4, r5, o6);
    assert_eq!(h.unwrap(), 1);
    assert_eq!(r1.unwrap(), 2);
    assert!(r2.is_err() && o3.is_err() && r5.is_err());
    assert_eq!(r4.unwrap(), 3);
    assert_eq!(o6.unwrap(), 4);
    let (vpc, account) = store
        .read(|tx| {
            Ok((
                tx.havip_count_in_vpc(&VpcId("vpc-1".into()))?,
                tx.havip_count_in_account(&AccountId("acct".into()))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((vpc, account), (4, 4));
}

/// The writer keeps the vSwitches it reads for the group: a change (or its rollback) by one
/// job must show in the next job's read.
#[tokio::test]
async fn vswitch_reads_follow_changes_and_rollbacks_within_a_group() {
    use havip_core::model::VSwitch;
    use havip_core::types::*;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let vsw = |cidr: &str| VSwitch {
        id: VSwitchId("vsw-1".into()),
        vpc: VpcId("vpc-1".into()),
        account: AccountId("acct".into()),
        region: RegionId("r".into()),
        zone: "z".into(),
        cidr: cidr.parse().unwrap(),
    };
    let id = VSwitchId("vsw-1".into());
    store
        .write(move |tx| Ok(tx.vswitch_put(&vsw("10.0.0.0/24"))?))
        .await
        .unwrap();
    let read = move |tx: &mut dyn Tx| {
        Ok(tx
            .vswitch(&VSwitchId("vsw-1".into()))?
            .map(|v| v.cidr.to_string()))
    };
    let busy = occupy(&store);
    let hold = store.write_retryable(read);
    let put = store.write(move |tx| Ok(tx.vswitch_put(&vsw("10.0.1.0/24"))?));
    let after_put = store.write_retryable(read);
    let failed = store.write_retryable(move |tx: &mut dyn Tx| {
        tx.vswitch_put(&vsw("10.0.2.0/24"))?;
        let _ = tx.vswitch(&VSwitchId("vsw-1".into()))?;
        Err::<(), _>(DomainError::Internal("fails after writing".into()))
    });
    let after_failed = store.write_retryable(read);
    let gone = store.write(move |tx| Ok(tx.vswitch_delete(&id)?));
    let after_delete = store.write_retryable(read);
    let (_, h, p, a, f, b, g, d) = tokio::join!(
        busy,
        hold,
        put,
        after_put,
        failed,
        after_failed,
        gone,
        after_delete
    );
    assert_eq!(h.unwrap().as_deref(), Some("10.0.0.0/24"));
    p.unwrap();
    assert_eq!(a.unwrap().as_deref(), Some("10.0.1.0/24"));
    assert!(f.is_err());
    assert_eq!(b.unwrap().as_deref(), Some("10.0.1.0/24"));
    g.unwrap();
    assert_eq!(d.unwrap(), None);
}
