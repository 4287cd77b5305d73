//! What the importers share: reading a named file, reading a transcript line as a JSON object,
//! joining each tool result to its call, and the fingerprint of a one-file input.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use flightlog_formats::NewEvent;

use super::{Stats, sha256_hex, unparseable};
use crate::{Error, Result};

/// A file's name (its last component) and its bytes.
pub(super) fn read_named(path: &Path) -> Result<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((name, bytes))
}

/// The records of a JSONL transcript: each non-blank line with its number (from 1) and the
/// JSON object it must be, or, for a line that is not one, the `raw_input` event that keeps it.
pub(super) fn json_records<'a>(
    text: &'a str,
    format: &'a str,
    file: &'a str,
) -> impl Iterator<Item = (usize, &'a str, std::result::Result<Value, NewEvent>)> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(move |(i, line)| {
            let rec = match serde_json::from_str::<Value>(line) {
                Ok(v @ Value::Object(_)) => Ok(v),
                Ok(_) => Err("not a JSON object".to_string()),
                Err(e) => Err(e.to_string()),
            };
            let rec = rec.map_err(|why| {
                unparseable(DateTime::<Utc>::MIN_UTC, format, file, i + 1, line, &why)
            });
            (i + 1, line, rec)
        })
}

/// Counts a record of [`json_records`] in `stats` and gives its JSON object; a line that is not
/// one is counted as unparseable and handed to `keep` as its `raw_input` event.
pub(super) fn take_record(
    rec: std::result::Result<Value, NewEvent>,
    stats: &mut Stats,
    keep: impl FnOnce(NewEvent),
) -> Option<Value> {
    stats.records += 1;
    match rec {
        Ok(v) => Some(v),
        Err(e) => {
            stats.unparseable_lines += 1;
            keep(e);
            None
        }
    }
}

/// A string field of a foreign record, or `""` when it is absent or not a string.
pub(super) fn text_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The fields every imported `tool_result` has: the agent, the call it answers, its output, and
/// whether it failed (then the output is its `error` too).
pub(super) fn tool_result_fields(
    agent: &str,
    call_id: &str,
    output: &str,
    is_error: bool,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("agent".into(), json!(agent));
    m.insert("call_id".into(), json!(call_id));
    m.insert(
        "error".into(),
        if is_error { json!(output) } else { Value::Null },
    );
    m.insert("output".into(), json!(output));
    m.insert("is_error".into(), json!(is_error));
    m
}

/// The fields of a JSON object (none for anything else).
pub(super) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The tool calls of a session being imported, by call id: the seq, time and tool of each.
#[derive(Debug, Default)]
pub(super) struct Calls(HashMap<String, (u64, DateTime<Utc>, Value)>);

impl Calls {
    /// Remembers the call `id` at `seq` (the first call with an id wins).
    pub(super) fn call(
        &mut self,
        id: String,
        seq: u64,
        ts: DateTime<Utc>,
        data: &Map<String, Value>,
    ) {
        let tool = data.get("tool").cloned().unwrap_or(Value::Null);
        self.0.entry(id).or_insert((seq, ts, tool));
    }

    /// The seq and time of the call `id`, if the session holds it.
    pub(super) fn at(&self, id: &str) -> Option<(u64, DateTime<Utc>)> {
        self.0.get(id).map(|c| (c.0, c.1))
    }

    /// Joins the result of call `id`, at `ts`, to its call: `call_seq`, `tool` and
    /// `duration_ms`; or nulls (and the result counted as unmatched) when the session does not
    /// hold the call (a tool the result names itself is kept).
    pub(super) fn join_result(
        &self,
        id: &str,
        ts: DateTime<Utc>,
        data: &mut Map<String, Value>,
        stats: &mut Stats,
    ) {
        match self.0.get(id) {
            Some((cseq, cts, tool)) => {
                data.insert("call_seq".into(), json!(cseq));
                data.insert("tool".into(), tool.clone());
                data.insert(
                    "duration_ms".into(),
                    json!((ts - *cts).num_milliseconds().max(0)),
                );
            }
            None => {
                stats.unmatched_results += 1;
                data.insert("call_seq".into(), Value::Null);
                data.entry("tool").or_insert(Value::Null);
                data.insert("duration_ms".into(), Value::Null);
            }
        }
    }
}

/// The fingerprint of an input that is one file: its name and its content's SHA-256 (so the
/// same file imported twice is the same session).
pub(super) fn file_fingerprint(name: &str, bytes: &[u8]) -> String {
    let mut fp = name.as_bytes().to_vec();
    fp.push(0);
    fp.extend_from_slice(sha256_hex(bytes).as_bytes());
    sha256_hex(&fp)
}
