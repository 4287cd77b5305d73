//! `flightlog checkpoint`: sign the current state of every session now, and optionally write
//! the signed checkpoint to a file kept elsewhere (the anchor `verify --checkpoint` checks).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  flightlog checkpoint -o /mnt/audit/flightlog-cp.json\n  flightlog verify --all --checkpoint /mnt/audit/flightlog-cp.json"
)]
pub struct Args {
    /// Also write the signed checkpoint (JSON) to this file.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let store = ctx.open_rw()?;
    let keys = ctx.keys()?;
    let cp = store.checkpoint(&keys, ctx.now())?;
    let anchor_failed = crate::anchor::run(ctx, &cp).is_some();
    let json = serde_json::to_string_pretty(&cp)?;
    match &args.out {
        Some(p) => {
            std::fs::write(p, format!("{json}\n"))
                .with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!(
                "checkpoint #{} over {} session(s) written to {}",
                cp.checkpoint.no,
                cp.checkpoint.sessions.len(),
                p.display()
            );
        }
        None => println!("{json}"),
    }
    // The checkpoint is written either way; an anchor that failed makes the answer "no".
    Ok(if anchor_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
