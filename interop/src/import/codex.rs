//! Codex rollout files (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`).
//!
//! Lines are `{"timestamp","type","payload"}` (reference/formats.md 4.1):
//! - `session_meta` → `session_start` data (id, cwd, cli version, model provider); the
//!   instructions become a `note`;
//! - `response_item`: `message` → `prompt` (user) or `message`; `reasoning` → `message` with
//!   `thinking: true` (summary text only: encrypted content is never kept, only its hash);
//!   `function_call`/`custom_tool_call`/`local_shell_call` → `tool_call` (shell commands also as
//!   `command`); `*_output` → `tool_result` joined on `call_id`; `web_search_call` (the
//!   model's own web search, network egress) → `tool_call` of tool `web_search`;
//! - `event_msg`, `turn_context`, `compacted` → `note`;
//! - any other type → `note` with `unknown: true` and the raw line; non-JSON → `raw_input`.

use std::path::Path;

use chrono::{DateTime, Utc};
use flightlog_formats::{Kind, NewEvent};
use serde_json::{Map, Value, json};

use super::calls::{
    Calls, file_fingerprint, json_records, object, read_named, take_record, text_of,
    tool_result_fields,
};
use super::{
    Parsed, Stats, TranscriptStart, fill_times, imported, sha256_hex, ts_of, unknown_record,
};
use crate::{Error, Result};

const FORMAT: &str = "codex";

/// Reads and parses a rollout file.
pub fn parse_path(path: &Path) -> Result<Parsed> {
    let (name, bytes) = read_named(path)?;
    parse(&name, &bytes)
}

struct Item {
    ts: Option<DateTime<Utc>>,
    kind: Kind,
    data: Map<String, Value>,
    call: Option<(bool, String)>,
}

/// Parses a rollout file into the events of one session.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Parsed> {
    let text = String::from_utf8_lossy(bytes);
    let mut stats = Stats::default();
    let mut items: Vec<Item> = Vec::new();
    let mut meta: Map<String, Value> = Map::new();
    for (line_no, line, rec) in json_records(&text, FORMAT, name) {
        let Some(rec) = take_record(rec, &mut stats, |e| {
            items.push(Item {
                ts: None,
                kind: e.kind,
                data: object(e.data),
                call: None,
            })
        }) else {
            continue;
        };
        let ts = rec.get("timestamp").and_then(ts_of);
        let ty = rec.get("type").and_then(Value::as_str).unwrap_or("");
        let p = rec.get("payload").cloned().unwrap_or(Value::Null);
        let origin = json!({"file": name, "line": line_no});
        let mut push = |kind: Kind, mut data: Map<String, Value>, call: Option<(bool, String)>| {
            data.insert("origin".into(), origin.clone());
            items.push(Item {
                ts,
                kind,
                data,
                call,
            });
        };
        match ty {
            "session_meta" => {
                if meta.is_empty()
                    && let Value::Object(m) = &p
                {
                    for (k, v) in m {
                        if k != "instructions" && k != "base_instructions" {
                            meta.insert(k.clone(), v.clone());
                        }
                    }
                }
                let mut d = Map::new();
                d.insert("record".into(), json!("session_meta"));
                for k in ["instructions", "base_instructions"] {
                    if let Some(v) = p.get(k) {
                        d.insert(k.into(), v.clone());
                    }
                }
                if d.len() > 1 {
                    push(Kind::Note, d, None);
                }
            }
            "response_item" => {
                let pty = p.get("type").and_then(Value::as_str).unwrap_or("");
                let mut d = Map::new();
                match pty {
                    "message" => {
                        let role = p.get("role").and_then(Value::as_str).unwrap_or("assistant");
                        d.insert("text".into(), json!(content_text(p.get("content"))));
                        d.insert("role".into(), json!(role));
                        let kind = if role == "user" {
                            Kind::Prompt
                        } else {
                            Kind::Message
                        };
                        push(kind, d, None);
                    }
                    "reasoning" => {
                        d.insert("text".into(), json!(content_text(p.get("summary"))));
                        d.insert("role".into(), json!("assistant"));
                        d.insert("thinking".into(), json!(true));
                        if let Some(Value::String(enc)) = p.get("encrypted_content") {
                            d.insert("encrypted_sha256".into(), json!(sha256_hex(enc.as_bytes())));
                            d.insert("encrypted_bytes".into(), json!(enc.len()));
                        }
                        push(Kind::Message, d, None);
                    }
                    "function_call" | "custom_tool_call" | "local_shell_call" => {
                        stats.tool_calls += 1;
                        let id = p
                            .get("call_id")
                            .or_else(|| p.get("id"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        let tool = p.get("name").and_then(Value::as_str).unwrap_or(
                            if pty == "local_shell_call" {
                                "local_shell"
                            } else {
                                ""
                            },
                        );
                        let input = match pty {
                            "function_call" => match p.get("arguments") {
                                Some(Value::String(s)) => serde_json::from_str(s)
                                    .unwrap_or_else(|_| json!({"arguments": s})),
                                Some(v) => v.clone(),
                                None => Value::Null,
                            },
                            "custom_tool_call" => json!({"input": p.get("input")}),
                            _ => p.get("action").cloned().unwrap_or(Value::Null),
                        };
                        d.insert("agent".into(), json!(FORMAT));
                        d.insert("tool".into(), json!(tool));
                        d.insert("call_id".into(), json!(id));
                        d.insert("call_type".into(), json!(pty));
                        if let Some(c) = shell_command(&input) {
                            d.insert("command".into(), json!(c));
                        }
                        d.insert("input".into(), input);
                        push(Kind::ToolCall, d, Some((true, id)));
                    }
                    "web_search_call" => {
                        // The model's own web search: network egress, kept as a tool call
                        // (it has no separate output item).
                        stats.tool_calls += 1;
                        let id = text_of(&p, "id");
                        let action = p.get("action").cloned().unwrap_or(Value::Null);
                        d.insert("agent".into(), json!(FORMAT));
                        d.insert("tool".into(), json!("web_search"));
                        d.insert("call_id".into(), json!(id));
                        d.insert("call_type".into(), json!(pty));
                        d.insert(
                            "status".into(),
                            p.get("status").cloned().unwrap_or(Value::Null),
                        );
                        d.insert("network_egress".into(), json!(true));
                        if let Some(u) = action.get("url").and_then(Value::as_str) {
                            d.insert("url".into(), json!(u));
                        }
                        d.insert("input".into(), action);
                        push(Kind::ToolCall, d, None);
                    }
                    "function_call_output"
                    | "custom_tool_call_output"
                    | "local_shell_call_output" => {
                        stats.tool_results += 1;
                        let id = text_of(&p, "call_id");
                        let output = match p.get("output") {
                            Some(Value::String(s)) => s.clone(),
                            Some(v @ Value::Array(_)) => content_text(Some(v)),
                            Some(Value::Object(o)) => o
                                .get("content")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
                            Some(v) => v.to_string(),
                            None => String::new(),
                        };
                        let is_error = p
                            .pointer("/output/success")
                            .and_then(Value::as_bool)
                            .map(|s| !s)
                            .unwrap_or(false);
                        d.extend(tool_result_fields(FORMAT, &id, &output, is_error));
                        push(Kind::ToolResult, d, Some((false, id)));
                    }
                    other => {
                        d.insert("record".into(), json!("response_item"));
                        d.insert("item_type".into(), json!(other));
                        d.insert("payload".into(), p.clone());
                        push(Kind::Note, d, None);
                    }
                }
            }
            "event_msg" | "turn_context" | "compacted" => {
                let mut d = Map::new();
                d.insert("record".into(), json!(ty));
                if let Some(t) = p.get("type") {
                    d.insert("event_type".into(), t.clone());
                }
                d.insert("payload".into(), p.clone());
                push(Kind::Note, d, None);
            }
            other => {
                push(Kind::Note, unknown_record(&mut stats, other, line), None);
            }
        }
    }
    let mut times: Vec<Option<DateTime<Utc>>> = items.iter().map(|i| i.ts).collect();
    let meta_ts = meta.get("timestamp").and_then(ts_of);
    if fill_times(&mut times).is_none() && meta_ts.is_none() {
        return Err(Error::Invalid(format!("{name}: no record has a timestamp")));
    }
    let started = times
        .iter()
        .flatten()
        .copied()
        .chain(meta_ts)
        .min()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let ended = times.iter().flatten().copied().max().unwrap_or(started);
    let mut events: Vec<NewEvent> = Vec::with_capacity(items.len() + 2);
    let mut extra = Map::new();
    extra.insert("session_meta".into(), Value::Object(meta.clone()));
    let start = TranscriptStart {
        format: FORMAT,
        label: name.to_string(),
        cwd: meta.get("cwd").cloned().unwrap_or(Value::Null),
        external_session_id: meta.get("id").cloned().unwrap_or(Value::Null),
        files: vec![(name, bytes.len(), sha256_hex(bytes))],
        extra,
    };
    events.push(start.event(started, &stats)?);
    let mut calls = Calls::default();
    for (item, t) in items.into_iter().zip(times) {
        let ts = t.unwrap_or(started);
        let seq = events.len() as u64;
        let mut data = item.data;
        match item.call {
            Some((true, id)) => calls.call(id, seq, ts, &data),
            Some((false, id)) => calls.join_result(&id, ts, &mut data, &mut stats),
            None => {}
        }
        events.push(imported(ts, item.kind, FORMAT, Value::Object(data)));
    }
    events.push(imported(
        ended,
        Kind::SessionEnd,
        FORMAT,
        json!({"exit": null, "reason": "end_of_rollout"}),
    ));
    Ok(Parsed {
        format: FORMAT,
        agent: Some(FORMAT.into()),
        label: Some(name.to_string()),
        started,
        ended: Some(ended),
        fingerprint: file_fingerprint(name, bytes),
        events,
        stats,
    })
}

/// The text of Codex content parts (`input_text`, `output_text`, `text`, `summary_text`).
fn content_text(c: Option<&Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p.get("text").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => format!(
                    "[{}]",
                    p.get("type").and_then(Value::as_str).unwrap_or("part")
                ),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// The command line of a shell tool call (`exec_command {cmd}`, `shell {command: [..]}`,
/// `local_shell_call {command: [..]}`).
fn shell_command(input: &Value) -> Option<String> {
    for k in ["cmd", "command"] {
        match input.get(k) {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(Value::Array(a)) => {
                let argv: Vec<String> = a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect();
                // `bash -lc "<script>"`: the script is the command.
                if argv.len() == 3
                    && matches!(
                        argv[0].as_str(),
                        "bash" | "sh" | "zsh" | "/bin/bash" | "/bin/sh"
                    )
                    && argv[1].ends_with('c')
                    && argv[1].starts_with('-')
                {
                    return Some(argv[2].clone());
                }
                return Some(argv.join(" "));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod web_search_tests {
    use flightlog_formats::Kind;

    use super::parse;

    #[test]
    fn a_web_search_call_is_a_tool_call() {
        let lines = [
            r#"{"timestamp":"2026-01-02T03:04:05.000Z","type":"session_meta","payload":{"id":"11111111-1111-4111-8111-111111111111","timestamp":"2026-01-02T03:04:05.000Z","cwd":"/w"}}"#,
            r#"{"timestamp":"2026-01-02T03:04:06.000Z","type":"response_item","payload":{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"railway volumeDelete"}}}"#,
            r#"{"timestamp":"2026-01-02T03:04:07.000Z","type":"response_item","payload":{"type":"web_search_call","id":"ws_2","status":"completed","action":{"type":"open_page","url":"https://docs.railway.com/reference/volumes"}}}"#,
        ];
        let parsed = parse("r.jsonl", lines.join("\n").as_bytes()).unwrap();
        let calls: Vec<_> = parsed
            .events
            .iter()
            .filter(|e| e.kind == Kind::ToolCall)
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(parsed.stats.tool_calls, 2);
        assert_eq!(calls[0].data["tool"], "web_search");
        assert_eq!(calls[0].data["input"]["query"], "railway volumeDelete");
        assert_eq!(calls[0].data["network_egress"], true);
        assert_eq!(
            calls[1].data["url"],
            "https://docs.railway.com/reference/volumes"
        );
        assert!(
            parsed
                .events
                .iter()
                .all(|e| e.data.get("item_type").is_none())
        );
    }
}
