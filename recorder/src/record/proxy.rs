//! The session's HTTP(S) proxy on 127.0.0.1 (a random port), written on std threads.
//!
//! - Plain HTTP: each request is recorded as an `api_call` (method, URL, headers, body
//!   excerpt, decoded GraphQL) before it is forwarded, and the response as a small follow-up
//!   `api_call` `{"status","response_body","duration_ms","response_of_seq"}`. The request goes
//!   upstream with `Connection: close`; the client side keeps its connection alive when the
//!   response is delimited.
//! - HTTPS: `CONNECT host:port` is recorded (method `CONNECT`) and the bytes are tunnelled
//!   untouched. (TLS interception is not built in: see the `--tls-intercept` note in `mod.rs`.)
//! - With the guard on, a request is committed and decided before it is forwarded; a denied one
//!   gets a 403 from the proxy, never reaches the server, and a `decision` is recorded.
//! - Accept and upstream errors become `gap` events; the client still gets a 502 as it would
//!   from any proxy.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flightlog_formats::{Kind, NewEvent};
use serde_json::{Value, json};

use super::judge::{Judge, body_excerpt};
use super::writer::{FollowUp, Sink};

/// Bytes of a body kept in the event.
const EXCERPT: usize = 4096;
/// Bytes of a request body read into memory (bigger bodies are refused with 413).
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The running proxy.
pub struct Proxy {
    pub port: u16,
    closed: Arc<AtomicBool>,
}

impl Proxy {
    /// Binds 127.0.0.1:0 and serves on background threads.
    pub fn start(sink: Sink, judge: Arc<Judge>) -> io::Result<Proxy> {
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
                            let _ = std::thread::Builder::new()
                                .name("flightlog-proxy-conn".into())
                                .spawn(move || serve(s, &sink, &judge));
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

struct Head {
    /// Request: method, target, version. Response: version, status, reason.
    line: (String, String, String),
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Reads a request or response head. Ok(None) at a clean end of stream.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut line = String::new();
    let mut total = 0;
    // Tolerate empty lines before a request (RFC 9112 2.2).
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 {
            return Ok(None);
        }
        total += n;
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let a = parts.next().unwrap_or("").to_string();
    let b = parts.next().unwrap_or("").to_string();
    let c = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        let n = r.read_line(&mut h)?;
        total += n;
        if n == 0 || total > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "header section too long or cut",
            ));
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(Head {
        line: (a, b, c),
        headers,
    }))
}

fn respond(w: &mut impl Write, status: u16, reason: &str, body: &str) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    w.flush()
}

fn serve(client: TcpStream, sink: &Sink, judge: &Judge) {
    let Ok(write_half) = client.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut reader = BufReader::new(client);
    loop {
        let head = match read_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(_) => {
                let _ = respond(
                    &mut out,
                    400,
                    "Bad Request",
                    "flightlog proxy: malformed request\n",
                );
                return;
            }
        };
        if head.line.0.eq_ignore_ascii_case("CONNECT") {
            connect(head, reader, out, sink, judge);
            return;
        }
        match forward(&head, &mut reader, &mut out, sink, judge) {
            Ok(true) => continue,
            _ => {
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
        }
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
    reader: BufReader<TcpStream>,
    mut out: TcpStream,
    sink: &Sink,
    judge: &Judge,
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
            &mut out,
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
                &mut out,
                502,
                "Bad Gateway",
                &format!("flightlog proxy: {e}\n"),
            );
            return;
        }
    };
    if out
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .is_err()
    {
        return;
    }
    record_response(sink, local, Some(200), b"", started, None);
    // Bytes the client sent after the CONNECT head (TLS ClientHello) are in the reader's buffer.
    let buffered = reader.buffer().to_vec();
    let client = reader.into_inner();
    tunnel(client, upstream, &buffered);
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

/// Reads a body framed by the head: Content-Length or chunked. None = read until close.
fn read_body(r: &mut impl BufRead, head: &Head, limit: usize) -> io::Result<Vec<u8>> {
    if head.has_token("Transfer-Encoding", "chunked") {
        let mut body = Vec::new();
        read_chunked(r, &mut body, &mut io::sink(), limit)?;
        return Ok(body);
    }
    let n: usize = head
        .get("Content-Length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if n > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    let mut body = vec![0; n];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Reads a chunked body: the decoded bytes go to `decoded` (up to `keep`), the raw bytes to `raw`.
fn read_chunked(
    r: &mut impl BufRead,
    decoded: &mut Vec<u8>,
    raw: &mut impl Write,
    keep: usize,
) -> io::Result<()> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        raw.write_all(line.as_bytes())?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 {
                    return Ok(());
                }
                raw.write_all(t.as_bytes())?;
                if t.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        let mut left = size + 2; // data + CRLF
        let mut buf = [0u8; 16 * 1024];
        while left > 0 {
            let n = r.read(&mut buf[..left.min(16 * 1024)])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            raw.write_all(&buf[..n])?;
            let data_part = n.min(left.saturating_sub(2));
            if decoded.len() < keep {
                let take = data_part.min(keep - decoded.len());
                decoded.extend_from_slice(&buf[..take]);
            }
            left -= n;
        }
    }
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

/// Forwards one plain-HTTP request. Ok(true) = the client connection may carry another.
fn forward(
    head: &Head,
    reader: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
    sink: &Sink,
    judge: &Judge,
) -> io::Result<bool> {
    let (method, target, version) = (&head.line.0, &head.line.1, &head.line.2);
    let Some(rest) = target.strip_prefix("http://") else {
        respond(
            out,
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
    if head
        .get("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = match read_body(reader, head, MAX_REQUEST_BODY) {
        Ok(b) => b,
        Err(_) => {
            respond(
                out,
                413,
                "Content Too Large",
                "flightlog proxy: request body unreadable or too large\n",
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
    let local = sink.local_id();
    let started = Instant::now();
    let data = judge.http_data(method, target, &fwd_headers, &body, EXCERPT);
    if let Some(reason) = record_request(sink, judge, data, local) {
        let msg = format!("flightlog guard: {reason}\n");
        respond(out, 403, "Forbidden", &msg)?;
        return Ok(false);
    }
    let mut up = match dial(&host, port) {
        Ok(u) => u,
        Err(e) => {
            record_response(sink, local, Some(502), b"", started, Some(e.to_string()));
            respond(out, 502, "Bad Gateway", &format!("flightlog proxy: {e}\n"))?;
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
    req.push_str("Connection: close\r\n\r\n");
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    up.flush()?;
    let mut ur = BufReader::new(up);
    // Skip interim 1xx responses (the 100 was answered by us).
    let resp = loop {
        match read_head(&mut ur) {
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
                    out,
                    502,
                    "Bad Gateway",
                    "flightlog proxy: no valid response from upstream\n",
                )?;
                return Ok(false);
            }
        }
    };
    let status: u16 = resp.line.1.parse().unwrap_or(0);
    let no_body = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
    let chunked = resp.has_token("Transfer-Encoding", "chunked");
    let length: Option<usize> = resp
        .get("Content-Length")
        .and_then(|v| v.trim().parse().ok());
    let delimited = no_body || chunked || length.is_some();
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
    out.write_all(h.as_bytes())?;
    let mut kept = Vec::new();
    let res = if no_body {
        Ok(())
    } else if chunked {
        read_chunked(&mut ur, &mut kept, out, EXCERPT + 1)
    } else if let Some(n) = length {
        copy_keep(&mut (&mut ur).take(n as u64), out, &mut kept)
    } else {
        copy_keep(&mut ur, out, &mut kept)
    };
    out.flush()?;
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

fn copy_keep(r: &mut impl Read, w: &mut impl Write, kept: &mut Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
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
    fn chunked_bodies_decode_and_pass_through() {
        let raw = b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\nT: v\r\n\r\nNEXT";
        let mut r = BufReader::new(&raw[..]);
        let mut decoded = Vec::new();
        let mut passed = Vec::new();
        read_chunked(&mut r, &mut decoded, &mut passed, 100).unwrap();
        assert_eq!(decoded, b"Wikipedia");
        assert_eq!(passed, &raw[..raw.len() - 4]);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT");
    }
}
