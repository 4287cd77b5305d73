//! What the recorder asks the analysis at record time: is this exec destructive, should the
//! guard deny this event, and what does this HTTP request mean (method, host, GraphQL).

use flightlog_analysis::catalogue::{Catalogue, WorkTree};
use std::sync::Arc;

use flightlog_analysis::policy::{FailMode, Policy};
use flightlog_formats::Event;
use serde_json::Value;

/// A guard decision as the recorder acts on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub deny: bool,
    pub rule: Option<String>,
    pub reason: String,
    /// Worth a `decision` event even when allowed (a destructive action the guard let through,
    /// or a decision taken by the fail mode).
    pub notable: bool,
}

/// The guard's settings and the analysis behind it.
#[derive(Debug, Clone)]
pub struct Judge {
    /// `--guard` (or `[guard] enabled` in the policy).
    pub guard: bool,
    /// What to do when flightlog itself cannot decide: allow (`open`) or deny (`closed`).
    pub fail_open: bool,
    /// The guard denies plain crossings too, so every exec waits for its decision.
    pub hold_every_exec: bool,
    /// The work tree (for rules such as `rm -rf` outside it).
    pub root: Option<String>,
    /// The policy the guard decides with.
    pub policy: Arc<Policy>,
}

impl Judge {
    pub fn new(guard: bool, fail_open: bool, hold_every_exec: bool) -> Judge {
        Judge {
            guard,
            fail_open,
            hold_every_exec,
            root: None,
            policy: Arc::new(Policy::default()),
        }
    }

    /// The guard as a policy sets it: on with `--guard` (`guard`) or `[guard] enabled`; its fail
    /// mode; and every exec held when the policy denies plain crossings.
    pub fn from_policy(mut policy: Policy, guard: bool) -> Judge {
        let on = policy.guard.on(guard);
        policy.guard.enabled = on;
        let hold = on && policy.guard.deny.iter().any(|d| d == "crossing");
        let mut j = Judge::new(on, policy.guard.fail == FailMode::Open, hold);
        j.policy = Arc::new(policy);
        j
    }

    /// Sets the work tree the catalogue's path rules compare against.
    pub fn with_root(mut self, root: &std::path::Path) -> Judge {
        self.root = Some(root.to_string_lossy().into_owned());
        self
    }

    pub fn fail_mode(&self) -> &'static str {
        if self.fail_open { "open" } else { "closed" }
    }

    /// The destructive-action rule an argv matches, if any.
    pub fn destructive_exec(&self, argv: &[String], cwd: Option<&str>) -> Option<String> {
        let wt = WorkTree {
            root: self.root.clone(),
            cwd: cwd.map(str::to_string),
        };
        Catalogue::builtin()
            .match_argv(argv, &wt)
            .into_iter()
            .next()
            .map(|m| m.rule)
    }

    /// Whether an exec must be on disk (and decided) before the process may run.
    pub fn hold_exec(&self, argv: &[String], cwd: Option<&str>) -> (bool, Option<String>) {
        let rule = self.destructive_exec(argv, cwd);
        let hold = rule.is_some() || (self.guard && self.hold_every_exec);
        (hold, rule)
    }

    /// The guard's decision on a committed event, given the session before it.
    pub fn guard(&self, prior: &[Event], candidate: &Event) -> Verdict {
        let d = flightlog_analysis::guard_decision(&self.policy, prior, candidate);
        Verdict {
            notable: d.deny || d.rule.is_some(),
            deny: d.deny,
            rule: d.rule,
            reason: d.reason,
        }
    }

    /// The decision when flightlog cannot decide (store failure): the policy's fail mode.
    pub fn fail_verdict(&self, why: &str) -> Verdict {
        Verdict {
            deny: !self.fail_open,
            rule: None,
            reason: format!("fail {}: {why}", self.fail_mode()),
            notable: true,
        }
    }

    /// The `api_call` data of an HTTP request seen by the proxy.
    pub fn http_data(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        excerpt: usize,
    ) -> Value {
        let req = flightlog_analysis::decode::decode_http(method, url, headers, body);
        let mut data = req.to_data();
        data["request_body"] = body_excerpt(body, excerpt);
        data
    }

    /// The `api_call` an exec's argv describes (curl, wget, httpie), if any.
    pub fn argv_api(&self, argv: &[String]) -> Option<Value> {
        flightlog_analysis::decode::decode_argv(argv).map(|r| r.to_data())
    }
}

/// A body as text, cut at `max` bytes on a character boundary and never inside a token (the
/// first half of a secret matches nothing, so it is dropped, not kept); binary bodies are
/// summarised.
pub fn body_excerpt(body: &[u8], max: usize) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    let cut = &body[..crate::hook::safe_cut(body, max)];
    let text = match std::str::from_utf8(cut) {
        Ok(t) => t.to_string(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => return Value::String(format!("<{} bytes of binary data>", body.len())),
    };
    if body.len() > max {
        Value::String(format!("{text}...[{} bytes in all]", body.len()))
    } else {
        Value::String(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        assert_eq!(
            body_excerpt("héllo".as_bytes(), 2),
            json!("h...[6 bytes in all]")
        );
        assert_eq!(
            body_excerpt(&[0xff, 0xfe, 0x00, 0x41], 10),
            json!("<4 bytes of binary data>")
        );
        assert_eq!(body_excerpt(b"", 10), Value::Null);
        // A token cut by the limit is dropped whole.
        let body = br#"{"a":"x","token":"ghp_abcdefghijklmnopqrstuvwxyz0123456789"}"#;
        assert_eq!(
            body_excerpt(body, 40),
            json!(format!(
                "{{\"a\":\"x\",\"token\":\"...[{} bytes in all]",
                body.len()
            ))
        );
    }
}
