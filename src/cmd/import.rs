//! `flightlog import`: Claude Code transcripts (with subagents), Codex rollout files, asciicast
//! recordings, and flightlog jsonl exports (verified, stored with their original chain).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::Receiver;

use anyhow::{Context, Result};
use flightlog_formats::keys::{read_public_key, trusted_public_keys};
use flightlog_formats::verify::Trust;
use flightlog_interop::Error as InteropError;
use flightlog_interop::import::{self, Parsed, StoredImport};

use crate::ctx::Ctx;
use crate::progress::{Bar, Unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Claude Code transcripts (`~/.claude/projects/<project>/<session>.jsonl`); subagent files
    /// beside them (`<session>/subagents/agent-*.jsonl`) are pulled in.
    ClaudeCode,
    /// Codex rollout files (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`).
    Codex,
    /// asciicast v2 or v3 recordings (`.cast`).
    Asciicast,
    /// flightlog jsonl exports: verified, then stored verbatim (the original chain is kept).
    Jsonl,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog import claude-code ~/.claude/projects/-home-me-proj/3f2a....jsonl\n  flightlog import claude-code ~/.claude/projects/-home-me-proj/\n  flightlog import codex ~/.codex/sessions/2026/01/02/\n  flightlog import asciicast demo.cast\n  flightlog import jsonl export.jsonl --pubkey their-checkpoint.pub\n\nPrints one session id per line. Imported events are marked as imported (source import:<format>).\nExit codes: 0 imported, 1 an export did not verify (nothing of it stored), 2 could not run."
)]
pub struct Args {
    /// What the files are.
    #[arg(value_enum)]
    format: Format,
    /// Files, or directories (every transcript / rollout / .cast / .jsonl in them).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// jsonl: the exporter's public key (64 hex, a bundle's checkpoint.pub); it becomes trusted
    /// for the imported sessions. Without it, only this install's keys are accepted.
    #[arg(long, value_name = "FILE")]
    pubkey: Vec<PathBuf>,
    /// Print a JSON array of {path, session, events, already, stats} instead of the ids.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    // A team store URL is refused before any file is read or parsed.
    ctx.require_local()?;
    let files = expand(args.format, &args.paths)?;
    // Transcripts and recordings are parsed one file ahead on a second thread: the first while
    // the store and the keys are opened, each next one while the one before is stored. (jsonl
    // exports are verified against the store, so they are read in turn.)
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if args.format != Format::Jsonl {
            let (files, format) = (&files, args.format);
            sc.spawn(move || {
                for f in files {
                    let parsed = match format {
                        Format::ClaudeCode => import::claude_code::parse_path(f),
                        Format::Codex => import::codex::parse_path(f),
                        Format::Asciicast => import::asciicast::parse_path(f),
                        Format::Jsonl => return,
                    };
                    // The importer stopped (an error): no more files are parsed.
                    if tx.send(parsed).is_err() {
                        break;
                    }
                }
            });
        }
        import_files(ctx, &args, &files, &rx)
    })
}

/// Imports `files` in order; the parsed transcripts come from `parsed`, in the same order.
fn import_files(
    ctx: &Ctx,
    args: &Args,
    files: &[PathBuf],
    parsed: &Receiver<Result<Parsed, InteropError>>,
) -> Result<ExitCode> {
    let store = ctx.open_rw()?;
    let keys = ctx.keys()?;
    let redactor = flightlog_formats::Redactor::with_known_file(keys.fingerprint_key, &keys.dir);
    let mut pinned = Vec::new();
    for p in &args.pubkey {
        pinned.push(
            read_public_key(p)
                .with_context(|| format!("cannot use {} as a public key", p.display()))?,
        );
    }
    let key_dir = ctx.key_dir()?;
    let mut trusted = trusted_public_keys(&key_dir)
        .with_context(|| format!("cannot read the keys in {}", key_dir.display()))?;
    trusted.extend(pinned.iter().copied());
    let trust = Trust {
        keys: trusted,
        pinned: !pinned.is_empty(),
    };
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut refused = false;
    // Progress: bytes of the input files; each file's part moves as its import does.
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .collect();
    let bar = Bar::new(Unit::Bytes, "importing", sizes.iter().sum());
    let mut base = 0u64;
    for (f, size) in files.iter().zip(&sizes) {
        let mut part = bar.part(base, *size);
        let res: Result<Vec<StoredImport>, InteropError> = match args.format {
            Format::ClaudeCode | Format::Codex | Format::Asciicast => parsed
                .recv()
                .map_err(|_| anyhow::anyhow!("the parsing thread stopped before {}", f.display()))?
                .and_then(|p| import::store_parsed_with_progress(&store, &redactor, p, &mut part))
                .map(|s| vec![s]),
            Format::Jsonl => import::jsonl::import_with_progress(
                &store,
                &redactor,
                f,
                &trust,
                ctx.now(),
                &mut part,
            ),
        };
        base += size;
        bar.set(base, sizes.iter().sum());
        let imported = match res {
            Ok(v) => v,
            Err(InteropError::NotVerified { path, report }) => {
                refused = true;
                let foreign = !report.problems.is_empty()
                    && report.problems.iter().all(|p| p.kind == "untrusted_key");
                bar.suspend(|| {
                    if foreign {
                        eprintln!(
                            "flightlog: {} is signed by another key, one this store does not trust; nothing of it was imported:",
                            path.display()
                        );
                    } else {
                        eprintln!(
                            "flightlog: {} does not verify; nothing of it was imported:",
                            path.display()
                        );
                    }
                    for p in &report.problems {
                        eprintln!(
                            "  {}seq {} [{}] {}",
                            p.session
                                .as_deref()
                                .map(|s| format!("session {s} "))
                                .unwrap_or_default(),
                            p.seq.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                            p.kind,
                            p.detail
                        );
                    }
                    if report.problems.iter().any(|p| p.kind == "untrusted_key") {
                        eprintln!(
                            "  (signed by a key this install does not trust: pass the exporter's \
                             public key with --pubkey FILE)"
                        );
                    }
                });
                continue;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("cannot import {}", f.display())));
            }
        };
        if args.format == Format::Jsonl && !pinned.is_empty() {
            for k in import::jsonl::signing_keys(&std::fs::read(f)?) {
                if pinned.contains(&k) {
                    import::jsonl::trust_key(&key_dir, &k)?;
                }
            }
        }
        for s in imported {
            if args.json {
                rows.push(serde_json::json!({
                    "path": f.display().to_string(),
                    "session": s.session,
                    "events": s.events,
                    "already": s.already,
                    "stats": s.stats,
                }));
            } else {
                writeln!(out, "{}", s.session)?;
                let what = if s.already {
                    "already imported as"
                } else {
                    "imported as"
                };
                bar.suspend(|| {
                    eprintln!(
                        "{}: {what} session {} ({} events, {} tool calls, {} unknown records kept)",
                        f.display(),
                        s.session,
                        s.events,
                        s.stats.tool_calls,
                        s.stats.unknown_records
                    )
                });
            }
        }
    }
    bar.finish();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Files to import: each path, or the matching files of a directory.
fn expand(format: Format, paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if !meta.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut found = Vec::new();
        // Claude Code: the transcripts directly in the project directory (subagent files are
        // pulled in by their parent). Codex: rollout files anywhere below.
        collect(p, format, format == Format::Codex, &mut found)?;
        found.sort();
        if found.is_empty() {
            anyhow::bail!("{} holds no files to import as {:?}", p.display(), format);
        }
        out.extend(found);
    }
    Ok(out)
}

fn collect(dir: &Path, format: Format, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = e?.path();
        if path.is_dir() {
            if recursive {
                collect(&path, format, recursive, out)?;
            }
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ok = match format {
            Format::ClaudeCode | Format::Jsonl => name.ends_with(".jsonl"),
            Format::Codex => name.starts_with("rollout-") && name.ends_with(".jsonl"),
            Format::Asciicast => name.ends_with(".cast"),
        };
        if ok {
            out.push(path);
        }
    }
    Ok(())
}
