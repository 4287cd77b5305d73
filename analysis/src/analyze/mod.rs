//! One pass over a session's events: environment of each event with its evidence, boundary
//! crossings, destructive actions, secret provenance, gaps and the critical window.
//!
//! ## Rules
//! - **Acting vs mentioning.** Only what an event *does* is classified: a command's program and
//!   arguments (text tools such as `grep`, `cat`, `echo` only mention), an API request, a file it
//!   writes or reads through a tool, a context it runs under. Tool output, file contents,
//!   prompts and terminal output are never classified and never cross.
//! - **Crossing.** An acting event whose target belongs to an environment other than home, or a
//!   mutating event that uses a credential whose `reaches` goes beyond home. With no home
//!   (no `--env`, no `home` in the policy) every named environment is away.
//! - **Context switches** (`terraform workspace select`, `kubectl config use-context`,
//!   `export AWS_PROFILE=..`) are classified but do not cross; the commands that run under the
//!   context afterwards do.
//! - **One action, several layers.** The same command seen by the hook (tool_call), the tracer
//!   (exec) and the proxy or argv decoder (api_call) within 60 s is one crossing and one
//!   destructive action, reported at its first event; the others are linked in the evidence.
//! - **Secrets.** A fingerprint is *sighted* by the start-of-session inventory (`note`), a
//!   `file_read`, or any text the agent was shown (tool output, messages); it is *used* when it
//!   appears in what an event does (a command, argv, request headers or body). Kinds given by the
//!   redactor can differ between places, so trails are linked by fingerprint only.
//! - **Railway token scope** (for `kind = "railway-account"` / `"railway-project"`): how a token
//!   is used decides first: sent as `Authorization: Bearer` to a Railway API (a railway host, or
//!   a `/graphql/v2` request carrying a Railway mutation) makes it an account/workspace token; sent
//!   as `Project-Access-Token` makes it a project token. Otherwise the variable it was seen under
//!   decides: `RAILWAY_TOKEN` is a project token, any other `RAILWAY_*` (such as
//!   `RAILWAY_API_TOKEN`) an account token.

mod errors;
mod join;
mod secrets;
mod targets;
mod window;

pub use targets::command_of;

use errors::*;
use secrets::*;
use targets::*;
use window::*;

use crate::describe::one_line as describe;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use flightlog_formats::payload::{ApiCall, Exec, SecretAt, ToolCall, ToolResult};
use flightlog_formats::{Event, Kind};
use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::actions::{Action, Arrival, Evidence, Joiner, Outcome, Seen, outcome_of};
use crate::catalogue::{Catalogue, Match, Severity, WorkTree, resolve_cd};
use crate::decode::{ApiRequest, Url, decode_argv, strip_credentials};
use crate::glob;
use crate::policy::{CredentialRule, Environment, Policy};
use crate::shell::{self, SimpleCommand};

/// The analysis of one session.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub session: String,
    pub home_env: Option<String>,
    pub events: u64,
    /// The facts of each event the analysis found something about (an environment, a
    /// crossing, a destructive action, a secret read or used, an error), in seq order; an
    /// event with none has no entry. Look one up with [`Analysis::facts_of`].
    pub facts: Vec<EventFacts>,
    pub boundary_crossings: Vec<Crossing>,
    pub destructive: Vec<Destructive>,
    /// The actions behind the crossings and destructive actions, each with every layer that
    /// saw it and its outcome.
    pub actions: Vec<Action>,
    pub secrets: Vec<SecretTrail>,
    pub gaps: Vec<GapInfo>,
    pub critical_window: Option<Window>,
}

impl Analysis {
    /// The facts of the event with this seq, if the analysis found any.
    pub fn facts_of(&self, seq: u64) -> Option<&EventFacts> {
        self.facts
            .binary_search_by_key(&seq, |f| f.seq)
            .ok()
            .map(|i| &self.facts[i])
    }
}

/// What the analysis found about one event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventFacts {
    pub seq: u64,
    /// The environment it acts on (or the one its credential reaches, `*` for every one).
    pub env: Option<String>,
    pub env_evidence: Vec<String>,
    pub crossing: bool,
    pub destructive: Option<(String, Severity)>,
    /// Fingerprints this event showed (inventory, file read, tool output).
    pub secret_reads: Vec<String>,
    /// Fingerprints this event used (command, argv, request).
    pub secret_uses: Vec<String>,
    pub error: bool,
}

impl EventFacts {
    /// The facts of an event the analysis found nothing about.
    pub fn new(seq: u64) -> Self {
        EventFacts {
            seq,
            env: None,
            env_evidence: Vec::new(),
            crossing: false,
            destructive: None,
            secret_reads: Vec::new(),
            secret_uses: Vec::new(),
            error: false,
        }
    }

    /// Whether the analysis found nothing about the event (it then keeps no entry for it).
    pub fn is_empty(&self) -> bool {
        *self == EventFacts::new(self.seq)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Crossing {
    pub seq: u64,
    pub ts: String,
    pub from: String,
    pub to: String,
    pub evidence: Vec<String>,
    /// The action (index into [`Analysis::actions`] by `id`) that crossed.
    pub action: usize,
    /// Whether it reached its target: anything but `done` is a crossing attempted.
    pub outcome: Outcome,
    pub outcome_detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Destructive {
    pub seq: u64,
    pub rule: String,
    pub severity: Severity,
    pub target_env: Option<String>,
    pub summary: String,
    /// The guard denied it (a `decision` event names this event or its tool call): it was
    /// attempted, not done.
    pub blocked: bool,
    pub action: usize,
    /// Whether it happened: anything but `done` is an attempt.
    pub outcome: Outcome,
    pub outcome_detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecretTrail {
    /// Seq of the first event that showed it to the agent (tool output, file read), if any;
    /// `first_seen_seq` may be the start-of-session inventory.
    pub read_seq: Option<u64>,
    /// Where the agent read it (`ops/domains.env:3`, the file and line its read showed).
    pub read_location: Option<String>,
    pub fingerprint: String,
    pub kind: String,
    /// Where it was first seen (`ops/domains.env:3`), when known.
    pub location: Option<String>,
    pub first_seen_seq: u64,
    pub used_in_seqs: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GapInfo {
    pub seq: u64,
    pub layer: String,
    pub reason: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub from_seq: u64,
    pub to_seq: u64,
    pub seconds: f64,
    pub steps: Vec<CauseStep>,
}

/// One step of the cause chain. `role`: error, secret_read, secret_use, crossing, destructive.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CauseStep {
    pub seq: u64,
    pub role: String,
    pub text: String,
    /// Seconds since the window's first step.
    pub offset_seconds: f64,
}

#[derive(Debug, Default, Clone)]
struct SecretState {
    kinds: Vec<String>,
    vars: Vec<String>,
    locations: Vec<String>,
    first_seen_seq: u64,
    first_location: Option<String>,
    uses: Vec<u64>,
    /// First sighting by the agent (not the start-of-session inventory).
    agent_read: Option<(u64, Option<String>)>,
    bearer_railway: bool,
    project_header: bool,
    order: usize,
}

/// A secret in an event: (fingerprint, kind, variable, location, used).
type Found = (String, String, Option<String>, Option<String>, bool);

/// A target an event acts on, and the environment it belongs to.
#[derive(Debug, Clone)]
struct Target {
    env: String,
    evidence: String,
    /// Set by a context switch (`workspace select`, `use-context`, `export`): classifies but
    /// does not cross.
    switch: bool,
}

/// What one event does.
#[derive(Debug, Default)]
struct Acts {
    acting: bool,
    mutating: bool,
    context_switch: bool,
    targets: Vec<Target>,
    notes: Vec<String>,
    matches: Vec<Match>,
    apis: Vec<ApiRequest>,
    keys: Vec<String>,
    /// Strings that make up the action (for secret uses).
    action_text: Vec<(Option<String>, String)>,
}

impl Acts {
    /// Adds a target the event acts on, unless one with the same evidence is there already.
    fn target(&mut self, env: &str, evidence: String) {
        if !self.targets.iter().any(|t| t.evidence == evidence) {
            self.targets.push(Target {
                switch: false,
                env: env.to_string(),
                evidence,
            });
        }
    }
}

/// The typed payload of an event of the kinds several phases read (tool call and result,
/// exec, API call), read once per event.
#[derive(Default)]
struct Typed {
    call: Option<ToolCall>,
    result: Option<ToolResult>,
    exec: Option<Exec>,
    api: Option<ApiCall>,
}

impl Typed {
    fn of(ev: &Event) -> Typed {
        Typed {
            call: ev.tool_call(),
            result: ev.tool_result(),
            exec: ev.exec(),
            api: ev.api_call(),
        }
    }
}

/// How many started processes the analysis remembers until their exit.
const LIVE_PROCESSES: usize = 65_536;

/// Session state that outlives one event.
#[derive(Debug, Default, Clone)]
struct State {
    exports: Vec<(String, String)>,
    kube_context: Option<String>,
    tf_workspace: Option<String>,
    cwd: Option<String>,
}

struct Ctx<'a> {
    policy: &'a Policy,
    home: Option<String>,
    root: Option<String>,
    cat: &'a Catalogue,
}

impl Ctx<'_> {
    fn away(&self, env: &str) -> bool {
        Some(env) != self.home.as_deref()
    }

    fn env_match<'p>(
        &'p self,
        pick: impl Fn(&'p Environment) -> &'p [String],
        value: &str,
        ci: bool,
    ) -> Option<(&'p Environment, &'p str)> {
        self.policy.environments.iter().find_map(|e| {
            pick(e)
                .iter()
                .find(|p| {
                    if ci {
                        glob::matches_ci(p, value)
                    } else {
                        glob::matches(p, value)
                    }
                })
                .map(|p| (e, p.as_str()))
        })
    }
}

fn layer_of(ev: &Event) -> &'static str {
    match ev.kind {
        Kind::ToolCall => "hook",
        Kind::Exec => "exec",
        Kind::ApiCall if ev.source == "argv" => "api-argv",
        Kind::ApiCall => "api",
        Kind::FileChange => "watch",
        _ => "other",
    }
}

/// Where a tool call's output comes from, kept for its result.
#[derive(Debug, Clone, Default)]
struct CallInfo {
    /// The file a read tool read (relative to the work tree when inside it).
    file: Option<String>,
    /// Else: the file a reading command names, or `output of \`cmd\``.
    other: Option<String>,
}

/// Analyzes a session's events (in seq order) against a policy: a fold over
/// [`Analyzer::push`], then [`Analyzer::finish`].
pub fn analyze(events: &[Event], policy: &Policy) -> Analysis {
    let mut a = Analyzer::new(policy);
    for ev in events {
        a.push(ev);
    }
    a.finish()
}

/// The analysis as a streaming fold: push each event of a session in seq order, then
/// [`finish`](Analyzer::finish). A session of any size gets the same analysis; what it keeps
/// per event is its [`EventFacts`].
pub struct Analyzer<'p> {
    ctx: Ctx<'p>,
    session: String,
    started: bool,
    n: u64,
    state: State,
    secrets: BTreeMap<String, SecretState>,
    /// call id -> seq of its tool_call; seq of a tool_call -> where its output comes from.
    calls: HashMap<String, u64>,
    call_info: HashMap<u64, CallInfo>,
    /// Started execs, until their exit: seq -> (pid, argv text).
    live: BTreeMap<u64, (Option<i64>, String)>,
    /// The facts of the events that have some, in seq order, and their times.
    facts: Vec<EventFacts>,
    times: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    /// Descriptions of the events a cause chain may cite.
    described: HashMap<u64, String>,
    crossings: Vec<Crossing>,
    destructive: Vec<Destructive>,
    gaps: Vec<GapInfo>,
    /// Errors: (index into `facts`, is a credential failure, text).
    errors: Vec<(usize, bool, String)>,
    joiner: Joiner,
    /// Base URLs of the agent's model API (from the session's context).
    model_bases: Vec<String>,
    /// Requests to the model API (their responses are conversation too).
    model_requests: HashSet<u64>,
}

impl<'p> Analyzer<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Analyzer {
            ctx: Ctx {
                policy,
                home: policy.home.clone(),
                root: None,
                cat: Catalogue::builtin(),
            },
            session: String::new(),
            started: false,
            n: 0,
            state: State::default(),
            secrets: BTreeMap::new(),
            calls: HashMap::new(),
            call_info: HashMap::new(),
            live: BTreeMap::new(),
            facts: Vec::new(),
            times: Vec::new(),
            described: HashMap::new(),
            crossings: Vec::new(),
            destructive: Vec::new(),
            gaps: Vec::new(),
            errors: Vec::new(),
            joiner: Joiner::default(),
            model_bases: Vec::new(),
            model_requests: HashSet::new(),
        }
    }

    /// The session's home environment, as the policy or the session's start set it.
    pub fn home_env(&self) -> Option<&str> {
        self.ctx.home.as_deref()
    }

    /// The boundary crossings found so far, each at the first event of its action (its
    /// outcome is known at [`finish`](Analyzer::finish)).
    pub fn crossings(&self) -> &[Crossing] {
        &self.crossings
    }

    /// The destructive actions found so far (as [`crossings`](Analyzer::crossings)).
    pub fn destructive(&self) -> &[Destructive] {
        &self.destructive
    }

    /// The facts of the events pushed so far that have some (see [`Analysis::facts`]).
    pub fn facts(&self) -> &[EventFacts] {
        &self.facts
    }

    fn start(&mut self, ev: &Event) {
        self.started = true;
        let s = flightlog_formats::payload::SessionStart::from_value(&ev.data);
        if let Some(h) = s.home_env.filter(|h| !h.is_empty()) {
            self.ctx.home = Some(h);
        }
        self.ctx.root = s.cwd.clone();
        self.state.cwd = s.cwd;
        // The context the session started in (recorded by the recorder and the hooks): the
        // active kubeconfig's current-context, the terraform workspace, environment-naming
        // variables, and where the agent's model API is.
        if let Some(c) = s.context.map(|c| *c) {
            self.state.kube_context = c.kube_context;
            self.state.tf_workspace = c.terraform_workspace;
            if let Some(vars) = c.vars {
                for (k, v) in &vars {
                    let Some(v) = v.as_str() else { continue };
                    if MODEL_BASE_VARS.contains(&k.as_str()) {
                        self.model_bases.push(v.trim_end_matches('/').to_string());
                    } else {
                        self.state.exports.push((k.clone(), v.to_string()));
                    }
                }
            }
        }
    }

    /// Adds one event (the next in seq order).
    pub fn push(&mut self, ev: &Event) {
        if self.n == 0 {
            self.session = ev.session.clone();
        }
        if ev.kind == Kind::SessionStart && !self.started {
            self.start(ev);
        }
        let idx = self.facts.len();
        self.n += 1;
        let t = ev.time();
        let mut f = EventFacts::new(ev.seq);
        let typed = Typed::of(ev);
        let call = typed.call.as_ref();
        if let Some(call) = call {
            if let Some(id) = &call.call_id {
                self.calls.insert(id.clone(), ev.seq);
            }
            let info = self.call_info_of(call);
            self.call_info.insert(ev.seq, info);
        }
        if let Some(g) = ev.gap() {
            self.gaps.push(GapInfo {
                seq: ev.seq,
                layer: g.layer.unwrap_or_default(),
                reason: g.reason.unwrap_or_default(),
                detail: g.detail.unwrap_or_default(),
            });
        }

        // ---- the agent's own model traffic is the conversation, not an action
        let api = typed.api.as_ref();
        let conversation = match api {
            Some(a) if a.is_response() => a
                .response_of_seq
                .is_some_and(|s| self.model_requests.contains(&s)),
            Some(a) if ev.source != "argv" => {
                let key = api_key(
                    a.method.as_deref().unwrap_or(""),
                    a.host.as_deref().unwrap_or(""),
                    a.path.as_deref().unwrap_or(""),
                    a.request_body.as_deref(),
                );
                let model =
                    is_model_request(a, &self.model_bases) && !self.joiner.recent_key(&key, t);
                if model {
                    self.model_requests.insert(ev.seq);
                }
                model
            }
            _ => false,
        };

        // ---- what the event does
        let acts = if conversation {
            Acts::default()
        } else {
            acts_of(ev, &typed, &self.ctx, &mut self.state)
        };

        // ---- secrets: sightings and uses
        if !conversation {
            self.secrets_of(ev, &typed, idx, &acts, &mut f);
        }

        // ---- errors
        let (is_error, cred_failure, err_text) = self.error_of(&typed);
        f.error = is_error;
        if is_error {
            self.errors.push((idx, cred_failure, err_text));
        }

        // ---- environment and crossing
        let (crossing_to, evidence) = self.environment(&acts, &mut f);

        // ---- destructive
        let mut top = acts.matches.first().cloned();
        if let Some(m) = &mut top
            && m.rule.starts_with("railway.")
            && f.secret_uses
                .iter()
                .any(|fp| self.secrets.get(fp).is_some_and(|s| s.bearer_railway))
        {
            m.severity = m.severity.raised();
            m.summary = format!("{} (account-scoped token)", m.summary);
        }
        f.destructive = top.as_ref().map(|m| (m.rule.clone(), m.severity));

        // ---- actions: join this event to the others that saw the same thing
        if !conversation {
            let action = self.join(ev, &typed, &acts);
            if let Some(id) = action
                && (crossing_to.is_some() || top.is_some())
            {
                self.report(ev, id, crossing_to, evidence, top, &f);
            }
        }
        if !f.secret_reads.is_empty() || !f.secret_uses.is_empty() {
            self.described.insert(ev.seq, describe(ev));
        }
        // Most events have no facts: keeping an entry only for those that do keeps a long
        // session's analysis small (the 1M-event replay bench).
        if !f.is_empty() {
            self.times.push(t);
            self.facts.push(f);
        }
    }

    /// The errors of one event: (is an error, is a credential failure, text).
    fn error_of(&self, typed: &Typed) -> (bool, bool, String) {
        error_of(typed, |s| self.live.get(&s).map(|(_, a)| a.clone()))
    }

    /// Finishes the analysis.
    pub fn finish(mut self) -> Analysis {
        let traced = self.joiner.traced;
        let mut actions = Vec::new();
        for (id, st) in self.joiner.with_findings() {
            let (outcome, detail) = outcome_of(st, traced);
            if let Some(ci) = st.crossing {
                let c = &mut self.crossings[ci];
                c.outcome = outcome;
                c.outcome_detail = detail.clone();
            }
            if let Some(di) = st.destructive {
                let d = &mut self.destructive[di];
                d.outcome = outcome;
                d.outcome_detail = detail.clone();
                d.blocked = outcome == Outcome::DeniedByGuard;
            }
            actions.push(Action {
                id,
                seq: st.seq,
                what: st.what.clone().unwrap_or_default(),
                seen: st
                    .layers
                    .iter()
                    .map(|(l, s)| Seen {
                        layer: (*l).to_string(),
                        seq: *s,
                    })
                    .collect(),
                outcome,
                outcome_detail: detail,
                crossing: st.crossing.is_some(),
                destructive: st.destructive.map(|di| self.destructive[di].rule.clone()),
            });
        }

        let mut trails: Vec<(usize, SecretTrail)> = self
            .secrets
            .iter()
            .map(|(fp, st)| {
                (
                    st.order,
                    SecretTrail {
                        read_seq: st.agent_read.as_ref().map(|(s, _)| *s),
                        read_location: st.agent_read.as_ref().and_then(|(_, l)| l.clone()),
                        fingerprint: fp.clone(),
                        kind: st.primary_kind(),
                        location: st.first_location.clone(),
                        first_seen_seq: st.first_seen_seq,
                        used_in_seqs: st.uses.clone(),
                    },
                )
            })
            .collect();
        trails.sort_by_key(|(o, t)| (t.first_seen_seq, *o));
        let secrets_out: Vec<SecretTrail> = trails.into_iter().map(|(_, t)| t).collect();

        let critical_window = window(
            &Timeline {
                facts: &self.facts,
                times: &self.times,
                described: &self.described,
            },
            &secrets_out,
            &self.errors,
            &self.crossings,
            &self.destructive,
        );

        Analysis {
            session: self.session,
            home_env: self.ctx.home,
            events: self.n,
            facts: self.facts,
            boundary_crossings: self.crossings,
            destructive: self.destructive,
            actions,
            secrets: secrets_out,
            gaps: self.gaps,
            critical_window,
        }
    }
}

/// The key that joins one request seen by several layers (argv decoder, proxy): method, host,
/// path and the start of the body (two GraphQL calls to one endpoint are different requests).
fn api_key(method: &str, host: &str, path: &str, body: Option<&str>) -> String {
    let body: String = body.unwrap_or("").chars().take(256).collect();
    format!("api {method} {host}{path} {body}")
}

/// Shell builtins: they never run as a process of their own.
const SHELL_BUILTINS: [&str; 20] = [
    ".", ":", "[", "cd", "echo", "eval", "exec", "exit", "export", "false", "printf", "pwd",
    "read", "set", "shopt", "source", "test", "trap", "true", "unset",
];

/// Variables that say where an agent's model API is (recorded in the session's context).
pub const MODEL_BASE_VARS: [&str; 6] = [
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "GOOGLE_GEMINI_BASE_URL",
    "GEMINI_BASE_URL",
    "CODEX_BASE_URL",
];

/// Whether a proxied request is the agent talking to its model: at a base URL the session's
/// context names, to a known model host, or to a model API's endpoint (Anthropic Messages,
/// OpenAI Responses and Chat Completions, Gemini's `:generateContent`).
fn is_model_request(a: &flightlog_formats::payload::ApiCall, bases: &[String]) -> bool {
    let url = a.url.as_deref().unwrap_or("");
    if bases
        .iter()
        .any(|b| !b.is_empty() && url.starts_with(b.as_str()))
    {
        return true;
    }
    let host = a.host.as_deref().unwrap_or("").to_ascii_lowercase();
    if matches!(
        host.as_str(),
        "api.anthropic.com" | "api.openai.com" | "generativelanguage.googleapis.com"
    ) {
        return true;
    }
    let path = a.path.as_deref().unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    [
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/completions",
        "/backend-api/codex/responses",
    ]
    .iter()
    .any(|p| path.ends_with(p))
        || [":streamGenerateContent", ":generateContent", ":countTokens"]
            .iter()
            .any(|p| path.contains(p))
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        let mut t: String = one_line.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// What the cause chain needs of the session: facts, times and descriptions by event.
struct Timeline<'a> {
    facts: &'a [EventFacts],
    times: &'a [Option<chrono::DateTime<chrono::Utc>>],
    described: &'a HashMap<u64, String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn request(url: &str, path: &str) -> flightlog_formats::payload::ApiCall {
        flightlog_formats::payload::ApiCall::from_value(
            &json!({"method": "POST", "url": url, "host": "10.0.0.5", "path": path}),
        )
    }

    #[test]
    fn model_requests_by_base_url_host_or_endpoint() {
        let bases = vec!["http://10.0.0.5:8080/llm".to_string()];
        let table = [
            ("http://10.0.0.5:8080/llm/anything", "/llm/anything", true),
            ("http://10.0.0.5:9/v1/messages", "/v1/messages", true),
            ("http://10.0.0.5:9/v1/responses", "/v1/responses", true),
            (
                "http://10.0.0.5:9/v1/chat/completions",
                "/v1/chat/completions",
                true,
            ),
            (
                "http://10.0.0.5:9/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
                true,
            ),
            ("http://10.0.0.5:9/graphql/v2", "/graphql/v2", false),
            ("http://10.0.0.5:8080/other", "/other", false),
        ];
        for (url, path, want) in table {
            assert_eq!(is_model_request(&request(url, path), &bases), want, "{url}");
        }
    }
}
