//! `record` end to end, in process: a scripted agent under the recorder.
//!
//! The tracer waits for any child of this process, so everything runs in one test function
//! (no other children are started while a recording runs).

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use flightlog_fixtures::check::{assert_secret_absent, session_events};
use flightlog_formats::{Event, Kind, Store};
use flightlog_recorder::record::{self, Judge, RecordOptions};
use serde_json::Value;

const TOKEN: &str = "ghp_Zq3XbT9wLm2VnR7cY5kP1sJ8hD4fG6aE0uQi";

/// A tiny HTTP server: answers every request with a JSON body, returns what it saw.
fn server() -> (u16, std::sync::mpsc::Receiver<String>) {
    flightlog_fixtures::upstream::json_server("200 OK", r#"{"data":{"volumeDelete":true}}"#)
        .unwrap()
}

fn opts(dir: &Path, db: &Path, argv: &[&str], env: Vec<(String, String)>) -> RecordOptions {
    RecordOptions {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        db: db.to_path_buf(),
        key_dir: db.parent().unwrap().join("keys"),
        home_env: Some("staging".into()),
        label: Some("test".into()),
        judge: Judge::new(false, true, false).with_root(dir),
        tls_intercept: false,
        trace: true,
        watch: true,
        proxy: true,
        cwd: dir.to_path_buf(),
        clock: Arc::new(chrono::Utc::now),
        env,
        push: None,
    }
}

#[test]
fn scripted_agent_is_recorded() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().canonicalize().unwrap();
    // The store lives inside the work tree: its files must never show up as changes.
    let db = work.join(".flightlog/flightlog.db");
    std::fs::write(work.join("old.txt"), "old content\n").unwrap();
    std::fs::write(work.join("keep.txt"), "kept\n").unwrap();
    std::fs::write(work.join(".gitignore"), "ignored/\n").unwrap();
    std::fs::create_dir(work.join("ignored")).unwrap();
    std::fs::write(work.join("ops.env"), format!("GITHUB_TOKEN={TOKEN}\n")).unwrap();
    let (port, seen) = server();
    let script = format!(
        r#"set -e
echo "agent starting"
ls > /dev/null
(sleep 0.2; echo background > bg.txt) &
echo hello > new.txt
echo noise > ignored/x.txt
rm old.txt
mv keep.txt moved.txt
curl -s -H "Authorization: Bearer $AGENT_TOKEN" -H 'Content-Type: application/json' \
  -d '{{"query":"mutation {{ volumeDelete(volumeId: \"v1\") }}"}}' http://127.0.0.1:{port}/graphql/v2
echo
wait
exit 7
"#
    );
    std::fs::write(work.join("agent.sh"), script).unwrap();
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.push(("AGENT_TOKEN".into(), TOKEN.into()));
    let out = record::record(opts(&work, &db, &["bash", "agent.sh"], env)).unwrap();
    assert_eq!(out.exit, 7, "{:?}", out.warnings);

    // The server saw the call, with the token (the agent works as without flightlog).
    let req = seen
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert!(req.starts_with("POST /graphql/v2 HTTP/1.1"), "{req}");
    assert!(req.contains(TOKEN));

    let evs = session_events(&db, &out.session);
    let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"session_start"));
    assert!(kinds.contains(&"session_end"));
    assert_eq!(kinds.last(), Some(&"checkpoint"));

    let argv0s: Vec<String> = evs
        .iter()
        .filter(|e| e.kind == Kind::Exec)
        .filter_map(|e| e.data["argv"].as_array())
        .filter_map(|a| a.first().and_then(Value::as_str))
        .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
        .collect();
    for want in ["bash", "ls", "sleep", "rm", "curl"] {
        assert!(argv0s.iter().any(|a| a == want), "{want} not in {argv0s:?}");
    }
    // Each exec has a follow-up with its exit status.
    let exit_of = |argv0: &str| {
        let exec = evs
            .iter()
            .find(|e| e.kind == Kind::Exec && e.data["argv"][0] == argv0)
            .unwrap_or_else(|| panic!("no exec of {argv0}"));
        evs.iter()
            .find(|e| e.data["exit_of_seq"] == exec.seq)
            .unwrap_or_else(|| panic!("no exit of {argv0}"))
    };
    let sleep_exit = exit_of("sleep");
    assert_eq!(sleep_exit.data["exit"], 0);
    assert!(sleep_exit.data["duration_ms"].as_u64().unwrap() >= 150);
    assert_eq!(exit_of("bash").data["exit"], 7);

    let changes: Vec<&Event> = evs.iter().filter(|e| e.kind == Kind::FileChange).collect();
    let find = |p: &str, op: &str| {
        changes
            .iter()
            .find(|e| e.data["path"] == p && e.data["op"] == op)
            .unwrap_or_else(|| panic!("{op} {p} missing: {changes:#?}"))
    };
    let diff = |p: &str, op: &str| find(p, op).data["diff"].as_str().unwrap().to_string();
    let created = diff("new.txt", "create");
    assert!(created.contains("+hello"), "{created}");
    let deleted = diff("old.txt", "delete");
    assert!(deleted.contains("-old content"), "{deleted}");
    find("bg.txt", "create");
    let mv = find("moved.txt", "rename");
    assert_eq!(mv.data["from"], "keep.txt");
    assert_eq!(mv.data["sha256_before"], mv.data["sha256_after"]);
    for c in &changes {
        let p = c.data["path"].as_str().unwrap();
        assert!(
            !p.starts_with(".flightlog") && !p.starts_with("ignored"),
            "{p}"
        );
    }

    let api: Vec<&Event> = evs.iter().filter(|e| e.kind == Kind::ApiCall).collect();
    let proxied = api
        .iter()
        .find(|e| e.source == "proxy" && e.data["method"] == "POST")
        .unwrap_or_else(|| panic!("no proxied call: {api:#?}"));
    assert_eq!(proxied.data["host"], "127.0.0.1");
    assert_eq!(proxied.data["graphql"]["root_fields"][0], "volumeDelete");
    let response = api
        .iter()
        .find(|e| e.data["response_of_seq"] == proxied.seq)
        .unwrap();
    assert_eq!(response.data["status"], 200);
    let curl = evs
        .iter()
        .find(|e| e.kind == Kind::Exec && e.data["argv"][0] == "curl")
        .unwrap();
    let from_argv = api
        .iter()
        .find(|e| e.source == "argv")
        .expect("curl's argv decoded too");
    assert_eq!(from_argv.data["via_seq"], curl.seq);
    // Every exec that started has its exit, linked by seq.
    for e in evs
        .iter()
        .filter(|e| e.kind == Kind::Exec && e.data.get("argv").is_some())
    {
        assert!(
            evs.iter().any(|x| x.data["exit_of_seq"] == e.seq),
            "no exit for {}",
            e.data["argv"]
        );
    }
    assert!(
        !evs.iter()
            .any(|x| x.data.get("exit_of_seq").is_some_and(Value::is_null)),
        "an exit without its exec"
    );

    let inv = evs
        .iter()
        .find(|e| e.kind == Kind::Note && e.data.get("inventory").is_some())
        .unwrap();
    let items = inv.data["inventory"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["path"] == "ops.env" && i["line"] == 1),
        "{items:?}"
    );

    let terminal: String = evs
        .iter()
        .filter(|e| e.kind == Kind::Terminal)
        .filter_map(|e| e.data["data"].as_str())
        .collect();
    assert!(terminal.contains("agent starting"), "{terminal:?}");
    assert!(terminal.contains("volumeDelete"));

    // The raw secret is nowhere in the store's files.
    assert_secret_absent(&db, TOKEN);
    // The chain verifies.
    let store = Store::open_read_only(&db).unwrap();
    let report = flightlog_formats::verify::verify_store(&store, &Default::default()).unwrap();
    assert!(report.intact, "{report:?}");
}
