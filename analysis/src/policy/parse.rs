//! The policy file's parser: TOML with spans, each key checked against what it may hold, every
//! problem collected with its line (unknown keys with a close known one named).

use super::*;

pub(super) struct Parser<'s> {
    pub(super) src: &'s str,
    pub(super) errors: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
}

pub(super) type Table<'i> = DeTable<'i>;

pub(super) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A glob list of an environment.
type GlobList = fn(&mut Environment) -> &mut Vec<String>;

/// An environment's glob lists, by their key in the policy.
const ENV_GLOB_LISTS: [(&str, GlobList); 8] = [
    ("hosts", |e| &mut e.hosts),
    ("urls", |e| &mut e.urls),
    ("ids", |e| &mut e.ids),
    ("kube_contexts", |e| &mut e.kube_contexts),
    ("terraform_workspaces", |e| &mut e.terraform_workspaces),
    ("aws_profiles", |e| &mut e.aws_profiles),
    ("gcp_projects", |e| &mut e.gcp_projects),
    ("paths", |e| &mut e.paths),
];

impl Parser<'_> {
    fn at(&self, span: std::ops::Range<usize>, message: String) -> Problem {
        let (line, column) = line_col(self.src, span.start);
        Problem {
            line,
            column,
            message,
            warning: false,
        }
    }

    fn error(&mut self, span: std::ops::Range<usize>, message: String) {
        let p = self.at(span, message);
        self.errors.push(p);
    }

    fn warn(&mut self, span: std::ops::Range<usize>, message: String) {
        let mut p = self.at(span, message);
        p.warning = true;
        self.warnings.push(p);
    }

    fn unknown(&mut self, key: &Spanned<std::borrow::Cow<'_, str>>, within: &str, known: &[&str]) {
        let k = key.get_ref();
        let hint = known
            .iter()
            .find(|c| similar(c, k))
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        self.warn(
            key.span(),
            format!("unknown key `{k}` in {within}{hint}; it is ignored"),
        );
    }

    fn string(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.error(
                    v.span(),
                    format!("`{key}` must be a string, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `[team] url`: a PostgreSQL connection URL.
    fn team_url(&mut self, v: &Spanned<DeValue<'_>>) -> Option<String> {
        let url = self.string("url", v)?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(url)
        } else {
            self.error(
                v.span(),
                "`[team] url` must be a postgres:// (or postgresql://) URL".to_string(),
            );
            None
        }
    }

    fn bool(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.error(
                    v.span(),
                    format!("`{key}` must be true or false, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An array of strings (a single string is accepted as a list of one).
    /// A list of glob patterns: [`Self::strings`], each checked by [`crate::glob::check`]
    /// (a broken glob is an error at its own line and column).
    fn globs(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Vec<String> {
        let out = self.strings(key, v);
        let items: Vec<std::ops::Range<usize>> = match v.get_ref() {
            DeValue::Array(items) => items.iter().map(|it| it.span()).collect(),
            _ => vec![v.span()],
        };
        for (pattern, span) in out.iter().zip(items) {
            if let Err(why) = crate::glob::check(pattern) {
                self.error(
                    span,
                    format!("`{key}`: `{pattern}` is not a valid glob: {why}"),
                );
            }
        }
        out
    }

    fn strings(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Vec<String> {
        match v.get_ref() {
            DeValue::String(s) => vec![s.to_string()],
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for it in items.iter() {
                    match it.get_ref() {
                        DeValue::String(s) => {
                            if s.is_empty() {
                                self.error(it.span(), format!("`{key}` has an empty pattern"));
                            }
                            out.push(s.to_string());
                        }
                        other => self.error(
                            it.span(),
                            format!(
                                "`{key}` must be a list of strings; found {}",
                                type_name(other)
                            ),
                        ),
                    }
                }
                out
            }
            other => {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` must be a list of strings, not {}",
                        type_name(other)
                    ),
                );
                Vec::new()
            }
        }
    }

    fn table<'a, 'i>(&mut self, key: &str, v: &'a Spanned<DeValue<'i>>) -> Option<&'a Table<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.error(
                    v.span(),
                    format!("`{key}` must be a table, not {}", type_name(other)),
                );
                None
            }
        }
    }

    pub(super) fn policy(&mut self, root: &Table<'_>) -> Policy {
        let mut policy = Policy::empty();
        const TOP: [&str; 6] = [
            "home",
            "environments",
            "credentials",
            "guard",
            "checkpoints",
            "team",
        ];
        for (k, v) in root.iter() {
            match k.get_ref().as_ref() {
                "home" => policy.home = self.string("home", v),
                "environments" => {
                    if let Some(t) = self.table("environments", v) {
                        for (name, env) in t.iter() {
                            if let Some(e) = self.environment(name, env) {
                                policy.environments.push(e);
                            }
                        }
                    }
                }
                "credentials" => match v.get_ref() {
                    DeValue::Array(items) => {
                        for it in items.iter() {
                            if let Some(c) = self.credential(it) {
                                policy.credentials.push(c);
                            }
                        }
                    }
                    other => self.error(
                        v.span(),
                        format!(
                            "`credentials` must be an array of tables ([[credentials]]), not {}",
                            type_name(other)
                        ),
                    ),
                },
                "guard" => {
                    if let Some(t) = self.table("guard", v) {
                        policy.guard = self.guard(t);
                    }
                }
                "checkpoints" => {
                    if let Some(t) = self.table("checkpoints", v) {
                        for (ck, cv) in t.iter() {
                            match ck.get_ref().as_ref() {
                                "anchor" => policy.anchor = self.string("anchor", cv),
                                _ => self.unknown(ck, "[checkpoints]", &["anchor"]),
                            }
                        }
                    }
                }
                "team" => {
                    if let Some(t) = self.table("team", v) {
                        for (tk, tv) in t.iter() {
                            match tk.get_ref().as_ref() {
                                "url" => policy.team_url = self.team_url(tv),
                                _ => self.unknown(tk, "[team]", &["url"]),
                            }
                        }
                    }
                }
                _ => self.unknown(k, "the top level", &TOP),
            }
        }
        // References to environments that are not defined.
        let names: Vec<String> = policy.environments.iter().map(|e| e.name.clone()).collect();
        for c in &policy.credentials {
            for r in &c.reaches {
                if r != "*" && !names.contains(r) && policy.home.as_deref() != Some(r.as_str()) {
                    self.warnings.push(Problem {
                        warning: true,
                        line: c.line,
                        column: 1,
                        message: format!(
                            "`reaches` names `{r}`, which is neither home nor an [environments.{r}] table"
                        ),
                    });
                }
            }
        }
        policy
    }

    fn environment(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<Environment> {
        let t = self.table(&format!("environments.{}", name.get_ref()), v)?;
        let mut env = Environment {
            name: name.get_ref().to_string(),
            ..Environment::default()
        };
        if env.name == "*" {
            self.error(
                name.span(),
                "`*` is reserved (it means every environment in `reaches`)".into(),
            );
        }
        let known: Vec<&str> = ENV_GLOB_LISTS
            .iter()
            .map(|(key, _)| *key)
            .chain(["env_vars", "description"])
            .collect();
        for (k, val) in t.iter() {
            let key = k.get_ref().as_ref();
            if let Some((_, list)) = ENV_GLOB_LISTS.iter().find(|(name, _)| *name == key) {
                *list(&mut env) = self.globs(key, val);
                continue;
            }
            match key {
                "description" => {
                    let _ = self.string(key, val);
                }
                "env_vars" => {
                    if let Some(vars) = self.table(key, val) {
                        for (var, pat) in vars.iter() {
                            let pats = self.globs(&format!("env_vars.{}", var.get_ref()), pat);
                            env.env_vars.push((var.get_ref().to_string(), pats));
                        }
                    }
                }
                _ => self.unknown(k, &format!("[environments.{}]", env.name), &known),
            }
        }
        Some(env)
    }

    fn credential(&mut self, v: &Spanned<DeValue<'_>>) -> Option<CredentialRule> {
        let t = self.table("credentials", v)?;
        let (line, _) = line_col(self.src, v.span().start);
        let mut c = CredentialRule {
            line,
            ..CredentialRule::default()
        };
        let mut reaches_seen = false;
        const KEYS: [&str; 6] = [
            "kind",
            "env",
            "file",
            "fingerprint",
            "reaches",
            "description",
        ];
        for (k, val) in t.iter() {
            let key = k.get_ref().as_ref();
            match key {
                "kind" => {
                    c.kind = self.string(key, val);
                    if let Some(kind) = &c.kind
                        && !KNOWN_KINDS.contains(&kind.as_str())
                    {
                        self.warn(
                            val.span(),
                            format!(
                                "unknown credential kind `{kind}` (known: {})",
                                KNOWN_KINDS.join(", ")
                            ),
                        );
                    }
                }
                "env" => c.env = self.string(key, val),
                "file" => {
                    c.file = self.string(key, val);
                    if let Some(Err(why)) = c.file.as_deref().map(crate::glob::check) {
                        let pattern = c.file.clone().unwrap_or_default();
                        self.error(
                            val.span(),
                            format!("`file`: `{pattern}` is not a valid glob: {why}"),
                        );
                    }
                }
                "fingerprint" => {
                    c.fingerprint = self.string(key, val);
                    if let Some(fp) = &c.fingerprint
                        && !(fp.len() == 16 && fp.chars().all(|ch| ch.is_ascii_hexdigit()))
                    {
                        self.error(
                            val.span(),
                            format!("`fingerprint` must be 16 hex digits (as in a [REDACTED:kind:fp] marker), not {fp:?}"),
                        );
                    }
                }
                "reaches" => {
                    reaches_seen = true;
                    c.reaches = self.strings(key, val);
                }
                "description" => {
                    let _ = self.string(key, val);
                }
                _ => self.unknown(k, "[[credentials]]", &KEYS),
            }
        }
        if c.kind.is_none() && c.env.is_none() && c.file.is_none() && c.fingerprint.is_none() {
            self.error(
                v.span(),
                "a [[credentials]] entry needs `kind`, `env`, `file` or `fingerprint`".into(),
            );
        }
        if !reaches_seen {
            self.error(
                v.span(),
                "a [[credentials]] entry needs `reaches` (environment names, or \"*\")".into(),
            );
        }
        Some(c)
    }

    fn guard(&mut self, t: &Table<'_>) -> GuardSettings {
        let mut g = GuardSettings::default();
        const KEYS: [&str; 4] = ["enabled", "deny", "min_severity", "fail"];
        for (k, val) in t.iter() {
            let key = k.get_ref().as_ref();
            match key {
                "enabled" => g.enabled = self.bool(key, val).unwrap_or(false),
                "deny" => {
                    g.deny = self.strings(key, val);
                    if let DeValue::Array(items) = val.get_ref() {
                        for it in items.iter() {
                            if let DeValue::String(s) = it.get_ref()
                                && !DENY_KEYWORDS.contains(&s.as_ref())
                            {
                                self.error(
                                    it.span(),
                                    format!(
                                        "`deny` takes {}; not {s:?}",
                                        DENY_KEYWORDS.map(|d| format!("\"{d}\"")).join(", ")
                                    ),
                                );
                            }
                        }
                    }
                }
                "min_severity" => match self.string(key, val).as_deref() {
                    Some("low") => g.min_severity = crate::catalogue::Severity::Low,
                    Some("medium") => g.min_severity = crate::catalogue::Severity::Medium,
                    Some("high") => g.min_severity = crate::catalogue::Severity::High,
                    Some("critical") => g.min_severity = crate::catalogue::Severity::Critical,
                    Some(other) => self.error(
                        val.span(),
                        format!(
                            "`min_severity` is \"low\", \"medium\", \"high\" or \"critical\", not {other:?}"
                        ),
                    ),
                    None => {}
                },
                "fail" => match self.string(key, val).as_deref() {
                    Some("open") => g.fail = FailMode::Open,
                    Some("closed") => g.fail = FailMode::Closed,
                    Some(other) => self.error(
                        val.span(),
                        format!("`fail` is \"open\" or \"closed\", not {other:?}"),
                    ),
                    None => {}
                },
                _ => self.unknown(k, "[guard]", &KEYS),
            }
        }
        g
    }
}

/// Close enough to be a typo (one edit, or a prefix).
pub(super) fn similar(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    if a.starts_with(b) || b.starts_with(a) {
        return a.len().abs_diff(b.len()) <= 2;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}
