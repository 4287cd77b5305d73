//! OTLP/JSON traces following the OpenTelemetry GenAI conventions (reference/formats.md 7).
//!
//! One trace per session: an `invoke_agent {agent}` root span (`gen_ai.conversation.id` = the
//! session), an `execute_tool {tool}` span per tool call (from the call to its result), and
//! `exec` and HTTP client spans beneath the tool call that was running when they happened (an
//! API call decoded from an exec sits under that exec). Crossings and destructive actions are
//! span events. Ids are derived from the session and seq, so an export is reproducible.

use std::collections::HashMap;

use flightlog_formats::progress::{NoProgress, Ticker};
use flightlog_formats::{Event, Payload};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{FindingsBySeq, Record, epoch_nanos, summary};
use crate::findings::Finding;

const SPAN_KIND_INTERNAL: u8 = 1;
const SPAN_KIND_CLIENT: u8 = 3;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

/// The trace id of a session (32 hex).
pub fn trace_id(session: &str) -> String {
    hex::encode(&Sha256::digest(format!("flightlog-trace:{session}"))[..16])
}

/// The span id of an event (16 hex); seq None is the session's root span.
pub fn span_id(session: &str, seq: Option<u64>) -> String {
    let label = match seq {
        Some(s) => format!("flightlog-span:{session}:{s}"),
        None => format!("flightlog-span:{session}:root"),
    };
    hex::encode(&Sha256::digest(label)[..8])
}

/// The attribute of a field that is set (none for one that is not).
fn opt_attr<T: serde::Serialize>(k: &str, v: &Option<T>) -> Option<Value> {
    v.as_ref().map(|v| attr(k, json!(v)))
}

fn attr(k: &str, v: Value) -> Value {
    let any = match v {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n.as_f64()}),
        Value::Array(a) => {
            json!({"arrayValue": {"values": a.into_iter().map(|x| match x { Value::String(s) => json!({"stringValue": s}), other => json!({"stringValue": other.to_string()}) }).collect::<Vec<_>>()}})
        }
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": k, "value": any})
}

/// `gen_ai.provider.name`: from the agent, else from the model's name; `_OTHER` (the
/// convention's value for a provider it does not list) when neither tells.
fn provider(agent: &str, model: Option<&str>) -> &'static str {
    let model = model.unwrap_or("").to_ascii_lowercase();
    match agent {
        "claude-code" => "anthropic",
        "codex" => "openai",
        "gemini" | "gemini-cli" => "gcp.gemini",
        _ if model.starts_with("claude") => "anthropic",
        _ if model.starts_with("gpt") || model.starts_with("o1") || model.starts_with("o3") => {
            "openai"
        }
        _ if model.starts_with("gemini") => "gcp.gemini",
        _ => "_OTHER",
    }
}

/// Nanoseconds (decimal string) `ms` milliseconds after `start` (also a decimal string).
fn after(start: &str, ms: Option<i64>) -> Option<String> {
    Some((start.parse::<i64>().ok()? + ms? * 1_000_000).to_string())
}

struct Span {
    seq: Option<u64>,
    parent: Option<u64>,
    name: String,
    kind: u8,
    start: String,
    end: String,
    attrs: Vec<Value>,
    error: Option<String>,
    events: Vec<Value>,
}

/// Builds the OTLP/JSON `TracesData` of a session.
pub fn traces(records: &[Record], findings: &[Finding]) -> Value {
    traces_ticking(records, findings, &mut Ticker::new(&mut NoProgress, 0, 0))
}

pub(super) fn traces_ticking(
    records: &[Record],
    findings: &[Finding],
    ticker: &mut Ticker<'_>,
) -> Value {
    let (records, findings) = super::exchange::join_records(records, findings);
    let (records, findings) = (records.as_slice(), findings.as_slice());
    let Some(first) = records.first() else {
        return json!({"resourceSpans": []});
    };
    let session = first.event.session.clone();
    let agent = records
        .iter()
        .find_map(|r| r.event.session_start())
        .and_then(|s| s.agent)
        .unwrap_or_else(|| "agent".into());
    let last = records.last().map(|r| &r.event).unwrap_or(&first.event);
    let mut model: Option<String> = None;
    let (mut tin, mut tout, mut tcr, mut tcc) = (0u64, 0u64, 0u64, 0u64);
    let mut spans: Vec<Span> = Vec::new();
    let mut tool_index: HashMap<u64, usize> = HashMap::new();
    let mut open_tools: Vec<u64> = Vec::new();
    let mut exec_index: HashMap<u64, usize> = HashMap::new();
    // The last span of each seq, and the first record of each seq that has findings.
    let mut span_of: HashMap<u64, usize> = HashMap::new();
    let mut first_with_findings: HashMap<u64, &Record> = HashMap::new();
    let by_seq = FindingsBySeq::new(findings);
    for r in records {
        ticker.add(1);
        let e = &r.event;
        let payload = e.payload();
        let (m, usage) = match &payload {
            Payload::ToolCall(t) => (t.model.as_deref(), t.usage.as_ref()),
            Payload::Prompt(t) | Payload::Message(t) => (t.model.as_deref(), t.usage.as_ref()),
            Payload::SessionStart(s) => (s.model.as_deref(), None),
            _ => (None, None),
        };
        if let Some(m) = m {
            model.get_or_insert_with(|| m.to_string());
        }
        if let Some(u) = usage {
            tin += u.input_tokens.unwrap_or(0);
            tout += u.output_tokens.unwrap_or(0);
            tcr += u.cache_read_input_tokens.unwrap_or(0);
            tcc += u.cache_creation_input_tokens.unwrap_or(0);
        }
        let base_attrs = |e: &Event, r: &Record| {
            vec![
                attr("flightlog.seq", json!(e.seq)),
                attr("flightlog.hash", json!(r.hash)),
                attr("flightlog.prev_hash", json!(r.prev)),
                attr("flightlog.source", json!(e.source)),
            ]
        };
        let containing = |open: &Vec<u64>| open.last().copied();
        match payload {
            Payload::ToolCall(d) => {
                let tool = d.tool.as_deref().unwrap_or("tool").to_string();
                let mut attrs = vec![
                    attr("gen_ai.operation.name", json!("execute_tool")),
                    attr("gen_ai.tool.name", json!(tool)),
                    attr("gen_ai.tool.type", json!("function")),
                ];
                attrs.extend(opt_attr("gen_ai.tool.call.id", &d.call_id));
                attrs.extend(opt_attr("process.command_line", &d.command));
                attrs.extend(base_attrs(e, r));
                // A subagent's call sits under the parent's Task call.
                let parent = d
                    .subagent
                    .and_then(|s| s.parent_call_seq)
                    .filter(|p| tool_index.contains_key(p));
                tool_index.insert(e.seq, spans.len());
                span_of.insert(e.seq, spans.len());
                open_tools.push(e.seq);
                spans.push(Span {
                    seq: Some(e.seq),
                    parent,
                    name: format!("execute_tool {tool}"),
                    kind: SPAN_KIND_INTERNAL,
                    start: epoch_nanos(e),
                    end: epoch_nanos(e),
                    attrs,
                    error: None,
                    events: Vec::new(),
                });
            }
            Payload::ToolResult(d) => {
                if let Some(cs) = d.call_seq
                    && let Some(&i) = tool_index.get(&cs)
                {
                    spans[i].end = epoch_nanos(e);
                    if d.is_error == Some(true) {
                        spans[i].error = Some("tool_error".into());
                        spans[i].attrs.push(attr("error.type", json!("tool_error")));
                    }
                    spans[i]
                        .attrs
                        .push(attr("flightlog.result_seq", json!(e.seq)));
                    open_tools.retain(|s| *s != cs);
                }
            }
            Payload::Exec(d) => {
                let argv = d.argv();
                let name = argv
                    .first()
                    .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
                    .unwrap_or_else(|| "exec".into());
                let mut attrs = vec![
                    attr("process.command_line", json!(argv.join(" "))),
                    attr("process.command", json!(name)),
                ];
                if let Some(pid) = d.pid {
                    attrs.push(attr("process.pid", json!(pid)));
                }
                let exit = d.exit;
                if let Some(c) = exit {
                    attrs.push(attr("process.exit.code", json!(c)));
                }
                attrs.extend(base_attrs(e, r));
                let start = d
                    .start_ts
                    .as_deref()
                    .and_then(flightlog_formats::event::parse_ts)
                    .and_then(|t| t.timestamp_nanos_opt())
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| epoch_nanos(e));
                // The exec's end (joined from its follow-up) ends the span.
                let end = after(&start, d.duration_ms.and_then(|ms| i64::try_from(ms).ok()))
                    .unwrap_or_else(|| epoch_nanos(e));
                attrs.extend(opt_attr("flightlog.signal", &d.signal));
                exec_index.insert(e.seq, spans.len());
                span_of.insert(e.seq, spans.len());
                spans.push(Span {
                    seq: Some(e.seq),
                    parent: containing(&open_tools),
                    name: format!("exec {name}"),
                    kind: SPAN_KIND_INTERNAL,
                    start,
                    end,
                    attrs,
                    error: exit.filter(|c| *c != 0).map(|c| format!("exit {c}")),
                    events: Vec::new(),
                });
            }
            Payload::ApiCall(d) => {
                // HTTP client span conventions: method, url.full, server.address and
                // server.port are required; a method the convention does not know is _OTHER.
                let raw_method = d.method.as_deref().unwrap_or("").to_ascii_uppercase();
                let known = [
                    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
                ]
                .contains(&raw_method.as_str());
                let method = if known {
                    raw_method.clone()
                } else {
                    "_OTHER".into()
                };
                let mut attrs = vec![attr("http.request.method", json!(method))];
                if !known && !raw_method.is_empty() {
                    attrs.push(attr("http.request.method_original", json!(raw_method)));
                }
                let url = d.url.as_deref().unwrap_or("");
                let (_, url_host, url_port, _) = super::ocsf::url_parts(url);
                if !url.is_empty() {
                    attrs.push(attr("url.full", json!(url)));
                }
                if let Some(h) = d.host.clone().or(url_host) {
                    attrs.push(attr("server.address", json!(h)));
                }
                let port = d.port.or(url_port.map(u64::from));
                if let Some(p) = port {
                    attrs.push(attr("server.port", json!(p)));
                }
                let status = d.status;
                if let Some(st) = status {
                    attrs.push(attr("http.response.status_code", json!(st)));
                    if st >= 400 {
                        attrs.push(attr("error.type", json!(st.to_string())));
                    }
                }
                if let Some(g) = &d.graphql {
                    attrs.extend(opt_attr("graphql.operation.type", &g.operation_type));
                    attrs.extend(opt_attr("graphql.operation.name", &g.operation_name));
                    attrs.extend(opt_attr("flightlog.graphql.root_fields", &g.root_fields));
                }
                attrs.extend(base_attrs(e, r));
                let parent = d
                    .via_seq
                    .filter(|v| exec_index.contains_key(v))
                    .or_else(|| containing(&open_tools));
                span_of.insert(e.seq, spans.len());
                let start = epoch_nanos(e);
                // The response (joined) ends the span: its duration, else its time.
                let end = after(&start, d.duration_ms.and_then(|ms| i64::try_from(ms).ok()))
                    .or_else(|| {
                        d.response_ts
                            .as_deref()
                            .and_then(flightlog_formats::event::parse_ts)
                            .and_then(|t| t.timestamp_nanos_opt())
                            .map(|n| n.to_string())
                    })
                    .unwrap_or_else(|| start.clone());
                spans.push(Span {
                    seq: Some(e.seq),
                    parent,
                    name: if known { method } else { "HTTP".into() },
                    kind: SPAN_KIND_CLIENT,
                    start,
                    end,
                    attrs,
                    // Client spans: 4xx and 5xx are errors (HTTP span conventions).
                    error: status.filter(|s| *s >= 400).map(|s| s.to_string()),
                    events: Vec::new(),
                });
            }
            _ => {}
        }
        // Findings become span events on the event's own span (or the root).
        let at = by_seq.at(e.seq);
        if !at.is_empty() {
            first_with_findings.entry(e.seq).or_insert(r);
        }
        for f in at {
            let ev = json!({
                "timeUnixNano": epoch_nanos(e),
                "name": format!("flightlog.{}", match f.kind { crate::findings::FindingKind::Crossing => "boundary_crossing", crate::findings::FindingKind::Destructive => "destructive_action" }),
                "attributes": [
                    attr("flightlog.seq", json!(e.seq)),
                    attr("flightlog.rule", json!(f.rule)),
                    attr("flightlog.severity", json!(f.severity)),
                    attr("flightlog.title", json!(f.title)),
                    attr("flightlog.evidence", json!(f.evidence)),
                    attr("flightlog.summary", json!(summary(e))),
                ],
            });
            match span_of.get(&e.seq) {
                Some(&i) => spans[i].events.push(ev),
                None => {
                    let first = first_with_findings.get(&e.seq).copied().unwrap_or(r);
                    span_of.insert(e.seq, spans.len());
                    spans.push(Span {
                        seq: Some(e.seq),
                        parent: containing(&open_tools),
                        name: format!("flightlog {}", e.kind.as_str()),
                        kind: SPAN_KIND_INTERNAL,
                        start: epoch_nanos(e),
                        end: epoch_nanos(e),
                        attrs: base_attrs(e, first),
                        error: None,
                        events: vec![ev],
                    })
                }
            }
        }
    }
    let tid = trace_id(&session);
    let root_id = span_id(&session, None);
    let mut root_attrs = vec![
        attr("gen_ai.operation.name", json!("invoke_agent")),
        attr(
            "gen_ai.provider.name",
            json!(provider(&agent, model.as_deref())),
        ),
        attr("gen_ai.agent.name", json!(agent)),
        attr("gen_ai.agent.id", json!(session)),
        attr("gen_ai.conversation.id", json!(session)),
        attr("flightlog.session", json!(session)),
        attr("flightlog.events", json!(records.len())),
        attr(
            "flightlog.head",
            json!(records.last().map(|r| r.hash.clone()).unwrap_or_default()),
        ),
        attr("flightlog.findings", json!(findings.len())),
    ];
    root_attrs.extend(opt_attr("gen_ai.request.model", &model));
    if tin + tout + tcr + tcc > 0 {
        root_attrs.push(attr("gen_ai.usage.input_tokens", json!(tin)));
        root_attrs.push(attr("gen_ai.usage.output_tokens", json!(tout)));
        root_attrs.push(attr("gen_ai.usage.cache_read.input_tokens", json!(tcr)));
        root_attrs.push(attr("gen_ai.usage.cache_creation.input_tokens", json!(tcc)));
    }
    let mut out_spans = vec![json!({
        "traceId": tid,
        "spanId": root_id,
        "name": format!("invoke_agent {agent}"),
        "kind": SPAN_KIND_INTERNAL,
        "startTimeUnixNano": epoch_nanos(&first.event),
        "endTimeUnixNano": epoch_nanos(last),
        "attributes": root_attrs,
        "status": {"code": STATUS_OK},
    })];
    for sp in spans {
        let parent = match sp.parent {
            Some(p) => span_id(&session, Some(p)),
            None => root_id.clone(),
        };
        let status = match &sp.error {
            Some(m) => json!({"code": STATUS_ERROR, "message": m}),
            None => json!({"code": STATUS_OK}),
        };
        out_spans.push(json!({
            "traceId": tid,
            "spanId": span_id(&session, sp.seq),
            "parentSpanId": parent,
            "name": sp.name,
            "kind": sp.kind,
            "startTimeUnixNano": sp.start,
            "endTimeUnixNano": sp.end,
            "attributes": sp.attrs,
            "events": sp.events,
            "status": status,
        }));
    }
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            attr("service.name", json!("flightlog")),
            attr("service.version", json!(crate::VERSION)),
            attr("flightlog.session", json!(session)),
        ]},
        "scopeSpans": [{
            "scope": {"name": "flightlog", "version": crate::VERSION},
            "spans": out_spans,
        }],
    }]})
}

/// How many spans a trace built by [`traces`] holds.
pub fn span_count(trace: &Value) -> u64 {
    trace
        .pointer("/resourceSpans/0/scopeSpans/0/spans")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0) as u64
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use flightlog_formats::Kind;
    use serde_json::{Value, json};

    use super::traces;
    use crate::export::Record;
    use crate::export::test_data::{finding, record};
    use crate::findings::Finding;

    fn seq_attr(span: &Value) -> Option<u64> {
        span["attributes"]
            .as_array()?
            .iter()
            .find(|a| a["key"] == "flightlog.seq")?["value"]["intValue"]
            .as_str()?
            .parse()
            .ok()
    }

    #[test]
    fn findings_become_events_of_their_own_event_span() {
        // Execs (which have a span) and terminal output (which has none), alternating; findings
        // on every third event, two on every ninth, given out of order.
        let records: Vec<Record> = (0..600)
            .map(|seq| match seq % 2 {
                0 => record(seq, Kind::Exec, json!({"argv": ["rm", "-rf", "x"]})),
                _ => record(seq, Kind::Terminal, json!({"stream": "o", "data": "x"})),
            })
            .collect();
        let mut findings: Vec<Finding> = Vec::new();
        for seq in (0..600).rev().filter(|s| s % 3 == 0) {
            let n = if seq % 9 == 0 { 2 } else { 1 };
            for _ in 0..n {
                findings.push(finding(seq, findings.len()));
            }
        }
        let v = traces(&records, &findings);
        let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .expect("spans");
        // The root span, one per exec, one per terminal event with findings.
        let with_findings_no_span = (0..600).filter(|s| s % 2 == 1 && s % 3 == 0).count();
        assert_eq!(spans.len(), 1 + 300 + with_findings_no_span);
        let mut events_at: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for sp in &spans[1..] {
            let seq = seq_attr(sp).expect("flightlog.seq");
            let titles = sp["events"].as_array().expect("events").iter().map(|e| {
                e["attributes"]
                    .as_array()
                    .and_then(|a| a.iter().find(|a| a["key"] == "flightlog.title"))
                    .and_then(|a| a["value"]["stringValue"].as_str())
                    .unwrap_or("")
                    .to_string()
            });
            assert!(
                events_at.insert(seq, titles.collect()).is_none(),
                "two spans for seq {seq}"
            );
        }
        for seq in 0..600 {
            let want: Vec<String> = findings
                .iter()
                .filter(|f| f.seq == seq)
                .map(|f| f.title.clone())
                .collect();
            let got = events_at.get(&seq).cloned().unwrap_or_default();
            assert_eq!(got, want, "seq {seq}");
        }
    }
}
