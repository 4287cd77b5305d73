//! Importing flightlog's own jsonl export.
//!
//! The file is verified first ([`verify_jsonl`]): every hash, link and the final signed
//! checkpoint of each session, against the keys the caller trusts. Only then are its lines stored
//! **verbatim** (same bytes, same `prev`/`hash`), so the imported session keeps its original chain
//! and signatures. A `note` appended after the original events records where it came from. A file
//! that does not verify is refused with every problem found; nothing is stored.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use flightlog_formats::chain::split_export_line;
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
        let Ok(e) = Event::from_bytes(ev) else {
            continue;
        };
        if e.kind == Kind::Checkpoint
            && let Some((_, pk, _)) = parse_session_checkpoint(&e.data)
            && let Some(k) = public_key_from_hex(&pk)
            && !out.contains(&k)
        {
            out.push(k);
        }
    }
    out
}

/// Adds a public key to a store's trusted keys (`<key dir>/imported-<key id>.pub`, 0600), so
/// `flightlog verify` accepts the checkpoints of sessions imported under it.
pub fn trust_key(key_dir: &Path, key: &VerifyingKey) -> Result<()> {
    flightlog_formats::keys::ensure_private_dir(key_dir)?;
    let path = key_dir.join(format!("imported-{}.pub", key_id(key)));
    if path.exists() {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    f.write_all(format!("{}\n", hex::encode(key.as_bytes())).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&path, e))
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
    // Sessions in file order, rows verbatim.
    let mut sessions: Vec<(String, Vec<StoredEvent>)> = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (prev, hash, ev) = split_export_line(line)
            .ok_or_else(|| Error::Invalid(format!("{name}: a line is not an export line")))?;
        let e = Event::from_bytes(ev)?;
        let row = StoredEvent {
            seq: e.seq,
            prev,
            hash,
            raw: ev.to_vec(),
        };
        match sessions.iter_mut().find(|s| s.0 == e.session) {
            Some(s) => s.1.push(row),
            None => sessions.push((e.session, vec![row])),
        }
        ticker.add(1);
    }
    ticker.report();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (sid, rows) in sessions {
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
                    "key_ids": signing_keys(&bytes).iter().map(key_id).collect::<Vec<_>>(),
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
