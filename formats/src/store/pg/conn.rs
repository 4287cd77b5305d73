//! Connecting to the team store: settings from the URL, the `PG*` variables and the password
//! file (as libpq does), and TLS with rustls.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use postgres::{Client, Config};

use super::{display_url, pg_err};
use crate::error::{Error, Result};

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
    connect_within(url, None)
}

/// [`connect`], giving up on a server that has not answered within `timeout` (the URL's own
/// `connect_timeout` wins).
pub fn connect_within(url: &str, timeout: Option<std::time::Duration>) -> Result<Client> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut cfg = config(url, &env)?;
    if let Some(t) = timeout
        && cfg.get_connect_timeout().is_none()
    {
        cfg.connect_timeout(t);
        // And on a connection whose packets stop being acknowledged.
        cfg.tcp_user_timeout(t.saturating_mul(3));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
