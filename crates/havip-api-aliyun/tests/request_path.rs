//! Every captured Alibaba SDK request, replayed through the dialect's own request path
//! (decoding, generation choice, signature, clock, nonce, key lookup) with the clock pinned
//! to the request's time: valid ones are accepted with the expected action and parameters,
//! tampered ones are refused with `SignatureDoesNotMatch`, and a replay of a valid one is
//! refused with `SignatureNonceUsed`.

use havip_api_aliyun::auth::{self, Clock};
use havip_api_aliyun::params::PROTOCOL;
use havip_core::auth::{KeyRing, NonceCache};
use havip_core::model::AccessKey;
use havip_core::types::{AccessKeyId, AccountId, Cloud};
use havip_testkit::fixtures::{self, Fixture};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Every alibaba fixture; there must be at least 20.
fn all_fixtures() -> Vec<Fixture> {
    fixtures::load_at_least("alibaba", 20)
}

fn pinned_ms(f: &Value) -> i64 {
    let s = &f["signing"];
    let stamp = s["x-acs-date"]
        .as_str()
        .or_else(|| s["Timestamp"].as_str())
        .unwrap();
    havip_api::time::parse_rfc3339_ms(stamp).unwrap()
}

#[test]
fn every_fixture_takes_the_expected_path() {
    let mut failures = Vec::new();
    for fx in all_fixtures() {
        let (name, f) = (&fx.name, &fx.json);
        let keys = KeyRing::default();
        let key = f["credentials"]["access_key_id"].as_str().unwrap();
        let secret = f["credentials"]["access_key_secret"].as_str().unwrap();
        keys.load(
            vec![AccessKey {
                id: AccessKeyId(key.into()),
                account: AccountId("acct".into()),
                secret: secret.into(),
                policy: None,
            }],
            &HashMap::from([(AccountId("acct".into()), Cloud::Aliyun)]),
        );
        let nonces = NonceCache::default();
        let clock = Clock {
            now_ms: pinned_ms(f),
            skew_ms: 15 * 60_000,
            nonces: &nonces,
        };
        let req = fx.raw.clone();
        let (q, b) = auth::gather(&req).unwrap();
        let outcome = auth::verify(&req, q.clone(), b.clone(), &keys, &clock);
        match (f["expect"].as_str().unwrap(), outcome) {
            ("signature-valid", Ok(v)) => {
                let exp = &f["expected"];
                if v.action != exp["action"] || v.version != exp["version"] {
                    failures.push(format!("{name}: routed to {}/{}", v.action, v.version));
                }
                let want: BTreeMap<String, String> = exp["params"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
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
                    other => {
                        failures.push(format!("{name}: replay gave {:?}", other.map(|v| v.action)))
                    }
                }
            }
            ("signature-mismatch", Err(e))
                if e.code == "SignatureDoesNotMatch" && e.status == 400 =>
            {
                if !e.message.contains("server string to sign is:") {
                    failures.push(format!("{name}: message {:?}", e.message));
                }
            }
            (expect, got) => failures.push(format!(
                "{name}: expected {expect}, got {:?}",
                got.map(|v| v.action)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_request_outside_the_clock_window_is_expired_and_an_unknown_key_is_not_found() {
    let fx = fixtures::find(all_fixtures(), "alibabacloud-vpc20160428/CreateHaVip.json");
    let (f, req) = (&fx.json, fx.raw.clone());
    let keys = KeyRing::default();
    keys.load(
        vec![AccessKey {
            id: AccessKeyId("testAK".into()),
            account: AccountId("a".into()),
            secret: "testSecret".into(),
            policy: None,
        }],
        &HashMap::from([(AccountId("a".into()), Cloud::Aliyun)]),
    );
    let nonces = NonceCache::default();
    let late = Clock {
        now_ms: pinned_ms(f) + 16 * 60_000,
        skew_ms: 15 * 60_000,
        nonces: &nonces,
    };
    let (q, b) = auth::gather(&req).unwrap();
    assert_eq!(
        auth::verify(&req, q.clone(), b.clone(), &keys, &late)
            .unwrap_err()
            .code,
        "InvalidTimeStamp.Expired"
    );
    let empty = KeyRing::default();
    let on_time = Clock {
        now_ms: pinned_ms(f),
        skew_ms: 15 * 60_000,
        nonces: &nonces,
    };
    let e = auth::verify(&req, q, b, &empty, &on_time).unwrap_err();
    assert_eq!(
        (e.status, e.code.as_ref()),
        (404, "InvalidAccessKeyId.NotFound")
    );
}
