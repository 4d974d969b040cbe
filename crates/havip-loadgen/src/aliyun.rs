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
pub fn timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn encode_pairs(pairs: &[(String, String)]) -> String {
    let mut out = String::with_capacity(pairs.len() * 24);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&sig::pct_encode(k));
        out.push('=');
        out.push_str(&sig::pct_encode(v));
    }
    out
}

impl Signer {
    /// A signed request for `action` with business parameters `params`.
    pub fn request(&self, action: &str, params: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
        match self.version {
            SigVersion::V3 => self.v3(action, params),
            SigVersion::V2 => self.v2(action, params),
        }
    }

    fn v3(&self, action: &str, params: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
        let query: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let date = timestamp();
        let nonce = fresh_nonce();
        let headers: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-acs-action".into(), action.to_string()),
            (
                "x-acs-content-sha256".into(),
                sig::EMPTY_PAYLOAD_SHA256.into(),
            ),
            ("x-acs-date".into(), date),
            ("x-acs-signature-nonce".into(), nonce),
            ("x-acs-version".into(), VERSION.into()),
        ];
        let signed: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
        let canonical = sig::acs3_canonical_request(
            "POST",
            "/",
            &query,
            &headers,
            &signed,
            sig::EMPTY_PAYLOAD_SHA256,
        );
        let signature = sig::acs3_sign(&self.secret, &sig::acs3_string_to_sign(&canonical));
        let auth = format!(
            "{} Credential={},SignedHeaders={},Signature={signature}",
            sig::ACS3_ALGORITHM,
            self.key_id,
            signed.join(";")
        );
        let mut b = http::Request::builder()
            .method("POST")
            .uri(format!("/?{}", encode_pairs(&query)));
        for (n, v) in headers {
            b = b.header(n, v);
        }
        b.header("authorization", auth)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .expect("a request built from valid parts")
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
            .uri(format!("/?{}", encode_pairs(&all)))
            .header("host", &self.host)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .expect("a request built from valid parts")
    }
}
