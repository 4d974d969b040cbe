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

/// `n` base-36 digits of the milliseconds since the epoch, zero-padded (9 digits last until
/// the year 5188).
fn time_alnum(n: usize) -> String {
    let mut ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut out = vec![b'0'; n];
    for c in out.iter_mut().rev() {
        *c = ALNUM[(ms % 36) as usize];
        ms /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A fresh HAVIP ID: Alibaba `havip-bp…` (region code + 19), Tencent `havip-xxxxxxxx`,
/// Baidu `havip-xxxxxxxxxxxx`. Alibaba's 19 characters are 9 of creation time then 10
/// random (36^10 per millisecond), so new IDs sort by creation and land on the same few
/// pages of the ID index instead of one random page each (a dirty page per Create in the
/// write-ahead log); Tencent's and Baidu's are too short to give up randomness.
pub fn new_havip_id(cloud: Cloud, region: &RegionId) -> HavipId {
    HavipId(match cloud {
        Cloud::Aliyun => {
            let mut id = String::with_capacity(6 + 2 + 19);
            id.push_str("havip-");
            id.push_str(&aliyun_region_code(region));
            id.push_str(&time_alnum(9));
            id.push_str(&random_alnum(10));
            id
        }
        Cloud::Tencent => format!("havip-{}", random_alnum(8)),
        Cloud::Baidu => format!("havip-{}", random_alnum(12)),
    })
}

/// A request ID in the UUID shape every cloud uses (upper-case hex, `4` opening the third
/// group: Alibaba's; Tencent and Baidu print it lower-cased), from 16 random bytes written
/// into one buffer: every request gets one, so no per-byte formatting.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let b: [u8; 16] = rand::thread_rng().gen();
    let mut h = [0u8; 32];
    for (i, x) in b.iter().enumerate() {
        h[2 * i] = HEX[usize::from(x >> 4)];
        h[2 * i + 1] = HEX[usize::from(x & 15)];
    }
    let mut out = String::with_capacity(36);
    for (i, part) in [&h[0..8], &h[8..12], &h[13..16], &h[16..20], &h[20..32]]
        .into_iter()
        .enumerate()
    {
        match i {
            0 => {}
            2 => out.push_str("-4"),
            _ => out.push('-'),
        }
        out.extend(part.iter().map(|&c| char::from(c)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_should_have_the_uuid_shape_alibaba_prints() {
        let a = new_request_id();
        assert_eq!(a.len(), 36, "{a}");
        for (i, c) in a.char_indices() {
            match i {
                8 | 13 | 18 | 23 => assert_eq!(c, '-', "{a}"),
                14 => assert_eq!(c, '4', "{a}"),
                _ => assert!(c.is_ascii_digit() || ('A'..='F').contains(&c), "{a}"),
            }
        }
        assert_ne!(a, new_request_id());
    }

    #[test]
    fn aliyun_ids_keep_their_shape_and_sort_by_creation_time() {
        let region = RegionId("cn-hangzhou".into());
        let a = new_havip_id(Cloud::Aliyun, &region).0;
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_havip_id(Cloud::Aliyun, &region).0;
        for id in [&a, &b] {
            assert_eq!(id.len(), "havip-bp".len() + 19, "{id}");
            assert!(id.starts_with("havip-bp"));
            assert!(id[6..].bytes().all(|c| ALNUM.contains(&c)), "{id}");
        }
        assert!(a < b, "{a} then {b}");
        assert_ne!(a[17..], b[17..]);
    }
}
