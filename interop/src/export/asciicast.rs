//! asciicast v3 export of a session's terminal output (reference/formats.md 5).
//!
//! The header carries the terminal size (the first resize, else the recorded `term`, else
//! 80x24) and the session's start time. `terminal` events become `o`/`i`/`r` events; crossings
//! and destructive actions become markers (`m`) at their moment, labelled with the seq and the
//! chain hash so the replay links back to the signed log; the session's exit status becomes
//! `x`. Intervals are rounded to milliseconds with error diffusion (no drift).

use flightlog_formats::Payload;
use flightlog_formats::progress::Ticker;
use serde_json::json;

use super::{FindingsBySeq, Record, finding_label};
use crate::findings::Finding;

/// Builds the lines of the cast (header first), ticking per record.
pub(super) fn lines(
    records: &[Record],
    findings: &[Finding],
    ticker: &mut Ticker<'_>,
) -> Vec<String> {
    let start = records.first().and_then(|r| r.event.time());
    let start_data = records
        .iter()
        .find_map(|r| r.event.session_start())
        .unwrap_or_default();
    let term = start_data.term.clone().unwrap_or_default();
    // A pty that reported 0x0 (no terminal) has no size: players need one.
    let (mut cols, mut rows) = (term.cols.filter(|n| *n > 0), term.rows.filter(|n| *n > 0));
    if cols.is_none() || rows.is_none() {
        // The first resize before any output gives the initial size.
        for r in records {
            if let Some(t) = r.event.terminal() {
                if t.stream.as_deref() == Some("r")
                    && let Some((c, rr)) = t.data.as_deref().and_then(|x| x.split_once('x'))
                {
                    cols = c.trim().parse().ok().filter(|n: &u64| *n > 0);
                    rows = rr.trim().parse().ok().filter(|n: &u64| *n > 0);
                }
                break;
            }
        }
    }
    let mut header = json!({
        "version": 3,
        "term": {"cols": cols.unwrap_or(80), "rows": rows.unwrap_or(24)},
        "title": format!("flightlog session {}", records.first().map(|r| r.event.session.as_str()).unwrap_or("")),
    });
    if let Some(t) = start {
        header["timestamp"] = json!(t.timestamp());
    }
    if let Some(t) = &term.term_type {
        header["term"]["type"] = json!(t);
    }
    if let Some(theme) = term.theme.filter(|t| t.is_object()) {
        header["term"]["theme"] = theme;
    }
    if let Some(c) = &start_data.command {
        header["command"] = json!(c);
    } else if let Some(argv) = start_data.argv.as_ref().filter(|a| !a.is_empty()) {
        header["command"] = json!(argv.join(" "));
    }
    if let Some(limit) = start_data.idle_time_limit.filter(|v| v.is_number()) {
        header["idle_time_limit"] = limit;
    }
    if let Some(env) = start_data.env.filter(|v| v.is_object()) {
        header["env"] = env;
    }
    let mut out = vec![header.to_string()];
    // Absolute times in ms; written as differences of rounded absolutes (error diffusion).
    let mut last_ms: i64 = 0;
    let mut push = |out: &mut Vec<String>, abs_ms: i64, code: &str, data: &str| {
        let abs_ms = abs_ms.max(last_ms);
        let dt = abs_ms - last_ms;
        last_ms = abs_ms;
        out.push(format!(
            "[{}.{:03}, {}, {}]",
            dt / 1000,
            dt % 1000,
            json!(code),
            json!(data)
        ));
    };
    let rel_ms = |r: &Record| -> i64 {
        match (r.event.time(), start) {
            (Some(t), Some(s0)) => (t - s0).num_milliseconds().max(0),
            _ => 0,
        }
    };
    let by_seq = FindingsBySeq::new(findings);
    let mut exit: Option<String> = None;
    for r in records {
        ticker.add(1);
        let e = &r.event;
        let payload = e.payload();
        // Terminal output, and an imported cast's marker, carry their own time.
        let t_ms = match &payload {
            Payload::Terminal(t) => t.t_ms,
            Payload::Note(n) if n.marker.is_some() => n.t_ms,
            _ => None,
        };
        let at = t_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .unwrap_or_else(|| rel_ms(r));
        match &payload {
            Payload::Terminal(t) => {
                let code = match t.stream.as_deref() {
                    Some("i") => "i",
                    Some("r") => "r",
                    _ => "o",
                };
                push(&mut out, at, code, t.data.as_deref().unwrap_or(""));
            }
            // A marker of an imported cast goes back out as a marker.
            Payload::Note(n) => {
                if let Some(label) = &n.marker {
                    push(&mut out, at, "m", label);
                }
            }
            _ => {}
        }
        for f in by_seq.at(e.seq) {
            let label = format!(
                "{} [hash {}]",
                finding_label(f),
                &r.hash[..r.hash.len().min(16)]
            );
            push(&mut out, at, "m", &label);
        }
        if let Payload::SessionEnd(end) = &payload
            && let Some(c) = end.exit
        {
            exit = Some(c.to_string());
            push(&mut out, at, "x", &c.to_string());
        }
    }
    let _ = exit;
    out
}

#[cfg(test)]
mod tests {
    use flightlog_formats::Kind;
    use flightlog_formats::progress::{NoProgress, Ticker};
    use serde_json::{Value, json};

    use super::lines;
    use crate::export::test_data::record;

    #[test]
    fn a_pty_of_zero_size_gets_a_size_players_accept() {
        for (term, resize, want) in [
            (json!({"cols": 0, "rows": 0}), None, (80, 24)),
            (json!({"cols": 0, "rows": 0}), Some("120x40"), (120, 40)),
            (json!({"cols": 0, "rows": 0}), Some("0x0"), (80, 24)),
            (json!({"cols": 132, "rows": 43}), None, (132, 43)),
        ] {
            let mut records = vec![record(0, Kind::SessionStart, json!({"term": term}))];
            if let Some(r) = resize {
                records.push(record(1, Kind::Terminal, json!({"stream": "r", "data": r})));
            }
            records.push(record(
                2,
                Kind::Terminal,
                json!({"stream": "o", "data": "x"}),
            ));
            let h: Value = serde_json::from_str(
                &lines(&records, &[], &mut Ticker::new(&mut NoProgress, 0, 0))[0],
            )
            .unwrap();
            assert_eq!(
                (h["term"]["cols"].as_u64(), h["term"]["rows"].as_u64()),
                (Some(want.0), Some(want.1)),
                "{term} {resize:?}"
            );
        }
    }
}
