//! The built-in rules: shapes, contexts and names, and the needle index that says which rules
//! a text needs.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use regex::{Captures, Regex};

use super::names::{
    NameClass, SECRET_NAME_ENDS, has_digit, is_placeholder, looks_random, name_class, named_kind,
    value_ok, words,
};

/// What a rule needs besides its regex.
#[derive(Clone, Copy)]
pub(super) enum Check {
    /// The shape is enough (placeholders like `sk_live_xxxx` excepted).
    Shape,
    /// A credential-looking value: letters and digits, or long.
    Random,
    /// A password-ish value: anything but a placeholder, code or a path.
    Password,
    /// Group `name` is a name that must say "secret"; the kind follows from it.
    Named { name: usize, sep: Option<usize> },
}

pub(super) struct Rule {
    pub(super) kind: &'static str,
    /// The regex as written: `{L}`, `{R}` and `\b` are expanded when it is compiled.
    pub(super) pattern: String,
    /// Compiled on first use: most texts need only a few rules, and a hook process is short.
    pub(super) re: OnceLock<Option<Regex>>,
    /// Lowercase literals one of which must occur in the text for the rule to be tried
    /// (empty: always tried).
    pub(super) needles: &'static [&'static str],
    /// Capture groups that may hold the secret; the first that participated is used.
    pub(super) groups: &'static [usize],
    pub(super) check: Check,
}

/// What may come before a credential with a recognisable shape: the start, any character but an
/// ASCII letter or digit (`_` included: `backup_ghp_..`), a percent-escape (`token%3Dghp_..`) or
/// a JSON escape (`\nghp_..`). The character is part of the match, not of the secret.
pub(super) const LEFT: &str = r"(?:^|[^A-Za-z0-9]|%[0-9A-Fa-f]{2}|\\[nrt])";
/// What may come after one: the end, or any character but an ASCII letter or digit.
pub(super) const RIGHT: &str = r"(?:[^A-Za-z0-9]|$)";

/// Characters that may not start a name (so a name is never the tail of a longer word).
pub(super) const NAME: &str = r"[A-Za-z_][A-Za-z0-9_.-]*";

pub(super) fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |kind: &'static str,
                 needles: &'static [&'static str],
                 pat: &str,
                 groups: &'static [usize],
                 check: Check| Rule {
            kind,
            // Expanded when the regex is compiled (see `Rule::regex`): most rules are never
            // compiled in a short process.
            pattern: pat.to_string(),
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
    pub(super) fn regex(&self) -> Option<&Regex> {
        self.re
            .get_or_init(|| Regex::new(&expand(&self.pattern)).ok())
            .as_ref()
    }
}

/// A rule's regex as compiled: `{L}` and `{R}` become [`LEFT`] and [`RIGHT`], and `\b` an ASCII
/// word boundary (a Unicode `\b` keeps the regex engine off its fast DFA on non-ASCII text, 25x
/// slower on real transcripts; an ASCII boundary only redacts more, a secret glued to a
/// non-ASCII letter).
fn expand(pattern: &str) -> String {
    pattern
        .replace(r"\b", r"(?-u:\b)")
        .replace("{L}", LEFT)
        .replace("{R}", RIGHT)
}

/// Every rule's needles and the secret-name endings, searched in one pass over a text: the pass
/// says which needles are in it and whether a name in it may end in a secret word (a substring
/// search per needle per text was most of redaction's time). The needles are lowercase and
/// every search ignores ASCII case, so the text is searched as it is (no lowercase copy).
///
/// Three searchers find the same matches; a process moves to the next as the bytes it has
/// searched grow, because each costs more to build and less per byte: a table of the patterns
/// by their first two bytes (built in about 30,000 instructions, about 75 per byte searched),
/// an Aho-Corasick NFA (1.4M to build, about 50 per byte) and a DFA (5.2M, about 24 per byte).
/// A hook searches a few hundred bytes and never builds an automaton.
pub(super) struct NeedleIndex {
    /// Patterns: the rule needles, sorted (ids `0..rules_of.len()`), then the name endings.
    patterns: Vec<&'static str>,
    /// The patterns by their first two bytes.
    pairs: PairTable,
    /// The patterns as an NFA, built once the process has searched [`NFA_AFTER_BYTES`].
    nfa: OnceLock<Option<aho_corasick::AhoCorasick>>,
    /// The same patterns as a DFA, built once the process has searched [`DFA_AFTER_BYTES`]
    /// (see [`NeedleIndex::searcher`]).
    dfa: OnceLock<Option<aho_corasick::AhoCorasick>>,
    /// Bytes searched without the DFA so far.
    searched: AtomicUsize,
    /// Whether a thread has begun building the DFA (the others keep to the NFA meanwhile).
    building: AtomicBool,
    /// For each needle, the rules that need it.
    rules_of: Vec<RuleSet>,
    /// The rules without needles (tried on every text).
    always: RuleSet,
}

/// How many buckets [`PairTable`] spreads the patterns over (a power of two).
const PAIR_BUCKETS: usize = 512;

/// The bucket of a pattern that starts with the bytes `a`, `b` (ASCII case ignored).
fn pair_bucket(a: u8, b: u8) -> usize {
    (usize::from(a.to_ascii_lowercase()) * 31 + usize::from(b.to_ascii_lowercase()))
        & (PAIR_BUCKETS - 1)
}

/// The patterns by a hash of their first two bytes, and the one-byte patterns as a byte set: at
/// each position of a text, only the few patterns of that position's bucket are compared. No
/// automaton to build, so a process that searches little pays little.
struct PairTable {
    /// Bucket `k` holds `ids[start[k]..start[k + 1]]`.
    start: Vec<u16>,
    /// Pattern ids, by bucket.
    ids: Vec<u16>,
    /// The patterns of one byte, both cases.
    single: Vec<Vec<u16>>,
}

impl PairTable {
    fn new(patterns: &[&str]) -> PairTable {
        let mut start = vec![0u16; PAIR_BUCKETS + 1];
        let mut single = vec![Vec::new(); 256];
        for (id, p) in patterns.iter().enumerate() {
            match *p.as_bytes() {
                [] => {}
                [a] => {
                    single[usize::from(a.to_ascii_lowercase())].push(id as u16);
                    if a.is_ascii_alphabetic() {
                        single[usize::from(a.to_ascii_uppercase())].push(id as u16);
                    }
                }
                [a, b, ..] => start[pair_bucket(a, b) + 1] += 1,
            }
        }
        for k in 0..PAIR_BUCKETS {
            start[k + 1] += start[k];
        }
        let mut ids = vec![0u16; usize::from(start[PAIR_BUCKETS])];
        let mut next = start.clone();
        for (id, p) in patterns.iter().enumerate() {
            if let [a, b, ..] = *p.as_bytes() {
                let k = pair_bucket(a, b);
                ids[usize::from(next[k])] = id as u16;
                next[k] += 1;
            }
        }
        PairTable { start, ids, single }
    }

    /// Calls `found(pattern id, end)` for every occurrence of every pattern in `text` (ASCII
    /// case ignored), overlapping ones included: what the automata's overlapping search finds,
    /// in another order.
    fn for_each_match(&self, patterns: &[&str], text: &[u8], mut found: impl FnMut(usize, usize)) {
        for i in 0..text.len() {
            for &id in &self.single[usize::from(text[i])] {
                found(usize::from(id), i + 1);
            }
            let Some(&next) = text.get(i + 1) else {
                break;
            };
            let k = pair_bucket(text[i], next);
            let bucket = &self.ids[usize::from(self.start[k])..usize::from(self.start[k + 1])];
            for &id in bucket {
                let p = patterns[usize::from(id)].as_bytes();
                if text.len() - i >= p.len() && text[i..i + p.len()].eq_ignore_ascii_case(p) {
                    found(usize::from(id), i + p.len());
                }
            }
        }
    }
}

/// A set of rules by index (the built-in rules are fewer than 256).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(super) struct RuleSet([u64; 4]);

impl RuleSet {
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn union(&mut self, other: &RuleSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    /// The rules in the set, in ascending order (the order the rules are written in).
    pub(super) fn iter(self) -> impl Iterator<Item = usize> {
        self.0.into_iter().enumerate().flat_map(|(w, mut bits)| {
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + b)
            })
        })
    }
}

pub(super) fn needle_index() -> &'static NeedleIndex {
    static INDEX: OnceLock<NeedleIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let rules = rules();
        assert!(rules.len() <= 256, "RuleSet holds at most 256 rules");
        let mut needles: Vec<&'static str> = rules
            .iter()
            .flat_map(|r| r.needles.iter().copied())
            .collect();
        needles.sort_unstable();
        needles.dedup();
        let mut rules_of = vec![RuleSet::default(); needles.len()];
        let mut always = RuleSet::default();
        for (ri, r) in rules.iter().enumerate() {
            if r.needles.is_empty() {
                always.insert(ri);
            }
            for n in r.needles {
                if let Ok(i) = needles.binary_search(n) {
                    rules_of[i].insert(ri);
                }
            }
        }
        let patterns: Vec<&'static str> = needles.iter().chain(SECRET_NAME_ENDS).copied().collect();
        assert!(
            patterns.len() <= usize::from(u16::MAX),
            "pattern ids are u16"
        );
        NeedleIndex {
            pairs: PairTable::new(&patterns),
            patterns,
            nfa: OnceLock::new(),
            dfa: OnceLock::new(),
            searched: AtomicUsize::new(0),
            building: AtomicBool::new(false),
            rules_of,
            always,
        }
    })
}

/// The needle automaton of one kind (ASCII case ignored).
fn automaton(
    patterns: &[&str],
    kind: aho_corasick::AhoCorasickKind,
) -> Result<aho_corasick::AhoCorasick, aho_corasick::BuildError> {
    aho_corasick::AhoCorasick::builder()
        .kind(Some(kind))
        .ascii_case_insensitive(true)
        .build(patterns)
}

/// How many bytes a process searches with the pair table before it builds the NFA. Measured
/// (`valgrind --tool=callgrind`, the needles and name endings over a Claude Code transcript):
/// the table costs about 30,000 instructions to build and 76 per byte searched, the NFA 1.40M to
/// build and 50 per byte; the NFA pays for itself after about 54 KB of text. A hook (a few
/// hundred bytes) never builds it; a text of 64 KiB or more builds it at once.
const NFA_AFTER_BYTES: usize = 64 * 1024;

/// How many bytes a process searches before it builds the DFA. Measured
/// (`valgrind --tool=callgrind`, the store bench): the DFA searches in less than half the
/// instructions of the NFA (679M -> 292M over 40,000 events) but costs 3.8M instructions to
/// build, more than a whole hook; it pays for itself after about 250 KB of text. A hook never
/// gets there; an import or a long append does within its first few hundred events.
const DFA_AFTER_BYTES: usize = 256 * 1024;

/// How a text is searched for the needles (see [`NeedleIndex`]).
enum Searcher<'a> {
    Pairs,
    Automaton(&'a aho_corasick::AhoCorasick),
}

impl NeedleIndex {
    /// The searcher for a text of `len` bytes: the DFA once built; else the NFA once the bytes
    /// searched reach [`NFA_AFTER_BYTES`], else the pair table (and the thread that takes the
    /// count past [`DFA_AFTER_BYTES`] builds the DFA first). All find the same matches.
    fn searcher(&self, len: usize) -> Searcher<'_> {
        if let Some(dfa) = self.dfa.get() {
            return self.or_nfa(dfa.as_ref());
        }
        let searched = self.searched.fetch_add(len, Ordering::Relaxed) + len;
        if searched >= DFA_AFTER_BYTES && !self.building.swap(true, Ordering::AcqRel) {
            // A DFA that cannot be built (a size limit) leaves the NFA in use.
            let dfa = self
                .dfa
                .get_or_init(|| automaton(&self.patterns, aho_corasick::AhoCorasickKind::DFA).ok());
            return self.or_nfa(dfa.as_ref());
        }
        if searched >= NFA_AFTER_BYTES {
            return self.or_nfa(None);
        }
        Searcher::Pairs
    }

    /// `ac` if given, else the NFA (built now if not yet), else the pair table.
    fn or_nfa<'a>(&'a self, ac: Option<&'a aho_corasick::AhoCorasick>) -> Searcher<'a> {
        let ac = ac.or_else(|| {
            self.nfa
                .get_or_init(|| {
                    automaton(&self.patterns, aho_corasick::AhoCorasickKind::ContiguousNFA).ok()
                })
                .as_ref()
        });
        ac.map_or(Searcher::Pairs, Searcher::Automaton)
    }
}

/// The rules to try on `text`: those without needles and those with a needle in the text
/// (ASCII case ignored); and whether some name in it ends with a word of [`SECRET_NAME_ENDS`]:
/// a name ends where the text has a character that cannot continue it, after any trailing `_`,
/// `.` or `-` (glued names such as `pgpassword` included). The latter is a necessary condition
/// for a Named rule to accept anything.
pub(super) fn candidate_rules(text: &str) -> (RuleSet, bool) {
    let idx = needle_index();
    candidates_by(idx, idx.searcher(text.len()), text)
}

/// [`candidate_rules`] with a given searcher of the index's patterns.
fn candidates_by(idx: &NeedleIndex, searcher: Searcher<'_>, text: &str) -> (RuleSet, bool) {
    let b = text.as_bytes();
    let mut set = idx.always;
    let mut named = false;
    let mut found = |id: usize, end: usize| {
        if let Some(rules) = idx.rules_of.get(id) {
            set.union(rules);
        } else if !named {
            let mut j = end;
            while j < b.len() && matches!(b[j], b'_' | b'.' | b'-') {
                j += 1;
            }
            named = j >= b.len() || !b[j].is_ascii_alphanumeric();
        }
    };
    match searcher {
        Searcher::Pairs => idx.pairs.for_each_match(&idx.patterns, b, &mut found),
        Searcher::Automaton(ac) => {
            for m in ac.find_overlapping_iter(text) {
                found(m.pattern().as_usize(), m.end());
            }
        }
    }
    (set, named)
}

/// A candidate match before fingerprinting.
pub(super) struct Hit {
    pub(super) kind: &'static str,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) fn accept(rule: &Rule, caps: &Captures<'_>) -> Option<Hit> {
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
pub(super) fn prev_boundary(text: &str, mut i: usize) -> usize {
    if i == 0 {
        return 0;
    }
    i -= 1;
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub(super) fn next_boundary(text: &str, mut i: usize) -> usize {
    i += 1;
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    /// The three searchers a process moves through (the pair table, the NFA, the DFA) say the
    /// same about every text: which rules to try, and whether a name may end in a secret word.
    #[test]
    fn the_needle_searchers_find_the_same() {
        let idx = needle_index();
        let nfa = automaton(&idx.patterns, aho_corasick::AhoCorasickKind::ContiguousNFA).unwrap();
        let dfa = automaton(&idx.patterns, aho_corasick::AhoCorasickKind::DFA).unwrap();
        let mut texts: Vec<String> = vec![
            String::new(),
            "cargo test --workspace && echo max_tokens=4000".into(),
            "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789".into(),
            "curl -H 'Authorization: Bearer x' https://x".into(),
            "postgres://app:S3cr3t@db/x token: ab12cd34ef56".into(),
        ];
        let mut rng = crate::synth::Rng::new(3);
        for (i, p) in idx.patterns.iter().enumerate() {
            let upper = p.to_ascii_uppercase();
            texts.push(p.to_string());
            texts.push(format!("x{p}_ = 1"));
            texts.push(format!("{upper}9"));
            texts.push(format!(
                "a {p}. {} b",
                idx.patterns[(i * 7) % idx.patterns.len()]
            ));
        }
        for _ in 0..2_000 {
            let len = rng.below(60) as usize;
            let t: String = (0..len)
                .map(|_| {
                    let p = idx.patterns[rng.below(idx.patterns.len() as u64) as usize];
                    match rng.below(4) {
                        0 => p.to_string(),
                        1 => p.to_ascii_uppercase(),
                        2 => ["_", "-", ".", " ", "=", "a", "\n", "é"][rng.below(8) as usize]
                            .to_string(),
                        _ => char::from(b' ' + rng.below(95) as u8).to_string(),
                    }
                })
                .collect();
            texts.push(t);
        }
        // The secrets corpus and the hook payloads, whole and line by line.
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let mut dirs = vec![fixtures.join("secrets"), fixtures.join("hooks")];
        let mut files = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    files += 1;
                    texts.extend(text.lines().map(str::to_string));
                    texts.push(text);
                }
            }
        }
        assert!(files >= 4, "the fixtures are there ({files} files)");
        for t in &texts {
            let by_nfa = candidates_by(idx, Searcher::Automaton(&nfa), t);
            assert_eq!(
                by_nfa,
                candidates_by(idx, Searcher::Automaton(&dfa), t),
                "{t:?}"
            );
            assert_eq!(by_nfa, candidates_by(idx, Searcher::Pairs, t), "{t:?}");
        }
    }

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
