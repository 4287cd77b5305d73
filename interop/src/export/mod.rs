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

/// A session's findings by the seq of the event they are about, built once per export so the
/// findings of each exported event are found by a binary search instead of a scan.
#[derive(Debug, Clone, Default)]
pub struct FindingsBySeq<'a> {
    /// Stably sorted by seq: the findings about one event keep their order in the input.
    sorted: Vec<&'a Finding>,
}

impl<'a> FindingsBySeq<'a> {
    pub fn new(findings: &'a [Finding]) -> Self {
        let mut sorted: Vec<&'a Finding> = findings.iter().collect();
        sorted.sort_by_key(|f| f.seq);
        FindingsBySeq { sorted }
    }

    /// The findings about the event at `seq`, in the order they were given.
    pub fn at(&self, seq: u64) -> &[&'a Finding] {
        let from = self.sorted.partition_point(|f| f.seq < seq);
        let rest = &self.sorted[from..];
        &rest[..rest.partition_point(|f| f.seq == seq)]
    }
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

/// Records and findings for the exports' tests.
#[cfg(test)]
pub(crate) mod test_data {
    use flightlog_formats::{Event, Kind};
    use serde_json::Value;

    use super::Record;
    use crate::findings::{Finding, FindingKind};

    /// A record of session `s` at `seq` (one second apart), with made-up links.
    pub fn record(seq: u64, kind: Kind, data: Value) -> Record {
        Record {
            event: Event {
                v: 1,
                session: "s".into(),
                seq,
                ts: format!(
                    "2026-04-25T{:02}:{:02}:{:02}.000000Z",
                    seq / 3600 % 24,
                    seq / 60 % 60,
                    seq % 60
                ),
                kind,
                source: "test".into(),
                env: None,
                redactions: Vec::new(),
                data,
            },
            prev: format!("{seq:064x}"),
            hash: format!("{:064x}", seq + 1),
        }
    }

    /// The `n`-th finding, about `seq` (crossings and destructive actions alternate).
    pub fn finding(seq: u64, n: usize) -> Finding {
        Finding {
            seq,
            ts: String::new(),
            kind: if n.is_multiple_of(2) {
                FindingKind::Crossing
            } else {
                FindingKind::Destructive
            },
            title: format!("finding {n}"),
            severity: "high".into(),
            rule: format!("rule-{n}"),
            from_env: None,
            to_env: None,
            evidence: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_data::finding;
    use super::{FindingsBySeq, one_line};
    use crate::findings::Finding;

    #[test]
    fn findings_by_seq_finds_what_a_scan_finds() {
        // Many findings, out of seq order, up to several about one event, most events with none.
        let findings: Vec<Finding> = (0..3000u64)
            .map(|n| finding((n * 7919) % 1000 * 3, n as usize))
            .collect();
        let by_seq = FindingsBySeq::new(&findings);
        for seq in 0..3100 {
            let scan: Vec<&Finding> = findings.iter().filter(|f| f.seq == seq).collect();
            assert_eq!(by_seq.at(seq), scan.as_slice(), "seq {seq}");
        }
        assert_eq!(by_seq.at(0).len(), 3);
        assert!(by_seq.at(1).is_empty());
        assert!(by_seq.at(u64::MAX).is_empty());
        assert!(FindingsBySeq::new(&[]).at(0).is_empty());
    }

    #[test]
    fn one_line_collapses_and_cuts() {
        assert_eq!(one_line("  a \n\t b\u{1b}c  ", 100), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
