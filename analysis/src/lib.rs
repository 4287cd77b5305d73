//! # flightlog-analysis
//!
//! What a recorded agent session did, judged against a policy: the environment of every event
//! (with the evidence that decided it), boundary crossings, destructive actions, secret
//! provenance, gaps, and the critical window from the first error to the damage.
//!
//! - [`policy`]: `flightlog.toml` with line-precise errors; [`Policy::default`] is built in.
//! - [`shell`]: command lines into simple commands, wrappers seen through.
//! - [`interp`]: interpreter one-liners (`python -c`, `node -e`, ...) into what they run or remove.
//! - [`decode`]: curl/wget/httpie argv and proxy captures into requests; GraphQL operations.
//! - [`catalogue`]: destructive-action rules as data (`rules/*.toml`, one pack per family).
//! - [`analyze()`]: one pass over a session; [`guard_decision`]: the guard's verdict on one more
//!   event; [`report`]: JSON and Markdown reports.
//! - [`describe`]: the one line that says what an event is, for every output.
//! - [`session`]: one session loaded for an output (events, analysis, verification).
//!
//! ## Invariants
//! - No I/O except [`Policy::load`] reading the file it is given and [`session::load`] reading
//!   the store it is given; no clock, no environment.
//! - Text that only mentions a target (output, file contents, `grep` patterns) never crosses.

pub mod actions;
pub mod analyze;
pub mod catalogue;
pub mod decode;
pub mod describe;
pub mod glob;
pub mod interp;
pub mod own;
pub mod policy;
pub mod report;
pub mod session;
pub mod shell;

/// What the unit tests of several modules share.
#[cfg(test)]
pub(crate) mod testing {
    /// An argv from words.
    pub(crate) fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }
}

pub use actions::{Action, Outcome, Seen};
pub use analyze::{
    Analysis, Analyzer, CauseStep, Crossing, Destructive, EventFacts, GapInfo, SecretTrail, Window,
    analyze,
};
pub use catalogue::Severity;
pub use policy::{FailMode, GuardSettings, Policy, PolicyError};

use flightlog_formats::Event;

/// The guard's verdict on one event about to happen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GuardDecision {
    pub deny: bool,
    /// The catalogue rule (or `crossing`) that decided a denial.
    pub rule: Option<String>,
    /// One line for the agent and the log.
    pub reason: String,
}

/// What a guard can stop before it happens: a hook's tool call, a traced exec, a proxied
/// request. Every other kind is recorded after the fact.
pub fn guard_can_stop(kind: &flightlog_formats::Kind) -> bool {
    use flightlog_formats::Kind;
    matches!(kind, Kind::ToolCall | Kind::Exec | Kind::ApiCall)
}

/// Decides whether the guard denies `candidate`, given the session so far (`prior`, in seq
/// order). Denies only when the guard is enabled and the event matches one of `guard.deny`:
/// `destructive-crossing` (a destructive action that crosses the boundary), `crossing`, or
/// `destructive`. Harmless events are never denied.
pub fn guard_decision(policy: &Policy, prior: &[Event], candidate: &Event) -> GuardDecision {
    if !policy.guard.enabled {
        return GuardDecision {
            deny: false,
            rule: None,
            reason: "guard disabled".into(),
        };
    }
    let mut a = Analyzer::new(policy);
    for ev in prior {
        a.push(ev);
    }
    let before = a.facts().len();
    a.push(candidate);
    let facts = a
        .facts()
        .get(before)
        .cloned()
        .unwrap_or_else(|| EventFacts::new(candidate.seq));
    decide(policy, a.home_env(), &facts)
}

/// The guard's verdict on the event with this seq, whatever `guard.enabled` says (the facts
/// of an event depend only on the events before it, so one [`analyze()`] of a whole session
/// answers for each of its events; `flightlog policy test` uses this).
pub fn verdict(policy: &Policy, a: &Analysis, seq: u64) -> GuardDecision {
    let none = EventFacts::new(seq);
    decide(
        policy,
        a.home_env.as_deref(),
        a.facts_of(seq).unwrap_or(&none),
    )
}

/// The verdict on an event with these facts, in a session whose home is `home`.
fn decide(policy: &Policy, home: Option<&str>, f: &EventFacts) -> GuardDecision {
    let to = f.env.clone().unwrap_or_else(|| "*".into());
    let to_text = if to == "*" {
        "every environment".to_string()
    } else {
        to.clone()
    };
    let from = home.unwrap_or("home");
    let why = f
        .env_evidence
        .first()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    // Destructive actions below the guard's minimum severity are recorded and reported, not
    // denied as destructive (`docker rm -f`, `git branch -D`).
    let min = policy.guard.min_severity;
    let below = f.destructive.as_ref().is_some_and(|(_, sev)| *sev < min);
    for d in &policy.guard.deny {
        match (d.as_str(), &f.destructive, f.crossing) {
            ("destructive-crossing" | "destructive", Some(_), _) if below => {}
            ("destructive-crossing", Some((rule, sev)), true) => {
                return GuardDecision {
                    deny: true,
                    rule: Some(rule.clone()),
                    reason: format!(
                        "flightlog guard: {rule} ({sev}) would act outside {from}, on {to_text}{why}"
                    ),
                };
            }
            ("crossing", _, true) => {
                return GuardDecision {
                    deny: true,
                    rule: Some(
                        f.destructive
                            .as_ref()
                            .map(|(r, _)| r.clone())
                            .unwrap_or_else(|| "crossing".into()),
                    ),
                    reason: format!("flightlog guard: this crosses from {from} to {to_text}{why}"),
                };
            }
            ("destructive", Some((rule, sev)), _) => {
                return GuardDecision {
                    deny: true,
                    rule: Some(rule.clone()),
                    reason: format!("flightlog guard: {rule} ({sev}) is a destructive action"),
                };
            }
            _ => {}
        }
    }
    GuardDecision {
        deny: false,
        rule: None,
        reason: match (&f.destructive, f.crossing) {
            (Some((r, sev)), _) if below => {
                format!("allowed: {r} ({sev}) is below the guard's min_severity ({min})")
            }
            (Some((r, _)), false) => format!("allowed: {r} stays in {from}"),
            (None, true) => format!("allowed: crosses to {to_text} but is not destructive"),
            (Some((r, _)), true) => {
                format!("allowed: {r} crosses to {to_text}; the policy does not deny it")
            }
            (None, false) => "allowed".into(),
        },
    }
}
