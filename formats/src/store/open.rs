//! Opening a store: the file created private, WAL mode and durability settings, the schema
//! migrated, another application's database refused; keeping the WAL short.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{
    Backend, DEFAULT_BUSY_MS, MIGRATIONS, SQLITE_BUSY_MS, Store, is_busy, jitter_us, map_busy,
};
use crate::error::{Error, Result};
use crate::keys::{check_private, ensure_private_dir};

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
        let conn = read_only_connection(path)?;
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
        let version = store.schema_version()?;
        if version == 0 {
            // A file that a first writer is creating right now, or one that is not a store.
            return Err(Error::Invalid(format!(
                "{} has no flightlog tables yet (being created, or not a flightlog store)",
                path.display()
            )));
        }
        Ok(store)
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

    /// The store's schema version, refused when it is newer than this build knows.
    fn schema_version(&self) -> Result<i64> {
        let version: i64 = self
            .conn()?
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: MIGRATIONS.len() as i64,
            });
        }
        Ok(version)
    }

    fn migrate(&self) -> Result<()> {
        let version = self.schema_version()?;
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
pub(super) struct FileId {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) born: Option<std::time::SystemTime>,
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
pub(super) fn wal_is_new(before: Option<FileId>, after: Option<FileId>) -> bool {
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

/// A read-only connection to a store's file with SQLite's defensive settings (no mapping or
/// cache size set: the caller chooses them).
pub(super) fn read_only_connection(path: &Path) -> Result<Connection> {
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
    Ok(conn)
}
