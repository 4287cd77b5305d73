//! `flightlog record --tls-intercept` against real TLS servers on 127.0.0.1: HTTPS API calls
//! recorded in full and guarded, the agent's calls working exactly as without flightlog
//! (`curl -k`, a failing verification, a client that pins its own CA), and the CA's files.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use flightlog_formats::{Event, Kind};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::common::{
    assert_secret_absent, assert_verifies, bin, need, session_events, session_of, work_dir,
};

/// A test server: its port, the CA file that trusts it, and the requests it saw.
type Server = (u16, PathBuf, Receiver<String>);

const TOKEN: &str = "sk_live_9fQ2mZr7TkWbX4vLp8NcD3sHa1Ye";

/// A working directory (with its store) for a curl agent, and a [`tls_server`] named `name`
/// in it. None (the test says it skipped) without curl.
#[allow(clippy::type_complexity)]
fn curl_case(
    name: &str,
) -> Option<(
    tempfile::TempDir,
    PathBuf,
    PathBuf,
    (u16, PathBuf, Receiver<String>),
)> {
    if !need("curl") {
        return None;
    }
    let (d, dir, db) = work_dir();
    let server = tls_server(&dir, name);
    Some((d, dir, db, server))
}

/// Writes the agent's script, `dir/agent.sh`.
fn write_agent(dir: &Path, script: &str) {
    std::fs::write(dir.join("agent.sh"), script).unwrap();
}

/// A test CA written to `dir/name.pem`, and a server configuration with a certificate from it
/// for `localhost` and `127.0.0.1`.
fn test_ca(dir: &Path, name: &str) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let ca_path = dir.join(format!("{name}.pem"));
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    (Arc::new(config), ca_path)
}

/// An HTTPS server on 127.0.0.1 with a certificate from a test CA (`dir/name.pem`). Each
/// request (head and body) goes to the channel; the reply is a 201 with a small JSON body.
fn tls_server(dir: &Path, name: &str) -> Server {
    let (config, ca_path) = test_ca(dir, name);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let (config, tx) = (config.clone(), tx.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut r = BufReader::new(rustls::StreamOwned::new(conn, s));
                // A handshake the client gave up, or a closed connection, ends here.
                let Ok(Some(head)) = flightlog_http::read_request_head(&mut r) else {
                    return;
                };
                let body =
                    flightlog_http::read_request_body(&mut r, &head, 1 << 20).unwrap_or_default();
                let _ = tx.send(format!("{head}{}", String::from_utf8_lossy(&body)));
                let reply = r#"{"data":{"ok":true}}"#;
                let w = r.get_mut();
                let _ = write!(
                    w,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                w.conn.send_close_notify();
                let _ = w.flush();
            });
        }
    });
    (port, ca_path, rx)
}

/// Runs `flightlog record --tls-intercept ARGS...` in `dir`; flightlog (and so the agent
/// before interception) trusts exactly the CA file `trusted`.
fn record(dir: &Path, db: &Path, trusted: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .arg("--db")
        .arg(db)
        .arg("record")
        .arg("--tls-intercept")
        .args(args)
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_POLICY")
        .env_remove("FLIGHTLOG_FAKE_NOW")
        .env_remove("SSL_CERT_DIR")
        .env("SSL_CERT_FILE", trusted)
        .env("AGENT_TOKEN", TOKEN)
        .stdin(Stdio::null());
    for k in [
        "CURL_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "GIT_SSL_CAINFO",
        "AWS_CA_BUNDLE",
        "CARGO_HTTP_CAINFO",
        "DENO_CERT",
        "PIP_CERT",
        "HTTPLIB2_CA_CERTS",
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
        "NIX_SSL_CERT_FILE",
    ] {
        c.env_remove(k);
    }
    c.output().unwrap()
}

fn gaps<'a>(evs: &'a [Event], reason: &str) -> Vec<&'a Event> {
    evs.iter()
        .filter(|e| e.kind == Kind::Gap && e.data["reason"] == reason)
        .collect()
}

/// A gap's detail names `what`.
fn assert_detail(gap: &Event, what: &str) {
    let detail = gap.data["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(what), "no {what:?} in {gap:#?}");
}

const MUTATION: &str = r#"{"query":"mutation { volumeDelete(volumeId: \"3d2c42fb-prod\") }"}"#;

#[test]
fn https_api_calls_are_recorded_in_full_and_still_work() {
    let Some((_d, dir, db, (port, trusted, seen))) = curl_case("trusted") else {
        return;
    };
    let (other, _, other_seen) = tls_server(&dir, "untrusted");
    // The mutation is read from a file: only the proxy can see it.
    std::fs::write(dir.join("body.json"), MUTATION).unwrap();
    write_agent(
        &dir,
        &format!(
            r#"curl -sS -H "Authorization: Bearer $AGENT_TOKEN" -H 'Content-Type: application/json' -d @body.json https://localhost:{port}/graphql/v2; echo " intercepted=$?"
curl -sS -k https://localhost:{other}/insecure; echo " insecure=$?"
curl -sS https://localhost:{other}/strict 2>/dev/null; echo " strict=$?"
echo "bundle=$SSL_CERT_FILE"
"#
        ),
    );
    let out = record(&dir, &db, &trusted, &["--", "bash", "agent.sh"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The agent's calls behave as they would without flightlog.
    assert!(
        stdout.contains(r#"{"data":{"ok":true}} intercepted=0"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"{"data":{"ok":true}} insecure=0"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(" strict=60"),
        "a failing verification still fails: {stdout}"
    );
    let req = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(req.starts_with("POST /graphql/v2 HTTP/1.1"), "{req}");
    assert!(
        req.contains(TOKEN),
        "the server gets the real header: {req}"
    );
    assert!(req.ends_with(MUTATION), "{req}");
    let insecure = other_seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(insecure.starts_with("GET /insecure"), "{insecure}");

    let session = session_of(&out);
    let evs = session_events(&db, &session);
    let call = evs
        .iter()
        .find(|e| e.kind == Kind::ApiCall && e.source == "proxy" && e.data["method"] == "POST")
        .unwrap_or_else(|| panic!("no intercepted request in {evs:#?}"));
    assert_eq!(
        call.data["url"],
        format!("https://localhost:{port}/graphql/v2")
    );
    assert_eq!(call.data["graphql"]["operation_type"], "mutation");
    assert_eq!(call.data["graphql"]["root_fields"][0], "volumeDelete");
    let auth = call.data["request_headers"]["authorization"]
        .as_str()
        .unwrap();
    assert!(auth.contains("[REDACTED:"), "{auth}");
    let response = evs
        .iter()
        .find(|e| e.data["response_of_seq"] == call.seq)
        .expect("the response is recorded");
    assert_eq!(response.data["status"], 201);
    assert_eq!(response.data["response_body"], r#"{"data":{"ok":true}}"#);
    // The untrusted server was tunnelled (twice), and that is in the log.
    let tunnelled = gaps(&evs, "tls_not_intercepted");
    assert_eq!(tunnelled.len(), 2, "{tunnelled:#?}");
    assert_detail(tunnelled[0], &format!("localhost:{other}"));
    // (The argv decoder still sees that curl's URL; the proxy did not decrypt it.)
    assert!(!evs.iter().any(|e| {
        e.source == "proxy"
            && e.data["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/insecure"))
    }));

    // The CA: private file 0600, public certificate beside it, named in a note by its hash.
    let keys = db.parent().unwrap().join("keys");
    let mode = std::fs::metadata(keys.join("tls-ca.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let crt = std::fs::read_to_string(keys.join("tls-ca.crt")).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(crt.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'_>| c.as_ref().to_vec())
        .unwrap();
    let note = evs
        .iter()
        .find(|e| e.kind == Kind::Note && e.data.get("tls_intercept").is_some())
        .unwrap();
    assert_eq!(
        note.data["tls_intercept"]["ca_sha256"],
        hex::encode(Sha256::digest(&der))
    );
    // The agent's bundle held the CA and its old roots; it is gone after the run.
    let bundle = stdout
        .lines()
        .find_map(|l| l.strip_prefix("bundle="))
        .unwrap();
    assert!(bundle.contains(&session), "{bundle}");
    assert!(!Path::new(bundle).exists(), "{bundle} left behind");

    // No raw secret in any file of the store.
    assert_secret_absent(&db, TOKEN);
    assert_verifies(&db, &session);
}

#[test]
fn the_guard_stops_a_destructive_https_call_inside_the_tunnel() {
    let Some((_d, dir, db, (port, trusted, seen))) = curl_case("prod") else {
        return;
    };
    std::fs::write(
        dir.join("flightlog.toml"),
        "home = \"staging\"\n[environments.production]\nhosts = [\"localhost\"]\n[guard]\ndeny = [\"destructive-crossing\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("body.json"), MUTATION).unwrap();
    let url = format!("https://localhost:{port}/graphql/v2");
    write_agent(
        &dir,
        &format!(
            r#"curl -s -o /dev/null -w 'delete=%{{http_code}}\n' -H 'Content-Type: application/json' -d @body.json {url}
curl -s -o /dev/null -w 'harmless=%{{http_code}}\n' {url}
"#
        ),
    );
    let out = record(&dir, &db, &trusted, &["--guard", "--", "bash", "agent.sh"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("delete=403"), "{stdout}");
    assert!(stdout.contains("harmless=201"), "{stdout}");
    let first = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(first.starts_with("GET /graphql/v2"), "{first}");
    assert!(
        seen.recv_timeout(Duration::from_millis(300)).is_err(),
        "the server saw the delete"
    );
    let evs = session_events(&db, &session_of(&out));
    let decision = evs
        .iter()
        .find(|e| e.kind == Kind::Decision)
        .expect("a decision");
    assert_eq!(decision.data["decision"], "deny");
    assert_eq!(decision.data["layer"], "proxy");
    let target = decision.data["target_seq"].as_u64().unwrap();
    let denied = evs.iter().find(|e| e.seq == target).unwrap();
    assert_eq!(denied.data["url"], url);
}

/// A client that trusts only its own CA file (as a pinning client does) refuses the
/// interception certificate once; flightlog records it and tunnels that host from then on, so
/// the agent's retry works as it would without flightlog.
#[test]
fn a_client_that_refuses_the_ca_is_tunnelled_from_then_on() {
    let Some((_d, dir, db, (port, trusted, seen))) = curl_case("pinned") else {
        return;
    };
    let ca = trusted.display();
    write_agent(
        &dir,
        &format!(
            r#"curl -sS --cacert {ca} https://localhost:{port}/first 2>/dev/null; echo " first=$?"
curl -sS --cacert {ca} https://localhost:{port}/retry; echo " retry=$?"
"#
        ),
    );
    let out = record(
        &dir,
        &db,
        &trusted,
        &["--no-trace", "--", "bash", "agent.sh"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" first=60"), "{stdout}");
    assert!(
        stdout.contains(r#"{"data":{"ok":true}} retry=0"#),
        "{stdout}"
    );
    let req = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(req.starts_with("GET /retry"), "{req}");
    let evs = session_events(&db, &session_of(&out));
    let refused = gaps(&evs, "tls_client_refused");
    assert_eq!(refused.len(), 1, "{evs:#?}");
    assert_detail(refused[0], "localhost");
}

/// A server that switches to an echo protocol (`Upgrade: echo`, answered `101`) and then
/// echoes every byte, over TLS with `config` or in plain TCP without.
fn upgrade_server(config: Option<Arc<rustls::ServerConfig>>) -> u16 {
    fn serve<S: Read + Write>(s: S) {
        let mut r = BufReader::new(s);
        let Ok(Some(head)) = flightlog_http::read_request_head(&mut r) else {
            return;
        };
        // The client sends nothing after its head until it has the 101.
        let mut s = r.into_inner();
        if head.get("Upgrade") != Some("echo") {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        let _ = s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n",
        );
        let _ = s.flush();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&buf[..n]).and_then(|_| s.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let config = config.clone();
            std::thread::spawn(move || match config {
                Some(c) => serve(rustls::StreamOwned::new(
                    rustls::ServerConnection::new(c).unwrap(),
                    s,
                )),
                None => serve(s),
            });
        }
    });
    port
}

/// The agent: speaks an upgraded protocol through the session proxy, by hand (Python's
/// standard library), once through a CONNECT tunnel with TLS and once in plain HTTP.
const UPGRADE_AGENT: &str = r#"
import os, socket, ssl, sys
from urllib.parse import urlparse
def head(s):
    h = b""
    while b"\r\n\r\n" not in h:
        c = s.recv(1)
        if not c:
            break
        h += c
    return h.split(b"\r\n")[0].decode()
def talk(mode, port):
    proxy = urlparse(os.environ["HTTPS_PROXY"])
    s = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
    if mode == "tls":
        s.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        head(s)
        s = ssl.create_default_context().wrap_socket(s, server_hostname="localhost")
        target = "/echo"
    else:
        target = f"http://127.0.0.1:{port}/echo"
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n".encode())
    print(mode, head(s))
    for word in [b"ping", b"pong" * 50000]:
        s.sendall(word)
        got = b""
        while len(got) < len(word):
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        print(mode, "echo-ok" if got == word else f"echo-bad {len(got)}")
    s.close()
talk("tls", int(sys.argv[1]))
talk("plain", int(sys.argv[2]))
"#;

/// WebSocket-style upgrades keep working under interception: the 101 is passed on and the
/// upgraded bytes are relayed both ways, inside TLS and in plain HTTP.
#[test]
fn upgraded_connections_are_relayed_both_ways() {
    if !need("python3") {
        return;
    }
    let (_d, dir, db) = work_dir();
    let (config, trusted) = test_ca(&dir, "ws");
    let tls_port = upgrade_server(Some(config));
    let plain_port = upgrade_server(None);
    std::fs::write(dir.join("agent.py"), UPGRADE_AGENT).unwrap();
    let (t, p) = (tls_port.to_string(), plain_port.to_string());
    let out = record(
        &dir,
        &db,
        &trusted,
        &["--no-trace", "--", "python3", "agent.py", &t, &p],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "tls HTTP/1.1 101 Switching Protocols",
        "plain HTTP/1.1 101 Switching Protocols",
    ] {
        assert!(
            stdout.contains(line),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(stdout.matches("echo-ok").count(), 4, "{stdout}");
    let evs = session_events(&db, &session_of(&out));
    let switched: Vec<&Event> = evs.iter().filter(|e| e.data["status"] == 101).collect();
    assert_eq!(switched.len(), 2, "{evs:#?}");
    assert!(
        switched[0].data["response_body"]
            .as_str()
            .unwrap()
            .contains("switched to echo")
    );
    let requests: Vec<&str> = evs
        .iter()
        .filter(|e| e.kind == Kind::ApiCall && e.data["method"] == "GET")
        .filter_map(|e| e.data["url"].as_str())
        .collect();
    assert!(
        requests.contains(&format!("https://localhost:{tls_port}/echo").as_str()),
        "{requests:?}"
    );
}
