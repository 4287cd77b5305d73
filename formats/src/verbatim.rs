//! Storing a session verbatim: the rows of a verified export kept byte for byte, so an imported
//! session keeps its original chain and signed checkpoints instead of being re-chained.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::chain::{GENESIS, link_hash};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::progress::{NoProgress, Progress, Ticker};
use crate::store::{SessionMeta, Store, StoredEvent};

impl Store {
    /// Stores a whole session exactly as it was exported elsewhere: each row's `prev`, `hash` and
    /// raw event bytes verbatim, so the original chain (and its signed checkpoints) still verify.
    /// Used to import a verified jsonl export without re-chaining it.
    ///
    /// `meta.id` must be the session id the events carry, and no session with that id may exist.
    /// The caller verifies the export first; this re-checks that the rows are seq 0, 1, 2, ...,
    /// that every link joins and every hash matches its bytes (all or nothing).
    pub fn insert_verbatim_session(
        &self,
        meta: &SessionMeta,
        started: DateTime<Utc>,
        rows: &[StoredEvent],
    ) -> Result<()> {
        self.insert_verbatim_session_with_progress(meta, started, rows, &mut NoProgress)
    }

    /// [`Store::insert_verbatim_session`], reporting the rows stored out of `rows.len()` (the
    /// commit comes after the last report).
    pub fn insert_verbatim_session_with_progress(
        &self,
        meta: &SessionMeta,
        started: DateTime<Utc>,
        rows: &[StoredEvent],
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let mut ticker = Ticker::new(progress, 0, rows.len() as u64);
        let id = meta
            .id
            .clone()
            .ok_or_else(|| Error::Invalid("a verbatim session needs its id".into()))?;
        let tx = rusqlite::Transaction::new_unchecked(
            self.connection(),
            TransactionBehavior::Immediate,
        )?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM sessions WHERE id = ?1 UNION SELECT 1 FROM events WHERE session = ?1",
                [&id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(Error::Invalid(format!(
                "session {id} already exists in this store"
            )));
        }
        crate::store::insert_session(&tx, meta, started)?;
        let mut prev = GENESIS;
        {
            let mut insert = tx.prepare_cached(crate::store::INSERT_EVENT)?;
            for (i, row) in rows.iter().enumerate() {
                let ev = Event::from_bytes(&row.raw)?;
                if ev.session != id || ev.seq != i as u64 || row.seq != i as u64 {
                    return Err(Error::Invalid(format!(
                        "row {i} is seq {} of session {}, expected seq {i} of {id}",
                        ev.seq, ev.session
                    )));
                }
                if row.prev != prev || link_hash(&prev, &row.raw) != row.hash {
                    return Err(Error::Invalid(format!(
                        "row {i} does not continue the chain"
                    )));
                }
                insert.execute(params![
                    id,
                    i as i64,
                    ev.ts,
                    ev.kind.as_str(),
                    &row.prev[..],
                    &row.hash[..],
                    &row.raw
                ])?;
                prev = row.hash;
                ticker.add(1);
            }
        }
        tx.commit()?;
        ticker.finish();
        Ok(())
    }
}
