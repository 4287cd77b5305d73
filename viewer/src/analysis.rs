//! Findings for a session: the policy-aware analysis (`flightlog_analysis::Analyzer`), folded
//! over the session as it streams from the store, so a session of any size gets the same
//! analysis as `flightlog report`.

use std::path::Path;

use flightlog_analysis::report::outcome_text;
use flightlog_analysis::{Analysis, Analyzer, Policy};
use flightlog_formats::Store;

use crate::ViewerError;
use crate::state::{
    CauseChain, CauseStep, CrossingInfo, DestructiveInfo, Findings, FindingsSource, SecretOrigin,
};

/// Computes the findings of a session. A policy that does not load leaves the built-in one in
/// force, and the findings say so.
pub fn findings(
    store: &Store,
    session: &str,
    home: Option<String>,
    policy: Option<&Path>,
) -> Result<Findings, ViewerError> {
    let (policy, note) = match Policy::load(policy) {
        Ok(p) => (p, None),
        Err(e) => (
            Policy::default(),
            Some(format!(
                "policy not loaded ({e}); the built-in policy applies"
            )),
        ),
    };
    let mut fold = Analyzer::new(&policy);
    let mut unreadable = 0u64;
    store.for_each_event(session, |s| {
        match s.event() {
            Ok(e) => fold.push(&e),
            Err(_) => unreadable += 1,
        }
        true
    })?;
    let mut f = from_analysis(fold.finish(), home);
    f.note = match (note, unreadable) {
        (n, 0) => n,
        (Some(n), u) => Some(format!("{n}; {u} unreadable event(s) left out")),
        (None, u) => Some(format!("{u} unreadable event(s) left out of the analysis")),
    };
    Ok(f)
}

fn sev(s: &flightlog_analysis::Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}").to_lowercase())
}

/// Converts the analysis into what the viewer draws.
pub fn from_analysis(a: Analysis, home: Option<String>) -> Findings {
    let mut f = Findings {
        source: FindingsSource::Analysis,
        home_env: a.home_env.clone().or(home),
        ..Findings::default()
    };
    for c in a.boundary_crossings {
        f.crossings.insert(
            c.seq,
            CrossingInfo {
                attempt: c
                    .outcome
                    .is_attempt()
                    .then(|| outcome_text(c.outcome, &c.outcome_detail)),
                from: c.from,
                to: c.to,
                evidence: c.evidence,
            },
        );
    }
    for d in a.destructive {
        f.destructive.insert(
            d.seq,
            DestructiveInfo {
                attempt: d
                    .outcome
                    .is_attempt()
                    .then(|| outcome_text(d.outcome, &d.outcome_detail)),
                rule: d.rule,
                severity: sev(&d.severity),
                target_env: d.target_env,
                summary: d.summary,
            },
        );
    }
    for fact in a.facts {
        if !fact.secret_uses.is_empty() {
            f.secret_uses.insert(fact.seq, fact.secret_uses);
        }
        if !fact.secret_reads.is_empty() {
            f.secret_reads.insert(fact.seq, fact.secret_reads);
        }
        if fact.error {
            f.errors.insert(fact.seq);
        }
        if let Some(env) = fact.env {
            f.env_of.insert(fact.seq, (env, fact.env_evidence));
        }
    }
    for s in a.secrets {
        f.secret_trails.insert(
            s.fingerprint,
            SecretOrigin {
                seq: s.first_seen_seq,
                kind: s.kind,
                location: s.location,
            },
        );
    }
    f.chain = a.critical_window.map(|w| CauseChain {
        from_seq: w.from_seq,
        to_seq: w.to_seq,
        seconds: w.seconds,
        steps: w
            .steps
            .into_iter()
            .map(|s| CauseStep {
                seq: s.seq,
                role: s.role,
                text: s.text,
            })
            .collect(),
    });
    f
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use flightlog_formats::Event;

    /// A Codex run whose delete its sandbox kept off the network: the replay marks an attempt.
    #[test]
    fn an_attempt_is_shown_as_an_attempt() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../analysis/tests/data/agents");
        let events: Vec<Event> =
            std::fs::read_to_string(format!("{dir}/codex-record-sandboxed.jsonl"))
                .unwrap()
                .lines()
                .map(|l| Event::from_bytes(l.as_bytes()).unwrap())
                .collect();
        let policy = Policy::load(Some(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../demo/incident/flightlog.toml"
        ))))
        .unwrap();
        let f = from_analysis(flightlog_analysis::analyze(&events, &policy), None);
        assert_eq!(f.crossings.len(), 1);
        let c = f.crossings.values().next().unwrap();
        let a = c.attempt.as_deref().unwrap();
        assert!(
            a.starts_with("blocked by the agent") && a.contains("sandbox"),
            "{a}"
        );
        let d = f.destructive.values().next().unwrap();
        assert!(d.attempt.is_some());
    }
}
