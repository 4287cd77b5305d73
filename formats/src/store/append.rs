//! Appending: events redacted and encoded (on several threads for long batches, while the
//! first chunks are already being inserted), then chained and inserted in order under the
//! write lock; the small queries appends are built on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Appended, SessionMeta, Store, StoredEvent, blob, new_session_id, to_hash};
use crate::canonical;
use crate::chain::{GENESIS, Hash32, link_hash};
use crate::checkpoint::SessionStatement;
use crate::error::Result;
use crate::event::{FORMAT_VERSION, Kind, NewEvent, format_ts};
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
    let mut w = ChainWriter::at_head(conn, session, evs.len())?;
    encode_in_order(evs, redactor, |tails| {
        w.insert(&tails)?;
        if let Some(t) = ticker.as_deref_mut() {
            t.add(tails.rows.len() as u64);
        }
        Ok(())
    })?;
    Ok(w.out)
}

/// Inserts encoded events after a session's head, in order: each one's seq and link, its
/// bytes put together from the head written here and the encoded tail. A full chunk is stored
/// by one multi-row statement, a shorter one row by row.
struct ChainWriter<'c> {
    conn: &'c Connection,
    insert: rusqlite::CachedStatement<'c>,
    session: &'c str,
    first: u64,
    prev: Hash32,
    /// The bytes of the events at hand, one after the other.
    raw: Vec<u8>,
    /// Where each of them ends in `raw`, with its link (prev, hash).
    rows: Vec<(usize, Hash32, Hash32)>,
    out: Vec<Appended>,
}

/// The statement that stores [`CHUNK`] rows at once: the session is `?1`, row `r`'s columns
/// `?(2 + 6r)` to `?(7 + 6r)`.
fn insert_chunk_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let rows: Vec<String> = (0..CHUNK)
            .map(|r| {
                let b = 2 + 6 * r;
                format!(
                    "(?1, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                    b,
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        format!(
            "INSERT INTO events (session, seq, ts, kind, prev, hash, raw) VALUES {}",
            rows.join(", ")
        )
    })
}

impl<'c> ChainWriter<'c> {
    fn at_head(conn: &'c Connection, session: &'c str, n: usize) -> Result<ChainWriter<'c>> {
        let (first, prev) = head_in(conn, session)?;
        Ok(ChainWriter {
            conn,
            insert: conn.prepare_cached(INSERT_EVENT)?,
            session,
            first,
            prev,
            raw: Vec::with_capacity(CHUNK * 1024),
            rows: Vec::with_capacity(CHUNK),
            out: Vec::with_capacity(n),
        })
    }

    fn insert(&mut self, tails: &Tails) -> Result<()> {
        // Every event's bytes and link first (the chain in order), then the rows.
        self.raw.clear();
        self.rows.clear();
        for row in tails.rows() {
            let seq = self.first + (self.out.len() + self.rows.len()) as u64;
            let start = self.raw.len();
            canonical::write_head(&mut self.raw, FORMAT_VERSION, self.session, seq);
            self.raw.extend_from_slice(row.tail);
            let hash = link_hash(&self.prev, &self.raw[start..]);
            self.rows.push((self.raw.len(), self.prev, hash));
            self.prev = hash;
        }
        let first = self.first + self.out.len() as u64;
        if self.rows.len() == CHUNK {
            let mut st = self.conn.prepare_cached(insert_chunk_sql())?;
            st.raw_bind_parameter(1, self.session)?;
            let mut start = 0;
            for (r, (row, &(end, prev, hash))) in tails.rows().zip(&self.rows).enumerate() {
                let b = 2 + 6 * r;
                st.raw_bind_parameter(b, (first + r as u64) as i64)?;
                st.raw_bind_parameter(b + 1, ToSqlOutput::Borrowed(ValueRef::Text(row.ts)))?;
                st.raw_bind_parameter(b + 2, row.kind.as_str())?;
                st.raw_bind_parameter(b + 3, &prev[..])?;
                st.raw_bind_parameter(b + 4, &hash[..])?;
                st.raw_bind_parameter(b + 5, &self.raw[start..end])?;
                start = end;
            }
            st.raw_execute()?;
        } else {
            let mut start = 0;
            for (r, (row, &(end, prev, hash))) in tails.rows().zip(&self.rows).enumerate() {
                self.insert.execute(params![
                    self.session,
                    (first + r as u64) as i64,
                    ToSqlOutput::Borrowed(ValueRef::Text(row.ts)),
                    row.kind.as_str(),
                    &prev[..],
                    &hash[..],
                    &self.raw[start..end]
                ])?;
                start = end;
            }
        }
        for (r, &(_, _, hash)) in self.rows.iter().enumerate() {
            self.out.push(Appended {
                seq: first + r as u64,
                hash,
            });
        }
        Ok(())
    }
}

/// Appends `batches` to a session in order, one transaction each (see
/// [`Store::append_batches`]): while a batch is inserted and committed on this thread, the next
/// one is redacted and encoded on others. A batch's tails do not depend on its seqs, so another
/// writer appending in between changes nothing.
pub(super) fn append_batches_in<I>(
    store: &Store,
    session: &str,
    batches: I,
    redactor: &Redactor,
    mut committed: impl FnMut(&[Appended]) -> Result<()>,
) -> Result<()>
where
    I: Iterator<Item = Vec<NewEvent>> + Send,
{
    // One batch encoded ahead, no more: memory stays at two batches.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<Tails>)>(1);
    std::thread::scope(|sc| {
        sc.spawn(move || {
            for batch in batches {
                let n = batch.len();
                let mut encoded = Vec::with_capacity(n.div_ceil(CHUNK));
                let _ = encode_in_order(batch, Some(redactor), |t| {
                    encoded.push(t);
                    Ok(())
                });
                if tx.send((n, encoded)).is_err() {
                    break; // the writer stopped
                }
            }
        });
        // Leaving by an error drops `rx`: the encoder stops after the batch at hand.
        for (n, encoded) in rx {
            let out = store.write_tx(|w| {
                let mut cw = ChainWriter::at_head(&w.tx, session, n)?;
                for t in &encoded {
                    cw.insert(t)?;
                }
                Ok(cw.out)
            })?;
            committed(&out)?;
        }
        Ok(())
    })
}

/// Events redacted and encoded without their seq: for each, its timestamp's text and the
/// canonical bytes after its seq ([`canonical::write_tail`]), all in one buffer.
#[derive(Default)]
struct Tails {
    bytes: Vec<u8>,
    rows: Vec<TailRow>,
}

struct TailRow {
    kind: Kind,
    /// `bytes[start..ts_end]` is the timestamp, `bytes[ts_end..end]` the tail.
    start: usize,
    ts_end: usize,
    end: usize,
}

/// One encoded event of [`Tails`].
struct TailRef<'a> {
    kind: &'a Kind,
    ts: &'a [u8],
    tail: &'a [u8],
}

impl Tails {
    /// Redacts an event and appends its timestamp and tail.
    fn push(&mut self, ev: NewEvent, redactor: Option<&Redactor>) {
        let mut data = ev.data;
        let redactions = match redactor {
            Some(r) => r.redact_value(&mut data),
            None => Vec::new(),
        };
        let ts = format_ts(ev.ts);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(ts.as_bytes());
        let ts_end = self.bytes.len();
        canonical::write_tail(
            &mut self.bytes,
            &canonical::Tail {
                ts: &ts,
                kind: &ev.kind,
                source: &ev.source,
                env: ev.env.as_deref(),
                redactions: &redactions,
                data: &data,
            },
        );
        self.rows.push(TailRow {
            kind: ev.kind,
            start,
            ts_end,
            end: self.bytes.len(),
        });
    }

    fn rows(&self) -> impl Iterator<Item = TailRef<'_>> {
        self.rows.iter().map(|r| TailRef {
            kind: &r.kind,
            ts: &self.bytes[r.start..r.ts_end],
            tail: &self.bytes[r.ts_end..r.end],
        })
    }

    fn of(chunk: Vec<NewEvent>, redactor: Option<&Redactor>) -> Tails {
        let mut t = Tails {
            bytes: Vec::with_capacity(chunk.len() * 640),
            rows: Vec::with_capacity(chunk.len()),
        };
        for ev in chunk {
            t.push(ev, redactor);
        }
        t
    }
}

/// Batches at least this long are redacted and encoded on several threads (redaction is most
/// of an append's cost); the chain itself is still built in order on the caller's thread.
pub(super) const PARALLEL_MIN: usize = 256;

/// The unit of work of the encoding threads, and of the writer taking their output in order.
const CHUNK: usize = 32;

/// Redacts and encodes `evs` and hands them to `sink` in order, a chunk at a time.
///
/// Long batches are encoded on worker threads while `sink` (the inserts, on the caller's
/// thread) takes the chunks that are done: the inserts of the first chunks overlap the
/// redaction of the later ones. When the next chunk in order is not done yet, the caller's
/// thread encodes one itself instead of waiting. An error from `sink` stops the workers and is
/// returned; a panic while encoding is raised on the caller's thread.
fn encode_in_order(
    evs: Vec<NewEvent>,
    redactor: Option<&Redactor>,
    mut sink: impl FnMut(Tails) -> Result<()>,
) -> Result<()> {
    let workers = if evs.len() < PARALLEL_MIN {
        0
    } else {
        encoding_threads() - 1
    };
    let mut chunks = Vec::with_capacity(evs.len().div_ceil(CHUNK));
    let mut it = evs.into_iter();
    loop {
        let chunk: Vec<NewEvent> = it.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    if workers == 0 {
        for chunk in chunks {
            sink(Tails::of(chunk, redactor))?;
        }
        return Ok(());
    }
    let n = chunks.len();
    let work = Work {
        todo: Mutex::new(chunks.into_iter().enumerate().collect()),
        done: Mutex::new((0..n).map(|_| None).collect()),
        ready: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    std::thread::scope(|sc| {
        for _ in 0..workers {
            sc.spawn(|| work.run(redactor));
        }
        // However the writer leaves (an error, a panic), the workers stop after their chunk.
        let _stop = StopOnDrop(&work.stop);
        for k in 0..n {
            let tails = work.wait_for(k, redactor);
            sink(tails)?;
        }
        Ok(())
    })
}

/// The chunks of one batch being encoded by several threads.
struct Work {
    /// Chunks nobody has started, lowest index first.
    todo: Mutex<VecDeque<(usize, Vec<NewEvent>)>>,
    /// Encoded chunks by index, until the writer takes them.
    done: Mutex<Vec<Option<Encoded>>>,
    /// Signalled when a chunk is put into `done`.
    ready: Condvar,
    /// Set when the writer has stopped: no more chunks are started.
    stop: AtomicBool,
}

/// A chunk's output: its tails, or the panic that encoding it raised.
enum Encoded {
    Tails(Tails),
    Panicked(Box<dyn std::any::Any + Send>),
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A lock whose holder panicked is still usable here: the data under it is only ever replaced
/// whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Work {
    /// Takes the next chunk nobody has started.
    fn claim(&self) -> Option<(usize, Vec<NewEvent>)> {
        if self.stop.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.todo).pop_front()
    }

    fn encode(chunk: Vec<NewEvent>, redactor: Option<&Redactor>) -> Encoded {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Tails::of(chunk, redactor)))
        {
            Ok(t) => Encoded::Tails(t),
            Err(p) => Encoded::Panicked(p),
        }
    }

    fn put(&self, i: usize, e: Encoded) {
        lock(&self.done)[i] = Some(e);
        self.ready.notify_all();
    }

    /// A worker: encodes chunks until none is left or the writer stopped.
    fn run(&self, redactor: Option<&Redactor>) {
        while let Some((i, chunk)) = self.claim() {
            self.put(i, Work::encode(chunk, redactor));
        }
    }

    /// The writer: chunk `k`'s tails, encoding other chunks while it is not done.
    fn wait_for(&self, k: usize, redactor: Option<&Redactor>) -> Tails {
        let encoded = loop {
            if let Some(e) = lock(&self.done)[k].take() {
                break e;
            }
            match self.claim() {
                Some((i, chunk)) if i == k => break Work::encode(chunk, redactor),
                Some((i, chunk)) => self.put(i, Work::encode(chunk, redactor)),
                None => {
                    let mut done = self
                        .ready
                        .wait_while(lock(&self.done), |d| d[k].is_none())
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(e) = done[k].take() {
                        break e;
                    }
                }
            }
        };
        match encoded {
            Encoded::Tails(t) => t,
            Encoded::Panicked(p) => std::panic::resume_unwind(p),
        }
    }
}

/// How many threads encode a long batch (the caller's included): asked once per process (it
/// reads cgroup files on Linux), not once per batch.
fn encoding_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(1)
    })
}
