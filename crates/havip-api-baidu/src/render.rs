//! Response bodies: the HaVip object as the Go model and the Python SDK read it, the marker
//! listing, and the BCE envelope (`x-bce-request-id` header; errors as
//! `{"code", "message", "requestId"}`).

use crate::error::BceError;
use havip_api::time::iso8601_utc;
use havip_api::RawResponse;
use havip_core::model::HavipView;
use havip_core::types::{HavipStatus, TargetKind};
use serde_json::{json, Value};

const JSON_TYPE: &str = "application/json;charset=UTF-8";

/// The wire status of an HAVIP. `available` and `binded` are documented; the transient
/// names are ours (Baidu documents none).
pub fn status(s: HavipStatus) -> &'static str {
    match s {
        HavipStatus::Creating => "creating",
        HavipStatus::Available => "available",
        HavipStatus::Associating => "binding",
        HavipStatus::InUse => "binded",
        HavipStatus::Unassociating => "unbinding",
        HavipStatus::Deleting => "deleting",
    }
}

/// The HaVip object (reference §2). `publicIpAddress` is `""` and `bindedInstances` `[]`
/// when there is none, so SDK users can read both fields unconditionally.
pub fn havip_json(v: &HavipView) -> Value {
    let h = &v.havip;
    let public_ip = v
        .eips
        .first()
        .map(|e| e.address.to_string())
        .unwrap_or_default();
    let instances: Vec<Value> = v
        .members
        .iter()
        .map(|m| {
            json!({
                "instanceId": m.target,
                "instanceType": match m.kind {
                    TargetKind::Instance => "SERVER",
                    TargetKind::Eni => "ENI",
                },
                "master": h.master.as_deref() == Some(m.target.as_str()),
            })
        })
        .collect();
    json!({
        "haVipId": h.id,
        "name": h.name,
        "description": h.description,
        "vpcId": h.vpc,
        "subnetId": h.vswitch,
        "status": status(h.status),
        "privateIpAddress": h.ip.to_string(),
        "publicIpAddress": public_ip,
        "bindedInstances": instances,
        "createdTime": iso8601_utc(h.created_at),
    })
}

/// A success: 200 with the JSON body, or an empty body when the operation returns nothing.
pub fn success(request_id: &str, body: Option<Value>) -> RawResponse {
    let mut r = RawResponse::new(
        200,
        JSON_TYPE,
        body.map(|b| b.to_string()).unwrap_or_default(),
    );
    r.headers.push(("x-bce-request-id", request_id.to_string()));
    r
}

/// An error: its status and `{"code", "message", "requestId"}`.
pub fn error(request_id: &str, err: &BceError) -> RawResponse {
    let body = json!({"code": err.code, "message": err.message, "requestId": request_id});
    let mut r = RawResponse::new(err.status, JSON_TYPE, body.to_string());
    r.headers.push(("x-bce-request-id", request_id.to_string()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_code_message_and_request_id() {
        let r = error("rid-1", &BceError::new(404, "NoSuchObject", "gone"));
        assert_eq!(r.status, 404);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"code": "NoSuchObject", "message": "gone", "requestId": "rid-1"})
        );
        assert!(r
            .headers
            .contains(&("x-bce-request-id", "rid-1".to_string())));
    }
}
