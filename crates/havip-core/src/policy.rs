//! Per-key permissions: a small allow-list policy an access key may carry, and the pure check
//! every dialect runs after authentication.
//!
//! A policy names the actions a key may call and the resources it may touch, each a list of
//! patterns in the cloud's own vocabulary (Alibaba RAM `vpc:CreateHaVip` on
//! `acs:vpc:cn-hangzhou:1234:havip/havip-x`, Tencent CAM `vpc:CreateHaVip` on
//! `qcs::vpc:ap-guangzhou:uin/1234:havip/havip-x`, Baidu `bce:havip:CreateHaVip` on
//! `bce:vpc:bj:1234:havip/havip-x`); the core never interprets the vocabulary, it only
//! matches. A request is allowed when some action pattern matches its action **and** some
//! resource pattern matches its resource. A key without a policy has full access.
//!
//! Patterns: `*` matches any run of characters (also none, also `:` and `/`), every other
//! character matches itself. Actions compare ASCII case-insensitively (RAM and CAM treat action
//! names that way); resources compare exactly.

use serde::{Deserialize, Serialize};

/// What an access key may do: an allow list (there is no deny; anything not allowed is denied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Action patterns, `<service>:<Action>` as the cloud's CAM/RAM/IAM names them.
    pub allow: Vec<String>,
    /// Resource patterns in the cloud's resource-name form; omitted = every resource (`*`).
    #[serde(default = "every_resource")]
    pub resources: Vec<String>,
}

fn every_resource() -> Vec<String> {
    vec!["*".to_string()]
}

impl Policy {
    /// Whether this policy allows `action` on `resource`.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.allow.iter().any(|p| glob(p, action, true))
            && self.resources.iter().any(|p| glob(p, resource, false))
    }

    /// A problem with the patterns (an empty pattern, or no action at all), for the topology
    /// validator; `None` when the policy is well formed.
    pub fn problem(&self) -> Option<String> {
        if self
            .allow
            .iter()
            .chain(&self.resources)
            .any(|p| p.is_empty())
        {
            return Some("a policy pattern is empty".into());
        }
        None
    }
}

/// Whether a key with `policy` (`None` = full access) may call `action` on `resource`.
pub fn allows(policy: Option<&Policy>, action: &str, resource: &str) -> bool {
    policy.is_none_or(|p| p.allows(action, resource))
}

/// `*`-wildcard match in O(pattern × text) worst case, without recursion.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let eq = |a: u8, b: u8| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position after the last `*` seen, and the text position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi + 1, ti));
            pi += 1;
        } else if pi < p.len() && eq(p[pi], t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], resources: &[&str]) -> Policy {
        Policy {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn glob_should_match_wildcards_anywhere() {
        assert!(glob("*", "", false));
        assert!(glob("*", "acs:vpc:cn-hangzhou:1:havip/havip-1", false));
        assert!(glob(
            "acs:vpc:*:*:havip/*",
            "acs:vpc:cn-hangzhou:1:havip/havip-1",
            false
        ));
        assert!(glob(
            "acs:vpc:*:*:havip/*",
            "acs:vpc:cn-hangzhou:1:havip/*",
            false
        ));
        assert!(!glob(
            "acs:vpc:*:*:havip/*",
            "acs:vpc:cn-hangzhou:1:eip/eip-1",
            false
        ));
        assert!(glob("a*b*c", "aXXbYYc", false));
        assert!(glob("a*b*c", "abbbc", false));
        assert!(!glob("a*b*c", "aXXbYY", false));
        assert!(glob("*-1", "havip-1", false));
        assert!(!glob("*-1", "havip-12", false));
        assert!(glob("havip-1", "havip-1", false));
        assert!(!glob("havip-1", "havip-10", false));
        assert!(!glob("", "x", false));
        assert!(glob("**", "x", false));
    }

    #[test]
    fn actions_should_compare_case_insensitively_and_resources_exactly() {
        let p = policy(&["vpc:describehavips"], &["acs:vpc:*:*:havip/havip-A"]);
        assert!(p.allows("vpc:DescribeHaVips", "acs:vpc:r:1:havip/havip-A"));
        assert!(!p.allows("vpc:DescribeHaVips", "acs:vpc:r:1:havip/havip-a"));
    }

    #[test]
    fn a_policy_should_need_both_an_action_and_a_resource_match() {
        let p = policy(
            &["vpc:DescribeHaVips", "vpc:CreateHaVip"],
            &["acs:vpc:*:*:havip/*"],
        );
        assert!(p.allows("vpc:CreateHaVip", "acs:vpc:cn-hangzhou:1:havip/*"));
        assert!(p.allows("vpc:DescribeHaVips", "acs:vpc:cn-hangzhou:1:havip/*"));
        assert!(!p.allows("vpc:DeleteHaVip", "acs:vpc:cn-hangzhou:1:havip/havip-1"));
        assert!(!p.allows("vpc:CreateHaVip", "acs:ecs:cn-hangzhou:1:instance/i-1"));
        let wild = policy(&["vpc:*"], &["acs:vpc:cn-hangzhou:*:havip/havip-1"]);
        assert!(wild.allows("vpc:DeleteHaVip", "acs:vpc:cn-hangzhou:1:havip/havip-1"));
        assert!(!wild.allows("vpc:DeleteHaVip", "acs:vpc:cn-beijing:1:havip/havip-1"));
        assert!(!wild.allows("ecm:DeleteHaVip", "acs:vpc:cn-hangzhou:1:havip/havip-1"));
    }

    #[test]
    fn no_policy_should_mean_full_access_and_an_empty_one_nothing() {
        assert!(allows(None, "vpc:DeleteHaVip", "anything"));
        let empty = policy(&[], &["*"]);
        assert!(!allows(Some(&empty), "vpc:DescribeHaVips", "x"));
    }

    #[test]
    fn omitted_resources_should_default_to_every_resource() {
        let p: Policy = serde_json::from_str(r#"{"allow":["bce:havip:*"]}"#).unwrap();
        assert_eq!(p.resources, vec!["*"]);
        assert!(p.allows("bce:havip:DeleteHaVip", "bce:vpc:bj:1:havip/havip-1"));
        assert!(serde_json::from_str::<Policy>(r#"{"allow":[],"deny":[]}"#).is_err());
    }
}
