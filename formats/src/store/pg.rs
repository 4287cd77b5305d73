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

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, Config};

use crate::chain::{GENESIS, Hash32};
use crate::error::{Error, Result};
use crate::store::{CheckpointChain, CheckpointRow, SessionRow, StoredEvent, to_hash};

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

/// The connection settings: the URL's, completed from `PG*` variables and the password file.
/// `env` is the process environment (passed in, so tests can set it).
pub fn config(url: &str, env: &HashMap<String, String>) -> Result<Config> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    // The URL parser fills in 5432 for a host without a port, so PGPORT goes into the URL.
    let with_port = match get("PGPORT").filter(|p| p.parse::<u16>().is_ok()) {
        Some(p) => url_with_port(url, &p),
        None => None,
    };
    let url_used = with_port.as_deref().unwrap_or(url);
    let mut cfg = Config::from_str(url_used).map_err(|e| Error::Postgres {
        url: display_url(url),
        detail: format!("not a valid connection string: {e}"),
    })?;
    if cfg.get_hosts().is_empty() {
        cfg.host(&get("PGHOST").unwrap_or_else(|| "localhost".into()));
    }
    if cfg.get_ports().is_empty()
        && let Some(p) = get("PGPORT").and_then(|p| p.parse::<u16>().ok())
    {
        cfg.port(p);
    }
    if cfg.get_user().is_none() {
        let user = get("PGUSER")
            .or_else(|| get("USER"))
            .unwrap_or_else(|| "postgres".into());
        cfg.user(&user);
    }
    if cfg.get_dbname().is_none()
        && let Some(d) = get("PGDATABASE")
    {
        cfg.dbname(&d);
    }
    if !url.contains("sslmode=")
        && let Some(mode) = get("PGSSLMODE")
    {
        cfg.ssl_mode(match mode.as_str() {
            "disable" => postgres::config::SslMode::Disable,
            "require" => postgres::config::SslMode::Require,
            _ => postgres::config::SslMode::Prefer,
        });
    }
    if cfg.get_password().is_none() {
        if let Some(p) = get("PGPASSWORD") {
            cfg.password(p);
        } else if let Some(p) = pgpass_lookup(&cfg, env) {
            cfg.password(p);
        }
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("flightlog");
    }
    Ok(cfg)
}

/// `url` with `port` after its one host, when it names one host without a port.
fn url_with_port(url: &str, port: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_start = authority.rfind('@').map(|i| i + 1).unwrap_or(0);
    let host = &authority[host_start..];
    if host.is_empty() || host.contains(',') || host.rsplit(']').next()?.contains(':') {
        return None;
    }
    Some(format!(
        "{scheme}://{}:{port}{}",
        &rest[..end],
        &rest[end..]
    ))
}

/// The password for these settings from `PGPASSFILE` or `~/.pgpass` (ignored, as libpq does,
/// when group or others can read it).
fn pgpass_lookup(cfg: &Config, env: &HashMap<String, String>) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = match env.get("PGPASSFILE").filter(|v| !v.is_empty()) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::Path::new(env.get("HOME")?).join(".pgpass"),
    };
    let meta = std::fs::metadata(&path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = match cfg.get_hosts().first()? {
        postgres::config::Host::Tcp(h) => h.clone(),
        postgres::config::Host::Unix(_) => "localhost".to_string(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = cfg.get_user()?.to_string();
    let db = cfg.get_dbname().map(str::to_string).unwrap_or(user.clone());
    pgpass_match(&text, [&host, &port, &db, &user])
}

/// The first `host:port:database:user:password` line of a password file that matches.
fn pgpass_match(text: &str, want: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        if fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w)
        {
            return fields.pop();
        }
    }
    None
}

/// Opens a connection to `url` (see [`config`]).
pub fn connect(url: &str) -> Result<Client> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let cfg = config(url, &env)?;
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config()?);
    cfg.connect(tls).map_err(|e| pg_err(url, e))
}

fn tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(EncryptOnly(provider.clone()));
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// libpq's `sslmode=require`: the connection is encrypted and the handshake signatures are
/// checked, but the server's certificate chain is not (that is `verify-full`, which this build
/// does not offer).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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

/// A team store opened for reading (the `--db postgres://...` backend of [`crate::Store`]).
pub struct PgStore {
    client: Mutex<Client>,
    url: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &display_url(&self.url))
            .finish()
    }
}

/// Rows per round trip when streaming a session.
const PAGE: i64 = 8_192;

impl PgStore {
    pub fn open(url: &str) -> Result<PgStore> {
        let mut client = connect(url)?;
        let version: Option<i32> = client
            .query_one(
                "SELECT CASE WHEN to_regclass('flightlog.migrations') IS NULL THEN NULL \
                 ELSE (SELECT max(version) FROM flightlog.migrations) END",
                &[],
            )
            .map_err(|e| pg_err(url, e))?
            .get(0);
        match version {
            None | Some(0) => {
                return Err(Error::Invalid(format!(
                    "{} has no flightlog team store (run `flightlog team init URL` first)",
                    display_url(url)
                )));
            }
            Some(v) if v as usize > MIGRATIONS.len() => {
                return Err(Error::SchemaTooNew {
                    found: i64::from(v),
                    supported: MIGRATIONS.len() as i64,
                });
            }
            Some(_) => {}
        }
        Ok(PgStore {
            client: Mutex::new(client),
            url: url.to_string(),
        })
    }

    /// The URL without its password.
    pub fn shown_url(&self) -> String {
        display_url(&self.url)
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: postgres::Error) -> Error {
        pg_err(&self.url, e)
    }

    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        let rows = self
            .client()
            .query(
                "SELECT s.id, s.host, s.label, s.agent, s.home_env, s.started, \
                 (SELECT e.ts FROM flightlog.events e WHERE e.session = s.id \
                  AND e.kind = 'session_end' ORDER BY e.seq DESC LIMIT 1), \
                 (SELECT coalesce(max(e.seq) + 1, 0) FROM flightlog.events e \
                  WHERE e.session = s.id) \
                 FROM flightlog.sessions s ORDER BY s.started, s.id",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| SessionRow {
                id: r.get(0),
                host: Some(r.get(1)),
                label: r.get(2),
                agent: r.get(3),
                home_env: r.get(4),
                started: r.get(5),
                ended: r.get(6),
                events: r.get::<_, i64>(7).max(0) as u64,
            })
            .collect())
    }

    /// One session's row, without counting its events.
    pub fn session_meta(&self, id: &str) -> Result<Option<SessionRow>> {
        let row = self
            .client()
            .query_opt(
                "SELECT s.id, s.host, s.label, s.agent, s.home_env, s.started \
                 FROM flightlog.sessions s WHERE s.id = $1",
                &[&id],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| SessionRow {
            id: r.get(0),
            host: Some(r.get(1)),
            label: r.get(2),
            agent: r.get(3),
            home_env: r.get(4),
            started: r.get(5),
            ended: None,
            events: 0,
        }))
    }

    pub fn session_ids(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .query("SELECT id FROM flightlog.sessions ORDER BY id", &[])
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub fn orphan_event_sessions(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .query(
                "SELECT DISTINCT e.session FROM flightlog.events e WHERE NOT EXISTS \
                 (SELECT 1 FROM flightlog.sessions s WHERE s.id = e.session)",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub fn resolve(&self, name: &str) -> Result<String> {
        if name == "latest" {
            return self
                .client()
                .query_opt(
                    "SELECT id FROM flightlog.sessions ORDER BY started DESC, pushed DESC, id DESC \
                     LIMIT 1",
                    &[],
                )
                .map_err(|e| self.err(e))?
                .map(|r| r.get(0))
                .ok_or_else(|| Error::NoSuchSession(name.to_string()));
        }
        let rows = self
            .client()
            .query(
                "SELECT id FROM flightlog.sessions WHERE id = $1 OR left(id, length($1)) = $1 \
                 ORDER BY id",
                &[&name],
            )
            .map_err(|e| self.err(e))?;
        let ids: Vec<String> = rows.into_iter().map(|r| r.get(0)).collect();
        if ids.iter().any(|i| i == name) {
            return Ok(name.to_string());
        }
        match ids.len() {
            0 => Err(Error::NoSuchSession(name.to_string())),
            1 => Ok(ids.into_iter().next().unwrap_or_default()),
            _ => Err(Error::AmbiguousSession(name.to_string(), ids.join(", "))),
        }
    }

    pub fn session_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .client()
            .query_opt("SELECT 1 FROM flightlog.sessions WHERE id = $1", &[&id])
            .map_err(|e| self.err(e))?
            .is_some())
    }

    /// The next seq of a session and the hash the next event links to.
    pub fn head(&self, session: &str) -> Result<(u64, Hash32)> {
        let r = self
            .client()
            .query_one(
                "SELECT seq, hash FROM flightlog.events WHERE session = $1 \
                 ORDER BY seq DESC LIMIT 1",
                &[&session],
            )
            .map(Some)
            .or_else(|e| if is_no_row(&e) { Ok(None) } else { Err(e) })
            .map_err(|e| self.err(e))?;
        Ok(match r {
            Some(r) => (r.get::<_, i64>(0) as u64 + 1, to_hash(r.get(1))),
            None => (0, GENESIS),
        })
    }

    /// Streams events with `seq >= from`, at most `limit`, in pages of [`PAGE`] rows.
    pub fn for_each_event_from(
        &self,
        session: &str,
        from: u64,
        limit: u64,
        mut f: impl FnMut(StoredEvent) -> bool,
    ) -> Result<()> {
        let mut next = i64::try_from(from).unwrap_or(i64::MAX);
        let mut left = limit;
        let mut client = self.client();
        let stmt = client
            .prepare(
                "SELECT seq, prev, hash, raw FROM flightlog.events WHERE session = $1 \
                 AND seq >= $2 ORDER BY seq LIMIT $3",
            )
            .map_err(|e| self.err(e))?;
        while left > 0 {
            let n = PAGE.min(i64::try_from(left).unwrap_or(i64::MAX));
            let rows = client
                .query(&stmt, &[&session, &next, &n])
                .map_err(|e| self.err(e))?;
            let got = rows.len() as i64;
            for r in rows {
                let seq: i64 = r.get(0);
                next = seq.saturating_add(1);
                let ev = StoredEvent {
                    seq: seq as u64,
                    prev: to_hash(r.get(1)),
                    hash: to_hash(r.get(2)),
                    raw: r.get(3),
                };
                if !f(ev) {
                    return Ok(());
                }
            }
            left = left.saturating_sub(got as u64);
            if got < n {
                break;
            }
        }
        Ok(())
    }

    /// `(seq, raw)` of events with `from <= seq <= to` and the given kind, in order.
    pub fn raws_of_kind(
        &self,
        session: &str,
        from: u64,
        to: u64,
        kind: &str,
    ) -> Result<Vec<Vec<u8>>> {
        let rows = self
            .client()
            .query(
                "SELECT raw FROM flightlog.events WHERE session = $1 AND seq >= $2 \
                 AND seq <= $3 AND kind = $4 ORDER BY seq",
                &[
                    &session,
                    &i64::try_from(from).unwrap_or(i64::MAX),
                    &i64::try_from(to).unwrap_or(i64::MAX),
                    &kind,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The nearest seq after (or before) `from` whose event text contains `query`, ignoring
    /// ASCII case.
    pub fn search(
        &self,
        session: &str,
        from: u64,
        query: &str,
        forward: bool,
    ) -> Result<Option<u64>> {
        let sql = if forward {
            "SELECT seq FROM flightlog.events WHERE session = $1 AND seq > $2 \
             AND strpos(lower(convert_from(raw, 'UTF8')), lower($3)) > 0 ORDER BY seq LIMIT 1"
        } else {
            "SELECT seq FROM flightlog.events WHERE session = $1 AND seq < $2 \
             AND strpos(lower(convert_from(raw, 'UTF8')), lower($3)) > 0 \
             ORDER BY seq DESC LIMIT 1"
        };
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let row = self
            .client()
            .query_opt(sql, &[&session, &from, &query])
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    /// Every signing key's checkpoint rows `(no, body, sig)`, keyed by key id.
    pub fn checkpoint_chains(&self) -> Result<Vec<CheckpointChain>> {
        let rows = self
            .client()
            .query(
                "SELECT key_id, no, body, sig FROM flightlog.checkpoints ORDER BY key_id, no",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let mut out: Vec<CheckpointChain> = Vec::new();
        for r in rows {
            let key: String = r.get(0);
            let row = (r.get::<_, i64>(1) as u64, r.get(2), r.get(3));
            match out.last_mut() {
                Some((k, v)) if *k == key => v.push(row),
                _ => out.push((key, vec![row])),
            }
        }
        Ok(out)
    }

    /// `(host, key_id, pubkey hex)` of every key pushed, oldest first per host.
    pub fn host_keys(&self) -> Result<Vec<(String, String, String)>> {
        let rows = self
            .client()
            .query(
                "SELECT host, key_id, pubkey FROM flightlog.host_keys \
                 ORDER BY host, first_seen, key_id",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}

fn is_no_row(e: &postgres::Error) -> bool {
    // query_one reports "query returned an unexpected number of rows" without a db error.
    e.as_db_error().is_none() && e.to_string().contains("unexpected number of rows")
}

/// What one push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStats {
    pub sessions: u64,
    /// Events sent now (not those the server had already).
    pub events: u64,
    pub checkpoints: u64,
    /// Events the server already had.
    pub already: u64,
}

/// A connection that ships a local store's sessions to the team store.
pub struct Pusher {
    client: Client,
    url: String,
    host: String,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("url", &display_url(&self.url))
            .field("host", &self.host)
            .finish()
    }
}

/// A session's row as pushed.
#[derive(Debug, Clone)]
pub struct PushSession<'a> {
    pub id: &'a str,
    pub label: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub home_env: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub started: &'a str,
}

impl Pusher {
    pub fn connect(url: &str, host: &str) -> Result<Pusher> {
        Ok(Pusher {
            client: connect(url)?,
            url: url.to_string(),
            host: host.to_string(),
        })
    }

    fn err(&self, e: postgres::Error) -> Error {
        pg_err(&self.url, e)
    }

    /// Records the signing key of this host (trusted on first push; another key for the same
    /// host is kept beside it and reported by verify).
    pub fn push_key(&mut self, key_id: &str, pubkey_hex: &str) -> Result<()> {
        let host = self.host.clone();
        self.client
            .execute(
                "INSERT INTO flightlog.host_keys (host, key_id, pubkey) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&host, &key_id, &pubkey_hex],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn push_session_row(&mut self, s: &PushSession<'_>) -> Result<()> {
        let host = self.host.clone();
        self.client
            .execute(
                "INSERT INTO flightlog.sessions (id, host, label, agent, home_env, external_id, \
                 started) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &s.id,
                    &host,
                    &s.label,
                    &s.agent,
                    &s.home_env,
                    &s.external_id,
                    &s.started,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The server's head of a session: the next seq and the hash it links to.
    pub fn remote_head(&mut self, session: &str) -> Result<(u64, Hash32)> {
        let r = self
            .client
            .query_one(
                "SELECT next, hash FROM flightlog.session_head($1)",
                &[&session],
            )
            .map_err(|e| self.err(e))?;
        Ok((r.get::<_, i64>(0).max(0) as u64, to_hash(r.get(1))))
    }

    /// Sends events (which must continue the server's chain) in one transaction, by COPY.
    pub fn send_batch(
        &mut self,
        session: &str,
        batch: &[(StoredEvent, String, String)],
    ) -> Result<()> {
        let url = self.url.clone();
        let e = |err| pg_err(&url, err);
        let mut tx = self.client.transaction().map_err(e)?;
        {
            let sink = tx
                .copy_in(
                    "COPY flightlog.events (session, seq, ts, kind, prev, hash, raw) \
                     FROM STDIN (FORMAT binary)",
                )
                .map_err(e)?;
            let types = [
                Type::TEXT,
                Type::INT8,
                Type::TEXT,
                Type::TEXT,
                Type::BYTEA,
                Type::BYTEA,
                Type::BYTEA,
            ];
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for (ev, ts, kind) in batch {
                let seq = ev.seq as i64;
                w.write(&[
                    &session,
                    &seq,
                    ts,
                    kind,
                    &&ev.prev[..],
                    &&ev.hash[..],
                    &ev.raw.as_slice(),
                ])
                .map_err(e)?;
            }
            w.finish().map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// The newest checkpoint number the server has for a key.
    pub fn checkpoint_head(&mut self, key_id: &str) -> Result<u64> {
        let r = self
            .client
            .query_one("SELECT flightlog.checkpoint_head($1)", &[&key_id])
            .map_err(|e| self.err(e))?;
        Ok(r.get::<_, i64>(0).max(0) as u64)
    }

    /// Sends checkpoint rows (already there: skipped).
    pub fn send_checkpoints(&mut self, key_id: &str, rows: &[CheckpointRow]) -> Result<u64> {
        let url = self.url.clone();
        let e = |err| pg_err(&url, err);
        let mut tx = self.client.transaction().map_err(e)?;
        let stmt = tx
            .prepare(
                "INSERT INTO flightlog.checkpoints (key_id, no, body, sig) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .map_err(e)?;
        let mut n = 0;
        for (no, body, sig) in rows {
            n += tx
                .execute(&stmt, &[&key_id, &(*no as i64), body, sig])
                .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(n)
    }
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

    #[test]
    fn the_password_file_matches_like_libpq() {
        let text = "# comment\n\
                    other:5432:*:alice:wrong\n\
                    db.example.com:5432:team:alice:right\\:one\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            pgpass_match(text, ["db.example.com", "5432", "team", "alice"]).as_deref(),
            Some("right:one")
        );
        assert_eq!(
            pgpass_match(text, ["x", "1", "y", "z"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_match("h:1:d:u\n", ["h", "1", "d", "u"]), None);
    }

    #[test]
    fn settings_come_from_the_url_then_the_pg_variables() {
        let env: HashMap<String, String> = [
            ("PGHOST", "envhost"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpass"),
            ("PGDATABASE", "envdb"),
            ("PGPORT", "6543"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = config("postgres://urluser@urlhost/urldb", &env).unwrap();
        assert_eq!(c.get_user(), Some("urluser"));
        assert_eq!(c.get_dbname(), Some("urldb"));
        assert_eq!(c.get_ports(), &[6543]);
        assert_eq!(c.get_password(), Some(&b"envpass"[..]));
        let c = config("postgres://", &env).unwrap();
        assert_eq!(c.get_user(), Some("envuser"));
        assert_eq!(c.get_dbname(), Some("envdb"));
        assert!(matches!(&c.get_hosts()[0], postgres::config::Host::Tcp(h) if h == "envhost"));
    }
}
