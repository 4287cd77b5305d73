//! `flightlog replay [SESSION] [--at SEQ] [--speed X]`: the replay TUI.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flightlog_viewer::{ReplayOptions, run_replay};

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog replay                 # pick a session\n  flightlog replay latest          # the newest session\n  flightlog replay 3f2a --at 120   # start at seq 120\n  flightlog replay latest --speed 4\n\nKeys: j/k step, space play, c next crossing, / search, : go to, f filter, ? help, q quit."
)]
pub struct Args {
    /// The session: an id, a unique id prefix, or `latest` (none: choose in a picker).
    pub session: Option<String>,
    /// Start at this seq.
    #[arg(long, value_name = "SEQ")]
    pub at: Option<u64>,
    /// Playback speed, 0.25 to 16.
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('x')
        .parse()
        .map_err(|_| format!("not a number: {s}"))?;
    if (0.25..=16.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("speed must be between 0.25 and 16 (got {s})"))
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let opts = ReplayOptions {
        at_seq: args.at,
        speed: args.speed,
        jump_to_first_crossing: false,
        policy: ctx.policy.clone(),
    };
    run_replay(&ctx.db, args.session.as_deref(), opts)
        .with_context(|| format!("replay of {}", ctx.db.display()))?;
    Ok(ExitCode::SUCCESS)
}
