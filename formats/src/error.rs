use std::path::PathBuf;

/// Errors of the formats library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
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
