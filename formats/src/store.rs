//! The SQLite store: sessions, events (hash-chained), checkpoints.
//!
//! - WAL mode with `synchronous=FULL`: an append is acknowledged only after its COMMIT returned,
//!   which on this setting means it is on disk.
//! - The database file is created 0600 in a 0700 directory before SQLite opens it; SQLite gives
//!   the `-wal` and `-shm` files the mode of the database file.
//! - Appends run in `BEGIN IMMEDIATE` transactions: the head of the session is read and the new
//!   event inserted under the write lock, so parallel writers (hooks run in parallel) form one
//!   linear chain. `(session, seq)` is the primary key, so a fork cannot be stored.
//! - Waiting for the lock is bounded (`busy_timeout`); past it the caller gets [`Error::Busy`].
//!
//! Split by concern: `open` (creating, configuring, migrating, the WAL), `append` (redaction,
//! encoding and chaining of new events), `tx` ([`WriteTx`]), `read` (sessions, raw rows,
//! search), `checkpoints`, `writers` (live recorders and the sealing of dead ones), `pg` (the
//! team store).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use crate::chain::Hash32;
use crate::checkpoint::session_checkpoint_data;
use crate::error::{Error, Result};
use crate::event::{Event, Kind, NewEvent};
use crate::keys::Keys;
use crate::progress::{Progress, Ticker};
use crate::redact::Redactor;

mod append;
mod checkpoints;
mod open;
pub mod pg;
mod read;
mod tx;
mod writers;

pub(crate) use append::{INSERT_EVENT, RowBatch, insert_session};
use append::{append_batches_in, append_in, append_in_with, events_in, head_in, statement_in};
pub(crate) use read::RowReader;
pub use read::SessionStatus;
pub use tx::WriteTx;
pub use writers::process_start_token;

const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql")];

/// Default bound on waiting for another writer.
pub const DEFAULT_BUSY_MS: u64 = 5_000;
/// How long SQLite itself waits inside one statement before [`Store`]'s own retry loop.
const SQLITE_BUSY_MS: u64 = 20;

/// A session as the store lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionRow {
    pub id: String,
    /// The machine the session was recorded on (team store only; None in a local store).
    pub host: Option<String>,
    pub label: Option<String>,
    pub agent: Option<String>,
    pub home_env: Option<String>,
    pub started: String,
    pub ended: Option<String>,
    pub events: u64,
}

/// What a new session starts with.
#[derive(Debug, Clone, Default)]
pub struct SessionMeta {
    /// A fixed id (tests, imports); a random one otherwise.
    pub id: Option<String>,
    pub label: Option<String>,
    pub agent: Option<String>,
    pub home_env: Option<String>,
    /// The agent's own session id (hooks map it to ours).
    pub external_id: Option<String>,
}

/// A checkpoint row: `(no, body bytes, sig)`.
pub type CheckpointRow = (u64, Vec<u8>, String);
/// One signing key's checkpoints: its key id (empty in a local store) and its rows in order.
pub type CheckpointChain = (String, Vec<CheckpointRow>);

/// Where an appended event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: Hash32,
}

/// An event row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub prev: Hash32,
    pub hash: Hash32,
    pub raw: Vec<u8>,
}

impl StoredEvent {
    pub fn event(&self) -> Result<Event> {
        Ok(Event::from_bytes(&self.raw)?)
    }
}

pub struct Store {
    backend: Backend,
    path: PathBuf,
    busy_ms: u64,
    writable: bool,
}

/// Where a store's rows are: a local SQLite file, or the team's PostgreSQL server (read-only
/// through this type; [`pg::Pusher`] writes there).
enum Backend {
    Sqlite(Connection),
    Postgres(Box<pg::PgStore>),
}

/// A writer closing the store leaves at most this much WAL behind (see [`Store::trim_wal`]).
pub const WAL_TRIM_BYTES: u64 = 512 * 1024;

impl Drop for Store {
    fn drop(&mut self) {
        if self.writable {
            let _ = self.trim_wal(WAL_TRIM_BYTES);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub(crate) fn to_hash(v: Vec<u8>) -> Hash32 {
    let mut h = [0u8; 32];
    if v.len() == 32 {
        h.copy_from_slice(&v);
    }
    h
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

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A short sleep between lock attempts: grows to ~2 ms, with jitter from the clock's low bits
/// so that competing processes do not retry in lockstep.
fn jitter_us(tries: u32) -> u64 {
    let base = 100u64.saturating_mul(u64::from(tries.min(20)));
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) % 500)
        .unwrap_or(0);
    base + noise
}

fn map_busy(e: rusqlite::Error, ms: u64) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            Error::Busy(ms)
        }
        _ => Error::Sqlite(e),
    }
}

/// The session `name` names among `ids`, the sessions whose id is `name` or starts with it:
/// the exact id, else the only candidate; none or several is an error. Both backends resolve
/// names by this rule.
pub(crate) fn pick_session(name: &str, ids: Vec<String>) -> Result<String> {
    if ids.iter().any(|i| i == name) {
        return Ok(name.to_string());
    }
    match ids.len() {
        0 => Err(Error::NoSuchSession(name.to_string())),
        1 => Ok(ids.into_iter().next().unwrap_or_default()),
        _ => Err(Error::AmbiguousSession(name.to_string(), ids.join(", "))),
    }
}

/// A fresh random session id: 16 hex digits.
pub fn new_session_id() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

impl Store {
    /// Opens the team store on PostgreSQL for reading (see [`pg`]).
    pub fn open_postgres(url: &str) -> Result<Store> {
        let pg = pg::PgStore::open(url)?;
        Ok(Store {
            path: PathBuf::from(pg.shown_url()),
            backend: Backend::Postgres(Box::new(pg)),
            busy_ms: DEFAULT_BUSY_MS,
            writable: false,
        })
    }

    /// The SQLite connection; an error on the team store, which is written only by a push.
    fn conn(&self) -> Result<&Connection> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(c),
            Backend::Postgres(p) => Err(Error::Invalid(format!(
                "{} is the team store: it is written by `flightlog push`, not by this command",
                p.shown_url()
            ))),
        }
    }

    fn remote(&self) -> Option<&pg::PgStore> {
        match &self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sqlite(_) => None,
        }
    }

    /// Whether this is the team store on PostgreSQL.
    pub fn is_remote(&self) -> bool {
        self.remote().is_some()
    }

    /// The path of a local store; for the team store, its URL without the password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bounds what a reading connection keeps resident: at most `mmap_bytes` of the file
    /// mapped and `cache_kib` KiB of SQLite page cache. Read-only stores map the whole file by
    /// default (fastest for one pass, as `verify` makes); a long-lived reader such as the
    /// replay viewer would then show the whole store in its RSS.
    pub fn set_read_memory(&self, mmap_bytes: u64, cache_kib: u64) -> Result<()> {
        if self.is_remote() {
            return Ok(());
        }
        self.conn()?.execute_batch(&format!(
            "PRAGMA mmap_size = {mmap_bytes}; PRAGMA cache_size = -{cache_kib};"
        ))?;
        Ok(())
    }

    /// Bounds how long a writer waits for the lock.
    pub fn set_busy_timeout(&mut self, ms: u64) -> Result<()> {
        self.busy_ms = ms;
        self.conn()?
            .busy_timeout(std::time::Duration::from_millis(ms.min(SQLITE_BUSY_MS)))?;
        Ok(())
    }

    /// Runs `f` in a write transaction (the bounded lock wait of [`Store::immediate`]).
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = self.immediate()?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
        Ok(out)
    }

    /// Begins a write transaction, waiting at most `busy_ms` for the lock.
    ///
    /// SQLite's own busy handler backs off up to 100 ms between tries, which lets a waiting
    /// writer starve while others keep taking the lock; it also returns some BUSY variants
    /// (WAL recovery) without waiting. So SQLite waits only briefly here and this loop retries
    /// with short, jittered sleeps until the deadline.
    fn immediate(&self) -> Result<rusqlite::Transaction<'_>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(self.busy_ms);
        let mut tries = 0u32;
        loop {
            match rusqlite::Transaction::new_unchecked(self.conn()?, TransactionBehavior::Immediate)
            {
                Ok(tx) => return Ok(tx),
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    tries = tries.wrapping_add(1);
                    std::thread::sleep(std::time::Duration::from_micros(jitter_us(tries)));
                }
                Err(e) => return Err(map_busy(e, self.busy_ms)),
            }
        }
    }

    /// Creates a session row. The caller appends its `session_start` event.
    pub fn create_session(&self, meta: &SessionMeta, started: DateTime<Utc>) -> Result<String> {
        self.write(|tx| insert_session(tx, meta, started))
    }

    /// Finds the session an agent's own session id maps to, creating it (atomically) if new.
    /// Returns the id and whether it was created.
    pub fn session_for_external(
        &self,
        meta: &SessionMeta,
        started: DateTime<Utc>,
    ) -> Result<(String, bool)> {
        self.write_tx(|w| match w.find_external(meta)? {
            Some(id) => Ok((id, false)),
            None => Ok((insert_session(&w.tx, meta, started)?, true)),
        })
    }

    /// Runs `f` in one write transaction (one commit, one fsync), with the bounded lock wait.
    /// What `f` does is durable when this returns Ok, and nothing of it when it returns Err.
    pub fn write_tx<T>(&self, f: impl FnOnce(&WriteTx<'_>) -> Result<T>) -> Result<T> {
        let tx = self.immediate()?;
        let w = WriteTx { tx };
        let out = f(&w)?;
        w.tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
        Ok(out)
    }

    pub fn session_exists(&self, id: &str) -> Result<bool> {
        if let Some(pg) = self.remote() {
            return pg.session_exists(id);
        }
        Ok(self
            .conn()?
            .query_row("SELECT 1 FROM sessions WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Marks a session ended (metadata only; the `session_end` event is the evidence).
    pub fn mark_ended(&self, id: &str, ended: DateTime<Utc>) -> Result<()> {
        self.write_tx(|w| w.mark_ended(id, ended))
    }

    /// Appends one event durably; returns after COMMIT.
    pub fn append(&self, session: &str, ev: NewEvent, redactor: &Redactor) -> Result<Appended> {
        let mut out = self.append_batch(session, vec![ev], redactor)?;
        out.pop()
            .ok_or_else(|| Error::Invalid("append produced nothing".into()))
    }

    /// Appends several events in one transaction (group commit): all or none.
    pub fn append_batch(
        &self,
        session: &str,
        evs: Vec<NewEvent>,
        redactor: &Redactor,
    ) -> Result<Vec<Appended>> {
        let tx = self.immediate()?;
        let out = append_in(&tx, session, evs, Some(redactor))?;
        tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
        Ok(out)
    }

    /// Appends several batches to a session in order, each in its own transaction as
    /// [`Store::append_batch`] does; `committed` gets each batch's events once its commit has
    /// returned (durable). The next batch is redacted and encoded while the one before is
    /// inserted and committed, so a stream of batches is not held up by each one's fsync.
    /// Stops at the first error, or when `committed` returns one: the batches committed before
    /// stay.
    pub fn append_batches<I>(
        &self,
        session: &str,
        batches: I,
        redactor: &Redactor,
        committed: impl FnMut(&[Appended]) -> Result<()>,
    ) -> Result<()>
    where
        I: IntoIterator<Item = Vec<NewEvent>>,
        I::IntoIter: Send,
    {
        append_batches_in(self, session, batches.into_iter(), redactor, committed)
    }

    /// [`Store::append_batch`], reporting the events appended out of `evs.len()` (the commit
    /// comes after the last report).
    pub fn append_batch_with_progress(
        &self,
        session: &str,
        evs: Vec<NewEvent>,
        redactor: &Redactor,
        progress: &mut dyn Progress,
    ) -> Result<Vec<Appended>> {
        let mut ticker = Ticker::new(progress, 0, evs.len() as u64);
        let tx = self.immediate()?;
        let out = append_in_with(&tx, session, evs, Some(redactor), Some(&mut ticker))?;
        tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
        ticker.finish();
        Ok(out)
    }

    /// Appends a `checkpoint` event that signs everything before it in the session.
    pub fn append_session_checkpoint(
        &self,
        session: &str,
        keys: &Keys,
        ts: DateTime<Utc>,
    ) -> Result<Appended> {
        let tx = self.immediate()?;
        let st = statement_in(&tx, session)?;
        let data = session_checkpoint_data(&keys.signing, &st);
        let ev = NewEvent::new(ts, Kind::Checkpoint, "recorder", data);
        let mut out = append_in(&tx, session, vec![ev], None)?;
        tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
        out.pop()
            .ok_or_else(|| Error::Invalid("append produced nothing".into()))
    }

    /// The number of events in a session and the hash of the last one.
    pub fn head(&self, session: &str) -> Result<(u64, Hash32)> {
        if let Some(pg) = self.remote() {
            return pg.head(session);
        }
        head_in(self.conn()?, session)
    }

    /// Events of a session with `seq >= from`, at most `limit` of them, in order.
    pub fn events(&self, session: &str, from: u64, limit: u64) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        self.for_each_event_from(session, from, limit, |e| {
            out.push(e);
            true
        })?;
        Ok(out)
    }

    /// Streams a session's events in seq order; `f` returns false to stop.
    pub fn for_each_event(&self, session: &str, f: impl FnMut(StoredEvent) -> bool) -> Result<()> {
        self.for_each_event_from(session, 0, u64::MAX, f)
    }

    fn for_each_event_from(
        &self,
        session: &str,
        from: u64,
        limit: u64,
        f: impl FnMut(StoredEvent) -> bool,
    ) -> Result<()> {
        if let Some(pg) = self.remote() {
            return pg.for_each_event_from(session, from, limit, f);
        }
        events_in(self.conn()?, session, from, limit, f)
    }

    /// One event by seq.
    pub fn event(&self, session: &str, seq: u64) -> Result<Option<StoredEvent>> {
        Ok(self
            .events(session, seq, 1)?
            .into_iter()
            .find(|e| e.seq == seq))
    }

    /// Direct access for tests and tools that need raw SQL (tamper tests, benchmarks).
    ///
    /// # Panics
    /// On a store on PostgreSQL (tests and benchmarks know which store they opened).
    pub fn connection(&self) -> &Connection {
        match &self.backend {
            Backend::Sqlite(c) => c,
            Backend::Postgres(_) => panic!("connection() is for SQLite stores"),
        }
    }
}

/// Reads the data of a stored event as JSON, for callers that only need `data`.
pub fn event_data(raw: &[u8]) -> Option<Value> {
    Event::from_bytes(raw).ok().map(|e| e.data)
}

#[cfg(test)]
mod tests {
    use super::append::PARALLEL_MIN;
    use super::open::{FileId, wal_is_new};
    use super::*;
    use crate::{Kind, NewEvent, Redactor};
    use serde_json::json;
    use std::fs;

    fn wal_len(db: &Path) -> u64 {
        let mut p = db.as_os_str().to_owned();
        p.push("-wal");
        fs::metadata(PathBuf::from(p)).map(|m| m.len()).unwrap_or(0)
    }

    fn ts() -> DateTime<Utc> {
        "2026-04-25T10:00:00Z".parse().unwrap()
    }

    /// Exec events `from..from + n`, each with a bearer token to redact.
    fn bearer_events(from: usize, n: usize) -> Vec<NewEvent> {
        (from..from + n)
            .map(|i| {
                NewEvent::new(
                    ts(),
                    Kind::Exec,
                    "test",
                    json!({"i": i, "argv": ["curl", "-H", format!("Authorization: Bearer ghp_{i:036}")]}),
                )
            })
            .collect()
    }

    /// Session `s`'s rows: seq, stored bytes, hash.
    fn rows(s: &Store) -> Vec<(u64, Vec<u8>, Hash32)> {
        s.events("s", 0, u64::MAX / 2)
            .unwrap()
            .into_iter()
            .map(|e| (e.seq, e.raw, e.hash))
            .collect()
    }

    #[test]
    fn blob_borrows_a_blob_and_names_the_column_of_any_other_type() {
        use rusqlite::types::Type;
        let conn = Connection::open_in_memory().unwrap();
        let cases: [(&str, Option<Type>); 5] = [
            ("x'00ff'", None),
            ("x''", None),
            ("'text'", Some(Type::Text)),
            ("42", Some(Type::Integer)),
            ("NULL", Some(Type::Null)),
        ];
        for (value, wrong) in cases {
            let got = conn
                .query_row(&format!("SELECT 1, {value} AS col"), [], |r| {
                    blob(r, 1).map(<[u8]>::to_vec)
                })
                .map_err(|e| match e {
                    rusqlite::Error::InvalidColumnType(idx, name, ty) => (idx, name, ty),
                    other => panic!("{value}: {other}"),
                });
            match wrong {
                None => {
                    let want: Vec<u8> = conn
                        .query_row(&format!("SELECT {value}"), [], |r| r.get(0))
                        .unwrap();
                    assert_eq!(got, Ok(want), "{value}");
                }
                Some(ty) => assert_eq!(got, Err((1, "col".to_string(), ty)), "{value}"),
            }
        }
    }

    #[test]
    fn the_directory_is_synced_only_for_a_new_wal() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let id = |ino, born| Some(FileId { dev: 1, ino, born });
        let cases = [
            ("no WAL before: new", None, id(7, Some(t)), true),
            ("the same file", id(7, Some(t)), id(7, Some(t)), false),
            ("another inode", id(7, Some(t)), id(8, Some(t)), true),
            (
                "a reused inode, born later",
                id(7, Some(t)),
                id(7, Some(t + std::time::Duration::from_nanos(1))),
                true,
            ),
            (
                "no birth time kept: cannot tell",
                id(7, None),
                id(7, None),
                true,
            ),
            ("no WAL after", id(7, Some(t)), None, true),
        ];
        for (what, before, after, want) in cases {
            assert_eq!(wal_is_new(before, after), want, "{what}");
        }
    }

    /// The build leaves SQLite's per-process directory sync out (`.cargo/config.toml`): a
    /// commit costs one fsync. If this fails, the build lost the flag.
    #[test]
    fn sqlite_is_built_without_its_directory_sync() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("fl.db")).unwrap();
        let opts: Vec<String> = store
            .connection()
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert!(opts.iter().any(|o| o == "DISABLE_DIRSYNC"), "{opts:?}");
    }

    /// One process per event, as hooks write: the WAL must stay short instead of growing with
    /// every event (each opener reads all of it).
    #[test]
    fn short_lived_writers_keep_the_wal_short() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fl.db");
        let red = Redactor::new([7; 32]);
        let session = Store::open(&db)
            .unwrap()
            .create_session(&SessionMeta::default(), ts())
            .unwrap();
        let mut longest = 0;
        for i in 0..300 {
            let store = Store::open(&db).unwrap();
            let body = "x".repeat(2_000);
            store
                .append(
                    &session,
                    NewEvent::new(ts(), Kind::Note, "test", json!({"i": i, "body": body})),
                    &red,
                )
                .unwrap();
            drop(store);
            longest = longest.max(wal_len(&db));
        }
        // At most the threshold plus one event's pages.
        assert!(
            longest <= WAL_TRIM_BYTES + 256 * 1024,
            "the WAL reached {longest} bytes"
        );
        let store = Store::open_read_only(&db).unwrap();
        assert_eq!(store.head(&session).unwrap().0, 300);
    }

    /// What a guard reads before a call is stored ([`NewEvent::into_event`] of the redacted
    /// event), and what an export appends, is byte for byte what the store keeps at that seq.
    #[test]
    fn into_event_of_a_redacted_event_is_what_the_store_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let red = Redactor::new([7; 32]);
        let store = Store::open(&dir.path().join("fl.db")).unwrap();
        let meta = SessionMeta {
            id: Some("s".into()),
            ..Default::default()
        };
        store.create_session(&meta, ts()).unwrap();
        let mut cases = vec![
            NewEvent::new(ts(), Kind::Note, "test", json!({"text": "nothing secret"})),
            NewEvent::new(
                ts(),
                Kind::ToolCall,
                "hook:claude-code",
                json!({"command": "ls"}),
            )
            .with_env(Some("production".into())),
        ];
        cases.extend(bearer_events(0, 2));
        store.append_batch("s", cases.clone(), &red).unwrap();
        let stored = rows(&store);
        assert_eq!(stored.len(), cases.len());
        let mut redacted = 0;
        for (mut new, (seq, raw, _)) in cases.into_iter().zip(stored) {
            let reds = red.redact_value(&mut new.data);
            redacted += usize::from(!reds.is_empty());
            let placed = new.into_event("s", seq, reds);
            assert_eq!(crate::canonical::to_bytes(&placed), raw, "seq {seq}");
        }
        assert_eq!(redacted, 2, "the bearer events carry a secret each");
    }

    /// A batch long enough to be encoded on several threads stores exactly the bytes that
    /// appending its events one by one stores (same seqs, same chain, same redactions).
    #[test]
    fn a_parallel_batch_stores_the_same_chain_as_single_appends() {
        let dir = tempfile::tempdir().unwrap();
        let red = Redactor::new([7; 32]);
        let events = |n: usize| bearer_events(0, n);
        let n = PARALLEL_MIN * 3 + 7;
        let meta = SessionMeta {
            id: Some("s".into()),
            ..Default::default()
        };
        let a = Store::open(&dir.path().join("a.db")).unwrap();
        a.create_session(&meta, ts()).unwrap();
        a.append_batch("s", events(n), &red).unwrap();
        let b = Store::open(&dir.path().join("b.db")).unwrap();
        b.create_session(&meta, ts()).unwrap();
        for ev in events(n) {
            b.append("s", ev, &red).unwrap();
        }
        let (ra, rb) = (rows(&a), rows(&b));
        assert_eq!(ra.len(), n);
        assert!(ra == rb, "the parallel batch differs from single appends");
        assert!(
            !String::from_utf8_lossy(&ra[5].1).contains("ghp_"),
            "redacted"
        );
    }

    /// Batches appended as a stream (the next one encoded while one is committed) store the
    /// same rows as the same batches appended one call each; each batch is reported once
    /// committed, with its seqs; a writer appending between two batches of the stream takes
    /// its place in the chain, and the stream's later batches follow it.
    #[test]
    fn a_stream_of_batches_stores_what_one_call_per_batch_stores() {
        let dir = tempfile::tempdir().unwrap();
        let red = Redactor::new([7; 32]);
        let events = bearer_events;
        let sizes = [1, PARALLEL_MIN * 2 + 5, 3, PARALLEL_MIN + 1];
        let batches = || {
            let mut from = 0;
            sizes
                .iter()
                .map(|&n| {
                    from += n;
                    events(from - n, n)
                })
                .collect::<Vec<_>>()
        };
        let meta = SessionMeta {
            id: Some("s".into()),
            ..Default::default()
        };
        let a = Store::open(&dir.path().join("a.db")).unwrap();
        a.create_session(&meta, ts()).unwrap();
        for b in batches() {
            a.append_batch("s", b, &red).unwrap();
        }
        let b = Store::open(&dir.path().join("b.db")).unwrap();
        b.create_session(&meta, ts()).unwrap();
        let mut seen = Vec::new();
        b.append_batches("s", batches(), &red, |out| {
            seen.push(out.iter().map(|x| x.seq).collect::<Vec<_>>());
            Ok(())
        })
        .unwrap();
        let mut from = 0;
        let want: Vec<Vec<u64>> = sizes
            .iter()
            .map(|&n| {
                from += n as u64;
                (from - n as u64..from).collect()
            })
            .collect();
        assert_eq!(seen, want);
        let (ra, rb) = (rows(&a), rows(&b));
        assert_eq!(ra.len(), sizes.iter().sum::<usize>());
        assert!(ra == rb, "the stream differs from one call per batch");

        // Another writer between the stream's batches: its event takes the next seq.
        let c_path = dir.path().join("c.db");
        let c = Store::open(&c_path).unwrap();
        c.create_session(&meta, ts()).unwrap();
        let other = Store::open(&c_path).unwrap();
        let mut n = 0;
        c.append_batches("s", batches(), &red, |out| {
            n += 1;
            if n == 2 {
                let o = other
                    .append(
                        "s",
                        NewEvent::new(ts(), Kind::Note, "other", json!({})),
                        &red,
                    )
                    .unwrap();
                assert_eq!(o.seq, out[out.len() - 1].seq + 1);
            }
            Ok(())
        })
        .unwrap();
        let rc = rows(&c);
        assert_eq!(rc.len(), ra.len() + 1);
        let report = crate::verify::verify_store(
            &Store::open_read_only(&c_path).unwrap(),
            &crate::verify::StoreVerifyOptions {
                session: None,
                trust: crate::verify::Trust::default(),
                external: None,
            },
        )
        .unwrap();
        assert!(report.intact, "the chain with a writer in between verifies");
    }

    /// An error from the caller stops the stream: the batches committed before it stay, no
    /// later one is written.
    #[test]
    fn a_stream_stops_at_the_callers_error() {
        let dir = tempfile::tempdir().unwrap();
        let red = Redactor::new([7; 32]);
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let session = store.create_session(&SessionMeta::default(), ts()).unwrap();
        let batches = (0..5).map(|b| {
            (0..PARALLEL_MIN + 3)
                .map(|i| NewEvent::new(ts(), Kind::Note, "t", json!({"b": b, "i": i})))
                .collect::<Vec<_>>()
        });
        let mut calls = 0;
        let res = store.append_batches(&session, batches, &red, |_| {
            calls += 1;
            if calls == 2 {
                return Err(Error::Invalid("enough".into()));
            }
            Ok(())
        });
        assert!(matches!(res, Err(Error::Invalid(_))), "{res:?}");
        assert_eq!(calls, 2);
        assert_eq!(
            store.head(&session).unwrap().0,
            2 * (PARALLEL_MIN as u64 + 3)
        );
    }

    /// A reader in the middle of a transaction makes the trim give up at once, not wait.
    #[test]
    fn a_reader_makes_the_trim_give_up_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fl.db");
        let red = Redactor::new([7; 32]);
        let store = Store::open(&db).unwrap();
        let session = store.create_session(&SessionMeta::default(), ts()).unwrap();
        let evs = (0..200)
            .map(|i| {
                NewEvent::new(
                    ts(),
                    Kind::Note,
                    "t",
                    json!({"i": i, "b": "y".repeat(4_000)}),
                )
            })
            .collect();
        store.append_batch(&session, evs, &red).unwrap();
        let reader = Store::open_read_only(&db).unwrap();
        reader.connection().execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .connection()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        let started = std::time::Instant::now();
        assert!(!store.trim_wal(0).unwrap());
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        reader.connection().execute_batch("COMMIT").unwrap();
        drop(reader);
        assert!(store.trim_wal(0).unwrap());
        assert_eq!(wal_len(&db), 0);
    }
}
