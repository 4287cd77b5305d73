//! Helpers the end-to-end tests share: the binary, the session a run reported, its events,
//! and the checks every recording test ends with.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flightlog_formats::{Event, Store};

pub fn bin() -> PathBuf {
    flightlog_fixtures::bin_path().expect("build the binary first (cargo build)")
}

/// `flightlog --db DB`, without the variables a developer's shell may carry that change what
/// flightlog does (a session to join, a policy, the guard, a hook timeout), and with standard
/// input closed. A test sets what it needs on top.
pub fn flightlog(db: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--db").arg(db);
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

/// Runs `cmd` with `stdin` written to it and collects its output (a process that exits before
/// reading all of it is fine).
pub fn output_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
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

/// Every event of a session, parsed.
pub fn session_events(db: &Path, session: &str) -> Vec<Event> {
    let store = Store::open_read_only(db).unwrap();
    store
        .events(session, 0, 10_000_000)
        .unwrap()
        .iter()
        .map(|e| e.event().unwrap())
        .collect()
}

/// `secret` is in no file beside the store (database, `-wal`, `-shm`, keys, notes).
pub fn assert_secret_absent(db: &Path, secret: &str) {
    let dir = db.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret is in {}",
                p.display()
            );
        }
    }
}

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

/// A tmux server of its own (`-L socket`), killed when this is dropped.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
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
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
