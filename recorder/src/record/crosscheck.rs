//! Cross-checks the two views of what the agent ran: the commands its hooks reported
//! (`tool_call` events with a `command`) and the execs the tracer saw. Each difference becomes a
//! `gap` event in the chain, because either the hook layer or the tracer missed something.
//!
//! - A hook-reported shell command with no traced exec of any of its programs while the call
//!   ran (from its `tool_call` to its `tool_result`, with a little slack) is a gap: the command
//!   ran where the tracer could not see it, or never ran although the agent said it did.
//! - A traced shell (`sh -c`, `bash -lc`, ...) started directly by the wrapped agent while hooks
//!   were reporting, that no hook call explains, is a gap: a tool call the hooks never reported
//!   (sub-agents and background jobs are known to slip past hooks).
//!
//! Shell builtins (`cd`, `echo`, `export`, ...) never show up as execs and are not expected.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use flightlog_analysis::shell;
use flightlog_formats::{Event, Kind, NewEvent};
use serde_json::{Value, json};

/// Slack around a call's window: hook timestamps and exec timestamps come from different
/// processes' clocks reads.
const SLACK_MS: i64 = 1_500;

const BUILTINS: &[&str] = &[
    ".", ":", "[", "alias", "bg", "break", "builtin", "cd", "command", "continue", "declare",
    "echo", "eval", "exec", "exit", "export", "false", "fg", "getopts", "hash", "jobs", "let",
    "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "source", "test",
    "times", "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset", "wait",
];

struct Exec<'a> {
    seq: u64,
    ts: DateTime<Utc>,
    pid: Option<u64>,
    ppid: Option<u64>,
    argv: Vec<&'a str>,
}

fn program(argv0: &str) -> &str {
    shell::basename(argv0)
}

fn is_shell_c(argv: &[&str]) -> Option<String> {
    let prog = program(argv.first()?);
    if !matches!(prog, "sh" | "bash" | "zsh" | "dash" | "ksh" | "fish") {
        return None;
    }
    let i = argv
        .iter()
        .position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))?;
    argv.get(i + 1).map(|s| s.to_string())
}

/// The `gap` events (as new events stamped `now`) for the differences in `events`.
pub fn cross_check(events: &[Event], now: DateTime<Utc>) -> Vec<NewEvent> {
    let execs: Vec<Exec<'_>> = events
        .iter()
        .filter(|e| e.kind == Kind::Exec && e.source == "ptrace")
        .filter_map(|e| {
            let argv: Vec<&str> = e
                .data
                .get("argv")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if argv.is_empty() {
                return None;
            }
            Some(Exec {
                seq: e.seq,
                ts: e.time()?,
                pid: e.data.get("pid").and_then(Value::as_u64),
                ppid: e.data.get("ppid").and_then(Value::as_u64),
                argv,
            })
        })
        .collect();
    if execs.is_empty() {
        return Vec::new(); // the tracer was off or refused: its own gap says so
    }
    // Results by the seq of their call.
    let mut result_ts: HashMap<u64, DateTime<Utc>> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == Kind::ToolResult) {
        if let (Some(cs), Some(t)) = (e.data.get("call_seq").and_then(Value::as_u64), e.time()) {
            result_ts.insert(cs, t);
        }
    }
    let end = events.last().and_then(Event::time).unwrap_or(now);
    let calls: Vec<(&Event, String, DateTime<Utc>, DateTime<Utc>)> = events
        .iter()
        .filter(|e| e.kind == Kind::ToolCall && e.source.starts_with("hook:"))
        .filter_map(|e| {
            let cmd = e.data.get("command")?.as_str()?.to_string();
            let from = e.time()?;
            let to = result_ts.get(&e.seq).copied().unwrap_or(end);
            Some((e, cmd, from, to))
        })
        .collect();
    let mut gaps = Vec::new();
    let mut explained: HashSet<u64> = HashSet::new();
    for (call, cmd, from, to) in &calls {
        let lo = *from - Duration::milliseconds(SLACK_MS);
        let hi = *to + Duration::milliseconds(SLACK_MS);
        let in_window: Vec<&Exec<'_>> = execs.iter().filter(|x| x.ts >= lo && x.ts <= hi).collect();
        // Shells running this very command line explain it (and are explained by it).
        for x in &in_window {
            if let Some(script) = is_shell_c(&x.argv)
                && (script.contains(cmd.as_str()) || cmd.contains(script.trim()))
            {
                explained.insert(x.seq);
            }
        }
        let expected: Vec<String> = shell::split(cmd)
            .iter()
            .filter_map(|c| c.argv.first().map(|a| program(a).to_string()))
            .filter(|p| !p.is_empty() && !BUILTINS.contains(&p.as_str()))
            .collect();
        if expected.is_empty() {
            continue;
        }
        let seen = in_window.iter().any(|x| {
            let p = program(x.argv[0]);
            expected.iter().any(|e| e == p)
                || is_shell_c(&x.argv).is_some_and(|s| s.contains(cmd.as_str()))
        });
        if !seen {
            gaps.push(NewEvent::new(
                now,
                Kind::Gap,
                "recorder",
                json!({
                    "layer": "ptrace",
                    "reason": "hook_command_not_traced",
                    "detail": format!(
                        "the agent's hooks reported running `{}` (seq {}) but the tracer saw no exec of {} while that call ran",
                        truncate(cmd, 200), call.seq, expected.join(", ")
                    ),
                    "call_seq": call.seq,
                    "expected": expected,
                }),
            ));
        }
    }
    // Shells the agent itself started that no hook call explains, once hooks are reporting.
    if let Some(first_call) = calls.first().and_then(|c| c.0.time())
        && let Some(agent_pid) = execs.first().and_then(|x| x.pid)
    {
        for x in &execs {
            if x.ppid != Some(agent_pid) || x.ts < first_call || explained.contains(&x.seq) {
                continue;
            }
            let Some(script) = is_shell_c(&x.argv) else {
                continue;
            };
            if script.contains("flightlog") && script.contains(" hook ") {
                continue;
            }
            gaps.push(NewEvent::new(
                now,
                Kind::Gap,
                "recorder",
                json!({
                    "layer": "hook",
                    "reason": "exec_not_reported_by_hooks",
                    "detail": format!(
                        "the agent ran `{}` (exec seq {}) but no hook reported a tool call for it",
                        truncate(&script, 200), x.seq
                    ),
                    "exec_seq": x.seq,
                }),
            ));
        }
    }
    gaps
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ev(seq: u64, ms: i64, kind: Kind, source: &str, data: Value) -> Event {
        let t = Utc
            .with_ymd_and_hms(2026, 4, 25, 10, 0, 0)
            .single()
            .unwrap()
            + Duration::milliseconds(ms);
        Event {
            v: 1,
            session: "s".into(),
            seq,
            ts: flightlog_formats::event::format_ts(t),
            kind,
            source: source.into(),
            env: None,
            redactions: vec![],
            data,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 25, 11, 0, 0)
            .single()
            .unwrap()
    }

    #[test]
    fn matched_calls_and_execs_give_no_gap() {
        let evs = vec![
            ev(
                0,
                0,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["node", "agent.js"], "pid": 10, "ppid": 1}),
            ),
            ev(
                1,
                1000,
                Kind::ToolCall,
                "hook:claude-code",
                json!({"command": "cd web && npm test", "tool": "Bash"}),
            ),
            ev(
                2,
                1100,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["bash", "-c", "cd web && npm test"], "pid": 11, "ppid": 10}),
            ),
            ev(
                3,
                1200,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["/usr/bin/npm", "test"], "pid": 12, "ppid": 11}),
            ),
            ev(
                4,
                3000,
                Kind::ToolResult,
                "hook:claude-code",
                json!({"call_seq": 1}),
            ),
        ];
        assert!(cross_check(&evs, now()).is_empty());
    }

    #[test]
    fn a_reported_command_never_traced_is_a_gap() {
        let evs = vec![
            ev(
                0,
                0,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["node", "agent.js"], "pid": 10, "ppid": 1}),
            ),
            ev(
                1,
                1000,
                Kind::ToolCall,
                "hook:claude-code",
                json!({"command": "curl -X POST https://x", "tool": "Bash"}),
            ),
            ev(
                2,
                1500,
                Kind::ToolResult,
                "hook:claude-code",
                json!({"call_seq": 1}),
            ),
            ev(
                3,
                9000,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["curl", "https://later"], "pid": 13, "ppid": 10}),
            ),
        ];
        let g = cross_check(&evs, now());
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].data["reason"], "hook_command_not_traced");
        assert_eq!(g[0].data["call_seq"], 1);
    }

    #[test]
    fn an_unreported_agent_shell_is_a_gap() {
        let evs = vec![
            ev(
                0,
                0,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["node", "agent.js"], "pid": 10, "ppid": 1}),
            ),
            ev(
                1,
                1000,
                Kind::ToolCall,
                "hook:claude-code",
                json!({"command": "ls", "tool": "Bash"}),
            ),
            ev(
                2,
                1010,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["bash", "-c", "ls"], "pid": 11, "ppid": 10}),
            ),
            ev(
                3,
                1020,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["ls"], "pid": 12, "ppid": 11}),
            ),
            ev(
                4,
                1100,
                Kind::ToolResult,
                "hook:claude-code",
                json!({"call_seq": 1}),
            ),
            ev(
                5,
                5000,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["bash", "-lc", "rm -rf build"], "pid": 14, "ppid": 10}),
            ),
            ev(
                6,
                5001,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["bash", "-c", "/usr/bin/flightlog hook claude-code"], "pid": 15, "ppid": 10}),
            ),
        ];
        let g = cross_check(&evs, now());
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].data["reason"], "exec_not_reported_by_hooks");
        assert_eq!(g[0].data["exec_seq"], 5);
    }

    #[test]
    fn without_tracing_nothing_is_claimed() {
        let evs = vec![ev(
            1,
            1000,
            Kind::ToolCall,
            "hook:claude-code",
            json!({"command": "curl x"}),
        )];
        assert!(cross_check(&evs, now()).is_empty());
    }
}
