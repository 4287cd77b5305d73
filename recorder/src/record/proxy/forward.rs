//! Forwarding one request upstream: hop-by-hop headers dropped, the request recorded and
//! judged, the response relayed and recorded, upgrades switched to a relay.

use super::*;

pub(super) const HOP: [&str; 8] = [
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
pub(super) fn forward<S: Sock>(
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
pub(super) fn switch_protocols<S: Sock>(
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
