//! Findings for a session: the policy-aware analysis (`flightlog_analysis::analyze`) when the
//! session fits in memory, else what the capture layers recorded
//! ([`crate::findings::recorded`], which streams).

use std::path::Path;

use flightlog_analysis::{Analysis, Policy, analyze};
use flightlog_formats::Store;

use crate::ViewerError;
use crate::findings::recorded;
use crate::state::{
    CauseChain, CauseStep, CrossingInfo, DestructiveInfo, Findings, FindingsSource, SecretOrigin,
};

/// Sessions up to this many events get the full analysis (it holds every event in memory).
pub const ANALYZE_LIMIT: u64 = 200_000;

/// Computes the findings of a session.
pub fn findings(
    store: &Store,
    session: &str,
    home: Option<String>,
    policy: Option<&Path>,
) -> Result<Findings, ViewerError> {
    let (count, _) = store.head(session)?;
    if count > ANALYZE_LIMIT {
        let mut f = recorded(store, session, home)?;
        f.note = Some(format!(
            "{count} events: markers come from the environments recorded on each event \
             (the policy analysis runs on sessions of up to {ANALYZE_LIMIT} events)"
        ));
        return Ok(f);
    }
    let policy = match Policy::load(policy) {
        Ok(p) => p,
        Err(e) => {
            let mut f = recorded(store, session, home)?;
            f.note = Some(format!(
                "policy not loaded ({e}); markers from recorded environments"
            ));
            return Ok(f);
        }
    };
    let mut events = Vec::with_capacity(count as usize);
    store.for_each_event(session, |s| {
        if let Ok(e) = s.event() {
            events.push(e);
        }
        true
    })?;
    let a = analyze(&events, &policy);
    Ok(from_analysis(a, home))
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
