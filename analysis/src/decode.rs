//! HTTP requests out of command lines and proxy captures, and GraphQL operations out of bodies.
//!
//! - [`decode_argv`]: `curl`, `wget`, HTTPie (`http`, `https`) and `xh` argv into an
//!   [`ApiRequest`] (method, URL, headers, body), seeing through wrappers (`sudo`, `bash -c`).
//! - [`decode_http`]: a request seen by the proxy.
//! - [`parse_graphql`]: operation type, operation name and root fields (aliases resolved,
//!   fragments followed) of a GraphQL document; batched and GET (`?query=`) requests included.
//!
//! Nothing here fails: what cannot be decoded is left out (`None`), never guessed.

use flightlog_formats::payload::{self, ApiCall};
use serde_json::{Map, Value, json};

use crate::shell;

/// One HTTP request, decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiRequest {
    /// Upper case (`GET`, `POST`, ...).
    pub method: String,
    pub url: String,
    /// Lower case, without port.
    pub host: String,
    /// Path without the query string (`/graphql/v2`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub graphql: Option<GraphQl>,
}

/// A decoded GraphQL operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphQl {
    /// `query`, `mutation` or `subscription`.
    pub operation_type: String,
    pub operation_name: Option<String>,
    /// Root fields of the operation, aliases resolved (`x: volumeDelete` → `volumeDelete`).
    pub root_fields: Vec<String>,
    /// The request's `variables` (`null` when absent).
    pub variables: Value,
}

impl ApiRequest {
    /// The api_call data convention:
    /// `{"method","url","host","path","status","request_headers","request_body","response_body","graphql","via_seq"}`.
    pub fn to_data(&self) -> Value {
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            let k = k.to_ascii_lowercase();
            match headers.get_mut(&k) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k, Value::String(v.clone()));
                }
            }
        }
        json!({
            "method": self.method,
            "url": self.url,
            "host": self.host,
            "path": self.path,
            "status": Value::Null,
            "request_headers": headers,
            "request_body": self.body,
            "response_body": Value::Null,
            "graphql": self.graphql.as_ref().map(GraphQl::to_data),
            "via_seq": Value::Null,
        })
    }

    /// Reads an api_call event's data back (GraphQL re-decoded from the body when the event
    /// has none).
    pub fn from_data(data: &Value) -> Option<ApiRequest> {
        Self::from_payload(&ApiCall::from_value(data))
    }

    /// Reads a typed `api_call` payload back (see [`ApiRequest::from_data`]).
    pub fn from_payload(a: &ApiCall) -> Option<ApiRequest> {
        let url = a.url.as_deref().unwrap_or("");
        let method = a.method.as_deref().unwrap_or("");
        let host = a.host.as_deref();
        if url.is_empty() && host.is_none() && !a.rest.contains_key("host") {
            return None;
        }
        let headers: Vec<(String, String)> = a
            .request_headers
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        let body = a.request_body.as_deref().unwrap_or("");
        let url = if url.is_empty() {
            // CONNECT-only records carry a host (and maybe a port).
            format!("https://{}", host.unwrap_or(""))
        } else {
            url.to_string()
        };
        let mut req = decode_http(method, &url, &headers, body.as_bytes());
        if let Some(h) = host
            && req.host.is_empty()
        {
            req.host = h.to_ascii_lowercase();
        }
        if let Some(g) = &a.graphql {
            req.graphql = Some(GraphQl::from_payload(g));
        }
        Some(req)
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the request changes something: not GET/HEAD/OPTIONS, and not a GraphQL query.
    pub fn is_mutating(&self) -> bool {
        if let Some(g) = &self.graphql {
            return g.operation_type == "mutation";
        }
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "")
    }
}

impl GraphQl {
    pub fn to_data(&self) -> Value {
        json!({
            "operation_type": self.operation_type,
            "operation_name": self.operation_name,
            "root_fields": self.root_fields,
            "variables": self.variables,
        })
    }

    pub fn from_data(v: &Value) -> Option<GraphQl> {
        v.is_object()
            .then(|| GraphQl::from_payload(&payload::GraphQl::from_value(v)))
    }

    /// Reads the typed `graphql` facts of an `api_call` payload.
    pub fn from_payload(g: &payload::GraphQl) -> GraphQl {
        GraphQl {
            operation_type: g.operation_type.clone().unwrap_or_else(|| "query".into()),
            operation_name: g.operation_name.clone(),
            root_fields: g.root_fields.clone().unwrap_or_default(),
            variables: g.variables.clone().unwrap_or(Value::Null),
        }
    }
}

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

const HTTP_CLIENTS: [&str; 6] = ["curl", "wget", "http", "https", "xh", "xhs"];

/// Decodes an HTTP client's argv (`curl`, `wget`, `http`/`https`, `xh`), seeing through
/// wrappers (`sudo`, `env`, `bash -c '..'`). `None` when the argv is not an HTTP request.
pub fn decode_argv(argv: &[String]) -> Option<ApiRequest> {
    let prog = argv.first().map(|p| shell::basename(p))?;
    if HTTP_CLIENTS.contains(&prog) {
        return decode_client(prog, &argv[1..]);
    }
    shell::from_argv(argv).into_iter().find_map(|c| {
        let p = c.program();
        if HTTP_CLIENTS.contains(&p) {
            decode_client(p, &c.argv[1..])
        } else {
            None
        }
    })
}

fn decode_client(prog: &str, args: &[String]) -> Option<ApiRequest> {
    match prog {
        "curl" => decode_curl(args),
        "wget" => decode_wget(args),
        _ => decode_httpie(prog, args),
    }
}

fn split_header(h: &str) -> Option<(String, String)> {
    let (k, v) = h.split_once(':')?;
    let k = k.trim();
    if k.is_empty() || k.contains(' ') {
        return None;
    }
    Some((k.to_string(), v.trim().to_string()))
}

fn decode_curl(args: &[String]) -> Option<ApiRequest> {
    // Short options that take a value.
    const SHORT_ARG: &str = "XHdFuoAebcxmwTKErzYyCUQtP";
    const LONG_ARG: [&str; 45] = [
        "--request",
        "--header",
        "--data",
        "--data-raw",
        "--data-binary",
        "--data-ascii",
        "--data-urlencode",
        "--json",
        "--user",
        "--output",
        "--user-agent",
        "--referer",
        "--cookie",
        "--cookie-jar",
        "--form",
        "--form-string",
        "--url",
        "--proxy",
        "--connect-timeout",
        "--max-time",
        "--retry",
        "--write-out",
        "--upload-file",
        "--config",
        "--cacert",
        "--cert",
        "--key",
        "--range",
        "--resolve",
        "--oauth2-bearer",
        "--aws-sigv4",
        "--proxy-user",
        "--max-redirs",
        "--limit-rate",
        "--interface",
        "--unix-socket",
        "--connect-to",
        "--retry-delay",
        "--retry-max-time",
        "--capath",
        "--dns-servers",
        "--quote",
        "--time-cond",
        "--variable",
        "--expand-data",
    ];
    let mut method: Option<String> = None;
    let mut headers = Vec::new();
    let mut data: Vec<String> = Vec::new();
    let mut url: Option<String> = None;
    let mut get = false;
    let mut head = false;
    let mut upload = false;
    let mut form = false;
    let mut json_flag = false;
    let mut i = 0;
    let mut opts: Vec<(String, String)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut after_dashdash = false;
    while i < args.len() {
        let a = &args[i];
        if after_dashdash || !a.starts_with('-') || a == "-" {
            if a != "-" {
                positional.push(a.clone());
            }
            i += 1;
            continue;
        }
        if a == "--" {
            after_dashdash = true;
            i += 1;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (a.clone(), None),
            };
            match name.as_str() {
                "--get" => get = true,
                "--head" => head = true,
                _ => {}
            }
            if LONG_ARG.contains(&name.as_str()) {
                let val = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i).cloned().unwrap_or_default()
                    }
                };
                opts.push((name, val));
            }
            i += 1;
            continue;
        }
        // A cluster of short options: `-sSX POST`, `-XPOST`, `-sd@body.json`.
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match c {
                'G' => get = true,
                'I' => head = true,
                _ => {}
            }
            if SHORT_ARG.contains(c) {
                let rest: String = chars[j + 1..].iter().collect();
                let val = if rest.is_empty() {
                    i += 1;
                    args.get(i).cloned().unwrap_or_default()
                } else {
                    rest
                };
                opts.push((c.to_string(), val));
                break;
            }
            j += 1;
        }
        i += 1;
    }
    for (name, val) in &opts {
        let val = val.as_str();
        match name.as_str() {
            "X" | "--request" => method = Some(val.to_ascii_uppercase()),
            "H" | "--header" => {
                if let Some(h) = split_header(val) {
                    headers.push(h);
                }
            }
            "d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii"
            | "--data-urlencode" => data.push(val.to_string()),
            "--json" => {
                json_flag = true;
                data.push(val.to_string());
            }
            "F" | "--form" | "--form-string" => {
                form = true;
                data.push(val.to_string());
            }
            "u" | "--user" => headers.push(("Authorization".into(), format!("Basic {val}"))),
            "--oauth2-bearer" => headers.push(("Authorization".into(), format!("Bearer {val}"))),
            "--url" if url.is_none() => url = Some(val.to_string()),
            "T" | "--upload-file" => upload = true,
            _ => {}
        }
    }
    if url.is_none() {
        url = positional.into_iter().next();
    }
    let mut url = url?;
    let mut body = if data.is_empty() {
        None
    } else {
        Some(data.join("&"))
    };
    if json_flag
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let method = if let Some(m) = method {
        m
    } else if head {
        "HEAD".into()
    } else if get {
        if let Some(b) = body.take() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&b);
        }
        "GET".into()
    } else if upload {
        "PUT".into()
    } else if body.is_some() || form {
        "POST".into()
    } else {
        "GET".into()
    };
    Some(decode_http(
        &method,
        &url,
        &headers,
        body.as_deref().unwrap_or("").as_bytes(),
    ))
    .map(|mut r| {
        if body.is_none() {
            r.body = None;
        }
        r
    })
}

fn decode_wget(args: &[String]) -> Option<ApiRequest> {
    const WITH_ARG: [&str; 12] = [
        "-O", "-o", "-a", "-e", "-t", "-T", "-w", "-U", "-P", "-i", "-B", "-Q",
    ];
    let mut method: Option<String> = None;
    let mut headers = Vec::new();
    let mut body: Option<String> = None;
    let mut url = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            };
            let takes = matches!(
                name.as_str(),
                "method"
                    | "post-data"
                    | "body-data"
                    | "header"
                    | "post-file"
                    | "body-file"
                    | "output-document"
                    | "user"
                    | "password"
                    | "user-agent"
            );
            let val = if takes {
                inline.or_else(|| {
                    i += 1;
                    args.get(i).cloned()
                })
            } else {
                None
            }
            .unwrap_or_default();
            match name.as_str() {
                "method" => method = Some(val.to_ascii_uppercase()),
                "post-data" | "body-data" => body = Some(val),
                "post-file" | "body-file" => body = Some(format!("@{val}")),
                "header" => {
                    if let Some(h) = split_header(&val) {
                        headers.push(h);
                    }
                }
                _ => {}
            }
        } else if a.starts_with('-') && a.len() > 1 {
            if WITH_ARG.contains(&a.as_str()) {
                i += 1;
            }
        } else if url.is_none() {
            url = Some(a.clone());
        }
        i += 1;
    }
    let url = url?;
    let method = method.unwrap_or_else(|| {
        if body.is_some() {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let mut r = decode_http(
        &method,
        &url,
        &headers,
        body.as_deref().unwrap_or("").as_bytes(),
    );
    if body.is_none() {
        r.body = None;
    }
    Some(r)
}

fn decode_httpie(prog: &str, args: &[String]) -> Option<ApiRequest> {
    const WITH_ARG: [&str; 14] = [
        "-a",
        "--auth",
        "-A",
        "--auth-type",
        "--verify",
        "--timeout",
        "-o",
        "--output",
        "--session",
        "--cert",
        "--cert-key",
        "--proxy",
        "-p",
        "--print",
    ];
    let mut method: Option<String> = None;
    let mut url: Option<String> = None;
    let mut headers = Vec::new();
    let mut fields = Map::new();
    let mut query: Vec<String> = Vec::new();
    let mut form = false;
    let mut raw: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.starts_with('-') && a.len() > 1 {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            if name == "-f" || name == "--form" {
                form = true;
            }
            if name == "--raw" {
                raw = inline.or_else(|| {
                    i += 1;
                    args.get(i).cloned()
                });
            } else if WITH_ARG.contains(&name.as_str()) && inline.is_none() {
                let v = args.get(i + 1).cloned().unwrap_or_default();
                if name == "-a" || name == "--auth" {
                    headers.push(("Authorization".into(), format!("Basic {v}")));
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if url.is_none() {
            if method.is_none()
                && a.len() <= 7
                && a.chars().all(|c| c.is_ascii_uppercase())
                && args.len() > i + 1
            {
                method = Some(a.clone());
            } else {
                url = Some(a.clone());
            }
            i += 1;
            continue;
        }
        // Request items, in HTTPie's precedence: `==`, `:=`, `=`, `:` (header), `@`.
        if let Some((k, v)) = a.split_once("==") {
            query.push(format!("{k}={v}"));
        } else if let Some((k, v)) = a.split_once(":=") {
            let val = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
            fields.insert(k.to_string(), val);
        } else if let Some((k, v)) = a.split_once('=')
            && !k.contains(':')
        {
            fields.insert(k.to_string(), Value::String(v.to_string()));
        } else if let Some(h) = split_header(a) {
            headers.push(h);
        }
        i += 1;
    }
    let mut url = url?;
    if url.starts_with(':') {
        url = format!("localhost{url}");
    }
    if !url.contains("://") {
        let scheme = if prog == "https" || prog == "xhs" {
            "https"
        } else {
            "http"
        };
        url = format!("{scheme}://{url}");
    }
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    let body = raw.or_else(|| {
        if fields.is_empty() {
            None
        } else if form {
            Some(
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(&v.to_string())))
                    .collect::<Vec<_>>()
                    .join("&"),
            )
        } else {
            Some(Value::Object(fields).to_string())
        }
    });
    let method = method.unwrap_or_else(|| {
        if body.is_some() {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let mut r = decode_http(
        &method,
        &url,
        &headers,
        body.as_deref().unwrap_or("").as_bytes(),
    );
    if body.is_none() {
        r.body = None;
    }
    Some(r)
}

/// Builds an [`ApiRequest`] from a request seen on the wire (or reconstructed), decoding GraphQL
/// when the body or query string carries an operation.
pub fn decode_http(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> ApiRequest {
    let parsed = Url::parse(url);
    let body_text = String::from_utf8_lossy(body).into_owned();
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let mut graphql = graphql_from_body(&body_text, &content_type);
    if graphql.is_none()
        && let Some(q) = parsed.as_ref().and_then(|u| u.query.as_deref())
    {
        graphql = graphql_from_query_string(q);
    }
    ApiRequest {
        method: if method.is_empty() {
            "GET".into()
        } else {
            method.to_ascii_uppercase()
        },
        url: url.to_string(),
        host: parsed.as_ref().map(|u| u.host.clone()).unwrap_or_default(),
        path: parsed.as_ref().map(|u| u.path.clone()).unwrap_or_default(),
        headers: headers.to_vec(),
        body: if body.is_empty() {
            None
        } else {
            Some(body_text)
        },
        graphql,
    }
}

/// A GraphQL operation in a request body: JSON `{"query", "operationName", "variables"}`, a
/// batch (a JSON array of those), or a bare document (`application/graphql`).
pub fn graphql_from_body(body: &str, content_type: &str) -> Option<GraphQl> {
    let t = body.trim();
    if t.is_empty() {
        return None;
    }
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(t) {
            return graphql_from_json(&v);
        }
        // Not valid JSON (a shell variable spliced in, a truncated excerpt): find the query.
        return graphql_from_broken_json(t);
    }
    if content_type.contains("graphql") || looks_like_document(t) {
        return parse_graphql(t, None, Value::Null);
    }
    None
}

fn looks_like_document(t: &str) -> bool {
    let first = t
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    matches!(first, "mutation" | "query" | "subscription") && t.contains('{')
}

fn graphql_from_json(v: &Value) -> Option<GraphQl> {
    match v {
        Value::Array(items) => {
            let ops: Vec<GraphQl> = items.iter().filter_map(graphql_from_json).collect();
            let mut merged = ops.first()?.clone();
            for op in &ops[1..] {
                if op.operation_type == "mutation" {
                    merged.operation_type = "mutation".into();
                }
                merged.root_fields.extend(op.root_fields.iter().cloned());
            }
            merged.variables = Value::Array(ops.iter().map(|o| o.variables.clone()).collect());
            Some(merged)
        }
        Value::Object(o) => {
            let q = o.get("query").and_then(Value::as_str)?;
            let name = o.get("operationName").and_then(Value::as_str);
            let vars = match o.get("variables") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
                Some(v) => v.clone(),
                None => Value::Null,
            };
            parse_graphql(q, name, vars)
        }
        _ => None,
    }
}

fn graphql_from_broken_json(t: &str) -> Option<GraphQl> {
    let start = t.find("\"query\"")?;
    let rest = &t[start + 7..];
    let colon = rest.find(':')?;
    let rest = rest[colon + 1..].trim_start();
    let rest = rest.strip_prefix('"')?;
    // Read a JSON string body up to the closing unescaped quote.
    let mut end = None;
    let mut esc = false;
    for (i, c) in rest.char_indices() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == '"' {
            end = Some(i);
            break;
        }
    }
    let raw = &rest[..end.unwrap_or(rest.len())];
    let q: String =
        serde_json::from_str(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.replace("\\\"", "\""));
    parse_graphql(&q, None, Value::Null)
}

fn graphql_from_query_string(q: &str) -> Option<GraphQl> {
    let mut query = None;
    let mut name = None;
    let mut vars = Value::Null;
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "query" => query = Some(v),
            "operationName" => name = Some(v),
            "variables" => vars = serde_json::from_str(&v).unwrap_or(Value::Null),
            _ => {}
        }
    }
    parse_graphql(&query?, name.as_deref(), vars)
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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Punct(char),
    Spread,
    Other,
}

fn gql_tokens(src: &str) -> Vec<Tok> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() || c == ',' || c == '\u{feff}' {
            i += 1;
        } else if c == '#' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            if s[i..].starts_with(&['"', '"', '"']) {
                i += 3;
                while i < s.len() && !s[i..].starts_with(&['"', '"', '"']) {
                    i += if s[i] == '\\' { 2 } else { 1 };
                }
                i += 3;
            } else {
                i += 1;
                while i < s.len() && s[i] != '"' {
                    i += if s[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            out.push(Tok::Other);
        } else if c == '.' && s[i..].starts_with(&['.', '.', '.']) {
            out.push(Tok::Spread);
            i += 3;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let st = i;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(s[st..i].iter().collect()));
        } else if "{}()[]:=@$!".contains(c) {
            out.push(Tok::Punct(c));
            i += 1;
        } else {
            // numbers and anything else
            while i < s.len() && !s[i].is_whitespace() && !"{}()[]:=@$!,\"#".contains(s[i]) {
                i += 1;
            }
            if i == 0 || out.is_empty() || !matches!(out.last(), Some(Tok::Other)) {
                out.push(Tok::Other);
            }
            if i < s.len() && s[i] == c {
                i += 1;
            }
        }
    }
    out
}

struct Operation {
    kind: String,
    name: Option<String>,
    selection: (usize, usize),
}

/// Parses a GraphQL document: picks the operation named `operation_name` (else the only one,
/// else the first mutation, else the first) and returns its type and root fields.
pub fn parse_graphql(
    document: &str,
    operation_name: Option<&str>,
    variables: Value,
) -> Option<GraphQl> {
    let toks = gql_tokens(document);
    let mut ops: Vec<Operation> = Vec::new();
    let mut fragments: Vec<(String, (usize, usize))> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => {
                let end = matching(&toks, i)?;
                ops.push(Operation {
                    kind: "query".into(),
                    name: None,
                    selection: (i + 1, end),
                });
                i = end + 1;
            }
            Tok::Name(n) if n == "query" || n == "mutation" || n == "subscription" => {
                let kind = n.clone();
                let mut j = i + 1;
                let name = match toks.get(j) {
                    Some(Tok::Name(nm)) => {
                        j += 1;
                        Some(nm.clone())
                    }
                    _ => None,
                };
                // variable definitions, directives: skip to the selection set
                while j < toks.len() && toks[j] != Tok::Punct('{') {
                    if toks[j] == Tok::Punct('(') {
                        j = matching(&toks, j)?;
                    }
                    j += 1;
                }
                let end = matching(&toks, j)?;
                ops.push(Operation {
                    kind,
                    name,
                    selection: (j + 1, end),
                });
                i = end + 1;
            }
            Tok::Name(n) if n == "fragment" => {
                let name = match toks.get(i + 1) {
                    Some(Tok::Name(nm)) => nm.clone(),
                    _ => String::new(),
                };
                let mut j = i + 1;
                while j < toks.len() && toks[j] != Tok::Punct('{') {
                    j += 1;
                }
                let end = matching(&toks, j)?;
                fragments.push((name, (j + 1, end)));
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    let op = match operation_name {
        Some(n) => ops
            .iter()
            .find(|o| o.name.as_deref() == Some(n))
            .or_else(|| ops.first()),
        None if ops.len() == 1 => ops.first(),
        None => ops
            .iter()
            .find(|o| o.kind == "mutation")
            .or_else(|| ops.first()),
    }?;
    let mut fields = Vec::new();
    root_fields(&toks, op.selection, &fragments, &mut fields, 0);
    Some(GraphQl {
        operation_type: op.kind.clone(),
        operation_name: op.name.clone(),
        root_fields: fields,
        variables,
    })
}

/// Index of the bracket closing the one at `open`.
fn matching(toks: &[Tok], open: usize) -> Option<usize> {
    let (o, c) = match toks.get(open)? {
        Tok::Punct('{') => ('{', '}'),
        Tok::Punct('(') => ('(', ')'),
        Tok::Punct('[') => ('[', ']'),
        _ => return None,
    };
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if *t == Tok::Punct(o) {
            depth += 1;
        } else if *t == Tok::Punct(c) {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    // Unclosed (a truncated excerpt): take the rest.
    Some(toks.len())
}

fn root_fields(
    toks: &[Tok],
    (start, end): (usize, usize),
    fragments: &[(String, (usize, usize))],
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let end = end.min(toks.len());
    let mut i = start;
    while i < end {
        match &toks[i] {
            Tok::Spread => {
                match toks.get(i + 1) {
                    Some(Tok::Name(n)) if n == "on" => {
                        // inline fragment: `... on Mutation { x }`
                        let mut j = i + 2;
                        while j < end && toks[j] != Tok::Punct('{') {
                            j += 1;
                        }
                        let Some(close) = matching(toks, j) else {
                            return;
                        };
                        root_fields(toks, (j + 1, close), fragments, out, depth + 1);
                        i = close + 1;
                    }
                    Some(Tok::Name(n)) => {
                        if let Some((_, sel)) = fragments.iter().find(|(f, _)| f == n) {
                            root_fields(toks, *sel, fragments, out, depth + 1);
                        }
                        i += 2;
                    }
                    Some(Tok::Punct('{')) | Some(Tok::Punct('@')) => {
                        let mut j = i + 1;
                        while j < end && toks[j] != Tok::Punct('{') {
                            j += 1;
                        }
                        let Some(close) = matching(toks, j) else {
                            return;
                        };
                        root_fields(toks, (j + 1, close), fragments, out, depth + 1);
                        i = close + 1;
                    }
                    _ => i += 1,
                }
            }
            Tok::Name(n) => {
                let mut field = n.clone();
                let mut j = i + 1;
                if toks.get(j) == Some(&Tok::Punct(':'))
                    && let Some(Tok::Name(real)) = toks.get(j + 1)
                {
                    field = real.clone();
                    j += 2;
                }
                if !out.contains(&field) {
                    out.push(field);
                }
                // arguments, directives, sub-selection
                loop {
                    match toks.get(j) {
                        Some(Tok::Punct('(')) | Some(Tok::Punct('{')) => {
                            j = matching(toks, j).unwrap_or(end) + 1;
                        }
                        Some(Tok::Punct('@')) => j += 2,
                        _ => break,
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_incident_curl() {
        let argv = v(&[
            "curl",
            "-X",
            "POST",
            "https://backboard.railway.app/graphql/v2",
            "-H",
            "Authorization: Bearer [REDACTED:bearer-token:0123456789abcdef]",
            "-d",
            r#"{"query":"mutation { volumeDelete(volumeId: \"3d2c42fb-1111-2222-3333-444455556666\") }"}"#,
        ]);
        let r = decode_argv(&argv).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.host, "backboard.railway.app");
        assert_eq!(r.path, "/graphql/v2");
        assert_eq!(
            r.header("authorization"),
            Some("Bearer [REDACTED:bearer-token:0123456789abcdef]")
        );
        let g = r.graphql.clone().unwrap();
        assert_eq!(g.operation_type, "mutation");
        assert_eq!(g.root_fields, v(&["volumeDelete"]));
        assert!(r.is_mutating());
        let d = r.to_data();
        assert_eq!(d["graphql"]["root_fields"][0], "volumeDelete");
        assert_eq!(
            d["request_headers"]["authorization"],
            r.header("Authorization").unwrap()
        );
        assert_eq!(ApiRequest::from_data(&d).unwrap().graphql, r.graphql);
    }

    #[test]
    fn curl_flag_forms() {
        let r = decode_argv(&v(&["curl", "-sSXDELETE", "api.heroku.com/apps/x"])).unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_str(), r.path.as_str()),
            ("DELETE", "api.heroku.com", "/apps/x")
        );
        let r = decode_argv(&v(&["curl", "--request=PUT", "--url", "https://a.b/c?d=1"])).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("PUT", "/c"));
        let r = decode_argv(&v(&["curl", "https://a.b/", "--json", r#"{"x":1}"#])).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let r = decode_argv(&v(&["curl", "-G", "https://a.b/s", "-d", "q=1"])).unwrap();
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("GET", "https://a.b/s?q=1")
        );
        let r = decode_argv(&v(&["curl", "-I", "https://a.b/"])).unwrap();
        assert_eq!(r.method, "HEAD");
        let r = decode_argv(&v(&[
            "sudo",
            "bash",
            "-c",
            "curl -XPOST https://a.b/graphql -d '{\"query\":\"{ me { id } }\"}'",
        ]))
        .unwrap();
        assert_eq!(r.graphql.unwrap().operation_type, "query");
        assert!(decode_argv(&v(&["curl", "--version"])).is_none());
        assert!(decode_argv(&v(&["ls", "-l"])).is_none());
    }

    #[test]
    fn wget_and_httpie() {
        let r = decode_argv(&v(&[
            "wget",
            "-qO-",
            "--method=DELETE",
            "--header=Authorization: Bearer x",
            "https://console.neon.tech/api/v2/projects/p1",
        ]))
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_str()),
            ("DELETE", "console.neon.tech")
        );
        let r = decode_argv(&v(&[
            "wget",
            "--post-data",
            "Action=DeleteDBInstance&SkipFinalSnapshot=true",
            "https://rds.us-east-1.amazonaws.com/",
        ]))
        .unwrap();
        assert_eq!(r.method, "POST");
        let r = decode_argv(&v(&[
            "http",
            "DELETE",
            "api.supabase.com/v1/projects/abc",
            "Authorization:Bearer x",
        ]))
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("DELETE", "http://api.supabase.com/v1/projects/abc")
        );
        assert_eq!(r.header("Authorization"), Some("Bearer x"));
        let r = decode_argv(&v(&[
            "https",
            "backboard.railway.com/graphql/v2",
            "query=mutation { a: environmentDelete(id: \"e\") }",
        ]))
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.graphql.unwrap().root_fields, v(&["environmentDelete"]));
        let r = decode_argv(&v(&["xh", ":8080/items", "limit==5"])).unwrap();
        assert_eq!(r.url, "http://localhost:8080/items?limit=5");
    }

    #[test]
    fn graphql_forms() {
        let g = parse_graphql(
            "mutation VolumeInstanceBackupDelete($a: String!, $b: String!) {\n  x: volumeInstanceBackupDelete(volumeInstanceId: $a, volumeInstanceBackupId: $b) { workflowId }\n  # volumeDelete(volumeId: \"no\")\n  serviceDelete(environmentId: \"e\", id: \"s\") @include(if: true)\n}",
            None,
            Value::Null,
        )
        .unwrap();
        assert_eq!(
            g.operation_name.as_deref(),
            Some("VolumeInstanceBackupDelete")
        );
        assert_eq!(
            g.root_fields,
            v(&["volumeInstanceBackupDelete", "serviceDelete"])
        );

        let doc = "query Q { me { id } } mutation M { projectDelete(id: \"p\") } mutation N { ...F } fragment F on Mutation { volumeDelete(volumeId: \"v\") }";
        assert_eq!(
            parse_graphql(doc, Some("Q"), Value::Null)
                .unwrap()
                .operation_type,
            "query"
        );
        assert_eq!(
            parse_graphql(doc, Some("N"), Value::Null)
                .unwrap()
                .root_fields,
            v(&["volumeDelete"])
        );
        assert_eq!(
            parse_graphql(doc, None, Value::Null).unwrap().root_fields,
            v(&["projectDelete"])
        );

        let g = graphql_from_body(r#"{"query":"mutation VolumeDelete($id: String!) { volumeDelete(volumeId: $id) }","variables":{"id":"3d2c42fb-x"},"operationName":"VolumeDelete"}"#, "").unwrap();
        assert_eq!(g.variables["id"], "3d2c42fb-x");
        let g = graphql_from_body(
            r#"[{"query":"{ me { id } }"},{"query":"mutation { environmentDelete(id: \"e\") }"}]"#,
            "",
        )
        .unwrap();
        assert_eq!(g.operation_type, "mutation");
        // A body that is not valid JSON (a shell variable spliced in).
        let g = graphql_from_body(
            r#"{"query":"mutation { volumeDelete(volumeId: \"$VOL\") }", "variables": $VARS}"#,
            "",
        )
        .unwrap();
        assert_eq!(g.root_fields, v(&["volumeDelete"]));
        // String arguments mentioning a mutation are not fields.
        let g = parse_graphql(
            r#"query { search(text: "volumeDelete") { id } }"#,
            None,
            Value::Null,
        )
        .unwrap();
        assert_eq!(g.root_fields, v(&["search"]));
        let r = decode_http(
            "GET",
            "https://x/graphql?query=mutation%20%7B%20projectDelete(id%3A%221%22)%20%7D",
            &[],
            b"",
        );
        assert_eq!(r.graphql.unwrap().root_fields, v(&["projectDelete"]));
    }

    #[test]
    fn urls() {
        let u = Url::parse("postgres://app:[REDACTED:url-password:00]@db.prod.example.com:5432/main?sslmode=require").unwrap();
        assert_eq!(u.host, "db.prod.example.com");
        assert_eq!(
            u.without_password(),
            "postgres://app@db.prod.example.com:5432/main?sslmode=require"
        );
        assert_eq!(Url::parse("[::1]:8080/x").unwrap().host, "::1");
    }
}
