//! Signed Alibaba Cloud VPC (2016-04-28) requests, as the official SDKs send them.
//!
//! V3 (`ACS3-HMAC-SHA256`, the Tea SDK default): RPC parameters in the query string, action
//! and version in `x-acs-action` / `x-acs-version`, an empty body whose SHA-256 goes in
//! `x-acs-content-sha256`, and a fresh `x-acs-date` and `x-acs-signature-nonce` per request.
//! V2 (HMAC-SHA1, `aliyun-python-sdk-core`): every parameter, the protocol ones included,
//! in the query string of a GET, with a fresh `Timestamp` and `SignatureNonce`.
//!
//! The signature math is the dialect's own pure module, so what the generator signs is what
//! the server verifies, byte for byte.

use bytes::Bytes;
use havip_api_aliyun::signature as sig;
use havip_api_aliyun::signature::pct_encode_into;
use http_body_util::Full;
use std::sync::atomic::{AtomicU64, Ordering};

/// The API version.
pub const VERSION: &str = "2016-04-28";

/// Which request generation to sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigVersion {
    /// `ACS3-HMAC-SHA256`.
    V3,
    /// HMAC-SHA1 RPC signature.
    V2,
}

impl std::str::FromStr for SigVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "v3" | "V3" => Ok(SigVersion::V3),
            "v2" | "V2" => Ok(SigVersion::V2),
            _ => Err(format!("{s:?}: expected v3 or v2")),
        }
    }
}

/// Credentials and endpoint of a signer.
#[derive(Clone, Debug)]
pub struct Signer {
    /// AccessKeyId.
    pub key_id: String,
    /// AccessKeySecret.
    pub secret: String,
    /// `host[:port]` as the `Host` header carries it.
    pub host: String,
    /// Generation.
    pub version: SigVersion,
}

static NONCE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A nonce unique for this process run: a random prefix drawn once, then a counter.
pub fn fresh_nonce() -> String {
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let p = PREFIX.get_or_init(rand::random::<u64>);
    format!(
        "{p:016x}-{:012x}",
        NONCE_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The current UTC time as the SDKs format it (`2024-01-01T00:00:00Z`).
///
/// Read from the clock on every call; the text is formatted once per second per thread
/// (every request of one second carries the same text anyway).
pub fn timestamp() -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    let secs = now.timestamp();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            *last = (secs, now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        last.1.clone()
    })
}

fn encode_pairs<K: AsRef<str>, V: AsRef<str>>(out: &mut String, pairs: &[(K, V)]) {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        pct_encode_into(out, k.as_ref());
        out.push('=');
        pct_encode_into(out, v.as_ref());
    }
}

/// `/?` and the encoded pairs, as a request target.
fn target<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut uri = String::with_capacity(2 + pairs.len() * 32);
    uri.push_str("/?");
    encode_pairs(&mut uri, pairs);
    uri
}

/// The headers a V3 request signs, in the order they are signed (sorted).
const V3_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
];

/// [`V3_SIGNED`] as the `SignedHeaders` field of `Authorization`.
const V3_SIGNED_FIELD: &str =
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";

impl Signer {
    /// A signed request for `action` with business parameters `params`.
    pub fn request(&self, action: &str, params: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
        match self.version {
            SigVersion::V3 => self.v3(action, params),
            SigVersion::V2 => self.v2(action, params),
        }
    }

    fn v3(&self, action: &str, params: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
        use http::header::{HeaderName, HeaderValue};
        let date = timestamp();
        let nonce = fresh_nonce();
        let values: [&str; 6] = [
            &self.host,
            action,
            sig::EMPTY_PAYLOAD_SHA256,
            &date,
            &nonce,
            VERSION,
        ];
        let headers: [(&str, &str); 6] = std::array::from_fn(|i| (V3_SIGNED[i], values[i]));
        let canonical = sig::acs3_canonical_request(
            "POST",
            "/",
            params,
            &headers,
            &V3_SIGNED,
            sig::EMPTY_PAYLOAD_SHA256,
        );
        let signature = sig::acs3_signature(&self.secret, &canonical);
        let mut auth = String::with_capacity(200 + self.key_id.len());
        auth.push_str(sig::ACS3_ALGORITHM);
        auth.push_str(" Credential=");
        auth.push_str(&self.key_id);
        auth.push_str(",SignedHeaders=");
        auth.push_str(V3_SIGNED_FIELD);
        auth.push_str(",Signature=");
        auth.extend(signature.iter().map(|&b| char::from(b)));
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(target(params))
            .body(Full::new(Bytes::new()))
            .expect("a request built from valid parts");
        let h = req.headers_mut();
        h.reserve(9);
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).expect("header values the signer made");
            h.insert(HeaderName::from_static(name), value);
        }
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&auth).expect("an ASCII Authorization value"),
        );
        h.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        req
    }

    fn v2(&self, action: &str, params: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
        let mut all: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        for (k, v) in [
            ("Action", action.to_string()),
            ("Version", VERSION.to_string()),
            ("AccessKeyId", self.key_id.clone()),
            ("Format", "JSON".to_string()),
            ("SignatureMethod", "HMAC-SHA1".to_string()),
            ("SignatureVersion", "1.0".to_string()),
            ("SignatureNonce", fresh_nonce()),
            ("Timestamp", timestamp()),
        ] {
            all.push((k.to_string(), v));
        }
        let sts = sig::rpc_v2_string_to_sign("GET", &all);
        all.push(("Signature".into(), sig::rpc_v2_sign(&self.secret, &sts)));
        http::Request::builder()
            .method("GET")
            .uri(target(&all))
            .header("host", &self.host)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .expect("a request built from valid parts")
    }
}
