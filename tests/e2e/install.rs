//! `flightlog hook install <agent>` with the real agents (installed by
//! scripts/install-agents.sh), each in a home of its own: after the install, the agent's plain
//! non-interactive run is recorded; where the agent needs the user's decision (trusting a
//! project folder), install says what to do and exits 1, and after that decision it is recorded.
//!
//! The agents talk to no model here (their endpoint is a closed loopback port): every agent fires
//! its session-start hook before its first model call, which is the evidence of capture. Each
//! run is stopped once that session is in the store.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use flightlog_formats::Store;

use crate::common::bin;

/// The directory the pinned agents are installed into (scripts/install-agents.sh).
fn agents_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FLIGHTLOG_AGENTS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    Path::new(&home).join(".cache/flightlog/agents")
}

/// The agent's executable: from the agents directory (`<name>-<version>/node_modules/.bin/`,
/// one npm prefix per pinned agent), else PATH. None (and a printed reason) when it is not
/// installed.
fn agent(program: &str) -> Option<PathBuf> {
    let base = agents_dir();
    let name = match program {
        "claude" => "claude-code",
        other => other,
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(&base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .map(|e| e.path().join("node_modules/.bin").join(program))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    if let Some(p) = found.pop() {
        return Some(p);
    }
    if let Some(p) = on_path(program) {
        return Some(p);
    }
    eprintln!(
        "skipped: {program} is not installed (run scripts/install-agents.sh, or set \
         FLIGHTLOG_AGENTS_DIR)"
    );
    None
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A user's machine in a temporary directory: a home, a project (a git repository), and the
/// environment every program here runs with.
struct Machine {
    _dir: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
    env: Vec<(String, OsString)>,
}

impl Machine {
    fn new(agent: &Path) -> Machine {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let home = root.join("home");
        let project = root.join("project");
        // The agents' own temporary files (Gemini CLI writes an error report per refused model
        // call) stay in this machine, not in the test runner's /tmp.
        let tmp = root.join("tmp");
        for dir in [&home, &project, &tmp] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&project)
            .status();
        assert!(git.is_ok_and(|s| s.success()), "git init");
        // Only the agent under test is on PATH (doctor looks at every agent there).
        let bin_dir = root.join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(agent, bin_dir.join(agent.file_name().unwrap())).unwrap();
        let mut path = OsString::from(&bin_dir);
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        Machine {
            _dir: d,
            env: vec![
                ("HOME".into(), home.clone().into()),
                ("PATH".into(), path),
                ("TMPDIR".into(), tmp.into()),
            ],
            home,
            project,
        }
    }

    fn set(&mut self, k: &str, v: impl Into<OsString>) {
        self.env.push((k.into(), v.into()));
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.project).env_clear();
        for k in ["LANG", "TERM"] {
            if let Some(v) = std::env::var_os(k) {
                c.env(k, v);
            }
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn flightlog(&self, args: &[&str]) -> Output {
        self.command(bin()).args(args).output().unwrap()
    }

    /// `flightlog hook install AGENT SCOPE`, which must exit `code`: what it said.
    fn install(&self, agent: &str, scope: &str, code: i32) -> String {
        let out = self.flightlog(&["hook", "install", agent, scope]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(code), "{said}");
        said
    }

    /// `doctor` says `agent` is not recorded yet (exit 1) and that the fix is the user's
    /// decision, which it names (`fix`).
    fn assert_awaits_decision(&self, agent: &str, fix: &str) {
        let (code, entry, _) = self.doctor(agent);
        assert_eq!(code, Some(1), "{entry:#}");
        assert_eq!(entry["recorded"], false, "{entry:#}");
        assert!(
            entry["fix"].as_str().is_some_and(|f| f.contains(fix)),
            "{entry:#}"
        );
    }

    /// `flightlog doctor --json`: its exit code and its entry for `agent`.
    fn doctor(&self, agent: &str) -> (Option<i32>, serde_json::Value, serde_json::Value) {
        let out = self.flightlog(&["doctor", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}: {}", text(&out)));
        let entry = v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agent"] == agent)
            .cloned()
            .unwrap();
        (out.status.code(), entry, v)
    }

    /// The store at its default place under this home.
    fn db(&self) -> PathBuf {
        self.home.join(".local/share/flightlog/flightlog.db")
    }

    /// Runs the agent until a session of `agent` is in the store (or `limit` passes), then
    /// stops it. Returns the agent's output so far on failure, for the message.
    fn run_until_recorded(&self, mut cmd: Command, agent: &str, limit: Duration) -> Vec<String> {
        let out = self.project.join(format!("{agent}.out"));
        let f = std::fs::File::create(&out).unwrap();
        // Its own process group: the npm wrappers start the real agent as a child (Codex's
        // native binary, Gemini's relaunched node), which must end with it.
        let mut child: Child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .process_group(0)
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mut found = Vec::new();
        while start.elapsed() < limit {
            found = sessions_of(&self.db(), agent);
            if !found.is_empty() || matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // One more look in case the agent ended right after its hook.
        if found.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
            found = sessions_of(&self.db(), agent);
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.kill();
        let _ = child.wait();
        if found.is_empty() {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let tail: String = text.lines().rev().take(30).collect::<Vec<_>>().join("\n");
            panic!(
                "no {agent} session was recorded; the agent said (last lines, reversed):\n{tail}"
            );
        }
        found
    }
}

fn sessions_of(db: &Path, agent: &str) -> Vec<String> {
    let Ok(store) = Store::open_read_only(db) else {
        return Vec::new();
    };
    store
        .sessions()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.agent.as_deref() == Some(agent) && s.events > 0)
        .map(|s| s.id)
        .collect()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `codex exec` against a closed loopback port, with no retries (its hooks fire first).
fn codex_exec(m: &Machine, codex: &Path) -> Command {
    let mut c = m.command(codex);
    c.args([
        "exec",
        "-c",
        "model_provider=local",
        "-c",
        "model_providers.local.name=local",
        "-c",
        "model_providers.local.base_url=http://127.0.0.1:9/v1",
        "-c",
        "model_providers.local.env_key=OPENAI_API_KEY",
        "-c",
        "model_providers.local.request_max_retries=0",
        "-c",
        "model_providers.local.stream_max_retries=0",
        "say hi",
    ])
    .env("OPENAI_API_KEY", "sk-test-not-a-key");
    c
}

#[test]
fn codex_user_install_in_codex_home_is_reviewed_and_records_a_plain_exec() {
    let Some(codex) = agent("codex") else { return };
    let mut m = Machine::new(&codex);
    let codex_home = m.home.join("elsewhere/codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    m.set("CODEX_HOME", &codex_home);
    let said = m.install("codex", "--user", 0);
    assert!(codex_home.join("hooks.json").is_file(), "{said}");
    assert!(
        !m.home.join(".codex").exists(),
        "CODEX_HOME is respected: {said}"
    );
    assert!(said.contains("registered Codex's review"), "{said}");
    assert!(said.contains("trusted_hash"), "{said}");
    let config = std::fs::read_to_string(codex_home.join("config.toml")).unwrap();
    assert!(config.contains("session_start:0:0"), "{config}");
    // A second install changes nothing and says Codex will run them.
    let again = m.install("codex", "--user", 0);
    assert!(again.contains("already installed"), "{again}");
    assert!(!again.contains("registered"), "{again}");
    m.run_until_recorded(codex_exec(&m, &codex), "codex", Duration::from_secs(90));
}

#[test]
fn codex_project_install_asks_for_the_trust_decision_then_records() {
    let Some(codex) = agent("codex") else { return };
    let m = Machine::new(&codex);
    // Codex's default home, not there yet: install creates it.
    let codex_home = m.home.join(".codex");
    let said = m.install("codex", "--project", 1);
    assert!(m.project.join(".codex/hooks.json").is_file());
    let last = said.lines().last().unwrap_or("");
    assert!(
        last.contains("until you trust this project") && last.contains("--trust"),
        "{said}"
    );
    m.assert_awaits_decision("codex", "Trust and continue");
    // The user's decision, recorded as Codex records it.
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            m.project.display()
        ),
    )
    .unwrap();
    let said = m.install("codex", "--project", 0);
    assert!(said.contains("registered Codex's review"), "{said}");
    m.run_until_recorded(codex_exec(&m, &codex), "codex", Duration::from_secs(90));
    let (code, codex_entry, all) = m.doctor("codex");
    assert_eq!(codex_entry["recorded"], true, "{codex_entry:#}");
    assert!(
        codex_entry["version"]
            .as_str()
            .is_some_and(|v| v.contains("0.")),
        "{codex_entry:#}"
    );
    // Everything else here is healthy too, unless this machine forbids ptrace.
    let want = if all["ptrace"]["allowed"] == true {
        0
    } else {
        1
    };
    assert_eq!(code, Some(want), "{all:#}");
}

fn gemini_run(m: &Machine, gemini: &Path) -> Command {
    let mut c = m.command(gemini);
    c.args(["-p", "say hi"])
        .env("GEMINI_API_KEY", "test-not-a-key")
        .env("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9");
    c
}

/// Gemini CLI (None if it is not installed) and a machine for it, its home under `home/g`.
fn gemini_machine() -> Option<(PathBuf, Machine)> {
    let gemini = agent("gemini")?;
    let mut m = Machine::new(&gemini);
    m.set("GEMINI_CLI_HOME", m.home.join("g"));
    Some((gemini, m))
}

/// Gemini CLI's user settings choosing API-key sign-in.
const GEMINI_API_KEY_AUTH: &str = r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#;

/// The user's decision to trust the project folder, recorded as Gemini CLI records it.
fn trust_gemini_folder(m: &Machine) {
    std::fs::write(
        m.home.join("g/.gemini/trustedFolders.json"),
        format!("{{\"{}\": \"TRUST_FOLDER\"}}", m.project.display()),
    )
    .unwrap();
}

fn gemini_user_settings(m: &Machine, text: &str) -> PathBuf {
    let dir = m.home.join("g/.gemini");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("settings.json");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn gemini_project_install_asks_for_folder_trust_then_records() {
    let Some((gemini, m)) = gemini_machine() else {
        return;
    };
    gemini_user_settings(&m, GEMINI_API_KEY_AUTH);
    let said = m.install("gemini", "--project", 1);
    let last = said.lines().last().unwrap_or("");
    assert!(
        last.contains("until you trust this folder") && last.contains("/permissions trust"),
        "{said}"
    );
    m.assert_awaits_decision("gemini", "/permissions trust");
    // The user's decision, recorded as Gemini records it.
    trust_gemini_folder(&m);
    assert_eq!(m.doctor("gemini").1["recorded"], true);
    m.install("gemini", "--project", 0);
    m.run_until_recorded(gemini_run(&m, &gemini), "gemini", Duration::from_secs(90));
    // Gemini did not have to announce the hooks: their review was registered at install.
    let said = std::fs::read_to_string(m.project.join("gemini.out")).unwrap_or_default();
    assert!(
        !said.contains("project-level hooks have been detected"),
        "{said}"
    );
}

#[test]
fn gemini_commented_settings_are_left_untouched_and_user_install_records() {
    let Some((gemini, m)) = gemini_machine() else {
        return;
    };
    let commented = "{\n  // how I sign in\n  \"security\": {\"auth\": {\"selectedType\": \"gemini-api-key\"}}\n}\n";
    let settings = gemini_user_settings(&m, commented);
    let said = m.install("gemini", "--user", 1);
    assert!(said.contains("has comments"), "{said}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), commented);
    // Without the comment it merges, and a plain headless run in a trusted folder records.
    gemini_user_settings(&m, GEMINI_API_KEY_AUTH);
    m.install("gemini", "--user", 0);
    trust_gemini_folder(&m);
    m.run_until_recorded(gemini_run(&m, &gemini), "gemini", Duration::from_secs(90));
}

#[test]
fn claude_code_project_install_records_a_plain_print_run() {
    let Some(claude) = agent("claude") else {
        return;
    };
    let mut m = Machine::new(&claude);
    m.set("CLAUDE_CONFIG_DIR", m.home.join("claude-config"));
    m.install("claude-code", "--project", 0);
    let mut c = m.command(&claude);
    c.args(["-p", "say hi"])
        .env("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9");
    m.run_until_recorded(c, "claude-code", Duration::from_secs(90));
}

/// Answers every request with Gemini's error shape (400), so Gemini CLI ends after its first
/// model calls.
fn refusing_model_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                while let Ok(Some(head)) = flightlog_http::read_request_head(&mut r) {
                    if flightlog_http::read_request_body(&mut r, &head, 16 << 20).is_err() {
                        return;
                    }
                    let body = r#"{"error":{"code":400,"message":"refused by the test","status":"INVALID_ARGUMENT"}}"#;
                    let reply = format!(
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if std::io::Write::write_all(&mut s, reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Gemini CLI sends its `http://` model calls through `HTTP_PROXY` inside CONNECT tunnels:
/// under `record`, each is recorded as the POST it is, with its http:// URL and its answer.
#[test]
fn gemini_model_calls_through_a_connect_tunnel_are_recorded_under_record() {
    let Some((gemini, mut m)) = gemini_machine() else {
        return;
    };
    m.set("GEMINI_CLI_TRUST_WORKSPACE", "true");
    gemini_user_settings(&m, GEMINI_API_KEY_AUTH);
    let port = refusing_model_server();
    let db = m.home.join("fl.db");
    let out = m
        .command(bin())
        .arg("--db")
        .arg(&db)
        .args(["record", "--no-trace", "--"])
        .arg(&gemini)
        .args(["-p", "say hi"])
        .env("GEMINI_API_KEY", "test-not-a-key")
        .env("GOOGLE_GEMINI_BASE_URL", format!("http://127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let session = crate::common::session_of(&out);
    let evs = crate::common::session_events(&db, &session);
    let base = format!("http://127.0.0.1:{port}/v1beta/models/");
    let calls: Vec<&flightlog_formats::Event> = evs
        .iter()
        .filter(|e| {
            e.source == "proxy"
                && e.data["method"] == "POST"
                && e.data["url"].as_str().is_some_and(|u| u.starts_with(&base))
        })
        .collect();
    assert!(!calls.is_empty(), "no model call recorded: {evs:#?}");
    assert!(
        evs.iter()
            .any(|e| e.source == "proxy" && e.data["status"] == 400),
        "the model's answer is not recorded: {evs:#?}"
    );
}
