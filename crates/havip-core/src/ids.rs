//! Resource IDs in each cloud's shape, and request IDs.

use crate::types::{Cloud, HavipId, RegionId};
use rand::Rng;

const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn random_alnum(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char)
        .collect()
}

/// The two-character region code Alibaba puts at the front of its IDs (`bp` for Hangzhou).
fn aliyun_region_code(region: &RegionId) -> String {
    match region.as_str() {
        "cn-hangzhou" => "bp".into(),
        "cn-beijing" => "2z".into(),
        "cn-shanghai" => "uf".into(),
        "cn-shenzhen" => "wz".into(),
        "cn-qingdao" => "m5".into(),
        "cn-zhangjiakou" => "8v".into(),
        other => {
            let sum: u32 = other.bytes().map(u32::from).sum();
            let a = ALNUM[(sum % 26 + 10) as usize] as char;
            let b = ALNUM[(sum / 26 % 36) as usize] as char;
            format!("{a}{b}")
        }
    }
}

/// A fresh HAVIP ID: Alibaba `havip-bp1…` (region code + 18), Tencent `havip-xxxxxxxx`,
/// Baidu `havip-xxxxxxxxxxxx`.
pub fn new_havip_id(cloud: Cloud, region: &RegionId) -> HavipId {
    HavipId(match cloud {
        Cloud::Aliyun => format!("havip-{}{}", aliyun_region_code(region), random_alnum(19)),
        Cloud::Tencent => format!("havip-{}", random_alnum(8)),
        Cloud::Baidu => format!("havip-{}", random_alnum(12)),
    })
}

/// A request ID in the UUID shape every cloud uses (upper case, as Alibaba prints it).
pub fn new_request_id() -> String {
    let mut rng = rand::thread_rng();
    let b: [u8; 16] = rng.gen();
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-4{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}
