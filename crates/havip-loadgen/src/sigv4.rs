//! AWS Signature Version 4 for the EC2 query API (POST, form body), as botocore sends it.
//! Used to drive moto, the baseline: moto routes a request to a service by the credential
//! scope of its `Authorization` header, so the signature is also what makes it an EC2 call.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The EC2 API version botocore speaks.
pub const EC2_VERSION: &str = "2016-11-15";

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// An AWS signer for one service and region.
#[derive(Clone, Debug)]
pub struct AwsSigner {
    /// Access key ID.
    pub key_id: String,
    /// Secret access key.
    pub secret: String,
    /// Region (`us-east-1`).
    pub region: String,
    /// Service (`ec2`).
    pub service: String,
    /// `host[:port]`.
    pub host: String,
}

impl AwsSigner {
    /// A signed EC2 query request: `Action`, `Version` and `params` in a form body.
    pub fn ec2(&self, action: &str, params: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
        let mut pairs: Vec<(String, String)> = vec![
            ("Action".into(), action.into()),
            ("Version".into(), EC2_VERSION.into()),
        ];
        pairs.extend(
            params
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        );
        let body = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, RFC3986),
                    utf8_percent_encode(v, RFC3986)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let now = chrono::Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let auth = self.authorization(&amz_date, body.as_bytes());
        http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", &self.host)
            .header("content-type", FORM)
            .header("x-amz-date", amz_date)
            .header("authorization", auth)
            .body(Full::new(Bytes::from(body)))
            .expect("a request built from valid parts")
    }

    /// The `Authorization` header value for a POST to `/` with no query and headers
    /// `content-type`, `host`, `x-amz-date`.
    pub fn authorization(&self, amz_date: &str, body: &[u8]) -> String {
        let date = &amz_date[..8];
        let signed = "content-type;host;x-amz-date";
        let canonical = format!(
            "POST\n/\n\ncontent-type:{FORM}\nhost:{}\nx-amz-date:{amz_date}\n\n{signed}\n{}",
            self.host,
            hex::encode(Sha256::digest(body))
        );
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let k_date = hmac(format!("AWS4{}", self.secret).as_bytes(), date);
        let k_region = hmac(&k_date, &self.region);
        let k_service = hmac(&k_region, &self.service);
        let k_signing = hmac(&k_service, "aws4_request");
        let signature = hex::encode(hmac(&k_signing, &sts));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.key_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing-key derivation of AWS's published example ("Examples of how to derive a
    /// signing key for Signature Version 4"): secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
    /// 20120215, us-east-1, iam.
    #[test]
    fn signing_key_should_match_the_published_example() {
        let k_date = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215");
        let k_region = hmac(&k_date, "us-east-1");
        let k_service = hmac(&k_region, "iam");
        let k_signing = hmac(&k_service, "aws4_request");
        assert_eq!(
            hex::encode(k_signing),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
