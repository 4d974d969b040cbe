//! Business parameters of one request, as one JSON object whatever the form it came in.
//!
//! A TC3 POST carries the object as its JSON body. A GET (TC3 or v1) or a v1 POST carries it
//! flattened into `name=value` pairs with **0-based** list indices (`Filters.0.Values.1`),
//! every value a string and booleans written `True`/`False`; [`unflatten`] rebuilds the
//! object (lists must be dense from 0, a name is never both a value and a container). The
//! typed accessors then accept both spellings of a scalar (`20` and `"20"`, `true` and
//! `"True"`), name the parameter in every error, and [`Params::finish`] refuses every
//! member no accessor asked for (`UnknownParameter`): nothing is ignored silently.

use crate::error::TcError;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The most `.`-separated segments a flattened name may have.
const MAX_SEGMENTS: usize = 8;

/// A tree under construction from flattened pairs.
#[derive(Debug)]
enum Node {
    Leaf(String),
    Obj(BTreeMap<String, Node>),
    List(BTreeMap<usize, Node>),
}

fn bad_name(name: &str) -> TcError {
    TcError::new(
        "InvalidParameter",
        format!("The parameter name `{name}` is malformed."),
    )
}

/// A list index: decimal, no sign, no leading zero (except `0` itself), at most 4 digits.
fn index(seg: &str) -> Option<usize> {
    if seg.is_empty() || seg.len() > 4 || !seg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if seg.len() > 1 && seg.starts_with('0') {
        return None;
    }
    seg.parse().ok()
}

fn insert(node: &mut Node, path: &[&str], value: String, full: &str) -> Result<(), TcError> {
    let Some((head, rest)) = path.split_first() else {
        return Err(bad_name(full));
    };
    if head.is_empty() {
        return Err(bad_name(full));
    }
    let child: &mut Node = match (index(head), node) {
        (Some(i), Node::List(items)) => items.entry(i).or_insert_with(|| empty_for(rest)),
        (None, Node::Obj(fields)) if !head.bytes().all(|b| b.is_ascii_digit()) => fields
            .entry((*head).to_string())
            .or_insert_with(|| empty_for(rest)),
        _ => return Err(bad_name(full)),
    };
    if rest.is_empty() {
        return match child {
            Node::Leaf(v) if v.is_empty() => {
                *v = value;
                Ok(())
            }
            _ => Err(TcError::new(
                "InvalidParameter",
                format!(
                    "The parameter `{full}` is given more than once or conflicts with another."
                ),
            )),
        };
    }
    if matches!(child, Node::Leaf(_)) {
        return Err(TcError::new(
            "InvalidParameter",
            format!("The parameter `{full}` conflicts with another."),
        ));
    }
    insert(child, rest, value, full)
}

fn empty_for(rest: &[&str]) -> Node {
    match rest.first() {
        None => Node::Leaf(String::new()),
        Some(seg) if index(seg).is_some() => Node::List(BTreeMap::new()),
        Some(_) => Node::Obj(BTreeMap::new()),
    }
}

fn to_value(node: Node, name: &str) -> Result<Value, TcError> {
    Ok(match node {
        Node::Leaf(s) => Value::String(s),
        Node::Obj(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    let n = format!("{name}.{k}");
                    to_value(v, &n).map(|v| (k, v))
                })
                .collect::<Result<Map<_, _>, _>>()?,
        ),
        Node::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (expect, (i, v)) in items.into_iter().enumerate() {
                if i != expect {
                    return Err(TcError::new(
                        "InvalidParameter",
                        format!("The list `{name}` must be indexed from 0 without gaps (missing `{name}.{expect}`)."),
                    ));
                }
                out.push(to_value(v, &format!("{name}.{i}"))?);
            }
            Value::Array(out)
        }
    })
}

/// Rebuilds the JSON object from flattened, 0-based pairs (already form-decoded).
pub fn unflatten(pairs: &[(String, String)]) -> Result<Map<String, Value>, TcError> {
    let mut root = BTreeMap::new();
    for (k, v) in pairs {
        // The deepest real name is `Filters.0.Values.1`; a bound keeps the recursion below
        // (and the names it builds) small whatever the request sends.
        if k.split('.').nth(MAX_SEGMENTS).is_some() {
            return Err(bad_name(k));
        }
        let segs: Vec<&str> = k.split('.').collect();
        let (head, rest) = segs.split_first().ok_or_else(|| bad_name(k))?;
        if head.is_empty() || index(head).is_some() {
            return Err(bad_name(k));
        }
        if rest.is_empty() {
            if root.contains_key(*head) {
                return Err(TcError::new(
                    "InvalidParameter",
                    format!(
                        "The parameter `{k}` is given more than once or conflicts with another."
                    ),
                ));
            }
            root.insert((*head).to_string(), Node::Leaf(v.clone()));
            continue;
        }
        let child = root
            .entry((*head).to_string())
            .or_insert_with(|| empty_for(rest));
        if matches!(child, Node::Leaf(_)) {
            return Err(TcError::new(
                "InvalidParameter",
                format!("The parameter `{k}` conflicts with another."),
            ));
        }
        insert(child, rest, v.clone(), k)?;
    }
    root.into_iter()
        .map(|(k, v)| to_value(v, &k).map(|v| (k, v)))
        .collect()
}

/// The business parameters of one request, with the names every accessor consumed.
#[derive(Debug)]
pub struct Params {
    map: Map<String, Value>,
    used: Mutex<BTreeSet<String>>,
}

/// One element of an object list, with its own unknown-member check.
#[derive(Debug)]
pub struct Obj<'a> {
    name: String,
    map: &'a Map<String, Value>,
    used: Mutex<BTreeSet<&'static str>>,
}

fn type_error(name: &str, what: &str) -> TcError {
    TcError::new(
        "InvalidParameter",
        format!("The parameter `{name}` must be {what}."),
    )
}

fn as_str<'v>(name: &str, v: &'v Value) -> Result<&'v str, TcError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(type_error(name, "a string")),
    }
}

fn as_int(name: &str, v: &Value) -> Result<i64, TcError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| type_error(name, "an integer")),
        Value::String(s) => {
            let t = s.as_str();
            let digits = t.strip_prefix('-').unwrap_or(t);
            if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(type_error(name, "an integer"));
            }
            t.parse().map_err(|_| type_error(name, "an integer"))
        }
        _ => Err(type_error(name, "an integer")),
    }
}

fn as_bool(name: &str, v: &Value) -> Result<bool, TcError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(type_error(name, "a boolean (true or false)")),
    }
}

fn as_list<'v>(name: &str, v: &'v Value) -> Result<&'v [Value], TcError> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(type_error(name, "a list")),
    }
}

/// A required parameter that is absent.
pub fn missing(name: &str) -> TcError {
    TcError::new(
        "MissingParameter",
        format!("The request is missing a required parameter `{name}`."),
    )
}

impl Params {
    /// Wraps a decoded object.
    pub fn new(map: Map<String, Value>) -> Self {
        Params {
            map,
            used: Mutex::new(BTreeSet::new()),
        }
    }

    /// The object as received (for tests and logs).
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A string that must be present (it may be empty; callers check emptiness where the
    /// API forbids it).
    pub fn required_str(&self, name: &str) -> Result<&str, TcError> {
        match self.get(name) {
            None => Err(missing(name)),
            Some(v) => as_str(name, v),
        }
    }

    /// An optional string.
    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, TcError> {
        self.get(name).map(|v| as_str(name, v)).transpose()
    }

    /// An optional integer (JSON number or decimal string).
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, TcError> {
        self.get(name).map(|v| as_int(name, v)).transpose()
    }

    /// An optional boolean (JSON boolean or `true`/`false` in any case).
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, TcError> {
        self.get(name).map(|v| as_bool(name, v)).transpose()
    }

    /// An optional list of strings (empty when absent).
    pub fn str_list(&self, name: &str) -> Result<Vec<String>, TcError> {
        let Some(v) = self.get(name) else {
            return Ok(Vec::new());
        };
        as_list(name, v)?
            .iter()
            .enumerate()
            .map(|(i, item)| as_str(&format!("{name}.{i}"), item).map(str::to_string))
            .collect()
    }

    /// Whether the parameter was sent at all.
    pub fn present(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    /// An optional list of objects (empty when absent).
    pub fn objects(&self, name: &str) -> Result<Vec<Obj<'_>>, TcError> {
        let Some(v) = self.get(name) else {
            return Ok(Vec::new());
        };
        as_list(name, v)?
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let n = format!("{name}.{i}");
                match item {
                    Value::Object(m) => Ok(Obj {
                        name: n,
                        map: m,
                        used: Mutex::new(BTreeSet::new()),
                    }),
                    _ => Err(type_error(&n, "an object")),
                }
            })
            .collect()
    }

    /// Refuses every member no accessor asked for.
    pub fn finish(&self) -> Result<(), TcError> {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        match self.map.keys().find(|k| !used.contains(k.as_str())) {
            None => Ok(()),
            Some(k) => Err(unknown(k)),
        }
    }
}

fn unknown(name: &str) -> TcError {
    TcError::new(
        "UnknownParameter",
        format!("The parameter `{name}` is not recognized."),
    )
}

impl Obj<'_> {
    /// The element's name for messages (`Filters.0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, field: &'static str) -> Option<&Value> {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(field);
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn field_name(&self, field: &str) -> String {
        format!("{}.{field}", self.name)
    }

    /// A required string field.
    pub fn required_str(&self, field: &'static str) -> Result<&str, TcError> {
        match self.get(field) {
            None => Err(missing(&self.field_name(field))),
            Some(v) => as_str(&self.field_name(field), v),
        }
    }

    /// An optional string field.
    pub fn opt_str(&self, field: &'static str) -> Result<Option<&str>, TcError> {
        self.get(field)
            .map(|v| as_str(&self.field_name(field), v))
            .transpose()
    }

    /// A list of strings (empty when absent).
    pub fn str_list(&self, field: &'static str) -> Result<Vec<String>, TcError> {
        let n = self.field_name(field);
        let Some(v) = self.get(field) else {
            return Ok(Vec::new());
        };
        as_list(&n, v)?
            .iter()
            .enumerate()
            .map(|(i, item)| as_str(&format!("{n}.{i}"), item).map(str::to_string))
            .collect()
    }

    /// Refuses every field no accessor asked for.
    pub fn finish(&self) -> Result<(), TcError> {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        match self.map.keys().find(|k| !used.contains(k.as_str())) {
            None => Ok(()),
            Some(k) => Err(unknown(&self.field_name(k))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use havip_testkit::pairs;
    use serde_json::json;

    #[test]
    fn unflatten_should_rebuild_zero_based_lists_and_objects() {
        let m = unflatten(&pairs(&[
            ("Filters.0.Name", "vpc-id"),
            ("Filters.0.Values.0", "vpc-1"),
            ("Filters.0.Values.1", "vpc-2"),
            ("Filters.1.Name", "havip-name"),
            ("Filters.1.Values.0", "a b"),
            ("Offset", "0"),
            ("Limit", "10"),
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"Filters": [{"Name": "vpc-id", "Values": ["vpc-1", "vpc-2"]},
                               {"Name": "havip-name", "Values": ["a b"]}],
                   "Offset": "0", "Limit": "10"})
        );
    }

    #[test]
    fn unflatten_should_refuse_names_nested_deeper_than_the_bound() {
        let deep = format!("Filters{}", ".0".repeat(10_000));
        assert_eq!(
            unflatten(&pairs(&[(&deep, "x")])).unwrap_err().code,
            "InvalidParameter"
        );
        let at_bound = format!("A{}", ".B".repeat(MAX_SEGMENTS - 1));
        assert!(unflatten(&pairs(&[(&at_bound, "x")])).is_ok());
    }

    #[test]
    fn unflatten_should_refuse_gaps_conflicts_and_repeats() {
        for bad in [
            vec![("HaVipIds.1", "a")],
            vec![("HaVipIds.0", "a"), ("HaVipIds.0", "b")],
            vec![("HaVipIds", "a"), ("HaVipIds.0", "b")],
            vec![("HaVipIds.0", "a"), ("HaVipIds", "b")],
            vec![("HaVipIds.01", "a")],
            vec![("HaVipIds..0", "a")],
            vec![("0", "a")],
            vec![("Tags.0.Key", "a"), ("Tags.0.Key.0", "b")],
            vec![("Tags.x", "a"), ("Tags.0", "b")],
        ] {
            assert!(unflatten(&pairs(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accessors_should_accept_both_spellings_and_refuse_unknown_members() {
        let p = Params::new(
            json!({"Limit": "20", "Offset": 5, "CheckAssociate": "True", "Extra": 1})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(p.opt_int("Limit").unwrap(), Some(20));
        assert_eq!(p.opt_int("Offset").unwrap(), Some(5));
        assert_eq!(p.opt_bool("CheckAssociate").unwrap(), Some(true));
        assert_eq!(p.finish().unwrap_err().code, "UnknownParameter");
        let q = Params::new(json!({"Limit": "x"}).as_object().unwrap().clone());
        assert_eq!(q.opt_int("Limit").unwrap_err().code, "InvalidParameter");
        assert_eq!(
            q.required_str("HaVipId").unwrap_err().code,
            "MissingParameter"
        );
    }
}
