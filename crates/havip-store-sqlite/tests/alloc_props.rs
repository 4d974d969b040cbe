//! Allocation properties against the real SQLite `Tx`: whatever the block, the addresses
//! already held and the order of claims and releases, every automatic address is inside the
//! block, never reserved, never held by someone else, never handed out twice, and exhaustion
//! is reported exactly when no usable address is left.

use havip_core::alloc::{claim_any, Hints, Reserved};
use havip_core::store::Store;
use havip_core::types::{Cidr, Cloud, VSwitchId};
use havip_core::DomainError;
use havip_store_sqlite::SqliteStore;
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use std::collections::HashSet;

#[derive(Debug, Clone)]
struct Case {
    prefix: u8,
    cloud: Cloud,
    preheld: Vec<u32>,
    release_every: usize,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        24u8..=30,
        prop_oneof![Just(Cloud::Aliyun), Just(Cloud::Tencent)],
        proptest::collection::vec(0u32..256, 0..40),
        0usize..5,
        any::<u64>(),
    )
        .prop_map(|(prefix, cloud, preheld, release_every, seed)| Case {
            prefix,
            cloud,
            preheld,
            release_every,
            seed,
        })
}

/// A store in a new temporary directory (dropped with the directory) and a runtime to drive it.
fn fresh_store() -> (tempfile::TempDir, SqliteStore, tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (dir, store, rt)
}

fn run(c: Case) -> Result<(), TestCaseError> {
    let (_dir, store, rt) = fresh_store();
    let cidr = Cidr::new("10.0.0.0".parse().unwrap(), c.prefix).unwrap();
    let reserved = Reserved::of(c.cloud);
    let outcome: Result<(), String> = rt
        .block_on(store.write(move |tx| {
            let vsw = VSwitchId("vsw".into());
            let mut held: HashSet<u32> = HashSet::new();
            for off in &c.preheld {
                let ip = cidr.base() + (off % cidr.size() as u32);
                if !reserved.contains(cidr, ip) && tx.ip_claim(&vsw, ip, "nic")? {
                    held.insert(ip);
                }
            }
            let mut rng = StdRng::seed_from_u64(c.seed);
            let hints = Hints::default();
            let mut mine: Vec<u32> = Vec::new();
            let mut n = 0usize;
            loop {
                match claim_any(tx, &vsw, cidr, reserved, "havip", &hints, &mut rng) {
                    Ok(ip) => {
                        let bad = if !cidr.contains(ip) {
                            Some("outside the block")
                        } else if reserved.contains(cidr, ip) {
                            Some("reserved")
                        } else if !held.insert(ip) {
                            Some("already held")
                        } else {
                            None
                        };
                        if let Some(why) = bad {
                            return Ok(Err(format!("{ip:#x} handed out although {why}")));
                        }
                        mine.push(ip);
                        n += 1;
                        // Now and then give one back: it must become allocatable again.
                        if c.release_every > 0 && n % (c.release_every + 3) == 0 {
                            let back = mine.swap_remove(0);
                            tx.ip_release(&vsw, back, "havip")?;
                            held.remove(&back);
                        }
                    }
                    Err(DomainError::SubnetExhausted) => break,
                    Err(e) => return Ok(Err(format!("unexpected {e:?}"))),
                }
                if n > 4096 {
                    return Ok(Err("never exhausted".into()));
                }
            }
            let usable = reserved.usable(cidr);
            if held.len() as u64 != usable {
                return Ok(Err(format!(
                    "exhausted with {} of {usable} usable addresses held",
                    held.len()
                )));
            }
            if tx.ip_count(&vsw)? != usable {
                return Ok(Err(
                    "the held-address counter disagrees with the rows".into()
                ));
            }
            Ok(Ok(()))
        }))
        .unwrap();
    outcome.map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn automatic_addresses_are_unique_usable_and_exhaust_exactly(c in case()) {
        run(c)?;
    }
}

/// Next fit: after a claim at `a`, the next automatic address is `a + 1` when it is free; when
/// it is held, another free address is handed out and the run goes on from there; a vSwitch
/// with no hint (another process) still never gets an address twice.
#[test]
fn automatic_addresses_follow_the_last_one_handed_out() {
    let (_dir, store, rt) = fresh_store();
    let cidr = Cidr::new("10.0.0.0".parse().unwrap(), 16).unwrap();
    let reserved = Reserved::of(Cloud::Aliyun);
    let hi = cidr.base() + cidr.size() as u32 - 4;
    let got: Result<(), String> = rt
        .block_on(store.write(move |tx| {
            let vsw = VSwitchId("vsw".into());
            let mut rng = StdRng::seed_from_u64(7);
            let hints = Hints::default();
            let mut seen = HashSet::new();
            let mut claim = |tx: &mut dyn havip_core::store::Tx, hints: &Hints| {
                let ip = claim_any(tx, &vsw, cidr, reserved, "havip", hints, &mut rng)?;
                assert!(seen.insert(ip), "{ip:#x} handed out twice");
                Ok::<u32, DomainError>(ip)
            };
            let mut a = claim(tx, &hints)?;
            if a >= hi - 10 {
                // Too close to the end to see a run: the hint is gone, start again.
                a = claim(tx, &hints)?;
            }
            let b = claim(tx, &hints)?;
            assert_eq!(b, a + 1, "next fit");
            // The next address is taken by someone else: a different free one, then on from it.
            assert!(tx.ip_claim(&VSwitchId("vsw".into()), b + 1, "nic")?);
            let c = claim(tx, &hints)?;
            assert_ne!(c, b + 1);
            if c < hi {
                assert_eq!(claim(tx, &hints)?, c + 1);
            }
            // A second process (its own hints) shares the held set, not the hint.
            let other = Hints::default();
            for _ in 0..200 {
                claim(tx, &other)?;
                claim(tx, &hints)?;
            }
            // The last usable address: the hint does not run past it into the reserved tail.
            // A /29 keeps .1 to .4 usable (Alibaba): with .1 to .3 held, the claim is .4, and
            // once .1 is free again the next one is .1, not the reserved .5.
            let small = VSwitchId("vsw-small".into());
            let block = Cidr::new("10.1.0.0".parse().unwrap(), 29).unwrap();
            for k in 1..=3 {
                assert!(tx.ip_claim(&small, block.base() + k, "nic")?);
            }
            let h = Hints::default();
            let mut r = StdRng::seed_from_u64(1);
            let ip = claim_any(tx, &small, block, reserved, "havip", &h, &mut r)?;
            assert_eq!(ip, block.base() + 4);
            tx.ip_release(&small, block.base() + 1, "nic")?;
            let ip = claim_any(tx, &small, block, reserved, "havip", &h, &mut r)?;
            assert_eq!(ip, block.base() + 1);
            assert!(matches!(
                claim_any(tx, &small, block, reserved, "havip", &h, &mut r),
                Err(DomainError::SubnetExhausted)
            ));
            Ok(())
        }))
        .map_err(|e| e.to_string());
    got.unwrap();
}
