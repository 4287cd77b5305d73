//! `flightlog hook <agent>`: one hook payload on stdin, recorded durably, answered in the agent's
//! protocol. `flightlog hook install <agent> [--project|--user]`: writes the agent's hook config.
//! Each agent is a subcommand and `install` takes an [`Agent`] value, so clap writes the usage,
//! the completions and the errors.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flightlog_recorder::hook::codex::{AppServer, CodexHook};
use flightlog_recorder::hook::{
    self, Agent, Answer, HookEnv, InstallError, InstallScope, Locations, MAX_PAYLOAD,
};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  echo '{\"session_id\":\"s\",\"hook_event_name\":\"PreToolUse\",...}' | flightlog hook claude-code\n  flightlog hook install claude-code --project\n  flightlog hook install cursor --user\n\nExit codes: 0 recorded (the answer is on stdout); 1 not recorded or not understood (non-blocking\nfor every agent); a guard denial is answered in the agent's protocol with exit 0."
)]
pub struct Args {
    #[command(subcommand)]
    command: HookCommand,
}

#[derive(Debug, clap::Subcommand)]
enum HookCommand {
    /// Records Claude Code's hook payload on stdin.
    #[command(name = "claude-code", visible_alias = "claude")]
    ClaudeCode(PayloadArgs),
    /// Records Codex CLI's hook payload on stdin (or its legacy `notify` JSON argument).
    Codex(PayloadArgs),
    /// Records Gemini CLI's hook payload on stdin.
    #[command(visible_alias = "gemini-cli")]
    Gemini(PayloadArgs),
    /// Records Cursor's hook payload on stdin.
    Cursor(PayloadArgs),
    /// Writes an agent's hook config so it runs `flightlog hook <agent>`.
    Install(InstallArgs),
}

#[derive(Debug, clap::Args)]
struct PayloadArgs {
    /// Codex's legacy `notify = ["flightlog", "hook", "codex"]` passes the JSON here, with
    /// stdin closed; every other payload comes on stdin.
    #[arg(value_name = "JSON")]
    payload: Option<String>,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// The agent to install hooks for.
    agent: Agent,
    /// Write the project's config (the default).
    #[arg(long, conflicts_with = "user")]
    project: bool,
    /// Write the user's config.
    #[arg(long)]
    user: bool,
    /// The command the agent should run (default: this binary's absolute path).
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let (agent, args) = match args.command {
        HookCommand::Install(a) => return install(&a),
        HookCommand::ClaudeCode(a) => (Agent::ClaudeCode, a),
        HookCommand::Codex(a) => (Agent::Codex, a),
        HookCommand::Gemini(a) => (Agent::Gemini, a),
        HookCommand::Cursor(a) => (Agent::Cursor, a),
    };
    let timeout_ms: u64 = std::env::var("FLIGHTLOG_HOOK_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let payload = match &args.payload {
        // Codex's legacy `notify = ["flightlog", "hook", "codex"]` passes the JSON as the last
        // argument, with stdin closed.
        Some(arg) if agent == Agent::Codex && arg.trim_start().starts_with('{') => {
            Ok(arg.clone().into_bytes())
        }
        Some(_) => bail!(
            "`flightlog hook {}` takes its payload on stdin, not as an argument",
            agent.name()
        ),
        None => read_stdin(Duration::from_millis(timeout_ms)),
    };
    let answer = match &payload {
        Ok(p) => match record(ctx, agent, p, timeout_ms) {
            Ok(a) => a,
            Err(e) => {
                let msg = crate::one_line(&e);
                let fail_closed = crate::guard::fail_closed(ctx);
                let event = hook::peek_event_name(p);
                note_failure(ctx, agent, &event, p, &msg, fail_closed);
                hook::failure_answer(agent, &event, fail_closed, &msg)
            }
        },
        Err(e) => {
            let fail_closed = crate::guard::fail_closed(ctx);
            note_failure(ctx, agent, "", b"", e, fail_closed);
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

/// Reads all of stdin (bounded in size), giving up after `limit` so a hook never hangs. It
/// waits with `poll` on a copy of the descriptor (no thread: starting one is a measurable part
/// of a process that lives a few milliseconds).
fn read_stdin(limit: Duration) -> Result<Vec<u8>, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read the payload on stdin: {e}");
    let deadline = Instant::now() + limit;
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| cannot(&e))?;
    let mut file = std::fs::File::from(fd);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(0) => {
                return Err(format!(
                    "no complete payload on stdin within {} ms",
                    limit.as_millis()
                ));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(cannot(&e)),
        }
        match file.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() >= MAX_PAYLOAD {
                    buf.truncate(MAX_PAYLOAD);
                    return Ok(buf);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(cannot(&e)),
        }
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
    // What the hook's write transaction needs and builds on first use is built before that
    // takes the store's write lock, so that parallel hooks do not wait for each other's
    // set-up: the redaction rules' automaton (a scan of any text builds it) and, with the guard
    // on, the built-in catalogue (most of a guarded hook's work).
    redactor.scan("");
    if guard.is_some() {
        flightlog_analysis::catalogue::Catalogue::builtin();
    }
    // Hooks that could not record earlier left a note; they become gaps in this transaction.
    let claimed = failure_notes(ctx).and_then(|n| hook::failures::claim(&n));
    let env = HookEnv {
        store: &store,
        redactor: &redactor,
        record_session,
        now: ctx.now(),
        guard: guard.as_ref().map(|g| g as &dyn Fn(&_, &_) -> _),
        guard_context: 200,
        preface: claimed
            .as_ref()
            .map(|c| c.gaps(ctx.now()))
            .unwrap_or_default(),
    };
    match hook::handle(agent, payload, &env) {
        Ok(a) => {
            if let Some(c) = claimed {
                c.done();
            }
            if let Some(session) = &a.ended_session {
                seal(ctx, &store, session);
            }
            Ok(a)
        }
        Err(e) => {
            if let Some(c) = claimed {
                c.release();
            }
            Err(e.into())
        }
    }
}

/// The agent ended its session: a session checkpoint over all its events, a store checkpoint,
/// and the policy's anchor command. The events are already durable; a failure here is reported
/// on stderr and leaves the session's tail unanchored (verify warns), never blocks the agent.
fn seal(ctx: &Ctx, store: &flightlog_formats::Store, session: &str) {
    let now = ctx.now();
    let res = ctx.keys().and_then(|keys| {
        store.append_session_checkpoint(session, &keys, now)?;
        Ok(store.checkpoint(&keys, now)?)
    });
    match res {
        Ok(cp) => {
            crate::anchor::run(ctx, &cp);
        }
        Err(e) => eprintln!(
            "flightlog: session {session} ended but could not be checkpointed: {}",
            crate::one_line(&e)
        ),
    }
}

/// The failure notes beside the local store; none for a team store URL (never a path made of
/// the URL). See [`hook::failures`].
fn failure_notes(ctx: &Ctx) -> Option<PathBuf> {
    if ctx.db_url().is_some() {
        return None;
    }
    ctx.db.parent().map(hook::failures::notes_path)
}

/// Notes a hook that could not record, for the next hook to turn into a gap.
fn note_failure(ctx: &Ctx, agent: Agent, event: &str, payload: &[u8], error: &str, closed: bool) {
    if let Some(notes) = failure_notes(ctx) {
        hook::failures::note(&notes, ctx.now(), agent, event, payload, error, closed);
    }
}

fn install(args: &InstallArgs) -> Result<ExitCode> {
    let agent = args.agent;
    let scope = if args.user {
        InstallScope::User
    } else {
        InstallScope::Project
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let places = Locations::new(home, cwd, |k| std::env::var_os(k));
    let path = places.config_path(agent, scope);
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
    let done = match hook::install(agent, &path, &command) {
        Ok(d) => d,
        Err(e @ InstallError::Commented { .. }) => {
            println!("{e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
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
    let on = match agent {
        Agent::Codex => codex_review(&places, scope, &path, &command)?,
        Agent::Gemini => gemini_trust(&places, scope, &path, &command)?,
        Agent::ClaudeCode | Agent::Cursor => true,
    };
    Ok(if on {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Codex runs a hook only once it has been reviewed, and loads a project's hooks only in a
/// project the user trusts. The user asked for flightlog's hooks, so their review is
/// registered here, through Codex itself; trusting a whole project stays the user's decision.
/// True when Codex will run every flightlog hook.
fn codex_review(
    places: &Locations,
    scope: InstallScope,
    path: &std::path::Path,
    command: &str,
) -> Result<bool> {
    let again = match scope {
        InstallScope::Project => "flightlog hook install codex --project",
        InstallScope::User => "flightlog hook install codex --user",
    };
    let Some(codex) = hook::codex::which("codex", std::env::var_os("PATH").as_deref()) else {
        println!(
            "codex is not on PATH, so Codex's review of these hooks is not registered (Codex skips \
             unreviewed hooks): install Codex, then run `{again}` again"
        );
        return Ok(false);
    };
    // Codex keeps the review in its home, which it does not create when asked to list hooks.
    let codex_home = places.codex_home();
    if !codex_home.is_dir() {
        if places.moved_by(Agent::Codex).is_some() {
            println!(
                "CODEX_HOME is {}, which does not exist, so Codex cannot start: create it or \
                 unset CODEX_HOME, then run `{again}` again",
                codex_home.display()
            );
            return Ok(false);
        }
        std::fs::create_dir_all(&codex_home)
            .with_context(|| format!("cannot create {}", codex_home.display()))?;
    }
    let mut server = AppServer::start(&codex)?;
    let listed = server
        .hooks(&places.project)
        .context("cannot ask Codex which hooks it loads")?;
    let same_file = |p: &std::path::Path| {
        p == path || std::fs::canonicalize(p).ok() == std::fs::canonicalize(path).ok()
    };
    let ours: Vec<&CodexHook> = listed
        .hooks
        .iter()
        .filter(|h| same_file(&h.source_path) && h.command.as_deref() == Some(command))
        .collect();
    if ours.is_empty() {
        if scope == InstallScope::Project {
            println!(
                "Codex ignores {} until you trust this project (\"Untrusted project-local \
                 configuration is disabled\"): run `cd {} && codex` and choose \"Trust and \
                 continue\" (or pass --trust to your next `codex exec` here), then run `{again}` \
                 again",
                path.display(),
                shell_quote(&places.project.display().to_string()),
            );
        } else {
            let why: Vec<&String> = listed.errors.iter().chain(&listed.warnings).collect();
            println!(
                "Codex does not load {}{}; check `codex` starts, then run `{again}` again",
                path.display(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        why.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            );
        }
        return Ok(false);
    }
    let todo: Vec<&CodexHook> = ours
        .iter()
        .copied()
        .filter(|h| h.enabled && !h.runs())
        .collect();
    if !todo.is_empty() {
        let config = server
            .review(&todo)
            .context("cannot register Codex's review of flightlog's hooks")?;
        println!(
            "{}: registered Codex's review of flightlog's hooks (as its /hooks screen does):",
            config.display()
        );
        for h in &todo {
            println!(
                "  hooks.state.\"{}\".trusted_hash = \"{}\"",
                h.key, h.current_hash
            );
        }
    }
    let after = server.hooks(&places.project)?;
    let off: Vec<&CodexHook> = after
        .hooks
        .iter()
        .filter(|h| same_file(&h.source_path) && h.command.as_deref() == Some(command))
        .filter(|h| !h.runs())
        .collect();
    if off.is_empty() {
        println!("Codex will run flightlog's hooks ({} reviewed)", ours.len());
        return Ok(true);
    }
    for h in off {
        let why = if h.enabled {
            format!("its review is {}", h.trust)
        } else {
            "it is disabled in Codex's /hooks screen".to_string()
        };
        println!(
            "Codex will not run {} ({why}); enable it with `codex` and /hooks",
            h.key
        );
    }
    Ok(false)
}

/// Gemini CLI loads a project's settings only in a folder the user trusts (and a headless
/// run refuses to start in an untrusted one). A project hook is announced on its first run
/// and recorded in `trusted_hooks.json`; flightlog records its own there at install. True when
/// Gemini will run the hooks from here.
fn gemini_trust(
    places: &Locations,
    scope: InstallScope,
    path: &std::path::Path,
    command: &str,
) -> Result<bool> {
    if scope == InstallScope::User {
        return Ok(true);
    }
    let file = places.gemini_trusted_hooks();
    if hook::gemini_trust_hooks(&file, &places.project, command)? {
        println!(
            "{}: registered flightlog's project hooks as reviewed (as Gemini does when it first runs them)",
            file.display()
        );
    }
    match places.gemini_trusts(&places.project)? {
        Some(true) => Ok(true),
        trust => {
            println!(
                "Gemini CLI ignores {} {} (and headless runs refuse to start there): run `cd {} && \
                 gemini` and trust the folder when asked (or type /permissions trust), then run \
                 `flightlog doctor`",
                path.display(),
                if trust == Some(false) {
                    "because this folder is marked untrusted"
                } else {
                    "until you trust this folder"
                },
                shell_quote(&places.project.display().to_string()),
            );
            Ok(false)
        }
    }
}

pub(crate) fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Agent, Args, HookCommand};

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        hook: Args,
    }

    /// What `flightlog hook ARGS` means: the agent whose payload is recorded, or `install` of
    /// which agent, or an error.
    fn parsed(line: &str) -> Result<(&'static str, Option<Agent>, Option<String>), ()> {
        let argv = std::iter::once("hook").chain(line.split_whitespace());
        let cli = Cli::try_parse_from(argv).map_err(|_| ())?;
        Ok(match cli.hook.command {
            HookCommand::Install(a) => ("install", Some(a.agent), a.command),
            HookCommand::ClaudeCode(p) => ("record", Some(Agent::ClaudeCode), p.payload),
            HookCommand::Codex(p) => ("record", Some(Agent::Codex), p.payload),
            HookCommand::Gemini(p) => ("record", Some(Agent::Gemini), p.payload),
            HookCommand::Cursor(p) => ("record", Some(Agent::Cursor), p.payload),
        })
    }

    #[test]
    fn every_installed_invocation_still_parses() {
        let ok = |what, agent, arg: Option<&str>| Ok((what, Some(agent), arg.map(String::from)));
        let cases = [
            ("claude-code", ok("record", Agent::ClaudeCode, None)),
            ("claude", ok("record", Agent::ClaudeCode, None)),
            ("codex", ok("record", Agent::Codex, None)),
            // Codex's legacy notify: the JSON is the last argument.
            (
                "codex {\"type\":\"x\"}",
                ok("record", Agent::Codex, Some("{\"type\":\"x\"}")),
            ),
            ("gemini", ok("record", Agent::Gemini, None)),
            ("gemini-cli", ok("record", Agent::Gemini, None)),
            ("cursor", ok("record", Agent::Cursor, None)),
            (
                "install claude-code",
                ok("install", Agent::ClaudeCode, None),
            ),
            (
                "install claude --user",
                ok("install", Agent::ClaudeCode, None),
            ),
            ("install codex --project", ok("install", Agent::Codex, None)),
            (
                "install cursor --command fl",
                ok("install", Agent::Cursor, Some("fl")),
            ),
            ("install gemini-cli", ok("install", Agent::Gemini, None)),
            ("bogus", Err(())),
            ("install", Err(())),
            ("install nope", Err(())),
            ("install codex --user --project", Err(())),
            ("", Err(())),
        ];
        for (line, want) in cases {
            assert_eq!(parsed(line), want, "flightlog hook {line}");
        }
    }
}
