//! Turns one hook payload into events, per agent protocol.

use chrono::{DateTime, Utc};
use flightlog_formats::{Kind, NewEvent};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Agent, MAX_STRING};

/// The events of one payload and how they relate to others.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The agent's name for the hook event (`PreToolUse`, `beforeShellExecution`, ...).
    pub hook_event: String,
    /// The agent's own session id.
    pub external_session: Option<String>,
    pub events: Vec<NewEvent>,
    /// The tool-call id that joins pre and post.
    pub call_id: Option<String>,
    /// True for a payload sent before a tool runs (the guard may deny it).
    pub is_pre: bool,
    /// True for the agent's session end.
    pub ends_session: bool,
}

/// Normalizes a payload; None if it carries no hook event name at all.
pub fn normalize(agent: Agent, payload: &Value, now: DateTime<Utc>) -> Option<Normalized> {
    let obj = payload.as_object()?;
    if agent == Agent::Codex && s(obj, "type") == Some("agent-turn-complete") {
        return Some(codex_notify(obj, now));
    }
    let hook = obj.get("hook_event_name")?.as_str()?;
    Some(match agent {
        Agent::ClaudeCode | Agent::Codex => claude(agent, obj, hook, now),
        Agent::Gemini => gemini(obj, hook, now),
        Agent::Cursor => cursor(obj, hook, now),
    })
}

/// Codex's legacy `notify` program: one `agent-turn-complete` JSON (kebab-case keys), passed as
/// the last argument. It carries the turn's input and the agent's last message.
fn codex_notify(o: &Map<String, Value>, now: DateTime<Utc>) -> Normalized {
    let agent = Agent::Codex;
    let mut events = Vec::new();
    if let Some(inputs) = o.get("input-messages").and_then(Value::as_array) {
        for text in inputs {
            events.push(ev(Kind::Prompt, agent, now, json!({
                "agent": "codex", "hook": "agent-turn-complete", "role": "user", "text": bounded(text),
                "turn_id": o.get("turn-id"),
            })));
        }
    }
    events.push(ev(
        Kind::Message,
        agent,
        now,
        json!({
            "agent": "codex", "hook": "agent-turn-complete", "role": "assistant",
            "text": o.get("last-assistant-message").map(bounded),
            "payload": rest(o, &["input-messages", "last-assistant-message"]),
        }),
    ));
    Normalized {
        hook_event: "agent-turn-complete".into(),
        external_session: s(o, "thread-id").map(str::to_string),
        events,
        call_id: None,
        is_pre: false,
        ends_session: false,
    }
}

/// The top-level fields of `payload` whose value does not survive into the events
/// [`normalize`] makes: nothing an agent sends may be dropped silently. A field survives when
/// its (bounded) value is somewhere in the events' data: under the same key, or, for a value
/// that cannot match by chance (an object, an array, a string of 4 bytes or more), under any
/// key (fields are lifted and renamed, e.g. `tool_input` to `input`). Empty for a payload
/// without an event name (it is recorded raw, whole).
pub fn dropped_fields(agent: Agent, payload: &Value) -> Vec<String> {
    let Some(n) = normalize(agent, payload, DateTime::<Utc>::UNIX_EPOCH) else {
        return Vec::new();
    };
    let Some(obj) = payload.as_object() else {
        return Vec::new();
    };
    let mut keyed: Vec<(&str, &Value)> = Vec::new();
    let mut any: Vec<&Value> = Vec::new();
    fn walk<'a>(v: &'a Value, keyed: &mut Vec<(&'a str, &'a Value)>, any: &mut Vec<&'a Value>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    keyed.push((k, x));
                    any.push(x);
                    walk(x, keyed, any);
                }
            }
            Value::Array(a) => {
                for x in a {
                    any.push(x);
                    walk(x, keyed, any);
                }
            }
            _ => {}
        }
    }
    for e in &n.events {
        walk(&e.data, &mut keyed, &mut any);
    }
    let distinctive = |v: &Value| match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => s.len() >= 4,
        _ => false,
    };
    // An object survives whole, or field by field (a payload's object may be split between
    // lifted fields and the rest).
    fn survives(
        k: &str,
        v: &Value,
        keyed: &[(&str, &Value)],
        any: &[&Value],
        distinctive: &dyn Fn(&Value) -> bool,
    ) -> bool {
        let b = bounded(v);
        keyed.iter().any(|(k2, v2)| *k2 == k && **v2 == b)
            || distinctive(&b) && any.iter().any(|v2| **v2 == b)
            || matches!(v, Value::Object(m) if !m.is_empty()
                && m.iter().all(|(k2, v2)| survives(k2, v2, keyed, any, distinctive)))
            || matches!(v, Value::Array(a) if !a.is_empty()
                && a.iter().all(|x| survives(k, x, keyed, any, distinctive)))
            // A JSON document in a string (Cursor's MCP `tool_input`) is kept decoded.
            || matches!(v, Value::String(t) if t.starts_with(['{', '[']) && serde_json::from_str::<Value>(t)
                .is_ok_and(|d| d != *v && survives(k, &d, keyed, any, distinctive)))
    }
    obj.iter()
        .filter(|(k, v)| !survives(k, v, &keyed, &any, &distinctive))
        .map(|(k, _)| k.clone())
        .collect()
}

fn s<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

/// The payload minus the fields that were lifted into the event, with long strings bounded.
fn rest(o: &Map<String, Value>, lifted: &[&str]) -> Value {
    let mut m = Map::new();
    for (k, v) in o {
        if !lifted.contains(&k.as_str()) {
            m.insert(k.clone(), bounded(v));
        }
    }
    Value::Object(m)
}

/// Copies a value with every string longer than [`MAX_STRING`] cut, noting length and hash.
/// Where to cut text to at most `max` bytes without cutting a token in two (a secret's first
/// half matches no redaction rule): back off to the last delimiter within 4 KiB, dropping the
/// partial word, and never inside a UTF-8 character.
pub fn safe_cut(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    let mut cut = max;
    while cut > 0 && (bytes[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    let from = cut.saturating_sub(4096);
    if let Some(i) = bytes[from..cut]
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || b"\"'`,;&|<>()[]{}".contains(b))
    {
        cut = from + i + 1;
    }
    cut
}

pub fn bounded(v: &Value) -> Value {
    match v {
        Value::String(st) if st.len() > MAX_STRING => {
            let cut = safe_cut(st.as_bytes(), MAX_STRING);
            Value::String(format!(
                "{}…[truncated: {} bytes in all, sha256 {}]",
                &st[..cut],
                st.len(),
                hex::encode(Sha256::digest(st.as_bytes()))
            ))
        }
        Value::Array(a) => Value::Array(a.iter().map(bounded).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), bounded(v))).collect()),
        other => other.clone(),
    }
}

/// An event's data: the agent and hook event name, then the fields of `extra`.
fn event_data(agent: Agent, hook: &str, extra: Value) -> Value {
    let mut d = json!({"agent": agent.name(), "hook": hook});
    if let (Some(m), Value::Object(x)) = (d.as_object_mut(), extra) {
        m.extend(x);
    }
    d
}

fn ev(kind: Kind, agent: Agent, now: DateTime<Utc>, data: Value) -> NewEvent {
    NewEvent::new(now, kind, agent.source(), data)
}

fn shell_command(tool: &str, input: &Value) -> Option<String> {
    let is_shell = matches!(
        tool,
        "Bash"
            | "PowerShell"
            | "Shell"
            | "shell"
            | "run_shell_command"
            | "exec_command"
            | "local_shell"
    );
    let cmd = input.get("command").or_else(|| input.get("cmd"));
    match cmd {
        Some(Value::String(c)) if is_shell || tool.is_empty() => Some(c.clone()),
        Some(Value::Array(parts)) if is_shell => Some(
            parts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

fn synthetic_call_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    format!("{prefix}-{}", &hex::encode(h.finalize())[..16])
}

/// One payload's events as an agent's normalizer builds them, and how they relate to others.
struct Draft<'a> {
    agent: Agent,
    hook: &'a str,
    now: DateTime<Utc>,
    events: Vec<NewEvent>,
    call_id: Option<String>,
    is_pre: bool,
    ends: bool,
}

impl<'a> Draft<'a> {
    fn new(agent: Agent, hook: &'a str, now: DateTime<Utc>) -> Self {
        Draft {
            agent,
            hook,
            now,
            events: Vec::new(),
            call_id: None,
            is_pre: false,
            ends: false,
        }
    }

    /// Adds an event whose data is the agent, the hook event name, then the fields of `extra`.
    fn push(&mut self, kind: Kind, extra: Value) {
        let data = event_data(self.agent, self.hook, extra);
        self.push_data(kind, data);
    }

    /// Adds an event with exactly `data`.
    fn push_data(&mut self, kind: Kind, data: Value) {
        self.events.push(ev(kind, self.agent, self.now, data));
    }

    /// A tool call: `extra`, then the shell command when the tool runs one.
    fn tool_call(&mut self, extra: Value, command: Option<String>) {
        self.is_pre = true;
        self.push(Kind::ToolCall, with_command(extra, command));
    }

    /// The agent's session end (`reason`, no exit code).
    fn session_end(&mut self, o: &Map<String, Value>) {
        self.ends = true;
        self.push(
            Kind::SessionEnd,
            json!({"reason": o.get("reason"), "exit": null, "payload": rest(o, &[])}),
        );
    }

    /// A hook event with nothing to lift: kept whole as a note.
    fn note(&mut self, o: &Map<String, Value>) {
        self.push(Kind::Note, json!({"payload": rest(o, &[])}));
    }

    fn finish(self, external_session: Option<String>) -> Normalized {
        Normalized {
            hook_event: self.hook.to_string(),
            external_session,
            events: self.events,
            call_id: self.call_id,
            is_pre: self.is_pre,
            ends_session: self.ends,
        }
    }
}

/// `data` with the shell command, when there is one, as its last field.
fn with_command(mut data: Value, command: Option<String>) -> Value {
    if let Some(c) = command {
        data["command"] = json!(c);
    }
    data
}

fn claude(agent: Agent, o: &Map<String, Value>, hook: &str, now: DateTime<Utc>) -> Normalized {
    let external = s(o, "session_id").map(str::to_string);
    let tool = s(o, "tool_name").unwrap_or("").to_string();
    let call_id = s(o, "tool_use_id").map(str::to_string);
    let input = o.get("tool_input").map(bounded).unwrap_or(Value::Null);
    let mut d = Draft::new(agent, hook, now);
    d.call_id = call_id.clone();
    match hook {
        "PreToolUse" => d.tool_call(
            json!({
                "tool": tool, "call_id": call_id, "input": input,
                "payload": rest(o, &["tool_input"]),
            }),
            shell_command(&tool, &input),
        ),
        "PostToolUse" | "PostToolUseFailure" => {
            let failed = hook == "PostToolUseFailure";
            let output = o.get("tool_response").map(bounded).unwrap_or(Value::Null);
            let error = s(o, "error").map(str::to_string);
            let resp_err = output
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || output
                    .get("interrupted")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            let data = json!({
                "tool": tool, "call_id": call_id, "input": input, "output": output,
                "error": error, "is_error": failed || resp_err,
                "duration_ms": o.get("duration_ms"),
                "payload": rest(o, &["tool_input", "tool_response"]),
            });
            d.push(
                Kind::ToolResult,
                with_command(data, shell_command(&tool, &input)),
            );
            if tool == "Read"
                && let Some(p) = input.get("file_path").and_then(Value::as_str)
            {
                d.push_data(
                    Kind::FileRead,
                    json!({"path": p, "via": "tool", "call_id": call_id}),
                );
            }
        }
        "UserPromptSubmit" => d.push(
            Kind::Prompt,
            json!({
                "role": "user", "text": o.get("prompt").map(bounded), "payload": rest(o, &["prompt"]),
            }),
        ),
        "Stop" | "SubagentStop" => d.push(
            Kind::Message,
            json!({
                "role": "assistant",
                "text": o.get("last_assistant_message").map(bounded),
                "payload": rest(o, &["last_assistant_message"]),
            }),
        ),
        "SessionEnd" => d.session_end(o),
        "FileChanged" => {
            let op = match s(o, "event") {
                Some("add") => "create",
                Some("unlink") => "delete",
                _ => "modify",
            };
            d.push(
                Kind::FileChange,
                json!({
                    "path": o.get("file_path"), "op": op, "diff": null, "payload": rest(o, &[]),
                }),
            );
        }
        _ => {
            // SessionStart, Notification, PermissionRequest, SubagentStart, PreCompact,
            // StopFailure and anything newer: kept whole as a note.
            let mut data = json!({"payload": rest(o, &[])});
            if hook == "StopFailure" {
                data["error"] = o.get("error").cloned().unwrap_or(Value::Null);
            }
            if !tool.is_empty() {
                data["tool"] = json!(tool);
            }
            d.push(Kind::Note, data);
        }
    }
    d.finish(external)
}

fn gemini(o: &Map<String, Value>, hook: &str, now: DateTime<Utc>) -> Normalized {
    let external = s(o, "session_id").map(str::to_string);
    let tool = s(o, "tool_name").unwrap_or("").to_string();
    let input = o.get("tool_input").map(bounded).unwrap_or(Value::Null);
    let mut d = Draft::new(Agent::Gemini, hook, now);
    match hook {
        "BeforeTool" | "AfterTool" => {
            // Gemini's hooks carry no call id: join on (session, tool, input).
            let id = synthetic_call_id(
                "gemini",
                &[external.as_deref().unwrap_or(""), &tool, &String::from_utf8_lossy(&flightlog_formats::canonical::value_bytes(&input))],
            );
            d.call_id = Some(id.clone());
            let command = shell_command(&tool, &input);
            if hook == "BeforeTool" {
                d.tool_call(json!({"tool": tool, "call_id": id, "input": input, "payload": rest(o, &["tool_input"])}), command);
            } else {
                let resp = o.get("tool_response").map(bounded).unwrap_or(Value::Null);
                let error = resp.get("error").filter(|e| !e.is_null()).cloned();
                let output = resp.get("llmContent").or_else(|| resp.get("returnDisplay")).cloned().unwrap_or(resp.clone());
                let mut data = json!({
                    "tool": tool, "call_id": id, "input": input, "output": output,
                    "error": error, "is_error": error.is_some(),
                    "payload": rest(o, &["tool_input", "tool_response"]),
                });
                // What the user saw (`returnDisplay`: a diff, the command's own output) and any
                // newer field: kept beside the model's `llmContent`.
                if let Value::Object(r) = &resp {
                    let others = rest(r, &["llmContent", "error"]);
                    if others.as_object().is_some_and(|m| !m.is_empty()) {
                        data["response"] = others;
                    }
                }
                d.push(Kind::ToolResult, with_command(data, command));
                if tool == "read_file"
                    && let Some(p) = input.get("absolute_path").or_else(|| input.get("file_path")).and_then(Value::as_str)
                {
                    d.push_data(Kind::FileRead, json!({"path": p, "via": "tool", "call_id": id}));
                }
            }
        }
        "BeforeAgent" => d.push(Kind::Prompt, json!({"role": "user", "text": o.get("prompt").map(bounded), "payload": rest(o, &["prompt"])})),
        "AfterAgent" => d.push(Kind::Message, json!({"role": "assistant", "text": o.get("prompt_response").map(bounded), "payload": rest(o, &["prompt_response"])})),
        "SessionEnd" => d.session_end(o),
        _ => d.note(o),
    }
    d.finish(external)
}

fn cursor(o: &Map<String, Value>, hook: &str, now: DateTime<Utc>) -> Normalized {
    let external = s(o, "conversation_id").map(str::to_string);
    let generation = s(o, "generation_id").unwrap_or("");
    let mut d = Draft::new(Agent::Cursor, hook, now);
    let mcp_input = |o: &Map<String, Value>| match o.get("tool_input") {
        Some(Value::String(t)) => serde_json::from_str::<Value>(t)
            .map(|v| bounded(&v))
            .unwrap_or_else(|_| bounded(&json!(t))),
        Some(v) => bounded(v),
        None => Value::Null,
    };
    match hook {
        "beforeShellExecution" | "afterShellExecution" => {
            let command = s(o, "command").unwrap_or("").to_string();
            let id = synthetic_call_id("cursor", &[generation, &command]);
            d.call_id = Some(id.clone());
            if hook == "beforeShellExecution" {
                d.tool_call(json!({
                    "tool": "Shell", "call_id": id, "command": command,
                    "input": {"command": command, "cwd": o.get("cwd")}, "payload": rest(o, &[]),
                }), None);
            } else {
                d.push(Kind::ToolResult, json!({
                    "tool": "Shell", "call_id": id, "command": command,
                    "output": o.get("output").map(bounded), "error": null, "is_error": false,
                    "duration_ms": o.get("duration"), "payload": rest(o, &["output"]),
                }));
            }
        }
        "beforeMCPExecution" | "afterMCPExecution" | "preToolUse" | "postToolUse" | "postToolUseFailure" => {
            let tool = s(o, "tool_name").unwrap_or("").to_string();
            let input = mcp_input(o);
            let id = s(o, "tool_use_id").map(str::to_string).unwrap_or_else(|| {
                synthetic_call_id("cursor", &[generation, &tool, &input.to_string()])
            });
            d.call_id = Some(id.clone());
            let command = shell_command(&tool, &input);
            if hook.starts_with("before") || hook == "preToolUse" {
                d.tool_call(json!({"tool": tool, "call_id": id, "input": input, "payload": rest(o, &["tool_input"])}), command);
            } else {
                let failed = hook == "postToolUseFailure";
                let data = json!({
                    "tool": tool, "call_id": id, "input": input,
                    "output": o.get("result_json").or_else(|| o.get("tool_output")).map(bounded),
                    "error": o.get("error").cloned(), "is_error": failed,
                    "duration_ms": o.get("duration"), "payload": rest(o, &["tool_input", "result_json", "tool_output"]),
                });
                d.push(Kind::ToolResult, with_command(data, command));
            }
        }
        "afterFileEdit" => d.push(Kind::FileChange, json!({
            "path": o.get("file_path"), "op": "modify", "diff": null,
            "edits": o.get("edits").map(bounded), "payload": rest(o, &["edits"]),
        })),
        "beforeReadFile" | "beforeTabFileRead" => {
            d.is_pre = hook == "beforeReadFile";
            d.push(Kind::FileRead, json!({
                "path": o.get("file_path"), "via": "tool",
                "content": o.get("content").map(bounded), "payload": rest(o, &["content"]),
            }));
        }
        "beforeSubmitPrompt" => d.push(Kind::Prompt, json!({"role": "user", "text": o.get("prompt").map(bounded), "payload": rest(o, &["prompt"])})),
        "afterAgentResponse" | "afterAgentThought" => d.push(Kind::Message, json!({
            "role": if hook == "afterAgentThought" { "thought" } else { "assistant" },
            "text": o.get("text").map(bounded), "payload": rest(o, &["text"]),
        })),
        "sessionEnd" => d.session_end(o),
        _ => d.note(o),
    }
    d.finish(external)
}
