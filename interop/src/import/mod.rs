//! Imports: agent transcripts and recordings turned into flightlog sessions.
//!
//! Each format has a pure parser (bytes in, [`Parsed`] out: the events of a new session, in
//! order, seq 0 being `session_start`) and [`store_parsed`] appends them to the store in one
//! group commit. Importing the same input twice gives the same session back instead of a copy.

pub mod asciicast;
mod calls;
pub mod claude_code;
pub mod codex;
pub mod jsonl;

use chrono::{DateTime, Utc};
use flightlog_formats::progress::{NoProgress, Progress};
use flightlog_formats::store::SessionMeta;
use flightlog_formats::{Kind, NewEvent, Redactor, Store};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::Result;

/// The most of one raw line kept in a `note`/`raw_input` event (the rest is cut, and says so).
pub const RAW_LIMIT: usize = 64 * 1024;

/// What a parser found, besides the events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Non-empty input lines (records) read, over every file.
    pub records: u64,
    pub tool_calls: u64,
    pub tool_results: u64,
    /// Tool results whose call was not found.
    pub unmatched_results: u64,
    /// Records of a type this importer does not know (kept as `note` events with the raw line).
    pub unknown_records: u64,
    /// Lines that are not JSON (kept as `raw_input` events).
    pub unparseable_lines: u64,
    /// Subagent files linked in.
    pub subagents: u64,
}

/// A parsed input: the events of one new session.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// `claude-code`, `codex`, `asciicast`.
    pub format: &'static str,
    pub agent: Option<String>,
    pub label: Option<String>,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    /// SHA-256 over the input files (name and bytes): the identity of this import.
    pub fingerprint: String,
    pub events: Vec<NewEvent>,
    pub stats: Stats,
}

/// Where an import landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredImport {
    pub session: String,
    pub events: u64,
    /// True when the same input had been imported before (nothing was appended).
    pub already: bool,
    pub stats: Stats,
}

/// Appends a parsed import as a new session (one transaction), or finds the session the same
/// input was imported into before.
pub fn store_parsed(store: &Store, redactor: &Redactor, parsed: Parsed) -> Result<StoredImport> {
    store_parsed_with_progress(store, redactor, parsed, &mut NoProgress)
}

/// [`store_parsed`], reporting the events stored out of the parsed events (all of them at
/// once when the input was imported before).
pub fn store_parsed_with_progress(
    store: &Store,
    redactor: &Redactor,
    parsed: Parsed,
    progress: &mut dyn Progress,
) -> Result<StoredImport> {
    let meta = SessionMeta {
        id: None,
        label: parsed.label.clone(),
        agent: parsed
            .agent
            .clone()
            .or_else(|| Some(parsed.format.to_string())),
        home_env: None,
        // Not the agent's own session id: live hooks look sessions up by that, and must never
        // append witnessed events to an imported session.
        external_id: Some(format!("import:{}:{}", parsed.format, parsed.fingerprint)),
    };
    let (session, created) = store.session_for_external(&meta, parsed.started)?;
    if !created {
        let (count, _) = store.head(&session)?;
        if count > 0 {
            let n = parsed.events.len() as u64;
            progress.update(n, n);
            return Ok(StoredImport {
                session,
                events: count,
                already: true,
                stats: parsed.stats,
            });
        }
    }
    let n = parsed.events.len() as u64;
    // Two passes: learn, then write. A secret recognised anywhere in the import (a token a rule
    // knows on line 900) is known before the first event is redacted, so it is redacted in the
    // events before it too, with the same fingerprint.
    redactor.learn_from_all(parsed.events.iter().map(|e| &e.data));
    store.append_batch_with_progress(&session, parsed.events, redactor, progress)?;
    if let Some(end) = parsed.ended {
        store.mark_ended(&session, end)?;
    }
    Ok(StoredImport {
        session,
        events: n,
        already: false,
        stats: parsed.stats,
    })
}

/// SHA-256 (hex) of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Cuts a raw line to [`RAW_LIMIT`] bytes (on a char boundary).
pub fn raw_text(line: &str) -> (String, bool) {
    if line.len() <= RAW_LIMIT {
        return (line.to_string(), false);
    }
    let mut end = RAW_LIMIT;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    (line[..end].to_string(), true)
}

/// A record of a type this version does not know, counted and kept raw (cut to [`RAW_LIMIT`]):
/// the data of its `note` event.
pub(crate) fn unknown_record(stats: &mut Stats, record: &str, line: &str) -> Map<String, Value> {
    stats.unknown_records += 1;
    let (raw, truncated) = raw_text(line);
    let mut m = Map::new();
    m.insert("record".into(), json!(record));
    m.insert("unknown".into(), json!(true));
    m.insert("raw".into(), json!(raw));
    m.insert("truncated".into(), json!(truncated));
    m
}

/// The `session_start` of an imported transcript: what every importer records (the agent, a
/// label, the working directory and the agent's own session id as the input gives them, the
/// files read with their SHA-256 and size, and the counts), then the format's own fields.
pub(crate) struct TranscriptStart<'a> {
    pub format: &'static str,
    pub label: String,
    pub cwd: Value,
    pub external_session_id: Value,
    /// The files read: (name, size in bytes, SHA-256 hex).
    pub files: Vec<(&'a str, usize, String)>,
    pub extra: Map<String, Value>,
}

impl TranscriptStart<'_> {
    pub(crate) fn event(self, started: DateTime<Utc>, stats: &Stats) -> Result<NewEvent> {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|(name, len, sha)| json!({"name": name, "sha256": sha, "bytes": len}))
            .collect();
        let mut d = Map::new();
        d.insert("agent".into(), json!(self.format));
        d.insert("label".into(), json!(self.label));
        d.insert("home_env".into(), Value::Null);
        d.insert("cwd".into(), self.cwd);
        d.insert("argv".into(), Value::Null);
        d.insert("host".into(), Value::Null);
        d.insert("flightlog_version".into(), json!(crate::VERSION));
        d.insert("layers".into(), json!([format!("import:{}", self.format)]));
        d.insert("external_session_id".into(), self.external_session_id);
        d.extend(self.extra);
        d.insert("files".into(), Value::Array(files));
        d.insert("stats".into(), serde_json::to_value(stats)?);
        Ok(imported(
            started,
            Kind::SessionStart,
            self.format,
            Value::Object(d),
        ))
    }
}

/// Builds an imported event: source `import:<format>`, `"imported": true` in data.
pub fn imported(ts: DateTime<Utc>, kind: Kind, format: &str, data: Value) -> NewEvent {
    let mut data = match data {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    };
    data.insert("imported".into(), Value::Bool(true));
    NewEvent::new(ts, kind, format!("import:{format}"), Value::Object(data))
}

/// A `raw_input` event for a line that is not JSON.
pub fn unparseable(
    ts: DateTime<Utc>,
    format: &str,
    file: &str,
    line_no: usize,
    line: &str,
    err: &str,
) -> NewEvent {
    let (raw, truncated) = raw_text(line);
    imported(
        ts,
        Kind::RawInput,
        format,
        json!({"error": err, "raw": raw, "truncated": truncated, "file": file, "line": line_no}),
    )
}

/// Fills in each event's missing time: records without a timestamp take the one before them
/// (or the first one after them, at the start). Returns None if no record has a time.
pub fn fill_times(times: &mut [Option<DateTime<Utc>>]) -> Option<()> {
    let first = times.iter().flatten().next().copied()?;
    let mut last = first;
    for t in times.iter_mut() {
        match t {
            Some(v) => last = *v,
            None => *t = Some(last),
        }
    }
    Some(())
}

/// Parses a record timestamp (RFC 3339).
pub fn ts_of(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(flightlog_formats::event::parse_ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_formats::Kind;

    #[test]
    fn a_secret_recognised_late_in_an_import_is_redacted_in_earlier_events() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("s.db")).unwrap();
        let red = Redactor::new([5u8; 32]);
        let pw = "Tr0ub4dor-Kq93-Xz71";
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-04-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut events = vec![imported(
            t0,
            Kind::SessionStart,
            "claude-code",
            json!({"cwd": "/work"}),
        )];
        // 900 events where no rule fits the value (glued to a file name), then one that says
        // what it is.
        for i in 0..900 {
            events.push(imported(
                t0,
                Kind::ToolCall,
                "claude-code",
                json!({"tool": "Bash", "input": {"command": format!("cp db.dump backup_{pw}_{i}.sql")}}),
            ));
        }
        events.push(imported(
            t0,
            Kind::ToolCall,
            "claude-code",
            json!({"tool": "Bash", "input": {"command": format!("export DB_PASSWORD={pw}")}}),
        ));
        let parsed = Parsed {
            format: "claude-code",
            agent: None,
            label: None,
            started: t0,
            ended: None,
            fingerprint: "late-secret".into(),
            events,
            stats: Stats::default(),
        };
        let s = store_parsed(&store, &red, parsed).unwrap();
        assert_eq!(s.events, 902);
        let evs = store.events(&s.session, 0, 10_000).unwrap();
        let mut fps = std::collections::BTreeSet::new();
        let mut redacted = 0;
        for e in &evs {
            let ev = e.event().unwrap();
            let text = ev.data.to_string();
            assert!(!text.contains("Tr0ub4dor"), "event {}: {text}", ev.seq);
            redacted += usize::from(!ev.redactions.is_empty());
            fps.extend(ev.redactions.iter().map(|r| r.fp.clone()));
        }
        assert_eq!(redacted, 901);
        assert_eq!(fps.len(), 1, "one secret, one fingerprint: {fps:?}");
        assert!(fps.contains(&red.fingerprint(pw)));
    }
}
