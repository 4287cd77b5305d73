//! One transcript record as the events it maps to (the mapping is in the parent module's notes).

use std::collections::BTreeMap;

use flightlog_formats::Kind;
use serde_json::{Map, Value, json};

use super::{ENVELOPE, FORMAT, Item, KNOWN, PROGRESS_TAIL, Role, Source, Totals, push_unique};
use crate::import::calls::{text_of, tool_result_fields};
use crate::import::{sha256_hex, ts_of, unknown_record};

pub(super) fn record(
    rec: &Value,
    line: &str,
    line_no: usize,
    src: Source<'_>,
    totals: &mut Totals,
    out: &mut Vec<Item>,
) {
    let Source {
        input,
        agent,
        present,
    } = src;
    let Totals { stats, meta, links } = totals;
    let ty = rec.get("type").and_then(Value::as_str).unwrap_or("");
    let ts = rec
        .get("timestamp")
        .and_then(ts_of)
        .or_else(|| rec.pointer("/snapshot/timestamp").and_then(ts_of));
    if agent.is_none() {
        // The first record that names each keeps it.
        let first = |slot: &mut Option<String>, key: &str| {
            if slot.is_none() {
                *slot = rec.get(key).and_then(Value::as_str).map(str::to_string);
            }
        };
        first(&mut meta.session_id, "sessionId");
        first(&mut meta.cwd, "cwd");
        first(&mut meta.git_branch, "gitBranch");
        first(&mut meta.slug, "slug");
    }
    if let Some(v) = rec.get("version").and_then(Value::as_str) {
        push_unique(&mut meta.versions, v);
    }
    let origin = json!({"file": input.name, "line": line_no, "uuid": rec.get("uuid")});
    let base = |extra: Map<String, Value>| -> Map<String, Value> {
        let mut m = extra;
        m.insert("origin".into(), origin.clone());
        m
    };
    let mut push = |kind: Kind, data: Map<String, Value>, role: Role| {
        out.push(Item {
            ts,
            kind,
            data: base(data),
            role,
        });
    };
    match ty {
        "user" => {
            let content = rec.pointer("/message/content");
            let flags = |m: &mut Map<String, Value>| {
                for (k, name) in [
                    ("isMeta", "is_meta"),
                    ("isCompactSummary", "compact_summary"),
                    ("isVisibleInTranscriptOnly", "transcript_only"),
                ] {
                    if let Some(v) = rec.get(k) {
                        m.insert(name.into(), v.clone());
                    }
                }
            };
            match content {
                Some(Value::String(s)) => {
                    let mut m = Map::new();
                    m.insert("text".into(), json!(s));
                    m.insert("role".into(), json!("user"));
                    flags(&mut m);
                    push(Kind::Prompt, m, Role::None);
                }
                Some(Value::Array(blocks)) => {
                    let mut result_attached = false;
                    for b in blocks {
                        match b.get("type").and_then(Value::as_str).unwrap_or("") {
                            "text" => {
                                let mut m = Map::new();
                                m.insert(
                                    "text".into(),
                                    b.get("text").cloned().unwrap_or(json!("")),
                                );
                                m.insert("role".into(), json!("user"));
                                flags(&mut m);
                                push(Kind::Prompt, m, Role::None);
                            }
                            "tool_result" => {
                                stats.tool_results += 1;
                                let id = text_of(b, "tool_use_id");
                                let output = block_text(b.get("content"));
                                let is_error =
                                    b.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                                let mut m = tool_result_fields(FORMAT, &id, &output, is_error);
                                if !result_attached && let Some(r) = rec.get("toolUseResult") {
                                    result_attached = true;
                                    if let Some(a) = r.get("agentId").and_then(Value::as_str) {
                                        links
                                            .parent_call
                                            .entry(a.to_string())
                                            .or_insert(id.clone());
                                        if let Some(n) =
                                            r.get("totalToolUseCount").and_then(Value::as_u64)
                                        {
                                            links.reported_tools.insert(a.to_string(), n);
                                        }
                                    }
                                    m.insert("result".into(), clean_result(r));
                                }
                                push(Kind::ToolResult, m, Role::Result(id));
                            }
                            other => {
                                let mut m = Map::new();
                                m.insert("block".into(), json!(other));
                                m.insert("role".into(), json!("user"));
                                m.insert("content".into(), summarize_block(b));
                                push(Kind::Note, m, Role::None);
                            }
                        }
                    }
                }
                _ => {
                    let mut m = Map::new();
                    m.insert("record".into(), json!("user"));
                    m.insert("fields".into(), strip_envelope(rec));
                    push(Kind::Note, m, Role::None);
                }
            }
        }
        "assistant" => {
            let model = rec
                .pointer("/message/model")
                .cloned()
                .unwrap_or(Value::Null);
            if let Some(m) = model.as_str() {
                push_unique(&mut meta.models, m);
            }
            let msg_id = rec.pointer("/message/id").cloned().unwrap_or(Value::Null);
            let usage = rec.pointer("/message/usage").cloned();
            let blocks = rec
                .pointer("/message/content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (k, b) in blocks.iter().enumerate() {
                let mut m = Map::new();
                m.insert("model".into(), model.clone());
                m.insert("message_id".into(), msg_id.clone());
                if k == 0
                    && let Some(u) = &usage
                {
                    m.insert("usage".into(), u.clone());
                }
                match b.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text" => {
                        m.insert("text".into(), b.get("text").cloned().unwrap_or(json!("")));
                        m.insert("role".into(), json!("assistant"));
                        push(Kind::Message, m, Role::None);
                    }
                    "thinking" => {
                        m.insert(
                            "text".into(),
                            b.get("thinking").cloned().unwrap_or(json!("")),
                        );
                        m.insert("role".into(), json!("assistant"));
                        m.insert("thinking".into(), json!(true));
                        push(Kind::Message, m, Role::None);
                    }
                    "tool_use" => {
                        stats.tool_calls += 1;
                        let id = text_of(b, "id");
                        let input = b.get("input").cloned().unwrap_or(Value::Null);
                        m.insert("agent".into(), json!(FORMAT));
                        m.insert("tool".into(), b.get("name").cloned().unwrap_or(Value::Null));
                        m.insert("call_id".into(), json!(id));
                        if let Some(c) = input.get("command").and_then(Value::as_str) {
                            m.insert("command".into(), json!(c));
                        }
                        m.insert("input".into(), input);
                        push(Kind::ToolCall, m, Role::Call(id));
                    }
                    other => {
                        m.insert("block".into(), json!(other));
                        m.insert("role".into(), json!("assistant"));
                        m.insert("content".into(), summarize_block(b));
                        push(Kind::Note, m, Role::None);
                    }
                }
            }
            if blocks.is_empty() {
                let mut m = Map::new();
                m.insert("record".into(), json!("assistant"));
                m.insert("fields".into(), strip_envelope(rec));
                push(Kind::Note, m, Role::None);
            }
        }
        "progress" => {
            let d = rec.get("data").cloned().unwrap_or(Value::Null);
            let pty = text_of(&d, "type");
            let mut m = Map::new();
            m.insert("record".into(), json!("progress"));
            m.insert("progress".into(), json!(pty));
            m.insert(
                "tool_use_id".into(),
                rec.get("toolUseID").cloned().unwrap_or(Value::Null),
            );
            m.insert(
                "parent_call_id".into(),
                rec.get("parentToolUseID").cloned().unwrap_or(Value::Null),
            );
            match pty.as_str() {
                "agent_progress" => {
                    let a = d.get("agentId").and_then(Value::as_str).unwrap_or("");
                    if let Some(p) = rec.get("parentToolUseID").and_then(Value::as_str)
                        && !a.is_empty()
                        && agent.is_none()
                    {
                        links
                            .parent_call
                            .entry(a.to_string())
                            .or_insert(p.to_string());
                    }
                    m.insert("agent_id".into(), json!(a));
                    if present.contains(a) {
                        // The subagent's own file holds this record; keep only the reference.
                        m.insert("mirror_of_subagent_file".into(), json!(true));
                    } else if let Some(msg) = d.get("message") {
                        m.insert("mirror".into(), msg.clone());
                    }
                }
                "bash_progress" => {
                    // A snapshot of a command still running: its tail is what was on screen;
                    // the whole output arrives with the tool result.
                    if let Some(o) = d.get("output").and_then(Value::as_str) {
                        let mut start = o.len().saturating_sub(PROGRESS_TAIL);
                        while !o.is_char_boundary(start) {
                            start += 1;
                        }
                        m.insert("output".into(), json!(&o[start..]));
                        m.insert("output_truncated".into(), json!(start > 0));
                    }
                    for k in ["elapsedTimeSeconds", "totalLines"] {
                        if let Some(v) = d.get(k) {
                            m.insert(k.into(), v.clone());
                        }
                    }
                }
                _ => {
                    m.insert("fields".into(), d);
                }
            }
            push(Kind::Note, m, Role::None);
        }
        t if KNOWN.contains(&t) => {
            let mut m = Map::new();
            m.insert("record".into(), json!(t));
            if let Some(s) = rec.get("subtype") {
                m.insert("subtype".into(), s.clone());
            }
            m.insert("fields".into(), strip_envelope(rec));
            push(Kind::Note, m, Role::None);
        }
        t => {
            push(Kind::Note, unknown_record(stats, t, line), Role::None);
        }
    }
}

/// A record without its envelope fields.
fn strip_envelope(rec: &Value) -> Value {
    match rec {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !ENVELOPE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The text of a tool result's content (a string, or blocks).
fn block_text(c: Option<&Value>) -> String {
    match c {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let mut parts = Vec::new();
            for b in items {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(
                        b.get("text")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    ),
                    Some("image") => parts.push("[image]".into()),
                    Some(other) => parts.push(format!("[{other}]")),
                    None => parts.push(b.to_string()),
                }
            }
            parts.join("\n")
        }
        Some(other) => other.to_string(),
    }
}

/// A content block other than text/tool blocks, with base64 payloads summarised.
fn summarize_block(b: &Value) -> Value {
    let mut v = b.clone();
    if let Some(Value::Object(src)) = v.get_mut("source")
        && let Some(Value::String(data)) = src.get("data").cloned()
    {
        src.insert(
            "data".into(),
            json!(format!("[{} bytes omitted]", data.len())),
        );
        src.insert("data_sha256".into(), json!(sha256_hex(data.as_bytes())));
    }
    if let Some(Value::String(sig)) = v.get("signature").cloned() {
        let _ = sig;
        if let Value::Object(m) = &mut v {
            m.remove("signature");
        }
    }
    v
}

/// `toolUseResult` with big fields that duplicate other data replaced by their SHA-256.
fn clean_result(r: &Value) -> Value {
    let Value::Object(m) = r else {
        return r.clone();
    };
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in m {
        match (k.as_str(), v) {
            ("originalFile" | "content", Value::String(s)) => {
                out.insert(format!("{k}_sha256"), json!(sha256_hex(s.as_bytes())));
                out.insert(format!("{k}_bytes"), json!(s.len()));
            }
            ("content", Value::Array(_)) => {
                let s = v.to_string();
                out.insert(format!("{k}_sha256"), json!(sha256_hex(s.as_bytes())));
            }
            ("file", Value::Object(f)) => {
                let mut f = f.clone();
                if let Some(Value::String(c)) = f.remove("content") {
                    f.insert("content_sha256".into(), json!(sha256_hex(c.as_bytes())));
                    f.insert("content_bytes".into(), json!(c.len()));
                }
                out.insert(k.clone(), Value::Object(f));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out.into_iter().collect())
}
