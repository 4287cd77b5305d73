//! The replay state: everything the view draws and `update` changes. No I/O lives here.
//!
//! Large sessions are kept as a compact [`Index`] (one [`IndexEntry`] of 24 bytes per event)
//! plus a bounded cache of loaded pages ([`Pages`]); full events are only held for the pages
//! around the cursor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use flightlog_formats::Event;
use flightlog_formats::store::SessionRow;

use crate::action::{Action, PromptKind};
use crate::player::Player;

/// Events per page fetched from the store.
pub const PAGE: u64 = 128;
/// Pages kept in memory at most.
pub const MAX_PAGES: usize = 96;

/// Row flags (bits of [`IndexEntry::flags`]).
pub mod flag {
    pub const CROSSING: u8 = 1;
    pub const DESTRUCTIVE: u8 = 2;
    pub const SECRET_USE: u8 = 4;
    pub const ERROR: u8 = 8;
    pub const GAP: u8 = 16;
    pub const BROKEN: u8 = 32;
    pub const SECRET_READ: u8 = 64;
    /// The stored bytes are not a valid event.
    pub const UNPARSEABLE: u8 = 128;
}

/// Why a row is folded away from the default timeline (bits of [`IndexEntry::fold`]).
pub mod fold {
    /// The end of an exec: shown on its exec's row, as a status and a duration.
    pub const EXIT: u8 = 1;
    /// One of flightlog's own hook processes (or a shell above one, or its end): the recorder
    /// at work, not the agent (`analysis::own` decides).
    pub const OWN: u8 = 2;
}

/// One event in the compact index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub seq: u64,
    /// Microseconds since the Unix epoch (the previous event's, or 0 first, if the timestamp
    /// did not parse): rows are ordered by it, then by seq.
    pub t_us: i64,
    /// Index into [`Index::kinds`].
    pub kind: u8,
    /// Index into [`Index::envs`] (0: no environment).
    pub env: u8,
    /// Index into [`Index::sources`].
    pub source: u8,
    pub flags: u8,
    /// 0 none, 1 low, 2 medium, 3 high, 4 critical.
    pub severity: u8,
    /// Why the row is folded ([`fold`] bits; 0: a row of its own).
    pub fold: u8,
    /// The flags of the rows folded into this one (an exec's end: its error).
    pub child_flags: u8,
}

impl IndexEntry {
    /// The marks the row shows: its own flags and those of the rows folded into it.
    pub fn marks(&self) -> u8 {
        self.flags | self.child_flags
    }

    /// Whether the default timeline shows the row: not an exec's end (shown on its exec), and
    /// not one of flightlog's own processes unless something is marked on it.
    pub fn shown_by_default(&self) -> bool {
        self.fold & fold::EXIT == 0 && (self.fold & fold::OWN == 0 || self.marks() != 0)
    }

    /// The order of rows: time, then seq where times tie.
    pub fn order_key(&self) -> (i64, u64) {
        (self.t_us, self.seq)
    }
}

/// Interned strings: more than 255 distinct values share the last slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interner {
    pub values: Vec<String>,
}

impl Interner {
    pub fn with_first(first: &str) -> Self {
        Interner {
            values: vec![first.to_string()],
        }
    }

    pub fn intern(&mut self, s: &str) -> u8 {
        if let Some(i) = self.values.iter().position(|v| v == s) {
            return i as u8;
        }
        if self.values.len() >= 255 {
            return 255;
        }
        self.values.push(s.to_string());
        (self.values.len() - 1) as u8
    }

    pub fn get(&self, i: u8) -> &str {
        self.values
            .get(i as usize)
            .map(String::as_str)
            .unwrap_or("(other)")
    }
}

/// Where a secret fingerprint was first seen (for "which token, and where it came from").
#[derive(Debug, Clone, PartialEq)]
pub struct SecretOrigin {
    pub seq: u64,
    pub kind: String,
    pub location: Option<String>,
}

/// The compact index of a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    pub entries: Vec<IndexEntry>,
    pub kinds: Interner,
    pub envs: Interner,
    pub sources: Interner,
    /// The number of events the store reported when last asked.
    pub total_hint: u64,
    pub complete: bool,
    /// tool_call seq -> tool_result seq.
    pub results: HashMap<u64, u64>,
    /// exec seq -> the seq of its end event.
    pub exits: HashMap<u64, u64>,
    pub secret_origin: HashMap<String, SecretOrigin>,
}

impl Index {
    /// Position of a seq (or of the first entry after it).
    pub fn position_of(&self, seq: u64) -> usize {
        self.entries.partition_point(|e| e.seq < seq)
    }

    /// Exact position of a seq.
    pub fn find(&self, seq: u64) -> Option<usize> {
        let p = self.position_of(seq);
        (self.entries.get(p)?.seq == seq).then_some(p)
    }

    pub fn base_us(&self) -> i64 {
        self.entries.first().map(|e| e.t_us).unwrap_or(0)
    }

    pub fn kind_name(&self, e: &IndexEntry) -> &str {
        self.kinds.get(e.kind)
    }
}

/// A chunk of index entries from the loader.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexChunk {
    pub entries: Vec<IndexEntry>,
    pub kinds: Interner,
    pub envs: Interner,
    pub sources: Interner,
    pub total_hint: u64,
    pub complete: bool,
    pub results: Vec<(u64, u64)>,
    /// (exec seq, end seq).
    pub exits: Vec<(u64, u64)>,
    /// Earlier execs found to be flightlog's own once a later one was seen (the shells above
    /// a hook process).
    pub own: Vec<u64>,
    pub secret_origin: Vec<(String, SecretOrigin)>,
}

/// One event of a loaded page.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub seq: u64,
    /// The event, or why its bytes did not parse.
    pub event: Result<Event, String>,
    /// The stored bytes, escaped (shown when they do not parse, and in the JSON tab).
    pub raw: String,
    /// One sanitised line for the timeline.
    pub summary: String,
    /// For the end of an exec: how it ended (`exit 0, 39 ms`), shown on the exec's row.
    pub ended: Option<String>,
}

/// Cached pages, keyed by `seq / PAGE`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pages {
    pub map: BTreeMap<u64, Vec<Loaded>>,
    pub requested: BTreeSet<u64>,
}

impl Pages {
    pub fn get(&self, seq: u64) -> Option<&Loaded> {
        let page = self.map.get(&(seq / PAGE))?;
        page.iter().find(|l| l.seq == seq)
    }
}

/// A terminal cell's color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CellColor {
    #[default]
    Default,
    Idx(u8),
    Rgb(u8, u8, u8),
}

/// One terminal cell as drawn (already sanitised).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    pub text: String,
    pub fg: CellColor,
    pub bg: CellColor,
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
    pub inverse: bool,
}

/// The emulated terminal screen at one seq.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScreenSnap {
    pub at_seq: u64,
    pub rows: u16,
    pub cols: u16,
    pub cells: Vec<Vec<Cell>>,
    /// How many terminal events were fed to the emulator.
    pub fed: u64,
}

/// A boundary crossing, with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossingInfo {
    pub from: String,
    pub to: String,
    pub evidence: Vec<String>,
    /// Set when the action did not reach its target: `blocked by the agent (..)`.
    pub attempt: Option<String>,
}

/// A destructive action.
#[derive(Debug, Clone, PartialEq)]
pub struct DestructiveInfo {
    pub rule: String,
    pub severity: String,
    pub target_env: Option<String>,
    pub summary: String,
    /// Set when the action did not happen: `denied by flightlog's guard (..)`.
    pub attempt: Option<String>,
}

/// One step of the cause chain.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseStep {
    pub seq: u64,
    pub role: String,
    pub text: String,
}

/// The cause chain and critical window.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseChain {
    pub from_seq: u64,
    pub to_seq: u64,
    pub seconds: f64,
    pub steps: Vec<CauseStep>,
}

/// Where the findings came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FindingsSource {
    /// Not computed yet.
    #[default]
    Pending,
    /// The analysis under the policy.
    Analysis,
}

/// What the analysis found (or, before it ran, what the recorded environments say).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub source: FindingsSource,
    pub home_env: Option<String>,
    pub crossings: BTreeMap<u64, CrossingInfo>,
    pub destructive: BTreeMap<u64, DestructiveInfo>,
    /// seq -> fingerprints of secrets used there.
    pub secret_uses: BTreeMap<u64, Vec<String>>,
    pub secret_reads: BTreeMap<u64, Vec<String>>,
    pub errors: BTreeSet<u64>,
    pub chain: Option<CauseChain>,
    /// seq -> environment and the evidence that decided it.
    pub env_of: BTreeMap<u64, (String, Vec<String>)>,
    /// fingerprint -> where the secret was first seen (from the analysis).
    pub secret_trails: BTreeMap<String, SecretOrigin>,
    pub note: Option<String>,
}

/// Verification as the status bar shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum VerifyState {
    #[default]
    Pending,
    Done {
        intact: bool,
        events: u64,
        checkpoints: u64,
        /// seq -> problem lines.
        breaks: BTreeMap<u64, Vec<String>>,
        /// Problems without a seq (checkpoints, session rows).
        other: Vec<String>,
        warnings: Vec<String>,
    },
    Failed(String),
}

/// The open prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
}

/// The detail pane's tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Detail,
    Screen,
    Chain,
    Json,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Detail, Tab::Screen, Tab::Chain, Tab::Json];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Detail => "Detail",
            Tab::Screen => "Screen",
            Tab::Chain => "Cause chain",
            Tab::Json => "JSON",
        }
    }
}

/// A row filter: any listed kind, source and environment (empty list: any).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub kinds: Vec<String>,
    pub sources: Vec<String>,
    pub envs: Vec<String>,
    /// Only rows with one of these flags (0: any).
    pub flags: u8,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.sources.is_empty() && self.envs.is_empty() && self.flags == 0
    }

    /// Parses `kind=exec,api_call layer=proxy env=production only=crossing,error`; a bare word
    /// is a kind. Returns an error naming the bad token.
    pub fn parse(s: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        for tok in s.split_whitespace() {
            let (key, val) = tok.split_once('=').unwrap_or(("kind", tok));
            let vals = val.split(',').filter(|v| !v.is_empty()).map(str::to_string);
            match key {
                "kind" | "k" => f.kinds.extend(vals),
                "layer" | "source" | "l" => f.sources.extend(vals),
                "env" | "e" => f.envs.extend(vals),
                "only" | "o" => {
                    for v in vals {
                        f.flags |= match v.as_str() {
                            "crossing" | "crossings" => flag::CROSSING,
                            "destructive" => flag::DESTRUCTIVE,
                            "secret" | "secrets" => flag::SECRET_USE | flag::SECRET_READ,
                            "error" | "errors" => flag::ERROR,
                            "gap" | "gaps" => flag::GAP,
                            "break" | "breaks" => flag::BROKEN,
                            other => return Err(format!("unknown marker '{other}'")),
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "unknown filter key '{other}' (kind, layer, env, only)"
                    ));
                }
            }
        }
        Ok(f)
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.kinds.is_empty() {
            parts.push(format!("kind={}", self.kinds.join(",")));
        }
        if !self.sources.is_empty() {
            parts.push(format!("layer={}", self.sources.join(",")));
        }
        if !self.envs.is_empty() {
            parts.push(format!("env={}", self.envs.join(",")));
        }
        if self.flags != 0 {
            parts.push("only=markers".to_string());
        }
        parts.join(" ")
    }

    /// Whether the kind with interned id `id` passes (every kind when none is named).
    fn kind_passes(&self, index: &Index, id: u8) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == index.kinds.get(id))
    }

    /// Whether the source with interned id `id` passes: a whole source or its layer prefix
    /// (`hook` matches `hook:claude-code`).
    fn source_passes(&self, index: &Index, id: u8) -> bool {
        if self.sources.is_empty() {
            return true;
        }
        let src = index.sources.get(id);
        let layer = src.split(':').next().unwrap_or(src);
        self.sources.iter().any(|s| s == src || s == layer)
    }

    /// Whether the environment with interned id `id` passes (`none` for id 0: no env).
    fn env_passes(&self, index: &Index, id: u8) -> bool {
        let env = if id == 0 { "none" } else { index.envs.get(id) };
        self.envs.is_empty() || self.envs.iter().any(|v| v == env)
    }

    /// The filter resolved against the index's interned names, for scans: one table lookup
    /// per field and entry instead of string comparisons. Valid until the index interns a new
    /// name (compile again after the index grows).
    pub fn compile(&self, index: &Index) -> CompiledFilter {
        let table = |named: bool, passes: &dyn Fn(u8) -> bool| -> Option<Box<[bool; 256]>> {
            named.then(|| {
                let mut t = Box::new([false; 256]);
                for (i, slot) in t.iter_mut().enumerate() {
                    *slot = passes(i as u8);
                }
                t
            })
        };
        CompiledFilter {
            kinds: table(!self.kinds.is_empty(), &|i| self.kind_passes(index, i)),
            sources: table(!self.sources.is_empty(), &|i| self.source_passes(index, i)),
            envs: table(!self.envs.is_empty(), &|i| self.env_passes(index, i)),
            flags: self.flags,
        }
    }

    /// Whether an entry passes.
    pub fn matches(&self, index: &Index, e: &IndexEntry) -> bool {
        self.kind_passes(index, e.kind)
            && self.source_passes(index, e.source)
            && self.env_passes(index, e.env)
            && (self.flags == 0 || e.marks() & self.flags != 0)
    }
}

/// A [`Filter`] resolved against an index ([`Filter::compile`]).
pub struct CompiledFilter {
    kinds: Option<Box<[bool; 256]>>,
    sources: Option<Box<[bool; 256]>>,
    envs: Option<Box<[bool; 256]>>,
    flags: u8,
}

impl CompiledFilter {
    /// Whether an entry passes: [`Filter::matches`], by table.
    pub fn matches(&self, e: &IndexEntry) -> bool {
        let pass = |t: &Option<Box<[bool; 256]>>, id: u8| t.as_ref().is_none_or(|t| t[id as usize]);
        pass(&self.kinds, e.kind)
            && pass(&self.sources, e.source)
            && pass(&self.envs, e.env)
            && (self.flags == 0 || e.marks() & self.flags != 0)
    }
}

/// A session in the picker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Picker {
    pub sessions: Vec<SessionRow>,
    pub selected: usize,
    pub loaded: bool,
}

/// The session being replayed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub label: Option<String>,
    pub agent: Option<String>,
    pub home_env: Option<String>,
    pub started: String,
}

/// Where the UI is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Picker,
    Replay,
}

/// A move the user asked for before the index reached it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pending {
    Seq(u64),
    FirstCrossing,
    Last,
}

/// A one-line message in the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// All of the UI's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub mode: Mode,
    pub picker: Picker,
    pub session: Option<SessionInfo>,
    pub index: Index,
    /// The rows: positions in `index.entries` that pass the filter and are not folded (unless
    /// `all_rows`), ordered by time, then seq.
    pub visible: Vec<u32>,
    pub filter: Filter,
    /// Show every event, folded ones too (flightlog's own hook processes, exec ends).
    pub all_rows: bool,
    /// Row (into the visible rows) under the cursor.
    pub cursor: usize,
    /// First row drawn.
    pub scroll: usize,
    pub pages: Pages,
    pub findings: Findings,
    pub verify: VerifyState,
    pub player: Player,
    pub prompt: Option<Prompt>,
    pub last_search: Option<String>,
    pub searching: bool,
    pub message: Option<Message>,
    pub tab: Tab,
    pub detail_scroll: u16,
    pub help: bool,
    /// Keep the cursor on the newest event as the session grows.
    pub follow: bool,
    pub screen: Option<ScreenSnap>,
    pub screen_requested: Option<u64>,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub pending: Option<Pending>,
    pub quit: bool,
    pub load_error: Option<String>,
}

/// Everything `update` can receive.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Action(Action),
    /// The only source of time inside the state machine.
    Tick(Duration),
    Resize(u16, u16),
    Sessions(Result<Vec<SessionRow>, String>),
    Opened(SessionInfo),
    Indexed(IndexChunk),
    Page(u64, Vec<Loaded>),
    Screen(ScreenSnap),
    SearchResult {
        query: String,
        forward: bool,
        from: u64,
        seq: Option<u64>,
    },
    Verified(VerifyState),
    Analyzed(Findings),
    LoadError(String),
}

/// Work `update` asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    ListSessions,
    OpenSession(String),
    /// Load these pages (`seq / PAGE`).
    Fetch(Vec<u64>),
    /// Build the terminal screen as of this seq.
    Screen(u64),
    /// Find the next (or previous) event after `from` whose stored text contains `query`.
    Search {
        query: String,
        from: u64,
        forward: bool,
    },
    Batch(Vec<Effect>),
}

impl State {
    /// A fresh state at the picker (or about to open a session).
    pub fn new(size: (u16, u16), speed: f64) -> State {
        State {
            size,
            player: Player::new(speed),
            index: Index {
                kinds: Interner::default(),
                envs: Interner::with_first(""),
                sources: Interner::default(),
                ..Index::default()
            },
            ..State::default()
        }
    }

    /// Number of rows the timeline has.
    pub fn rows(&self) -> usize {
        self.visible.len()
    }

    /// Index position of a row.
    pub fn pos_of_row(&self, row: usize) -> Option<usize> {
        self.visible.get(row).map(|p| *p as usize)
    }

    /// Whether an entry has a row (passes the filter, and is not folded unless all rows are
    /// shown).
    pub fn has_row(&self, e: &IndexEntry) -> bool {
        (self.all_rows || e.shown_by_default()) && self.filter.matches(&self.index, e)
    }

    /// The end event folded into an exec's row, if it is loaded.
    pub fn ended_of(&self, e: &IndexEntry) -> Option<&Loaded> {
        let end = *self.index.exits.get(&e.seq)?;
        self.pages.get(end)
    }

    pub fn entry_of_row(&self, row: usize) -> Option<&IndexEntry> {
        self.pos_of_row(row).and_then(|p| self.index.entries.get(p))
    }

    /// The entry under the cursor.
    pub fn current(&self) -> Option<&IndexEntry> {
        self.entry_of_row(self.cursor)
    }

    /// The loaded event under the cursor, if its page is in memory.
    pub fn current_loaded(&self) -> Option<&Loaded> {
        self.current().and_then(|e| self.pages.get(e.seq))
    }

    /// Seconds from the session's first event.
    pub fn rel_secs(&self, e: &IndexEntry) -> f64 {
        (e.t_us - self.index.base_us()) as f64 / 1e6
    }

    /// Problems verification found at a seq.
    pub fn breaks_at(&self, seq: u64) -> Option<&Vec<String>> {
        match &self.verify {
            VerifyState::Done { breaks, .. } => breaks.get(&seq),
            _ => None,
        }
    }
}
