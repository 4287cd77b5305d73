//! Fixture sessions written into a temporary store through the real `Store`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use flightlog_formats::store::SessionMeta;
use flightlog_formats::{Kind, NewEvent, Redactor, Store};
use serde_json::{Value, json};

pub const SESSION: &str = "0123456789abcdef";
pub const TOKEN: &str = "rw_acct_7f3c9a1b2d4e6f80";
pub const KEY: [u8; 32] = [7u8; 32];

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 25, 10, 0, 0).unwrap()
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

pub fn redactor() -> Redactor {
    Redactor::new(KEY)
}

fn ev(ms: i64, kind: Kind, source: &str, env: Option<&str>, data: Value) -> NewEvent {
    NewEvent::new(t0() + Duration::milliseconds(ms), kind, source, data)
        .with_env(env.map(str::to_string))
}

/// The GraphQL request body that deletes the production volume.
const VOLUME_DELETE: &str = r#"{"query":"mutation { volumeDelete(volumeId: \"3d2c42fb-1e0a\") }"}"#;

/// The recorder's `session_start` at 0 ms with this data.
fn session_start(data: Value) -> NewEvent {
    ev(0, Kind::SessionStart, "recorder", None, data)
}

/// The user's prompt at `ms`, through Claude Code's hook.
fn prompt(ms: i64, text: &str) -> NewEvent {
    ev(
        ms,
        Kind::Prompt,
        "hook:claude-code",
        None,
        json!({"role":"user","text":text}),
    )
}

/// The assistant's message at `ms`, through Claude Code's hook.
fn message(ms: i64, text: &str) -> NewEvent {
    ev(
        ms,
        Kind::Message,
        "hook:claude-code",
        None,
        json!({"role":"assistant","text":text}),
    )
}

/// The agent's first tool call at 1 s, `railway up` in staging.
fn railway_up_call() -> NewEvent {
    ev(
        1000,
        Kind::ToolCall,
        "hook:claude-code",
        Some("staging"),
        json!({"agent":"claude-code","tool":"Bash","call_id":"t1","input":{"command":"railway up"},"command":"railway up"}),
    )
}

/// The traced `railway up` of that call, at 1.1 s in staging, with this exec data.
fn railway_up_exec(data: Value) -> NewEvent {
    ev(1100, Kind::Exec, "ptrace", Some("staging"), data)
}

/// The read of the unrelated file that holds the token whose fingerprint is `fp` (file read
/// data).
fn token_read(fp: &str) -> Value {
    json!({"path":"ops/old-migration.env","via":"tool","secrets":[{"fp":fp,"kind":"bearer-token","line":3}]})
}

/// The decoded GraphQL of [`VOLUME_DELETE`] (an API call's `graphql`).
fn graphql_delete() -> Value {
    json!({"operation_type":"mutation","operation_name":null,"root_fields":["volumeDelete"],"variables":{"volumeId":"3d2c42fb-1e0a"}})
}

/// The nine-second incident: a credential error, a token found in an unrelated file, one
/// `curl -X POST` with a bearer token to Railway's GraphQL API deleting a volume.
pub fn incident_events() -> Vec<NewEvent> {
    let fp = redactor().fingerprint(TOKEN);
    let body = VOLUME_DELETE;
    vec![
        session_start(
            json!({"agent":"claude-code","label":"fix staging deploy","home_env":"staging","cwd":"/work/app","argv":["claude"],"host":"dev1","flightlog_version":"0.1.0","layers":["ptrace","hook","proxy","watch","pty"]}),
        ),
        prompt(
            500,
            "The staging deploy fails with a credential error.\nFix it.",
        ),
        ev(
            600,
            Kind::Terminal,
            "pty",
            None,
            json!({"stream":"o","data":"\u{1b}[1;32muser@dev1\u{1b}[0m:~/app$ railway up\r\n","t_ms":600}),
        ),
        railway_up_call(),
        railway_up_exec(
            json!({"argv":["railway","up"],"cwd":"/work/app","pid":4242,"ppid":4200,"exe":"/usr/bin/railway","exit":1,"signal":null,"duration_ms":850,"start_ts":"2026-04-25T10:00:01.100000Z"}),
        ),
        ev(
            2000,
            Kind::ToolResult,
            "hook:claude-code",
            None,
            json!({"agent":"claude-code","tool":"Bash","call_id":"t1","call_seq":3,"output":"Error: Unauthorized. The project token is invalid or expired.","error":null,"is_error":true,"duration_ms":900}),
        ),
        ev(
            2000,
            Kind::Terminal,
            "pty",
            None,
            json!({"stream":"o","data":"\u{1b}[31mError: Unauthorized.\u{1b}[0m\r\n","t_ms":2000}),
        ),
        ev(
            4000,
            Kind::FileRead,
            "hook:claude-code",
            None,
            token_read(&fp),
        ),
        ev(
            5000,
            Kind::FileChange,
            "watch",
            Some("staging"),
            json!({"path":"railway.json","op":"modify","from":null,"diff":"--- a/railway.json\n+++ b/railway.json\n@@ -1,4 +1,4 @@\n {\n-  \"environment\": \"staging\",\n+  \"environment\": \"staging-2\",\n   \"service\": \"api\"\n }\n","sha256_before":"aa11","sha256_after":"bb22","size":64,"binary":false}),
        ),
        ev(
            9500,
            Kind::Exec,
            "ptrace",
            Some("production"),
            json!({"argv":["curl","-X","POST","https://backboard.railway.app/graphql/v2","-H",format!("Authorization: Bearer {TOKEN}"),"-d",body],"cwd":"/work/app","pid":4300,"ppid":4200,"exe":"/usr/bin/curl","exit":0,"signal":null,"duration_ms":310,"start_ts":"2026-04-25T10:00:09.500000Z"}),
        ),
        ev(
            9600,
            Kind::ApiCall,
            "argv",
            Some("production"),
            json!({"method":"POST","url":"https://backboard.railway.app/graphql/v2","host":"backboard.railway.app","path":"/graphql/v2","status":200,"request_headers":{"Authorization":format!("Bearer {TOKEN}"),"Content-Type":"application/json"},"request_body":body,"response_body":"{\"data\":{\"volumeDelete\":true}}","graphql":graphql_delete(),"via_seq":9}),
        ),
        message(11000, "I deleted the volume to reset the deployment."),
        ev(
            12000,
            Kind::SessionEnd,
            "recorder",
            None,
            json!({"exit":0,"reason":"exited"}),
        ),
    ]
}

pub fn store_with(events: Vec<NewEvent>, label: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store").join("flightlog.db");
    let store = Store::open(&db).unwrap();
    let meta = SessionMeta {
        id: Some(SESSION.to_string()),
        label: Some(label.to_string()),
        agent: Some("claude-code".into()),
        home_env: Some("staging".into()),
        external_id: None,
    };
    store.create_session(&meta, t0()).unwrap();
    store.append_batch(SESSION, events, &redactor()).unwrap();
    Fixture { dir, db }
}

pub fn incident() -> Fixture {
    store_with(incident_events(), "fix staging deploy")
}

/// Rewrites the stored bytes of one event (tampering; the chain no longer matches).
pub fn tamper(db: &Path, seq: u64, f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let store = Store::open(db).unwrap();
    let raw = store.event(SESSION, seq).unwrap().unwrap().raw;
    store
        .connection()
        .execute(
            "UPDATE events SET raw = ?1 WHERE session = ?2 AND seq = ?3",
            (f(raw), SESSION, seq as i64),
        )
        .unwrap();
}

/// Agent output that tries to attack the terminal.
pub fn hostile_events() -> Vec<NewEvent> {
    let long = "A".repeat(100_000);
    let nasty = "ok\u{1b}]52;c;aGVsbG8=\u{7}\u{1b}[2J\u{1b}[31mred\u{202E}gnp.exe\u{2066}\0\u{9b}31m\u{7f}bell\u{7}";
    vec![
        session_start(json!({"agent":"evil\u{1b}[5m","label":"x","home_env":"staging"})),
        message(10, nasty),
        ev(
            20,
            Kind::Terminal,
            "pty",
            None,
            json!({"stream":"o","data":format!("{nasty}\r\n\u{1b}]0;title\u{7}\u{202E}reversed\r\n"),"t_ms":20}),
        ),
        ev(
            30,
            Kind::ToolResult,
            "hook:claude-code",
            None,
            json!({"tool":"Bash\u{1b}[2J","output":format!("{long}{nasty}"),"is_error":false}),
        ),
        ev(
            40,
            Kind::FileChange,
            "watch",
            Some("stag\u{202E}ing"),
            json!({"path":"a\u{1b}[1mb","op":"modify","diff":format!("--- a\n+++ b\n+{nasty}\n-{long}\n")}),
        ),
        ev(
            50,
            Kind::Other("weird\u{1b}[31m".into()),
            "hook:\u{1b}]52;c;x\u{7}",
            None,
            json!({"summary":nasty}),
        ),
        ev(
            60,
            Kind::ApiCall,
            "proxy",
            Some("production"),
            json!({"method":"GET\u{1b}[K","url":format!("https://h/{nasty}"),"request_headers":{"X\u{1b}":nasty},"graphql":{"operation_type":"query","root_fields":[nasty]}}),
        ),
        ev(
            70,
            Kind::Note,
            "recorder",
            None,
            json!({"text":"placeholder for invalid bytes"}),
        ),
    ]
}

pub fn hostile() -> Fixture {
    let f = store_with(hostile_events(), "hostile\u{1b}[31m\u{202E}");
    // Seq 7 becomes bytes that are not UTF-8 at all.
    tamper(&f.db, 7, |_| b"{\"v\":1,\xff\xfe\x1b[2J\x00\x9b".to_vec());
    f
}

/// A session recorded with hooks and the tracer: flightlog's own hook processes (one as
/// `flightlog hook claude-code`, one installed as `--command /opt/ci/fl-hook` behind a shell),
/// exec ends as events of their own, and layers whose clocks disagree (the hook's call of the
/// curl is stamped 2 ms after the traced exec it caused, and committed before it).
pub fn hooked_events() -> Vec<NewEvent> {
    let fp = redactor().fingerprint(TOKEN);
    let body = VOLUME_DELETE;
    let curl = json!([
        "curl",
        "-X",
        "POST",
        "https://backboard.railway.app/graphql/v2",
        "-H",
        format!("Authorization: Bearer {TOKEN}"),
        "-d",
        body
    ]);
    let end = |pid: u64, exit: i64, ms: u64, of: u64| json!({"pid": pid, "exit": exit, "signal": null, "duration_ms": ms, "exit_of_seq": of});
    let exec = |argv: Value, exe: &str, pid: u64| json!({"argv": argv, "exe": exe, "cwd": "/work/app", "pid": pid, "ppid": 10, "exit": null, "signal": null, "duration_ms": null});
    vec![
        session_start(
            json!({"agent":"claude-code","label":"hooked","home_env":"staging","cwd":"/work/app","argv":["claude"],"host":"dev1","flightlog_version":"0.1.0","flightlog_exe":"/opt/ci/flightlog-1.2","layers":["ptrace","hook","proxy","pty"]}),
        ),
        ev(
            10,
            Kind::Exec,
            "ptrace",
            None,
            json!({"argv":["claude"],"exe":"/usr/bin/claude","cwd":"/work/app","pid":10,"ppid":1,"exit":null,"signal":null,"duration_ms":null}),
        ),
        ev(
            400,
            Kind::Exec,
            "ptrace",
            None,
            exec(
                json!(["/usr/bin/flightlog", "hook", "claude-code"]),
                "/usr/bin/flightlog",
                11,
            ),
        ),
        prompt(450, "Fix the staging deploy."),
        ev(460, Kind::Exec, "ptrace", None, end(11, 0, 60, 2)),
        railway_up_call(),
        railway_up_exec(exec(json!(["railway", "up"]), "/usr/bin/railway", 12)),
        ev(1950, Kind::Exec, "ptrace", None, end(12, 1, 850, 6)),
        ev(
            2000,
            Kind::ToolResult,
            "hook:claude-code",
            None,
            json!({"agent":"claude-code","tool":"Bash","call_id":"t1","call_seq":5,"output":"Error: Unauthorized.","error":null,"is_error":true}),
        ),
        ev(
            2100,
            Kind::Exec,
            "ptrace",
            None,
            exec(json!(["/bin/sh", "-c", "/opt/ci/fl-hook"]), "/bin/sh", 13),
        ),
        ev(
            2101,
            Kind::Exec,
            "ptrace",
            None,
            exec(json!(["/opt/ci/fl-hook"]), "/opt/ci/flightlog-1.2", 13),
        ),
        ev(
            2150,
            Kind::FileRead,
            "hook:claude-code",
            None,
            token_read(&fp),
        ),
        ev(2130, Kind::Exec, "ptrace", None, end(13, 0, 30, 9)),
        ev(
            8167,
            Kind::ToolCall,
            "hook:claude-code",
            Some("production"),
            json!({"agent":"claude-code","tool":"Bash","call_id":"t2","input":{"command":"curl …"},"command":format!("curl -X POST https://backboard.railway.app/graphql/v2 -H 'Authorization: Bearer {TOKEN}' -d '{body}'")}),
        ),
        ev(
            8165,
            Kind::Exec,
            "ptrace",
            Some("production"),
            exec(curl, "/usr/bin/curl", 14),
        ),
        ev(
            8170,
            Kind::ApiCall,
            "argv",
            Some("production"),
            json!({"method":"POST","url":"https://backboard.railway.app/graphql/v2","host":"backboard.railway.app","path":"/graphql/v2","request_headers":{"Authorization":format!("Bearer {TOKEN}")},"request_body":body,"graphql":graphql_delete(),"via_seq":14}),
        ),
        ev(8480, Kind::Exec, "ptrace", None, end(14, 0, 310, 14)),
        message(11000, "I deleted the volume."),
        ev(12000, Kind::Exec, "ptrace", None, end(10, 0, 11990, 1)),
        ev(
            12001,
            Kind::SessionEnd,
            "recorder",
            None,
            json!({"exit":0,"reason":"exited"}),
        ),
    ]
}

pub fn hooked() -> Fixture {
    store_with(hooked_events(), "hooked")
}
