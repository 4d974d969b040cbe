//! `application/x-www-form-urlencoded` decoding, as every SDK writes it: `+` is a space,
//! `%XX` a byte, and the decoded bytes must be UTF-8.

/// Why a query string or form body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// Decoded bytes that are not UTF-8.
    NotUtf8,
}

fn decode(s: &str) -> Result<String, FormError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) else {
                    return Err(FormError::BadEscape);
                };
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

/// Decodes `a=1&b=&c` into pairs in wire order (`c` becomes `("c", "")`); empty segments are
/// skipped.
pub fn parse(s: &str) -> Result<Vec<(String, String)>, FormError> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_flags() {
        assert_eq!(
            parse("a=x+y%2A&b=&attach&c=%C3%A9").unwrap(),
            vec![
                ("a".into(), "x y*".into()),
                ("b".into(), "".into()),
                ("attach".into(), "".into()),
                ("c".into(), "é".into())
            ]
        );
    }

    #[test]
    fn rejects_bad_escapes_and_invalid_utf8() {
        assert_eq!(parse("a=%zz"), Err(FormError::BadEscape));
        assert_eq!(parse("a=%"), Err(FormError::BadEscape));
        assert_eq!(parse("a=%ff"), Err(FormError::NotUtf8));
    }
}
