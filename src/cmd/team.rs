//! `flightlog team init URL`: creates or upgrades the team store on PostgreSQL.

use std::process::ExitCode;

use anyhow::{Context, Result};
use flightlog_formats::store::pg;

use crate::ctx::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create (or upgrade) the schema, the writer and reader roles, and the triggers that keep
    /// the log append-only. Idempotent. Run it as a role that may create roles (a DBA).
    #[command(
        after_help = "Example:\n  flightlog team init postgres://admin@db.internal/flightlog?sslmode=require\n  psql ... -c 'GRANT flightlog_writer TO ci_runner'   # who may push\n  psql ... -c 'GRANT flightlog_reader TO auditor'     # who may read"
    )]
    Init {
        /// The database (postgres://USER@HOST:PORT/DB; the password from the URL, PGPASSWORD
        /// or ~/.pgpass).
        url: String,
        /// The role that may only INSERT (pushers).
        #[arg(long, value_name = "ROLE", default_value = pg::DEFAULT_WRITER)]
        writer: String,
        /// The role that may only SELECT (readers, auditors).
        #[arg(long, value_name = "ROLE", default_value = pg::DEFAULT_READER)]
        reader: String,
    },
}

pub fn run(_ctx: &Ctx, command: Command) -> Result<ExitCode> {
    match command {
        Command::Init {
            url,
            writer,
            reader,
        } => {
            let shown = pg::display_url(&url);
            let r = pg::init(&url, &writer, &reader)
                .with_context(|| format!("cannot set up the team store at {shown}"))?;
            let what = if r.from == r.to {
                format!("schema {} (already current)", r.to)
            } else {
                format!("schema {} (from {})", r.to, r.from)
            };
            let created = if r.created_roles.is_empty() {
                String::new()
            } else {
                format!("; created roles {}", r.created_roles.join(", "))
            };
            eprintln!(
                "team store ready at {shown}: {what}; {writer} may insert, {reader} may read{created}"
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
