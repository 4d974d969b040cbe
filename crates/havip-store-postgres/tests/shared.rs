//! What nodes share besides domain rows (src/nodes.rs): the nonce ledger and cache news.
//! Two stores on one database stand for two havipd processes.
#![cfg(feature = "postgres-tests")]

mod common;

use havip_core::auth::NonceLedger;
use havip_core::model::AccessKey;
use havip_core::types::{AccessKeyId, AccountId};
use std::time::{Duration, Instant};

const WINDOW: i64 = 30 * 60 * 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_accepted_by_one_node_is_a_replay_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::open(dir.path()).await.nonce_ledger();
    let b = common::open(dir.path()).await.nonce_ledger();
    let now = 1_000_000;
    assert!(a.admit("k1", "n1", now, now + WINDOW).await.unwrap());
    assert!(!b
        .admit("k1", "n1", now + 1, now + 1 + WINDOW)
        .await
        .unwrap());
    assert!(!a
        .admit("k1", "n1", now + 2, now + 2 + WINDOW)
        .await
        .unwrap());
    // Another key, or another nonce, is new.
    assert!(b.admit("k2", "n1", now, now + WINDOW).await.unwrap());
    assert!(b.admit("k1", "n2", now, now + WINDOW).await.unwrap());
    // Any bytes, any length: kept as a digest.
    let long = "x\u{e9}".repeat(5000);
    assert!(a.admit("k1", &long, now, now + WINDOW).await.unwrap());
    assert!(!b.admit("k1", &long, now, now + WINDOW).await.unwrap());
    // After its window the nonce is usable again (an expired row is taken over) ...
    let later = now + WINDOW;
    assert!(b.admit("k1", "n1", later, later + WINDOW).await.unwrap());
    assert!(!a
        .admit("k1", "n1", later + 1, later + 1 + WINDOW)
        .await
        .unwrap());
    // ... and expired rows are purged (by the checks themselves, at most once a minute of
    // their clock, or on demand): only k1/n1, renewed at `later`, is left.
    a.purge(later).await.unwrap();
    let db = common::database_for(dir.path()).await;
    let left: i64 = common::with_client(&db, |c| {
        c.query_one("SELECT COUNT(*) FROM nonces", &[])
            .unwrap()
            .get(0)
    })
    .await;
    assert_eq!(left, 1);
    assert!(!b
        .admit("k1", "n1", later + 2, later + 2 + WINDOW)
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_nonce_sent_to_two_nodes_at_once_is_admitted_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::open(dir.path()).await.nonce_ledger();
    let b = common::open(dir.path()).await.nonce_ledger();
    for round in 0..50 {
        let nonce = format!("race-{round}");
        let mut tasks = Vec::new();
        for i in 0..8 {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let nonce = nonce.clone();
            tasks.push(tokio::spawn(async move {
                l.admit("k", &nonce, 5, 5 + WINDOW).await.unwrap()
            }));
        }
        let mut admitted = 0;
        for t in tasks {
            admitted += t.await.unwrap() as u32;
        }
        assert_eq!(
            admitted, 1,
            "round {round}: one nonce admitted {admitted} times"
        );
    }
}

/// Waits for the next tick of `rx`; panics after `limit`.
async fn next_tick(rx: &mut tokio::sync::watch::Receiver<u64>, limit: Duration) -> Duration {
    let t = Instant::now();
    tokio::time::timeout(limit, rx.changed())
        .await
        .expect("no cache news in time")
        .unwrap();
    rx.borrow_and_update();
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_written_through_one_node_is_news_to_the_other() {
    use havip_core::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let a = common::open(dir.path()).await;
    let b = common::open(dir.path()).await;
    let mut news = b.watch_caches();
    // The first tick comes at connection (a change may have been missed before).
    next_tick(&mut news, Duration::from_secs(10)).await;
    // Nothing changes: no tick within two polls.
    assert!(
        tokio::time::timeout(havip_store_postgres::CACHE_POLL * 2, news.changed())
            .await
            .is_err(),
        "a tick without a change"
    );
    // An account and a key written on node A: node B hears of it (by notification, well
    // within the poll period).
    a.write(|tx| {
        tx.account_put(&havip_core::model::Account {
            id: AccountId("acct-1".into()),
            cloud: havip_core::types::Cloud::Aliyun,
            name: "one".into(),
        })?;
        tx.access_key_put(&AccessKey {
            id: AccessKeyId("AK1".into()),
            account: AccountId("acct-1".into()),
            secret: "s".into(),
            policy: None,
        })?;
        Ok(())
    })
    .await
    .unwrap();
    let took = next_tick(&mut news, Duration::from_secs(5)).await;
    assert!(
        took < havip_store_postgres::CACHE_POLL,
        "news took {took:?}"
    );
    // A revocation likewise.
    a.write(|tx| Ok(tx.access_keys_delete_for(&AccountId("acct-1".into()))?))
        .await
        .unwrap();
    next_tick(&mut news, Duration::from_secs(5)).await;
    // A region too (regions are cached as well).
    let before = *news.borrow();
    a.write(|tx| {
        Ok(tx.region_put(&havip_core::model::Region {
            cloud: havip_core::types::Cloud::Aliyun,
            id: havip_core::types::RegionId("cn-x".into()),
        })?)
    })
    .await
    .unwrap();
    next_tick(&mut news, Duration::from_secs(5)).await;
    assert!(*news.borrow() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_notice_is_lost_is_still_seen_by_the_generation_poll() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path()).await;
    let mut news = store.watch_caches();
    next_tick(&mut news, Duration::from_secs(10)).await;
    // Bump the generation without NOTIFY (what a notice lost with a connection looks like).
    let db = common::database_for(dir.path()).await;
    common::with_client(&db, |c| {
        c.batch_execute("UPDATE cache_generation SET n = n + 1 WHERE id = 1")
            .unwrap()
    })
    .await;
    let took = next_tick(&mut news, havip_store_postgres::CACHE_POLL * 3).await;
    assert!(
        took <= havip_store_postgres::CACHE_POLL + Duration::from_millis(500),
        "the poll took {took:?}"
    );
}
