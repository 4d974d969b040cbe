//! Every captured Alibaba SDK request, replayed through the dialect's own request path
//! (decoding, generation choice, signature, clock, nonce, key lookup) with the clock pinned
//! to the request's time: valid ones are accepted with the expected action and parameters,
//! tampered ones are refused with `SignatureDoesNotMatch`, and a replay of a valid one is
//! refused with `SignatureNonceUsed`.

use bytes::Bytes;
use havip_api::RawRequest;
use havip_api_aliyun::auth::{self, Clock};
use havip_api_aliyun::params::PROTOCOL;
use havip_core::auth::{KeyRing, NonceCache};
use havip_core::model::AccessKey;
use havip_core::types::{AccessKeyId, AccountId, Cloud};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/wire/alibaba");
    assert!(dir.is_dir(), "fixture directory {} is missing: shared/ must sit beside the repository", dir.display());
    let mut out = Vec::new();
    for sdk in std::fs::read_dir(&dir).unwrap() {
        for f in std::fs::read_dir(sdk.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().and_then(|e| e.to_str()) == Some("json") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 20, "expected the 21 Alibaba fixtures, found {}", out.len());
    out
}

fn raw(req: &Value) -> RawRequest {
    let headers: Vec<(String, String)> = req["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().to_ascii_lowercase(), h[1].as_str().unwrap().to_string()))
        .collect();
    RawRequest {
        method: req["method"].as_str().unwrap().to_string(),
        path: req["path"].as_str().unwrap().to_string(),
        query: req["query_string"].as_str().unwrap().to_string(),
        headers,
        body: Bytes::from(req["body"].as_str().unwrap().to_string()),
        body_too_large: false,
        bad_header: false,
    }
}

fn pinned_ms(f: &Value) -> i64 {
    let s = &f["signing"];
    let stamp = s["x-acs-date"].as_str().or_else(|| s["Timestamp"].as_str()).unwrap();
    chrono::DateTime::parse_from_rfc3339(stamp).unwrap().timestamp_millis()
}

#[test]
fn every_fixture_takes_the_expected_path() {
    let mut failures = Vec::new();
    for path in fixtures() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let f: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let keys = KeyRing::default();
        let key = f["credentials"]["access_key_id"].as_str().unwrap();
        let secret = f["credentials"]["access_key_secret"].as_str().unwrap();
        keys.load(
            vec![AccessKey { id: AccessKeyId(key.into()), account: AccountId("acct".into()), secret: secret.into() }],
            &HashMap::from([(AccountId("acct".into()), Cloud::Aliyun)]),
        );
        let nonces = NonceCache::default();
        let clock = Clock { now_ms: pinned_ms(&f), skew_ms: 15 * 60_000, nonces: &nonces };
        let req = raw(&f["request"]);
        let (q, b) = auth::gather(&req).unwrap();
        let outcome = auth::verify(&req, q.clone(), b.clone(), &keys, &clock);
        match (f["expect"].as_str().unwrap(), outcome) {
            ("signature-valid", Ok(v)) => {
                let exp = &f["expected"];
                if v.action != exp["action"] || v.version != exp["version"] {
                    failures.push(format!("{name}: routed to {}/{}", v.action, v.version));
                }
                let want: BTreeMap<String, String> =
                    exp["params"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
                let got: BTreeMap<String, String> = q
                    .iter()
                    .chain(b.iter())
                    .filter(|(k, _)| !PROTOCOL.contains(&k.as_str()))
                    .cloned()
                    .collect();
                if want != got {
                    failures.push(format!("{name}: params {got:?} != {want:?}"));
                }
                // The same request again is a replay.
                match auth::verify(&req, q, b, &keys, &clock) {
                    Err(e) if e.code == "SignatureNonceUsed" => {}
                    other => failures.push(format!("{name}: replay gave {:?}", other.map(|v| v.action))),
                }
            }
            ("signature-mismatch", Err(e)) if e.code == "SignatureDoesNotMatch" && e.status == 400 => {
                if !e.message.contains("server string to sign is:") {
                    failures.push(format!("{name}: message {:?}", e.message));
                }
            }
            (expect, got) => failures.push(format!("{name}: expected {expect}, got {:?}", got.map(|v| v.action))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_request_outside_the_clock_window_is_expired_and_an_unknown_key_is_not_found() {
    let path = fixtures().into_iter().find(|p| p.ends_with("alibabacloud-vpc20160428/CreateHaVip.json")).unwrap();
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let req = raw(&f["request"]);
    let keys = KeyRing::default();
    keys.load(
        vec![AccessKey { id: AccessKeyId("testAK".into()), account: AccountId("a".into()), secret: "testSecret".into() }],
        &HashMap::from([(AccountId("a".into()), Cloud::Aliyun)]),
    );
    let nonces = NonceCache::default();
    let late = Clock { now_ms: pinned_ms(&f) + 16 * 60_000, skew_ms: 15 * 60_000, nonces: &nonces };
    let (q, b) = auth::gather(&req).unwrap();
    assert_eq!(auth::verify(&req, q.clone(), b.clone(), &keys, &late).unwrap_err().code, "InvalidTimeStamp.Expired");
    let empty = KeyRing::default();
    let on_time = Clock { now_ms: pinned_ms(&f), skew_ms: 15 * 60_000, nonces: &nonces };
    let e = auth::verify(&req, q, b, &empty, &on_time).unwrap_err();
    assert_eq!((e.status, e.code.as_ref()), (404, "InvalidAccessKeyId.NotFound"));
}
