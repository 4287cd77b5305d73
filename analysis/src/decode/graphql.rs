//! GraphQL operations in a request: JSON bodies, batches, bare documents, query strings,
//! and broken JSON; a tolerant tokenizer and the root fields of each operation.

use super::*;

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

pub(super) fn looks_like_document(t: &str) -> bool {
    let first = t
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    matches!(first, "mutation" | "query" | "subscription") && t.contains('{')
}

pub(super) fn graphql_from_json(v: &Value) -> Option<GraphQl> {
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

pub(super) fn graphql_from_broken_json(t: &str) -> Option<GraphQl> {
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

pub(super) fn graphql_from_query_string(q: &str) -> Option<GraphQl> {
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

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Name(String),
    Punct(char),
    Spread,
    Other,
}

pub(super) fn gql_tokens(src: &str) -> Vec<Tok> {
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

pub(super) struct Operation {
    pub(super) kind: String,
    pub(super) name: Option<String>,
    pub(super) selection: (usize, usize),
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
pub(super) fn matching(toks: &[Tok], open: usize) -> Option<usize> {
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

pub(super) fn root_fields(
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
                // An inline fragment's selection starts at its first `{`, after the spread and
                // `on Type` (`... on Mutation { x }`) or directives (`... @include(..) { x }`).
                let inline_from = match toks.get(i + 1) {
                    Some(Tok::Name(n)) if n == "on" => Some(i + 2),
                    Some(Tok::Name(n)) => {
                        if let Some((_, sel)) = fragments.iter().find(|(f, _)| f == n) {
                            root_fields(toks, *sel, fragments, out, depth + 1);
                        }
                        i += 2;
                        None
                    }
                    Some(Tok::Punct('{')) | Some(Tok::Punct('@')) => Some(i + 1),
                    _ => {
                        i += 1;
                        None
                    }
                };
                if let Some(mut j) = inline_from {
                    while j < end && toks[j] != Tok::Punct('{') {
                        j += 1;
                    }
                    let Some(close) = matching(toks, j) else {
                        return;
                    };
                    root_fields(toks, (j + 1, close), fragments, out, depth + 1);
                    i = close + 1;
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
