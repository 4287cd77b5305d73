//! Tamper tests: each kind of tampering, on the store and on a jsonl export, is reported with
//! the right seq; the intact log passes.

use super::*;
use crate::event::NewEvent;
use crate::jsonl::{ensure_final_checkpoint, write_session};
use crate::keys::Keys;
use crate::redact::Redactor;
use crate::store::{SessionMeta, Store};
use chrono::{TimeZone, Utc};
use ed25519_dalek::SigningKey;
use serde_json::json;

struct Fx {
    _dir: tempfile::TempDir,
    store: Store,
    keys: Keys,
    session: String,
}

fn t(sec: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_777_100_000 + sec, 0).single().unwrap()
}

fn keys_in(dir: &std::path::Path, seed: u8) -> Keys {
    Keys {
        signing: SigningKey::from_bytes(&[seed; 32]),
        fingerprint_key: [9u8; 32],
        dir: dir.to_path_buf(),
    }
}

/// A new session with the fixed id `id`, started at `at`.
fn new_session(store: &Store, id: &str, at: chrono::DateTime<Utc>) -> String {
    let meta = SessionMeta {
        id: Some(id.into()),
        ..Default::default()
    };
    store.create_session(&meta, at).unwrap()
}

/// A session of 10 events (seq 0..9), then a store checkpoint, then nothing more.
fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("fl.db")).unwrap();
    let keys = keys_in(dir.path(), 1);
    let red = Redactor::new(keys.fingerprint_key);
    let session = new_session(&store, "s1", t(0));
    for i in 0..10 {
        store
            .append(
                &session,
                NewEvent::new(
                    t(i),
                    Kind::Note,
                    "test",
                    json!({"i": i, "text": format!("event {i}")}),
                ),
                &red,
            )
            .unwrap();
    }
    store.checkpoint(&keys, t(10)).unwrap();
    Fx {
        _dir: dir,
        store,
        keys,
        session,
    }
}

fn trust(fx: &Fx) -> Trust {
    Trust {
        keys: vec![fx.keys.verifying_key()],
        pinned: true,
    }
}

fn verify(fx: &Fx) -> VerifyReport {
    verify_store(
        &fx.store,
        &StoreVerifyOptions {
            session: None,
            trust: trust(fx),
            external: None,
        },
    )
    .unwrap()
}

fn kinds_at(r: &VerifyReport) -> Vec<(String, Option<u64>)> {
    r.problems.iter().map(|p| (p.kind.clone(), p.seq)).collect()
}

fn has(r: &VerifyReport, kind: &str, seq: Option<u64>) -> bool {
    r.problems.iter().any(|p| p.kind == kind && p.seq == seq)
}

/// The report has a problem or warning `kind` at `seq` (else fails listing what it has).
fn assert_found(r: &VerifyReport, kind: &str, seq: Option<u64>) {
    assert!(has(r, kind, seq), "no {kind} at {seq:?}: {:?}", kinds_at(r));
}

fn sql(fx: &Fx, q: &str) {
    fx.store.connection().execute_batch(q).unwrap();
}

#[test]
fn intact_store_passes() {
    let fx = fixture();
    let r = verify(&fx);
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.events_checked, 10);
    assert_eq!(r.checkpoints_checked, 1);
    assert!(r.warnings.iter().all(|w| w.kind != "unanchored_tail"));
}

/// A change made in SQL to the fixture's events: what it is, the SQL, and what verify finds
/// (kind, seq).
type SqlTamper = (&'static str, &'static str, &'static [(&'static str, u64)]);

#[test]
fn edits_deletions_swaps_and_truncation_are_found_where_they_are() {
    let cases: [SqlTamper; 4] = [
        (
            "an edited byte",
            "UPDATE events SET raw = CAST(replace(CAST(raw AS TEXT), 'event 4', 'event X') AS BLOB) WHERE seq = 4",
            &[("hash_mismatch", 4)],
        ),
        (
            "a deleted event",
            "DELETE FROM events WHERE seq = 6",
            &[("missing_event", 6), ("broken_link", 7)],
        ),
        (
            "two swapped events",
            "UPDATE events SET seq = 100 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = 100;",
            &[("seq_mismatch", 2), ("seq_mismatch", 3)],
        ),
        (
            "a truncated tail (found by the checkpoint)",
            "DELETE FROM events WHERE seq >= 8",
            &[("truncated", 8)],
        ),
    ];
    for (what, change, found) in cases {
        let fx = fixture();
        sql(&fx, change);
        let r = verify(&fx);
        assert!(!r.intact, "{what}");
        for (kind, seq) in found {
            assert_found(&r, kind, Some(*seq));
        }
    }
}

#[test]
fn inserted_event_is_found() {
    let fx = fixture();
    // Shift seq 5.. up by one and insert a forged event at 5 with a correct-looking link.
    sql(
        &fx,
        "UPDATE events SET seq = seq + 100 WHERE seq >= 5; UPDATE events SET seq = seq - 99 WHERE seq >= 100;",
    );
    let prev: Vec<u8> = fx
        .store
        .connection()
        .query_row("SELECT hash FROM events WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    let raw = br#"{"v":1,"session":"s1","seq":5,"ts":"2026-04-25T06:53:25.000000Z","kind":"note","source":"test","env":null,"data":{"forged":true}}"#.to_vec();
    let mut p = [0u8; 32];
    p.copy_from_slice(&prev);
    let h = crate::chain::link_hash(&p, &raw);
    fx.store.connection().execute("INSERT INTO events (session, seq, ts, kind, prev, hash, raw) VALUES ('s1', 5, 'x', 'note', ?1, ?2, ?3)", rusqlite::params![prev, &h[..], raw]).unwrap();
    let r = verify(&fx);
    assert!(!r.intact);
    // The events after the forged one claim other seqs and no longer link.
    assert_found(&r, "seq_mismatch", Some(6));
    assert!(
        has(&r, "broken_link", Some(5)) || has(&r, "broken_link", Some(6)),
        "{:?}",
        kinds_at(&r)
    );
}

#[test]
fn rechained_rewrite_is_caught_by_the_checkpoint() {
    let fx = fixture();
    // Edit event 3 and recompute every hash after it: the chain itself is consistent again.
    let rows = fx.store.events(&fx.session, 0, 100).unwrap();
    let mut prev = crate::chain::GENESIS;
    for ev in rows {
        let raw = if ev.seq == 3 {
            String::from_utf8(ev.raw.clone())
                .unwrap()
                .replace("event 3", "event Z")
                .into_bytes()
        } else {
            ev.raw.clone()
        };
        let h = crate::chain::link_hash(&prev, &raw);
        fx.store.connection().execute("UPDATE events SET raw = ?1, prev = ?2, hash = ?3 WHERE session = 's1' AND seq = ?4", rusqlite::params![raw, &prev[..], &h[..], ev.seq as i64]).unwrap();
        prev = h;
    }
    let r = verify(&fx);
    assert!(!r.intact);
    assert!(
        !r.problems
            .iter()
            .any(|p| p.kind == "hash_mismatch" || p.kind == "broken_link")
    );
    assert_found(&r, "checkpoint_mismatch", Some(9));
}

#[test]
fn deleted_session_is_found() {
    let fx = fixture();
    sql(
        &fx,
        "DELETE FROM events WHERE session = 's1'; DELETE FROM sessions WHERE id = 's1';",
    );
    let r = verify(&fx);
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == "session_deleted" && p.session.as_deref() == Some("s1")),
        "{:?}",
        kinds_at(&r)
    );
}

#[test]
fn replaced_key_is_found() {
    let fx = fixture();
    // The checkpoints were signed with seed 1; a verifier that trusts another key rejects them.
    let other = keys_in(fx._dir.path(), 2);
    let r = verify_store(
        &fx.store,
        &StoreVerifyOptions {
            session: None,
            trust: Trust {
                keys: vec![other.verifying_key()],
                pinned: true,
            },
            external: None,
        },
    )
    .unwrap();
    assert!(
        r.problems.iter().any(|p| p.kind == "untrusted_key"),
        "{:?}",
        kinds_at(&r)
    );
    // And a checkpoint re-signed with a new key after a rewrite does not pass with the old key.
    sql(&fx, "DELETE FROM checkpoints");
    fx.store.checkpoint(&other, t(20)).unwrap();
    let r = verify(&fx);
    assert!(
        r.problems.iter().any(|p| p.kind == "untrusted_key"),
        "{:?}",
        kinds_at(&r)
    );
}

#[test]
fn deleted_checkpoint_breaks_the_checkpoint_chain() {
    let fx = fixture();
    fx.store.checkpoint(&fx.keys, t(11)).unwrap();
    fx.store.checkpoint(&fx.keys, t(12)).unwrap();
    sql(&fx, "DELETE FROM checkpoints WHERE no = 2");
    let r = verify(&fx);
    assert!(
        r.problems.iter().any(|p| p.kind == "checkpoint_missing"),
        "{:?}",
        kinds_at(&r)
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == "checkpoint_chain_broken"),
        "{:?}",
        kinds_at(&r)
    );
}

#[test]
fn events_after_the_last_checkpoint_are_a_warning_not_a_failure() {
    let fx = fixture();
    let red = Redactor::new(fx.keys.fingerprint_key);
    fx.store
        .append(
            &fx.session,
            NewEvent::new(t(30), Kind::Note, "test", json!({})),
            &red,
        )
        .unwrap();
    let r = verify(&fx);
    assert!(r.intact, "{:?}", r.problems);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind == "unanchored_tail" && w.seq == Some(10))
    );
}

#[test]
fn external_checkpoint_anchors_and_catches_a_full_re_sign() {
    let fx = fixture();
    let kept = fx.store.latest_checkpoint().unwrap().unwrap();
    let opts = |ext| StoreVerifyOptions {
        session: None,
        trust: trust(&fx),
        external: Some((ext, "offsite".to_string())),
    };
    let r = verify_store(&fx.store, &opts(kept.clone())).unwrap();
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.anchored.as_ref().map(|a| a.checkpoint_no), Some(1));
    // An attacker with the local key rewrites event 2, re-chains and re-signs every checkpoint.
    sql(
        &fx,
        "DELETE FROM events WHERE seq >= 5; DELETE FROM checkpoints;",
    );
    fx.store.checkpoint(&fx.keys, t(40)).unwrap();
    let r = verify(&fx);
    assert!(r.intact, "locally the re-signed store looks fine");
    let r = verify_store(&fx.store, &opts(kept)).unwrap();
    assert!(!r.intact);
    assert!(
        r.problems.iter().any(|p| p.kind == "checkpoint_replaced"),
        "{:?}",
        kinds_at(&r)
    );
    assert_found(&r, "truncated", Some(5));
}

// ---- a store read in chunks by several threads ----

/// Two sessions: `s1` of 150 events with session checkpoint events at seq 37 and 100 and a
/// store checkpoint after its first 64 events (and one at the end), `s2` of 70 events.
fn big_fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("fl.db")).unwrap();
    let keys = keys_in(dir.path(), 1);
    let red = Redactor::new(keys.fingerprint_key);
    let (s1, s2) = (
        new_session(&store, "s1", t(0)),
        new_session(&store, "s2", t(0)),
    );
    let notes = |from: i64, to: i64| -> Vec<NewEvent> {
        (from..to)
            .map(|i| {
                NewEvent::new(
                    t(i),
                    Kind::Note,
                    "test",
                    json!({"i": i, "text": format!("event {i}")}),
                )
            })
            .collect()
    };
    store.append_batch(&s1, notes(0, 37), &red).unwrap();
    store.append_session_checkpoint(&s1, &keys, t(37)).unwrap();
    store.append_batch(&s1, notes(38, 64), &red).unwrap();
    store.append_batch(&s2, notes(0, 70), &red).unwrap();
    store.checkpoint(&keys, t(64)).unwrap();
    store.append_batch(&s1, notes(64, 100), &red).unwrap();
    store.append_session_checkpoint(&s1, &keys, t(100)).unwrap();
    store.append_batch(&s1, notes(101, 150), &red).unwrap();
    store.checkpoint(&keys, t(150)).unwrap();
    Fx {
        _dir: dir,
        store,
        keys,
        session: s1,
    }
}

/// Verifies with local sessions read in chunks of `chunk` seqs by `readers` threads.
fn verify_split(fx: &Fx, chunk: u64, readers: usize) -> VerifyReport {
    store::verify_store_split(
        &fx.store,
        &StoreVerifyOptions {
            session: None,
            trust: trust(fx),
            external: None,
        },
        &mut crate::progress::NoProgress,
        split::Split { chunk, readers },
    )
    .unwrap()
}

/// Rewrites s1 from `from` on: `edit` changes an event's bytes, and every link after it is
/// recomputed, so the chain is consistent again.
fn rechain(fx: &Fx, from: u64, edit: impl Fn(u64, Vec<u8>) -> Vec<u8>) {
    let rows = fx.store.events(&fx.session, 0, 1000).unwrap();
    let mut prev = crate::chain::GENESIS;
    for ev in rows {
        let raw = if ev.seq >= from {
            edit(ev.seq, ev.raw.clone())
        } else {
            ev.raw.clone()
        };
        let h = crate::chain::link_hash(&prev, &raw);
        fx.store.connection().execute("UPDATE events SET raw = ?1, prev = ?2, hash = ?3 WHERE session = 's1' AND seq = ?4", rusqlite::params![raw, &prev[..], &h[..], ev.seq as i64]).unwrap();
        prev = h;
    }
}

fn replace_in(raw: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    String::from_utf8(raw)
        .unwrap()
        .replace(from, to)
        .into_bytes()
}

#[test]
fn chunked_reading_reports_exactly_what_one_pass_reports() {
    type Tamper = (&'static str, Box<dyn Fn(&Fx)>);
    let sql_ = |q: &'static str| -> Box<dyn Fn(&Fx)> { Box::new(move |fx: &Fx| sql(fx, q)) };
    let tampers: Vec<Tamper> = vec![
        ("intact", Box::new(|_: &Fx| {})),
        (
            "edit inside a chunk",
            sql_(
                "UPDATE events SET raw = CAST(replace(CAST(raw AS TEXT), 'event 20', 'event X') AS BLOB) WHERE session = 's1' AND seq = 20",
            ),
        ),
        (
            "edit the first event of a chunk",
            sql_(
                "UPDATE events SET raw = CAST(replace(CAST(raw AS TEXT), 'event 16', 'event X') AS BLOB) WHERE session = 's1' AND seq = 16",
            ),
        ),
        (
            "delete one",
            sql_("DELETE FROM events WHERE session = 's1' AND seq = 33"),
        ),
        (
            "delete a whole chunk",
            sql_("DELETE FROM events WHERE session = 's1' AND seq BETWEEN 48 AND 63"),
        ),
        (
            "swap across a chunk boundary",
            sql_(
                "UPDATE events SET seq = 1000 WHERE session = 's1' AND seq = 15; UPDATE events SET seq = 15 WHERE session = 's1' AND seq = 16; UPDATE events SET seq = 16 WHERE session = 's1' AND seq = 1000;",
            ),
        ),
        (
            "insert by shifting",
            sql_(
                "UPDATE events SET seq = seq + 1000 WHERE session = 's1' AND seq >= 70; UPDATE events SET seq = seq - 999 WHERE session = 's1' AND seq >= 1000; INSERT INTO events SELECT session, 70, ts, kind, prev, hash, raw FROM events WHERE session = 's1' AND seq = 69;",
            ),
        ),
        (
            "wrong prev",
            sql_("UPDATE events SET prev = zeroblob(32) WHERE session = 's1' AND seq = 64"),
        ),
        (
            "not an event",
            sql_(
                "UPDATE events SET raw = CAST('not json' AS BLOB) WHERE session = 's1' AND seq = 70",
            ),
        ),
        (
            "names another session",
            sql_(
                "UPDATE events SET raw = CAST(replace(CAST(raw AS TEXT), '\"session\":\"s1\"', '\"session\":\"s2\"') AS BLOB) WHERE session = 's1' AND seq = 80",
            ),
        ),
        (
            "session checkpoint event deleted",
            sql_("DELETE FROM events WHERE session = 's1' AND seq = 37"),
        ),
        (
            "truncated",
            sql_("DELETE FROM events WHERE session = 's1' AND seq >= 120"),
        ),
        (
            "a seq far out",
            sql_("UPDATE events SET seq = 1099511627776 WHERE session = 's1' AND seq = 149"),
        ),
        (
            "rechained from 50",
            Box::new(|fx: &Fx| rechain(fx, 50, |_, r| replace_in(r, "event", "evnt"))),
        ),
        (
            "rechained one event in the second chunk",
            Box::new(|fx: &Fx| {
                rechain(fx, 0, |seq, r| {
                    if seq == 17 {
                        replace_in(r, "event 17", "event Z")
                    } else {
                        r
                    }
                })
            }),
        ),
    ];
    for (what, tamper) in &tampers {
        let fx = big_fixture();
        tamper(&fx);
        // One pass on this thread, as a session shorter than a chunk is read.
        let one = verify_split(&fx, 1 << 62, 1);
        assert_eq!(
            one.intact,
            *what == "intact",
            "{what}: {:?}",
            kinds_at(&one)
        );
        for (chunk, readers) in [(16, 2), (16, 3), (32, 2), (8, 4), (64, 2), (2, 2)] {
            let split = verify_split(&fx, chunk, readers);
            assert_eq!(split, one, "{what}: chunks of {chunk}, {readers} readers");
        }
    }
}

#[test]
fn an_event_handed_over_without_the_bytes_it_needs_is_reported() {
    // The checker is handed no bytes for an event it needs them for: reported, never passed.
    let fx = fixture();
    let trust = trust(&fx);
    let mut report = VerifyReport::default();
    let raw = fx.store.events(&fx.session, 0, 1).unwrap().remove(0);
    let mut chk = ChainCheck::new(&fx.session, Vec::new(), &trust, &mut report);
    // A broken link (the claimed prev is not the genesis) needs the bytes to hash it again.
    let prev = [7u8; 32];
    let pre = Prehashed::of(&prev, &raw.raw, &fx.session);
    chk.event_prehashed(Some(0), prev, raw.hash, None, pre);
    chk.finish(false);
    assert_found(&report, "unread", Some(0));
    assert!(!report.finish().intact);
}

// ---- jsonl exports ----

fn export(fx: &Fx) -> Vec<u8> {
    ensure_final_checkpoint(&fx.store, &fx.session, &fx.keys, t(50)).unwrap();
    let mut out = Vec::new();
    write_session(&fx.store, &fx.session, &mut out).unwrap();
    out
}

fn lines(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect()
}

fn join(ls: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in ls {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn vj(fx: &Fx, b: &[u8]) -> VerifyReport {
    verify_jsonl(std::io::Cursor::new(b.to_vec()), &trust(fx)).unwrap()
}

#[test]
fn jsonl_intact_passes_and_ends_with_a_checkpoint() {
    let fx = fixture();
    let b = export(&fx);
    let r = vj(&fx, &b);
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.events_checked, 11);
    assert_eq!(r.checkpoints_checked, 1);
    // Exporting again does not add a second checkpoint.
    assert_eq!(export(&fx), b);
}

#[test]
fn jsonl_edit_delete_insert_swap_truncate() {
    let fx = fixture();
    let ls = lines(&export(&fx));
    // edit
    let mut e = ls.clone();
    e[4] = String::from_utf8(e[4].clone())
        .unwrap()
        .replace("event 4", "event 5")
        .into_bytes();
    assert!(has(&vj(&fx, &join(&e)), "hash_mismatch", Some(4)));
    // delete
    let mut d = ls.clone();
    d.remove(6);
    let r = vj(&fx, &join(&d));
    assert_found(&r, "missing_event", Some(6));
    // insert (a duplicate of line 2 placed after line 5)
    let mut i = ls.clone();
    i.insert(6, ls[2].clone());
    let r = vj(&fx, &join(&i));
    assert_found(&r, "out_of_order", Some(2));
    // swap
    let mut s = ls.clone();
    s.swap(2, 3);
    let r = vj(&fx, &join(&s));
    assert!(
        has(&r, "out_of_order", Some(2)) || has(&r, "missing_event", Some(2)),
        "{:?}",
        kinds_at(&r)
    );
    // truncate (drops the final checkpoint)
    let r = vj(&fx, &join(&ls[..7]));
    assert_found(&r, "unanchored_export", Some(6));
}

#[test]
fn jsonl_rechained_rewrite_is_caught_by_the_checkpoint_signature() {
    let fx = fixture();
    let ls = lines(&export(&fx));
    let mut prev = crate::chain::GENESIS;
    let mut out = Vec::new();
    for l in &ls {
        let (_, _, ev) = crate::chain::split_export_line(l).unwrap();
        let ev = String::from_utf8(ev.to_vec())
            .unwrap()
            .replace("event 3", "event 9")
            .into_bytes();
        let h = crate::chain::link_hash(&prev, &ev);
        out.push(crate::chain::export_line(&prev, &h, &ev));
        prev = h;
    }
    let r = vj(&fx, &join(&out));
    assert!(!r.intact);
    assert_found(&r, "checkpoint_mismatch", Some(10));
}

#[test]
fn jsonl_with_a_foreign_key_is_rejected() {
    let fx = fixture();
    let b = export(&fx);
    let other = keys_in(fx._dir.path(), 3);
    let r = verify_jsonl(
        std::io::Cursor::new(b),
        &Trust {
            keys: vec![other.verifying_key()],
            pinned: true,
        },
    )
    .unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == "untrusted_key" && p.seq == Some(10)),
        "{:?}",
        kinds_at(&r)
    );
}

/// Exports of the fixture's session and of a second one (`s2`, 5 events), lines interleaved.
fn two_sessions_interleaved(fx: &Fx) -> Vec<Vec<u8>> {
    let red = Redactor::new(fx.keys.fingerprint_key);
    let s2 = new_session(&fx.store, "s2", t(20));
    for i in 0..5 {
        fx.store
            .append(
                &s2,
                NewEvent::new(t(20 + i), Kind::Note, "test", json!({"i": i})),
                &red,
            )
            .unwrap();
    }
    ensure_final_checkpoint(&fx.store, &s2, &fx.keys, t(50)).unwrap();
    let mut b2 = Vec::new();
    write_session(&fx.store, &s2, &mut b2).unwrap();
    let (a, b) = (lines(&export(fx)), lines(&b2));
    let mut out = Vec::new();
    for i in 0..a.len().max(b.len()) {
        out.extend(a.get(i).cloned());
        out.extend(b.get(i).cloned());
    }
    out
}

#[test]
fn jsonl_interleaved_sessions_are_told_apart() {
    let fx = fixture();
    let ls = two_sessions_interleaved(&fx);
    let r = vj(&fx, &join(&ls));
    assert!(r.intact, "{:?}", r.problems);
    assert_eq!(r.events_checked, 11 + 6);
    assert_eq!(r.checkpoints_checked, 2);
    // An edit in the second session is reported there, at its seq.
    let mut e = ls.clone();
    e[5] = String::from_utf8(e[5].clone())
        .unwrap()
        .replace("{\"i\":2}", "{\"i\":7}")
        .into_bytes();
    let r = vj(&fx, &join(&e));
    assert!(
        r.problems.iter().any(|p| p.kind == "hash_mismatch"
            && p.session.as_deref() == Some("s2")
            && p.seq == Some(2)),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .all(|p| p.session.as_deref() == Some("s2")),
        "{:?}",
        r.problems
    );
}

#[test]
fn jsonl_event_not_in_canonical_form_goes_with_the_session_it_names() {
    // The session id written with escapes: the header cannot be read without parsing, the
    // parsed event still names s2.
    let fx = fixture();
    let mut ls = two_sessions_interleaved(&fx);
    let line = String::from_utf8(ls[5].clone()).unwrap();
    assert!(line.contains("\"session\":\"s2\",\"seq\":2,"), "{line}");
    ls[5] = line
        .replace("\"session\":\"s2\"", "\"session\":\"\\u0073\\u0032\"")
        .into_bytes();
    let r = vj(&fx, &join(&ls));
    let kinds: Vec<_> = r
        .problems
        .iter()
        .map(|p| (p.session.as_deref(), p.kind.as_str(), p.seq))
        .collect();
    // Its bytes changed, so its hash no longer matches (nor the checkpoint over them); it is
    // neither missing from s2 nor foreign to s1.
    assert!(
        kinds.contains(&(Some("s2"), "hash_mismatch", Some(2))),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .all(|(s, k, _)| *s == Some("s2")
                && matches!(*k, "hash_mismatch" | "checkpoint_mismatch")),
        "{kinds:?}"
    );
}

#[test]
fn jsonl_event_that_does_not_parse_goes_with_the_session_that_appeared_last() {
    let fx = fixture();
    let mut ls = two_sessions_interleaved(&fx);
    let (prev, hash, _) = crate::chain::split_export_line(&ls[6]).unwrap();
    ls[6] = crate::chain::export_line(&prev, &hash, b"{\"junk\":true}");
    let r = vj(&fx, &join(&ls));
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == "unparseable" && p.session.as_deref() == Some("s2")),
        "{:?}",
        r.problems
    );
}
