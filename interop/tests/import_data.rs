//! Imports every file of the shared test data (`<repo>/../shared/data`): tool-call counts match
//! counts.json, nothing fails, unknown record types are kept.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use flightlog_fixtures::check::session_events;
use flightlog_formats::verify::{StoreVerifyOptions, verify_store};
use flightlog_formats::{Event, Keys, Kind, Redactor, Store};
use flightlog_interop::import::{self, Parsed};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).to_path_buf()
}

fn counts() -> Value {
    let text = std::fs::read_to_string(data_dir().join("counts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn count(p: &Parsed, kind: Kind) -> usize {
    p.events.iter().filter(|e| e.kind == kind).count()
}

fn main_transcripts() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir().join("claude-code"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    v.sort();
    v
}

#[test]
fn claude_code_counts_match() {
    let c = counts();
    let mut seen_files = 0;
    for path in main_transcripts() {
        let p = import::claude_code::parse_path(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        // Expected: the file's own counts plus its subagent files'.
        let (mut calls, mut results, mut lines) = (0, 0, 0);
        for (k, v) in c.as_object().unwrap() {
            let own = *k == format!("claude-code/{stem}.jsonl");
            let sub = k.starts_with(&format!("claude-code/{stem}/subagents/"));
            if own || sub {
                seen_files += 1;
                calls += v["tool_use"].as_u64().unwrap();
                results += v["tool_result"].as_u64().unwrap();
                lines += v["lines"].as_u64().unwrap();
            }
        }
        assert_eq!(
            count(&p, Kind::ToolCall) as u64,
            calls,
            "{stem}: tool calls"
        );
        assert_eq!(
            count(&p, Kind::ToolResult) as u64,
            results,
            "{stem}: tool results"
        );
        assert_eq!(p.stats.records, lines, "{stem}: records read");
        assert_eq!(p.stats.unparseable_lines, 0, "{stem}");
        assert_eq!(
            p.stats.unmatched_results, 0,
            "{stem}: every result joins its call"
        );
        assert_eq!(count(&p, Kind::RawInput), 0, "{stem}");
        for e in &p.events {
            assert_eq!(e.source, "import:claude-code");
            assert_eq!(e.data["imported"], Value::Bool(true));
        }
        // Every result names its call's seq and tool.
        for (i, e) in p.events.iter().enumerate() {
            if e.kind == Kind::ToolResult {
                let cs = e.data["call_seq"].as_u64().unwrap() as usize;
                assert!(cs < i);
                assert_eq!(p.events[cs].kind, Kind::ToolCall);
                assert_eq!(p.events[cs].data["call_id"], e.data["call_id"]);
            }
        }
        assert_eq!(p.events[0].kind, Kind::SessionStart);
        assert_eq!(p.events.last().unwrap().kind, Kind::SessionEnd);
    }
    assert_eq!(
        seen_files, 7,
        "every claude-code file in counts.json was covered"
    );
}

#[test]
fn subagents_link_to_the_parent_task_call() {
    let path = data_dir().join("claude-code/4d5611e5-241a-462a-8d15-5122611a9569.jsonl");
    let p = import::claude_code::parse_path(&path).unwrap();
    assert_eq!(p.stats.subagents, 2);
    let task = p
        .events
        .iter()
        .position(|e| e.kind == Kind::ToolCall && e.data["subagent_id"] == "a2898e3")
        .expect("the Task call names its subagent");
    assert_eq!(p.events[task].data["tool"], "Task");
    let sub: Vec<_> = p
        .events
        .iter()
        .filter(|e| e.data["subagent"]["agent_id"] == "a2898e3")
        .collect();
    assert!(sub.len() > 100);
    for e in &sub {
        assert_eq!(e.data["subagent"]["parent_call_seq"], task as u64);
    }
    let sub_calls = sub.iter().filter(|e| e.kind == Kind::ToolCall).count();
    assert_eq!(sub_calls, 33);
    // Times never go backwards across the merge of parent and subagent files.
    let start = sub.iter().map(|e| e.ts).min().unwrap();
    assert!(start >= p.events[task].ts);

    // subagent.jsonl's subagent file is missing upstream: a gap says so.
    let p =
        import::claude_code::parse_path(&data_dir().join("claude-code/subagent.jsonl")).unwrap();
    let gap = p
        .events
        .iter()
        .find(|e| e.kind == Kind::Gap)
        .expect("gap for the missing file");
    assert_eq!(gap.data["reason"], "subagent_transcript_missing");
    assert_eq!(gap.data["agent_id"], "afb92ff");
    assert_eq!(gap.data["tool_calls_reported"], 9);
}

#[test]
fn codex_counts_match_and_unknown_types_are_kept() {
    let c = counts();
    for name in [
        "sample_codex_session.jsonl",
        "rollout-2026-01-02T03-04-05-11111111-1111-4111-8111-111111111111.jsonl",
    ] {
        let p = import::codex::parse_path(&data_dir().join("codex").join(name)).unwrap();
        let want = &c[format!("codex/{name}")];
        let calls =
            want["function_call"].as_u64().unwrap() + want["custom_tool_call"].as_u64().unwrap();
        let results = want["function_call_output"].as_u64().unwrap()
            + want["custom_tool_call_output"].as_u64().unwrap();
        assert_eq!(count(&p, Kind::ToolCall) as u64, calls, "{name}");
        assert_eq!(count(&p, Kind::ToolResult) as u64, results, "{name}");
        assert_eq!(p.stats.records, want["lines"].as_u64().unwrap());
        assert_eq!(p.stats.unmatched_results, 0);
        let unknown = want["record_types"]
            .get("future_synthetic_record")
            .is_some();
        let kept: Vec<_> = p
            .events
            .iter()
            .filter(|e| e.data["unknown"] == true)
            .collect();
        assert_eq!(kept.len(), usize::from(unknown), "{name}");
        if unknown {
            assert_eq!(kept[0].data["record"], "future_synthetic_record");
            assert!(
                kept[0].data["raw"]
                    .as_str()
                    .unwrap()
                    .contains("\"safe\":\"ignored\"")
            );
        }
        // Encrypted reasoning is never kept.
        for e in &p.events {
            assert!(
                !e.data
                    .to_string()
                    .contains("SYNTHETIC_ENCRYPTED_CONTENT_MUST_NOT_RENDER")
            );
        }
    }
    let p = import::codex::parse_path(
        &data_dir()
            .join("codex/rollout-2026-01-02T03-04-05-11111111-1111-4111-8111-111111111111.jsonl"),
    )
    .unwrap();
    let exec = p
        .events
        .iter()
        .find(|e| e.data["tool"] == "exec_command")
        .unwrap();
    assert_eq!(exec.data["command"], "find . -maxdepth 1 -type f");
}

/// A Claude Code transcript with a record of a type no importer knows (carrying a secret) and
/// a line that is not JSON.
const UNKNOWN_RECORDS: &str = concat!(
    r#"{"type":"user","sessionId":"x1","timestamp":"2026-02-10T21:11:56.846Z","uuid":"u1","message":{"role":"user","content":"hi"}}"#,
    "\n",
    r#"{"type":"brand-new-record","timestamp":"2026-02-10T21:11:57.000Z","token":"GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ0123456789"}"#,
    "\n",
    "this is not json\n",
);

#[test]
fn unknown_claude_code_records_are_kept_raw_and_redacted() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("s.jsonl");
    std::fs::write(&f, UNKNOWN_RECORDS).unwrap();
    let p = import::claude_code::parse_path(&f).unwrap();
    assert_eq!(p.stats.unknown_records, 1);
    assert_eq!(p.stats.unparseable_lines, 1);
    let db = d.path().join("db/flightlog.db");
    let store = Store::open(&db).unwrap();
    let keys = Keys::load_or_create(&d.path().join("db/keys")).unwrap();
    let red = Redactor::new(keys.fingerprint_key);
    let s = import::store_parsed(&store, &red, p.clone()).unwrap();
    let evs = session_events(&db, &s.session);
    let unknown = evs.iter().find(|e| e.data["unknown"] == true).unwrap();
    let raw = unknown.data["raw"].as_str().unwrap();
    assert!(raw.contains("brand-new-record"));
    assert!(
        !raw.contains("ghp_0123"),
        "secrets in raw lines are redacted: {raw}"
    );
    assert!(raw.contains("[REDACTED:"));
    assert!(
        evs.iter()
            .any(|e| e.kind == Kind::RawInput && e.data["raw"] == "this is not json")
    );
    // The same input again: the same session, nothing appended.
    let again = import::store_parsed(&store, &red, p).unwrap();
    assert!(again.already);
    assert_eq!(again.session, s.session);
    assert_eq!(store.head(&s.session).unwrap().0, evs.len() as u64);
}

#[test]
fn every_data_file_imports_into_a_store_that_verifies() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("flightlog.db");
    let store = Store::open(&db).unwrap();
    let keys = Keys::load_or_create(&d.path().join("keys")).unwrap();
    let red = Redactor::new(keys.fingerprint_key);
    for path in main_transcripts() {
        let t = std::time::Instant::now();
        let p = import::claude_code::parse_path(&path).unwrap();
        let s = import::store_parsed(&store, &red, p).unwrap();
        eprintln!(
            "{}: {} events in {:?}",
            path.display(),
            s.events,
            t.elapsed()
        );
    }
    for e in std::fs::read_dir(data_dir().join("codex")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            let p = import::codex::parse_path(&path).unwrap();
            import::store_parsed(&store, &red, p).unwrap();
        }
    }
    let r = verify_store(&store, &StoreVerifyOptions::default()).unwrap();
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(store.sessions().unwrap().len(), 7);
    // Typed payloads are a lossless view of every imported event: read and written back, the
    // data gives the stored bytes exactly.
    let mut checked = 0;
    for s in store.sessions().unwrap() {
        store
            .for_each_event(&s.id, |row| {
                let e = Event::from_bytes(&row.raw).unwrap();
                let mut back = e.clone();
                back.data = e.payload().to_value();
                assert_eq!(back.data, e.data, "{} seq {}", e.session, e.seq);
                assert_eq!(flightlog_formats::canonical::to_bytes(&back), row.raw);
                checked += 1;
                true
            })
            .unwrap();
    }
    assert!(checked > 1500, "{checked}");
}
