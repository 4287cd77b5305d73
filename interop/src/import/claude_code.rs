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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flightlog_formats::Kind;
use serde_json::{Map, Value, json};

use super::calls::{Calls, json_records, object, take_record};
use super::{Parsed, Stats, TranscriptStart, fill_times, imported, sha256_hex};
use crate::{Error, Result};

mod record;

use record::record;

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

/// The file being read: the main transcript (`agent` None) or a subagent's, and the subagents
/// whose files are present.
#[derive(Clone, Copy)]
struct Source<'a> {
    input: &'a Input,
    agent: Option<&'a str>,
    present: &'a HashSet<String>,
}

/// What reading every file of a session builds up.
#[derive(Default)]
struct Totals {
    stats: Stats,
    meta: Meta,
    links: Links,
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Parses a transcript and its subagent files into the events of one session.
pub fn parse(main: &Input, subagents: &[Input]) -> Result<Parsed> {
    // Each file is hashed once (for `session_start`, the subagent markers and the import's
    // fingerprint), on a second thread while this one parses.
    std::thread::scope(|sc| {
        let hashing = sc.spawn(|| {
            std::iter::once(main)
                .chain(subagents)
                .map(|i| sha256_hex(&i.bytes))
                .collect::<Vec<String>>()
        });
        parse_hashed(main, subagents, || {
            hashing
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    })
}

/// [`parse`], with the files' SHA-256 (main first, then the subagents) from `hashes` once
/// the records are parsed.
fn parse_hashed(
    main: &Input,
    subagents: &[Input],
    hashes: impl FnOnce() -> Vec<String>,
) -> Result<Parsed> {
    let mut totals = Totals::default();
    let present: HashSet<String> = subagents
        .iter()
        .filter_map(|s| agent_id_of(&s.name))
        .collect();
    let main_source = Source {
        input: main,
        agent: None,
        present: &present,
    };
    let mut streams: Vec<Vec<Item>> = Vec::new();
    streams.push(parse_stream(main_source, &mut totals));
    let mut sub_ids = Vec::new();
    for s in subagents {
        let id = agent_id_of(&s.name).unwrap_or_else(|| s.name.clone());
        totals.stats.subagents += 1;
        let src = Source {
            input: s,
            agent: Some(&id),
            ..main_source
        };
        let items = parse_stream(src, &mut totals);
        sub_ids.push(id);
        streams.push(items);
    }
    let Totals {
        mut stats,
        meta,
        links,
    } = totals;
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
    let hashes = hashes();
    // Subagent start markers and gaps for subagents whose file is missing.
    for (k, id) in sub_ids.iter().enumerate() {
        let st = &mut streams[k + 1];
        let first_ts = st.first().and_then(|i| i.ts).unwrap_or(started);
        let mut d = Map::new();
        d.insert("subagent_start".into(), json!(id));
        d.insert("file".into(), json!(subagents[k].name));
        d.insert("file_sha256".into(), json!(hashes[k + 1]));
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
    let mut calls = Calls::default();
    let mut call_index: HashMap<String, usize> = HashMap::new();
    let mut body: Vec<(DateTime<Utc>, Kind, Map<String, Value>)> = Vec::with_capacity(merged.len());
    for item in merged {
        let seq = body.len() as u64 + 1;
        let ts = item.ts.unwrap_or(started);
        let mut data = item.data;
        match item.role {
            Role::Call(id) => {
                calls.call(id.clone(), seq, ts, &data);
                call_index.entry(id).or_insert(body.len());
            }
            Role::Result(id) => calls.join_result(&id, ts, &mut data, &mut stats),
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
            let pseq = parent
                .as_ref()
                .and_then(|c| calls.at(c))
                .map(|(seq, _)| seq);
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
    let mut extra = Map::new();
    extra.insert("agent_versions".into(), json!(meta.versions));
    extra.insert("models".into(), json!(meta.models));
    extra.insert("git_branch".into(), json!(meta.git_branch));
    let start = TranscriptStart {
        format: FORMAT,
        label: meta.slug.clone().unwrap_or_else(|| main.name.clone()),
        cwd: json!(meta.cwd),
        external_session_id: json!(meta.session_id),
        files: std::iter::once(main)
            .chain(subagents)
            .zip(&hashes)
            .map(|(i, sha)| (i.name.as_str(), i.bytes.len(), sha.clone()))
            .collect(),
        extra,
    };
    events.push(start.event(started, &stats)?);
    for (ts, kind, data) in body {
        events.push(imported(ts, kind, FORMAT, Value::Object(data)));
    }
    for (agent, call) in missing {
        let (pseq, pts) = calls
            .at(&call)
            .map(|(seq, ts)| (Some(seq), ts))
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
    for (f, sha) in std::iter::once(main).chain(subagents.iter()).zip(&hashes) {
        fp_input.extend_from_slice(f.name.as_bytes());
        fp_input.push(0);
        fp_input.extend_from_slice(sha.as_bytes());
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

fn parse_stream(src: Source<'_>, totals: &mut Totals) -> Vec<Item> {
    let text = String::from_utf8_lossy(&src.input.bytes);
    let mut out = Vec::new();
    for (line_no, line, rec) in json_records(&text, FORMAT, &src.input.name) {
        let Some(rec) = take_record(rec, &mut totals.stats, |e| {
            out.push(Item {
                ts: None,
                kind: e.kind,
                data: object(e.data),
                role: Role::None,
            })
        }) else {
            continue;
        };
        let before = out.len();
        record(&rec, line, line_no, src, totals, &mut out);
        if let Some(a) = src.agent {
            for it in out[before..].iter_mut() {
                it.data.insert("subagent".into(), json!({"agent_id": a}));
            }
        }
    }
    out
}
