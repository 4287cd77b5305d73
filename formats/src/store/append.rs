//! Appending: events redacted and encoded (on several threads for long batches), then chained
//! and inserted in order under the write lock; the small queries appends are built on.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Appended, SessionMeta, StoredEvent, new_session_id, to_hash};
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
