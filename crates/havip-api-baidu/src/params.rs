//! Parameter decoding: the query and the JSON body of a routed request become one typed
//! [`Request`], validated once, here. Rules come from the reference and SEED-004; where the
//! docs are silent the rule is noted on the function.
//!
//! Bodies are strict: a body operation needs a JSON object with only its documented fields
//! (unknown field or wrong type: `InappropriateJSON`; not JSON: `MalformedJSON`); an
//! operation without a body accepts an empty one (or `{}`) only.

use crate::error::BceError;
use crate::routing::Operation;
use havip_core::types::{parse_strict_ipv4, HavipId, TargetKind, VSwitchId, VpcId};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;

/// Most instances one attach or detach names (reference §3.6: ≤ 5 IDs per request).
pub const MAX_INSTANCES_PER_REQUEST: usize = 5;
/// Default and largest `maxKeys` of a listing.
pub const MAX_KEYS: u64 = 1000;
/// Longest description we accept. Not in SEED-004; 200 is BCE's usual description limit.
pub const MAX_DESCRIPTION: usize = 200;

/// A decoded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// CreateHaVip.
    Create {
        /// `subnetId`.
        subnet: VSwitchId,
        /// `privateIpAddress`; `None` for `""` (allocate).
        ip: Option<Ipv4Addr>,
        /// `name`.
        name: String,
        /// `description` (`""` when absent).
        description: String,
    },
    /// ListHaVips.
    List {
        /// `vpcId` filter.
        vpc: Option<VpcId>,
        /// `marker`: the HAVIP the page starts at.
        marker: Option<HavipId>,
        /// `maxKeys`.
        max_keys: u64,
    },
    /// GetHaVip.
    Get,
    /// UpdateHaVip.
    Update {
        /// `name`.
        name: String,
        /// `description`: absent keeps, `""` clears.
        description: Option<String>,
    },
    /// DeleteHaVip.
    Delete,
    /// AttachInstance.
    Attach {
        /// `instanceType`.
        kind: TargetKind,
        /// `instanceIds`, in request order.
        ids: Vec<String>,
    },
    /// DetachInstance.
    Detach {
        /// `instanceType`.
        kind: TargetKind,
        /// `instanceIds`, in request order.
        ids: Vec<String>,
    },
    /// BindPublicIp.
    BindPublicIp {
        /// `publicIpAddress`.
        address: Ipv4Addr,
    },
    /// UnbindPublicIp.
    UnbindPublicIp,
}

/// The query value of `name`, if sent.
pub fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `clientToken`: at most 64 ASCII characters (SEED-004); printable, non-empty.
pub fn client_token(query: &[(String, String)]) -> Result<Option<String>, BceError> {
    match query_value(query, "clientToken") {
        None => Ok(None),
        Some(t) if !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(t.to_string()))
        }
        Some(_) => Err(BceError::invalid(
            "clientToken",
            "it must be 1 to 64 printable ASCII characters",
        )),
    }
}

/// A digest of everything that defines the request except its `clientToken`: operation,
/// HAVIP, the other query parameters (sorted) and the body (re-serialised with sorted keys).
pub fn fingerprint(
    op: Operation,
    havip: Option<&HavipId>,
    query: &[(String, String)],
    body: &[u8],
) -> String {
    let mut pairs: Vec<&(String, String)> =
        query.iter().filter(|(k, _)| k != "clientToken").collect();
    pairs.sort();
    let body = serde_json::from_slice::<Value>(body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(op.name());
    h.update([0]);
    h.update(havip.map(|h| h.as_str()).unwrap_or(""));
    for (k, v) in pairs {
        h.update([0]);
        h.update(k);
        h.update([1]);
        h.update(v);
    }
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

struct Body(Map<String, Value>);

impl Body {
    fn parse(bytes: &[u8], allowed: &[&str]) -> Result<Body, BceError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BceError::inappropriate_json(
                "this operation needs a JSON object body",
            ));
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|_| BceError::malformed_json())?;
        let Value::Object(m) = v else {
            return Err(BceError::inappropriate_json(
                "the body must be a JSON object",
            ));
        };
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(BceError::inappropriate_json(format!("unknown field {k}")));
        }
        Ok(Body(m))
    }

    fn string(&self, name: &str) -> Result<Option<&str>, BceError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(BceError::inappropriate_json(format!(
                "{name} must be a string"
            ))),
        }
    }

    fn required_string(&self, name: &str) -> Result<&str, BceError> {
        self.string(name)?
            .ok_or_else(|| BceError::inappropriate_json(format!("{name} is required")))
    }

    fn string_list(&self, name: &str) -> Result<Vec<String>, BceError> {
        let wrong = || BceError::inappropriate_json(format!("{name} must be a list of strings"));
        match self.0.get(name) {
            None => Err(BceError::inappropriate_json(format!("{name} is required"))),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(wrong))
                .collect(),
            Some(_) => Err(wrong()),
        }
    }
}

fn no_body(bytes: &[u8]) -> Result<(), BceError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) if m.is_empty() => Ok(()),
        _ => Err(BceError::new(
            400,
            "InvalidHTTPRequest",
            "This operation takes no request body.",
        )),
    }
}

fn is_chinese(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// `name` (SEED-004): 1–65 characters of letters, digits, Chinese and `-` `_` `/` `.`,
/// starting with a letter or a Chinese character.
pub fn name(s: &str) -> Result<String, BceError> {
    let bad = || {
        BceError::invalid(
            "name",
            "it must be 1 to 65 letters, digits, Chinese characters or -_/., starting with a letter or a Chinese character",
        )
    };
    let mut chars = s.chars();
    let first = chars.next().ok_or_else(bad)?;
    if !(first.is_ascii_alphabetic() || is_chinese(first)) || s.chars().count() > 65 {
        return Err(bad());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || is_chinese(c) || "-_/.".contains(c))
    {
        return Err(bad());
    }
    Ok(s.to_string())
}

/// `description`: any text up to [`MAX_DESCRIPTION`] characters.
pub fn description(s: &str) -> Result<String, BceError> {
    if s.chars().count() > MAX_DESCRIPTION {
        return Err(BceError::invalid(
            "description",
            "it must be at most 200 characters",
        ));
    }
    Ok(s.to_string())
}

fn ipv4(name: &str, s: &str) -> Result<Ipv4Addr, BceError> {
    parse_strict_ipv4(s).ok_or_else(|| BceError::invalid(name, "it is not an IPv4 address"))
}

fn instance_type(s: &str) -> Result<TargetKind, BceError> {
    match s {
        "SERVER" => Ok(TargetKind::Instance),
        "ENI" => Ok(TargetKind::Eni),
        _ => Err(BceError::invalid(
            "instanceType",
            "it must be SERVER or ENI",
        )),
    }
}

fn instance_ids(ids: Vec<String>) -> Result<Vec<String>, BceError> {
    if ids.is_empty() || ids.len() > MAX_INSTANCES_PER_REQUEST {
        return Err(BceError::invalid(
            "instanceIds",
            "it must name 1 to 5 instances",
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return Err(BceError::invalid("instanceIds", "an instance ID is empty"));
        }
        if ids[..i].contains(id) {
            return Err(BceError::invalid(
                "instanceIds",
                "an instance is named twice",
            ));
        }
    }
    Ok(ids)
}

fn non_empty<'a>(name: &str, s: &'a str) -> Result<&'a str, BceError> {
    if s.is_empty() {
        return Err(BceError::invalid(name, "it must not be empty"));
    }
    Ok(s)
}

fn max_keys(query: &[(String, String)]) -> Result<u64, BceError> {
    match query_value(query, "maxKeys") {
        None => Ok(MAX_KEYS),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (1..=MAX_KEYS).contains(&n) && !s.starts_with('+') => Ok(n),
            _ => Err(BceError::invalid(
                "maxKeys",
                "it must be an integer from 1 to 1000",
            )),
        },
    }
}

/// Decodes the parameters of `op` from its query and body.
pub fn decode(op: Operation, query: &[(String, String)], body: &[u8]) -> Result<Request, BceError> {
    Ok(match op {
        Operation::CreateHaVip => {
            let b = Body::parse(
                body,
                &["name", "subnetId", "privateIpAddress", "description"],
            )?;
            let name = name(b.required_string("name")?)?;
            let subnet = VSwitchId(non_empty("subnetId", b.required_string("subnetId")?)?.into());
            let ip = match b.required_string("privateIpAddress")? {
                "" => None,
                s => Some(ipv4("privateIpAddress", s)?),
            };
            let description = description(b.string("description")?.unwrap_or(""))?;
            Request::Create {
                subnet,
                ip,
                name,
                description,
            }
        }
        Operation::ListHaVips => {
            no_body(body)?;
            let vpc = query_value(query, "vpcId")
                .map(|v| non_empty("vpcId", v).map(|v| VpcId(v.into())))
                .transpose()?;
            let marker = query_value(query, "marker")
                .filter(|m| !m.is_empty())
                .map(|m| HavipId(m.into()));
            Request::List {
                vpc,
                marker,
                max_keys: max_keys(query)?,
            }
        }
        Operation::GetHaVip => {
            no_body(body)?;
            Request::Get
        }
        Operation::DeleteHaVip => {
            no_body(body)?;
            Request::Delete
        }
        Operation::UpdateHaVip => {
            let b = Body::parse(body, &["name", "description"])?;
            Request::Update {
                name: name(b.required_string("name")?)?,
                description: b.string("description")?.map(description).transpose()?,
            }
        }
        Operation::AttachInstance | Operation::DetachInstance => {
            let b = Body::parse(body, &["instanceIds", "instanceType"])?;
            let ids = instance_ids(b.string_list("instanceIds")?)?;
            let kind = instance_type(b.required_string("instanceType")?)?;
            if op == Operation::AttachInstance {
                Request::Attach { kind, ids }
            } else {
                Request::Detach { kind, ids }
            }
        }
        Operation::BindPublicIp => {
            let b = Body::parse(body, &["publicIpAddress"])?;
            Request::BindPublicIp {
                address: ipv4("publicIpAddress", b.required_string("publicIpAddress")?)?,
            }
        }
        Operation::UnbindPublicIp => {
            no_body(body)?;
            Request::UnbindPublicIp
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Request, BceError>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code)
    }

    #[test]
    fn names_follow_seed_004() {
        for ok in [
            "a",
            "havip_test",
            "A-b_c/d.e9",
            "高可用",
            "中a",
            &"a".repeat(65),
        ] {
            assert!(name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9a", "_a", "-a", "a b", "a!", &"a".repeat(66), "é"] {
            assert_eq!(
                name(bad).map_err(|e| e.code),
                Err("InvalidParameter"),
                "{bad}"
            );
        }
    }

    #[test]
    fn create_decodes_auto_and_explicit_addresses() {
        let body = br#"{"name":"h","subnetId":"sbn-1","privateIpAddress":"","description":""}"#;
        assert_eq!(
            decode(Operation::CreateHaVip, &[], body).unwrap(),
            Request::Create {
                subnet: VSwitchId("sbn-1".into()),
                ip: None,
                name: "h".into(),
                description: String::new()
            }
        );
        let body = br#"{"name":"h","subnetId":"sbn-1","privateIpAddress":"10.0.0.5"}"#;
        assert!(matches!(
            decode(Operation::CreateHaVip, &[], body).unwrap(),
            Request::Create { ip: Some(_), .. }
        ));
    }

    #[test]
    fn bodies_are_strict() {
        let c = |b: &[u8]| code(decode(Operation::CreateHaVip, &[], b));
        assert_eq!(c(b""), "InappropriateJSON");
        assert_eq!(c(b"{"), "MalformedJSON");
        assert_eq!(c(b"[]"), "InappropriateJSON");
        assert_eq!(c(br#"{"name":"h","subnetId":"s"}"#), "InappropriateJSON");
        assert_eq!(
            c(br#"{"name":"h","subnetId":"s","privateIpAddress":1}"#),
            "InappropriateJSON"
        );
        assert_eq!(
            c(br#"{"name":"h","subnetId":"s","privateIpAddress":"","x":1}"#),
            "InappropriateJSON"
        );
        assert_eq!(
            c(br#"{"name":"h","subnetId":"s","privateIpAddress":"10.0.0.01"}"#),
            "InvalidParameter"
        );
        assert_eq!(
            c(br#"{"name":"h","subnetId":"","privateIpAddress":""}"#),
            "InvalidParameter"
        );
        assert_eq!(
            code(decode(Operation::GetHaVip, &[], b"x")),
            "InvalidHTTPRequest"
        );
        assert_eq!(code(decode(Operation::UnbindPublicIp, &[], b"{}")), "ok");
    }

    #[test]
    fn attach_takes_one_to_five_distinct_ids_of_a_known_type() {
        let a = |b: &str| code(decode(Operation::AttachInstance, &[], b.as_bytes()));
        assert_eq!(
            a(r#"{"instanceIds":["i-1","i-2"],"instanceType":"SERVER"}"#),
            "ok"
        );
        assert_eq!(a(r#"{"instanceIds":["eni-1"],"instanceType":"ENI"}"#), "ok");
        assert_eq!(
            a(r#"{"instanceIds":[],"instanceType":"SERVER"}"#),
            "InvalidParameter"
        );
        assert_eq!(
            a(r#"{"instanceIds":["1","2","3","4","5","6"],"instanceType":"SERVER"}"#),
            "InvalidParameter"
        );
        assert_eq!(
            a(r#"{"instanceIds":["i-1","i-1"],"instanceType":"SERVER"}"#),
            "InvalidParameter"
        );
        assert_eq!(
            a(r#"{"instanceIds":["i-1"],"instanceType":"server"}"#),
            "InvalidParameter"
        );
        assert_eq!(
            a(r#"{"instanceIds":"i-1","instanceType":"SERVER"}"#),
            "InappropriateJSON"
        );
    }

    #[test]
    fn list_and_tokens_are_bounded() {
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let l = |k: &str, v: &str| code(decode(Operation::ListHaVips, &q(k, v), b""));
        assert_eq!(l("maxKeys", "1000"), "ok");
        for bad in ["0", "1001", "x", "-1", "+5", ""] {
            assert_eq!(l("maxKeys", bad), "InvalidParameter", "{bad}");
        }
        assert!(client_token(&q("clientToken", &"a".repeat(64))).is_ok());
        assert!(client_token(&q("clientToken", &"a".repeat(65))).is_err());
        assert!(client_token(&q("clientToken", "é")).is_err());
        assert!(client_token(&q("clientToken", "")).is_err());
    }

    #[test]
    fn fingerprints_ignore_the_token_and_key_order() {
        let a = fingerprint(
            Operation::CreateHaVip,
            None,
            &[("clientToken".into(), "1".into())],
            br#"{"a":1,"b":2}"#,
        );
        let b = fingerprint(
            Operation::CreateHaVip,
            None,
            &[("clientToken".into(), "2".into())],
            br#"{"b":2, "a":1}"#,
        );
        let c = fingerprint(Operation::CreateHaVip, None, &[], br#"{"a":1,"b":3}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
