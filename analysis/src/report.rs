//! Reports of an [`Analysis`]: JSON (the contract of PRODUCT.md §3) and Markdown (readable in a
//! terminal and in a pull request).
//!
//! JSON, exactly:
//! `{session, home_env, events, intact, boundary_crossings:[{seq,ts,from,to,evidence:[..],
//! action,outcome,outcome_detail}], destructive:[{seq,rule,severity,target_env,action,outcome,
//! outcome_detail}], actions:[{id,seq,what,seen:[{layer,seq}],outcome,outcome_detail,crossing,
//! destructive}], secrets:[{fingerprint,kind,location,first_seen_seq,read_seq,read_location,
//! used_in_seqs:[..]}], gaps:[{seq,layer,reason,detail}],
//! critical_window:{from_seq,to_seq,seconds}|null}`.
//!
//! `outcome` is `done`, `failed`, `denied_by_guard`, `blocked_by_agent`, `never_started` or
//! `unknown`: anything but `done` (and `unknown`) is an attempt that did not reach its target.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::analyze::Analysis;

/// The report JSON.
pub fn json(a: &Analysis, intact: bool) -> Value {
    json!({
        "session": a.session,
        "home_env": a.home_env,
        "events": a.events,
        "intact": intact,
        "boundary_crossings": a.boundary_crossings.iter().map(|c| json!({
            "seq": c.seq, "ts": c.ts, "from": c.from, "to": c.to, "evidence": c.evidence,
            "action": c.action, "outcome": c.outcome, "outcome_detail": c.outcome_detail,
        })).collect::<Vec<_>>(),
        "destructive": a.destructive.iter().map(|d| json!({
            "seq": d.seq, "rule": d.rule, "severity": d.severity, "target_env": d.target_env,
            "action": d.action, "outcome": d.outcome, "outcome_detail": d.outcome_detail,
        })).collect::<Vec<_>>(),
        "actions": a.actions,
        "secrets": a.secrets.iter().map(|s| json!({
            "fingerprint": s.fingerprint, "kind": s.kind, "location": s.location,
            "first_seen_seq": s.first_seen_seq, "read_seq": s.read_seq,
            "read_location": s.read_location, "used_in_seqs": s.used_in_seqs,
        })).collect::<Vec<_>>(),
        "gaps": a.gaps.iter().map(|g| json!({
            "seq": g.seq, "layer": g.layer, "reason": g.reason, "detail": g.detail,
        })).collect::<Vec<_>>(),
        "critical_window": a.critical_window.as_ref().map(|w| json!({
            "from_seq": w.from_seq, "to_seq": w.to_seq, "seconds": round3(w.seconds),
        })),
    })
}

/// `blocked by the agent (the agent's sandbox kept it off the network (exit 7: ..))`.
pub fn outcome_text(o: crate::actions::Outcome, detail: &Option<String>) -> String {
    match detail {
        Some(d) if !d.is_empty() => format!("{} ({d})", o.phrase()),
        _ => o.phrase().to_string(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Agent-controlled text made safe for a terminal and for Markdown: control, bidi and escape
/// characters become `\u{..}`, and Markdown's table and code delimiters are escaped.
/// The header and alignment rows of the report's tables.
const WINDOW_COLUMNS: (&str, &str) = ("| time | seq | step | what |", "|---:|---:|---|---|");
const DESTRUCTIVE_COLUMNS: (&str, &str) = (
    "| seq | severity | rule | target | what |",
    "|---:|---|---|---|---|",
);
const SECRET_COLUMNS: (&str, &str) = (
    "| fingerprint | kind | first seen | where | read by the agent | used in seq |",
    "|---|---|---:|---|---|---|",
);

/// A section's heading and the blank line after it.
fn heading(m: &mut String, title: &str) {
    let _ = writeln!(m, "## {title}");
    let _ = writeln!(m);
}

/// A section of one table: its heading, then `none` when there are no rows, else the table.
fn table_section(
    m: &mut String,
    (title, none): (&str, &str),
    columns: (&str, &str),
    rows: impl ExactSizeIterator<Item = Vec<String>>,
) {
    heading(m, title);
    if rows.len() == 0 {
        let _ = writeln!(m, "{none}");
    } else {
        table(m, columns, rows);
    }
}

/// A Markdown table: its header and alignment rows, then one row per item.
fn table(m: &mut String, (head, align): (&str, &str), rows: impl Iterator<Item = Vec<String>>) {
    let _ = writeln!(m, "{head}");
    let _ = writeln!(m, "{align}");
    for cells in rows {
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
}

fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || flightlog_formats::text::is_invisible(c) {
            match c {
                '\n' | '\t' => out.push(' '),
                _ => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
            }
        } else if c == '|' {
            out.push_str("\\|");
        } else if c == '`' {
            out.push('\'');
        } else {
            out.push(c);
        }
    }
    out
}

fn code(s: &str) -> String {
    format!("`{}`", clean(s))
}

/// The Markdown report.
pub fn markdown(a: &Analysis, intact: bool) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# flightlog report: session {}", code(&a.session));
    let _ = writeln!(m);
    let crossing_destructive: Vec<&crate::analyze::Destructive> = a
        .destructive
        .iter()
        .filter(|d| a.facts_of(d.seq).is_some_and(|f| f.crossing))
        .collect();
    let verdict = match (a.boundary_crossings.first(), a.destructive.first()) {
        (Some(_), _)
            if !crossing_destructive.is_empty() && crossing_destructive.iter().all(|d| d.blocked) =>
        {
            "**The guard stopped a destructive action that would have crossed the environment boundary.**"
                .to_string()
        }
        (Some(_), _)
            if !crossing_destructive.is_empty()
                && crossing_destructive.iter().all(|d| d.outcome.is_attempt()) =>
        {
            let how: Vec<String> = crossing_destructive
                .iter()
                .map(|d| d.outcome.phrase().to_string())
                .collect();
            format!(
                "**A destructive action tried to cross the environment boundary; it did not happen ({}).**",
                how.join("; ")
            )
        }
        (Some(c), _)
            if a.destructive.iter().any(|d| {
                d.seq == c.seq || a.facts_of(d.seq).is_some_and(|f| f.crossing)
            }) =>
        {
            "**A destructive action crossed the environment boundary.**".to_string()
        }
        (Some(_), _) => "**The session crossed the environment boundary.**".to_string(),
        (None, Some(_)) => "The session stayed home; it ran destructive actions there.".to_string(),
        (None, None) => "The session stayed home and ran no destructive action.".to_string(),
    };
    let _ = writeln!(m, "{verdict}");
    let _ = writeln!(m);
    let _ = writeln!(m, "| | |");
    let _ = writeln!(m, "|---|---|");
    let _ = writeln!(
        m,
        "| home environment | {} |",
        a.home_env
            .as_deref()
            .map(clean)
            .unwrap_or_else(|| "(none set)".into())
    );
    let _ = writeln!(m, "| events | {} |", a.events);
    let _ = writeln!(m, "| boundary crossings | {} |", a.boundary_crossings.len());
    let _ = writeln!(m, "| destructive actions | {} |", a.destructive.len());
    let _ = writeln!(m, "| secrets seen | {} |", a.secrets.len());
    let _ = writeln!(m, "| gaps in capture | {} |", a.gaps.len());
    let _ = writeln!(
        m,
        "| chain verification | {} |",
        if intact {
            "intact"
        } else {
            "**BROKEN: the log was altered or truncated**"
        }
    );
    if let Some(w) = &a.critical_window {
        let _ = writeln!(
            m,
            "| critical window | {:.1} s (seq {} → {}) |",
            w.seconds, w.from_seq, w.to_seq
        );
    }
    let _ = writeln!(m);

    if let Some(w) = &a.critical_window {
        heading(
            &mut m,
            &format!("Critical window: {:.1} seconds", w.seconds),
        );
        let rows = w.steps.iter().map(|s| {
            vec![
                format!("+{:.3}s", s.offset_seconds),
                s.seq.to_string(),
                s.role.replace('_', " "),
                clean(&s.text),
            ]
        });
        table(&mut m, WINDOW_COLUMNS, rows);
        let _ = writeln!(m);
    }

    heading(&mut m, "Boundary crossings");
    if a.boundary_crossings.is_empty() {
        let _ = writeln!(m, "None: every action stayed in the home environment.");
    }
    for (i, c) in a.boundary_crossings.iter().enumerate() {
        let to = if c.to == "*" {
            "every environment (*)".to_string()
        } else {
            clean(&c.to)
        };
        let _ = writeln!(
            m,
            "{}. **seq {}** at {}: {}from {} to {}{}",
            i + 1,
            c.seq,
            clean(&c.ts),
            if c.outcome.is_attempt() {
                "crossing attempted, "
            } else {
                ""
            },
            clean(&c.from),
            to,
            if i == 0 { " (first crossing)" } else { "" }
        );
        let _ = writeln!(
            m,
            "   - outcome: {}",
            outcome_text(c.outcome, &c.outcome_detail)
        );
        for e in &c.evidence {
            let _ = writeln!(m, "   - {}", clean(e));
        }
    }
    let _ = writeln!(m);

    let rows = a.destructive.iter().map(|d| {
        vec![
            d.seq.to_string(),
            d.severity.to_string(),
            code(&d.rule),
            d.target_env
                .as_deref()
                .map(|t| {
                    if t == "*" {
                        "every environment".into()
                    } else {
                        clean(t)
                    }
                })
                .unwrap_or_else(|| "-".into()),
            if d.blocked {
                format!(
                    "**denied by the guard, not run**: {}",
                    clean(&crate::analyze::truncate(&d.summary, 140))
                )
            } else if d.outcome.is_attempt() {
                format!(
                    "**attempted, {}**: {}",
                    clean(&outcome_text(d.outcome, &d.outcome_detail)),
                    clean(&crate::analyze::truncate(&d.summary, 140))
                )
            } else {
                clean(&crate::analyze::truncate(&d.summary, 160))
            },
        ]
    });
    table_section(
        &mut m,
        ("Destructive actions", "None matched the catalogue."),
        DESTRUCTIVE_COLUMNS,
        rows,
    );
    let _ = writeln!(m);

    let rows = a.secrets.iter().map(|s| {
        let used = if s.used_in_seqs.is_empty() {
            "never used".to_string()
        } else {
            s.used_in_seqs
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let read = match (s.read_seq, &s.read_location) {
            (Some(r), Some(l)) => format!("seq {r}, {}", clean(l)),
            (Some(r), None) => format!("seq {r}"),
            _ => "-".into(),
        };
        vec![
            code(&s.fingerprint),
            clean(&s.kind),
            format!("seq {}", s.first_seen_seq),
            s.location
                .as_deref()
                .map(clean)
                .unwrap_or_else(|| "-".into()),
            read,
            used,
        ]
    });
    table_section(
        &mut m,
        ("Secret provenance", "No secret was seen."),
        SECRET_COLUMNS,
        rows,
    );
    let _ = writeln!(m);

    heading(&mut m, "Gaps in capture");
    if a.gaps.is_empty() {
        let _ = writeln!(m, "None recorded.");
    }
    for g in &a.gaps {
        let _ = writeln!(
            m,
            "- seq {}: {} layer, {}{}",
            g.seq,
            clean(&g.layer),
            clean(&g.reason),
            if g.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", clean(&g.detail))
            }
        );
    }
    let _ = writeln!(m);
    heading(&mut m, "Verification");
    let _ = writeln!(
        m,
        "{}",
        if intact {
            "Every event, link and checkpoint verified (`flightlog verify`)."
        } else {
            "**The hash chain or a checkpoint did not verify.** Run `flightlog verify` for the problems; facts after the break may have been altered."
        }
    );
    m
}
