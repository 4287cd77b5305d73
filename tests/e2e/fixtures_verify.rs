//! `flightlog verify` on the session fixtures (fixtures/sessions/README.md says what each shows).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;

use flightlog_fixtures::sessions::EXPECTATIONS;
use flightlog_fixtures::{bin_path, fixtures_dir};
use serde_json::Value;

use crate::common::kinds;

fn verify(file: &PathBuf, pubkey: Option<&PathBuf>) -> (Option<i32>, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Command::new(bin_path().unwrap());
    // An empty store location: the files carry everything verification needs.
    c.arg("--db")
        .arg(tmp.path().join("none.db"))
        .arg("verify")
        .arg(file)
        .arg("--json");
    if let Some(k) = pubkey {
        c.arg("--pubkey").arg(k);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}): {stdout}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

#[test]
fn every_fixture_verifies_as_its_readme_says() {
    let dir = fixtures_dir();
    let key = dir.join("keys/test.pub");
    assert!(EXPECTATIONS.len() >= 9);
    for x in EXPECTATIONS {
        let file = dir.join("sessions").join(x.file);
        let (code, v) = verify(&file, Some(&key));
        let problems: Vec<(String, Option<u64>)> = v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["kind"].as_str().unwrap().to_string(), p["seq"].as_u64()))
            .collect();
        match x.problem {
            None => {
                assert_eq!(code, Some(0), "{}: {v:#}", x.file);
                assert_eq!(v["intact"], true, "{}", x.file);
                assert!(problems.is_empty(), "{}: {problems:?}", x.file);
                assert!(v["events_checked"].as_u64().unwrap() >= 3, "{}", x.file);
            }
            Some((kind, seq)) => {
                assert_eq!(code, Some(1), "{}: {v:#}", x.file);
                assert_eq!(v["intact"], false, "{}", x.file);
                assert!(
                    problems.contains(&(kind.to_string(), Some(seq))),
                    "{}: expected {kind} at seq {seq}, got {problems:?}",
                    x.file
                );
            }
        }
    }
}

#[test]
fn the_readme_lists_every_fixture_file() {
    let dir = fixtures_dir().join("sessions");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for sub in ["valid", "invalid"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = format!("{sub}/{}", e.unwrap().file_name().to_string_lossy());
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in the README"
            );
            assert!(
                EXPECTATIONS.iter().any(|x| x.file == name),
                "{name} has no expectation"
            );
        }
    }
}

#[test]
fn a_valid_fixture_signed_by_another_key_is_refused_when_a_key_is_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other.pub");
    let vk = flightlog_formats::keys::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let hex: String = vk.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&other, format!("{hex}\n")).unwrap();
    let file = fixtures_dir().join("sessions/valid/pocketos.jsonl");
    // Pinned to another key: refused; without a pinned key it verifies against the key it
    // carries, with a warning.
    for (pin, want, list, kind) in [
        (Some(&other), 1, "problems", "untrusted_key"),
        (None, 0, "warnings", "key_not_pinned"),
    ] {
        let (code, v) = verify(&file, pin);
        assert_eq!(code, Some(want), "{v:#}");
        assert!(kinds(&v, list).contains(&kind), "{v:#}");
    }
}
