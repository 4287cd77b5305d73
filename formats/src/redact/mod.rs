//! Secret detection and redaction, applied to every event before it is hashed or stored.
//!
//! A detected secret is replaced by a marker `[REDACTED:<kind>:<fp>]` where `fp` is a keyed
//! fingerprint (HMAC-SHA-256 with the per-install key, first 16 hex digits): the same secret gives
//! the same fingerprint in every event, so uses can be linked, but the fingerprint reveals nothing
//! without the key.
//!
//! ## Rules (gitleaks-style, written for flightlog)
//! 1. **Shapes**: credentials with a recognizable prefix or structure (PEM private keys, AWS key
//!    ids, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, Google, Azure, Twilio, SendGrid,
//!    npm, PyPI, Docker Hub, Vault, JWTs, and more). A match is redacted wherever it appears.
//! 2. **Context**: values whose meaning comes from around them: passwords in URLs
//!    (`postgres://u:PASS@`), `Authorization: Bearer|Basic|token`, `Project-Access-Token:`,
//!    API-key headers, `mysql -pPASS`, `curl -u user:PASS`, `sshpass -p`, `docker login -p`,
//!    `aws configure set`, command-line flags (`--password=..`, `--api-key ..`), and assignments
//!    (`.env` lines, `export X=..`, JSON `"password": ".."`, YAML `token: ..`, connection strings
//!    `Password=..;`). Railway tokens are UUIDs: only context finds them.
//! 3. **Names**: an assignment or flag is a secret when its name *ends* in a secret noun
//!    (`token`, `secret`, `password`, `passwd`, `pass`, `pwd`, `passphrase`, `credentials`,
//!    `api_key`, `access_key`, `private_key`, ...): `GITHUB_TOKEN`, `aws_secret_access_key`,
//!    `keyStorePassword`. Names that only mention one (`max_tokens`, `TOKEN_COUNT`,
//!    `password_reset_url`, `--token-file`, `tokenizer`, `private_key_path`) are not.
//! 4. **Values**: placeholders are not secrets: empty, `<your-token>`, `${VAR}`, `$VAR`,
//!    `%VAR%`, `{{ template }}`, `xxxx`, `****`, `your-api-key-here`, values containing
//!    `EXAMPLE` (AWS documentation keys), a value equal to its own name (`password=password`),
//!    code (`os.environ[..]`, `get_token()`, `process.env.X`) and file paths. Weak but real
//!    passwords (`changeme`, `hunter2`) **are** redacted: an agent typing one into a live system
//!    is typing the live password.
//!
//! `redact_str` repeats the scan until nothing new is found, so redaction is idempotent:
//! redacting a redacted text changes nothing. Markers are never matched.

use std::sync::{Arc, OnceLock};

use hmac::{Hmac, KeyInit, Mac};
use regex::Regex;
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::event::Redaction;

pub mod known;
mod names;
mod rules;

use known::Known;
use names::{NameClass, is_placeholder, name_class, named_kind, value_ok};
use rules::{Check, accept, candidate_rules, next_boundary, prev_boundary, rules};

/// One secret found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMatch {
    pub kind: String,
    pub fp: String,
    /// Byte range of the secret in the scanned text.
    pub start: usize,
    pub end: usize,
}

/// A redactor holding the per-install fingerprint key, and the secrets it has seen (shared by
/// its clones: a value any of them recognised is matched by all of them from then on).
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
    known: Arc<Known>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor { .. }")
    }
}

/// The marker that replaces a secret.
pub fn marker(kind: &str, fp: &str) -> String {
    format!("[REDACTED:{kind}:{fp}]")
}

fn marker_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\[REDACTED:[a-z0-9-]{1,40}:[0-9a-f]{0,64}\]")
            .unwrap_or_else(|e| panic!("marker regex: {e}"))
    })
}

impl Redactor {
    /// A redactor that remembers the secrets it sees in memory only, for its own life.
    pub fn new(key: [u8; 32]) -> Self {
        Redactor {
            known: Arc::new(Known::new(&key)),
            key,
        }
    }

    /// A redactor that also shares what it learns with the other processes of the install,
    /// through the file `known` in the key directory `dir` (keyed hashes only, see
    /// [`known`]): a hook process then redacts what the recorder's inventory found.
    pub fn with_known_file(key: [u8; 32], dir: &std::path::Path) -> Self {
        let r = Redactor::new(key);
        r.known.attach(dir);
        r
    }

    /// Picks up the secrets other processes recorded in the known file since the last call.
    pub fn refresh(&self) {
        self.known.refresh();
    }

    /// Remembers `value` as a secret: from now on it is redacted wherever it appears.
    pub fn learn(&self, value: &str, kind: &str) {
        self.known.learn(value, &self.fingerprint(value), kind);
    }

    /// The keyed fingerprint of a secret value.
    pub fn fingerprint(&self, secret: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(secret.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// Finds the secrets in a text (non-overlapping, in order). Existing markers are skipped.
    pub fn scan(&self, text: &str) -> Vec<SecretMatch> {
        let mut taken: Vec<(usize, usize)> =
            if text.as_bytes().contains(&b'[') && text.contains("[REDACTED:") {
                marker_re()
                    .find_iter(text)
                    .map(|m| (m.start(), m.end()))
                    .collect()
            } else {
                Vec::new()
            };
        let mut found: Vec<SecretMatch> = Vec::new();
        // Secrets already known, by their bytes (glued, encoded) before any rule.
        let mut known = Vec::new();
        self.known.find(text, &mut taken, &mut known);
        found.extend(known.into_iter().map(|k| SecretMatch {
            kind: k.kind,
            fp: k.fp,
            start: k.start,
            end: k.end,
        }));
        let contained = |taken: &[(usize, usize)], s: usize, e: usize| {
            taken.iter().any(|&(a, b)| a <= s && e <= b)
        };
        let (candidates, named_ok) = candidate_rules(text);
        let rules = rules();
        for rule in candidates.iter().filter_map(|ri| rules.get(ri)) {
            // Named rules accept only names that end in a secret word: without one in the text,
            // their (large) regexes need not be compiled or run.
            if matches!(rule.check, Check::Named { .. }) && !named_ok {
                continue;
            }
            let Some(re) = rule.regex() else {
                continue;
            };
            let mut pos = 0;
            while pos <= text.len() {
                let Some(caps) = re.captures_at(text, pos) else {
                    break;
                };
                let Some(whole) = caps.get(0) else {
                    break;
                };
                match accept(rule, &caps) {
                    Some(hit) if !contained(&taken, hit.start, hit.end) => {
                        let value = &text[hit.start..hit.end];
                        // `Basic base64(user:password)`: the secret is the password.
                        let decoded = (hit.kind == "basic-auth")
                            .then(|| basic_password(value))
                            .flatten();
                        let secret = decoded.as_deref().unwrap_or(value);
                        let fp = self.fingerprint(secret);
                        self.known.learn(secret, &fp, hit.kind);
                        found.push(SecretMatch {
                            kind: hit.kind.to_string(),
                            fp,
                            start: hit.start,
                            end: hit.end,
                        });
                        taken.push((hit.start, hit.end));
                        pos = hit.end.max(next_boundary(text, whole.start()));
                    }
                    _ => {
                        // Resume inside the rejected match: the value of a rejected name may hold
                        // the name of an accepted one (`--prod --token X`, `A=B;Password=C`).
                        let resume = rule
                            .groups
                            .iter()
                            .find_map(|g| caps.get(*g))
                            .map(|m| prev_boundary(text, m.start()))
                            .unwrap_or(whole.end());
                        pos = resume.max(next_boundary(text, whole.start()));
                    }
                }
            }
        }
        found.sort_by_key(|f| f.start);
        // A rule's match that runs past a known secret's: one redaction covers both (the
        // first's fingerprint), so no byte of either is left.
        let mut merged: Vec<SecretMatch> = Vec::with_capacity(found.len());
        for f in found {
            match merged.last_mut() {
                Some(last) if f.start < last.end => last.end = last.end.max(f.end),
                _ => merged.push(f),
            }
        }
        merged
    }

    /// One scan and its replacements; None when the text holds no secret (no copy of it).
    fn redact_once(&self, text: &str) -> Option<(String, Vec<Redaction>)> {
        let found = self.scan(text);
        if found.is_empty() {
            return None;
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
        Some((out, reds))
    }

    /// Redacts a text; returns the new text and the secrets replaced. Idempotent: the scan is
    /// repeated until it finds nothing (a redaction can expose context for another rule).
    pub fn redact_str(&self, text: &str) -> (String, Vec<Redaction>) {
        self.redacted(text)
            .unwrap_or_else(|| (text.to_string(), Vec::new()))
    }

    /// [`Redactor::redact_str`], None when the text holds no secret: most texts hold none,
    /// and they are then not copied.
    fn redacted(&self, text: &str) -> Option<(String, Vec<Redaction>)> {
        let (mut out, mut reds) = self.redact_once(text)?;
        for _ in 0..16 {
            let Some((next, more)) = self.redact_once(&out) else {
                break;
            };
            out = next;
            reds.extend(more);
        }
        Some((out, reds))
    }

    /// Finds the secrets in a JSON value and remembers them (see [`Redactor::learn`]), leaving
    /// the value as it is: a first pass over a batch, so that a secret recognised late in it is
    /// redacted in its earlier items too.
    pub fn learn_from(&self, v: &Value) {
        self.learn_walk(v, None, 0);
    }

    /// Learns a secret found by its key: the text after an auth scheme (`Bearer `), or a `Basic`
    /// credential's password. Gives the scheme and the secret's fingerprint.
    fn learn_keyed<'s>(&self, s: &'s str, kind: &str) -> (&'s str, String) {
        let (scheme, secret) = split_scheme(s);
        let decoded = scheme
            .eq_ignore_ascii_case("basic ")
            .then(|| basic_password(secret))
            .flatten();
        let value = decoded.as_deref().unwrap_or(secret);
        let fp = self.fingerprint(value);
        self.known.learn(value, &fp, kind);
        (scheme, fp)
    }

    /// What [`Redactor::walk`] would learn, without building the redacted value.
    fn learn_walk(&self, v: &Value, key: Option<&str>, depth: usize) {
        match v {
            Value::String(s) => {
                if let Some(kind) = key.and_then(|k| keyed_secret(k, s)) {
                    self.learn_keyed(s, kind);
                } else {
                    // The scan learns what its rules recognise.
                    let _ = self.scan(s);
                }
            }
            Value::Array(items) if depth <= 512 => {
                for i in items {
                    self.learn_walk(i, None, depth + 1);
                }
            }
            Value::Object(map) if depth <= 512 => {
                for (k, val) in map {
                    let _ = self.scan(k);
                    self.learn_walk(val, Some(k), depth + 1);
                }
            }
            Value::Array(_) | Value::Object(_) => {
                let _ = self.scan(&v.to_string());
            }
            _ => {}
        }
    }

    /// Like [`Redactor::learn_from`] over many values, on up to 4 threads.
    pub fn learn_from_all<'a>(&self, values: impl ExactSizeIterator<Item = &'a Value>) {
        const PARALLEL_MIN: usize = 256;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(1);
        if values.len() < PARALLEL_MIN || threads < 2 {
            for v in values {
                self.learn_from(v);
            }
            return;
        }
        let values: Vec<&Value> = values.collect();
        let per = values.len().div_ceil(threads);
        std::thread::scope(|sc| {
            for chunk in values.chunks(per) {
                sc.spawn(move || {
                    for v in chunk {
                        self.learn_from(v);
                    }
                });
            }
        });
    }

    /// Redacts every string in a JSON value, in place. Object keys that name a secret
    /// (`{"RAILWAY_TOKEN": "..."}`, `{"Authorization": "..."}`) redact their whole value;
    /// a secret used as an object key is redacted too.
    pub fn redact_value(&self, v: &mut Value) -> Vec<Redaction> {
        let mut reds = Vec::new();
        self.walk(v, None, &mut reds, 0);
        dedup(&mut reds);
        reds
    }

    fn walk(&self, v: &mut Value, key: Option<&str>, reds: &mut Vec<Redaction>, depth: usize) {
        match v {
            Value::String(s) => {
                if let Some(kind) = key.and_then(|k| keyed_secret(k, s)) {
                    let (scheme, fp) = self.learn_keyed(s, kind);
                    *s = format!("{scheme}{}", marker(kind, &fp));
                    reds.push(Redaction {
                        fp,
                        kind: kind.to_string(),
                    });
                    return;
                }
                if let Some((new, mut r)) = self.redacted(s) {
                    *s = new;
                    reds.append(&mut r);
                }
            }
            Value::Number(n) => {
                // `{"password": 12345678}`: a numeric password is still a password.
                if let Some(k) = key
                    && matches!(
                        name_class(k),
                        Some(NameClass::Password) | Some(NameClass::Token)
                    )
                    && n.to_string().len() >= 6
                {
                    let text = n.to_string();
                    let fp = self.fingerprint(&text);
                    self.known.learn(&text, &fp, "password");
                    let kind = name_class(k)
                        .map(|c| named_kind(k, c))
                        .unwrap_or("env-secret");
                    *v = Value::String(marker(kind, &fp));
                    reds.push(Redaction {
                        fp,
                        kind: kind.to_string(),
                    });
                }
            }
            Value::Array(items) => {
                if depth > 512 {
                    return self.flatten_deep(v, reds);
                }
                for i in items {
                    self.walk(i, None, reds, depth + 1);
                }
            }
            Value::Object(map) => {
                if depth > 512 {
                    return self.flatten_deep(v, reds);
                }
                let needs_rename = map.keys().any(|k| !self.scan(k).is_empty());
                if needs_rename {
                    let old = std::mem::take(map);
                    let mut fresh = Map::with_capacity(old.len());
                    for (k, val) in old {
                        let (nk, mut r) = self.redact_str(&k);
                        reds.append(&mut r);
                        fresh.insert(nk, val);
                    }
                    *map = fresh;
                }
                for (k, val) in map.iter_mut() {
                    self.walk(val, Some(k), reds, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Beyond a sane depth, a value is replaced by its redacted text (no recursion).
    fn flatten_deep(&self, v: &mut Value, reds: &mut Vec<Redaction>) {
        let text = v.to_string();
        let (new, mut r) = self.redact_str(&text);
        reds.append(&mut r);
        *v = Value::String(new);
    }
}

/// The password inside a `Basic` credential (`base64(user:password)`), when there is one.
fn basic_password(b64: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(b64.trim_end_matches('='))
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (_, pass) = text.split_once(':')?;
    (!pass.is_empty() && !pass.contains(char::is_control)).then(|| pass.to_string())
}

/// Keeps an auth scheme (`Bearer `, `Basic `, `token `) in front of a redacted header value.
fn split_scheme(s: &str) -> (&str, &str) {
    for scheme in [
        "Bearer ", "bearer ", "BEARER ", "Basic ", "basic ", "token ", "Token ",
    ] {
        if let Some(rest) = s.strip_prefix(scheme) {
            return (&s[..scheme.len()], rest);
        }
    }
    ("", s)
}

/// If a JSON key or header name says its string value is a secret, the kind to record.
fn keyed_secret(key: &str, value: &str) -> Option<&'static str> {
    // The key first: most keys name nothing secret, and the value's checks cost more.
    let header = header_kind(key);
    let class = match header {
        Some(_) => None,
        None => Some(name_class(key)?),
    };
    let (_, secret) = split_scheme(value);
    if secret.starts_with("[REDACTED:") || is_placeholder(secret) {
        return None;
    }
    match (header, class) {
        (Some(Header::Authorization), _) => {
            (secret.len() >= 6 && !secret.contains(char::is_whitespace)).then_some("bearer-token")
        }
        (Some(Header::ProjectAccessToken), _) => (secret.len() >= 6).then_some("railway-project"),
        (Some(Header::Cookie), _) => (secret.len() >= 8).then_some("cookie"),
        (None, Some(class)) => value_ok(secret, class).then(|| named_kind(key, class)),
        (None, None) => None,
    }
}

/// Header names whose value is a credential whatever it looks like.
#[derive(Clone, Copy)]
enum Header {
    Authorization,
    ProjectAccessToken,
    Cookie,
}

/// Which of [`Header`] a key names (ASCII case ignored, `_` as `-`).
fn header_kind(key: &str) -> Option<Header> {
    let is = |name: &str| {
        key.len() == name.len()
            && key
                .bytes()
                .zip(name.bytes())
                .all(|(k, n)| k.to_ascii_lowercase() == n || (k == b'_' && n == b'-'))
    };
    if is("authorization") || is("proxy-authorization") {
        Some(Header::Authorization)
    } else if is("project-access-token") {
        Some(Header::ProjectAccessToken)
    } else if is("cookie") || is("set-cookie") {
        Some(Header::Cookie)
    } else {
        None
    }
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
        assert_eq!(rb[0].kind, "railway-account");
        let (_, rc) = r().redact_str(&format!("export RAILWAY_TOKEN={tok}"));
        assert_eq!(rc[0].kind, "railway-project");
    }

    #[test]
    fn json_keys_give_context() {
        let mut v = json!({"headers": {"Project-Access-Token": "0a1b2c3d-0000-4000-8000-abcdefabcdef"}, "n": 1});
        let reds = r().redact_value(&mut v);
        assert_eq!(reds.len(), 1);
        assert!(!v.to_string().contains("abcdefabcdef"));
    }

    #[test]
    fn json_key_rules_skip_placeholders_and_metadata() {
        let mut v = json!({
            "token": "<your-token>",
            "max_tokens": 4000,
            "tokenizer": "cl100k_base",
            "password_reset_url": "https://example.com/reset",
            "Authorization": "Bearer [REDACTED:bearer-token:0123456789abcdef]",
            "password": 12345678,
        });
        let reds = r().redact_value(&mut v);
        assert_eq!(reds.len(), 1, "{v}");
        assert_eq!(v["token"], "<your-token>");
        assert_eq!(v["tokenizer"], "cl100k_base");
        assert_eq!(
            v["Authorization"],
            "Bearer [REDACTED:bearer-token:0123456789abcdef]"
        );
        assert!(
            v["password"]
                .as_str()
                .unwrap()
                .starts_with("[REDACTED:password:")
        );
    }

    #[test]
    fn secret_as_object_key_is_redacted() {
        let tok = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let mut v = json!({ tok: 1 });
        let reds = r().redact_value(&mut v);
        assert_eq!(reds.len(), 1);
        assert!(!v.to_string().contains(tok));
    }

    #[test]
    fn redaction_is_idempotent() {
        for s in [
            "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "API_KEY=abcdef0123456789abcdef",
            "curl -u admin:Sup3rSecret https://x && mysql -uroot -pS3cr3t db",
            "postgres://app:S3cr3t@db/x token: ab12cd34ef56",
        ] {
            let (once, first) = r().redact_str(s);
            assert!(!first.is_empty(), "{s}");
            let (twice, reds) = r().redact_str(&once);
            assert_eq!(once, twice);
            assert!(reds.is_empty());
        }
    }

    #[test]
    fn ordinary_text_untouched() {
        for s in [
            "cargo test --workspace && echo max_tokens=4000",
            "max_tokens: 100000",
            "--token-file /run/secrets/token",
            "password = os.environ[\"DB_PASSWORD\"]",
            "if password == confirm_password:",
            "self.password = password",
        ] {
            assert_eq!(r().redact_str(s).0, s);
        }
    }

    #[test]
    fn a_value_the_inventory_found_is_redacted_everywhere_after() {
        // The reported case: `.env` has the password; later events use it where no rule fits.
        let red = r();
        let pw = "Tr0ub4dor-Kq93-Xz71";
        let inv = red.scan(&format!("DB_PASSWORD={pw}\n"));
        assert_eq!(inv.len(), 1);
        let fp = inv[0].fp.clone();
        for text in [
            format!("/bin/echo mysql -uroot -p{pw} app"),
            format!("touch backup_{pw}.txt"),
            format!("{}/w/backup_{pw}.txt", "/tmp"),
            format!("https://x/?q=token%3D{pw}"),
            format!("echo {pw}{pw}"),
        ] {
            let (out, reds) = red.redact_str(&text);
            assert!(
                !out.contains("Tr0ub4dor") && !out.contains("Kq93"),
                "{text} -> {out}"
            );
            assert!(reds.iter().all(|x| x.fp == fp), "{text}: {reds:?}");
        }
        // Percent-encoded and JSON-escaped forms of a value that has characters to escape.
        let odd = "S3cr3t/P@ss!w\"rd";
        let ofp = red.scan(&format!("password: '{odd}'"))[0].fp.clone();
        for text in [
            "GET /?p=S3cr3t%2FP%40ss%21w%22rd HTTP/1.1",
            "GET /?p=S3cr3t%2fP%40ss%21w%22rd HTTP/1.1",
            "{\"cmd\":\"login S3cr3t/P@ss!w\\\"rd now\"}",
            "{\"cmd\":\"login S3cr3t\\/P@ss!w\\\"rd now\"}",
        ] {
            let (out, reds) = red.redact_str(text);
            assert!(!out.contains("S3cr3t"), "{text} -> {out}");
            assert!(reds.iter().all(|x| x.fp == ofp), "{text}: {reds:?}");
        }
        // As the password of a Basic credential: the password's fingerprint.
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("root:{pw}"));
        let (out, reds) = red.redact_str(&format!("Authorization: Basic {b}"));
        assert!(!out.contains(&b), "{out}");
        assert_eq!(reds[0].fp, fp);
        let mut v = json!({"headers": {"Authorization": format!("Basic {b}")}});
        let reds = red.redact_value(&mut v);
        assert_eq!(reds[0].fp, fp, "{v}");
        // Another redactor (another process) knows nothing of it.
        assert_eq!(r().redact_str(&format!("touch backup_{pw}.txt")).1.len(), 0);
    }

    #[test]
    fn shapes_glued_to_other_text_are_found() {
        let tok = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        for text in [
            format!("backup_{tok}.txt"),
            format!("https://x/?token%3D{tok}&a=1"),
            format!("\"line\\n{tok}\""),
            format!("{tok}_old"),
        ] {
            let (out, _) = r().redact_str(&text);
            assert!(!out.contains("ghp_abc"), "{text} -> {out}");
        }
        // Still no match inside a longer word.
        assert!(
            r().scan("task-abcdefghijklmnopqrstuvwxyz0123456789ABCD")
                .is_empty()
        );
    }

    #[test]
    fn a_redaction_replaces_exactly_the_secret() {
        let tok = "3f6b2c1e-9a7d-4e21-b8c4-5d0f1a2b3c4d";
        let red = r();
        let plain = red.redact_str(&format!("RAILWAY_API_TOKEN={tok}")).1;
        // JSON-escaped text (a stream line, a model request): the escapes stay.
        for (text, rest) in [
            (format!("RAILWAY_API_TOKEN={tok}\\n4\\t"), "\\n4\\t"),
            (
                format!("{{\"c\":\"RAILWAY_API_TOKEN={tok}\\\"x\"}}"),
                "\\\"x\"}",
            ),
            (
                format!("env: \\\"RAILWAY_API_TOKEN\\\": \\\"{tok}\\\""),
                "\\\"",
            ),
        ] {
            let (out, reds) = red.redact_str(&text);
            assert!(out.ends_with(rest), "{text} -> {out}");
            assert!(!out.contains(tok), "{out}");
            assert_eq!(reds.len(), 1, "{text} -> {out}");
            assert_eq!(
                reds[0].fp, plain[0].fp,
                "one secret, one fingerprint: {out}"
            );
        }
    }

    #[test]
    fn names_end_in_a_secret_noun() {
        assert_eq!(name_class("keyStorePassword"), Some(NameClass::Password));
        assert_eq!(name_class("AWS_SECRET_ACCESS_KEY"), Some(NameClass::Token));
        assert_eq!(name_class("_authToken"), Some(NameClass::Token));
        assert_eq!(name_class("AWS_ACCESS_KEY_ID"), None);
        assert_eq!(name_class("password_reset_url"), None);
        assert_eq!(name_class("max_tokens"), None);
        assert_eq!(name_class("tokenizer"), None);
        assert_eq!(name_class("STRIPE_PUBLISHABLE_KEY"), None);
        assert_eq!(name_class("SECRET_KEY_BASE"), Some(NameClass::Token));
    }
}
