//! `flightlog hook install <agent>`: merges flightlog's hook entries into the agent's config
//! file without disturbing what is there. Idempotent: a second run changes nothing.
//!
//! Where each agent reads its config (and the variables that move it) and which trust it asks
//! for before it runs a hook are the agents' own rules, learnt from their current releases:
//!
//! - Claude Code: `$CLAUDE_CONFIG_DIR/settings.json` (default `~/.claude`), or the project's
//!   `.claude/settings.json`.
//! - Codex CLI: `$CODEX_HOME/hooks.json` (default `~/.codex`), or the project's
//!   `.codex/hooks.json`, which Codex loads only in a project the user trusts. Codex runs a hook
//!   only once it has been reviewed: the review is a `hooks.state."<key>".trusted_hash` entry in
//!   `$CODEX_HOME/config.toml` (see [`super::codex`]). It clamps a SessionEnd hook to 3 s.
//! - Gemini CLI: `$GEMINI_CLI_HOME/.gemini/settings.json` (default `~`), or the project's
//!   `.gemini/settings.json`, which it loads only in a trusted folder; both files are JSONC.
//!   A project hook it has not seen before is announced once and recorded in
//!   `.gemini/trusted_hooks.json` as `"<name>:<command>"` under the project's path.
//! - Cursor: `~/.cursor/hooks.json` or the project's `.cursor/hooks.json`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::Agent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallScope {
    /// The project's config (`.claude/settings.json`, `.codex/hooks.json`, ...) under its root.
    Project,
    /// The user's config.
    User,
}

/// Where the agents keep their configs: the home directory, the project, and the variables
/// each agent reads to move its config directory.
#[derive(Debug, Clone, Default)]
pub struct Locations {
    pub home: PathBuf,
    pub project: PathBuf,
    /// Every environment variable this module reads, captured once.
    vars: BTreeMap<&'static str, OsString>,
}

/// The variables that move an agent's config or decide its trust.
const VARS: [&str; 5] = [
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GEMINI_CLI_HOME",
    "GEMINI_CLI_TRUSTED_FOLDERS_PATH",
    "GEMINI_CLI_TRUST_WORKSPACE",
];

impl Locations {
    /// `var` looks a variable up (the process environment, or a test's map).
    pub fn new(
        home: PathBuf,
        project: PathBuf,
        var: impl Fn(&str) -> Option<OsString>,
    ) -> Locations {
        let vars = VARS
            .iter()
            .filter_map(|k| var(k).filter(|v| !v.is_empty()).map(|v| (*k, v)))
            .collect();
        Locations {
            home,
            project,
            vars,
        }
    }

    fn var(&self, k: &str) -> Option<&OsString> {
        self.vars.get(k)
    }

    /// The variable that moved `agent`'s user config, if one did (for messages).
    pub fn moved_by(&self, agent: Agent) -> Option<(&'static str, PathBuf)> {
        let k = match agent {
            Agent::ClaudeCode => "CLAUDE_CONFIG_DIR",
            Agent::Codex => "CODEX_HOME",
            Agent::Gemini => "GEMINI_CLI_HOME",
            Agent::Cursor => return None,
        };
        self.var(k).map(|v| (k, PathBuf::from(v)))
    }

    /// Codex's home: `$CODEX_HOME`, else `~/.codex`.
    pub fn codex_home(&self) -> PathBuf {
        self.var("CODEX_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.home.join(".codex"))
    }

    /// Gemini's user directory: `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`.
    pub fn gemini_dir(&self) -> PathBuf {
        self.var("GEMINI_CLI_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.home.clone())
            .join(".gemini")
    }

    fn claude_dir(&self) -> PathBuf {
        self.var("CLAUDE_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.home.join(".claude"))
    }

    /// The hook config file for an agent and scope.
    pub fn config_path(&self, agent: Agent, scope: InstallScope) -> PathBuf {
        match (scope, agent) {
            (InstallScope::Project, Agent::ClaudeCode) => {
                self.project.join(".claude/settings.json")
            }
            (InstallScope::Project, Agent::Codex) => self.project.join(".codex/hooks.json"),
            (InstallScope::Project, Agent::Gemini) => self.project.join(".gemini/settings.json"),
            (InstallScope::Project, Agent::Cursor) => self.project.join(".cursor/hooks.json"),
            (InstallScope::User, Agent::ClaudeCode) => self.claude_dir().join("settings.json"),
            (InstallScope::User, Agent::Codex) => self.codex_home().join("hooks.json"),
            (InstallScope::User, Agent::Gemini) => self.gemini_dir().join("settings.json"),
            (InstallScope::User, Agent::Cursor) => self.home.join(".cursor/hooks.json"),
        }
    }

    /// Whether Gemini CLI trusts `dir`: Some(true/false) when it decided, None when the user has
    /// not been asked yet (Gemini then treats the folder as untrusted: headless runs refuse to
    /// start and project settings are ignored). Follows Gemini's own order: the
    /// `GEMINI_CLI_TRUST_WORKSPACE` variable, folder trust switched off in the user's settings,
    /// then the longest matching rule in `trustedFolders.json`.
    pub fn gemini_trusts(&self, dir: &Path) -> Result<Option<bool>, InstallError> {
        match self
            .var("GEMINI_CLI_TRUST_WORKSPACE")
            .and_then(|v| v.to_str())
        {
            Some("true") => return Ok(Some(true)),
            Some("false") => return Ok(Some(false)),
            _ => {}
        }
        let settings = self.gemini_dir().join("settings.json");
        if let Some(v) = read_jsonc(&settings)?
            && v.pointer("/security/folderTrust/enabled") == Some(&Value::Bool(false))
        {
            return Ok(Some(true));
        }
        let folders = self
            .var("GEMINI_CLI_TRUSTED_FOLDERS_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.gemini_dir().join("trustedFolders.json"));
        let Some(rules) = read_jsonc(&folders)? else {
            return Ok(None);
        };
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut best: Option<(usize, bool)> = None;
        for (rule, level) in rules.as_object().into_iter().flatten() {
            let rule_path = PathBuf::from(rule);
            let effective = match level.as_str() {
                Some("TRUST_PARENT") => rule_path.parent().map(Path::to_path_buf),
                Some("TRUST_FOLDER") | Some("DO_NOT_TRUST") => Some(rule_path),
                _ => None,
            };
            let Some(effective) = effective else { continue };
            let effective = fs::canonicalize(&effective).unwrap_or(effective);
            if dir.starts_with(&effective) && best.is_none_or(|(len, _)| rule.len() > len) {
                best = Some((rule.len(), level.as_str() != Some("DO_NOT_TRUST")));
            }
        }
        Ok(best.map(|(_, trusted)| trusted))
    }

    /// Gemini's record of project hooks it has announced: `.gemini/trusted_hooks.json`.
    pub fn gemini_trusted_hooks(&self) -> PathBuf {
        self.gemini_dir().join("trusted_hooks.json")
    }
}

/// The config file for an agent and scope, with no variable moving it.
pub fn config_path(agent: Agent, scope: InstallScope, project_root: &Path, home: &Path) -> PathBuf {
    Locations::new(home.to_path_buf(), project_root.to_path_buf(), |_| None)
        .config_path(agent, scope)
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
    /// The file has comments (the agent reads JSONC): rewriting it would lose them, so it is left
    /// untouched and `add` says what to merge by hand.
    #[error(
        "{path} has comments, which rewriting it would lose, so it is left untouched; merge this \
         into it by hand, then run this again:\n{add}"
    )]
    Commented { path: PathBuf, add: String },
    #[error("{path}: {what} is not a JSON object; not touching it")]
    Shape { path: PathBuf, what: String },
}

/// A hook event flightlog listens to: whether it takes a tool matcher, and the timeout the
/// agent accepts for it (seconds; milliseconds for Gemini).
struct Event {
    name: &'static str,
    matcher: bool,
    timeout: u64,
}

const fn ev(name: &'static str, matcher: bool, timeout: u64) -> Event {
    Event {
        name,
        matcher,
        timeout,
    }
}

const CLAUDE_EVENTS: &[Event] = &[
    ev("SessionStart", false, 30),
    ev("UserPromptSubmit", false, 30),
    ev("PreToolUse", true, 30),
    ev("PostToolUse", true, 30),
    ev("PostToolUseFailure", true, 30),
    ev("Notification", false, 30),
    ev("Stop", false, 30),
    ev("SubagentStop", false, 30),
    ev("StopFailure", false, 30),
    ev("PreCompact", false, 30),
    ev("SessionEnd", false, 30),
];
/// Codex clamps a SessionEnd hook's timeout to 3 s (and says so on every run).
const CODEX_EVENTS: &[Event] = &[
    ev("SessionStart", false, 30),
    ev("UserPromptSubmit", false, 30),
    ev("PreToolUse", true, 30),
    ev("PostToolUse", true, 30),
    ev("Stop", false, 30),
    ev("SubagentStop", false, 30),
    ev("SessionEnd", false, 3),
];
const GEMINI_EVENTS: &[Event] = &[
    ev("SessionStart", false, 10_000),
    ev("BeforeAgent", false, 10_000),
    ev("BeforeTool", true, 10_000),
    ev("AfterTool", true, 10_000),
    ev("AfterAgent", false, 10_000),
    ev("Notification", false, 10_000),
    ev("PreCompress", false, 10_000),
    ev("SessionEnd", false, 10_000),
];
const CURSOR_EVENTS: &[Event] = &[
    ev("beforeSubmitPrompt", false, 0),
    ev("beforeShellExecution", false, 0),
    ev("afterShellExecution", false, 0),
    ev("beforeMCPExecution", false, 0),
    ev("afterMCPExecution", false, 0),
    ev("beforeReadFile", false, 0),
    ev("afterFileEdit", false, 0),
    ev("afterAgentResponse", false, 0),
    ev("stop", false, 0),
];

/// The hook events flightlog listens to, per agent.
fn events(agent: Agent) -> &'static [Event] {
    match agent {
        Agent::ClaudeCode => CLAUDE_EVENTS,
        Agent::Codex => CODEX_EVENTS,
        Agent::Gemini => GEMINI_EVENTS,
        Agent::Cursor => CURSOR_EVENTS,
    }
}

/// The name flightlog's Gemini hook entries carry (Gemini keys its hook review on it).
pub const GEMINI_HOOK_NAME: &str = "flightlog";

fn io(path: &Path) -> impl Fn(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The handler entry for one event.
fn entry(agent: Agent, event: &Event, command: &str) -> Value {
    let mut m = Map::new();
    match agent {
        Agent::Cursor => return json!({"command": command}),
        Agent::Gemini => {
            if event.matcher {
                m.insert("matcher".into(), json!("*"));
            }
            m.insert(
                "hooks".into(),
                json!([{"type": "command", "name": GEMINI_HOOK_NAME, "command": command, "timeout": event.timeout}]),
            );
        }
        Agent::ClaudeCode | Agent::Codex => {
            if event.matcher {
                m.insert("matcher".into(), json!("*"));
            }
            m.insert(
                "hooks".into(),
                json!([{"type": "command", "command": command, "timeout": event.timeout}]),
            );
        }
    }
    Value::Object(m)
}

/// Merges flightlog's hooks (running `command`, e.g. `/usr/local/bin/flightlog hook claude-code`)
/// into the config at `path`.
pub fn install(agent: Agent, path: &Path, command: &str) -> Result<Installed, InstallError> {
    let text = match fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(path)(e)),
    };
    let mut root: Value = match &text {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => match serde_json::from_slice(b) {
            Ok(v) => v,
            Err(source) => {
                // Gemini reads its settings as JSONC: a file that is valid once its comments
                // are gone is fine for Gemini, but rewriting it would drop them.
                if agent == Agent::Gemini
                    && let Ok(stripped) = serde_json::from_slice::<Value>(&strip_comments(b))
                {
                    let mut missing = json!({});
                    merge(agent, &mut missing, &stripped, command, path)?;
                    return Err(InstallError::Commented {
                        path: path.to_path_buf(),
                        add: serde_json::to_string_pretty(&missing).unwrap_or_default(),
                    });
                }
                return Err(InstallError::BadJson {
                    path: path.to_path_buf(),
                    source,
                });
            }
        },
        _ => json!({}),
    };
    let current = root.clone();
    let added = merge(agent, &mut root, &current, command, path)?;
    if !added.is_empty() {
        write_atomically(path, &root)?;
    }
    Ok(Installed {
        path: path.to_path_buf(),
        added,
    })
}

/// Adds to `out` the entries that `current` lacks; returns the events that got one.
fn merge(
    agent: Agent,
    out: &mut Value,
    current: &Value,
    command: &str,
    path: &Path,
) -> Result<Vec<String>, InstallError> {
    let shape = |what: &str| InstallError::Shape {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    if !current.is_object() {
        return Err(shape("the file"));
    }
    let obj = out.as_object_mut().ok_or_else(|| shape("the file"))?;
    if agent == Agent::Cursor && current.get("version").is_none() {
        obj.insert("version".into(), json!(1));
    }
    let existing = match current.get("hooks") {
        None => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(shape("\"hooks\"")),
    };
    let hooks = obj.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks.as_object_mut().ok_or_else(|| shape("\"hooks\""))?;
    let mut added = Vec::new();
    for event in events(agent) {
        let have = match existing.and_then(|m| m.get(event.name)) {
            None => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(shape(&format!("\"hooks\".\"{}\"", event.name))),
        };
        if contains_command(have, command) {
            continue;
        }
        let list = hooks
            .entry(event.name.to_string())
            .or_insert_with(|| json!([]));
        let list = list
            .as_array_mut()
            .ok_or_else(|| shape(&format!("\"hooks\".\"{}\"", event.name)))?;
        list.push(entry(agent, event, command));
        added.push(event.name.to_string());
    }
    Ok(added)
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

/// The commands of every handler in an agent's hook config that look like flightlog's own
/// (`... hook <agent>`), per event: what `doctor` looks for when it does not know the command.
pub fn flightlog_commands(agent: Agent, config: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let Some(hooks) = config.get("hooks").and_then(Value::as_object) else {
        return out;
    };
    let suffix = format!(" hook {}", agent.name());
    let ours = |c: &str| c.contains("flightlog") && c.trim_end().ends_with(&suffix);
    for (event, list) in hooks {
        let mut found = Vec::new();
        for entry in list.as_array().into_iter().flatten() {
            let handlers = std::iter::once(entry).chain(
                entry
                    .get("hooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
            for h in handlers {
                if let Some(c) = h.get("command").and_then(Value::as_str)
                    && ours(c)
                {
                    found.push(c.to_string());
                }
            }
        }
        if !found.is_empty() {
            out.insert(event.clone(), found);
        }
    }
    out
}

/// The events flightlog installs for an agent.
pub fn event_names(agent: Agent) -> Vec<&'static str> {
    events(agent).iter().map(|e| e.name).collect()
}

/// Reads a JSON or JSONC file; None if it does not exist.
pub fn read_jsonc(path: &Path) -> Result<Option<Value>, InstallError> {
    let b = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(json!({})));
    }
    serde_json::from_slice(&strip_comments(&b))
        .map(Some)
        .map_err(|source| InstallError::BadJson {
            path: path.to_path_buf(),
            source,
        })
}

/// Blanks `//` and `/* */` comments outside strings (as JSONC readers do), keeping every
/// other byte where it was so that parse errors point at the right line.
pub fn strip_comments(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut in_string = false;
    while i < b.len() {
        let c = b[i];
        if in_string {
            out.push(c);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1]);
                i += 2;
                continue;
            }
            in_string = c != b'"';
            i += 1;
            continue;
        }
        match (c, b.get(i + 1)) {
            (b'"', _) => {
                in_string = true;
                out.push(c);
                i += 1;
            }
            (b'/', Some(b'/')) => {
                while i < b.len() && b[i] != b'\n' {
                    out.push(b' ');
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                out.extend_from_slice(b"  ");
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                    i += 1;
                }
                if i < b.len() {
                    out.extend_from_slice(b"  ");
                    i += 2;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Records flightlog's project hooks as announced in Gemini's `trusted_hooks.json` (the
/// project's path maps to `"<name>:<command>"` keys), as Gemini itself does the first time it
/// runs them in a trusted folder. Returns true if the file changed.
pub fn gemini_trust_hooks(
    trusted_hooks: &Path,
    project: &Path,
    command: &str,
) -> Result<bool, InstallError> {
    let mut root = match read_jsonc(trusted_hooks)? {
        Some(Value::Object(m)) => m,
        None => Map::new(),
        Some(_) => {
            return Err(InstallError::Shape {
                path: trusted_hooks.to_path_buf(),
                what: "the file".into(),
            });
        }
    };
    let key = format!("{GEMINI_HOOK_NAME}:{command}");
    let list = root
        .entry(project.display().to_string())
        .or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return Err(InstallError::Shape {
            path: trusted_hooks.to_path_buf(),
            what: format!("\"{}\"", project.display()),
        });
    };
    if list.iter().any(|k| k.as_str() == Some(&key)) {
        return Ok(false);
    }
    list.push(json!(key));
    write_atomically(trusted_hooks, &Value::Object(root))?;
    Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn locs(vars: &[(&str, &str)]) -> Locations {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Locations::new("/home/u".into(), "/work/p".into(), move |k| {
            vars.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn config_locations_follow_each_agents_variables() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Agent, InstallScope, &'a str);
        let cases: &[Case] = &[
            (
                &[],
                Agent::Codex,
                InstallScope::User,
                "/home/u/.codex/hooks.json",
            ),
            (
                &[("CODEX_HOME", "/cx")],
                Agent::Codex,
                InstallScope::User,
                "/cx/hooks.json",
            ),
            (
                &[("CODEX_HOME", "")],
                Agent::Codex,
                InstallScope::User,
                "/home/u/.codex/hooks.json",
            ),
            (
                &[("CODEX_HOME", "/cx")],
                Agent::Codex,
                InstallScope::Project,
                "/work/p/.codex/hooks.json",
            ),
            (
                &[],
                Agent::ClaudeCode,
                InstallScope::User,
                "/home/u/.claude/settings.json",
            ),
            (
                &[("CLAUDE_CONFIG_DIR", "/cc")],
                Agent::ClaudeCode,
                InstallScope::User,
                "/cc/settings.json",
            ),
            (
                &[("CLAUDE_CONFIG_DIR", "/cc")],
                Agent::ClaudeCode,
                InstallScope::Project,
                "/work/p/.claude/settings.json",
            ),
            (
                &[],
                Agent::Gemini,
                InstallScope::User,
                "/home/u/.gemini/settings.json",
            ),
            (
                &[("GEMINI_CLI_HOME", "/g")],
                Agent::Gemini,
                InstallScope::User,
                "/g/.gemini/settings.json",
            ),
            (
                &[],
                Agent::Gemini,
                InstallScope::Project,
                "/work/p/.gemini/settings.json",
            ),
            (
                &[],
                Agent::Cursor,
                InstallScope::User,
                "/home/u/.cursor/hooks.json",
            ),
            (
                &[],
                Agent::Cursor,
                InstallScope::Project,
                "/work/p/.cursor/hooks.json",
            ),
        ];
        for (vars, agent, scope, want) in cases {
            assert_eq!(
                locs(vars).config_path(*agent, *scope),
                PathBuf::from(want),
                "{agent:?} {scope:?} {vars:?}"
            );
        }
    }

    #[test]
    fn codex_session_end_gets_the_timeout_codex_accepts() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hooks.json");
        install(Agent::Codex, &p, "fl hook codex").unwrap();
        let v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["hooks"]["SessionEnd"][0]["hooks"][0]["timeout"], 3);
        assert_eq!(v["hooks"]["SessionStart"][0]["hooks"][0]["timeout"], 30);
    }

    #[test]
    fn commented_gemini_settings_are_left_untouched_with_what_to_add() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.json");
        let text = "{\n  // my model\n  \"model\": {\"name\": \"x\"}, /* keep */\n  \"hooks\": {\"SessionStart\": [{\"hooks\": [{\"type\": \"command\", \"name\": \"flightlog\", \"command\": \"fl hook gemini\"}]}]}\n}\n";
        fs::write(&p, text).unwrap();
        let err = install(Agent::Gemini, &p, "fl hook gemini").unwrap_err();
        let InstallError::Commented { add, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(fs::read_to_string(&p).unwrap(), text);
        let add: Value = serde_json::from_str(add).unwrap();
        let events: Vec<&String> = add["hooks"].as_object().unwrap().keys().collect();
        assert!(!events.contains(&&"SessionStart".to_string()), "{events:?}");
        assert!(events.contains(&&"BeforeTool".to_string()), "{events:?}");
        assert!(err.to_string().contains("BeforeTool"));
        // Claude Code's settings are strict JSON: comments are an error there.
        assert!(matches!(
            install(Agent::ClaudeCode, &p, "x"),
            Err(InstallError::BadJson { .. })
        ));
    }

    #[test]
    fn comments_are_stripped_outside_strings_only() {
        let cases: &[(&str, &str)] = &[
            (r#"{"a": "//not"} // yes"#, r#"{"a": "//not"}"#),
            (r#"{"a": "/*x*/"} /* y */"#, r#"{"a": "/*x*/"}"#),
            ("{\"a\": \"q\\\"//\"} // z", "{\"a\": \"q\\\"//\"}"),
            ("/* a\nb */{}", "{}"),
            ("{} /* cut", "{}"),
        ];
        for (input, want) in cases {
            let got = strip_comments(input.as_bytes());
            assert_eq!(got.len(), input.len(), "{input}");
            let got: Value = serde_json::from_slice(&got).unwrap();
            let want: Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn gemini_folder_trust_follows_geminis_rules() {
        let d = tempfile::tempdir().unwrap();
        let proj = d.path().join("work/p");
        fs::create_dir_all(&proj).unwrap();
        fs::create_dir_all(d.path().join(".gemini")).unwrap();
        let base = |extra: &[(&str, &str)]| {
            let home = d.path().display().to_string();
            let mut vars: Vec<(String, String)> = vec![("GEMINI_CLI_HOME".into(), home)];
            vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Locations::new(d.path().into(), proj.clone(), move |k| {
                vars.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| OsString::from(v))
            })
        };
        let folders = d.path().join(".gemini/trustedFolders.json");
        assert_eq!(base(&[]).gemini_trusts(&proj).unwrap(), None);
        let work = d.path().join("work").display().to_string();
        let p = proj.display().to_string();
        let cases: &[(String, Option<bool>)] = &[
            (format!(r#"{{"{work}": "TRUST_FOLDER"}}"#), Some(true)),
            (format!(r#"{{"{p}": "TRUST_PARENT"}}"#), Some(true)),
            (
                format!(r#"{{"{work}": "TRUST_FOLDER", "{p}": "DO_NOT_TRUST"}}"#),
                Some(false),
            ),
            (format!("// c\n{{\"{p}/x\": \"TRUST_FOLDER\"}}"), None),
        ];
        for (text, want) in cases {
            fs::write(&folders, text).unwrap();
            assert_eq!(base(&[]).gemini_trusts(&proj).unwrap(), *want, "{text}");
        }
        let l = base(&[("GEMINI_CLI_TRUST_WORKSPACE", "true")]);
        assert_eq!(l.gemini_trusts(&proj).unwrap(), Some(true));
        fs::write(
            d.path().join(".gemini/settings.json"),
            r#"{"security": {"folderTrust": {"enabled": false}}}"#,
        )
        .unwrap();
        assert_eq!(base(&[]).gemini_trusts(&proj).unwrap(), Some(true));
    }

    #[test]
    fn gemini_hook_review_is_recorded_once_beside_what_is_there() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("trusted_hooks.json");
        fs::write(&f, r#"{"/other": ["a:b"]}"#).unwrap();
        assert!(gemini_trust_hooks(&f, Path::new("/p"), "fl hook gemini").unwrap());
        assert!(!gemini_trust_hooks(&f, Path::new("/p"), "fl hook gemini").unwrap());
        let v: Value = serde_json::from_slice(&fs::read(&f).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"/other": ["a:b"], "/p": ["flightlog:fl hook gemini"]})
        );
    }

    #[test]
    fn doctor_finds_flightlogs_commands() {
        let v = json!({"hooks": {
            "PreToolUse": [{"matcher": "*", "hooks": [{"command": "./mine.sh"}, {"command": "/usr/bin/flightlog hook codex"}]}],
            "Stop": [{"hooks": [{"command": "/usr/bin/flightlog hook claude-code"}]}],
        }});
        let found = flightlog_commands(Agent::Codex, &v);
        assert_eq!(found.len(), 1);
        assert_eq!(found["PreToolUse"], vec!["/usr/bin/flightlog hook codex"]);
    }
}
