//! Agent hooks: one payload on stdin, normalized into events, answered in the agent's protocol.
//!
//! Supported: Claude Code and Codex (the same Claude-compatible protocol), Gemini CLI, Cursor.
//!
//! - Payloads of one agent session form one flightlog session (the agent's session id maps to
//!   ours); inside `flightlog record` they join `FLIGHTLOG_SESSION` instead.
//! - Pre and post events are joined on the tool-call id (`call_id`; `call_seq` in the result
//!   points at the `tool_call` event).
//! - The raw payload is kept (redacted by the store, strings over a size limit truncated with
//!   their length and SHA-256 noted).
//! - Malformed or unknown payloads become `raw_input` events with a clear stderr line and a
//!   non-blocking exit code. Nothing here panics on input, and every wait is bounded.

pub mod codex;
pub mod failures;
mod install;
mod normalize;

pub use install::{
    GEMINI_HOOK_NAME, InstallError, InstallScope, Installed, Locations, config_path, event_names,
    flightlog_commands, gemini_trust_hooks, install, read_jsonc, strip_comments,
};
pub(crate) use normalize::safe_cut;
pub use normalize::{Normalized, dropped_fields, normalize};

use chrono::{DateTime, Utc};
use flightlog_formats::store::{SessionMeta, WriteTx};
use flightlog_formats::{Event, Kind, NewEvent, Redactor, Store};
use serde_json::{Value, json};

/// The agents whose hook protocols flightlog speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Agent {
    /// Claude Code (also `claude`).
    #[cfg_attr(feature = "clap", value(name = "claude-code", alias = "claude"))]
    ClaudeCode,
    /// Codex CLI.
    Codex,
    /// Gemini CLI (also `gemini-cli`).
    #[cfg_attr(feature = "clap", value(alias = "gemini-cli"))]
    Gemini,
    /// Cursor.
    Cursor,
}

impl Agent {
    pub fn parse(s: &str) -> Option<Agent> {
        Some(match s {
            "claude-code" | "claude" => Agent::ClaudeCode,
            "codex" => Agent::Codex,
            "gemini" | "gemini-cli" => Agent::Gemini,
            "cursor" => Agent::Cursor,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Cursor => "cursor",
        }
    }

    pub fn source(self) -> String {
        format!("hook:{}", self.name())
    }
}

/// The largest payload read from stdin; beyond it the payload is recorded truncated.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// The longest string kept verbatim inside a stored payload.
pub const MAX_STRING: usize = 256 * 1024;

/// A guard's answer for a tool call about to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub rule: Option<String>,
    pub reason: String,
}

/// Decides whether a tool call must be denied: given the session's recent events and the
/// candidate `tool_call` event as it would be stored, a denial or None.
pub type GuardFn = dyn Fn(&[Event], &Event) -> Option<Denial>;

/// What the hook process prints and exits with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub stdout: String,
    pub stderr: String,
    pub exit: i32,
    /// The flightlog session this payload ended (the agent's SessionEnd outside `record`): the
    /// caller seals it with checkpoints.
    pub ended_session: Option<String>,
}

/// Everything `handle` needs besides the payload.
pub struct HookEnv<'a> {
    pub store: &'a Store,
    pub redactor: &'a Redactor,
    /// `FLIGHTLOG_SESSION` when running inside `flightlog record`.
    pub record_session: Option<String>,
    pub now: DateTime<Utc>,
    /// Decides whether a tool call must be denied (None: allow). Given recent events and the
    /// candidate `tool_call` event as it would be stored.
    pub guard: Option<&'a GuardFn>,
    /// How many earlier events of the session the guard sees.
    pub guard_context: u64,
    /// Events to append just before this payload's, in the same transaction (gaps noticed on
    /// the way in, such as earlier hooks that could not be recorded).
    pub preface: Vec<NewEvent>,
}

/// Handles one payload end to end: parse, normalize, append (durably), answer.
pub fn handle(
    agent: Agent,
    payload: &[u8],
    env: &HookEnv<'_>,
) -> Result<Answer, flightlog_formats::Error> {
    let truncated = payload.len() >= MAX_PAYLOAD;
    let parsed: Result<Value, String> = if truncated {
        Err(format!("payload larger than {MAX_PAYLOAD} bytes"))
    } else {
        serde_json::from_slice(payload).map_err(|e| e.to_string())
    };
    let value = match parsed {
        Ok(v) if v.is_object() => v,
        Ok(_) => return record_raw(agent, payload, "payload is JSON but not an object", env),
        Err(e) => {
            return record_raw(
                agent,
                payload,
                &format!("payload is not valid JSON: {e}"),
                env,
            );
        }
    };
    let Some(n) = normalize(agent, &value, env.now) else {
        return record_raw(agent, payload, "payload has no hook event name", env);
    };
    let mut events = n.events.clone();
    // Inside `flightlog record` the recorder owns the session's end.
    if env.record_session.is_some() {
        for e in events.iter_mut().filter(|e| e.kind == Kind::SessionEnd) {
            e.kind = Kind::Note;
        }
    }
    // One transaction, guard or not: the session, the guard's reading of it, the join, the
    // events, the call id. One commit, one fsync; nothing of it if any step fails.
    let (ended, denial) = env.store.write_tx(|w| {
        let session = session_in(w, agent, &n, &value, env)?;
        // The guard decides before the call is acknowledged (it reads the session so far).
        let mut denial = None;
        if n.is_pre
            && let Some(guard) = env.guard
            && let Some(candidate) = events.iter().find(|e| e.kind == Kind::ToolCall)
        {
            let (count, _) = w.head(&session)?;
            let from = count.saturating_sub(env.guard_context);
            let prior: Vec<Event> = w
                .events(&session, from, env.guard_context)?
                .iter()
                .filter_map(|s| s.event().ok())
                .collect();
            let mut call = candidate.clone();
            let red = env.redactor.redact_value(&mut call.data);
            let before = events
                .iter()
                .take_while(|e| e.kind != Kind::ToolCall)
                .count();
            let seq = count + (env.preface.len() + before) as u64;
            let as_event = call.into_event(session.as_str(), seq, red);
            denial = guard(&prior, &as_event);
        }
        if let Some(d) = &denial {
            events.push(NewEvent::new(
                env.now,
                Kind::Decision,
                "guard",
                json!({
                    "decision": "deny",
                    "rule": d.rule,
                    "reason": d.reason,
                    "layer": "hook",
                    "agent": agent.name(),
                    "call_id": n.call_id,
                }),
            ));
        }
        if let Some(call_id) = &n.call_id
            && !n.is_pre
        {
            let call_seq = w.call_seq(&session, call_id)?;
            for e in events.iter_mut().filter(|e| e.kind == Kind::ToolResult) {
                if let Some(obj) = e.data.as_object_mut() {
                    obj.insert("call_seq".into(), json!(call_seq));
                }
            }
        }
        if !env.preface.is_empty() {
            w.append(&session, env.preface.clone(), env.redactor)?;
        }
        let appended = w.append(&session, std::mem::take(&mut events), env.redactor)?;
        if let (Some(call_id), true) = (&n.call_id, n.is_pre)
            && let Some(first) = appended.first()
        {
            w.remember_call(&session, call_id, first.seq)?;
        }
        let ended = n.ends_session && env.record_session.is_none();
        if ended {
            w.mark_ended(&session, env.now)?;
        }
        Ok((ended.then_some(session), denial))
    })?;
    let mut a = answer(agent, &n.hook_event, denial.as_ref());
    a.ended_session = ended;
    Ok(a)
}

/// The session a payload belongs to: the recorder's, or the one mapped from the agent's id.
fn session_in(
    w: &WriteTx<'_>,
    agent: Agent,
    n: &Normalized,
    payload: &Value,
    env: &HookEnv<'_>,
) -> Result<String, flightlog_formats::Error> {
    if let Some(s) = &env.record_session
        && w.session_exists(s)?
    {
        return Ok(s.clone());
    }
    let external = n
        .external_session
        .clone()
        .unwrap_or_else(|| "unknown".to_string());
    let meta = SessionMeta {
        id: None,
        label: None,
        agent: Some(agent.name().to_string()),
        home_env: None,
        external_id: Some(external.clone()),
    };
    let start = NewEvent::new(
        env.now,
        Kind::SessionStart,
        agent.source(),
        json!({
            "agent": agent.name(),
            "agent_session": external,
            "cwd": payload.get("cwd").cloned().or_else(|| payload.get("workspace_roots").and_then(|w| w.get(0)).cloned()),
            "transcript_path": payload.get("transcript_path"),
            "model": payload.get("model"),
            "flightlog_version": env!("CARGO_PKG_VERSION"),
            "layers": ["hook"],
            "context": payload
                .get("cwd")
                .and_then(Value::as_str)
                .map(|cwd| crate::context::capture(std::path::Path::new(cwd), |k| std::env::var(k).ok())),
        }),
    );
    let mut start = start;
    if let (Some(named), Some(obj)) = (&env.record_session, start.data.as_object_mut()) {
        obj.insert(
            "note".into(),
            json!(format!("FLIGHTLOG_SESSION={named} is not in this store; recording into a session of the agent's own")),
        );
    }
    let (id, _) = w.session_for_external_with_start(&meta, start, env.redactor)?;
    Ok(id)
}

fn record_raw(
    agent: Agent,
    payload: &[u8],
    error: &str,
    env: &HookEnv<'_>,
) -> Result<Answer, flightlog_formats::Error> {
    let shown = &payload[..normalize::safe_cut(payload, MAX_STRING)];
    let raw = String::from_utf8_lossy(shown).into_owned();
    let n = Normalized {
        hook_event: String::new(),
        external_session: None,
        events: Vec::new(),
        call_id: None,
        is_pre: false,
        ends_session: false,
    };
    let raw_event = NewEvent::new(
        env.now,
        Kind::RawInput,
        agent.source(),
        json!({
            "error": error,
            "raw": raw,
            "bytes": payload.len(),
            "truncated": payload.len() > shown.len(),
        }),
    );
    let session = env.store.write_tx(|w| {
        let session = session_in(w, agent, &n, &Value::Null, env)?;
        w.append(&session, vec![raw_event], env.redactor)?;
        Ok(session)
    })?;
    Ok(Answer {
        stdout: String::new(),
        stderr: format!(
            "flightlog: {} hook payload not understood ({error}); recorded as raw input in session {session}\n",
            agent.name()
        ),
        exit: 1,
        ..Answer::default()
    })
}

/// Builds the agent-protocol answer.
pub fn answer(agent: Agent, hook_event: &str, denial: Option<&Denial>) -> Answer {
    let reason = denial.map(|d| {
        let text = if d.reason.starts_with("flightlog") {
            d.reason.clone()
        } else {
            format!("flightlog guard: {}", d.reason)
        };
        match &d.rule {
            Some(r) if !text.contains(r.as_str()) => format!("{text} (rule {r})"),
            _ => text,
        }
    });
    match agent {
        Agent::ClaudeCode | Agent::Codex => match reason {
            // Allow: print nothing, so the agent's own permission rules still apply.
            None => Answer::default(),
            Some(r) => Answer {
                stdout: json!({
                    "hookSpecificOutput": {
                        "hookEventName": hook_event,
                        "permissionDecision": "deny",
                        "permissionDecisionReason": r,
                    }
                })
                .to_string(),
                stderr: String::new(),
                exit: 0,
                ..Answer::default()
            },
        },
        Agent::Gemini => match reason {
            None => Answer::default(),
            Some(r) => Answer {
                stdout: json!({"decision": "deny", "reason": r}).to_string(),
                stderr: String::new(),
                exit: 0,
                ..Answer::default()
            },
        },
        Agent::Cursor => {
            let before = hook_event.starts_with("before") || hook_event == "preToolUse";
            if hook_event == "beforeSubmitPrompt" {
                return Answer {
                    stdout: json!({"continue": true}).to_string(),
                    ..Answer::default()
                };
            }
            match (before, reason) {
                (_, Some(r)) => Answer {
                    stdout: json!({"permission": "deny", "user_message": r, "agent_message": r})
                        .to_string(),
                    stderr: String::new(),
                    exit: 0,
                    ..Answer::default()
                },
                (true, None) => Answer {
                    stdout: json!({"permission": "allow"}).to_string(),
                    ..Answer::default()
                },
                (false, None) => Answer {
                    stdout: "{}".into(),
                    ..Answer::default()
                },
            }
        }
    }
}

/// What a hook answers when flightlog itself failed (store unavailable, ...), per fail mode.
pub fn failure_answer(agent: Agent, hook_event: &str, fail_closed: bool, error: &str) -> Answer {
    if fail_closed && is_pre_event(agent, hook_event) {
        let mut a = answer(
            agent,
            hook_event,
            Some(&Denial {
                rule: Some("fail-closed".into()),
                reason: format!(
                    "flightlog could not record this action ({error}); the policy says fail closed"
                ),
            }),
        );
        a.stderr = format!("flightlog: {error} (fail closed: denied)\n");
        return a;
    }
    Answer {
        stdout: String::new(),
        stderr: format!("flightlog: {error} (fail open: the agent continues unrecorded)\n"),
        exit: 1,
        ..Answer::default()
    }
}

/// Whether a hook event fires before a tool runs (the only place a deny matters).
pub fn is_pre_event(agent: Agent, hook_event: &str) -> bool {
    match agent {
        Agent::ClaudeCode | Agent::Codex => hook_event == "PreToolUse",
        Agent::Gemini => hook_event == "BeforeTool",
        Agent::Cursor => matches!(
            hook_event,
            "beforeShellExecution" | "beforeMCPExecution" | "preToolUse" | "beforeReadFile"
        ),
    }
}

/// Best-effort extraction of the hook event name from raw bytes (for failure answers).
pub fn peek_event_name(payload: &[u8]) -> String {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("hook_event_name")
                .and_then(|x| x.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
