//! Routing: a pure function from method, path and decoded query to an operation.
//!
//! The API is `/v1/havip` (create, list) and `/v1/havip/{haVipId}` (detail, delete, and the
//! PUT mutations). A PUT names its mutation with exactly one value-less flag parameter
//! (`?attach`, or `?attach=` as the Python SDK sends it). Query parameters are checked here
//! too: every operation accepts only the ones it documents, so a typo never passes silently.

use crate::error::BceError;
use havip_core::types::HavipId;

/// An operation of the havip API. The names follow the Go SDK (Baidu publishes none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `POST /v1/havip`.
    CreateHaVip,
    /// `GET /v1/havip`.
    ListHaVips,
    /// `GET /v1/havip/{id}`.
    GetHaVip,
    /// `PUT /v1/havip/{id}?modifyAttribute`.
    UpdateHaVip,
    /// `DELETE /v1/havip/{id}`.
    DeleteHaVip,
    /// `PUT /v1/havip/{id}?attach`.
    AttachInstance,
    /// `PUT /v1/havip/{id}?detach`.
    DetachInstance,
    /// `PUT /v1/havip/{id}?bindPublicIp`.
    BindPublicIp,
    /// `PUT /v1/havip/{id}?unbindPublicIp`.
    UnbindPublicIp,
}

/// The PUT flags and the operation each one names.
const FLAGS: [(&str, Operation); 5] = [
    ("modifyAttribute", Operation::UpdateHaVip),
    ("attach", Operation::AttachInstance),
    ("detach", Operation::DetachInstance),
    ("bindPublicIp", Operation::BindPublicIp),
    ("unbindPublicIp", Operation::UnbindPublicIp),
];

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 9] = [
        Operation::CreateHaVip,
        Operation::ListHaVips,
        Operation::GetHaVip,
        Operation::UpdateHaVip,
        Operation::DeleteHaVip,
        Operation::AttachInstance,
        Operation::DetachInstance,
        Operation::BindPublicIp,
        Operation::UnbindPublicIp,
    ];

    /// The name used in logs, fault injection and idempotency scopes.
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateHaVip => "CreateHaVip",
            Operation::ListHaVips => "ListHaVips",
            Operation::GetHaVip => "GetHaVip",
            Operation::UpdateHaVip => "UpdateHaVip",
            Operation::DeleteHaVip => "DeleteHaVip",
            Operation::AttachInstance => "AttachInstance",
            Operation::DetachInstance => "DetachInstance",
            Operation::BindPublicIp => "BindPublicIp",
            Operation::UnbindPublicIp => "UnbindPublicIp",
        }
    }

    /// Whether the operation changes state (and so takes a `clientToken`).
    pub fn mutates(self) -> bool {
        !matches!(self, Operation::ListHaVips | Operation::GetHaVip)
    }

    /// The query parameters the operation accepts besides its flag.
    fn accepted_query(self) -> &'static [&'static str] {
        match self {
            Operation::ListHaVips => &["vpcId", "marker", "maxKeys"],
            Operation::GetHaVip => &[],
            _ => &["clientToken"],
        }
    }

    /// Whether the operation reads a JSON body.
    pub fn has_body(self) -> bool {
        matches!(
            self,
            Operation::CreateHaVip
                | Operation::UpdateHaVip
                | Operation::AttachInstance
                | Operation::DetachInstance
                | Operation::BindPublicIp
        )
    }
}

/// A routed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The operation.
    pub op: Operation,
    /// The HAVIP of `/v1/havip/{id}`.
    pub havip: Option<HavipId>,
}

/// Routes a request. `path` is the raw path; `query` the decoded pairs in wire order.
pub fn route(method: &str, path: &str, query: &[(String, String)]) -> Result<Route, BceError> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| BceError::invalid_uri("the path must start with /"))?;
    let segments: Vec<&str> = rest.split('/').collect();
    let version = segments[0];
    match version.strip_prefix('v') {
        Some("1") => {}
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(BceError::new(
                404,
                "InvalidVersion",
                format!("The API version v{n} is not supported; use v1."),
            ))
        }
        _ => return Err(BceError::invalid_uri(format!("{path} names no resource"))),
    }
    let havip = match segments.as_slice() {
        [_, "havip"] => None,
        [_, "havip", id] if !id.is_empty() => Some(HavipId((*id).to_string())),
        _ => return Err(BceError::invalid_uri(format!("{path} names no resource"))),
    };
    let flags: Vec<(&str, Operation)> = FLAGS
        .iter()
        .filter(|(f, _)| query.iter().any(|(k, _)| k == f))
        .copied()
        .collect();
    let op =
        match (method, &havip, flags.as_slice()) {
            ("POST", None, []) => Operation::CreateHaVip,
            ("GET", None, []) => Operation::ListHaVips,
            ("GET", Some(_), []) => Operation::GetHaVip,
            ("DELETE", Some(_), []) => Operation::DeleteHaVip,
            ("PUT", Some(_), [(_, op)]) => *op,
            ("PUT", Some(_), []) => return Err(BceError::invalid_uri(
                "a PUT needs one of modifyAttribute, attach, detach, bindPublicIp, unbindPublicIp",
            )),
            ("PUT", Some(_), _) => {
                return Err(BceError::invalid_uri("a PUT takes exactly one action flag"))
            }
            _ => {
                return Err(BceError::invalid_uri(format!(
                    "{method} {path} is not an operation of this API"
                )))
            }
        };
    let flag = flags.first().map(|(f, _)| *f);
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in query {
        if seen.contains(&k.as_str()) {
            return Err(BceError::invalid(k, "it is given more than once"));
        }
        seen.push(k);
        if Some(k.as_str()) == flag {
            if !v.is_empty() {
                return Err(BceError::invalid_uri(format!(
                    "the flag {k} takes no value"
                )));
            }
        } else if !op.accepted_query().contains(&k.as_str()) {
            return Err(BceError::invalid(k, "this operation does not take it"));
        }
    }
    Ok(Route { op, havip })
}

#[cfg(test)]
mod tests {
    use super::*;
    use havip_testkit::pairs as q;

    fn op(method: &str, path: &str, query: &[(&str, &str)]) -> Result<Operation, &'static str> {
        route(method, path, &q(query))
            .map(|r| r.op)
            .map_err(|e| e.code)
    }

    #[test]
    fn every_operation_routes_from_its_method_path_and_flag() {
        use Operation as O;
        let id = "/v1/havip/havip-w2d4kgc3x0y1";
        assert_eq!(
            op("POST", "/v1/havip", &[("clientToken", "t")]),
            Ok(O::CreateHaVip)
        );
        assert_eq!(
            op("GET", "/v1/havip", &[("maxKeys", "10")]),
            Ok(O::ListHaVips)
        );
        assert_eq!(op("GET", id, &[]), Ok(O::GetHaVip));
        assert_eq!(
            op("DELETE", id, &[("clientToken", "t")]),
            Ok(O::DeleteHaVip)
        );
        for (flag, want) in FLAGS {
            assert_eq!(
                op("PUT", id, &[(flag, ""), ("clientToken", "t")]),
                Ok(want),
                "{flag}"
            );
            assert_eq!(
                op("PUT", id, &[("clientToken", "t"), (flag, "")]),
                Ok(want),
                "{flag}"
            );
        }
        let r = route("GET", id, &[]).unwrap();
        assert_eq!(r.havip, Some(HavipId("havip-w2d4kgc3x0y1".into())));
    }

    #[test]
    fn unknown_targets_versions_and_flags_are_refused() {
        let id = "/v1/havip/h-1";
        assert_eq!(op("GET", "/v2/havip", &[]), Err("InvalidVersion"));
        assert_eq!(op("GET", "/v1/subnet", &[]), Err("InvalidURI"));
        assert_eq!(op("GET", "/", &[]), Err("InvalidURI"));
        assert_eq!(op("GET", "/v1/havip/h-1/x", &[]), Err("InvalidURI"));
        assert_eq!(op("GET", "/v1/havip/", &[]), Err("InvalidURI"));
        assert_eq!(op("PUT", id, &[]), Err("InvalidURI"));
        assert_eq!(
            op("PUT", id, &[("attach", ""), ("detach", "")]),
            Err("InvalidURI")
        );
        assert_eq!(op("PUT", id, &[("attach", "yes")]), Err("InvalidURI"));
        assert_eq!(op("PATCH", id, &[]), Err("InvalidURI"));
        assert_eq!(op("POST", id, &[]), Err("InvalidURI"));
        assert_eq!(op("DELETE", "/v1/havip", &[]), Err("InvalidURI"));
        assert_eq!(op("GET", "/v1/havip", &[("attach", "")]), Err("InvalidURI"));
    }

    #[test]
    fn query_parameters_are_checked_per_operation() {
        let id = "/v1/havip/h-1";
        assert_eq!(
            op("GET", "/v1/havip", &[("pageNo", "1")]),
            Err("InvalidParameter")
        );
        assert_eq!(
            op("GET", id, &[("clientToken", "t")]),
            Err("InvalidParameter")
        );
        assert_eq!(
            op(
                "POST",
                "/v1/havip",
                &[("clientToken", "a"), ("clientToken", "b")]
            ),
            Err("InvalidParameter")
        );
        assert_eq!(
            op("PUT", id, &[("attach", ""), ("vpcId", "v")]),
            Err("InvalidParameter")
        );
        assert!(op(
            "GET",
            "/v1/havip",
            &[("vpcId", "v"), ("marker", "m"), ("maxKeys", "1")]
        )
        .is_ok());
    }
}
