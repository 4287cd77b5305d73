//! Importing flightlog's own jsonl export.
//!
//! The file is verified first ([`verify_jsonl`]): every hash, link and the final signed
//! checkpoint of each session, against the keys the caller trusts. Only then are its lines stored
//! **verbatim** (same bytes, same `prev`/`hash`), so the imported session keeps its original chain
//! and signatures. A `note` appended after the original events records where it came from. A file
//! that does not verify is refused with every problem found; nothing is stored.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use flightlog_formats::canonical::fast_header;
use flightlog_formats::chain::{Grouped, split_export_line};
use flightlog_formats::checkpoint::parse_session_checkpoint;
use flightlog_formats::keys::{VerifyingKey, key_id, public_key_from_hex};
use flightlog_formats::progress::{NoProgress, Progress, Ticker};
use flightlog_formats::store::{SessionMeta, StoredEvent};
use flightlog_formats::verify::{Trust, verify_jsonl_with_progress};
use flightlog_formats::{Event, Kind, Redactor, Store};
use serde_json::json;

use super::{Stats, StoredImport, imported, sha256_hex};
use crate::{Error, Result};

/// The public keys that signed the checkpoints in an export (without trusting them).
pub fn signing_keys(bytes: &[u8]) -> Vec<VerifyingKey> {
    let mut out: Vec<VerifyingKey> = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        let Some((_, _, ev)) = split_export_line(line.strip_suffix(b"\r").unwrap_or(line)) else {
            continue;
        };
        if let Some(k) = checkpoint_key(ev)
            && !out.contains(&k)
        {
            out.push(k);
        }
    }
    out
}

/// The public key a session checkpoint event carries; None for any other event. Only
/// checkpoints (and events whose canonical header cannot be read) are parsed.
fn checkpoint_key(ev: &[u8]) -> Option<VerifyingKey> {
    if fast_header(ev).is_some_and(|h| h.kind != Kind::Checkpoint.as_str().as_bytes()) {
        return None;
    }
    let e = Event::from_bytes(ev).ok()?;
    if e.kind != Kind::Checkpoint {
        return None;
    }
    let (_, pk, _) = parse_session_checkpoint(&e.data)?;
    public_key_from_hex(&pk)
}

/// The session and seq of an event: from its canonical header, else from the event parsed.
fn session_and_seq(ev: &[u8]) -> Result<(Cow<'_, str>, u64)> {
    if let Some(h) = fast_header(ev)
        && let Ok(session) = std::str::from_utf8(h.session)
    {
        return Ok((Cow::Borrowed(session), h.seq));
    }
    let e = Event::from_bytes(ev)?;
    Ok((Cow::Owned(e.session), e.seq))
}

/// Adds a public key to a store's trusted keys (`<key dir>/imported-<key id>.pub`, 0600), so
/// `flightlog verify` accepts the checkpoints of sessions imported under it.
pub fn trust_key(key_dir: &Path, key: &VerifyingKey) -> Result<()> {
    flightlog_formats::keys::ensure_private_dir(key_dir)?;
    let path = key_dir.join(format!("imported-{}.pub", key_id(key)));
    if path.exists() {
        return Ok(());
    }
    crate::write_new_private(
        &path,
        format!("{}\n", hex::encode(key.as_bytes())).as_bytes(),
    )
}

/// Verifies a jsonl export against `trust` and stores each of its sessions verbatim.
///
/// Returns [`Error::NotVerified`] (nothing stored) when the file does not verify, including when
/// a checkpoint is signed by a key `trust` does not hold.
pub fn import(
    store: &Store,
    redactor: &Redactor,
    path: &Path,
    trust: &Trust,
    now: DateTime<Utc>,
) -> Result<Vec<StoredImport>> {
    import_with_progress(store, redactor, path, trust, now, &mut NoProgress)
}

/// [`import`], reporting steps out of three per event: its check, its parse, its storing.
/// Nothing is reported while the file is read and its lines are split (before the checks).
pub fn import_with_progress(
    store: &Store,
    redactor: &Redactor,
    path: &Path,
    trust: &Trust,
    now: DateTime<Utc>,
    progress: &mut dyn Progress,
) -> Result<Vec<StoredImport>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut checks = |done: u64, total: u64| {
        progress.update(done, total.saturating_mul(3));
    };
    let report =
        verify_jsonl_with_progress(std::io::BufReader::new(&bytes[..]), trust, &mut checks)?;
    if !report.intact {
        return Err(Error::NotVerified {
            path: path.to_path_buf(),
            report: Box::new(report),
        });
    }
    let file_sha = sha256_hex(&bytes);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n_checked = report.events_checked;
    let total = n_checked.saturating_mul(3);
    let mut ticker = Ticker::new(progress, n_checked, total);
    // Sessions in file order, rows verbatim, and the keys that signed them, in one pass that
    // reads each event's canonical header (the store parses every event as it inserts it).
    let mut grouped: Grouped<StoredEvent> = Grouped::default();
    let mut keys: Vec<VerifyingKey> = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (prev, hash, ev) = split_export_line(line)
            .ok_or_else(|| Error::Invalid(format!("{name}: a line is not an export line")))?;
        let (sid, seq) = session_and_seq(ev)?;
        if let Some(k) = checkpoint_key(ev)
            && !keys.contains(&k)
        {
            keys.push(k);
        }
        let row = StoredEvent {
            seq,
            prev,
            hash,
            raw: ev.to_vec(),
        };
        grouped.push(&sid, row);
        ticker.add(1);
    }
    let key_ids: Vec<String> = keys.iter().map(key_id).collect();
    ticker.report();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (sid, rows) in grouped.into_groups() {
        if !seen.insert(sid.clone()) {
            continue;
        }
        let first = rows
            .first()
            .map(|r| Event::from_bytes(&r.raw))
            .transpose()?;
        let (count, head) = store.head(&sid)?;
        if count > 0 || store.session_exists(&sid)? {
            // The same session imported (or recorded) here before: fine if it is the same chain.
            let same = rows.iter().all(|r| {
                store
                    .event(&sid, r.seq)
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.hash == r.hash)
            });
            if same {
                ticker.add(rows.len() as u64);
                ticker.report();
                out.push(StoredImport {
                    session: sid,
                    events: count,
                    already: true,
                    stats: Stats::default(),
                });
                continue;
            }
            return Err(Error::Invalid(format!(
                "session {sid} already exists in this store with different events (head {}); \
                 refusing to mix two chains",
                hex::encode(head)
            )));
        }
        let data = first.as_ref().map(|e| e.data.clone()).unwrap_or_default();
        let s = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let started = first.as_ref().and_then(Event::time).unwrap_or(now);
        let meta = SessionMeta {
            id: Some(sid.clone()),
            label: s("label"),
            agent: s("agent"),
            home_env: s("home_env"),
            external_id: Some(format!("import:jsonl:{file_sha}")),
        };
        let n = rows.len() as u64;
        let base = ticker.done();
        let mut inserts = |done: u64, _: u64| ticker.advance_to(base + done);
        store.insert_verbatim_session_with_progress(&meta, started, &rows, &mut inserts)?;
        let last_ts = rows
            .last()
            .and_then(|r| Event::from_bytes(&r.raw).ok())
            .and_then(|e| e.time())
            .unwrap_or(now);
        store.append(
            &sid,
            imported(
                now.max(last_ts),
                Kind::Note,
                "jsonl",
                json!({
                    "text": format!("imported {n} events verbatim from {name} (verified)"),
                    "format": "jsonl",
                    "file": name,
                    "file_sha256": file_sha,
                    "events": n,
                    "verified": true,
                    "pinned_key": trust.pinned,
                    "key_ids": key_ids,
                }),
            ),
            redactor,
        )?;
        out.push(StoredImport {
            session: sid,
            events: n + 1,
            already: false,
            stats: Stats {
                records: n,
                ..Stats::default()
            },
        });
    }
    ticker.finish();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use flightlog_formats::Keys;
    use flightlog_formats::event::NewEvent;
    use flightlog_formats::jsonl::{ensure_final_checkpoint, write_session};
    use flightlog_formats::store::SessionMeta;

    use super::*;

    fn t(sec: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_777_100_000 + sec, 0)
            .single()
            .expect("time")
    }

    /// A store of its own (own keys) holding one session of `n` events, exported.
    fn exported(dir: &Path, id: &str, n: i64) -> (Keys, Vec<u8>) {
        let keys = Keys::load_or_create(&dir.join(format!("keys-{id}"))).expect("keys");
        let store = Store::open(&dir.join(format!("{id}.db"))).expect("store");
        let red = Redactor::new(keys.fingerprint_key);
        let meta = SessionMeta {
            id: Some(id.into()),
            ..Default::default()
        };
        store.create_session(&meta, t(0)).expect("session");
        for i in 0..n {
            let ev = NewEvent::new(t(i), Kind::Note, "test", json!({"i": i}));
            store.append(id, ev, &red).expect("append");
        }
        ensure_final_checkpoint(&store, id, &keys, t(n)).expect("checkpoint");
        let mut out = Vec::new();
        write_session(&store, id, &mut out).expect("export");
        (keys, out)
    }

    #[test]
    fn interleaved_sessions_import_with_their_chains_and_every_signing_key() {
        let d = tempfile::tempdir().expect("tempdir");
        let (ka, a) = exported(d.path(), "sa", 30);
        let (kb, b) = exported(d.path(), "sb", 20);
        // Lines of the two exports interleaved, the second session's first.
        let (la, lb): (Vec<&[u8]>, Vec<&[u8]>) = (
            a.split(|c| *c == b'\n').filter(|l| !l.is_empty()).collect(),
            b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).collect(),
        );
        let mut file = Vec::new();
        for i in 0..la.len().max(lb.len()) {
            for l in [lb.get(i), la.get(i)].into_iter().flatten() {
                file.extend_from_slice(l);
                file.extend_from_slice(b"\r\n");
            }
        }
        let path = d.path().join("both.jsonl");
        std::fs::write(&path, &file).expect("write");
        let (pa, pb) = (ka.verifying_key(), kb.verifying_key());
        assert_eq!(signing_keys(&file), vec![pb, pa]);

        let store = Store::open(&d.path().join("into.db")).expect("store");
        let trust = Trust {
            keys: vec![pa, pb],
            pinned: true,
        };
        let red = Redactor::new([3; 32]);
        let got = import(&store, &red, &path, &trust, t(100)).expect("import");
        let ids: Vec<(&str, u64)> = got.iter().map(|s| (s.session.as_str(), s.events)).collect();
        assert_eq!(ids, vec![("sb", 21 + 1), ("sa", 31 + 1)]);
        for (id, lines) in [("sa", &la), ("sb", &lb)] {
            for (seq, l) in lines.iter().enumerate() {
                let (prev, hash, raw) = split_export_line(l).expect("line");
                let row = store.event(id, seq as u64).expect("read").expect("row");
                assert_eq!((row.prev, row.hash, &row.raw[..]), (prev, hash, raw));
            }
            let note = store
                .event(id, lines.len() as u64)
                .expect("read")
                .expect("note");
            let note = Event::from_bytes(&note.raw).expect("note");
            assert_eq!(
                note.note().and_then(|n| n.key_ids),
                Some(vec![key_id(&pb), key_id(&pa)]),
                "{id}"
            );
        }
    }
}
