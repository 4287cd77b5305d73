//! Reads the store (read-only) for the UI: the session list, the compact index (built in
//! chunks, then polled for new events so a live session can be followed), pages of full
//! events, terminal screens, searches, verification and the findings. Every function here is
//! synchronous and returns data; `app.rs` runs them on worker threads.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use flightlog_formats::keys::key_dir_for;
use flightlog_formats::verify::{StoreVerifyOptions, default_trust, verify_store};
use flightlog_formats::{Event, Kind, Store};
use serde::Deserialize;
use serde_json::Value;

use crate::ViewerError;
use crate::sanitize;
use crate::state::{
    Cell, CellColor, IndexChunk, IndexEntry, Interner, Loaded, PAGE, ScreenSnap, SecretOrigin,
    SessionInfo, VerifyState, flag, fold,
};
use flightlog_analysis::own::OwnHooks;

/// Opens a session by name (id, unique prefix or `latest`).
pub fn open_session(store: &Store, name: &str) -> Result<SessionInfo, ViewerError> {
    let id = store.resolve(name)?;
    // One row by key: listing sessions would count every event of every session.
    Ok(match store.session_meta(&id)? {
        Some(row) => SessionInfo {
            id,
            label: row.label,
            agent: row.agent,
            home_env: row.home_env,
            started: row.started,
        },
        None => SessionInfo {
            id,
            ..SessionInfo::default()
        },
    })
}

/// The fields of an event the index needs, borrowed from its stored bytes; `data` as `D`.
#[derive(Deserialize)]
struct Light<'a, D = LightData> {
    seq: u64,
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    env: Option<Cow<'a, str>>,
    #[serde(default)]
    data: D,
}

/// The few `data` fields the index needs; everything else is skipped without allocation.
#[derive(Deserialize, Default)]
struct LightData {
    exit: Option<Value>,
    signal: Option<Value>,
    is_error: Option<Value>,
    status: Option<Value>,
    call_seq: Option<Value>,
    path: Option<Value>,
    secrets: Option<Value>,
    inventory: Option<Value>,
    error: Option<Value>,
    exit_of_seq: Option<Value>,
    pid: Option<Value>,
    ppid: Option<Value>,
    exe: Option<Value>,
    argv: Option<Value>,
    flightlog_exe: Option<Value>,
}

/// An event whose `data` the index cannot read (of another shape): the rest is still indexed.
type LightNoData<'a> = Light<'a, serde::de::IgnoredAny>;

/// Whether an event's data says it failed (the one definition: `flightlog_formats::payload`).
fn is_error(kind: &str, d: &LightData) -> bool {
    let facts = flightlog_formats::payload::ErrorFacts {
        exit: d.exit.as_ref().and_then(Value::as_i64),
        signal: d.signal.as_ref().is_some_and(|s| !s.is_null()),
        is_error: d.is_error.as_ref().and_then(Value::as_bool),
        error: d.error.as_ref(),
        status: d.status.as_ref().and_then(Value::as_i64),
    };
    flightlog_formats::payload::is_error(&Kind::parse(kind), &facts)
}

/// Builds the compact index of one session, chunk by chunk.
#[derive(Debug)]
pub struct Indexer {
    pub session: String,
    /// The next seq to read.
    pub next: u64,
    kinds: Interner,
    envs: Interner,
    sources: Interner,
    /// flightlog's own hook processes among the execs (the one rule: `analysis::own`).
    own: OwnHooks,
    /// The time of the last event whose timestamp parsed.
    last_us: i64,
}

impl Indexer {
    pub fn new(session: &str) -> Self {
        Indexer {
            session: session.to_string(),
            next: 0,
            kinds: Interner::default(),
            envs: Interner::with_first(""),
            sources: Interner::default(),
            own: OwnHooks::new(None),
            last_us: 0,
        }
    }

    /// The event's time, or the previous event's when it does not parse (rows keep their
    /// place between their neighbours).
    fn time(&mut self, ts: &str) -> i64 {
        match flightlog_formats::event::parse_ts(ts) {
            Some(t) => {
                self.last_us = t.timestamp_micros();
                self.last_us
            }
            None => self.last_us,
        }
    }

    /// Folds exec ends into their execs and finds flightlog's own hook processes.
    fn fold(&mut self, seq: u64, kind: &str, d: &LightData, out: &mut IndexChunk) -> u8 {
        if kind == "session_start" && seq == 0 {
            self.own = OwnHooks::new(d.flightlog_exe.as_ref().and_then(Value::as_str));
        }
        if kind != "exec" {
            return 0;
        }
        let pid = d.pid.as_ref().and_then(Value::as_u64);
        if let Some(of) = d.exit_of_seq.as_ref().and_then(Value::as_u64) {
            out.exits.push((of, seq));
            let mut f = fold::EXIT;
            if let Some(p) = pid {
                if self.own.is_ours(p) {
                    f |= fold::OWN;
                }
                self.own.exit(p);
            }
            return f;
        }
        let argv: Vec<String> = d
            .argv
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let ppid = d.ppid.as_ref().and_then(Value::as_u64);
        let mut f = 0;
        for s in self.own.exec(
            seq,
            pid,
            ppid,
            d.exe.as_ref().and_then(Value::as_str),
            &argv,
        ) {
            if s == seq {
                f = fold::OWN;
            } else {
                out.own.push(s);
            }
        }
        f
    }

    /// Reads up to `limit` events after the last one indexed.
    pub fn chunk(&mut self, store: &Store, limit: u64) -> Result<IndexChunk, ViewerError> {
        let (total, _) = store.head(&self.session)?;
        let mut out = IndexChunk {
            total_hint: total,
            ..IndexChunk::default()
        };
        let mut last = None;
        let session = self.session.clone();
        let n = store.for_each_raw(&session, self.next, limit, |seq, raw| {
            last = Some(seq);
            let e = self.entry(seq, raw, &mut out);
            out.entries.push(e);
            true
        })?;
        if let Some(l) = last {
            self.next = l + 1;
        }
        out.complete = n < limit;
        out.kinds = self.kinds.clone();
        out.envs = self.envs.clone();
        out.sources = self.sources.clone();
        Ok(out)
    }

    /// The index entry of a readable event.
    fn indexed<D>(&mut self, seq: u64, l: &Light<'_, D>, flags: u8, fold: u8) -> IndexEntry {
        IndexEntry {
            seq,
            t_us: self.time(&l.ts),
            kind: self.kinds.intern(&l.kind),
            env: l.env.as_deref().map(|e| self.envs.intern(e)).unwrap_or(0),
            source: self.sources.intern(&l.source),
            flags,
            severity: 0,
            fold,
            child_flags: 0,
        }
    }

    fn entry(&mut self, seq: u64, raw: &[u8], out: &mut IndexChunk) -> IndexEntry {
        if let Ok(l) = serde_json::from_slice::<Light>(raw) {
            let mut flags = 0;
            if is_error(&l.kind, &l.data) {
                flags |= flag::ERROR;
            }
            if l.kind == "gap" {
                flags |= flag::GAP;
            }
            if l.seq != seq {
                flags |= flag::UNPARSEABLE;
            }
            let folded = self.fold(seq, &l.kind, &l.data, out);
            if l.kind == "tool_result"
                && let Some(call) = l.data.call_seq.as_ref().and_then(Value::as_u64)
            {
                out.results.push((call, seq));
            }
            let path = l.data.path.as_ref().and_then(Value::as_str);
            for list in [&l.data.secrets, &l.data.inventory].into_iter().flatten() {
                for s in list.as_array().into_iter().flatten() {
                    let s = flightlog_formats::payload::SecretAt::from_value(s);
                    let (Some(fp), Some(kind)) = (s.fp.as_deref(), s.kind.as_deref()) else {
                        continue;
                    };
                    let file = s.path.as_deref().or(path);
                    let line = s.line;
                    let location = file.map(|f| match line {
                        Some(n) => format!("{f}:{n}"),
                        None => f.to_string(),
                    });
                    out.secret_origin.push((
                        fp.to_string(),
                        SecretOrigin {
                            seq,
                            kind: kind.to_string(),
                            location,
                        },
                    ));
                }
            }
            return self.indexed(seq, &l, flags, folded);
        }
        if let Ok(l) = serde_json::from_slice::<LightNoData>(raw) {
            let flags = if l.seq == seq { 0 } else { flag::UNPARSEABLE };
            return self.indexed(seq, &l, flags, 0);
        }
        IndexEntry {
            seq,
            t_us: self.last_us,
            kind: self.kinds.intern("(unreadable)"),
            env: 0,
            source: self.sources.intern("?"),
            flags: flag::UNPARSEABLE,
            severity: 0,
            fold: 0,
            child_flags: 0,
        }
    }
}

/// Loads one page (`seq / PAGE`) of full events.
pub fn fetch_page(store: &Store, session: &str, page: u64) -> Result<Vec<Loaded>, ViewerError> {
    let evs = store.events(session, page * PAGE, PAGE)?;
    Ok(evs
        .into_iter()
        .filter(|e| e.seq / PAGE == page)
        .map(|e| loaded(e.seq, &e.raw))
        .collect())
}

/// Parses stored bytes for display.
pub fn loaded(seq: u64, raw: &[u8]) -> Loaded {
    let raw_text = sanitize::bytes(&raw[..raw.len().min(64 * 1024)]);
    match Event::from_bytes(raw) {
        Ok(ev) => Loaded {
            seq,
            summary: summary(&ev),
            ended: flightlog_analysis::describe::ended(&ev),
            event: Ok(ev),
            raw: raw_text,
        },
        Err(e) => Loaded {
            seq,
            summary: format!("unreadable event: {}", sanitize::line(&e.to_string())),
            ended: None,
            event: Err(e.to_string()),
            raw: raw_text,
        },
    }
}

/// One sanitised line that says what an event is (the one description every output uses).
pub fn summary(e: &Event) -> String {
    flightlog_analysis::describe::one_line(e)
}

/// The terminal emulator fed with a session's `terminal` events, up to a seq.
pub struct Screener {
    session: String,
    parser: vt100::Parser,
    /// The last seq fed.
    upto: Option<u64>,
    fed: u64,
    /// Whether the last byte fed was a CR (a CR LF split across two events stays one newline).
    last_cr: bool,
}

impl std::fmt::Debug for Screener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screener")
            .field("upto", &self.upto)
            .finish()
    }
}

impl Screener {
    pub fn new(session: &str) -> Self {
        Screener {
            session: session.to_string(),
            parser: vt100::Parser::new(24, 80, 0),
            upto: None,
            fed: 0,
            last_cr: false,
        }
    }

    /// The screen as of `seq` (every terminal event with a seq at most `seq` applied).
    pub fn screen_at(&mut self, store: &Store, seq: u64) -> Result<ScreenSnap, ViewerError> {
        if self.upto.is_some_and(|u| u > seq) {
            *self = Screener::new(&self.session);
        }
        let from = self.upto.map(|u| u + 1).unwrap_or(0);
        if from <= seq {
            let rows = store.raws_of_kind(&self.session, from, seq, "terminal")?;
            for raw in rows {
                let Ok(ev) = Event::from_bytes(&raw) else {
                    continue;
                };
                let t = flightlog_formats::payload::Terminal::from_value(&ev.data);
                let data = t.data.as_deref().unwrap_or("");
                match t.stream.as_deref() {
                    // Output captured from pipes (the agent had no terminal) never went
                    // through a tty's output processing: a bare LF meant "next line", so it is
                    // fed as CR LF, as the terminal's `onlcr` would have done.
                    Some("o") if t.fd.is_some() => {
                        let fed = onlcr(data, self.last_cr);
                        self.parser.process(fed.as_bytes());
                    }
                    Some("o") => self.parser.process(data.as_bytes()),
                    Some("r") => {
                        if let Some((c, r)) = data.split_once('x')
                            && let (Ok(c), Ok(r)) =
                                (c.trim().parse::<u16>(), r.trim().parse::<u16>())
                        {
                            self.parser
                                .screen_mut()
                                .set_size(r.clamp(1, 500), c.clamp(1, 1000));
                        }
                    }
                    _ => continue,
                }
                if let Some(b) = data.as_bytes().last() {
                    self.last_cr = *b == b'\r';
                }
                self.fed += 1;
            }
            self.upto = Some(seq);
        }
        Ok(self.snapshot(seq))
    }

    fn snapshot(&self, seq: u64) -> ScreenSnap {
        let screen = self.parser.screen();
        let (rows, cols) = screen.size();
        let color = |c: vt100::Color| match c {
            vt100::Color::Default => CellColor::Default,
            vt100::Color::Idx(i) => CellColor::Idx(i),
            vt100::Color::Rgb(r, g, b) => CellColor::Rgb(r, g, b),
        };
        let cells = (0..rows)
            .map(|r| {
                (0..cols)
                    .map(|c| match screen.cell(r, c) {
                        Some(cell) => {
                            let raw = cell.contents();
                            let text = if cell.is_wide_continuation() {
                                String::new()
                            } else if raw.is_empty() {
                                " ".to_string()
                            } else if sanitize::line(raw) == raw {
                                raw.to_string()
                            } else {
                                "\u{FFFD}".to_string()
                            };
                            Cell {
                                text,
                                fg: color(cell.fgcolor()),
                                bg: color(cell.bgcolor()),
                                bold: cell.bold(),
                                italic: cell.italic(),
                                underline: cell.underline(),
                                inverse: cell.inverse(),
                            }
                        }
                        None => Cell {
                            text: " ".into(),
                            ..Cell::default()
                        },
                    })
                    .collect()
            })
            .collect();
        ScreenSnap {
            at_seq: seq,
            rows,
            cols,
            cells,
            fed: self.fed,
        }
    }
}

/// A bare LF becomes CR LF (a CR LF stays as it is); `after_cr` says whether the text before
/// `data` ended with a CR.
fn onlcr(data: &str, after_cr: bool) -> std::borrow::Cow<'_, str> {
    if !data.contains('\n') {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = String::with_capacity(data.len() + 16);
    let mut prev_cr = after_cr;
    for ch in data.chars() {
        if ch == '\n' && !prev_cr {
            out.push('\r');
        }
        out.push(ch);
        prev_cr = ch == '\r';
    }
    std::borrow::Cow::Owned(out)
}

/// The first event after (or before) `from` whose stored text contains `query`
/// (ASCII case-insensitive).
pub fn search(
    store: &Store,
    session: &str,
    query: &str,
    from: u64,
    forward: bool,
) -> Result<Option<u64>, ViewerError> {
    Ok(store.search(session, from, query, forward)?)
}

/// Verifies the session (and the store's checkpoints) with the keys next to the store.
/// SQLite page cache per viewer connection (KiB).
pub const VIEWER_CACHE_KIB: u64 = 16 * 1024;

/// Opens the store read-only for the viewer: pages are read through a bounded cache instead
/// of mapping the whole file, so the viewer's memory stays bounded whatever the store's size
/// (a mapped 1 GB store would show as 1 GB of RSS).
pub fn open_store(db: &Path) -> Result<Store, flightlog_formats::Error> {
    if let Some(url) = db
        .to_str()
        .filter(|u| flightlog_formats::store::pg::is_url(u))
    {
        return Store::open_postgres(url);
    }
    let store = Store::open_read_only(db)?;
    store.set_read_memory(0, VIEWER_CACHE_KIB)?;
    Ok(store)
}

pub fn verify(store: &Store, db: &Path, session: &str) -> VerifyState {
    let trust = match default_trust(store, &key_dir_for(db)) {
        Ok(t) => t,
        Err(e) => return VerifyState::Failed(sanitize::line(&e.to_string())),
    };
    let opts = StoreVerifyOptions {
        session: Some(session.to_string()),
        trust,
        external: None,
    };
    match verify_store(store, &opts) {
        Ok(r) => {
            let mut breaks: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            let mut other = Vec::new();
            for p in &r.problems {
                if p.session.as_deref().is_some_and(|s| s != session) {
                    continue;
                }
                let line = sanitize::line(&format!("{}: {}", p.kind, p.detail));
                match p.seq {
                    Some(seq) => breaks.entry(seq).or_default().push(line),
                    None => other.push(line),
                }
            }
            VerifyState::Done {
                intact: breaks.is_empty() && other.is_empty(),
                events: r.events_checked,
                checkpoints: r.checkpoints_checked,
                breaks,
                other,
                warnings: r
                    .warnings
                    .iter()
                    .filter(|w| w.session.as_deref().is_none_or(|s| s == session))
                    .map(|w| sanitize::line(&w.detail))
                    .collect(),
            }
        }
        Err(e) => VerifyState::Failed(sanitize::line(&e.to_string())),
    }
}

/// Seqs of the session's events, oldest first (helper for tests and benches).
pub fn count(store: &Store, session: &str) -> Result<u64, ViewerError> {
    Ok(store.head(session)?.0)
}

#[cfg(test)]
mod tests {
    use super::{Light, LightNoData, onlcr};

    /// An event whose `data` is not an object the index reads is still indexed by its head;
    /// one with no event head at all is not.
    #[test]
    fn the_head_is_read_whatever_the_data() {
        let head =
            r#""seq":3,"ts":"2026-04-25T10:00:00.000000Z","kind":"note","source":"s","env":"prod""#;
        for data in [r#""data":"a bare string","#, r#""data":[1,2],"#, ""] {
            let raw = format!("{{{data}{head}}}");
            let l = serde_json::from_slice::<LightNoData>(raw.as_bytes()).unwrap();
            assert_eq!(
                (l.seq, &*l.kind, l.env.as_deref()),
                (3, "note", Some("prod"))
            );
            assert_eq!(
                serde_json::from_slice::<Light>(raw.as_bytes()).is_ok(),
                data.is_empty(),
                "{raw}"
            );
        }
        assert!(serde_json::from_slice::<LightNoData>(br#"{"seq":3,"data":{}}"#).is_err());
    }

    /// The viewer opens the store read-only and reads it through a bounded page cache, not a
    /// map of the whole file (ARCHITECTURE.md: "the viewer's memory is bounded", "the viewer is
    /// read-only").
    #[test]
    fn the_viewers_store_is_read_only_with_a_bounded_cache() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("s.db");
        drop(flightlog_formats::Store::open(&db).unwrap());
        let store = super::open_store(&db).unwrap();
        let c = store.connection();
        let pragma = |p: &str| -> i64 {
            c.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(pragma("mmap_size"), 0);
        assert_eq!(pragma("cache_size"), -(super::VIEWER_CACHE_KIB as i64));
        let write = c.execute_batch("CREATE TABLE viewer_wrote(x)").unwrap_err();
        assert!(write.to_string().contains("readonly"), "{write}");
    }

    #[test]
    fn onlcr_turns_bare_line_feeds_into_cr_lf() {
        let cases = [
            ("", false, ""),
            ("no newline", false, "no newline"),
            ("a\nb\n", false, "a\r\nb\r\n"),
            ("a\r\nb", false, "a\r\nb"),
            ("\nb", true, "\nb"),
            ("\nb", false, "\r\nb"),
            ("a\n\n", false, "a\r\n\r\n"),
            ("é\nü", false, "é\r\nü"),
        ];
        for (input, after_cr, want) in cases {
            assert_eq!(
                onlcr(input, after_cr),
                want,
                "{input:?} after_cr={after_cr}"
            );
        }
    }
}
