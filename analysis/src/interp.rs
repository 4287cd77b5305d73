//! Interpreter one-liners seen through: the commands and removals a `python -c`, `node -e`,
//! `perl -e`, `ruby -e`, `php -r`, `deno eval` or `bun -e` program performs, as the catalogue
//! judges them.
//!
//! The code comes from the flag (`-c CODE`, `-e CODE`, ...) or, with no script file named, from
//! the command's stdin (a heredoc, a here-string, or `echo ... |`). In it, [`commands`] finds
//! calls that run a shell or a program (`os.system`, `subprocess.run`, `child_process.execSync`,
//! `system`, backticks, ...) and calls that remove files (`shutil.rmtree`, `os.remove`,
//! `fs.rmSync`, `FileUtils.rm_rf`, `unlink`, ...), and returns each as the simple command it
//! amounts to: the shell string split as a command line, an argument list as an argv, and a
//! removal as `rm -f PATH` (`rm -rf PATH` when recursive). A path or command that is not a
//! literal (a variable, a computed string) is not judged.
//!
//! Like [`crate::shell`], this is a reader, not an interpreter: it does not follow variables,
//! imports or control flow.

use std::sync::LazyLock;

use regex::Regex;

use crate::shell::{self, SimpleCommand};

/// How deep interpreters may nest (`python -c "os.system('perl -e ...')"`).
const MAX_NESTING: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Python,
    Js,
    Perl,
    Ruby,
    Php,
}

/// What a call does with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Runs a shell string, or an argv given as a list or as several strings.
    Run,
    /// Removes a tree.
    RemoveTree,
    /// Removes a file or an empty directory; a tree when its options say `recursive: true`.
    Remove,
}

/// The language and the code of an interpreter command, if it is one whose code is visible.
fn code_of(cmd: &SimpleCommand) -> Option<(Lang, String, String)> {
    let prog = cmd.program();
    let args = &cmd.argv[1..];
    let lang = if prog == "python"
        || prog == "pypy"
        || prog == "pypy3"
        || (prog.starts_with("python") && prog[6..].chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        Lang::Python
    } else {
        match prog {
            "node" | "nodejs" | "bun" | "deno" => Lang::Js,
            "perl" => Lang::Perl,
            "ruby" => Lang::Ruby,
            "php" => Lang::Php,
            _ => return None,
        }
    };
    let stdin = |label: String| cmd.stdin.clone().map(|s| (lang, s, label));
    if prog == "deno" {
        // `deno eval [OPTIONS] CODE`, `deno run -` (stdin)
        let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        return match pos.first().map(|s| s.as_str()) {
            Some("eval") => pos
                .get(1)
                .map(|c| (lang, c.to_string(), "deno eval".into())),
            Some("run") if args.iter().any(|a| a == "-") => stdin("deno run -".into()),
            _ => None,
        };
    }
    let mut code: Vec<String> = Vec::new();
    let mut label = String::new();
    let mut i = 0;
    let mut script = false;
    while i < args.len() {
        let a = args[i].as_str();
        let takes_code = match lang {
            Lang::Python => a == "-c",
            Lang::Js => matches!(a, "-e" | "--eval" | "-p" | "--print"),
            Lang::Php => a == "-r",
            // `-e`, `-E`, and clusters ending in one (`-le`, `-ne`, `-pe`)
            Lang::Perl | Lang::Ruby => {
                a.len() >= 2
                    && a.starts_with('-')
                    && !a.starts_with("--")
                    && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && (a.ends_with('e') || (lang == Lang::Perl && a.ends_with('E')))
            }
        };
        if takes_code {
            if let Some(c) = args.get(i + 1) {
                code.push(c.clone());
                label = format!("{prog} {a}");
            }
            i += 2;
            if lang == Lang::Python {
                break; // the rest is sys.argv
            }
            continue;
        }
        if lang == Lang::Js
            && let Some(c) = a
                .strip_prefix("--eval=")
                .or_else(|| a.strip_prefix("--print="))
        {
            code.push(c.to_string());
            label = format!("{prog} --eval");
            i += 1;
            continue;
        }
        if a == "-" || a == "--" {
            break;
        }
        if a.starts_with('-') {
            // options with a separate value
            let with_value = match lang {
                Lang::Python => matches!(a, "-W" | "-X" | "-m"),
                Lang::Js => matches!(a, "-r" | "--require" | "--import" | "--loader"),
                Lang::Perl | Lang::Ruby => matches!(a, "-I" | "-r" | "-C"),
                Lang::Php => matches!(a, "-c" | "-d" | "-f"),
            };
            if lang == Lang::Python && a == "-m" {
                return None; // a module, not visible code
            }
            if lang == Lang::Php && a == "-f" {
                return None;
            }
            i += if with_value { 2 } else { 1 };
            continue;
        }
        script = true; // a script file: its code is not in the line
        break;
    }
    if !code.is_empty() {
        return Some((lang, code.join("\n"), label));
    }
    if script {
        return None;
    }
    stdin(format!("{prog} <<stdin"))
}

struct Pattern {
    re: Regex,
    kind: Kind,
}

fn patterns(lang: Lang) -> &'static [Pattern] {
    static ALL: LazyLock<Vec<(Lang, Vec<Pattern>)>> = LazyLock::new(|| {
        let mk = |spec: &[(&str, Kind)]| {
            spec.iter()
                .map(|(re, kind)| Pattern {
                    // The patterns are constants, tested below.
                    re: Regex::new(re).expect("the interpreter patterns are valid regexes"),
                    kind: *kind,
                })
                .collect::<Vec<_>>()
        };
        vec![
            (
                Lang::Python,
                mk(&[
                    (
                        r"\b(?:os\.(?:system|popen|exec[lv]p?e?|spawn[lv]p?e?)|subprocess\.(?:run|call|check_call|check_output|Popen|getoutput|getstatusoutput)|commands\.getoutput|pty\.spawn)\s*\(",
                        Kind::Run,
                    ),
                    (r"\bshutil\.rmtree\s*\(", Kind::RemoveTree),
                    (
                        r"\bos\.(?:remove|unlink|rmdir|removedirs)\s*\(",
                        Kind::Remove,
                    ),
                ]),
            ),
            (
                Lang::Js,
                mk(&[
                    (
                        r"\b(?:execSync|execFileSync|spawnSync|exec|execFile|spawn|fork)\s*\(",
                        Kind::Run,
                    ),
                    (r"\bnew\s+Deno\.Command\s*\(", Kind::Run),
                    (r"\bDeno\.run\s*\(", Kind::Run),
                    (r"\$`", Kind::Run),
                    (
                        r"\b(?:rmSync|rmdirSync|unlinkSync|rm|rmdir|unlink|removeSync|remove)\s*\(",
                        Kind::Remove,
                    ),
                ]),
            ),
            (
                Lang::Perl,
                mk(&[
                    (r"\b(?:system|exec)\b\s*\(?", Kind::Run),
                    (r"\bqx\s*[\{\(\[/]", Kind::Run),
                    (r"`", Kind::Run),
                    (r"\b(?:rmtree|remove_tree)\s*\(?", Kind::RemoveTree),
                    (r"\b(?:unlink|rmdir)\b\s*\(?", Kind::Remove),
                ]),
            ),
            (
                Lang::Ruby,
                mk(&[
                    (
                        r"\b(?:system|exec|spawn|Open3\.\w+|IO\.popen)\b\s*\(?",
                        Kind::Run,
                    ),
                    (r"%x\s*[\{\(\[]", Kind::Run),
                    (r"`", Kind::Run),
                    (
                        r"\bFileUtils\.(?:rm_rf|rm_r|remove_dir|remove_entry|remove_entry_secure|rmtree)\b\s*\(?",
                        Kind::RemoveTree,
                    ),
                    (
                        r"\b(?:FileUtils\.(?:rm|rm_f|remove|remove_file|rmdir)|File\.(?:delete|unlink)|Dir\.(?:rmdir|delete|unlink))\b\s*\(?",
                        Kind::Remove,
                    ),
                ]),
            ),
            (
                Lang::Php,
                mk(&[
                    (
                        r"\b(?:system|exec|shell_exec|passthru|popen|proc_open)\s*\(",
                        Kind::Run,
                    ),
                    (r"`", Kind::Run),
                    (r"\b(?:unlink|rmdir)\s*\(", Kind::Remove),
                ]),
            ),
        ]
    });
    ALL.iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, p)| p.as_slice())
        .unwrap_or(&[])
}

/// One argument of a call, as far as it is a literal.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Str(String),
    List(Vec<String>),
    Other(String),
}

/// Reads a string literal at `s[i..]` (quote `q` at `s[i]`, or a Python prefix before it);
/// returns the text and the index after it.
fn read_string(s: &[char], mut i: usize) -> Option<(String, usize)> {
    // Python prefixes: r, b, f, u, rb, br, fr, rf
    let start = i;
    while i < s.len()
        && matches!(s[i], 'r' | 'b' | 'f' | 'u' | 'R' | 'B' | 'F' | 'U')
        && i - start < 2
    {
        i += 1;
    }
    let raw = s[start..i].iter().any(|c| *c == 'r' || *c == 'R');
    let q = *s.get(i)?;
    if !matches!(q, '\'' | '"' | '`') {
        return None;
    }
    let triple = s.get(i + 1) == Some(&q) && s.get(i + 2) == Some(&q);
    i += if triple { 3 } else { 1 };
    let mut out = String::new();
    while i < s.len() {
        let c = s[i];
        if c == '\\' && !raw && i + 1 < s.len() {
            let n = s[i + 1];
            out.push(match n {
                'n' => '\n',
                't' => '\t',
                other => other,
            });
            i += 2;
            continue;
        }
        if c == q {
            if !triple {
                return Some((out, i + 1));
            }
            if s.get(i + 1) == Some(&q) && s.get(i + 2) == Some(&q) {
                return Some((out, i + 3));
            }
        }
        out.push(c);
        i += 1;
    }
    Some((out, i))
}

fn skip_ws(s: &[char], mut i: usize) -> usize {
    while i < s.len() && s[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The arguments of a call whose `(` (or, for Perl and Ruby calls without parentheses, first
/// argument) starts at `s[i..]`; up to the matching `)` or the end of the statement.
fn read_args(s: &[char], i: usize, parens: bool) -> Vec<Arg> {
    let mut args = Vec::new();
    let mut i = skip_ws(s, i);
    loop {
        i = skip_ws(s, i);
        if i >= s.len() {
            break;
        }
        let c = s[i];
        if (parens && c == ')') || (!parens && matches!(c, ';' | '\n' | ')' | '}')) {
            break;
        }
        if c == ',' {
            i += 1;
            continue;
        }
        if c == '[' {
            let mut items = Vec::new();
            i += 1;
            loop {
                i = skip_ws(s, i);
                if i >= s.len() {
                    break;
                }
                if s[i] == ']' {
                    i += 1;
                    break;
                }
                if s[i] == ',' {
                    i += 1;
                    continue;
                }
                match read_string(s, i) {
                    Some((t, j)) => {
                        items.push(t);
                        i = j;
                    }
                    None => {
                        // not a literal list: give up on it
                        let (_, j) = read_other(s, i);
                        i = j;
                        items.clear();
                        items.push("\u{0}".into());
                    }
                }
            }
            if items.iter().any(|x| x == "\u{0}") {
                args.push(Arg::Other(String::new()));
            } else {
                args.push(Arg::List(items));
            }
            continue;
        }
        if let Some((t, j)) = read_string(s, i) {
            // a literal only when nothing but an argument separator follows
            let k = skip_ws(s, j);
            if k >= s.len() || matches!(s[k], ',' | ')' | ';' | '\n' | '}') {
                args.push(Arg::Str(t));
                i = j;
                continue;
            }
        }
        let (t, j) = read_other(s, i);
        args.push(Arg::Other(t));
        if j == i {
            break;
        }
        i = j;
    }
    args
}

/// A non-literal argument: up to a `,` or the closing bracket at depth 0.
fn read_other(s: &[char], mut i: usize) -> (String, usize) {
    let start = i;
    let mut depth = 0i32;
    while i < s.len() {
        let c = s[i];
        if matches!(c, '\'' | '"' | '`') {
            match read_string(s, i) {
                Some((_, j)) => {
                    i = j;
                    continue;
                }
                None => {
                    i += 1;
                    continue;
                }
            }
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => break,
            ')' | ']' | '}' => depth -= 1,
            ',' | ';' | '\n' if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    (s[start..i].iter().collect(), i)
}

/// Which characters of the code are inside string literals or comments.
fn string_mask(s: &[char], lang: Lang) -> Vec<bool> {
    let mut mask = vec![false; s.len() + 1];
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let quote = matches!(c, '\'' | '"') || (c == '`' && lang == Lang::Js);
        if quote {
            let j = read_string(s, i).map(|(_, j)| j).unwrap_or(s.len());
            for m in &mut mask[i..j.min(s.len())] {
                *m = true;
            }
            i = j.max(i + 1);
            continue;
        }
        if c == '#' && matches!(lang, Lang::Python | Lang::Ruby | Lang::Perl) {
            while i < s.len() && s[i] != '\n' {
                mask[i] = true;
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    mask
}

/// The text of a call's arguments: up to the `)` that closes it (or the end of the statement).
fn call_text(s: &[char], i: usize) -> String {
    let mut j = i;
    let mut parts = String::new();
    loop {
        let (t, k) = read_other(s, j);
        parts.push_str(&t);
        if k < s.len() && s[k] == ',' {
            parts.push(',');
            j = k + 1;
            continue;
        }
        break;
    }
    parts
}

/// The text of a quote-like command at `s[i..]` (`qx{..}`, `%x(..)`, backticks).
fn read_quoted_command(s: &[char], i: usize) -> Option<String> {
    let open = *s.get(i)?;
    let close = match open {
        '{' => '}',
        '(' => ')',
        '[' => ']',
        other => other,
    };
    let mut j = i + 1;
    let mut out = String::new();
    while j < s.len() && s[j] != close {
        out.push(s[j]);
        j += 1;
    }
    Some(out)
}

/// The simple commands that an interpreter command runs or amounts to (see the module docs).
/// Each carries the wrappers it was seen through, ending with the interpreter and the call.
pub fn commands(cmd: &SimpleCommand) -> Vec<SimpleCommand> {
    if cmd.argv.is_empty() || cmd.wrappers.len() >= MAX_NESTING {
        return Vec::new();
    }
    let Some((lang, code, label)) = code_of(cmd) else {
        return Vec::new();
    };
    let chars: Vec<char> = code.chars().collect();
    // Byte offsets of the regex matches, to char offsets.
    let char_at: Vec<usize> = {
        let mut v = vec![0; code.len() + 1];
        for (ci, (bi, ch)) in code.char_indices().enumerate() {
            for slot in &mut v[bi..bi + ch.len_utf8()] {
                *slot = ci;
            }
        }
        v[code.len()] = chars.len();
        v
    };
    let quoted = string_mask(&chars, lang);
    let mut out = Vec::new();
    for p in patterns(lang) {
        for m in p.re.find_iter(&code) {
            if quoted[char_at[m.start()]] {
                continue; // inside a string literal or a comment: only text
            }
            let call = m
                .as_str()
                .trim_end_matches(['(', ' ', '{', '[', '/', '`'])
                .trim();
            let call = if call.is_empty() { "`...`" } else { call };
            let via = format!("{label}: {call}");
            let end = char_at[m.end()];
            let text = m.as_str();
            // Quote-like commands: backticks, qx{}, %x().
            if text.ends_with('`') || text.starts_with("qx") || text.starts_with("%x") {
                let open = end - 1;
                if text.ends_with('`') && lang == Lang::Js && !text.starts_with('$') {
                    continue;
                }
                if let Some(script) = read_quoted_command(&chars, open) {
                    push_shell(cmd, &script, &via, &mut out);
                }
                continue;
            }
            let parens = text.trim_end().ends_with('(');
            let args = read_args(&chars, end, parens);
            let whole = call_text(&chars, end);
            match p.kind {
                Kind::Run => run_args(cmd, &args, &whole, &via, &mut out),
                Kind::RemoveTree | Kind::Remove => {
                    let recursive = p.kind == Kind::RemoveTree || recursive_option(&whole);
                    for a in &args {
                        let paths: Vec<&String> = match a {
                            Arg::Str(s) => vec![s],
                            Arg::List(l) => l.iter().collect(),
                            Arg::Other(_) => vec![],
                        };
                        for path in paths {
                            let flags = if recursive { "-rf" } else { "-f" };
                            out.push(derived(
                                cmd,
                                vec!["rm".into(), flags.into(), path.clone()],
                                &via,
                            ));
                        }
                        if lang != Lang::Ruby && lang != Lang::Perl {
                            break; // the path is the first argument
                        }
                    }
                }
            }
        }
    }
    out
}

/// `{ recursive: true }` in a JavaScript call's options.
fn recursive_option(text: &str) -> bool {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"recursive\s*:\s*true").expect("a valid regex"));
    RE.is_match(text)
}

fn run_args(
    cmd: &SimpleCommand,
    args: &[Arg],
    whole: &str,
    via: &str,
    out: &mut Vec<SimpleCommand>,
) {
    match args {
        [Arg::List(l), ..] if !l.is_empty() => out.push(derived(cmd, l.clone(), via)),
        [Arg::Str(p), Arg::List(l), ..] => {
            let argv = if l.first() == Some(p) {
                l.clone()
            } else {
                std::iter::once(p.clone())
                    .chain(l.iter().cloned())
                    .collect()
            };
            out.push(derived(cmd, argv, via));
        }
        [Arg::Str(p), Arg::Other(o), ..] if o.contains("args") => {
            // `new Deno.Command("rm", { args: [...] })`, `Deno.run({ cmd: [...] })`
            let list = list_after_key(o, "args").unwrap_or_default();
            out.push(derived(
                cmd,
                std::iter::once(p.clone()).chain(list).collect(),
                via,
            ));
        }
        [Arg::Other(o), ..] if o.contains("cmd") => {
            if let Some(l) = list_after_key(o, "cmd").filter(|l| !l.is_empty()) {
                out.push(derived(cmd, l, via));
            }
        }
        [Arg::Str(s)] => push_shell(cmd, s, via, out),
        [Arg::Str(s), rest @ ..] => {
            let strs: Vec<&String> = rest
                .iter()
                .filter_map(|a| match a {
                    Arg::Str(x) => Some(x),
                    _ => None,
                })
                .collect();
            if strs.len() == rest.len() {
                // Perl/Ruby `system('rm', '-rf', '/')`: an argv.
                out.push(derived(
                    cmd,
                    std::iter::once(s.clone())
                        .chain(strs.into_iter().cloned())
                        .collect(),
                    via,
                ));
            } else {
                // `subprocess.run("rm -rf x", shell=True)`, `exec("...", cb)`
                push_shell(cmd, s, via, out);
            }
        }
        _ => {
            let _ = whole;
        }
    }
}

/// The string list after `key:` in an object literal's text.
fn list_after_key(text: &str, key: &str) -> Option<Vec<String>> {
    let at = text.find(key)?;
    let rest = &text[at + key.len()..];
    let open = rest.find('[')?;
    let chars: Vec<char> = rest[open..].chars().collect();
    match read_args(&chars, 0, true).into_iter().next() {
        Some(Arg::List(l)) => Some(l),
        _ => None,
    }
}

fn push_shell(cmd: &SimpleCommand, script: &str, via: &str, out: &mut Vec<SimpleCommand>) {
    for mut c in shell::split(script) {
        let mut w = cmd.wrappers.clone();
        w.push(via.to_string());
        w.extend(c.wrappers);
        c.wrappers = w;
        let mut a = cmd.assignments.clone();
        a.extend(c.assignments);
        c.assignments = a;
        if c.remote_host.is_none() {
            c.remote_host = cmd.remote_host.clone();
        }
        out.push(c);
    }
}

fn derived(cmd: &SimpleCommand, argv: Vec<String>, via: &str) -> SimpleCommand {
    let mut wrappers = cmd.wrappers.clone();
    wrappers.push(via.to_string());
    SimpleCommand {
        argv,
        assignments: cmd.assignments.clone(),
        stdin: None,
        wrappers,
        remote_host: cmd.remote_host.clone(),
        redirects: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argvs(line: &str) -> Vec<Vec<String>> {
        shell::split(line)
            .iter()
            .flat_map(commands)
            .map(|c| c.argv)
            .collect()
    }

    use crate::testing::argv as v;

    #[test]
    fn patterns_compile() {
        for l in [Lang::Python, Lang::Js, Lang::Perl, Lang::Ruby, Lang::Php] {
            assert!(!patterns(l).is_empty());
        }
    }

    #[test]
    fn python() {
        assert_eq!(
            argvs(r#"python3 -c "import os; os.system('rm -rf /')""#),
            vec![v(&["rm", "-rf", "/"])]
        );
        assert_eq!(
            argvs(r#"python -c "import shutil; shutil.rmtree('/srv/data')""#),
            vec![v(&["rm", "-rf", "/srv/data"])]
        );
        assert_eq!(
            argvs(r#"python3 -c "import subprocess; subprocess.run(['rm', '-rf', '/'])""#),
            vec![v(&["rm", "-rf", "/"])]
        );
        assert_eq!(
            argvs(r#"python3 -c "import os; os.remove('/etc/passwd')""#),
            vec![v(&["rm", "-f", "/etc/passwd"])]
        );
        assert_eq!(
            argvs("python3 - <<'EOF'\nimport shutil\nshutil.rmtree(\"/var/lib/pg\")\nEOF"),
            vec![v(&["rm", "-rf", "/var/lib/pg"])]
        );
        assert!(argvs(r#"python3 -c "import shutil; shutil.rmtree(path)""#).is_empty());
        assert!(argvs("python3 script.py").is_empty());
        assert!(argvs(r#"python3 -c "print('os.system')""#).is_empty());
    }

    #[test]
    fn others() {
        assert_eq!(
            argvs(r#"node -e "require('child_process').execSync('rm -rf /')""#),
            vec![v(&["rm", "-rf", "/"])]
        );
        assert_eq!(
            argvs(r#"node -e "require('fs').rmSync('/srv', {recursive: true, force: true})""#),
            vec![v(&["rm", "-rf", "/srv"])]
        );
        assert_eq!(
            argvs(r#"perl -e 'system("rm", "-rf", "/home")'"#),
            vec![v(&["rm", "-rf", "/home"])]
        );
        assert_eq!(
            argvs(r#"perl -MFile::Path -e 'rmtree("/srv/data")'"#),
            vec![v(&["rm", "-rf", "/srv/data"])]
        );
        assert_eq!(
            argvs(r#"ruby -rfileutils -e 'FileUtils.rm_rf("/srv/data")'"#),
            vec![v(&["rm", "-rf", "/srv/data"])]
        );
        assert_eq!(
            argvs(r#"ruby -e '`rm -rf /`'"#),
            vec![v(&["rm", "-rf", "/"])]
        );
        assert_eq!(
            argvs(r#"php -r 'shell_exec("rm -rf /");'"#),
            vec![v(&["rm", "-rf", "/"])]
        );
        assert_eq!(
            argvs(r#"deno eval "Deno.removeSync('/srv', { recursive: true })""#),
            vec![v(&["rm", "-rf", "/srv"])]
        );
        assert_eq!(
            argvs(r#"deno eval "new Deno.Command('rm', { args: ['-rf', '/srv'] }).outputSync()""#),
            vec![v(&["rm", "-rf", "/srv"])]
        );
        assert!(argvs(r#"node -e "console.log(1)""#).is_empty());
    }
}
