//! `curl`'s argv into a request.

use super::*;

pub(super) fn decode_curl(args: &[String]) -> Option<ApiRequest> {
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
    Some(client_request(Some(method), &url, &headers, body))
}
