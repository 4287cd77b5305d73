//! The session's HTTP(S) proxy on 127.0.0.1 (a random port), written on std threads.
//!
//! - Plain HTTP: each request is recorded as an `api_call` (method, URL, headers, body
//!   excerpt, decoded GraphQL) before it is forwarded, and the response as a small follow-up
//!   `api_call` `{"status","response_body","duration_ms","response_of_seq"}`. The request goes
//!   upstream with `Connection: close`; the client side keeps its connection alive when the
//!   response is delimited.
//! - Plain HTTP inside a tunnel: when the client's first bytes after `CONNECT host:port` are an
//!   HTTP/1.x request line (not a TLS ClientHello), each request in the tunnel is recorded,
//!   judged and forwarded as a plain-HTTP one, with URL `http://host[:port]/path` (Gemini CLI's
//!   client sends its `http://` calls through `HTTP_PROXY` this way).
//! - HTTPS: `CONNECT host:port` is always recorded (method `CONNECT`). Without
//!   `--tls-intercept` the bytes are tunnelled untouched. With it ([`super::tls`]), the proxy
//!   terminates the agent's TLS with a certificate from the per-install CA, opens its own
//!   verified TLS connection to the server, and every request inside is recorded, judged and
//!   forwarded exactly like a plain-HTTP one (URL `https://host/path`). A connection it cannot
//!   intercept (the server fails flightlog's verification, the client offers HTTP/2 only or
//!   refuses the CA, the protocol is not TLS) is tunnelled untouched and recorded as a `gap`.
//! - With the guard on, a request is committed and decided before it is forwarded; a denied one
//!   gets a 403 from the proxy, never reaches the server, and a `decision` is recorded.
//! - A request that asks to switch protocols (`Upgrade: websocket`, ...) is recorded like any
//!   other; when the server answers `101`, the proxy relays the bytes of the upgraded connection
//!   both ways untouched (its frames are not recorded), as a tunnel would.
//! - Accept and upstream errors become `gap` events; the client still gets a 502 as it would
//!   from any proxy.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flightlog_formats::{Kind, NewEvent};
use flightlog_http::{
    Body, Head, HttpError, read_chunked, read_request_body, read_request_head, read_response_head,
};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use rustls::client::ClientConnection;
use rustls::server::Acceptor;
use rustls::{ServerConnection, StreamOwned};
use serde_json::{Value, json};

use super::judge::{Judge, body_excerpt};
use super::tls::{HANDSHAKE_TIMEOUT, Interceptor, Tee, finish_server_handshake};
use super::writer::{FollowUp, Sink};

mod forward;
mod intercept;
mod relay;

use forward::*;
use intercept::*;
use relay::*;

/// Bytes of a body kept in the event.
const EXCERPT: usize = 4096;
/// Bytes of a request body read into memory (bigger bodies are refused with 413).
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The running proxy.
pub struct Proxy {
    pub port: u16,
    closed: Arc<AtomicBool>,
}

impl Proxy {
    /// Binds 127.0.0.1:0 and serves on background threads; with an interceptor, HTTPS is
    /// decrypted and recorded in full.
    pub fn start(
        sink: Sink,
        judge: Arc<Judge>,
        tls: Option<Arc<Interceptor>>,
    ) -> io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let closed = Arc::new(AtomicBool::new(false));
        let c = closed.clone();
        std::thread::Builder::new()
            .name("flightlog-proxy".into())
            .spawn(move || {
                let mut errors = 0u32;
                for conn in listener.incoming() {
                    if c.load(Ordering::Relaxed) {
                        break;
                    }
                    match conn {
                        Ok(s) => {
                            let sink = sink.clone();
                            let judge = judge.clone();
                            let tls = tls.clone();
                            let _ = std::thread::Builder::new()
                                .name("flightlog-proxy-conn".into())
                                .spawn(move || serve(s, &sink, &judge, tls.as_deref()));
                        }
                        Err(e) => {
                            errors += 1;
                            if errors <= 10 {
                                gap(
                                    &sink,
                                    "accept_error",
                                    &format!("the proxy could not accept a connection: {e}"),
                                );
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })?;
        Ok(Proxy { port, closed })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops accepting (connections in flight finish on their own).
    pub fn stop(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn gap(sink: &Sink, reason: &str, detail: &str) {
    let ev = NewEvent::new(
        sink.now(),
        Kind::Gap,
        "proxy",
        json!({"layer": "proxy", "reason": reason, "detail": detail}),
    );
    sink.send("proxy", ev);
}

/// Reads a request head; a malformed or over-long one is an `InvalidData` error.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    Ok(read_request_head(r)?)
}

fn respond(w: &mut impl Write, status: u16, reason: &str, body: &str) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    w.flush()
}

/// Tells a client its request could not be read (best effort: it may be gone).
fn reject_malformed(w: &mut impl Write) {
    let _ = respond(
        w,
        400,
        "Bad Request",
        "flightlog proxy: malformed request\n",
    );
}

fn serve(client: TcpStream, sink: &Sink, judge: &Judge, tls: Option<&Interceptor>) {
    let mut reader = BufReader::new(client);
    loop {
        let head = match read_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(_) => {
                reject_malformed(reader.get_mut());
                return;
            }
        };
        if head.line.0.eq_ignore_ascii_case("CONNECT") {
            connect(head, reader, sink, judge, tls);
            return;
        }
        match forward(&head, &mut reader, sink, judge, &mut Origin::Proxy) {
            Ok(true) => continue,
            _ => {
                let _ = reader.get_ref().shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Where the requests read from one client connection go.
enum Origin<'a> {
    /// Absolute-form targets (`GET http://host/path`), each sent over plain TCP.
    Proxy,
    /// Origin-form targets inside an intercepted `CONNECT host:port`, each sent over a
    /// verified TLS connection to that server (`name` is the TLS server name).
    Tls {
        host: String,
        port: u16,
        name: String,
        tls: &'a Interceptor,
        /// The connection opened (and verified) before the agent's handshake was answered.
        ready: Option<Box<StreamOwned<ClientConnection, TcpStream>>>,
    },
    /// Origin-form targets inside a `CONNECT host:port` that carries plain HTTP, each sent
    /// over plain TCP to that server.
    Plain {
        host: String,
        port: u16,
        /// The connection the CONNECT opened.
        ready: Option<TcpStream>,
    },
}

fn hostport(authority: &str, default_port: u16) -> (String, u16) {
    let authority = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((h, p)) = rest.split_once(']')
    {
        let port = p
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default_port);
        return (h.to_string(), port);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), p.parse().unwrap_or(default_port))
        }
        _ => (authority.to_string(), default_port),
    }
}

fn dial(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Records a request event; with the guard, commits it and returns whether it is denied.
fn record_request(sink: &Sink, judge: &Judge, data: Value, local: u64) -> Option<String> {
    let ev = NewEvent::new(sink.now(), Kind::ApiCall, "proxy", data);
    if judge.guard {
        let ack = sink.commit(ev, Some(local), Some("proxy"));
        return ack.verdict.filter(|v| v.deny).map(|v| v.reason);
    }
    sink.send_full("proxy", ev, Some(local), None);
    None
}

fn record_response(
    sink: &Sink,
    local: u64,
    status: Option<u16>,
    body: &[u8],
    started: Instant,
    error: Option<String>,
) {
    let ev = NewEvent::new(
        sink.now(),
        Kind::ApiCall,
        "proxy",
        json!({
            "status": status,
            "response_body": body_excerpt(body, EXCERPT),
            "duration_ms": started.elapsed().as_millis() as u64,
            "error": error,
            "response_of_seq": null,
        }),
    );
    sink.send_full(
        "proxy",
        ev,
        None,
        Some(FollowUp {
            of: local,
            field: "response_of_seq",
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        assert_eq!(
            hostport("example.com:8443", 443),
            ("example.com".into(), 8443)
        );
        assert_eq!(hostport("example.com", 80), ("example.com".into(), 80));
        assert_eq!(hostport("[::1]:9000", 80), ("::1".into(), 9000));
        assert_eq!(hostport("u:p@h:81", 80), ("h".into(), 81));
    }

    #[test]
    fn a_tunnels_first_bytes_say_what_it_carries() {
        let cases: &[(&[u8], Option<Inside>)] = &[
            (b"\x16\x03\x01\x02\x00", Some(Inside::Tls)),
            (
                b"POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: h\r\n",
                Some(Inside::Http),
            ),
            (b"GET / HTTP/1.0\n", Some(Inside::Http)),
            (b"GET / HTTP/1.1\r", None),
            (b"POS", None),
            (b"SSH-2.0-OpenSSH_9.2\r\n", Some(Inside::Other)),
            (b"GET / HTTP/2.0\r\n", Some(Inside::Other)),
            (b"GET /\r\n", Some(Inside::Other)),
            (b"PRI * HTTP/2.0\r\n", Some(Inside::Other)),
            (b"get / HTTP/1.1\r\n", Some(Inside::Other)),
            (b"\x00\x00\x00", Some(Inside::Other)),
            (b"", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                classify(bytes),
                *want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(classify(&[b'A'; 9000]), Some(Inside::Other));
    }
}
