//! `flightlog report`: the incident story of a session (critical window, crossings, destructive
//! actions, secret provenance, gaps, verification) as Markdown, HTML or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use flightlog_analysis::{Policy, analyze, report};
use flightlog_formats::Event;

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

/// Loads a session's events (in seq order).
pub fn load_events(store: &flightlog_formats::Store, id: &str) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut bad = None;
    store.for_each_event(id, |ev| {
        match Event::from_bytes(&ev.raw) {
            Ok(e) => events.push(e),
            Err(e) => bad = Some((ev.seq, e)),
        }
        true
    })?;
    if let Some((seq, e)) = bad {
        eprintln!(
            "flightlog: warning: event {seq} of session {id} is unreadable ({e}); it is left out of the report"
        );
    }
    Ok(events)
}

/// Whether the session's chain and the checkpoints covering it verify.
pub fn intact(ctx: &Ctx, store: &flightlog_formats::Store, id: &str) -> Result<bool> {
    use flightlog_formats::verify::{StoreVerifyOptions, Trust, verify_store};
    let keys = flightlog_formats::keys::trusted_public_keys(&ctx.key_dir()).unwrap_or_default();
    let report = verify_store(
        store,
        &StoreVerifyOptions {
            session: Some(id.to_string()),
            trust: Trust {
                keys,
                pinned: false,
            },
            external: None,
        },
    )?;
    Ok(!report
        .problems
        .iter()
        .any(|p| p.session.as_deref() == Some(id)))
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let policy = Policy::load(ctx.policy.as_deref()).map_err(|e| anyhow!("{e}"))?;
    let store = ctx.open_ro()?;
    let id = store.resolve(&args.session)?;
    let events = load_events(&store, &id)?;
    let intact = intact(ctx, &store, &id)?;
    let analysis = analyze(&events, &policy);
    let text = match args.format {
        Format::Md => report::markdown(&analysis, intact),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report::json(&analysis, intact))?;
            s.push('\n');
            s
        }
        Format::Html => flightlog_interop::html::report_html(&analysis, &events, intact),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
