//! Helpers the end-to-end tests share: the binary, a [`TestEnv`] to run it in, the session a
//! run reported, its events, and the checks every recording test ends with.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use flightlog_formats::Event;

pub fn bin() -> PathBuf {
    flightlog_fixtures::bin_path().expect("build the binary first (cargo build)")
}

/// `flightlog --db DB`, as [`flightlog_bare`] makes it. A test sets what it needs on top.
pub fn flightlog(db: &Path) -> Command {
    let mut c = flightlog_bare();
    c.arg("--db").arg(db);
    c
}

/// `flightlog` without the variables a developer's shell may carry that change what flightlog
/// does (a session to join, a policy, the guard, a hook timeout), and with standard input
/// closed.
pub fn flightlog_bare() -> Command {
    let mut c = Command::new(bin());
    for var in [
        "FLIGHTLOG_SESSION",
        "FLIGHTLOG_POLICY",
        "FLIGHTLOG_GUARD",
        "FLIGHTLOG_HOOK_TIMEOUT_MS",
    ] {
        c.env_remove(var);
    }
    c.stdin(Stdio::null());
    c
}

/// Asserts that `out` exited 0 (else fails with its exit code, stdout and stderr) and returns
/// its stdout.
pub fn ok(out: &Output) -> String {
    exits(out, 0)
}

/// Runs `cmd` and asserts it exited 0 (else fails naming `what`, with its exit code, stdout
/// and stderr): its output.
pub fn run_ok(what: &str, cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts that `out` exited with `code` (else fails with its exit code, stdout and stderr) and
/// returns its stdout.
pub fn exits(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `text` contains every one of `needles` (else fails naming `what` and the first missing).
pub fn assert_has(what: &str, text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "{what} does not say {n:?}:\n{text}");
    }
}

/// The `kind` of every entry of the list `list` (`problems`, `warnings`) of a `verify --json`
/// report.
pub fn kinds<'a>(report: &'a serde_json::Value, list: &str) -> Vec<&'a str> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {report}"))
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect()
}

/// Starts `cmd` with its standard streams closed (a process a test kills or waits for).
pub fn spawn_quiet(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Starts `cmd` with `stdin` written to it (then closed), stdout discarded and stderr piped. A
/// child that exits before reading all of it is fine (a killed one may).
pub fn spawn_with_stdin(mut cmd: Command, stdin: &[u8]) -> Child {
    cmd.stdout(Stdio::null());
    feed(cmd, stdin)
}

/// Starts `cmd` (its stdout as the caller set it) with stderr piped and `stdin` written to it.
fn feed(mut cmd: Command, stdin: &[u8]) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child
}

/// Waits at most `limit` for `child` to exit: its status, or None if it still runs.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `cond` every `every` until it holds; fails naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, every: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(every);
    }
}

/// One place for a test to run the real binary in: a private directory (canonical, so recorded
/// paths compare equal) holding a home of its own (`HOME` and the `XDG_*` directories, so
/// nothing of the developer's shell is read or written), the store, and optionally a policy and
/// a fixed clock. Everything goes when it drops.
pub struct TestEnv {
    _tmp: tempfile::TempDir,
    /// The private directory.
    pub root: PathBuf,
    /// `root/home`: `HOME`, with `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME` and
    /// `XDG_CACHE_HOME` below it.
    pub home: PathBuf,
    /// `root/store/fl.db` (created by the first command that writes).
    pub db: PathBuf,
    /// The policy file every command is given (`--policy`), if the test set one.
    pub policy: Option<PathBuf>,
    fake_now: Option<String>,
}

impl TestEnv {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        Self {
            db: root.join("store/fl.db"),
            home,
            root,
            _tmp: tmp,
            policy: None,
            fake_now: None,
        }
    }

    /// Writes `text` to `root/policy.toml` and gives it to every command (`--policy`).
    pub fn with_policy(mut self, text: &str) -> Self {
        self.policy = Some(self.write("policy.toml", text));
        self
    }

    /// Every command reads the clock as `ts` (`FLIGHTLOG_FAKE_NOW`).
    pub fn with_fake_now(mut self, ts: &str) -> Self {
        self.fake_now = Some(ts.to_string());
        self
    }

    /// `root/rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes `contents` to `root/rel` (making its directories); returns the path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// `flightlog --db DB [--policy P]` as [`flightlog`] makes it, with this home, without
    /// `FLIGHTLOG_DB` and with this clock (else none fixed). A test adds arguments and
    /// variables on top.
    pub fn cmd(&self) -> Command {
        let mut c = self.cmd_without_policy();
        if let Some(p) = &self.policy {
            c.arg("--policy").arg(p);
        }
        c
    }

    /// [`TestEnv::cmd`] without the policy: what a user who gives none runs.
    pub fn cmd_without_policy(&self) -> Command {
        let mut c = self.cmd_bare();
        c.arg("--db").arg(&self.db);
        c
    }

    /// `flightlog` with this home and clock but neither store nor policy: what a user runs for
    /// a command that keeps its own (`demo`), or a test that names another store.
    pub fn cmd_bare(&self) -> Command {
        let mut c = flightlog_bare();
        c.env("HOME", &self.home);
        for (var, dir) in [
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_STATE_HOME", ".local/state"),
            ("XDG_CACHE_HOME", ".cache"),
        ] {
            c.env(var, self.home.join(dir));
        }
        c.env_remove("FLIGHTLOG_DB");
        match &self.fake_now {
            Some(ts) => c.env("FLIGHTLOG_FAKE_NOW", ts),
            None => c.env_remove("FLIGHTLOG_FAKE_NOW"),
        };
        c
    }

    /// Runs `flightlog ARGS` and collects its output.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs `flightlog ARGS`, asserts it exited 0, and returns its stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        ok(&self.run(args))
    }

    /// Runs `flightlog ARGS` with `stdin` written to it.
    pub fn run_with_stdin<S: AsRef<OsStr>>(&self, args: &[S], stdin: &[u8]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        output_with_stdin(c, stdin)
    }

    /// `flightlog record` run in `cwd` (a test adds the rest), on the real clock: a recording's
    /// events carry the times they happened.
    pub fn record_cmd(&self, cwd: &Path) -> Command {
        let mut c = self.cmd();
        c.current_dir(cwd)
            .arg("record")
            .env_remove("FLIGHTLOG_FAKE_NOW");
        c
    }

    /// Runs `flightlog record ARGS` in `cwd` and asserts it exited 0: its output and the session
    /// it reported.
    pub fn record_ok(&self, cwd: &Path, args: &[&str]) -> (Output, String) {
        let out = self.record_cmd(cwd).args(args).output().unwrap();
        let session = recorded(&out);
        (out, session)
    }

    /// Starts `flightlog record --label LABEL ARGS` in `root` (its output discarded) and waits
    /// (30 s at most) until `sessions` lists the session as recording: the recorder.
    pub fn start_recording(&self, label: &str, args: &[&str]) -> Child {
        let mut rec = self.record_cmd(&self.root);
        rec.args(["--label", label]).args(args);
        let rec = spawn_quiet(rec);
        let recording = || {
            let out = self.run(&["sessions", "--status", "recording", "--json"]);
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .is_some_and(|rows| rows.iter().any(|r| r["label"] == label))
        };
        let what = format!("the recording {label}");
        wait_until(
            &what,
            Duration::from_secs(30),
            Duration::from_millis(50),
            || self.db.exists() && recording(),
        );
        rec
    }

    /// Every event of `session`, parsed.
    pub fn events(&self, session: &str) -> Vec<Event> {
        session_events(&self.db, session)
    }
}

/// Runs `cmd` with `stdin` written to it and collects its output (a process that exits before
/// reading all of it is fine).
pub fn output_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdout(Stdio::piped());
    feed(cmd, stdin).wait_with_output().unwrap()
}

/// The session id from `record`'s summary line on stderr.
pub fn session_of(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("flightlog: session "))
        .unwrap_or_else(|| panic!("no summary line in {err:?}"));
    line["flightlog: session ".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

/// Asserts that a `record` run exited 0 (else fails with its stderr): the session it reported.
pub fn recorded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    session_of(out)
}

pub use flightlog_fixtures::check::{assert_secret_absent, session_events};

/// `flightlog verify SESSION` says intact (exit 0).
pub fn assert_verifies(db: &Path, session: &str) {
    let v = Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(["verify", session])
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}

/// A private working directory for a recorded agent (canonical, so recorded paths compare
/// equal) and the store path inside it; the directory goes when the guard drops.
pub fn work_dir() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().canonicalize().unwrap();
    let db = dir.join("store/fl.db");
    (d, dir, db)
}

/// Whether `program --version` runs (tests that need it say they skipped when it does not).
pub fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

/// Whether `program` runs; if not, says the test skipped for want of it.
pub fn need(program: &str) -> bool {
    let there = have(program);
    if !there {
        eprintln!("skipped: {program} is not installed");
    }
    there
}

/// A tmux server of its own (`-L socket`), killed when this is dropped.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    /// A server of its own (named after `name` and this process) with one session `t` of
    /// `cols` x `rows` that runs `env ENV_ARGS` (variables, then the command).
    pub fn start(name: &str, (cols, rows): (u16, u16), env_args: &[&str]) -> Tmux {
        let tmux = Tmux {
            socket: format!("flightlog-{name}-{}", std::process::id()),
        };
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &cols,
            "-y",
            &rows,
            "env",
        ];
        args.extend_from_slice(env_args);
        tmux.run(&args);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The text of the pane of session `t`.
    pub fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits (15 s at most) until the screen satisfies `cond`, and returns it; fails naming
    /// `what` and showing the screen.
    pub fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let start = std::time::Instant::now();
        loop {
            let screen = self.capture();
            if cond(&screen) {
                return screen;
            }
            if start.elapsed() > std::time::Duration::from_secs(15) {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// A tmux pane whose output is also piped to a log file (`pipe-pane`).
pub struct Pane {
    tmux: Tmux,
    log: PathBuf,
}

impl std::ops::Deref for Pane {
    type Target = Tmux;
    fn deref(&self) -> &Tmux {
        &self.tmux
    }
}

impl Pane {
    /// A [`Tmux::start`] whose pane's output is appended to `log` as well.
    pub fn start(name: &str, size: (u16, u16), env_args: &[&str], log: PathBuf) -> Pane {
        let tmux = Tmux::start(name, size, env_args);
        let log_cmd = format!("cat >> '{}'", log.display());
        tmux.run(&["pipe-pane", "-t", "t", "-o", &log_cmd]);
        Pane { tmux, log }
    }

    /// Everything the pane was sent so far, escape sequences included.
    pub fn log(&self) -> Vec<u8> {
        std::fs::read(&self.log).unwrap_or_default()
    }

    /// Types `cmd`, waits for it to end, and returns the bytes the terminal got meanwhile.
    pub fn command(&self, cmd: &str, marker: u32) -> String {
        let from = self.log().len();
        // The marker is computed by the shell, so the typed command line does not match it.
        let full = format!("{cmd}; echo done-$(({marker}+1))");
        let want = format!("done-{}", marker + 1);
        self.run(&["send-keys", "-t", "t", &full, "Enter"]);
        let start = Instant::now();
        loop {
            let log = self.log();
            let got = String::from_utf8_lossy(&log[from.min(log.len())..]).into_owned();
            if got.contains(&want) {
                return got;
            }
            if start.elapsed() > Duration::from_secs(120) {
                panic!("timed out waiting for `{cmd}`; screen:\n{}", self.capture());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Standard error with nothing a progress bar draws: no carriage return, no escape sequence.
pub fn assert_no_bar(what: &str, stderr: &str) {
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{what}: progress output on a pipe: {stderr:?}"
    );
}

/// `out`, the bytes a terminal got while a command ran, holds a progress bar `label [...]`
/// counting up to `total` (e.g. `400,000 events`), redrawn in place.
pub fn assert_bar(out: &str, label: &str, total: &str) {
    assert!(out.contains(&format!("{label} [")), "no bar:\n{out:?}");
    assert!(out.contains(&format!("/{total}")), "no count:\n{out:?}");
    assert!(
        out.contains("\r\x1b[2K"),
        "bar not redrawn in place:\n{out:?}"
    );
}

/// SGR sequences (`ESC [ ... m`): colors and other text attributes.
pub fn has_sgr(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == 0x1b
            && b.get(i + 1) == Some(&b'[')
            && b[i + 2..]
                .iter()
                .find(|c| !(c.is_ascii_digit() || **c == b';'))
                .is_some_and(|c| *c == b'm')
    })
}
