//! Response bodies: `{"Response": {...fields, "RequestId"}}` for a success and
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}` for an error, both HTTP 200
//! with a Content-Type of exactly `application/json`: the Python SDK inspects
//! `Response.Error` only for that exact value (with `; charset=utf-8` it would take an error
//! for a success), and turns any other status into a code-less `ServerNetworkError`.

use crate::error::TcError;
use havip_api::RawResponse;
use serde_json::{json, Map, Value};

/// The one Content-Type every answer carries.
pub const CONTENT_TYPE: &str = "application/json";

/// A success: `fields` plus `RequestId`.
pub fn success(request_id: &str, mut fields: Map<String, Value>) -> RawResponse {
    fields.insert("RequestId".into(), Value::String(request_id.to_string()));
    let body = json!({ "Response": Value::Object(fields) });
    RawResponse::new(200, CONTENT_TYPE, body.to_string())
}

/// An error with its code, message and the request ID.
pub fn error(request_id: &str, err: &TcError) -> RawResponse {
    let body = json!({"Response": {
        "Error": {"Code": err.code, "Message": err.message},
        "RequestId": request_id,
    }});
    RawResponse::new(200, CONTENT_TYPE, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_should_be_http_200_with_exact_json_content_type() {
        let r = error("r-1", &TcError::new("ResourceNotFound", "gone"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.headers,
            vec![("content-type", "application/json".to_string())]
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"Response": {"Error": {"Code": "ResourceNotFound", "Message": "gone"}, "RequestId": "r-1"}})
        );
    }
}
