//! SQL handed to a database client (`psql -c`, `mysql -e`, `sqlite3 DB SQL`, stdin), split into
//! statements. SQL splitting is not shell, but it reads the commands the shell reader finds.

use super::*;

/// Database clients whose SQL we read, with the flags that carry SQL inline.
pub(super) const SQL_CLIENTS: [(&str, &[&str]); 9] = [
    ("psql", &["-c", "--command"]),
    ("mysql", &["-e", "--execute"]),
    ("mariadb", &["-e", "--execute"]),
    ("sqlite3", &[]),
    ("clickhouse-client", &["-q", "--query"]),
    ("clickhouse", &["-q", "--query"]),
    ("cockroach", &["-e", "--execute"]),
    ("duckdb", &["-c"]),
    ("wrangler", &["--command"]),
];

/// Whether a command is a SQL client (`psql`, `mysql`, `sqlite3`, ...).
pub fn is_sql_client(cmd: &SimpleCommand) -> bool {
    let p = cmd.program();
    SQL_CLIENTS.iter().any(|(c, _)| *c == p)
        || (p == "turso" && cmd.argv.iter().any(|a| a == "shell"))
}

/// The SQL statements a database client runs, as far as the line shows them: inline flags
/// (`psql -c`, `mysql -e`, `--execute=`), `sqlite3 DB SQL`, `turso db shell DB SQL`, and stdin
/// (heredoc, here-string, piped `echo`). Comments are removed; statements split on `;`.
pub fn sql_statements(cmd: &SimpleCommand) -> Vec<String> {
    let p = cmd.program();
    let mut texts: Vec<String> = Vec::new();
    let flags: &[&str] = SQL_CLIENTS
        .iter()
        .find(|(c, _)| *c == p)
        .map(|(_, f)| *f)
        .unwrap_or(&[]);
    if !is_sql_client(cmd) {
        return Vec::new();
    }
    let args = &cmd.argv[1..];
    let mut i = 0;
    let mut positionals = Vec::new();
    while i < args.len() {
        let a = &args[i];
        let mut took = false;
        for f in flags {
            if a == f {
                if let Some(v) = args.get(i + 1) {
                    texts.push(v.clone());
                }
                i += 1;
                took = true;
                break;
            }
            if let Some(v) = a.strip_prefix(&format!("{f}=")) {
                texts.push(v.to_string());
                took = true;
                break;
            }
            // `-eDROP TABLE x` / `-cSELECT 1`
            if f.len() == 2 && !f.starts_with("--") && a.len() > 2 && a.starts_with(f) {
                texts.push(a[2..].to_string());
                took = true;
                break;
            }
        }
        if !took && !a.starts_with('-') {
            positionals.push(a.clone());
        }
        i += 1;
    }
    if p == "sqlite3" || p == "turso" {
        // sqlite3 [opts] DB [SQL]; turso db shell DB [SQL]
        let skip = if p == "turso" { 3 } else { 1 };
        if let Some(sql) = positionals.get(skip) {
            texts.push(sql.clone());
        }
    }
    if texts.is_empty()
        && let Some(s) = &cmd.stdin
    {
        texts.push(s.clone());
    }
    texts.iter().flat_map(|t| split_sql(t)).collect()
}

/// Splits SQL text into statements on `;` outside quotes, dropping `--` and `/* */` comments
/// and collapsing whitespace. psql meta-commands (`\c db`) are dropped.
pub fn split_sql(text: &str) -> Vec<String> {
    let mut stmts = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            cur.push(c);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                cur.push(c);
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                cur.push(' ');
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
                cur.push(' ');
                continue;
            }
            '\\' if cur.trim().is_empty() => {
                // psql meta-command: to the end of the line
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ';' => {
                push_stmt(&mut stmts, &cur);
                cur.clear();
            }
            _ => cur.push(c),
        }
        i += 1;
    }
    push_stmt(&mut stmts, &cur);
    stmts
}

pub(super) fn push_stmt(stmts: &mut Vec<String>, s: &str) {
    let norm = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if !norm.is_empty() {
        stmts.push(norm);
    }
}
