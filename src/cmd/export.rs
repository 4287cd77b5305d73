//! `flightlog export`: a session as jsonl (verifiable), OCSF, OTLP/JSON, asciicast v3, CSV, CEF,
//! or an auditor's bundle directory.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use flightlog_analysis::Policy;
use flightlog_analysis::session::{self, SessionView};
use flightlog_formats::jsonl::{
    ensure_final_checkpoint, unsaved_final_checkpoint_line, write_session_with_progress,
};
use flightlog_formats::verify::VerifyReport;
use flightlog_interop::{bundle, export, findings};

use crate::ctx::Ctx;
use crate::progress::{Bar, LoadBar, Unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The hash-chained export (`{"prev","hash","event"}` lines, ending with a signed checkpoint).
    Jsonl,
    /// OCSF events, one per line (Process 1007, File System 1001, API 6003, HTTP 4002,
    /// Detection Finding 2004).
    Ocsf,
    /// OTLP/JSON traces with the GenAI conventions (invoke_agent, execute_tool).
    Otlp,
    /// asciicast v3 of the terminal output, with markers at crossings and destructive actions.
    Asciicast,
    /// One row per event, safe to open in a spreadsheet.
    Csv,
    /// ArcSight CEF, one line per event and per finding.
    Cef,
    /// A directory for auditors: events, checkpoint, public key, reports, cast, verify script,
    /// README, signed MANIFEST (needs -o DIR). From the team store, the events keep their
    /// host's signatures and this machine signs the MANIFEST with its own key.
    Bundle,
}

impl Format {
    /// The export `flightlog_interop` writes for this format (none for the jsonl export and the
    /// bundle).
    fn exchange(self) -> Option<export::Format> {
        match self {
            Format::Ocsf => Some(export::Format::Ocsf),
            Format::Otlp => Some(export::Format::Otlp),
            Format::Asciicast => Some(export::Format::Asciicast),
            Format::Csv => Some(export::Format::Csv),
            Format::Cef => Some(export::Format::Cef),
            Format::Jsonl | Format::Bundle => None,
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog export latest --format jsonl -o session.jsonl\n  flightlog export 3f2a --format ocsf -o session.ocsf.jsonl\n  flightlog export latest --format otlp | curl -H 'Content-Type: application/json' --data-binary @- http://collector:4318/v1/traces\n  flightlog export latest --format bundle -o evidence/\n  flightlog verify evidence/"
)]
pub struct Args {
    /// Session id, unique prefix, or `latest`.
    session: String,
    /// The export format.
    #[arg(long, short = 'f', value_enum)]
    format: Format,
    /// Write here (a file; for `bundle`, a new directory). Default: standard output.
    #[arg(long, short = 'o', value_name = "PATH")]
    output: Option<PathBuf>,
    /// Never write to the store (evidence that must not change, read-only media). A session
    /// that does not end with a checkpoint gets one signed in memory for the export only; a
    /// bundle carries the latest store checkpoint when it covers the session, else one signed
    /// in memory. A store that cannot be written is exported this way without asking.
    #[arg(long)]
    read_only: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let (store, read_only) = if args.read_only || ctx.db_url().is_some() {
        (ctx.open_ro()?, true)
    } else {
        match ctx.open_rw() {
            Ok(s) => (s, false),
            Err(e) => match ctx.open_ro() {
                Ok(s) => {
                    eprintln!(
                        "flightlog: the store cannot be written ({e:#}): exporting read-only"
                    );
                    (s, true)
                }
                Err(_) => return Err(e),
            },
        }
    };
    let id = store.resolve(&args.session)?;
    let now = ctx.now();
    if matches!(args.format, Format::Jsonl | Format::Bundle) && !read_only {
        let keys = ctx.keys()?;
        ensure_final_checkpoint(&store, &id, &keys, now)
            .with_context(|| format!("cannot checkpoint session {id}"))?;
    }
    if args.format == Format::Bundle {
        let Some(dir) = &args.output else {
            bail!("--format bundle needs -o DIR (a new directory)");
        };
        let access = if read_only {
            bundle::Access::ReadOnly
        } else {
            bundle::Access::ReadWrite
        };
        return write_bundle(ctx, &store, &id, dir, access);
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    // No bar over an export that is itself going to the terminal.
    let bar = if args.output.is_none() && std::io::stdout().is_terminal() {
        Bar::hidden()
    } else {
        Bar::new(Unit::Events, "exporting", 0)
    };
    let n = if let Some(format) = args.format.exchange() {
        let policy = ctx.policy()?;
        let view = load_view(ctx, &store, &id, &policy, &bar)?;
        let records = export::records(&view);
        let fs = findings::from_analysis(&view.analysis, &view.events);
        bar.phase(Unit::Events, "exporting", records.len() as u64);
        export::write(format, &records, &fs, &mut out, &mut bar.reporter())?
    } else {
        let mut n = write_session_with_progress(&store, &id, &mut out, &mut bar.reporter())?;
        // The team store's sessions are exported as their hosts signed them, never re-signed
        // with this machine's key.
        if read_only
            && !store.is_remote()
            && let Some(line) = unsaved_final_checkpoint_line(&store, &id, &ctx.keys()?, now)?
        {
            out.write_all(&line)?;
            n += 1;
            eprintln!(
                "session {id}: its final checkpoint was signed in memory for this export (not stored: read-only)"
            );
        }
        n
    };
    out.flush()?;
    bar.finish();
    if let Some(p) = &args.output {
        eprintln!("session {id}: {n} records written to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The session as every output sees it, the bar showing the phases.
fn load_view(
    ctx: &Ctx,
    store: &flightlog_formats::Store,
    id: &str,
    policy: &Policy,
    bar: &Bar,
) -> Result<SessionView> {
    let view = session::load_with_progress(
        store,
        id,
        policy,
        &ctx.store_trust(store)?,
        &mut LoadBar::new(bar),
    )
    .with_context(|| format!("cannot load session {id}"))?;
    bar.suspend(|| crate::ctx::warn_unreadable(&view));
    Ok(view)
}

fn write_bundle(
    ctx: &Ctx,
    store: &flightlog_formats::Store,
    id: &str,
    dir: &Path,
    access: bundle::Access,
) -> Result<ExitCode> {
    // From the team store, this machine signs the MANIFEST (and a checkpoint when no pushed one
    // covers the session); the events keep their hosts' signatures.
    let keys = ctx.own_keys()?;
    let bar = Bar::new(Unit::Events, "reading", 0);
    let policy = ctx.policy()?;
    let view = load_view(ctx, store, id, &policy, &bar)?;
    let intact = view.intact();
    bar.phase(Unit::Events, "writing the cast", view.events.len() as u64);
    let parts = bundle::Parts::of(&view, &mut bar.reporter())?;
    bar.phase(Unit::Spinner, "writing the bundle", 0);
    let origin = bundle::write(store, id, &keys, ctx.now(), dir, &parts, access)
        .with_context(|| format!("cannot write the bundle {}", dir.display()))?;
    bar.finish();
    eprintln!("session {id}: checkpoint.json is {origin}");
    eprintln!(
        "session {id}: bundle written to {} ({} events{}); check it with: flightlog verify {}",
        dir.display(),
        view.events.len(),
        if intact { "" } else { ", NOT intact" },
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Adds a bundle's own checks to a verification of its events.jsonl: every file against the
/// signed MANIFEST (none missing, modified or added), and the store checkpoint against the
/// events, by the keys the auditor trusts (none: the bundle's own key). Problems are appended
/// to `report`; the caller recomputes `intact`.
pub fn verify_bundle_extras(
    dir: &Path,
    trusted: &[flightlog_formats::keys::VerifyingKey],
    report: &mut VerifyReport,
) -> Result<()> {
    let problems = bundle::verify_extras(dir, trusted)
        .with_context(|| format!("cannot check the bundle {}", dir.display()))?;
    report.problems.extend(problems);
    Ok(())
}
