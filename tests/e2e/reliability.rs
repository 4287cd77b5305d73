//! Nothing silent: every way the store or the keys can be unusable gives a clear one-line
//! message, a defined exit code (1, non-blocking, for hooks; 2 for other commands), and the
//! guard's fail mode: `[guard] fail = "closed"` denies a PreToolUse, "open" lets it through.
//!
//! Covered: store directory missing (created 0700), world-readable store or key file (refused),
//! key file unreadable or malformed, corrupt database file, read-only file system, full disk
//! (a size-limited tmpfs, when this machine lets the test mount one).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{bin, flightlog, output_with_stdin, wait_timeout};

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(db: &Path, args: &[&str], stdin: &[u8], policy: Option<&Path>) -> Out {
    let mut c = flightlog(db);
    if let Some(p) = policy {
        c.arg("--policy").arg(p);
    }
    c.args(args)
        .env("FLIGHTLOG_HOOK_TIMEOUT_MS", "3000")
        .current_dir(
            db.ancestors()
                .find(|p| p.is_dir())
                .unwrap_or(Path::new("/")),
        );
    let o = output_with_stdin(c, stdin);
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl Out {
    /// Prints the exit code and stderr under `what` (the test's report of what it saw).
    fn logged(self, what: &str) -> Out {
        println!("{what} -> exit {:?}: {}", self.code, self.stderr.trim());
        self
    }
}

fn pre(call: &str) -> Vec<u8> {
    json!({"session_id": "rel", "hook_event_name": "PreToolUse", "tool_name": "Bash",
           "tool_use_id": call, "tool_input": {"command": "rm -rf build"}, "cwd": "/work"})
    .to_string()
    .into_bytes()
}

fn post(call: &str, output: &str) -> Vec<u8> {
    json!({"session_id": "rel", "hook_event_name": "PostToolUse", "tool_name": "Bash",
           "tool_use_id": call, "tool_input": {"command": "cat big"},
           "tool_response": {"stdout": output, "stderr": "", "interrupted": false}, "cwd": "/work"})
    .to_string()
    .into_bytes()
}

fn hook(db: &Path, payload: &[u8], policy: Option<&Path>) -> Out {
    run(db, &["hook", "claude-code"], payload, policy)
}

fn policy(dir: &Path, fail: &str) -> PathBuf {
    let p = dir.join(format!("guard-{fail}.toml"));
    std::fs::write(
        &p,
        format!("home = \"staging\"\n\n[guard]\nenabled = true\nfail = \"{fail}\"\n"),
    )
    .unwrap();
    p
}

/// One line on stderr, starting with `flightlog:`.
fn one_line(o: &Out, what: &str) {
    let e = o.stderr.trim_end();
    assert!(
        e.starts_with("flightlog:") && e.lines().count() == 1,
        "{what}: expected one line starting with 'flightlog:', got {:?}",
        o.stderr
    );
}

/// A PreToolUse hook under a guard that fails `fail` ("open" or "closed"), its answer printed.
fn guarded_pre(db: &Path, dir: &Path, label: &str, fail: &str) -> Out {
    let o = hook(
        db,
        &pre(&format!("{label}-{fail}")),
        Some(&policy(dir, fail)),
    );
    println!(
        "{label}: fail {fail} -> exit {:?}: {} {}",
        o.code,
        o.stdout.trim(),
        o.stderr.trim()
    );
    o
}

/// The hook's failure answers: fail open (exit 1, nothing on stdout) and fail closed (a deny
/// in the agent's protocol for PreToolUse; PostToolUse still fails open).
fn assert_fail_modes(db: &Path, dir: &Path, must_mention: &[&str], label: &str) {
    let open = guarded_pre(db, dir, label, "open");
    assert_eq!(
        open.code,
        Some(1),
        "{label}: fail open exit code; {:?}",
        open.stderr
    );
    assert!(
        open.stdout.trim().is_empty(),
        "{label}: no answer when failing open"
    );
    assert!(
        open.stderr.contains("fail open"),
        "{label}: {}",
        open.stderr
    );
    assert!(
        must_mention
            .iter()
            .any(|m| open.stderr.to_lowercase().contains(&m.to_lowercase())),
        "{label}: the reason ({must_mention:?}) is named: {}",
        open.stderr
    );
    one_line(&open, label);

    let closed = guarded_pre(db, dir, label, "closed");
    assert_eq!(
        closed.code,
        Some(0),
        "{label}: a deny is an answer (exit 0)"
    );
    let ans: Value = serde_json::from_str(closed.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{label}: fail closed must answer JSON: {e}: {:?}",
            closed.stdout
        )
    });
    assert_eq!(
        ans["hookSpecificOutput"]["permissionDecision"], "deny",
        "{ans}"
    );
    assert_eq!(ans["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    assert!(closed.stderr.contains("fail closed"), "{}", closed.stderr);

    let after = hook(
        db,
        &post(&format!("{label}-post"), "ok"),
        Some(&policy(dir, "closed")),
    );
    assert_eq!(
        after.code,
        Some(1),
        "{label}: a PostToolUse cannot be denied: fails open"
    );
    assert!(after.stdout.trim().is_empty());
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn missing_store_directory_is_created_private() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("a/b/c/fl.db");
    let o = hook(&db, &pre("first"), None);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    // Keep a connection open so the -wal and -shm files exist, then write again.
    let keep = flightlog_formats::Store::open(&db).unwrap();
    assert_eq!(hook(&db, &pre("second"), None).code, Some(0));
    let mut checked = Vec::new();
    let mut stack = vec![d.path().join("a")];
    while let Some(p) = stack.pop() {
        let m = mode(&p);
        if p.is_dir() {
            assert_eq!(m, 0o700, "{} must be 0700", p.display());
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else {
            assert_eq!(m & 0o077, 0, "{} is {m:o}: readable by others", p.display());
        }
        checked.push(format!(
            "{} {m:o}",
            p.strip_prefix(d.path()).unwrap().display()
        ));
    }
    drop(keep);
    checked.sort();
    println!("created private: {checked:?}");
    // The checkpoint key is created when first needed (hooks need only the fingerprint key).
    for f in ["fl.db", "fl.db-wal", "fl.db-shm", "keys/fingerprint.key"] {
        assert!(
            checked
                .iter()
                .any(|c| c.starts_with(&format!("a/b/c/{f} "))),
            "{f} was created: {checked:?}"
        );
    }
}

#[test]
fn world_readable_store_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("s/fl.db");
    assert_eq!(hook(&db, &pre("ok"), None).code, Some(0));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_fail_modes(&db, d.path(), &["too open"], "world-readable store");
    let cp = run(&db, &["checkpoint"], b"", None).logged("world-readable store: checkpoint");
    assert_eq!(cp.code, Some(2));
    one_line(&cp, "checkpoint");
    assert!(cp.stderr.contains("644"), "{}", cp.stderr);
}

#[test]
fn world_readable_or_unreadable_key_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("s/fl.db");
    assert_eq!(hook(&db, &pre("ok"), None).code, Some(0));
    let key = d.path().join("s/keys/fingerprint.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_fail_modes(&db, d.path(), &["too open"], "world-readable key");
    let cp = run(&db, &["checkpoint"], b"", None);
    assert_eq!(cp.code, Some(2));
    one_line(&cp, "checkpoint with a world-readable key");

    // Unreadable (the tests run as root, so a mode cannot stop a read: a directory in the
    // key's place can), then malformed.
    std::fs::remove_file(&key).unwrap();
    std::fs::create_dir(&key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_fail_modes(&db, d.path(), &["fingerprint.key"], "unreadable key");
    std::fs::remove_dir(&key).unwrap();
    std::fs::write(&key, "not hex at all").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_fail_modes(&db, d.path(), &["malformed"], "malformed key");
    let cp = run(&db, &["checkpoint"], b"", None);
    assert_eq!(cp.code, Some(2));
    one_line(&cp, "checkpoint with a malformed key");
}

#[test]
fn corrupt_database_gives_one_line_and_defined_codes() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("s/fl.db");
    assert_eq!(hook(&db, &pre("ok"), None).code, Some(0));
    // Overwrite the header and the first pages with garbage.
    let mut bytes = std::fs::read(&db).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().take(8192) {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&db, &bytes).unwrap();
    let _ = std::fs::remove_file(d.path().join("s/fl.db-wal"));
    let _ = std::fs::remove_file(d.path().join("s/fl.db-shm"));
    assert_fail_modes(&db, d.path(), &["not a database"], "corrupt store");
    for args in [
        &["verify", "--all", "--json"][..],
        &["sessions"][..],
        &["show", "latest"][..],
        &["checkpoint"][..],
    ] {
        let o = run(&db, args, b"", None).logged(&format!("corrupt store: {args:?}"));
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        one_line(&o, &format!("{args:?}"));
    }
}

// ---------------------------------------------------------------- mounted file systems

/// A tmpfs mounted for one test, unmounted on drop. None when this machine does not allow it.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        ok.then(|| Mount(at.to_path_buf()))
    }
    fn remount(&self, opt: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount {opt}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A store on a tmpfs of `size` of its own, with one hook recorded in it: the directory, the
/// mount and the store. None (the test `what` says it skipped) where this machine does not let
/// the test mount one.
fn store_on_tmpfs(size: &str, what: &str) -> Option<(tempfile::TempDir, Mount, PathBuf)> {
    let d = tempfile::tempdir().unwrap();
    let Some(m) = Mount::tmpfs(&d.path().join("m"), size) else {
        println!("{what}: SKIPPED (cannot mount a tmpfs of {size} here; needs root)");
        return None;
    };
    let db = m.0.join("s/fl.db");
    assert_eq!(hook(&db, &pre("ok"), None).code, Some(0));
    Some((d, m, db))
}

#[test]
fn read_only_file_system() {
    let Some((d, m, db)) = store_on_tmpfs("8m", "read-only store") else {
        return;
    };
    m.remount("ro");
    // SQLite cannot create the -shm file: "unable to open database file" (it does not say
    // "read-only"; the path is named).
    assert_fail_modes(
        &db,
        d.path(),
        &["read-only", "readonly", "unable to open"],
        "read-only store",
    );
    let o = run(&db, &["checkpoint"], b"", None).logged("read-only store: checkpoint");
    assert_eq!(o.code, Some(2));
    one_line(&o, "checkpoint on a read-only store");
    // Readers either read or say why in one line.
    let o = run(&db, &["verify", "--all", "--json"], b"", None).logged("read-only store: verify");
    assert!(matches!(o.code, Some(0) | Some(2)), "{}", o.stderr);
    if o.code == Some(2) {
        one_line(&o, "verify on a read-only store");
    }
    m.remount("rw");
    assert_eq!(
        hook(&db, &pre("again"), None).code,
        Some(0),
        "recording resumes"
    );
}

#[test]
fn full_disk() {
    let Some((d, m, db)) = store_on_tmpfs("2m", "full disk") else {
        return;
    };
    // Fill the file system.
    let filler = m.0.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    // A result with 200 KB of output needs pages the disk no longer has.
    let big = "x".repeat(200 * 1024);
    let o = hook(&db, &post("big", &big), None).logged("full disk: PostToolUse");
    assert_eq!(o.code, Some(1), "fail open, non-blocking");
    one_line(&o, "full disk");
    // SQLite reports a full tmpfs as "disk I/O error" when the -shm cannot grow, or as
    // "database or disk is full" when a page cannot be written.
    let reasons = ["full", "disk i/o error", "no space"];
    assert!(
        reasons.iter().any(|r| o.stderr.to_lowercase().contains(r)),
        "{}",
        o.stderr
    );
    assert_fail_modes(&db, d.path(), &reasons, "full disk");
    // Free space: recording resumes, and nothing half-written is left.
    std::fs::remove_file(&filler).unwrap();
    let o = hook(&db, &post("big-again", &big), None);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let v = run(&db, &["verify", "--all", "--json"], b"", None);
    assert_eq!(v.code, Some(0), "{}", v.stdout);
    drop(m);
}

// ---------------------------------------------------------------- hostile input

/// Runs the hook under `/usr/bin/time -v` (when present) with stdin from a file; returns the
/// exit code, stderr (without time's report) and the maximum resident set size in KiB.
fn hook_measured(db: &Path, agent: &str, input: &Path) -> (Option<i32>, String, Option<u64>, f64) {
    let timed = Path::new("/usr/bin/time").is_file();
    let mut c = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v").arg(bin());
        c
    } else {
        Command::new(bin())
    };
    let t = std::time::Instant::now();
    let o = c
        .arg("--db")
        .arg(db)
        .args(["hook", agent])
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_POLICY")
        .env("FLIGHTLOG_HOOK_TIMEOUT_MS", "60000")
        .stdin(std::fs::File::open(input).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let rss = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|n| n.trim().parse().ok());
    let own: String = err
        .lines()
        .take_while(|l| !l.starts_with("\tCommand being timed") && !l.starts_with("Command exited"))
        .collect::<Vec<_>>()
        .join("\n");
    // time -v reports the child's exit status itself; ours is the same code.
    (o.status.code(), own, rss, secs)
}

fn assert_sane_exit(label: &str, code: Option<i32>, err: &str) {
    assert!(
        matches!(code, Some(0) | Some(1)),
        "{label}: exit {code:?} (0 or 1 expected; 101 is a panic, None a signal): {err}"
    );
    assert!(!err.contains("panicked"), "{label}: {err}");
    assert!(
        err.trim().lines().count() <= 1,
        "{label}: at most one line: {err}"
    );
}

#[test]
fn hostile_payload_fixtures_never_crash_and_leave_a_verifiable_store() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("s/fl.db");
    let dir = flightlog_fixtures::fixtures_dir().join("hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "bin"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "the hostile corpus is there");
    let passwd_before = std::fs::metadata("/etc/passwd")
        .and_then(|m| m.modified())
        .ok();
    for f in &files {
        for agent in ["claude-code", "codex", "gemini", "cursor"] {
            let (code, err, rss, secs) = hook_measured(&db, agent, f);
            let label = format!("{} as {agent}", f.file_name().unwrap().to_string_lossy());
            assert_sane_exit(&label, code, &err);
            assert!(secs < 20.0, "{label}: took {secs:.1} s");
            if agent == "claude-code" {
                println!(
                    "hostile {label}: exit {code:?}, {:.0} ms, max RSS {} KiB{}",
                    secs * 1e3,
                    rss.map(|r| r.to_string()).unwrap_or("?".into()),
                    if err.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", err.trim())
                    }
                );
            }
        }
    }
    assert_eq!(
        std::fs::metadata("/etc/passwd")
            .and_then(|m| m.modified())
            .ok(),
        passwd_before,
        "a path in a payload is recorded, never followed"
    );
    let v = run(&db, &["verify", "--all", "--json"], b"", None);
    assert_eq!(v.code, Some(0), "{}", v.stdout);
    // The plain-text timeline escapes what agents printed: no escape sequence or bidi control
    // reaches the terminal.
    let show = run(&db, &["show", "latest"], b"", None);
    assert_eq!(show.code, Some(0), "{}", show.stderr);
    for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{0}'] {
        assert!(!show.stdout.contains(bad), "show printed raw {:?}", bad);
    }
    let traversal = run(&db, &["show", "latest", "--json"], b"", None);
    assert!(
        traversal.stdout.contains("../../../../etc/passwd"),
        "the path is kept as given"
    );
}

#[test]
fn hostile_huge_payloads_are_bounded_in_memory() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("s/fl.db");
    // 100 MB: past the 64 MiB read limit (recorded raw, truncated).
    let huge = d.path().join("huge.json");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&huge).unwrap());
        f.write_all(br#"{"session_id":"huge","hook_event_name":"PostToolUse","tool_name":"Bash","tool_use_id":"h","tool_input":{"command":"cat big"},"tool_response":{"stdout":""#).unwrap();
        let line =
            b"0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 ====\\n";
        let mut n = 0;
        while n < 100_000_000 {
            f.write_all(line).unwrap();
            n += line.len();
        }
        f.write_all(br#""}}"#).unwrap();
    }
    // 50 MB of valid JSON: parsed, the long string cut to 256 KiB with its length and hash.
    let big = d.path().join("big.json");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        f.write_all(br#"{"session_id":"big","hook_event_name":"PostToolUse","tool_name":"Bash","tool_use_id":"b","tool_input":{"command":"cat big"},"tool_response":{"stdout":""#).unwrap();
        let chunk = "x".repeat(1_000_000);
        for _ in 0..50 {
            f.write_all(chunk.as_bytes()).unwrap();
        }
        f.write_all(br#""}}"#).unwrap();
    }
    for (f, expect_code) in [(&huge, 1), (&big, 0)] {
        let size = std::fs::metadata(f).unwrap().len();
        let (code, err, rss, secs) = hook_measured(&db, "claude-code", f);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        println!(
            "hostile {name} ({} MB): exit {code:?} in {secs:.1} s, max RSS {} MB{}",
            size / 1_000_000,
            rss.map(|r| (r / 1024).to_string()).unwrap_or("?".into()),
            if err.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", err.trim())
            }
        );
        assert_sane_exit(&name, code, &err);
        assert_eq!(code, Some(expect_code), "{name}: {err}");
        if let Some(kb) = rss {
            assert!(
                kb * 1024 < 4 * size,
                "{name}: max RSS {} MB is not below 4x the payload ({} MB)",
                kb / 1024,
                size / 1_000_000
            );
        }
    }
    let store = flightlog_formats::Store::open_read_only(&db).unwrap();
    let mut largest = 0;
    for s in store.sessions().unwrap() {
        store
            .for_each_event(&s.id, |e| {
                largest = largest.max(e.raw.len());
                true
            })
            .unwrap();
    }
    println!("hostile: largest stored event {} KiB", largest / 1024);
    assert!(
        largest < 1024 * 1024,
        "stored events stay bounded: {largest} bytes"
    );
    let v = run(&db, &["verify", "--all", "--json"], b"", None);
    assert_eq!(v.code, Some(0));
}

#[test]
fn hostile_symlink_loops_in_a_recorded_tree() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("s/fl.db");
    let work = d.path().join("work");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    std::os::unix::fs::symlink(".", work.join("self")).unwrap();
    std::os::unix::fs::symlink("b", work.join("a")).unwrap();
    std::os::unix::fs::symlink("a", work.join("b")).unwrap();
    std::os::unix::fs::symlink("..", work.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("/", work.join("root")).unwrap();
    let t = std::time::Instant::now();
    let mut child = flightlog(&db)
        .args(["record", "--no-proxy", "--", "sh", "-c"])
        .arg("echo hi > f.txt; ln -s f.txt g; rm f.txt; mkdir -p deep && ln -s ../deep deep/loop; echo done")
        .current_dir(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, std::time::Duration::from_secs(60));
    if status.is_none() {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    println!(
        "hostile symlink loops under record: exit {:?} in {:.1} s: {}",
        o.status.code(),
        t.elapsed().as_secs_f64(),
        err.trim()
    );
    assert!(status.is_some(), "record must not hang on symlink loops");
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("done"));
    let v = run(&db, &["verify", "--all", "--json"], b"", None);
    assert_eq!(v.code, Some(0), "{}", v.stdout);
}
