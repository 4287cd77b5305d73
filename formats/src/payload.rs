//! Typed event payloads: one struct per [`Kind`], read from an event's `data`.
//!
//! The stored `data` stays a JSON value: it is what is hashed, and the canonical encoder sorts
//! its keys. These types are a lossless *view* of it:
//! - every field is optional, because writers (and older or newer versions) leave fields out;
//! - a field present with `null` is remembered as such, so [`Payload::to_value`] gives back the
//!   same value, and the same canonical bytes;
//! - a field of the wrong JSON type (a foreign writer, a hostile import) is not an error: it is
//!   kept in `rest` with every unknown field, so reading a payload never fails and never drops
//!   anything.
//!
//! Field names are the writers' (`recorder/src/record/{trace,proxy,watch}.rs`,
//! `recorder/src/hook/normalize.rs`, `analysis/src/decode.rs`, the importers in
//! `interop/src/import`). Read them here instead of by string key, so a renamed field is a
//! compile error, not a silent blank in one output.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::event::{Event, Kind};

/// Which known fields were present with a JSON `null` (bit `i` = the `i`th declared field).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Nulls(u64);

impl Nulls {
    fn set(&mut self, i: u32) {
        self.0 |= 1 << i;
    }
    fn has(self, i: u32) -> bool {
        self.0 & (1 << i) != 0
    }
}

/// Declares a payload struct: optional typed fields plus `rest`, read from and written back to a
/// JSON object without loss.
macro_rules! payload {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            /// Fields this version does not know, and known fields of an unexpected type, as
            /// they were stored.
            pub rest: Map<String, Value>,
            nulls: Nulls,
            /// The stored value when it was not a JSON object at all.
            bare: Option<Value>,
        }

        impl $name {
            /// The stored key of each typed field, in declaration order.
            pub const FIELDS: &'static [&'static str] = &[$($key),*];

            /// Reads a JSON object; never fails (see the module doc).
            pub fn from_map(mut m: Map<String, Value>) -> Self {
                let mut out = $name::default();
                let mut _i: u32 = 0;
                $(
                    if let Some(v) = m.shift_remove($key) {
                        if v.is_null() {
                            out.nulls.set(_i);
                        } else {
                            match <$ty as Deserialize>::deserialize(&v) {
                                Ok(x) => out.$field = Some(x),
                                Err(_) => {
                                    out.rest.insert($key.to_string(), v);
                                }
                            }
                        }
                    }
                    _i += 1;
                )*
                for (k, v) in m {
                    out.rest.insert(k, v);
                }
                out
            }

            /// Reads any JSON value (a non-object becomes an empty payload that remembers the
            /// value, so nothing is lost).
            pub fn from_value(v: &Value) -> Self {
                match v {
                    Value::Object(m) => Self::from_map(m.clone()),
                    other => $name {
                        bare: Some(other.clone()),
                        ..$name::default()
                    },
                }
            }

            /// The JSON object this payload stands for.
            pub fn to_map(&self) -> Map<String, Value> {
                let mut m = self.rest.clone();
                let mut _i: u32 = 0;
                $(
                    match &self.$field {
                        Some(x) => {
                            m.insert(
                                $key.to_string(),
                                serde_json::to_value(x).unwrap_or(Value::Null),
                            );
                        }
                        None if self.nulls.has(_i) => {
                            m.insert($key.to_string(), Value::Null);
                        }
                        None => {}
                    }
                    _i += 1;
                )*
                m
            }

            /// The JSON value this payload stands for (see [`Self::from_value`]).
            pub fn to_value(&self) -> Value {
                match &self.bare {
                    Some(v) => v.clone(),
                    None => Value::Object(self.to_map()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.to_map().serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Map::<String, Value>::deserialize(d).map($name::from_map)
            }
        }
    };
}

payload! {
    /// A traced process (`exec`, source `ptrace`). The recorder writes the start (argv, cwd,
    /// pid, exit `null`) and, when the process ends, a follow-up `exec` with `exit_of_seq` set
    /// to the start's seq and only the outcome fields.
    Exec {
        argv: Vec<String> = "argv",
        cwd: String = "cwd",
        /// The executable's path (`/proc/<pid>/exe`).
        exe: String = "exe",
        pid: i64 = "pid",
        ppid: i64 = "ppid",
        start_ts: String = "start_ts",
        exit: i64 = "exit",
        /// The signal that killed it (`SIGKILL`), if one did.
        signal: String = "signal",
        duration_ms: u64 = "duration_ms",
        /// On an end event: the seq of the exec it ends.
        exit_of_seq: u64 = "exit_of_seq",
        /// On an export's joined record (`interop::export::exchange`): the end event's seq,
        /// time and chain hash. Never stored.
        exit_seq: u64 = "exit_seq",
        exit_ts: String = "exit_ts",
        exit_hash: String = "exit_hash",
    }
}

payload! {
    /// A decoded GraphQL operation of an [`ApiCall`].
    GraphQl {
        /// `query`, `mutation` or `subscription`.
        operation_type: String = "operation_type",
        operation_name: String = "operation_name",
        /// Root fields, aliases resolved (`x: volumeDelete` → `volumeDelete`).
        root_fields: Vec<String> = "root_fields",
        variables: Value = "variables",
    }
}

payload! {
    /// An HTTP request (`api_call`): seen by the proxy (source `proxy`) or decoded from a
    /// command line (source `argv`, `via_seq` = the exec). The proxy records the response as a
    /// follow-up `api_call` with `response_of_seq` set and only the response fields.
    ApiCall {
        method: String = "method",
        url: String = "url",
        /// Lower-case host.
        host: String = "host",
        path: String = "path",
        port: u64 = "port",
        status: i64 = "status",
        /// Header names lower-case; repeated headers joined with `, `.
        request_headers: Map<String, Value> = "request_headers",
        request_body: String = "request_body",
        response_body: String = "response_body",
        graphql: GraphQl = "graphql",
        /// For a request decoded from argv: the seq of that exec.
        via_seq: u64 = "via_seq",
        /// On a response event: the seq of its request.
        response_of_seq: u64 = "response_of_seq",
        duration_ms: u64 = "duration_ms",
        /// Why no response came (connection refused, denied, ...).
        error: String = "error",
        /// On an export's joined record (`interop::export::exchange`): the response event's
        /// seq, time and chain hash. Never stored.
        response_seq: u64 = "response_seq",
        response_ts: String = "response_ts",
        response_hash: String = "response_hash",
        /// On an export's view of a request decoded from a command line: `argv`, and the kind
        /// of the event it was decoded from. Never stored.
        decoded_from: String = "decoded_from",
        via_kind: String = "via_kind",
    }
}

payload! {
    /// An agent's tool call, from a hook (`PreToolUse`, ...) or an imported transcript.
    ToolCall {
        agent: String = "agent",
        /// The hook event that reported it.
        hook: String = "hook",
        tool: String = "tool",
        call_id: String = "call_id",
        /// The shell command, for shell tools.
        command: String = "command",
        cwd: String = "cwd",
        /// The tool's input as the agent sent it.
        input: Value = "input",
        /// The rest of the hook payload.
        payload: Value = "payload",
        message_id: String = "message_id",
        model: String = "model",
        usage: Usage = "usage",
        call_type: String = "call_type",
        subagent: Subagent = "subagent",
        subagent_id: String = "subagent_id",
        imported: bool = "imported",
        origin: Value = "origin",
    }
}

payload! {
    /// The result of a tool call (`PostToolUse`, an imported `tool_result`).
    ToolResult {
        agent: String = "agent",
        hook: String = "hook",
        tool: String = "tool",
        call_id: String = "call_id",
        /// The seq of the matching tool call, when it is known.
        call_seq: u64 = "call_seq",
        command: String = "command",
        input: Value = "input",
        /// Text or a structured result.
        output: Value = "output",
        /// Imported transcripts: the structured result beside the text.
        result: Value = "result",
        /// Usually a string; some agents send an object.
        error: Value = "error",
        is_error: bool = "is_error",
        duration_ms: u64 = "duration_ms",
        payload: Value = "payload",
        subagent: Subagent = "subagent",
        imported: bool = "imported",
        origin: Value = "origin",
    }
}

payload! {
    /// A file the watcher saw change, or an agent's edit hook.
    FileChange {
        path: String = "path",
        /// `create`, `modify`, `delete`, `rename`.
        op: String = "op",
        /// For a rename: the old path.
        from: String = "from",
        diff: String = "diff",
        binary: bool = "binary",
        sha256_before: String = "sha256_before",
        sha256_after: String = "sha256_after",
        size: u64 = "size",
        /// Cursor's `afterFileEdit` edits.
        edits: Value = "edits",
        agent: String = "agent",
        hook: String = "hook",
        payload: Value = "payload",
        /// On an export's view of an imported file tool call: `tool_call`, and the tool.
        /// Never stored.
        via_kind: String = "via_kind",
        tool: String = "tool",
    }
}

payload! {
    /// A secret seen somewhere: a file read's finding, or an inventory entry.
    SecretAt {
        /// Keyed fingerprint.
        fp: String = "fp",
        kind: String = "kind",
        path: String = "path",
        line: u64 = "line",
        /// The variable it was assigned to (`RAILWAY_TOKEN=...`), when the inventory saw one.
        var: String = "var",
    }
}

payload! {
    /// A file the agent read (through a tool).
    FileRead {
        path: String = "path",
        /// How it was read (`tool`).
        via: String = "via",
        call_id: String = "call_id",
        /// The secrets found in what was read (fingerprints only).
        secrets: Vec<SecretAt> = "secrets",
        content: Value = "content",
        agent: String = "agent",
        hook: String = "hook",
        payload: Value = "payload",
        /// On an export's view of an imported file tool call (see [`FileChange`]).
        via_kind: String = "via_kind",
        tool: String = "tool",
    }
}

payload! {
    /// A prompt or a message (`prompt`, `message`).
    Text {
        agent: String = "agent",
        hook: String = "hook",
        /// `user`, `assistant`, `thought`.
        role: String = "role",
        text: String = "text",
        model: String = "model",
        message_id: String = "message_id",
        usage: Usage = "usage",
        thinking: bool = "thinking",
        is_meta: bool = "is_meta",
        payload: Value = "payload",
        subagent: Subagent = "subagent",
        imported: bool = "imported",
        origin: Value = "origin",
    }
}

payload! {
    /// Terminal output (source `pty`).
    Terminal {
        /// `o` (output) or `i` (input), as asciicast names them.
        stream: String = "stream",
        data: String = "data",
        fd: i64 = "fd",
        /// Milliseconds since the session started.
        t_ms: u64 = "t_ms",
    }
}

payload! {
    /// A guard decision.
    Decision {
        /// `allow` or `deny`.
        decision: String = "decision",
        rule: String = "rule",
        reason: String = "reason",
        /// The layer that asked (`hook`, `ptrace`, `proxy`).
        layer: String = "layer",
        agent: String = "agent",
        call_id: String = "call_id",
        /// The seq of the event decided on.
        target_seq: u64 = "target_seq",
        fail_mode: String = "fail_mode",
    }
}

payload! {
    /// Something a layer could not see or keep.
    Gap {
        layer: String = "layer",
        reason: String = "reason",
        detail: String = "detail",
        call_seq: u64 = "call_seq",
        exec_seq: u64 = "exec_seq",
        dropped: u64 = "dropped",
        imported: bool = "imported",
    }
}

payload! {
    /// The first event of a session.
    SessionStart {
        agent: String = "agent",
        label: String = "label",
        /// The recorded command (`record`), `null` for imports.
        argv: Vec<String> = "argv",
        cwd: String = "cwd",
        host: String = "host",
        home_env: String = "home_env",
        flightlog_version: String = "flightlog_version",
        /// The recorder's own binary: traced execs of it are flightlog's hooks, not the agent's.
        flightlog_exe: String = "flightlog_exe",
        /// The capture layers that ran.
        layers: Vec<String> = "layers",
        /// kubeconfig context, terraform workspace, environment-naming variables.
        context: Box<Context> = "context",
        external_session_id: String = "external_session_id",
        git_branch: String = "git_branch",
        imported: bool = "imported",
        files: Value = "files",
        stats: Value = "stats",
        /// The hook's transcript and model, when a hook started the session.
        transcript_path: String = "transcript_path",
        model: String = "model",
        /// The recorded terminal (`record`, an imported asciicast).
        term: Term = "term",
        /// An imported asciicast's header: its command, environment and idle limit.
        command: String = "command",
        env: Value = "env",
        idle_time_limit: Value = "idle_time_limit",
    }
}

payload! {
    /// What a session started in (`session_start.context`), as the recorder and the hooks saw
    /// it.
    Context {
        /// The active kubeconfig's `current-context`.
        kube_context: String = "kube_context",
        terraform_workspace: String = "terraform_workspace",
        /// Environment-naming variables and the agent's model base URLs (name -> value).
        vars: Map<String, Value> = "vars",
    }
}

payload! {
    /// The terminal of a session (`session_start.term`).
    Term {
        cols: u64 = "cols",
        rows: u64 = "rows",
        /// `TERM`.
        term_type: String = "type",
        /// An asciicast theme (fg, bg, palette).
        theme: Value = "theme",
    }
}

payload! {
    /// Token counts of a model reply (Anthropic's names).
    Usage {
        input_tokens: u64 = "input_tokens",
        output_tokens: u64 = "output_tokens",
        cache_read_input_tokens: u64 = "cache_read_input_tokens",
        cache_creation_input_tokens: u64 = "cache_creation_input_tokens",
    }
}

payload! {
    /// Where a subagent's event sits: the parent's Task/Agent call.
    Subagent {
        agent_id: String = "agent_id",
        parent_call_id: String = "parent_call_id",
        parent_call_seq: u64 = "parent_call_seq",
    }
}

payload! {
    /// The last event of a session.
    SessionEnd {
        exit: i64 = "exit",
        reason: String = "reason",
        imported: bool = "imported",
    }
}

payload! {
    /// Input that could not be parsed, kept raw (bounded).
    RawInput {
        agent: String = "agent",
        error: String = "error",
        raw: String = "raw",
        bytes: u64 = "bytes",
        truncated: bool = "truncated",
    }
}

payload! {
    /// A signed checkpoint written into a session.
    Checkpoint {
        count: u64 = "count",
        head: String = "head",
        key_id: String = "key_id",
        pubkey: String = "pubkey",
        root: String = "root",
        scope: String = "scope",
        session: String = "session",
        sig: String = "sig",
    }
}

payload! {
    /// A note: the secret inventory, an imported record with no better kind, a hook event.
    Note {
        text: String = "text",
        /// Imported: the foreign record's type.
        record: String = "record",
        subtype: String = "subtype",
        /// The session-start secret inventory.
        inventory: Vec<SecretAt> = "inventory",
        files_scanned: u64 = "files_scanned",
        agent: String = "agent",
        hook: String = "hook",
        payload: Value = "payload",
        imported: bool = "imported",
        /// An imported asciicast marker's label, and its time since the start.
        marker: String = "marker",
        t_ms: u64 = "t_ms",
        /// The keys a store-wide export was signed with.
        key_ids: Vec<String> = "key_ids",
    }
}

/// Declares [`Payload`] (one variant per known [`Kind`]), its reading and writing, and one
/// typed accessor per kind on [`Event`] (`event.exec()`, `event.api_call()`, ...).
macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident($ty:ident) = $accessor:ident; )*) => {
        /// An event's `data`, typed by its kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Payload {
            $( $variant($ty), )*
            /// A kind this version does not know: the data as stored.
            Other(Value),
        }

        impl Payload {
            /// Reads `data` as the payload of `kind`. Never fails: see the module doc.
            pub fn read(kind: &Kind, data: &Value) -> Payload {
                match kind {
                    $( Kind::$variant => Payload::$variant($ty::from_value(data)), )*
                    Kind::Other(_) => Payload::Other(data.clone()),
                }
            }

            /// The `data` value this payload stands for: equal to the one it was read from.
            pub fn to_value(&self) -> Value {
                match self {
                    $( Payload::$variant(p) => p.to_value(), )*
                    Payload::Other(v) => v.clone(),
                }
            }
        }

        impl Event {
            $(
                $(#[$doc])*
                /// `None` for an event of another kind. A copy: `data` stays what is hashed.
                pub fn $accessor(&self) -> Option<$ty> {
                    (self.kind == Kind::$variant).then(|| $ty::from_value(&self.data))
                }
            )*
        }
    };
}

kinds! {
    /// The payload of a `session_start` event.
    SessionStart(SessionStart) = session_start;
    /// The payload of a `session_end` event.
    SessionEnd(SessionEnd) = session_end;
    /// The payload of an `exec` event.
    Exec(Exec) = exec;
    /// The payload of a `tool_call` event.
    ToolCall(ToolCall) = tool_call;
    /// The payload of a `tool_result` event.
    ToolResult(ToolResult) = tool_result;
    /// The payload of an `api_call` event.
    ApiCall(ApiCall) = api_call;
    /// The payload of a `file_change` event.
    FileChange(FileChange) = file_change;
    /// The payload of a `file_read` event.
    FileRead(FileRead) = file_read;
    /// The payload of a `prompt` event.
    Prompt(Text) = prompt;
    /// The payload of a `message` event.
    Message(Text) = message;
    /// The payload of a `terminal` event.
    Terminal(Terminal) = terminal;
    /// The payload of a `decision` event.
    Decision(Decision) = decision;
    /// The payload of a `gap` event.
    Gap(Gap) = gap;
    /// The payload of a `raw_input` event.
    RawInput(RawInput) = raw_input;
    /// The payload of a `checkpoint` event.
    Checkpoint(Checkpoint) = checkpoint;
    /// The payload of a `note` event.
    Note(Note) = note;
}

impl Payload {
    /// Whether the event reports a failure ([`is_error`]).
    pub fn is_error(&self) -> bool {
        match self {
            Payload::Exec(x) => x.is_error(),
            Payload::ToolResult(r) => r.is_error(),
            Payload::ApiCall(a) => a.is_error(),
            _ => false,
        }
    }
}

impl Exec {
    /// Whether the process failed ([`is_error`]).
    pub fn is_error(&self) -> bool {
        is_error(
            &Kind::Exec,
            &ErrorFacts {
                exit: self.exit,
                signal: self.signal.is_some() || self.rest.get("signal").is_some(),
                ..ErrorFacts::default()
            },
        )
    }
}

impl ToolResult {
    /// Whether the tool call failed ([`is_error`]).
    pub fn is_error(&self) -> bool {
        is_error(
            &Kind::ToolResult,
            &ErrorFacts {
                is_error: self.is_error,
                error: self.error.as_ref(),
                ..ErrorFacts::default()
            },
        )
    }
}

impl ApiCall {
    /// Whether the request failed or got an error status ([`is_error`]).
    pub fn is_error(&self) -> bool {
        let text = self.error.as_ref().map(|e| Value::String(e.clone()));
        is_error(
            &Kind::ApiCall,
            &ErrorFacts {
                status: self.status,
                error: text.as_ref().or(self.rest.get("error")),
                ..ErrorFacts::default()
            },
        )
    }
}

/// The fields that say whether an event failed, for readers that index events without building
/// payloads (the viewer's index). [`Payload::is_error`] fills it from a payload.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorFacts<'a> {
    /// `exit` of an exec.
    pub exit: Option<i64>,
    /// An exec's `signal` is set.
    pub signal: bool,
    /// `is_error` of a tool result.
    pub is_error: Option<bool>,
    /// `error` of a tool result or an API response.
    pub error: Option<&'a Value>,
    /// `status` of an API response.
    pub status: Option<i64>,
}

/// Whether an event failed. The one definition every output uses:
/// - an exec that exited non-zero or was killed by a signal;
/// - a tool result flagged `is_error`, or carrying a non-empty `error`;
/// - an HTTP response with status 400 or above, or a request that got no response (`error`).
pub fn is_error(kind: &Kind, f: &ErrorFacts) -> bool {
    match kind {
        Kind::Exec => f.exit.is_some_and(|c| c != 0) || f.signal,
        Kind::ToolResult => f.is_error == Some(true) || f.error.is_some_and(error_present),
        Kind::ApiCall => f.status.is_some_and(|s| s >= 400) || f.error.is_some_and(error_present),
        _ => false,
    }
}

/// An `error` field that says something (not `null`, `false`, `""` or `{}`).
fn error_present(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => has_text(s),
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

fn has_text(s: &str) -> bool {
    !s.trim().is_empty()
}

impl Event {
    /// The event's `data`, typed by its kind (a copy: `data` stays what is hashed).
    pub fn payload(&self) -> Payload {
        Payload::read(&self.kind, &self.data)
    }

    /// Whether the event reports a failure ([`Payload::is_error`]).
    pub fn is_error(&self) -> bool {
        self.payload().is_error()
    }
}

impl Exec {
    /// The command line, or an empty slice (an end event has none).
    pub fn argv(&self) -> &[String] {
        self.argv.as_deref().unwrap_or_default()
    }

    /// Whether this is the end of an earlier exec (`exit_of_seq` set).
    pub fn is_end(&self) -> bool {
        self.exit_of_seq.is_some()
    }

    /// How the process ended: `exit 0`, `killed by SIGKILL`, or `None` while it runs.
    pub fn outcome(&self) -> Option<String> {
        match (self.exit, &self.signal) {
            (Some(c), _) => Some(format!("exit {c}")),
            (None, Some(s)) => Some(format!("killed by {s}")),
            (None, None) => None,
        }
    }
}

impl ApiCall {
    /// The GraphQL root fields (empty when the request was not GraphQL).
    pub fn root_fields(&self) -> &[String] {
        self.graphql
            .as_ref()
            .and_then(|g| g.root_fields.as_deref())
            .unwrap_or_default()
    }

    /// A request header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .as_ref()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    /// Whether this is the response half of a proxied request.
    pub fn is_response(&self) -> bool {
        self.response_of_seq.is_some()
    }
}

impl ToolResult {
    /// The error text, if the result carries a non-empty one.
    pub fn error_text(&self) -> Option<String> {
        match self.error.as_ref().filter(|e| error_present(e))? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// The output as text (a structured output as its JSON).
    pub fn output_text(&self) -> String {
        match &self.output {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical;
    use crate::event::NewEvent;
    use serde_json::json;

    fn ev(kind: Kind, data: Value) -> Event {
        let ts = "2026-04-25T10:00:00Z".parse().unwrap();
        NewEvent::new(ts, kind, "test", data).into_event("s", 0, vec![])
    }

    /// Reads the payload and writes it back: the same value, the same canonical bytes.
    fn round_trips(e: &Event) {
        let back = e.payload().to_value();
        assert_eq!(back, e.data, "{} {}", e.kind, e.data);
        let mut e2 = e.clone();
        e2.data = back;
        assert_eq!(canonical::to_bytes(&e2), canonical::to_bytes(e));
    }

    #[test]
    fn typed_fields_nulls_unknown_and_wrong_types_all_round_trip() {
        let cases = [
            (
                Kind::Exec,
                json!({"argv": ["curl", "-d", "{}"], "cwd": "/w", "exit": null, "pid": 7,
                       "signal": null, "duration_ms": null, "newer_field": {"x": 1}}),
            ),
            (
                Kind::Exec,
                json!({"pid": 7, "exit": 1, "signal": null, "duration_ms": 12, "exit_of_seq": 3}),
            ),
            // Wrong types: kept as they were, the typed field stays empty.
            (
                Kind::Exec,
                json!({"argv": "curl x", "pid": "7", "exit": 1.5}),
            ),
            (
                Kind::ApiCall,
                json!({"method": "POST", "url": "http://h/graphql", "host": "h", "status": null,
                       "request_headers": {"authorization": "Bearer [REDACTED:x:00]"},
                       "graphql": {"operation_type": "mutation", "operation_name": null,
                                   "root_fields": ["volumeDelete"], "variables": null, "z": 1},
                       "via_seq": null}),
            ),
            (Kind::ApiCall, json!({"graphql": "not an object"})),
            (Kind::Other("gpu".into()), json!({"kernel": "k"})),
            (Kind::Note, json!("a bare string")),
            (Kind::Note, json!(null)),
            (Kind::Note, json!([1, 2])),
            (
                Kind::ToolResult,
                json!({"error": {"code": 1}, "is_error": false}),
            ),
            (
                Kind::FileRead,
                json!({"path": "ops/domains.env", "secrets": [{"fp": "ab", "kind": "k", "line": 4, "extra": true}]}),
            ),
            // Nested typed objects (usage, subagent, term) keep their nulls and unknown keys.
            (
                Kind::ToolCall,
                json!({"tool": "Bash", "usage": {"input_tokens": 3, "output_tokens": null, "tier": "x"},
                       "subagent": {"agent_id": "a1", "parent_call_seq": 4, "depth": 2}}),
            ),
            (Kind::Message, json!({"usage": 12, "subagent": null})),
            (
                Kind::SessionStart,
                json!({"term": {"cols": 80, "rows": 0, "type": null, "theme": {"fg": "#fff"}},
                       "command": "bash", "env": {"SHELL": "/bin/bash"}, "idle_time_limit": 2.5}),
            ),
            (
                Kind::Note,
                json!({"marker": "m1", "t_ms": 1500, "key_ids": ["k1"]}),
            ),
            (Kind::Note, json!({"": "empty key", "text": "t"})),
            (Kind::Note, json!({"": "only an empty key"})),
        ];
        for (kind, data) in cases {
            round_trips(&ev(kind, data));
        }
    }

    #[test]
    fn typed_reads() {
        let e = ev(
            Kind::ApiCall,
            json!({"method": "POST", "status": 200, "request_headers": {"Authorization": "B"},
                   "graphql": {"operation_type": "mutation", "root_fields": ["volumeDelete"]}}),
        );
        let a = e.api_call().unwrap();
        assert_eq!(a.method.as_deref(), Some("POST"));
        assert_eq!(a.root_fields(), ["volumeDelete"]);
        assert_eq!(a.header("authorization"), Some("B"));
        assert!(e.exec().is_none());

        let x = ev(Kind::Exec, json!({"argv": "not a list", "exit": 2}))
            .exec()
            .unwrap();
        assert!(x.argv().is_empty());
        assert_eq!(x.rest.get("argv"), Some(&json!("not a list")));
        assert_eq!(x.outcome().as_deref(), Some("exit 2"));

        let c = ev(
            Kind::ToolCall,
            json!({"usage": {"input_tokens": 3}, "subagent": {"parent_call_seq": 4}}),
        )
        .tool_call()
        .unwrap();
        assert_eq!(c.usage.unwrap().input_tokens, Some(3));
        assert_eq!(c.subagent.unwrap().parent_call_seq, Some(4));
        let start = ev(
            Kind::SessionStart,
            json!({"term": {"type": "xterm", "cols": 80}}),
        )
        .session_start()
        .unwrap();
        let term = start.term.unwrap();
        assert_eq!(
            (term.term_type.as_deref(), term.cols),
            (Some("xterm"), Some(80))
        );
        // One accessor per kind, none for another kind.
        let note = ev(Kind::Note, json!({"marker": "m", "t_ms": 5}));
        assert_eq!(note.note().unwrap().t_ms, Some(5));
        assert!(note.terminal().is_none() && note.session_start().is_none());
    }

    #[test]
    fn one_definition_of_error() {
        let cases = [
            (Kind::Exec, json!({"exit": 0}), false),
            (Kind::Exec, json!({"exit": null, "signal": null}), false),
            (Kind::Exec, json!({"exit": 2}), true),
            (Kind::Exec, json!({"exit": null, "signal": "SIGKILL"}), true),
            (
                Kind::ToolResult,
                json!({"is_error": false, "error": null}),
                false,
            ),
            (Kind::ToolResult, json!({"is_error": true}), true),
            (
                Kind::ToolResult,
                json!({"is_error": false, "error": "boom"}),
                true,
            ),
            (
                Kind::ToolResult,
                json!({"is_error": false, "error": ""}),
                false,
            ),
            (Kind::ApiCall, json!({"status": 200}), false),
            (Kind::ApiCall, json!({"status": 401}), true),
            (
                Kind::ApiCall,
                json!({"status": null, "error": "refused"}),
                true,
            ),
            (Kind::Note, json!({"is_error": true}), false),
        ];
        for (kind, data, want) in cases {
            assert_eq!(ev(kind, data.clone()).is_error(), want, "{data}");
        }
    }
}
