use std::path::PathBuf;

/// Errors of the formats library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", describe_sqlite(.0))]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: permissions {mode:o} are too open (must not be readable by group or others)")]
    UnsafePermissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is malformed: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("no session matches '{0}'")]
    NoSuchSession(String),
    #[error("'{0}' matches several sessions: {1}")]
    AmbiguousSession(String, String),
    #[error("the store is busy (another writer held the lock longer than {0} ms)")]
    Busy(u64),
    #[error("store schema version {found} is newer than this flightlog understands ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("{0}")]
    Invalid(String),
    /// The team store's server said no, or could not be reached (`url` has no password).
    #[error("{url}: {detail}")]
    Postgres { url: String, detail: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SQLite's error in words a user can act on (SQLite's own text follows as the error's source,
/// as in "flightlog: the disk holding the store is full: Error code 13: database or disk is
/// full").
fn describe_sqlite(e: &rusqlite::Error) -> String {
    use rusqlite::ffi;
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return format!("database error: {e}");
    };
    let what = match f.code {
        rusqlite::ErrorCode::DiskFull => "the disk holding the store is full",
        rusqlite::ErrorCode::ReadOnly => {
            "the store cannot be written (a read-only file system, or its permissions)"
        }
        rusqlite::ErrorCode::CannotOpen => {
            "the store's files cannot be opened (a missing directory, permissions, or a \
             read-only file system that cannot hold its -wal and -shm files)"
        }
        rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
            "the store file is damaged or not a flightlog store"
        }
        rusqlite::ErrorCode::SystemIoFailure => match f.extended_code {
            ffi::SQLITE_IOERR_SHMSIZE | ffi::SQLITE_IOERR_SHMMAP | ffi::SQLITE_IOERR_SHMOPEN => {
                "the store's shared-memory file (-shm) cannot grow: the disk may be full"
            }
            ffi::SQLITE_IOERR_WRITE | ffi::SQLITE_IOERR_FSYNC | ffi::SQLITE_IOERR_TRUNCATE => {
                "the store cannot be written to disk: the disk may be full or failing"
            }
            _ => "input/output error on the store's files",
        },
        _ => return format!("database error: {e}"),
    };
    what.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> Error {
        Error::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn sqlite_errors_say_what_to_do_and_keep_sqlites_words() {
        let full = failure(rusqlite::ffi::SQLITE_FULL);
        assert_eq!(full.to_string(), "the disk holding the store is full");
        let source = std::error::Error::source(&full).map(|s| s.to_string());
        assert!(
            source.is_some_and(|s| s.contains("database or disk is full")),
            "SQLite's words are kept as the source"
        );
        let shm = failure(rusqlite::ffi::SQLITE_IOERR_SHMSIZE).to_string();
        assert!(
            shm.contains("-shm") && shm.contains("disk may be full"),
            "{shm}"
        );
        let ro = failure(rusqlite::ffi::SQLITE_READONLY).to_string();
        assert!(ro.contains("read-only"), "{ro}");
        let other = failure(rusqlite::ffi::SQLITE_CONSTRAINT).to_string();
        assert!(other.starts_with("database error: "), "{other}");
    }
}
