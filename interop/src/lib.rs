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

use std::path::PathBuf;

/// Errors of the interop library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// This crate's version (recorded in imported `session_start` events).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
