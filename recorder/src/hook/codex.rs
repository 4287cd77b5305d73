//! Codex CLI's own answer on its hooks, asked through `codex app-server` (JSON-RPC over stdio):
//! which hooks it loads for a folder, each with its key, source file, command, current hash and
//! review status; and the review itself, written the way Codex's `/hooks` screen writes it
//! (`config/batchWrite` of `hooks.state."<key>".trusted_hash = "<current hash>"` into the
//! user's `config.toml`).
//!
//! Asking Codex rather than re-deriving its hash keeps flightlog right across Codex releases: a
//! hook Codex does not list is one it will not load (a project it does not trust), and a hash
//! it computed is the one it will check.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// How long one request to the app server may take (its start includes loading the config).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CodexError {
    #[error("cannot start `{program} app-server`: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
    #[error("`codex app-server` did not answer {method} within {}s", REPLY_TIMEOUT.as_secs())]
    Timeout { method: String },
    #[error("`codex app-server` ended before answering {method}: {said}")]
    Ended { method: String, said: String },
    #[error("`codex app-server` refused {method}: {message}")]
    Refused { method: String, message: String },
    #[error("`codex app-server` answered {method} with an unexpected shape: {detail}")]
    Shape { method: String, detail: String },
    #[error("cannot write to `codex app-server`: {0}")]
    Io(#[from] std::io::Error),
}

/// One hook as Codex lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodexHook {
    /// `<source file>:<event>:<group>:<handler>`, the key its review is stored under.
    pub key: String,
    pub event: String,
    pub command: Option<String>,
    pub source_path: PathBuf,
    pub current_hash: String,
    /// `trusted`, `untrusted`, `modified` or `managed`.
    pub trust: String,
    pub enabled: bool,
}

impl CodexHook {
    /// Codex will run it: reviewed (or managed by an administrator) and enabled.
    pub fn runs(&self) -> bool {
        self.enabled && matches!(self.trust.as_str(), "trusted" | "managed")
    }
}

/// What Codex reported for one folder.
#[derive(Debug, Clone, Default)]
pub struct CodexHooks {
    pub hooks: Vec<CodexHook>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

/// A running `codex app-server`, ended when dropped.
pub struct AppServer {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: mpsc::Receiver<Value>,
    next: u64,
    /// The last lines the server wrote on stderr (for an error message).
    said: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl AppServer {
    /// Starts `program app-server` (with this process's environment, so `CODEX_HOME` holds).
    pub fn start(program: &Path) -> Result<AppServer, CodexError> {
        let mut child = Command::new(program)
            .arg("app-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| CodexError::Start {
                program: program.display().to_string(),
                source,
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let said = said.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut s) = said.lock() {
                        if s.len() == 5 {
                            s.remove(0);
                        }
                        s.push(line);
                    }
                }
            });
        }
        let (tx, replies) = mpsc::channel();
        if let Some(out) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && v.get("id").is_some()
                        && tx.send(v).is_err()
                    {
                        break;
                    }
                }
            });
        }
        let mut s = AppServer {
            child,
            stdin,
            replies,
            next: 0,
            said,
        };
        s.call(
            "initialize",
            json!({"clientInfo": {"name": "flightlog", "version": env!("CARGO_PKG_VERSION")}}),
        )?;
        s.notify("initialized")?;
        Ok(s)
    }

    fn write(&mut self, msg: &Value) -> Result<(), CodexError> {
        let stdin = self.stdin.as_mut().ok_or_else(|| {
            CodexError::Io(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "stdin closed",
            ))
        })?;
        writeln!(stdin, "{msg}")?;
        stdin.flush()?;
        Ok(())
    }

    fn notify(&mut self, method: &str) -> Result<(), CodexError> {
        self.write(&json!({"method": method}))
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, CodexError> {
        self.next += 1;
        let id = self.next;
        self.write(&json!({"id": id, "method": method, "params": params}))?;
        loop {
            let reply = match self.replies.recv_timeout(REPLY_TIMEOUT) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(CodexError::Timeout {
                        method: method.into(),
                    });
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Let the stderr reader catch up with the server's last words.
                    let _ = self.child.wait();
                    std::thread::sleep(Duration::from_millis(50));
                    let said = self.said.lock().map(|s| s.join(" / ")).unwrap_or_default();
                    return Err(CodexError::Ended {
                        method: method.into(),
                        said,
                    });
                }
            };
            if reply.get("id").and_then(Value::as_u64) != Some(id) {
                // A request from the server (none is expected here) or a stale reply.
                continue;
            }
            if let Some(e) = reply.get("error") {
                return Err(CodexError::Refused {
                    method: method.into(),
                    message: e
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message")
                        .to_string(),
                });
            }
            return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// The hooks Codex would load for a session in `cwd`.
    pub fn hooks(&mut self, cwd: &Path) -> Result<CodexHooks, CodexError> {
        let method = "hooks/list";
        let r = self.call(method, json!({"cwds": [cwd.display().to_string()]}))?;
        let shape = |detail: &str| CodexError::Shape {
            method: method.into(),
            detail: detail.into(),
        };
        let entry = r
            .get("data")
            .and_then(Value::as_array)
            .and_then(|d| d.first())
            .ok_or_else(|| shape("no data[0]"))?;
        let strings = |k: &str| -> Vec<String> {
            entry
                .get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| match v.as_str() {
                    Some(s) => s.to_string(),
                    None => v
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                })
                .collect()
        };
        let mut hooks = Vec::new();
        for h in entry
            .get("hooks")
            .and_then(Value::as_array)
            .ok_or_else(|| shape("no hooks list"))?
        {
            let s = |k: &str| h.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(key), Some(hash), Some(trust)) =
                (s("key"), s("currentHash"), s("trustStatus"))
            else {
                return Err(shape("a hook without key, currentHash or trustStatus"));
            };
            hooks.push(CodexHook {
                key,
                event: s("eventName").unwrap_or_default(),
                command: s("command"),
                source_path: s("sourcePath").map(PathBuf::from).unwrap_or_default(),
                current_hash: hash,
                trust,
                enabled: h.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            });
        }
        Ok(CodexHooks {
            hooks,
            warnings: strings("warnings"),
            errors: strings("errors"),
        })
    }

    /// Records the review of `hooks` at their current hashes, as Codex's `/hooks` screen does.
    /// Returns the config file Codex wrote.
    pub fn review(&mut self, hooks: &[&CodexHook]) -> Result<PathBuf, CodexError> {
        let edits: Vec<Value> = hooks
            .iter()
            .map(|h| {
                json!({
                    "keyPath": format!("hooks.state.\"{}\".trusted_hash", h.key.replace('"', "\\\"")),
                    "mergeStrategy": "upsert",
                    "value": h.current_hash,
                })
            })
            .collect();
        let r = self.call("config/batchWrite", json!({"edits": edits}))?;
        if r.get("status").and_then(Value::as_str) != Some("ok") {
            return Err(CodexError::Shape {
                method: "config/batchWrite".into(),
                detail: format!("status {}", r.get("status").unwrap_or(&Value::Null)),
            });
        }
        Ok(r.get("filePath")
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .unwrap_or_default())
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        // Closing stdin ends the server; give it a moment, then make sure.
        drop(self.stdin.take());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first executable named `name` on `path` (a `PATH`-style list).
pub fn which(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
