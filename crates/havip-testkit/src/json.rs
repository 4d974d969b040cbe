//! Accessors into a fixture's JSON that say which field is missing or mistyped.

use serde_json::Value;
use std::collections::BTreeMap;

/// `(name, value)` pairs in wire order.
pub type Pairs = Vec<(String, String)>;

/// The string at `path` (object keys) below `v`.
pub fn str_field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, String> {
    let mut cur = v;
    for key in path {
        cur = cur
            .get(key)
            .ok_or_else(|| format!("missing field {}", path.join(".")))?;
    }
    cur.as_str()
        .ok_or_else(|| format!("field {} is not a string", path.join(".")))
}

/// The list of `[name, value]` string pairs at `request.<name>` (`v` is the request block).
pub fn pairs_field(v: &Value, name: &str) -> Result<Pairs, String> {
    let list = v
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("request.{name} is not a list"))?;
    list.iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
            _ => Err(format!("request.{name} has a malformed pair {pair}")),
        })
        .collect()
}

/// `pairs` as a map, leaving out the names in `skip`; Err when a name appears twice
/// (`"{what} {name} appears twice"`).
pub fn unique_map<'a>(
    pairs: impl IntoIterator<Item = &'a (String, String)>,
    skip: &[&str],
    what: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (name, value) in pairs {
        if skip.contains(&name.as_str()) {
            continue;
        }
        crate::ensure!(
            map.insert(name.clone(), value.clone()).is_none(),
            "{what} {name} appears twice"
        );
    }
    Ok(map)
}

/// A JSON object of string values.
pub fn string_object(map: BTreeMap<String, String>) -> Value {
    Value::Object(
        map.into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_field_should_name_the_missing_or_mistyped_path() {
        let v = json!({"a": {"b": "x", "n": 1}});
        assert_eq!(str_field(&v, &["a", "b"]), Ok("x"));
        assert_eq!(
            str_field(&v, &["a", "c"]),
            Err("missing field a.c".to_owned())
        );
        assert_eq!(
            str_field(&v, &["a", "n"]),
            Err("field a.n is not a string".to_owned())
        );
    }

    #[test]
    fn pairs_field_should_accept_only_string_pairs() {
        let v = json!({"h": [["a", "1"], ["b", ""]], "bad": [["a"]], "no": 1});
        assert_eq!(
            pairs_field(&v, "h"),
            Ok(vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), String::new())
            ])
        );
        assert!(pairs_field(&v, "bad").is_err());
        assert_eq!(
            pairs_field(&v, "no"),
            Err("request.no is not a list".to_owned())
        );
    }

    #[test]
    fn unique_map_should_skip_names_and_refuse_repeats() {
        let list = crate::pairs(&[("b", "2"), ("Action", "x"), ("a", "1")]);
        let map = unique_map(&list, &["Action"], "parameter").expect("unique");
        assert_eq!(string_object(map), serde_json::json!({"a": "1", "b": "2"}));
        let twice = crate::pairs(&[("a", "1"), ("a", "2")]);
        assert_eq!(
            unique_map(&twice, &[], "query parameter"),
            Err("query parameter a appears twice".to_owned())
        );
    }
}
