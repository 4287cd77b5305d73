//! The jsonl export: one line per event, exactly
//! `{"prev":"<64 hex>","hash":"<64 hex>","event":EVENT}` with EVENT the stored bytes verbatim.
//! A session's export ends with a `checkpoint` event covering every event before it.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::chain::export_line;
use crate::error::{Error, Result};
use crate::event::{Event, Kind, NewEvent};
use crate::keys::Keys;
use crate::progress::{NoProgress, Progress, Ticker};
use crate::store::Store;

/// Appends a session checkpoint unless the session already ends with one.
/// Returns true if one was appended.
pub fn ensure_final_checkpoint(
    store: &Store,
    session: &str,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (count, _) = store.head(session)?;
    if ends_with_checkpoint(store, session, count)? {
        return Ok(false);
    }
    store.append_session_checkpoint(session, keys, now)?;
    Ok(true)
}

/// Whether the last of a session's `count` events is a checkpoint.
fn ends_with_checkpoint(store: &Store, session: &str, count: u64) -> Result<bool> {
    Ok(count > 0
        && store
            .event(session, count - 1)?
            .and_then(|last| Event::from_bytes(&last.raw).ok())
            .is_some_and(|e| e.kind == Kind::Checkpoint))
}

/// For a store that must not be written: the export line of the checkpoint event that
/// [`ensure_final_checkpoint`] would append, signed now and not stored (`source` `export`).
/// None when the session already ends with a checkpoint.
pub fn unsaved_final_checkpoint_line(
    store: &Store,
    session: &str,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<Option<Vec<u8>>> {
    let (count, head) = store.head(session)?;
    if ends_with_checkpoint(store, session, count)? {
        return Ok(None);
    }
    let st = store.session_statement(session)?;
    let data = crate::checkpoint::session_checkpoint_data(&keys.signing, &st);
    let event =
        NewEvent::new(now, Kind::Checkpoint, "export", data).into_event(session, count, Vec::new());
    let raw = crate::canonical::to_bytes(&event);
    let hash = crate::chain::link_hash(&head, &raw);
    let mut line = export_line(&head, &hash, &raw);
    line.push(b'\n');
    Ok(Some(line))
}

/// Writes a session's events as jsonl lines. Returns the number of lines.
pub fn write_session(store: &Store, session: &str, out: impl Write) -> Result<u64> {
    write_session_with_progress(store, session, out, &mut NoProgress)
}

/// [`write_session`], reporting the lines written out of the session's events.
pub fn write_session_with_progress(
    store: &Store,
    session: &str,
    mut out: impl Write,
    progress: &mut dyn Progress,
) -> Result<u64> {
    let (count, _) = store.head(session)?;
    let mut ticker = Ticker::new(progress, 0, count);
    let mut n = 0u64;
    let mut err: Option<std::io::Error> = None;
    store.for_each_event(session, |ev| {
        let mut line = export_line(&ev.prev, &ev.hash, &ev.raw);
        line.push(b'\n');
        if let Err(e) = out.write_all(&line) {
            err = Some(e);
            return false;
        }
        n += 1;
        ticker.add(1);
        true
    })?;
    if let Some(e) = err {
        return Err(Error::io("<output>", e));
    }
    out.flush().map_err(|e| Error::io("<output>", e))?;
    ticker.finish();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;
    use crate::store::SessionMeta;
    use chrono::TimeZone;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    /// A final checkpoint is added once: never after one, and an unsaved one is offered only
    /// while the session does not end with one.
    #[test]
    fn a_final_checkpoint_is_added_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("fl.db")).unwrap();
        let keys = Keys {
            signing: SigningKey::from_bytes(&[1; 32]),
            fingerprint_key: [9; 32],
            dir: dir.path().to_path_buf(),
        };
        let now = Utc.timestamp_opt(1_777_100_000, 0).single().unwrap();
        let s = store.create_session(&SessionMeta::default(), now).unwrap();
        let note = NewEvent::new(now, Kind::Note, "test", json!({"text": "x"}));
        store
            .append(&s, note, &Redactor::new(keys.fingerprint_key))
            .unwrap();
        assert!(
            unsaved_final_checkpoint_line(&store, &s, &keys, now)
                .unwrap()
                .is_some()
        );
        assert!(ensure_final_checkpoint(&store, &s, &keys, now).unwrap());
        assert!(!ensure_final_checkpoint(&store, &s, &keys, now).unwrap());
        assert!(
            unsaved_final_checkpoint_line(&store, &s, &keys, now)
                .unwrap()
                .is_none()
        );
        assert_eq!(store.head(&s).unwrap().0, 2);
    }
}
