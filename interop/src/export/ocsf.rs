//! OCSF export (schema 1.7.0 attributes, reference/formats.md 6): one event per line.
//!
//! - `exec`, and `tool_call`s that carry a shell command → Process Activity 1007 (Launch);
//! - `file_change` / `file_read` → File System Activity 1001;
//! - `api_call` → HTTP Activity 4002, plus API Activity 6003 when the operation was decoded
//!   (GraphQL or a REST verb);
//! - each crossing and destructive action → Detection Finding 2004.
//!
//! Every event carries the chain (`unmapped.flightlog`: session, seq, kind, `prev_hash`, `hash`,
//! and a `record_integrity`-style attestation), so a SIEM row can be traced to the signed log.

use flightlog_analysis::decode::decode_argv;
use flightlog_analysis::shell;
use flightlog_formats::progress::Ticker;
use flightlog_formats::{Kind, Payload};
use serde_json::{Map, Value, json};

use super::{FindingsBySeq, Record, epoch_ms, s, summary};
use crate::findings::{Finding, FindingKind};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.7.0";

struct Ctx {
    host: String,
    agent: String,
}

/// The OCSF events of a session, in order, ticking per record.
pub(super) fn events(
    records: &[Record],
    findings: &[Finding],
    ticker: &mut Ticker<'_>,
) -> Vec<Value> {
    let (records, findings) = super::exchange::join_records(records, findings);
    let (records, findings) = (records.as_slice(), findings.as_slice());
    let start = records
        .iter()
        .find_map(|r| r.event.session_start())
        .unwrap_or_default();
    let ctx = Ctx {
        host: start.host.unwrap_or_else(|| "unknown".into()),
        agent: start.agent.unwrap_or_else(|| "agent".into()),
    };
    // Execs whose API call was captured separately (proxy, `via_seq`) are not decoded again.
    let captured: std::collections::HashSet<u64> = records
        .iter()
        .filter_map(|r| r.event.api_call()?.via_seq)
        .collect();
    let by_seq = FindingsBySeq::new(findings);
    let mut out = Vec::new();
    for r in records {
        let e = &r.event;
        match e.kind {
            Kind::Exec | Kind::ToolCall
                if e.kind == Kind::Exec || e.tool_call().is_some_and(|t| t.command.is_some()) =>
            {
                out.push(process(&ctx, r, e.kind == Kind::ToolCall));
                if !captured.contains(&e.seq) {
                    for d in decoded_requests(r) {
                        out.push(http(&ctx, &d));
                        if let Some(api) = api(&ctx, &d) {
                            out.push(api);
                        }
                    }
                }
            }
            Kind::FileChange | Kind::FileRead => out.push(file(&ctx, r)),
            Kind::ToolCall if e.source.starts_with("import:") => {
                if let Some(view) = file_tool_view(r) {
                    out.push(file(&ctx, &view));
                }
            }
            Kind::ApiCall => {
                out.push(http(&ctx, r));
                if let Some(api) = api(&ctx, r) {
                    out.push(api);
                }
            }
            _ => {}
        }
        for f in by_seq.at(e.seq) {
            out.push(detection(&ctx, r, f));
        }
        ticker.add(1);
    }
    finish_metadata(&mut out);
    out
}

/// Each record's `metadata.uid` made unique (an exec, the request decoded from it and their
/// findings share a seq), and the `host` profile named wherever `actor` or `device` is used.
fn finish_metadata(out: &mut [Value]) {
    let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for v in out.iter_mut() {
        let class = v["class_uid"].as_u64().unwrap_or(0);
        let host = v.get("actor").is_some() || v.get("device").is_some();
        let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) else {
            continue;
        };
        let base = format!(
            "{}:{class}",
            md.get("uid").and_then(Value::as_str).unwrap_or("")
        );
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let uid = if *n == 1 { base } else { format!("{base}:{n}") };
        md.insert("uid".into(), json!(uid));
        if host {
            md.insert("profiles".into(), json!(["host"]));
        }
    }
}

/// A file tool call of an imported transcript (Claude Code's Read, Write, Edit, MultiEdit,
/// NotebookEdit) seen as the file event it stands for: imported sessions have no watcher.
fn file_tool_view(r: &Record) -> Option<Record> {
    let call = r.event.tool_call()?;
    // The tool's own input, as Claude Code sends it.
    let input = call.input.as_ref()?;
    let path = s(input, "file_path").or_else(|| s(input, "notebook_path"))?;
    let tool = call.tool.as_deref()?;
    let (kind, op) = match tool {
        "Read" => (Kind::FileRead, None),
        "Write" => (Kind::FileChange, Some("create")),
        "Edit" | "MultiEdit" | "NotebookEdit" => (Kind::FileChange, Some("modify")),
        _ => return None,
    };
    let mut view = r.clone();
    view.event.kind = kind;
    view.event.data = json!({"path": path, "op": op, "via_kind": "tool_call", "tool": tool});
    Some(view)
}

/// API calls visible in a command line (`curl -X POST ... -d '{..}'`), decoded the way the
/// analysis decodes them, as views of the same event (same seq and hash).
fn decoded_requests(r: &Record) -> Vec<Record> {
    let e = &r.event;
    let cmds = match e.payload() {
        Payload::Exec(x) => shell::from_argv(x.argv()),
        Payload::ToolCall(t) => shell::split(t.command.as_deref().unwrap_or("")),
        _ => Vec::new(),
    };
    cmds.iter()
        .filter_map(|c| decode_argv(&c.argv))
        .map(|req| {
            let mut data = req.to_data();
            if let Value::Object(m) = &mut data {
                m.insert("via_seq".into(), json!(e.seq));
                m.insert("decoded_from".into(), json!("argv"));
                m.insert("via_kind".into(), json!(e.kind.as_str()));
            }
            let mut view = r.clone();
            view.event.kind = Kind::ApiCall;
            view.event.data = data;
            view
        })
        .collect()
}

/// An OCSF class: uid, name, category uid, category name.
type Class = (u32, &'static str, u32, &'static str);
const PROCESS: Class = (1007, "Process Activity", 1, "System Activity");
const FILE_SYSTEM: Class = (1001, "File System Activity", 1, "System Activity");
const HTTP: Class = (4002, "HTTP Activity", 4, "Network Activity");
const API: Class = (6003, "API Activity", 6, "Application Activity");
const DETECTION: Class = (2004, "Detection Finding", 2, "Findings");

fn base(
    ctx: &Ctx,
    r: &Record,
    class: Class,
    (activity_id, activity_name): (u32, &str),
    severity_id: u8,
) -> Map<String, Value> {
    let (class_uid, class_name, category_uid, category_name) = class;
    let e = &r.event;
    // What an export view (a request decoded from argv, a file tool call) stands for.
    let (via_kind, decoded_from) = match e.payload() {
        Payload::ApiCall(a) => (a.via_kind, a.decoded_from),
        Payload::FileChange(f) => (f.via_kind, None),
        Payload::FileRead(f) => (f.via_kind, None),
        _ => (None, None),
    };
    let mut m = Map::new();
    m.insert("class_uid".into(), json!(class_uid));
    m.insert("class_name".into(), json!(class_name));
    m.insert("category_uid".into(), json!(category_uid));
    m.insert("category_name".into(), json!(category_name));
    m.insert("activity_id".into(), json!(activity_id));
    m.insert("activity_name".into(), json!(activity_name));
    m.insert("type_uid".into(), json!(class_uid * 100 + activity_id));
    m.insert(
        "type_name".into(),
        json!(format!("{class_name}: {activity_name}")),
    );
    m.insert("severity_id".into(), json!(severity_id));
    m.insert("time".into(), json!(epoch_ms(e)));
    m.insert("message".into(), json!(summary(e)));
    m.insert(
        "metadata".into(),
        json!({
            "version": OCSF_VERSION,
            "product": {"name": "flightlog", "vendor_name": "flightlog", "version": crate::VERSION},
            "uid": format!("{}:{}", e.session, e.seq),
            "log_name": format!("session-{}", e.session),
            "original_time": e.ts,
            "profiles": [],
        }),
    );
    m.insert(
        "unmapped".into(),
        json!({"flightlog": {
            "session": e.session,
            "seq": e.seq,
            "kind": via_kind.as_deref().unwrap_or(e.kind.as_str()),
            "decoded_from": decoded_from,
            "source": e.source,
            "env": e.env,
            "prev_hash": r.prev,
            "hash": r.hash,
            "agent": ctx.agent,
            "record_integrity": {
                "chain_uid": e.session,
                "prev_event": r.prev,
                "fingerprint": {"algorithm": "SHA-256", "algorithm_id": 3, "value": r.hash},
            },
        }}),
    );
    m
}

fn device(ctx: &Ctx) -> Value {
    json!({"type_id": 0, "type": "Unknown", "hostname": ctx.host})
}

fn actor(ctx: &Ctx, e: &flightlog_formats::Event) -> Value {
    json!({"app_name": ctx.agent, "session": {"uid": e.session}})
}

/// What OCSF says of a process: an exec's, or a shell tool call's.
#[derive(Default)]
struct Proc {
    cmd_line: String,
    name: String,
    exe: Option<String>,
    pid: Option<i64>,
    ppid: Option<i64>,
    cwd: Option<String>,
    call_id: Option<String>,
    exit: Option<i64>,
    failed: bool,
}

impl Proc {
    fn of(e: &flightlog_formats::Event) -> Proc {
        match e.payload() {
            Payload::Exec(x) => {
                let argv = x.argv();
                let name = argv
                    .first()
                    .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
                    .unwrap_or_default();
                Proc {
                    cmd_line: argv.join(" "),
                    name,
                    failed: x.exit.is_some_and(|c| c != 0) || x.signal.is_some(),
                    exe: x.exe,
                    pid: x.pid,
                    ppid: x.ppid,
                    cwd: x.cwd,
                    exit: x.exit,
                    call_id: None,
                }
            }
            Payload::ToolCall(t) => {
                let c = t.command.unwrap_or_default();
                let name = c.split_whitespace().next().unwrap_or("").to_string();
                Proc {
                    cmd_line: c,
                    name,
                    cwd: t.cwd,
                    call_id: t.call_id,
                    ..Proc::default()
                }
            }
            _ => Proc::default(),
        }
    }
}

fn process(ctx: &Ctx, r: &Record, from_tool: bool) -> Value {
    let e = &r.event;
    let Proc {
        cmd_line,
        name,
        exe,
        pid,
        ppid,
        cwd,
        call_id,
        exit,
        failed,
    } = Proc::of(e);
    let mut m = base(ctx, r, PROCESS, (1, "Launch"), 1);
    let mut p = Map::new();
    if let Some(pid) = pid {
        p.insert("pid".into(), json!(pid));
    } else {
        // No pid (a tool call, not a traced exec): the call id identifies the process.
        p.insert(
            "uid".into(),
            json!(call_id.unwrap_or_else(|| format!("{}:{}", e.session, e.seq))),
        );
    }
    p.insert("name".into(), json!(name));
    p.insert("cmd_line".into(), json!(cmd_line));
    if let Some(cwd) = cwd {
        p.insert("working_directory".into(), json!(cwd));
    }
    if let Some(exe) = exe {
        let fname = exe.rsplit('/').next().unwrap_or(&exe).to_string();
        p.insert(
            "file".into(),
            json!({"name": fname, "path": exe, "type_id": 1}),
        );
    }
    if let Some(ppid) = ppid {
        p.insert("parent_process".into(), json!({"pid": ppid}));
    }
    m.insert("process".into(), Value::Object(p));
    m.insert("actor".into(), actor(ctx, e));
    m.insert("device".into(), device(ctx));
    if let Some(c) = exit {
        m.insert("exit_code".into(), json!(c));
    }
    if !from_tool {
        m.insert("status_id".into(), json!(if failed { 2 } else { 1 }));
        m.insert(
            "status".into(),
            json!(if failed { "Failure" } else { "Success" }),
        );
    }
    Value::Object(m)
}

/// What OCSF says of a file event: a change's, or a read's.
#[derive(Default)]
struct FileFacts {
    op: Option<String>,
    path: Option<String>,
    from: Option<String>,
    diff: Option<String>,
    sha256: Option<String>,
    size: Option<u64>,
}

impl FileFacts {
    fn of(e: &flightlog_formats::Event) -> FileFacts {
        match e.payload() {
            Payload::FileChange(f) => FileFacts {
                op: f.op,
                path: f.path,
                from: f.from,
                diff: f.diff,
                sha256: f.sha256_after.or(f.sha256_before),
                size: f.size,
            },
            Payload::FileRead(f) => FileFacts {
                path: f.path,
                ..FileFacts::default()
            },
            _ => FileFacts::default(),
        }
    }
}

fn file(ctx: &Ctx, r: &Record) -> Value {
    let e = &r.event;
    let d = FileFacts::of(e);
    let (aid, aname) = if e.kind == Kind::FileRead {
        (2, "Read")
    } else {
        match d.op.as_deref().unwrap_or("") {
            "create" => (1, "Create"),
            "delete" => (4, "Delete"),
            "rename" => (5, "Rename"),
            _ => (3, "Update"),
        }
    };
    let mut m = base(ctx, r, FILE_SYSTEM, (aid, aname), 1);
    let path = d.path.unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    let mut f = json!({"name": name, "path": path, "type_id": 1, "type": "Regular File"});
    if let Some(h) = d.sha256 {
        f["hashes"] = json!([{"algorithm_id": 3, "algorithm": "SHA-256", "value": h}]);
    }
    if let Some(size) = d.size {
        f["size"] = json!(size);
    }
    m.insert("file".into(), f);
    if let Some(from) = d.from {
        let n = from.rsplit('/').next().unwrap_or(&from).to_string();
        m.insert("file_result".into(), m["file"].clone());
        m.insert(
            "file".into(),
            json!({"name": n, "path": from, "type_id": 1}),
        );
    }
    if let Some(diff) = d.diff {
        m.insert("file_diff".into(), json!(diff));
    }
    m.insert("actor".into(), actor(ctx, e));
    m.insert("device".into(), device(ctx));
    Value::Object(m)
}

pub(crate) fn url_parts(url: &str) -> (Option<String>, Option<String>, Option<u16>, String) {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s.to_string()), r),
        None => (None, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), p.parse().ok())
        }
        _ => (authority.to_string(), None),
    };
    let port = port.or(match scheme.as_deref() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    });
    (scheme, Some(host).filter(|h| !h.is_empty()), port, path)
}

fn http(ctx: &Ctx, r: &Record) -> Value {
    let e = &r.event;
    let d = e.api_call().unwrap_or_default();
    let method = d.method.as_deref().unwrap_or("").to_ascii_uppercase();
    let (aid, aname) = match method.as_str() {
        "CONNECT" => (1, "Connect"),
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        "TRACE" => (8, "Trace"),
        "PATCH" => (9, "Patch"),
        _ => (99, "Other"),
    };
    let mut m = base(ctx, r, HTTP, (aid, aname), 1);
    let url = d.url.clone().unwrap_or_default();
    let (scheme, host, port, path) = url_parts(&url);
    let host = d.host.clone().or(host).unwrap_or_default();
    let mut u = json!({"hostname": host, "path": d.path.clone().unwrap_or(path)});
    if !url.is_empty() {
        u["url_string"] = json!(url);
    }
    if let Some(sc) = scheme {
        u["scheme"] = json!(sc);
    }
    if let Some(p) = port {
        u["port"] = json!(p);
    }
    // A response whose request is not in the session names no method (the enum has no "").
    let mut req = if method.is_empty() {
        json!({"url": u})
    } else {
        json!({"http_method": method, "url": u})
    };
    if let Some(h) = &d.request_headers {
        req["http_headers"] = Value::Array(
            h.iter()
                .map(|(k, v)| json!({"name": k, "value": v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())}))
                .collect(),
        );
        if let Some(ua) = d.header("user-agent") {
            req["user_agent"] = json!(ua);
        }
    }
    if !method.is_empty() || !url.is_empty() || !host.is_empty() {
        m.insert("http_request".into(), req);
    }
    let duration = d.duration_ms.and_then(|ms| i64::try_from(ms).ok());
    if let Some(st) = d.status {
        let mut resp = json!({"code": st});
        if let Some(ms) = duration {
            resp["latency"] = json!(ms);
        }
        m.insert("http_response".into(), resp);
        m.insert("status_id".into(), json!(if st < 400 { 1 } else { 2 }));
        m.insert(
            "status".into(),
            json!(if st < 400 { "Success" } else { "Failure" }),
        );
    }
    if let Some(ms) = duration {
        let start = epoch_ms(e);
        m.insert("duration".into(), json!(ms));
        m.insert("start_time".into(), json!(start));
        m.insert("end_time".into(), json!(start + ms));
    }
    m.insert("src_endpoint".into(), json!({"hostname": ctx.host}));
    let mut dst = json!({"hostname": host});
    if let Some(p) = port {
        dst["port"] = json!(p);
    }
    m.insert("dst_endpoint".into(), dst);
    Value::Object(m)
}

/// API Activity for a decoded operation (GraphQL root field or REST verb); None for a bare
/// CONNECT or an unknown method.
fn api(ctx: &Ctx, r: &Record) -> Option<Value> {
    let e = &r.event;
    let d = e.api_call().unwrap_or_default();
    let method = d.method.as_deref().unwrap_or("").to_ascii_uppercase();
    let gql = d.graphql.as_ref();
    let (operation, verb_src) = match gql {
        Some(g) => {
            let kind = g.operation_type.as_deref().unwrap_or("query").to_string();
            let op = d
                .root_fields()
                .first()
                .cloned()
                .or_else(|| g.operation_name.clone())
                .unwrap_or_else(|| kind.clone());
            (
                op.clone(),
                if kind == "query" {
                    "read".to_string()
                } else {
                    op.to_ascii_lowercase()
                },
            )
        }
        None => {
            if matches!(method.as_str(), "" | "CONNECT") {
                return None;
            }
            let path = d.path.as_deref().unwrap_or("/").to_string();
            (format!("{method} {path}"), method.to_ascii_lowercase())
        }
    };
    let (aid, aname) = if verb_src.contains("delete")
        || verb_src.contains("destroy")
        || verb_src.contains("remove")
        || verb_src == "delete"
    {
        (4, "Delete")
    } else if verb_src.contains("create") || verb_src == "post" {
        (1, "Create")
    } else if verb_src.contains("update")
        || verb_src == "put"
        || verb_src == "patch"
        || verb_src.contains("upsert")
    {
        (3, "Update")
    } else if verb_src == "read" || verb_src == "get" || verb_src == "head" {
        (2, "Read")
    } else {
        (99, "Other")
    };
    let sev = if aid == 4 { 3 } else { 1 };
    let mut m = base(ctx, r, API, (aid, aname), sev);
    let (_, host, port, _) = url_parts(d.url.as_deref().unwrap_or(""));
    let host = d.host.clone().or(host).unwrap_or_default();
    let mut api = json!({"operation": operation, "service": {"name": host}, "request": {"uid": format!("{}:{}", e.session, e.seq)}});
    if let Some(st) = d.status {
        api["response"] = json!({"code": st});
    }
    m.insert("api".into(), api);
    m.insert("actor".into(), actor(ctx, e));
    m.insert("src_endpoint".into(), json!({"hostname": ctx.host}));
    let mut dst = json!({"hostname": host});
    if let Some(p) = port {
        dst["port"] = json!(p);
    }
    m.insert("dst_endpoint".into(), dst);
    if let Some(vars) = gql
        .and_then(|g| g.variables.as_ref())
        .and_then(Value::as_object)
    {
        let res: Vec<Value> = vars
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|id| json!({"uid": id, "type": k})))
            .collect();
        if !res.is_empty() {
            m.insert("resources".into(), Value::Array(res));
        }
    }
    Some(Value::Object(m))
}

fn detection(ctx: &Ctx, r: &Record, f: &Finding) -> Value {
    let e = &r.event;
    let mut m = base(ctx, r, DETECTION, (1, "Create"), f.ocsf_severity());
    let kind = match f.kind {
        FindingKind::Crossing => "Boundary Crossing",
        FindingKind::Destructive => "Destructive Action",
    };
    m.insert("message".into(), json!(f.title));
    m.insert(
        "finding_info".into(),
        json!({
            "uid": format!("{}:{}:{}", e.session, e.seq, f.rule),
            "title": f.title,
            "desc": f.evidence.join("; "),
            "types": [kind],
            "analytic": {"name": f.rule, "uid": f.rule, "type_id": 1, "type": "Rule"},
            "created_time": epoch_ms(e),
            "related_events": [{"uid": format!("{}:{}", e.session, e.seq), "type": e.kind.as_str()}],
        }),
    );
    m.insert("status_id".into(), json!(1));
    m.insert("status".into(), json!("New"));
    m.insert("is_alert".into(), json!(true));
    m.insert(
        "evidences".into(),
        json!([{"data": {"evidence": f.evidence, "from_env": f.from_env, "to_env": f.to_env, "event_summary": summary(e)}}]),
    );
    m.insert("actor".into(), actor(ctx, e));
    m.insert("device".into(), device(ctx));
    Value::Object(m)
}
