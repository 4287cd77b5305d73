//! Reading a store: sessions and their status, names, raw rows for the viewer, search, and
//! the rows a push sends to the team store.

use std::borrow::Borrow;

use rusqlite::{OptionalExtension, params};

use super::{SessionRow, Store, StoredEvent, blob, pick_session, process_start_token, to_hash};
use crate::error::{Error, Result};
use crate::event::Event;

impl Store {
    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        if let Some(pg) = self.remote() {
            return pg.sessions();
        }
        let mut stmt = self.conn()?.prepare(
            "SELECT s.id, s.label, s.agent, s.home_env, s.started, s.ended, \
             (SELECT COUNT(*) FROM events e WHERE e.session = s.id) \
             FROM sessions s ORDER BY s.started, s.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SessionRow {
                ended: r.get(5)?,
                events: r.get::<_, i64>(6)? as u64,
                ..session_head(r)?
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Whether a session is still being recorded, ended, or lost its recorder: a live writer
    /// row is `Recording`, a writer row whose process is gone (not yet sealed) or a session
    /// sealed with `writer_died` is `Died`, an ended session is `Ended`. A hook session (no
    /// writer) is `Recording` until its agent's session end arrives.
    pub fn session_status(&self, id: &str) -> Result<SessionStatus> {
        if let Some(pg) = self.remote() {
            // The team store has no writer rows: the last session_end event decides.
            let last_end = pg
                .raws_of_kind(id, 0, i64::MAX as u64, "session_end")?
                .pop();
            return Ok(
                match last_end.and_then(|raw| Event::from_bytes(&raw).ok()) {
                    None => SessionStatus::Recording,
                    Some(e)
                        if e.data.get("reason").and_then(|r| r.as_str()) == Some("writer_died") =>
                    {
                        SessionStatus::Died
                    }
                    Some(_) => SessionStatus::Ended,
                },
            );
        }
        let writers: Vec<(u32, String)> = {
            let mut stmt = self
                .conn()?
                .prepare_cached("SELECT pid, boot FROM writers WHERE session = ?1")?;
            let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        if !writers.is_empty() {
            let alive = writers
                .iter()
                .any(|(pid, boot)| !boot.is_empty() && process_start_token(*pid) == *boot);
            return Ok(if alive {
                SessionStatus::Recording
            } else {
                SessionStatus::Died
            });
        }
        let ended: Option<String> = self
            .conn()?
            .prepare_cached("SELECT ended FROM sessions WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .flatten();
        if ended.is_none() {
            return Ok(SessionStatus::Recording);
        }
        let last_end: Option<Vec<u8>> = self
            .conn()?
            .prepare_cached(
                "SELECT raw FROM events WHERE session = ?1 AND kind = 'session_end' \
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        let died = last_end
            .and_then(|raw| Event::from_bytes(&raw).ok())
            .is_some_and(|e| e.data.get("reason").and_then(|r| r.as_str()) == Some("writer_died"));
        Ok(if died {
            SessionStatus::Died
        } else {
            SessionStatus::Ended
        })
    }

    /// Session ids that have events but no session row (a deleted row is tampering, and verify
    /// must still see those events).
    pub fn orphan_event_sessions(&self) -> Result<Vec<String>> {
        if let Some(pg) = self.remote() {
            return pg.orphan_event_sessions();
        }
        // One seek per distinct session in the events' primary key (a skip-scan), not a pass
        // over every event.
        let conn = self.conn()?;
        let mut first = conn.prepare_cached("SELECT min(session) FROM events")?;
        let mut next = conn.prepare_cached(
            "SELECT session FROM events WHERE session > ?1 ORDER BY session LIMIT 1",
        )?;
        let mut listed = conn.prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?;
        let mut out = Vec::new();
        let mut at: Option<String> = first.query_row([], |r| r.get(0))?;
        while let Some(id) = at {
            if !listed.exists([&id])? {
                out.push(id.clone());
            }
            at = next.query_row([&id], |r| r.get(0)).optional()?;
        }
        Ok(out)
    }

    /// The ids of the sessions, in the order of [`Store::sessions`], without counting their
    /// events (a count reads every event of the session).
    pub fn session_ids(&self) -> Result<Vec<String>> {
        if let Some(pg) = self.remote() {
            return Ok(pg.sessions()?.into_iter().map(|s| s.id).collect());
        }
        let mut stmt = self
            .conn()?
            .prepare("SELECT id FROM sessions ORDER BY started, id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Resolves a session name: a full id, a unique id prefix, or `latest`.
    pub fn resolve(&self, name: &str) -> Result<String> {
        if let Some(pg) = self.remote() {
            return pg.resolve(name);
        }
        if name == "latest" {
            return self
                .conn()?
                .query_row(
                    "SELECT id FROM sessions ORDER BY started DESC, rowid DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| Error::NoSuchSession(name.to_string()));
        }
        let mut stmt = self
            .conn()?
            .prepare("SELECT id FROM sessions WHERE id = ?1 OR substr(id, 1, length(?1)) = ?1")?;
        let ids: Vec<String> = stmt
            .query_map([name], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        pick_session(name, ids)
    }

    /// One session's row (label, agent, home, start; `events` and `ended` are not filled),
    /// found by key without counting events.
    pub fn session_meta(&self, id: &str) -> Result<Option<SessionRow>> {
        if let Some(pg) = self.remote() {
            return pg.session_meta(id);
        }
        Ok(self.session_for_push(id)?.map(|(row, _)| row))
    }

    /// Streams `(seq, raw)` of events with `seq >= from`, at most `limit`, in order, without
    /// copying the bytes out of a local store; `f` returns false to stop. Returns how many
    /// rows `f` saw.
    pub fn for_each_raw(
        &self,
        session: &str,
        from: u64,
        limit: u64,
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<u64> {
        let mut n = 0u64;
        if let Some(pg) = self.remote() {
            pg.for_each_event_from(session, from, limit, |e| {
                n += 1;
                f(e.seq, &e.raw)
            })?;
            return Ok(n);
        }
        let mut stmt = self.conn()?.prepare_cached(
            "SELECT seq, raw FROM events WHERE session = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
        )?;
        let mut rows = stmt.query(params![
            session,
            i64::try_from(from).unwrap_or(i64::MAX),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])?;
        while let Some(r) = rows.next()? {
            let seq = r.get::<_, i64>(0)? as u64;
            let raw: &[u8] = match r.get_ref(1)? {
                rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b,
                _ => &[],
            };
            n += 1;
            if !f(seq, raw) {
                break;
            }
        }
        Ok(n)
    }

    /// The stored bytes of the events of one kind with `from <= seq <= to`, in order.
    pub fn raws_of_kind(
        &self,
        session: &str,
        from: u64,
        to: u64,
        kind: &str,
    ) -> Result<Vec<Vec<u8>>> {
        if let Some(pg) = self.remote() {
            return pg.raws_of_kind(session, from, to, kind);
        }
        let mut stmt = self.conn()?.prepare_cached(
            "SELECT raw FROM events WHERE session = ?1 AND seq >= ?2 AND seq <= ?3 \
             AND kind = ?4 ORDER BY seq",
        )?;
        let rows = stmt.query_map(
            params![
                session,
                i64::try_from(from).unwrap_or(i64::MAX),
                i64::try_from(to).unwrap_or(i64::MAX),
                kind
            ],
            |r| r.get::<_, Vec<u8>>(0),
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The nearest seq after `from` (or before it, `forward` false) whose stored text contains
    /// `query`, ignoring ASCII case.
    pub fn search(
        &self,
        session: &str,
        from: u64,
        query: &str,
        forward: bool,
    ) -> Result<Option<u64>> {
        if let Some(pg) = self.remote() {
            return pg.search(session, from, query, forward);
        }
        let sql = if forward {
            "SELECT seq FROM events WHERE session = ?1 AND seq > ?2 \
             AND instr(lower(CAST(raw AS TEXT)), lower(?3)) > 0 ORDER BY seq LIMIT 1"
        } else {
            "SELECT seq FROM events WHERE session = ?1 AND seq < ?2 \
             AND instr(lower(CAST(raw AS TEXT)), lower(?3)) > 0 ORDER BY seq DESC LIMIT 1"
        };
        Ok(self
            .conn()?
            .prepare_cached(sql)?
            .query_row(
                params![session, i64::try_from(from).unwrap_or(i64::MAX), query],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|s| s as u64))
    }

    /// Up to `limit` event rows of a local store from `seq >= from`, with the `ts` and `kind`
    /// columns, for a push to the team store.
    pub fn rows_for_push(
        &self,
        session: &str,
        from: u64,
        limit: u64,
    ) -> Result<Vec<(StoredEvent, String, String)>> {
        let mut stmt = self.conn()?.prepare_cached(
            "SELECT seq, prev, hash, raw, ts, kind FROM events WHERE session = ?1 AND seq >= ?2 \
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                session,
                i64::try_from(from).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    StoredEvent {
                        seq: r.get::<_, i64>(0)? as u64,
                        prev: to_hash(r.get(1)?),
                        hash: to_hash(r.get(2)?),
                        raw: r.get(3)?,
                    },
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// A local session's row as the team store keeps it (with the agent's own session id).
    pub fn session_for_push(&self, id: &str) -> Result<Option<(SessionRow, Option<String>)>> {
        Ok(self
            .conn()?
            .prepare_cached(
                "SELECT id, label, agent, home_env, started, external_id FROM sessions WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((session_head(r)?, r.get(5)?))
            })
            .optional()?)
    }
}

/// Reads a local store's rows with their bytes borrowed from SQLite: through the store's own
/// connection ([`Store::rows`]), or through a second read-only one, for reading on another
/// thread ([`Store::row_reader`]).
pub(crate) struct RowReader<C = rusqlite::Connection> {
    conn: C,
}

impl<C: Borrow<rusqlite::Connection>> RowReader<C> {
    /// Reads a session's rows with `lo <= seq <= hi` in seq order, each row's links and bytes
    /// borrowed (from the mapped page when the file is mapped: no copy): `f(seq, prev, hash,
    /// raw)` returns false to stop. A column of another type than a blob is an error, as in
    /// [`Store::for_each_event`].
    pub(crate) fn rows_between(
        &self,
        session: &str,
        lo: u64,
        hi: u64,
        f: impl FnMut(u64, &[u8], &[u8], &[u8]) -> bool,
    ) -> Result<()> {
        rows_between_in(self.conn.borrow(), session, lo, hi, f)
    }
}

/// The page cache of a [`RowReader`] at most: it scans a key range once, so it needs the pages on
/// the path from the root to the current leaf, not a cache the size of its caller's.
const ROW_READER_CACHE_KIB: i64 = 2048;

impl Store {
    /// Another read-only connection to this local store's file, with the defensive settings of
    /// [`Store::open_read_only`], mapping as much of the file as this connection does and
    /// caching no more than it, at most [`ROW_READER_CACHE_KIB`] (a caller that bounds its
    /// memory with [`Store::set_read_memory`] keeps its bound, with a small cache per reader).
    pub(crate) fn row_reader(&self) -> Result<RowReader> {
        let conn = self.conn()?;
        let mmap: i64 = conn.query_row("PRAGMA mmap_size", [], |r| r.get(0))?;
        let cache: i64 = conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        // A negative cache size is in KiB, a positive one in pages.
        let cache_kib = if cache < 0 {
            cache.saturating_neg()
        } else {
            cache.saturating_mul(page) / 1024
        };
        let reader = super::open::read_only_connection(&self.path)?;
        reader.execute_batch(&format!(
            "PRAGMA mmap_size = {mmap}; PRAGMA cache_size = -{};",
            cache_kib.clamp(1, ROW_READER_CACHE_KIB)
        ))?;
        Ok(RowReader { conn: reader })
    }

    /// The rows of this local store, read through its own connection.
    pub(crate) fn rows(&self) -> Result<RowReader<&rusqlite::Connection>> {
        Ok(RowReader { conn: self.conn()? })
    }
}

fn rows_between_in(
    conn: &rusqlite::Connection,
    session: &str,
    lo: u64,
    hi: u64,
    mut f: impl FnMut(u64, &[u8], &[u8], &[u8]) -> bool,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, prev, hash, raw FROM events WHERE session = ?1 AND seq BETWEEN ?2 AND ?3 \
         ORDER BY seq",
    )?;
    let lo = i64::try_from(lo).unwrap_or(i64::MAX);
    let hi = i64::try_from(hi).unwrap_or(i64::MAX);
    let mut q = stmt.query(params![session, lo, hi])?;
    while let Some(r) = q.next()? {
        let seq: i64 = r.get(0)?;
        // seq >= lo >= 0, so the cast keeps its value.
        if !f(seq as u64, blob(r, 1)?, blob(r, 2)?, blob(r, 3)?) {
            break;
        }
    }
    Ok(())
}

/// A local session's row from columns `id, label, agent, home_env, started` (the first five),
/// not ended, its events not counted.
fn session_head(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        host: None,
        label: r.get(1)?,
        agent: r.get(2)?,
        home_env: r.get(3)?,
        started: r.get(4)?,
        ended: None,
        events: 0,
    })
}

/// Where a session stands (`flightlog sessions --status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Recording,
    Ended,
    Died,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Recording => "recording",
            SessionStatus::Ended => "ended",
            SessionStatus::Died => "died",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &rusqlite::Connection, name: &str) -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_row_reader_maps_what_its_store_maps_and_caches_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fl.db");
        drop(Store::open(&path).unwrap());
        let store = Store::open_read_only(&path).unwrap();
        // The read-only default: the whole file mapped, a 64 MiB cache; a reader maps the
        // same and keeps a small cache.
        let r = store.row_reader().unwrap();
        assert_eq!(
            pragma(&r.conn, "mmap_size"),
            pragma(store.connection(), "mmap_size")
        );
        assert_eq!(pragma(&r.conn, "cache_size"), -ROW_READER_CACHE_KIB);
        // A caller that bounds its memory (the viewer maps nothing): its readers map nothing
        // and cache no more than it does.
        store.set_read_memory(0, 512).unwrap();
        let r = store.row_reader().unwrap();
        assert_eq!(pragma(&r.conn, "mmap_size"), 0);
        assert_eq!(pragma(&r.conn, "cache_size"), -512);
        // A cache given in pages is compared in bytes.
        store
            .connection()
            .execute_batch("PRAGMA cache_size = 4")
            .unwrap();
        let page = pragma(store.connection(), "page_size");
        let r = store.row_reader().unwrap();
        assert_eq!(pragma(&r.conn, "cache_size"), -(4 * page / 1024));
    }
}
