//! `flightlog show`: a session's plain-text timeline, or its jsonl export lines.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use flightlog_analysis::{Crossing, Destructive, EventFacts, describe};
use flightlog_formats::chain::export_line;
use flightlog_formats::event::{Event, parse_ts};
use flightlog_formats::text as sanitize;

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog show latest\n  flightlog show 3f9a --json > session.jsonl"
)]
pub struct Args {
    /// Session id, unique prefix, or `latest`.
    session: String,
    /// Print the jsonl export lines ({"prev","hash","event"}) instead of the timeline.
    #[arg(long)]
    json: bool,
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
    let view = ctx.session_view(&store, &id, &ctx.policy()?)?;
    let start = view.events.first().and_then(Event::time);
    let a = &view.analysis;
    // Readable events and unreadable ones, in seq order: nothing is left out.
    let mut bad = view.unreadable.iter().peekable();
    for (e, f) in view.events.iter().zip(&a.facts) {
        while let Some(u) = bad.next_if(|u| u.seq < e.seq) {
            writeln!(out, "{}", unreadable_line(u.seq, &u.error))?;
        }
        let row = Row {
            facts: Some(f),
            crossing: a.boundary_crossings.iter().find(|c| c.seq == e.seq),
            destructive: a.destructive.iter().find(|d| d.seq == e.seq),
        };
        writeln!(out, "{}", timeline_line(e, &row, start))?;
    }
    for u in bad {
        writeln!(out, "{}", unreadable_line(u.seq, &u.error))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
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
}

/// The row's marker, most important first (as the TUI's timeline marks it): `◆` a boundary
/// crossing, `!` a destructive action, `$` a secret used, `~` a secret read, `×` an error.
fn mark(row: &Row) -> char {
    let Some(f) = row.facts else {
        return ' ';
    };
    if row.crossing.is_some() {
        '◆'
    } else if row.destructive.is_some() {
        '!'
    } else if !f.secret_uses.is_empty() {
        '$'
    } else if !f.secret_reads.is_empty() {
        '~'
    } else if f.error {
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
