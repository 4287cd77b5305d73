//! How a rule group matches: a simple command (program, subcommand, flags, operands), an
//! HTTP request (method, host, path, GraphQL root field, AWS action).

use super::*;

/// Whether a flag spec (`-r|-R|--recursive`) is present in the args.
pub(super) fn flag_present(spec: &str, args: &[String]) -> bool {
    spec.split('|').any(|alt| {
        args.iter().any(|a| {
            if a == alt {
                return true;
            }
            if alt.len() > 2 || alt.starts_with("--") {
                // long flag (or single-dash long like terraform's -destroy): `--x=v`, `-x=v`
                return a.starts_with(alt) && a[alt.len()..].starts_with('=');
            }
            // single short flag inside a cluster: -rf, -fR
            let Some(c) = alt.strip_prefix('-').and_then(|s| s.chars().next()) else {
                return false;
            };
            a.starts_with('-')
                && !a.starts_with("--")
                && a.len() > 2
                && a[1..].chars().all(|x| x.is_ascii_alphabetic())
                && a[1..].contains(c)
        })
    })
}

pub(super) fn command_matches(g: &Group, cmd: &SimpleCommand, wt: &WorkTree) -> bool {
    let r = &g.raw;
    let prog = cmd.program();
    if !r
        .program
        .iter()
        .any(|p| glob::matches(p, prog) || glob::matches(p, &cmd.argv[0]))
    {
        return false;
    }
    let args = &cmd.argv[1..];
    // Asking for help is never destructive.
    if args.iter().any(|a| a == "--help" || a == "-help") {
        return false;
    }
    let positional: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-') || *a == "-")
        .collect();
    if !r.words.is_empty() {
        if r.anchored {
            if positional.len() < r.words.len()
                || !r
                    .words
                    .iter()
                    .zip(&positional)
                    .all(|(w, p)| glob::any_alt(w, p))
            {
                return false;
            }
        } else {
            let mut it = positional.iter();
            for w in &r.words {
                if !it.any(|p| glob::any_alt(w, p)) {
                    return false;
                }
            }
        }
    }
    if !r.flags_all.iter().all(|f| flag_present(f, args)) {
        return false;
    }
    if !r.flags_any.is_empty() && !r.flags_any.iter().any(|f| flag_present(f, args)) {
        return false;
    }
    if r.flags_none.iter().any(|f| flag_present(f, args)) {
        return false;
    }
    if !g.arg_any.is_empty()
        && !g
            .arg_any
            .iter()
            .any(|re| args.iter().any(|a| re.is_match(a)))
    {
        return false;
    }
    if r.outside_worktree {
        let operands: Vec<&str> = if prog == "find" {
            positional_before_expression(args)
        } else if prog == "rsync" {
            // the destination is the one that loses files
            positional.last().into_iter().copied().collect()
        } else {
            positional.clone()
        };
        if !operands.iter().any(|p| outside_worktree(p, wt)) {
            return false;
        }
    }
    true
}

pub(super) fn positional_before_expression(args: &[String]) -> Vec<&str> {
    let mut v = Vec::new();
    for a in args {
        if a.starts_with('-') || a == "(" || a == "!" {
            if matches!(a.as_str(), "-H" | "-L" | "-P") {
                continue;
            }
            break;
        }
        v.push(a.as_str());
    }
    if v.is_empty() {
        v.push(".");
    }
    v
}

pub(super) fn http_matches(g: &Group, req: &ApiRequest) -> bool {
    let r = &g.raw;
    if !r.graphql.is_empty() {
        let Some(gq) = &req.graphql else { return false };
        if gq.operation_type != "mutation"
            || !gq
                .root_fields
                .iter()
                .any(|f| r.graphql.iter().any(|x| x == f))
        {
            return false;
        }
    }
    if !r.http_method.is_empty()
        && !r
            .http_method
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&req.method))
    {
        return false;
    }
    if !r.http_host.is_empty() && !r.http_host.iter().any(|h| glob::matches_ci(h, &req.host)) {
        return false;
    }
    if !r.http_path.is_empty()
        && !r
            .http_path
            .iter()
            .any(|p| glob::matches(p, req.path.trim_end_matches('/')))
    {
        return false;
    }
    if !g.url_any.is_empty() && !g.url_any.iter().any(|re| re.is_match(&req.url)) {
        return false;
    }
    if !r.aws_action.is_empty() {
        let action = aws_action(req);
        if !action.is_some_and(|a| r.aws_action.contains(&a)) {
            return false;
        }
    }
    let body = req.body.as_deref().unwrap_or("");
    let body_and_query = format!(
        "{body}&{}",
        req.url.split_once('?').map(|x| x.1).unwrap_or("")
    );
    if !g.body_all.iter().all(|re| re.is_match(&body_and_query)) {
        return false;
    }
    true
}

/// The AWS API action of a request: `Action=` (query protocol, body or URL) or the operation in
/// `X-Amz-Target` (`DynamoDB_20120810.DeleteTable` → `DeleteTable`).
pub fn aws_action(req: &ApiRequest) -> Option<String> {
    if let Some(t) = req.header("x-amz-target") {
        return t.rsplit('.').next().map(str::to_string);
    }
    let query = req.url.split_once('?').map(|x| x.1).unwrap_or("");
    let body = req.body.as_deref().unwrap_or("");
    for part in body.split('&').chain(query.split('&')) {
        if let Some(v) = part.trim().strip_prefix("Action=") {
            return Some(percent_decode(v));
        }
    }
    None
}
