//! # flightlog-formats
//!
//! The event model, the canonical bytes that are hashed, the per-session hash chain, RFC 6962
//! Merkle roots, signed checkpoints, the SQLite store, verification, redaction, and the jsonl
//! export. Everything else in flightlog builds on this crate.
//!
//! ## The contract (see PRODUCT.md 2.5)
//! - An event is stored as its canonical bytes ([`canonical`]); the chain hashes those bytes:
//!   `hash = SHA-256(prev || bytes)`, `prev` of seq 0 is 32 zero bytes ([`chain`]).
//! - A jsonl export line is exactly `{"prev":"<hex>","hash":"<hex>","event":EVENT}`.
//! - Secrets are replaced by `[REDACTED:<kind>:<fingerprint>]` before hashing ([`redact`]).
//!
//! ## Invariants
//! - No terminal, no environment variables, no wall-clock reads: timestamps are passed in.
//!   Long work reports progress through a callback ([`progress::Progress`]); the binary draws.
//! - Verification hashes stored bytes; nothing is re-encoded before hashing.
//! - File I/O only on paths the caller gives (the store, key files, exports).

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod error;
pub mod event;
pub mod jsonl;
pub mod keys;
pub mod merkle;
pub mod payload;
pub mod progress;
pub mod redact;
pub mod store;
pub mod synth;
pub mod text;
pub mod verbatim;
pub mod verify;

pub use error::{Error, Result};
pub use event::{Event, Kind, NewEvent, Redaction};
pub use keys::Keys;
pub use payload::Payload;
pub use redact::Redactor;
pub use store::Store;
