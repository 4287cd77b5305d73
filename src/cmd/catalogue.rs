//! `flightlog catalogue`: the destructive-action rules (`list`) and why a command is or is not
//! destructive (`explain`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use flightlog_analysis::catalogue::{Catalogue, WorkTree};
use serde_json::json;

use crate::ctx::Ctx;

#[derive(Debug, clap::Subcommand)]
#[command(
    after_help = "Examples:\n  flightlog catalogue list\n  flightlog catalogue list --family secrets --json\n  flightlog catalogue explain rm -rf /tmp/*\n  flightlog catalogue explain \"python3 -c \\\"import shutil; shutil.rmtree('/srv/data')\\\"\"\n\nExit codes: list: 0; explain: 0 not destructive, 1 destructive; 2 could not run."
)]
pub enum Command {
    /// List the rules: id, family, severity, and what each matches.
    #[command(
        after_help = "Examples:\n  flightlog catalogue list\n  flightlog catalogue list --family git\n  flightlog catalogue list --json | jq -r '.[].id'"
    )]
    List {
        /// Only the rules of this family (aws, git, secrets, ...).
        #[arg(long)]
        family: Option<String>,
        /// Print JSON: [{id, family, severity, summary, matches:[..], examples:[..], harmless:[..]}].
        #[arg(long)]
        json: bool,
    },
    /// Explain why a command line is or is not destructive: the rule that matched, its
    /// severity, the wrappers and interpreters it was seen through, and every command seen.
    #[command(
        after_help = "Examples:\n  flightlog catalogue explain git push --force origin main\n  flightlog catalogue explain 'sudo bash -c \"rm -rf ~/projects\"'\n  flightlog catalogue explain --json \"node -e \\\"require('fs').rmSync('/srv', {recursive: true})\\\"\"\n  flightlog catalogue explain --root /home/dev/app 'rm -rf ../other'\n\nThe arguments are joined with spaces into one command line (quote it to keep its quoting).\nExit codes: 0 not destructive, 1 destructive, 2 could not run."
    )]
    Explain {
        /// The work tree that path rules compare against (default: the current directory).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Print JSON: {line, destructive, rule, severity, matches:[{rule,severity,summary,detail,via}], commands:[{argv,via,matched,not_matched}]}.
        #[arg(long)]
        json: bool,
        /// The command line.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
        command: Vec<String>,
    },
}

pub fn run(_ctx: &Ctx, command: Command) -> Result<ExitCode> {
    match command {
        Command::List { family, json } => list(family.as_deref(), json),
        Command::Explain {
            root,
            json,
            command,
        } => explain(root, json, &command.join(" ")),
    }
}

fn list(family: Option<&str>, as_json: bool) -> Result<ExitCode> {
    let cat = Catalogue::builtin_with_examples();
    let rules: Vec<_> = cat
        .rules
        .iter()
        .filter(|r| family.is_none_or(|f| r.family == f))
        .collect();
    if let Some(f) = family
        && rules.is_empty()
    {
        let mut families: Vec<&str> = cat.rules.iter().map(|r| r.family.as_str()).collect();
        families.dedup();
        anyhow::bail!("no family {f:?}; the families are {}", families.join(", "));
    }
    let mut out = std::io::stdout().lock();
    if as_json {
        let v: Vec<_> = rules
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "family": r.family,
                    "severity": r.severity,
                    "summary": r.summary,
                    "matches": r.matchers(),
                    "examples": r.examples,
                    "harmless": r.harmless,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let w = rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let fw = rules.iter().map(|r| r.family.len()).max().unwrap_or(0);
    for r in &rules {
        writeln!(
            out,
            "{:w$}  {:fw$}  {:8}  {}",
            r.id,
            r.family,
            r.severity.as_str(),
            r.summary
        )?;
        for m in r.matchers() {
            writeln!(out, "{:w$}  {:fw$}  {:8}    matches {m}", "", "", "")?;
        }
    }
    writeln!(out, "{} rules in {} families", rules.len(), {
        let mut f: Vec<&str> = rules.iter().map(|r| r.family.as_str()).collect();
        f.dedup();
        f.len()
    })?;
    Ok(ExitCode::SUCCESS)
}

fn explain(root: Option<PathBuf>, as_json: bool, line: &str) -> Result<ExitCode> {
    let root = match root {
        Some(r) => r,
        None => std::env::current_dir().context("the current directory")?,
    };
    let wt = WorkTree {
        root: Some(root.to_string_lossy().into_owned()),
        cwd: None,
    };
    let e = Catalogue::builtin().explain_line(line, &wt);
    let code = if e.destructive {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
        return Ok(code);
    }
    let s = |t: &str| flightlog_formats::text::line(t);
    match e.matches.first() {
        Some(top) => {
            writeln!(
                out,
                "destructive: {} ({}): {}",
                top.rule, top.severity, top.summary
            )?;
            for m in &e.matches {
                writeln!(
                    out,
                    "  rule {} ({}) matched {}",
                    m.rule,
                    m.severity,
                    s(&m.detail)
                )?;
                if !m.via.is_empty() {
                    writeln!(out, "    seen through: {}", s(&m.via.join(" > ")))?;
                }
            }
        }
        None => writeln!(out, "not destructive: no rule matches")?,
    }
    writeln!(
        out,
        "commands seen (work tree {}):",
        s(&root.to_string_lossy())
    )?;
    for c in &e.commands {
        writeln!(out, "  {}", s(&c.argv.join(" ")))?;
        if !c.via.is_empty() {
            writeln!(out, "    through: {}", s(&c.via.join(" > ")))?;
        }
        if !c.matched.is_empty() {
            writeln!(out, "    matched: {}", c.matched.join(", "))?;
        }
        if !c.not_matched.is_empty() {
            writeln!(out, "    tried, no match: {}", c.not_matched.join(", "))?;
        }
        if c.matched.is_empty() && c.not_matched.is_empty() {
            writeln!(out, "    no rule is about this program")?;
        }
    }
    Ok(code)
}
