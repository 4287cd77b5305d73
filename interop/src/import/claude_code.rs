//! Claude Code transcripts (`~/.claude/projects/<project>/<session>.jsonl`), with their subagent
//! files (`<session>/subagents/agent-*.jsonl`).
//!
//! Mapping (reference/formats.md 2.2):
//! - `user` with a string (or `text` blocks) → `prompt`; `tool_result` blocks → `tool_result`
//!   joined to their call (`call_seq`, `tool`, `duration_ms`), with the structured
//!   `toolUseResult` kept (big duplicated fields replaced by their SHA-256);
//! - `assistant` blocks: `text`/`thinking` → `message`, `tool_use` → `tool_call` (shell tools
//!   also get `command` at the top of data);
//! - `progress`, `system`, `file-history-snapshot`, `queue-operation`, `summary`, `attachment`
//!   → `note` with the record's fields;
//! - any other type → `note` with `unknown: true` and the raw line; non-JSON → `raw_input`.
//!
//! Subagent records are merged into the parent session by time (each file keeps its own
//! order), carry `subagent: {agent_id, parent_call_id, parent_call_seq}`, and the parent's
//! Task/Agent `tool_call` names the subagent. A subagent the parent reports but whose file is
//! missing gives a `gap` event.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flightlog_formats::Kind;
use serde_json::{Map, Value, json};

use super::{Parsed, Stats, fill_times, imported, raw_text, sha256_hex, ts_of, unparseable};
use crate::{Error, Result};

const FORMAT: &str = "claude-code";

/// The most of a running command's progress output kept (its tail).
const PROGRESS_TAIL: usize = 2048;

/// Record types this importer knows (others are kept as unknown notes).
const KNOWN: [&str; 9] = [
    "user",
    "assistant",
    "progress",
    "system",
    "file-history-snapshot",
    "queue-operation",
    "summary",
    "attachment",
    "custom-title",
];

/// Envelope fields of conversation lines (summarised in `session_start`, not repeated per event).
const ENVELOPE: [&str; 12] = [
    "parentUuid",
    "isSidechain",
    "userType",
    "cwd",
    "sessionId",
    "version",
    "gitBranch",
    "slug",
    "type",
    "uuid",
    "timestamp",
    "agentId",
];

/// One input file.
#[derive(Debug, Clone)]
pub struct Input {
    /// A display name (relative path) recorded in the events.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Reads a transcript and the subagent files beside it (`<stem>/subagents/agent-*.jsonl`).
pub fn read(path: &Path) -> Result<(Input, Vec<Input>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut subs = Vec::new();
    if let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) {
        let sub_dir: PathBuf = dir.join(stem).join("subagents");
        if let Ok(rd) = std::fs::read_dir(&sub_dir) {
            let mut paths: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "jsonl")
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("agent-"))
                })
                .collect();
            paths.sort();
            for p in paths {
                let b = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
                let n = format!(
                    "{}/subagents/{}",
                    stem.to_string_lossy(),
                    p.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                );
                subs.push(Input { name: n, bytes: b });
            }
        }
    }
    Ok((Input { name, bytes }, subs))
}

/// Reads and parses a transcript with its subagents.
pub fn parse_path(path: &Path) -> Result<Parsed> {
    let (main, subs) = read(path)?;
    parse(&main, &subs)
}

enum Role {
    None,
    Call(String),
    Result(String),
}

struct Item {
    ts: Option<DateTime<Utc>>,
    kind: Kind,
    data: Map<String, Value>,
    role: Role,
}

/// What the parent says about its subagents.
#[derive(Default)]
struct Links {
    /// agent id → the parent's Task/Agent call id.
    parent_call: HashMap<String, String>,
    /// agent id → tool calls the parent's result reports.
    reported_tools: HashMap<String, u64>,
}

#[derive(Default)]
struct Meta {
    session_id: Option<String>,
    cwd: Option<String>,
    git_branch: Option<String>,
    slug: Option<String>,
    versions: Vec<String>,
    models: Vec<String>,
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Parses a transcript and its subagent files into the events of one session.
pub fn parse(main: &Input, subagents: &[Input]) -> Result<Parsed> {
    let mut stats = Stats::default();
    let mut meta = Meta::default();
    let mut links = Links::default();
    let present: HashSet<String> = subagents
        .iter()
        .filter_map(|s| agent_id_of(&s.name))
        .collect();
    let mut streams: Vec<Vec<Item>> = Vec::new();
    streams.push(parse_stream(
        main, None, &present, &mut stats, &mut meta, &mut links,
    ));
    let mut sub_ids = Vec::new();
    for s in subagents {
        let id = agent_id_of(&s.name).unwrap_or_else(|| s.name.clone());
        stats.subagents += 1;
        let items = parse_stream(s, Some(&id), &present, &mut stats, &mut meta, &mut links);
        sub_ids.push(id);
        streams.push(items);
    }
    // Times: every record gets one (inherited within its file).
    for st in streams.iter_mut() {
        let mut times: Vec<Option<DateTime<Utc>>> = st.iter().map(|i| i.ts).collect();
        if fill_times(&mut times).is_some() {
            for (i, t) in st.iter_mut().zip(times) {
                i.ts = t;
            }
        }
    }
    let all_times = streams.iter().flatten().filter_map(|i| i.ts);
    let started = all_times
        .clone()
        .min()
        .ok_or_else(|| Error::Invalid(format!("{}: no record has a timestamp", main.name)))?;
    let ended = all_times.max().unwrap_or(started);
    for st in streams.iter_mut() {
        for i in st.iter_mut() {
            if i.ts.is_none() {
                i.ts = Some(started);
            }
        }
    }
    // Subagent start markers and gaps for subagents whose file is missing.
    for (k, id) in sub_ids.iter().enumerate() {
        let st = &mut streams[k + 1];
        let first_ts = st.first().and_then(|i| i.ts).unwrap_or(started);
        let mut d = Map::new();
        d.insert("subagent_start".into(), json!(id));
        d.insert("file".into(), json!(subagents[k].name));
        d.insert("file_sha256".into(), json!(sha256_hex(&subagents[k].bytes)));
        d.insert(
            "text".into(),
            json!(format!("subagent {id} starts ({})", subagents[k].name)),
        );
        st.insert(
            0,
            Item {
                ts: Some(first_ts),
                kind: Kind::Note,
                data: d,
                role: Role::None,
            },
        );
    }
    let mut missing: Vec<(String, String)> = links
        .parent_call
        .iter()
        .filter(|(a, _)| !present.contains(*a))
        .map(|(a, c)| (a.clone(), c.clone()))
        .collect();
    missing.sort();
    let merged = merge(streams);
    // Number the events (seq 0 is session_start) and join results to calls.
    let mut events = Vec::with_capacity(merged.len() + 2 + missing.len());
    let mut calls: HashMap<String, (u64, DateTime<Utc>, Value)> = HashMap::new();
    let mut call_index: HashMap<String, usize> = HashMap::new();
    let mut body: Vec<(DateTime<Utc>, Kind, Map<String, Value>)> = Vec::with_capacity(merged.len());
    for item in merged {
        let seq = body.len() as u64 + 1;
        let ts = item.ts.unwrap_or(started);
        let mut data = item.data;
        match item.role {
            Role::Call(id) => {
                let tool = data.get("tool").cloned().unwrap_or(Value::Null);
                calls.entry(id.clone()).or_insert((seq, ts, tool));
                call_index.entry(id).or_insert(body.len());
            }
            Role::Result(id) => match calls.get(&id) {
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
            },
            Role::None => {}
        }
        body.push((ts, item.kind, data));
    }
    // Link subagent events to the parent's call, and the call to its subagent.
    for (_, _, data) in body.iter_mut() {
        if let Some(Value::Object(sub)) = data.get_mut("subagent") {
            let agent = sub
                .get("agent_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let parent = links.parent_call.get(&agent).cloned();
            let pseq = parent.as_ref().and_then(|c| calls.get(c)).map(|c| c.0);
            sub.insert("parent_call_id".into(), json!(parent));
            sub.insert("parent_call_seq".into(), json!(pseq));
        }
    }
    for (agent, call) in &links.parent_call {
        if let Some(&i) = call_index.get(call) {
            body[i].2.insert("subagent_id".into(), json!(agent));
            body[i].2.insert(
                "subagent_file_present".into(),
                json!(present.contains(agent)),
            );
        }
    }
    let mut start = Map::new();
    start.insert("agent".into(), json!(FORMAT));
    start.insert(
        "label".into(),
        json!(meta.slug.clone().unwrap_or_else(|| main.name.clone())),
    );
    start.insert("home_env".into(), Value::Null);
    start.insert("cwd".into(), json!(meta.cwd));
    start.insert("argv".into(), Value::Null);
    start.insert("host".into(), Value::Null);
    start.insert("flightlog_version".into(), json!(crate::VERSION));
    start.insert("layers".into(), json!([format!("import:{FORMAT}")]));
    start.insert("external_session_id".into(), json!(meta.session_id));
    start.insert("agent_versions".into(), json!(meta.versions));
    start.insert("models".into(), json!(meta.models));
    start.insert("git_branch".into(), json!(meta.git_branch));
    let mut files = vec![
        json!({"name": main.name, "sha256": sha256_hex(&main.bytes), "bytes": main.bytes.len()}),
    ];
    for s in subagents {
        files.push(json!({"name": s.name, "sha256": sha256_hex(&s.bytes), "bytes": s.bytes.len()}));
    }
    start.insert("files".into(), Value::Array(files));
    start.insert("stats".into(), serde_json::to_value(&stats)?);
    events.push(imported(
        started,
        Kind::SessionStart,
        FORMAT,
        Value::Object(start),
    ));
    for (ts, kind, data) in body {
        events.push(imported(ts, kind, FORMAT, Value::Object(data)));
    }
    for (agent, call) in missing {
        let (pseq, pts) = calls
            .get(&call)
            .map(|c| (Some(c.0), c.1))
            .unwrap_or((None, ended));
        let n = links.reported_tools.get(&agent).copied();
        events.push(imported(
            pts,
            Kind::Gap,
            FORMAT,
            json!({
                "layer": "import",
                "reason": "subagent_transcript_missing",
                "detail": format!(
                    "subagent {agent} (started by call {call}) has no transcript file beside the \
                     session; its tool calls{} are known only from the parent's progress mirrors",
                    n.map(|n| format!(" ({n} reported)")).unwrap_or_default()
                ),
                "agent_id": agent,
                "parent_call_id": call,
                "parent_call_seq": pseq,
                "tool_calls_reported": n,
            }),
        ));
    }
    events.push(imported(
        ended,
        Kind::SessionEnd,
        FORMAT,
        json!({"exit": null, "reason": "end_of_transcript"}),
    ));
    let mut fp_input = Vec::new();
    for f in std::iter::once(main).chain(subagents.iter()) {
        fp_input.extend_from_slice(f.name.as_bytes());
        fp_input.push(0);
        fp_input.extend_from_slice(sha256_hex(&f.bytes).as_bytes());
    }
    Ok(Parsed {
        format: FORMAT,
        agent: Some(FORMAT.into()),
        label: meta.slug.or_else(|| Some(main.name.clone())),
        started,
        ended: Some(ended),
        fingerprint: sha256_hex(&fp_input),
        events,
        stats,
    })
}

/// `agent-<id>.jsonl` → `<id>`.
fn agent_id_of(name: &str) -> Option<String> {
    let file = name.rsplit('/').next()?;
    file.strip_prefix("agent-")?
        .strip_suffix(".jsonl")
        .map(str::to_string)
}

/// K-way merge by time; each stream keeps its own order; ties go to the earlier stream.
fn merge(streams: Vec<Vec<Item>>) -> Vec<Item> {
    let total = streams.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total);
    let mut iters: Vec<std::iter::Peekable<std::vec::IntoIter<Item>>> = streams
        .into_iter()
        .map(|s| s.into_iter().peekable())
        .collect();
    loop {
        let mut best: Option<(usize, DateTime<Utc>)> = None;
        for (k, it) in iters.iter_mut().enumerate() {
            if let Some(i) = it.peek() {
                let t = i.ts.unwrap_or(DateTime::<Utc>::MIN_UTC);
                if best.is_none_or(|(_, bt)| t < bt) {
                    best = Some((k, t));
                }
            }
        }
        let Some((k, _)) = best else { break };
        if let Some(i) = iters[k].next() {
            out.push(i);
        }
    }
    out
}

fn parse_stream(
    input: &Input,
    agent: Option<&str>,
    present: &HashSet<String>,
    stats: &mut Stats,
    meta: &mut Meta,
    links: &mut Links,
) -> Vec<Item> {
    let text = String::from_utf8_lossy(&input.bytes);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        stats.records += 1;
        let line_no = i + 1;
        let rec: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                stats.unparseable_lines += 1;
                let e = unparseable(
                    DateTime::<Utc>::MIN_UTC,
                    FORMAT,
                    &input.name,
                    line_no,
                    line,
                    "not a JSON object",
                );
                out.push(Item {
                    ts: None,
                    kind: e.kind,
                    data: obj(e.data),
                    role: Role::None,
                });
                continue;
            }
            Err(err) => {
                stats.unparseable_lines += 1;
                let e = unparseable(
                    DateTime::<Utc>::MIN_UTC,
                    FORMAT,
                    &input.name,
                    line_no,
                    line,
                    &err.to_string(),
                );
                out.push(Item {
                    ts: None,
                    kind: e.kind,
                    data: obj(e.data),
                    role: Role::None,
                });
                continue;
            }
        };
        let before = out.len();
        record(
            &rec, line, line_no, input, agent, present, stats, meta, links, &mut out,
        );
        if let Some(a) = agent {
            for it in out[before..].iter_mut() {
                it.data.insert("subagent".into(), json!({"agent_id": a}));
            }
        }
    }
    out
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    rec: &Value,
    line: &str,
    line_no: usize,
    input: &Input,
    agent: Option<&str>,
    present: &HashSet<String>,
    stats: &mut Stats,
    meta: &mut Meta,
    links: &mut Links,
    out: &mut Vec<Item>,
) {
    let ty = rec.get("type").and_then(Value::as_str).unwrap_or("");
    let ts = rec
        .get("timestamp")
        .and_then(ts_of)
        .or_else(|| rec.pointer("/snapshot/timestamp").and_then(ts_of));
    if agent.is_none() {
        if meta.session_id.is_none()
            && let Some(s) = rec.get("sessionId").and_then(Value::as_str)
        {
            meta.session_id = Some(s.to_string());
        }
        if meta.cwd.is_none()
            && let Some(s) = rec.get("cwd").and_then(Value::as_str)
        {
            meta.cwd = Some(s.to_string());
        }
        if meta.git_branch.is_none()
            && let Some(s) = rec.get("gitBranch").and_then(Value::as_str)
        {
            meta.git_branch = Some(s.to_string());
        }
        if meta.slug.is_none()
            && let Some(s) = rec.get("slug").and_then(Value::as_str)
        {
            meta.slug = Some(s.to_string());
        }
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
                                let id = b
                                    .get("tool_use_id")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string();
                                let output = block_text(b.get("content"));
                                let is_error =
                                    b.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                                let mut m = Map::new();
                                m.insert("agent".into(), json!(FORMAT));
                                m.insert("call_id".into(), json!(id));
                                m.insert(
                                    "error".into(),
                                    if is_error { json!(output) } else { Value::Null },
                                );
                                m.insert("output".into(), json!(output));
                                m.insert("is_error".into(), json!(is_error));
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
                        let id = b
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
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
            let pty = d
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
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
            stats.unknown_records += 1;
            let (raw, truncated) = raw_text(line);
            let mut m = Map::new();
            m.insert("record".into(), json!(t));
            m.insert("unknown".into(), json!(true));
            m.insert("raw".into(), json!(raw));
            m.insert("truncated".into(), json!(truncated));
            push(Kind::Note, m, Role::None);
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
