//! The event model.
//!
//! An [`Event`] is what is stored, hashed and exported. Its JSON form (the *canonical bytes*, see
//! [`crate::canonical`]) is the public contract: the jsonl export line carries those bytes verbatim.
//!
//! Do *not* rename or reorder the fields of [`Event`]: stored logs are hashed over their bytes and
//! golden-hash tests pin the encoding.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The current event format version (`v`).
pub const FORMAT_VERSION: u32 = 1;

/// Event kinds. Unknown kinds are kept as [`Kind::Other`], so newer logs still verify and list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    SessionStart,
    SessionEnd,
    Exec,
    ToolCall,
    ToolResult,
    ApiCall,
    FileChange,
    FileRead,
    Prompt,
    Message,
    Terminal,
    Decision,
    Gap,
    RawInput,
    Checkpoint,
    Note,
    Other(String),
}

impl Kind {
    /// Every kind this version knows, in spec order.
    pub const KNOWN: [Kind; 16] = [
        Kind::SessionStart,
        Kind::SessionEnd,
        Kind::Exec,
        Kind::ToolCall,
        Kind::ToolResult,
        Kind::ApiCall,
        Kind::FileChange,
        Kind::FileRead,
        Kind::Prompt,
        Kind::Message,
        Kind::Terminal,
        Kind::Decision,
        Kind::Gap,
        Kind::RawInput,
        Kind::Checkpoint,
        Kind::Note,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Kind::SessionStart => "session_start",
            Kind::SessionEnd => "session_end",
            Kind::Exec => "exec",
            Kind::ToolCall => "tool_call",
            Kind::ToolResult => "tool_result",
            Kind::ApiCall => "api_call",
            Kind::FileChange => "file_change",
            Kind::FileRead => "file_read",
            Kind::Prompt => "prompt",
            Kind::Message => "message",
            Kind::Terminal => "terminal",
            Kind::Decision => "decision",
            Kind::Gap => "gap",
            Kind::RawInput => "raw_input",
            Kind::Checkpoint => "checkpoint",
            Kind::Note => "note",
            Kind::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Kind {
        Kind::KNOWN
            .iter()
            .find(|k| k.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Kind::Other(s.to_string()))
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Kind::parse(&s))
    }
}

/// One secret that was replaced by a marker before the event was hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// Keyed fingerprint (HMAC-SHA-256 with the per-install key, first 16 hex digits).
    pub fp: String,
    /// Secret kind, such as `github-pat`, `railway-token`, `env-secret`.
    pub kind: String,
}

/// A stored event: the unit of the hash chain.
///
/// Field order is the canonical order. `redactions` is omitted when empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Format version ([`FORMAT_VERSION`]).
    pub v: u32,
    /// Session id.
    pub session: String,
    /// Position in the session's chain: 0, 1, 2, ...
    pub seq: u64,
    /// RFC 3339 UTC timestamp with microseconds, e.g. `2026-04-25T10:00:00.000000Z`.
    pub ts: String,
    pub kind: Kind,
    /// The capture layer that produced the event (`hook:claude-code`, `ptrace`, `proxy`,
    /// `watch`, `pty`, `recorder`, `guard`, `import:claude-code`, ...).
    pub source: String,
    /// The environment the event acts on, when known at record time.
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redactions: Vec<Redaction>,
    pub data: Value,
}

/// An event before the store gives it a session, a seq and a place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub ts: chrono::DateTime<chrono::Utc>,
    pub kind: Kind,
    pub source: String,
    pub env: Option<String>,
    pub data: Value,
}

impl NewEvent {
    pub fn new(
        ts: chrono::DateTime<chrono::Utc>,
        kind: Kind,
        source: impl Into<String>,
        data: Value,
    ) -> Self {
        NewEvent {
            ts,
            kind,
            source: source.into(),
            env: None,
            data,
        }
    }

    pub fn with_env(mut self, env: Option<String>) -> Self {
        self.env = env;
        self
    }

    /// The event as a store keeps it at `seq` of `session`. Its data must already be redacted,
    /// with `redactions` naming what was replaced (see [`crate::Redactor::redact_value`]).
    pub fn into_event(
        self,
        session: impl Into<String>,
        seq: u64,
        redactions: Vec<Redaction>,
    ) -> Event {
        Event {
            v: FORMAT_VERSION,
            session: session.into(),
            seq,
            ts: format_ts(self.ts),
            kind: self.kind,
            source: self.source,
            env: self.env,
            redactions,
            data: self.data,
        }
    }
}

/// Formats a timestamp the way events store it.
pub fn format_ts(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Parses an event timestamp (any RFC 3339 form).
pub fn parse_ts(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

impl Event {
    /// Parses stored canonical bytes.
    pub fn from_bytes(raw: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        parse_ts(&self.ts)
    }
}
