//! Typed payloads are a lossless view: every stored event of every fixture session, every
//! synthetic event, and every hostile JSON document read as any kind's payload gives back the
//! same `data`, so the same canonical bytes and the same chain hash.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use flightlog_formats::chain::{link_hash, split_export_line};
use flightlog_formats::{Event, Kind, Payload, canonical, synth};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The event with its data replaced by the payload's value.
fn rewritten(e: &Event) -> Event {
    let mut back = e.clone();
    back.data = e.payload().to_value();
    back
}

#[test]
fn every_fixture_session_event_round_trips_to_the_same_hash() {
    let mut checked = 0;
    for path in files(&fixtures().join("sessions"), "jsonl") {
        let valid = path.parent().unwrap().ends_with("valid");
        for line in std::fs::read(&path).unwrap().split(|b| *b == b'\n') {
            let Some((prev, hash, raw)) = split_export_line(line) else {
                continue;
            };
            let Ok(e) = Event::from_bytes(raw) else {
                continue;
            };
            let back = rewritten(&e);
            assert_eq!(back.data, e.data, "{} seq {}", path.display(), e.seq);
            let bytes = canonical::to_bytes(&back);
            assert_eq!(bytes, canonical::to_bytes(&e));
            if valid {
                // The stored bytes themselves: the chain hash is unchanged.
                assert_eq!(bytes, raw, "{} seq {}", path.display(), e.seq);
                assert_eq!(link_hash(&prev, &bytes), hash);
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} events checked");
}

#[test]
fn synthetic_events_round_trip() {
    let mut rng = synth::Rng::new(7);
    let start = chrono::DateTime::parse_from_rfc3339("2026-04-25T10:00:00Z")
        .unwrap()
        .to_utc();
    for i in 0..3000 {
        let n = synth::event(&mut rng, i, 3000, start);
        let data = n.data.clone();
        assert_eq!(Payload::read(&n.kind, &data).to_value(), data, "{i}");
    }
}

#[test]
fn hostile_documents_round_trip_as_every_kind() {
    let mut kinds: Vec<Kind> = Kind::KNOWN.to_vec();
    kinds.push(Kind::Other("future".into()));
    let mut docs = 0;
    for path in files(&fixtures().join("hostile"), "json") {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        docs += 1;
        let mut values = vec![v.clone()];
        if let Some(m) = v.as_object() {
            // Each member alone, too: hostile values under the field names readers know.
            values.extend(m.values().cloned());
            for k in [
                "argv", "exit", "graphql", "error", "secrets", "status", "output",
            ] {
                for x in m.values() {
                    values.push(serde_json::json!({ k: x }));
                }
            }
        }
        for kind in &kinds {
            for v in &values {
                assert_eq!(&Payload::read(kind, v).to_value(), v, "{}", path.display());
            }
        }
    }
    assert!(docs >= 7, "only {docs} hostile documents parsed");
}
