//! Cross-checks the two views of what the agent ran: the commands its hooks reported
//! (`tool_call` events with a `command`) and the execs the tracer saw. Each difference becomes a
//! `gap` event in the chain, because either the hook layer or the tracer missed something.
//!
//! - A hook-reported shell command with no traced exec of any of its programs while the call
//!   ran (from its `tool_call` to its `tool_result`, with a little slack) is a gap: the command
//!   ran where the tracer could not see it. Calls the guard denied, and calls the agent never
//!   reported a result for (it did not run them: a permission prompt said no, the session
//!   ended), are not expected to run.
//! - A traced shell (`sh -c`, `bash -c -l`, ...) started directly by the wrapped agent while
//!   hooks were reporting, that no hook call explains, is a gap: a tool call the hooks never
//!   reported (sub-agents and background jobs are known to slip past hooks). flightlog's own
//!   hook processes (whatever command `hook install --command` put in the agent's settings)
//!   are recognised by the binary they end in, and the shell a harness starts to write its
//!   shell snapshot (`# Snapshot file`) is its own setup, not a tool call.
//!
//! Commands are compared after the harness's wrappers are seen through ([`shell::from_argv`]):
//! Claude Code's snapshot prelude and `eval '..'` quoting, Codex's process setup and sandbox,
//! Gemini CLI's `trap` wrapper. Shell builtins (`cd`, `echo`, `export`, ...) never show up as
//! execs and are not expected.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use flightlog_analysis::own::OwnHooks;
use flightlog_analysis::shell;
use flightlog_formats::{Event, Kind, NewEvent};
use serde_json::json;

/// Slack around a call's window: hook timestamps and exec timestamps come from different
/// processes' clocks reads.
const SLACK_MS: i64 = 1_500;

const BUILTINS: &[&str] = &[
    ".", ":", "[", "alias", "bg", "break", "builtin", "cd", "command", "continue", "declare",
    "echo", "eval", "exec", "exit", "export", "false", "fg", "getopts", "hash", "jobs", "let",
    "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "shopt", "source",
    "test", "times", "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset",
    "wait",
];

/// A hook-reported shell call: its event, command line, start, and end (when it has a result).
/// A hook-reported shell call: its event, command line, call id, and when it ran (from the
/// call to its result, if one came).
type Call<'a> = (
    &'a Event,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

struct Exec {
    seq: u64,
    ts: DateTime<Utc>,
    pid: Option<u64>,
    ppid: Option<u64>,
    exe: Option<String>,
    argv: Vec<String>,
}

fn program(argv0: &str) -> &str {
    shell::basename(argv0)
}

/// The commands (argv, builtins left out) an exec runs once its wrappers are seen through.
fn inner_commands(argv: &[String]) -> Vec<Vec<String>> {
    shell::from_argv(argv)
        .into_iter()
        .filter(|c| !BUILTINS.contains(&c.program()))
        .map(|c| c.argv)
        .collect()
}

/// The commands of a command line, builtins left out.
fn line_commands(line: &str) -> Vec<Vec<String>> {
    shell::split(line)
        .into_iter()
        .filter(|c| !c.program().is_empty() && !BUILTINS.contains(&c.program()))
        .map(|c| c.argv)
        .collect()
}

/// The script of a shell started with `-c` (however its options are ordered), or of a harness
/// launcher around one: `Some` when the exec runs a command line rather than a program.
fn shell_script(argv: &[String]) -> Option<String> {
    let cmds = shell::from_argv(argv);
    let runs_script = cmds
        .iter()
        .any(|c| c.wrappers.iter().any(|w| w.ends_with(" -c") || w == "eval"));
    runs_script.then(|| argv.last().cloned().unwrap_or_default())
}

/// The `gap` events (as new events stamped `now`) for the differences in `events`. `own_exe`
/// is flightlog's own binary: a traced process that ends in it is one of flightlog's hooks.
pub fn cross_check(events: &[Event], now: DateTime<Utc>, own_exe: Option<&str>) -> Vec<NewEvent> {
    let execs: Vec<Exec> = events
        .iter()
        .filter(|e| e.source == "ptrace")
        .filter_map(|e| {
            let x = e.exec()?;
            let argv = x.argv.filter(|a| !a.is_empty())?;
            Some(Exec {
                seq: e.seq,
                ts: e.time()?,
                pid: x.pid.and_then(|p| u64::try_from(p).ok()),
                ppid: x.ppid.and_then(|p| u64::try_from(p).ok()),
                exe: x.exe,
                argv,
            })
        })
        .collect();
    if execs.is_empty() {
        return Vec::new(); // the tracer was off or refused: its own gap says so
    }
    // Results by the seq (and the id) of their call.
    let mut result_ts: HashMap<u64, DateTime<Utc>> = HashMap::new();
    let mut result_ids: HashMap<String, DateTime<Utc>> = HashMap::new();
    // Calls the guard denied: by call id (hooks) and by seq (the recorder's judge).
    let mut denied_ids: HashSet<String> = HashSet::new();
    let mut denied_seqs: HashSet<u64> = HashSet::new();
    for e in events {
        if let Some(r) = e.tool_result() {
            let Some(t) = e.time() else { continue };
            if let Some(cs) = r.call_seq {
                result_ts.insert(cs, t);
            }
            if let Some(id) = r.call_id {
                result_ids.insert(id, t);
            }
        } else if let Some(d) = e
            .decision()
            .filter(|d| d.decision.as_deref() == Some("deny"))
        {
            if let Some(id) = d.call_id {
                denied_ids.insert(id);
            }
            if let Some(s) = d.target_seq {
                denied_seqs.insert(s);
            }
        }
    }
    let end = events.last().and_then(Event::time).unwrap_or(now);
    let calls: Vec<Call<'_>> = events
        .iter()
        .filter(|e| e.source.starts_with("hook:"))
        .filter_map(|e| {
            let c = e.tool_call()?;
            let cmd = c.command?;
            let from = e.time()?;
            let to = result_ts
                .get(&e.seq)
                .or_else(|| c.call_id.as_ref().and_then(|i| result_ids.get(i)))
                .copied();
            Some((e, cmd, c.call_id, from, to))
        })
        .collect();
    let mut gaps = Vec::new();
    let mut explained: HashSet<u64> = HashSet::new();
    for (call, cmd, id, from, to) in &calls {
        let wanted = line_commands(cmd);
        let denied =
            denied_seqs.contains(&call.seq) || id.as_ref().is_some_and(|i| denied_ids.contains(i));
        let lo = *from - Duration::milliseconds(SLACK_MS);
        let hi = to.unwrap_or(end) + Duration::milliseconds(SLACK_MS);
        let in_window: Vec<&Exec> = execs.iter().filter(|x| x.ts >= lo && x.ts <= hi).collect();
        // Shells running this very command line explain it (and are explained by it).
        let mut seen = false;
        for x in &in_window {
            let inner = inner_commands(&x.argv);
            if inner.iter().any(|c| wanted.contains(c)) {
                seen = true;
                if shell_script(&x.argv).is_some() {
                    explained.insert(x.seq);
                }
            }
        }
        // Not expected to run: the guard denied it, or the agent never reported running it.
        if denied || to.is_none() {
            continue;
        }
        let expected: Vec<String> = wanted
            .iter()
            .filter_map(|c| c.first().map(|a| program(a).to_string()))
            .collect();
        if expected.is_empty() {
            continue;
        }
        seen = seen
            || in_window.iter().any(|x| {
                let p = program(&x.argv[0]);
                expected.iter().any(|e| e == p)
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
    // flightlog's own hook processes, and the shells above them (the one rule: analysis::own).
    let mut own = OwnHooks::new(own_exe);
    let ours: HashSet<u64> = execs
        .iter()
        .flat_map(|x| own.exec(x.seq, x.pid, x.ppid, x.exe.as_deref(), &x.argv))
        .collect();
    // Shells the agent itself started that no hook call explains, once hooks are reporting.
    if let Some(first_call) = calls.first().and_then(|c| c.0.time())
        && let Some(agent_pid) = execs.first().and_then(|x| x.pid)
    {
        for x in &execs {
            if x.ppid != Some(agent_pid) || x.ts < first_call || explained.contains(&x.seq) {
                continue;
            }
            if ours.contains(&x.seq) {
                continue;
            }
            let Some(script) = shell_script(&x.argv) else {
                continue;
            };
            // The harness writing its shell snapshot (Claude Code and Codex both start one
            // shell for it, on their own, before the first command they run).
            if script.contains("# Snapshot file") {
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
    use serde_json::Value;

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

    /// A traced process.
    fn exec(seq: u64, ms: i64, pid: i64, ppid: i64, argv: Value) -> Event {
        ev(
            seq,
            ms,
            Kind::Exec,
            "ptrace",
            json!({"argv": argv, "pid": pid, "ppid": ppid}),
        )
    }

    /// A Claude Code hook event.
    fn claude(seq: u64, ms: i64, kind: Kind, data: Value) -> Event {
        ev(seq, ms, kind, "hook:claude-code", data)
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 25, 11, 0, 0)
            .single()
            .unwrap()
    }

    #[test]
    fn matched_calls_and_execs_give_no_gap() {
        let evs = vec![
            exec(0, 0, 10, 1, json!(["node", "agent.js"])),
            claude(
                1,
                1000,
                Kind::ToolCall,
                json!({"command": "cd web && npm test", "tool": "Bash"}),
            ),
            exec(2, 1100, 11, 10, json!(["bash", "-c", "cd web && npm test"])),
            exec(3, 1200, 12, 11, json!(["/usr/bin/npm", "test"])),
            claude(4, 3000, Kind::ToolResult, json!({"call_seq": 1})),
        ];
        assert!(cross_check(&evs, now(), None).is_empty());
    }

    #[test]
    fn a_reported_command_never_traced_is_a_gap() {
        let evs = vec![
            exec(0, 0, 10, 1, json!(["node", "agent.js"])),
            claude(
                1,
                1000,
                Kind::ToolCall,
                json!({"command": "curl -X POST https://x", "tool": "Bash"}),
            ),
            claude(2, 1500, Kind::ToolResult, json!({"call_seq": 1})),
            exec(3, 9000, 13, 10, json!(["curl", "https://later"])),
        ];
        let g = cross_check(&evs, now(), None);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].data["reason"], "hook_command_not_traced");
        assert_eq!(g[0].data["call_seq"], 1);
    }

    #[test]
    fn an_unreported_agent_shell_is_a_gap() {
        let evs = vec![
            exec(0, 0, 10, 1, json!(["node", "agent.js"])),
            claude(
                1,
                1000,
                Kind::ToolCall,
                json!({"command": "ls", "tool": "Bash"}),
            ),
            exec(2, 1010, 11, 10, json!(["bash", "-c", "ls"])),
            exec(3, 1020, 12, 11, json!(["ls"])),
            claude(4, 1100, Kind::ToolResult, json!({"call_seq": 1})),
            exec(5, 5000, 14, 10, json!(["bash", "-lc", "rm -rf build"])),
            exec(
                6,
                5001,
                15,
                10,
                json!(["bash", "-c", "/usr/bin/flightlog hook claude-code"]),
            ),
        ];
        let g = cross_check(&evs, now(), None);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].data["reason"], "exec_not_reported_by_hooks");
        assert_eq!(g[0].data["exec_seq"], 5);
    }

    fn agent() -> Event {
        exec(0, 0, 10, 1, json!(["node", "/usr/bin/claude"]))
    }

    #[test]
    fn claude_codes_login_shell_and_eval_quoting_are_the_call() {
        let cmd = r#"curl -s -H 'Authorization: Bearer x' https://h/graphql -d '{"q":1}'"#;
        let script = format!(
            "SNAPSHOT_FILE=/root/.claude/shell-snapshots/s.sh; source \"$SNAPSHOT_FILE\"; eval '{}' < /dev/null && pwd -P >| /tmp/claude-1-cwd",
            cmd.replace('\'', r#"'"'"'"#)
        );
        let evs = vec![
            agent(),
            claude(
                1,
                1000,
                Kind::ToolCall,
                json!({"command": cmd, "tool": "Bash", "call_id": "t1"}),
            ),
            exec(2, 1100, 11, 10, json!(["/bin/bash", "-c", "-l", script])),
            exec(
                3,
                1200,
                12,
                11,
                json!([
                    "curl",
                    "-s",
                    "-H",
                    "Authorization: Bearer x",
                    "https://h/graphql",
                    "-d",
                    "{\"q\":1}"
                ]),
            ),
            claude(
                4,
                2000,
                Kind::ToolResult,
                json!({"call_seq": 1, "call_id": "t1"}),
            ),
        ];
        assert!(cross_check(&evs, now(), None).is_empty());
    }

    #[test]
    fn codex_process_setup_and_sandbox_chain_is_the_call() {
        let cmd = "curl -X POST https://h/graphql";
        let evs = vec![
            agent(),
            ev(
                1,
                1000,
                Kind::ToolCall,
                "hook:codex",
                json!({"command": cmd, "tool": "shell", "call_id": "c1"}),
            ),
            exec(
                2,
                1100,
                11,
                10,
                json!([
                    "codex",
                    "--codex-run-as-process-setup",
                    "/bin/bash",
                    "-c",
                    format!(". /root/.codex/shell_snapshots/s.sh\n{cmd}")
                ]),
            ),
            exec(
                3,
                1150,
                12,
                11,
                json!([
                    "codex-linux-sandbox",
                    "--sandbox-policy-cwd",
                    "/w",
                    "--",
                    "/bin/bash",
                    "-c",
                    format!("__CODEX_SNAPSHOT_OVERRIDE=1; {cmd}")
                ]),
            ),
            exec(
                4,
                1200,
                13,
                12,
                json!(["curl", "-X", "POST", "https://h/graphql"]),
            ),
            ev(
                5,
                2000,
                Kind::ToolResult,
                "hook:codex",
                json!({"call_id": "c1"}),
            ),
        ];
        assert!(cross_check(&evs, now(), None).is_empty());
    }

    #[test]
    fn denied_and_never_run_calls_expect_no_exec() {
        let evs = vec![
            agent(),
            claude(
                1,
                1000,
                Kind::ToolCall,
                json!({"command": "curl -X POST https://prod", "tool": "Bash", "call_id": "d1"}),
            ),
            ev(
                2,
                1001,
                Kind::Decision,
                "guard",
                json!({"decision": "deny", "call_id": "d1", "rule": "crossing"}),
            ),
            // asked, never answered: the agent did not run it
            claude(
                3,
                3000,
                Kind::ToolCall,
                json!({"command": "terraform destroy", "tool": "Bash", "call_id": "n1"}),
            ),
            exec(4, 9000, 20, 10, json!(["ls"])),
        ];
        assert!(cross_check(&evs, now(), None).is_empty());
        // The same call with a result, not denied, is a gap: the check still bites.
        let mut answered = evs.clone();
        answered.remove(2);
        answered.push(claude(5, 1500, Kind::ToolResult, json!({"call_id": "d1"})));
        let g = cross_check(&answered, now(), None);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].data["call_seq"], 1);
    }

    #[test]
    fn hooks_installed_with_any_command_are_flightlogs_own() {
        let evs = vec![
            agent(),
            claude(
                1,
                1000,
                Kind::ToolCall,
                json!({"command": "ls", "tool": "Bash", "call_id": "l1"}),
            ),
            exec(2, 1010, 11, 10, json!(["bash", "-c", "ls"])),
            claude(3, 1100, Kind::ToolResult, json!({"call_seq": 1})),
            // `hook install --command /opt/ci/fl-hook`: the agent runs it through a shell
            exec(4, 1200, 15, 10, json!(["/bin/sh", "-c", "/opt/ci/fl-hook"])),
            ev(
                5,
                1210,
                Kind::Exec,
                "ptrace",
                json!({"argv": ["/opt/ci/fl-hook"], "exe": "/opt/ci/flightlog-1.2", "pid": 15, "ppid": 10}),
            ),
        ];
        assert!(
            cross_check(&evs, now(), Some("/opt/ci/flightlog-1.2")).is_empty(),
            "{:?}",
            cross_check(&evs, now(), Some("/opt/ci/flightlog-1.2"))
        );
        // Someone else's binary in the same place is an unreported shell.
        assert_eq!(
            cross_check(&evs, now(), Some("/usr/bin/flightlog")).len(),
            1
        );
    }

    /// Sessions of real agents (Claude Code, Codex with and without its sandbox, Gemini CLI,
    /// Aider) under `record` and `record --guard`: every call is explained, nothing is a gap.
    #[test]
    fn real_agent_sessions_have_no_false_gaps() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../analysis/tests/data/agents");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.display().to_string();
            if !name.ends_with("-record.jsonl")
                && !name.ends_with("-guard.jsonl")
                && !name.ends_with("-sandboxed.jsonl")
            {
                continue;
            }
            let evs: Vec<Event> = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(|l| Event::from_bytes(l.as_bytes()).unwrap())
                .collect();
            assert!(evs.iter().any(|e| e.kind == Kind::Exec), "{name}");
            let g = cross_check(&evs, now(), None);
            assert!(
                g.is_empty(),
                "{name}: {:#?}",
                g.iter().map(|g| &g.data).collect::<Vec<_>>()
            );
            checked += 1;
        }
        assert_eq!(checked, 9);
    }

    #[test]
    fn without_tracing_nothing_is_claimed() {
        let evs = vec![claude(
            1,
            1000,
            Kind::ToolCall,
            json!({"command": "curl x"}),
        )];
        assert!(cross_check(&evs, now(), None).is_empty());
    }
}
