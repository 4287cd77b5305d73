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

mod lex;
mod sql;
mod unwrap;

use lex::*;
pub use sql::{is_sql_client, split_sql, sql_statements};
use unwrap::*;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn argvs(line: &str) -> Vec<Vec<String>> {
        split(line).into_iter().map(|c| c.argv).collect()
    }

    use crate::testing::argv as v;

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
