//! No secrets in the log: the redaction corpus (recall and false positives), and the real
//! binary fed secrets through hooks, then the database, its WAL and -shm, and every export
//! grepped byte for byte. Also: private file modes, and world-readable files refused.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use flightlog_formats::Redactor;
use serde_json::{Value, json};

use crate::common::{TestEnv, bin};

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

/// A store of its own whose commands read the clock as the incident's morning (a recording
/// still runs on the real clock).
fn env() -> TestEnv {
    TestEnv::new().with_fake_now("2026-04-25T10:00:00Z")
}

/// `flightlog ARGS` with `stdin`: (exit code, stdout, stderr).
fn run(env: &TestEnv, args: &[&str], stdin: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    let o = env.run_with_stdin(args, stdin);
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every view and export of a session that prints to stdout.
fn views(s: &str) -> Vec<Vec<&str>> {
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
    views
}

/// `flightlog export S --format bundle -o <root>/bundle-S`: (exit code, stderr, every file
/// below the bundle directory).
fn export_bundle(env: &TestEnv, s: &str) -> (Option<i32>, String, Vec<PathBuf>) {
    let bundle = env.path(&format!("bundle-{s}"));
    let (code, _, err) = run(
        env,
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
    let mut files = Vec::new();
    let mut stack = vec![bundle];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if p.exists() {
            files.push(p);
        }
    }
    (code, err, files)
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
    // One pass over the bytes for every needle.
    let all: Vec<String> = secrets.iter().flat_map(|s| needles(s)).collect();
    let ac = aho_corasick::AhoCorasick::new(&all).unwrap();
    for m in ac.find_overlapping_iter(bytes) {
        leaks.insert(format!("{label}: {}", all[m.pattern().as_usize()]));
    }
}

/// [`grep_all`] over each of `files`: how many.
fn grep_files(files: &[PathBuf], secrets: &[String], leaks: &mut BTreeSet<String>) -> usize {
    for p in files {
        grep_all(
            &p.display().to_string(),
            &std::fs::read(p).unwrap(),
            secrets,
            leaks,
        );
    }
    files.len()
}

/// Every corpus secret, fed through `flightlog hook` (commands, outputs, files, prompts), a
/// Claude Code transcript import, and a raw (non-JSON) payload; then the database, its -wal and
/// -shm, and every export and view are grepped byte for byte.
#[test]
fn no_secret_reaches_the_store_wal_shm_or_any_export() {
    let c = corpus();
    let env = env();
    let db = &env.db;
    let secrets: Vec<String> = c.positives.iter().map(|p| p.2.clone()).collect();
    // The store exists and one connection stays open, so the -wal and -shm files stay.
    assert_eq!(run(&env, &["hook", "claude-code"], b"{}").0, Some(1));
    let holder = flightlog_formats::Store::open(db).unwrap();
    let t = std::time::Instant::now();
    let mut hooks = 0;
    for (i, (_, text, _)) in c.positives.iter().enumerate() {
        let p = &payloads_for(i, text)[i % 4];
        let (code, _, err) = run(&env, &["hook", "claude-code"], p.to_string().as_bytes());
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
        run(&env, &["hook", "claude-code"], p.to_string().as_bytes()).0,
        Some(0)
    );
    let (code, _, err) = run(
        &env,
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
        run(&env, &["hook", "claude-code"], p.to_string().as_bytes()).0,
        Some(0)
    );
    hooks += 3;
    let hook_s = t.elapsed().as_secs_f64();

    // A Claude Code transcript with the same texts, imported.
    let tr = env.path("transcript.jsonl");
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
    let (code, _, err) = run(&env, &["import", "claude-code", tr.to_str().unwrap()], b"");
    let imported = code == Some(0);
    println!("import claude-code: exit {code:?} {}", err.trim());

    let mut leaks = BTreeSet::new();
    let mut grepped = Vec::new();
    for (f, b) in store_files(db) {
        grepped.push(format!(
            "{} ({} bytes)",
            f.file_name().unwrap().to_string_lossy(),
            b.len()
        ));
        grep_all(&f.display().to_string(), &b, &secrets, &mut leaks);
    }
    let sessions = session_ids(&holder);
    drop(holder);
    let mut outputs = 0;
    for s in &sessions {
        for v in views(s) {
            let t = std::time::Instant::now();
            let (code, out, err) = run(&env, &v, b"");
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
        let (code, _, files) = export_bundle(&env, s);
        if code == Some(0) {
            outputs += grep_files(&files, &secrets, &mut leaks);
        }
    }
    // After the last connection closed (WAL checkpointed into the database).
    grep_all(
        "fl.db after close",
        &std::fs::read(db).unwrap(),
        &secrets,
        &mut leaks,
    );
    let (vcode, _, _) = run(&env, &["verify", "--all", "--json"], b"");
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
        let (_, out, _) = run(&env, &["show", s, "--json"], b"");
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

/// A value of the layers corpus (fixtures/secrets/layers.json) and the ways it is written.
struct Planted {
    kind: String,
    value: String,
    source: String,
    /// Percent-encoded (every byte but the unreserved ones).
    url: String,
    /// JSON-escaped, `/` as `\/`.
    json: String,
    /// `base64("deploy:" + value)`, a `Basic` credential.
    basic: String,
    /// Every byte percent-encoded, lowercase hex (over-encoding: `%2d` for `-`).
    over: String,
    /// Every other character as a JSON `\uXXXX` escape.
    uesc: String,
    /// base64 of the value behind one and two other bytes (URL-safe, then standard): the other
    /// two alignments.
    b64: [String; 2],
}

fn layers_corpus() -> Vec<Planted> {
    use base64::Engine;
    let path = flightlog_fixtures::fixtures_dir().join("secrets/layers.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = e["value"].as_str().unwrap().to_string();
            let mut url = String::new();
            for &c in value.as_bytes() {
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    url.push(c as char);
                } else {
                    url.push_str(&format!("%{c:02X}"));
                }
            }
            let json = serde_json::to_string(&value).unwrap().replace('/', "\\/");
            let over: String = value.bytes().map(|c| format!("%{c:02x}")).collect();
            let uesc: String = value
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 && (c as u32) < 0x10000 {
                        format!("\\u{:04x}", c as u32)
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
            Planted {
                over,
                uesc,
                b64: [
                    URL_SAFE_NO_PAD.encode(format!("x{value}")),
                    STANDARD.encode(format!("xy{value}")),
                ],
                kind: e["kind"].as_str().unwrap().to_string(),
                source: e["source"].as_str().unwrap().to_string(),
                url,
                json: json[1..json.len() - 1].to_string(),
                basic: base64::engine::general_purpose::STANDARD.encode(format!("deploy:{value}")),
                value,
            }
        })
        .collect()
}

/// The bytes that must never be stored for a planted value: the value, its encodings, and a
/// 16-byte piece of its middle (a partial redaction).
fn planted_needles(p: &Planted) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = needles(&p.value);
    // The parts of the base64 forms that encode nothing but the value: its bytes from offset
    // 2 (behind `x`) and 1 (behind `xy`), whole 3-byte groups.
    let b = p.value.as_bytes();
    let core = |j: usize| &b[j..j + (b.len() - j) / 3 * 3];
    let cores = [
        URL_SAFE_NO_PAD.encode(core(2)),
        STANDARD_NO_PAD.encode(core(1)),
    ];
    let stored_uesc = p.uesc.replace('\\', "\\\\");
    for n in [
        &p.url,
        &p.json,
        &p.basic,
        &p.over,
        &p.uesc,
        &stored_uesc,
        &cores[0],
        &cores[1],
    ] {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// The store's database, -wal and -shm files that exist, with their bytes.
fn store_files(db: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .into_iter()
        .map(|suf| PathBuf::from(format!("{}{suf}", db.display())))
        .filter_map(|f| std::fs::read(&f).ok().map(|b| (f, b)))
        .collect()
}

/// The ids of every session in `store`.
fn session_ids(store: &flightlog_formats::Store) -> Vec<String> {
    store
        .sessions()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

/// The markers in a text: (kind, fingerprint).
fn markers(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("[REDACTED:") {
        rest = &rest[at + 10..];
        let Some(end) = rest.find(']') else { break };
        if let Some((kind, fp)) = rest[..end].split_once(':') {
            out.push((kind.to_string(), fp.to_string()));
        }
        rest = &rest[end..];
    }
    out
}

/// The reported case, as a new user ran it: a password the inventory found in `.env`, then
/// used where no rule fits (a child's argv, a file name).
#[test]
fn a_password_from_dot_env_is_not_stored_raw_in_any_layer() {
    let env = env();
    let db = &env.db;
    let w = env.path("w");
    env.write("w/.env", "DB_PASSWORD=Tr0ub4dor-Kq93-Xz71\n");
    let (_, session) = env.record_ok(
        &w,
        &[
            "--no-proxy",
            "--",
            "bash",
            "-c",
            "/bin/echo mysql -uroot -pTr0ub4dor-Kq93-Xz71 app; touch backup_Tr0ub4dor-Kq93-Xz71.txt",
        ],
    );
    let evs = env.events(&session);
    let mut fps = BTreeSet::new();
    for e in &evs {
        for r in &e.redactions {
            fps.insert(r.fp.clone());
        }
    }
    assert_eq!(fps.len(), 1, "one secret, one fingerprint: {fps:?}");
    assert!(
        evs.iter().any(|e| e.kind.as_str() == "file_change"),
        "the watcher saw the file"
    );
    crate::common::assert_secret_absent(db, "Tr0ub4dor");
    for f in ["-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{f}", db.display()));
        if let Ok(b) = std::fs::read(&p) {
            assert!(!b.windows(9).any(|w| w == b"Tr0ub4dor"), "{}", p.display());
        }
    }
    let (_, jsonl, _) = run(&env, &["export", &session, "--format", "jsonl"], b"");
    assert!(!String::from_utf8_lossy(&jsonl).contains("Tr0ub4dor"));
    // The key directory holds no value either.
    for e in std::fs::read_dir(db.parent().unwrap().join("keys"))
        .unwrap()
        .flatten()
    {
        let b = std::fs::read(e.path()).unwrap();
        assert!(
            !b.windows(9).any(|w| w == b"Tr0ub4dor"),
            "{}",
            e.path().display()
        );
    }
}

/// Every value of the layers corpus (330 fake secrets of 30 kinds) made known by the working
/// tree, then planted in every layer: a traced child's argv (glued, percent-encoded,
/// JSON-escaped, in a `Basic` credential), its environment, a file name and a file's text, the
/// terminal, hook payloads (commands with URLs, headers and bodies; tool output; files written)
/// and an imported transcript. None of it may reach the database, its -wal or -shm, an export,
/// a report or the replay screen; every secret has exactly one fingerprint; and the benign
/// corpus, recorded with all of them known, gets no marker.
#[test]
fn known_secrets_are_redacted_in_every_layer_and_encoding() {
    let planted = layers_corpus();
    let kinds: BTreeSet<&str> = planted.iter().map(|p| p.kind.as_str()).collect();
    assert!(
        planted.len() >= 300 && kinds.len() >= 25,
        "{} of {}",
        planted.len(),
        kinds.len()
    );
    let env = env();
    let db = &env.db;
    let w = env.path("w");
    std::fs::create_dir_all(w.join("ops")).unwrap();
    std::fs::create_dir_all(w.join("out")).unwrap();
    let sources: Vec<&str> = planted.iter().map(|p| p.source.as_str()).collect();
    std::fs::write(w.join("ops/domains.env"), sources.join("\n") + "\n").unwrap();

    // 1. A recorded run: the inventory learns them; the script uses them everywhere.
    let mut script = String::from("set -e\n");
    for (i, p) in planted.iter().enumerate() {
        let (v, u, j, b) = (&p.value, &p.url, &p.json, &p.basic);
        let (o, ue, b1, b2) = (&p.over, &p.uesc, &p.b64[0], &p.b64[1]);
        script.push_str(&format!(
            "/bin/echo 'backup_{v}.txt' 'https://api.example.com/v1?q=token%3D{u}&x=1' '{{\"k\":\"{j}\\n4\\t\"}}' 'Authorization: Basic {b}' 'p={o}&q=1' '{{\"u\":\"{ue}\"}}' 'blob:{b1}' 'X-Blob: {b2}'\n\
             env 'LAYER_VALUE={v}' /bin/true\n\
             printf '%s\\n' 'restored from backup_{v}' > out/note_{i}.txt\n"
        ));
        // A file name (a value with a `/` cannot be one).
        if !v.contains('/') {
            script.push_str(&format!("touch 'out/backup_{v}.txt'\n"));
        }
    }
    std::fs::write(w.join("run.sh"), script).unwrap();
    let t = std::time::Instant::now();
    let (_, recorded) = env.record_ok(&w, &["--no-proxy", "--", "bash", "run.sh"]);
    let record_s = t.elapsed().as_secs_f64();
    // One connection stays open, so the -wal and -shm files stay.
    let holder = flightlog_formats::Store::open(db).unwrap();

    // 1b. Proxied requests (the recorder's HTTP proxy, not `--no-proxy`): each value in a
    // header, the URL's query and the body, plain and encoded, to a server on 127.0.0.1.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let (tx, received) = std::sync::mpsc::channel::<usize>();
    std::thread::spawn(move || {
        use std::io::BufReader;
        for s in server.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let Ok(Some(head)) = flightlog_http::read_request_head(&mut r) else {
                continue;
            };
            let body =
                flightlog_http::read_request_body(&mut r, &head, 1 << 20).unwrap_or_default();
            let _ = tx.send(body.len());
            let reply = r#"{"ok":true}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    let mut proxied = String::from("set -e\n");
    let requests = planted.chunks(15).count();
    for (c, chunk) in planted.chunks(15).enumerate() {
        let mut args = Vec::new();
        let mut query = Vec::new();
        let mut body = Vec::new();
        for (i, p) in chunk.iter().enumerate() {
            args.push(format!("-H 'X-Trace-{i}: backup_{}'", p.value));
            args.push(format!("-H 'X-Blob-{i}: {}'", p.b64[1]));
            query.push(format!("t{i}=token%3D{}&o{i}={}", p.url, p.over));
            body.push(format!(
                "\"k{i}\":\"{}\",\"u{i}\":\"{}\",\"b{i}\":\"{}\"",
                p.json, p.uesc, p.b64[0]
            ));
        }
        std::fs::write(
            w.join(format!("out/body_{c}.json")),
            format!("{{{}}}", body.join(",")),
        )
        .unwrap();
        proxied.push_str(&format!(
            "curl -sS -o /dev/null -H 'Content-Type: application/json' {} --data-binary @out/body_{c}.json 'http://127.0.0.1:{port}/v1/q?{}'\n",
            args.join(" "),
            query.join("&")
        ));
    }
    std::fs::write(w.join("proxied.sh"), proxied).unwrap();
    let out = env
        .record_cmd(&w)
        .args(["--", "bash", "proxied.sh"])
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .output()
        .unwrap();
    let through_proxy = crate::common::recorded(&out);
    let bodies: Vec<usize> = received.try_iter().collect();
    assert_eq!(bodies.len(), requests, "every request reached the server");
    let http_events = env
        .events(&through_proxy)
        .iter()
        .filter(|e| {
            e.source == "proxy"
                && e.kind.as_str() == "api_call"
                && e.data.get("response_of_seq").is_none()
        })
        .count();
    assert_eq!(http_events, requests, "the proxy recorded every request");

    // 2. Hook payloads, one process per call, knowing the values only through keys/known.
    let t = std::time::Instant::now();
    let mut hook_calls = 0;
    for (c, chunk) in planted.chunks(11).enumerate() {
        let mut cmd = Vec::new();
        let mut output = Vec::new();
        for p in chunk {
            let (v, u, j, b) = (&p.value, &p.url, &p.json, &p.basic);
            let (o, ue, b1, b2) = (&p.over, &p.uesc, &p.b64[0], &p.b64[1]);
            cmd.push(format!(
                "curl -H 'X-Trace: backup_{v}' -H 'Authorization: Basic {b}' 'https://api.example.com/?token%3D{u}&p={o}' -d '{{\"note\":\"{j}\\n\",\"u\":\"{ue}\"}}' -H 'X-Blob: {b1}' -d 'blob={b2}'"
            ));
            output.push(format!("saved out/backup_{v}.txt ({u})"));
        }
        let sid = format!("layers-{c}");
        for p in [
            json!({"session_id": sid, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_use_id": format!("b{c}"), "tool_input": {"command": cmd.join(" && ")}}),
            json!({"session_id": sid, "hook_event_name": "PostToolUse", "tool_name": "Bash",
                   "tool_use_id": format!("b{c}"), "tool_input": {"command": "ls out"},
                   "tool_response": {"stdout": output.join("\n"), "stderr": "", "interrupted": false}}),
            json!({"session_id": sid, "hook_event_name": "PreToolUse", "tool_name": "Write",
                   "tool_use_id": format!("w{c}"),
                   "tool_input": {"file_path": format!("/work/out/backup_{}.txt", chunk[0].value),
                                  "content": output.join("\n")}}),
        ] {
            let (code, _, err) = run(&env, &["hook", "claude-code"], p.to_string().as_bytes());
            assert_eq!(code, Some(0), "{err}");
            hook_calls += 1;
        }
    }
    let hook_s = t.elapsed().as_secs_f64();

    // 3. An imported transcript that uses them.
    let tr = env.path("transcript.jsonl");
    let mut lines = Vec::new();
    for (i, p) in planted.iter().enumerate() {
        let ts = format!("2026-04-25T10:{:02}:{:02}.000Z", i / 60, i % 60);
        let (v, u, b) = (&p.value, &p.url, &p.basic);
        let (o, ue, b1) = (&p.over, &p.uesc, &p.b64[0]);
        lines.push(
            json!({"type": "user", "uuid": format!("u{i}"), "parentUuid": null, "sessionId": "imp",
            "cwd": "/work", "timestamp": ts,
            "message": {"role": "user", "content": format!("restore backup_{v}.txt please")}})
            .to_string(),
        );
        lines.push(json!({"type": "assistant", "uuid": format!("a{i}"), "parentUuid": format!("u{i}"),
            "sessionId": "imp", "cwd": "/work", "timestamp": ts,
            "message": {"role": "assistant", "content": [
                {"type": "tool_use", "id": format!("toolu_{i}"), "name": "Bash",
                 "input": {"command": format!("curl -H 'Authorization: Basic {b}' 'https://x.example.com/?t=token%3D{u}&p={o}' -d '{{\"u\":\"{ue}\"}}' -H 'X-Blob: {b1}'")}}]}}).to_string());
    }
    std::fs::write(&tr, lines.join("\n")).unwrap();
    let (code, _, err) = run(&env, &["import", "claude-code", tr.to_str().unwrap()], b"");
    assert_eq!(code, Some(0), "{err}");

    // 4. The benign corpus, recorded with every value known: no marker.
    let c = corpus();
    let texts: Vec<&str> = c.negatives.iter().map(|n| n.1.as_str()).collect();
    let benign = env.write("benign/look-alikes.txt", texts.join("\n"));
    let (_, benign_session) = env.record_ok(
        benign.parent().unwrap(),
        &["--no-proxy", "--", "cat", "look-alikes.txt"],
    );
    let benign_markers: usize = env
        .events(&benign_session)
        .iter()
        .map(|e| e.redactions.len())
        .sum();
    // In process too: a redactor that knows every planted value scans each look-alike.
    let r = Redactor::new([0x42; 32]);
    for p in &planted {
        assert!(
            !r.scan(&p.source).is_empty(),
            "the rules know {:?}",
            p.source
        );
    }
    let flagged: Vec<&str> = texts
        .iter()
        .filter(|t| !r.scan(t).is_empty())
        .copied()
        .collect();

    // 5. Grep everything.
    let mut leaks = BTreeSet::new();
    let all_needles: Vec<String> = planted.iter().flat_map(planted_needles).collect();
    let files = store_files(db);
    let grepped = files.len();
    for (f, b) in &files {
        grep_all(&f.display().to_string(), b, &all_needles, &mut leaks);
    }
    let keys = db.parent().unwrap().join("keys");
    for e in std::fs::read_dir(&keys).unwrap().flatten() {
        grep_all(
            &e.path().display().to_string(),
            &std::fs::read(e.path()).unwrap(),
            &all_needles,
            &mut leaks,
        );
    }
    let sessions = session_ids(&holder);
    let key = flightlog_formats::keys::fingerprint_key(&keys).unwrap();
    let red = Redactor::new(key);
    let expected: BTreeMap<String, &str> = planted
        .iter()
        .map(|p| (red.fingerprint(&p.value), p.value.as_str()))
        .collect();
    // A look-alike of the benign corpus is itself a marker: not a new fingerprint.
    let benign_markers_in: BTreeSet<(String, String)> =
        texts.iter().flat_map(|t| markers(t)).collect();
    let mut seen_fps: BTreeSet<String> = BTreeSet::new();
    let mut phantoms: BTreeSet<(String, String)> = BTreeSet::new();
    let mut outputs = 0;
    for s in &sessions {
        for v in views(s) {
            let (code, out, err) = run(&env, &v, b"");
            assert_eq!(code, Some(0), "{v:?}: {err}");
            outputs += 1;
            grep_all(&v.join(" "), &out, &all_needles, &mut leaks);
            if v[0] == "export" && v[3] == "jsonl" {
                for (kind, fp) in markers(&String::from_utf8_lossy(&out)) {
                    if expected.contains_key(&fp) {
                        seen_fps.insert(fp);
                    } else if !benign_markers_in.contains(&(kind.clone(), fp.clone())) {
                        phantoms.insert((kind, fp));
                    }
                }
            }
        }
        let (code, err, files) = export_bundle(&env, s);
        assert_eq!(code, Some(0), "{err}");
        outputs += grep_files(&files, &all_needles, &mut leaks);
        let _ = std::fs::remove_dir_all(env.path(&format!("bundle-{s}")));
    }
    drop(holder);
    // The replay screen, at a few points of the recorded run.
    let mut screens = 0;
    if crate::common::have("tmux") {
        let n = env.events(&recorded).len();
        for at in [0, n / 4, n / 2, 3 * n / 4, n.saturating_sub(2)] {
            let cmd = format!(
                "{} --db {} replay {recorded} --at {at}",
                bin().display(),
                db.display()
            );
            let tmux = crate::common::Tmux::start(
                &format!("secrets-{at}"),
                (200, 50),
                &[
                    "TERM=xterm-256color",
                    "sh",
                    "-c",
                    &format!("{cmd}; sleep 30"),
                ],
            );
            let mut screen = tmux.wait_for("the replay", |s| s.contains("flightlog replay"));
            // Step a little, the detail pane included.
            for key in ["j", "j", "Enter"] {
                tmux.run(&["send-keys", "-t", "t", key]);
                std::thread::sleep(std::time::Duration::from_millis(150));
                screen.push_str(&tmux.capture());
            }
            grep_all(
                &format!("replay --at {at}"),
                screen.as_bytes(),
                &all_needles,
                &mut leaks,
            );
            screens += 1;
        }
    }
    grep_all(
        "fl.db after close",
        &std::fs::read(db).unwrap(),
        &all_needles,
        &mut leaks,
    );

    let missing: Vec<&str> = expected
        .iter()
        .filter(|(fp, _)| !seen_fps.contains(*fp))
        .map(|(_, v)| *v)
        .collect();
    println!(
        "layers corpus: {} secrets of {} kinds; record {record_s:.1} s, {hook_calls} hook calls in {hook_s:.1} s; \
         {} sessions; grepped {grepped} store files, keys/, {outputs} exports/views/bundle files, {screens} replay screens: \
         {} leaks; fingerprints: {} of {} secrets seen, {} phantoms; benign corpus: {} texts, {} markers recorded, {} flagged in process",
        planted.len(),
        kinds.len(),
        sessions.len(),
        leaks.len(),
        seen_fps.len(),
        expected.len(),
        phantoms.len(),
        texts.len(),
        benign_markers,
        flagged.len()
    );
    for l in leaks.iter().take(40) {
        println!("  LEAK {l}");
    }
    for p in phantoms.iter().take(20) {
        println!("  PHANTOM {p:?}");
    }
    for f in &flagged {
        println!("  FLAGGED {f:?}");
    }
    assert!(leaks.is_empty(), "{} leaks", leaks.len());
    assert!(
        phantoms.is_empty(),
        "fingerprints that are no planted secret's: {phantoms:?}"
    );
    assert!(missing.is_empty(), "secrets never redacted: {missing:?}");
    assert_eq!(benign_markers, 0, "markers in the benign recording");
    assert!(flagged.is_empty(), "benign texts flagged");
    crate::common::assert_verifies(db, &recorded);
}
