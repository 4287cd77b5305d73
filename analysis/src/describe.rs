//! One description of an event, for every output: the TUI's timeline, `flightlog show`, the
//! reports' cause chain, `policy test`, and the CSV, CEF and HTML exports.
//!
//! [`one_line`] says what an event is in one sanitised line ([`flightlog_formats::text`]): no
//! control, escape or invisible character survives, whitespace runs are one space, and it is
//! at most [`MAX`] characters. Each output then escapes it for its own format (CSV quoting, CEF,
//! HTML), never differently in substance.

use flightlog_formats::payload::{
    ApiCall, Decision, Exec, FileChange, FileRead, Gap, Note, SessionEnd, SessionStart, Terminal,
    Text, ToolCall, ToolResult,
};
use flightlog_formats::{Event, Kind, Payload, text};
use serde_json::Value;

use crate::decode::strip_credentials;

/// The longest description, in characters (an ellipsis marks a cut).
pub const MAX: usize = 300;

/// What an event is, in one sanitised line of at most [`MAX`] characters.
pub fn one_line(ev: &Event) -> String {
    text::one_line(&plain(ev), MAX)
}

/// The description before sanitising (agent text as it is: never print it raw).
fn plain(ev: &Event) -> String {
    match ev.payload() {
        Payload::Exec(x) => exec(&x),
        Payload::ToolCall(c) => tool_call(ev, &c),
        Payload::ToolResult(r) => tool_result(&r),
        Payload::ApiCall(a) => api_call(&a),
        Payload::FileChange(f) => file_change(&f),
        Payload::FileRead(f) => file_read(&f),
        Payload::Prompt(t) | Payload::Message(t) => said(ev, &t),
        Payload::Terminal(t) => terminal(&t),
        Payload::Decision(d) => decision(&d),
        Payload::Gap(g) => gap(&g),
        Payload::SessionStart(s) => session_start(&s),
        Payload::SessionEnd(s) => session_end(&s),
        Payload::Checkpoint(c) => format!("checkpoint over {} events", c.count.unwrap_or(0)),
        Payload::RawInput(r) => format!("unparsed input: {}", r.error.as_deref().unwrap_or("")),
        Payload::Note(n) => note(&n).unwrap_or_else(|| ev.kind.as_str().to_string()),
        Payload::Other(v) => ["summary", "text"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} {}", ev.kind, v)),
    }
}

/// How an exec ended, for its row once its end event is folded into it: `exit 0, 39 ms`,
/// `killed by SIGKILL`; `None` when `end` is not the end of an exec.
pub fn ended(end: &Event) -> Option<String> {
    let Payload::Exec(x) = end.payload() else {
        return None;
    };
    x.exit_of_seq?;
    let how = x.outcome().unwrap_or_else(|| "ended".into());
    let plain = match x.duration_ms {
        Some(ms) => format!("{how}, {}", duration(ms)),
        None => how,
    };
    Some(text::one_line(&plain, MAX))
}

/// `12 ms`, `3.4 s`, `2 min 05 s`.
fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000)
    }
}

fn exec(x: &Exec) -> String {
    let argv = x.argv().join(" ");
    match (x.exit_of_seq, x.outcome()) {
        // The end of an earlier exec (the tracer writes it as its own event).
        (Some(of), how) => {
            let how = how.unwrap_or_else(|| "ended".into());
            match x.duration_ms {
                Some(ms) => format!("↳ {how} (seq {of}, {ms} ms)"),
                None => format!("↳ {how} (seq {of})"),
            }
        }
        (None, Some(how)) if !argv.is_empty() => format!("{argv} ({how})"),
        (None, _) => argv,
    }
}

fn tool_call(ev: &Event, c: &ToolCall) -> String {
    let tool = c.tool.as_deref().unwrap_or("tool");
    if let Some(cmd) = crate::analyze::command_of(ev) {
        return format!("{tool}: {cmd}");
    }
    let input = c.input.clone().unwrap_or(Value::Null);
    let target = ["file_path", "path", "url", "pattern", "query"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| match &input {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    format!("{tool}: {target}")
}

fn tool_result(r: &ToolResult) -> String {
    let tool = r.tool.as_deref().unwrap_or("tool");
    match r.error_text() {
        Some(e) => format!("{tool} → error: {e}"),
        None if r.is_error == Some(true) => format!("{tool} → error: {}", output_of(r)),
        None => format!("{tool} → {}", output_of(r)),
    }
}

/// What a tool's result says, in words where the agent's structured result has a known shape
/// (Claude Code's `tool_response`: a shell's `stdout`/`stderr`, a read file's `file`, an
/// edited or written `filePath`); the JSON otherwise.
fn output_of(r: &ToolResult) -> String {
    let Some(Value::Object(o)) = &r.output else {
        return r.output_text();
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    if let Some(out) = s("stdout") {
        let err = s("stderr").filter(|e| !e.trim().is_empty());
        return match err {
            Some(e) if out.trim().is_empty() => format!("stderr: {e}"),
            Some(e) => format!("{out} · stderr: {e}"),
            None => out.to_string(),
        };
    }
    if let Some(f) = o.get("file").and_then(Value::as_object) {
        let path = f
            .get("filePath")
            .and_then(Value::as_str)
            .unwrap_or("a file");
        let n = f.get("numLines").and_then(Value::as_u64);
        return match n {
            Some(1) => format!("1 line of {path}"),
            Some(n) => format!("{n} lines of {path}"),
            None => format!("read {path}"),
        };
    }
    if let Some(path) = s("filePath") {
        return match s("type") {
            Some("create") => format!("wrote {path}"),
            _ => format!("edited {path}"),
        };
    }
    r.output_text()
}

fn api_call(a: &ApiCall) -> String {
    if let Some(of) = a.response_of_seq {
        let how = match (a.status, &a.error) {
            (_, Some(e)) if !e.trim().is_empty() => format!("no response: {e}"),
            (Some(s), _) => format!("{s}"),
            (None, _) => "no response".into(),
        };
        let ms = a
            .duration_ms
            .map(|m| format!(", {m} ms"))
            .unwrap_or_default();
        let body = a
            .response_body
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| format!(": {b}"))
            .unwrap_or_default();
        return format!("↳ {how} (seq {of}{ms}){body}");
    }
    let target = a
        .url
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(strip_credentials)
        .or_else(|| a.host.clone())
        .unwrap_or_else(|| "?".into());
    let mut t = format!("{} {target}", a.method.as_deref().unwrap_or("?"));
    if let Some(g) = &a.graphql {
        t.push_str(&format!(
            " [{} {}]",
            g.operation_type.as_deref().unwrap_or("graphql"),
            a.root_fields().join(",")
        ));
    }
    if let Some(s) = a.status {
        t.push_str(&format!(" → {s}"));
    }
    t
}

fn file_change(f: &FileChange) -> String {
    let mut t = format!(
        "{} {}",
        f.op.as_deref().unwrap_or("change"),
        f.path.as_deref().unwrap_or("?")
    );
    if let Some(from) = &f.from {
        t.push_str(&format!(" (from {from})"));
    }
    t
}

fn file_read(f: &FileRead) -> String {
    let n = f.secrets.as_ref().map(Vec::len).unwrap_or(0);
    let mut t = format!("read {}", f.path.as_deref().unwrap_or("?"));
    if n > 0 {
        t.push_str(&format!(" ({n} secret{})", if n == 1 { "" } else { "s" }));
    }
    t
}

/// A prompt is the user's and a message the assistant's unless its role says otherwise (a
/// thought, a system message): only then is the role named.
fn said(ev: &Event, t: &Text) -> String {
    let text = t.text.as_deref().unwrap_or("");
    let usual = match ev.kind {
        Kind::Prompt => "user",
        _ => "assistant",
    };
    match t.role.as_deref() {
        Some(role) if role != usual => format!("{role}: {text}"),
        _ => text.to_string(),
    }
}

fn terminal(t: &Terminal) -> String {
    format!(
        "[{}] {}",
        t.stream.as_deref().unwrap_or("?"),
        text::strip_ansi(t.data.as_deref().unwrap_or(""))
    )
}

fn decision(d: &Decision) -> String {
    format!(
        "{} ({}): {}",
        d.decision.as_deref().unwrap_or("?"),
        d.rule.as_deref().unwrap_or("-"),
        d.reason.as_deref().unwrap_or("")
    )
}

fn gap(g: &Gap) -> String {
    format!(
        "gap in {}: {} {}",
        g.layer.as_deref().unwrap_or("?"),
        g.reason.as_deref().unwrap_or(""),
        g.detail.as_deref().unwrap_or("")
    )
}

fn session_start(s: &SessionStart) -> String {
    format!(
        "{} {} home={}",
        s.agent.as_deref().unwrap_or(""),
        s.label.as_deref().unwrap_or(""),
        s.home_env.as_deref().unwrap_or("-")
    )
}

fn session_end(s: &SessionEnd) -> String {
    // `exited` is what an exit code already says; any other reason (`writer_died`) is news.
    let reason = s
        .reason
        .as_deref()
        .filter(|r| !r.is_empty() && *r != "exited");
    match (s.exit, reason) {
        (Some(c), Some(r)) => format!("exit {c}, {r}"),
        (Some(c), None) => format!("exit {c}"),
        (None, Some(r)) => r.to_string(),
        (None, None) => "ended".to_string(),
    }
}

fn note(n: &Note) -> Option<String> {
    if let Some(inv) = &n.inventory {
        return Some(format!(
            "secret inventory: {} secret{} in {} files scanned",
            inv.len(),
            if inv.len() == 1 { "" } else { "s" },
            n.files_scanned.unwrap_or(0)
        ));
    }
    n.text
        .clone()
        .or_else(|| n.record.as_ref().map(|r| format!("{r} record")))
        .or_else(|| n.hook.as_ref().map(|h| format!("hook {h}")))
        .or_else(|| {
            ["summary", "marker", "reason"]
                .iter()
                .find_map(|k| n.rest.get(*k).and_then(Value::as_str))
                .map(str::to_string)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_formats::NewEvent;
    use serde_json::json;

    fn ev(kind: Kind, data: Value) -> Event {
        let ts = "2026-04-25T10:00:00Z".parse().unwrap();
        NewEvent::new(ts, kind, "test", data).into_event("s", 9, vec![])
    }

    #[test]
    fn how_an_exec_ended() {
        let cases = [
            (
                json!({"exit": 0, "duration_ms": 39, "exit_of_seq": 4}),
                Some("exit 0, 39 ms"),
            ),
            (
                json!({"exit": 22, "duration_ms": 1080, "exit_of_seq": 4}),
                Some("exit 22, 1.1 s"),
            ),
            (
                json!({"exit": 0, "duration_ms": 125_000, "exit_of_seq": 4}),
                Some("exit 0, 2 min 05 s"),
            ),
            (
                json!({"exit": null, "signal": "SIGKILL", "exit_of_seq": 4}),
                Some("killed by SIGKILL"),
            ),
            (json!({"exit_of_seq": 4}), Some("ended")),
            (json!({"argv": ["ls"], "exit": 0}), None),
        ];
        for (data, want) in cases {
            let e = ev(Kind::Exec, data.clone());
            assert_eq!(ended(&e).as_deref(), want, "{data}");
        }
        assert_eq!(ended(&ev(Kind::Note, json!({"exit_of_seq": 4}))), None);
    }

    #[test]
    fn one_description_per_kind() {
        let cases = [
            (
                Kind::Exec,
                json!({"argv": ["curl", "-X", "POST", "http://h/graphql"], "exit": null}),
                "curl -X POST http://h/graphql",
            ),
            (
                Kind::Exec,
                json!({"pid": 4, "exit": 7, "signal": null, "duration_ms": 12, "exit_of_seq": 3}),
                "↳ exit 7 (seq 3, 12 ms)",
            ),
            (
                Kind::Exec,
                json!({"exit": null, "signal": "SIGKILL", "exit_of_seq": 3}),
                "↳ killed by SIGKILL (seq 3)",
            ),
            (
                Kind::ToolCall,
                json!({"tool": "Bash", "input": {"command": "ls\n-la"}}),
                "Bash: ls -la",
            ),
            (
                Kind::ToolCall,
                json!({"tool": "Read", "input": {"file_path": "ops/domains.env"}}),
                "Read: ops/domains.env",
            ),
            (
                Kind::ToolResult,
                json!({"tool": "Bash", "output": "ok", "is_error": false, "error": null}),
                "Bash → ok",
            ),
            (
                Kind::ToolResult,
                json!({"tool": "Bash", "output": "x", "is_error": false, "error": "denied"}),
                "Bash → error: denied",
            ),
            (
                Kind::ApiCall,
                json!({"method": "POST", "url": "https://u:pw@h/graphql/v2", "status": null,
                       "graphql": {"operation_type": "mutation", "root_fields": ["volumeDelete"]}}),
                "POST https://u@h/graphql/v2 [mutation volumeDelete]",
            ),
            (
                Kind::ApiCall,
                json!({"status": 200, "response_body": "{}", "duration_ms": 5, "error": null,
                       "response_of_seq": 4}),
                "↳ 200 (seq 4, 5 ms): {}",
            ),
            (
                Kind::ApiCall,
                json!({"method": "CONNECT", "url": "", "host": "h"}),
                "CONNECT h",
            ),
            (
                Kind::FileRead,
                json!({"path": "ops/domains.env", "secrets": [{"fp": "a"}]}),
                "read ops/domains.env (1 secret)",
            ),
            (
                Kind::Decision,
                json!({"decision": "deny", "rule": "railway.volumeDelete", "reason": "no"}),
                "deny (railway.volumeDelete): no",
            ),
            (
                Kind::Gap,
                json!({"layer": "proxy", "reason": "tunnelled", "detail": "h:443"}),
                "gap in proxy: tunnelled h:443",
            ),
            (
                Kind::RawInput,
                json!({"error": "EOF while parsing"}),
                "unparsed input: EOF while parsing",
            ),
            (
                Kind::Terminal,
                json!({"stream": "o", "data": "\u{1b}[1mok\u{1b}[0m\r\n"}),
                "[o] ok",
            ),
            (
                Kind::Message,
                json!({"role": "assistant", "text": "a\u{202e}b\u{200b}"}),
                "a\\u{202e}b\\u{200b}",
            ),
            (
                Kind::Message,
                json!({"role": "thought", "text": "hm"}),
                "thought: hm",
            ),
            (
                Kind::Prompt,
                json!({"role": "user", "text": "=1+2"}),
                "=1+2",
            ),
            (
                Kind::SessionEnd,
                json!({"exit": 0, "reason": "exited"}),
                "exit 0",
            ),
            (
                Kind::SessionEnd,
                json!({"exit": null, "reason": "writer_died"}),
                "writer_died",
            ),
            (
                Kind::ToolResult,
                json!({"tool": "Bash", "output": {"stdout": "ops/a.env:4:X=1", "stderr": "",
                       "interrupted": false, "isImage": false}}),
                "Bash → ops/a.env:4:X=1",
            ),
            (
                Kind::ToolResult,
                json!({"tool": "Bash", "output": {"stdout": "", "stderr": "denied"}}),
                "Bash → stderr: denied",
            ),
            (
                Kind::ToolResult,
                json!({"tool": "Read", "output": {"type": "text", "file": {"filePath": "ops/d.env",
                       "content": "1\tA=b", "numLines": 4, "startLine": 1, "totalLines": 4}}}),
                "Read → 4 lines of ops/d.env",
            ),
            (
                Kind::ToolResult,
                json!({"tool": "Edit", "output": {"filePath": "railway.toml", "oldString": "a",
                       "newString": "b"}}),
                "Edit → edited railway.toml",
            ),
            (
                Kind::ToolResult,
                json!({"tool": "Write", "output": {"type": "create", "filePath": "x.txt"}}),
                "Write → wrote x.txt",
            ),
            (Kind::Other("gpu".into()), json!({"k": 1}), "gpu {\"k\":1}"),
            (Kind::Exec, json!("not an object"), ""),
        ];
        for (kind, data, want) in cases {
            assert_eq!(one_line(&ev(kind, data.clone())), want, "{data}");
        }
    }

    #[test]
    fn long_text_is_cut_and_never_raw() {
        let long = "x".repeat(1000);
        let d = one_line(&ev(Kind::Prompt, json!({"role": "user", "text": long})));
        assert_eq!(d.chars().count(), MAX + 1);
        assert!(d.ends_with('…'));
        let hostile = one_line(&ev(
            Kind::Prompt,
            json!({"text": "\u{1b}]52;c;AA\u{7}\u{fff9}\u{2060}"}),
        ));
        assert!(
            !hostile
                .chars()
                .any(|c| c.is_control() || text::is_invisible(c))
        );
    }
}
