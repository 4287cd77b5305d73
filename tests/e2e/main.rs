//! End-to-end tests: the real `flightlog` binary driven as users and agents drive it.
//!
//! Table of contents:
//! - `agents`: the real Claude Code, Codex CLI, Gemini CLI and Aider, driven by scripted model
//!   servers through the incident, with hooks, under `record` and under `record --guard`
//! - `hooks`: agent hook payloads, one process each; parallel writers; the incident stream
//! - `install`: `hook install` with the real agents (Codex, Gemini CLI, Claude Code): capture on, or the exact step the user must take
//! - `record`: `flightlog record` around scripted agents: exits, signals, terminal, layers, guard
//! - `tls`: `record --tls-intercept` against real TLS servers: HTTPS recorded, guarded, unbroken
//! - `interop`: imports of real transcripts, every export format, the audit bundle, HTML in Chromium
//! - `replay_tui`: the replay TUI in tmux
//! - `progress`: progress bars on a terminal (tmux), none when piped, `NO_COLOR`
//! - `demo`: the nine-second incident reconstructed, with and without the guard
//! - `validators`: every export of the demo and of the real transcripts through OCSF/OTLP/asciinema validators
//! - `verifier`: the auditor's standard-library verifier: fixtures, keys, RFC 8032 and 6962 vectors
//! - `fixtures_verify`: every valid and tampered session fixture through `flightlog verify`
//! - `cli`: completions, the manual, store paths and verify targets people get wrong
//! - `follow`: `show --follow` on a session while `record` writes it
//! - `catalogue`: `catalogue list` and `catalogue explain` on every row of the command table
//! - `checkpoints`: the policy's anchor command, and verify against an anchored checkpoint
//! - `team`: the team store on PostgreSQL (push, read back, what the database refuses)
//! - `crash`, `reliability`, `secrets`: kill -9, concurrency, fail modes, hostile input, no secret in any file
//!
//! Set-up lives in `common`: a `TestEnv` (a private directory with its own home and XDG
//! directories, the store, an optional policy and fixed clock, and the commands to run the
//! binary there, record with it, start a recording to watch, and read what it stored), a `Tmux`
//! server of its own with a wait on its screen, the checks every recording test ends with
//! (shared with the recorder's tests through `flightlog_fixtures::check`), and the small steps
//! the modules repeat: `exits`/`run_ok` (an exit code, failing with the output), `kinds` of a
//! verify report, `wait_until`/`wait_timeout`, `spawn_quiet`/`spawn_with_stdin`, `need`.
//!
//! The binary is found by `flightlog_fixtures::bin_path()` (FLIGHTLOG_BIN, else target/): run
//! `cargo build` first (`.ci/run` does).

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod agents;
mod catalogue;
mod checkpoints;
mod cli;
mod common;
mod crash;
mod demo;
mod fixtures_verify;
mod follow;
mod hooks;
mod install;
mod interop;
mod progress;
mod record;
mod reliability;
mod replay_tui;
mod secrets;
mod team;
mod tls;
mod validators;
mod verifier;
