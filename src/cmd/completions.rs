//! `flightlog completions SHELL` and `flightlog man`: generated from the same clap definition
//! that parses the arguments, so they cannot drift from the real CLI.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog completions bash > ~/.local/share/bash-completion/completions/flightlog\n  flightlog completions zsh > \"${fpath[1]}/_flightlog\"\n  flightlog completions fish > ~/.config/fish/completions/flightlog.fish"
)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog man | man -l -\n  flightlog man --dir ~/.local/share/man/man1   # flightlog.1 and flightlog-<command>.1"
)]
pub struct ManArgs {
    /// Write every page (flightlog.1 and one flightlog-<command>.1 per command) into DIR
    /// instead of printing the top-level page.
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = crate::Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "flightlog", &mut out);
    out.flush().context("cannot write the completions")?;
    Ok(ExitCode::SUCCESS)
}

/// The manual page (roff) of the top-level command, or every page into a directory.
pub fn man(args: ManArgs) -> Result<ExitCode> {
    let cmd = crate::Cli::command();
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(cmd, &dir)
            .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .context("cannot render the manual page")?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page)
        .context("cannot write the manual page")?;
    Ok(ExitCode::SUCCESS)
}
