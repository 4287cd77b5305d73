//! Exports of one session: OCSF, OTLP/JSON, asciicast v3, CSV, CEF.
//!
//! Every export reads [`Record`]s (the parsed event with its chain links) and the session's
//! [`Finding`]s, and writes to any `Write`. The chain hash and previous hash travel with every
//! exported event, so a SIEM row can be traced back to the signed log.

pub mod asciicast;
pub mod cef;
pub mod csv;
pub mod ocsf;
pub mod otlp;

use flightlog_formats::progress::{NoProgress, Progress, Ticker};
use flightlog_formats::{Event, Kind, Store};
use serde_json::Value;

use crate::Result;
use crate::findings::{Finding, FindingKind};

/// One stored event with its chain links (hex).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub event: Event,
    pub prev: String,
    pub hash: String,
}

/// Loads a session's events with their links. Events whose bytes do not parse are skipped
/// (verification reports them).
pub fn load(store: &Store, session: &str) -> Result<Vec<Record>> {
    load_with_progress(store, session, &mut NoProgress)
}

/// [`load`], reporting the events read out of the session's events.
pub fn load_with_progress(
    store: &Store,
    session: &str,
    progress: &mut dyn Progress,
) -> Result<Vec<Record>> {
    let (count, _) = store.head(session)?;
    let mut ticker = Ticker::new(progress, 0, count);
    let mut out = Vec::new();
    store.for_each_event(session, |ev| {
        ticker.add(1);
        if let Ok(event) = Event::from_bytes(&ev.raw) {
            out.push(Record {
                event,
                prev: hex::encode(ev.prev),
                hash: hex::encode(ev.hash),
            });
        }
        true
    })?;
    ticker.finish();
    Ok(out)
}

/// The events alone (for the analysis).
pub fn events(records: &[Record]) -> Vec<Event> {
    records.iter().map(|r| r.event.clone()).collect()
}

/// Milliseconds since the epoch of an event (0 if its time does not parse).
pub fn epoch_ms(e: &Event) -> i64 {
    e.time().map(|t| t.timestamp_millis()).unwrap_or(0)
}

/// Nanoseconds since the epoch, as OTLP/JSON writes them (a decimal string).
pub fn epoch_nanos(e: &Event) -> String {
    e.time()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
        .to_string()
}

/// The findings about one event.
pub fn findings_at(findings: &[Finding], seq: u64) -> impl Iterator<Item = &Finding> {
    findings.iter().filter(move |f| f.seq == seq)
}

pub(crate) fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// A one-line, plain-text summary of an event (for CSV, CEF and the HTML report).
pub fn summary(e: &Event) -> String {
    let d = &e.data;
    let out = match &e.kind {
        Kind::Exec => {
            let argv: Vec<&str> = d
                .get("argv")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let exit = match d.get("exit").and_then(Value::as_i64) {
                Some(c) => format!(" (exit {c})"),
                None => String::new(),
            };
            format!("{}{exit}", argv.join(" "))
        }
        Kind::ToolCall => match s(d, "command") {
            Some(c) => format!("{}: {c}", s(d, "tool").unwrap_or("tool")),
            None => format!(
                "{} {}",
                s(d, "tool").unwrap_or("tool"),
                d.get("input").map(Value::to_string).unwrap_or_default()
            ),
        },
        Kind::ToolResult => {
            let st = if d.get("is_error").and_then(Value::as_bool) == Some(true) {
                "error"
            } else {
                "ok"
            };
            let out = match d.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            format!("{} {st}: {out}", s(d, "tool").unwrap_or("tool"))
        }
        Kind::ApiCall => {
            let mut t = format!(
                "{} {}",
                s(d, "method").unwrap_or("?"),
                s(d, "url").or_else(|| s(d, "host")).unwrap_or("?")
            );
            if let Some(g) = d.get("graphql").filter(|g| !g.is_null()) {
                let fields: Vec<&str> = g
                    .get("root_fields")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                t.push_str(&format!(
                    " [{} {}]",
                    s(g, "operation_type").unwrap_or("graphql"),
                    fields.join(",")
                ));
            }
            if let Some(st) = d.get("status").and_then(Value::as_i64) {
                t.push_str(&format!(" -> {st}"));
            }
            t
        }
        Kind::FileChange => format!(
            "{} {}",
            s(d, "op").unwrap_or("change"),
            s(d, "path").unwrap_or("?")
        ),
        Kind::FileRead => format!("read {}", s(d, "path").unwrap_or("?")),
        Kind::Prompt | Kind::Message => s(d, "text").unwrap_or("").to_string(),
        Kind::Terminal => s(d, "data").unwrap_or("").to_string(),
        Kind::Decision => format!(
            "{} ({}): {}",
            s(d, "decision").unwrap_or("?"),
            s(d, "rule").unwrap_or("-"),
            s(d, "reason").unwrap_or("")
        ),
        Kind::Gap => format!(
            "gap in {}: {} {}",
            s(d, "layer").unwrap_or("?"),
            s(d, "reason").unwrap_or(""),
            s(d, "detail").unwrap_or("")
        ),
        Kind::SessionStart => format!(
            "session start: {} {}",
            s(d, "agent").unwrap_or(""),
            s(d, "label").unwrap_or("")
        ),
        Kind::SessionEnd => format!(
            "session end: {}",
            d.get("exit")
                .filter(|v| !v.is_null())
                .map(Value::to_string)
                .or_else(|| s(d, "reason").map(str::to_string))
                .unwrap_or_default()
        ),
        Kind::Checkpoint => format!(
            "checkpoint over {} events",
            d.get("count").and_then(Value::as_u64).unwrap_or(0)
        ),
        Kind::RawInput => format!("unparsed input: {}", s(d, "error").unwrap_or("")),
        _ => s(d, "text")
            .map(str::to_string)
            .or_else(|| s(d, "record").map(|r| format!("{r} record")))
            .or_else(|| s(d, "marker").map(|m| format!("marker {m}")))
            .unwrap_or_else(|| e.kind.as_str().to_string()),
    };
    one_line(&out, 300)
}

/// Collapses whitespace runs to one space and cuts to `max` chars (with an ellipsis).
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 4));
    let mut n = 0;
    let mut space = false;
    for c in s.chars() {
        let c = if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if space || n == 0 {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if n == max {
            out.push('…');
            return out;
        }
        out.push(c);
        n += 1;
    }
    out.trim_end().to_string()
}

/// Is this finding kind a crossing (for labels)?
pub(crate) fn finding_label(f: &Finding) -> String {
    match f.kind {
        FindingKind::Crossing => format!("CROSSING seq {}: {}", f.seq, f.title),
        FindingKind::Destructive => format!("DESTRUCTIVE seq {}: {}", f.seq, f.title),
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_collapses_and_cuts() {
        assert_eq!(one_line("  a \n\t b\u{1b}c  ", 100), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
