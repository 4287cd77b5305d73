//! Verifying a jsonl export, one session or many.

use std::borrow::Cow;
use std::io::BufRead;

use crate::canonical::fast_header;
use crate::chain::{Hash32, split_export_line};
use crate::error::Result;
use crate::event::Event;
use crate::progress::{NoProgress, Progress, Ticker};

use super::{ChainCheck, Trust, VerifyReport, store_problem};

/// One jsonl line: claimed prev, claimed hash, event bytes.
type Line = (Hash32, Hash32, Vec<u8>);

/// Verifies a jsonl export (one or more sessions). Each session must end with a checkpoint
/// event that covers all its events.
pub fn verify_jsonl(reader: impl BufRead, trust: &Trust) -> Result<VerifyReport> {
    verify_jsonl_with_progress(reader, trust, &mut NoProgress)
}

/// [`verify_jsonl`], reporting the events checked out of the events read. The file is read in
/// full before the first report (a caller that wants to show the reading can count the bytes
/// its reader hands out).
pub fn verify_jsonl_with_progress(
    reader: impl BufRead,
    trust: &Trust,
    progress: &mut dyn Progress,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    if !trust.pinned {
        report.warnings.push(store_problem(
            "key_not_pinned",
            "no trusted public key given (--pubkey): signatures were checked against the key the file carries",
        ));
    }
    // Lines grouped per session in file order, kept as bytes.
    let mut grouped: crate::chain::Grouped<Line> = crate::chain::Grouped::default();
    let mut reader = reader;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| crate::error::Error::io("<jsonl>", e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let Some((prev, hash, ev)) = split_export_line(line) else {
            report.problems.push(store_problem(
                "bad_line",
                format!("line {line_no} is not {{\"prev\":…,\"hash\":…,\"event\":…}}"),
            ));
            continue;
        };
        // An event that names no session goes with the session that appeared last.
        let sid = line_session(ev)
            .unwrap_or_else(|| Cow::Owned(grouped.last_session().unwrap_or_default().to_string()));
        grouped.push(&sid, (prev, hash, ev.to_vec()));
    }
    if grouped.is_empty() && report.problems.is_empty() {
        report
            .problems
            .push(store_problem("empty", "no events in the file"));
    }
    let sessions = grouped.into_groups();
    let total = sessions.iter().map(|s| s.1.len() as u64).sum();
    let mut ticker = Ticker::new(progress, 0, total);
    for (sid, lines) in sessions {
        let mut chk = ChainCheck::new(&sid, Vec::new(), trust, &mut report);
        for (prev, hash, raw) in &lines {
            chk.event(None, *prev, *hash, raw);
            ticker.add(1);
        }
        chk.finish(true);
    }
    ticker.finish();
    Ok(report.finish())
}

/// The session a jsonl event names: read from its canonical header when it has one, else from
/// the event parsed in full. None when neither names one.
fn line_session(ev: &[u8]) -> Option<Cow<'_, str>> {
    match fast_header(ev).map(|h| std::str::from_utf8(h.session)) {
        Some(Ok(s)) => Some(Cow::Borrowed(s)),
        _ => Event::from_bytes(ev).ok().map(|e| Cow::Owned(e.session)),
    }
}
