//! The team store on PostgreSQL: one log for many machines, enforced by the database.
//!
//! - The schema lives in the `flightlog` schema, created by numbered migrations
//!   (`migrations/pg/NNNN_*.sql`) that [`init`] applies under an advisory lock, so running it
//!   twice, or from two machines at once, is harmless.
//! - The database refuses what would break the log (see the migration): UPDATE, DELETE and
//!   TRUNCATE for every role but a superuser, and an event that is not the next link of its
//!   session's chain. `verify` still recomputes everything, for the superuser who can switch
//!   the triggers off.
//! - Connections take their parameters from the URL, then the `PG*` variables, then
//!   `~/.pgpass` (as libpq does); a password never appears in an error ([`display_url`]).
//! - TLS with rustls (ring). As in libpq, `sslmode=prefer` (the default) and `require` encrypt
//!   without checking the server's certificate.

//!
//! The module's parts: [`conn`] (connection settings, password file, TLS), [`read`] (the
//! `--db postgres://...` backend) and [`push`] (shipping a local store's sessions).

mod conn;
mod push;
mod read;

pub use conn::{config, connect};
pub use push::{PushSession, PushStats, Pusher, copy_events};
pub use read::PgStore;

use crate::error::{Error, Result};

/// The team store's migrations, in order. Never edit a released one; add a file.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/pg/0001_init.sql")];

/// The role that may only INSERT, and the one that may only SELECT.
pub const DEFAULT_WRITER: &str = "flightlog_writer";
pub const DEFAULT_READER: &str = "flightlog_reader";

/// Events per transaction when pushing.
pub const PUSH_BATCH: usize = 5_000;

/// Whether a `--db` value names a PostgreSQL server rather than a SQLite file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A connection string fit to show: no password, in the URL or in its parameters.
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // key=value form: drop the password pair.
        return url
            .split_whitespace()
            .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (auth, hostpart) = match main.rfind('@') {
        Some(i) => (Some(&main[..i]), &main[i + 1..]),
        None => (None, main),
    };
    let mut out = format!("{scheme}://");
    if let Some(a) = auth {
        let user = a.split_once(':').map(|(u, _)| u).unwrap_or(a);
        out.push_str(user);
        out.push('@');
    }
    out.push_str(hostpart);
    if let Some(q) = query {
        let kept: Vec<&str> = q
            .split('&')
            .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

fn pg_err(url: &str, e: postgres::Error) -> Error {
    Error::Postgres {
        url: display_url(url),
        detail: describe(&e),
    }
}

/// The server's own message where there is one (`ERROR: ...`), else the client's.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// A role or schema name as an SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What [`init`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitReport {
    /// Schema version before and after.
    pub from: u32,
    pub to: u32,
    /// Roles that were created (existing ones are only granted to).
    pub created_roles: Vec<String>,
}

/// Creates or upgrades the team store: the schema, the writer and reader roles and their
/// grants, the triggers. Idempotent; concurrent runs wait for each other.
pub fn init(url: &str, writer: &str, reader: &str) -> Result<InitReport> {
    let mut client = connect(url)?;
    let e = |err| pg_err(url, err);
    let mut tx = client.transaction().map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock(7244361712345001)", &[])
        .map_err(e)?;
    tx.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pgcrypto; \
         CREATE SCHEMA IF NOT EXISTS flightlog; \
         CREATE TABLE IF NOT EXISTS flightlog.migrations ( \
             version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())",
    )
    .map_err(e)?;
    let from: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM flightlog.migrations",
            &[],
        )
        .map_err(e)?
        .get(0);
    if from as usize > MIGRATIONS.len() {
        return Err(Error::SchemaTooNew {
            found: i64::from(from),
            supported: MIGRATIONS.len() as i64,
        });
    }
    let crypto: String = tx
        .query_one(
            "SELECT n.nspname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace \
             WHERE x.extname = 'pgcrypto'",
            &[],
        )
        .map_err(e)?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.batch_execute(&sql.replace("@pgcrypto@", &ident(&crypto)))
            .map_err(e)?;
        tx.execute(
            "INSERT INTO flightlog.migrations (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .map_err(e)?;
    }
    let mut created = Vec::new();
    for role in [writer, reader] {
        let exists = tx
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .map_err(e)?
            .is_some();
        if !exists {
            tx.batch_execute(&format!("CREATE ROLE {} NOLOGIN", ident(role)))
                .map_err(e)?;
            created.push(role.to_string());
        }
    }
    let (w, r) = (ident(writer), ident(reader));
    tx.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA flightlog TO {w}, {r}; \
         GRANT INSERT ON flightlog.sessions, flightlog.events, flightlog.checkpoints, \
             flightlog.host_keys TO {w}; \
         GRANT SELECT ON flightlog.sessions, flightlog.events, flightlog.checkpoints, \
             flightlog.host_keys, flightlog.migrations TO {r}; \
         GRANT EXECUTE ON FUNCTION flightlog.session_head(text), \
             flightlog.checkpoint_head(text) TO {w}, {r};"
    ))
    .map_err(e)?;
    tx.commit().map_err(e)?;
    Ok(InitReport {
        from: from as u32,
        to: MIGRATIONS.len() as u32,
        created_roles: created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        let cases = [
            (
                "postgres://alice:s3cret@db.example.com:5433/team?sslmode=require",
                "postgres://alice@db.example.com:5433/team?sslmode=require",
            ),
            ("postgresql://bob@h/db", "postgresql://bob@h/db"),
            (
                "postgres://h/db?password=s3cret&sslmode=require",
                "postgres://h/db?sslmode=require",
            ),
            ("postgres://a:b:c@h/db", "postgres://a@h/db"),
            (
                "host=h user=u password=s3cret dbname=d",
                "host=h user=u dbname=d",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(display_url(url), shown, "{url}");
            assert!(!display_url(url).contains("s3cret"));
        }
    }
}
