//! `flightlog hook install <agent>`: merges flightlog's hook entries into the agent's config
//! file without disturbing what is there. Idempotent: a second run changes nothing.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::Agent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallScope {
    /// The project's config (`.claude/settings.json`, `.codex/hooks.json`, ...) under `root`.
    Project,
    /// The user's config under `home`.
    User,
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub path: PathBuf,
    /// Hook events that got a new entry (empty: already installed).
    pub added: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON ({source}); fix or move it, then run this again")]
    BadJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {what} is not a JSON object; not touching it")]
    Shape { path: PathBuf, what: String },
}

/// The config file for an agent and scope.
pub fn config_path(agent: Agent, scope: InstallScope, project_root: &Path, home: &Path) -> PathBuf {
    let base = match scope {
        InstallScope::Project => project_root,
        InstallScope::User => home,
    };
    match agent {
        Agent::ClaudeCode => base.join(".claude/settings.json"),
        Agent::Codex => base.join(".codex/hooks.json"),
        Agent::Gemini => base.join(".gemini/settings.json"),
        Agent::Cursor => base.join(".cursor/hooks.json"),
    }
}

/// The hook events flightlog listens to, per agent, and whether each takes a tool matcher.
fn events(agent: Agent) -> &'static [(&'static str, bool)] {
    match agent {
        Agent::ClaudeCode => &[
            ("SessionStart", false),
            ("UserPromptSubmit", false),
            ("PreToolUse", true),
            ("PostToolUse", true),
            ("PostToolUseFailure", true),
            ("Notification", false),
            ("Stop", false),
            ("SubagentStop", false),
            ("StopFailure", false),
            ("PreCompact", false),
            ("SessionEnd", false),
        ],
        Agent::Codex => &[
            ("SessionStart", false),
            ("UserPromptSubmit", false),
            ("PreToolUse", true),
            ("PostToolUse", true),
            ("Stop", false),
            ("SubagentStop", false),
            ("SessionEnd", false),
        ],
        Agent::Gemini => &[
            ("SessionStart", false),
            ("BeforeAgent", false),
            ("BeforeTool", true),
            ("AfterTool", true),
            ("AfterAgent", false),
            ("Notification", false),
            ("PreCompress", false),
            ("SessionEnd", false),
        ],
        Agent::Cursor => &[
            ("beforeSubmitPrompt", false),
            ("beforeShellExecution", false),
            ("afterShellExecution", false),
            ("beforeMCPExecution", false),
            ("afterMCPExecution", false),
            ("beforeReadFile", false),
            ("afterFileEdit", false),
            ("afterAgentResponse", false),
            ("stop", false),
        ],
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Merges flightlog's hooks (running `command`, e.g. `/usr/local/bin/flightlog hook claude-code`)
/// into the config at `path`.
pub fn install(agent: Agent, path: &Path, command: &str) -> Result<Installed, InstallError> {
    let mut root: Value = match fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => json!({}),
        Ok(b) => serde_json::from_slice(&b).map_err(|source| InstallError::BadJson {
            path: path.to_path_buf(),
            source,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(io(path)(e)),
    };
    let shape = |what: &str| InstallError::Shape {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let obj = root.as_object_mut().ok_or_else(|| shape("the file"))?;
    if agent == Agent::Cursor && !obj.contains_key("version") {
        obj.insert("version".into(), json!(1));
    }
    let hooks = obj.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks.as_object_mut().ok_or_else(|| shape("\"hooks\""))?;
    let mut added = Vec::new();
    for (event, takes_matcher) in events(agent) {
        let list = hooks.entry(event.to_string()).or_insert_with(|| json!([]));
        let list = list
            .as_array_mut()
            .ok_or_else(|| shape(&format!("\"hooks\".\"{event}\"")))?;
        if contains_command(list, command) {
            continue;
        }
        let entry = match agent {
            Agent::Cursor => json!({"command": command}),
            Agent::Gemini => {
                let mut m = Map::new();
                if *takes_matcher {
                    m.insert("matcher".into(), json!("*"));
                }
                m.insert("hooks".into(), json!([{"type": "command", "name": "flightlog", "command": command, "timeout": 10000}]));
                Value::Object(m)
            }
            Agent::ClaudeCode | Agent::Codex => {
                let mut m = Map::new();
                if *takes_matcher {
                    m.insert("matcher".into(), json!("*"));
                }
                m.insert(
                    "hooks".into(),
                    json!([{"type": "command", "command": command, "timeout": 30}]),
                );
                Value::Object(m)
            }
        };
        list.push(entry);
        added.push(event.to_string());
    }
    if !added.is_empty() {
        write_atomically(path, &root)?;
    }
    Ok(Installed {
        path: path.to_path_buf(),
        added,
    })
}

/// True if any handler in the list (at any nesting) already runs `command`.
fn contains_command(list: &[Value], command: &str) -> bool {
    list.iter().any(|entry| {
        entry.get("command").and_then(Value::as_str) == Some(command)
            || entry
                .get("hooks")
                .and_then(Value::as_array)
                .is_some_and(|hs| {
                    hs.iter()
                        .any(|h| h.get("command").and_then(Value::as_str) == Some(command))
                })
    })
}

fn write_atomically(path: &Path, v: &Value) -> Result<(), InstallError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    let tmp = path.with_extension("flightlog-tmp");
    let mut text = serde_json::to_string_pretty(v).map_err(|source| InstallError::BadJson {
        path: path.to_path_buf(),
        source,
    })?;
    text.push('\n');
    {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io(&tmp))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}
