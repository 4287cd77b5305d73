//! No secrets in the log: the redaction corpus (recall and false positives), and the real
//! binary fed secrets through hooks, then the database, its WAL and -shm, and every export
//! grepped byte for byte. Also: private file modes, and world-readable files refused.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flightlog_formats::Redactor;
use serde_json::{Value, json};

fn bin() -> PathBuf {
    flightlog_fixtures::bin_path().expect("build the binary first (cargo build)")
}

struct Corpus {
    positives: Vec<(String, String, String)>, // family, text, secret
    negatives: Vec<(String, String, String)>, // family, text, why
}

fn corpus() -> Corpus {
    let path = flightlog_fixtures::fixtures_dir().join("secrets/secrets.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let s = |e: &Value, k: &str| e[k].as_str().unwrap().to_string();
    Corpus {
        positives: v["positives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (s(e, "family"), s(e, "text"), s(e, "secret")))
            .collect(),
        negatives: v["negatives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (s(e, "family"), s(e, "text"), s(e, "why")))
            .collect(),
    }
}

/// Whether every occurrence of `secret` in `text` is fully covered by the redactor's matches.
fn covered(r: &Redactor, text: &str, secret: &str) -> bool {
    let found = r.scan(text);
    let mut any = false;
    for (at, _) in text.match_indices(secret) {
        any = true;
        let end = at + secret.len();
        // Union of matches must cover [at, end).
        let mut pos = at;
        let mut spans: Vec<(usize, usize)> = found.iter().map(|m| (m.start, m.end)).collect();
        spans.sort();
        for (s, e) in spans {
            if s <= pos && e > pos {
                pos = e;
            }
        }
        if pos < end {
            return false;
        }
    }
    any && !r.redact_str(text).0.contains(secret)
}

#[test]
fn redaction_corpus_recall_and_false_positive_rate() {
    let c = corpus();
    assert!(c.positives.len() >= 100, "at least 100 secrets");
    assert!(c.negatives.len() >= 50, "at least 50 look-alikes");
    let r = Redactor::new([0x5a; 32]);
    // family -> (total, caught)
    let mut pos: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for (fam, text, secret) in &c.positives {
        let e = pos.entry(fam).or_default();
        e.0 += 1;
        if covered(&r, text, secret) {
            e.1 += 1;
        } else {
            misses.push(format!("  MISS [{fam}] {text:?} (secret {secret:?})"));
        }
    }
    let mut neg: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut fps = Vec::new();
    for (fam, text, why) in &c.negatives {
        let e = neg.entry(fam).or_default();
        e.0 += 1;
        let found = r.scan(text);
        if !found.is_empty() {
            e.1 += 1;
            let what: Vec<String> = found
                .iter()
                .map(|m| format!("{}={:?}", m.kind, &text[m.start..m.end]))
                .collect();
            fps.push(format!(
                "  FALSE POSITIVE [{fam}] ({why}) {text:?}: {}",
                what.join(", ")
            ));
        }
    }
    let tp: usize = pos.values().map(|v| v.1).sum();
    let fp: usize = neg.values().map(|v| v.1).sum();
    let recall = tp as f64 / c.positives.len() as f64;
    let fpr = fp as f64 / c.negatives.len() as f64;
    println!("\nredaction corpus: fixtures/secrets/secrets.json");
    println!(
        "{:<22} {:>6} {:>8} {:>8}",
        "positives (family)", "n", "caught", "recall"
    );
    for (f, (n, k)) in &pos {
        println!("{f:<22} {n:>6} {k:>8} {:>8.3}", *k as f64 / *n as f64);
    }
    println!(
        "{:<22} {:>6} {:>8} {:>8}",
        "negatives (family)", "n", "flagged", "FPR"
    );
    for (f, (n, k)) in &neg {
        println!("{f:<22} {n:>6} {k:>8} {:>8.3}", *k as f64 / *n as f64);
    }
    println!(
        "TOTAL: recall {recall:.3} ({tp}/{}), false-positive rate {fpr:.3} ({fp}/{})",
        c.positives.len(),
        c.negatives.len()
    );
    for m in misses.iter().chain(fps.iter()) {
        println!("{m}");
    }
    assert!(recall >= 0.98, "recall {recall:.3} < 0.98");
    assert!(fpr <= 0.05, "false-positive rate {fpr:.3} > 0.05");
}

#[test]
fn redaction_is_idempotent_on_the_corpus() {
    let c = corpus();
    let r = Redactor::new([0x11; 32]);
    for (_, text, _) in c.positives.iter().chain(c.negatives.iter()) {
        let (once, _) = r.redact_str(text);
        let (twice, more) = r.redact_str(&once);
        assert_eq!(once, twice, "not idempotent on {text:?}");
        assert!(more.is_empty());
        // Through JSON too: as a value, under a neutral key and under a secret-naming key.
        let mut v = json!({"text": text, "nested": [{"output": text}]});
        r.redact_value(&mut v);
        let again = v.clone();
        let mut v2 = v.clone();
        assert!(
            r.redact_value(&mut v2).is_empty(),
            "json not idempotent on {text:?}"
        );
        assert_eq!(v2, again);
    }
}

/// Real agent transcripts (shared/data): every line redacted as a JSON value. Prints the
/// throughput and what was found; the data holds no planted secrets, so every finding here is a
/// candidate false positive, and they must stay rare.
#[test]
fn real_transcripts_redact_fast_and_with_few_findings() {
    let data = flightlog_fixtures::workspace_dir().join("../shared/data");
    let mut files = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                files.push(p);
            }
        }
    }
    if files.is_empty() {
        println!("no transcripts under {} (skipped)", data.display());
        return;
    }
    let r = Redactor::new([3; 32]);
    let mut bytes = 0usize;
    let mut lines = 0usize;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut samples = Vec::new();
    let t = std::time::Instant::now();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            bytes += line.len();
            lines += 1;
            let Ok(mut v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let before = v.to_string();
            for red in r.redact_value(&mut v) {
                *kinds.entry(red.kind.clone()).or_default() += 1;
                if samples.len() < 40 {
                    let m = flightlog_formats::redact::marker(&red.kind, &red.fp);
                    let after = v.to_string();
                    if let Some(at) = after.find(&m) {
                        let lo = at.saturating_sub(60);
                        let lo = (0..=lo)
                            .rev()
                            .find(|i| after.is_char_boundary(*i))
                            .unwrap_or(0);
                        let _ = &before;
                        samples.push(format!("  {}: …{}…", red.kind, &after[lo..at]));
                    }
                }
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let mb = bytes as f64 / 1e6;
    println!(
        "real transcripts: {} files, {lines} lines, {mb:.1} MB redacted in {secs:.2} s ({:.1} MB/s); findings: {kinds:?}",
        files.len(),
        mb / secs
    );
    for s in &samples {
        println!("{s}");
    }
    let total: usize = kinds.values().sum();
    assert!(
        total * 100 <= lines,
        "{total} findings in {lines} lines of ordinary transcripts"
    );
}

fn run(db: &Path, args: &[&str], stdin: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    let mut child = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_POLICY")
        .env("FLIGHTLOG_FAKE_NOW", "2026-04-25T10:00:00Z")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Hook payloads carrying `text` in the places agents put secrets: a command, a tool's output,
/// a file written, a prompt.
fn payloads_for(i: usize, text: &str) -> Vec<Value> {
    let sid = "secrets";
    vec![
        json!({"session_id": sid, "hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_use_id": format!("b{i}"), "tool_input": {"command": text}}),
        json!({"session_id": sid, "hook_event_name": "PostToolUse", "tool_name": "Bash",
               "tool_use_id": format!("b{i}"), "tool_input": {"command": "cat .env"},
               "tool_response": {"stdout": text, "stderr": "", "interrupted": false}}),
        json!({"session_id": sid, "hook_event_name": "PreToolUse", "tool_name": "Write",
               "tool_use_id": format!("w{i}"),
               "tool_input": {"file_path": "/work/config/.env", "content": text}}),
        json!({"session_id": sid, "hook_event_name": "UserPromptSubmit", "prompt": text}),
    ]
}

/// Where a secret shows: the whole, and (for long ones) a 16-character piece of its middle,
/// so a partly redacted secret is caught too.
fn needles(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    if secret.len() >= 24 && secret.is_ascii() {
        let mid = secret.len() / 2;
        out.push(secret[mid - 8..mid + 8].to_string());
    }
    out
}

fn grep_all(label: &str, bytes: &[u8], secrets: &[String], leaks: &mut BTreeSet<String>) {
    for s in secrets {
        for n in needles(s) {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                leaks.insert(format!("{label}: {n}"));
            }
        }
    }
}

/// Every corpus secret, fed through `flightlog hook` (commands, outputs, files, prompts), a
/// Claude Code transcript import, and a raw (non-JSON) payload; then the database, its -wal and
/// -shm, and every export and view are grepped byte for byte.
#[test]
fn no_secret_reaches_the_store_wal_shm_or_any_export() {
    let c = corpus();
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("store/fl.db");
    let secrets: Vec<String> = c.positives.iter().map(|p| p.2.clone()).collect();
    // The store exists and one connection stays open, so the -wal and -shm files stay.
    assert_eq!(run(&db, &["hook", "claude-code"], b"{}").0, Some(1));
    let holder = flightlog_formats::Store::open(&db).unwrap();
    let t = std::time::Instant::now();
    let mut hooks = 0;
    for (i, (_, text, _)) in c.positives.iter().enumerate() {
        let p = &payloads_for(i, text)[i % 4];
        let (code, _, err) = run(&db, &["hook", "claude-code"], p.to_string().as_bytes());
        assert_eq!(code, Some(0), "{err}");
        hooks += 1;
    }
    // Everything at once, as one file's contents; and as a payload that is not JSON at all.
    let all: String = c
        .positives
        .iter()
        .map(|p| p.1.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let p = &payloads_for(999, &all)[2];
    assert_eq!(
        run(&db, &["hook", "claude-code"], p.to_string().as_bytes()).0,
        Some(0)
    );
    let (code, _, err) = run(
        &db,
        &["hook", "claude-code"],
        format!("not json {all}").as_bytes(),
    );
    assert_eq!(code, Some(1), "raw input is recorded, non-blocking: {err}");
    // A secret straddling the point where a long tool output is cut.
    let straddle = format!(
        "ghp_{}",
        "Zq9".repeat(12) // 36 characters after the prefix
    );
    let mut long = "y".repeat(256 * 1024 - 20);
    long.push(' ');
    long.push_str(&straddle);
    long.push_str(&" z".repeat(1000));
    let p = json!({"session_id": "secrets-long", "hook_event_name": "PostToolUse", "tool_name": "Bash",
                   "tool_use_id": "long", "tool_input": {"command": "cat log"},
                   "tool_response": {"stdout": long, "stderr": ""}});
    assert_eq!(
        run(&db, &["hook", "claude-code"], p.to_string().as_bytes()).0,
        Some(0)
    );
    hooks += 3;
    let hook_s = t.elapsed().as_secs_f64();

    // A Claude Code transcript with the same texts, imported.
    let tr = d.path().join("transcript.jsonl");
    let mut lines = Vec::new();
    for (i, (_, text, _)) in c.positives.iter().enumerate() {
        let ts = format!("2026-04-25T10:{:02}:{:02}.000Z", i / 60, i % 60);
        lines.push(
            json!({"type": "user", "uuid": format!("u{i}"), "parentUuid": null, "sessionId": "imp",
            "cwd": "/work", "timestamp": ts, "message": {"role": "user", "content": text}})
            .to_string(),
        );
        lines.push(json!({"type": "assistant", "uuid": format!("a{i}"), "parentUuid": format!("u{i}"),
            "sessionId": "imp", "cwd": "/work", "timestamp": ts,
            "message": {"role": "assistant", "content": [
                {"type": "tool_use", "id": format!("toolu_{i}"), "name": "Bash", "input": {"command": text}}]}})
            .to_string());
    }
    std::fs::write(&tr, lines.join("\n")).unwrap();
    let (code, _, err) = run(&db, &["import", "claude-code", tr.to_str().unwrap()], b"");
    let imported = code == Some(0);
    println!("import claude-code: exit {code:?} {}", err.trim());

    let mut leaks = BTreeSet::new();
    let mut grepped = Vec::new();
    let mut files: Vec<PathBuf> = vec![db.clone()];
    for suf in ["-wal", "-shm"] {
        files.push(PathBuf::from(format!("{}{suf}", db.display())));
    }
    for f in &files {
        if let Ok(b) = std::fs::read(f) {
            grepped.push(format!(
                "{} ({} bytes)",
                f.file_name().unwrap().to_string_lossy(),
                b.len()
            ));
            grep_all(&f.display().to_string(), &b, &secrets, &mut leaks);
        }
    }
    let sessions: Vec<String> = holder
        .sessions()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    drop(holder);
    let mut outputs = 0;
    for s in &sessions {
        let mut views: Vec<Vec<&str>> = vec![
            vec!["show", s],
            vec!["show", s, "--json"],
            vec!["report", s, "--format", "json"],
            vec!["report", s, "--format", "md"],
            vec!["report", s, "--format", "html"],
        ];
        for f in ["jsonl", "ocsf", "otlp", "asciicast", "csv", "cef"] {
            views.push(vec!["export", s, "--format", f]);
        }
        for v in views {
            let t = std::time::Instant::now();
            let (code, out, err) = run(&db, &v, b"");
            if t.elapsed().as_millis() > 1500 {
                println!("  slow: {v:?} took {} ms", t.elapsed().as_millis());
            }
            if code == Some(0) {
                outputs += 1;
                grep_all(&v.join(" "), &out, &secrets, &mut leaks);
            } else {
                println!("  {v:?}: exit {code:?}: {}", err.trim());
            }
        }
        let bundle = d.path().join(format!("bundle-{s}"));
        let (code, _, _) = run(
            &db,
            &[
                "export",
                s,
                "--format",
                "bundle",
                "-o",
                bundle.to_str().unwrap(),
            ],
            b"",
        );
        if code == Some(0) {
            let mut stack = vec![bundle];
            while let Some(p) = stack.pop() {
                if p.is_dir() {
                    stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
                } else {
                    outputs += 1;
                    grep_all(
                        &p.display().to_string(),
                        &std::fs::read(&p).unwrap(),
                        &secrets,
                        &mut leaks,
                    );
                }
            }
        }
    }
    // After the last connection closed (WAL checkpointed into the database).
    grep_all(
        "fl.db after close",
        &std::fs::read(&db).unwrap(),
        &secrets,
        &mut leaks,
    );
    let (vcode, _, _) = run(&db, &["verify", "--all", "--json"], b"");
    println!(
        "secrets through the binary: {} secrets, {hooks} hook payloads in {hook_s:.1} s, import ok={imported}, \
         {} sessions, grepped {grepped:?} and {outputs} exports/views: {} leaks",
        secrets.len(),
        sessions.len(),
        leaks.len()
    );
    for l in &leaks {
        println!("  LEAK {l}");
    }
    assert!(leaks.is_empty(), "{} secrets leaked", leaks.len());
    // Not even the part of a secret left before a long output is cut.
    for s in &sessions {
        let (_, out, _) = run(&db, &["show", s, "--json"], b"");
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text.contains(&straddle[..12]),
            "a secret cut by the output limit leaves its first characters: {}",
            &straddle[..12]
        );
    }
    assert!(outputs >= sessions.len() * 6, "the exports ran");
    assert_eq!(vcode, Some(0), "the store verifies");
}
