//! `flightlog sessions`: one row per session.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  flightlog sessions --json | jq '.[] | select(.crossings > 0)'")]
pub struct Args {
    /// JSON: an array of {id,label,agent,home_env,started,ended,events,crossings,destructive,intact}.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    label: Option<String>,
    agent: Option<String>,
    home_env: Option<String>,
    started: String,
    ended: Option<String>,
    events: u64,
    crossings: u64,
    destructive: u64,
    intact: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    if !ctx.db.exists() {
        if args.json {
            println!("[]");
        } else {
            eprintln!("no sessions yet (no store at {})", ctx.db.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = ctx.open_ro()?;
    let policy = crate::guard::policy(ctx)?;
    let mut rows = Vec::new();
    for s in store.sessions()? {
        let summary = crate::summary::summarize(ctx, &store, &policy, &s.id)?;
        rows.push(Row {
            id: s.id,
            label: s.label,
            agent: s.agent,
            home_env: summary.home_env.or(s.home_env),
            started: s.started,
            ended: s.ended,
            events: s.events,
            crossings: summary.crossings,
            destructive: summary.destructive,
            intact: summary.intact,
        });
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<16}  {:<27}  {:<12}  {:<10}  {:>7}  {:>5}  {:>5}  {:<6}  LABEL",
        "ID", "STARTED", "AGENT", "HOME", "EVENTS", "CROSS", "DESTR", "CHAIN"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<16}  {:<27}  {:<12}  {:<10}  {:>7}  {:>5}  {:>5}  {:<6}  {}",
            r.id,
            r.started,
            r.agent.as_deref().unwrap_or("-"),
            r.home_env.as_deref().unwrap_or("-"),
            r.events,
            r.crossings,
            r.destructive,
            if r.intact { "ok" } else { "BROKEN" },
            flightlog_formats::text::line(r.label.as_deref().unwrap_or("")),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
