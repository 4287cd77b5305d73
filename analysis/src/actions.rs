//! Actions: the layers that saw one thing the agent did, joined, and what became of it.
//!
//! One shell tool call is seen by the agent's hook (`tool_call`, then `tool_result`), by the
//! tracer as a chain of processes (the harness's launchers and shells, then the real program,
//! then its exit), by the argv decoder (`api_call` from `argv`), and by the proxy (the request,
//! then its response). [`Joiner`] puts them together, one event at a time:
//!
//! - a `tool_result` joins its call (`call_seq`, `call_id`); an exec's exit joins its start
//!   (`exit_of_seq`); an argv-decoded request joins its exec (`via_seq`); a proxied response
//!   joins its request (`response_of_seq`); a guard `decision` joins what it decided on
//!   (`target_seq`, `call_id`);
//! - an exec joins the action of its process (the same pid, after an `execve`) or of its parent
//!   process, when the earlier image was a launcher or shell that runs this program (their
//!   commands, wrappers seen through, share a program): Codex's process setup, sandbox and
//!   bubblewrap, `bash -c` and the program it runs are one action;
//! - otherwise an event joins the most recent action, within 60 s, that shares a command or
//!   request with it and was not yet seen by its layer (the hook's call and the exec it
//!   started; the exec and the proxied request it sent);
//! - anything else starts an action.
//!
//! Each action ends with an [`Outcome`]: denied by flightlog's guard; blocked by the agent (its
//! sandbox kept the request from connecting; its permission prompt said no); done or failed (the
//! proxied response's status, else the program's exit, else the agent's own result); never
//! started (the hook saw the call, the tracer was running, nothing ran and no result came).
//!
//! Memory stays bounded by what can still join: an action without a finding is forgotten once
//! it is out of the 60 s window and no live process of it can start another link; later events
//! that name it (a late result, an exit) then join nothing, which changes no finding.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What became of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It ran and reached its target (exit 0, an HTTP response below 400).
    Done,
    /// It ran and did not succeed (non-zero exit, HTTP error, connection refused).
    Failed,
    /// flightlog's guard denied it: it never ran.
    DeniedByGuard,
    /// The agent stopped it: its sandbox, or its permission prompt.
    BlockedByAgent,
    /// The agent asked for it, but it never ran.
    NeverStarted,
    /// Nothing recorded says (hooks without a result, a process still running at the end).
    Unknown,
}

impl Outcome {
    /// Whether the action did not reach its target: an attempt, not a deed.
    pub fn is_attempt(self) -> bool {
        matches!(
            self,
            Outcome::Failed
                | Outcome::DeniedByGuard
                | Outcome::BlockedByAgent
                | Outcome::NeverStarted
        )
    }

    /// A short phrase: `done`, `failed`, `denied by flightlog's guard`, ...
    pub fn phrase(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::DeniedByGuard => "denied by flightlog's guard",
            Outcome::BlockedByAgent => "blocked by the agent",
            Outcome::NeverStarted => "never started",
            Outcome::Unknown => "outcome unknown",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.phrase())
    }
}

/// One layer's sighting of an action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seen {
    pub layer: String,
    pub seq: u64,
}

/// An action with a finding (a crossing or a destructive action), as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub id: usize,
    /// Its first event.
    pub seq: u64,
    pub what: String,
    /// Every event that saw it, in order.
    pub seen: Vec<Seen>,
    pub outcome: Outcome,
    /// What decided the outcome: `exit 7: curl: (7) Failed to connect ..`, `HTTP 200`, the
    /// guard's reason.
    pub outcome_detail: Option<String>,
    pub crossing: bool,
    pub destructive: Option<String>,
}

/// Where an event's evidence about an action's outcome comes from.
#[derive(Debug, Clone)]
pub(crate) enum Evidence {
    /// A guard decision to deny, with its reason.
    Denied(String),
    /// The exit of a process (`None`: it ended without a status, e.g. killed before it ran).
    Exit(Option<i64>),
    /// A proxied response: its status and its error (no response at all).
    Response(Option<i64>, Option<String>),
    /// The agent's result of a tool call: error flag and the text it showed.
    Result(bool, String),
}

#[derive(Debug, Default)]
pub(crate) struct ActState {
    pub seq: u64,
    pub ts: Option<DateTime<Utc>>,
    pub keys: Vec<String>,
    pub layers: Vec<(&'static str, u64)>,
    /// Commands (programs) of the latest exec joined, for the next link of the chain.
    pub sandboxed: bool,
    pub denied: Option<String>,
    pub response: Option<(Option<i64>, Option<String>)>,
    /// The exit of the deepest process (the last exec joined), and of any process.
    pub exit: Option<(u64, Option<i64>)>,
    pub last_exec: Option<u64>,
    pub result: Option<(bool, String)>,
    pub crossing: Option<usize>,
    pub destructive: Option<usize>,
    pub what: Option<String>,
    /// Live processes of this action (entries of `Joiner::by_pid`).
    pids: u32,
    /// Out of the join window.
    expired: bool,
    /// The seqs and call ids that name this action (`Joiner::by_seq`, `Joiner::by_call`).
    seqs: Vec<u64>,
    calls: Vec<String>,
}

impl ActState {
    fn has_layer(&self, layer: &str) -> bool {
        self.layers.iter().any(|(l, _)| *l == layer)
    }

    fn has_finding(&self) -> bool {
        self.crossing.is_some() || self.destructive.is_some()
    }
}

/// The window in which the same command or request seen by another layer is the same action.
const JOIN_SECONDS: i64 = 60;

/// Joins events into actions, one event at a time (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Joiner {
    /// The actions by id (their index); `None` once forgotten.
    acts: Vec<Option<Box<ActState>>>,
    /// Event seq -> action, for the events later ones refer to.
    by_seq: HashMap<u64, usize>,
    /// Hook call id -> action.
    by_call: HashMap<String, usize>,
    /// Live process -> (action, programs its image runs).
    by_pid: HashMap<i64, (usize, Vec<String>)>,
    /// Actions of the last JOIN_SECONDS, newest last, for joining by command or request.
    recent: VecDeque<usize>,
    /// Whether the tracer reported any exec (so a call with none never started).
    pub traced: bool,
}

/// What an acting event brings to the joiner.
pub(crate) struct Arrival<'a> {
    pub seq: u64,
    pub ts: Option<DateTime<Utc>>,
    pub layer: &'static str,
    pub keys: &'a [String],
    /// The seq this event names as its own (`via_seq` of an argv-decoded request).
    pub via: Option<u64>,
    pub call_id: Option<&'a str>,
    /// For an exec: pid, parent pid, and the programs it runs (wrappers seen through).
    pub process: Option<(i64, Option<i64>, Vec<String>)>,
    /// An exec of a sandbox launcher (`codex-linux-sandbox`, `bwrap`, ...).
    pub sandbox: bool,
}

impl<'a> Arrival<'a> {
    /// An event of `layer` with these join keys that names no seq, call or process.
    pub fn new(
        seq: u64,
        ts: Option<DateTime<Utc>>,
        layer: &'static str,
        keys: &'a [String],
    ) -> Self {
        Arrival {
            seq,
            ts,
            layer,
            keys,
            via: None,
            call_id: None,
            process: None,
            sandbox: false,
        }
    }
}

impl Joiner {
    /// The action an acting event belongs to (joining or starting one).
    pub fn arrive(&mut self, a: Arrival<'_>) -> usize {
        self.expire(a.ts);
        let via = a.via.and_then(|s| self.by_seq.get(&s).copied());
        let by_process = a.process.as_ref().and_then(|(pid, ppid, progs)| {
            let linked = |entry: Option<&(usize, Vec<String>)>| {
                entry
                    .filter(|(_, theirs)| theirs.iter().any(|p| progs.contains(p)))
                    .map(|(id, _)| *id)
            };
            linked(self.by_pid.get(pid))
                .or_else(|| ppid.and_then(|pp| linked(self.by_pid.get(&pp))))
        });
        // A process of an action whose shell is still running (a subshell forked without an
        // exec sits between them, so the parent pid is unknown) joins it by command.
        let live_shell = |id: usize| {
            a.process.as_ref().is_some_and(|(_, _, progs)| {
                self.by_pid
                    .values()
                    .any(|(aid, theirs)| *aid == id && theirs.iter().any(|p| progs.contains(p)))
            })
        };
        let by_key = || {
            self.recent.iter().rev().copied().find(|&id| {
                let Some(s) = self.get(id) else {
                    return false;
                };
                (!s.has_layer(a.layer) || live_shell(id))
                    && s.keys.iter().any(|k| a.keys.contains(k))
                    && match (s.ts, a.ts) {
                        (Some(x), Some(y)) => (y - x).num_seconds().abs() <= JOIN_SECONDS,
                        _ => true,
                    }
            })
        };
        let id = match via.or(by_process) {
            Some(id) => id,
            None => match by_key() {
                Some(id) => id,
                None => {
                    let id = self.acts.len();
                    self.acts.push(Some(Box::new(ActState {
                        seq: a.seq,
                        ts: a.ts,
                        ..ActState::default()
                    })));
                    self.recent.push_back(id);
                    id
                }
            },
        };
        let Some(st) = self.acts.get_mut(id).and_then(|a| a.as_deref_mut()) else {
            return id; // not reached: joined ids are live
        };
        st.layers.push((a.layer, a.seq));
        for k in a.keys {
            if !st.keys.contains(k) {
                st.keys.push(k.clone());
            }
        }
        st.sandboxed |= a.sandbox;
        st.seqs.push(a.seq);
        if let Some(c) = a.call_id {
            st.calls.push(c.to_string());
            self.by_call.insert(c.to_string(), id);
        }
        self.by_seq.insert(a.seq, id);
        if let Some((pid, _, progs)) = a.process {
            self.traced = true;
            st.last_exec = Some(a.seq);
            st.pids += 1;
            // The pid's earlier process (its image replaced, or the pid reused) links no more.
            if let Some((old, _)) = self.by_pid.insert(pid, (id, progs)) {
                self.released(old);
            }
        }
        id
    }

    fn get(&self, id: usize) -> Option<&ActState> {
        self.acts.get(id).and_then(|a| a.as_deref())
    }

    /// The action with this id, while it is kept.
    pub fn act_mut(&mut self, id: usize) -> Option<&mut ActState> {
        self.acts.get_mut(id).and_then(|a| a.as_deref_mut())
    }

    /// The actions with a finding, by id.
    pub fn with_findings(&self) -> Vec<(usize, &ActState)> {
        (0..self.acts.len())
            .filter_map(|id| Some((id, self.get(id)?)))
            .filter(|(_, st)| st.has_finding())
            .collect()
    }

    /// How many actions are kept (the bound the module docs describe).
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.acts.iter().filter(|a| a.is_some()).count()
    }

    /// One live process of action `id` ended or no longer links.
    fn released(&mut self, id: usize) {
        if let Some(st) = self.act_mut(id) {
            st.pids = st.pids.saturating_sub(1);
        }
        self.forget_if_done(id);
    }

    /// Forgets an action that can join nothing more and has no finding.
    fn forget_if_done(&mut self, id: usize) {
        let done = self
            .get(id)
            .is_some_and(|st| st.expired && st.pids == 0 && !st.has_finding());
        if !done {
            return;
        }
        let Some(st) = self.acts.get_mut(id).and_then(Option::take) else {
            return;
        };
        for s in st.seqs {
            if self.by_seq.get(&s) == Some(&id) {
                self.by_seq.remove(&s);
            }
        }
        for c in st.calls {
            if self.by_call.get(&c) == Some(&id) {
                self.by_call.remove(&c);
            }
        }
    }

    /// The action an event that refers to another one (by seq or call id) belongs to.
    pub fn action_of(&self, seq: Option<u64>, call_id: Option<&str>) -> Option<usize> {
        seq.and_then(|s| self.by_seq.get(&s).copied())
            .or_else(|| call_id.and_then(|c| self.by_call.get(c).copied()))
    }

    /// Records what an event says about an action's outcome. `of` is the event it refers to
    /// (for an exit, the exec it ends).
    pub fn evidence(
        &mut self,
        id: usize,
        of: Option<u64>,
        seq: u64,
        layer: &'static str,
        e: Evidence,
    ) {
        let Some(st) = self.act_mut(id) else {
            return;
        };
        if layer != "other" && !st.layers.iter().any(|(_, s)| *s == seq) {
            st.layers.push((layer, seq));
        }
        st.seqs.push(seq);
        match e {
            Evidence::Denied(r) => st.denied = Some(r),
            Evidence::Response(s, err) => st.response = Some((s, err)),
            Evidence::Result(is_err, text) => st.result = Some((is_err, text)),
            Evidence::Exit(code) => {
                let deepest = of.is_some() && of == st.last_exec;
                if deepest || st.exit.is_none() {
                    st.exit = Some((of.unwrap_or(seq), code));
                }
            }
        }
        self.by_seq.insert(seq, id);
    }

    /// Whether a recent action already has this command or request (a proxied request that
    /// does is the agent's action, whatever its endpoint).
    pub fn recent_key(&self, key: &str, now: Option<DateTime<Utc>>) -> bool {
        self.recent.iter().rev().any(|&id| {
            let Some(s) = self.get(id) else {
                return false;
            };
            s.keys.iter().any(|k| k == key)
                && match (s.ts, now) {
                    (Some(x), Some(y)) => (y - x).num_seconds().abs() <= JOIN_SECONDS,
                    _ => true,
                }
        })
    }

    /// A process ended: it no longer links later execs.
    pub fn process_ended(&mut self, pid: i64) {
        if let Some((id, _)) = self.by_pid.remove(&pid) {
            self.released(id);
        }
    }

    fn expire(&mut self, now: Option<DateTime<Utc>>) {
        let Some(now) = now else { return };
        while let Some(&id) = self.recent.front() {
            let ts = self.get(id).and_then(|st| st.ts);
            match ts {
                Some(t) if (now - t).num_seconds() > JOIN_SECONDS => {
                    self.recent.pop_front();
                    if let Some(st) = self.act_mut(id) {
                        st.expired = true;
                        if !st.has_finding() {
                            st.keys = Vec::new();
                        }
                    }
                    self.forget_if_done(id);
                }
                // Not kept any more, or never timed: it leaves the window now.
                None if self.get(id).is_none() => {
                    self.recent.pop_front();
                }
                _ => break,
            }
        }
    }
}

/// How a command failed to reach the network: `curl: (7) Failed to connect`, `Could not
/// resolve host`, `Connection refused`, ...
pub(crate) fn connection_failure(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "curl: (6)",
        "curl: (7)",
        "curl: (28)",
        "failed to connect",
        "couldn't connect",
        "could not resolve host",
        "connection refused",
        "network is unreachable",
        "name or service not known",
        "temporary failure in name resolution",
    ]
    .iter()
    .any(|p| t.contains(p))
}

/// Text of an agent's result saying its own permission machinery stopped the call.
pub(crate) fn agent_refusal(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "permission to use",
        "user doesn't want to proceed",
        "user denied",
        "rejected by user",
        "was blocked by",
        "blocked by policy",
        "denied by policy",
        "tool execution denied",
        "operation not permitted by sandbox",
        "sandbox denied",
    ]
    .iter()
    .any(|p| t.contains(p))
}

fn first_line(s: &str) -> String {
    let l = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    crate::analyze::truncate(l, 120)
}

/// The outcome of an action and what decided it.
pub(crate) fn outcome_of(st: &ActState, traced: bool) -> (Outcome, Option<String>) {
    if let Some(r) = &st.denied {
        return (Outcome::DeniedByGuard, Some(r.clone()));
    }
    let result_text = st.result.as_ref().map(|(_, t)| t.as_str()).unwrap_or("");
    if let Some((status, err)) = &st.response {
        return match (status, err) {
            (_, Some(e)) if !e.trim().is_empty() && status.is_none_or(|s| s >= 500) => (
                Outcome::Failed,
                Some(format!("no response: {}", first_line(e))),
            ),
            (Some(s), _) if *s < 400 => (Outcome::Done, Some(format!("HTTP {s}"))),
            (Some(s), _) => (Outcome::Failed, Some(format!("HTTP {s}"))),
            (None, _) => (Outcome::Unknown, None),
        };
    }
    if agent_refusal(result_text) {
        return (
            Outcome::BlockedByAgent,
            Some(format!(
                "the agent's permission check: {}",
                first_line(result_text)
            )),
        );
    }
    let unreachable = connection_failure(result_text);
    let why = |code: Option<i64>| {
        let mut s = code.map(|c| format!("exit {c}")).unwrap_or_default();
        if !result_text.trim().is_empty() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&first_line(result_text));
        }
        s
    };
    if let Some((_, code)) = st.exit {
        return match code {
            Some(0) if !unreachable => (Outcome::Done, Some("exit 0".into())),
            None => (
                Outcome::Unknown,
                Some("ended without an exit status".into()),
            ),
            Some(c) => {
                if st.sandboxed && (unreachable || c == 7 || c == 6) {
                    (
                        Outcome::BlockedByAgent,
                        Some(format!(
                            "the agent's sandbox kept it off the network ({})",
                            why(Some(c))
                        )),
                    )
                } else {
                    (Outcome::Failed, Some(why(Some(c))))
                }
            }
        };
    }
    if let Some((is_err, _)) = &st.result {
        if unreachable {
            let who = if st.sandboxed {
                return (
                    Outcome::BlockedByAgent,
                    Some(format!("the agent's sandbox: {}", first_line(result_text))),
                );
            } else {
                first_line(result_text)
            };
            return (Outcome::Failed, Some(who));
        }
        if *is_err {
            return (Outcome::Failed, Some(why(None)));
        }
        return (Outcome::Done, Some("the agent reported its result".into()));
    }
    let hook_only = st.layers.iter().all(|(l, _)| *l == "hook");
    if hook_only && traced {
        return (
            Outcome::NeverStarted,
            Some("the hook saw the call; the tracer saw nothing run and no result came".into()),
        );
    }
    (Outcome::Unknown, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    fn arrive(
        j: &mut Joiner,
        seq: u64,
        layer: &'static str,
        k: &[String],
        process: Option<(i64, Option<i64>, Vec<String>)>,
    ) -> usize {
        j.arrive(Arrival {
            process,
            ..Arrival::new(seq, None, layer, k)
        })
    }

    /// A process `pid` (child of `ppid`) running `prog` arrives at the exec layer.
    fn exec(j: &mut Joiner, seq: u64, k: &[String], pid: i64, ppid: i64, prog: &str) -> usize {
        arrive(j, seq, "exec", k, Some((pid, Some(ppid), keys(&[prog]))))
    }

    #[test]
    fn actions_that_can_join_nothing_more_are_forgotten_unless_they_have_a_finding() {
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-04-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: i64| Some(t0 + chrono::Duration::seconds(s));
        let mut j = Joiner::default();
        let arrive = |j: &mut Joiner,
                      seq: u64,
                      t: i64,
                      k: &[&str],
                      call: Option<&str>,
                      process: Option<(i64, Option<i64>, Vec<String>)>| {
            let layer = if process.is_some() { "exec" } else { "hook" };
            j.arrive(Arrival {
                call_id: call,
                process,
                ..Arrival::new(seq, at(t), layer, &keys(k))
            })
        };
        let ls = arrive(&mut j, 1, 0, &["cmd ls"], Some("c1"), None);
        let sleep = arrive(
            &mut j,
            2,
            1,
            &["cmd sleep"],
            None,
            Some((42, None, keys(&["sleep"]))),
        );
        let rm = arrive(&mut j, 3, 2, &["cmd rm"], None, None);
        j.act_mut(rm).unwrap().destructive = Some(0);
        assert_eq!(j.kept(), 3);
        // Two minutes on: `ls` is out of the window with nothing left to link; `sleep` still
        // runs (a child of it may join it); `rm` has a finding.
        let echo = arrive(&mut j, 4, 120, &["cmd echo"], None, None);
        assert_eq!(j.kept(), 3);
        assert_eq!(
            j.action_of(Some(1), Some("c1")),
            None,
            "a late result joins nothing"
        );
        assert_eq!(j.action_of(Some(2), None), Some(sleep));
        j.process_ended(42);
        assert_eq!(j.kept(), 2);
        assert_eq!(j.action_of(Some(3), None), Some(rm));
        assert_eq!(j.action_of(Some(4), None), Some(echo));
        let found: Vec<usize> = j.with_findings().iter().map(|(id, _)| *id).collect();
        assert_eq!(found, [rm]);
        assert_ne!(ls, rm);
    }

    /// Rows: (what arrives, the action it must join: an earlier row's index, or None for new).
    #[test]
    fn layers_join_into_actions() {
        let curl = keys(&["cmd curl -X POST https://h/graphql"]);
        let mut j = Joiner::default();
        // 0: the hook's call
        let call = arrive(&mut j, 1, "hook", &curl, None);
        // 1: the harness's process setup (not related by pid to anything yet): joins by command
        let setup = exec(&mut j, 2, &curl, 100, 1, "curl");
        assert_eq!(setup, call);
        // 2: the sandbox, same pid after execve: joins by process (the layer is already there)
        let sandbox = exec(&mut j, 3, &curl, 100, 1, "curl");
        assert_eq!(sandbox, call);
        // 3: bwrap's child, the shell, the real program: join by parent
        assert_eq!(exec(&mut j, 4, &curl, 101, 100, "curl"), call);
        assert_eq!(exec(&mut j, 5, &curl, 101, 100, "curl"), call);
        // a process under a forked subshell (its parent never exec'd, so unknown) while the
        // action's shell runs: joins by command
        assert_eq!(exec(&mut j, 6, &curl, 103, 102, "curl"), call);
        j.process_ended(100);
        j.process_ended(101);
        j.process_ended(103);
        // 4: the same command run again later by another process: a new action
        let again = exec(&mut j, 9, &curl, 300, 1, "curl");
        assert_ne!(again, call);
        // 5: an unrelated child of the agent: a new action
        let other = exec(&mut j, 10, &keys(&["cmd ls"]), 301, 1, "ls");
        assert_ne!(other, call);
        assert_ne!(other, again);
        // 6: the hook's next call of the same command: joins the exec that has no hook yet
        let call2 = arrive(&mut j, 11, "hook", &curl, None);
        assert_eq!(call2, again);
        // 7: a second hook call of the same command: a new action
        let call3 = arrive(&mut j, 12, "hook", &curl, None);
        assert_ne!(call3, call2);
        // 8: an argv-decoded request names its exec
        let req = j.arrive(Arrival {
            via: Some(5),
            ..Arrival::new(13, None, "api-argv", &keys(&["api POST h/graphql"]))
        });
        assert_eq!(req, call);
    }

    #[test]
    fn outcomes() {
        let st = |f: &dyn Fn(&mut ActState)| {
            let mut s = ActState::default();
            s.layers.push(("hook", 1));
            f(&mut s);
            outcome_of(&s, true).0
        };
        let curl7 = "curl: (7) Failed to connect to 127.0.0.1 port 45241 after 0 ms: Couldn't connect to server";
        type Row = (&'static str, Outcome, Box<dyn Fn(&mut ActState)>);
        let table: Vec<Row> = vec![
            (
                "denied",
                Outcome::DeniedByGuard,
                Box::new(|s| s.denied = Some("guard".into())),
            ),
            (
                "http 200",
                Outcome::Done,
                Box::new(|s| s.response = Some((Some(200), None))),
            ),
            (
                "http 500",
                Outcome::Failed,
                Box::new(|s| s.response = Some((Some(500), None))),
            ),
            (
                "no upstream",
                Outcome::Failed,
                Box::new(|s| s.response = Some((Some(502), Some("connection refused".into())))),
            ),
            (
                "exit 0",
                Outcome::Done,
                Box::new(|s| s.exit = Some((2, Some(0)))),
            ),
            (
                "exit 1",
                Outcome::Failed,
                Box::new(|s| s.exit = Some((2, Some(1)))),
            ),
            (
                "curl 7 in the sandbox",
                Outcome::BlockedByAgent,
                Box::new(move |s| {
                    s.sandboxed = true;
                    s.exit = Some((2, Some(7)));
                    s.result = Some((false, curl7.into()));
                }),
            ),
            (
                "curl 7 outside a sandbox",
                Outcome::Failed,
                Box::new(move |s| {
                    s.exit = Some((2, Some(7)));
                    s.result = Some((false, curl7.into()));
                }),
            ),
            (
                "hooks only, curl 7",
                Outcome::Failed,
                Box::new(move |s| s.result = Some((false, curl7.into()))),
            ),
            (
                "hooks only, fine",
                Outcome::Done,
                Box::new(|s| s.result = Some((false, "{\"data\":{}}".into()))),
            ),
            (
                "hooks only, error",
                Outcome::Failed,
                Box::new(|s| s.result = Some((true, "boom".into()))),
            ),
            (
                "permission prompt",
                Outcome::BlockedByAgent,
                Box::new(|s| {
                    s.result = Some((
                        true,
                        "The user doesn't want to proceed with this tool use.".into(),
                    ))
                }),
            ),
            ("nothing ran", Outcome::NeverStarted, Box::new(|_| {})),
        ];
        for (name, want, f) in table {
            assert_eq!(st(f.as_ref()), want, "{name}");
        }
        // Without a tracer, a call with no result is unknown, not "never started".
        let mut s = ActState::default();
        s.layers.push(("hook", 1));
        assert_eq!(outcome_of(&s, false).0, Outcome::Unknown);
    }
}
