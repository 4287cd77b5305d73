//! `flightlog verify`: every event, every link, every checkpoint; every problem reported.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use flightlog_formats::checkpoint::SignedCheckpoint;
use flightlog_formats::keys::{VerifyingKey, read_public_keys, trusted_public_keys};
use flightlog_formats::progress::Progress;
use flightlog_formats::verify::{
    StoreVerifyOptions, Trust, VerifyReport, verify_jsonl_with_progress, verify_store_with_progress,
};

use crate::ctx::Ctx;
use crate::progress::{Bar, Unit};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog verify --all\n  flightlog verify latest --pubkey /secure/flightlog.pub --checkpoint /secure/cp-latest.json\n  flightlog verify ./export.jsonl --pubkey checkpoint.pub\n  flightlog verify ./bundle-dir\n\nExit codes: 0 intact, 1 problems found, 2 could not run."
)]
pub struct Args {
    /// A session (id, unique prefix, `latest`), or a path to a jsonl export or a bundle.
    target: Option<String>,
    /// Every session in the store (the default without a target).
    #[arg(long)]
    all: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// A trusted public key file (hex, as in keys/checkpoint.pub; one key or more, one per
    /// line), kept outside the store. May be repeated.
    #[arg(long, value_name = "FILE")]
    pubkey: Vec<PathBuf>,
    /// A signed checkpoint kept outside the store (from `flightlog checkpoint -o FILE`).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    if !args.json {
        return verify(ctx, &args);
    }
    // Under --json a run that could not happen still prints JSON: `intact` is null and the
    // reason is given; the exit code stays 2.
    match verify(ctx, &args) {
        Ok(code) => Ok(code),
        Err(e) => {
            let out = serde_json::json!({
                "intact": null,
                "events_checked": 0,
                "checkpoints_checked": 0,
                "problems": [],
                "error": crate::one_line(&e),
            });
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &out)?;
            writeln!(stdout)?;
            eprintln!("flightlog: {}", crate::one_line(&e));
            Ok(ExitCode::from(2))
        }
    }
}

/// A target that names a file (it has a path separator or a file extension) but does not
/// exist is a missing file, not a session name.
fn missing_path(t: &str) -> bool {
    (t.contains('/') || t.ends_with(".jsonl") || t.ends_with(".json")) && !Path::new(t).exists()
}

fn verify(ctx: &Ctx, args: &Args) -> Result<ExitCode> {
    if let Some(t) = args.target.as_deref()
        && !args.all
        && missing_path(t)
    {
        anyhow::bail!(
            "{t}: no such file (a session is named by its id, a prefix of it, or `latest`)"
        );
    }
    let report = match args.target.as_deref() {
        Some(t)
            if !args.all
                && ctx.db_url().is_none_or(|_| !t.contains("://"))
                && Path::new(t).exists()
                && !looks_like_store(Path::new(t)) =>
        {
            verify_path(ctx, Path::new(t), args)?
        }
        target => {
            let store = ctx.open_ro()?;
            let session = match target {
                Some(t) if !args.all => Some(store.resolve(t)?),
                _ => None,
            };
            let trust = trust_for_store(ctx, &store, &args.pubkey)?;
            let external = match &args.checkpoint {
                Some(p) => {
                    let text =
                        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
                    let cp: SignedCheckpoint =
                        serde_json::from_slice(&text).with_context(|| {
                            format!("{} is not a flightlog checkpoint", p.display())
                        })?;
                    Some((cp, p.display().to_string()))
                }
                None => None,
            };
            let bar = Bar::new(Unit::Events, "verifying", 0);
            let report = verify_store_with_progress(
                &store,
                &StoreVerifyOptions {
                    session,
                    trust,
                    external,
                },
                &mut bar.reporter(),
            )?;
            bar.finish();
            report
        }
    };
    print_report(&report, args.json, ctx.color)?;
    Ok(if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn looks_like_store(p: &Path) -> bool {
    p.is_file()
        && std::fs::read(p)
            .map(|b| b.starts_with(b"SQLite format 3\0"))
            .unwrap_or(false)
}

/// The keys of every `--pubkey` file (each holds one key or more, one per line).
fn load_keys(paths: &[PathBuf]) -> Result<Vec<VerifyingKey>> {
    let mut keys = Vec::new();
    for p in paths {
        for k in read_public_keys(p)
            .with_context(|| format!("cannot use {} as a public key", p.display()))?
        {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

fn trust_for_store(
    ctx: &Ctx,
    store: &flightlog_formats::Store,
    pubkeys: &[PathBuf],
) -> Result<Trust> {
    if !pubkeys.is_empty() {
        return Ok(Trust {
            keys: load_keys(pubkeys)?,
            pinned: true,
        });
    }
    if store.is_remote() {
        return ctx.store_trust(store);
    }
    let dir = ctx.key_dir()?;
    let keys = trusted_public_keys(&dir)
        .with_context(|| format!("cannot read the keys in {}", dir.display()))?;
    Ok(Trust {
        keys,
        pinned: false,
    })
}

/// A jsonl export, or a bundle directory (events.jsonl + checkpoint.pub).
fn verify_path(ctx: &Ctx, path: &Path, args: &Args) -> Result<VerifyReport> {
    let (file, bundle_key) = if path.is_dir() {
        let pk = path.join("checkpoint.pub");
        (path.join("events.jsonl"), pk.is_file().then_some(pk))
    } else {
        (path.to_path_buf(), None)
    };
    let mut key_problem = None;
    let trust = if !args.pubkey.is_empty() {
        Trust {
            keys: load_keys(&args.pubkey)?,
            pinned: true,
        }
    } else if let Some(pk) = bundle_key {
        // The bundle's own key file is evidence too: a damaged one is a problem, not an error.
        match read_public_keys(&pk) {
            Ok(keys) => Trust {
                keys,
                pinned: false,
            },
            Err(e) => {
                key_problem = Some(flightlog_formats::verify::Problem {
                    session: None,
                    seq: None,
                    kind: "bad_key".into(),
                    detail: format!("the bundle's public key is unusable: {e}"),
                });
                Trust::default()
            }
        }
    } else {
        // With --db naming the team store, no local key is trusted (it has no key directory).
        let keys = ctx
            .key_dir()
            .ok()
            .and_then(|d| trusted_public_keys(&d).ok())
            .unwrap_or_default();
        Trust {
            keys,
            pinned: false,
        }
    };
    let f =
        std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    // Progress: the bytes read, then the events checked.
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = Bar::new(Unit::Bytes, "reading", size);
    let reader = Counted {
        inner: f,
        read: 0,
        reported: 0,
        size,
        progress: bar.reporter(),
    };
    let mut checking = false;
    let mut checks = bar.reporter();
    let mut report = verify_jsonl_with_progress(BufReader::new(reader), &trust, &mut |d, t| {
        if !checking {
            checking = true;
            bar.phase(Unit::Events, "verifying", t);
        }
        checks.update(d, t)
    })?;
    bar.finish();
    if let Some(p) = key_problem {
        report.problems.push(p);
        report.intact = false;
    }
    if path.is_dir() {
        let pinned: &[_] = if trust.pinned { &trust.keys } else { &[] };
        crate::cmd::export::verify_bundle_extras(path, pinned, &mut report)?;
        report.intact = report.problems.is_empty();
    }
    Ok(report)
}

/// A reader that reports the bytes read (every 256 KiB).
struct Counted<R, P> {
    inner: R,
    read: u64,
    reported: u64,
    size: u64,
    progress: P,
}

impl<R: Read, P: Progress> Read for Counted<R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read - self.reported >= 256 * 1024 || n == 0 {
            self.reported = self.read;
            self.size = self.size.max(self.read);
            self.progress.update(self.read, self.size);
        }
        Ok(n)
    }
}

pub fn print_report(report: &VerifyReport, json: bool, color: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let (red, yellow, green, reset) = if color {
        ("\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    for p in &report.problems {
        writeln!(out, "{red}PROBLEM{reset} {}", describe(p))?;
    }
    for w in &report.warnings {
        writeln!(out, "{yellow}warning{reset} {}", describe(w))?;
    }
    if let Some(a) = &report.anchored {
        writeln!(
            out,
            "anchored: up to checkpoint #{} ({}) kept at {}",
            a.checkpoint_no, a.ts, a.source
        )?;
    }
    let verdict = if report.intact {
        format!("{green}intact{reset}")
    } else {
        format!(
            "{red}NOT intact: {}{reset}",
            count(report.problems.len() as u64, "problem")
        )
    };
    writeln!(
        out,
        "{verdict}: {}, {} checked",
        count(report.events_checked, "event"),
        count(report.checkpoints_checked, "checkpoint")
    )?;
    Ok(())
}

fn describe(p: &flightlog_formats::verify::Problem) -> String {
    let mut s = String::new();
    if let Some(sess) = &p.session {
        s.push_str(&format!("session {sess} "));
    }
    if let Some(seq) = p.seq {
        s.push_str(&format!("seq {seq} "));
    }
    format!("{s}[{}] {}", p.kind, p.detail)
}

/// "1 event", "2 events".
fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
