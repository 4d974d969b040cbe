//! Business parameters of an RPC request: a flat map decoded from the query and the form
//! body, with the flattening rules of Alibaba's SDKs (1-based `Name.N`, `Name.N.Field`,
//! `Name.N.Field.M`). Every accessor validates and names the parameter in its error.

use crate::error::AliError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Parameters that belong to the protocol, not to the operation.
pub const PROTOCOL: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
];

/// The decoded parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: HashMap<String, String>,
}

/// Parses a 1-based list index: decimal, no sign, no leading zero, `1..=max`.
fn index(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| (1..=max).contains(n))
}

impl Params {
    /// Builds the map; a name sent twice is refused.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, AliError> {
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if map.contains_key(&k) {
                return Err(AliError::invalid(
                    &k,
                    "the parameter is given more than once",
                ));
            }
            map.insert(k, v);
        }
        Ok(Params { map })
    }

    /// A parameter as sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(|s| s.as_str())
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, name: &str) -> Result<&str, AliError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(AliError::missing(name)),
        }
    }

    /// An optional parameter; an empty value counts as absent.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn int(&self, name: &str, min: u64, max: u64, default: u64) -> Result<u64, AliError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => {
                let n: u64 = v
                    .parse()
                    .map_err(|_| AliError::invalid(name, "it must be an integer"))?;
                if n < min || n > max {
                    return Err(AliError::invalid(
                        name,
                        &format!("it must be between {min} and {max}"),
                    ));
                }
                Ok(n)
            }
        }
    }

    /// A boolean: `true`/`false` in any case (the Python SDK sends `True`/`False`).
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, AliError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(AliError::invalid(name, "it must be true or false")),
        }
    }

    /// A list of scalars `Name.N` (N from 1 to `max`), in index order.
    pub fn list(&self, name: &str, max: u32) -> Result<Vec<String>, AliError> {
        let prefix = format!("{name}.");
        let mut out = BTreeMap::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let n = index(rest, max).ok_or_else(|| {
                AliError::invalid(k, &format!("the index must be between 1 and {max}"))
            })?;
            out.insert(n, v.clone());
        }
        Ok(out.into_values().collect())
    }

    /// A list of objects `Name.N.Field` (N from 1 to `max`); unknown fields are refused.
    pub fn objects(
        &self,
        name: &str,
        fields: &[&str],
        max: u32,
    ) -> Result<Vec<HashMap<String, String>>, AliError> {
        let prefix = format!("{name}.");
        let mut out: BTreeMap<u32, HashMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
            let n = index(n, max).ok_or_else(|| {
                AliError::invalid(k, &format!("the index must be between 1 and {max}"))
            })?;
            if !fields.contains(&field) {
                return Err(AliError::invalid(k, "unknown field"));
            }
            out.entry(n)
                .or_default()
                .insert(field.to_string(), v.clone());
        }
        Ok(out.into_values().collect())
    }

    /// `Filter.N.Key` / `Filter.N.Value.M`: (key, values) in index order; a filter without
    /// a key yields `None` as its key.
    pub fn filters(
        &self,
        name: &str,
        max_keys: u32,
        max_values: u32,
    ) -> Result<Vec<(Option<String>, Vec<String>)>, AliError> {
        let prefix = format!("{name}.");
        let mut out: BTreeMap<u32, (Option<String>, BTreeMap<u32, String>)> = BTreeMap::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let bad = || {
                AliError::invalid(
                    k,
                    &format!("at most {max_keys} filters of at most {max_values} values each"),
                )
            };
            let mut parts = rest.split('.');
            let n = parts
                .next()
                .and_then(|p| index(p, max_keys))
                .ok_or_else(bad)?;
            let entry = out.entry(n).or_default();
            match (parts.next(), parts.next(), parts.next()) {
                (Some("Key"), None, None) => entry.0 = Some(v.clone()),
                (Some("Value"), Some(m), None) => {
                    let m = index(m, max_values).ok_or_else(bad)?;
                    entry.1.insert(m, v.clone());
                }
                _ => return Err(AliError::invalid(k, "unknown filter field")),
            }
        }
        Ok(out
            .into_values()
            .map(|(k, vs)| (k, vs.into_values().collect()))
            .collect())
    }

    /// The cache key of a read: the caller's account, the action, the answer format and
    /// every business parameter (sorted), so that only identical questions of one tenant
    /// share an answer.
    pub fn cache_key(&self, account: &str, action: &str, xml: bool) -> String {
        let mut pairs: Vec<(&String, &String)> = self
            .map
            .iter()
            .filter(|(k, _)| !PROTOCOL.contains(&k.as_str()))
            .collect();
        pairs.sort();
        let mut key = format!("{account}\u{0}{action}\u{0}{xml}");
        for (k, v) in pairs {
            key.push('\u{0}');
            key.push_str(k);
            key.push('=');
            key.push_str(v);
        }
        key
    }

    /// A digest of every business parameter except `ClientToken`: two requests with one token
    /// are "the same request" when their fingerprints match.
    pub fn fingerprint(&self, action: &str) -> String {
        let mut pairs: Vec<(&String, &String)> = self
            .map
            .iter()
            .filter(|(k, _)| k.as_str() != "ClientToken" && !PROTOCOL.contains(&k.as_str()))
            .collect();
        pairs.sort();
        let mut h = Sha256::new();
        h.update(action.as_bytes());
        for (k, v) in pairs {
            h.update([0]);
            h.update(k.as_bytes());
            h.update([1]);
            h.update(v.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(havip_testkit::pairs(pairs)).unwrap()
    }

    #[test]
    fn lists_are_one_based_and_bounded() {
        let ps = p(&[("ResourceId.2", "b"), ("ResourceId.1", "a")]);
        assert_eq!(ps.list("ResourceId", 50).unwrap(), vec!["a", "b"]);
        for bad in [
            "ResourceId.0",
            "ResourceId.51",
            "ResourceId.99999999",
            "ResourceId.01",
            "ResourceId.x",
        ] {
            assert!(p(&[(bad, "a")]).list("ResourceId", 50).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_keep_keyless_entries() {
        let ps = p(&[
            ("Filter.1.Value.1", "havip-a"),
            ("Filter.2.Key", "Status"),
            ("Filter.2.Value.2", "InUse"),
            ("Filter.2.Value.1", "Available"),
        ]);
        assert_eq!(
            ps.filters("Filter", 5, 5).unwrap(),
            vec![
                (None, vec!["havip-a".to_string()]),
                (
                    Some("Status".into()),
                    vec!["Available".into(), "InUse".into()]
                )
            ]
        );
        assert!(p(&[("Filter.6.Key", "x")]).filters("Filter", 5, 5).is_err());
        assert!(p(&[("Filter.1.Value.6", "x")])
            .filters("Filter", 5, 5)
            .is_err());
    }

    #[test]
    fn duplicate_names_are_refused() {
        assert!(
            Params::from_pairs(vec![("A".into(), "1".into()), ("A".into(), "2".into())]).is_err()
        );
    }

    #[test]
    fn fingerprint_ignores_token_and_protocol_params() {
        let a = p(&[
            ("VSwitchId", "v"),
            ("ClientToken", "t1"),
            ("SignatureNonce", "n1"),
        ]);
        let b = p(&[
            ("VSwitchId", "v"),
            ("ClientToken", "t2"),
            ("SignatureNonce", "n2"),
        ]);
        let c = p(&[("VSwitchId", "w"), ("ClientToken", "t1")]);
        assert_eq!(a.fingerprint("CreateHaVip"), b.fingerprint("CreateHaVip"));
        assert_ne!(a.fingerprint("CreateHaVip"), c.fingerprint("CreateHaVip"));
    }
}
