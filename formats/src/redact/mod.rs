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
use regex::{Captures, Regex};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::event::Redaction;

pub mod known;

use known::Known;

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

/// How strong the evidence from a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameClass {
    /// `password`, `passwd`, `pass`, `pwd`, `passphrase`: any non-placeholder value.
    Password,
    /// `token`, `secret`, `api_key`, `credentials`, ...: a value that could be a credential.
    Token,
    /// A bare `KEY` or `auth`: only a random-looking value.
    Weak,
}

/// What a rule needs besides its regex.
#[derive(Clone, Copy)]
enum Check {
    /// The shape is enough (placeholders like `sk_live_xxxx` excepted).
    Shape,
    /// A credential-looking value: letters and digits, or long.
    Random,
    /// A password-ish value: anything but a placeholder, code or a path.
    Password,
    /// Group `name` is a name that must say "secret"; the kind follows from it.
    Named { name: usize, sep: Option<usize> },
}

struct Rule {
    kind: &'static str,
    pattern: String,
    /// Compiled on first use: most texts need only a few rules, and a hook process is short.
    re: OnceLock<Option<Regex>>,
    /// Lowercase literals one of which must occur in the text for the rule to be tried
    /// (empty: always tried).
    needles: &'static [&'static str],
    /// Capture groups that may hold the secret; the first that participated is used.
    groups: &'static [usize],
    check: Check,
}

/// What may come before a credential with a recognisable shape: the start, any character but an
/// ASCII letter or digit (`_` included: `backup_ghp_..`), a percent-escape (`token%3Dghp_..`) or
/// a JSON escape (`\nghp_..`). The character is part of the match, not of the secret.
const LEFT: &str = r"(?:^|[^A-Za-z0-9]|%[0-9A-Fa-f]{2}|\\[nrt])";
/// What may come after one: the end, or any character but an ASCII letter or digit.
const RIGHT: &str = r"(?:[^A-Za-z0-9]|$)";

/// Characters that may not start a name (so a name is never the tail of a longer word).
const NAME: &str = r"[A-Za-z_][A-Za-z0-9_.-]*";

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |kind: &'static str,
                 needles: &'static [&'static str],
                 pat: &str,
                 groups: &'static [usize],
                 check: Check| Rule {
            kind,
            // ASCII word boundaries: a Unicode `\b` keeps the regex engine off its fast DFA on
            // non-ASCII text (25x slower on real transcripts), and an ASCII boundary only
            // redacts more (a secret glued to a non-ASCII letter).
            pattern: pat
                .replace(r"\b", r"(?-u:\b)")
                .replace("{L}", LEFT)
                .replace("{R}", RIGHT),
            re: OnceLock::new(),
            needles,
            groups,
            check,
        };
        use Check::*;
        // A value after `=`/`:`/space: quoted, or a run of characters that cannot end a token.
        // In JSON-escaped text a quote is `\"` and a newline `\n`: neither is part of a value.
        let val = r#"(?:\\"((?:[^"\\\n]|\\[^"])+)\\"|"([^"\n]+)"|'([^'\n]+)'|((?:[^\s"'`;&|,}\]<>\\]|\\[^nrtbfu"\\/])+))"#;
        vec![
            // ---- shapes
            r(
                "private-key", &["private key"],
                r"-----BEGIN[ A-Z0-9_-]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[ A-Z0-9_-]*PRIVATE KEY(?: BLOCK)?-----|\z)",
                &[0],
                Shape,
            ),
            // base64 of a PEM private key (kubeconfig `client-key-data`, CI variables).
            r(
                "private-key", &["ls0tls1crudjti"],
                r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{0,60}?(?:UFJJVkFURSBLRVk|BSSVZBVEUgS0VZ|QUklWQVRFIEtFW)[A-Za-z0-9+/=]*",
                &[0],
                Shape,
            ),
            r("age-secret-key", &["age-secret-key-1"], r"{L}(AGE-SECRET-KEY-1[0-9A-Z]{58}){R}", &[1], Shape),
            r("anthropic-key", &["sk-ant-"], r"{L}(sk-ant-[a-z]{2,10}[0-9]{0,3}-[A-Za-z0-9_-]{32,})", &[1], Shape),
            r(
                "openai-key", &["sk-"],
                r"{L}(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})",
                &[1],
                Shape,
            ),
            r("openai-key", &["sk-"], r"{L}(sk-[A-Za-z0-9]{32,}){R}", &[1], Random),
            r(
                "aws-access-key-id", &["akia", "asia", "abia", "acca", "a3t"],
                r"{L}((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}){R}",
                &[1],
                Shape,
            ),
            r("github-token", &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], r"{L}((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}){R}", &[1], Shape),
            r("github-pat", &["github_pat_"], r"{L}(github_pat_[A-Za-z0-9_]{22,}){R}", &[1], Shape),
            r(
                "gitlab-token", &["gl", "gr1348941"],
                r"{L}((?:glpat|gldt|glptt|glrt|glcbt|glft|glsoat|glagent|glimt|gloas|glffct)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,})",
                &[1],
                Shape,
            ),
            r(
                "slack-token", &["xox", "xapp-"],
                r"{L}((?:xox[abposre]|xoxe\.xox[bp])-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})",
                &[1],
                Random,
            ),
            r(
                "slack-webhook", &["hooks.slack.com"],
                r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9+/_-]{20,})",
                &[1],
                Shape,
            ),
            r(
                "discord-webhook", &["/api/webhooks/"],
                r"discord(?:app)?\.com/api/webhooks/([0-9]{5,30}/[A-Za-z0-9_-]{30,})",
                &[1],
                Shape,
            ),
            r(
                "stripe-key", &["_live_", "_test_", "whsec_"],
                r"{L}((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/=]{24,}){R}",
                &[1],
                Shape,
            ),
            r("google-api-key", &["aiza"], r"{L}(AIza[0-9A-Za-z_-]{35})", &[1], Shape),
            r(
                "google-oauth", &["ya29.", "gocspx-"],
                r"{L}(ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[0-9A-Za-z_-]{20,})",
                &[1],
                Shape,
            ),
            r(
                "azure-client-secret", &["q~"],
                r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})",
                &[1],
                Shape,
            ),
            r("azure-sas", &["sig="], r"[?&]sig=([A-Za-z0-9%+/=]{20,})", &[1], Random),
            r("twilio-key", &["sk"], r"{L}(SK[0-9a-fA-F]{32}){R}", &[1], Shape),
            r(
                "sendgrid-key", &["sg."],
                r"{L}(SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64})",
                &[1],
                Shape,
            ),
            r("npm-token", &["npm_"], r"{L}(npm_[A-Za-z0-9]{36}){R}", &[1], Shape),
            r("pypi-token", &["pypi-ag"], r"{L}(pypi-Ag[A-Za-z0-9_-]{50,})", &[1], Shape),
            r("docker-token", &["dckr_"], r"{L}(dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,})", &[1], Shape),
            r("vault-token", &["hvs.", "hvb.", "hvr."], r"{L}(hv[sbr]\.[A-Za-z0-9_-]{20,})", &[1], Shape),
            r("huggingface-token", &["hf_"], r"{L}(hf_[A-Za-z0-9]{30,40}){R}", &[1], Shape),
            r("digitalocean-token", &["_v1_"], r"{L}(do[por]_v1_[a-f0-9]{64}){R}", &[1], Shape),
            r(
                "telegram-bot-token", &[":aa"],
                r"(?:^|[^0-9])([0-9]{8,10}:AA[A-Za-z0-9_-]{33})",
                &[1],
                Shape,
            ),
            r("shopify-token", &["shp"], r"{L}(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}){R}", &[1], Shape),
            r("linear-key", &["lin_"], r"{L}(lin_(?:api|oauth)_[A-Za-z0-9]{40}){R}", &[1], Shape),
            r("heroku-key", &["hrku-"], r"{L}(HRKU-[A-Za-z0-9_-]{20,})", &[1], Shape),
            r("databricks-token", &["dapi"], r"{L}(dapi[a-f0-9]{32}(?:-[0-9])?){R}", &[1], Shape),
            r("supabase-token", &["sbp_"], r"{L}(sbp_[a-f0-9]{40}){R}", &[1], Shape),
            r("postman-key", &["pmak-"], r"{L}(PMAK-[a-f0-9]{24}-[a-f0-9]{34}){R}", &[1], Shape),
            r("grafana-token", &["glsa_", "glc_"], r"{L}(gl(?:sa|c)_[A-Za-z0-9_+/=-]{32,})", &[1], Random),
            r("newrelic-key", &["nrak-", "nraa-", "nrii-", "nrjs-"], r"{L}(NR(?:AK|AA|II|JS)-[A-Z0-9]{27}){R}", &[1], Shape),
            r("mailchimp-key", &["-us"], r"{L}([a-f0-9]{32}-us[0-9]{1,2}){R}", &[1], Shape),
            r("mailgun-key", &["key-"], r"{L}(key-[a-f0-9]{32}){R}", &[1], Shape),
            r(
                "terraform-token", &[".atlasv1."],
                r"{L}([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,})",
                &[1],
                Shape,
            ),
            r("pulumi-token", &["pul-"], r"{L}(pul-[a-f0-9]{40}){R}", &[1], Shape),
            r(
                "doppler-token", &["dp."],
                r"{L}(dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,})",
                &[1],
                Shape,
            ),
            r("sentry-token", &["sntry"], r"{L}(sntry[su]_[A-Za-z0-9_=+/-]{40,})", &[1], Shape),
            r("fly-token", &["fm1", "fm2"], r"{L}(fm[12][ar]?_[A-Za-z0-9+/=_-]{40,})", &[1], Shape),
            r(
                "jwt", &["eyj"],
                r"{L}(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
                &[1],
                Shape,
            ),
            // ---- context
            r(
                "url-password", &["://"],
                r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@]*:([^\s@/]+)@",
                &[1],
                Password,
            ),
            r(
                "bearer-token", &["bearer"],
                r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})",
                &[1],
                Random,
            ),
            r(
                "basic-auth", &["basic"],
                r"(?i)\bauthorization\s*:\s*basic\s+([A-Za-z0-9+/=]{8,})",
                &[1],
                Random,
            ),
            r(
                "api-key-header", &["authorization"],
                r"(?i)\bauthorization\s*:\s*(?:token|apikey|api-key|key|sso-key|ssws)\s+([A-Za-z0-9._~+/=:-]{8,})",
                &[1],
                Random,
            ),
            r(
                "railway-project", &["project-access-token"],
                r#"(?i)\bproject-access-token["']?\s*:\s*["']?([A-Za-z0-9._-]{8,})"#,
                &[1],
                Random,
            ),
            r(
                "api-key-header", &["api-key", "auth-token", "private-token", "access-token", "vault-token", "figma-token", "railway-token"],
                r#"(?i)\b(?:x-api-key|api-key|x-auth-token|private-token|x-access-token|x-vault-token|x-goog-api-key|x-figma-token|x-shopify-access-token|x-railway-token)["']?\s*:\s*["']?([A-Za-z0-9._~+/=-]{8,})"#,
                &[1],
                Random,
            ),
            r(
                "password", &["mysql"],
                &format!(r"\bmysql(?:dump|admin|import|show|sh|check)?\b[^\n|;&]*?\s-p{val}"),
                &[1, 2, 3, 4],
                Password,
            ),
            r(
                "password", &["sshpass"],
                &format!(r"\bsshpass\s+-p\s*{val}"),
                &[1, 2, 3, 4],
                Password,
            ),
            r(
                "password", &["docker", "podman", "nerdctl", "buildah", "helm", "twine", "oras", "skopeo", "crane"],
                &format!(
                    r"\b(?:docker|podman|nerdctl|buildah|helm|twine|oras|skopeo|crane)\b[^\n|;&]*?\s(?:-p|--password)(?:=|\s+){val}"
                ),
                &[1, 2, 3, 4],
                Password,
            ),
            r(
                "basic-auth", &["curl", "wget", "http", "xh"],
                r#"\b(?:curl|wget|http|https|xh)\b[^\n|;&]*?\s(?:-u|--user|-a|--auth)(?:=|\s*)(?:'[^':\n]*:([^'\n]+)'|"[^":\n]*:([^"\n]+)"|[^\s'":]*:([^\s'"\\]+))"#,
                &[1, 2, 3],
                Password,
            ),
            r(
                "env-secret", &["configure"],
                r"\baws\s+configure\s+set\s+\S*(?:secret|token)\S*\s+(\S+)",
                &[1],
                Random,
            ),
            // Dockerfile `ENV NAME value`, `.netrc` `password X`, `.pgpass` lines.
            r(
                "env-secret",
                &["env"],
                &format!(r"(?m)^[ \t]*ENV[ \t]+({NAME})[ \t]+{val}"),
                &[2, 3, 4, 5],
                Named {
                    name: 1,
                    sep: None,
                },
            ),
            r(
                "password",
                &["machine"],
                r"\bmachine\s+\S+\s+(?:login\s+\S+\s+)?password\s+(\S+)",
                &[1],
                Password,
            ),
            r(
                "password",
                &[":"],
                r"(?m)^[A-Za-z0-9_.*-]+:(?:[0-9]+|\*):[^:\s]+:[^:\s]+:(\S+)$",
                &[1],
                Password,
            ),
            // Flags: `--password=..`, `--api-key ..`, `-token ..`.
            r(
                "env-secret", &["-"],
                &format!(r"(?:^|\s)--?([A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*)(?:=|[ \t]+){val}"),
                &[2, 3, 4, 5],
                Named {
                    name: 1,
                    sep: None,
                },
            ),
            // Assignments: `.env`, `export`, JSON, YAML, TOML, connection strings.
            r(
                "env-secret", &[],
                &format!(
                    r#"(?:^|[^A-Za-z0-9_])({NAME})["']?[ \t]*(=>|:=|==|=|:)[ \t]*{val}"#
                ),
                &[3, 4, 5, 6],
                Named {
                    name: 1,
                    sep: Some(2),
                },
            ),
        ]
    })
}

impl Rule {
    fn regex(&self) -> Option<&Regex> {
        self.re
            .get_or_init(|| Regex::new(&self.pattern).ok())
            .as_ref()
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

/// Splits a name into lowercase words: `keyStorePassword` -> key, store, password;
/// `AWS_SECRET_ACCESS_KEY` -> aws, secret, access, key.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every rule's needles and the secret-name endings in one Aho-Corasick automaton: one pass over
/// a text says which needles are in it and whether a name in it may end in a secret word (a
/// substring search per needle per text was most of redaction's time).
struct NeedleIndex {
    ac: aho_corasick::AhoCorasick,
    /// Rule needles, sorted; pattern ids `0..needles.len()`.
    needles: Vec<&'static str>,
}

fn needle_index() -> &'static NeedleIndex {
    static INDEX: OnceLock<NeedleIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut needles: Vec<&'static str> = rules()
            .iter()
            .flat_map(|r| r.needles.iter().copied())
            .collect();
        needles.sort_unstable();
        needles.dedup();
        let patterns: Vec<&str> = needles.iter().chain(SECRET_NAME_ENDS).copied().collect();
        let ac = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
            .build(&patterns)
            .unwrap_or_else(|e| panic!("built-in needles: {e}"));
        NeedleIndex { ac, needles }
    })
}

/// For each rule, the indexes of its needles in [`needle_index`].
fn rule_needle_ids() -> &'static [Vec<usize>] {
    static IDS: OnceLock<Vec<Vec<usize>>> = OnceLock::new();
    IDS.get_or_init(|| {
        let idx = needle_index();
        rules()
            .iter()
            .map(|r| {
                r.needles
                    .iter()
                    .filter_map(|n| idx.needles.binary_search(n).ok())
                    .collect()
            })
            .collect()
    })
}

/// Which needles occur in `lower` (the text in ASCII lowercase), and whether some name in it
/// ends with a word of [`SECRET_NAME_ENDS`]: a name ends where the text has a character that
/// cannot continue it, after any trailing `_`, `.` or `-` (glued names such as `pgpassword`
/// included). The latter is a necessary condition for a Named rule to accept anything.
fn needles_present(lower: &str) -> (Vec<bool>, bool) {
    let idx = needle_index();
    let b = lower.as_bytes();
    let mut present = vec![false; idx.needles.len()];
    let mut named = false;
    for m in idx.ac.find_overlapping_iter(lower) {
        let id = m.pattern().as_usize();
        if id < present.len() {
            present[id] = true;
        } else if !named {
            let mut j = m.end();
            while j < b.len() && matches!(b[j], b'_' | b'.' | b'-') {
                j += 1;
            }
            named = j >= b.len() || !b[j].is_ascii_alphanumeric();
        }
    }
    (present, named)
}

/// The last words [`name_class`] accepts (see [`needles_present`]).
const SECRET_NAME_ENDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "passcode",
    "pw",
    "pword",
    "token",
    "secret",
    "apikey",
    "credential",
    "credentials",
    "authtoken",
    "accesstoken",
    "secretkey",
    "privatekey",
    "pat",
    "cred",
    "creds",
    "key",
    "auth",
    "key_base",
    "key-base",
    "key.base",
    "key_data",
    "key-data",
    "key.data",
];

/// Whether a name says its value is a secret, and how strongly.
fn name_class(name: &str) -> Option<NameClass> {
    let w = words(name);
    let last = w.last()?.as_str();
    let prev = if w.len() >= 2 {
        w[w.len() - 2].as_str()
    } else {
        ""
    };
    if w.iter()
        .any(|x| matches!(x.as_str(), "public" | "publishable" | "pub" | "example"))
    {
        return None;
    }
    // Glued names: `PGPASSWORD`, `GITHUBTOKEN`, `clientsecret`.
    let glued = |suffix: &str| last.len() > suffix.len() && last.ends_with(suffix);
    if glued("password") || glued("passwd") {
        return Some(NameClass::Password);
    }
    if glued("token") || glued("secret") {
        return Some(NameClass::Token);
    }
    match last {
        "password" | "passwd" | "pass" | "pwd" | "passphrase" | "passcode" | "pw" | "pword" => {
            Some(NameClass::Password)
        }
        "token" | "secret" | "apikey" | "credential" | "credentials" | "authtoken"
        | "accesstoken" | "secretkey" | "privatekey" | "pat" | "cred" | "creds" => {
            Some(NameClass::Token)
        }
        "key" => match prev {
            "api" | "access" | "secret" | "private" | "account" | "shared" | "client"
            | "master" | "encryption" | "signing" | "auth" | "admin" | "restricted" | "service"
            | "app" | "license" | "sas" | "storage" | "deploy" | "webhook" | "hmac" | "session"
            | "jwt" | "encrypt" | "crypt" | "cipher" | "aes" | "ssh" | "management"
            | "subscription" | "ingest" | "write" | "root" | "user" => Some(NameClass::Token),
            _ => Some(NameClass::Weak),
        },
        // `SECRET_KEY_BASE` (Rails), kubeconfig `client-key-data`.
        "base" if prev == "key" && w.iter().any(|x| x == "secret") => Some(NameClass::Token),
        "data" if prev == "key" && w.iter().any(|x| x == "client" || x == "private") => {
            Some(NameClass::Token)
        }
        "auth" if w.len() == 1 => Some(NameClass::Weak),
        _ => None,
    }
}

/// The kind recorded for a named secret.
fn named_kind(name: &str, class: NameClass) -> &'static str {
    let w = words(name);
    if w.iter().any(|x| x == "railway") {
        return if w.iter().any(|x| x == "api" || x == "account") {
            "railway-account"
        } else {
            "railway-project"
        };
    }
    match class {
        NameClass::Password => "password",
        _ => "env-secret",
    }
}

/// Values that stand for a secret without being one.
fn is_placeholder(v: &str) -> bool {
    let t = v.trim();
    if t.is_empty() {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    if t.starts_with('$')
        || t.starts_with("[REDACTED")
        || t.starts_with('<')
        || t.starts_with("{{")
        || t.starts_with("{%")
        || t.starts_with("<%")
        || (t.starts_with('%') && t.ends_with('%') && t.len() > 2)
        || (t.starts_with("#{") && t.ends_with('}'))
    {
        return true;
    }
    if lower.contains("xxxx") || t.contains("***") || t.contains("...") || t.contains("EXAMPLE") {
        return true;
    }
    // A run of one repeated character (`--------`, `00000000`, `aaaa`).
    let mut cs = t.chars();
    if let Some(first) = cs.next()
        && t.len() >= 4
        && cs.all(|c| c == first)
    {
        return true;
    }
    if lower.starts_with("your") || lower.ends_with("-here") || lower.ends_with("_here") {
        return true;
    }
    matches!(
        lower.as_str(),
        "null"
            | "none"
            | "nil"
            | "true"
            | "false"
            | "undefined"
            | "empty"
            | "required"
            | "optional"
            | "string"
            | "str"
            | "text"
            | "bool"
            | "int"
            | "hidden"
            | "redacted"
            | "masked"
            | "placeholder"
            | "dummy"
            | "sample"
            | "example"
            | "todo"
            | "tbd"
            | "fixme"
            | "changeit-later"
            | "password"
            | "passwd"
            | "secret"
            | "token"
            | "apikey"
            | "api_key"
            | "api-key"
            | "pass"
            | "expired"
            | "invalid"
            | "missing"
            | "unset"
            | "default"
            | "env"
            | "prompt"
            | "stdin"
            | "file"
            | "bearer"
            | "basic"
    )
}

/// Code that reads a secret from elsewhere: `os.environ[..]`, `get_token()`, `process.env.X`,
/// `args.api_key`.
fn is_code(v: &str) -> bool {
    if v.contains('(') || v.contains(')') || v.contains('[') || v.contains("::") {
        return true;
    }
    let segs: Vec<&str> = v.split('.').collect();
    segs.len() >= 2
        && segs.iter().all(|s| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit())
        })
}

/// A file path rather than a secret value.
fn is_path(v: &str) -> bool {
    let rooted = v.starts_with('/')
        || v.starts_with("~/")
        || v.starts_with("./")
        || v.starts_with("../")
        || v.starts_with("file:");
    let random_seg = v.split('/').any(|s| {
        s.len() >= 8
            && s.chars().any(|c| c.is_ascii_uppercase())
            && s.chars().any(|c| c.is_ascii_lowercase())
            && s.chars().any(|c| c.is_ascii_digit())
    });
    if rooted {
        return !random_seg && !v.contains('+') && !v.contains('=');
    }
    const EXT: [&str; 14] = [
        ".json", ".yaml", ".yml", ".txt", ".pem", ".key", ".p12", ".pfx", ".env", ".enc", ".cfg",
        ".conf", ".ini", ".toml",
    ];
    let lower = v.to_ascii_lowercase();
    EXT.iter().any(|e| lower.ends_with(e)) && !random_seg
}

fn has_digit(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
}

fn has_alpha(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_alphabetic())
}

/// A value that looks generated: letters and digits (or long and mixed-case).
fn looks_random(v: &str) -> bool {
    let mixed_case =
        v.bytes().any(|b| b.is_ascii_uppercase()) && v.bytes().any(|b| b.is_ascii_lowercase());
    (v.len() >= 8 && has_digit(v) && has_alpha(v)) || (v.len() >= 24 && mixed_case)
}

fn value_ok(v: &str, class: NameClass) -> bool {
    if v.len() > 8192 || is_placeholder(v) || is_code(v) || is_path(v) {
        return false;
    }
    match class {
        NameClass::Password => {
            v.len() >= 4
                && !v.contains(char::is_whitespace)
                && (!v.bytes().all(|b| b.is_ascii_digit()) || v.len() >= 6)
        }
        NameClass::Token => {
            v.len() >= 8
                && !v.contains(char::is_whitespace)
                && !v.bytes().all(|b| b.is_ascii_digit())
                && (has_digit(v) || v.len() >= 12 || !v.bytes().all(|b| b.is_ascii_lowercase()))
        }
        NameClass::Weak => v.len() >= 16 && looks_random(v),
    }
}

/// A candidate match before fingerprinting.
struct Hit {
    kind: &'static str,
    start: usize,
    end: usize,
}

fn accept(rule: &Rule, caps: &Captures<'_>) -> Option<Hit> {
    let m = rule.groups.iter().find_map(|g| caps.get(*g))?;
    let v = m.as_str();
    if v.is_empty() {
        return None;
    }
    let kind = match rule.check {
        Check::Shape => {
            if is_placeholder(v) {
                return None;
            }
            rule.kind
        }
        Check::Random => {
            if is_placeholder(v) || !looks_random(v) {
                return None;
            }
            rule.kind
        }
        Check::Password => {
            if !value_ok(v, NameClass::Password) {
                return None;
            }
            rule.kind
        }
        Check::Named { name, sep } => {
            let name = caps.get(name)?.as_str();
            if let Some(sep) = sep.and_then(|s| caps.get(s))
                && sep.as_str() == "=="
            {
                return None; // a comparison, not an assignment
            }
            let class = name_class(name)?;
            if !value_ok(v, class) {
                return None;
            }
            // `self.password = password`: the value names a variable.
            let vw = words(v);
            if vw.len() <= 3 && vw.iter().all(|x| words(name).contains(x)) && !has_digit(v) {
                return None;
            }
            named_kind(name, class)
        }
    };
    Some(Hit {
        kind,
        start: m.start(),
        end: m.end(),
    })
}

/// The char boundary before `i` (rules look at one character before a name).
fn prev_boundary(text: &str, mut i: usize) -> usize {
    if i == 0 {
        return 0;
    }
    i -= 1;
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn next_boundary(text: &str, mut i: usize) -> usize {
    i += 1;
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
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
        let mut taken: Vec<(usize, usize)> = if text.contains("[REDACTED:") {
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
        let lower = text.to_ascii_lowercase();
        let (present, named_ok) = needles_present(&lower);
        let ids = rule_needle_ids();
        for (ri, rule) in rules().iter().enumerate() {
            if !rule.needles.is_empty() && !ids[ri].iter().any(|&i| present[i]) {
                continue;
            }
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

    fn redact_once(&self, text: &str) -> (String, Vec<Redaction>) {
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

    /// Redacts a text; returns the new text and the secrets replaced. Idempotent: the scan is
    /// repeated until it finds nothing (a redaction can expose context for another rule).
    pub fn redact_str(&self, text: &str) -> (String, Vec<Redaction>) {
        let (mut out, mut reds) = self.redact_once(text);
        if reds.is_empty() {
            return (out, reds);
        }
        for _ in 0..16 {
            let (next, more) = self.redact_once(&out);
            if more.is_empty() {
                break;
            }
            out = next;
            reds.extend(more);
        }
        (out, reds)
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
                    let (scheme, secret) = split_scheme(s);
                    let decoded = scheme
                        .eq_ignore_ascii_case("basic ")
                        .then(|| basic_password(secret))
                        .flatten();
                    let value = decoded.as_deref().unwrap_or(secret);
                    let fp = self.fingerprint(value);
                    self.known.learn(value, &fp, kind);
                    *s = format!("{scheme}{}", marker(kind, &fp));
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
    let (_, secret) = split_scheme(value);
    if secret.starts_with("[REDACTED:") || is_placeholder(secret) {
        return None;
    }
    let k = key.to_ascii_lowercase().replace('_', "-");
    match k.as_str() {
        "authorization" | "proxy-authorization" => {
            return (secret.len() >= 6 && !secret.contains(char::is_whitespace))
                .then_some("bearer-token");
        }
        "project-access-token" => return (secret.len() >= 6).then_some("railway-project"),
        "cookie" | "set-cookie" => return (secret.len() >= 8).then_some("cookie"),
        _ => {}
    }
    let class = name_class(key)?;
    if !value_ok(secret, class) {
        return None;
    }
    Some(named_kind(key, class))
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

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn every_built_in_rule_compiles() {
        for r in rules() {
            assert!(r.regex().is_some(), "rule {} does not compile", r.kind);
            assert!(
                r.needles.iter().all(|n| n.to_ascii_lowercase() == *n),
                "needles are lowercase"
            );
        }
    }
}
