//! `flightlog demo`: reconstructs the nine-second PocketOS incident for real.
//!
//! A local stand-in for Railway's GraphQL API is started on 127.0.0.1; a scripted agent runs
//! in a scratch work tree under the real recorder (`flightlog record`, this same binary) into a
//! temporary store: the staging deploy fails with a credential mismatch, the agent greps an
//! account token out of `ops/domains.env`, edits `railway.toml`, and deletes the production
//! volume with one `curl -X POST .../graphql/v2 -H 'Authorization: Bearer ...'`. Then the
//! replay opens at the boundary crossing; without a terminal, the report and the verification
//! are printed instead. Nothing leaves the machine.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use flightlog_analysis::report;
use flightlog_demo::incident::{self, Layout, TempRoot};
use flightlog_demo::railway::{AuthKind, StandIn};
use flightlog_formats::verify::Trust;

use crate::ctx::Ctx;

/// A bound on the whole recording (the script takes about ten seconds).
const RECORD_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog demo                    # watch it happen, then land on the crossing in the replay\n  flightlog demo --guard            # the same, with the guard on: the volumeDelete is denied\n  flightlog demo --fast | less      # no pauses; print the report\n  flightlog demo --keep ./pocketos  # keep the store, the work tree and the policy\n\nThe demo uses its own policy (home = staging; the volume 3d2c42fb-* is production; a Railway\naccount token reaches every environment) and its own store; it refuses --db and --policy.\nIt needs bash and curl, and no network: the Railway API is a stand-in on 127.0.0.1."
)]
pub struct Args {
    /// Keep everything (store, keys, work tree, policy, agent script) in DIR, which must be
    /// empty or not exist yet; by default a temporary directory is removed at the end.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// No pauses: the agent runs as fast as it can (the nine seconds shrink to a fraction).
    #[arg(long)]
    fast: bool,
    /// Record with the guard on: the destructive crossing is denied before it runs.
    #[arg(long)]
    guard: bool,
    /// Print the report even on a terminal instead of opening the replay.
    #[arg(long)]
    no_replay: bool,
}

/// Where the reconstruction lives: a temporary directory, or the one the user keeps.
enum Root {
    Temp(TempRoot),
    Kept(PathBuf),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Temp(t) => t.path(),
            Root::Kept(p) => p,
        }
    }
}

fn kept_root(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "--keep {}: the directory is not empty (give a new or empty directory)",
                dir.display()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            let p = d.join(prog);
            p.is_file()
                && std::fs::metadata(&p)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                    .unwrap_or(false)
        })
    })
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    for prog in ["bash", "curl"] {
        if !on_path(prog) {
            bail!("the demo's scripted agent needs `{prog}` on PATH");
        }
    }
    let root = match &args.keep {
        Some(dir) => Root::Kept(kept_root(dir)?),
        None => Root::Temp(TempRoot::new().context("cannot create a temporary directory")?),
    };
    let layout = incident::prepare(root.path()).with_context(|| {
        format!(
            "cannot lay out the reconstruction in {}",
            root.path().display()
        )
    })?;
    let interactive = ctx.stdout_tty && std::io::stdin().is_terminal() && !args.no_replay;

    let api = StandIn::start().context("cannot start the Railway API stand-in")?;
    eprintln!(
        "flightlog demo: the PocketOS incident, reconstructed: a scripted agent against a Railway API stand-in on {}, recorded into {}{}",
        api.url(),
        layout.db.display(),
        if args.guard { " (guard on)" } else { "" }
    );
    let code = record(&layout, &api, &args, interactive)?;

    let demo_ctx = Ctx {
        db: layout.db.clone(),
        policy: Some(layout.policy.clone()),
        color: ctx.color,
        stdout_tty: ctx.stdout_tty,
    };
    let store = demo_ctx.open_ro()?;
    let session = find_session(&store)?;
    let policy = demo_ctx.policy()?;
    let trust = Trust {
        keys: flightlog_formats::keys::trusted_public_keys(&demo_ctx.key_dir()?)
            .context("cannot read the demo store's keys")?,
        pinned: false,
    };
    let view = flightlog_analysis::session::load(&store, &session, &policy, &trust)
        .with_context(|| format!("cannot load session {session}"))?;
    crate::ctx::warn_unreadable(&view);
    drop(store);
    let stand_in = stand_in_line(&api);
    drop(api);

    if interactive {
        eprintln!("flightlog demo: {stand_in}");
        eprintln!(
            "flightlog demo: opening the replay at the boundary crossing (q quits, ? for help)"
        );
        std::thread::sleep(Duration::from_millis(if args.fast { 0 } else { 1200 }));
        flightlog_viewer::run_replay(
            &layout.db,
            Some(&session),
            flightlog_viewer::ReplayOptions {
                jump_to_first_crossing: true,
                policy: Some(layout.policy.clone()),
                ..Default::default()
            },
        )
        .context("the replay failed")?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", report::markdown(&view.analysis, view.intact()))?;
        writeln!(out, "## Railway API stand-in\n\n{stand_in}\n")?;
        let denials = guard_denials(&view.events);
        if !denials.is_empty() {
            writeln!(out, "## Guard decisions\n")?;
            for d in &denials {
                writeln!(out, "- {d}")?;
            }
            writeln!(out)?;
        }
        writeln!(out, "## `flightlog verify` of the demo store\n")?;
        out.flush()?;
        drop(out);
        crate::cmd::verify::print_report(&view.verification, false, ctx.color)?;
    }
    match &root {
        Root::Kept(dir) => eprintln!(
            "flightlog demo: kept in {}; replay it with: flightlog --db {} --policy {} replay {session}",
            dir.display(),
            layout.db.display(),
            layout.policy.display()
        ),
        Root::Temp(_) => eprintln!(
            "flightlog demo: session {session} ({} events, agent exit {code}); the temporary store is removed (use --keep DIR to keep it)",
            view.events.len() + view.unreadable.len()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the scripted agent under `flightlog record`; returns the agent's exit code.
fn record(layout: &Layout, api: &StandIn, args: &Args, interactive: bool) -> Result<i32> {
    let exe = std::env::current_exe().context("cannot find the flightlog binary")?;
    let mut cmd = Command::new(&exe);
    cmd.arg("--db")
        .arg(&layout.db)
        .arg("--policy")
        .arg(&layout.policy)
        .args([
            "record",
            "--env",
            incident::HOME_ENV,
            "--label",
            incident::LABEL,
        ]);
    if args.guard {
        cmd.arg("--guard");
    }
    cmd.arg("--")
        .arg("bash")
        .arg(&layout.script)
        .arg(&layout.work_tree)
        .current_dir(&layout.work_tree)
        .env("RAILWAY_API", api.url())
        .env("FLIGHTLOG_BIN", &exe)
        .env("FLIGHTLOG_POLICY", &layout.policy)
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_DB")
        .env_remove("FLIGHTLOG_FAKE_NOW");
    if args.fast {
        cmd.env("FLIGHTLOG_DEMO_FAST", "1");
    } else {
        cmd.env_remove("FLIGHTLOG_DEMO_FAST");
    }
    if interactive {
        cmd.stdin(Stdio::inherit()).stdout(Stdio::inherit());
    } else {
        // The agent's screen goes to stderr: stdout is the report.
        let err = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("cannot duplicate stderr")?;
        cmd.stdin(Stdio::null()).stdout(Stdio::from(err));
    }
    cmd.stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {} record", exe.display()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().context("cannot wait for the recorder")? {
            break st;
        }
        if started.elapsed() > RECORD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the recording did not finish within {} s; it was stopped",
                RECORD_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    match status.code() {
        Some(2) if !layout.db.exists() => {
            bail!("`flightlog record` failed (exit 2) before recording anything")
        }
        Some(c) => Ok(c),
        None => bail!("`flightlog record` was killed ({status})"),
    }
}

/// The session the recorder made (the demo store holds only this one, labelled).
fn find_session(store: &flightlog_formats::Store) -> Result<String> {
    let rows = store.sessions()?;
    rows.iter()
        .filter(|r| r.label.as_deref() == Some(incident::LABEL))
        .max_by(|a, b| a.started.cmp(&b.started))
        .or_else(|| rows.iter().max_by(|a, b| a.started.cmp(&b.started)))
        .map(|r| r.id.clone())
        .ok_or_else(|| anyhow!("the recording produced no session"))
}

/// The guard's denials recorded in the session, one line each.
fn guard_denials(events: &[flightlog_formats::Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e.payload() {
            flightlog_formats::Payload::Decision(d) if d.decision.as_deref() == Some("deny") => {
                Some((e.seq, d))
            }
            _ => None,
        })
        .map(|(seq, d)| {
            let layer = d.layer.as_deref().unwrap_or("?");
            let rule = d.rule.as_deref().unwrap_or("-");
            let reason = flightlog_formats::text::line(d.reason.as_deref().unwrap_or(""));
            let target = d
                .target_seq
                .map(|s| format!(" (target seq {s})"))
                .unwrap_or_default();
            format!("seq {seq}: denied at the {layer} layer{target}, rule `{rule}`: {reason}")
        })
        .collect()
}

/// What the stand-in saw, in one sentence.
fn stand_in_line(api: &StandIn) -> String {
    let seen = api.requests();
    let deleted = api.deleted_volumes();
    let calls: Vec<String> = seen
        .iter()
        .map(|r| {
            let auth = match r.auth {
                AuthKind::Bearer => "Authorization: Bearer",
                AuthKind::ProjectAccessToken => "Project-Access-Token",
                AuthKind::None => "no credential",
            };
            let op = if r.root_fields.is_empty() {
                format!("{} {}", r.method, r.path)
            } else {
                format!(
                    "{} {}",
                    r.operation_type.as_deref().unwrap_or("query"),
                    r.root_fields.join(", ")
                )
            };
            format!("{op} with {auth} -> {}", r.status)
        })
        .collect();
    let outcome = if deleted.is_empty() {
        "no volume was deleted".to_string()
    } else {
        format!("volume deleted: {}", deleted.join(", "))
    };
    if calls.is_empty() {
        format!("The stand-in received no request; {outcome}.")
    } else {
        format!(
            "The stand-in received {} request(s): {}; {outcome}.",
            calls.len(),
            calls.join("; ")
        )
    }
}
