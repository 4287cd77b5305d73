//! Secrets: where each fingerprint was sighted and where it was used, and which token reaches
//! how far.

use super::*;

impl Analyzer<'_> {
    /// Where a tool call's output will come from (for the secrets its result shows).
    pub(super) fn call_info_of(&self, call: &ToolCall) -> CallInfo {
        // The tool's input is the agent's own shape: its path under one of the usual names.
        let input = call.input.as_ref().unwrap_or(&Value::Null);
        for k in ["file_path", "path", "notebook_path", "absolute_path"] {
            if let Some(p) = input.get(k).and_then(Value::as_str) {
                return CallInfo {
                    file: Some(self.relative(p)),
                    other: None,
                };
            }
        }
        let Some(cmd) = call_command(call) else {
            return CallInfo::default();
        };
        // The last file-looking operand of a reading command (`cat ops/domains.env`).
        for c in shell::split(&cmd) {
            if matches!(
                c.program(),
                "cat"
                    | "head"
                    | "tail"
                    | "less"
                    | "grep"
                    | "rg"
                    | "source"
                    | "."
                    | "bat"
                    | "sed"
                    | "awk"
            ) && let Some(last) = c.argv[1..].iter().rev().find(|a| !a.starts_with('-'))
            {
                let whole_file = matches!(c.program(), "cat" | "less" | "bat" | "source" | ".");
                let p = self.relative(last);
                return if whole_file && !p.ends_with('/') {
                    CallInfo {
                        file: Some(p),
                        other: None,
                    }
                } else {
                    CallInfo {
                        file: None,
                        other: Some(p),
                    }
                };
            }
        }
        CallInfo {
            file: None,
            other: Some(format!("output of `{}`", truncate(&cmd, 60))),
        }
    }

    /// A path relative to the work tree, when it is inside it.
    pub(super) fn relative(&self, p: &str) -> String {
        match &self.ctx.root {
            Some(r) => p
                .strip_prefix(r.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|rest| !rest.is_empty())
                .unwrap_or(p)
                .to_string(),
            None => p.to_string(),
        }
    }

    /// Secrets an event shows (sightings) and uses, into the session's trails and `f`.
    pub(super) fn secrets_of(
        &mut self,
        ev: &Event,
        typed: &Typed,
        idx: usize,
        acts: &Acts,
        f: &mut EventFacts,
    ) {
        let is_use = matches!(ev.kind, Kind::ToolCall | Kind::Exec | Kind::ApiCall);
        // The recorder's own records (session_start carries the wrapped command line,
        // checkpoints carry hashes) are neither sightings nor uses.
        if matches!(
            ev.kind,
            Kind::SessionStart | Kind::Checkpoint | Kind::SessionEnd
        ) {
            return;
        }
        let mut found: Vec<Found> = Vec::new();
        let mut sighting = |it: SecretAt, path: Option<&str>, var: bool| {
            let fp = it.fp.unwrap_or_default();
            if fp.is_empty() {
                return;
            }
            let kind = it.kind.unwrap_or_else(|| "secret".into());
            let loc = location(path.or(it.path.as_deref()), it.line);
            let var = if var { it.var } else { None };
            found.push((fp, kind, var, loc, false));
        };
        if let Some(n) = ev.note() {
            for it in n.inventory.unwrap_or_default() {
                sighting(it, None, true);
            }
        }
        let read = ev.file_read();
        if let Some(r) = &read {
            let path = r.path.as_deref().map(|p| self.relative(p));
            for it in r.secrets.clone().unwrap_or_default() {
                sighting(it, path.as_deref(), false);
            }
        }
        let result = typed.result.as_ref();
        // Where shown text came from: the file a tool read, or the command that printed it.
        let info: CallInfo = match ev.kind {
            Kind::ToolResult => result
                .as_ref()
                .and_then(|r| {
                    r.call_seq.or_else(|| {
                        r.call_id
                            .as_deref()
                            .and_then(|id| self.calls.get(id).copied())
                    })
                })
                .and_then(|s| self.call_info.get(&s).cloned())
                .unwrap_or_default(),
            Kind::ToolCall => self.call_info.get(&ev.seq).cloned().unwrap_or_default(),
            _ => CallInfo {
                file: read
                    .as_ref()
                    .and_then(|r| r.path.clone())
                    .or_else(|| ev.file_change().and_then(|c| c.path))
                    .map(|p| self.relative(&p)),
                other: None,
            },
        };
        // (key, text, is this a use)
        let mut texts: Vec<(Option<String>, String, bool)> = Vec::new();
        if is_use {
            texts.extend(acts.action_text.iter().cloned().map(|(k, t)| (k, t, true)));
            // Output carried on the call itself (some hooks and imports) is a sighting.
            let mut shown = Vec::new();
            for k in [
                "output",
                "tool_response",
                "response",
                "result",
                "stdout",
                "stderr",
            ] {
                if let Some(v) = ev.data.get(k) {
                    collect_strings(v, None, &mut shown);
                }
            }
            texts.extend(shown.into_iter().map(|(k, t)| (k, t, false)));
        } else {
            let mut shown = Vec::new();
            collect_strings(&ev.data, None, &mut shown);
            texts.extend(shown.into_iter().map(|(k, t)| (k, t, false)));
        }
        // Claude Code's Read tool: the structured output names the first line it shows.
        let start_line = result
            .as_ref()
            .and_then(|r| r.output.as_ref())
            .and_then(|o| o.get("file"))
            .and_then(|f| f.get("startLine"))
            .and_then(Value::as_u64)
            .unwrap_or(1);
        for (key, text, used) in &texts {
            for m in marker_re().captures_iter(text) {
                let (Some(whole), Some(kind), Some(fp)) = (m.get(0), m.get(1), m.get(2)) else {
                    continue;
                };
                let before = &text[..whole.start()];
                let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
                let line_before = &before[line_start..];
                let var = var_before_re()
                    .captures(line_before)
                    .and_then(|c| c.get(1))
                    .map(|v| v.as_str().to_string())
                    .or_else(|| key.clone());
                // `path:line:` of grep-like output; the line of a file a tool read whole; the
                // file or command the output came from.
                let loc = if *used {
                    None
                } else {
                    grep_location(line_before)
                        .map(|l| self.relative(&l))
                        .or_else(|| {
                            info.file.as_ref().map(|p| {
                                let n = before.matches('\n').count() as u64;
                                format!("{p}:{}", start_line + n)
                            })
                        })
                        .or_else(|| info.other.clone())
                };
                found.push((
                    fp.as_str().to_string(),
                    kind.as_str().to_string(),
                    var,
                    loc,
                    *used,
                ));
            }
        }
        let default_loc = if is_use {
            None
        } else {
            info.file.clone().or(info.other.clone())
        };
        for r in &ev.redactions {
            if !found.iter().any(|(fp, ..)| *fp == r.fp) {
                found.push((
                    r.fp.clone(),
                    r.kind.clone(),
                    None,
                    default_loc.clone(),
                    false,
                ));
            }
        }
        // Sightings before uses, so an event that shows and uses a secret reads it first.
        found.sort_by_key(|x| x.4);
        let n_secrets = self.secrets.len();
        for (fp, kind, var, loc, used) in found {
            let st = self
                .secrets
                .entry(fp.clone())
                .or_insert_with(|| SecretState {
                    first_seen_seq: ev.seq,
                    first_location: if used { None } else { loc.clone() },
                    order: n_secrets + idx,
                    ..SecretState::default()
                });
            if st.first_location.is_none() && !used && st.uses.is_empty() {
                st.first_location = loc.clone();
            }
            if !st.kinds.contains(&kind) {
                st.kinds.push(kind);
            }
            if let Some(v) = var
                && !v.eq_ignore_ascii_case("authorization")
                && !st.vars.contains(&v)
            {
                st.vars.push(v);
            }
            if let Some(l) = &loc
                && !st.locations.contains(l)
            {
                st.locations.push(l.clone());
            }
            if !used && ev.kind != Kind::Note && st.uses.is_empty() {
                // The agent's own read: the first, or a later one that names the line.
                let better = match &st.agent_read {
                    None => true,
                    Some((_, l)) => {
                        !l.as_deref().is_some_and(has_line) && loc.as_deref().is_some_and(has_line)
                    }
                };
                if better {
                    st.agent_read =
                        Some((ev.seq, loc.clone().or_else(|| st.first_location.clone())));
                }
            }
            if used {
                if !st.uses.contains(&ev.seq) {
                    st.uses.push(ev.seq);
                }
                if !f.secret_uses.contains(&fp) {
                    f.secret_uses.push(fp.clone());
                }
            } else if !f.secret_reads.contains(&fp) {
                f.secret_reads.push(fp.clone());
            }
        }
        // How each used secret travelled in this event's requests.
        for req in &acts.apis {
            let railway_api = is_railway_host(&req.host)
                || (req.path.ends_with("/graphql/v2")
                    && self
                        .ctx
                        .cat
                        .match_api(req)
                        .iter()
                        .any(|m| m.rule.starts_with("railway.")));
            for (name, value) in &req.headers {
                for m in marker_re().captures_iter(value) {
                    let Some(fp) = m.get(2) else { continue };
                    let Some(st) = self.secrets.get_mut(fp.as_str()) else {
                        continue;
                    };
                    if name.eq_ignore_ascii_case("authorization")
                        && value.to_ascii_lowercase().starts_with("bearer")
                        && railway_api
                    {
                        st.bearer_railway = true;
                    }
                    if name.eq_ignore_ascii_case("project-access-token") {
                        st.project_header = true;
                    }
                }
            }
        }
    }
}

pub(super) fn marker_re() -> &'static Regex {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\[REDACTED:([A-Za-z0-9_.-]+):([0-9a-fA-F]{6,64})\]").expect("marker regex")
    });
    &RE
}

pub(super) fn var_before_re() -> &'static Regex {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"([A-Za-z_][A-Za-z0-9_]*)["']?\s*[:=]\s*["']?(?:Bearer\s+|[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:@/]*:)?$"#).expect("var regex")
    });
    &RE
}

pub(super) fn token_re() -> &'static Regex {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z0-9][A-Za-z0-9._:/@-]*").expect("token regex"));
    &RE
}

/// Hosts of Railway's API.
pub(super) const RAILWAY_HOSTS: [&str; 6] = [
    "backboard.railway.app",
    "backboard.railway.com",
    "*.railway.app",
    "*.railway.com",
    "*.railway-staging.com",
    "*.railway-develop.com",
];

pub(super) fn is_railway_host(h: &str) -> bool {
    RAILWAY_HOSTS.iter().any(|p| glob::matches_ci(p, h))
}

impl SecretState {
    /// Where the secret came from, for evidence: the agent's own read, and the session-start
    /// inventory's entry beside it.
    pub(super) fn provenance(&self) -> String {
        let read = self.agent_read.as_ref().map(|(seq, l)| match l {
            Some(l) => format!("read by the agent from {l} at seq {seq}"),
            None => format!("read by the agent at seq {seq}"),
        });
        let first = match &self.first_location {
            Some(l) => format!("first seen in {l} (seq {})", self.first_seen_seq),
            None => format!("first seen at seq {}", self.first_seen_seq),
        };
        match read {
            Some(r) if self.agent_read.as_ref().map(|(s, _)| *s) != Some(self.first_seen_seq) => {
                format!("{first}, {r}")
            }
            Some(r) => r,
            None => first,
        }
    }

    /// Derived kinds (see the module docs for the Railway rule).
    pub(super) fn derived_kinds(&self) -> Vec<String> {
        let mut k = self.kinds.clone();
        let railway_var = |v: &String| v.to_ascii_uppercase().starts_with("RAILWAY_");
        let account = if self.bearer_railway {
            true
        } else if self.project_header {
            false
        } else {
            self.vars
                .iter()
                .any(|v| railway_var(v) && !v.eq_ignore_ascii_case("RAILWAY_TOKEN"))
        };
        let project = !account
            && (self.project_header
                || self.kinds.iter().any(|k| k == "railway-token")
                || self
                    .vars
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case("RAILWAY_TOKEN")));
        if account {
            k.insert(0, "railway-account".into());
        } else if project {
            k.insert(0, "railway-project".into());
        }
        k.dedup();
        k
    }

    pub(super) fn primary_kind(&self) -> String {
        self.derived_kinds()
            .into_iter()
            .next()
            .unwrap_or_else(|| "secret".into())
    }
}

/// `path:12` (a location that names its line).
pub(super) fn has_line(l: &str) -> bool {
    l.rsplit_once(':')
        .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

pub(super) fn location(path: Option<&str>, line: Option<u64>) -> Option<String> {
    let p = path?;
    Some(match line {
        Some(l) => format!("{p}:{l}"),
        None => p.to_string(),
    })
}

/// `ops/domains.env:3:` of a grep-style output line, also behind a harness's prefix
/// (`Output: ops/domains.env:3:..`, Gemini CLI): the last `path:line:` before the secret.
pub(super) fn grep_location(line_before: &str) -> Option<String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:^|\s)([^\s:]+):(\d+)[:-]").expect("grep regex"));
    RE.captures_iter(line_before)
        .last()
        .and_then(|c| Some(format!("{}:{}", c.get(1)?.as_str(), c.get(2)?.as_str())))
}

pub(super) fn collect_strings(
    v: &Value,
    key: Option<&str>,
    out: &mut Vec<(Option<String>, String)>,
) {
    match v {
        Value::String(s) => out.push((key.map(str::to_string), s.clone())),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| collect_strings(x, Some(k), out)),
        _ => {}
    }
}

pub(super) fn credential_matches(rule: &CredentialRule, fp: &str, st: &SecretState) -> bool {
    if let Some(k) = &rule.kind
        && !st.derived_kinds().iter().any(|x| x == k)
    {
        return false;
    }
    if let Some(e) = &rule.env
        && !st.vars.iter().any(|v| v == e)
    {
        return false;
    }
    if let Some(f) = &rule.file {
        let ok = st.locations.iter().any(|l| {
            let path = l
                .rsplit_once(':')
                .filter(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
                .map(|(p, _)| p)
                .unwrap_or(l);
            glob::matches(f, path) || glob::matches(f, shell::basename(path))
        });
        if !ok {
            return false;
        }
    }
    if let Some(want) = &rule.fingerprint
        && !want.eq_ignore_ascii_case(fp)
    {
        return false;
    }
    true
}
