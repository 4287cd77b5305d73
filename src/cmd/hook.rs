//! `flightlog hook <agent>`: one hook payload on stdin, recorded durably, answered in the agent's
//! protocol. `flightlog hook install <agent> [--project|--user]`: writes the agent's hook config.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use flightlog_recorder::hook::{self, Agent, Answer, HookEnv, InstallScope, MAX_PAYLOAD};

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  echo '{\"session_id\":\"s\",\"hook_event_name\":\"PreToolUse\",...}' | flightlog hook claude-code\n  flightlog hook install claude-code --project\n  flightlog hook install cursor --user\n\nAgents: claude-code, codex, gemini, cursor.\nExit codes: 0 recorded (the answer is on stdout); 1 not recorded or not understood (non-blocking\nfor every agent); a guard denial is answered in the agent's protocol with exit 0."
)]
pub struct Args {
    /// The agent whose payload is on stdin, or `install`.
    what: String,
    /// With `install`: the agent to install hooks for.
    agent: Option<String>,
    /// With `install`: write the project's config (the default).
    #[arg(long, conflicts_with = "user")]
    project: bool,
    /// With `install`: write the user's config.
    #[arg(long)]
    user: bool,
    /// With `install`: the command the agent should run (default: this binary's absolute path).
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    if args.what == "install" {
        return install(&args);
    }
    let Some(agent) = Agent::parse(&args.what) else {
        bail!(
            "unknown agent '{}' (expected claude-code, codex, gemini or cursor, or `install`)",
            args.what
        );
    };
    let timeout_ms: u64 = std::env::var("FLIGHTLOG_HOOK_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let payload = match &args.agent {
        // Codex's legacy `notify = ["flightlog", "hook", "codex"]` passes the JSON as the last
        // argument, with stdin closed.
        Some(arg) if agent == Agent::Codex && arg.trim_start().starts_with('{') => {
            Ok(arg.clone().into_bytes())
        }
        Some(_) => bail!(
            "`flightlog hook {}` takes its payload on stdin, not as an argument",
            args.what
        ),
        None => read_stdin(Duration::from_millis(timeout_ms)),
    };
    let answer = match &payload {
        Ok(p) => match record(ctx, agent, p, timeout_ms) {
            Ok(a) => a,
            Err(e) => {
                let fail_closed = crate::guard::fail_closed(ctx);
                hook::failure_answer(
                    agent,
                    &hook::peek_event_name(p),
                    fail_closed,
                    &format!("{e:#}"),
                )
            }
        },
        Err(e) => {
            let fail_closed = crate::guard::fail_closed(ctx);
            hook::failure_answer(agent, "", fail_closed, e)
        }
    };
    emit(&answer)
}

fn emit(a: &Answer) -> Result<ExitCode> {
    if !a.stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", a.stdout)?;
        out.flush()?;
    }
    if !a.stderr.is_empty() {
        eprint!("{}", a.stderr);
    }
    Ok(ExitCode::from(a.exit.clamp(0, 255) as u8))
}

/// Reads all of stdin (bounded in size), giving up after `limit` so a hook never hangs.
fn read_stdin(limit: Duration) -> Result<Vec<u8>, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let res = std::io::stdin()
            .lock()
            .take(MAX_PAYLOAD as u64)
            .read_to_end(&mut buf);
        let _ = tx.send(res.map(|_| buf));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => Err(format!("cannot read the payload on stdin: {e}")),
        Err(_) => Err(format!(
            "no complete payload on stdin within {} ms",
            limit.as_millis()
        )),
    }
}

fn record(ctx: &Ctx, agent: Agent, payload: &[u8], timeout_ms: u64) -> Result<Answer> {
    let mut store = ctx.open_rw()?;
    store.set_busy_timeout(timeout_ms)?;
    let redactor = ctx.redactor()?;
    let record_session = std::env::var("FLIGHTLOG_SESSION")
        .ok()
        .filter(|s| !s.is_empty());
    let guard = crate::guard::hook_guard(ctx)?;
    let env = HookEnv {
        store: &store,
        redactor: &redactor,
        record_session,
        now: ctx.now(),
        guard: guard.as_ref().map(|g| g as &dyn Fn(&_, &_) -> _),
        guard_context: 200,
    };
    Ok(hook::handle(agent, payload, &env)?)
}

fn install(args: &Args) -> Result<ExitCode> {
    let Some(name) = &args.agent else {
        bail!("usage: flightlog hook install <claude-code|codex|gemini|cursor> [--project|--user]");
    };
    let Some(agent) = Agent::parse(name) else {
        bail!("unknown agent '{name}' (expected claude-code, codex, gemini or cursor)");
    };
    let scope = if args.user {
        InstallScope::User
    } else {
        InstallScope::Project
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = hook::config_path(agent, scope, &cwd, &home);
    let command = match &args.command {
        Some(c) => c.clone(),
        None => {
            let exe = std::env::current_exe().context("cannot find this binary's path")?;
            format!(
                "{} hook {}",
                shell_quote(&exe.display().to_string()),
                agent.name()
            )
        }
    };
    let done = hook::install(agent, &path, &command)?;
    if done.added.is_empty() {
        println!(
            "{}: flightlog hooks already installed; nothing changed",
            done.path.display()
        );
    } else {
        println!(
            "{}: added flightlog hooks for {}",
            done.path.display(),
            done.added.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
