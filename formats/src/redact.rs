//! Secret detection and redaction, applied to every event before it is hashed or stored.
//!
//! A detected secret is replaced by a marker `[REDACTED:<kind>:<fp>]` where `fp` is a keyed
//! fingerprint (HMAC-SHA-256 with the per-install key, first 16 hex digits): the same secret gives
//! the same fingerprint in every event, so uses can be linked, but the fingerprint reveals nothing
//! without the key.

use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac};
use regex::Regex;
use serde_json::Value;
use sha2::Sha256;

use crate::event::Redaction;

/// One secret found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMatch {
    pub kind: String,
    pub fp: String,
    /// Byte range of the secret in the scanned text.
    pub start: usize,
    pub end: usize,
}

/// A redactor holding the per-install fingerprint key.
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor { .. }")
    }
}

struct Rule {
    kind: &'static str,
    re: Regex,
    /// Capture group holding the secret (0 = whole match).
    group: usize,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |kind: &'static str, pat: &str, group: usize| Rule {
            kind,
            // ASCII word boundaries: a Unicode `\b` keeps the regex engine off its fast DFA on
            // non-ASCII text (25x slower on real transcripts), and an ASCII boundary only
            // redacts more (a secret glued to a non-ASCII letter).
            re: Regex::new(&pat.replace(r"\b", r"(?-u:\b)"))
                .unwrap_or_else(|e| panic!("built-in rule {kind}: {e}")),
            group,
        };
        vec![
            r(
                "private-key",
                r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z)",
                0,
            ),
            r("aws-access-key-id", r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b", 1),
            r("github-token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255})\b", 1),
            r("github-pat", r"\b(github_pat_[A-Za-z0-9_]{22,255})\b", 1),
            r("stripe-key", r"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,99})\b", 1),
            r("slack-token", r"\b(xox[abposr]-[A-Za-z0-9-]{10,250})\b", 1),
            r(
                "jwt",
                r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
                1,
            ),
            r(
                "url-password",
                r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@]{1,256}:([^\s@/]{1,256})@",
                1,
            ),
            r(
                "bearer-token",
                r"(?i)\b(?:authorization\s*:\s*)?bearer\s+([A-Za-z0-9._~+/=-]{8,})",
                1,
            ),
            r(
                "railway-token",
                r"(?i)\bproject-access-token\s*:\s*([A-Za-z0-9._-]{8,})",
                1,
            ),
            r(
                "env-secret",
                r#"(?i)\b[A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)[A-Z0-9_]*["']?\s*[:=]\s*["']?([^\s"'`;&|]{6,})"#,
                1,
            ),
        ]
    })
}

/// The marker that replaces a secret.
pub fn marker(kind: &str, fp: &str) -> String {
    format!("[REDACTED:{kind}:{fp}]")
}

fn is_marker_at(text: &str, start: usize) -> bool {
    text[..start].ends_with("[REDACTED:") || text[start..].starts_with("[REDACTED:")
}

impl Redactor {
    pub fn new(key: [u8; 32]) -> Self {
        Redactor { key }
    }

    /// The keyed fingerprint of a secret value.
    pub fn fingerprint(&self, secret: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(secret.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// Finds the secrets in a text (non-overlapping, in order).
    pub fn scan(&self, text: &str) -> Vec<SecretMatch> {
        let mut found: Vec<SecretMatch> = Vec::new();
        for rule in rules() {
            for caps in rule.re.captures_iter(text) {
                let Some(m) = caps.get(rule.group) else {
                    continue;
                };
                if is_marker_at(text, m.start()) || m.as_str().starts_with("[REDACTED") {
                    continue;
                }
                if found.iter().any(|f| m.start() < f.end && f.start < m.end()) {
                    continue;
                }
                found.push(SecretMatch {
                    kind: rule.kind.to_string(),
                    fp: self.fingerprint(m.as_str()),
                    start: m.start(),
                    end: m.end(),
                });
            }
        }
        found.sort_by_key(|f| f.start);
        found
    }

    /// Redacts a text; returns the new text and the secrets replaced.
    pub fn redact_str(&self, text: &str) -> (String, Vec<Redaction>) {
        let found = self.scan(text);
        if found.is_empty() {
            return (text.to_string(), Vec::new());
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut reds = Vec::new();
        for f in found {
            out.push_str(&text[last..f.start]);
            out.push_str(&marker(&f.kind, &f.fp));
            last = f.end;
            reds.push(Redaction {
                fp: f.fp,
                kind: f.kind,
            });
        }
        out.push_str(&text[last..]);
        (out, reds)
    }

    /// Redacts every string in a JSON value, in place. Object keys that name a secret
    /// (`{"RAILWAY_TOKEN": "..."}`, `{"Authorization": "..."}`) redact their whole value.
    pub fn redact_value(&self, v: &mut Value) -> Vec<Redaction> {
        let mut reds = Vec::new();
        self.walk(v, None, &mut reds);
        dedup(&mut reds);
        reds
    }

    fn walk(&self, v: &mut Value, key: Option<&str>, reds: &mut Vec<Redaction>) {
        match v {
            Value::String(s) => {
                if let Some(kind) = key.and_then(secret_key_kind)
                    && s.len() >= 6
                    && !s.starts_with("[REDACTED:")
                {
                    let secret = s
                        .strip_prefix("Bearer ")
                        .or_else(|| s.strip_prefix("bearer "))
                        .unwrap_or(s);
                    let fp = self.fingerprint(secret);
                    let prefix = if secret.len() < s.len() {
                        "Bearer "
                    } else {
                        ""
                    };
                    *s = format!("{prefix}{}", marker(kind, &fp));
                    reds.push(Redaction {
                        fp,
                        kind: kind.to_string(),
                    });
                    return;
                }
                let (new, mut r) = self.redact_str(s);
                if !r.is_empty() {
                    *s = new;
                    reds.append(&mut r);
                }
            }
            Value::Array(items) => {
                for i in items {
                    self.walk(i, None, reds);
                }
            }
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    self.walk(val, Some(k), reds);
                }
            }
            _ => {}
        }
    }
}

/// If a JSON key or header name says its value is a secret, the kind to record.
fn secret_key_kind(key: &str) -> Option<&'static str> {
    let k = key.to_ascii_uppercase().replace('-', "_");
    if k == "AUTHORIZATION" || k == "PROXY_AUTHORIZATION" {
        return Some("bearer-token");
    }
    if k == "PROJECT_ACCESS_TOKEN" {
        return Some("railway-token");
    }
    const WORDS: [&str; 9] = [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "APIKEY",
        "API_KEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ];
    if k.ends_with("_COUNT") || k.ends_with("TOKENS") || k.starts_with("MAX_") {
        return None;
    }
    WORDS.iter().any(|w| k.contains(w)).then_some("env-secret")
}

fn dedup(reds: &mut Vec<Redaction>) {
    let mut seen = std::collections::HashSet::new();
    reds.retain(|r| seen.insert((r.fp.clone(), r.kind.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r() -> Redactor {
        Redactor::new([7u8; 32])
    }

    #[test]
    fn bearer_uuid_is_redacted_and_linkable() {
        let tok = "3f6b2c1e-9a7d-4e21-b8c4-5d0f1a2b3c4d";
        let (a, ra) = r().redact_str(&format!("curl -H 'Authorization: Bearer {tok}' https://x"));
        let (b, rb) = r().redact_str(&format!("RAILWAY_API_TOKEN={tok}"));
        assert!(!a.contains(tok) && !b.contains(tok), "{a} / {b}");
        assert_eq!(ra[0].fp, rb[0].fp);
    }

    #[test]
    fn json_keys_give_context() {
        let mut v = json!({"headers": {"Project-Access-Token": "0a1b2c3d-0000-4000-8000-abcdefabcdef"}, "n": 1});
        let reds = r().redact_value(&mut v);
        assert_eq!(reds.len(), 1);
        assert!(!v.to_string().contains("abcdefabcdef"));
    }

    #[test]
    fn redaction_is_idempotent() {
        let (once, _) = r().redact_str("GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        let (twice, reds) = r().redact_str(&once);
        assert_eq!(once, twice);
        assert!(reds.is_empty());
    }

    #[test]
    fn ordinary_text_untouched() {
        let s = "cargo test --workspace && echo max_tokens=4000";
        assert_eq!(r().redact_str(s).0, s);
    }
}
