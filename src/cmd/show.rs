//! `flightlog show`: a session's plain-text timeline, or its jsonl export lines.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
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
    let mut start = None;
    let mut io_err = None;
    store.for_each_event(&id, |ev| {
        let res = if args.json {
            let mut l = export_line(&ev.prev, &ev.hash, &ev.raw);
            l.push(b'\n');
            out.write_all(&l)
        } else {
            writeln!(out, "{}", timeline_line(&ev.raw, &mut start))
        };
        if let Err(e) = res {
            io_err = Some(e);
            return false;
        }
        true
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One human line: `+1.234s  seq  kind  source  env  summary`.
pub fn timeline_line(raw: &[u8], start: &mut Option<chrono::DateTime<chrono::Utc>>) -> String {
    let Ok(e) = Event::from_bytes(raw) else {
        return format!(
            "(unreadable event: {})",
            sanitize::bytes(&raw[..raw.len().min(80)])
        );
    };
    let t = parse_ts(&e.ts);
    if start.is_none() {
        *start = t;
    }
    let rel = match (t, *start) {
        (Some(t), Some(s)) => format!(
            "+{:.3}s",
            (t - s).num_microseconds().unwrap_or(0) as f64 / 1e6
        ),
        _ => "?".into(),
    };
    format!(
        "{rel:>10}  {:>5}  {:<12} {:<18} {:<10} {}",
        e.seq,
        e.kind.as_str(),
        sanitize::line(&e.source),
        sanitize::line(e.env.as_deref().unwrap_or("-")),
        flightlog_analysis::describe::one_line(&e),
    )
}
