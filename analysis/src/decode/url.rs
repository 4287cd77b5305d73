//! URLs: split into parts, credentials removed, query components percent-decoded.

/// A URL split into its parts (just enough for matching; no normalisation beyond lower-casing
/// scheme and host).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Url {
    pub scheme: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<String>,
    pub path: String,
    pub query: Option<String>,
}

impl Url {
    /// Parses `scheme://[user[:pass]@]host[:port][/path][?query][#frag]`; without a scheme,
    /// `http://` is assumed (as curl does).
    pub fn parse(s: &str) -> Option<Url> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let (scheme, rest) = match s.find("://") {
            Some(p)
                if p > 0
                    && s[..p]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
            {
                (s[..p].to_ascii_lowercase(), &s[p + 3..])
            }
            _ => ("http".to_string(), s),
        };
        let rest = rest.split('#').next().unwrap_or(rest);
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(auth_end);
        let (user, hostport) = match authority.rfind('@') {
            Some(p) => {
                let ui = &authority[..p];
                let user = ui.split(':').next().unwrap_or(ui).to_string();
                (Some(user), &authority[p + 1..])
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // IPv6 literal
            let end = h.find(']').unwrap_or(h.len());
            let port = h.get(end + 1..).and_then(|p| p.strip_prefix(':'));
            (h[..end].to_string(), port.map(str::to_string))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                    (h.to_string(), Some(p.to_string()))
                }
                _ => (hostport.to_string(), None),
            }
        };
        if host.is_empty() && scheme != "file" {
            return None;
        }
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (tail.to_string(), None),
        };
        Some(Url {
            scheme,
            user,
            host: host.to_ascii_lowercase(),
            port,
            path: if path.is_empty() { "/".into() } else { path },
            query,
        })
    }

    /// The URL with any password removed (`postgres://app@db/x`), as policies match it.
    pub fn without_password(&self) -> String {
        let mut s = format!("{}://", self.scheme);
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(p) = &self.port {
            s.push(':');
            s.push_str(p);
        }
        s.push_str(&self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s
    }
}

/// Removes the password from any `scheme://user:pass@host` in a string.
pub fn strip_credentials(url: &str) -> String {
    match Url::parse(url) {
        Some(u) if url.contains("://") => u.without_password(),
        _ => url.to_string(),
    }
}

/// Decodes `%XX` and `+` in a query-string component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| char::from(c).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
