//! `flightlog`: a flight recorder for AI coding agents.
//!
//! The binary is thin: it parses arguments, builds a [`ctx::Ctx`], dispatches to one module per
//! command under `cmd/`, and maps errors to the exit codes of the CLI contract:
//! 0 success, 1 the answer is "no" (problems found, blocked), 2 usage or I/O error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod anchor;
mod cmd;
mod ctx;
mod guard;
mod progress;
mod summary;

#[derive(Debug, Parser)]
#[command(
    name = "flightlog",
    version,
    about = "A flight recorder for AI coding agents: a tamper-evident log of every command, API call and file change, and a replay that shows where a boundary was crossed.",
    after_help = "Examples:\n  flightlog demo                      # record and replay the nine-second incident\n  flightlog record -- claude          # record an agent session\n  flightlog hook install claude-code  # record through Claude Code's hooks\n  flightlog replay latest             # step through the last session\n  flightlog verify --all              # check every chain and checkpoint"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    global: ctx::GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record and replay the nine-second incident (a scripted agent against a local stand-in
    /// for Railway's API, recorded by the real recorder into a temporary store).
    Demo(cmd::demo::Args),
    /// Run a command (an agent) and record everything it does.
    Record(cmd::record::Args),
    /// Take one agent hook payload on stdin, record it, answer in the agent's protocol; or
    /// `hook install <agent>` to write the agent's hook configuration.
    Hook(cmd::hook::Args),
    /// Will agent sessions here be recorded? Each agent's hooks, trust and review; ptrace; the
    /// store and its keys; and the command that fixes what is not.
    Doctor(cmd::doctor::Args),
    /// Import agent transcripts, terminal recordings or flightlog exports.
    Import(cmd::import::Args),
    /// List sessions.
    Sessions(cmd::sessions::Args),
    /// Print a session's timeline.
    Show(cmd::show::Args),
    /// Replay a session step by step in the terminal.
    Replay(cmd::replay::Args),
    /// The incident report of a session: crossings, destructive actions, secrets, the window.
    Report(cmd::report::Args),
    /// Check every event, link and checkpoint of the store, a session, or an export.
    Verify(cmd::verify::Args),
    /// Export a session (jsonl, ocsf, otlp, asciicast, csv, cef, bundle).
    Export(cmd::export::Args),
    /// Validate a policy, or replay a session against one.
    #[command(subcommand)]
    Policy(cmd::policy::Command),
    /// List the destructive-action rules, or explain why a command is or is not destructive.
    #[command(subcommand)]
    Catalogue(cmd::catalogue::Command),
    /// Write a signed checkpoint over every session now (and optionally copy it elsewhere).
    Checkpoint(cmd::checkpoint::Args),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::CompletionsArgs),
    /// Print the manual page (roff).
    Man(cmd::completions::ManArgs),
    /// Set up the team store on PostgreSQL (`team init URL`).
    #[command(subcommand)]
    Team(cmd::team::Command),
    /// Ship local sessions to the team store on PostgreSQL.
    Push(cmd::push::Args),
}

/// The hook's own parser: the same global options and the same `hook` subcommand, without the
/// other commands. An agent runs `flightlog hook <agent>` at every tool call, and building the
/// whole command tree to parse it was 15% of a hook's instructions (430,000: the tree 231,000,
/// parsing it 197,000). Whatever it does not accept (another command, `--help`, a mistake) is
/// parsed again by [`Cli`], so every message and help text is the full CLI's.
#[derive(Debug, Parser)]
#[command(name = "flightlog")]
struct HookCli {
    #[command(flatten)]
    global: ctx::GlobalOpts,
    #[command(subcommand)]
    command: HookOnly,
}

#[derive(Debug, Subcommand)]
enum HookOnly {
    Hook(cmd::hook::Args),
}

/// The arguments, by [`HookCli`] when they may be a hook's and it accepts them, else by [`Cli`].
/// Both grammars are the same for `hook` (the same structs), so an accepted argument list means
/// the same under either.
fn parse_args(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    if args.iter().skip(1).any(|a| a == "hook")
        && let Ok(h) = HookCli::try_parse_from(&args)
    {
        let HookOnly::Hook(a) = h.command;
        return Ok(Cli {
            global: h.global,
            command: Command::Hook(a),
        });
    }
    Cli::try_parse_from(args)
}

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args_os().collect()) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let ctx = match ctx::Ctx::from_opts(&cli.global) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let res = match cli.command {
        // The demo records into its own store under its own policy: a --db or --policy given
        // to it would be silently ignored, so it is refused in words.
        Command::Demo(_) if cli.global.db.is_some() || cli.global.policy.is_some() => {
            Err(anyhow::anyhow!(
                "demo: --db and --policy do not apply: the demo records into its own store with its own policy (--keep DIR keeps both)"
            ))
        }
        Command::Demo(a) => cmd::demo::run(&ctx, a),
        Command::Record(a) => cmd::record::run(&ctx, a),
        Command::Hook(a) => cmd::hook::run(&ctx, a),
        Command::Doctor(a) => cmd::doctor::run(&ctx, a),
        Command::Import(a) => cmd::import::run(&ctx, a),
        Command::Sessions(a) => cmd::sessions::run(&ctx, a),
        Command::Show(a) => cmd::show::run(&ctx, a),
        Command::Replay(a) => cmd::replay::run(&ctx, a),
        Command::Report(a) => cmd::report::run(&ctx, a),
        Command::Verify(a) => cmd::verify::run(&ctx, a),
        Command::Export(a) => cmd::export::run(&ctx, a),
        Command::Policy(a) => cmd::policy::run(&ctx, a),
        Command::Catalogue(a) => cmd::catalogue::run(&ctx, a),
        Command::Checkpoint(a) => cmd::checkpoint::run(&ctx, a),
        Command::Completions(a) => cmd::completions::completions(a),
        Command::Man(a) => cmd::completions::man(a),
        Command::Team(a) => cmd::team::run(&ctx, a),
        Command::Push(a) => cmd::push::run(&ctx, a),
    };
    match res {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// Prints a one-line reason and returns exit code 2; a broken pipe exits quietly.
fn fail(e: &anyhow::Error) -> ExitCode {
    if e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    eprintln!("flightlog: {}", one_line(e));
    ExitCode::from(2)
}

/// The error and its causes on one line, without repeating a cause whose text the message
/// before it already carries (SQLite errors often repeat themselves down the chain).
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let text = c.to_string();
        if parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        // A cause that repeats the previous part with more detail replaces it
        // ("database or disk is full" then "Error code 13: database or disk is full").
        if let Some(last) = parts.last_mut()
            && text.ends_with(last.as_str())
        {
            *last = text;
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::{Cli, parse_args};
    use clap::Parser;

    /// The hook's parser and the full CLI's read every argument list alike: the same result,
    /// or the same error with the same text.
    #[test]
    fn the_hook_parser_says_what_the_full_cli_says() {
        let lists: &[&[&str]] = &[
            &["hook", "claude-code"],
            &["hook", "claude"],
            &["--db", "/tmp/x.db", "hook", "codex"],
            &["hook", "gemini", "--db", "/tmp/x.db"],
            &["--policy", "p.toml", "hook", "cursor"],
            &["hook", "install", "claude-code"],
            &["hook", "install", "--help"],
            &["hook", "--help"],
            &["hook"],
            &["hook", "nosuchagent"],
            &["hook", "claude-code", "--no-such-flag"],
            &["--db", "hook", "hook", "claude-code"],
            &["--db"],
            &["show", "hook"],
            &["sessions"],
            &["--version"],
        ];
        for list in lists {
            let args: Vec<std::ffi::OsString> = std::iter::once("flightlog")
                .chain(list.iter().copied())
                .map(Into::into)
                .collect();
            let full = Cli::try_parse_from(&args);
            let ours = parse_args(args);
            match (full, ours) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{list:?}"),
                (Err(a), Err(b)) => {
                    assert_eq!(a.kind(), b.kind(), "{list:?}");
                    assert_eq!(a.to_string(), b.to_string(), "{list:?}");
                }
                (a, b) => panic!("{list:?}: full {a:?}, hook parser {b:?}"),
            }
        }
    }
}
