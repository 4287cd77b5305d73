//! The CLI as a newcomer meets it: completions and the manual, and the store paths and
//! verify targets people get wrong (a symlink, a directory, another application's database,
//! a missing file), each answered in words, never by damaging anything.

use crate::common::{TestEnv, bin, ok, output_with_stdin};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn flightlog(db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("FLIGHTLOG_POLICY")
        .output()
        .unwrap()
}

/// `flightlog --db DB hook claude-code` with the payload file `payload` (under fixtures/):
/// its output.
fn run_hook(db: &Path, payload: &str) -> Output {
    let body = std::fs::read(flightlog_fixtures::fixtures_dir().join(payload)).unwrap();
    let mut c = crate::common::flightlog(db);
    c.args(["hook", "claude-code"]);
    output_with_stdin(c, &body)
}

/// [`run_hook`], which must exit 0.
fn hook(db: &Path, payload: &str) {
    ok(&run_hook(db, payload));
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn completions_for_every_shell_and_the_manual() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    for (shell, needle) in [
        ("bash", "_flightlog()"),
        ("zsh", "#compdef flightlog"),
        ("fish", "complete -c flightlog"),
        ("elvish", "edit:completion:arg-completer[flightlog]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = flightlog(&db, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        assert!(s.contains(needle), "{shell}: {s:.300}");
        assert!(s.contains("replay") && s.contains("verify"), "{shell}");
    }
    let out = flightlog(&db, &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let out = flightlog(&db, &["man"]);
    assert!(out.status.success());
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH flightlog"),
        "{page:.200}"
    );
    assert!(
        page.contains("replay") && page.contains("\\-\\-db"),
        "{page:.2000}"
    );

    let mandir = dir.path().join("man1");
    let out = flightlog(&db, &["man", "--dir", mandir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in ["flightlog.1", "flightlog-record.1", "flightlog-verify.1"] {
        let body = std::fs::read_to_string(mandir.join(page)).unwrap();
        assert!(body.contains(".TH"), "{page}");
    }
    assert!(!db.exists(), "completions and man touch no store");
}

/// A store reached through a symlink keeps its keys beside the real file: writing through the
/// link and verifying through the real path (or the other way round) is intact, with one key.
#[test]
fn a_store_behind_a_symlink_keeps_its_keys_with_the_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("s.db");
    let link_dir = dir.path().join("elsewhere");
    std::fs::create_dir(&link_dir).unwrap();
    let link = link_dir.join("s.db");
    hook(&real, "hooks/claude-code/session_start.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    hook(&link, "hooks/claude-code/pre_tool_use_bash.json");
    let out = flightlog(&link, &["checkpoint"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !link_dir.join("keys").exists(),
        "no second key directory beside the link"
    );
    for db in [&link, &real] {
        let out = flightlog(db, &["verify", "--all", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["intact"], true, "{v}");
        assert_eq!(out.status.code(), Some(0));
    }
}

/// Another application's SQLite database given as --db is refused and left byte for byte as
/// it was; a directory is said to be one.
#[test]
fn a_foreign_database_or_a_directory_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("app.db");
    let status = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.execute('create table notes (t text)'); c.execute(\"insert into notes values ('hello')\"); c.commit(); c.close()",
            foreign.to_str().unwrap()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    // Private, as a store must be: what refuses it is that it is not ours.
    std::fs::set_permissions(
        &foreign,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let before = std::fs::read(&foreign).unwrap();
    let out = run_hook(&foreign, "hooks/claude-code/pre_tool_use_bash.json");
    assert!(
        text(&out.stderr).contains("another application"),
        "{}",
        text(&out.stderr)
    );
    let out = flightlog(&foreign, &["checkpoint"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("another application"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        before,
        "the foreign file is untouched"
    );
    assert!(!dir.path().join("app.db-wal").exists());

    for args in [
        &["checkpoint"][..],
        &["sessions"][..],
        &["verify", "--all"][..],
    ] {
        let out = flightlog(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("is a directory"), "{args:?}: {err}");
    }
}

/// `verify --json` always prints JSON (intact null and the reason when it could not run), and
/// a path that does not exist is a missing file, not a session name.
#[test]
fn verify_json_always_answers_in_json_and_a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = flightlog(&db, &["verify", "--all", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["intact"].is_null(), "{v}");
    assert!(v["error"].as_str().unwrap().contains("s.db"), "{v}");

    hook(&db, "hooks/claude-code/session_start.json");
    let out = flightlog(&db, &["verify", "/nonexistent/export.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no such file"), "{err}");
    let out = flightlog(&db, &["verify", "/nonexistent", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("no such file"), "{v}");

    let out = flightlog(&db, &["verify", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("1 event,") || s.contains(" events,"), "{s}");
    assert!(!s.contains("1 checkpoints"), "{s}");
}

/// `flightlog sessions FILTERS --json` in `env` (under its policy): the rows.
fn sessions(env: &TestEnv, filters: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["sessions"];
    args.extend_from_slice(filters);
    args.push("--json");
    serde_json::from_str::<serde_json::Value>(&env.ok(&args))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `sessions` filters (crossed, destructive, since, agent, env, status) and the status column:
/// a session whose recorder was killed says `died`, not finished.
#[test]
fn sessions_filters_and_status() {
    let policy = flightlog_fixtures::workspace_dir().join("demo/incident/flightlog.toml");
    let env = TestEnv::new().with_policy(&std::fs::read_to_string(policy).unwrap());
    // The incident, through Claude Code's hooks at its own (April 2026) times: ended.
    for line in flightlog_fixtures::incident::HOOKS_JSONL.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut hook = env.cmd();
        hook.args(["hook", "claude-code"])
            .env("FLIGHTLOG_FAKE_NOW", v["timestamp"].as_str().unwrap());
        ok(&output_with_stdin(hook, line.as_bytes()));
    }
    // A recorder killed with SIGKILL while its agent runs: died.
    let mut rec = env.start_recording(
        "killed",
        &[
            "--no-trace",
            "--no-proxy",
            "--no-watch",
            "--",
            "sleep",
            "30",
        ],
    );
    let pid = rec.id();
    // Children of every thread of the recorder (the agent is started from a worker thread).
    let children: String = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    rec.kill().unwrap();
    rec.wait().unwrap();
    // The agent outlives its killed recorder: end it too.
    for child in children.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", child]).status();
    }

    let ids = |rows: Vec<serde_json::Value>| -> Vec<String> {
        rows.iter()
            .map(|r| r["label"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let all = sessions(&env, &[]);
    assert_eq!(all.len(), 2, "{all:?}");
    for r in &all {
        for key in [
            "id",
            "label",
            "agent",
            "host",
            "home_env",
            "started",
            "ended",
            "status",
            "events",
            "crossings",
            "destructive",
            "intact",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let incident_label = all.iter().find(|r| r["label"] != "killed").unwrap()["label"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(ids(sessions(&env, &["--status", "died"])), ["killed"]);
    assert_eq!(
        ids(sessions(&env, &["--status", "ended"])),
        [incident_label.as_str()]
    );
    assert!(sessions(&env, &["--status", "recording"]).is_empty());
    assert_eq!(
        ids(sessions(&env, &["--crossed"])),
        [incident_label.as_str()]
    );
    assert_eq!(
        ids(sessions(&env, &["--destructive"])),
        [incident_label.as_str()]
    );
    assert_eq!(
        ids(sessions(&env, &["--env", "production"])),
        [incident_label.as_str()]
    );
    assert_eq!(sessions(&env, &["--env", "staging"]).len(), 2);
    assert_eq!(
        ids(sessions(&env, &["--agent", "claude-code"])),
        [incident_label.as_str()]
    );
    assert_eq!(ids(sessions(&env, &["--since", "1d"])), ["killed"]);
    assert_eq!(sessions(&env, &["--since", "2026-04-01"]).len(), 2);
    assert!(sessions(&env, &["--since", "2099-01-01", "--crossed"]).is_empty());

    let out = env
        .cmd_without_policy()
        .args(["sessions", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("30m, 24h, 7d"),
        "{}",
        text(&out.stderr)
    );
    let table = env.ok(&["sessions"]);
    assert!(table.lines().next().unwrap().contains("STATUS"), "{table}");
    assert!(table.contains("died") && table.contains("ended"), "{table}");
}

/// An export signed by another store's key is refused as what it is: signed by a key this store
/// does not trust, named by its fingerprint; never "truncated?".
#[test]
fn an_export_signed_by_another_key_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let record = |db: &Path| {
        let out = Command::new(bin())
            .arg("--db")
            .arg(db)
            .args([
                "record",
                "--no-trace",
                "--no-proxy",
                "--no-watch",
                "--",
                "true",
            ])
            .current_dir(dir.path())
            .env_remove("FLIGHTLOG_POLICY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    let (a, b) = (dir.path().join("a/a.db"), dir.path().join("b/b.db"));
    record(&a);
    record(&b);
    let export = flightlog(&a, &["export", "latest", "--format", "jsonl"]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let file = dir.path().join("a.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let key_id = {
        let first = text(&export.stdout);
        let v: serde_json::Value = serde_json::from_str(first.lines().last().unwrap()).unwrap();
        v["event"]["data"]["key_id"].as_str().unwrap().to_string()
    };
    let out = flightlog(&b, &["import", "jsonl", file.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("signed by another key"), "{err}");
    assert!(err.contains("does not trust"), "{err}");
    assert!(err.contains(&key_id), "{key_id}: {err}");
    assert!(!err.contains("truncated"), "{err}");
}
