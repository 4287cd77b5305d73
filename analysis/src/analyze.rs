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

use crate::describe::one_line as describe;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use flightlog_formats::payload::{Payload, SecretAt, ToolCall};
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

fn marker_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\[REDACTED:([A-Za-z0-9_.-]+):([0-9a-fA-F]{6,64})\]")
            .unwrap_or_else(|e| panic!("marker regex: {e}"))
    })
}

fn var_before_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"([A-Za-z_][A-Za-z0-9_]*)["']?\s*[:=]\s*["']?(?:Bearer\s+|[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:@/]*:)?$"#)
            .unwrap_or_else(|e| panic!("var regex: {e}"))
    })
}

fn url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s'"`<>)\\]+"#)
            .unwrap_or_else(|e| panic!("url regex: {e}"))
    })
}

fn token_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9][A-Za-z0-9._:/@-]*").unwrap_or_else(|e| panic!("token regex: {e}"))
    })
}

fn cred_failure_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)unauthori[sz]ed|credential|forbidden|permission denied|access denied|not authori[sz]ed|invalid (api[ _-]?)?(token|key)|authenticat|expired token|token (is )?(invalid|expired)|\b40[13]\b")
            .unwrap_or_else(|e| panic!("failure regex: {e}"))
    })
}

/// Programs whose arguments are only text (they read or print, they do not act on targets).
const INERT: [&str; 46] = [
    "grep", "egrep", "fgrep", "rg", "ag", "ack", "cat", "bat", "less", "more", "head", "tail",
    "echo", "printf", "wc", "sort", "uniq", "cut", "tr", "awk", "sed", "jq", "yq", "diff", "ls",
    "tree", "file", "stat", "pwd", "true", "false", "test", "[", "which", "type", "man", "date",
    "sleep", "basename", "dirname", "realpath", "readlink", "column", "fold", "nl", "base64",
];

/// Verbs that change something, for commands that use a far-reaching credential.
const MUTATING_WORDS: [&str; 34] = [
    "up", "deploy", "apply", "delete", "destroy", "create", "push", "rm", "remove", "update",
    "set", "put", "post", "patch", "run", "restart", "scale", "migrate", "reset", "drop", "write",
    "import", "upload", "sync", "cp", "mv", "down", "redeploy", "rollback", "link", "unlink",
    "add", "exec", "install",
];

/// Hosts of Railway's API.
const RAILWAY_HOSTS: [&str; 6] = [
    "backboard.railway.app",
    "backboard.railway.com",
    "*.railway.app",
    "*.railway.com",
    "*.railway-staging.com",
    "*.railway-develop.com",
];

fn is_railway_host(h: &str) -> bool {
    RAILWAY_HOSTS.iter().any(|p| glob::matches_ci(p, h))
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

impl SecretState {
    /// Where the secret came from, for evidence: the agent's own read, and the session-start
    /// inventory's entry beside it.
    fn provenance(&self) -> String {
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
    fn derived_kinds(&self) -> Vec<String> {
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

    fn primary_kind(&self) -> String {
        self.derived_kinds()
            .into_iter()
            .next()
            .unwrap_or_else(|| "secret".into())
    }
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
    live: HashMap<u64, (Option<i64>, String)>,
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
            live: HashMap::new(),
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
        let call = ev.tool_call();
        if let Some(call) = &call {
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
        let api = (ev.kind == Kind::ApiCall).then(|| ev.api_call().unwrap_or_default());
        let conversation = match &api {
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
            acts_of(ev, call.as_ref(), &self.ctx, &mut self.state)
        };

        // ---- secrets: sightings and uses
        if !conversation {
            self.secrets_of(ev, idx, &acts, &mut f);
        }

        // ---- errors
        let (is_error, cred_failure, err_text) = self.error_of(ev);
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
            let action = self.join(ev, call.as_ref(), api.as_ref(), &acts);
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

    /// Joins an event to its action (or starts one), and records what it says of an outcome.
    fn join(
        &mut self,
        ev: &Event,
        call: Option<&ToolCall>,
        api: Option<&flightlog_formats::payload::ApiCall>,
        acts: &Acts,
    ) -> Option<usize> {
        let layer = layer_of(ev);
        let t = ev.time();
        match ev.kind {
            Kind::ToolCall => {
                let id = call.and_then(|c| c.call_id.as_deref());
                Some(self.joiner.arrive(Arrival {
                    seq: ev.seq,
                    ts: t,
                    layer,
                    keys: &acts.keys,
                    via: None,
                    call_id: id,
                    process: None,
                    sandbox: false,
                }))
            }
            Kind::ToolResult => {
                let r = ev.tool_result().unwrap_or_default();
                let id = self.joiner.action_of(r.call_seq, r.call_id.as_deref())?;
                let mut text = r.error_text().unwrap_or_default();
                if text.is_empty() {
                    text = r.output_text();
                }
                let is_err = r.is_error == Some(true) || r.error_text().is_some();
                self.joiner.evidence(
                    id,
                    r.call_seq,
                    ev.seq,
                    "hook",
                    Evidence::Result(is_err, text),
                );
                Some(id)
            }
            Kind::Exec => {
                let x = ev.exec().unwrap_or_default();
                if let Some(of) = x.exit_of_seq {
                    let (pid, _) = self.live.remove(&of).unwrap_or((x.pid, String::new()));
                    if let Some(p) = pid.or(x.pid) {
                        self.joiner.process_ended(p);
                    }
                    let id = self.joiner.action_of(Some(of), None)?;
                    self.joiner
                        .evidence(id, Some(of), ev.seq, "exec", Evidence::Exit(x.exit));
                    return Some(id);
                }
                let argv = x.argv();
                if argv.is_empty() {
                    return None;
                }
                let cmds = shell::from_argv(argv);
                let sandbox = cmds.iter().any(|c| {
                    c.wrappers
                        .iter()
                        .any(|w| matches!(w.as_str(), "codex-linux-sandbox" | "bwrap"))
                }) || matches!(
                    shell::basename(&argv[0]),
                    "codex-linux-sandbox" | "bwrap" | "sandbox-exec"
                ) || argv.iter().any(|a| a == "--sandbox-policy-cwd");
                let progs: Vec<String> = cmds
                    .iter()
                    .map(|c| c.program().to_string())
                    .filter(|p| !p.is_empty() && !SHELL_BUILTINS.contains(&p.as_str()))
                    .collect();
                let id = self.joiner.arrive(Arrival {
                    seq: ev.seq,
                    ts: t,
                    layer,
                    keys: &acts.keys,
                    via: None,
                    call_id: None,
                    process: x.pid.map(|p| (p, x.ppid, progs)),
                    sandbox,
                });
                // A process without a pid never ends by pid; keep no entry for it.
                if x.pid.is_some() {
                    self.live
                        .insert(ev.seq, (x.pid, truncate(&argv.join(" "), 80)));
                }
                Some(id)
            }
            Kind::ApiCall => {
                let a = api?;
                if let Some(of) = a.response_of_seq {
                    let id = self.joiner.action_of(Some(of), None)?;
                    self.joiner.evidence(
                        id,
                        Some(of),
                        ev.seq,
                        "api",
                        Evidence::Response(a.status, a.error.clone()),
                    );
                    return Some(id);
                }
                if a.method.as_deref() == Some("CONNECT") {
                    // A tunnel: what went through it (if intercepted) is its own request.
                    return None;
                }
                Some(self.joiner.arrive(Arrival {
                    seq: ev.seq,
                    ts: t,
                    layer,
                    keys: &acts.keys,
                    via: a.via_seq,
                    call_id: None,
                    process: None,
                    sandbox: false,
                }))
            }
            Kind::Decision => {
                let d = ev.decision().unwrap_or_default();
                if d.decision.as_deref() != Some("deny") {
                    return None;
                }
                let id = self.joiner.action_of(d.target_seq, d.call_id.as_deref())?;
                let target = d.target_seq;
                let reason = d.reason.unwrap_or_else(|| "denied".into());
                self.joiner
                    .evidence(id, target, ev.seq, "other", Evidence::Denied(reason));
                Some(id)
            }
            Kind::FileChange if acts.acting => Some(self.joiner.arrive(Arrival {
                seq: ev.seq,
                ts: t,
                layer,
                keys: &acts.keys,
                via: None,
                call_id: None,
                process: None,
                sandbox: false,
            })),
            _ => None,
        }
    }

    /// A finding of event `ev` in action `id`: the action's crossing and destructive entries
    /// are made once, at its first event that shows them; later layers add their evidence.
    fn report(
        &mut self,
        ev: &Event,
        id: usize,
        crossing_to: Option<String>,
        evidence: Vec<String>,
        top: Option<Match>,
        f: &EventFacts,
    ) {
        let layer = layer_of(ev);
        let from = self.ctx.home.clone().unwrap_or_else(|| "home".into());
        let home = self.ctx.home.clone();
        let described = describe(ev);
        let st = &mut self.joiner.acts[id];
        if st.what.is_none() {
            st.what = Some(described.clone());
        }
        self.described.insert(ev.seq, described);
        match (st.crossing, &crossing_to) {
            (Some(ci), _) => {
                let c = &mut self.crossings[ci];
                c.evidence
                    .push(format!("also seen by the {layer} layer at seq {}", ev.seq));
                // A named environment says more than "every environment".
                if let Some(to) = &crossing_to
                    && c.to == "*"
                    && to != "*"
                {
                    c.to = to.clone();
                }
            }
            (None, Some(to)) => {
                st.crossing = Some(self.crossings.len());
                self.crossings.push(Crossing {
                    seq: ev.seq,
                    ts: ev.ts.clone(),
                    from,
                    to: to.clone(),
                    evidence,
                    action: id,
                    outcome: Outcome::Unknown,
                    outcome_detail: None,
                });
            }
            (None, None) => {}
        }
        let target = crossing_to.clone().or_else(|| f.env.clone()).or(home);
        match (st.destructive, &top) {
            (None, Some(m)) => {
                st.destructive = Some(self.destructive.len());
                self.destructive.push(Destructive {
                    seq: ev.seq,
                    rule: m.rule.clone(),
                    severity: m.severity,
                    target_env: target,
                    summary: format!("{}: {}", m.summary, m.detail),
                    blocked: false,
                    action: id,
                    outcome: Outcome::Unknown,
                    outcome_detail: None,
                });
            }
            (Some(di), Some(m)) => {
                let d = &mut self.destructive[di];
                if m.severity > d.severity {
                    d.severity = m.severity;
                }
                if d.target_env.as_deref().is_none_or(|t| t == "*")
                    && let Some(t) = target.filter(|t| t != "*")
                {
                    d.target_env = Some(t);
                }
            }
            _ => {}
        }
    }

    /// Environment and crossing of an event's acts; fills `f.env` and `f.env_evidence`.
    fn environment(&self, acts: &Acts, f: &mut EventFacts) -> (Option<String>, Vec<String>) {
        let ctx = &self.ctx;
        let home = ctx.home.as_deref();
        let mut crossing_to: Option<String> = None;
        let mut evidence: Vec<String> = Vec::new();
        for t in &acts.targets {
            evidence.push(t.evidence.clone());
            if crossing_to.is_none() && ctx.away(&t.env) && !t.switch {
                crossing_to = Some(t.env.clone());
            }
        }
        f.env = acts
            .targets
            .iter()
            .find(|t| ctx.away(&t.env))
            .or_else(|| acts.targets.first())
            .map(|t| t.env.clone());
        // credentials reaching beyond home
        if acts.acting {
            for fp in &f.secret_uses {
                let Some(st) = self.secrets.get(fp) else {
                    continue;
                };
                for rule in &ctx.policy.credentials {
                    if !credential_matches(rule, fp, st) {
                        continue;
                    }
                    let reach = if rule.reaches.iter().any(|r| r == "*") {
                        "every environment".to_string()
                    } else {
                        rule.reaches.join(", ")
                    };
                    let how = if st.bearer_railway {
                        " (sent as Authorization: Bearer to Railway's API)"
                    } else {
                        ""
                    };
                    evidence.push(format!(
                        "credential {fp} is a {} token{how}, {}; the policy (line {}) says it reaches {reach}",
                        rule.describe(),
                        st.provenance(),
                        rule.line
                    ));
                    if acts.mutating && rule.reaches_beyond(home) && crossing_to.is_none() {
                        crossing_to = Some(
                            rule.reaches
                                .iter()
                                .find(|r| *r == "*" || ctx.away(r))
                                .cloned()
                                .unwrap_or_else(|| "*".into()),
                        );
                    }
                    if f.env.is_none() || f.env.as_deref() == home {
                        f.env = crossing_to.clone().or(f.env.take());
                    }
                }
            }
        }
        evidence.extend(acts.notes.iter().cloned());
        f.env_evidence = evidence.clone();
        f.crossing = crossing_to.is_some();
        (crossing_to, evidence)
    }

    /// Where a tool call's output will come from (for the secrets its result shows).
    fn call_info_of(&self, call: &ToolCall) -> CallInfo {
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
    fn relative(&self, p: &str) -> String {
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

    /// The errors of one event: (is an error, is a credential failure, text).
    fn error_of(&self, ev: &Event) -> (bool, bool, String) {
        error_of(ev, |s| self.live.get(&s).map(|(_, a)| a.clone()))
    }

    /// Finishes the analysis.
    pub fn finish(mut self) -> Analysis {
        let traced = self.joiner.traced;
        let mut actions = Vec::new();
        for (id, st) in self.joiner.acts.iter().enumerate() {
            if st.crossing.is_none() && st.destructive.is_none() {
                continue;
            }
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

    /// Secrets an event shows (sightings) and uses, into the session's trails and `f`.
    fn secrets_of(&mut self, ev: &Event, idx: usize, acts: &Acts, f: &mut EventFacts) {
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
        let result = ev.tool_result();
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

/// The key that joins one request seen by several layers (argv decoder, proxy): method, host,
/// path and the start of the body (two GraphQL calls to one endpoint are different requests).
fn api_key(method: &str, host: &str, path: &str, body: Option<&str>) -> String {
    let body: String = body.unwrap_or("").chars().take(256).collect();
    format!("api {method} {host}{path} {body}")
}

/// `path:12` (a location that names its line).
fn has_line(l: &str) -> bool {
    l.rsplit_once(':')
        .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
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

fn location(path: Option<&str>, line: Option<u64>) -> Option<String> {
    let p = path?;
    Some(match line {
        Some(l) => format!("{p}:{l}"),
        None => p.to_string(),
    })
}

/// `ops/domains.env:3:` of a grep-style output line, also behind a harness's prefix
/// (`Output: ops/domains.env:3:..`, Gemini CLI): the last `path:line:` before the secret.
fn grep_location(line_before: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?:^|\s)([^\s:]+):(\d+)[:-]").unwrap_or_else(|e| panic!("grep regex: {e}"))
    });
    re.captures_iter(line_before)
        .last()
        .and_then(|c| Some(format!("{}:{}", c.get(1)?.as_str(), c.get(2)?.as_str())))
}

fn collect_strings(v: &Value, key: Option<&str>, out: &mut Vec<(Option<String>, String)>) {
    match v {
        Value::String(s) => out.push((key.map(str::to_string), s.clone())),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| collect_strings(x, Some(k), out)),
        _ => {}
    }
}

/// The command line of a shell tool call (`data.command`, or `input.command` as a string or an
/// argv array).
pub fn command_of(ev: &Event) -> Option<String> {
    call_command(&ev.tool_call()?)
}

/// [`command_of`] a tool call's payload. The input is the agent's own shape.
fn call_command(call: &ToolCall) -> Option<String> {
    if let Some(c) = &call.command {
        return Some(c.clone());
    }
    let input = call.input.as_ref()?;
    match input.get("command").or_else(|| input.get("cmd")) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => {
            let argv: Vec<String> = a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            // `["bash", "-lc", "script"]`: the script is the command line
            if argv.len() == 3 && argv[1].starts_with('-') && argv[1].contains('c') {
                return Some(argv[2].clone());
            }
            Some(
                argv.iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        _ => None,
    }
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
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

/// (is an error, is a credential failure, text). `started` gives the argv of a started exec
/// by its seq (for an exit recorded as its own event).
/// The error of one event: (is an error, is a credential failure, text). Whether it is an
/// error is [`Event::is_error`]'s rule, the one every output uses; this adds the words and
/// whether the failure is about a credential.
fn error_of(ev: &Event, started: impl Fn(u64) -> Option<String>) -> (bool, bool, String) {
    let none = (false, false, String::new());
    if !matches!(ev.kind, Kind::ToolResult | Kind::Exec | Kind::ApiCall) {
        return none;
    }
    let p = ev.payload();
    if !p.is_error() {
        return none;
    }
    match p {
        Payload::ToolResult(r) => {
            let text = [r.error_text().unwrap_or_default(), r.output_text()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (true, cred_failure_re().is_match(&text), text)
        }
        Payload::Exec(x) => {
            // The recorder writes a process's end as its own exec event (`exit_of_seq`).
            let argv = match x.exit_of_seq {
                Some(s) => started(s).unwrap_or_default(),
                None => x.argv().join(" "),
            };
            let how = match (x.exit, &x.signal) {
                (Some(c), _) => format!("exited {c}"),
                (None, Some(sig)) => format!("was killed by {sig}"),
                (None, None) => "failed".to_string(),
            };
            (true, false, format!("`{}` {how}", truncate(&argv, 80)))
        }
        Payload::ApiCall(a) => {
            let text = match (a.status, &a.error) {
                (Some(status), _) => format!(
                    "HTTP {status}: {}",
                    a.response_body.as_deref().unwrap_or_default()
                ),
                (None, Some(e)) => format!("no response: {e}"),
                (None, None) => "no response".to_string(),
            };
            let cred = matches!(a.status, Some(401 | 403)) || cred_failure_re().is_match(&text);
            (true, cred, text)
        }
        _ => none,
    }
}

fn credential_matches(rule: &CredentialRule, fp: &str, st: &SecretState) -> bool {
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

fn acts_of(ev: &Event, call: Option<&ToolCall>, ctx: &Ctx<'_>, state: &mut State) -> Acts {
    let mut acts = Acts::default();
    match &ev.kind {
        Kind::ToolCall => {
            let Some(call) = call else { return acts };
            let tool = call.tool.as_deref().unwrap_or("");
            let command = call_command(call);
            if let Some(patch) = command
                .clone()
                .filter(|c| c.trim_start().starts_with("*** Begin Patch"))
            {
                // Codex's apply_patch: a file edit, not a command line.
                acts.action_text.push((None, patch.clone()));
                for l in patch.lines() {
                    let file = [
                        "*** Update File: ",
                        "*** Add File: ",
                        "*** Delete File: ",
                        "*** Move to: ",
                    ]
                    .iter()
                    .find_map(|p| l.strip_prefix(p));
                    if let Some(f) = file {
                        acts.acting = true;
                        acts.mutating = true;
                        path_target(f.trim(), ctx, "writes", &mut acts);
                        acts.keys.push(format!("patch {}", f.trim()));
                    }
                }
            } else if let Some(cmd) = command {
                acts.action_text.push((None, cmd.clone()));
                let wt_cwd = state.cwd.clone();
                shell_acts(&shell::split(&cmd), ctx, state, wt_cwd, true, &mut acts);
                if tool_matches_write_on_line(&acts) {
                    acts.mutating = true;
                }
            } else {
                tool_acts(call, tool, ctx, &mut acts);
            }
        }
        Kind::Exec => {
            let x = ev.exec().unwrap_or_default();
            let argv = x.argv.unwrap_or_default();
            if !argv.is_empty() {
                acts.action_text.push((None, argv.join(" ")));
                let cwd = x.cwd.or_else(|| state.cwd.clone());
                // An exec does not change the session's cwd or exports.
                let mut scratch = state.clone();
                shell_acts(
                    &shell::from_argv(&argv),
                    ctx,
                    &mut scratch,
                    cwd,
                    false,
                    &mut acts,
                );
                // but a traced `terraform workspace select` does change the workspace
                state.tf_workspace = scratch.tf_workspace;
                state.kube_context = scratch.kube_context;
            }
        }
        Kind::ApiCall => {
            if let Some(req) = ApiRequest::from_data(&ev.data) {
                for (k, v) in &req.headers {
                    acts.action_text.push((Some(k.clone()), v.clone()));
                }
                acts.action_text.push((None, req.url.clone()));
                if let Some(b) = &req.body {
                    acts.action_text.push((None, b.clone()));
                }
                api_acts(&req, ctx, &mut acts);
            }
        }
        Kind::FileChange => {
            let c = ev.file_change().unwrap_or_default();
            if let Some(p) = &c.path {
                acts.acting = true;
                acts.mutating = true;
                path_target(p, ctx, "changes", &mut acts);
                if let Some(from) = &c.from {
                    path_target(from, ctx, "renames", &mut acts);
                }
            }
        }
        _ => {}
    }
    acts
}

fn tool_matches_write_on_line(acts: &Acts) -> bool {
    !acts.matches.is_empty()
}

fn tool_acts(call: &ToolCall, tool: &str, ctx: &Ctx<'_>, acts: &mut Acts) {
    // The tool's input is the agent's own shape: paths and URLs under the usual names.
    let input = call.input.clone().unwrap_or(Value::Null);
    collect_strings(&input, None, &mut acts.action_text);
    let lower = tool.to_ascii_lowercase();
    let writes = [
        "write",
        "edit",
        "multiedit",
        "notebookedit",
        "str_replace",
        "create",
        "apply_patch",
    ];
    for k in ["file_path", "path", "notebook_path"] {
        if let Some(p) = input.get(k).and_then(Value::as_str) {
            acts.acting = true;
            let verb = if writes.iter().any(|w| lower.contains(w)) {
                acts.mutating = true;
                "writes"
            } else {
                "reads"
            };
            path_target(p, ctx, verb, acts);
        }
    }
    if let Some(u) = input.get("url").and_then(Value::as_str) {
        acts.acting = true;
        url_targets(u, ctx, acts);
    }
    let m = ctx.cat.match_tool(tool);
    if lower.starts_with("mcp__") {
        acts.acting = true;
        acts.mutating |= !m.is_empty()
            || MUTATING_WORDS
                .iter()
                .any(|w| lower.contains(w) && w.len() > 3);
        let mut strings = Vec::new();
        collect_strings(&input, None, &mut strings);
        for (_, s) in &strings {
            id_targets(s, ctx, acts);
            for u in url_re().find_iter(s) {
                url_targets(u.as_str(), ctx, acts);
            }
        }
        acts.keys.push(format!("tool {tool} {input}"));
    }
    acts.matches.extend(m);
}

fn shell_acts(
    cmds: &[SimpleCommand],
    ctx: &Ctx<'_>,
    state: &mut State,
    cwd: Option<String>,
    persist_cwd: bool,
    acts: &mut Acts,
) {
    let mut wt = WorkTree {
        root: ctx.root.clone(),
        cwd,
    };
    for c in cmds {
        let prog = c.program().to_string();
        if prog == "cd" || prog == "pushd" {
            let to = resolve_cd(&wt, c.argv.get(1).map(String::as_str));
            wt.cwd = Some(to.clone());
            if persist_cwd {
                state.cwd = Some(to);
            }
            continue;
        }
        if matches!(prog.as_str(), "export" | "declare" | "typeset") {
            for a in &c.argv[1..] {
                if let Some(kv) = shell::parse_assignment(a) {
                    let mut tmp = Acts::default();
                    env_var_targets(std::slice::from_ref(&kv), ctx, &mut tmp);
                    if !tmp.targets.is_empty() {
                        acts.context_switch = true;
                        acts.targets.extend(tmp.targets.into_iter().map(|mut t| {
                            t.switch = true;
                            t
                        }));
                    }
                    state.exports.push(kv);
                }
            }
            continue;
        }
        // matches first: they apply to every program
        let m = ctx.cat.match_simple(c, &wt);
        if !m.is_empty() {
            acts.mutating = true;
        }
        acts.matches.extend(m);
        acts.keys.push(format!("cmd {}", c.argv.join(" ")));
        if let Some(req) = decode_argv(&c.argv) {
            api_acts(&req, ctx, acts);
        }
        // redirections write files, whatever the program
        for r in &c.redirects {
            if r.starts_with('/') || r.starts_with('~') {
                path_target(r, ctx, "writes", acts);
                if !acts.targets.is_empty() {
                    acts.acting = true;
                }
            }
        }
        if INERT.contains(&prog.as_str()) && c.remote_host.is_none() {
            continue;
        }
        acts.acting = true;
        let positional: Vec<&String> = c.argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
        if positional
            .iter()
            .any(|p| MUTATING_WORDS.contains(&p.as_str()))
        {
            acts.mutating = true;
        }
        // the environment the command runs with
        let mut env: Vec<(String, String)> = state.exports.clone();
        env.extend(c.assignments.iter().cloned());
        for (k, v) in &c.assignments {
            acts.action_text.push((Some(k.clone()), v.clone()));
        }
        context_targets(c, &env, ctx, state, acts);
        env_var_targets(&env, ctx, acts);
        if let Some(h) = &c.remote_host {
            host_target(h, ctx, "runs on host", acts);
        }
        command_host_targets(c, ctx, acts);
        for a in &c.argv[1..] {
            for u in url_re().find_iter(a) {
                url_targets(u.as_str(), ctx, acts);
            }
            id_targets(a, ctx, acts);
            if a.starts_with('/') || a.starts_with('~') {
                path_target(a, ctx, "touches", acts);
            }
        }
        for (_, v) in &c.assignments {
            for u in url_re().find_iter(v) {
                url_targets(u.as_str(), ctx, acts);
            }
        }
        if let Some(stdin) = &c.stdin
            && shell::is_sql_client(c)
        {
            id_targets(stdin, ctx, acts);
        }
    }
}

/// Kube context, terraform workspace, AWS profile, GCP project.
fn context_targets(
    c: &SimpleCommand,
    env: &[(String, String)],
    ctx: &Ctx<'_>,
    state: &mut State,
    acts: &mut Acts,
) {
    let prog = c.program();
    let args = &c.argv[1..];
    let flag = |names: &[&str]| -> Option<String> {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            for n in names {
                if a == n {
                    return it.next().cloned();
                }
                if let Some(v) = a.strip_prefix(&format!("{n}=")) {
                    return Some(v.to_string());
                }
            }
        }
        None
    };
    let env_get = |k: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let positional: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    match prog {
        "kubectl" | "oc" | "helm" | "k9s" | "kubectx" | "k" => {
            if (prog == "kubectl" || prog == "oc")
                && positional.starts_with(&["config", "use-context"])
            {
                if let Some(name) = positional.get(2) {
                    state.kube_context = Some(name.to_string());
                    acts.context_switch = true;
                    kube_target(name, ctx, "switches to kube context", acts);
                }
                return;
            }
            if prog == "kubectx" {
                if let Some(name) = positional.first() {
                    state.kube_context = Some(name.to_string());
                    acts.context_switch = true;
                    kube_target(name, ctx, "switches to kube context", acts);
                }
                return;
            }
            let name =
                flag(&["--context", "--kube-context"]).or_else(|| state.kube_context.clone());
            if let Some(n) = name {
                kube_target(&n, ctx, "runs in kube context", acts);
            }
        }
        "terraform" | "tofu" | "terragrunt" => {
            if positional.first() == Some(&"workspace") {
                if matches!(positional.get(1), Some(&"select") | Some(&"new"))
                    && let Some(ws) = positional.get(2)
                {
                    state.tf_workspace = Some(ws.to_string());
                    acts.context_switch = true;
                    tf_target(ws, ctx, "selects terraform workspace", acts);
                }
                return;
            }
            if matches!(
                positional.first(),
                Some(&"fmt") | Some(&"version") | Some(&"validate")
            ) {
                return;
            }
            if let Some(ws) = env_get("TF_WORKSPACE").or_else(|| state.tf_workspace.clone()) {
                tf_target(&ws, ctx, "runs in terraform workspace", acts);
            }
        }
        "aws" => {
            if let Some(p) = flag(&["--profile"]).or_else(|| env_get("AWS_PROFILE")) {
                if let Some((e, pat)) = ctx.env_match(|e| &e.aws_profiles, &p, true) {
                    acts.targets.push(Target {
                        switch: false,
                        env: e.name.clone(),
                        evidence: format!(
                            "AWS profile {p} matches {} aws_profiles \"{pat}\"",
                            e.name
                        ),
                    });
                }
                // `--profile` counts as AWS_PROFILE for env_vars matchers
                env_var_targets(&[("AWS_PROFILE".into(), p)], ctx, acts);
            }
        }
        "gcloud" | "gsutil" | "bq" => {
            if let Some(p) = flag(&["--project"]).or_else(|| env_get("CLOUDSDK_CORE_PROJECT"))
                && let Some((e, pat)) = ctx.env_match(|e| &e.gcp_projects, &p, true)
            {
                acts.targets.push(Target {
                    switch: false,
                    env: e.name.clone(),
                    evidence: format!("GCP project {p} matches {} gcp_projects \"{pat}\"", e.name),
                });
            }
        }
        _ => {}
    }
}

fn kube_target(name: &str, ctx: &Ctx<'_>, verb: &str, acts: &mut Acts) {
    if let Some((e, pat)) = ctx.env_match(|e| &e.kube_contexts, name, true) {
        acts.targets.push(Target {
            switch: verb.starts_with("switches"),
            env: e.name.clone(),
            evidence: format!(
                "{verb} {name}, which matches {} kube_contexts \"{pat}\"",
                e.name
            ),
        });
    }
}

fn tf_target(ws: &str, ctx: &Ctx<'_>, verb: &str, acts: &mut Acts) {
    if let Some((e, pat)) = ctx.env_match(|e| &e.terraform_workspaces, ws, true) {
        acts.targets.push(Target {
            switch: verb.starts_with("selects"),
            env: e.name.clone(),
            evidence: format!(
                "{verb} {ws}, which matches {} terraform_workspaces \"{pat}\"",
                e.name
            ),
        });
    }
}

fn env_var_targets(env: &[(String, String)], ctx: &Ctx<'_>, acts: &mut Acts) {
    for (k, v) in env {
        for e in &ctx.policy.environments {
            for (var, pats) in &e.env_vars {
                if var == k
                    && let Some(p) = pats.iter().find(|p| glob::matches(p, v))
                {
                    let ev = format!("{k}={v} matches {} env_vars {k} = \"{p}\"", e.name);
                    acts.target(&e.name, ev);
                }
            }
        }
    }
}

/// Hosts named by flags of database and remote-shell clients.
fn command_host_targets(c: &SimpleCommand, ctx: &Ctx<'_>, acts: &mut Acts) {
    let prog = c.program();
    let args = &c.argv[1..];
    let db_clients = [
        "psql",
        "pg_dump",
        "pg_restore",
        "pg_dumpall",
        "dropdb",
        "createdb",
        "mysql",
        "mariadb",
        "mysqldump",
        "redis-cli",
        "valkey-cli",
        "mongosh",
        "mongo",
        "clickhouse-client",
        "cqlsh",
    ];
    let mut hosts = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if let Some(h) = a
            .strip_prefix("--host=")
            .or_else(|| a.strip_prefix("--hostname="))
        {
            hosts.push(h.to_string());
        } else if a == "--host" || a == "--hostname" || (a == "-h" && db_clients.contains(&prog)) {
            if let Some(h) = it.next() {
                hosts.push(h.clone());
            }
        } else if db_clients.contains(&prog)
            && a.starts_with("-h")
            && a.len() > 2
            && !a.starts_with("--")
        {
            hosts.push(a[2..].to_string());
        }
    }
    if matches!(prog, "ssh" | "scp" | "rsync" | "sftp" | "mosh") {
        for a in args.iter().filter(|a| !a.starts_with('-')) {
            if a.contains("://") {
                continue;
            }
            let h = a.split(':').next().unwrap_or(a);
            let h = h.rsplit('@').next().unwrap_or(h);
            if prog == "ssh" || a.contains(':') || a.contains('@') {
                if !h.is_empty() && !h.starts_with('/') && !h.starts_with('.') {
                    hosts.push(h.to_string());
                }
                if prog == "ssh" {
                    break;
                }
            }
        }
    }
    for h in hosts {
        host_target(&h, ctx, "connects to host", acts);
    }
}

fn host_target(h: &str, ctx: &Ctx<'_>, verb: &str, acts: &mut Acts) {
    let h = h.to_ascii_lowercase();
    if let Some((e, pat)) = ctx.env_match(|e| &e.hosts, &h, true) {
        let ev = format!("{verb} {h}, which matches {} hosts \"{pat}\"", e.name);
        acts.target(&e.name, ev);
    }
}

fn url_targets(u: &str, ctx: &Ctx<'_>, acts: &mut Acts) {
    let Some(parsed) = Url::parse(u) else { return };
    host_target(&parsed.host, ctx, "connects to host", acts);
    let clean = strip_credentials(u);
    if let Some((e, pat)) = ctx.env_match(|e| &e.urls, &clean, false) {
        let ev = format!("URL {clean} matches {} urls \"{pat}\"", e.name);
        acts.target(&e.name, ev);
    }
    if is_railway_host(&parsed.host) {
        let note = format!(
            "host {}: Railway's API acts on whatever the token reaches",
            parsed.host
        );
        if !acts.notes.contains(&note) {
            acts.notes.push(note);
        }
    }
}

fn id_targets(text: &str, ctx: &Ctx<'_>, acts: &mut Acts) {
    if ctx.policy.environments.iter().all(|e| e.ids.is_empty()) {
        return;
    }
    for tok in token_re().find_iter(text) {
        let t = tok.as_str().trim_end_matches(['.', ':', '/']);
        if let Some((e, pat)) = ctx.env_match(|e| &e.ids, t, false) {
            let ev = format!("resource id {t} matches {} ids \"{pat}\"", e.name);
            acts.target(&e.name, ev);
        }
    }
}

fn path_target(p: &str, ctx: &Ctx<'_>, verb: &str, acts: &mut Acts) {
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        match &ctx.root {
            Some(r) if !p.starts_with('~') && !p.starts_with('$') => {
                crate::catalogue::normalize(&std::path::Path::new(r).join(p))
                    .to_string_lossy()
                    .into_owned()
            }
            _ => p.to_string(),
        }
    };
    for e in &ctx.policy.environments {
        if let Some(pat) = e
            .paths
            .iter()
            .find(|pat| glob::matches(pat, &abs) || glob::matches(pat, p))
        {
            let ev = format!("{verb} {p}, which matches {} paths \"{pat}\"", e.name);
            acts.target(&e.name, ev);
            return;
        }
    }
}

fn api_acts(req: &ApiRequest, ctx: &Ctx<'_>, acts: &mut Acts) {
    acts.acting = true;
    if req.is_mutating() {
        acts.mutating = true;
    }
    url_targets(&req.url, ctx, acts);
    if let Some(b) = &req.body {
        id_targets(b, ctx, acts);
    }
    if let Some(g) = &req.graphql {
        id_targets(&g.variables.to_string(), ctx, acts);
    }
    let m = ctx.cat.match_api(req);
    if !m.is_empty() {
        acts.mutating = true;
    }
    acts.matches.extend(m);
    acts.matches.sort_by_key(|m| std::cmp::Reverse(m.severity));
    acts.keys.push(api_key(
        &req.method,
        &req.host,
        &req.path,
        req.body.as_deref(),
    ));
    acts.apis.push(req.clone());
}

/// What the cause chain needs of the session: facts, times and descriptions by event.
struct Timeline<'a> {
    facts: &'a [EventFacts],
    times: &'a [Option<chrono::DateTime<chrono::Utc>>],
    described: &'a HashMap<u64, String>,
}

impl Timeline<'_> {
    /// The index of an event's facts; every event a cause chain cites has some.
    fn idx_of(&self, seq: u64) -> Option<usize> {
        self.facts.binary_search_by_key(&seq, |f| f.seq).ok()
    }

    fn time(&self, i: usize) -> Option<chrono::DateTime<chrono::Utc>> {
        self.times.get(i).copied().flatten()
    }

    fn describe(&self, seq: u64) -> String {
        self.described.get(&seq).cloned().unwrap_or_default()
    }
}

fn window(
    tl: &Timeline<'_>,
    secrets: &[SecretTrail],
    errors: &[(usize, bool, String)],
    crossings: &[Crossing],
    destructive: &[Destructive],
) -> Option<Window> {
    let idx_of = |seq: u64| tl.idx_of(seq);
    let facts = tl.facts;
    // Seqs of crossings (reported, or a fact's), so each destructive action is checked in O(1).
    let crossing_seqs: HashSet<u64> = crossings
        .iter()
        .map(|c| c.seq)
        .chain(facts.iter().filter(|f| f.crossing).map(|f| f.seq))
        .collect();
    let anchor_seq = destructive
        .iter()
        .find(|d| crossing_seqs.contains(&d.seq))
        .map(|d| d.seq)
        .or_else(|| crossings.first().map(|c| c.seq))
        .or_else(|| destructive.first().map(|d| d.seq))?;
    let anchor = idx_of(anchor_seq)?;
    // The secret behind it: used by the anchor (or the same action at nearby layers), seen before.
    let used: Vec<&String> = facts[anchor].secret_uses.iter().collect();
    // The read that matters is the agent's (tool output, file read), not the inventory.
    let read_of = |s: &SecretTrail| s.read_seq.unwrap_or(u64::MAX);
    let secret = secrets
        .iter()
        .filter(|s| used.contains(&&s.fingerprint) && read_of(s) < anchor_seq)
        .min_by_key(|s| read_of(s));
    let limit_seq = secret.map(read_of).unwrap_or(anchor_seq);
    let limit = idx_of(limit_seq)?;
    let limit_t = tl.time(limit);
    let within = |i: usize, mins: i64| match (tl.time(i), limit_t) {
        (Some(a), Some(b)) => (b - a).num_minutes() <= mins,
        _ => true,
    };
    let error = errors
        .iter()
        .filter(|(i, cred, _)| *i < limit && *cred && within(*i, 10))
        .min_by_key(|(i, ..)| *i)
        .or_else(|| {
            errors
                .iter()
                .filter(|(i, ..)| *i < limit && within(*i, 10))
                .max_by_key(|(i, ..)| *i)
        });
    let start = error
        .map(|(i, ..)| *i)
        .or(secret.and_then(|s| idx_of(read_of(s))))?;
    if start >= anchor {
        return None;
    }
    let mut steps = Vec::new();
    if let Some((i, cred, text)) = error {
        steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: facts[*i].seq,
            role: "error".into(),
            text: format!(
                "{}{}",
                if *cred {
                    "credential failure: "
                } else {
                    "error: "
                },
                truncate(text, 160)
            ),
        });
    }
    if let Some(s) = secret {
        let read = read_of(s);
        let how = Some(tl.describe(read))
            .filter(|d| !d.is_empty())
            .map(|d| format!(" by {d}"))
            .unwrap_or_default();
        steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: read,
            role: "secret_read".into(),
            text: format!(
                "{} token {} read{}{}",
                s.kind,
                s.fingerprint,
                s.read_location
                    .as_ref()
                    .or(s.location.as_ref())
                    .map(|l| format!(" from {l}"))
                    .unwrap_or_default(),
                how
            ),
        });
        for &u in s
            .used_in_seqs
            .iter()
            .filter(|&&u| u > read && u < anchor_seq)
        {
            steps.push(CauseStep {
                offset_seconds: 0.0,
                seq: u,
                role: "secret_use".into(),
                text: format!("token {} used: {}", s.fingerprint, tl.describe(u)),
            });
        }
    }
    if let Some(c) = crossings
        .iter()
        .find(|c| c.seq < anchor_seq && c.seq > facts[start].seq)
    {
        steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: c.seq,
            role: "crossing".into(),
            text: format!(
                "crosses from {} to {}: {}",
                c.from,
                c.to,
                tl.describe(c.seq)
            ),
        });
    }
    let anchor_text = tl.describe(anchor_seq);
    match destructive.iter().find(|d| d.seq == anchor_seq) {
        Some(d) => {
            let crossing = crossings.iter().find(|c| c.seq == anchor_seq);
            steps.push(CauseStep {
                offset_seconds: 0.0,
                seq: anchor_seq,
                role: "destructive".into(),
                text: format!(
                    "{} ({}){}: {}",
                    d.rule,
                    d.severity,
                    crossing
                        .map(|c| format!(", crossing from {} to {}", c.from, c.to))
                        .unwrap_or_default(),
                    anchor_text
                ),
            });
        }
        None => steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: anchor_seq,
            role: "crossing".into(),
            text: anchor_text,
        }),
    }
    steps.sort_by_key(|s| s.seq);
    let t0 = tl.time(start);
    for st in &mut steps {
        if let (Some(a), Some(b)) = (t0, idx_of(st.seq).and_then(|i| tl.time(i))) {
            st.offset_seconds = (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6;
        }
    }
    let seconds = match (tl.time(start), tl.time(anchor)) {
        (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    Some(Window {
        from_seq: facts[start].seq,
        to_seq: anchor_seq,
        seconds,
        steps,
    })
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
