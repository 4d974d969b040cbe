//! The captured SDK requests in `shared/fixtures/wire/<cloud>/<sdk>/*.json`.
//!
//! `shared/` sits beside the repository. A missing fixture directory, an empty one, or a file
//! that is unreadable, not JSON or without a well-formed `request` block fails the test with
//! the file's name: these tests are never skipped.

use crate::json::{pairs_field, str_field, Pairs};
use havip_api::RawRequest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

/// One fixture file, parsed.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The path below the cloud's directory, e.g. `alibabacloud-vpc20160428/CreateHaVip.json`:
    /// what failure messages name.
    pub name: String,
    /// The full path of the file.
    pub path: PathBuf,
    /// The whole file.
    pub json: Value,
    /// `request.method/path/query_string/headers/body` as the listener would hand them over
    /// (header names lower-cased).
    pub raw: RawRequest,
}

impl Fixture {
    /// The recorded body as text (fixtures record it as a JSON string).
    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.raw.body).expect("the body was recorded as a string")
    }
}

/// `shared/fixtures/wire/<cloud>` (`alibaba`, `tencent` or `baidu`).
pub fn dir(cloud: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/wire")
        .join(cloud)
}

/// Every `*.json` below `dir`, recursively.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read fixture directory {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
}

/// The recorded request of a fixture file.
fn raw_request(json: &Value) -> Result<RawRequest, String> {
    let req = json.get("request").ok_or("no request block")?;
    Ok(crate::request(
        str_field(req, &["method"])?,
        str_field(req, &["path"])?,
        str_field(req, &["query_string"])?,
        pairs_field(req, "headers")?,
        str_field(req, &["body"])?.to_owned(),
    ))
}

/// Every fixture of `cloud`, sorted by name; panics, naming every bad file, when the
/// directory is missing or empty or a file cannot be loaded.
pub fn load(cloud: &str) -> Vec<Fixture> {
    let dir = dir(cloud);
    assert!(
        dir.is_dir(),
        "fixture directory {} is missing: the wire fixtures live in shared/ next to the repo \
         (shared/fixtures/wire); this test must not be skipped",
        dir.display()
    );
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.json fixtures under {}",
        dir.display()
    );
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let loaded = std::fs::read_to_string(&path)
            .map_err(|e| format!("unreadable: {e}"))
            .and_then(|text| {
                serde_json::from_str::<Value>(&text).map_err(|e| format!("invalid JSON: {e}"))
            })
            .and_then(|json| Ok((raw_request(&json)?, json)));
        match loaded {
            Ok((raw, json)) => out.push(Fixture {
                name,
                path,
                json,
                raw,
            }),
            Err(e) => failures.push(format!("{cloud}/{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} {cloud} fixtures could not be loaded:\n{}",
        failures.len(),
        failures.join("\n")
    );
    out
}

/// [`load`], and asserts that there are at least `min` fixtures (so a half-copied directory
/// fails too).
pub fn load_at_least(cloud: &str, min: usize) -> Vec<Fixture> {
    let out = load(cloud);
    assert!(
        out.len() >= min,
        "expected at least {min} {cloud} fixtures, found {}",
        out.len()
    );
    out
}

/// The fixture among `fixtures` whose path ends with `suffix` (whole components, e.g.
/// `tencentcloud-sdk-python-vpc/CreateHaVip.json`); panics when there is none.
pub fn find(fixtures: Vec<Fixture>, suffix: &str) -> Fixture {
    fixtures
        .into_iter()
        .find(|fx| fx.path.ends_with(suffix))
        .unwrap_or_else(|| panic!("no fixture {suffix}"))
}

/// Runs `check` on every fixture of `cloud` and panics with every failure, each under its
/// file name, if any failed; then panics unless every outcome in `must_see` occurred (so the
/// fixtures still exercise every case). `label` names the cloud in the summary.
pub fn check_each<K: Ord + Debug>(
    cloud: &str,
    label: &str,
    must_see: &[K],
    mut check: impl FnMut(&Fixture) -> Result<K, String>,
) {
    let fixtures = load(cloud);
    let mut failures = Vec::new();
    let mut seen = BTreeMap::new();
    for fx in &fixtures {
        match check(fx) {
            Ok(kind) => {
                eprintln!("ok   {cloud}/{}: {kind:?}", fx.name);
                *seen.entry(kind).or_insert(0) += 1;
            }
            Err(e) => failures.push(format!("{cloud}/{}: {e}", fx.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {label} fixtures failed:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    for kind in must_see {
        assert!(seen.contains_key(kind), "no fixture exercised {kind:?}");
    }
}

/// What every signature replay reads first from a fixture: the secret, the verdict it
/// expects, the decoded query and the reference verifier's `signing` block.
#[derive(Debug)]
pub struct SignatureCase<'a> {
    /// `credentials.access_key_secret`.
    pub secret: &'a str,
    /// `expect`, as written: `signature-valid` or `signature-mismatch`.
    pub expect: &'a str,
    /// Whether `expect` is `signature-valid`.
    pub want_valid: bool,
    /// `request.query_string` decoded with [`crate::form::decode`]; for a valid fixture it
    /// has been checked against the capture's own decoding, `request.query`.
    pub query: Pairs,
    /// The `signing` block.
    pub signing: &'a Value,
}

impl<'a> SignatureCase<'a> {
    /// Reads and checks the common parts of `fx`; Err names what is missing or wrong.
    pub fn new(fx: &'a Fixture) -> Result<Self, String> {
        let req = fx.json.get("request").ok_or("no request block")?;
        let secret = str_field(&fx.json, &["credentials", "access_key_secret"])?;
        let expect = str_field(&fx.json, &["expect"])?;
        crate::ensure!(
            expect == "signature-valid" || expect == "signature-mismatch",
            "unknown expect {expect:?}"
        );
        let want_valid = expect == "signature-valid";
        let query = crate::form::decode(&fx.raw.query)?;
        // The `.tampered` copies change `query_string` (and `raw_path`) but keep the
        // pre-tampering `request.query`, so the cross-check only holds for untouched captures.
        crate::ensure!(
            !want_valid || query == pairs_field(req, "query")?,
            "own query decoding differs from request.query: {query:?}"
        );
        let signing = fx.json.get("signing").ok_or("no signing block")?;
        Ok(SignatureCase {
            secret,
            expect,
            want_valid,
            query,
            signing,
        })
    }

    /// Whether our verdict (`verified`) is the one the fixture expects; Err says both.
    pub fn check_verdict(&self, verified: bool) -> Result<(), String> {
        crate::ensure!(
            verified == self.want_valid,
            "signature {} but the fixture expects {}",
            if verified { "verified" } else { "was rejected" },
            self.expect
        );
        Ok(())
    }

    /// The string the reference verifier recorded as `signing.<key>`, if any.
    pub fn recorded(&self, key: &str) -> Option<&'a str> {
        self.signing.get(key).and_then(Value::as_str)
    }

    /// Compares a canonical string of ours with `signing.<key>`, if recorded: equal for a
    /// valid fixture; different for a tampered one, whose recorded strings describe the
    /// request before tampering.
    pub fn check_recorded(&self, key: &str, ours: &str) -> Result<(), String> {
        match self.recorded(key) {
            Some(theirs) if self.want_valid => crate::ensure!(
                ours == theirs,
                "{key} differs:\n ours: {ours:?}\n file: {theirs:?}"
            ),
            Some(theirs) => crate::ensure!(
                ours != theirs,
                "{key} of a tampered request equals the untampered one"
            ),
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_request_should_lower_case_header_names_and_keep_order() {
        let raw = raw_request(&json!({"request": {
            "method": "POST", "path": "/", "query_string": "a=1",
            "headers": [["Host", "h"], ["X-A", "2"], ["x-a", "1"]], "body": "{}"
        }}))
        .expect("well-formed");
        assert_eq!((raw.method.as_str(), raw.query.as_str()), ("POST", "a=1"));
        assert_eq!(raw.header("x-a"), Some("2"));
        assert_eq!(raw.headers[0], ("host".to_owned(), "h".to_owned()));
        assert_eq!(&raw.body[..], b"{}");
        assert!(raw_request(&json!({"expect": "signature-valid"})).is_err());
    }

    fn fixture(expect: &str, query_string: &str, query: Value) -> Fixture {
        let json = json!({
            "expect": expect,
            "credentials": {"access_key_secret": "s"},
            "request": {
                "method": "GET", "path": "/", "query_string": query_string, "query": query,
                "headers": [], "body": ""
            },
            "signing": {"k": "x"}
        });
        Fixture {
            name: "t.json".to_owned(),
            path: PathBuf::from("t.json"),
            raw: raw_request(&json).expect("well-formed"),
            json,
        }
    }

    #[test]
    fn check_recorded_should_want_equal_strings_only_for_valid_fixtures() {
        let valid = fixture("signature-valid", "a=1", json!([["a", "1"]]));
        let case = SignatureCase::new(&valid).expect("valid case");
        assert_eq!((case.secret, case.want_valid), ("s", true));
        assert!(case.check_verdict(true).is_ok());
        assert_eq!(
            case.check_verdict(false),
            Err("signature was rejected but the fixture expects signature-valid".to_owned())
        );
        assert!(case.check_recorded("k", "x").is_ok());
        assert!(case.check_recorded("k", "y").is_err());
        assert!(case.check_recorded("absent", "y").is_ok());
        let tampered = fixture("signature-mismatch", "a=2", json!([["a", "1"]]));
        let case = SignatureCase::new(&tampered).expect("tampered case");
        assert!(case.check_recorded("k", "y").is_ok());
        assert!(case.check_recorded("k", "x").is_err());
    }

    #[test]
    fn signature_case_should_refuse_unknown_expectations_and_bad_query_decoding() {
        assert!(SignatureCase::new(&fixture("maybe", "", json!([]))).is_err());
        let err = SignatureCase::new(&fixture("signature-valid", "a=2", json!([["a", "1"]])))
            .expect_err("decoding differs");
        assert!(err.starts_with("own query decoding differs"), "{err}");
    }

    #[test]
    #[should_panic(expected = "is missing")]
    fn load_should_fail_when_the_directory_is_missing() {
        load("no-such-cloud");
    }

    #[test]
    #[should_panic(expected = "alibaba/aliyun-python-sdk-vpc/DeleteHaVip.json: boom")]
    fn check_each_should_name_every_failing_file() {
        check_each("alibaba", "Alibaba", &[], |fx| {
            if fx.name.ends_with("DeleteHaVip.json") {
                Err("boom".to_owned())
            } else {
                Ok(())
            }
        });
    }

    #[test]
    #[should_panic(expected = "no fixture exercised")]
    fn check_each_should_fail_when_a_case_is_not_exercised() {
        check_each("alibaba", "Alibaba", &[false], |_| Ok(true));
    }
}
