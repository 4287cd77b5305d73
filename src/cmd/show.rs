//! `flightlog show`: a session's plain-text timeline, or its jsonl export lines, or the
//! timeline of a live session as it is recorded (`--follow`).
//!
//! The timeline is the agent's actions in time order (seq breaks ties: layers stamp their own
//! times): flightlog's own hook processes are folded away, and each exec's end is shown on the
//! exec's row as a status and a duration. `--all` prints every event.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use flightlog_analysis::own::OwnHooks;
use flightlog_analysis::{Analyzer, Crossing, Destructive, EventFacts, Policy, describe};
use flightlog_formats::chain::export_line;
use flightlog_formats::event::{Event, parse_ts};
use flightlog_formats::store::SessionStatus;
use flightlog_formats::text as sanitize;
use flightlog_formats::{Kind, Store};

use crate::ctx::Ctx;

/// How often `--follow` asks the store for new events.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog show latest\n  flightlog show latest --all        # flightlog's own hook processes and exec ends too\n  flightlog show latest --follow     # a session still being recorded, as it happens\n  flightlog show 3f9a --json > session.jsonl"
)]
pub struct Args {
    /// Session id, unique prefix, or `latest`.
    session: String,
    /// Print the jsonl export lines ({"prev","hash","event"}) instead of the timeline.
    #[arg(long, conflicts_with = "follow")]
    json: bool,
    /// Every event: flightlog's own hook processes and each exec's end get rows of their own.
    #[arg(long)]
    all: bool,
    /// Follow a live session: print its events as they are committed, until the session ends
    /// (or Ctrl-C). Events are printed in commit order, without the analysis's marks.
    #[arg(long)]
    follow: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let store = ctx.open_ro()?;
    let id = store.resolve(&args.session)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let mut io_err = None;
        store.for_each_event(&id, |ev| {
            let mut l = export_line(&ev.prev, &ev.hash, &ev.raw);
            l.push(b'\n');
            if let Err(e) = out.write_all(&l) {
                io_err = Some(e);
                return false;
            }
            true
        })?;
        if let Some(e) = io_err {
            return Err(e.into());
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.follow {
        return follow(&store, &id, args.all, &ctx.policy()?, &mut out);
    }
    let view = ctx.session_view(&store, &id, &ctx.policy()?)?;
    let start = view.events.first().and_then(Event::time);
    let a = &view.analysis;
    let folds = Folds::of(&view.events);
    let pos: HashMap<u64, usize> = view
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.seq, i))
        .collect();
    // Every row with its place: time, then seq. An unreadable event (no time) keeps the time
    // of the event before it; nothing is left out.
    enum Line<'a> {
        Event(usize),
        Unreadable(&'a flightlog_analysis::session::Unreadable),
    }
    let mut rows: Vec<((i64, u64), Line)> = Vec::with_capacity(view.events.len());
    let mut bad = view.unreadable.iter().peekable();
    let mut last_us = 0i64;
    for (i, e) in view.events.iter().enumerate() {
        while let Some(u) = bad.next_if(|u| u.seq < e.seq) {
            rows.push(((last_us, u.seq), Line::Unreadable(u)));
        }
        if let Some(t) = e.time() {
            last_us = t.timestamp_micros();
        }
        rows.push(((last_us, e.seq), Line::Event(i)));
    }
    for u in bad {
        rows.push(((last_us, u.seq), Line::Unreadable(u)));
    }
    rows.sort_by_key(|(k, _)| *k);
    let row_of = |i: usize| -> Row {
        let e = &view.events[i];
        Row {
            facts: a.facts_of(e.seq),
            crossing: a.boundary_crossings.iter().find(|c| c.seq == e.seq),
            destructive: a.destructive.iter().find(|d| d.seq == e.seq),
            ..Row::default()
        }
    };
    for (_, line) in &rows {
        let i = match line {
            Line::Unreadable(u) => {
                writeln!(out, "{}", unreadable_line(u.seq, &u.error))?;
                continue;
            }
            Line::Event(i) => *i,
        };
        let e = &view.events[i];
        let mut row = row_of(i);
        if !args.all {
            if folds.end_of.contains_key(&e.seq) {
                continue; // shown on its exec's row
            }
            if let Some(end) = folds.ends.get(&e.seq).and_then(|s| pos.get(s)) {
                row.end_facts = a.facts_of(view.events[*end].seq);
                row.ended = describe::ended(&view.events[*end]);
            }
            // flightlog's own hook process: folded away unless something is marked on it.
            if folds.own.contains(&e.seq) && mark(&row) == ' ' {
                continue;
            }
        }
        writeln!(out, "{}", timeline_line(e, &row, start))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What the default timeline folds: flightlog's own hook processes (and their ends), and each
/// exec's end (onto the exec's row).
#[derive(Default)]
struct Folds {
    /// Execs (and ends) of flightlog's own processes.
    own: HashSet<u64>,
    /// exec seq -> its end's seq.
    ends: HashMap<u64, u64>,
    /// end seq -> its exec's seq (only for execs in the session).
    end_of: HashMap<u64, u64>,
    hooks: OwnHooks,
    execs: HashSet<u64>,
}

impl Folds {
    fn of(events: &[Event]) -> Folds {
        let mut f = Folds::default();
        for e in events {
            f.push(e);
        }
        f
    }

    /// Feeds one event (in seq order).
    fn push(&mut self, e: &Event) {
        if e.kind == Kind::SessionStart && e.seq == 0 {
            let s = flightlog_formats::payload::SessionStart::from_value(&e.data);
            self.hooks = OwnHooks::new(s.flightlog_exe.as_deref());
        }
        let Some(x) = e.exec() else { return };
        let pid = x.pid.and_then(|p| u64::try_from(p).ok());
        if let Some(of) = x.exit_of_seq {
            if pid.is_some_and(|p| self.hooks.is_ours(p)) {
                self.own.insert(e.seq);
            }
            if let Some(p) = pid {
                self.hooks.exit(p);
            }
            if self.execs.contains(&of) {
                self.ends.insert(of, e.seq);
                self.end_of.insert(e.seq, of);
            }
            return;
        }
        self.execs.insert(e.seq);
        let ppid = x.ppid.and_then(|p| u64::try_from(p).ok());
        let ours = self
            .hooks
            .exec(e.seq, pid, ppid, x.exe.as_deref(), x.argv());
        self.own.extend(ours);
    }
}

/// `--follow`: prints the session's events as they are committed, in commit order, until the
/// session is no longer being recorded. Each row is marked by the streaming analysis as it
/// arrives (the marks of an event depend only on the events before it, so they are the marks
/// `show` gives once the session is whole). flightlog's own hook processes stay folded away
/// unless `all` or marked; an exec's end is printed when it comes (its exec's row is already
/// out).
fn follow(
    store: &Store,
    id: &str,
    all: bool,
    policy: &Policy,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let mut next = 0u64;
    let mut start = None;
    let mut folds = Folds::default();
    let mut analyzer = Analyzer::new(policy);
    loop {
        // Whether it was live before reading: events committed after the last read are
        // still read once more before stopping.
        let live = store.session_status(id)? == SessionStatus::Recording;
        loop {
            let batch = store.events(id, next, 1000)?;
            let Some(last) = batch.last().map(|e| e.seq) else {
                break;
            };
            for s in &batch {
                match s.event() {
                    Ok(e) => {
                        if start.is_none() {
                            start = e.time();
                        }
                        folds.push(&e);
                        analyzer.push(&e);
                        let at = |seq: u64| seq == e.seq;
                        let row = Row {
                            facts: analyzer.facts().last().filter(|f| at(f.seq)),
                            crossing: analyzer.crossings().last().filter(|c| at(c.seq)),
                            destructive: analyzer.destructive().last().filter(|d| at(d.seq)),
                            ..Row::default()
                        };
                        if all || !folds.own.contains(&e.seq) || mark(&row) != ' ' {
                            writeln!(out, "{}", timeline_line(&e, &row, start))
                                .context("cannot write the timeline")?;
                        }
                    }
                    Err(err) => writeln!(out, "{}", unreadable_line(s.seq, &err.to_string()))
                        .context("cannot write the timeline")?,
                }
            }
            next = last + 1;
            out.flush().context("cannot write the timeline")?;
        }
        if !live {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(POLL);
    }
}

fn unreadable_line(seq: u64, error: &str) -> String {
    format!(
        "{:>10}  {seq:>5}  ✗ (unreadable event: {})",
        "?",
        sanitize::line(error)
    )
}

/// What the analysis says about one row: the event's facts, and the findings made at it (a
/// finding is made once per action, at its first event; the action's other layers share its
/// environment but are not findings of their own).
#[derive(Default)]
pub struct Row<'a> {
    pub facts: Option<&'a EventFacts>,
    pub crossing: Option<&'a Crossing>,
    pub destructive: Option<&'a Destructive>,
    /// The facts of the exec's end folded into this row.
    pub end_facts: Option<&'a EventFacts>,
    /// How the exec ended (`exit 0, 39 ms`), when its end is folded into this row.
    pub ended: Option<String>,
}

/// The row's marker, most important first (as the TUI's timeline marks it): `◆` a boundary
/// crossing, `!` a destructive action, `$` a secret used, `~` a secret read, `×` an error.
fn mark(row: &Row) -> char {
    let f = row.facts;
    if row.crossing.is_some() {
        '◆'
    } else if row.destructive.is_some() {
        '!'
    } else if f.is_some_and(|f| !f.secret_uses.is_empty()) {
        '$'
    } else if f.is_some_and(|f| !f.secret_reads.is_empty()) {
        '~'
    } else if f.is_some_and(|f| f.error) || row.end_facts.is_some_and(|f| f.error) {
        '×'
    } else {
        ' '
    }
}

fn env_label(env: &str) -> String {
    if env == "*" {
        "every env".into()
    } else {
        sanitize::line(env)
    }
}

/// One human line: `+1.234s  seq  M kind  source  env  summary`, where M marks crossings,
/// destructive actions, secrets and errors, and env is the environment the event acts on (the
/// analysis's, else the one recorded with it).
pub fn timeline_line(e: &Event, row: &Row, start: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let rel = match (parse_ts(&e.ts), start) {
        (Some(t), Some(s)) => format!(
            "+{:.3}s",
            (t - s).num_microseconds().unwrap_or(0) as f64 / 1e6
        ),
        _ => "?".into(),
    };
    let env = row
        .facts
        .and_then(|f| f.env.as_deref())
        .or(e.env.as_deref())
        .map(env_label)
        .unwrap_or_else(|| "-".into());
    let mut flags = Vec::new();
    if let Some(c) = row.crossing {
        flags.push(format!("BOUNDARY CROSSED → {}", env_label(&c.to)));
    }
    if let Some(d) = row.destructive {
        flags.push(format!(
            "DESTRUCTIVE {} ({})",
            sanitize::line(&d.rule),
            d.severity.as_str()
        ));
    }
    flags.push(describe::one_line(e));
    if let Some(how) = &row.ended {
        flags.push(how.clone());
    }
    format!(
        "{rel:>10}  {:>5}  {} {:<12} {:<18} {:<10} {}",
        e.seq,
        mark(row),
        e.kind.as_str(),
        sanitize::line(&e.source),
        env,
        flags.join(" · "),
    )
}
