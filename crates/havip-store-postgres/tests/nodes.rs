//! Several nodes on one database: two stores (two connection pools, as two havipd processes
//! would have) and two cores, racing. What the module essay of the crate promises.
#![cfg(feature = "postgres-tests")]

mod common;

use havip_core::config::{CoreConfig, OpTiming};
use havip_core::ctx::{Ctx, Idempotency};
use havip_core::error::DomainError;
use havip_core::service::CreateHavip;
use havip_core::store::{HavipFilter, Store};
use havip_core::testsuite as suite;
use havip_core::types::*;
use havip_core::Core;
use havip_store_postgres::PgStore;
use std::collections::HashSet;

fn create(vsw: &str) -> CreateHavip {
    CreateHavip {
        vswitch: Some(VSwitchId(vsw.into())),
        ..Default::default()
    }
}

/// Two cores, each over its own store, on one fresh database with the suite's world.
async fn two_nodes(cfg: CoreConfig) -> (tempfile::TempDir, Core<PgStore>, Core<PgStore>) {
    let dir = tempfile::tempdir().unwrap();
    let a = suite::seeded(common::open(dir.path()).await, cfg.clone()).await;
    let b = Core::new(common::open(dir.path()).await, cfg);
    b.reload_caches().await.unwrap();
    (dir, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_never_hand_out_one_address_twice() {
    let (_d, a, b) = two_nodes(suite::config(OpTiming::Manual)).await;
    // vsw-28 has 11 free addresses; 40 creates race for them on two nodes.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let core = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            core.havip_create(&suite::ctx("A"), create("vsw-28")).await
        }));
    }
    let mut seen = HashSet::new();
    let mut exhausted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => assert!(seen.insert(c.ip), "{} handed out twice", c.ip),
            Err(DomainError::SubnetExhausted) => exhausted += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((seen.len(), exhausted), (11, 29));
    let held = a
        .store()
        .read(|tx| Ok(tx.ip_count(&VSwitchId("vsw-28".into()))?))
        .await
        .unwrap();
    assert_eq!(
        held, 12,
        "eleven HAVIPs and the instance: the counter agrees with the rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_across_nodes() {
    let mut cfg = suite::config(OpTiming::Manual);
    for (_, q) in cfg.quotas.iter_mut() {
        q.havips_per_account = 7;
    }
    let (_d, a, b) = two_nodes(cfg).await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let core = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            core.havip_create(&suite::ctx("A"), create("vsw-16")).await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(DomainError::HavipQuotaPerAccount) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, refused), (7, 23));
    let page = b
        .havip_list(
            &suite::ctx("A"),
            HavipFilter {
                vswitches: Some(vec![VSwitchId("vsw-16".into())]),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_on_two_nodes_yields_one_havip() {
    let (_d, a, b) = two_nodes(suite::config(OpTiming::Manual)).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let core = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let c = Ctx {
                idempotency: Some(Idempotency {
                    scope: "CreateHaVip",
                    token: "t".into(),
                    fingerprint: "fp".into(),
                }),
                ..suite::ctx("A")
            };
            core.havip_create(&c, create("vsw-24")).await
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().id);
    }
    assert_eq!(ids.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_is_completed_by_exactly_one_worker() {
    let (_d, a, b) = two_nodes(suite::config(OpTiming::Manual)).await;
    // Operations of two accounts, so workers lock several accounts at once.
    for _ in 0..60 {
        a.havip_create(&suite::ctx("A"), create("vsw-16"))
            .await
            .unwrap();
    }
    for _ in 0..20 {
        b.havip_create(&suite::ctx("B"), create("vsw-b"))
            .await
            .unwrap();
    }
    a.operations_advance(None).await.unwrap();
    let mut workers = Vec::new();
    for core in [a.clone(), b.clone(), a.clone(), b.clone()] {
        workers.push(tokio::spawn(async move {
            let mut done = 0;
            loop {
                match core
                    .operations_run_due(havip_core::service::now_ms(), 7)
                    .await
                    .unwrap()
                {
                    0 => break done,
                    n => done += n,
                }
            }
        }));
    }
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert_eq!(total, 80, "every operation completed once, none twice");
    assert!(a.operations_pending().await.unwrap().is_empty());
    let page = a
        .havip_list(
            &suite::ctx("A"),
            HavipFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(page
        .items
        .iter()
        .all(|v| v.havip.status == HavipStatus::Available));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_is_never_reported_as_committed() {
    let (_d, a, _b) = two_nodes(suite::config(OpTiming::Manual)).await;
    let h = a
        .havip_create(&suite::ctx("A"), create("vsw-24"))
        .await
        .unwrap()
        .id;
    let before = a
        .havip_list(
            &suite::ctx("A"),
            HavipFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .total;
    // A closure that swallows a failure (a duplicate HAVIP ID) and returns Ok.
    let r = a
        .store()
        .write(move |tx| {
            let mut copy = tx.havip(&h)?.unwrap();
            tx.tag_put(
                &h,
                &havip_core::model::Tag {
                    key: "k".into(),
                    value: "v".into(),
                },
            )?;
            copy.ip = "10.1.1.200".parse().unwrap();
            let _ = tx.havip_insert(&copy);
            Ok(())
        })
        .await;
    assert!(
        r.is_err(),
        "the server rolled the transaction back; the store must say so"
    );
    let after = a
        .havip_list(
            &suite::ctx("A"),
            HavipFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(after.total, before, "the counters did not move");
    assert!(
        after.items[0].tags.is_empty(),
        "the tag written before the failure is gone"
    );
}
