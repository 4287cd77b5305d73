//! `flightlog hook <agent>` and `flightlog hook install <agent>` (being built).

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

pub fn run(_ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    bail!("'hook' is not available in this build yet")
}
