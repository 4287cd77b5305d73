//! The findings the replay shows: boundary crossings with their evidence, destructive actions,
//! secret reads and uses, errors, and the cause chain.
//!
//! [`recorded`] derives them from what the capture layers wrote on each event (the `env` field,
//! redaction fingerprints, exit codes), streaming the session so memory stays flat. When the
//! policy-aware analysis is available, [`crate::analysis`] replaces them.

use std::collections::{BTreeMap, HashMap};

use flightlog_formats::{Event, Kind, Store};
use serde_json::Value;

use crate::ViewerError;
use crate::sanitize;
use crate::state::{
    CauseChain, CauseStep, CrossingInfo, DestructiveInfo, Findings, FindingsSource,
};

/// Kinds that act on something (and so can cross a boundary).
fn acts(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Exec | Kind::ApiCall | Kind::ToolCall | Kind::FileChange
    )
}

/// Host of a URL, without credentials or port.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let auth = rest.split(['/', '?', '#']).next()?;
    let host = auth.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_string())
}

fn error_of(ev: &Event) -> bool {
    let d = &ev.data;
    match ev.kind {
        Kind::Exec => {
            d.get("exit")
                .and_then(Value::as_i64)
                .is_some_and(|c| c != 0)
                || d.get("signal").is_some_and(|s| !s.is_null())
        }
        Kind::ToolResult => d.get("is_error").and_then(Value::as_bool).unwrap_or(false),
        Kind::ApiCall => d
            .get("status")
            .and_then(Value::as_i64)
            .is_some_and(|s| s >= 400),
        _ => false,
    }
}

/// A GraphQL mutation whose root field deletes something (recorded data only).
fn graphql_delete(ev: &Event) -> Option<String> {
    let g = ev.data.get("graphql").filter(|g| !g.is_null())?;
    if g.get("operation_type").and_then(Value::as_str) != Some("mutation") {
        return None;
    }
    g.get("root_fields")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|f| f.ends_with("Delete") || f.starts_with("delete"))
        .map(str::to_string)
}

/// Findings from the recorded data, streaming the session once.
pub fn recorded(
    store: &Store,
    session: &str,
    home: Option<String>,
) -> Result<Findings, ViewerError> {
    let mut f = Findings {
        source: FindingsSource::Recorded,
        home_env: home,
        note: Some("from the environments recorded on each event; no policy applied".into()),
        ..Findings::default()
    };
    // fp -> (seq, kind, location) of the first read.
    let mut origin: HashMap<String, (u64, String, Option<String>)> = HashMap::new();
    let mut ts: BTreeMap<u64, String> = BTreeMap::new();
    let mut summaries: BTreeMap<u64, String> = BTreeMap::new();
    let mut first_error: Option<u64> = None;
    let mut err = None;
    store
        .for_each_event(session, |stored| {
            let Ok(ev) = stored.event() else { return true };
            if f.home_env.is_none()
                && ev.kind == Kind::SessionStart
                && let Some(h) = ev.data_str("home_env")
            {
                f.home_env = Some(h.to_string());
            }
            let seq = ev.seq;
            let mut interesting = false;
            if error_of(&ev) {
                f.errors.insert(seq);
                first_error.get_or_insert(seq);
                interesting = true;
            }
            for key in ["secrets", "inventory"] {
                for s in ev
                    .data
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (Some(fp), Some(kind)) = (
                        s.get("fp").and_then(Value::as_str),
                        s.get("kind").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    let file = s
                        .get("path")
                        .and_then(Value::as_str)
                        .or(ev.data_str("path"));
                    let loc = file.map(|p| match s.get("line").and_then(Value::as_u64) {
                        Some(l) => format!("{p}:{l}"),
                        None => p.to_string(),
                    });
                    origin
                        .entry(fp.to_string())
                        .or_insert((seq, kind.to_string(), loc));
                    if ev.kind == Kind::FileRead {
                        f.secret_reads.entry(seq).or_default().push(fp.to_string());
                        interesting = true;
                    }
                }
            }
            let fps = crate::loader::redaction_fps(&ev);
            if acts(&ev.kind) && !fps.is_empty() {
                f.secret_uses.insert(seq, fps.clone());
                interesting = true;
            }
            if let Some(rule) = graphql_delete(&ev) {
                f.destructive.insert(
                    seq,
                    DestructiveInfo {
                        rule: format!("graphql-{rule}"),
                        severity: "critical".into(),
                        target_env: ev.env.clone(),
                        summary: format!("GraphQL mutation {rule}"),
                    },
                );
                interesting = true;
            }
            if acts(&ev.kind)
                && let (Some(env), Some(home)) = (&ev.env, &f.home_env)
                && env != home
            {
                let mut evidence = vec![format!(
                    "environment recorded by the {} layer: {env} (session home: {home})",
                    ev.source
                )];
                if let Some(host) = ev
                    .data_str("host")
                    .map(str::to_string)
                    .or_else(|| ev.data_str("url").and_then(url_host))
                    .or_else(|| {
                        ev.data
                            .get("argv")
                            .and_then(Value::as_array)?
                            .iter()
                            .filter_map(Value::as_str)
                            .find(|a| a.contains("://"))
                            .and_then(url_host)
                    })
                {
                    evidence.push(format!("host: {host}"));
                }
                for r in &ev.redactions {
                    let from = match origin.get(&r.fp) {
                        Some((s, _, Some(loc))) => format!("first seen at seq {s} in {loc}"),
                        Some((s, _, None)) => format!("first seen at seq {s}"),
                        None => "not seen being read in this session".into(),
                    };
                    evidence.push(format!("credential {} [{}], {from}", r.kind, r.fp));
                }
                f.crossings.insert(
                    seq,
                    CrossingInfo {
                        from: home.clone(),
                        to: env.clone(),
                        evidence: evidence.iter().map(|e| sanitize::line(e)).collect(),
                    },
                );
                interesting = true;
            }
            if interesting {
                ts.insert(seq, ev.ts.clone());
                summaries.insert(seq, crate::loader::summary(&ev));
            }
            true
        })
        .map_err(|e| err = Some(e))
        .ok();
    if let Some(e) = err {
        return Err(e.into());
    }
    f.chain = chain(&f, first_error, &ts, &summaries);
    Ok(f)
}

/// The cause chain: the first error before the first crossing, the reads and uses of the
/// credentials it used, the crossing, and the first destructive action from there on.
fn chain(
    f: &Findings,
    first_error: Option<u64>,
    ts: &BTreeMap<u64, String>,
    summaries: &BTreeMap<u64, String>,
) -> Option<CauseChain> {
    let (&cross, _) = f.crossings.iter().next()?;
    let mut steps = Vec::new();
    let text = |seq: u64| summaries.get(&seq).cloned().unwrap_or_default();
    if let Some(e) = first_error.filter(|e| *e < cross) {
        steps.push(CauseStep {
            seq: e,
            role: "error".into(),
            text: text(e),
        });
    }
    let used = f.secret_uses.get(&cross).cloned().unwrap_or_default();
    for (seq, fps) in f.secret_reads.range(..cross) {
        if fps.iter().any(|fp| used.contains(fp)) {
            steps.push(CauseStep {
                seq: *seq,
                role: "secret_read".into(),
                text: text(*seq),
            });
        }
    }
    if !used.is_empty() {
        steps.push(CauseStep {
            seq: cross,
            role: "secret_use".into(),
            text: text(cross),
        });
    }
    steps.push(CauseStep {
        seq: cross,
        role: "crossing".into(),
        text: text(cross),
    });
    if let Some((d, _)) = f.destructive.range(cross..).next() {
        steps.push(CauseStep {
            seq: *d,
            role: "destructive".into(),
            text: text(*d),
        });
    }
    steps.sort_by_key(|s| s.seq);
    let from_seq = steps.first()?.seq;
    let to_seq = steps.last()?.seq;
    let t = |s: u64| {
        ts.get(&s)
            .and_then(|t| flightlog_formats::event::parse_ts(t))
    };
    let seconds = match (t(from_seq), t(to_seq)) {
        (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    Some(CauseChain {
        from_seq,
        to_seq,
        seconds,
        steps,
    })
}
