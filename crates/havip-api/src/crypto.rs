//! Signature building blocks every dialect shares: digests, HMAC, RFC 3986 encoding, a
//! constant-time comparison and the `ALGORITHM Name=value, …` `Authorization` field parser.
//!
//! These are pure functions over bytes and strings. What to sign, with which key and in which
//! canonical form stays in each dialect's `signature` module; only the vendor-neutral pieces
//! live here, so one fix (or one audit of the comparison) covers all three clouds.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything except the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~`.
pub const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 percent-encoding of the UTF-8 bytes of `s`, upper-case hex; keeps only
/// `A-Z a-z 0-9 - _ . ~` (space is `%20`, `*` is `%2A`).
pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    pct_encode_into(&mut out, s);
    out
}

/// Whether `b` is an RFC 3986 unreserved byte (`A-Z a-z 0-9 - _ . ~`), the bytes
/// [`RFC3986`] leaves alone.
#[inline]
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// [`pct_encode`], appended to `out`: the signers build canonical strings in one buffer, so
/// this costs no allocation of its own. Runs of unreserved bytes are copied whole.
pub fn pct_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if unreserved(b) {
            continue;
        }
        if start < i {
            // A non-empty run of unreserved (ASCII) bytes: both ends are char boundaries.
            out.push_str(&s[start..i]);
        }
        out.push('%');
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
        start = i + 1;
    }
    // `start` may sit inside a multi-byte char only while escaping it, never after the
    // last byte; what is left is empty or a run of ASCII.
    if start < bytes.len() {
        out.push_str(&s[start..]);
    }
}

/// Lower-case hex of a 32-byte digest, on the stack.
pub fn hex32(digest: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let hex = sha256_hex_array(data);
    // hex32 writes ASCII only.
    String::from_utf8_lossy(&hex).into_owned()
}

/// [`sha256_hex`] on the stack, as ASCII bytes.
pub fn sha256_hex_array(data: &[u8]) -> [u8; 64] {
    hex32(&Sha256::digest(data).into())
}

/// HMAC-SHA256 of `message` keyed by `key` (any length), as raw bytes.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison of two signature strings.
///
/// The running time depends only on the lengths (which are not secret: every valid signature
/// of one algorithm has the same length), never on where the inputs first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Parses `ALGORITHM N1=v1,N2=v2,N3=v3` (the shape of ACS3 and TC3 `Authorization` headers)
/// into the values of the three `names`, in the order of `names`; None when malformed.
///
/// Malformed means: another algorithm, an algorithm not followed by a space or tab, a field
/// without `=`, a missing, repeated, unknown or empty field. Fields may come in any order and
/// whitespace around them is tolerated. Values are returned as sent, not split further.
pub fn parse_authorization_fields<'a>(
    value: &'a str,
    algorithm: &str,
    names: [&str; 3],
) -> Option<[&'a str; 3]> {
    let rest = value.strip_prefix(algorithm)?;
    // The algorithm must be followed by whitespace, not run into other text.
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut slots: [Option<&'a str>; 3] = [None; 3];
    for field in rest.split(',') {
        let (name, field_value) = field.trim().split_once('=')?;
        let slot = &mut slots[names.iter().position(|n| *n == name)?];
        if slot.is_some() || field_value.is_empty() {
            return None;
        }
        *slot = Some(field_value);
    }
    let [a, b, c] = slots;
    Some([a?, b?, c?])
}

/// Splits a `SignedHeaders` field (`a;b;c`) into names, in the order listed; None when a name
/// is empty.
pub fn split_signed_headers(field: &str) -> Option<Vec<String>> {
    let names: Vec<String> = field.split(';').map(str::to_owned).collect();
    if names.iter().any(String::is_empty) {
        return None;
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["Credential", "SignedHeaders", "Signature"];

    #[test]
    fn pct_encode_should_keep_only_unreserved_characters() {
        assert_eq!(pct_encode("a b*c~d/é+"), "a%20b%2Ac~d%2F%C3%A9%2B");
        assert_eq!(pct_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(pct_encode(":&=?%"), "%3A%26%3D%3F%25");
        assert_eq!(pct_encode(""), "");
        assert_eq!(pct_encode("é"), "%C3%A9");
        assert_eq!(pct_encode("aé"), "a%C3%A9");
        assert_eq!(pct_encode("éa"), "%C3%A9a");
        assert_eq!(pct_encode("€𝄞x"), "%E2%82%AC%F0%9D%84%9Ex");
    }

    #[test]
    fn pct_encode_should_match_the_percent_encoding_crate_on_every_byte() {
        use percent_encoding::utf8_percent_encode;
        let mut all = String::new();
        for c in (0u32..0x800).filter_map(char::from_u32) {
            all.push(c);
            let one = c.to_string();
            assert_eq!(
                pct_encode(&one),
                utf8_percent_encode(&one, RFC3986).to_string()
            );
        }
        for c in ['\u{ffff}', '\u{10000}', '\u{10ffff}'] {
            all.push(c);
        }
        assert_eq!(
            pct_encode(&all),
            utf8_percent_encode(&all, RFC3986).to_string()
        );
        let mut out = String::from("x=");
        pct_encode_into(&mut out, "a b");
        assert_eq!(out, "x=a%20b");
    }

    #[test]
    fn hex_helpers_should_match_the_hex_crate() {
        let d: [u8; 32] = core::array::from_fn(|i| (i * 37 + 5) as u8);
        assert_eq!(&hex32(&d)[..], hex::encode(d).as_bytes());
        assert_eq!(&sha256_hex_array(b"abc")[..], sha256_hex(b"abc").as_bytes());
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256_hex_and_hmac_sha256_should_match_known_values() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn constant_time_eq_should_compare_bytes_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn parse_authorization_fields_should_return_the_named_fields_in_order() {
        assert_eq!(
            parse_authorization_fields(
                "ALG Signature=00, Credential=a/b,SignedHeaders=host;x",
                "ALG",
                NAMES
            ),
            Some(["a/b", "host;x", "00"])
        );
        assert_eq!(
            parse_authorization_fields(
                "ALG\tCredential=a,SignedHeaders=h,Signature=0",
                "ALG",
                NAMES
            ),
            Some(["a", "h", "0"])
        );
    }

    #[test]
    fn parse_authorization_fields_should_reject_malformed_values() {
        for bad in [
            "",
            "ALG",
            "ALG ",
            "ALGCredential=a,SignedHeaders=h,Signature=0",
            "ALG2 Credential=a,SignedHeaders=h,Signature=0",
            "ALG Credential=a,SignedHeaders=h",
            "ALG Credential=,SignedHeaders=h,Signature=0",
            "ALG Credential=a,SignedHeaders=h,Signature=0,Signature=1",
            "ALG Credential=a,SignedHeaders=h,Signature=0,Extra=1",
            "ALG Credential=a,SignedHeaders=h,Signature",
        ] {
            assert_eq!(
                parse_authorization_fields(bad, "ALG", NAMES),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn split_signed_headers_should_refuse_empty_names() {
        assert_eq!(
            split_signed_headers("host;x-acs-date"),
            Some(vec!["host".to_owned(), "x-acs-date".to_owned()])
        );
        for bad in ["", "host;", ";host", "host;;date"] {
            assert_eq!(split_signed_headers(bad), None, "{bad:?}");
        }
    }
}
