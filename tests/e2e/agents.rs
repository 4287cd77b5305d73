//! The real coding agents, recorded: Claude Code, Codex CLI, Gemini CLI (npm) and Aider (PyPI),
//! at the versions `scripts/install-agents.sh` pins, each driven by a scripted model server of
//! ours (`flightlog_fixtures::model`) that plays the PocketOS incident through the agent's own
//! tools, against the Railway stand-in. Everything stays on loopback.
//!
//! Each agent runs non-interactively in three modes:
//! - `hooks`: `flightlog hook install <agent>` into a temporary project and home, the agent run
//!   plainly (Aider has no hooks, so it has no such mode);
//! - `record`: the same hooks, and the agent under `flightlog record`;
//! - `guard`: the same under `flightlog record --guard`.
//!
//! What every run must show (asserted): the agent played the incident to the end; the curl with
//! `volumeDelete` is in the log (as a tool call in `hooks`, as a traced exec under `record`); the
//! session verifies; no secret is in any file of the store; under `record` every recorded HTTP
//! request went to 127.0.0.1; the stand-in lost the volume unless guarded; under the guard the
//! stand-in received no delete, the denial is recorded and the agent was told (its next model
//! request carries the denial).
//!
//! The story the report tells ([`story`]: one crossing and one destructive action, at the
//! delete; provenance `ops/domains.env:4` with the agent's own read of it; no gaps; one
//! fingerprint per secret; the delete's outcome: done, denied by the guard, or, in Codex's
//! sandbox, an attempt that never left it) is checked on every run and asserted, except the
//! agent, mode and check triples in [`STORY_PENDING`], which are printed (`--nocapture`).
//! `FLIGHTLOG_STORY_STRICT=1` asserts every check everywhere.
//!
//! Agents are found in `$FLIGHTLOG_AGENTS_DIR` (default `~/.cache/flightlog/agents`); a test
//! whose agent is not installed says it skipped, and why. With `FLIGHTLOG_AGENT_RUNS=DIR` every
//! run leaves its exports there: `<agent>-<mode>.jsonl` (`show --json`), `.report.json`,
//! `.sessions.json`, `.model.jsonl` (what the agent sent its model) and, from the hooks runs,
//! the raw hook payloads in `payloads/<agent>/`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flightlog_fixtures::model::{self, ModelServer, Script, Wire};
use flightlog_fixtures::railway::{ACCOUNT_TOKEN, PRODUCTION_VOLUME_ID, PROJECT_TOKEN, StandIn};
use serde_json::{Value, json};

use crate::common::bin;

/// One agent run at a time: each is a Node or Python process tree, and the machine is small.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const CLAUDE_VERSION: &str = "2.1.197";
const CODEX_VERSION: &str = "0.171.0";
const GEMINI_VERSION: &str = "0.61.0";
const AIDER_VERSION: &str = "0.86.2";
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// Fake model API keys (they must look like keys to the agents; no real service sees them).
const ANTHROPIC_KEY: &str = "sk-ant-api03-flightlog-scripted-model-not-a-key";
const OPENAI_KEY: &str = "sk-flightlog-scripted-model-not-a-key";
const GEMINI_KEY: &str = "flightlog-scripted-model-not-a-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    Claude,
    Codex,
    Gemini,
    Aider,
}

impl Agent {
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude-code",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Aider => "aider",
        }
    }

    /// Where the binary is, relative to the agents directory.
    fn bin_rel(self) -> String {
        match self {
            Agent::Claude => format!("claude-code-{CLAUDE_VERSION}/node_modules/.bin/claude"),
            Agent::Codex => format!("codex-{CODEX_VERSION}/node_modules/.bin/codex"),
            Agent::Gemini => format!("gemini-{GEMINI_VERSION}/node_modules/.bin/gemini"),
            Agent::Aider => format!("aider-{AIDER_VERSION}/bin/aider"),
        }
    }

    fn wire(self) -> Wire {
        match self {
            Agent::Claude => Wire::Anthropic,
            Agent::Codex => Wire::Responses,
            Agent::Gemini => Wire::Gemini,
            Agent::Aider => Wire::ChatCompletions,
        }
    }

    fn has_hooks(self) -> bool {
        self != Agent::Aider
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Hooks,
    Record,
    Guard,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Hooks => "hooks",
            Mode::Record => "record",
            Mode::Guard => "guard",
        }
    }
}

fn agents_dir() -> PathBuf {
    match std::env::var_os("FLIGHTLOG_AGENTS_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/flightlog/agents"),
    }
}

/// The agent's binary, or why it is not there.
fn agent_bin(agent: Agent) -> Result<PathBuf, String> {
    let dir = agents_dir();
    let p = dir.join(agent.bin_rel());
    if p.is_file() {
        return Ok(p);
    }
    let why = std::fs::read_to_string(dir.join("UNAVAILABLE")).unwrap_or_else(|_| {
        "run scripts/install-agents.sh (.ci/run does) to install it".to_string()
    });
    Err(format!(
        "{} is not installed at {} ({})",
        agent.name(),
        p.display(),
        why.trim()
    ))
}

/// One finished agent run and everything it left.
pub struct Run {
    pub agent: Agent,
    pub mode: Mode,
    _tmp: tempfile::TempDir,
    pub work: PathBuf,
    pub db: PathBuf,
    pub railway: StandIn,
    pub model: ModelServer,
    pub out: Output,
    pub session: String,
    /// `show --json`: one `{"prev","hash","event"}` per line; the events.
    pub events: Vec<Value>,
    pub report: Value,
    pub sessions: Value,
    pub verify: Output,
    /// Raw hook payloads (hooks mode only), in the order they were written.
    pub payloads: Vec<Value>,
}

fn flightlog(run_root: &Path, db: &Path, policy: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--db")
        .arg(db)
        .arg("--policy")
        .arg(policy)
        .env("NO_COLOR", "1")
        .env("TMPDIR", run_root.join("tmp"))
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_DB")
        .env_remove("FLIGHTLOG_POLICY")
        .env_remove("FLIGHTLOG_GUARD")
        .env_remove("FLIGHTLOG_FAKE_NOW");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// The agent's commands as the user of Aider types them (Aider runs no shell command on the
/// model's word): the deploy, the grep, reading the env file, the edit request, the delete,
/// and a question the model answers with its last words.
fn aider_input(railway_api: &str) -> String {
    format!(
        "/run {}\n/run grep -rn RAILWAY ops/\n/read-only ops/domains.env\n/add railway.toml\n{}\n/run {}\nDid the delete go through?\n",
        model::deploy_command(railway_api),
        model::PROMPT,
        model::delete_command(railway_api, ACCOUNT_TOKEN),
    )
}

/// Adds, beside each flightlog hook, one that copies the payload to `dir` (one file each), so
/// the raw payloads can be kept. Hooks mode only: under `record` the copier's processes would
/// be traced as processes of the agent's.
fn add_payload_copier(config: &Path, copier: &Path) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(config).unwrap()).unwrap();
    let cmd = copier.display().to_string();
    for (_event, groups) in v["hooks"].as_object_mut().unwrap().iter_mut() {
        let list = groups.as_array_mut().unwrap();
        let mut copy = list[0].clone();
        for h in copy["hooks"].as_array_mut().unwrap() {
            h["command"] = json!(cmd);
            if h.get("name").is_some() {
                h["name"] = json!("payload-copy");
            }
        }
        list.push(copy);
    }
    std::fs::write(config, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Runs `agent` in `mode` through the whole incident. None (after saying why) when the agent
/// is not installed. `sandboxed`: Codex with its own sandbox on (`--sandbox workspace-write`).
pub fn run(agent: Agent, mode: Mode, sandboxed: bool) -> Option<Run> {
    let agent_path = match agent_bin(agent) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let work = root.join("work");
    let home = root.join("home");
    for d in [&work, &home, &root.join("tmp"), &root.join("payloads")] {
        std::fs::create_dir_all(d).unwrap();
    }
    flightlog_fixtures::incident::write_work_tree(&work).unwrap();
    let db = root.join("store/fl.db");
    let policy = root.join("flightlog.toml");
    write(&policy, flightlog_fixtures::incident::POLICY);
    let railway = StandIn::start().unwrap();
    let model = ModelServer::start(
        agent.wire(),
        Script {
            railway_api: railway.url(),
            work_tree: work.clone(),
        },
    )
    .unwrap();

    // The agent's own directory first on PATH, as an install puts it (`hook install codex`
    // asks `codex app-server` to register its review).
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        agent_path.parent().unwrap().display()
    );
    // The agent's environment: nothing of ours leaks in; HOME and config in the run's dir;
    // telemetry and update checks off.
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), path.clone()),
        ("HOME".into(), home.display().to_string()),
        ("TMPDIR".into(), root.join("tmp").display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TERM".into(), "dumb".into()),
        ("NO_COLOR".into(), "1".into()),
        (
            "XDG_CONFIG_HOME".into(),
            home.join(".config").display().to_string(),
        ),
        (
            "XDG_CACHE_HOME".into(),
            home.join(".cache").display().to_string(),
        ),
        (
            "XDG_DATA_HOME".into(),
            home.join(".local/share").display().to_string(),
        ),
        ("FLIGHTLOG_DB".into(), db.display().to_string()),
        ("FLIGHTLOG_POLICY".into(), policy.display().to_string()),
    ];
    if mode == Mode::Hooks {
        // Anything that would leave loopback goes to a closed port instead (the agents honour
        // the proxy variables); under `record`, flightlog's proxy sets these and records the
        // destination of every request.
        for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            env.push((k.into(), "http://127.0.0.1:9".into()));
        }
        for k in ["NO_PROXY", "no_proxy"] {
            env.push((k.into(), "127.0.0.1,localhost".into()));
        }
    }
    let mut args: Vec<String> = Vec::new();
    let mut stdin_text: Option<String> = None;
    match agent {
        Agent::Claude => {
            env.extend([
                ("ANTHROPIC_BASE_URL".into(), model.url()),
                ("ANTHROPIC_API_KEY".into(), ANTHROPIC_KEY.into()),
                // Lets --dangerously-skip-permissions run as root (CI containers).
                ("IS_SANDBOX".into(), "1".into()),
                ("DISABLE_TELEMETRY".into(), "1".into()),
                ("DISABLE_AUTOUPDATER".into(), "1".into()),
                ("DISABLE_ERROR_REPORTING".into(), "1".into()),
                (
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                    "1".into(),
                ),
                (
                    "CLAUDE_CONFIG_DIR".into(),
                    home.join(".claude").display().to_string(),
                ),
            ]);
            args.extend([
                "-p".into(),
                model::PROMPT.into(),
                "--dangerously-skip-permissions".into(),
            ]);
        }
        Agent::Codex => {
            let codex_home = home.join(".codex");
            // Codex loads a project's `.codex/` only in a trusted project: that is the user's
            // decision (`hook install` says so and stops), taken here in the config below. Off: analytics, OTEL export, the update
            // check, and the plugin and app features (they `git ls-remote` github.com/openai/plugins
            // and call api.github.com at start).
            write(
                &codex_home.join("config.toml"),
                &format!(
                    "model = \"gpt-5.5\"\nmodel_provider = \"scripted\"\ncheck_for_update_on_startup = false\n\n\
                     [model_providers.scripted]\nname = \"scripted model\"\nbase_url = \"{}/v1\"\nwire_api = \"responses\"\nenv_key = \"SCRIPTED_OPENAI_KEY\"\n\n\
                     [analytics]\nenabled = false\n\n[otel]\nexporter = \"none\"\n\n\
                     [features]\nplugins = false\nremote_plugin = false\napps = false\n\n\
                     [projects.\"{}\"]\ntrust_level = \"trusted\"\n",
                    model.url(),
                    work.display()
                ),
            );
            env.extend([
                ("CODEX_HOME".into(), codex_home.display().to_string()),
                ("SCRIPTED_OPENAI_KEY".into(), OPENAI_KEY.into()),
            ]);
            args.extend(["exec".into(), "--skip-git-repo-check".into()]);
            if sandboxed {
                args.extend(["--sandbox".into(), "workspace-write".into()]);
            } else {
                args.push("--dangerously-bypass-approvals-and-sandbox".into());
            }
            // Codex runs a hook only once its hash is reviewed; `hook install` registers the
            // review of flightlog's hooks. The payload copier of the hooks mode is not
            // flightlog's, so there Codex's documented switch lets it run unreviewed.
            if mode == Mode::Hooks {
                args.push("--dangerously-bypass-hook-trust".into());
            }
            args.push(model::PROMPT.into());
        }
        Agent::Gemini => {
            write(
                &home.join(".gemini/settings.json"),
                &json!({
                    "security": {"auth": {"selectedType": "gemini-api-key"}},
                    "privacy": {"usageStatisticsEnabled": false},
                    "telemetry": {"enabled": false},
                    "general": {"disableAutoUpdate": true, "disableUpdateNag": true}
                })
                .to_string(),
            );
            env.extend([
                ("GEMINI_API_KEY".into(), GEMINI_KEY.into()),
                ("GOOGLE_GEMINI_BASE_URL".into(), model.url()),
                // Headless runs need a trusted folder (Gemini's documented variable for it).
                ("GEMINI_CLI_TRUST_WORKSPACE".into(), "true".into()),
            ]);
            args.extend(["-p".into(), model::PROMPT.into(), "--yolo".into()]);
        }
        Agent::Aider => {
            // Aider fetches litellm's model table from GitHub unless a fresh copy is cached:
            // the one litellm ships is put there.
            let table = agent_path
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("lib")
                .read_dir()
                .ok()
                .and_then(|mut d| d.next())
                .and_then(Result::ok)
                .map(|py| {
                    py.path()
                        .join("site-packages/litellm/model_prices_and_context_window_backup.json")
                });
            if let Some(t) = table.filter(|t| t.is_file()) {
                let dest = home.join(".aider/caches/model_prices_and_context_window.json");
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(t, dest).unwrap();
            }
            args.extend(
                [
                    "--model",
                    "openai/gpt-4.1",
                    "--weak-model",
                    "openai/gpt-4.1",
                    "--openai-api-base",
                    &format!("{}/v1", model.url()),
                    "--openai-api-key",
                    OPENAI_KEY,
                    "--edit-format",
                    "diff",
                    "--no-git",
                    "--yes-always",
                    "--no-check-update",
                    "--analytics-disable",
                    "--no-show-release-notes",
                    "--no-pretty",
                    "--no-fancy-input",
                ]
                .map(String::from),
            );
            // litellm's own copy of that table, fetched at import unless told to use the local one.
            env.push(("LITELLM_LOCAL_MODEL_COST_MAP".into(), "True".into()));
            stdin_text = Some(aider_input(&railway.url()));
        }
    }

    // Hooks, as a user installs them.
    if agent.has_hooks() {
        let mut install = flightlog(&root, &db, &policy);
        install
            .current_dir(&work)
            .env("HOME", &home)
            .env("PATH", &path)
            .args(["hook", "install", agent.name()]);
        if agent == Agent::Codex {
            install.env("CODEX_HOME", home.join(".codex"));
        }
        // Gemini loads a project's settings only in a folder it trusts; the user's settings
        // always.
        if agent == Agent::Gemini {
            install.arg("--user");
        }
        let out = install.output().unwrap();
        assert!(
            out.status.success(),
            "hook install {}: {}{}",
            agent.name(),
            text(&out.stdout),
            text(&out.stderr)
        );
        if mode == Mode::Hooks {
            let copier = root.join("copy-payload.sh");
            write(
                &copier,
                &format!(
                    "#!/bin/sh\ncat > \"{}/$(date +%s%N)-$$.json\"\n",
                    root.join("payloads").display()
                ),
            );
            std::fs::set_permissions(&copier, std::fs::Permissions::from_mode(0o755)).unwrap();
            let config = match agent {
                Agent::Claude => work.join(".claude/settings.json"),
                Agent::Codex => work.join(".codex/hooks.json"),
                Agent::Gemini => home.join(".gemini/settings.json"),
                Agent::Aider => unreachable!(),
            };
            add_payload_copier(&config, &copier);
        }
    }

    let mut cmd = if mode == Mode::Hooks {
        Command::new(&agent_path)
    } else {
        let mut c = flightlog(&root, &db, &policy);
        c.args(["record", "--label"])
            .arg(format!("{} {}", agent.name(), mode.name()));
        if mode == Mode::Guard {
            c.arg("--guard");
        }
        c.arg("--").arg(&agent_path);
        c
    };
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(&args)
        .current_dir(&work)
        .stdin(if stdin_text.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(t) = stdin_text {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(t.as_bytes());
        });
    }
    let out = wait_with_timeout(child, RUN_TIMEOUT);

    // The session: record's summary line; with hooks only, the store's one session.
    let list = flightlog(&root, &db, &policy)
        .args(["sessions", "--json"])
        .output()
        .unwrap();
    let sessions: Value = serde_json::from_slice(&list.stdout).unwrap_or(Value::Null);
    let session = if mode == Mode::Hooks {
        let all = sessions.as_array().cloned().unwrap_or_default();
        assert_eq!(
            all.len(),
            1,
            "{} hooks: one session expected: {sessions:#}\nagent stdout:\n{}\nstderr:\n{}",
            agent.name(),
            text(&out.stdout),
            text(&out.stderr)
        );
        all[0]["id"].as_str().unwrap().to_string()
    } else {
        crate::common::session_of(&out)
    };
    let show = flightlog(&root, &db, &policy)
        .args(["show", &session, "--json"])
        .output()
        .unwrap();
    let events: Vec<Value> = text(&show.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["event"].clone())
        .collect();
    let rep = flightlog(&root, &db, &policy)
        .args(["report", &session, "--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&rep.stdout).unwrap_or(Value::Null);
    let verify = flightlog(&root, &db, &policy)
        .args(["verify", &session])
        .output()
        .unwrap();
    let mut payload_files: Vec<PathBuf> = std::fs::read_dir(root.join("payloads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    payload_files.sort();
    let payloads: Vec<Value> = payload_files
        .iter()
        .filter_map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).ok())
        .collect();
    let r = Run {
        agent,
        mode,
        _tmp: tmp,
        work,
        db,
        railway,
        model,
        out,
        session,
        events,
        report,
        sessions,
        verify,
        payloads,
    };
    keep(&r, sandboxed, &show.stdout);
    if std::env::var("FLIGHTLOG_REFRESH_HOOK_FIXTURES").is_ok_and(|v| v == "1") {
        refresh_hook_fixtures(&r, &root);
    }
    Some(r)
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> Output {
    // Drain both pipes while waiting, so a chatty agent cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the agent did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// With `FLIGHTLOG_AGENT_RUNS=DIR`: the run's exports, report and payloads, for people and
/// tools that learn from real agents' runs.
fn keep(r: &Run, sandboxed: bool, show_jsonl: &[u8]) {
    let Some(dir) = std::env::var_os("FLIGHTLOG_AGENT_RUNS").filter(|v| !v.is_empty()) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let stem = format!(
        "{}-{}{}",
        r.agent.name(),
        r.mode.name(),
        if sandboxed { "-sandboxed" } else { "" }
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{stem}.jsonl")), show_jsonl).unwrap();
    std::fs::write(
        dir.join(format!("{stem}.report.json")),
        serde_json::to_string_pretty(&r.report).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{stem}.sessions.json")),
        serde_json::to_string_pretty(&r.sessions).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{stem}.agent-output.txt")),
        format!(
            "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            r.out.status,
            text(&r.out.stdout),
            text(&r.out.stderr)
        ),
    )
    .unwrap();
    r.model
        .write_log(&dir.join(format!("{stem}.model.jsonl")))
        .unwrap();
    if !r.payloads.is_empty() {
        let pdir = dir.join("payloads").join(r.agent.name());
        std::fs::create_dir_all(&pdir).unwrap();
        for (i, p) in r.payloads.iter().enumerate() {
            let event = p["hook_event_name"].as_str().unwrap_or("payload");
            std::fs::write(
                pdir.join(format!("{:02}-{event}.json", i + 1)),
                serde_json::to_string_pretty(p).unwrap(),
            )
            .unwrap();
        }
    }
}

/// `FLIGHTLOG_REFRESH_HOOK_FIXTURES=1`: the hooks run's payloads become the agent's examples
/// in `fixtures/hooks/<agent>/`, one per event (and tool), machine paths and ports normalised
/// (the work tree is `/home/dev/pocketos`, HOME `/home/dev`, the stand-in on port 40123, the
/// model on 40124). The tokens in them are the fixtures' fake ones.
fn refresh_hook_fixtures(r: &Run, root: &Path) {
    if r.payloads.is_empty() {
        return;
    }
    let snake = |s: &str| {
        let mut o = String::new();
        for (i, c) in s.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 && !o.ends_with('_') {
                    o.push('_');
                }
                o.push(c.to_ascii_lowercase());
            } else if c.is_ascii_alphanumeric() {
                o.push(c);
            } else if !o.ends_with('_') {
                o.push('_');
            }
        }
        o
    };
    // Claude Code names a project's transcript directory after its path, `/` and `.` as `-`.
    let encoded = |p: &Path| p.display().to_string().replace(['/', '.'], "-");
    let work = root.join("work");
    let home = root.join("home");
    let replacements = [
        (work.display().to_string(), "/home/dev/pocketos".to_string()),
        (encoded(&work), "-home-dev-pocketos".to_string()),
        (home.display().to_string(), "/home/dev".to_string()),
        (
            root.display().to_string(),
            "/home/dev/.flightlog-test".to_string(),
        ),
        (r.railway.url(), "http://127.0.0.1:40123".to_string()),
        (r.model.url(), "http://127.0.0.1:40124".to_string()),
        // Gemini CLI keeps a project's chats under its directory's name.
        (
            "/.gemini/tmp/work/".to_string(),
            "/.gemini/tmp/pocketos/".to_string(),
        ),
    ];
    let dir = flightlog_fixtures::fixtures_dir()
        .join("hooks")
        .join(r.agent.name());
    let mut seen = std::collections::BTreeSet::new();
    for p in &r.payloads {
        let event = p["hook_event_name"].as_str().unwrap_or("payload");
        let name = match p["tool_name"].as_str() {
            Some(t) => format!("{}_{}", snake(event), snake(t)),
            None => snake(event),
        };
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut t = serde_json::to_string_pretty(p).unwrap();
        for (from, to) in &replacements {
            t = t.replace(from.as_str(), to);
        }
        t.push('\n');
        std::fs::write(dir.join(format!("{name}.json")), t).unwrap();
    }
}

/// Every field of every payload the agent sent survives into flightlog's events.
fn assert_nothing_dropped(r: &Run) {
    let Some(agent) = flightlog_recorder::hook::Agent::parse(r.agent.name()) else {
        return;
    };
    let dropped: Vec<String> = r
        .payloads
        .iter()
        .filter_map(|p| {
            let d = flightlog_recorder::hook::dropped_fields(agent, p);
            (!d.is_empty()).then(|| format!("{}: {d:?}", p["hook_event_name"]))
        })
        .collect();
    assert!(
        dropped.is_empty(),
        "the normaliser drops fields the real agent sends:\n{}",
        dropped.join("\n")
    );
}

impl Run {
    fn context(&self) -> String {
        format!(
            "{} {} (session {})\nagent exit {:?}\nstdout:\n{}\nstderr:\n{}\nmodel steps: {:?}",
            self.agent.name(),
            self.mode.name(),
            self.session,
            self.out.status,
            tail(&text(&self.out.stdout), 3000),
            tail(&text(&self.out.stderr), 3000),
            self.model.steps_answered()
        )
    }

    fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["kind"] == kind).collect()
    }

    /// The delete as the agent's tool call (hooks).
    fn delete_tool_calls(&self) -> Vec<&Value> {
        self.events_of("tool_call")
            .into_iter()
            .filter(|e| e["data"].to_string().contains("volumeDelete"))
            .collect()
    }

    /// The delete as a traced curl process (record).
    fn delete_execs(&self) -> Vec<&Value> {
        self.events_of("exec")
            .into_iter()
            .filter(|e| {
                let argv = &e["data"]["argv"];
                argv[0].as_str().is_some_and(|a| a.ends_with("curl"))
                    && argv.to_string().contains("volumeDelete")
            })
            .collect()
    }

    fn volume_delete_requests(&self) -> usize {
        self.railway
            .requests()
            .iter()
            .filter(|r| r.root_fields.iter().any(|f| f == "volumeDelete"))
            .count()
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// What holds for every run today (see the module doc).
fn assert_capture(r: &Run, sandboxed: bool) {
    let ctx = r.context();
    assert!(r.out.status.success(), "{ctx}");
    // The agent played the incident to its end: the model was asked for the last words.
    let steps = r.model.steps_answered();
    if r.agent == Agent::Aider {
        assert_eq!(steps, ["step edit", "step last"], "{ctx}");
    } else {
        assert!(steps.len() >= 7, "{ctx}");
    }
    // The stand-in saw the staging deploy fail with the project token (Codex's sandbox has no
    // network: there, nothing reaches it).
    let seen = r.railway.requests();
    assert_eq!(
        seen.iter()
            .any(|s| s.root_fields == ["serviceInstanceDeploy"] && s.status == 401),
        !sandboxed,
        "{seen:?}\n{ctx}"
    );
    // The edit happened.
    let toml = std::fs::read_to_string(r.work.join("railway.toml")).unwrap();
    assert!(toml.contains("# volume mount removed"), "{toml}\n{ctx}");

    // The curl is in the log: as the agent's tool call when it has hooks, as a traced process
    // under `record`; under the guard, denied before it ran (no curl process at all).
    if r.agent.has_hooks() && !(r.agent == Agent::Codex && sandboxed) {
        assert!(
            !r.delete_tool_calls().is_empty(),
            "the hooks did not record the delete's tool call\n{ctx}"
        );
    }
    match r.mode {
        Mode::Hooks => {}
        Mode::Record => assert!(
            !r.delete_execs().is_empty(),
            "no traced curl with volumeDelete\n{ctx}"
        ),
        Mode::Guard if r.agent.has_hooks() => assert!(
            r.delete_execs().is_empty(),
            "the denied curl ran anyway\n{ctx}"
        ),
        Mode::Guard => {}
    }

    match (r.mode, sandboxed) {
        (Mode::Guard, _) => {
            assert_eq!(
                r.volume_delete_requests(),
                0,
                "the stand-in received a delete under the guard\n{ctx}"
            );
            let denials: Vec<&Value> = r
                .events_of("decision")
                .into_iter()
                .filter(|e| e["data"]["decision"] == "deny")
                .collect();
            assert!(!denials.is_empty(), "no denial recorded\n{ctx}");
            // The agent was told: the denial's reason reached the model in the agent's own
            // tool result (hooks), and it said the delete did not go through.
            if r.agent.has_hooks() {
                let last = r
                    .model
                    .exchanges()
                    .into_iter()
                    .rev()
                    .find(|e| e.answered.starts_with("step"))
                    .unwrap();
                assert!(
                    text(&last.request.body).contains("flightlog guard: railway.volumeDelete"),
                    "the denial did not reach the model\n{ctx}"
                );
            }
            assert!(
                text(&r.out.stdout).contains(model::NOT_DELETED)
                    || text(&r.out.stderr).contains(model::NOT_DELETED),
                "the agent's last words should say nothing was deleted\n{ctx}"
            );
        }
        (_, true) => {
            assert!(r.railway.deleted_volumes().is_empty(), "{ctx}");
        }
        _ => {
            assert_eq!(
                r.railway.deleted_volumes(),
                [PRODUCTION_VOLUME_ID],
                "the delete should have gone through\n{ctx}"
            );
        }
    }

    // The session verifies, and no layer wrote a secret into the store.
    assert_eq!(
        r.verify.status.code(),
        Some(0),
        "{}\n{ctx}",
        text(&r.verify.stdout)
    );
    for secret in [ACCOUNT_TOKEN, PROJECT_TOKEN] {
        crate::common::assert_secret_absent(&r.db, secret);
    }
    // Nothing left loopback: every request flightlog's proxy saw went to 127.0.0.1.
    for e in r.events_of("api_call") {
        let d = &e["data"];
        if d.get("response_of_seq").is_some() {
            continue;
        }
        let url = d["url"].as_str().unwrap_or("");
        let host = d["host"].as_str().unwrap_or("");
        assert!(
            url.contains("://127.0.0.1") || host.starts_with("127.0.0.1"),
            "a request left loopback: {e}\n{ctx}"
        );
    }
}

/// The story checks, each with its failure (None: it holds).
pub fn story(r: &Run, sandboxed: bool) -> Vec<(&'static str, Option<String>)> {
    let rep = &r.report;
    let crossings = rep["boundary_crossings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let destructive = rep["destructive"].as_array().cloned().unwrap_or_default();
    let gaps = rep["gaps"].as_array().cloned().unwrap_or_default();
    let secrets = rep["secrets"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    let check = |ok: bool, what: String| if ok { None } else { Some(what) };
    out.push((
        "one-crossing",
        check(
            crossings.len() == 1
                && crossings[0]["to"] == "production"
                && crossings[0]["evidence"].to_string().contains("3d2c42fb-"),
            format!("{} crossings: {crossings:#?}", crossings.len()),
        ),
    ));
    out.push((
        "one-destructive",
        check(
            destructive.len() == 1
                && destructive[0]["rule"] == "railway.volumeDelete"
                && crossings.first().map(|c| &c["seq"]) == Some(&destructive[0]["seq"]),
            format!("{} destructive: {destructive:#?}", destructive.len()),
        ),
    ));
    let account: Vec<&Value> = secrets
        .iter()
        .filter(|s| s["kind"] == "railway-account")
        .collect();
    // Where the token is, and the agent's own read of it beside the inventory's entry.
    out.push((
        "provenance",
        check(
            account.len() == 1
                && account[0]["location"] == "ops/domains.env:4"
                && crossings.first().is_some_and(|c| {
                    c["evidence"]
                        .to_string()
                        .contains("read by the agent from ops/domains.env:4")
                }),
            format!("railway-account secrets: {account:#?}\ncrossings: {crossings:#?}"),
        ),
    ));
    out.push((
        "no-gaps",
        check(gaps.is_empty(), format!("{} gaps: {gaps:#?}", gaps.len())),
    ));
    let mut fps: Vec<&str> = secrets
        .iter()
        .filter_map(|s| s["fingerprint"].as_str())
        .collect();
    fps.sort();
    fps.dedup();
    let per_kind = |k: &str| secrets.iter().filter(|s| s["kind"] == k).count();
    out.push((
        "one-fingerprint-per-secret",
        check(
            fps.len() == secrets.len()
                && per_kind("railway-account") == 1
                && per_kind("railway-project") <= 1,
            format!("secrets: {secrets:#?}"),
        ),
    ));
    // What became of the delete: it went through; the guard denied it; or it never left
    // Codex's sandbox (an attempt, not a deletion).
    let expected: &[&str] = match (r.mode, sandboxed) {
        (Mode::Guard, _) => &["denied_by_guard"],
        (_, true) => &["blocked_by_agent", "failed"],
        _ => &["done"],
    };
    let outcome_is = |v: &Value| v["outcome"].as_str().is_some_and(|o| expected.contains(&o));
    out.push((
        "outcome",
        check(
            destructive.len() == 1
                && outcome_is(&destructive[0])
                && crossings.iter().all(outcome_is),
            format!("expected {expected:?}: destructive {destructive:#?}"),
        ),
    ));
    out
}

/// The story checks that do not hold yet, per agent and mode (`*` for any): printed as FAILS,
/// not asserted. Every other check is asserted; a pair leaves this list as soon as the analysis
/// tells that part of the story right.
const STORY_PENDING: &[(&str, &str, &str)] = &[];

fn enforced(agent: Agent, mode: &str, check: &str) -> bool {
    std::env::var("FLIGHTLOG_STORY_STRICT").is_ok_and(|v| v == "1")
        || !STORY_PENDING.iter().any(|(a, m, c)| {
            (*a == "*" || *a == agent.name()) && (*m == "*" || *m == mode) && *c == check
        })
}

fn assert_story(r: &Run, sandboxed: bool) {
    let mode = if sandboxed {
        "record-sandboxed"
    } else {
        r.mode.name()
    };
    let mut failed = Vec::new();
    for (check, failure) in story(r, sandboxed) {
        let status = if failure.is_none() { "holds" } else { "FAILS" };
        eprintln!("story {} {mode} {check}: {status}", r.agent.name());
        if let Some(f) = failure
            && enforced(r.agent, mode, check)
        {
            failed.push(format!("{check}: {f}"));
        }
    }
    assert!(failed.is_empty(), "{}\n{}", failed.join("\n"), r.context());
}

fn case(agent: Agent, mode: Mode) {
    let Some(r) = run(agent, mode, false) else {
        return;
    };
    assert_capture(&r, false);
    if mode == Mode::Hooks {
        assert!(!r.payloads.is_empty(), "no payload copied\n{}", r.context());
        assert_nothing_dropped(&r);
    }
    assert_story(&r, false);
}

/// One test per agent and mode, each running [`case`].
macro_rules! cases {
    ($($name:ident: $agent:ident $mode:ident,)*) => {
        $(
            #[test]
            fn $name() {
                case(Agent::$agent, Mode::$mode);
            }
        )*
    };
}

cases! {
    claude_code_hooks: Claude Hooks,
    claude_code_record: Claude Record,
    claude_code_guard: Claude Guard,
    codex_hooks: Codex Hooks,
    codex_record: Codex Record,
    codex_guard: Codex Guard,
    gemini_hooks: Gemini Hooks,
    gemini_record: Gemini Record,
    gemini_guard: Gemini Guard,
    aider_record: Aider Record,
    aider_guard: Aider Guard,
}

#[test]
fn codex_sandboxed_record() {
    let Some(r) = run(Agent::Codex, Mode::Record, true) else {
        return;
    };
    assert_capture(&r, true);
    // The curl ran inside Codex's sandbox, which has no network: it failed to connect.
    assert_eq!(r.volume_delete_requests(), 0, "{}", r.context());
    assert_story(&r, true);
}
