use super::*;
use chrono::TimeZone;
use flightlog_formats::verify::{StoreVerifyOptions, Trust, verify_store};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 25, 10, 0, 0)
        .single()
        .unwrap()
}

struct Fx {
    _d: tempfile::TempDir,
    store: Store,
    red: Redactor,
}

fn fx() -> Fx {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(&d.path().join("fl.db")).unwrap();
    Fx {
        _d: d,
        store,
        red: Redactor::new([3u8; 32]),
    }
}

fn env<'a>(f: &'a Fx, guard: Option<&'a GuardFn>) -> HookEnv<'a> {
    HookEnv {
        store: &f.store,
        redactor: &f.red,
        record_session: None,
        now: now(),
        guard,
        guard_context: 50,
        preface: Vec::new(),
    }
}

fn events(f: &Fx) -> Vec<Event> {
    let id = f.store.sessions().unwrap()[0].id.clone();
    f.store
        .events(&id, 0, 1000)
        .unwrap()
        .iter()
        .map(|e| e.event().unwrap())
        .collect()
}

const PRE: &str = r#"{"session_id":"abc123","transcript_path":"/t.jsonl","cwd":"/w","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"npm test","description":"Run test suite","timeout":120000,"run_in_background":false},"tool_use_id":"toolu_01ABC"}"#;
const POST: &str = r#"{"session_id":"abc123","transcript_path":"/t.jsonl","cwd":"/w","permission_mode":"default","hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_input":{"command":"npm test"},"tool_use_id":"toolu_01ABC","error":"Exit code 1\nError: Cannot find module 'express'","is_interrupt":false,"duration_ms":4187}"#;

#[test]
fn pre_and_post_are_joined_and_one_session() {
    let f = fx();
    let a = handle(Agent::ClaudeCode, PRE.as_bytes(), &env(&f, None)).unwrap();
    assert_eq!(a, Answer::default(), "allow prints nothing");
    handle(Agent::ClaudeCode, POST.as_bytes(), &env(&f, None)).unwrap();
    let ev = events(&f);
    assert_eq!(f.store.sessions().unwrap().len(), 1);
    assert_eq!(ev[0].kind, Kind::SessionStart);
    assert_eq!(ev[1].kind, Kind::ToolCall);
    assert_eq!(
        ev[1].tool_call().unwrap().command.as_deref(),
        Some("npm test")
    );
    let result = ev[2].tool_result().unwrap();
    assert_eq!((result.call_seq, result.is_error), (Some(1), Some(true)));
}

#[test]
fn malformed_payload_is_recorded_raw_and_non_blocking() {
    let f = fx();
    for bad in [
        &b"{not json"[..],
        b"[1,2]",
        b"{\"no\":\"event\"}",
        b"\xff\xfe\x00garbage",
    ] {
        let a = handle(Agent::ClaudeCode, bad, &env(&f, None)).unwrap();
        assert_eq!(a.exit, 1, "non-blocking (2 would block)");
        assert!(a.stderr.contains("not understood"), "{}", a.stderr);
    }
    let ev = events(&f);
    assert_eq!(ev.iter().filter(|e| e.kind == Kind::RawInput).count(), 4);
}

#[test]
fn deep_nesting_is_raw_input_not_a_crash() {
    let f = fx();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let a = handle(Agent::Gemini, deep.as_bytes(), &env(&f, None)).unwrap();
    assert_eq!(a.exit, 1);
}

#[test]
fn guard_denies_in_each_protocol_and_records_the_decision() {
    let deny = |_: &[Event], c: &Event| {
        c.tool_call()
            .and_then(|c| c.command)
            .filter(|c| c.contains("volumeDelete"))
            .map(|_| Denial {
                rule: Some("railway.volumeDelete".into()),
                reason: "destructive call outside home".into(),
            })
    };
    let cases = [
        (
            Agent::ClaudeCode,
            r#"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"curl -d '{\"query\":\"mutation { volumeDelete(volumeId: \\\"x\\\") }\"}' https://backboard.railway.app/graphql/v2"}}"#,
            "permissionDecision",
        ),
        (
            Agent::Codex,
            r#"{"session_id":"s2","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"curl volumeDelete"}}"#,
            "permissionDecision",
        ),
        (
            Agent::Gemini,
            r#"{"session_id":"s3","hook_event_name":"BeforeTool","tool_name":"run_shell_command","tool_input":{"command":"curl volumeDelete"}}"#,
            "\"decision\":\"deny\"",
        ),
        (
            Agent::Cursor,
            r#"{"conversation_id":"c","generation_id":"g","hook_event_name":"beforeShellExecution","command":"curl volumeDelete","cwd":"/w"}"#,
            "\"permission\":\"deny\"",
        ),
    ];
    for (agent, payload, needle) in cases {
        let f = fx();
        let a = handle(agent, payload.as_bytes(), &env(&f, Some(&deny))).unwrap();
        assert!(a.stdout.contains(needle), "{agent:?}: {}", a.stdout);
        assert_eq!(a.exit, 0);
        let ev = events(&f);
        let d = ev
            .iter()
            .find_map(Event::decision)
            .expect("decision recorded");
        assert_eq!(d.decision.as_deref(), Some("deny"));
        assert_eq!(d.rule.as_deref(), Some("railway.volumeDelete"));
        // A harmless command is allowed.
        let ok = payload.replace("volumeDelete", "echo");
        let a = handle(agent, ok.as_bytes(), &env(&f, Some(&deny))).unwrap();
        assert!(!a.stdout.contains("deny"), "{agent:?}: {}", a.stdout);
    }
}

#[test]
fn secrets_in_payloads_never_reach_the_store() {
    let f = fx();
    let tok = "9c1f6a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    let p = format!(
        r#"{{"session_id":"abc","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t9","tool_input":{{"command":"curl -H 'Authorization: Bearer {tok}' https://backboard.railway.app/graphql/v2"}}}}"#
    );
    handle(Agent::ClaudeCode, p.as_bytes(), &env(&f, None)).unwrap();
    let p2 = format!(
        r#"{{"session_id":"abc","hook_event_name":"PostToolUse","tool_name":"Grep","tool_use_id":"t8","tool_input":{{"pattern":"RAILWAY"}},"tool_response":{{"stdout":"ops/domains.env:1:RAILWAY_API_TOKEN={tok}"}}}}"#
    );
    handle(Agent::ClaudeCode, p2.as_bytes(), &env(&f, None)).unwrap();
    let ev = events(&f);
    let fps: Vec<&str> = ev
        .iter()
        .flat_map(|e| e.redactions.iter().map(|r| r.fp.as_str()))
        .collect();
    assert_eq!(fps.len(), 2);
    assert_eq!(fps[0], fps[1], "the same secret links across events");
    drop(ev);
    flightlog_fixtures::check::assert_secret_absent(f.store.path(), tok);
}

#[test]
fn parallel_hooks_keep_one_linear_chain() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("fl.db");
    Store::open(&db).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&db).unwrap();
                store.set_busy_timeout(30_000).unwrap();
                let red = Redactor::new([3u8; 32]);
                for i in 0..50 {
                    let p = format!(r#"{{"session_id":"same","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t{t}-{i}","tool_input":{{"command":"echo {t} {i}"}}}}"#);
                    let e = HookEnv { store: &store, redactor: &red, record_session: None, now: now(), guard: None, guard_context: 0, preface: Vec::new() };
                    handle(Agent::ClaudeCode, p.as_bytes(), &e).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let store = Store::open(&db).unwrap();
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].events, 401, "400 tool calls + session_start");
    let r = verify_store(
        &store,
        &StoreVerifyOptions {
            session: None,
            trust: Trust::default(),
            external: None,
        },
    )
    .unwrap();
    assert!(r.intact, "{:?}", r.problems);
}

#[test]
fn install_merges_and_is_idempotent() {
    let d = tempfile::tempdir().unwrap();
    for agent in [
        Agent::ClaudeCode,
        Agent::Codex,
        Agent::Gemini,
        Agent::Cursor,
    ] {
        let path = install::config_path(agent, InstallScope::Project, d.path(), d.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"model":"keep-me","hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"./mine.sh"}]}]}}"#).unwrap();
        let cmd = format!("/usr/bin/flightlog hook {}", agent.name());
        let first = install(agent, &path, &cmd).unwrap();
        assert!(!first.added.is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        let second = install(agent, &path, &cmd).unwrap();
        assert!(
            second.added.is_empty(),
            "{agent:?} second run added {:?}",
            second.added
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["model"], "keep-me");
        assert_eq!(
            v["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "./mine.sh",
            "{agent:?}"
        );
    }
}

#[test]
fn install_refuses_broken_json() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("settings.json");
    std::fs::write(&p, "{ broken").unwrap();
    assert!(matches!(
        install(Agent::ClaudeCode, &p, "x"),
        Err(install::InstallError::BadJson { .. })
    ));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "{ broken");
}

#[test]
fn long_raw_payloads_are_not_cut_inside_a_secret() {
    let f = fx();
    let tok = "ghp_abcdefghijklmnopqrstuvwxyz0123456789ABCD";
    // Not JSON, so it is kept raw; the token straddles the 256 KiB limit.
    let mut payload = "x".repeat(MAX_STRING - 20).into_bytes();
    payload.extend_from_slice(format!(" see {tok} tail").as_bytes());
    let a = handle(Agent::ClaudeCode, &payload, &env(&f, None)).unwrap();
    assert_eq!(a.exit, 1);
    let ev = events(&f);
    let raw = ev.iter().find_map(Event::raw_input).unwrap();
    let kept = raw.raw.as_deref().unwrap();
    assert!(!kept.contains("ghp_abcdefghij"), "no partial token is kept");
    assert!(kept.len() <= MAX_STRING);
}

/// Every field of every reference payload (`fixtures/hooks/`, refreshed from the real agents'
/// runs) survives into the events.
#[test]
fn no_field_of_a_reference_payload_is_dropped() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hooks");
    let mut dropped = Vec::new();
    let mut n = 0;
    for agent in [
        Agent::ClaudeCode,
        Agent::Codex,
        Agent::Gemini,
        Agent::Cursor,
    ] {
        for e in std::fs::read_dir(dir.join(agent.name())).unwrap() {
            let p = e.unwrap().path();
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            n += 1;
            let d = dropped_fields(agent, &v);
            if !d.is_empty() {
                dropped.push(format!("{}: {d:?}", p.display()));
            }
        }
    }
    assert!(n >= 30, "{n}");
    assert!(dropped.is_empty(), "{}", dropped.join("\n"));
}

#[test]
fn lifted_and_renamed_fields_are_not_dropped() {
    // Lifted and renamed fields are kept; a part of an object that nothing lifted must be kept
    // too.
    let kept = json!({"session_id": "s1", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "ls -la"}, "tool_use_id": "toolu_1"});
    assert_eq!(
        dropped_fields(Agent::ClaudeCode, &kept),
        Vec::<String>::new()
    );
    // Gemini's AfterTool: the normaliser lifts parts of tool_response; a part it did not lift
    // must still be somewhere.
    let after = json!({"session_id": "g1", "hook_event_name": "AfterTool", "timestamp": "2026-12-04T10:00:00Z",
        "tool_name": "replace", "tool_input": {"file_path": "/w/a"},
        "tool_response": {"llmContent": "Successfully modified file", "returnDisplay": {"fileDiff": "--- a\n+++ b\n"}}});
    assert_eq!(dropped_fields(Agent::Gemini, &after), Vec::<String>::new());
    let notify = json!({"type": "agent-turn-complete", "thread-id": "t1", "input-messages": ["hi there"],
        "last-assistant-message": "done here", "cwd": "/w"});
    assert_eq!(dropped_fields(Agent::Codex, &notify), Vec::<String>::new());
}

/// The commits in a store's WAL: frames that end a transaction (a non-zero database size in
/// the frame header), with the salts of the WAL's current header.
fn wal_commits(db: &std::path::Path) -> usize {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let bytes = std::fs::read(wal).unwrap_or_default();
    if bytes.len() < 32 {
        return 0;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let page = be(8) as usize;
    let salts = (be(16), be(20));
    let mut at = 32;
    let mut commits = 0;
    while at + 24 + page <= bytes.len() {
        if (be(at + 8), be(at + 12)) != salts {
            break;
        }
        if be(at + 4) != 0 {
            commits += 1;
        }
        at += 24 + page;
    }
    commits
}

#[test]
fn a_hook_is_one_transaction_guard_or_not() {
    let allow = |_: &[Event], _: &Event| None;
    let deny = |_: &[Event], _: &Event| {
        Some(Denial {
            rule: Some("r".into()),
            reason: "no".into(),
        })
    };
    let later = PRE.replace("toolu_01ABC", "toolu_02DEF");
    // Every payload, the first of a new session included, commits exactly once.
    let cases: [(&str, Option<&GuardFn>); 3] = [
        ("no guard", None),
        ("allow", Some(&allow)),
        ("deny", Some(&deny)),
    ];
    for (name, guard) in cases {
        let f = fx();
        let db = f.store.path().to_path_buf();
        for payload in [PRE, POST, later.as_str()] {
            let before = wal_commits(&db);
            handle(Agent::ClaudeCode, payload.as_bytes(), &env(&f, guard)).unwrap();
            assert_eq!(
                wal_commits(&db) - before,
                1,
                "{name}: one commit for {payload}"
            );
        }
    }
}

#[test]
fn the_guard_sees_the_session_and_the_call_at_its_stored_seq() {
    let f = fx();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let saw = std::rc::Rc::clone(&seen);
    let watch = move |prior: &[Event], c: &Event| {
        saw.borrow_mut()
            .push((prior.iter().map(|e| e.seq).collect::<Vec<_>>(), c.seq));
        None
    };
    let mut e = env(&f, Some(&watch));
    e.preface = vec![NewEvent::new(
        now(),
        Kind::Gap,
        "recorder",
        json!({"layer": "hook", "reason": "hook_not_recorded"}),
    )];
    handle(Agent::ClaudeCode, PRE.as_bytes(), &e).unwrap();
    let stored = events(&f);
    let call = stored
        .iter()
        .find(|e| e.kind == Kind::ToolCall)
        .expect("tool call stored");
    // The session start (created in the same transaction) is visible to the guard, and the
    // candidate carries the seq it is stored at, after the preface's gap.
    assert_eq!(*seen.borrow(), vec![(vec![0], call.seq)]);
    assert_eq!(call.seq, 2);
}
