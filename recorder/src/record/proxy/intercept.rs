//! `CONNECT`: what is inside the tunnel (TLS, plain HTTP or something else), interception
//! of TLS with the session CA, and a plain tunnel when nothing can be read.

use super::*;

pub(super) fn connect(
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
pub(super) enum Inside {
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
pub(super) const REQUEST_LINE_WAIT: Duration = Duration::from_secs(2);

/// Looks at the client's first bytes in a tunnel without consuming them: what is already in
/// the reader's buffer, then what the socket holds (`peek`).
pub(super) fn sniff(reader: &BufReader<TcpStream>) -> Inside {
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
pub(super) fn classify(first: &[u8]) -> Option<Inside> {
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
pub(super) fn plain_tunnel(
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
                reject_malformed(reader.get_mut());
                break;
            }
        }
    }
    let _ = reader.get_ref().shutdown(Shutdown::Both);
}

/// How long the proxy waits for a client's first bytes inside a tunnel before deciding the
/// protocol is one where the server speaks first (not TLS), and tunnels it.
pub(super) const FIRST_BYTE_WAIT: Duration = Duration::from_secs(1);

/// Terminates the agent's TLS, opens a verified one to the server and forwards the requests
/// inside; anything that cannot be intercepted is tunnelled untouched (and recorded).
#[allow(clippy::too_many_arguments)]
pub(super) fn intercept(
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

pub(super) fn not_intercepted(sink: &Sink, host: &str, port: u16, why: &str) {
    gap(
        sink,
        "tls_not_intercepted",
        &format!("{host}:{port} was tunnelled without interception: {why}"),
    );
}
