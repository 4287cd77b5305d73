//! Findings (boundary crossings and destructive actions) as the exports need them, decoupled
//! from the analysis types so every export can be tested on its own.

use std::collections::HashMap;

use flightlog_analysis::Analysis;
use flightlog_formats::Event;
use serde::Serialize;

/// What kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Crossing,
    Destructive,
}

/// One finding about one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub seq: u64,
    pub ts: String,
    pub kind: FindingKind,
    /// A one-line title, e.g. `boundary crossing: staging -> production`.
    pub title: String,
    /// `low`, `medium`, `high`, `critical`.
    pub severity: String,
    /// The catalogue rule (destructive) or `boundary-crossing`.
    pub rule: String,
    pub from_env: Option<String>,
    pub to_env: Option<String>,
    pub evidence: Vec<String>,
}

impl Finding {
    /// OCSF `severity_id` (2 Low .. 5 Critical).
    pub fn ocsf_severity(&self) -> u8 {
        match self.severity.as_str() {
            "low" => 2,
            "medium" => 3,
            "high" => 4,
            "critical" => 5,
            _ => 0,
        }
    }

    /// CEF severity (0-10).
    pub fn cef_severity(&self) -> u8 {
        match self.severity.as_str() {
            "low" => 3,
            "medium" => 5,
            "high" => 8,
            "critical" => 10,
            _ => 5,
        }
    }
}

/// The findings of an analysis, by seq (crossings before destructive actions on the same event).
pub fn from_analysis(a: &Analysis, events: &[Event]) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in &a.boundary_crossings {
        out.push(Finding {
            seq: c.seq,
            ts: c.ts.clone(),
            kind: FindingKind::Crossing,
            title: format!("boundary crossing: {} -> {}", c.from, c.to),
            severity: "high".into(),
            rule: "boundary-crossing".into(),
            from_env: Some(c.from.clone()),
            to_env: Some(c.to.clone()),
            evidence: c.evidence.clone(),
        });
    }
    // The time of the first event of each seq, for the destructive actions (which carry none).
    let mut ts_of: HashMap<u64, &str> = HashMap::new();
    if !a.destructive.is_empty() {
        for e in events {
            ts_of.entry(e.seq).or_insert(&e.ts);
        }
    }
    for d in &a.destructive {
        let severity = serde_json::to_value(d.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "high".into());
        let ts = ts_of.get(&d.seq).map(|t| t.to_string()).unwrap_or_default();
        out.push(Finding {
            seq: d.seq,
            ts,
            kind: FindingKind::Destructive,
            title: format!("destructive action ({}): {}", d.rule, d.summary),
            severity,
            rule: d.rule.clone(),
            from_env: a.home_env.clone(),
            to_env: d.target_env.clone(),
            evidence: vec![d.summary.clone()],
        });
    }
    out.sort_by_key(|f| (f.seq, f.kind == FindingKind::Destructive));
    out
}
