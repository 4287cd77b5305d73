//! Appending: events redacted and encoded (on several threads for long batches), then chained
//! and inserted in order under the write lock; the small queries appends are built on.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Appended, SessionMeta, Store, StoredEvent, new_session_id, to_hash};
use crate::chain::{GENESIS, Hash32, link_hash};
use crate::checkpoint::SessionStatement;
use crate::error::Result;
use crate::event::{Event, FORMAT_VERSION, Kind, NewEvent, format_ts};
use crate::progress::Ticker;
use crate::redact::Redactor;

/// The one statement that stores an event row (appends and verbatim imports).
pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (session, seq, ts, kind, prev, hash, raw) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Inserts a session row (a fixed id from `meta`, or a fresh one); returns the id.
pub(crate) fn insert_session(
    conn: &Connection,
    meta: &SessionMeta,
    started: DateTime<Utc>,
) -> Result<String> {
    let id = match &meta.id {
        Some(id) => id.clone(),
        None => new_session_id()?,
    };
    conn.execute(
        "INSERT INTO sessions (id, label, agent, home_env, external_id, started) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            meta.label,
            meta.agent,
            meta.home_env,
            meta.external_id,
            format_ts(started)
        ],
    )?;
    Ok(id)
}

pub(super) fn head_in(conn: &Connection, session: &str) -> Result<(u64, Hash32)> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM events WHERE session = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((seq, h)) => (seq as u64 + 1, to_hash(h)),
        None => (0, GENESIS),
    })
}

pub(super) fn events_in(
    conn: &Connection,
    session: &str,
    from: u64,
    limit: u64,
    mut f: impl FnMut(StoredEvent) -> bool,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, prev, hash, raw FROM events WHERE session = ?1 AND seq >= ?2 \
         ORDER BY seq LIMIT ?3",
    )?;
    let lim = i64::try_from(limit).unwrap_or(i64::MAX);
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![session, from, lim])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let ev = StoredEvent {
            seq: seq as u64,
            prev: to_hash(r.get(1)?),
            hash: to_hash(r.get(2)?),
            raw: r.get(3)?,
        };
        if !f(ev) {
            break;
        }
    }
    Ok(())
}

/// Event rows read in bulk: each row's seq and links, and the raw bytes of all of them one
/// after the other in one buffer (no allocation per row; a batch is cleared and filled again).
#[derive(Debug, Default)]
pub(crate) struct RowBatch {
    pub(crate) rows: Vec<BatchRow>,
    bytes: Vec<u8>,
}

/// One row of a [`RowBatch`]; its raw bytes are [`RowBatch::raw`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchRow {
    pub(crate) seq: u64,
    pub(crate) prev: Hash32,
    pub(crate) hash: Hash32,
    start: usize,
    end: usize,
}

impl RowBatch {
    /// The raw bytes of one of this batch's rows.
    pub(crate) fn raw(&self, row: &BatchRow) -> &[u8] {
        &self.bytes[row.start..row.end]
    }

    fn push(&mut self, seq: u64, prev: &[u8], hash: &[u8], raw: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(raw);
        self.rows.push(BatchRow {
            seq,
            prev: to_hash32(prev),
            hash: to_hash32(hash),
            start,
            end: self.bytes.len(),
        });
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.bytes.clear();
    }
}

/// A stored link as a hash ([`to_hash`] without the copy: zeros unless it is 32 bytes).
fn to_hash32(b: &[u8]) -> Hash32 {
    <Hash32>::try_from(b).unwrap_or_default()
}

/// A blob column of a row, borrowed; the error [`rusqlite::Row::get`] gives for another type.
fn blob<'r>(r: &'r rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<&'r [u8]> {
    let v = r.get_ref(idx)?;
    v.as_blob().map_err(|_| {
        rusqlite::Error::InvalidColumnType(
            idx,
            r.as_ref().column_name(idx).unwrap_or("").to_string(),
            v.data_type(),
        )
    })
}

impl Store {
    /// Streams a session's events in seq order as batches of up to `rows` rows (the last one
    /// may be shorter). Each batch to fill comes from `fresh` (so that the caller can hand
    /// back the ones it is done with); `f` gets each filled batch and returns false to stop.
    pub(crate) fn for_each_event_batch(
        &self,
        session: &str,
        rows: usize,
        mut fresh: impl FnMut() -> RowBatch,
        mut f: impl FnMut(RowBatch) -> bool,
    ) -> Result<()> {
        let rows = rows.max(1);
        let mut next = || {
            let mut b = fresh();
            b.clear();
            b
        };
        let mut batch = next();
        let mut go = true;
        if let Some(pg) = self.remote() {
            pg.for_each_event_from(session, 0, u64::MAX, |e| {
                batch.push(e.seq, &e.prev, &e.hash, &e.raw);
                if batch.rows.len() == rows {
                    go = f(std::mem::replace(&mut batch, next()));
                }
                go
            })?;
        } else {
            let mut stmt = self.conn()?.prepare_cached(
                "SELECT seq, prev, hash, raw FROM events WHERE session = ?1 AND seq >= 0 \
                 ORDER BY seq",
            )?;
            let mut q = stmt.query([session])?;
            while let Some(r) = q.next()? {
                let seq: i64 = r.get(0)?;
                batch.push(seq as u64, blob(r, 1)?, blob(r, 2)?, blob(r, 3)?);
                if batch.rows.len() == rows {
                    go = f(std::mem::replace(&mut batch, next()));
                    if !go {
                        break;
                    }
                }
            }
        }
        if go && !batch.rows.is_empty() {
            f(batch);
        }
        Ok(())
    }
}

pub(super) fn statement_in(conn: &Connection, session: &str) -> Result<SessionStatement> {
    let mut stmt =
        conn.prepare_cached("SELECT hash FROM events WHERE session = ?1 ORDER BY seq")?;
    let mut failed = None;
    let hashes = stmt
        .query_map([session], |r| Ok(to_hash(r.get(0)?)))?
        .map_while(|r| r.map_err(|e| failed = Some(e)).ok());
    let statement = SessionStatement::of_hashes(session, hashes);
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(statement),
    }
}

pub(super) fn append_in(
    conn: &Connection,
    session: &str,
    evs: Vec<NewEvent>,
    redactor: Option<&Redactor>,
) -> Result<Vec<Appended>> {
    append_in_with(conn, session, evs, redactor, None)
}

pub(super) fn append_in_with(
    conn: &Connection,
    session: &str,
    evs: Vec<NewEvent>,
    redactor: Option<&Redactor>,
    mut ticker: Option<&mut Ticker<'_>>,
) -> Result<Vec<Appended>> {
    let (first, mut prev) = head_in(conn, session)?;
    let mut insert = conn.prepare_cached(INSERT_EVENT)?;
    let encoded = encode_all(session, first, evs, redactor);
    let mut out = Vec::with_capacity(encoded.len());
    for (i, e) in encoded.into_iter().enumerate() {
        let seq = first + i as u64;
        let hash = link_hash(&prev, &e.raw);
        insert.execute(params![
            session,
            seq as i64,
            e.ts,
            e.kind.as_str(),
            &prev[..],
            &hash[..],
            e.raw
        ])?;
        out.push(Appended { seq, hash });
        prev = hash;
        if let Some(t) = ticker.as_deref_mut() {
            t.add(1);
        }
    }
    Ok(out)
}

/// An event redacted and in its canonical bytes, ready to be chained.
struct Encoded {
    ts: String,
    kind: Kind,
    raw: Vec<u8>,
}

/// Batches at least this long are redacted and encoded on several threads (redaction is most
/// of an append's cost); the chain itself is still built in order on the caller's thread.
pub(super) const PARALLEL_MIN: usize = 256;

/// Redacts and encodes `evs` as seqs `first..`, in order.
fn encode_all(
    session: &str,
    first: u64,
    evs: Vec<NewEvent>,
    redactor: Option<&Redactor>,
) -> Vec<Encoded> {
    let encode = |seq: u64, ev: NewEvent| -> Encoded {
        let mut data = ev.data;
        let redactions = match redactor {
            Some(r) => r.redact_value(&mut data),
            None => Vec::new(),
        };
        let event = Event {
            v: FORMAT_VERSION,
            session: session.to_string(),
            seq,
            ts: format_ts(ev.ts),
            kind: ev.kind,
            source: ev.source,
            env: ev.env,
            redactions,
            data,
        };
        let raw = crate::canonical::to_bytes(&event);
        Encoded {
            ts: event.ts,
            kind: event.kind,
            raw,
        }
    };
    if evs.len() < PARALLEL_MIN {
        return evs
            .into_iter()
            .enumerate()
            .map(|(i, ev)| encode(first + i as u64, ev))
            .collect();
    }
    // Asked once per process (it reads cgroup files on Linux), not once per batch.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(1)
    });
    if threads < 2 {
        return evs
            .into_iter()
            .enumerate()
            .map(|(i, ev)| encode(first + i as u64, ev))
            .collect();
    }
    let per = evs.len().div_ceil(threads);
    let mut chunks: Vec<(u64, Vec<NewEvent>)> = Vec::with_capacity(threads);
    let mut rest = evs;
    let mut start = first;
    while !rest.is_empty() {
        let tail = rest.split_off(per.min(rest.len()));
        let n = rest.len() as u64;
        chunks.push((start, rest));
        start += n;
        rest = tail;
    }
    std::thread::scope(|sc| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|(at, chunk)| {
                sc.spawn(move || {
                    chunk
                        .into_iter()
                        .enumerate()
                        .map(|(i, ev)| encode(at + i as u64, ev))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
