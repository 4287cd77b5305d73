//! Whole-process benchmarks of the real binary: a hook event end to end (process start to
//! durable append and answer), against the floor of a bare process start; and the import of a
//! 3 MB Claude Code transcript. Prints a table; `cargo bench -p flightlog-tests --bench process`
//! (uses the release binary: run `cargo build --release` first, or set FLIGHTLOG_BIN).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FLIGHTLOG_BIN") {
        return PathBuf::from(p);
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target"));
    target.join("release/flightlog")
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Duration {
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    if let Some(mut s) = child.stdin.take() {
        let _ = s.write_all(input);
    }
    let st = child.wait().expect("wait");
    assert!(st.success(), "{cmd:?} failed");
    t.elapsed()
}

fn main() {
    let bin = bin();
    assert!(
        bin.exists(),
        "{} not found: cargo build --release first",
        bin.display()
    );
    let runs: usize = std::env::var("FLIGHTLOG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("fl.db");
    let mut rows = Vec::new();
    println!("| what | median | p99 | anchor |\n|---|---|---|---|");

    // Floor: a bare process start.
    let mut bare: Vec<Duration> = (0..runs)
        .map(|_| run_with_stdin(&mut Command::new("/bin/true"), b""))
        .collect();
    let (b50, b99) = (pct(&mut bare, 0.5), pct(&mut bare, 0.99));
    rows.push(format!("| bare process start (`/bin/true`, anchor) | {b50:.2} ms | {b99:.2} ms | 0.77 ms measured here before |"));

    // A hook event end to end: PreToolUse, durable append, answer.
    let payload = br#"{"session_id":"bench","transcript_path":"/t.jsonl","cwd":"/w","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"npm test -- --watch=false","description":"Run test suite","timeout":120000},"tool_use_id":"toolu_01ABC"}"#;
    // Warm up (creates the store and keys).
    run_with_stdin(
        Command::new(&bin)
            .arg("--db")
            .arg(&db)
            .args(["hook", "claude-code"]),
        payload,
    );
    let mut hook: Vec<Duration> = (0..runs)
        .map(|_| {
            run_with_stdin(
                Command::new(&bin)
                    .arg("--db")
                    .arg(&db)
                    .args(["hook", "claude-code"])
                    .env_remove("FLIGHTLOG_POLICY"),
                payload,
            )
        })
        .collect();
    let (h50, h99) = (pct(&mut hook, 0.5), pct(&mut hook, 0.99));
    rows.push(format!("| hook event end to end (process start to durable append) | {h50:.2} ms | {h99:.2} ms | target median <= 1.5 ms; dcg 3.1 ms |"));

    // Import of the 3 MB transcript.
    let transcript = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/claude-code/4d5611e5-241a-462a-8d15-5122611a9569.jsonl");
    if transcript.exists() {
        let mut imp: Vec<Duration> = (0..10)
            .map(|i| {
                let db = dir.path().join(format!("imp{i}.db"));
                run_with_stdin(
                    Command::new(&bin)
                        .arg("--db")
                        .arg(&db)
                        .arg("import")
                        .arg("claude-code")
                        .arg(&transcript),
                    b"",
                )
            })
            .collect();
        let (i50, i99) = (pct(&mut imp, 0.5), pct(&mut imp, 0.99));
        rows.push(format!("| import of a 3 MB Claude Code transcript (+ subagents, whole process) | {i50:.1} ms | {i99:.1} ms | target <= 100 ms |"));
    }
    for r in &rows {
        println!("{r}");
    }
    if let Ok(p) = std::env::var("FLIGHTLOG_BENCH_TABLE") {
        let _ = std::fs::write(p, rows.join("\n") + "\n");
    }
}
