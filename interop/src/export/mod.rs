//! Exports of one session: OCSF, OTLP/JSON, asciicast v3, CSV, CEF.
//!
//! Every export reads [`Record`]s (the parsed event with its chain links) and the session's
//! [`Finding`]s, and writes to any `Write`. The chain hash and previous hash travel with every
//! exported event, so a SIEM row can be traced back to the signed log.

pub mod asciicast;
pub mod cef;
pub mod csv;
pub mod exchange;
pub mod ocsf;
pub mod otlp;

use std::io::Write;

use flightlog_formats::progress::{NoProgress, Progress, Ticker};
use flightlog_formats::{Event, Store};
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

/// The exports of a session besides the verifiable jsonl export (which
/// `flightlog_formats::jsonl` writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OCSF events, one JSON object per line.
    Ocsf,
    /// One OTLP/JSON traces document, on one line.
    Otlp,
    /// An asciicast v3 of the terminal output.
    Asciicast,
    /// A CSV header and one row per event.
    Csv,
    /// ArcSight CEF, one line per event and per finding.
    Cef,
}

/// Writes a session's `records` and `findings` as `format`, reporting the events exported
/// out of `records.len()`. Returns what was written: OCSF events, OTLP spans, cast event lines
/// (without the header), CSV rows, CEF lines.
pub fn write(
    format: Format,
    records: &[Record],
    findings: &[Finding],
    out: &mut dyn Write,
    progress: &mut dyn Progress,
) -> Result<u64> {
    let mut ticker = Ticker::new(progress, 0, records.len() as u64);
    let n = match format {
        Format::Ocsf => {
            let events = ocsf::events(records, findings, &mut ticker);
            for v in &events {
                json_line(v, out)?;
            }
            events.len() as u64
        }
        Format::Otlp => {
            let trace = otlp::traces_ticking(records, findings, &mut ticker);
            json_line(&trace, out)?;
            otlp::span_count(&trace)
        }
        Format::Asciicast => {
            let lines = asciicast::lines(records, findings, &mut ticker);
            for l in &lines {
                write_line(out, l, b"\n")?;
            }
            lines.len().saturating_sub(1) as u64
        }
        Format::Csv => csv::write_rows(records, findings, out, &mut ticker)?,
        Format::Cef => cef::write_lines(records, findings, out, &mut ticker)?,
    };
    out.flush().map_err(output_error)?;
    ticker.finish();
    Ok(n)
}

/// Calls `each` with every record of an export that joins exchanges (responses and exits joined
/// to their requests and processes) and the findings about it, ticking once per record. `each`
/// returns how many lines it wrote; the sum is returned.
fn for_each_joined(
    records: &[Record],
    findings: &[Finding],
    ticker: &mut Ticker<'_>,
    mut each: impl FnMut(&Record, &[&Finding]) -> Result<u64>,
) -> Result<u64> {
    let (records, findings) = exchange::join_records(records, findings);
    let by_seq = FindingsBySeq::new(&findings);
    let mut n = 0;
    for r in &records {
        n += each(r, by_seq.at(r.event.seq))?;
        ticker.add(1);
    }
    Ok(n)
}

/// Writes `text` and the line ending `end`.
fn write_line(out: &mut dyn Write, text: &str, end: &[u8]) -> Result<()> {
    out.write_all(text.as_bytes())
        .and_then(|_| out.write_all(end))
        .map_err(output_error)
}

fn json_line(v: &Value, out: &mut dyn Write) -> Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n").map_err(output_error)
}

/// A failure to write an export's output.
pub(crate) fn output_error(e: std::io::Error) -> crate::Error {
    crate::Error::io("<output>", e)
}

/// The records of a loaded session (its readable events with their links).
pub fn records(view: &flightlog_analysis::session::SessionView) -> Vec<Record> {
    view.events
        .iter()
        .zip(&view.links)
        .map(|(e, l)| Record {
            event: e.clone(),
            prev: hex::encode(l.prev),
            hash: hex::encode(l.hash),
        })
        .collect()
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

/// A one-line summary of an event (for CSV, CEF and the HTML report): the one description
/// every output uses, sanitised.
pub fn summary(e: &Event) -> String {
    flightlog_analysis::describe::one_line(e)
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
    use super::FindingsBySeq;
    use super::test_data::finding;
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
}
