//! Nothing lost: writers killed with SIGKILL at random moments (seeded), recorders killed
//! mid-session, 16 concurrent writers with readers running, and a hook that never waits longer
//! than FLIGHTLOG_HOOK_TIMEOUT_MS for a locked store.
//!
//! Every event a writer acknowledged (a hook that exited 0, an append that returned) must be in
//! the store exactly once, no row may be torn, and every chain must verify.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flightlog_formats::store::SessionMeta;
use flightlog_formats::synth::Rng;
use flightlog_formats::{Event, Keys, Kind, NewEvent, Redactor, Store};
use serde_json::{Value, json};

use crate::common::{TestEnv, output_with_stdin, spawn_with_stdin};

/// The generator for a test's random choices, seeded with FLIGHTLOG_CRASH_SEED else `default`
/// (the seed is printed, so a failure can be replayed): the generator and its seed.
fn seeded(default: u64) -> (Rng, u64) {
    let seed = std::env::var("FLIGHTLOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (Rng::new(seed), seed)
}

/// `flightlog hook claude-code` in `env` with `payload` on its stdin (a killed child may close
/// it early).
fn spawn_hook(env: &TestEnv, payload: &str) -> Child {
    let mut c = env.cmd();
    c.args(["hook", "claude-code"]);
    spawn_with_stdin(c, payload.as_bytes())
}

fn payload(session: &str, call_id: &str, cmd: &str) -> String {
    json!({
        "session_id": session,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_use_id": call_id,
        "tool_input": {"command": cmd},
        "cwd": "/work",
    })
    .to_string()
}

/// `flightlog verify --all --json`: (exit code, report).
fn verify_all(env: &TestEnv) -> (i32, Value) {
    let out = env.run(&["verify", "--all", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

/// Every event of every session, parsed (a torn row fails here), and the raw integrity check.
fn all_events(db: &Path) -> Vec<Event> {
    let store = Store::open_read_only(db).unwrap();
    let ok: String = store
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "SQLite integrity check");
    let mut out = Vec::new();
    for s in store.sessions().unwrap() {
        let mut expect = 0;
        store
            .for_each_event(&s.id, |e| {
                assert_eq!(e.seq, expect, "session {} has a hole at {expect}", s.id);
                expect += 1;
                out.push(
                    e.event()
                        .unwrap_or_else(|err| panic!("torn event {} #{}: {err}", s.id, e.seq)),
                );
                true
            })
            .unwrap();
    }
    out
}

#[test]
fn killed_hook_writers_lose_no_acknowledged_event() {
    let env = TestEnv::new();
    let (mut rng, seed) = seeded(0x5eed_f11e);
    let rounds = 20;
    let per_round = 8;
    let t0 = Instant::now();
    let mut acked: Vec<String> = Vec::new();
    let mut killed = 0;
    let mut kill_attempts = 0;
    let mut failed_clean = Vec::new();
    for round in 0..rounds {
        // Some rounds start a new agent session (session creation killed midway), most append
        // to a shared one.
        let session = if rng.below(4) == 0 {
            format!("crash-{round}")
        } else {
            "crash-main".to_string()
        };
        let mut kids: Vec<(String, Child, Option<u64>)> = (0..per_round)
            .map(|i| {
                let id = format!("r{round}-w{i}");
                // Microseconds after the spawn: a hook takes a few milliseconds, so the kills
                // land before, during and after its append.
                let kill_at = (rng.below(2) == 0).then(|| rng.below(6_000));
                let child = spawn_hook(&env, &payload(&session, &id, &format!("echo {id}")));
                (id, child, kill_at)
            })
            .collect();
        let start = Instant::now();
        let mut order: Vec<usize> = (0..kids.len()).filter(|i| kids[*i].2.is_some()).collect();
        order.sort_by_key(|i| kids[*i].2);
        for i in order {
            let at = Duration::from_micros(kids[i].2.unwrap_or(0));
            if let Some(wait) = at.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            kill_attempts += 1;
            let _ = kids[i].1.kill(); // SIGKILL
        }
        for (id, child, _) in kids {
            let out = child.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) => acked.push(id),
                Some(c) => failed_clean.push(format!(
                    "{id}: exit {c}: {}",
                    String::from_utf8_lossy(&out.stderr)
                )),
                None => killed += 1,
            }
        }
    }
    let elapsed = t0.elapsed();
    assert!(
        failed_clean.is_empty(),
        "hooks that were not killed must succeed: {failed_clean:?}"
    );
    let events = all_events(&env.db);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.kind == Kind::ToolCall) {
        if let Some(id) = e.data.get("call_id").and_then(Value::as_str) {
            *seen.entry(id.to_string()).or_default() += 1;
        }
    }
    for id in &acked {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "acknowledged event {id} must be stored exactly once"
        );
    }
    assert!(seen.values().all(|n| *n == 1), "no event stored twice");
    let (code, report) = verify_all(&env);
    println!(
        "crash (hooks): seed {seed}, {rounds} rounds x {per_round} writers, {kill_attempts} SIGKILLs sent, \
         {killed} writers died by them, {} acknowledged, {} stored, {} events in all, verify intact={} \
         ({:.1} s)",
        acked.len(),
        seen.len(),
        events.len(),
        report["intact"],
        elapsed.as_secs_f64()
    );
    assert_eq!(code, 0, "verify after the kills: {report}");
    assert_eq!(report["intact"], true);
    assert!(killed > 0, "the seed must actually kill some writers");
}

fn proc_cmdlines_containing(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline"))
            && String::from_utf8_lossy(&c).contains(needle)
        {
            out.push(pid);
        }
    }
    out
}

fn record(env: &TestEnv, dir: &Path, script: &str) -> Child {
    env.record_cmd(dir)
        .args(["--no-proxy", "--no-watch", "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn killed_recorder_is_sealed_with_a_gap_by_the_next_run() {
    let env = TestEnv::new();
    let db = &env.db;
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let (mut rng, seed) = seeded(0xdead_beef);
    let rounds = 4;
    let t0 = Instant::now();
    let mut killed_sessions: Vec<String> = Vec::new();
    let mut sealed_msgs = 0;
    let mut kill_ms = Vec::new();
    for round in 0..rounds {
        let marker = format!("{}.{round}{}", 40 + round, seed % 1000);
        // exec-heavy, then a long sleep with a unique argument we can look for afterwards.
        let script =
            format!("i=0; while [ $i -lt 150 ]; do /bin/true; i=$((i+1)); done; sleep {marker}");
        let before: HashSet<String> = Store::open_read_only(db)
            .map(|s| s.sessions().unwrap().into_iter().map(|r| r.id).collect())
            .unwrap_or_default();
        let mut child = record(&env, &work, &script);
        let at = 150 + rng.below(600);
        kill_ms.push(at);
        std::thread::sleep(Duration::from_millis(at));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), None, "killed by the signal");
        if String::from_utf8_lossy(&out.stderr).contains("sealed") {
            sealed_msgs += 1;
        }
        // The agent must not outlive its recorder (ptrace exit-kill).
        std::thread::sleep(Duration::from_millis(300));
        let survivors = proc_cmdlines_containing(&format!("sleep {marker}"));
        assert!(
            survivors.is_empty(),
            "the recorded command outlived the killed recorder: pids {survivors:?}"
        );
        let after = Store::open_read_only(db).unwrap().sessions().unwrap();
        let new: Vec<String> = after
            .into_iter()
            .map(|r| r.id)
            .filter(|id| !before.contains(id))
            .collect();
        killed_sessions.extend(new);
    }
    // A last, plain run seals the last killed session (a recorder prints what it sealed when
    // it ends, so the killed ones never say it).
    let out = env
        .record_cmd(&work)
        .args(["--no-proxy", "--no-watch", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    if String::from_utf8_lossy(&out.stderr).contains("sealed") {
        sealed_msgs += 1;
    }
    // The seal runs happen at the start of each next record; the final one is a plain run.
    let mut sealed = 0;
    for s in &killed_sessions {
        let evs = env.events(s);
        let gaps: Vec<&Event> = evs
            .iter()
            .filter(|e| e.kind == Kind::Gap && e.data["reason"] == "writer_died")
            .collect();
        assert_eq!(gaps.len(), 1, "session {s} sealed exactly once: {evs:?}");
        let last = evs.last().unwrap();
        assert_eq!(
            last.kind,
            Kind::SessionEnd,
            "session {s} ends after the gap"
        );
        assert_eq!(last.data["reason"], "writer_died");
        sealed += 1;
    }
    let (code, report) = verify_all(&env);
    println!(
        "crash (record): seed {seed}, {rounds} recorders SIGKILLed at {kill_ms:?} ms, {sealed} sessions \
         sealed with a writer_died gap by the next run (the last run reported sealing: {}), no \
         recorded command survived, verify intact={} ({:.1} s)",
        sealed_msgs > 0,
        report["intact"],
        t0.elapsed().as_secs_f64()
    );
    assert!(sealed_msgs > 0, "the sealing run says what it sealed");
    assert_eq!(
        killed_sessions.len(),
        rounds,
        "one session per killed recorder"
    );
    assert_eq!(code, 0, "verify: {report}");
}

// ---------------------------------------------------------------- concurrency

/// Helper process for the concurrency test (run by the test binary itself, not on its own):
/// appends FLIGHTLOG_HELPER_N events through `flightlog_formats::Store` and prints `ACKED n`.
#[test]
#[ignore = "helper process for writers_16_x_1000_with_readers"]
fn helper_store_writer() {
    let Ok(db) = std::env::var("FLIGHTLOG_HELPER_DB") else {
        return;
    };
    let db = PathBuf::from(db);
    let w: String = std::env::var("FLIGHTLOG_HELPER_W").unwrap();
    let n: u64 = std::env::var("FLIGHTLOG_HELPER_N")
        .unwrap()
        .parse()
        .unwrap();
    let keys = Keys::load_or_create(&flightlog_formats::keys::key_dir_for(&db)).unwrap();
    let red = Redactor::new(keys.fingerprint_key);
    let mut store = Store::open(&db).unwrap();
    store.set_busy_timeout(30_000).unwrap();
    let ts = flightlog_formats::event::parse_ts("2026-04-25T10:00:00Z").unwrap();
    let session = match std::env::var("FLIGHTLOG_HELPER_SESSION") {
        Ok(s) => s,
        Err(_) => store
            .write_tx(|tx| {
                tx.create_session_with_start(
                    &SessionMeta {
                        agent: Some("helper".into()),
                        label: Some(format!("writer {w}")),
                        ..SessionMeta::default()
                    },
                    NewEvent::new(ts, Kind::SessionStart, "test", json!({"writer": w})),
                    &red,
                )
            })
            .unwrap(),
    };
    let mut acked = 0;
    for i in 0..n {
        store
            .append(
                &session,
                NewEvent::new(
                    ts,
                    Kind::ToolCall,
                    "test",
                    json!({"call_id": format!("{w}-{i}"), "tool": "Bash", "input": {"command": format!("echo {i}")}}),
                ),
                &red,
            )
            .unwrap_or_else(|e| panic!("writer {w} event {i}: {e}"));
        acked += 1;
    }
    println!("ACKED {acked}");
}

fn spawn_helper(db: &Path, w: &str, n: u64, session: Option<&str>) -> Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "crash::helper_store_writer",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("FLIGHTLOG_HELPER_DB", db)
    .env("FLIGHTLOG_HELPER_W", w)
    .env("FLIGHTLOG_HELPER_N", n.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    match session {
        Some(s) => c.env("FLIGHTLOG_HELPER_SESSION", s),
        None => c.env_remove("FLIGHTLOG_HELPER_SESSION"),
    };
    c.spawn().unwrap()
}

/// Runs `flightlog verify|show|sessions` in a loop until `stop`; returns (runs, failures).
fn readers(env: &TestEnv, stop: &std::sync::atomic::AtomicBool) -> (usize, Vec<String>) {
    let mut runs = 0;
    let mut fails = Vec::new();
    let cmds: [&[&str]; 3] = [
        &["verify", "--all", "--json"],
        &["show", "latest"],
        &["sessions", "--json"],
    ];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // Readers run alongside, not flat out: two cores are shared with 16 writers.
        std::thread::sleep(Duration::from_millis(150));
        for args in cmds {
            if !env.db.exists() {
                continue;
            }
            let out = env.run(args);
            runs += 1;
            let err = String::from_utf8_lossy(&out.stderr);
            // `show latest` before the first session exists is a fair "no such session".
            let benign = err.contains("no session matches");
            if out.status.code() != Some(0) && !benign {
                fails.push(format!("{args:?}: exit {:?}: {err}", out.status.code()));
            }
            if err.to_ascii_lowercase().contains("locked") || err.contains("busy") {
                fails.push(format!("{args:?}: lock error: {err}"));
            }
        }
    }
    (runs, fails)
}

fn run_writers(one_session: bool) {
    let env = TestEnv::new();
    let db = &env.db;
    let (writers, per) = (16u64, 1_000u64);
    let keys = Keys::load_or_create(&flightlog_formats::keys::key_dir_for(db)).unwrap();
    let store = Store::open(db).unwrap();
    let shared = if one_session {
        let ts = flightlog_formats::event::parse_ts("2026-04-25T09:59:00Z").unwrap();
        Some(
            store
                .write_tx(|tx| {
                    tx.create_session_with_start(
                        &SessionMeta::default(),
                        NewEvent::new(ts, Kind::SessionStart, "test", json!({})),
                        &Redactor::new(keys.fingerprint_key),
                    )
                })
                .unwrap(),
        )
    } else {
        None
    };
    drop(store);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let rdr = scope.spawn(|| readers(&env, &stop));
        let t = Instant::now();
        let kids: Vec<(String, Child)> = (0..writers)
            .map(|w| {
                let name = format!("w{w}");
                let c = spawn_helper(db, &name, per, shared.as_deref());
                (name, c)
            })
            .collect();
        let mut acked = 0u64;
        for (name, c) in kids {
            let out = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "writer {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let n: u64 = text
                .lines()
                .find_map(|l| l.split_once("ACKED ").map(|(_, n)| n))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("writer {name} printed no ACKED line: {text}"));
            acked += n;
        }
        let write_s = t.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (reads, read_fails) = rdr.join().unwrap();
        let events = all_events(db);
        let mut by_writer: BTreeMap<String, HashSet<u64>> = BTreeMap::new();
        for e in events.iter().filter(|e| e.kind == Kind::ToolCall) {
            let id = e.data["call_id"].as_str().unwrap();
            let (w, i) = id.split_once('-').unwrap();
            assert!(
                by_writer
                    .entry(w.to_string())
                    .or_default()
                    .insert(i.parse().unwrap()),
                "{id} stored twice"
            );
        }
        assert_eq!(acked, writers * per);
        for w in 0..writers {
            let got = by_writer.get(&format!("w{w}")).map(|s| s.len() as u64);
            assert_eq!(
                got,
                Some(per),
                "writer w{w}: every acknowledged event stored"
            );
        }
        let sessions = Store::open_read_only(db).unwrap().sessions().unwrap().len();
        assert_eq!(sessions, if one_session { 1 } else { writers as usize });
        let (code, report) = verify_all(&env);
        println!(
            "concurrency ({}): {writers} processes x {per} durable appends = {acked} events in {write_s:.1} s \
         ({:.0} events/s); {reads} reader runs (verify/show/sessions) alongside, {} failed; verify intact={}",
            if one_session {
                "one session"
            } else {
                "separate sessions"
            },
            acked as f64 / write_s,
            read_fails.len(),
            report["intact"]
        );
        assert!(read_fails.is_empty(), "readers failed: {read_fails:#?}");
        assert!(reads > 0, "readers ran");
        assert_eq!(code, 0, "verify: {report}");
    });
}

#[test]
fn writers_16_x_1000_into_one_session_with_readers() {
    run_writers(true);
}

#[test]
fn writers_16_x_1000_into_separate_sessions_with_readers() {
    run_writers(false);
}

/// The binary-driven variant: 16 threads, each running `flightlog hook` processes, readers alongside.
#[test]
fn hook_processes_16_parallel_never_surface_lock_errors() {
    let env = TestEnv::new();
    let per = 25;
    // The store exists before readers start (a reader racing the store's creation is covered
    // separately).
    let first = spawn_hook(&env, &payload("shared-0", "h-first", "ls"))
        .wait_with_output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0));
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let rdr = scope.spawn(|| readers(&env, &stop));
        let t = Instant::now();
        let threads: Vec<_> = (0..16)
            .map(|w| {
                let env = &env;
                scope.spawn(move || {
                    let mut max = Duration::ZERO;
                    for i in 0..per {
                        let s = if w % 2 == 0 { "shared" } else { "own" };
                        let session = format!("{s}-{}", if s == "own" { w } else { 0 });
                        let t = Instant::now();
                        let out = spawn_hook(env, &payload(&session, &format!("h{w}-{i}"), "ls"))
                            .wait_with_output()
                            .unwrap();
                        max = max.max(t.elapsed());
                        assert_eq!(
                            out.status.code(),
                            Some(0),
                            "hook h{w}-{i}: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        assert!(
                            out.stderr.is_empty(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                    max
                })
            })
            .collect();
        let max = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .max()
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (reads, fails) = rdr.join().unwrap();
        let events = all_events(&env.db);
        let calls = events.iter().filter(|e| e.kind == Kind::ToolCall).count();
        println!(
            "concurrency (hook binary): 16 threads x {per} hook processes in {secs:.1} s, slowest hook {} ms, \
         {reads} reader runs alongside ({} failed)",
            max.as_millis(),
            fails.len()
        );
        assert_eq!(calls, 16 * per + 1);
        assert!(fails.is_empty(), "{fails:#?}");
        assert_eq!(verify_all(&env).0, 0);
    });
}

/// A store locked by an open write transaction: the hook gives up within
/// FLIGHTLOG_HOOK_TIMEOUT_MS with the fail-open answer (exit 1, nothing on stdout).
#[test]
fn hook_waits_no_longer_than_its_timeout_for_a_locked_store() {
    let env = TestEnv::new();
    let out = spawn_hook(&env, &payload("lock", "first", "ls"))
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let holder = Store::open(&env.db).unwrap();
    holder
        .connection()
        .execute_batch("BEGIN IMMEDIATE")
        .unwrap();
    for bound in [300u64, 1_000] {
        let t = Instant::now();
        let mut hook = env.cmd();
        hook.args(["hook", "claude-code"])
            .env("FLIGHTLOG_HOOK_TIMEOUT_MS", bound.to_string());
        let out = output_with_stdin(
            hook,
            payload("lock", &format!("blocked-{bound}"), "ls").as_bytes(),
        );
        let took = t.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        println!(
            "locked store: hook with FLIGHTLOG_HOOK_TIMEOUT_MS={bound} answered in {} ms, exit {:?}: {}",
            took.as_millis(),
            out.status.code(),
            err.trim()
        );
        assert_eq!(out.status.code(), Some(1), "fail-open exit code");
        assert!(out.stdout.is_empty(), "fail open: no deny answer");
        assert!(err.contains("fail open"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            took >= Duration::from_millis(bound) && took < Duration::from_millis(bound + 1_500),
            "bounded by the timeout: {took:?}"
        );
    }
    holder.connection().execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let out = spawn_hook(&env, &payload("lock", "after", "ls"))
        .wait_with_output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "recording resumes once the lock is gone"
    );
}
