//! `flightlog hook` driven as agents drive it: one process per payload, many in parallel.

use std::process::Command;

use flightlog_formats::{Kind, Store};
use serde_json::Value;

use crate::common::{TestEnv, assert_secret_absent, bin, kinds, output_with_stdin};

/// Runs `flightlog hook <agent>` with `payload` on stdin; returns (exit code, stdout, stderr).
fn hook(
    env: &TestEnv,
    agent: &str,
    payload: &[u8],
    fake_now: Option<&str>,
) -> (i32, String, String) {
    let mut cmd = env.cmd();
    cmd.args(["hook", agent]);
    if let Some(t) = fake_now {
        cmd.env("FLIGHTLOG_FAKE_NOW", t);
    }
    let out = output_with_stdin(cmd, payload);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `flightlog verify --json` of the whole store: (exit code, report).
fn verify_json(env: &TestEnv) -> (i32, Value) {
    let out = env.run(&["verify", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn eight_processes_times_500_events_make_one_linear_chain() {
    let env = TestEnv::new();
    std::thread::scope(|s| {
        for w in 0..8 {
            let env = &env;
            s.spawn(move || {
                for i in 0..500 {
                    let p = format!(r#"{{"session_id":"parallel","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"w{w}-{i}","tool_input":{{"command":"echo {w} {i}"}}}}"#);
                    let (code, _, err) = hook(env, "claude-code", p.as_bytes(), None);
                    assert_eq!(code, 0, "writer {w} event {i}: {err}");
                }
            });
        }
    });
    let store = Store::open_read_only(&env.db).unwrap();
    let sessions = store.sessions().unwrap();
    assert_eq!(
        sessions.len(),
        1,
        "one agent session, one flightlog session"
    );
    let id = &sessions[0].id;
    let mut seqs = Vec::new();
    let mut calls = std::collections::HashSet::new();
    store
        .for_each_event(id, |e| {
            let ev = e.event().unwrap();
            seqs.push(ev.seq);
            if ev.kind == Kind::ToolCall {
                calls.insert(ev.data["call_id"].as_str().unwrap().to_string());
            }
            true
        })
        .unwrap();
    assert_eq!(seqs, (0..4001).collect::<Vec<u64>>(), "no fork, no gap");
    assert_eq!(calls.len(), 4000, "no lost event");
    let (code, v) = verify_json(&env);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["events_checked"], 4001);
    println!(
        "8 writers x 500 hook processes: one chain of {} events, verify intact",
        seqs.len()
    );
}

#[test]
fn reference_payloads_of_every_agent_are_understood() {
    let dir = flightlog_fixtures::fixtures_dir().join("hooks");
    let env = TestEnv::new();
    let files = |sub: &str| {
        let mut v: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let mut n = 0;
    for agent in ["claude-code", "codex", "gemini", "cursor"] {
        for f in files(agent) {
            let (code, _, err) = hook(&env, agent, &std::fs::read(&f).unwrap(), None);
            assert_eq!(code, 0, "{}: {err}", f.display());
            n += 1;
        }
    }
    assert!(n >= 30, "only {n} reference payloads found");
    // Malformed input: recorded raw, a clear message, a non-blocking exit code (never 2).
    let invalid = [
        "empty.json",
        "whitespace.json",
        "not-json.txt",
        "truncated.json",
        "array.json",
        "string.json",
        "trailing-garbage.json",
        "two-payloads.json",
        "missing-event-name.json",
        "nul-byte.json",
        "invalid-utf8.json",
        "deeply-nested.json",
    ];
    for f in files("malformed") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (code, _, err) = hook(&env, "claude-code", &std::fs::read(&f).unwrap(), None);
        if invalid.contains(&name.as_str()) {
            assert_eq!(
                code, 1,
                "{name}: malformed input must be non-blocking exit 1"
            );
            assert!(err.contains("not understood"), "{name}: {err}");
        } else {
            assert_eq!(code, 0, "{name}: odd but valid input is recorded: {err}");
        }
    }
    let store = Store::open_read_only(&env.db).unwrap();
    let mut raw = 0;
    for s in store.sessions().unwrap() {
        store
            .for_each_event(&s.id, |e| {
                if e.event().unwrap().kind == Kind::RawInput {
                    raw += 1;
                }
                true
            })
            .unwrap();
    }
    assert_eq!(
        raw,
        invalid.len(),
        "every malformed payload is kept as raw_input"
    );
    assert_eq!(verify_json(&env).0, 0);
}

#[test]
fn the_incident_through_hooks_is_one_session_without_raw_secrets() {
    let path = flightlog_fixtures::fixtures_dir().join("incident/pocketos.hooks.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let env = TestEnv::new();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let ts = v.get("timestamp").and_then(Value::as_str);
        let (code, _, err) = hook(&env, "claude-code", line.as_bytes(), ts);
        assert_eq!(code, 0, "{err}");
        lines += 1;
    }
    let sessions = Store::open_read_only(&env.db).unwrap().sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    let evs = env.events(&sessions[0].id);
    // Read results add a file_read event, and the agent's SessionEnd a final checkpoint.
    let from_payloads = evs
        .iter()
        .filter(|e| e.kind != Kind::FileRead && e.kind != Kind::Checkpoint)
        .count();
    assert_eq!(evs.last().map(|e| e.kind.clone()), Some(Kind::Checkpoint));
    assert_eq!(
        from_payloads,
        lines + 1,
        "every payload recorded (plus session_start)"
    );
    let results = evs.iter().filter(|e| e.kind == Kind::ToolResult).count();
    let joined = evs
        .iter()
        .filter(|e| e.kind == Kind::ToolResult && e.data["call_seq"].is_u64())
        .count();
    assert!(
        results > 0 && joined == results,
        "every tool result joined to its call"
    );
    assert!(
        evs.iter().any(|e| !e.redactions.is_empty()),
        "the token is redacted, with a fingerprint"
    );
    // No raw secret from the fixture in any file of the store.
    for secret in [
        flightlog_fixtures::railway::ACCOUNT_TOKEN,
        flightlog_fixtures::railway::PROJECT_TOKEN,
    ] {
        assert_secret_absent(&env.db, secret);
    }
}

#[test]
fn a_hook_that_could_not_record_becomes_a_gap_in_the_next_one() {
    let env = TestEnv::new();
    let pre = |id: &str| {
        format!(
            r#"{{"session_id":"locked","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"{id}","tool_input":{{"command":"echo {id}"}}}}"#
        )
    };
    assert_eq!(hook(&env, "claude-code", pre("t1").as_bytes(), None).0, 0);
    // Another writer holds the lock longer than the hook may wait.
    let holder = Store::open(&env.db).unwrap();
    holder
        .connection()
        .execute_batch("BEGIN IMMEDIATE")
        .unwrap();
    let mut cmd = env.cmd();
    cmd.args(["hook", "claude-code"])
        .env("FLIGHTLOG_HOOK_TIMEOUT_MS", "200");
    let out = output_with_stdin(cmd, pre("t2").as_bytes());
    assert_eq!(out.status.code(), Some(1), "fail open, non-blocking");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fail open"));
    holder.connection().execute_batch("ROLLBACK").unwrap();
    drop(holder);
    // The next hook records, and says what was lost before it.
    assert_eq!(hook(&env, "claude-code", pre("t3").as_bytes(), None).0, 0);
    let id = Store::open_read_only(&env.db).unwrap().sessions().unwrap()[0]
        .id
        .clone();
    let evs = env.events(&id);
    let gap = evs
        .iter()
        .find(|e| e.kind == Kind::Gap)
        .expect("a gap for the lost hook");
    assert_eq!(gap.data["reason"], "hook_not_recorded");
    assert_eq!(gap.data["failure"]["agent_session"], "locked");
    assert!(gap.data["detail"].as_str().unwrap().contains("PreToolUse"));
    let calls: Vec<&str> = evs
        .iter()
        .filter(|e| e.kind == Kind::ToolCall)
        .filter_map(|e| e.data["call_id"].as_str())
        .collect();
    assert_eq!(calls, ["t1", "t3"]);
    assert!(
        !env.path("store/hook-failures.jsonl").exists(),
        "the note is consumed"
    );
}

#[test]
fn the_agents_session_end_seals_the_session_with_checkpoints() {
    let env = TestEnv::new();
    let pre = r#"{"session_id":"ends","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"ls"}}"#;
    let end =
        r#"{"session_id":"ends","hook_event_name":"SessionEnd","reason":"prompt_input_exit"}"#;
    assert_eq!(hook(&env, "claude-code", pre.as_bytes(), None).0, 0);
    assert_eq!(hook(&env, "claude-code", end.as_bytes(), None).0, 0);
    let store = Store::open_read_only(&env.db).unwrap();
    let s = &store.sessions().unwrap()[0];
    assert!(s.ended.is_some());
    let recorded: Vec<Kind> = env.events(&s.id).into_iter().map(|e| e.kind).collect();
    assert_eq!(
        recorded,
        [
            Kind::SessionStart,
            Kind::ToolCall,
            Kind::SessionEnd,
            Kind::Checkpoint
        ]
    );
    assert!(
        store.latest_checkpoint().unwrap().is_some(),
        "a store checkpoint too"
    );
    let (code, v) = verify_json(&env);
    assert_eq!(code, 0, "{v}");
    let warnings = kinds(&v, "warnings");
    assert!(!warnings.contains(&"unanchored_tail"), "{warnings:?}");
}

/// The fsync-family calls of one hook, traced by strace: each as `(call, path synced)`, the
/// path read from the file descriptor's `openat` earlier in the same trace. None without strace.
fn hook_syncs(env: &TestEnv, payload: &[u8]) -> Option<Vec<(String, String)>> {
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is missing (apt-get install strace)"
        );
        eprintln!("skipped: strace is not installed (apt-get install strace)");
        return None;
    }
    let log = env.path("hook.strace");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=openat,fsync,fdatasync", "-o"])
        .arg(&log)
        .arg(bin())
        .arg("--db")
        .arg(&env.db)
        .args(["hook", "claude-code"])
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_POLICY");
    assert!(output_with_stdin(cmd, payload).status.success());
    let text = std::fs::read_to_string(&log).expect("strace log");
    let mut fds = std::collections::HashMap::new();
    let mut syncs = Vec::new();
    for line in text.lines() {
        // `PID openat(AT_FDCWD, "path", FLAGS) = FD` and `PID fsync(FD) = 0`.
        let call = line.split_whitespace().nth(1).unwrap_or("");
        if call.starts_with("openat(")
            && let (Some(path), Some(fd)) = (line.split('"').nth(1), line.rsplit("= ").next())
        {
            fds.insert(fd.trim().to_string(), path.to_string());
        } else if let Some(rest) = call
            .strip_prefix("fsync(")
            .map(|r| ("fsync", r))
            .or_else(|| call.strip_prefix("fdatasync(").map(|r| ("fdatasync", r)))
        {
            let fd = rest.1.split(')').next().unwrap_or("");
            syncs.push((rest.0.to_string(), fds.get(fd).cloned().unwrap_or_default()));
        }
    }
    Some(syncs)
}

#[test]
fn a_hook_costs_one_fsync_and_a_new_wal_gets_its_directory_synced_first() {
    let env = TestEnv::new();
    let dir = env.db.parent().unwrap().to_path_buf();
    let wal = dir.join("fl.db-wal");
    let pre = |id: &str| {
        format!(
            r#"{{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"{id}","tool_input":{{"command":"ls"}}}}"#
        )
    };
    assert_eq!(hook(&env, "claude-code", pre("t1").as_bytes(), None).0, 0);
    let Some(syncs) = hook_syncs(&env, pre("t2").as_bytes()) else {
        return;
    };
    assert_eq!(
        syncs,
        [("fsync".to_string(), wal.display().to_string())],
        "one fsync, of the WAL"
    );
    // Everything checkpointed into the database, the WAL removed (as another program's last
    // connection does): the next hook creates it, and syncs the directory before its commit.
    {
        let s = Store::open(&env.db).unwrap();
        s.connection()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    std::fs::remove_file(&wal).unwrap();
    let syncs = hook_syncs(&env, pre("t3").as_bytes()).expect("strace ran above");
    let dir = dir.display().to_string();
    let at_dir = syncs.iter().position(|(_, p)| *p == dir);
    let last_wal = syncs
        .iter()
        .rposition(|(_, p)| *p == wal.display().to_string());
    assert!(
        matches!((at_dir, last_wal), (Some(a), Some(b)) if a < b),
        "the directory is synced before the commit: {syncs:?}"
    );
    let (code, _) = verify_json(&env);
    assert_eq!(code, 0, "all three calls are in an intact store");
}
