//! Shell command lines into the simple commands they run.
//!
//! [`split`] reads a POSIX-ish command line (what an agent's shell tool gets, or what `sh -c`
//! receives) and returns every simple command it would run, with wrappers seen through:
//!
//! - quoting (`'..'`, `".."`, `$'..'`, backslashes), comments, line continuations;
//! - lists and pipelines (`&&`, `||`, `;`, `&`, `|`, newlines, `( .. )`, `{ ..; }`);
//! - command substitutions (`$( .. )`, backticks) are commands too;
//! - `VAR=value cmd` prefixes and `export VAR=value` (carried to the later commands of the line);
//! - `sudo`, `doas`, `env`, `nohup`, `time`, `nice`, `ionice`, `timeout`, `stdbuf`, `exec`,
//!   `command`, `xargs`, `npx`, `watch`;
//! - `sh|bash|zsh|dash|ksh -c SCRIPT`, `eval`, a script piped or heredoc'd into a shell,
//!   `ssh HOST CMD`, `kubectl exec .. -- CMD`, `docker exec CTR CMD`;
//! - heredocs (`<<EOF`, `<<-'EOF'`) and here-strings (`<<<`) become the command's stdin, as does
//!   the output of a preceding `echo`/`printf`/`cat <<EOF` in a pipeline.
//!
//! [`sql_statements`] returns the SQL a command hands to a database client (`psql -c`,
//! `mysql -e`, `sqlite3 DB SQL`, stdin, ...), split into statements.
//!
//! This is a reader for analysis, not an interpreter: variables are not expanded (`$X` stays
//! literal) and globs are not matched. It never fails; unbalanced quotes end at the end of input.

/// One command that would run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    /// The program and its arguments, wrappers removed (`sudo env X=1 rm -rf /` → `rm -rf /`).
    pub argv: Vec<String>,
    /// Assignments in effect for this command: `export`s earlier on the line, `VAR=v` prefixes
    /// and `env VAR=v`, in order (later ones win).
    pub assignments: Vec<(String, String)>,
    /// Text the command reads on stdin when it is visible in the line (heredoc, here-string,
    /// or the output of `echo`/`printf`/`cat <<EOF` piped into it).
    pub stdin: Option<String>,
    /// The wrappers seen through, outermost first (`sudo`, `bash -c`, `xargs`, `ssh db1`).
    pub wrappers: Vec<String>,
    /// The host a command runs on when it came through `ssh HOST CMD`.
    pub remote_host: Option<String>,
    /// Output redirections (`> file`, `>> file`), targets only.
    pub redirects: Vec<String>,
}

impl SimpleCommand {
    /// The program's base name (`/usr/bin/psql` → `psql`), or "".
    pub fn program(&self) -> &str {
        self.argv.first().map(|p| basename(p)).unwrap_or("")
    }

    /// The value of an assignment in effect, if any (the last one wins).
    pub fn assignment(&self, name: &str) -> Option<&str> {
        self.assignments
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The last path component.
pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Depth limit for nested `sh -c` / `eval` / substitutions.
const MAX_DEPTH: usize = 8;

/// Every simple command in a command line, wrappers seen through.
pub fn split(line: &str) -> Vec<SimpleCommand> {
    let mut out = Vec::new();
    split_into(line, &[], &[], None, 0, &mut out);
    out
}

/// The simple commands an argv (an `execve`) runs: the argv itself with wrappers seen through
/// (`bash -c '..'`, `sudo`, `env`, ...).
pub fn from_argv(argv: &[String]) -> Vec<SimpleCommand> {
    let mut out = Vec::new();
    let cmd = SimpleCommand {
        argv: argv.to_vec(),
        ..SimpleCommand::default()
    };
    unwrap_into(cmd, 0, &mut out);
    out
}

fn split_into(
    line: &str,
    inherited: &[(String, String)],
    wrappers: &[String],
    remote: Option<&str>,
    depth: usize,
    out: &mut Vec<SimpleCommand>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let lexed = lex(line);
    for sub in &lexed.substitutions {
        split_into(sub, inherited, wrappers, remote, depth + 1, out);
    }
    let mut exports: Vec<(String, String)> = inherited.to_vec();
    // Output of the previous pipeline element when it is visible text.
    let mut piped: Option<String> = None;
    for raw in lexed.commands {
        let mut cmd = SimpleCommand {
            assignments: exports.clone(),
            wrappers: wrappers.to_vec(),
            remote_host: remote.map(str::to_string),
            redirects: raw.redirects,
            ..SimpleCommand::default()
        };
        let mut words = raw.words.into_iter().peekable();
        while let Some(w) = words.peek() {
            match parse_assignment(w) {
                Some(kv) => {
                    cmd.assignments.push(kv);
                    words.next();
                }
                None => break,
            }
        }
        cmd.argv = words.collect();
        cmd.stdin = raw
            .stdin
            .or_else(|| if raw.piped_in { piped.take() } else { None });
        // What this command prints, when that is plain visible text.
        piped = if raw.pipes_out {
            visible_output(&cmd)
        } else {
            None
        };
        if cmd.argv.is_empty() {
            // A bare `X=1` sets a shell variable for the rest of the line.
            exports.extend(cmd.assignments.iter().skip(exports.len()).cloned());
            continue;
        }
        if matches!(cmd.program(), "export" | "declare" | "typeset" | "set") {
            for a in &cmd.argv[1..] {
                if let Some(kv) = parse_assignment(a) {
                    exports.push(kv);
                }
            }
        }
        unwrap_into(cmd, depth, out);
    }
}

/// What `echo`/`printf`/`cat <<EOF` would print, for a pipe into the next command.
fn visible_output(cmd: &SimpleCommand) -> Option<String> {
    match cmd.program() {
        "echo" | "printf" => {
            let args: Vec<&str> = cmd.argv[1..]
                .iter()
                .map(String::as_str)
                .skip_while(|a| a.starts_with('-') && a.len() > 1 && cmd.program() == "echo")
                .collect();
            Some(args.join(" "))
        }
        "cat" if cmd.argv.len() == 1 => cmd.stdin.clone(),
        _ => None,
    }
}

/// `NAME=value` (NAME a shell identifier).
pub fn parse_assignment(w: &str) -> Option<(String, String)> {
    let (k, v) = w.split_once('=')?;
    let mut chars = k.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((k.to_string(), v.to_string()))
}

const SHELLS: [&str; 7] = ["sh", "bash", "zsh", "dash", "ksh", "ash", "busybox"];

/// Sees through one wrapper at a time, recursing; pushes the innermost commands.
fn unwrap_into(cmd: SimpleCommand, depth: usize, out: &mut Vec<SimpleCommand>) {
    if depth > MAX_DEPTH || cmd.argv.is_empty() {
        if !cmd.argv.is_empty() {
            out.push(cmd);
        }
        return;
    }
    let prog = cmd.program().to_string();
    let args: Vec<String> = cmd.argv[1..].to_vec();
    let rest_after = |cmd: &SimpleCommand, i: usize, label: &str| -> SimpleCommand {
        let mut c = cmd.clone();
        c.argv = args[i.min(args.len())..].to_vec();
        c.wrappers.push(label.to_string());
        c
    };
    match prog.as_str() {
        "sudo" | "doas" => {
            let with_arg = [
                "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R",
            ];
            let mut i = 0;
            while i < args.len() {
                let a = &args[i];
                if a == "--" {
                    i += 1;
                    break;
                }
                if !a.starts_with('-') {
                    break;
                }
                if with_arg.contains(&a.as_str()) {
                    i += 1;
                }
                i += 1;
            }
            unwrap_into(rest_after(&cmd, i, &prog), depth + 1, out);
        }
        "env" => {
            let mut c = cmd.clone();
            c.wrappers.push("env".into());
            let mut i = 0;
            while i < args.len() {
                let a = &args[i];
                if a == "--" {
                    i += 1;
                    break;
                }
                if a == "-u" || a == "-C" || a == "--unset" || a == "--chdir" {
                    i += 2;
                    continue;
                }
                if a == "-S" || a == "--split-string" {
                    // `env -S 'cmd args'`: the string is split like a command line.
                    let script = args.get(i + 1).cloned().unwrap_or_default();
                    let mut inner = Vec::new();
                    split_into(
                        &script,
                        &c.assignments,
                        &c.wrappers,
                        c.remote_host.as_deref(),
                        depth + 1,
                        &mut inner,
                    );
                    out.extend(inner);
                    return;
                }
                if a.starts_with('-') {
                    i += 1;
                    continue;
                }
                if let Some(kv) = parse_assignment(a) {
                    c.assignments.push(kv);
                    i += 1;
                    continue;
                }
                break;
            }
            c.argv = args[i.min(args.len())..].to_vec();
            unwrap_into(c, depth + 1, out);
        }
        "nohup" | "builtin" | "exec" | "command" | "caffeinate" | "unbuffer" => {
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                if prog == "command" && (args[i] == "-v" || args[i] == "-V") {
                    out.push(cmd);
                    return;
                }
                if prog == "exec" && args[i] == "-a" {
                    i += 1;
                }
                i += 1;
            }
            unwrap_into(rest_after(&cmd, i, &prog), depth + 1, out);
        }
        "time" | "nice" | "ionice" | "stdbuf" | "chrt" | "taskset" => {
            let with_arg = ["-n", "-c", "-p", "-i", "-o", "-e", "--adjustment"];
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                if with_arg.contains(&args[i].as_str()) {
                    i += 1;
                }
                i += 1;
            }
            if prog == "chrt" || prog == "taskset" {
                i += 1; // priority / mask
            }
            unwrap_into(rest_after(&cmd, i, &prog), depth + 1, out);
        }
        "timeout" => {
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                if args[i] == "-s" || args[i] == "-k" {
                    i += 1;
                }
                i += 1;
            }
            i += 1; // the duration
            unwrap_into(rest_after(&cmd, i, &prog), depth + 1, out);
        }
        "watch" => {
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                if args[i] == "-n" {
                    i += 1;
                }
                i += 1;
            }
            let script = args[i.min(args.len())..].join(" ");
            let wr = push_wrapper(&cmd.wrappers, "watch");
            split_into(
                &script,
                &cmd.assignments,
                &wr,
                cmd.remote_host.as_deref(),
                depth + 1,
                out,
            );
        }
        "npx" | "bunx" | "pnpx" => {
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                if args[i] == "-p" || args[i] == "--package" {
                    i += 1;
                }
                i += 1;
            }
            unwrap_into(rest_after(&cmd, i, &prog), depth + 1, out);
        }
        "xargs" => {
            let with_arg = [
                "-n", "-I", "-i", "-L", "-l", "-P", "-d", "-s", "-E", "-e", "-a",
            ];
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                let a = args[i].as_str();
                if with_arg.contains(&a) {
                    i += 1;
                }
                i += 1;
            }
            let mut c = rest_after(&cmd, i, "xargs");
            if c.argv.is_empty() {
                c.argv = vec!["echo".into()];
            }
            // Items piped in become arguments.
            if let Some(input) = c.stdin.take() {
                c.argv.extend(input.split_whitespace().map(str::to_string));
            }
            unwrap_into(c, depth + 1, out);
        }
        "eval" => {
            let script = args.join(" ");
            let wr = push_wrapper(&cmd.wrappers, "eval");
            split_into(
                &script,
                &cmd.assignments,
                &wr,
                cmd.remote_host.as_deref(),
                depth + 1,
                out,
            );
        }
        p if SHELLS.contains(&p) => {
            let mut script: Option<String> = None;
            let mut i = 0;
            let mut positional = None;
            while i < args.len() {
                let a = &args[i];
                if a == "--" {
                    positional = Some(i + 1).filter(|&p| p < args.len());
                    break;
                }
                if a == "-o" || a == "+o" || a == "-O" || a == "+O" {
                    i += 2;
                    continue;
                }
                if a.starts_with('-') && !a.starts_with("--") && a.len() > 1 {
                    if a[1..].contains('c') {
                        // The command string is the first operand after all the options:
                        // `bash -c -l 'script'` (Claude Code) as well as `bash -lc 'script'`.
                        script = shell_c_operand(&args[i + 1..]);
                        break;
                    }
                    i += 1;
                    continue;
                }
                if a.starts_with("--") {
                    i += 1;
                    continue;
                }
                positional = Some(i);
                break;
            }
            if p == "busybox" {
                // `busybox rm -rf x`
                unwrap_into(rest_after(&cmd, 0, "busybox"), depth + 1, out);
                return;
            }
            let label = format!("{p} -c");
            match (script, positional, cmd.stdin.clone()) {
                (Some(s), _, _) => {
                    let wr = push_wrapper(&cmd.wrappers, &label);
                    split_into(
                        &s,
                        &cmd.assignments,
                        &wr,
                        cmd.remote_host.as_deref(),
                        depth + 1,
                        out,
                    );
                }
                (None, None, Some(stdin)) => {
                    // A script on stdin: `bash <<EOF`, `echo 'rm -rf /' | sh`.
                    let wr = push_wrapper(&cmd.wrappers, p);
                    split_into(
                        &stdin,
                        &cmd.assignments,
                        &wr,
                        cmd.remote_host.as_deref(),
                        depth + 1,
                        out,
                    );
                }
                _ => out.push(cmd), // `bash script.sh`: the script's contents are not in the line
            }
        }
        "ssh" => {
            // ssh [opts] host [cmd...]
            let with_arg = [
                "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o",
                "-p", "-Q", "-R", "-S", "-W", "-w",
            ];
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') {
                if with_arg.contains(&args[i].as_str()) {
                    i += 1;
                }
                i += 1;
            }
            let Some(host) = args.get(i) else {
                out.push(cmd);
                return;
            };
            let host = host.rsplit('@').next().unwrap_or(host).to_string();
            let remote_cmd = args[(i + 1).min(args.len())..].join(" ");
            let stdin = cmd.stdin.clone();
            out.push(cmd.clone());
            let script = if remote_cmd.trim().is_empty() {
                stdin.unwrap_or_default()
            } else {
                remote_cmd
            };
            if !script.trim().is_empty() {
                let wr = push_wrapper(&cmd.wrappers, &format!("ssh {host}"));
                split_into(&script, &[], &wr, Some(&host), depth + 1, out);
            }
        }
        // Agent harnesses' process launchers: Codex's process setup and Linux sandbox, and the
        // bubblewrap it runs under. Each ends its own options with `--` (or, for the setup
        // step, names the shell that runs the command): what follows is the command.
        // (Codex runs itself as `/proc/self/exe`, and as the sandbox under bwrap's `--argv0`.)
        "codex" | "exe"
            if args
                .iter()
                .any(|a| a == "--codex-run-as-process-setup" || a == "--sandbox-policy-cwd") =>
        {
            launched_into(&cmd, &args, &prog, depth, out);
        }
        "codex-linux-sandbox" | "bwrap" | "codex-execve-wrapper" => {
            launched_into(&cmd, &args, &prog, depth, out);
        }
        "kubectl" | "oc" if args.iter().any(|a| a == "exec") => {
            if let Some(pos) = args.iter().position(|a| a == "--") {
                out.push(cmd.clone());
                let c = rest_after(&cmd, pos + 1, &format!("{prog} exec"));
                unwrap_into(c, depth + 1, out);
            } else {
                out.push(cmd);
            }
        }
        "docker" | "podman" if args.first().is_some_and(|a| a == "exec") => {
            let with_arg = [
                "-e",
                "--env",
                "-u",
                "--user",
                "-w",
                "--workdir",
                "--env-file",
            ];
            let mut i = 1;
            while i < args.len() && args[i].starts_with('-') {
                if with_arg.contains(&args[i].as_str()) {
                    i += 1;
                }
                i += 1;
            }
            out.push(cmd.clone());
            let c = rest_after(&cmd, i + 1, &format!("{prog} exec"));
            if !c.argv.is_empty() {
                unwrap_into(c, depth + 1, out);
            }
        }
        _ => out.push(cmd),
    }
}

/// The command string of `sh -c`: the first argument after `-c` that is not an option
/// (`-l`, `-e`, `+x`; `-o NAME` and `-O NAME` take a value), stopping at `--`.
fn shell_c_operand(rest: &[String]) -> Option<String> {
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i].as_str();
        if a == "--" {
            return rest.get(i + 1).cloned();
        }
        if matches!(a, "-o" | "+o" | "-O" | "+O") {
            i += 2;
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 {
            i += 1;
            continue;
        }
        return Some(a.to_string());
    }
    None
}

/// The command a launcher (`codex-linux-sandbox .. -- CMD`, `bwrap .. -- CMD`, Codex's
/// process setup `.. /bin/bash -c SCRIPT`) runs: what follows its first `--`, else the
/// arguments from the first shell on. A launcher with neither is the command itself.
fn launched_into(
    cmd: &SimpleCommand,
    args: &[String],
    prog: &str,
    depth: usize,
    out: &mut Vec<SimpleCommand>,
) {
    let start = args
        .iter()
        .position(|a| a == "--")
        .map(|p| p + 1)
        .or_else(|| {
            let i = args
                .iter()
                .position(|a| SHELLS.contains(&basename(a)) && a != "busybox")?;
            // `/bin/bash /bin/bash -c ..`: the program's path, then its argv[0].
            let argv0 = args
                .get(i + 1)
                .is_some_and(|n| basename(n) == basename(&args[i]));
            Some(if argv0 { i + 1 } else { i })
        });
    match start {
        Some(i) if i < args.len() => {
            let mut c = cmd.clone();
            c.argv = args[i..].to_vec();
            c.wrappers.push(prog.to_string());
            unwrap_into(c, depth + 1, out);
        }
        _ => out.push(cmd.clone()),
    }
}

fn push_wrapper(w: &[String], label: &str) -> Vec<String> {
    let mut v = w.to_vec();
    v.push(label.to_string());
    v
}

/// One pipeline element as lexed.
#[derive(Debug, Default)]
struct RawCommand {
    words: Vec<String>,
    stdin: Option<String>,
    redirects: Vec<String>,
    /// Its stdin comes from the previous element (`a | b`: true for b).
    piped_in: bool,
    /// Its stdout goes to the next element.
    pipes_out: bool,
}

#[derive(Debug, Default)]
struct Lexed {
    commands: Vec<RawCommand>,
    /// Bodies of `$( .. )` and backticks, to be split as command lines themselves.
    substitutions: Vec<String>,
}

struct Lexer<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

/// Splits a line into pipeline elements. Grouping (`( )`, `{ }`) is flattened.
fn lex(text: &str) -> Lexed {
    let mut lx = Lexer {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let mut out = Lexed::default();
    let mut cur = RawCommand::default();
    // Heredocs waiting for the next newline: (delimiter, strip tabs).
    // (delimiter, strip tabs, index of the command it feeds).
    let mut pending: Vec<(String, bool, usize)> = Vec::new();
    let mut next = Next::Word;
    let finish = |cur: &mut RawCommand, out: &mut Lexed, pipes_out: bool| {
        let mut done = std::mem::take(cur);
        done.pipes_out = pipes_out;
        cur.piped_in = pipes_out;
        if !done.words.is_empty() || done.stdin.is_some() {
            out.commands.push(done);
        } else if pipes_out {
            cur.piped_in = false;
        }
    };
    while lx.i < lx.s.len() {
        let c = lx.s[lx.i];
        match c {
            b' ' | b'\t' | b'\r' => {
                lx.i += 1;
            }
            b'\\' if lx.s.get(lx.i + 1) == Some(&b'\n') => {
                lx.i += 2;
            }
            b'\n' => {
                lx.i += 1;
                // Heredoc bodies start after this newline.
                for (delim, strip, idx) in std::mem::take(&mut pending) {
                    let body = lx.heredoc_body(&delim, strip);
                    match out.commands.get_mut(idx) {
                        Some(done) => attach_stdin(done, body),
                        None => attach_stdin(&mut cur, body),
                    }
                }
                finish(&mut cur, &mut out, false);
            }
            b'#' => {
                while lx.i < lx.s.len() && lx.s[lx.i] != b'\n' {
                    lx.i += 1;
                }
            }
            b';' | b'&' | b'|' | b'(' | b')' => {
                let two = lx.s.get(lx.i + 1).copied();
                match (c, two) {
                    (b'&', Some(b'>')) => {
                        lx.i += 2;
                        if lx.s.get(lx.i) == Some(&b'>') {
                            lx.i += 1;
                        }
                        next = Next::RedirTarget;
                        continue;
                    }
                    (b'|', Some(b'|')) | (b'&', Some(b'&')) | (b';', Some(b';')) => {
                        lx.i += 2;
                        finish(&mut cur, &mut out, false);
                    }
                    (b'|', Some(b'&')) => {
                        lx.i += 2;
                        finish(&mut cur, &mut out, true);
                    }
                    (b'|', _) => {
                        lx.i += 1;
                        finish(&mut cur, &mut out, true);
                    }
                    _ => {
                        lx.i += 1;
                        finish(&mut cur, &mut out, false);
                    }
                }
            }
            b'<' | b'>' => {
                let (op_next, len) = redirect_op(&lx.s[lx.i..]);
                lx.i += len;
                next = op_next;
            }
            _ => {
                // fd-number redirect: `2>file`, `2>&1`
                if c.is_ascii_digit() {
                    let mut j = lx.i;
                    while j < lx.s.len() && lx.s[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j < lx.s.len() && (lx.s[j] == b'>' || lx.s[j] == b'<') {
                        lx.i = j;
                        continue;
                    }
                }
                let word = lx.word(&mut out.substitutions);
                match std::mem::replace(&mut next, Next::Word) {
                    Next::Word => {
                        if cur.words.is_empty() && (word == "{" || word == "}") {
                            continue;
                        }
                        if word == "}" {
                            continue;
                        }
                        if matches!(
                            word.as_str(),
                            "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "!"
                        ) && cur.words.is_empty()
                        {
                            continue;
                        }
                        if matches!(word.as_str(), "fi" | "done" | "esac") && cur.words.is_empty() {
                            continue;
                        }
                        cur.words.push(word);
                    }
                    Next::RedirTarget => {
                        if !word.chars().all(|c| c.is_ascii_digit() || c == '-') {
                            cur.redirects.push(word);
                        }
                    }
                    Next::HeredocDelim(strip) => {
                        pending.push((word, strip, out.commands.len()));
                    }
                    Next::HereString => attach_stdin(&mut cur, word),
                }
            }
        }
    }
    if !pending.is_empty() {
        // Heredoc with no newline after the operator: nothing to read.
        pending.clear();
    }
    finish(&mut cur, &mut out, false);
    out
}

fn attach_stdin(cur: &mut RawCommand, text: String) {
    cur.stdin = Some(match cur.stdin.take() {
        Some(prev) => format!("{prev}\n{text}"),
        None => text,
    });
}

/// What the next word means to the lexer.
enum Next {
    Word,
    /// After `>`, `<`, `>>`, `&>`: a redirection target.
    RedirTarget,
    /// After `<<` / `<<-` (strip tabs): a heredoc delimiter.
    HeredocDelim(bool),
    /// After `<<<`: a here-string.
    HereString,
}

/// Reads a redirection operator at the start of `s`; returns its kind and length.
fn redirect_op(s: &[u8]) -> (Next, usize) {
    let starts = |p: &[u8]| s.starts_with(p);
    if starts(b"<<<") {
        (Next::HereString, 3)
    } else if starts(b"<<-") {
        (Next::HeredocDelim(true), 3)
    } else if starts(b"<<") {
        (Next::HeredocDelim(false), 2)
    } else if starts(b">>") || starts(b">&") || starts(b">|") || starts(b"<>") || starts(b"<&") {
        (Next::RedirTarget, 2)
    } else {
        (Next::RedirTarget, 1)
    }
}

impl Lexer<'_> {
    /// Reads one word, removing quotes. Substitution bodies are pushed to `subs`.
    fn word(&mut self, subs: &mut Vec<String>) -> String {
        let mut w = String::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => {
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    if let Some(ch) = self.char_at() {
                        if ch != '\n' {
                            w.push(ch);
                        }
                        self.i += ch.len_utf8();
                    }
                }
                b'\'' => {
                    self.i += 1;
                    let start = self.i;
                    while self.i < self.s.len() && self.s[self.i] != b'\'' {
                        self.i += 1;
                    }
                    w.push_str(&self.text[start..self.i]);
                    self.i = (self.i + 1).min(self.s.len());
                }
                b'"' => {
                    self.i += 1;
                    while self.i < self.s.len() && self.s[self.i] != b'"' {
                        match self.s[self.i] {
                            b'\\' => {
                                let nx = self.s.get(self.i + 1).copied();
                                match nx {
                                    Some(b'"' | b'\\' | b'$' | b'`') => {
                                        w.push(nx.map(char::from).unwrap_or('\\'));
                                        self.i += 2;
                                    }
                                    Some(b'\n') => self.i += 2,
                                    _ => {
                                        w.push('\\');
                                        self.i += 1;
                                    }
                                }
                            }
                            b'$' if self.s.get(self.i + 1) == Some(&b'(') => {
                                let body = self.substitution();
                                w.push_str("$(");
                                w.push_str(&body);
                                w.push(')');
                                subs.push(body);
                            }
                            b'`' => {
                                let body = self.backtick();
                                w.push_str(&body);
                                subs.push(body);
                            }
                            _ => {
                                if let Some(ch) = self.char_at() {
                                    w.push(ch);
                                    self.i += ch.len_utf8();
                                } else {
                                    self.i += 1;
                                }
                            }
                        }
                    }
                    self.i = (self.i + 1).min(self.s.len());
                }
                b'$' if self.s.get(self.i + 1) == Some(&b'\'') => {
                    self.i += 2;
                    w.push_str(&self.ansi_c());
                }
                b'$' if self.s.get(self.i + 1) == Some(&b'(') => {
                    let body = self.substitution();
                    w.push_str("$(");
                    w.push_str(&body);
                    w.push(')');
                    subs.push(body);
                }
                b'`' => {
                    let body = self.backtick();
                    w.push_str(&body);
                    subs.push(body);
                }
                _ => {
                    if let Some(ch) = self.char_at() {
                        w.push(ch);
                        self.i += ch.len_utf8();
                    } else {
                        self.i += 1;
                    }
                }
            }
        }
        w
    }

    fn char_at(&self) -> Option<char> {
        self.text.get(self.i..).and_then(|t| t.chars().next())
    }

    /// At `$(`: returns the body, leaves `i` after the closing `)`.
    fn substitution(&mut self) -> String {
        self.i += 2;
        let start = self.i;
        let mut depth = 1;
        let mut quote: Option<u8> = None;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match quote {
                Some(q) => {
                    if c == b'\\' && q == b'"' {
                        self.i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'\\' => self.i += 1,
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            let body = self.text[start..self.i].to_string();
                            self.i += 1;
                            return body;
                        }
                    }
                    _ => {}
                },
            }
            self.i += 1;
        }
        self.text.get(start..).unwrap_or("").to_string()
    }

    /// At a backtick: returns the body, leaves `i` after the closing backtick.
    fn backtick(&mut self) -> String {
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b'`' {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        let end = self.i.min(self.s.len());
        self.i = (self.i + 1).min(self.s.len());
        self.text.get(start..end).unwrap_or("").to_string()
    }

    /// After `$'`: an ANSI-C quoted string.
    fn ansi_c(&mut self) -> String {
        let mut w = String::new();
        while self.i < self.s.len() && self.s[self.i] != b'\'' {
            if self.s[self.i] == b'\\' && self.i + 1 < self.s.len() {
                let e = self.s[self.i + 1];
                self.i += 2;
                match e {
                    b'n' => w.push('\n'),
                    b't' => w.push('\t'),
                    b'r' => w.push('\r'),
                    b'\\' => w.push('\\'),
                    b'\'' => w.push('\''),
                    b'"' => w.push('"'),
                    b'x' => {
                        let hex: String = self.text[self.i..]
                            .chars()
                            .take(2)
                            .take_while(char::is_ascii_hexdigit)
                            .collect();
                        self.i += hex.len();
                        if let Ok(b) = u8::from_str_radix(&hex, 16) {
                            w.push(char::from(b));
                        }
                    }
                    other => {
                        w.push('\\');
                        w.push(char::from(other));
                    }
                }
                continue;
            }
            if let Some(ch) = self.char_at() {
                w.push(ch);
                self.i += ch.len_utf8();
            } else {
                self.i += 1;
            }
        }
        self.i = (self.i + 1).min(self.s.len());
        w
    }

    /// Reads heredoc lines up to the delimiter line (or the end).
    fn heredoc_body(&mut self, delim: &str, strip_tabs: bool) -> String {
        let mut lines = Vec::new();
        while self.i < self.s.len() {
            let end = self.text[self.i..]
                .find('\n')
                .map(|p| self.i + p)
                .unwrap_or(self.s.len());
            let raw = &self.text[self.i..end];
            self.i = (end + 1).min(self.s.len());
            let line = if strip_tabs {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if line.trim_end_matches('\r') == delim {
                break;
            }
            lines.push(line.to_string());
        }
        lines.join("\n")
    }
}

/// Database clients whose SQL we read, with the flags that carry SQL inline.
const SQL_CLIENTS: [(&str, &[&str]); 9] = [
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

fn push_stmt(stmts: &mut Vec<String>, s: &str) {
    let norm = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if !norm.is_empty() {
        stmts.push(norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argvs(line: &str) -> Vec<Vec<String>> {
        split(line).into_iter().map(|c| c.argv).collect()
    }

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quoting_and_operators() {
        assert_eq!(
            argvs(r#"cd /tmp && rm -rf "a b" ; echo 'x;y' | wc -l || true"#),
            vec![
                v(&["cd", "/tmp"]),
                v(&["rm", "-rf", "a b"]),
                v(&["echo", "x;y"]),
                v(&["wc", "-l"]),
                v(&["true"]),
            ]
        );
        assert_eq!(argvs(r"echo a\ b"), vec![v(&["echo", "a b"])]);
        assert_eq!(
            argvs(r#"echo "say \"hi\"""#),
            vec![v(&["echo", "say \"hi\""])]
        );
        assert_eq!(argvs("echo $'a\\nb'"), vec![v(&["echo", "a\nb"])]);
        assert_eq!(argvs("ls # rm -rf /"), vec![v(&["ls"])]);
        assert_eq!(argvs("a &\nb"), vec![v(&["a"]), v(&["b"])]);
        assert_eq!(
            argvs("(cd x; make) >/dev/null 2>&1"),
            vec![v(&["cd", "x"]), v(&["make"])]
        );
    }

    #[test]
    fn wrappers_are_seen_through() {
        let cmds = split(
            r#"sudo -u root env -i AWS_PROFILE=prod bash -c "terraform destroy -auto-approve""#,
        );
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].argv, v(&["terraform", "destroy", "-auto-approve"]));
        assert_eq!(cmds[0].assignment("AWS_PROFILE"), Some("prod"));
        assert_eq!(cmds[0].wrappers, v(&["sudo", "env", "bash -c"]));

        let c = split("RAILWAY_ENVIRONMENT=production nohup timeout 5 railway up");
        assert_eq!(c[0].argv, v(&["railway", "up"]));
        assert_eq!(c[0].assignment("RAILWAY_ENVIRONMENT"), Some("production"));

        let c = split("export AWS_PROFILE=prod; aws s3 ls");
        assert_eq!(c[1].assignment("AWS_PROFILE"), Some("prod"));

        let c = split("echo /srv/data | xargs -n1 rm -rf");
        assert_eq!(c[1].argv, v(&["rm", "-rf", "/srv/data"]));

        let c = split("sh -lc 'eval \"git push --force origin main\"'");
        assert_eq!(c[0].argv, v(&["git", "push", "--force", "origin", "main"]));

        let c = split("ssh deploy@db1 'psql -c \"DROP TABLE users\"'");
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].program(), "psql");
        assert_eq!(c[1].remote_host.as_deref(), Some("db1"));

        let c = split("kubectl exec -it pg-0 -- psql -c 'TRUNCATE t'");
        assert_eq!(c[1].argv, v(&["psql", "-c", "TRUNCATE t"]));

        let c = split("echo $(rm -rf ~/x) `whoami`");
        assert!(c.iter().any(|c| c.argv == v(&["rm", "-rf", "~/x"])));
        assert!(c.iter().any(|c| c.argv == v(&["whoami"])));

        let c = from_argv(&v(&["/bin/bash", "-c", "curl -X POST https://x/y"]));
        assert_eq!(c[0].argv, v(&["curl", "-X", "POST", "https://x/y"]));
    }

    /// The process chains real agent harnesses start for one shell tool call: each must come
    /// down to the command the model asked for, with its quoting intact.
    #[test]
    fn harness_wrapper_chains_come_down_to_the_command() {
        let cmd = r#"curl -s -X POST https://backboard.railway.app/graphql/v2 -H 'Authorization: Bearer tok' -d '{"query":"mutation { volumeDelete(volumeId: \"v1\") }"}'"#;
        let want = split(cmd);
        assert_eq!(want.len(), 1);
        // `'` inside `eval '..'` is written `'"'"'`.
        let eval_quoted = format!("'{}'", cmd.replace('\'', r#"'"'"'"#));
        let snapshot = "if [ -f /root/.codex/shell_snapshots/s.sh ]; then . /root/.codex/shell_snapshots/s.sh; fi";
        let table: Vec<(&str, Vec<String>)> = vec![
            (
                "claude code: -c before -l, snapshot and eval",
                v(&[
                    "/bin/bash",
                    "-c",
                    "-l",
                    &format!(
                        "SNAPSHOT_FILE=/root/.claude/shell-snapshots/snapshot-bash-1.sh; source \"$SNAPSHOT_FILE\" 2>/dev/null || true; eval {eval_quoted} < /dev/null && pwd -P >| /tmp/claude-1a2b-cwd"
                    ),
                ]),
            ),
            (
                "codex process setup",
                v(&[
                    "/proc/self/exe",
                    "--codex-run-as-process-setup",
                    "45",
                    "19455",
                    "pipe",
                    "",
                    "/work",
                    "/root/.codex/tmp/arg0/codex-linux-sandbox",
                    "--sandbox-policy-cwd",
                    "/work",
                    "--",
                    "/bin/bash",
                    "-c",
                    &format!("{snapshot}\n{cmd}"),
                ]),
            ),
            (
                "codex process setup without a sandbox (program path, then argv[0])",
                v(&[
                    "/proc/self/exe",
                    "--codex-run-as-process-setup",
                    "50",
                    "2665",
                    "pipe",
                    "",
                    "/work",
                    "/bin/bash",
                    "/bin/bash",
                    "-c",
                    &format!("__CODEX_SNAPSHOT_OVERRIDE_SET_0=\"${{X+x}}\"\n{cmd}"),
                ]),
            ),
            (
                "codex snapshot override",
                v(&[
                    "/bin/bash",
                    "-c",
                    &format!("__CODEX_SNAPSHOT_OVERRIDE_PWD=/work; {cmd}"),
                ]),
            ),
            (
                "codex linux sandbox",
                v(&[
                    "codex-linux-sandbox",
                    "--sandbox-policy-cwd",
                    "/work",
                    "--sandbox-policy",
                    r#"{"type":"workspace-write","network_access":false}"#,
                    "--",
                    "/bin/bash",
                    "-lc",
                    cmd,
                ]),
            ),
            (
                "bubblewrap running codex as the sandbox",
                v(&[
                    "bwrap",
                    "--ro-bind",
                    "/",
                    "/",
                    "--dev",
                    "/dev",
                    "--unshare-net",
                    "--argv0",
                    "codex-linux-sandbox",
                    "--",
                    "/opt/codex/bin/codex",
                    "--sandbox-policy-cwd",
                    "/work",
                    "--apply-seccomp-then-exec",
                    "--",
                    "/bin/bash",
                    "-lc",
                    cmd,
                ]),
            ),
            (
                "gemini cli trap wrapper",
                v(&[
                    "bash",
                    "-c",
                    &format!(
                        "shopt -u promptvars nullglob extglob nocaseglob dotglob; trap 'pgrep -g 0 >/tmp/shell_pgrep_9f.tmp' EXIT; {{ {cmd}; }}; __code=$?; exit $__code;"
                    ),
                ]),
            ),
            (
                "sh -c, env, sudo, timeout",
                v(&[
                    "sudo", "-u", "deploy", "env", "A=1", "timeout", "30", "sh", "-c", cmd,
                ]),
            ),
            (
                "xargs",
                v(&[
                    "sh",
                    "-c",
                    &format!("printf v1 | xargs -r sh -c {}", eval_quoted),
                ]),
            ),
        ];
        for (name, argv) in table {
            let got = from_argv(&argv);
            assert!(
                got.iter().any(|c| c.argv == want[0].argv),
                "{name}: {:#?}",
                got.iter().map(|c| &c.argv).collect::<Vec<_>>()
            );
            // Nothing of the harness's launcher is left as a command of its own.
            assert!(
                !got.iter().any(|c| matches!(
                    c.program(),
                    "codex" | "codex-linux-sandbox" | "bwrap" | "bash" | "-l"
                )),
                "{name}: {:#?}",
                got.iter().map(|c| &c.argv).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn heredocs_and_pipes_feed_stdin() {
        let c = split("psql \"$DATABASE_URL\" <<'SQL'\nDROP TABLE users;\nSQL\necho done");
        assert_eq!(c.len(), 2);
        assert_eq!(sql_statements(&c[0]), v(&["DROP TABLE users"]));
        assert_eq!(c[1].argv, v(&["echo", "done"]));

        let c = split("cat <<EOF | mysql -u root app\nTRUNCATE orders;\nEOF");
        assert_eq!(sql_statements(&c[1]), v(&["TRUNCATE orders"]));

        let c = split("echo 'DELETE FROM users' | psql");
        assert_eq!(sql_statements(&c[1]), v(&["DELETE FROM users"]));

        let c = split("mysql -e\"DROP DATABASE app\"");
        assert_eq!(sql_statements(&c[0]), v(&["DROP DATABASE app"]));

        let c = split("psql -c 'select 1; -- drop table x\n drop   schema s cascade'");
        assert_eq!(
            sql_statements(&c[0]),
            v(&["select 1", "drop schema s cascade"])
        );

        let c = split("bash <<EOF\nrm -rf /var/lib/postgres\nEOF");
        assert_eq!(c[0].argv, v(&["rm", "-rf", "/var/lib/postgres"]));

        let c = split("sqlite3 app.db 'DROP TABLE t'");
        assert_eq!(sql_statements(&c[0]), v(&["DROP TABLE t"]));

        let c = split("psql <<< 'TRUNCATE t'");
        assert_eq!(sql_statements(&c[0]), v(&["TRUNCATE t"]));
    }

    #[test]
    fn never_panics_on_broken_input() {
        for s in [
            "'", "\"", "$(", "`", "<<", "a <<EOF", "|||", "$'\\x", "\\", "&>", "2>",
        ] {
            let _ = split(s);
        }
    }
}
