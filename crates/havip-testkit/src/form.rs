//! A lenient `application/x-www-form-urlencoded` decoder, independent of the production one
//! (`havip_api::form`), so the fixture tests cross-check rather than reuse it. It follows
//! Python's `unquote_plus`, which the capture tool used: a `%` not followed by two hex digits
//! stays literal.

use crate::json::Pairs;

/// Decodes one component: `+` is a space, `%XX` a byte, a stray `%` stays literal; the bytes
/// must be UTF-8.
pub fn decode_component(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

/// Decodes a urlencoded string into (name, value) pairs in wire order; empty segments are
/// skipped and a segment without `=` has an empty value.
pub fn decode(s: &str) -> Result<Pairs, String> {
    s.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoder_should_handle_plus_percent_and_flags() {
        assert_eq!(
            decode("a=b+c&d=%2A%7e%E4%B8%AD&flag&&e=").expect("decodes"),
            vec![
                ("a".to_owned(), "b c".to_owned()),
                ("d".to_owned(), "*~中".to_owned()),
                ("flag".to_owned(), String::new()),
                ("e".to_owned(), String::new()),
            ]
        );
        assert_eq!(decode_component("100%").expect("literal"), "100%");
        assert_eq!(decode_component("%zz%4").expect("literal"), "%zz%4");
        assert!(decode_component("%FF").is_err());
    }
}
