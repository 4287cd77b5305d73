//! `flightlog report`: the incident story of a session (critical window, crossings, destructive
//! actions, secret provenance, gaps, verification) as Markdown, HTML or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use flightlog_analysis::report;

use crate::ctx::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown, readable in a terminal and in a pull request.
    Md,
    /// One self-contained HTML file.
    Html,
    /// JSON: {session, home_env, events, intact, boundary_crossings, destructive, secrets, gaps,
    /// critical_window}.
    Json,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog report latest\n  flightlog report 3f9a --format json | jq .boundary_crossings\n  flightlog report latest --format html > incident.html\n  flightlog --policy ops/flightlog.toml report latest"
)]
pub struct Args {
    /// Session id, unique prefix, or `latest`.
    session: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let policy = ctx.policy()?;
    let store = ctx.open_ro()?;
    let id = store.resolve(&args.session)?;
    let view = ctx.session_view(&store, &id, &policy)?;
    let intact = view.intact();
    let text = match args.format {
        Format::Md => report::markdown(&view.analysis, intact),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report::json(&view.analysis, intact))?;
            s.push('\n');
            s
        }
        Format::Html => flightlog_interop::html::report_html(&view.analysis, &view.events, intact),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
