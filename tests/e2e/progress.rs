//! Progress bars: long imports, exports and verifies show one on a terminal (tmux), in color
//! unless `NO_COLOR` is set; piped or redirected, standard error carries no bar at all; quick
//! work shows none even on a terminal.

use std::path::Path;

use flightlog_formats::event::parse_ts;
use flightlog_formats::store::SessionMeta;
use flightlog_formats::synth::asciicast;
use flightlog_formats::{Kind, NewEvent, Redactor, Store};
use serde_json::json;

use crate::common::{Pane, TestEnv, assert_bar, assert_no_bar, bin, exits, has_sgr};

/// Runs `flightlog ARGS` in `env` with `NO_COLOR` unset (piped: no terminal), asserts it
/// exited 0: (stdout, stderr).
fn ok(env: &TestEnv, args: &[&str]) -> (String, String) {
    let out = env
        .cmd()
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stdout = exits(&out, 0);
    (stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A store with one session of `n` small events.
fn write_store(db: &Path, n: u64) {
    let store = Store::open(db).unwrap();
    let red = Redactor::new([5; 32]);
    let start = parse_ts("2026-04-25T21:00:00Z").unwrap();
    let id = store
        .create_session(&SessionMeta::default(), start)
        .unwrap();
    let mut i = 0;
    while i < n {
        let batch: Vec<NewEvent> = (i..(i + 10_000).min(n))
            .map(|k| {
                NewEvent::new(
                    parse_ts(&format!(
                        "2026-04-25T21:{:02}:{:02}.{:03}Z",
                        k / 60_000,
                        k / 1000 % 60,
                        k % 1000
                    ))
                    .unwrap(),
                    Kind::Terminal,
                    "pty",
                    json!({"stream": "o", "data": "ok\r\n"}),
                )
            })
            .collect();
        i += batch.len() as u64;
        store.append_batch(&id, batch, &red).unwrap();
    }
}

#[test]
fn piped_import_export_and_verify_print_no_progress() {
    let env = TestEnv::new();
    // Big enough that each command runs past the bar's delay.
    let cast = env.write("big.cast", asciicast(40_000));

    let (stdout, stderr) = ok(&env, &["import", "asciicast", cast.to_str().unwrap()]);
    assert_no_bar("import asciicast", &stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let session = stdout.trim().to_string();

    // Each export to a file: a summary line, no bar.
    let [jsonl, _, bundle] = [
        ("jsonl", "out.jsonl"),
        ("csv", "out.csv"),
        ("bundle", "bundle"),
    ]
    .map(|(format, file)| {
        let out = env.path(file);
        let args = [
            "export",
            &session,
            "-f",
            format,
            "-o",
            out.to_str().unwrap(),
        ];
        let (_, stderr) = ok(&env, &args);
        assert_no_bar(&format!("export {format}"), &stderr);
        assert!(
            stderr.starts_with(&format!("session {session}: ")) || format != "jsonl",
            "{stderr}"
        );
        out
    });
    let (stdout, stderr) = ok(&env, &["export", &session, "-f", "jsonl"]);
    assert_eq!(stderr, "");
    assert_eq!(stdout.as_bytes(), std::fs::read(&jsonl).unwrap());

    for target in ["--all", jsonl.to_str().unwrap(), bundle.to_str().unwrap()] {
        let (stdout, stderr) = ok(&env, &["verify", target]);
        assert_eq!(stderr, "", "verify {target}");
        assert!(stdout.contains("intact"), "{stdout}");
    }

    let other = TestEnv::new();
    let pubkey = env.path("store/keys/checkpoint.pub");
    let (_, stderr) = ok(
        &other,
        &[
            "import",
            "jsonl",
            jsonl.to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ],
    );
    assert_no_bar("import jsonl", &stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_terminal_shows_a_bar_for_long_work_in_color_unless_no_color() {
    if !crate::common::need("tmux") {
        return;
    }
    let bin = bin();
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("big/flightlog.db");
    write_store(&big, 400_000);
    let small = d.path().join("small/flightlog.db");
    write_store(&small, 20);
    let cast = d.path().join("rec.cast");
    std::fs::write(&cast, asciicast(60_000)).unwrap();

    let tmux = Pane::start(
        "e2e-progress",
        (120, 30),
        &[
            "-u",
            "NO_COLOR",
            "PS1=e2e-prompt$ ",
            "TERM=xterm-256color",
            "sh",
        ],
        d.path().join("pane.log"),
    );
    let fl = |db: &Path, rest: &str| format!("{} --db '{}' {rest}", bin.display(), db.display());

    // A long verify: a bar, colored, cleared before the report.
    let out = tmux.command(&fl(&big, "verify --all"), 100);
    assert_bar(&out, "verifying", "400,000 events");
    assert!(has_sgr(&out), "no color without NO_COLOR:\n{out:?}");
    assert!(out.contains("intact"), "{out:?}");

    // The same with NO_COLOR: a bar, and not one color or attribute anywhere.
    let out = tmux.command(&format!("NO_COLOR=1 {}", fl(&big, "verify --all")), 200);
    assert!(out.contains("verifying ["), "no bar:\n{out:?}");
    assert!(!has_sgr(&out), "color under NO_COLOR:\n{out:?}");

    // Quick work: no bar.
    let out = tmux.command(&fl(&small, "verify --all"), 300);
    assert!(
        !out.contains("verifying ["),
        "a bar for quick work:\n{out:?}"
    );
    assert!(!out.contains("\x1b[2K"), "a bar for quick work:\n{out:?}");

    // A long import and export: bars by bytes and by events.
    let imported = d.path().join("imported/flightlog.db");
    let out = tmux.command(
        &format!(
            "NO_COLOR=1 {}",
            fl(&imported, &format!("import asciicast '{}'", cast.display()))
        ),
        400,
    );
    assert!(out.contains("importing ["), "no bar:\n{out:?}");
    assert!(out.contains("MiB"), "no byte count:\n{out:?}");
    assert!(!has_sgr(&out), "color under NO_COLOR:\n{out:?}");
    let csv = d.path().join("out.csv");
    let out = tmux.command(
        &format!(
            "NO_COLOR=1 {}",
            fl(
                &imported,
                &format!("export latest -f csv -o '{}'", csv.display())
            )
        ),
        500,
    );
    assert!(out.contains("exporting ["), "no bar:\n{out:?}");
    assert!(!has_sgr(&out), "color under NO_COLOR:\n{out:?}");
    assert!(out.contains("records written to"), "{out:?}");
}
