//! `wget`'s argv into a request.

use super::*;

pub(super) fn decode_wget(args: &[String]) -> Option<ApiRequest> {
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
    Some(client_request(method, &url, &headers, body))
}
