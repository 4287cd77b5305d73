//! CSV export: one row per event, safe to open in a spreadsheet.
//!
//! Columns: `seq, ts, kind, source, env, summary, finding, severity, hash, prev, data`
//! (`data` is the event's JSON). Cells are quoted per RFC 4180 when needed, and any cell that
//! starts with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with `'` so a spreadsheet
//! never evaluates agent text as a formula (CSV injection).

use std::io::Write;

use flightlog_formats::progress::Ticker;

use super::{Record, summary};
use crate::Result;
use crate::findings::Finding;
use crate::findings::FindingKind;

pub const HEADER: [&str; 11] = [
    "seq", "ts", "kind", "source", "env", "summary", "finding", "severity", "hash", "prev", "data",
];

/// Neutralizes a cell against formula injection and quotes it if needed.
pub fn cell(s: &str) -> String {
    let neutral = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// Writes the CSV (header and one row per event), ticking per event. Returns the number of rows.
pub(super) fn write_rows(
    records: &[Record],
    findings: &[Finding],
    out: &mut dyn Write,
    ticker: &mut Ticker<'_>,
) -> Result<u64> {
    super::write_line(out, &HEADER.join(","), b"\r\n")?;
    // One row per HTTP exchange and per process (responses and exits joined).
    super::for_each_joined(records, findings, ticker, |r, fs| {
        let e = &r.event;
        let finding = fs
            .iter()
            .map(|f| match f.kind {
                FindingKind::Crossing => format!("crossing: {}", f.title),
                FindingKind::Destructive => format!("destructive: {}", f.rule),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let severity = fs
            .iter()
            .map(|f| f.severity.as_str())
            .max_by_key(|s| match *s {
                "critical" => 4,
                "high" => 3,
                "medium" => 2,
                _ => 1,
            })
            .unwrap_or("");
        let row = [
            e.seq.to_string(),
            e.ts.clone(),
            e.kind.as_str().to_string(),
            e.source.clone(),
            e.env.clone().unwrap_or_default(),
            summary(e),
            finding,
            severity.to_string(),
            r.hash.clone(),
            r.prev.clone(),
            e.data.to_string(),
        ];
        let line: Vec<String> = row.iter().map(|c| cell(c)).collect();
        super::write_line(out, &line.join(","), b"\r\n")?;
        Ok(1)
    })
}

#[cfg(test)]
mod tests {
    use flightlog_formats::Kind;
    use serde_json::json;

    use flightlog_formats::progress::NoProgress;

    use super::cell;
    use crate::export::test_data::{finding, record};
    use crate::export::{Format, write};
    use crate::findings::{Finding, FindingKind};

    #[test]
    fn findings_land_on_the_rows_of_their_events() {
        let records: Vec<_> = (0..1000)
            .map(|seq| record(seq, Kind::Message, json!({"text": format!("m{seq}")})))
            .collect();
        // Given out of seq order; two about every tenth event, none about most.
        let mut findings: Vec<Finding> = Vec::new();
        for seq in (0..1000).rev().filter(|s| s % 5 == 0) {
            for _ in 0..(if seq % 10 == 0 { 2 } else { 1 }) {
                findings.push(finding(seq, findings.len()));
            }
        }
        let mut out = Vec::new();
        assert_eq!(
            write(Format::Csv, &records, &findings, &mut out, &mut NoProgress).expect("csv"),
            1000
        );
        let text = String::from_utf8(out).expect("utf-8");
        let rows: Vec<&str> = text
            .split("\r\n")
            .skip(1)
            .filter(|r| !r.is_empty())
            .collect();
        assert_eq!(rows.len(), 1000);
        for (seq, row) in rows.iter().enumerate() {
            let cells: Vec<&str> = row.split(',').collect();
            assert_eq!(cells[0], seq.to_string());
            let want: Vec<String> = findings
                .iter()
                .filter(|f| f.seq == seq as u64)
                .map(|f| match f.kind {
                    FindingKind::Crossing => format!("crossing: {}", f.title),
                    FindingKind::Destructive => format!("destructive: {}", f.rule),
                })
                .collect();
            assert_eq!(cells[6], want.join("; "), "seq {seq}");
            let severity = if want.is_empty() { "" } else { "high" };
            assert_eq!(cells[7], severity, "seq {seq}");
        }
    }

    #[test]
    fn formula_cells_are_neutralized_and_quoted() {
        assert_eq!(cell("=1+2"), "'=1+2");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("\rx"), "\"'\rx\"");
        assert_eq!(cell("=a,\"b\""), "\"'=a,\"\"b\"\"\"");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a\nb"), "\"a\nb\"");
    }
}
