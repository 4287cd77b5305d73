//! TLS interception for the session proxy (`flightlog record --tls-intercept`).
//!
//! - A per-install certificate authority (ECDSA P-256, made with rcgen) lives in the key
//!   directory as one private file, `tls-ca.pem` (key and certificate, mode 0600), created
//!   once and atomically; its certificate alone is also written to `tls-ca.crt` for people who
//!   want to look at it. The CA is never installed system-wide: only the recorded agent is told
//!   to trust it, through a bundle (the CA plus every root the agent trusted before) named in
//!   `SSL_CERT_FILE`, `CURL_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` and the
//!   other variables in [`CA_VARS`].
//! - For each host the agent reaches through `CONNECT`, a leaf certificate for that name
//!   (the SNI, else the CONNECT host) is issued on first use and cached for the session.
//! - Upstream connections are verified against the same roots the agent trusted (the system
//!   store, `SSL_CERT_FILE`/`SSL_CERT_DIR`, and the files the agent's own CA variables named).
//!   flightlog never weakens verification: when it cannot verify (or reach) the server itself,
//!   it does not intercept that connection and tunnels the agent's bytes untouched, so the agent
//!   sees exactly what it would have seen without flightlog (`curl -k` to a self-signed server
//!   still works, and a client that should fail still fails).
//!
//! Only HTTP/1.1 is intercepted: the agent is offered `http/1.1` in ALPN; a client that offers
//! HTTP/2 only is tunnelled (and that is recorded).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::client::ClientConnection;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::ServerConnection;
use rustls::{ClientConfig, RootCertStore, ServerConfig, StreamOwned};
use sha2::{Digest, Sha256};

/// The CA's private file in the key directory (key and certificate, PEM, mode 0600).
pub const CA_FILE: &str = "tls-ca.pem";
/// The CA's certificate alone (public).
pub const CA_CERT_FILE: &str = "tls-ca.crt";

/// Variables that name a CA bundle for common tools; each is set to the session's bundle.
pub const CA_VARS: [&str; 7] = [
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "AWS_CA_BUNDLE",
    "CARGO_HTTP_CAINFO",
    "DENO_CERT",
];
/// Node.js adds the certificates of this file to its own store.
pub const NODE_VAR: &str = "NODE_EXTRA_CA_CERTS";

const CA_COMMON_NAME: &str = "flightlog interception CA";
/// How long a TLS peer may stay silent while a handshake is under way.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Keys(#[from] flightlog_formats::Error),
    #[error("{path}: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error("cannot make a certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}: {1}")]
    Io(PathBuf, io::Error),
}

/// The CA's fixed parameters. Leaf certificates name this issuer, so a CA loaded from disk is
/// rebuilt from the same parameters and its key (the subject and key identifier are all that
/// signing needs).
fn ca_params(now: DateTime<Utc>) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "flightlog");
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, now, -1, 3650);
    Ok(p)
}

/// Valid from midnight UTC `from` days after `now` to midnight `to` days after it.
fn validity(p: &mut CertificateParams, now: DateTime<Utc>, from: i64, to: i64) {
    let ymd = |days: i64| {
        let d = (now + chrono::Duration::days(days)).date_naive();
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    p.not_before = ymd(from);
    p.not_after = ymd(to);
}

/// Everything the proxy needs to intercept: the CA, the leaf cache, the upstream roots.
pub struct Interceptor {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    /// One key for every leaf of this session (certificates differ by name).
    leaf_key: KeyPair,
    provider: Arc<CryptoProvider>,
    client: Arc<ClientConfig>,
    /// The roots the agent trusted before, as PEM (for the bundle).
    roots_pem: String,
    roots_count: usize,
    now: DateTime<Utc>,
    leaves: Mutex<HashMap<String, Arc<ServerConfig>>>,
    /// Hosts whose client refused our certificate: later connections are tunnelled.
    refused: Mutex<HashSet<String>>,
}

/// The files written for the agent and the variables that name them.
pub struct Bundles {
    pub vars: Vec<(String, String)>,
    pub files: Vec<PathBuf>,
}

/// What [`Interceptor::load_or_create`] reports beside the interceptor.
pub struct Setup {
    pub interceptor: Interceptor,
    /// Problems reading trust stores (each becomes a warning; interception still works).
    pub warnings: Vec<String>,
}

impl Interceptor {
    /// Loads the CA in `key_dir` (creating it on first use) and the roots the agent trusts,
    /// read from `env` (the agent's environment before the recorder changed it).
    pub fn load_or_create(
        key_dir: &Path,
        env: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<Setup, TlsError> {
        flightlog_formats::keys::ensure_private_dir(key_dir)?;
        let path = key_dir.join(CA_FILE);
        let text = if path.exists() {
            flightlog_formats::keys::check_private(&path)?;
            std::fs::read_to_string(&path).map_err(|e| TlsError::Io(path.clone(), e))?
        } else {
            let key = KeyPair::generate()?;
            let mut params = ca_params(now)?;
            params.serial_number = Some(serial(&[b"ca", key.public_key_raw()], now));
            let cert = params.self_signed(&key)?;
            let fresh = format!("{}{}", key.serialize_pem(), cert.pem());
            flightlog_formats::keys::create_private_once(&path, &fresh)?
        };
        let bad = |reason: &str| TlsError::BadCa {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let key = KeyPair::from_pem(&text).map_err(|e| bad(&format!("private key: {e}")))?;
        let ca_der = CertificateDer::pem_slice_iter(text.as_bytes())
            .next()
            .ok_or_else(|| bad("no certificate"))?
            .map_err(|e| bad(&format!("certificate: {e}")))?;
        let ca_pem = pem_block(&ca_der);
        let public = key_dir.join(CA_CERT_FILE);
        if std::fs::read_to_string(&public).ok().as_deref() != Some(ca_pem.as_str()) {
            std::fs::write(&public, &ca_pem).map_err(|e| TlsError::Io(public.clone(), e))?;
        }
        let issuer = Issuer::new(ca_params(now)?, key);

        let (roots, warnings) = agent_roots(env);
        let mut store = RootCertStore::empty();
        let mut roots_pem = String::new();
        let mut roots_count = 0;
        for c in roots {
            if store.add(c.clone()).is_ok() {
                roots_pem.push_str(&pem_block(&c));
                roots_count += 1;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(store)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Setup {
            interceptor: Interceptor {
                issuer,
                ca_der,
                ca_pem,
                leaf_key: KeyPair::generate()?,
                provider,
                client: Arc::new(client),
                roots_pem,
                roots_count,
                now,
                leaves: Mutex::new(HashMap::new()),
                refused: Mutex::new(HashSet::new()),
            },
            warnings,
        })
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// SHA-256 of the CA certificate (DER), as `openssl x509 -fingerprint -sha256` shows it.
    pub fn ca_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.ca_der.as_ref()))
    }

    /// How many roots the agent trusted before (they go in the bundle and verify upstreams).
    pub fn roots_count(&self) -> usize {
        self.roots_count
    }

    /// Writes the agent's bundle (the CA, then the roots it trusted before) and the file for
    /// `NODE_EXTRA_CA_CERTS` (the CA, then what that variable named before); returns the
    /// variables to set for the agent.
    pub fn write_bundles(
        &self,
        dir: &Path,
        stem: &str,
        env: &[(String, String)],
    ) -> Result<Bundles, TlsError> {
        let bundle = dir.join(format!("{stem}-ca-bundle.pem"));
        write_file(&bundle, &format!("{}{}", self.ca_pem, self.roots_pem))?;
        let mut node = self.ca_pem.clone();
        if let Some(extra) = env_value(env, NODE_VAR)
            && let Ok(text) = std::fs::read_to_string(extra)
        {
            node.push_str(&text);
        }
        let node_path = dir.join(format!("{stem}-node-ca.pem"));
        write_file(&node_path, &node)?;
        let b = bundle.to_string_lossy().into_owned();
        let mut vars: Vec<(String, String)> =
            CA_VARS.iter().map(|k| (k.to_string(), b.clone())).collect();
        vars.push((NODE_VAR.into(), node_path.to_string_lossy().into_owned()));
        Ok(Bundles {
            vars,
            files: vec![bundle, node_path],
        })
    }

    /// The server side for `name`: a leaf certificate for it, issued on first use.
    pub fn server_config(&self, name: &str) -> Result<Arc<ServerConfig>, TlsError> {
        let name = name.to_ascii_lowercase();
        if let Some(c) = lock(&self.leaves).get(&name) {
            return Ok(c.clone());
        }
        let mut params = CertificateParams::new(vec![name.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, self.now, -1, 30);
        params.serial_number = Some(serial(
            &[name.as_bytes(), self.leaf_key.public_key_raw()],
            self.now,
        ));
        let leaf = params.signed_by(&self.leaf_key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), self.ca_der.clone()], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        lock(&self.leaves).insert(name, config.clone());
        Ok(config)
    }

    /// A verified TLS connection to the real server.
    pub fn connect_upstream(
        &self,
        tcp: TcpStream,
        name: &str,
    ) -> Result<StreamOwned<ClientConnection, TcpStream>, io::Error> {
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(self.client.clone(), server_name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        handshake(conn, tcp)
    }

    pub fn refused(&self, host: &str) -> bool {
        lock(&self.refused).contains(&host.to_ascii_lowercase())
    }

    pub fn note_refused(&self, host: &str) {
        lock(&self.refused).insert(host.to_ascii_lowercase());
    }
}

/// Completes the server side of a handshake whose ClientHello an acceptor already read.
pub fn finish_server_handshake(
    conn: ServerConnection,
    tcp: TcpStream,
) -> Result<StreamOwned<ServerConnection, TcpStream>, io::Error> {
    handshake(conn, tcp)
}

/// Runs a handshake (either side) to its end, waiting at most [`HANDSHAKE_TIMEOUT`] for each
/// read from the peer.
fn handshake<C, S>(conn: C, tcp: TcpStream) -> Result<StreamOwned<C, TcpStream>, io::Error>
where
    C: std::ops::DerefMut + std::ops::Deref<Target = rustls::ConnectionCommon<S>>,
    S: rustls::SideData,
{
    let mut s = StreamOwned::new(conn, tcp);
    s.sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    s.sock.set_read_timeout(None)?;
    Ok(s)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn env_value<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The roots the agent trusted: the platform store (which honours `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`), plus every file its CA variables named.
fn agent_roots(env: &[(String, String)]) -> (Vec<CertificateDer<'static>>, Vec<String>) {
    let mut warnings = Vec::new();
    let native = rustls_native_certs::load_native_certs();
    for e in native.errors.iter().take(3) {
        warnings.push(format!("reading the system's trusted roots: {e}"));
    }
    let mut certs = native.certs;
    let mut seen: HashSet<Vec<u8>> = certs.iter().map(|c| c.as_ref().to_vec()).collect();
    let mut files: Vec<&str> = CA_VARS.iter().filter_map(|k| env_value(env, k)).collect();
    files.extend(env_value(env, NODE_VAR));
    files.sort_unstable();
    files.dedup();
    for f in files {
        let Ok(bytes) = std::fs::read(f) else {
            warnings.push(format!("{f}: named as a CA bundle but unreadable"));
            continue;
        };
        for c in CertificateDer::pem_slice_iter(&bytes).flatten() {
            if seen.insert(c.as_ref().to_vec()) {
                certs.push(c);
            }
        }
    }
    (certs, warnings)
}

fn serial(parts: &[&[u8]], now: DateTime<Utc>) -> SerialNumber {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.update(now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes());
    h.update(std::process::id().to_be_bytes());
    let mut b = h.finalize()[..16].to_vec();
    b[0] &= 0x7f; // positive
    SerialNumber::from_slice(&b)
}

fn pem_block(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn write_file(path: &Path, text: &str) -> Result<(), TlsError> {
    let mut f = std::fs::File::create(path).map_err(|e| TlsError::Io(path.to_path_buf(), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| TlsError::Io(path.to_path_buf(), e))
}

/// A reader that keeps a copy of what it read (the client's first bytes, replayed upstream
/// when a connection is tunnelled instead of intercepted).
pub struct Tee<'a, R> {
    pub inner: R,
    pub copy: &'a mut Vec<u8>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificates are checked against the real clock by the handshake below.
    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn the_ca_is_created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let a = Interceptor::load_or_create(&keys, &[], now()).unwrap();
        let b = Interceptor::load_or_create(&keys, &[], now()).unwrap();
        assert_eq!(a.interceptor.ca_pem(), b.interceptor.ca_pem());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join(CA_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let public = std::fs::read_to_string(keys.join(CA_CERT_FILE)).unwrap();
        assert_eq!(public, a.interceptor.ca_pem());
        assert!(!public.contains("PRIVATE"));
    }

    #[test]
    fn a_world_readable_ca_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        Interceptor::load_or_create(&keys, &[], now()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(keys.join(CA_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        assert!(Interceptor::load_or_create(&keys, &[], now()).is_err());
    }

    /// A leaf issued by a reloaded CA verifies against the CA certificate on disk, as a
    /// client given the bundle would check it.
    #[test]
    fn leaves_from_a_reloaded_ca_verify_against_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        Interceptor::load_or_create(&keys, &[], now()).unwrap();
        let reloaded = Interceptor::load_or_create(&keys, &[], now())
            .unwrap()
            .interceptor;
        let config = reloaded.server_config("Backboard.Railway.app").unwrap();
        assert!(Arc::ptr_eq(
            &config,
            &reloaded.server_config("backboard.railway.app").unwrap()
        ));
        // Handshake in memory: a client that trusts only the CA on disk.
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(keys.join(CA_CERT_FILE)).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let client_config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let mut client = ClientConnection::new(
            Arc::new(client_config),
            ServerName::try_from("backboard.railway.app").unwrap(),
        )
        .unwrap();
        let mut server = ServerConnection::new(config).unwrap();
        let mut buf = Vec::new();
        for _ in 0..10 {
            buf.clear();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut &buf[..]).unwrap();
            server.process_new_packets().unwrap();
            buf.clear();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut &buf[..]).unwrap();
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
        }
        assert!(!client.is_handshaking(), "handshake did not complete");
    }

    #[test]
    fn bundles_hold_the_ca_then_the_roots_trusted_before() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        // An extra root the agent trusted through REQUESTS_CA_BUNDLE.
        let other = KeyPair::generate().unwrap();
        let other_cert = ca_params(now()).unwrap().self_signed(&other).unwrap();
        let extra = dir.path().join("corp.pem");
        std::fs::write(&extra, other_cert.pem()).unwrap();
        let env = vec![(
            "REQUESTS_CA_BUNDLE".to_string(),
            extra.to_string_lossy().into_owned(),
        )];
        let setup = Interceptor::load_or_create(&keys, &env, now()).unwrap();
        let i = setup.interceptor;
        let Bundles { vars, files } = i.write_bundles(dir.path(), "s1", &env).unwrap();
        assert_eq!(files.len(), 2);
        let bundle = std::fs::read_to_string(&files[0]).unwrap();
        assert!(bundle.starts_with(i.ca_pem()));
        let der = other_cert.der().as_ref().to_vec();
        assert!(
            CertificateDer::pem_slice_iter(bundle.as_bytes())
                .flatten()
                .any(|c| c.as_ref() == der.as_slice())
        );
        for k in ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"] {
            assert!(vars.iter().any(|(n, v)| n == k && Path::new(v) == files[0]));
        }
        assert!(
            vars.iter()
                .any(|(n, v)| n == NODE_VAR && Path::new(v) == files[1])
        );
        assert!(i.roots_count() >= 1);
    }
}
