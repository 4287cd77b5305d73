//! [`WriteTx`]: several writes in one transaction (one commit, one fsync).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::append::{append_in, events_in, head_in, insert_session};
use super::{Appended, SessionMeta, StoredEvent};
use crate::chain::Hash32;
use crate::error::Result;
use crate::event::{NewEvent, format_ts};
use crate::redact::Redactor;

/// An open write transaction (see [`Store::write_tx`]).
pub struct WriteTx<'a> {
    pub(super) tx: rusqlite::Transaction<'a>,
}

impl WriteTx<'_> {
    /// Finds the session an agent's own session id maps to, or creates it with `start` as its
    /// seq 0 in this transaction, so no concurrent writer can land before it. Returns the id and
    /// whether it was created.
    pub fn session_for_external_with_start(
        &self,
        meta: &SessionMeta,
        start: NewEvent,
        redactor: &Redactor,
    ) -> Result<(String, bool)> {
        if let Some(id) = self.find_external(meta)? {
            return Ok((id, false));
        }
        Ok((self.create_session_with_start(meta, start, redactor)?, true))
    }

    /// Creates a session with `start` as its seq 0 (its `session_start` event).
    pub fn create_session_with_start(
        &self,
        meta: &SessionMeta,
        start: NewEvent,
        redactor: &Redactor,
    ) -> Result<String> {
        let id = insert_session(&self.tx, meta, start.ts)?;
        append_in(&self.tx, &id, vec![start], Some(redactor))?;
        Ok(id)
    }

    /// The newest session an agent's own session id maps to.
    pub(super) fn find_external(&self, meta: &SessionMeta) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT id FROM sessions WHERE agent IS ?1 AND external_id = ?2 \
                 ORDER BY started DESC LIMIT 1",
            )?
            .query_row(params![meta.agent, meta.external_id], |r| r.get(0))
            .optional()?)
    }

    pub fn session_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Appends events (redacted) to a session.
    pub fn append(
        &self,
        session: &str,
        evs: Vec<NewEvent>,
        redactor: &Redactor,
    ) -> Result<Vec<Appended>> {
        append_in(&self.tx, session, evs, Some(redactor))
    }

    pub fn head(&self, session: &str) -> Result<(u64, Hash32)> {
        head_in(&self.tx, session)
    }

    /// Events of a session with `seq >= from`, at most `limit` of them, in order, as this
    /// transaction sees them.
    pub fn events(&self, session: &str, from: u64, limit: u64) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        events_in(&self.tx, session, from, limit, |e| {
            out.push(e);
            true
        })?;
        Ok(out)
    }

    /// Remembers which seq a tool call id first appeared at.
    pub fn remember_call(&self, session: &str, call_id: &str, seq: u64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO calls (session, call_id, seq) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![session, call_id, seq as i64])?;
        Ok(())
    }

    pub fn call_seq(&self, session: &str, call_id: &str) -> Result<Option<u64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT seq FROM calls WHERE session = ?1 AND call_id = ?2")?
            .query_row(params![session, call_id], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|s| s as u64))
    }

    pub fn mark_ended(&self, id: &str, ended: DateTime<Utc>) -> Result<()> {
        self.tx.execute(
            "UPDATE sessions SET ended = ?2 WHERE id = ?1",
            params![id, format_ts(ended)],
        )?;
        Ok(())
    }
}
