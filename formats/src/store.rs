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

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use crate::chain::{GENESIS, Hash32, link_hash};
use crate::checkpoint::{
    SessionStatement, SignedCheckpoint, StoreCheckpoint, session_checkpoint_data, sign,
};
use crate::error::{Error, Result};
use crate::event::{Event, FORMAT_VERSION, Kind, NewEvent, format_ts};
use crate::keys::{Keys, check_private, ensure_private_dir, key_id};
use crate::merkle::MerkleBuilder;
use crate::progress::{Progress, Ticker};
use crate::redact::Redactor;

pub mod pg;

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

/// A fresh random session id: 16 hex digits.
pub fn new_session_id() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

impl Store {
    /// Opens (creating if needed) a store for reading and writing.
    pub fn open(path: &Path) -> Result<Store> {
        refuse_directory(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            ensure_private_dir(dir)?;
        }
        if !path.exists() {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        check_private(path)?;
        let wal_before = FileId::of(&side_file(path, "-wal"));
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let store = Store {
            backend: Backend::Sqlite(conn),
            path: path.to_path_buf(),
            busy_ms: DEFAULT_BUSY_MS,
            writable: true,
        };
        store.refuse_foreign()?;
        store.configure()?;
        store.migrate()?;
        // The WAL is open now, and no process deletes it while this connection holds the
        // database's shared lock: if it is not the file that was there before, its name is
        // made durable before this store acknowledges anything.
        if wal_is_new(wal_before, FileId::of(&side_file(path, "-wal"))) {
            sync_dir(path)?;
        }
        store.tighten_side_files();
        Ok(store)
    }

    /// Opens an existing store read-only, with SQLite's defensive settings.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        refuse_directory(path)?;
        if !path.exists() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such store"),
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
            false,
        )?;
        conn.busy_timeout(std::time::Duration::from_millis(DEFAULT_BUSY_MS))?;
        // Readers (verify, replay, export) stream whole sessions: map the file instead of a
        // read() and a copy per page. Writers keep SQLite's default (no mmap), so an I/O error
        // on write stays an error and never a SIGBUS.
        conn.execute_batch("PRAGMA mmap_size = 4294967296; PRAGMA cache_size = -65536;")?;
        let store = Store {
            backend: Backend::Sqlite(conn),
            path: path.to_path_buf(),
            busy_ms: DEFAULT_BUSY_MS,
            writable: false,
        };
        let version: i64 = store
            .conn()?
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: MIGRATIONS.len() as i64,
            });
        }
        if version == 0 {
            // A file that a first writer is creating right now, or one that is not a store.
            return Err(Error::Invalid(format!(
                "{} has no flightlog tables yet (being created, or not a flightlog store)",
                path.display()
            )));
        }
        Ok(store)
    }

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

    /// If the WAL file is longer than `over` bytes, copies it into the database and truncates
    /// it (`wal_checkpoint(TRUNCATE)`), without waiting: a reader or writer in the way makes it
    /// give up until next time. Returns whether it truncated.
    ///
    /// Why: the store is written by many short-lived processes (one hook per event) that keep
    /// the WAL on close. A process that opens the store rebuilds the WAL index by reading and
    /// checksumming the whole WAL, and it cannot know what an earlier process checkpointed, so
    /// without this the WAL grows with every event and every hook gets slower. Every writer
    /// calls it when it closes the store (see `Drop`).
    pub fn trim_wal(&self, over: u64) -> Result<bool> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let len = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if len <= over {
            return Ok(false);
        }
        self.conn()?.busy_timeout(std::time::Duration::ZERO)?;
        let res = self
            .conn()?
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        self.conn()?.busy_timeout(std::time::Duration::from_millis(
            self.busy_ms.min(SQLITE_BUSY_MS),
        ))?;
        match res {
            Ok(busy) => Ok(busy == 0),
            Err(e) if is_busy(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Bounds how long a writer waits for the lock.
    pub fn set_busy_timeout(&mut self, ms: u64) -> Result<()> {
        self.busy_ms = ms;
        self.conn()?
            .busy_timeout(std::time::Duration::from_millis(ms.min(SQLITE_BUSY_MS)))?;
        Ok(())
    }

    fn configure(&self) -> Result<()> {
        self.conn()?
            .busy_timeout(std::time::Duration::from_millis(SQLITE_BUSY_MS))?;
        // A new database gets 16 KiB pages (before WAL is on, the only time it can): events
        // are a few hundred bytes to a few KiB, and WITHOUT ROWID rows read best when a page
        // holds at least 20 of them.
        if fs::metadata(&self.path)
            .map(|m| m.len() == 0)
            .unwrap_or(false)
        {
            self.conn()?.execute_batch("PRAGMA page_size = 16384;")?;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(self.busy_ms);
        let mut tries = 0u32;
        let mode: String = loop {
            match self
                .conn()?
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            {
                Ok(m) => break m,
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    tries = tries.wrapping_add(1);
                    std::thread::sleep(std::time::Duration::from_micros(jitter_us(tries)));
                }
                Err(e) => return Err(map_busy(e, self.busy_ms)),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Invalid(format!(
                "could not switch the store to WAL mode (got {mode})"
            )));
        }
        self.conn()?.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA trusted_schema=OFF;",
        )?;
        self.conn()?
            .set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        // Short-lived writers (one hook process per event) must not checkpoint and delete the
        // WAL on close: that costs four extra fsyncs, and recreating the WAL on the next open
        // costs a directory fsync. Checkpoints still run as the WAL grows (every 1,000 pages),
        // and a committed transaction is durable in the WAL either way.
        self.conn()?.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        Ok(())
    }

    fn tighten_side_files(&self) {
        for suffix in ["-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let p = PathBuf::from(p);
            if let Ok(m) = fs::metadata(&p)
                && m.permissions().mode() & 0o077 != 0
            {
                let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o600));
            }
        }
    }

    /// Refuses a SQLite database of another application: one that has tables but not our
    /// schema version. Nothing is written into it (not even the journal mode).
    fn refuse_foreign(&self) -> Result<()> {
        // One statement, so one consistent read: a first writer creating the tables in another
        // process commits them together with the schema version, and this never sees one
        // without the other (two statements could see the version before and the tables after).
        let (version, tables): (i64, i64) = self.conn()?.query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), \
                    (SELECT count(*) FROM sqlite_master WHERE type = 'table')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if version == 0 && tables > 0 {
            return Err(Error::Invalid(format!(
                "{} is a SQLite database of another application ({tables} table{} and no \
                 flightlog schema); refusing to write into it (choose another --db)",
                self.path.display(),
                if tables == 1 { "" } else { "s" }
            )));
        }
        Ok(())
    }

    fn migrate(&self) -> Result<()> {
        let version: i64 = self
            .conn()?
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: MIGRATIONS.len() as i64,
            });
        }
        if version == MIGRATIONS.len() as i64 {
            return Ok(());
        }
        let tx = self.immediate()?;
        // Re-read under the lock: another process may have migrated meanwhile.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        }
        tx.commit()?;
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

    /// Like [`Store::session_for_external`], but a newly created session gets `start` as its
    /// seq 0 in the same transaction, so no concurrent writer can land before it.
    pub fn session_for_external_with_start(
        &self,
        meta: &SessionMeta,
        start: NewEvent,
        redactor: &Redactor,
    ) -> Result<(String, bool)> {
        self.write_tx(|w| w.session_for_external_with_start(meta, start, redactor))
    }

    /// Creates a session and appends its `session_start` event in one transaction.
    pub fn create_session_with_start(
        &self,
        meta: &SessionMeta,
        start: NewEvent,
        redactor: &Redactor,
    ) -> Result<String> {
        self.write_tx(|w| {
            let id = insert_session(&w.tx, meta, start.ts)?;
            append_in(&w.tx, &id, vec![start], Some(redactor))?;
            Ok(id)
        })
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
        self.write(|tx| {
            tx.execute(
                "UPDATE sessions SET ended = ?2 WHERE id = ?1",
                params![id, format_ts(ended)],
            )
            .map(|_| ())
            .map_err(Error::from)
        })?;
        Ok(())
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
                id: r.get(0)?,
                host: None,
                label: r.get(1)?,
                agent: r.get(2)?,
                home_env: r.get(3)?,
                started: r.get(4)?,
                ended: r.get(5)?,
                events: r.get::<_, i64>(6)? as u64,
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
        let mut stmt = self.conn()?.prepare(
            "SELECT DISTINCT session FROM events WHERE session NOT IN (SELECT id FROM sessions)",
        )?;
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
        if ids.iter().any(|i| i == name) {
            return Ok(name.to_string());
        }
        match ids.len() {
            0 => Err(Error::NoSuchSession(name.to_string())),
            1 => Ok(ids.into_iter().next().unwrap_or_default()),
            _ => Err(Error::AmbiguousSession(name.to_string(), ids.join(", "))),
        }
    }

    /// Remembers which seq a tool call id first appeared at (for joining pre and post events).
    pub fn remember_call(&self, session: &str, call_id: &str, seq: u64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO calls (session, call_id, seq) VALUES (?1, ?2, ?3)",
                params![session, call_id, seq as i64],
            )
            .map(|_| ())
            .map_err(Error::from)
        })?;
        Ok(())
    }

    pub fn call_seq(&self, session: &str, call_id: &str) -> Result<Option<u64>> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT seq FROM calls WHERE session = ?1 AND call_id = ?2",
                params![session, call_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|s| s as u64))
    }

    /// A store checkpoint signed now but not stored (for a store opened read-only): it
    /// continues the stored checkpoints (next number, previous signature) without writing.
    pub fn unsaved_checkpoint(&self, keys: &Keys, ts: DateTime<Utc>) -> Result<SignedCheckpoint> {
        let (checkpoint, _, sig) = next_checkpoint(self.conn()?, keys, ts)?;
        Ok(SignedCheckpoint { checkpoint, sig })
    }

    /// What a checkpoint would say about a session now (count, head, Merkle root).
    pub fn session_statement(&self, session: &str) -> Result<SessionStatement> {
        statement_in(self.conn()?, session)
    }

    /// Writes a store-wide checkpoint over every session, chained to the previous one.
    pub fn checkpoint(&self, keys: &Keys, ts: DateTime<Utc>) -> Result<SignedCheckpoint> {
        let tx = self.immediate()?;
        let (checkpoint, body, sig) = next_checkpoint(&tx, keys, ts)?;
        tx.execute(
            "INSERT INTO checkpoints (no, body, sig) VALUES (?1, ?2, ?3)",
            params![checkpoint.no as i64, body, sig],
        )?;
        tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
        Ok(SignedCheckpoint { checkpoint, sig })
    }

    /// Raw checkpoint rows `(no, body bytes, sig)`, in order.
    pub fn checkpoint_rows(&self) -> Result<Vec<(u64, Vec<u8>, String)>> {
        if self.is_remote() {
            return Err(Error::Invalid(
                "the team store keeps one checkpoint chain per signing key (checkpoint_chains)"
                    .into(),
            ));
        }
        let mut stmt = self
            .conn()?
            .prepare("SELECT no, body, sig FROM checkpoints ORDER BY no")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The newest checkpoint, parsed.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        let Some((_, body, sig)) = self.checkpoint_rows()?.pop() else {
            return Ok(None);
        };
        let checkpoint: StoreCheckpoint = serde_json::from_slice(&body)?;
        Ok(Some(SignedCheckpoint { checkpoint, sig }))
    }

    /// Registers a live writer (a recorder) of a session.
    pub fn register_writer(&self, session: &str, pid: u32, ts: DateTime<Utc>) -> Result<()> {
        self.write(|tx| tx
            .execute(
                "INSERT OR REPLACE INTO writers (session, pid, boot, started) VALUES (?1, ?2, ?3, ?4)",
                params![session, pid, process_start_token(pid), format_ts(ts)],
            )
            .map(|_| ())
            .map_err(Error::from))?;
        Ok(())
    }

    pub fn unregister_writer(&self, session: &str, pid: u32) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM writers WHERE session = ?1 AND pid = ?2",
                params![session, pid],
            )
            .map(|_| ())
            .map_err(Error::from)
        })?;
        Ok(())
    }

    /// Finds writers that died without closing their session and seals each such session with
    /// a `gap` event (and a `session_end`). Returns the sealed session ids.
    pub fn seal_dead_writers(
        &self,
        redactor: &Redactor,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let writers: Vec<(String, u32, String, String)> = {
            let mut stmt = self
                .conn()?
                .prepare("SELECT session, pid, boot, started FROM writers")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut sealed = Vec::new();
        for (session, pid, boot, started) in writers {
            if process_start_token(pid) == boot && !boot.is_empty() {
                continue; // still alive
            }
            let tx = self.immediate()?;
            // Re-check under the lock: another process may have sealed it already.
            let still: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM writers WHERE session = ?1 AND pid = ?2",
                    params![session, pid],
                    |r| r.get(0),
                )
                .optional()?;
            if still.is_none() {
                tx.commit()?;
                continue;
            }
            let (count, _) = head_in(&tx, &session)?;
            let gap = NewEvent::new(
                now,
                Kind::Gap,
                "recorder",
                serde_json::json!({
                    "reason": "writer_died",
                    "detail": format!(
                        "the recorder (pid {pid}, started {started}) stopped without closing the \
                         session; events it had not yet committed are lost, the {count} events \
                         before this one are intact"
                    ),
                    "pid": pid,
                    "last_seq": count.checked_sub(1),
                }),
            );
            let end = NewEvent::new(
                now,
                Kind::SessionEnd,
                "recorder",
                serde_json::json!({"reason": "writer_died"}),
            );
            append_in(&tx, &session, vec![gap, end], Some(redactor))?;
            tx.execute(
                "DELETE FROM writers WHERE session = ?1 AND pid = ?2",
                params![session, pid],
            )?;
            tx.execute(
                "UPDATE sessions SET ended = ?2 WHERE id = ?1 AND ended IS NULL",
                params![session, format_ts(now)],
            )?;
            tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
            sealed.push(session);
        }
        Ok(sealed)
    }

    /// Every chain of store checkpoints `(key id, rows)`: one in a local store (its key id is
    /// empty: the rows name their key), one per signing key in the team store.
    pub fn checkpoint_chains(&self) -> Result<Vec<CheckpointChain>> {
        if let Some(pg) = self.remote() {
            return pg.checkpoint_chains();
        }
        let rows = self.checkpoint_rows()?;
        Ok(if rows.is_empty() {
            Vec::new()
        } else {
            vec![(String::new(), rows)]
        })
    }

    /// The team store's host keys `(host, key id, public key hex)`, first-seen first per host;
    /// none in a local store (its keys are in its key directory).
    pub fn host_keys(&self) -> Result<Vec<(String, String, String)>> {
        match self.remote() {
            Some(pg) => pg.host_keys(),
            None => Ok(Vec::new()),
        }
    }

    /// One session's row (label, agent, home, start; `events` and `ended` are not filled),
    /// found by key without counting events.
    pub fn session_meta(&self, id: &str) -> Result<Option<SessionRow>> {
        if let Some(pg) = self.remote() {
            return pg.session_meta(id);
        }
        Ok(self
            .conn()?
            .prepare_cached(
                "SELECT id, label, agent, home_env, started FROM sessions WHERE id = ?1",
            )?
            .query_row([id], |r| {
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
            })
            .optional()?)
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
                Ok((
                    SessionRow {
                        id: r.get(0)?,
                        host: None,
                        label: r.get(1)?,
                        agent: r.get(2)?,
                        home_env: r.get(3)?,
                        started: r.get(4)?,
                        ended: None,
                        events: 0,
                    },
                    r.get(5)?,
                ))
            })
            .optional()?)
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

/// An open write transaction (see [`Store::write_tx`]).
pub struct WriteTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl WriteTx<'_> {
    /// Finds the session an agent's own session id maps to, or creates it with `start` as its
    /// seq 0. Returns the id and whether it was created.
    pub fn session_for_external_with_start(
        &self,
        meta: &SessionMeta,
        start: NewEvent,
        redactor: &Redactor,
    ) -> Result<(String, bool)> {
        if let Some(id) = self.find_external(meta)? {
            return Ok((id, false));
        }
        let id = insert_session(&self.tx, meta, start.ts)?;
        append_in(&self.tx, &id, vec![start], Some(redactor))?;
        Ok((id, true))
    }

    /// The newest session an agent's own session id maps to.
    fn find_external(&self, meta: &SessionMeta) -> Result<Option<String>> {
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

/// A token that identifies one process instance (pid + its start time from /proc), so a
/// reused pid is not mistaken for the original writer. Empty if the process does not exist.
pub fn process_start_token(pid: u32) -> String {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return String::new();
    };
    // Field 22 (starttime) counted after the ")" that closes the command name.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let start = after.split_whitespace().nth(19).unwrap_or("");
    format!("{pid}:{start}")
}

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

fn head_in(conn: &Connection, session: &str) -> Result<(u64, Hash32)> {
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

fn events_in(
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

fn statement_in(conn: &Connection, session: &str) -> Result<SessionStatement> {
    let mut stmt =
        conn.prepare_cached("SELECT hash FROM events WHERE session = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([session])?;
    let mut mb = MerkleBuilder::new();
    let mut head = GENESIS;
    while let Some(r) = rows.next()? {
        head = to_hash(r.get(0)?);
        mb.push_data(&head);
    }
    Ok(SessionStatement {
        session: session.to_string(),
        count: mb.size(),
        head: hex::encode(head),
        root: hex::encode(mb.root()),
    })
}

fn append_in(
    conn: &Connection,
    session: &str,
    evs: Vec<NewEvent>,
    redactor: Option<&Redactor>,
) -> Result<Vec<Appended>> {
    append_in_with(conn, session, evs, redactor, None)
}

fn append_in_with(
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
const PARALLEL_MIN: usize = 256;

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
    let threads = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(1);
    if evs.len() < PARALLEL_MIN || threads < 2 {
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

/// Reads the data of a stored event as JSON, for callers that only need `data`.
pub fn event_data(raw: &[u8]) -> Option<Value> {
    Event::from_bytes(raw).ok().map(|e| e.data)
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

/// The next store checkpoint as `conn` sees the store: every session's statement, numbered and
/// chained after the last stored checkpoint, with its body bytes and signature.
fn next_checkpoint(
    conn: &Connection,
    keys: &Keys,
    ts: DateTime<Utc>,
) -> Result<(StoreCheckpoint, Vec<u8>, String)> {
    let prev: Option<(i64, String)> = conn
        .query_row(
            "SELECT no, sig FROM checkpoints ORDER BY no DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut ids: Vec<String> = {
        let mut stmt = conn.prepare("SELECT id FROM sessions ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    ids.sort();
    let mut sessions = Vec::with_capacity(ids.len());
    for id in &ids {
        sessions.push(statement_in(conn, id)?);
    }
    let vk = keys.verifying_key();
    let cp = StoreCheckpoint {
        v: 1,
        no: prev.as_ref().map(|p| p.0 as u64 + 1).unwrap_or(1),
        ts: format_ts(ts),
        prev_sig: prev.map(|p| p.1).unwrap_or_default(),
        key_id: key_id(&vk),
        pubkey: hex::encode(vk.as_bytes()),
        root: StoreCheckpoint::compute_root(&sessions),
        sessions,
    };
    let body = cp.body_bytes();
    let sig = sign(&keys.signing, &body);
    Ok((cp, body, sig))
}

/// `path` with `suffix` appended (SQLite's `-wal` and `-shm` files).
fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Which file a name points at: device, inode and creation time (an inode number alone can be
/// reused at once by the next file created). None when there is no file; no creation time
/// where the file system does not keep one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    born: Option<std::time::SystemTime>,
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            born: m.created().ok(),
        })
    }
}

/// Whether the WAL a connection opened may be a file whose name is not yet durable: it was
/// not there before, or it is another file, or that cannot be told.
///
/// SQLite syncs the directory after the first commit of every process into its WAL (the WAL
/// could be new). flightlog builds SQLite without that (`SQLITE_DISABLE_DIRSYNC`, in
/// `.cargo/config.toml`): no flightlog process deletes the WAL (no checkpoint on close), so
/// the directory is synced here, once, only when the WAL is new. One fsync per commit remains.
fn wal_is_new(before: Option<FileId>, after: Option<FileId>) -> bool {
    match (before, after) {
        (Some(b), Some(a)) => b != a || b.born.is_none(),
        _ => true,
    }
}

/// Makes the names in a store's directory durable (a new database or WAL file).
fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// A store path that is a directory is a usage error, said as such (SQLite would answer
/// "disk I/O error" or "unable to open").
fn refuse_directory(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is a directory, not a store file (give the path of a .db file)",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kind, NewEvent, Redactor};
    use serde_json::json;

    fn wal_len(db: &Path) -> u64 {
        let mut p = db.as_os_str().to_owned();
        p.push("-wal");
        fs::metadata(PathBuf::from(p)).map(|m| m.len()).unwrap_or(0)
    }

    fn ts() -> DateTime<Utc> {
        "2026-04-25T10:00:00Z".parse().unwrap()
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

    /// A batch long enough to be encoded on several threads stores exactly the bytes that
    /// appending its events one by one stores (same seqs, same chain, same redactions).
    #[test]
    fn a_parallel_batch_stores_the_same_chain_as_single_appends() {
        let dir = tempfile::tempdir().unwrap();
        let red = Redactor::new([7; 32]);
        let events = |n: usize| -> Vec<NewEvent> {
            (0..n)
                .map(|i| {
                    NewEvent::new(
                        ts(),
                        Kind::Exec,
                        "test",
                        json!({"i": i, "argv": ["curl", "-H", format!("Authorization: Bearer ghp_{i:036}")]}),
                    )
                })
                .collect()
        };
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
        let rows = |s: &Store| -> Vec<(u64, Vec<u8>, Hash32)> {
            s.events("s", 0, u64::MAX / 2)
                .unwrap()
                .into_iter()
                .map(|e| (e.seq, e.raw, e.hash))
                .collect()
        };
        let (ra, rb) = (rows(&a), rows(&b));
        assert_eq!(ra.len(), n);
        assert!(ra == rb, "the parallel batch differs from single appends");
        assert!(
            !String::from_utf8_lossy(&ra[5].1).contains("ghp_"),
            "redacted"
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
