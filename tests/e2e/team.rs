//! The team store on PostgreSQL, against the real server `.ci/run` starts
//! (`scripts/pg-cluster.sh`, URL in FLIGHTLOG_TEST_PG_URL): `team init`, `push`, every reading
//! command with `--db postgres://...`, and what the database itself refuses.
//!
//! Each test gets a database and roles of its own, so the tests run in parallel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use flightlog_formats::keys::key_dir_for;
use flightlog_formats::store::SessionMeta;
use flightlog_formats::synth::{Rng, event};
use flightlog_formats::{Keys, Kind, NewEvent, Redactor, Store};

use super::common::{assert_no_bar, bin, exits, spawn_quiet, wait_until};

mod bundle;
mod record;
mod terminal;
mod tls;

/// The superuser URL of the test cluster, or None (the test says it skipped; under CI a missing
/// server is a failure).
fn server() -> Option<String> {
    match std::env::var("FLIGHTLOG_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "FLIGHTLOG_TEST_PG_URL is not set: .ci/run starts the PostgreSQL cluster"
            );
            eprintln!("skipped: no FLIGHTLOG_TEST_PG_URL (start one with scripts/pg-cluster.sh)");
            None
        }
    }
}

/// A fresh database with the team store in it, and URLs for its superuser, a login role in
/// the writer role and one in the reader role.
struct Team {
    admin: String,
    writer: String,
    reader: String,
    db: String,
    server: String,
}

/// `flightlog team init` of database `db` as `admin`, with the writer role `{db}_w` and the
/// reader role `{db}_r`.
fn team_init(admin: &str, db: &str) -> Output {
    let (w, r) = (format!("{db}_w"), format!("{db}_r"));
    flightlog(&["team", "init", admin, "--writer", &w, "--reader", &r])
}

fn with_db(url: &str, db: &str, user: Option<&str>) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let hostpart = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let host = hostpart.split('/').next().unwrap();
    let user = user.unwrap_or_else(|| {
        rest.rsplit_once('@')
            .map(|(u, _)| u.split(':').next().unwrap())
            .unwrap_or("postgres")
    });
    format!("{scheme}://{user}@{host}/{db}")
}

impl Team {
    fn new(name: &str) -> Option<Team> {
        let server = server()?;
        let nonce = format!(
            "{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let db = format!("fl_{name}_{nonce}");
        let mut c = postgres::Client::connect(&server, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let admin = with_db(&server, &db, None);
        let out = team_init(&admin, &db);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!(
            "CREATE ROLE {db}_pusher LOGIN IN ROLE {db}_w; CREATE ROLE {db}_auditor LOGIN IN ROLE {db}_r;"
        ))
        .unwrap();
        Some(Team {
            writer: with_db(&server, &db, Some(&format!("{db}_pusher"))),
            reader: with_db(&server, &db, Some(&format!("{db}_auditor"))),
            admin,
            db,
            server,
        })
    }

    fn admin(&self) -> postgres::Client {
        postgres::Client::connect(&self.admin, postgres::NoTls).unwrap()
    }

    /// `flightlog --db <reader URL> ARGS`.
    fn read(&self, args: &[&str]) -> Output {
        let mut all = vec!["--db", &self.reader];
        all.extend_from_slice(args);
        flightlog(&all)
    }

    /// `flightlog --db DB push --all --to <writer URL>`, to run as the test needs.
    fn push_all(&self, db: &Path) -> Command {
        let mut c = Command::new(bin());
        c.arg("--db")
            .arg(db)
            .args(["push", "--all", "--to", &self.writer]);
        c
    }

    /// `verify --all` of the team store says intact.
    fn assert_verifies(&self) {
        exits(&self.read(&["verify", "--all"]), 0);
    }

    /// The team store gives the same `show --json` bytes for `id` as the local store `db`.
    fn assert_same_as(&self, db: &Path, id: &str) {
        assert!(
            show_json(&self.reader, id) == show_json(db.to_str().unwrap(), id),
            "show --json differs for {id}"
        );
    }

    /// A new local store (see [`local_store`]) pushed whole to this team store: its directory,
    /// path, session ids and the push's output.
    fn pushed(&self, sessions: usize, events: u64) -> (TempDir, PathBuf, Vec<String>, Output) {
        let (d, db, ids) = local_store(sessions, events);
        let out = at(&db, &["push", "--all", "--to", &self.writer]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (d, db, ids, out)
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db));
        }
    }
}

/// Runs flightlog in an empty working directory, and checks that it is still empty after:
/// nothing is written to a path made of a `--db postgres://...` URL (`postgres:/u@h/keys`).
fn flightlog(args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd.path())
        .env_remove("FLIGHTLOG_TEAM_URL")
        .env_remove("FLIGHTLOG_DB")
        .env_remove("FLIGHTLOG_POLICY")
        .env("FLIGHTLOG_HOST", "laptop-1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "flightlog {args:?} wrote {left:?}");
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn at(db: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    flightlog(&all)
}

/// A local store in a new directory (gone when its guard drops) with `sessions` sessions of
/// `events` synthetic events each, sealed with a session checkpoint and a store checkpoint:
/// the guard, the store's path and the session ids.
fn local_store(sessions: usize, events: u64) -> (TempDir, PathBuf, Vec<String>) {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("fl.db");
    let store = Store::open(&db).unwrap();
    let keys = Keys::load_or_create(&key_dir_for(&db)).unwrap();
    let red = Redactor::new([3; 32]);
    let start = "2026-12-01T09:00:00Z".parse().unwrap();
    let mut ids = Vec::new();
    for s in 0..sessions {
        let mut rng = Rng::new(s as u64 + 1);
        let id = store
            .write_tx(|tx| {
                tx.create_session_with_start(
                    &SessionMeta {
                        label: Some(format!("session {s}")),
                        agent: Some("claude-code".into()),
                        ..Default::default()
                    },
                    NewEvent::new(start, Kind::SessionStart, "recorder", serde_json::json!({})),
                    &red,
                )
            })
            .unwrap();
        let mut i = 1;
        while i < events {
            let n = (events - i).min(20_000);
            let batch = (i..i + n)
                .map(|k| event(&mut rng, k, events, start))
                .collect();
            store.append_batch(&id, batch, &red).unwrap();
            i += n;
        }
        store.append_session_checkpoint(&id, &keys, start).unwrap();
        ids.push(id);
    }
    store.checkpoint(&keys, start).unwrap();
    (d, db, ids)
}

fn show_json(db: &str, id: &str) -> Vec<u8> {
    let out = flightlog(&["--db", db, "show", id, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out.stdout
}

fn count_events(team: &Team, id: &str) -> i64 {
    team.admin()
        .query_one(
            "SELECT count(*) FROM flightlog.events WHERE session = $1",
            &[&id],
        )
        .unwrap()
        .get(0)
}

/// Push, then read back: the same `show --json` bytes, the same report, `verify` intact, the
/// session listed with its host; a second push sends nothing and changes nothing.
#[test]
fn push_and_read_back_the_same_bytes() {
    let Some(team) = Team::new("readback") else {
        return;
    };
    let (_d, db, ids, out) = team.pushed(2, 3_000);
    assert!(
        stderr(&out).contains("6002 new event(s)"),
        "{}",
        stderr(&out)
    );
    for id in &ids {
        team.assert_same_as(&db, id);
        let local = at(&db, &["report", id, "--format", "json"]);
        let remote = team.read(&["report", id, "--format", "json"]);
        assert_eq!(local.stdout, remote.stdout, "{}", stderr(&remote));
        let exported = team.read(&["export", id, "--format", "jsonl"]);
        assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
        assert_eq!(exported.stdout, show_json(&team.reader, id));
        let pt = team.read(&["policy", "test", id, "--json"]);
        assert_eq!(pt.status.code(), Some(0), "{}", stderr(&pt));
    }
    exits(&team.read(&["verify", "--all", "--json"]), 0);
    let sessions = team.read(&["sessions", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&sessions.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["host"] == "laptop-1" && r["intact"] == true)
    );

    // Reading the team store writes nothing on this machine (no key directory beside a "path"
    // made of the URL).
    assert!(
        !Path::new("postgres:").exists(),
        "a reading command wrote files under ./postgres:"
    );

    assert_no_bar("push", &stderr(&out));

    // `team init` again changes nothing: the schema is current and the roles keep their rights
    // (the writer's push and the reader's reads below).
    let init = team_init(&team.admin, &team.db);
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    assert!(
        stderr(&init).contains("(already current)"),
        "{}",
        stderr(&init)
    );

    // Idempotent: again, nothing new.
    let again = at(&db, &["push", "--all", "--to", &team.writer]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains(" 0 new event(s), 6002 already there, 0 new checkpoint(s)"),
        "{}",
        stderr(&again)
    );
    assert_eq!(count_events(&team, &ids[0]), 3_001);
    team.assert_same_as(&db, &ids[0]);
}

/// A push killed with SIGKILL mid-way leaves whole batches; the next push completes it.
#[test]
fn a_push_killed_mid_way_resumes() {
    let Some(team) = Team::new("resume") else {
        return;
    };
    let (_d, db, ids) = local_store(1, 120_000);
    let mut child = spawn_quiet(team.push_all(&db));
    // Kill it once some batches are in, and before the end.
    wait_until(
        "the first batch",
        Duration::from_secs(60),
        Duration::from_millis(5),
        || count_events(&team, &ids[0]) > 0,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = count_events(&team, &ids[0]);
    assert!(
        partial > 0 && partial < 120_001,
        "the kill came at {partial} events"
    );
    assert_eq!(partial % pg_batch(), 0, "only whole batches are stored");
    let out = at(&db, &["push", &ids[0], "--to", &team.writer]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(count_events(&team, &ids[0]), 120_001);
    team.assert_same_as(&db, &ids[0]);
}

fn pg_batch() -> i64 {
    flightlog_formats::store::pg::PUSH_BATCH as i64
}

/// Two machines push at once, each its own sessions, and one session from both: one chain.
#[test]
fn concurrent_pushers_make_one_log() {
    let Some(team) = Team::new("concurrent") else {
        return;
    };
    let (_d1, db1, ids1) = local_store(2, 20_000);
    let (_d2, db2, ids2) = local_store(2, 20_000);
    let spawn = |db: &Path, host: &str| {
        team.push_all(db)
            .env("FLIGHTLOG_HOST", host)
            .stdin(Stdio::null())
            .output()
    };
    // Twice from the same store and once from another, all at once.
    let (a, b, c) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn(&db1, "laptop-1"));
        let b = s.spawn(|| spawn(&db1, "laptop-1"));
        let c = s.spawn(|| spawn(&db2, "ci-runner-7"));
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });
    for o in [a, b, c] {
        let o = o.unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for (db, id) in ids1
        .iter()
        .map(|i| (&db1, i))
        .chain(ids2.iter().map(|i| (&db2, i)))
    {
        assert_eq!(count_events(&team, id), 20_001);
        team.assert_same_as(db, id);
    }
    team.assert_verifies();
    let hosts: Vec<String> = team
        .admin()
        .query(
            "SELECT DISTINCT host FROM flightlog.sessions ORDER BY host",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hosts, ["ci-runner-7", "laptop-1"]);
}

fn sql_error(url: &str, sql: &str) -> String {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    match c.batch_execute(sql) {
        Ok(()) => panic!("the server accepted: {sql}"),
        Err(e) => e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    }
}

/// What the database refuses: changes by the writer (and by the owner), forged inserts, and
/// any insert by the reader.
#[test]
fn the_database_refuses_changes_and_forged_events() {
    let Some(team) = Team::new("refuse") else {
        return;
    };
    let (_d, _, ids, _) = team.pushed(1, 50);
    let id = &ids[0];
    // The writer may not change or remove anything.
    for sql in [
        format!("UPDATE flightlog.events SET raw = 'x' WHERE session = '{id}'"),
        format!("DELETE FROM flightlog.events WHERE session = '{id}'"),
        "TRUNCATE flightlog.events".to_string(),
        "TRUNCATE flightlog.checkpoints".to_string(),
        "DELETE FROM flightlog.checkpoints".to_string(),
    ] {
        let e = sql_error(&team.writer, &sql);
        assert!(
            e.contains("permission denied") || e.contains("append-only"),
            "{sql}: {e}"
        );
    }
    // A role that holds the table privileges (not a superuser) is refused by the triggers.
    let mut c = team.admin();
    c.batch_execute(&format!(
        "CREATE ROLE {0}_owner LOGIN; GRANT USAGE ON SCHEMA flightlog TO {0}_owner; \
         GRANT ALL ON ALL TABLES IN SCHEMA flightlog TO {0}_owner;",
        team.db
    ))
    .unwrap();
    let owner = with_db(&team.admin, &team.db, Some(&format!("{}_owner", team.db)));
    for sql in [
        format!("UPDATE flightlog.events SET raw = 'x' WHERE session = '{id}'"),
        format!("DELETE FROM flightlog.events WHERE session = '{id}' AND seq = 50"),
        "TRUNCATE flightlog.events".to_string(),
        "UPDATE flightlog.checkpoints SET sig = 'x'".to_string(),
        "DELETE FROM flightlog.checkpoints".to_string(),
        "TRUNCATE flightlog.checkpoints".to_string(),
    ] {
        let e = sql_error(&owner, &sql);
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    // Forged inserts by the writer: a gap in seq, a wrong prev, a wrong hash.
    let head: (i64, Vec<u8>) = {
        let r = c
            .query_one(
                "SELECT seq, hash FROM flightlog.events WHERE session = $1 ORDER BY seq DESC LIMIT 1",
                &[id],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    let raw = br#"{"v":1,"session":"x","seq":0,"kind":"note","data":{}}"#.to_vec();
    let link = |prev: &[u8]| -> Vec<u8> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(prev);
        h.update(&raw);
        h.finalize().to_vec()
    };
    let mut w = postgres::Client::connect(&team.writer, postgres::NoTls).unwrap();
    let insert = "INSERT INTO flightlog.events (session, seq, ts, kind, prev, hash, raw) \
                  VALUES ($1, $2, 't', 'note', $3, $4, $5)";
    // (what, seq, prev, hash, the refusal's words)
    type Forged<'a> = (&'a str, i64, Vec<u8>, Vec<u8>, &'a str);
    let cases: [Forged; 4] = [
        (
            "gap",
            head.0 + 2,
            head.1.clone(),
            link(&head.1),
            "not the next one",
        ),
        (
            "replay",
            head.0,
            head.1.clone(),
            link(&head.1),
            "not the next one",
        ),
        (
            "wrong prev",
            head.0 + 1,
            vec![7; 32],
            link(&[7; 32]),
            "does not link",
        ),
        (
            "wrong hash",
            head.0 + 1,
            head.1.clone(),
            vec![9; 32],
            "not SHA-256",
        ),
    ];
    for (what, seq, prev, hash, expect) in cases {
        let e = w
            .execute(insert, &[id, &seq, &prev, &hash, &raw])
            .expect_err(what);
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(msg.contains(expect), "{what}: {msg}");
    }
    // The right next link is accepted (the refusals above were for what they said).
    w.execute(insert, &[id, &(head.0 + 1), &head.1, &link(&head.1), &raw])
        .unwrap();
    // The reader may not insert.
    let e = sql_error(
        &team.reader,
        &format!("INSERT INTO flightlog.sessions (id, host, started) VALUES ('{id}x', 'h', 't')"),
    );
    assert!(e.contains("permission denied"), "{e}");
    let e = sql_error(
        &team.reader,
        "SELECT flightlog.session_head('x'); DELETE FROM flightlog.events",
    );
    assert!(e.contains("permission denied"), "{e}");
}

/// A superuser who switches the triggers off and rewrites an event is caught by verify.
#[test]
fn a_superuser_edit_is_caught_by_verify() {
    let Some(team) = Team::new("superuser") else {
        return;
    };
    let (_d, _, ids, _) = team.pushed(1, 200);
    team.assert_verifies();
    // Triggers off (a replica's settings), then event 100 changed.
    let mut c = team.admin();
    c.batch_execute(
        "SET session_replication_role = replica; \
         UPDATE flightlog.events SET raw = raw || '\\x20'::bytea WHERE seq = 100;",
    )
    .unwrap();
    let v = exits(&team.read(&["verify", "--all", "--json"]), 1);
    let r: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["seq"] == 100 && p["session"] == ids[0].as_str()),
        "{r}"
    );
    // A replaced host key is reported too.
    c.batch_execute(
        "INSERT INTO flightlog.host_keys (host, key_id, pubkey) VALUES ('laptop-1', 'ffff', '00')",
    )
    .unwrap();
    let v = team.read(&["verify", "--all", "--json"]);
    assert!(String::from_utf8_lossy(&v.stdout).contains("host_key_changed"));
}

/// Commands that write a local store refuse a `--db postgres://` URL, and write nothing to a
/// path made of it (`flightlog()` checks its working directory stays empty).
#[test]
fn writing_commands_refuse_the_team_store_url() {
    let Some(team) = Team::new("writers") else {
        return;
    };
    for args in [
        &["record", "--", "true"][..],
        &["checkpoint"],
        &["import", "jsonl", "/nonexistent.jsonl"],
        &["hook", "claude-code"],
    ] {
        let mut all = vec!["--db", &team.writer];
        all.extend_from_slice(args);
        let out = flightlog(&all);
        // A hook never fails its agent (it fails open); it too writes nothing.
        if args[0] != "hook" {
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(
                stderr(&out).contains("is the team store"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
}

/// Errors name the server without its password.
#[test]
fn a_password_is_never_shown() {
    let out = flightlog(&[
        "--db",
        "postgres://someone:hunter2secret@127.0.0.1:1/x",
        "sessions",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("postgres://someone@127.0.0.1:1/x"), "{err}");
    assert!(!err.contains("hunter2secret"), "{err}");
    let (_d, db, _) = local_store(1, 5);
    let out = at(
        &db,
        &[
            "push",
            "--all",
            "--to",
            "postgres://u:hunter2secret@127.0.0.1:1/x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("hunter2secret"), "{}", stderr(&out));
}
