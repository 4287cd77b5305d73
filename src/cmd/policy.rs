//! `flightlog policy`: validate a policy (`check`), replay a recorded session against one
//! (`test`), or print the built-in policy (`default`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use flightlog_analysis::policy::{DEFAULT_POLICY, PolicyError};
use flightlog_analysis::{Policy, describe, verdict};
use serde_json::json;

use crate::ctx::Ctx;

#[derive(Debug, clap::Subcommand)]
#[command(
    after_help = "Examples:\n  flightlog policy check flightlog.toml\n  flightlog policy test latest --policy flightlog.toml\n  flightlog policy default > flightlog.toml\n\nExit codes: check: 0 valid, 1 errors; test: 0 nothing would be blocked, 1 something would be; 2 could not run."
)]
pub enum Command {
    /// Validate a policy file: errors (a broken glob is one) and unknown keys with their line.
    #[command(
        after_help = "Examples:\n  flightlog policy check flightlog.toml\n  flightlog policy check ~/.config/flightlog/team.toml && echo ok\n\nExit codes: 0 valid, 1 errors (each printed as FILE:LINE:COLUMN: error: ...), 2 could not read it."
    )]
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Replay a recorded session against a policy (--policy FILE) with the guard on, and name
    /// the first event it would have blocked.
    #[command(
        after_help = "Examples:\n  flightlog policy test latest --policy flightlog.toml\n  flightlog policy test 3f2a --policy stricter.toml --json | jq .first_blocked_seq\n\nWithout --policy (or FLIGHTLOG_POLICY, or ./flightlog.toml) the built-in policy is used, and\nstderr says so.\nExit codes: 0 nothing would be blocked, 1 something would be, 2 could not run."
    )]
    Test {
        /// Session id, unique prefix, or `latest`.
        session: String,
        /// Print JSON: {session, policy, first_blocked_seq, blocked:[{seq,kind,rule,reason}]}.
        #[arg(long)]
        json: bool,
    },
    /// Print the built-in policy (a commented starting point).
    #[command(
        after_help = "Examples:\n  flightlog policy default > flightlog.toml\n  flightlog policy default | diff - flightlog.toml"
    )]
    Default,
}

pub fn run(ctx: &Ctx, command: Command) -> Result<ExitCode> {
    match command {
        Command::Check { file } => check(&file),
        Command::Test { session, json } => test(ctx, &session, json),
        Command::Default => {
            print!("{DEFAULT_POLICY}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(file: &std::path::Path) -> Result<ExitCode> {
    let name = file.display();
    let mut out = std::io::stdout().lock();
    match Policy::check_file(file) {
        Ok(c) => {
            for w in &c.warnings {
                writeln!(
                    out,
                    "{name}:{}:{}: warning: {}",
                    w.line, w.column, w.message
                )?;
            }
            let p = &c.policy;
            writeln!(
                out,
                "{name}: valid: home {}, {} ({}), {}, guard {} (deny {}, fail {})",
                p.home.as_deref().unwrap_or("(unset)"),
                count(p.environments.len(), "environment"),
                p.environments
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                count(p.credentials.len(), "credential rule"),
                if p.guard.enabled {
                    "enabled"
                } else {
                    "disabled"
                },
                p.guard.deny.join(", "),
                p.guard.fail.as_str(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(PolicyError::Invalid { problems, .. }) => {
            for p in &problems {
                let what = if p.warning { "warning" } else { "error" };
                writeln!(out, "{name}:{}:{}: {what}: {}", p.line, p.column, p.message)?;
            }
            let errors = problems.iter().filter(|p| !p.warning).count();
            writeln!(out, "{name}: {}", count(errors, "error"))?;
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn test(ctx: &Ctx, session: &str, as_json: bool) -> Result<ExitCode> {
    let policy = ctx.policy()?;
    let source = ctx
        .policy
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(built-in policy)".into());
    if ctx.policy.is_none() {
        eprintln!(
            "flightlog: no policy given (--policy FILE, FLIGHTLOG_POLICY or ./flightlog.toml): \
             testing against the built-in policy"
        );
    }
    let store = ctx.open_ro()?;
    let id = store.resolve(session)?;
    let view = ctx.session_view(&store, &id, &policy)?;
    let (events, analysis) = (&view.events, &view.analysis);
    let start = events.first().and_then(|e| e.time());
    let mut blocked = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        if !flightlog_analysis::guard_can_stop(&ev.kind) {
            continue;
        }
        let d = verdict(&policy, analysis, ev.seq);
        if d.deny {
            blocked.push((i, d));
        }
    }
    let mut out = std::io::stdout().lock();
    if as_json {
        let v = json!({
            "session": id,
            "policy": source,
            "guard_enabled_in_policy": policy.guard.enabled,
            "first_blocked_seq": blocked.first().map(|(i, _)| events[*i].seq),
            "blocked": blocked.iter().map(|(i, d)| json!({
                "seq": events[*i].seq,
                "kind": events[*i].kind.as_str(),
                "rule": d.rule,
                "reason": d.reason,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "policy {source} against session {id} ({} events), guard on, deny {}{}",
            events.len(),
            policy.guard.deny.join(", "),
            if policy.guard.enabled {
                ""
            } else {
                " (the policy itself has enabled = false: use --guard or enabled = true to get this)"
            }
        )?;
        match blocked.first() {
            None => writeln!(out, "nothing would have been blocked")?,
            Some((i, d)) => {
                let ev = &events[*i];
                let rel = match (start, ev.time()) {
                    (Some(a), Some(b)) => {
                        format!(
                            " at +{:.3}s",
                            (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6
                        )
                    }
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "would have blocked seq {} ({}{rel}): {}",
                    ev.seq,
                    ev.kind.as_str(),
                    describe::one_line(ev)
                )?;
                writeln!(out, "  {}", sanitize(&d.reason))?;
                if blocked.len() > 1 {
                    let rest: Vec<String> = blocked[1..]
                        .iter()
                        .map(|(i, _)| events[*i].seq.to_string())
                        .collect();
                    writeln!(out, "also blocked: seq {}", rest.join(", "))?;
                }
            }
        }
    }
    out.flush()?;
    Ok(if blocked.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn sanitize(s: &str) -> String {
    flightlog_formats::text::line(s)
}

/// "1 error", "2 errors".
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
