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

fn serve(client: TcpStream, sink: &Sink, judge: &Judge, tls: Option<&Interceptor>) {
    let mut reader = BufReader::new(client);
    loop {
        let head = match read_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(_) => {
                let _ = respond(
                    reader.get_mut(),
                    400,
                    "Bad Request",
                    "flightlog proxy: malformed request\n",
                );
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

/// A stream the proxy can relay an upgraded connection over: its socket (for `poll`), and a
/// way to end its sending side.
trait Sock: Read + Write {
    fn socket(&self) -> BorrowedFd<'_>;
    fn set_nonblocking(&self, on: bool) -> io::Result<()>;
    fn end_writes(&mut self);
}

impl Sock for TcpStream {
    fn socket(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }
    fn end_writes(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

macro_rules! tls_sock {
    ($conn:ty) => {
        impl Sock for StreamOwned<$conn, TcpStream> {
            fn socket(&self) -> BorrowedFd<'_> {
                self.sock.as_fd()
            }
            fn set_nonblocking(&self, on: bool) -> io::Result<()> {
                self.sock.set_nonblocking(on)
            }
            fn end_writes(&mut self) {
                self.conn.send_close_notify();
                let _ = flush_nb(self);
                let _ = self.sock.shutdown(Shutdown::Write);
            }
        }
    };
}
tls_sock!(ServerConnection);
tls_sock!(ClientConnection);

/// The server side of one forwarded request.
enum Upstream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Upstream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Upstream::Plain(s) => s.read(buf),
            Upstream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Upstream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Upstream::Plain(s) => s.write(buf),
            Upstream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Upstream::Plain(s) => s.flush(),
            Upstream::Tls(s) => s.flush(),
        }
    }
}

impl Sock for Upstream {
    fn socket(&self) -> BorrowedFd<'_> {
        match self {
            Upstream::Plain(s) => s.socket(),
            Upstream::Tls(s) => s.socket(),
        }
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Upstream::Plain(s) => Sock::set_nonblocking(s, on),
            Upstream::Tls(s) => s.set_nonblocking(on),
        }
    }
    fn end_writes(&mut self) {
        match self {
            Upstream::Plain(s) => s.end_writes(),
            Upstream::Tls(s) => s.end_writes(),
        }
    }
}

/// Writes all of `buf` to a non-blocking stream, waiting for the socket when it is full (as
/// long as the peer takes to read, as a blocking tunnel would).
fn write_all_nb<W: Sock>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(w.socket(), PollFlags::POLLOUT)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    flush_nb(w)
}

fn flush_nb<W: Sock + ?Sized>(w: &mut W) -> io::Result<()> {
    loop {
        match w.flush() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(w.socket(), PollFlags::POLLOUT)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn wait(fd: BorrowedFd<'_>, what: PollFlags) -> io::Result<()> {
    let mut fds = [PollFd::new(fd, what)];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Relays an upgraded connection (WebSocket, ...) both ways until both sides have ended:
/// non-blocking reads on each side, `poll` on both sockets when neither had anything.
fn splice<A: Sock, B: Sock>(a: &mut A, b: &mut B) -> io::Result<()> {
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        let mut moved = false;
        if a_open {
            match relay_once(a, b, &mut buf)? {
                Some(true) => moved = true,
                Some(false) => {}
                None => a_open = false,
            }
        }
        if b_open {
            match relay_once(b, a, &mut buf)? {
                Some(true) => moved = true,
                Some(false) => {}
                None => b_open = false,
            }
        }
        if moved {
            continue;
        }
        let mut fds = Vec::with_capacity(2);
        if a_open {
            fds.push(PollFd::new(a.socket(), PollFlags::POLLIN));
        }
        if b_open {
            fds.push(PollFd::new(b.socket(), PollFlags::POLLIN));
        }
        // Both sides were drained (rustls holds no readable plaintext), so only new bytes on a
        // socket can wake this.
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    Ok(())
}

/// Moves what `from` has to `to`: Some(true) if bytes moved, Some(false) if nothing was
/// there, None at the end of `from` (whose end is passed on to `to`).
fn relay_once<F: Sock, T: Sock>(
    from: &mut F,
    to: &mut T,
    buf: &mut [u8],
) -> io::Result<Option<bool>> {
    match from.read(buf) {
        Ok(0) => {
            to.end_writes();
            Ok(None)
        }
        Ok(n) => {
            write_all_nb(to, &buf[..n])?;
            Ok(Some(true))
        }
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted =>
        {
            Ok(Some(false))
        }
        // A TLS peer that closes without close_notify ends the same way.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            to.end_writes();
            Ok(None)
        }
        Err(e) => Err(e),
    }
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

fn connect(
    head: Head,
    mut reader: BufReader<TcpStream>,
    sink: &Sink,
    judge: &Judge,
    tls: Option<&Interceptor>,
) {
    let target = head.line.1.clone();
    let (host, port) = hostport(&target, 443);
    let local = sink.local_id();
    let started = Instant::now();
    let data = json!({
        "method": "CONNECT",
        "url": format!("https://{target}"),
        "host": host.to_ascii_lowercase(),
        "path": null,
        "port": port,
        "status": null,
        "request_headers": {},
        "request_body": null,
        "response_body": null,
        "graphql": null,
        "via_seq": null,
    });
    if let Some(reason) = record_request(sink, judge, data, local) {
        let _ = respond(
            reader.get_mut(),
            403,
            "Forbidden",
            &format!("flightlog guard: {reason}\n"),
        );
        return;
    }
    let upstream = match dial(&host, port) {
        Ok(u) => u,
        Err(e) => {
            record_response(sink, local, Some(502), b"", started, Some(e.to_string()));
            let _ = respond(
                reader.get_mut(),
                502,
                "Bad Gateway",
                &format!("flightlog proxy: {e}\n"),
            );
            return;
        }
    };
    if reader
        .get_mut()
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .is_err()
    {
        return;
    }
    record_response(sink, local, Some(200), b"", started, None);
    match sniff(&reader) {
        Inside::Http => {
            plain_tunnel(reader, upstream, &host, port, sink, judge);
            return;
        }
        Inside::Closed => return,
        Inside::Tls | Inside::Other => {}
    }
    // Bytes the client sent after the CONNECT head (TLS ClientHello) are in the reader's buffer.
    let buffered = reader.buffer().to_vec();
    let client = reader.into_inner();
    match tls {
        Some(t) => intercept(client, upstream, buffered, &host, port, sink, judge, t),
        None => tunnel(client, upstream, &buffered),
    }
}

/// What a client sends first inside a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    /// A TLS handshake record.
    Tls,
    /// An HTTP/1.x request line: plain HTTP through the tunnel (Gemini CLI's client sends
    /// `http://` model calls this way through `HTTP_PROXY`).
    Http,
    /// Anything else, or nothing yet (a protocol where the server speaks first).
    Other,
    Closed,
}

/// How long the proxy waits for a full request line once a tunnel's first bytes look like one.
const REQUEST_LINE_WAIT: Duration = Duration::from_secs(2);

/// Looks at the client's first bytes in a tunnel without consuming them: what is already in
/// the reader's buffer, then what the socket holds (`peek`).
fn sniff(reader: &BufReader<TcpStream>) -> Inside {
    let client = reader.get_ref();
    let mut buf = vec![0u8; 8 * 1024];
    let look = |buf: &mut [u8], wait: Duration| -> Option<usize> {
        let _ = client.set_read_timeout(Some(wait));
        let r = client.peek(buf);
        let _ = client.set_read_timeout(None);
        r.ok()
    };
    let mut seen = reader.buffer().to_vec();
    if seen.is_empty() {
        match look(&mut buf[..1], FIRST_BYTE_WAIT) {
            Some(0) => return Inside::Closed,
            Some(_) => {}
            None => return Inside::Other,
        }
    }
    let start = Instant::now();
    loop {
        let mut have = seen.clone();
        if let Some(n) = look(&mut buf, Duration::from_millis(50)) {
            have.extend_from_slice(&buf[..n]);
        }
        match classify(&have) {
            Some(k) => return k,
            None if start.elapsed() >= REQUEST_LINE_WAIT => return Inside::Other,
            None => std::thread::sleep(Duration::from_millis(10)),
        }
        if have.len() >= buf.len() {
            return Inside::Other;
        }
        seen = reader.buffer().to_vec();
    }
}

/// Decides from a tunnel's first bytes; None = not enough bytes yet.
fn classify(first: &[u8]) -> Option<Inside> {
    match first.first()? {
        0x16 => return Some(Inside::Tls),
        b'A'..=b'Z' => {}
        _ => return Some(Inside::Other),
    }
    let end = match first.iter().position(|&b| b == b'\n') {
        Some(i) => i,
        // A request line is short; a long line without an end is something else.
        None if first.len() >= 8 * 1024 => return Some(Inside::Other),
        None => {
            // Give up early once the bytes cannot start a request line.
            let method_end = first.iter().position(|&b| b == b' ').unwrap_or(first.len());
            if !first[..method_end].iter().all(u8::is_ascii_uppercase) {
                return Some(Inside::Other);
            }
            return None;
        }
    };
    let line = first[..end].strip_suffix(b"\r").unwrap_or(&first[..end]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some(Inside::Other);
    };
    let http = !method.is_empty()
        && method.iter().all(u8::is_ascii_uppercase)
        && !target.is_empty()
        && (version == b"HTTP/1.1" || version == b"HTTP/1.0");
    Some(if http { Inside::Http } else { Inside::Other })
}

/// Plain HTTP inside a tunnel: every request is recorded, judged and forwarded like one sent
/// to the proxy directly (URL `http://host[:port]/path`), over the connection the CONNECT
/// opened, then over new ones.
fn plain_tunnel(
    mut reader: BufReader<TcpStream>,
    upstream: TcpStream,
    host: &str,
    port: u16,
    sink: &Sink,
    judge: &Judge,
) {
    let mut origin = Origin::Plain {
        host: host.to_string(),
        port,
        ready: Some(upstream),
    };
    loop {
        match read_head(&mut reader) {
            Ok(Some(head)) => {
                if !matches!(
                    forward(&head, &mut reader, sink, judge, &mut origin),
                    Ok(true)
                ) {
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => {
                let _ = respond(
                    reader.get_mut(),
                    400,
                    "Bad Request",
                    "flightlog proxy: malformed request\n",
                );
                break;
            }
        }
    }
    let _ = reader.get_ref().shutdown(Shutdown::Both);
}

/// How long the proxy waits for a client's first bytes inside a tunnel before deciding the
/// protocol is one where the server speaks first (not TLS), and tunnels it.
const FIRST_BYTE_WAIT: Duration = Duration::from_secs(1);

/// Terminates the agent's TLS, opens a verified one to the server and forwards the requests
/// inside; anything that cannot be intercepted is tunnelled untouched (and recorded).
#[allow(clippy::too_many_arguments)]
fn intercept(
    client: TcpStream,
    upstream: TcpStream,
    buffered: Vec<u8>,
    host: &str,
    port: u16,
    sink: &Sink,
    judge: &Judge,
    tls: &Interceptor,
) {
    let first = match buffered.first() {
        Some(b) => Some(*b),
        None => {
            let _ = client.set_read_timeout(Some(FIRST_BYTE_WAIT));
            let mut b = [0u8; 1];
            let r = client.peek(&mut b);
            let _ = client.set_read_timeout(None);
            match r {
                Ok(1) => Some(b[0]),
                Ok(_) => return, // closed
                Err(_) => None,  // silent: a server-first protocol
            }
        }
    };
    if first != Some(0x16) {
        // Not a TLS handshake: tunnel it as it is.
        tunnel(client, upstream, &buffered);
        return;
    }
    let mut seen = Vec::new();
    let accepted = {
        let mut acceptor = Acceptor::default();
        let mut tee = Tee {
            inner: io::Cursor::new(buffered).chain(&client),
            copy: &mut seen,
        };
        let _ = client.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        loop {
            match acceptor.read_tls(&mut tee) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            match acceptor.accept() {
                Ok(Some(a)) => break Some(a),
                Ok(None) => continue,
                Err(_) => break None,
            }
        }
    };
    let _ = client.set_read_timeout(None);
    let Some(accepted) = accepted else {
        not_intercepted(
            sink,
            host,
            port,
            "the client's TLS handshake could not be read",
        );
        tunnel(client, upstream, &seen);
        return;
    };
    let hello = accepted.client_hello();
    let name = hello
        .server_name()
        .map(str::to_string)
        .unwrap_or_else(|| host.to_string());
    let offers: Option<Vec<String>> = hello.alpn().map(|protocols| {
        protocols
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    });
    if let Some(offers) = &offers
        && !offers.iter().any(|p| p == "http/1.1")
    {
        let why = format!(
            "the client offers only {} (HTTP/1.1 is intercepted)",
            offers.join(", ")
        );
        not_intercepted(sink, host, port, &why);
        tunnel(client, upstream, &seen);
        return;
    }
    if tls.refused(&name) {
        tunnel(client, upstream, &seen);
        return;
    }
    let up = match tls.connect_upstream(upstream, &name) {
        Ok(u) => u,
        Err(e) => {
            let why = format!("flightlog could not open a verified TLS connection to {name}: {e}");
            not_intercepted(sink, host, port, &why);
            // A fresh connection, so the client's own handshake decides, as without flightlog.
            if let Ok(again) = dial(host, port) {
                tunnel(client, again, &seen);
            }
            return;
        }
    };
    let config = match tls.server_config(&name) {
        Ok(c) => c,
        Err(e) => {
            not_intercepted(sink, host, port, &format!("no certificate for {name}: {e}"));
            return;
        }
    };
    let conn = match accepted.into_connection(config) {
        Ok(c) => c,
        Err((e, mut alert)) => {
            let _ = alert.write_all(&mut &client);
            not_intercepted(
                sink,
                host,
                port,
                &format!("TLS with the client failed: {e}"),
            );
            return;
        }
    };
    let stream = match finish_server_handshake(conn, client) {
        Ok(s) => s,
        Err(e) => {
            let alert = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_)));
            if alert {
                tls.note_refused(&name);
            }
            gap(
                sink,
                "tls_client_refused",
                &format!(
                    "the client refused the interception certificate for {name} ({e}); it may pin \
                     certificates or not read SSL_CERT_FILE; later connections to {name} are \
                     tunnelled"
                ),
            );
            return;
        }
    };
    let mut origin = Origin::Tls {
        host: host.to_string(),
        port,
        name,
        tls,
        ready: Some(Box::new(up)),
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(head)) = read_head(&mut reader) {
        if !matches!(
            forward(&head, &mut reader, sink, judge, &mut origin),
            Ok(true)
        ) {
            break;
        }
    }
    let s = reader.get_mut();
    s.conn.send_close_notify();
    let _ = s.flush();
    let _ = s.sock.shutdown(Shutdown::Both);
}

fn not_intercepted(sink: &Sink, host: &str, port: u16, why: &str) {
    gap(
        sink,
        "tls_not_intercepted",
        &format!("{host}:{port} was tunnelled without interception: {why}"),
    );
}

fn tunnel(client: TcpStream, upstream: TcpStream, buffered: &[u8]) {
    let (Ok(mut c_read), Ok(mut u_write)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    if !buffered.is_empty() && u_write.write_all(buffered).is_err() {
        return;
    }
    let t = std::thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = t.join();
}

const HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwards one request. Ok(true) = the client connection may carry another.
fn forward<S: Sock>(
    head: &Head,
    reader: &mut BufReader<S>,
    sink: &Sink,
    judge: &Judge,
    origin: &mut Origin<'_>,
) -> io::Result<bool> {
    let (method, target, version) = (&head.line.0, &head.line.1, &head.line.2);
    let (scheme, default_port) = match origin {
        Origin::Plain { .. } => ("http", 80),
        _ => ("https", 443),
    };
    let (url, host, port, path) = match origin {
        Origin::Proxy => {
            let Some(rest) = target.strip_prefix("http://") else {
                respond(
                    reader.get_mut(),
                    400,
                    "Bad Request",
                    "flightlog proxy: expected an absolute http:// URL\n",
                )?;
                return Ok(false);
            };
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let (host, port) = hostport(authority, 80);
            (target.clone(), host, port, path.to_string())
        }
        Origin::Tls { host, port, .. } | Origin::Plain { host, port, .. } => {
            // Origin-form; an absolute URL of the same scheme is tolerated.
            let path = match target
                .strip_prefix(scheme)
                .and_then(|t| t.strip_prefix("://"))
            {
                Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
                None if target.starts_with('/') => target.as_str(),
                None => {
                    respond(
                        reader.get_mut(),
                        400,
                        "Bad Request",
                        "flightlog proxy: expected a path\n",
                    )?;
                    return Ok(false);
                }
            };
            let authority = if *port == default_port {
                host.clone()
            } else {
                format!("{host}:{port}")
            };
            (
                format!("{scheme}://{authority}{path}"),
                host.clone(),
                *port,
                path.to_string(),
            )
        }
    };
    if head
        .get("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = match read_request_body(reader, head, MAX_REQUEST_BODY) {
        Ok(b) => b,
        Err(e) => {
            // An ambiguous length is refused before anything is forwarded: a server that framed
            // it differently would see requests the log does not.
            let (status, reason) = match e {
                HttpError::TooLong(_) => (413, "Content Too Large"),
                _ => (400, "Bad Request"),
            };
            respond(
                reader.get_mut(),
                status,
                reason,
                &format!("flightlog proxy: request body refused: {e}\n"),
            )?;
            return Ok(false);
        }
    };
    let client_keep = !head.has_token("Connection", "close")
        && !head.has_token("Proxy-Connection", "close")
        && (version != "HTTP/1.0"
            || head.has_token("Proxy-Connection", "keep-alive")
            || head.has_token("Connection", "keep-alive"));
    let fwd_headers: Vec<(String, String)> = head
        .headers
        .iter()
        .filter(|(k, _)| {
            !HOP.contains(&k.to_ascii_lowercase().as_str())
                && !k.eq_ignore_ascii_case("expect")
                && !k.eq_ignore_ascii_case("content-length")
        })
        .cloned()
        .collect();
    // A request to switch protocols keeps its Upgrade header (WebSocket, ...).
    let upgrade = head
        .get("Upgrade")
        .filter(|_| head.has_token("Connection", "upgrade"))
        .map(str::to_string);
    let local = sink.local_id();
    let started = Instant::now();
    let data = judge.http_data(method, &url, &fwd_headers, &body, EXCERPT);
    if let Some(reason) = record_request(sink, judge, data, local) {
        let msg = format!("flightlog guard: {reason}\n");
        respond(reader.get_mut(), 403, "Forbidden", &msg)?;
        return Ok(false);
    }
    let dialled = match origin {
        Origin::Proxy => dial(&host, port).map(Upstream::Plain),
        Origin::Tls {
            name, tls, ready, ..
        } => match ready.take() {
            Some(u) => Ok(Upstream::Tls(u)),
            None => dial(&host, port)
                .and_then(|tcp| tls.connect_upstream(tcp, name))
                .map(|u| Upstream::Tls(Box::new(u))),
        },
        Origin::Plain { ready, .. } => match ready.take() {
            Some(u) => Ok(Upstream::Plain(u)),
            None => dial(&host, port).map(Upstream::Plain),
        },
    };
    let mut up = match dialled {
        Ok(u) => u,
        Err(e) => {
            record_response(sink, local, Some(502), b"", started, Some(e.to_string()));
            respond(
                reader.get_mut(),
                502,
                "Bad Gateway",
                &format!("flightlog proxy: {e}\n"),
            )?;
            return Ok(false);
        }
    };
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &fwd_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    match &upgrade {
        Some(u) => req.push_str(&format!("Upgrade: {u}\r\nConnection: Upgrade\r\n\r\n")),
        None => req.push_str("Connection: close\r\n\r\n"),
    }
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    up.flush()?;
    let mut ur = BufReader::new(up);
    // Skip interim 1xx responses (the 100 was answered by us).
    let resp = loop {
        match read_response_head(&mut ur) {
            Ok(Some(h)) if h.line.1.starts_with('1') && h.line.1 != "101" => continue,
            Ok(Some(h)) => break h,
            Ok(None) | Err(_) => {
                record_response(
                    sink,
                    local,
                    Some(502),
                    b"",
                    started,
                    Some("no valid response from upstream".into()),
                );
                respond(
                    reader.get_mut(),
                    502,
                    "Bad Gateway",
                    "flightlog proxy: no valid response from upstream\n",
                )?;
                return Ok(false);
            }
        }
    };
    let status: u16 = resp.line.1.parse().unwrap_or(0);
    if status == 101 && upgrade.is_some() {
        return switch_protocols(&resp, reader, ur, sink, local, started);
    }
    let framing = match resp.response_body(method) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("the upstream response's length is ambiguous: {e}");
            record_response(sink, local, Some(502), b"", started, Some(msg.clone()));
            respond(
                reader.get_mut(),
                502,
                "Bad Gateway",
                &format!("flightlog proxy: {msg}\n"),
            )?;
            return Ok(false);
        }
    };
    let delimited = framing != Body::UntilClose;
    let keep = client_keep && delimited;
    let mut h = format!("HTTP/1.1 {} {}\r\n", resp.line.1, resp.line.2);
    for (k, v) in &resp.headers {
        let lk = k.to_ascii_lowercase();
        if lk == "connection" || lk == "keep-alive" || lk == "proxy-connection" {
            continue;
        }
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(if keep {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    reader.get_mut().write_all(h.as_bytes())?;
    let mut kept = Vec::new();
    let res = match framing {
        Body::None => Ok(()),
        Body::Chunked => read_chunked(&mut ur, &mut kept, reader.get_mut(), EXCERPT + 1, false)
            .map_err(io::Error::from),
        Body::Length(n) => copy_keep(&mut (&mut ur).take(n), reader.get_mut(), &mut kept),
        Body::UntilClose => copy_keep(&mut ur, reader.get_mut(), &mut kept),
    };
    reader.get_mut().flush()?;
    let body_note = if resp.has_token("Content-Encoding", "gzip")
        || resp.has_token("Content-Encoding", "br")
        || resp.has_token("Content-Encoding", "deflate")
        || resp.has_token("Content-Encoding", "zstd")
    {
        format!(
            "<{}-encoded body>",
            resp.get("Content-Encoding").unwrap_or("")
        )
        .into_bytes()
    } else {
        kept
    };
    record_response(
        sink,
        local,
        Some(status),
        &body_note,
        started,
        res.as_ref().err().map(|e| e.to_string()),
    );
    res?;
    Ok(keep)
}

/// The server agreed to switch protocols: pass its 101 on, then relay the upgraded connection
/// both ways until it ends. The connection carries no further HTTP requests.
fn switch_protocols<S: Sock>(
    resp: &Head,
    reader: &mut BufReader<S>,
    ur: BufReader<Upstream>,
    sink: &Sink,
    local: u64,
    started: Instant,
) -> io::Result<bool> {
    let mut h = format!("HTTP/1.1 {} {}\r\n", resp.line.1, resp.line.2);
    for (k, v) in &resp.headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    reader.get_mut().write_all(h.as_bytes())?;
    reader.get_mut().flush()?;
    let protocol = resp
        .get("Upgrade")
        .unwrap_or("another protocol")
        .to_string();
    record_response(
        sink,
        local,
        Some(101),
        format!("<switched to {protocol}: the frames that follow are relayed, not recorded>")
            .as_bytes(),
        started,
        None,
    );
    // Bytes either side sent right after the heads are already read: pass them on first.
    let from_client = reader.buffer().to_vec();
    reader.consume(from_client.len());
    let from_server = ur.buffer().to_vec();
    let mut up = ur.into_inner();
    if !from_client.is_empty() {
        up.write_all(&from_client)?;
        up.flush()?;
    }
    if !from_server.is_empty() {
        reader.get_mut().write_all(&from_server)?;
        reader.get_mut().flush()?;
    }
    splice(reader.get_mut(), &mut up)?;
    Ok(false)
}

fn copy_keep(r: &mut impl Read, w: &mut impl Write, kept: &mut Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A TLS server that closes without close_notify ends its body the same way.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if kept.len() <= EXCERPT {
            kept.extend_from_slice(&buf[..n.min(EXCERPT + 1 - kept.len())]);
        }
        w.write_all(&buf[..n])?;
    }
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
