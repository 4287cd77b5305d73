//! One HTTP/1.1 message reader for flightlog's proxy, its test stand-ins and its tests.
//!
//! Heads are parsed by `httparse`; the framing around them is strict, as RFC 9112 asks of a
//! proxy, because a proxy and a server that frame a message differently is how requests are
//! smuggled past the one that records them:
//!
//! - a head is at most [`MAX_HEAD`] bytes, a line at most [`MAX_LINE`], at most [`MAX_HEADERS`]
//!   fields; whitespace between a field name and its colon is an error (`httparse`);
//! - `Content-Length` must be digits only, and every copy of it must agree;
//! - a request with both `Transfer-Encoding` and `Content-Length` is refused, and so is one whose
//!   `Transfer-Encoding` does not end in `chunked` exactly once;
//! - chunk sizes are parsed with overflow checks (`ffffffffffffffff` is an error, not a wrap),
//!   each chunk's data must end in CRLF, and chunk lines and trailers are bounded too.
//!
//! The stand-ins' servers run their accept loops on an [`AcceptThread`], stopped when dropped.

use std::io::{self, BufRead, Read, Write};

mod accept;
pub use accept::AcceptThread;

/// The largest head (start line and fields) read.
pub const MAX_HEAD: usize = 64 * 1024;
/// The longest line in a head, a chunk-size line or a trailer.
pub const MAX_LINE: usize = 16 * 1024;
/// The most header fields a head may have.
pub const MAX_HEADERS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("the stream ended inside {0}")]
    Cut(&'static str),
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// The message's length cannot be told unambiguously.
    #[error("ambiguous framing: {0}")]
    Framing(String),
}

impl From<HttpError> for io::Error {
    fn from(e: HttpError) -> io::Error {
        match e {
            HttpError::Io(e) => e,
            HttpError::Cut(_) => io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()),
            e => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        }
    }
}

fn malformed(what: &'static str, detail: impl ToString) -> HttpError {
    HttpError::Malformed {
        what,
        detail: detail.to_string(),
    }
}

/// A request or response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request: method, target, version (`HTTP/1.1`). Response: version, status, reason.
    pub line: (String, String, String),
    /// Field names as sent; values with surrounding whitespace removed (non-UTF-8 bytes are
    /// replaced).
    pub headers: Vec<(String, String)>,
}

/// The head as it would go on the wire: start line, fields, empty line.
impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}\r\n", self.line.0, self.line.1, self.line.2)?;
        for (k, v) in &self.headers {
            write!(f, "{k}: {v}\r\n")?;
        }
        f.write_str("\r\n")
    }
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Length(u64),
    Chunked,
    /// A response without a length: its body ends when the connection does.
    UntilClose,
}

impl Head {
    /// The last value of a field (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any value of a comma-separated field lists `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Every comma-separated element of every copy of a field.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The request's status code (a response head).
    pub fn status(&self) -> u16 {
        self.line.1.parse().unwrap_or(0)
    }

    /// `Content-Length`, if present: digits only, every copy the same.
    fn content_length(&self) -> Result<Option<u64>, HttpError> {
        let mut found: Option<u64> = None;
        let copies = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        for (_, v) in copies {
            for part in v.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HttpError::Framing(format!(
                        "Content-Length {v:?} is not a number"
                    )));
                }
                let n: u64 = part.parse().map_err(|_| {
                    HttpError::Framing(format!("Content-Length {v:?} is too large"))
                })?;
                if found.is_some_and(|f| f != n) {
                    return Err(HttpError::Framing(
                        "Content-Length values that differ".into(),
                    ));
                }
                found = Some(n);
            }
        }
        Ok(found)
    }

    /// Whether `Transfer-Encoding` ends in `chunked` (and names it once); Err if it names
    /// codings that leave the length unknown.
    fn chunked(&self, request: bool) -> Result<Option<bool>, HttpError> {
        let codings: Vec<&str> = self.values("transfer-encoding").collect();
        let present = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
        if !present {
            return Ok(None);
        }
        let chunked_count = codings
            .iter()
            .filter(|c| c.eq_ignore_ascii_case("chunked"))
            .count();
        let last_chunked = codings
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        match (last_chunked, chunked_count) {
            (true, 1) => Ok(Some(true)),
            (false, 0) if !request => Ok(Some(false)),
            _ => Err(HttpError::Framing(format!(
                "Transfer-Encoding {:?} does not end in chunked exactly once",
                codings.join(", ")
            ))),
        }
    }

    /// How a request's body is delimited (RFC 9112 6.3).
    pub fn request_body(&self) -> Result<Body, HttpError> {
        let length = self.content_length()?;
        match self.chunked(true)? {
            Some(_) if length.is_some() => Err(HttpError::Framing(
                "both Transfer-Encoding and Content-Length".into(),
            )),
            Some(_) => Ok(Body::Chunked),
            None => Ok(length.map_or(Body::None, Body::Length)),
        }
    }

    /// How a response to `method` is delimited (RFC 9112 6.3).
    pub fn response_body(&self, method: &str) -> Result<Body, HttpError> {
        let status = self.status();
        if method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            return Ok(Body::None);
        }
        let length = self.content_length();
        match self.chunked(false)? {
            Some(true) => Ok(Body::Chunked),
            Some(false) => Ok(Body::UntilClose),
            None => Ok(length?.map_or(Body::UntilClose, Body::Length)),
        }
    }
}

/// Reads one line (through `\n`) of at most [`MAX_LINE`] bytes; Ok(None) at a clean end.
fn read_line(
    r: &mut impl BufRead,
    out: &mut Vec<u8>,
    what: &'static str,
) -> Result<bool, HttpError> {
    let start = out.len();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if buf.is_empty() {
            if out.len() == start {
                return Ok(false);
            }
            return Err(HttpError::Cut(what));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if out.len() - start + take > MAX_LINE {
            return Err(HttpError::TooLong(what));
        }
        out.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// Reads a head's bytes: leading empty lines are skipped (RFC 9112 2.2), then lines up to and
/// including the empty one. Ok(None) at a clean end of stream before any byte of a head.
fn read_head_bytes(r: &mut impl BufRead) -> Result<Option<Vec<u8>>, HttpError> {
    let mut head = Vec::new();
    loop {
        head.clear();
        if !read_line(r, &mut head, "the start line")? {
            return Ok(None);
        }
        if !is_blank(&head) {
            break;
        }
    }
    loop {
        let before = head.len();
        if !read_line(r, &mut head, "the head")? {
            return Err(HttpError::Cut("the head"));
        }
        if head.len() > MAX_HEAD {
            return Err(HttpError::TooLong("the head"));
        }
        if is_blank(&head[before..]) {
            return Ok(Some(head));
        }
    }
}

fn fields(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect()
}

fn version(v: Option<u8>) -> String {
    format!("HTTP/1.{}", v.unwrap_or(1))
}

/// Reads a request head. Ok(None) at a clean end of stream.
pub fn read_request_head(r: &mut impl BufRead) -> Result<Option<Head>, HttpError> {
    let Some(bytes) = read_head_bytes(r)? else {
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::Cut("the head")),
        Err(e) => return Err(malformed("request head", e)),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(malformed("request head", "no method or target"));
    };
    Ok(Some(Head {
        line: (method.to_string(), target.to_string(), version(req.version)),
        headers: fields(req.headers),
    }))
}

/// Reads a response head. Ok(None) at a clean end of stream.
pub fn read_response_head(r: &mut impl BufRead) -> Result<Option<Head>, HttpError> {
    let Some(bytes) = read_head_bytes(r)? else {
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::Cut("the head")),
        Err(e) => return Err(malformed("response head", e)),
    }
    let Some(code) = resp.code else {
        return Err(malformed("response head", "no status"));
    };
    Ok(Some(Head {
        line: (
            version(resp.version),
            code.to_string(),
            resp.reason.unwrap_or("").to_string(),
        ),
        headers: fields(resp.headers),
    }))
}

/// Reads a body of `n` bytes, refusing one over `limit`.
pub fn read_length(r: &mut impl Read, n: u64, limit: usize) -> Result<Vec<u8>, HttpError> {
    if n > limit as u64 {
        return Err(HttpError::TooLong("the body"));
    }
    let mut body = vec![0; n as usize];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => HttpError::Cut("the body"),
        _ => e.into(),
    })?;
    Ok(body)
}

/// Reads a request body as its head frames it, refusing one over `limit`.
pub fn read_request_body(
    r: &mut impl BufRead,
    head: &Head,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    match head.request_body()? {
        Body::None | Body::UntilClose => Ok(Vec::new()),
        Body::Length(n) => read_length(r, n, limit),
        Body::Chunked => {
            let mut body = Vec::new();
            read_chunked(r, &mut body, &mut io::sink(), limit, true)?;
            Ok(body)
        }
    }
}

/// Parses a chunk-size line (`1a;ext=v\r\n`): hex digits, checked for overflow.
pub fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let line = line
        .strip_suffix(b"\n")
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .unwrap_or(line);
    let digits = line.split(|&b| b == b';').next().unwrap_or(b"");
    let digits = digits.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(malformed(
            "chunk size",
            String::from_utf8_lossy(line).into_owned(),
        ));
    }
    let mut n: u64 = 0;
    for &d in digits {
        let v = (d as char).to_digit(16).unwrap_or(0) as u64;
        n = n
            .checked_mul(16)
            .and_then(|n| n.checked_add(v))
            .ok_or(HttpError::TooLong("a chunk size"))?;
    }
    Ok(n)
}

/// Reads a chunked body: the decoded bytes go to `decoded` (up to `keep`; with `strict`, more
/// is an error), the raw bytes as read to `raw`.
pub fn read_chunked(
    r: &mut impl BufRead,
    decoded: &mut Vec<u8>,
    raw: &mut impl Write,
    keep: usize,
    strict: bool,
) -> Result<(), HttpError> {
    let mut line = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        line.clear();
        if !read_line(r, &mut line, "a chunk size line")? {
            return Err(HttpError::Cut("the chunked body"));
        }
        raw.write_all(&line)?;
        let size = chunk_size(&line)?;
        if size == 0 {
            // Trailers, then the empty line.
            let mut total = 0usize;
            loop {
                line.clear();
                if !read_line(r, &mut line, "a trailer")? {
                    return Err(HttpError::Cut("the trailers"));
                }
                total += line.len();
                if total > MAX_HEAD {
                    return Err(HttpError::TooLong("the trailers"));
                }
                raw.write_all(&line)?;
                if is_blank(&line) {
                    return Ok(());
                }
            }
        }
        if strict && (decoded.len() as u64).saturating_add(size) > keep as u64 {
            return Err(HttpError::TooLong("the body"));
        }
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let n = r.read(&mut buf[..want])?;
            if n == 0 {
                return Err(HttpError::Cut("a chunk"));
            }
            raw.write_all(&buf[..n])?;
            if decoded.len() < keep {
                let take = n.min(keep - decoded.len());
                decoded.extend_from_slice(&buf[..take]);
            }
            left -= n as u64;
        }
        // The chunk's data ends in CRLF.
        line.clear();
        if !read_line(r, &mut line, "a chunk's end")? {
            return Err(HttpError::Cut("a chunk"));
        }
        raw.write_all(&line)?;
        if !is_blank(&line) {
            return Err(malformed("chunk", "its data is longer than its size"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(raw: &[u8]) -> Result<(Head, Vec<u8>), HttpError> {
        let mut r = io::BufReader::new(raw);
        let head = read_request_head(&mut r)?.ok_or(HttpError::Cut("nothing"))?;
        let body = read_request_body(&mut r, &head, 1024)?;
        Ok((head, body))
    }

    #[test]
    fn request_framing_rules() {
        // (raw request, Ok(body) or Err(part of the message))
        let cases: &[(&str, Result<&str, &str>)] = &[
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                Ok("hello"),
            ),
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", Ok("")),
            ("\r\n\r\nGET / HTTP/1.1\r\n\r\n", Ok("")),
            ("POST / HTTP/1.1\nContent-Length: 2\n\nhi", Ok("hi")),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
                Ok("hello"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
                Ok("hello"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
                Err("malformed"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                Err("differ"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello!",
                Err("differ"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
                Err("not a number"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello",
                Err("not a number"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
                Err("not a number"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                Err("too large"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n",
                Err("too long"),
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nhello",
                Err("ended inside"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                Ok("hello"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
                Ok("hi"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                Err("both"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                Err("chunked exactly once"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err("chunked exactly once"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                Err("chunked exactly once"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
                Err("too long"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
                Err("too long"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                Err("chunk size"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
                Err("chunk size"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
                Err("longer than its size"),
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                Err("ended inside"),
            ),
            ("GET / HTTP/1.1\r\nHost: h\r\n", Err("ended inside")),
            ("GET / HTTP/1.1\r\nBad Header\r\n\r\n", Err("malformed")),
            ("GET /\r\n\r\n", Err("malformed")),
        ];
        for (raw, want) in cases {
            let got = request(raw.as_bytes());
            match (want, &got) {
                (Ok(body), Ok((_, b))) => assert_eq!(b, body.as_bytes(), "{raw:?}"),
                (Err(msg), Err(e)) => assert!(e.to_string().contains(msg), "{raw:?}: {e}"),
                _ => panic!("{raw:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn heads_and_lines_are_bounded() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE));
        let e = request(long_line.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X-A: 1\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(request(many.as_bytes()).is_err());
        let big = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            format!("X-A: {}\r\n", "b".repeat(8000)).repeat(10)
        );
        let e = request(big.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
        // A head with no end is cut, not read forever.
        assert!(matches!(
            request(b"GET / HTTP/1.1\r\nA: b"),
            Err(HttpError::Cut(_))
        ));
        assert!(matches!(request(b""), Err(HttpError::Cut("nothing"))));
    }

    #[test]
    fn response_framing_rules() {
        let cases: &[(&str, &str, Result<Body, &str>)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                "GET",
                Ok(Body::Length(3)),
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", "GET", Ok(Body::UntilClose)),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                "HEAD",
                Ok(Body::None),
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", "GET", Ok(Body::None)),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                "GET",
                Ok(Body::None),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "GET",
                Ok(Body::Chunked),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                "GET",
                Ok(Body::Chunked),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                "GET",
                Ok(Body::UntilClose),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                "GET",
                Err("differ"),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                "GET",
                Err("not a number"),
            ),
        ];
        for (raw, method, want) in cases {
            let mut r = io::BufReader::new(raw.as_bytes());
            let head = read_response_head(&mut r).unwrap().unwrap();
            let got = head.response_body(method);
            match (want, &got) {
                (Ok(b), Ok(g)) => assert_eq!(b, g, "{raw:?}"),
                (Err(msg), Err(e)) => assert!(e.to_string().contains(msg), "{raw:?}: {e}"),
                _ => panic!("{raw:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_and_pass_through_byte_for_byte() {
        let raw = b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\nT: v\r\n\r\nNEXT";
        let mut r = io::BufReader::new(&raw[..]);
        let mut decoded = Vec::new();
        let mut passed = Vec::new();
        read_chunked(&mut r, &mut decoded, &mut passed, 100, false).unwrap();
        assert_eq!(decoded, b"Wikipedia");
        assert_eq!(passed, &raw[..raw.len() - 4]);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT");
        // Keeping less than the body still passes all of it on.
        let mut r = io::BufReader::new(&raw[..]);
        let (mut decoded, mut passed) = (Vec::new(), Vec::new());
        read_chunked(&mut r, &mut decoded, &mut passed, 3, false).unwrap();
        assert_eq!(decoded, b"Wik");
        assert_eq!(passed, &raw[..raw.len() - 4]);
    }

    #[test]
    fn a_head_prints_as_on_the_wire() {
        let raw = "POST /v1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n";
        let head = read_request_head(&mut io::BufReader::new(raw.as_bytes()))
            .unwrap()
            .unwrap();
        assert_eq!(head.to_string(), raw);
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a\r\n").unwrap(), 26);
        assert_eq!(chunk_size(b"0\r\n").unwrap(), 0);
        assert_eq!(
            chunk_size(b"7fffffffffffffff\r\n").unwrap(),
            i64::MAX as u64
        );
        assert_eq!(chunk_size(b"ffffffffffffffff").unwrap(), u64::MAX);
        assert!(chunk_size(b"10000000000000000\r\n").is_err());
        assert!(chunk_size(b"\r\n").is_err());
        assert!(chunk_size(b"0x1\r\n").is_err());
    }
}
