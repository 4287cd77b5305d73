//! Every export of the recorded incident (`flightlog demo`) and of every real transcript in
//! shared/data, through the ecosystems' own validators (installed by
//! `scripts/install-validators.sh`, which `.ci/run` calls):
//!
//! - OCSF: the OCSF 1.7.0 JSON schema of each record's class and profiles, with `jsonschema`
//!   (`scripts/validate/ocsf.py`);
//! - OTLP: parsed into `ExportTraceServiceRequest` with the official protobufs, HTTP and GenAI
//!   conventions' required attributes (`scripts/validate/otlp.py`);
//! - asciicast v3: converted by asciinema 3 (skipped, saying so, where it is not installed);
//! - CSV: Python's csv reader, every row as wide as the header;
//! - bundle: the auditor's verifier with the store's key.
//!
//! A validator that is missing fails the test under CI and is reported as skipped elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{bin, flightlog, run_ok};
use crate::verifier;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(rel)
}

fn fl(db: &Path, args: &[&str]) -> std::process::Output {
    flightlog(db)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Whether a validator is there; under CI its absence is a failure.
fn available(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is not installed: run scripts/install-validators.sh"
        );
        println!("SKIPPED {what}: not installed (scripts/install-validators.sh installs it)");
    }
    present
}

fn python_has(modules: &str) -> bool {
    Command::new(verifier::python())
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Exports every session of `db` in every format into `out`: (format, path, signing key).
fn export_all(db: &Path, out: &Path, exports: &mut Vec<(String, PathBuf, PathBuf)>) {
    let key = db.parent().unwrap().join("keys/checkpoint.pub");
    let o = fl(db, &["sessions", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sessions: Value = serde_json::from_slice(&o.stdout).unwrap();
    for s in sessions.as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        for format in ["ocsf", "otlp", "asciicast", "csv", "cef", "bundle"] {
            let p = out.join(format!("{id}.{format}"));
            let o = fl(
                db,
                &["export", id, "--format", format, "-o", p.to_str().unwrap()],
            );
            assert!(
                o.status.success(),
                "{id} {format}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            exports.push((format.to_string(), p, key.clone()));
        }
    }
}

fn run_validator(script: &str, files: &[&PathBuf]) -> String {
    let o = run_ok(
        script,
        Command::new(verifier::python())
            .arg(repo(script))
            .args(files),
    );
    let text = verifier::stdout(&o);
    text.lines().rev().take(2).collect::<Vec<_>>().join(" | ")
}

#[test]
fn every_export_passes_the_ecosystems_validators() {
    let tmp = tempfile::tempdir().unwrap();
    let mut exports = Vec::new();
    // The recorded incident.
    let demo = tmp.path().join("demo");
    let o = Command::new(bin())
        .args(["demo", "--fast", "--keep"])
        .arg(&demo)
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .env_remove("FLIGHTLOG_DB")
        .env_remove("FLIGHTLOG_POLICY")
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_FAKE_NOW")
        .env_remove("FLIGHTLOG_GUARD")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", verifier::stdout(&o));
    let demo_db = demo.join("store/flightlog.db");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    export_all(&demo_db, &out, &mut exports);
    // Every real transcript.
    let data = repo("../shared/data");
    let imported = tmp.path().join("imported/flightlog.db");
    for (fmt, dir) in [("claude-code", "claude-code"), ("codex", "codex")] {
        for e in std::fs::read_dir(data.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "jsonl") {
                let o = fl(&imported, &["import", fmt, p.to_str().unwrap()]);
                assert!(
                    o.status.success(),
                    "{}: {}",
                    p.display(),
                    verifier::stdout(&o)
                );
            }
        }
    }
    export_all(&imported, &out, &mut exports);
    let of = |f: &str| -> Vec<&PathBuf> {
        exports
            .iter()
            .filter(|(x, _, _)| x == f)
            .map(|(_, p, _)| p)
            .collect()
    };
    let mut report = Vec::new();

    // The HTTP exchange of the volumeDelete: one OCSF record with method, URL, status, duration.
    let demo_ocsf = std::fs::read_to_string(of("ocsf")[0]).unwrap();
    let exchange: Vec<Value> = demo_ocsf
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["class_uid"] == 4002 && r["http_response"]["code"] == 200)
        .filter(|r| r["message"].as_str().unwrap_or("").contains("volumeDelete"))
        .collect();
    assert_eq!(exchange.len(), 1, "{demo_ocsf}");
    assert_eq!(exchange[0]["http_request"]["http_method"], "POST");
    assert!(exchange[0]["duration"].as_i64().is_some());
    assert!(!demo_ocsf.contains("\"http_method\":\"\""));

    if available(
        "the OCSF 1.7.0 schema (ocsf-json-schema, jsonschema)",
        python_has("jsonschema, ocsf_json_schema"),
    ) {
        report.push(run_validator("scripts/validate/ocsf.py", &of("ocsf")));
    }
    if available(
        "the OpenTelemetry protobufs (opentelemetry-proto)",
        python_has("opentelemetry.proto"),
    ) {
        report.push(run_validator("scripts/validate/otlp.py", &of("otlp")));
    }
    let asciinema = Command::new("asciinema")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if available(
        "asciinema 3",
        asciinema
            .as_deref()
            .is_some_and(|v| v.starts_with("asciinema 3")),
    ) {
        let casts = of("asciicast");
        for cast in &casts {
            let txt = cast.with_extension("txt");
            run_ok(
                &cast.display().to_string(),
                Command::new("asciinema").arg("convert").arg(cast).arg(&txt),
            );
        }
        report.push(format!(
            "{}: {} casts converted",
            asciinema.unwrap_or_default(),
            casts.len()
        ));
    }
    // CSV: every row as wide as the header, read by Python's csv module.
    let csvs = of("csv");
    let code = "import csv, sys\nn = 0\nfor p in sys.argv[1:]:\n    rows = list(csv.reader(open(p, newline='', encoding='utf-8')))\n    assert all(len(r) == len(rows[0]) for r in rows), p\n    n += len(rows) - 1\nprint(f'csv rows: {n}')";
    let o = run_ok(
        "csv",
        Command::new(verifier::python())
            .args(["-c", code])
            .args(&csvs),
    );
    report.push(verifier::stdout(&o).trim().to_string());
    // Bundles: the auditor's verifier, with the store's key.
    let bundles: Vec<&(String, PathBuf, PathBuf)> =
        exports.iter().filter(|(f, _, _)| f == "bundle").collect();
    for (_, b, key) in &bundles {
        run_ok(
            &b.display().to_string(),
            Command::new(verifier::python())
                .arg(verifier::script())
                .arg(b)
                .arg(key),
        );
    }
    report.push(format!(
        "bundles verified by verify_export.py: {}",
        bundles.len()
    ));
    println!("validators:\n  {}", report.join("\n  "));
}
