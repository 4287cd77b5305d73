//! Wrappers seen through: sudo, env, shells with -c, ssh, kubectl/docker exec, xargs, ...
//! each wrapper's own argv rules, applied one layer at a time.

use super::*;

pub(super) const SHELLS: [&str; 7] = ["sh", "bash", "zsh", "dash", "ksh", "ash", "busybox"];

/// A wrapper that takes options (those in `takes_value` with a value), then `operands` of its
/// own, then the command it runs.
struct PrefixWrapper {
    names: &'static [&'static str],
    takes_value: &'static [&'static str],
    operands: usize,
}

const SCHED_OPTIONS: &[&str] = &["-n", "-c", "-p", "-i", "-o", "-e", "--adjustment"];

const PREFIX_WRAPPERS: &[PrefixWrapper] = &[
    PrefixWrapper {
        names: &["time", "nice", "ionice", "stdbuf"],
        takes_value: SCHED_OPTIONS,
        operands: 0,
    },
    // The priority, the CPU mask.
    PrefixWrapper {
        names: &["chrt", "taskset"],
        takes_value: SCHED_OPTIONS,
        operands: 1,
    },
    // The duration.
    PrefixWrapper {
        names: &["timeout"],
        takes_value: &["-s", "-k"],
        operands: 1,
    },
    // The user, group, directory, prompt, ... .
    PrefixWrapper {
        names: &["sudo", "doas"],
        takes_value: &[
            "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R",
        ],
        operands: 0,
    },
    PrefixWrapper {
        names: &["npx", "bunx", "pnpx"],
        takes_value: &["-p", "--package"],
        operands: 0,
    },
];

/// Where the options starting at `from` end: options start with `-`, those in `takes_value`
/// take the next argument, and `--` ends them. Past the end when the last option's value is
/// missing.
fn skip_options(args: &[String], from: usize, takes_value: &[&str]) -> usize {
    let mut i = from;
    while i < args.len() && args[i].starts_with('-') {
        if args[i] == "--" {
            return i + 1;
        }
        if takes_value.contains(&args[i].as_str()) {
            i += 1;
        }
        i += 1;
    }
    i
}

/// Splits a script a wrapper runs (`sh -c`, `eval`, `watch`) like a command line, with the
/// wrapper's label added.
fn split_script(
    cmd: &SimpleCommand,
    script: &str,
    label: &str,
    depth: usize,
    out: &mut Vec<SimpleCommand>,
) {
    let wr = push_wrapper(&cmd.wrappers, label);
    split_into(
        script,
        &cmd.assignments,
        &wr,
        cmd.remote_host.as_deref(),
        depth + 1,
        out,
    );
}

/// Sees through one wrapper at a time, recursing; pushes the innermost commands.
pub(super) fn unwrap_into(cmd: SimpleCommand, depth: usize, out: &mut Vec<SimpleCommand>) {
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
    if let Some(w) = PREFIX_WRAPPERS
        .iter()
        .find(|w| w.names.contains(&prog.as_str()))
    {
        let i = skip_options(&args, 0, w.takes_value) + w.operands;
        unwrap_into(rest_after(&cmd, i, &prog), depth + 1, out);
        return;
    }
    match prog.as_str() {
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
            let takes_value: &[&str] = if prog == "exec" { &["-a"] } else { &[] };
            let i = skip_options(&args, 0, takes_value);
            if prog == "command" && args.iter().take(i).any(|a| a == "-v" || a == "-V") {
                out.push(cmd);
                return;
            }
            unwrap_into(rest_after(&cmd, i, &prog), depth + 1, out);
        }
        "watch" => {
            let i = skip_options(&args, 0, &["-n"]);
            let script = args[i.min(args.len())..].join(" ");
            split_script(&cmd, &script, "watch", depth, out);
        }
        "xargs" => {
            let with_arg = [
                "-n", "-I", "-i", "-L", "-l", "-P", "-d", "-s", "-E", "-e", "-a",
            ];
            let i = skip_options(&args, 0, &with_arg);
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
        "eval" => split_script(&cmd, &args.join(" "), "eval", depth, out),
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
                (Some(s), _, _) => split_script(&cmd, &s, &label, depth, out),
                // A script on stdin: `bash <<EOF`, `echo 'rm -rf /' | sh`.
                (None, None, Some(stdin)) => split_script(&cmd, &stdin, p, depth, out),
                _ => out.push(cmd), // `bash script.sh`: the script's contents are not in the line
            }
        }
        "ssh" => {
            // ssh [opts] host [cmd...]
            let with_arg = [
                "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o",
                "-p", "-Q", "-R", "-S", "-W", "-w",
            ];
            let i = skip_options(&args, 0, &with_arg);
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
            let i = skip_options(&args, 1, &with_arg);
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
pub(super) fn shell_c_operand(rest: &[String]) -> Option<String> {
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
pub(super) fn launched_into(
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

pub(super) fn push_wrapper(w: &[String], label: &str) -> Vec<String> {
    let mut v = w.to_vec();
    v.push(label.to_string());
    v
}
