//! Imports and exports driven through the binary: every shared transcript imported with its
//! tool calls, a jsonl export re-imported with its chain, every export format checked against
//! its spec, the audit bundle verified offline and tampered with, and the HTML report opened in
//! a real headless browser.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flightlog_formats::{Event, Kind, Store};
use serde_json::Value;

use crate::common::{TestEnv, bin, exits, ok, run_ok};
use crate::verifier;

/// `<repo>/../shared/data`.
fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
}

/// A store of its own whose clock reads a time after every record of the imported files (so
/// a timestamp taken from the clock stands out).
fn env() -> TestEnv {
    TestEnv::new().with_fake_now("2026-04-25T10:05:00Z")
}

/// Writes `text` to `name` in `env` and imports it as an asciicast: the session id.
fn import_cast(env: &TestEnv, name: &str, text: impl AsRef<[u8]>) -> String {
    let p = env.write(name, text);
    env.ok(&["import", "asciicast", p.to_str().unwrap()])
        .trim()
        .to_string()
}

/// [`import_cast`], then the session's events.
fn imported_cast(env: &TestEnv, name: &str, text: impl AsRef<[u8]>) -> Vec<Event> {
    env.events(&import_cast(env, name, text))
}

/// The terminal events among `evs`.
fn terminal(evs: &[Event]) -> Vec<&Event> {
    evs.iter().filter(|e| e.kind == Kind::Terminal).collect()
}

/// `flightlog export SESSION --format FORMAT -o PATH EXTRA`.
fn export_to(env: &TestEnv, session: &str, format: &str, path: &Path, extra: &[&str]) -> Output {
    env.cmd()
        .args(["export", session, "--format", format, "-o"])
        .arg(path)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn imports_every_shared_data_file_with_all_tool_calls() {
    let env = env();
    let counts: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join("counts.json")).unwrap())
            .unwrap();
    let mut expected: HashMap<String, (u64, u64)> = HashMap::new();
    for (k, v) in counts.as_object().unwrap() {
        // Subagent files count toward their parent transcript.
        let key = match k.split_once("/subagents/") {
            Some((parent, _)) => format!("{parent}.jsonl"),
            None => k.clone(),
        };
        let calls = ["tool_use", "function_call", "custom_tool_call"]
            .iter()
            .filter_map(|f| v[*f].as_u64())
            .sum::<u64>();
        let results = [
            "tool_result",
            "function_call_output",
            "custom_tool_call_output",
        ]
        .iter()
        .filter_map(|f| v[*f].as_u64())
        .sum::<u64>();
        let e = expected.entry(key).or_default();
        e.0 += calls;
        e.1 += results;
    }
    let mut checked = 0;
    let mut keys: Vec<String> = expected.keys().cloned().collect();
    keys.sort();
    for rel in keys {
        let (fmt, unknown_types) = if rel.starts_with("codex/") {
            ("codex", rel.contains("rollout-"))
        } else {
            ("claude-code", false)
        };
        let path = data_dir().join(&rel);
        let stdout = env.ok(&["import", fmt, path.to_str().unwrap()]);
        let ids: Vec<&str> = stdout.lines().collect();
        assert_eq!(ids.len(), 1, "{rel}: one session id printed");
        let evs = env.events(ids[0]);
        let calls = evs.iter().filter(|e| e.kind == Kind::ToolCall).count() as u64;
        let results = evs.iter().filter(|e| e.kind == Kind::ToolResult).count() as u64;
        assert_eq!(
            (calls, results),
            expected[&rel],
            "{rel}: tool calls and results"
        );
        for e in &evs {
            assert_eq!(e.source, format!("import:{fmt}"), "{rel}");
            assert_eq!(e.data["imported"], true, "{rel}");
        }
        assert!(
            !evs.iter().any(|e| e.kind == Kind::RawInput),
            "{rel}: no error"
        );
        if unknown_types {
            let kept = evs
                .iter()
                .find(|e| e.data["record"] == "future_synthetic_record")
                .expect("the unknown record type is kept");
            assert_eq!(kept.data["unknown"], true);
        }
        // Timestamps come from the records, not the clock.
        assert!(!evs[0].ts.starts_with("2026-04-25T10:05"), "{rel}");
        checked += 1;
    }
    assert_eq!(
        checked, 7,
        "five transcripts (two with subagents) and two rollouts"
    );
    // The same file again: the same session, nothing duplicated.
    let p = data_dir().join("claude-code/short.jsonl");
    let a = env.ok(&["import", "claude-code", p.to_str().unwrap()]);
    let b = env.ok(&["import", "claude-code", p.to_str().unwrap()]);
    assert_eq!(a, b);
    env.ok(&["verify", "--all"]);
}

#[test]
fn imports_asciicast_v2_and_v3() {
    let env = env();
    let e2 = imported_cast(
        &env,
        "v2.cast",
        "{\"version\":2,\"width\":100,\"height\":50,\"timestamp\":1509091818}\n[0.5,\"o\",\"hello\"]\n[1.25,\"r\",\"90x30\"]\n[2.0,\"o\",\"bye\"]\n",
    );
    let term = terminal(&e2);
    assert_eq!(term.len(), 3);
    assert_eq!(term[0].data["data"], "hello");
    assert_eq!(term[1].data["stream"], "r");
    assert_eq!(term[2].data["t_ms"], 2000);
    assert_eq!(term[0].ts, "2017-10-27T08:10:18.500000Z");
    let e3 = imported_cast(
        &env,
        "v3.cast",
        "{\"version\":3,\"term\":{\"cols\":80,\"rows\":24},\"timestamp\":1504467315}\n# comment\n[0.248,\"o\",\"Hello\"]\n[1.0,\"m\",\"mark\"]\n[0.5,\"z\",\"future\"]\n[0.887,\"x\",\"3\"]\n",
    );
    assert!(e3.iter().any(|e| e.data["marker"] == "mark"));
    assert!(
        e3.iter()
            .any(|e| e.data["unknown"] == true && e.data["record"] == "z")
    );
    let end = e3.iter().find(|e| e.kind == Kind::SessionEnd).unwrap();
    assert_eq!(end.data["exit"], 3);
    assert_eq!(end.data["t_ms"], 2635);
}

/// Files are parsed one ahead of the one being stored: each is still stored in order, and a
/// file that does not parse stops the import there, named, after the ones before it.
#[test]
fn a_directory_imports_in_order_and_stops_at_a_file_that_does_not_parse() {
    let env = env();
    let cast = |text: &str| {
        format!(
            "{{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1509091818}}\n[0.5,\"o\",\"{text}\"]\n"
        )
    };
    env.write("casts/a.cast", cast("first"));
    env.write("casts/b.cast", cast("second"));
    env.write("casts/c.cast", "");
    env.write("casts/d.cast", cast("never"));
    let dir = env.root.join("casts");
    let out = env.run(&["import", "asciicast", dir.to_str().unwrap()]);
    let stdout = exits(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("c.cast"), "{stderr}");
    let sessions: Vec<&str> = stdout.lines().collect();
    assert_eq!(sessions.len(), 2, "{stdout}");
    for (id, text) in sessions.iter().zip(["first", "second"]) {
        let evs = env.events(id);
        assert_eq!(terminal(&evs)[0].data["data"], text);
        assert_eq!(evs.last().unwrap().kind, Kind::SessionEnd);
    }
    // The file after the broken one was not imported: a second run imports only it once c is
    // fixed, and finds a and b already there.
    env.write("casts/c.cast", cast("third"));
    let again = env.ok(&["import", "asciicast", dir.to_str().unwrap()]);
    let ids: Vec<&str> = again.lines().collect();
    assert_eq!(ids.len(), 4, "{again}");
    assert_eq!(&ids[..2], &sessions[..]);
    assert_eq!(terminal(&env.events(ids[3]))[0].data["data"], "never");
}

#[test]
fn asciicast_header_fields_and_markers_round_trip_and_v1_is_imported() {
    let env = env();
    let header = serde_json::json!({"version": 3, "term": {"cols": 100, "rows": 30, "type": "xterm-256color",
        "theme": {"fg": "#d0d0d0", "bg": "#212121", "palette": "#151515:#ac4142:#7e8e50:#e5b567:#6c99bb:#9f4e85:#7dd6cf:#d0d0d0:#505050:#ac4142:#7e8e50:#e5b567:#6c99bb:#9f4e85:#7dd6cf:#f5f5f5"}},
        "timestamp": 1504467315, "idle_time_limit": 2.5, "command": "/bin/bash -l", "env": {"SHELL": "/bin/bash"}});
    let id = import_cast(
        &env,
        "in.cast",
        format!(
            "{header}\n[0.25,\"o\",\"Hello\\r\\n\"]\n[1.0,\"m\",\"chapter 1\"]\n[0.5,\"o\",\"bye\"]\n"
        ),
    );
    let out = env.path("out.cast");
    ok(&export_to(&env, id.trim(), "asciicast", &out, &[]));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let h: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(h["term"], header["term"], "{h}");
    for k in ["idle_time_limit", "command", "env"] {
        assert_eq!(h[k], header[k], "{k}: {h}");
    }
    let cast_events: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    let marker: Vec<&Value> = cast_events.iter().filter(|e| e[1] == "m").collect();
    assert_eq!(marker.len(), 1, "{text}");
    assert_eq!(marker[0][2], "chapter 1");
    // Real asciinema 3 reads it back (where it is installed; .ci/run installs it).
    let txt = env.path("out.txt");
    match Command::new("asciinema")
        .arg("convert")
        .arg(&out)
        .arg(&txt)
        .output()
    {
        Ok(o) => {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(std::fs::read_to_string(&txt).unwrap().contains("Hello"));
        }
        Err(e) => {
            println!("SKIPPED asciinema convert: {e} (scripts/install-validators.sh installs it)")
        }
    }
    // v1: one JSON document, imported by name.
    let evs = imported_cast(
        &env,
        "v1.json",
        "{\n  \"version\": 1,\n  \"width\": 80,\n  \"height\": 24,\n  \"duration\": 1.5,\n  \"command\": \"/bin/zsh\",\n  \"title\": \"demo\",\n  \"env\": {\"TERM\": \"xterm\", \"SHELL\": \"/bin/zsh\"},\n  \"stdout\": [[0.5, \"ls\\r\\n\"], [1.0, \"done\"]]\n}\n",
    );
    let term = terminal(&evs);
    assert_eq!(term.len(), 2);
    assert_eq!(term[1].data["t_ms"], 1500);
    assert_eq!(evs[0].data["asciicast_version"], 1);
    assert_eq!(evs[0].data["command"], "/bin/zsh");
    // Neither v1 nor v2/v3: refused, naming what it expected.
    let bad = env.write("bad.cast", "not a cast\n");
    let o = env.run(&["import", "asciicast", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("asciicast v2 or v3 header"));
}

/// The PocketOS incident as a Claude Code transcript, plus hostile prompt text.
fn incident_transcript() -> String {
    fn rec(t: &str, uuid: &str, ts: &str, message: Value) -> String {
        serde_json::json!({"type": t, "sessionId": "e2e-incident-0001", "cwd": "/work/app",
            "version": "2.1.39", "uuid": uuid, "timestamp": ts, "message": message})
        .to_string()
    }
    let call = |id: &str, cmd: &str| {
        serde_json::json!({"id": format!("m-{id}"), "model": "claude-opus-4-6", "role": "assistant",
            "content": [{"type": "tool_use", "id": id, "name": "Bash", "input": {"command": cmd}}]})
    };
    let result = |id: &str, out: &str, err: bool| serde_json::json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": out, "is_error": err}]});
    let curl = r#"curl -X POST https://backboard.railway.app/graphql/v2 -H "Authorization: Bearer 7f3c9a2e-51d4-4b8e-9c06-2a7d1e8f4b93" -H "Content-Type: application/json" -d '{"query":"mutation { volumeDelete(volumeId: \"3d2c42fb-9a1e-4c57-b8d3-6e0f2a7c5b19\") }"}'"#;
    [
        rec("user", "u1", "2026-04-25T10:00:00.000Z", serde_json::json!({"role": "user", "content": "Fix the staging deploy"})),
        rec("assistant", "a1", "2026-04-25T10:00:01.000Z", call("toolu_1", "railway up --environment staging")),
        rec("user", "u2", "2026-04-25T10:00:02.000Z", result("toolu_1", "Error: credential mismatch", true)),
        rec("assistant", "a2", "2026-04-25T10:00:05.000Z", call("toolu_2", "grep -r RAILWAY ops/")),
        rec("user", "u3", "2026-04-25T10:00:06.000Z", result("toolu_2", "ops/domains.env:RAILWAY_API_TOKEN=7f3c9a2e-51d4-4b8e-9c06-2a7d1e8f4b93", false)),
        rec("assistant", "a3", "2026-04-25T10:00:08.900Z", call("toolu_3", curl)),
        rec("user", "u4", "2026-04-25T10:00:09.500Z", result("toolu_3", "{\"data\":{\"volumeDelete\":true}}", false)),
        rec("user", "u5", "2026-04-25T10:00:10.000Z", serde_json::json!({"role": "user", "content": "=HYPERLINK(\"http://evil.example\",\"x\")"})),
        rec("user", "u6", "2026-04-25T10:00:10.100Z", serde_json::json!({"role": "user", "content": "+1+2"})),
        rec("user", "u7", "2026-04-25T10:00:10.200Z", serde_json::json!({"role": "user", "content": "-cmd|' /C calc'!A0"})),
        rec("user", "u8", "2026-04-25T10:00:10.300Z", serde_json::json!({"role": "user", "content": "@SUM(1,2)"})),
        rec("user", "u9", "2026-04-25T10:00:10.400Z", serde_json::json!({"role": "user", "content": "<script>alert(1)</script> \u{202e}gnp.exe"})),
    ]
    .join("\n")
        + "\n"
}

/// The incident transcript imported under the incident's policy (the demo's) into a store of
/// its own.
struct Incident {
    env: TestEnv,
    session: String,
}

impl Incident {
    /// `flightlog ARGS` without the policy.
    fn run_without_policy(&self, args: &[&str]) -> Output {
        self.env.cmd_without_policy().args(args).output().unwrap()
    }

    /// `flightlog verify PATH` (without the policy): its exit code.
    fn verify(&self, path: &Path) -> Option<i32> {
        self.run_without_policy(&["verify", path.to_str().unwrap()])
            .status
            .code()
    }
}

fn incident() -> Incident {
    let env = env().with_policy(flightlog_fixtures::incident::POLICY);
    let t = env.write("incident.jsonl", incident_transcript());
    let session = env
        .ok(&["import", "claude-code", t.to_str().unwrap()])
        .trim()
        .to_string();
    Incident { env, session }
}

fn export(i: &Incident, format: &str) -> String {
    let path = i.env.path(&format!("out.{format}"));
    ok(&export_to(&i.env, &i.session, format, &path, &[]));
    std::fs::read_to_string(path).unwrap()
}

/// The store's public key file (`<db dir>/keys/checkpoint.pub`): the key an auditor trusts.
fn trusted_key(i: &Incident) -> PathBuf {
    i.env.db.parent().unwrap().join("keys/checkpoint.pub")
}

#[test]
fn jsonl_export_verifies_offline_and_reimports_with_its_chain() {
    let i = incident();
    let text = export(&i, "jsonl");
    let path = i.env.path("out.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.last().unwrap().contains("\"kind\":\"checkpoint\""));
    // The independent script: intact, then one flipped byte is caught.
    let key = trusted_key(&i);
    let key = key.to_str().unwrap();
    let out = verifier::run(&[path.to_str().unwrap(), key]);
    assert!(out.status.success(), "{}", verifier::stdout(&out));
    let stdout = verifier::stdout(&out);
    assert!(stdout.contains("INTACT:"), "{stdout}");
    let tampered = i.env.path("tampered.jsonl");
    std::fs::write(
        &tampered,
        text.replacen("Fix the staging deploy", "Fix the staging deplox", 1),
    )
    .unwrap();
    let out = verifier::run(&[tampered.to_str().unwrap(), key]);
    assert_eq!(out.status.code(), Some(1), "{}", verifier::stdout(&out));
    // Truncation (no final checkpoint) is caught too.
    let cut = i.env.path("cut.jsonl");
    std::fs::write(&cut, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    let out = verifier::run(&[cut.to_str().unwrap(), key]);
    assert_eq!(out.status.code(), Some(1));

    // Re-import into another store: refused without the exporter's key, kept verbatim with it.
    let other = env();
    let out = other.run(&["import", "jsonl", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pubkey"));
    let pubkey = trusted_key(&i);
    let import_pinned = |env: &TestEnv, export: &Path| {
        env.run(&[
            "import",
            "jsonl",
            export.to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ])
    };
    assert_eq!(ok(&import_pinned(&other, &path)).trim(), i.session);
    let store = Store::open_read_only(&other.db).unwrap();
    let rows = store.events(&i.session, 0, 1000).unwrap();
    for (row, line) in rows.iter().zip(&lines) {
        let (_, _, ev) = flightlog_formats::chain::split_export_line(line.as_bytes()).unwrap();
        assert_eq!(row.raw, ev, "stored verbatim");
    }
    assert_eq!(rows.len(), lines.len() + 1, "plus the import note");
    assert_eq!(rows.last().unwrap().event().unwrap().data["verified"], true);
    drop(store);
    other.ok(&["verify", "--all"]);
    // A tampered export is refused with its problems, and nothing is stored.
    let third = env();
    let out = import_pinned(&third, &tampered);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hash_mismatch"));
    assert!(
        Store::open_read_only(&third.db)
            .unwrap()
            .sessions()
            .unwrap()
            .is_empty()
    );
}

/// Required attributes per OCSF class (reference/formats.md 6.2; finding_info for 2004).
fn check_ocsf(v: &Value) {
    let has = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
    for k in [
        "activity_id",
        "category_uid",
        "class_uid",
        "metadata",
        "severity_id",
        "time",
        "type_uid",
    ] {
        assert!(has(k), "missing {k}: {v}");
    }
    let class = v["class_uid"].as_u64().unwrap();
    assert_eq!(
        v["type_uid"].as_u64().unwrap(),
        class * 100 + v["activity_id"].as_u64().unwrap()
    );
    assert!(v["metadata"]["version"].is_string());
    assert!(
        v["metadata"]["product"]["name"].is_string() || v["metadata"]["product"]["uid"].is_string()
    );
    assert!(
        v["time"].as_i64().unwrap() > 1_700_000_000_000,
        "time is epoch ms"
    );
    let any = |o: &Value, ks: &[&str]| ks.iter().any(|k| o.get(*k).is_some_and(|x| !x.is_null()));
    let actor_ok = |v: &Value| any(&v["actor"], &["process", "user", "session", "app_name"]);
    let device_ok = |v: &Value| {
        v["device"]["type_id"].is_u64() && any(&v["device"], &["hostname", "ip", "uid", "name"])
    };
    match class {
        1007 => {
            assert!(actor_ok(v) && device_ok(v), "{v}");
            assert!(any(&v["process"], &["pid", "uid", "cpid"]), "{v}");
        }
        1001 => {
            assert!(actor_ok(v) && device_ok(v), "{v}");
            assert!(
                v["file"]["name"].is_string() && v["file"]["type_id"].is_u64(),
                "{v}"
            );
        }
        6003 => {
            assert!(actor_ok(v), "{v}");
            assert!(v["api"]["operation"].is_string(), "{v}");
            assert!(v["src_endpoint"].is_object(), "{v}");
            if let Some(r) = v["api"].get("request") {
                assert!(r["uid"].is_string());
            }
        }
        4002 => {}
        2004 => {
            assert!(
                v["finding_info"]["uid"].is_string() && v["finding_info"]["title"].is_string(),
                "{v}"
            );
        }
        other => panic!("unexpected class {other}"),
    }
    let fl = &v["unmapped"]["flightlog"];
    assert_eq!(fl["hash"].as_str().unwrap().len(), 64);
    assert_eq!(fl["prev_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn ocsf_otlp_cef_exports_follow_their_specs() {
    let i = incident();
    let jsonl = export(&i, "jsonl");
    let hash_of: HashMap<u64, String> = jsonl
        .lines()
        .map(|l| {
            let (_, h, ev) = flightlog_formats::chain::split_export_line(l.as_bytes()).unwrap();
            (Event::from_bytes(ev).unwrap().seq, hex(&h))
        })
        .collect();
    // OCSF
    let ocsf = export(&i, "ocsf");
    let vs: Vec<Value> = ocsf
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut classes: HashMap<u64, usize> = HashMap::new();
    for v in &vs {
        check_ocsf(v);
        *classes.entry(v["class_uid"].as_u64().unwrap()).or_default() += 1;
        let seq = v["unmapped"]["flightlog"]["seq"].as_u64().unwrap();
        assert_eq!(
            v["unmapped"]["flightlog"]["hash"], hash_of[&seq],
            "the chain hash travels"
        );
    }
    assert_eq!(classes[&1007], 3, "three shell commands");
    assert_eq!(classes[&2004], 2, "the crossing and the destructive action");
    assert_eq!(classes[&6003], 1);
    assert_eq!(classes[&4002], 1);
    let api = vs.iter().find(|v| v["class_uid"] == 6003).unwrap();
    assert_eq!(api["api"]["operation"], "volumeDelete");
    assert_eq!(api["activity_id"], 4, "Delete");
    let crossing = vs
        .iter()
        .find(|v| {
            v["class_uid"] == 2004
                && v["finding_info"]["title"]
                    .as_str()
                    .unwrap()
                    .contains("crossing")
        })
        .unwrap();
    assert!(
        crossing["finding_info"]["title"]
            .as_str()
            .unwrap()
            .contains("staging -> production")
    );
    assert!(crossing["severity_id"].as_u64().unwrap() >= 4);
    // OTLP
    let otlp: Value = serde_json::from_str(&export(&i, "otlp")).unwrap();
    let spans = otlp["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    let attr = |s: &Value, k: &str| -> Option<Value> {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
    };
    let root = &spans[0];
    assert_eq!(
        attr(root, "gen_ai.operation.name").unwrap()["stringValue"],
        "invoke_agent"
    );
    assert_eq!(
        attr(root, "gen_ai.conversation.id").unwrap()["stringValue"],
        i.session.as_str()
    );
    assert!(attr(root, "gen_ai.provider.name").is_some());
    let tools: Vec<&Value> = spans
        .iter()
        .filter(|s| {
            attr(s, "gen_ai.operation.name").is_some_and(|v| v["stringValue"] == "execute_tool")
        })
        .collect();
    assert_eq!(tools.len(), 3);
    let ids: Vec<&str> = spans
        .iter()
        .map(|s| s["spanId"].as_str().unwrap())
        .collect();
    for s in spans {
        assert_eq!(s["traceId"], root["traceId"]);
        assert_eq!(s["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(s["spanId"].as_str().unwrap().len(), 16);
        if let Some(p) = s.get("parentSpanId") {
            assert!(ids.contains(&p.as_str().unwrap()), "parent exists");
        }
        let (a, b): (u128, u128) = (
            s["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
            s["endTimeUnixNano"].as_str().unwrap().parse().unwrap(),
        );
        assert!(a <= b);
        assert_eq!(tools[0]["name"].as_str().unwrap(), "execute_tool Bash");
    }
    let failed = tools.iter().filter(|s| s["status"]["code"] == 2).count();
    assert_eq!(failed, 1, "the failed railway up");
    assert!(tools.iter().any(|s| {
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "flightlog.boundary_crossing")
    }));
    // CEF
    let cef = export(&i, "cef");
    for l in cef.lines() {
        assert!(l.starts_with("CEF:0|flightlog|flightlog|"), "{l}");
        assert_eq!(unescaped_pipes(l), 7, "eight header fields: {l}");
        assert!(!l.contains('\n'));
    }
    assert!(
        cef.lines()
            .any(|l| l.contains("|finding.boundary_crossing|") && l.contains("cs2="))
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unescaped_pipes(l: &str) -> usize {
    let mut n = 0;
    let mut esc = false;
    for c in l.chars() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == '|' {
            n += 1;
        }
        if n == 7 {
            break;
        }
    }
    n
}

/// A strict asciicast v3 reader: header object with version 3 and term.cols/rows; every other
/// non-comment line a [interval >= 0, code, string] array with a known code.
fn parse_v3(text: &str) -> (Value, Vec<(f64, String, String)>) {
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("header")).unwrap();
    assert_eq!(header["version"], 3);
    assert!(header["term"]["cols"].as_u64().unwrap() > 0);
    assert!(header["term"]["rows"].as_u64().unwrap() > 0);
    let mut out = Vec::new();
    for l in lines {
        if l.starts_with('#') {
            continue;
        }
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        let a = v.as_array().unwrap();
        assert_eq!(a.len(), 3, "{l}");
        let t = a[0].as_f64().unwrap();
        assert!(t >= 0.0 && t.is_finite(), "{l}");
        let code = a[1].as_str().unwrap().to_string();
        assert!(["o", "i", "m", "r", "x"].contains(&code.as_str()), "{l}");
        let data = a[2].as_str().unwrap().to_string();
        if code == "r" {
            let (c, r) = data.split_once('x').unwrap();
            c.parse::<u32>().unwrap();
            r.parse::<u32>().unwrap();
        }
        if code == "x" {
            data.parse::<i32>().unwrap();
        }
        out.push((t, code, data));
    }
    (header, out)
}

#[test]
fn asciicast_export_is_strict_v3_with_markers() {
    // A recording with output, a resize and an exit, imported then exported.
    let env = env();
    let id = import_cast(
        &env,
        "in.cast",
        "{\"version\":2,\"width\":100,\"height\":30,\"timestamp\":1509091818}\n[0.1234,\"o\",\"\\u001b[1mhi\\u001b[0m\\r\\n\"]\n[0.5,\"r\",\"90x30\"]\n[1.0006,\"o\",\"\u{017c}\"]\n",
    );
    let out = env.path("out.cast");
    ok(&export_to(&env, id.trim(), "asciicast", &out, &[]));
    let (h, evs) = parse_v3(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(h["term"]["cols"], 100);
    let codes: Vec<&str> = evs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(codes, ["o", "r", "o"]);
    assert_eq!(evs[0].2, "\u{1b}[1mhi\u{1b}[0m\r\n");
    // Intervals add up to the absolute times without drift.
    let total: f64 = evs.iter().map(|e| e.0).sum();
    assert!((total - 1.001).abs() < 0.0015, "{total}");
    // The incident: markers at the crossing and the destructive action.
    let i = incident();
    let (_, evs) = parse_v3(&export(&i, "asciicast"));
    let marks: Vec<&(f64, String, String)> = evs.iter().filter(|e| e.1 == "m").collect();
    assert_eq!(marks.len(), 2);
    assert!(marks[0].2.contains("CROSSING seq 6"), "{}", marks[0].2);
    assert!(marks[1].2.contains("DESTRUCTIVE seq 6"));
    assert!((marks[0].0 - 8.9).abs() < 0.001, "at +8.9 s");
}

/// A small RFC 4180 reader.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[test]
fn csv_cells_are_neutralized() {
    let i = incident();
    let rows = parse_csv(&export(&i, "csv"));
    assert_eq!(rows[0][0], "seq");
    let n = rows[0].len();
    for r in &rows {
        assert_eq!(r.len(), n, "{r:?}");
        for c in r {
            assert!(
                !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {c:?}"
            );
        }
    }
    let summaries: Vec<&str> = rows.iter().map(|r| r[5].as_str()).collect();
    // The hostile texts are there (after the speaker, or neutralized where a cell starts
    // with them), and no cell starts with a formula character (checked above).
    for want in ["=HYPERLINK(", "+1+2", "-cmd|", "@SUM(1,2)"] {
        assert!(
            summaries
                .iter()
                .any(|s| s.starts_with(&format!("'{want}")) || s.contains(&format!(": {want}"))),
            "{want} in {summaries:?}"
        );
    }
    let crossing = rows.iter().find(|r| r[6].contains("crossing")).unwrap();
    assert_eq!(crossing[0], "6");
    assert_eq!(crossing[7], "critical");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn bundle_round_trip_detects_any_tampering() {
    let i = incident();
    let b = i.env.path("bundle");
    ok(&export_to(&i.env, &i.session, "bundle", &b, &[]));
    // Every file of a bundle, its MANIFEST and the MANIFEST's signature.
    let files: Vec<&str> = flightlog_interop::bundle::FILES
        .into_iter()
        .chain(["MANIFEST", "MANIFEST.sig"])
        .collect();
    assert_eq!(files.len(), 10, "{files:?}");
    for f in &files {
        assert!(b.join(f).is_file(), "{f}");
    }
    let pubkey = std::fs::read_to_string(b.join("checkpoint.pub")).unwrap();
    assert_eq!(pubkey.trim().len(), 64);
    assert!(
        std::fs::read_to_string(b.join("report.md"))
            .unwrap()
            .contains("staging")
    );
    ok(&i.run_without_policy(&["verify", b.to_str().unwrap()]));
    // Offline, with the verifier and the key the auditor trusts.
    let key = trusted_key(&i);
    let key = key.to_str().unwrap();
    let out = verifier::run(&[b.to_str().unwrap(), key]);
    assert!(out.status.success(), "{}", verifier::stdout(&out));
    assert!(
        verifier::stdout(&out).contains("MANIFEST, chain and checkpoints signed by"),
        "{}",
        verifier::stdout(&out)
    );
    // One byte changed in any file, a file removed, or one added: detected.
    let flip = |p: &Path| {
        let mut bytes = std::fs::read(p).unwrap();
        let k = bytes.len() / 2;
        bytes[k] = if bytes[k] == b'a' { b'b' } else { b'a' };
        std::fs::write(p, bytes).unwrap();
    };
    for (n, f) in files.iter().enumerate() {
        let t = i.env.path(&format!("t{n}"));
        copy_dir(&b, &t);
        flip(&t.join(f));
        let out = i.run_without_policy(&["verify", t.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "tampering {f} went unnoticed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let out = verifier::run(&[t.to_str().unwrap(), key]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "the verifier missed tampering with {f}: {}",
            verifier::stdout(&out)
        );
    }
    let t = i.env.path("removed");
    copy_dir(&b, &t);
    std::fs::remove_file(t.join("report.md")).unwrap();
    assert_eq!(i.verify(&t), Some(1));
    let t = i.env.path("added");
    copy_dir(&b, &t);
    std::fs::write(t.join("extra.sh"), "rm -rf /").unwrap();
    assert_eq!(i.verify(&t), Some(1));
    for t in ["removed", "added"] {
        let out = verifier::run(&[i.env.path(t).to_str().unwrap(), key]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{t}: {}",
            verifier::stdout(&out)
        );
    }
}

/// Rebuilds a bundle's MANIFEST after its files were changed, as a forger would.
fn rebuild_manifest(dir: &Path) {
    use sha2::{Digest, Sha256};
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "MANIFEST" && n != "MANIFEST.sig")
        .collect();
    names.sort();
    let manifest: String = names
        .iter()
        .map(|n| {
            let h = hex::encode(Sha256::digest(std::fs::read(dir.join(n)).unwrap()));
            format!("{h}  {n}\n")
        })
        .collect();
    std::fs::write(dir.join("MANIFEST"), manifest).unwrap();
}

/// Rewrites an export as a forger with their own key would: `edit` applied to every event's
/// bytes, the chain recomputed, every checkpoint re-signed by `key`.
fn forge_events(
    text: &str,
    key: &flightlog_formats::keys::SigningKey,
    edit: &dyn Fn(&str) -> String,
) -> String {
    use flightlog_formats::chain::split_export_line;
    use flightlog_formats::checkpoint::{SessionStatement, session_checkpoint_data};
    use sha2::{Digest, Sha256};
    let mut prev = [0u8; 32];
    let mut hashes: Vec<[u8; 32]> = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let (_, _, raw) = split_export_line(line.as_bytes()).unwrap();
        let mut ev = Event::from_bytes(edit(std::str::from_utf8(raw).unwrap()).as_bytes()).unwrap();
        if ev.kind == Kind::Checkpoint {
            let st = SessionStatement {
                session: ev.session.clone(),
                count: hashes.len() as u64,
                head: hashes
                    .last()
                    .map(hex::encode)
                    .unwrap_or_else(|| "0".repeat(64)),
                root: hex::encode(flightlog_formats::merkle::root_of(&hashes)),
            };
            ev.data = session_checkpoint_data(key, &st);
        }
        let raw = flightlog_formats::canonical::to_bytes(&ev);
        let hash: [u8; 32] = Sha256::new()
            .chain_update(prev)
            .chain_update(&raw)
            .finalize()
            .into();
        out.push_str(&format!(
            "{{\"prev\":\"{}\",\"hash\":\"{}\",\"event\":{}}}\n",
            hex::encode(prev),
            hex::encode(hash),
            String::from_utf8(raw).unwrap()
        ));
        prev = hash;
        hashes.push(hash);
    }
    out
}

#[test]
fn a_forged_bundle_fails_the_readmes_own_steps() {
    let i = incident();
    let b = i.env.path("bundle");
    ok(&export_to(&i.env, &i.session, "bundle", &b, &[]));
    let trusted = trusted_key(&i);
    // The genuine bundle passes every step of its README.
    for (cmd, out) in verifier::readme_steps(&b, &trusted, &bin()) {
        assert!(out.status.success(), "{cmd}: {}", verifier::stdout(&out));
    }
    // Forgery 1: the report edited, verify.py replaced by a line that says OK, MANIFEST rebuilt
    // (so `sha256sum -c MANIFEST` and the bundled verify.py both pass).
    let f1 = i.env.path("forged1");
    copy_dir(&b, &f1);
    let report = std::fs::read_to_string(f1.join("report.md")).unwrap();
    std::fs::write(f1.join("report.md"), report.replace("staging", "approved")).unwrap();
    std::fs::write(f1.join("verify.py"), "print('OK: intact')\n").unwrap();
    rebuild_manifest(&f1);
    if let Ok(o) = Command::new("sha256sum")
        .current_dir(&f1)
        .args(["-c", "MANIFEST"])
        .output()
    {
        assert!(
            o.status.success(),
            "the forger's MANIFEST matches its files"
        );
    }
    // Forgery 2: the events rewritten (the user's request changed) and everything re-signed by
    // the forger's key, which replaces checkpoint.pub: consistent in itself.
    let f2 = i.env.path("forged2");
    copy_dir(&b, &f2);
    let forger = flightlog_formats::keys::SigningKey::from_bytes(&[9u8; 32]);
    let events = std::fs::read_to_string(f2.join("events.jsonl")).unwrap();
    let forged = forge_events(&events, &forger, &|raw| {
        raw.replace("Fix the staging deploy", "Delete the production volume")
    });
    std::fs::write(f2.join("events.jsonl"), forged).unwrap();
    let forger_pub = hex::encode(forger.verifying_key().as_bytes());
    std::fs::write(f2.join("checkpoint.pub"), format!("{forger_pub}\n")).unwrap();
    rebuild_manifest(&f2);
    let manifest = std::fs::read(f2.join("MANIFEST")).unwrap();
    let sig = flightlog_formats::checkpoint::sign(&forger, &manifest);
    std::fs::write(f2.join("MANIFEST.sig"), format!("{sig}\n")).unwrap();
    // Against the forger's own key the verifier says intact: only the trusted key tells.
    let out = verifier::run(&[f2.to_str().unwrap(), &forger_pub]);
    assert!(out.status.success(), "{}", verifier::stdout(&out));
    for (f, why) in [
        (&f1, "MANIFEST.sig does not verify with a key you gave"),
        (&f2, "not a key you gave"),
    ] {
        for (cmd, out) in verifier::readme_steps(f, &trusted, &bin()) {
            assert_eq!(
                out.status.code(),
                Some(1),
                "{cmd} passed a forged bundle: {}",
                verifier::stdout(&out)
            );
            if cmd.contains("python3") {
                assert!(
                    verifier::stdout(&out).contains(why),
                    "{}",
                    verifier::stdout(&out)
                );
                assert!(!verifier::stdout(&out).contains("INTACT:"));
            }
        }
    }
}

/// The store's database and WAL bytes (the `-shm` index is shared memory that any reader
/// maps, not data).
fn store_bytes(db: &Path) -> Vec<Vec<u8>> {
    ["", "-wal"]
        .iter()
        .map(|s| std::fs::read(format!("{}{s}", db.display())).unwrap_or_default())
        .collect()
}

#[test]
fn a_read_only_export_writes_nothing_and_says_which_checkpoint_it_carries() {
    let i = incident();
    let key = trusted_key(&i);
    let key = key.to_str().unwrap();
    let db = &i.env.db;
    let before = store_bytes(db);
    // The imported session ends with no checkpoint and the store has none.
    let b1 = i.env.path("b1");
    let out = export_to(&i.env, &i.session, "bundle", &b1, &["--read-only"]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signed in memory and not stored"), "{err}");
    let j = i.env.path("x.jsonl");
    let j_arg = j.to_str().unwrap();
    let out = i.run_without_policy(&[
        "export",
        &i.session,
        "--read-only",
        "--format",
        "jsonl",
        "-o",
        j_arg,
    ]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("final checkpoint was signed in memory"));
    assert!(
        store_bytes(db) == before,
        "a read-only export wrote to the store"
    );
    for p in [&b1, &j] {
        let o = verifier::run(&[p.to_str().unwrap(), key]);
        assert!(
            o.status.success(),
            "{}: {}",
            p.display(),
            verifier::stdout(&o)
        );
    }
    let verify_pinned = |bundle: &Path| {
        ok(&i.run_without_policy(&["verify", bundle.to_str().unwrap(), "--pubkey", key]));
    };
    verify_pinned(&b1);
    // Once the store has a checkpoint covering the session, the bundle carries it.
    ok(&i.run_without_policy(&["export", &i.session, "--format", "jsonl", "-o", j_arg]));
    ok(&i.run_without_policy(&["checkpoint"]));
    let before = store_bytes(db);
    let b2 = i.env.path("b2");
    let out = export_to(&i.env, &i.session, "bundle", &b2, &["--read-only"]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the latest store checkpoint, #1"), "{err}");
    assert!(store_bytes(db) == before);
    verify_pinned(&b2);
    let o = verifier::run(&[b2.to_str().unwrap(), key]);
    assert!(o.status.success(), "{}", verifier::stdout(&o));
}

fn chromium() -> Option<PathBuf> {
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "headless_shell",
    ]
    .into_iter()
    .find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

#[test]
fn html_report_renders_the_crossing_in_a_real_browser() {
    let i = incident();
    let b = i.env.path("bundle");
    ok(&export_to(&i.env, &i.session, "bundle", &b, &[]));
    let html_path = b.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    // Self-contained: no scripts, no remote resources; hostile text escaped and made visible.
    assert!(!html.contains("<script"), "agent text must be escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        html.contains("\\u{202e}"),
        "bidi override shown, not applied"
    );
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("Boundary crossed: staging &rarr; production"));
    let Some(chrome) = chromium() else {
        eprintln!(
            "SKIPPED: no chromium on PATH (apt-get install -y chromium); the browser check did not run"
        );
        return;
    };
    let url = format!("file://{}", html_path.display());
    let profile = i.env.path("chrome-profile");
    let base = |c: &mut Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdin(Stdio::null());
    };
    let mut c = Command::new(&chrome);
    base(&mut c);
    let dom = run_ok("chrome --dump-dom", c.arg("--dump-dom").arg(&url));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("Boundary crossed: staging → production"),
        "the DOM shows the crossing"
    );
    assert!(dom.contains("railway.volumeDelete"));
    let png = i.env.path("report.png");
    let mut c = Command::new(&chrome);
    base(&mut c);
    run_ok(
        "chrome --screenshot",
        c.arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1280,2000")
            .arg(&url),
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 20_000,
        "a non-trivial page ({} bytes)",
        bytes.len()
    );
    // The PNG is 1280 wide (IHDR).
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    assert_eq!(w, 1280);
}
