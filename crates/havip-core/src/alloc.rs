//! Address allocation inside a vSwitch.
//!
//! Policy: a random address of the block, never a reserved one, never a held one. The held set
//! lives in the store (`(vswitch, ip)` unique), so allocation is a few random probes, each one
//! indexed lookup-and-claim, then a bounded walk over the held addresses after a random start
//! (gap search), which finds a hole without touching the free space. No step scans the address
//! space: a /8 with a million held addresses costs the same as a /24 with ten.

use crate::error::DomainError;
use crate::store::Tx;
use crate::types::{Cidr, Cloud, VSwitchId};
use rand::Rng;

/// Random probes before the gap search.
const PROBES: usize = 8;
/// Held addresses read per step of the gap search.
const WALK_BATCH: u32 = 512;

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

/// Picks a random free address of the vSwitch and claims it for `owner`.
pub fn claim_any(
    tx: &mut dyn Tx,
    vswitch: &VSwitchId,
    cidr: Cidr,
    reserved: Reserved,
    owner: &str,
    rng: &mut impl Rng,
) -> Result<u32, DomainError> {
    let (Some(lo), Some(hi)) = (reserved.first_usable(cidr), reserved.last_usable(cidr)) else {
        return Err(DomainError::SubnetExhausted);
    };
    // A sparse block answers the first probe; the count (one more statement) is read only
    // when that misses, to stop early in a full block.
    let ip = rng.gen_range(lo..=hi);
    if tx.ip_claim(vswitch, ip, owner)? {
        return Ok(ip);
    }
    if tx.ip_count(vswitch)? >= reserved.usable(cidr) {
        return Err(DomainError::SubnetExhausted);
    }
    for _ in 1..PROBES {
        let ip = rng.gen_range(lo..=hi);
        if tx.ip_claim(vswitch, ip, owner)? {
            return Ok(ip);
        }
    }
    // Dense block: walk the held addresses from a random start, then from the bottom.
    let start = rng.gen_range(lo..=hi);
    for (from, to) in [(start, hi), (lo, start)] {
        if let Some(ip) = first_gap(tx, vswitch, from, to)? {
            if tx.ip_claim(vswitch, ip, owner)? {
                return Ok(ip);
            }
        }
    }
    Err(DomainError::SubnetExhausted)
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
