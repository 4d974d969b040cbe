//! Response bodies: JSON (the SDKs' default) and XML (`Format=XML`), success and error.
//!
//! XML follows the JSON shape: the root is `<{Action}Response>` (errors: `<Error>`), an object
//! becomes child elements, and a list under key K becomes repeated `<K>` elements, so the
//! wrapped lists (`HaVips.HaVip`) come out as `<HaVips><HaVip>…</HaVip></HaVips>`.

use crate::error::AliError;
use havip_api::RawResponse;
use serde_json::{json, Map, Value};

/// Response format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// XML.
    Xml,
}

const JSON_TYPE: &str = "application/json;charset=utf-8";
const XML_TYPE: &str = "text/xml;charset=utf-8";

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn element(name: &str, v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            for it in items {
                element(name, it, out);
            }
        }
        Value::Object(m) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            children(m, out);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Value::String(s) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            escape(s, out);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        other => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            out.push_str(&other.to_string());
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn children(m: &Map<String, Value>, out: &mut String) {
    for (k, v) in m {
        element(k, v, out);
    }
}

fn xml(root: &str, body: &Map<String, Value>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.push('<');
    out.push_str(root);
    out.push('>');
    children(body, &mut out);
    out.push_str("</");
    out.push_str(root);
    out.push('>');
    out
}

fn respond(
    status: u16,
    format: Format,
    root: &str,
    body: Map<String, Value>,
    request_id: &str,
) -> RawResponse {
    let mut r = match format {
        // Straight into bytes: `to_string` goes through `fmt::Display`, a `write_str` call
        // per token.
        Format::Json => RawResponse::new(
            status,
            JSON_TYPE,
            serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
        ),
        Format::Xml => RawResponse::new(status, XML_TYPE, xml(root, &body)),
    };
    r.headers.push(("x-acs-request-id", request_id.to_string()));
    r
}

/// A success: `fields` plus `RequestId`.
pub fn success(format: Format, action: &str, request_id: &str, fields: Value) -> RawResponse {
    let mut body = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    body.insert("RequestId".into(), Value::String(request_id.to_string()));
    respond(200, format, &format!("{action}Response"), body, request_id)
}

/// An error with `RequestId`, `HostId`, `Code`, `Message`, `Recommend`.
pub fn error(format: Format, host_id: &str, request_id: &str, err: &AliError) -> RawResponse {
    let body = json!({
        "RequestId": request_id,
        "HostId": host_id,
        "Code": err.code,
        "Message": err.message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Vpc", err.code),
    });
    let Value::Object(mut m) = body else {
        unreachable!("json! object")
    };
    if let Some(d) = &err.detail {
        m.insert("AccessDeniedDetail".into(), d.clone());
    }
    respond(err.status, format, "Error", m, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_repeats_list_members_and_escapes_text() {
        let r = success(
            Format::Xml,
            "DescribeHaVips",
            "R1",
            json!({"HaVips": {"HaVip": [{"HaVipId": "a"}, {"HaVipId": "b<&>"}]}, "TotalCount": 2}),
        );
        let body = String::from_utf8(r.body.to_vec()).unwrap();
        assert!(body.contains("<DescribeHaVipsResponse><HaVips><HaVip><HaVipId>a</HaVipId></HaVip><HaVip><HaVipId>b&lt;&amp;&gt;</HaVipId></HaVip></HaVips><RequestId>R1</RequestId><TotalCount>2</TotalCount></DescribeHaVipsResponse>"), "{body}");
    }
}
