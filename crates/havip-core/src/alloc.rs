//! Address allocation inside a vSwitch.
//!
//! Policy: next fit from a random start. An automatic address is the one after the last one
//! this process handed out in the vSwitch, when that one is free; the first in a vSwitch, and
//! any that finds its successor taken, is a random address of the block instead. Never a
//! reserved address, never a held one: the held set lives in the store (`(vswitch, ip)`
//! unique), so every claim is one indexed lookup-and-claim, and the hint only chooses which
//! address is tried first (several processes on one database each keep their own hints, and
//! a stale hint costs one failed claim). After the hint, a few random probes, then a bounded
//! walk over the held addresses after a random start (gap search), which finds a hole without
//! touching the free space. No step scans the address space: a /8 with a million held
//! addresses costs the same as a /24 with ten.
//!
//! Why next fit: consecutive Creates in a vSwitch then claim neighbouring keys of
//! `(vswitch, ip)`, so a group commit dirties one or two index pages instead of one random page
//! per Create (BENCHMARKS.md, "What bounds Create"); users see addresses handed out in
//! order, as a DHCP pool does. The clouds' documents do not say how they pick one.

use crate::error::DomainError;
use crate::store::Tx;
use crate::types::{Cidr, Cloud, VSwitchId};
use parking_lot::Mutex;
use rand::Rng;
use std::collections::HashMap;

/// Random probes before the gap search.
const PROBES: usize = 8;
/// Held addresses read per step of the gap search.
const WALK_BATCH: u32 = 512;

/// vSwitches whose hint is kept; past this many the hints start over (each is only a hint).
const MAX_HINTS: usize = 65_536;

/// Per vSwitch, the address to try first for the next automatic allocation: one past the
/// last address handed out. In memory only, and only a hint: it is never trusted, the claim
/// in the store decides.
#[derive(Default)]
pub struct Hints {
    next: Mutex<HashMap<VSwitchId, u32>>,
}

impl Hints {
    fn next(&self, vswitch: &VSwitchId) -> Option<u32> {
        self.next.lock().get(vswitch).copied()
    }

    /// `ip` was just claimed in a block ending at `hi`.
    fn claimed(&self, vswitch: &VSwitchId, ip: u32, hi: u32) {
        let mut next = self.next.lock();
        if ip >= hi {
            next.remove(vswitch);
            return;
        }
        if next.len() >= MAX_HINTS && !next.contains_key(vswitch) {
            next.clear();
        }
        next.insert(vswitch.clone(), ip + 1);
    }
}

/// The addresses a cloud keeps for itself in every vSwitch / subnet.
#[derive(Clone, Copy, Debug)]
pub struct Reserved {
    head: u32,
    tail: u32,
}

impl Reserved {
    /// The rule of `cloud`. Alibaba: the first address and the last three (VPC docs,
    /// CreateVSwitch). Tencent: the network address, the gateway (`.1`) and the broadcast
    /// address, i.e. the first two and the last one (the subnet's free-IP listings start at
    /// `.2` and end at `.254` of a /24; Tencent publishes no explicit rule). Baidu: no page we
    /// could read states the rule; we reserve the network address, the gateway (`.1`) and
    /// the broadcast address, as for Tencent.
    pub fn of(cloud: Cloud) -> Self {
        match cloud {
            Cloud::Aliyun => Reserved { head: 1, tail: 3 },
            Cloud::Tencent | Cloud::Baidu => Reserved { head: 2, tail: 1 },
        }
    }

    /// Whether `ip` is reserved in `cidr`.
    pub fn contains(self, cidr: Cidr, ip: u32) -> bool {
        let off = ip.wrapping_sub(cidr.base()) as u64;
        off < self.head as u64 || off >= cidr.size().saturating_sub(self.tail as u64)
    }

    /// How many addresses of `cidr` can be handed out.
    pub fn usable(self, cidr: Cidr) -> u64 {
        cidr.size().saturating_sub((self.head + self.tail) as u64)
    }

    fn first_usable(self, cidr: Cidr) -> Option<u32> {
        (self.usable(cidr) > 0).then(|| cidr.base() + self.head)
    }

    fn last_usable(self, cidr: Cidr) -> Option<u32> {
        (self.usable(cidr) > 0)
            .then(|| (cidr.base() as u64 + cidr.size() - 1 - self.tail as u64) as u32)
    }
}

/// Checks an explicitly requested address and claims it for `owner`.
pub fn claim_exact(
    tx: &mut dyn Tx,
    vswitch: &VSwitchId,
    cidr: Cidr,
    reserved: Reserved,
    ip: u32,
    owner: &str,
) -> Result<(), DomainError> {
    if !cidr.contains(ip) {
        return Err(DomainError::IpOutOfRange);
    }
    if reserved.contains(cidr, ip) {
        return Err(DomainError::IpReserved);
    }
    if !tx.ip_claim(vswitch, ip, owner)? {
        return Err(DomainError::IpInUse);
    }
    Ok(())
}

/// Picks a free address of the vSwitch (next fit from a random start, see the module) and
/// claims it for `owner`.
pub fn claim_any(
    tx: &mut dyn Tx,
    vswitch: &VSwitchId,
    cidr: Cidr,
    reserved: Reserved,
    owner: &str,
    hints: &Hints,
    rng: &mut impl Rng,
) -> Result<u32, DomainError> {
    let (Some(lo), Some(hi)) = (reserved.first_usable(cidr), reserved.last_usable(cidr)) else {
        return Err(DomainError::SubnetExhausted);
    };
    let ip = 'found: {
        // The hint, else a random address: a sparse block answers this first probe; the
        // count (one more statement) is read only when it misses, to stop early in a full
        // block.
        let first = hints
            .next(vswitch)
            .filter(|ip| (lo..=hi).contains(ip))
            .unwrap_or_else(|| rng.gen_range(lo..=hi));
        if tx.ip_claim(vswitch, first, owner)? {
            break 'found first;
        }
        if tx.ip_count(vswitch)? >= reserved.usable(cidr) {
            return Err(DomainError::SubnetExhausted);
        }
        for _ in 1..PROBES {
            let ip = rng.gen_range(lo..=hi);
            if tx.ip_claim(vswitch, ip, owner)? {
                break 'found ip;
            }
        }
        // Dense block: walk the held addresses from a random start, then from the bottom.
        let start = rng.gen_range(lo..=hi);
        for (from, to) in [(start, hi), (lo, start)] {
            if let Some(ip) = first_gap(tx, vswitch, from, to)? {
                if tx.ip_claim(vswitch, ip, owner)? {
                    break 'found ip;
                }
            }
        }
        return Err(DomainError::SubnetExhausted);
    };
    hints.claimed(vswitch, ip, hi);
    Ok(ip)
}

/// The lowest address in `from..=to` that nobody holds, reading held addresses in batches.
fn first_gap(
    tx: &mut dyn Tx,
    vswitch: &VSwitchId,
    from: u32,
    to: u32,
) -> Result<Option<u32>, DomainError> {
    let mut candidate = from as u64;
    loop {
        if candidate > to as u64 {
            return Ok(None);
        }
        // Ascending, unique, all >= candidate: each one either extends the held run that
        // starts at `candidate`, or lies above it, which makes `candidate` a hole.
        let used = tx.ip_used_from(vswitch, candidate as u32, WALK_BATCH)?;
        let mut hole = false;
        for &u in &used {
            if u as u64 == candidate {
                candidate += 1;
            } else {
                hole = true;
                break;
            }
        }
        if hole || used.len() < WALK_BATCH as usize {
            return Ok((candidate <= to as u64).then_some(candidate as u32));
        }
    }
}
