//! # flightlog-interop
//!
//! Getting sessions in and out of flightlog:
//!
//! - **imports** ([`import`]): Claude Code transcripts (with their subagent files), Codex rollout
//!   files, asciicast v2/v3 recordings, and flightlog's own jsonl export (verified, stored with its
//!   original chain);
//! - **exports** ([`export`]): OCSF, OTLP/JSON (GenAI conventions), asciicast v3, CSV, CEF;
//! - the self-contained **HTML report** ([`html::report_html`]) and the auditor's **bundle**
//!   ([`bundle`]).
//!
//! ## Invariants
//! - Imported events say so: source `import:<format>` and `"imported": true` in their data.
//!   Timestamps come from the records, never from the clock.
//! - Nothing is dropped silently: records of unknown types are kept (as `note` events with the
//!   raw line), lines that do not parse become `raw_input` events. The store redacts all of it
//!   before hashing.
//! - A jsonl import never re-chains: the original lines are stored verbatim, only after they
//!   verify.
//! - Exports never write agent text where it could execute: CSV cells are neutralized against
//!   formula injection, HTML is escaped, CEF is escaped per its spec.

pub mod bundle;
pub mod export;
pub mod findings;
pub mod html;
pub mod import;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Errors of the interop library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store's error, and an I/O error on a path ([`Error::io`]): formats words both.
    #[error(transparent)]
    Store(#[from] flightlog_formats::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
    /// A jsonl export that does not verify (or is signed by a key that is not trusted).
    #[error("{path}: the export does not verify ({} problem(s))", report.problems.len())]
    NotVerified {
        path: PathBuf,
        report: Box<flightlog_formats::verify::VerifyReport>,
    },
}

impl Error {
    /// An I/O error on `path` (formats' [`flightlog_formats::Error::Io`]).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Store(flightlog_formats::Error::io(path, source))
    }
}

/// Writes a new file (mode 0600, refused if one exists) and syncs it.
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// This crate's version (recorded in imported `session_start` events).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
