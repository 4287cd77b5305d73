//! HTTPie's argv (`http`, `https`) and `xh`'s into a request.

use super::*;

pub(super) fn decode_httpie(prog: &str, args: &[String]) -> Option<ApiRequest> {
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
    Some(client_request(method, &url, &headers, body))
}
