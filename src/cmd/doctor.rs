//! `flightlog doctor [--json]`: will this machine's agent sessions be recorded? For each agent
//! on PATH: its version, where its hook config is, whether flightlog's hooks are installed,
//! reviewed or trusted, and will be loaded, and the one command that fixes what is not. Then
//! whether ptrace is allowed, and the store and its keys. Exit 0 when everything will be
//! recorded, 1 when something will not.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use flightlog_recorder::hook::codex::{AppServer, which};
use flightlog_recorder::hook::{self, Agent, InstallScope, Locations};
use serde_json::{Value, json};

use crate::cmd::hook::shell_quote;
use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog doctor\n  flightlog doctor --json | jq '.agents[] | select(.recorded == false) | .fix'\n\nExit codes: 0 every agent on PATH will be recorded and the store is healthy; 1 something will\nnot be recorded (each line marked NOT says why and the command that fixes it)."
)]
pub struct Args {
    /// One JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// The agents flightlog knows, the program each is started as, and its display name.
const AGENTS: [(Agent, &str, &str); 4] = [
    (Agent::ClaudeCode, "claude", "Claude Code"),
    (Agent::Codex, "codex", "Codex CLI"),
    (Agent::Gemini, "gemini", "Gemini CLI"),
    (Agent::Cursor, "cursor-agent", "Cursor CLI"),
];

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let places = Locations::new(home, cwd, |k| std::env::var_os(k));
    let path_var = std::env::var_os("PATH");
    // Each agent's check starts the agent (`--version`, Codex's app server): all at once.
    let agents: Vec<Value> = std::thread::scope(|scope| {
        let checks: Vec<_> = AGENTS
            .iter()
            .map(|(agent, program, name)| {
                let (places, path_var) = (&places, &path_var);
                scope.spawn(move || match which(program, path_var.as_deref()) {
                    Some(p) => check_agent(places, *agent, name, &p),
                    None => json!({
                        "agent": agent.name(), "name": name, "program": program,
                        "on_path": false, "recorded": null, "fix": null,
                    }),
                })
            })
            .collect();
        checks
            .into_iter()
            .map(|c| {
                c.join().unwrap_or_else(
                    |_| json!({"recorded": false, "problems": ["the check failed"]}),
                )
            })
            .collect()
    });
    let ptrace = match flightlog_recorder::record::trace::ptrace_allowed() {
        Ok(()) => json!({"allowed": true, "yama_ptrace_scope": yama()}),
        Err(why) => json!({
            "allowed": false, "yama_ptrace_scope": yama(), "detail": why,
            "effect": "`flightlog record` runs agents untraced (their commands come from hooks and the PTY only) and records a gap",
        }),
    };
    let store = check_store(ctx);
    let keys = check_keys(ctx);
    let ok = agents.iter().all(|a| a["recorded"] != false)
        && ptrace["allowed"] == true
        && store["ok"] == true
        && keys["ok"] == true;
    let report = json!({
        "ok": ok, "agents": agents, "ptrace": ptrace, "store": store, "keys": keys,
    });
    let out = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        text(&report)
    };
    let mut stdout = std::io::stdout().lock();
    match std::io::Write::write_all(&mut stdout, out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `program --version`'s first line (sanitized: it is the agent's text), bounded in time.
fn version(program: &Path) -> Option<String> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let out = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::Read::take(out, 4096), &mut s);
        let _ = tx.send(s);
    });
    let text = rx.recv_timeout(Duration::from_secs(20)).ok();
    let _ = child.kill();
    let _ = child.wait();
    let line = text?
        .lines()
        .find(|l| !l.trim().is_empty())?
        .trim()
        .to_string();
    Some(line.chars().filter(|c| !c.is_control()).take(200).collect())
}

/// One hook config: where it is, whether flightlog's hooks are in it, which events lack one.
fn config(places: &Locations, agent: Agent, scope: InstallScope) -> Value {
    let path = places.config_path(agent, scope);
    let scope_name = match scope {
        InstallScope::Project => "project",
        InstallScope::User => "user",
    };
    let (installed, missing, error) = match hook::read_jsonc(&path) {
        Ok(None) => (false, Vec::new(), None),
        Ok(Some(v)) => {
            let found = hook::flightlog_commands(agent, &v);
            let missing: Vec<&str> = hook::event_names(agent)
                .into_iter()
                .filter(|e| !found.contains_key(*e))
                .collect();
            (!found.is_empty(), missing, None)
        }
        Err(e) => (false, Vec::new(), Some(e.to_string())),
    };
    json!({
        "scope": scope_name, "path": path, "exists": path.exists(), "installed": installed,
        "missing_events": if installed { json!(missing) } else { Value::Null },
        "error": error,
    })
}

fn install_command(agent: Agent, scope: &str) -> String {
    format!("flightlog hook install {} --{scope}", agent.name())
}

/// What doctor found about one installed hook config.
struct Finding {
    /// The agent will run every flightlog hook in it.
    loaded: bool,
    problem: Option<String>,
    fix: Option<String>,
}

fn check_agent(places: &Locations, agent: Agent, name: &str, program: &Path) -> Value {
    let configs: Vec<Value> = [InstallScope::User, InstallScope::Project]
        .into_iter()
        .map(|s| config(places, agent, s))
        .collect();
    let installed: Vec<&Value> = configs.iter().filter(|c| c["installed"] == true).collect();
    let dir = shell_quote(&places.project.display().to_string());
    let mut findings: Vec<Finding> = Vec::new();
    let mut trust = Value::Null;
    let codex = match agent {
        Agent::Codex if !installed.is_empty() => Some(
            AppServer::start(program)
                .and_then(|mut s| s.hooks(&places.project))
                .map_err(|e| format!("cannot ask Codex about its hooks: {e}")),
        ),
        _ => None,
    };
    let gemini_trust = match agent {
        Agent::Gemini => Some(places.gemini_trusts(&places.project)),
        _ => None,
    };
    let mut codex_hooks = Vec::new();
    for c in &installed {
        let path = PathBuf::from(c["path"].as_str().unwrap_or(""));
        let scope = c["scope"].as_str().unwrap_or("user");
        let reinstall = install_command(agent, scope);
        if let Some(m) = c["missing_events"].as_array().filter(|m| !m.is_empty()) {
            let m: Vec<&str> = m.iter().filter_map(Value::as_str).collect();
            findings.push(Finding {
                loaded: false,
                problem: Some(format!(
                    "{} has no flightlog hook for {}",
                    path.display(),
                    m.join(", ")
                )),
                fix: Some(reinstall),
            });
            continue;
        }
        let finding = match (&codex, &gemini_trust) {
            (Some(Err(e)), _) => Finding {
                loaded: false,
                problem: Some(e.clone()),
                fix: None,
            },
            (Some(Ok(listed)), _) => {
                let ours: Vec<_> = listed
                    .hooks
                    .iter()
                    .filter(|h| {
                        h.source_path == path
                            && h.command.as_deref().is_some_and(|c| {
                                c.contains("flightlog") && c.ends_with(" hook codex")
                            })
                    })
                    .collect();
                for h in &ours {
                    codex_hooks.push(json!({"key": h.key, "trust": h.trust, "enabled": h.enabled}));
                }
                let skipped = ours.iter().filter(|h| !h.runs()).count();
                if ours.is_empty() && scope == "project" {
                    Finding {
                        loaded: false,
                        problem: Some(format!(
                            "Codex ignores {} because this project is not trusted",
                            path.display()
                        )),
                        fix: Some(format!(
                            "cd {dir} && codex   # choose \"Trust and continue\", then: {reinstall}"
                        )),
                    }
                } else if ours.is_empty() {
                    Finding {
                        loaded: false,
                        problem: Some(format!("Codex does not load {}", path.display())),
                        fix: None,
                    }
                } else if skipped > 0 {
                    Finding {
                        loaded: false,
                        problem: Some(format!(
                            "Codex skips {skipped} of flightlog's {} hooks in {} (not reviewed, \
                             changed since, or disabled)",
                            ours.len(),
                            path.display()
                        )),
                        fix: Some(reinstall),
                    }
                } else {
                    Finding {
                        loaded: true,
                        problem: None,
                        fix: None,
                    }
                }
            }
            (None, Some(Err(e))) => Finding {
                loaded: false,
                problem: Some(e.to_string()),
                fix: None,
            },
            (None, Some(Ok(t))) if *t != Some(true) => Finding {
                loaded: false,
                problem: Some(format!(
                    "Gemini CLI does not trust {} (headless runs refuse to start here{})",
                    places.project.display(),
                    if scope == "project" {
                        " and it ignores the project's settings"
                    } else {
                        ""
                    }
                )),
                fix: Some(format!(
                    "cd {dir} && gemini   # trust the folder when asked, or type /permissions trust"
                )),
            },
            _ => Finding {
                loaded: true,
                problem: None,
                fix: None,
            },
        };
        findings.push(finding);
    }
    if let Some(Ok(t)) = &gemini_trust {
        trust = json!({"folder_trusted": t});
    }
    if agent == Agent::Codex {
        trust = json!({"hooks": codex_hooks});
    }
    let recorded = findings.iter().any(|f| f.loaded);
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut fix = None;
    if installed.is_empty() {
        problems.push("flightlog's hooks are not installed".into());
        fix = Some(install_command(agent, "user"));
    }
    for f in findings {
        match (recorded, f.problem) {
            (false, Some(p)) => {
                problems.push(p);
                if fix.is_none() {
                    fix = f.fix;
                }
            }
            (true, Some(p)) => notes.push(p),
            _ => {}
        }
    }
    for c in &configs {
        if let Some(e) = c["error"].as_str() {
            problems.push(e.to_string());
        }
    }
    json!({
        "agent": agent.name(), "name": name, "program": program, "on_path": true,
        "version": version(program), "configs": configs, "trust": trust,
        "recorded": problems.is_empty() && recorded, "problems": problems, "notes": notes,
        "fix": fix,
    })
}

fn yama() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn check_store(ctx: &Ctx) -> Value {
    let path = &ctx.db;
    if !path.exists() {
        let dir = path.parent().unwrap_or(Path::new("."));
        let creatable = dir.is_dir() || dir.ancestors().any(|a| a.is_dir());
        return json!({
            "path": path, "exists": false, "ok": creatable,
            "detail": "not created yet: the first recorded event creates it",
        });
    }
    let writable = std::fs::OpenOptions::new().append(true).open(path);
    let store = ctx.open_ro();
    match (store, writable) {
        (Ok(s), Ok(_)) => match s.sessions() {
            Ok(list) => json!({"path": path, "exists": true, "ok": true, "sessions": list.len()}),
            Err(e) => json!({"path": path, "exists": true, "ok": false, "detail": e.to_string()}),
        },
        (Err(e), _) => {
            json!({"path": path, "exists": true, "ok": false, "detail": crate::one_line(&e)})
        }
        (_, Err(e)) => json!({
            "path": path, "exists": true, "ok": false,
            "detail": format!("not writable by this user, so hooks cannot record: {e}"),
        }),
    }
}

fn check_keys(ctx: &Ctx) -> Value {
    use flightlog_formats::keys;
    let dir = match ctx.key_dir() {
        Ok(d) => d,
        Err(e) => {
            return json!({"dir": null, "exists": false, "ok": false, "detail": format!("{e:#}")});
        }
    };
    if !dir.exists() {
        return json!({
            "dir": dir, "exists": false, "ok": true,
            "detail": "not created yet: the first checkpoint creates them",
        });
    }
    let mut problems = Vec::new();
    for f in ["checkpoint.key", "checkpoint.pub", "fingerprint.key"] {
        let p = dir.join(f);
        if !p.exists() {
            problems.push(format!("{f} is missing (created on the next write)"));
            continue;
        }
        if let Err(e) = keys::check_private(&p) {
            problems.push(e.to_string());
        }
    }
    let public = keys::read_public_key(&dir.join("checkpoint.pub"))
        .ok()
        .map(|k| keys::key_id(&k));
    let bad: Vec<&String> = problems
        .iter()
        .filter(|p| !p.contains("is missing"))
        .collect();
    json!({
        "dir": dir, "exists": true, "ok": bad.is_empty(), "key_id": public,
        "problems": problems,
    })
}

/// What a line of the report starts with: `ok ` or `NOT`.
fn mark(ok: &Value) -> &'static str {
    if *ok == true { "ok " } else { "NOT" }
}

fn text(r: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    for a in r["agents"].as_array().into_iter().flatten() {
        if a["on_path"] == false {
            let _ = writeln!(out, "{}: not on PATH ({})", s(&a["name"]), s(&a["program"]));
            continue;
        }
        let version = a["version"].as_str().unwrap_or("version unknown");
        let mark = mark(&a["recorded"]);
        let _ = writeln!(
            out,
            "{mark} {} {version} ({})",
            s(&a["name"]),
            s(&a["program"])
        );
        for c in a["configs"].as_array().into_iter().flatten() {
            let state = if c["installed"] == true {
                "flightlog hooks installed"
            } else if c["exists"] == true {
                "no flightlog hooks"
            } else {
                "absent"
            };
            let _ = writeln!(
                out,
                "    {} config {}: {state}",
                s(&c["scope"]),
                s(&c["path"])
            );
        }
        for h in a["trust"]["hooks"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "    Codex review of {}: {}",
                s(&h["key"]),
                s(&h["trust"])
            );
        }
        if let Some(t) = a["trust"].get("folder_trusted") {
            let _ = writeln!(
                out,
                "    Gemini folder trust here: {}",
                match t {
                    Value::Bool(true) => "trusted",
                    Value::Bool(false) => "untrusted",
                    _ => "not decided (untrusted)",
                }
            );
        }
        if a["recorded"] == true {
            let _ = writeln!(out, "    will be recorded");
        }
        for p in a["problems"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "    will NOT be recorded: {}", s(p));
        }
        for p in a["notes"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "    note: {}", s(p));
        }
        if let Some(f) = a["fix"].as_str() {
            let _ = writeln!(out, "    fix: {f}");
        }
    }
    let p = &r["ptrace"];
    let what = if p["allowed"] == true {
        "allowed (record follows every process)".to_string()
    } else {
        format!("{}; {}", s(&p["detail"]), s(&p["effect"]))
    };
    let _ = writeln!(out, "{} ptrace: {what}", mark(&p["allowed"]));
    let st = &r["store"];
    let what = match st["sessions"].as_u64() {
        Some(n) => format!("{n} sessions"),
        None => s(&st["detail"]),
    };
    let _ = writeln!(out, "{} store {}: {what}", mark(&st["ok"]), s(&st["path"]));
    let k = &r["keys"];
    let mark = mark(&k["ok"]);
    match k["key_id"].as_str() {
        Some(id) => {
            let _ = writeln!(out, "{mark} keys {}: checkpoint key {id}", s(&k["dir"]));
        }
        None if k["exists"] == false => {
            let _ = writeln!(out, "{mark} keys {}: {}", s(&k["dir"]), s(&k["detail"]));
        }
        None => {
            let _ = writeln!(out, "{mark} keys {}: no checkpoint key yet", s(&k["dir"]));
        }
    }
    for pr in k["problems"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "    {}", s(pr));
    }
    let _ = writeln!(
        out,
        "{}",
        if r["ok"] == true {
            "everything will be recorded"
        } else {
            "something will NOT be recorded (see the lines marked NOT)"
        }
    );
    out
}
