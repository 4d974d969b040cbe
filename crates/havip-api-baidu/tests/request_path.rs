//! Every captured Baidu SDK request, replayed through the dialect's own request path (query
//! decoding, authorization parsing, key lookup, signature, validity window, routing,
//! parameter decoding) with the clock pinned to the request's own time: valid ones are
//! accepted and decode to the expected operation and parameters (the body-tampered one too:
//! bce-auth-v1 does not sign the body), tampered ones are refused with
//! `SignatureDoesNotMatch`; the same requests an hour later are `RequestExpired`, and under
//! a key of another cloud `InvalidAccessKeyId`.

use havip_api::form;
use havip_api_baidu::auth::{self, parse_bce_time, Clock};
use havip_api_baidu::params::{self, Request};
use havip_api_baidu::routing;
use havip_core::auth::KeyRing;
use havip_core::model::AccessKey;
use havip_core::types::{AccessKeyId, AccountId, Cloud, TargetKind};
use havip_testkit::fixtures::{self, Fixture};
use serde_json::Value;
use std::collections::HashMap;

/// Every baidu fixture; there must be at least 14.
fn all_fixtures() -> Vec<Fixture> {
    fixtures::load_at_least("baidu", 14)
}

fn keys_for(f: &Value, cloud: Cloud) -> KeyRing {
    let keys = KeyRing::default();
    let id = f["credentials"]["access_key_id"].as_str().unwrap();
    let secret = f["credentials"]["access_key_secret"].as_str().unwrap();
    keys.load(
        vec![AccessKey {
            id: AccessKeyId(id.into()),
            account: AccountId("acct".into()),
            secret: secret.into(),
            policy: None,
        }],
        &HashMap::from([(AccountId("acct".into()), cloud)]),
    );
    keys
}

fn pinned(f: &Value) -> Clock {
    let ts = f["signing"]["timestamp"].as_str().unwrap();
    Clock {
        now_ms: parse_bce_time(ts).expect("fixture timestamp parses"),
        skew_ms: 15 * 60_000,
    }
}

/// Checks that the decoded request carries the `expected` block's parameters.
fn matches_expected(req: &Request, exp: &Value) -> Result<(), String> {
    let body = &exp["body"];
    let s = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let ids = || -> Vec<String> {
        body["instanceIds"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let kind = || match body["instanceType"].as_str() {
        Some("ENI") => TargetKind::Eni,
        _ => TargetKind::Instance,
    };
    let ok = match req {
        Request::Create {
            subnet,
            ip,
            name,
            description,
        } => {
            subnet.as_str() == s("subnetId")
                && ip.map(|i| i.to_string()).unwrap_or_default() == s("privateIpAddress")
                && *name == s("name")
                && *description == s("description")
        }
        Request::List {
            vpc,
            marker,
            max_keys,
        } => {
            let q = &exp["query"];
            vpc.as_ref().map(|v| v.as_str()) == q["vpcId"].as_str()
                && marker.as_ref().map(|m| m.as_str()) == q["marker"].as_str()
                && max_keys.to_string() == q["maxKeys"].as_str().unwrap_or("1000")
        }
        Request::Update { name, description } => {
            *name == s("name") && description.as_deref() == body["description"].as_str()
        }
        Request::Attach { kind: k, ids: i } | Request::Detach { kind: k, ids: i } => {
            *k == kind() && *i == ids()
        }
        Request::BindPublicIp { address } => address.to_string() == s("publicIpAddress"),
        Request::Get | Request::Delete | Request::UnbindPublicIp => body.is_null(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("decoded {req:?}, expected {exp}"))
    }
}

#[test]
fn every_fixture_takes_the_expected_path() {
    let mut failures = Vec::new();
    let mut verified = 0;
    let mut refused = 0;
    for fx in all_fixtures() {
        let (name, f, req) = (&fx.name, &fx.json, &fx.raw);
        let query = form::parse(&req.query).unwrap();
        let outcome = auth::verify(req, &query, &keys_for(f, Cloud::Baidu), &pinned(f));
        match (f["expect"].as_str().unwrap(), outcome) {
            ("signature-valid", Ok(cred)) => {
                verified += 1;
                assert_eq!(cred.account, AccountId("acct".into()));
                let exp = &f["expected"];
                let route = match routing::route(&req.method, &req.path, &query) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{name}: routing refused it: {e:?}"));
                        continue;
                    }
                };
                if route.op.name() != exp["operation"].as_str().unwrap() {
                    failures.push(format!("{name}: routed to {:?}", route.op));
                    continue;
                }
                match params::decode(route.op, &query, &req.body) {
                    Ok(decoded) => {
                        if let Err(e) = matches_expected(&decoded, exp) {
                            failures.push(format!("{name}: {e}"));
                        }
                    }
                    Err(e) => failures.push(format!("{name}: parameters refused: {e:?}")),
                }
            }
            ("signature-mismatch", Err(e))
                if e.code == "SignatureDoesNotMatch" && e.status == 400 =>
            {
                refused += 1;
            }
            (expect, got) => failures.push(format!("{name}: expected {expect}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        verified >= 13 && refused >= 1,
        "verified {verified}, refused {refused}"
    );
}

#[test]
fn the_body_tampered_fixture_verifies_because_the_body_is_unsigned() {
    let fx = all_fixtures()
        .into_iter()
        .find(|fx| fx.name.ends_with("body-tampered-unsigned.json"))
        .expect("the body-tampered fixture exists");
    let (f, req) = (&fx.json, fx.raw.clone());
    let query = form::parse(&req.query).unwrap();
    assert!(auth::verify(&req, &query, &keys_for(f, Cloud::Baidu), &pinned(f)).is_ok());
    // A body of another length changes the signed content-length: refused.
    let mut longer = req.clone();
    longer.body = format!("{} ", f["request"]["body"].as_str().unwrap())
        .into_bytes()
        .into();
    for h in longer
        .headers
        .iter_mut()
        .filter(|(n, _)| n == "content-length")
    {
        h.1 = longer.body.len().to_string();
    }
    let e = auth::verify(&longer, &query, &keys_for(f, Cloud::Baidu), &pinned(f)).unwrap_err();
    assert_eq!(e.code, "SignatureDoesNotMatch");
}

#[test]
fn fixtures_outside_their_window_are_expired() {
    for fx in all_fixtures() {
        let (path, f, req) = (&fx.name, &fx.json, &fx.raw);
        if f["expect"] != "signature-valid" {
            continue;
        }
        let query = form::parse(&req.query).unwrap();
        let keys = keys_for(f, Cloud::Baidu);
        let at = pinned(f);
        let expiry = f["signing"]["expiration_seconds"].as_i64().unwrap() * 1000;
        // The last millisecond of the window still verifies; one more is expired.
        let edge = Clock {
            now_ms: at.now_ms + expiry,
            ..at
        };
        assert!(auth::verify(req, &query, &keys, &edge).is_ok(), "{path:?}");
        for now_ms in [at.now_ms + expiry + 1, at.now_ms - at.skew_ms - 1] {
            let e = auth::verify(req, &query, &keys, &Clock { now_ms, ..at }).unwrap_err();
            assert_eq!((e.status, e.code), (400, "RequestExpired"), "{path:?}");
        }
    }
}

#[test]
fn a_key_of_another_cloud_or_a_wrong_secret_is_refused() {
    let fx = &all_fixtures()[0];
    let (f, req) = (&fx.json, fx.raw.clone());
    let query = form::parse(&req.query).unwrap();
    let e = auth::verify(&req, &query, &keys_for(f, Cloud::Aliyun), &pinned(f)).unwrap_err();
    assert_eq!((e.status, e.code), (403, "InvalidAccessKeyId"));
    let mut other = f.clone();
    other["credentials"]["access_key_secret"] = Value::String("not-the-secret".into());
    let e = auth::verify(&req, &query, &keys_for(&other, Cloud::Baidu), &pinned(f)).unwrap_err();
    assert_eq!((e.status, e.code), (400, "SignatureDoesNotMatch"));
}

#[test]
fn malformed_authorization_is_refused_before_any_lookup() {
    let fx = &all_fixtures()[0];
    let f = &fx.json;
    let keys = keys_for(f, Cloud::Baidu);
    for bad in [
        None,
        Some("bce-auth-v1/testAK"),
        Some("bce-auth-v1/testAK/2026-11-22 17:26:56/1800//00"),
        Some("bce-auth-v1/testAK/2026-11-22T17:26:56Z/1800/x-bce-date/00"),
    ] {
        let mut req = fx.raw.clone();
        req.headers.retain(|(n, _)| n != "authorization");
        if let Some(v) = bad {
            req.headers.push(("authorization".into(), v.into()));
        }
        let query = form::parse(&req.query).unwrap();
        let e = auth::verify(&req, &query, &keys, &pinned(f)).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (400, "InvalidHTTPAuthHeader"),
            "{bad:?}"
        );
    }
}
