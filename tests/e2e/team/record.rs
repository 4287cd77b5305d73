//! `record --push`: the session reaches the team store while it is recorded; a server that goes
//! away loses nothing (the local store is the spool), a note says how far behind the push was,
//! and the push catches up when the server is back and at the end.
//!
//! The outage is a loopback relay in front of the real server that the test cuts (every
//! connection closed, new ones closed as they arrive) and restores.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flightlog_formats::{Kind, Store};

use super::{Team, count_events, stderr};
use crate::common::{bin, exits, session_events, wait_until, work_dir};

/// A TCP relay to the server that can be cut and restored.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to(server: &str) -> Relay {
        let target = server_addr(server);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                {
                    let mut o = open2.lock().unwrap();
                    o.push(client.try_clone().unwrap());
                    o.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Relay { port, up, open }
    }

    /// Every connection closed; new ones are closed as they come.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// `url` with the relay's port in place of the server's.
    fn url(&self, url: &str) -> String {
        let addr = server_addr(url);
        url.replacen(&addr, &format!("127.0.0.1:{}", self.port), 1)
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// `127.0.0.1:PORT` of a `postgres://user@127.0.0.1:PORT/db` URL.
fn server_addr(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    host.split('/').next().unwrap().to_string()
}

/// An agent that marks each phase with a file in `ctl` and waits for the test's `goN` file
/// before the next; it prints a line per phase (terminal events to ship).
fn phased_agent(ctl: &Path, phases: usize) -> String {
    let mut s = format!(
        "set -e\ncd {ctl}\necho \"$FLIGHTLOG_SESSION\" > session.tmp && mv session.tmp session\n",
        ctl = ctl.display()
    );
    for p in 1..=phases {
        s.push_str(&format!(
            "echo phase {p} output line one\necho phase {p} output line two\n\
             touch phase{p}\nwhile [ ! -e go{p} ]; do sleep 0.05; done\n"
        ));
    }
    s.push_str("echo done\n");
    s
}

fn spawn_record(dir: &Path, db: &Path, push: &[&str], script: &str) -> Child {
    Command::new(bin())
        .current_dir(dir)
        .arg("--db")
        .arg(db)
        .arg("record")
        .args(["--no-watch", "--no-proxy"])
        .args(push)
        .args(["--", "sh", "-c", script])
        .env_remove("FLIGHTLOG_TEAM_URL")
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_POLICY")
        .env("FLIGHTLOG_HOST", "laptop-1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_file(p: &Path, within: Duration) {
    wait_until(
        &p.display().to_string(),
        within,
        Duration::from_millis(20),
        || p.exists(),
    );
}

fn local_count(db: &Path, id: &str) -> i64 {
    Store::open_read_only(db).unwrap().head(id).unwrap().0 as i64
}

/// Waits until the team store has at least `n` events of the session; returns how long.
fn wait_remote(team: &Team, id: &str, n: i64, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let have = count_events(team, id);
        if have >= n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "the team store has {have} of {n} events after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `push` notes of a session in the local store: (state, behind_events).
fn push_notes(db: &Path, id: &str) -> Vec<(String, u64)> {
    session_events(db, id)
        .iter()
        .filter(|e| e.kind == Kind::Note && e.data.get("push").is_some())
        .map(|e| {
            (
                e.data["push"]["state"].as_str().unwrap_or("").to_string(),
                e.data["push"]["behind_events"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Waits (20 s at most) for a `push` note in state `state`.
fn wait_note(db: &Path, id: &str, state: &str) {
    wait_until(
        &format!("a {state} note"),
        Duration::from_secs(20),
        Duration::from_millis(50),
        || push_notes(db, id).iter().any(|(s, _)| s == state),
    );
}

/// A recording (`record --push URL`) of a [`phased_agent`] in a working directory of its own,
/// the agent at the end of its first phase.
struct Phased {
    _dir: tempfile::TempDir,
    db: PathBuf,
    ctl: PathBuf,
    /// The recorder, until [`Phased::finish`] waits for it.
    child: Option<Child>,
    id: String,
}

impl Phased {
    fn start(url: &str, phases: usize) -> Phased {
        let (_dir, dir, db) = work_dir();
        let ctl = dir.join("ctl");
        std::fs::create_dir_all(&ctl).unwrap();
        let child = spawn_record(&dir, &db, &["--push", url], &phased_agent(&ctl, phases));
        wait_file(&ctl.join("phase1"), Duration::from_secs(60));
        let id = std::fs::read_to_string(ctl.join("session")).unwrap();
        let id = id.trim().to_string();
        Phased {
            _dir,
            db,
            ctl,
            child: Some(child),
            id,
        }
    }

    /// Lets the agent end phase `p`; waits for the next one unless `p` was the last.
    fn go(&self, p: usize, last: bool) {
        std::fs::write(self.ctl.join(format!("go{p}")), "").unwrap();
        if !last {
            wait_file(
                &self.ctl.join(format!("phase{}", p + 1)),
                Duration::from_secs(60),
            );
        }
    }

    /// Events of the session in the local store so far.
    fn local_count(&self) -> i64 {
        local_count(&self.db, &self.id)
    }

    /// Waits for the recording to end, which must exit 0: its output.
    fn finish(&mut self) -> Output {
        let child = self.child.take().expect("finished once");
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out
    }
}

/// Shipped while recording: the team store trails the local store by about a second, and at
/// the end both give the same `show --json`.
#[test]
fn record_push_ships_while_recording() {
    let Some(team) = Team::new("recpush") else {
        return;
    };
    let mut rec = Phased::start(&team.writer, 2);
    let (db, id) = (rec.db.clone(), rec.id.clone());
    for p in 1..=2 {
        // The events written so far reach the server while the agent still runs (a second on
        // a quiet machine; the bound leaves room for a loaded one, and still fails when
        // nothing is shipped before the end).
        let lag = wait_remote(&team, &id, rec.local_count(), Duration::from_secs(10));
        eprintln!("phase {p}: the team store caught up in {lag:?}");
        rec.go(p, p == 2);
    }
    let out = rec.finish();
    team.assert_same_as(&db, &id);
    assert!(
        push_notes(&db, &id).is_empty(),
        "{:?}",
        push_notes(&db, &id)
    );
    assert!(!stderr(&out).contains("cannot push"), "{}", stderr(&out));
    exits(&team.read(&["verify", &id]), 0);
}

/// The server goes away mid-session and comes back: nothing is lost, a note records how far
/// behind the push was, the push catches up while the agent still runs.
#[test]
fn record_push_survives_the_server_going_away() {
    let Some(team) = Team::new("recaway") else {
        return;
    };
    let relay = Relay::to(&team.writer);
    let url = relay.url(&team.writer);
    let mut rec = Phased::start(&url, 3);
    let (db, id) = (rec.db.clone(), rec.id.clone());
    wait_remote(&team, &id, rec.local_count(), Duration::from_secs(10));
    // Away: the next phase's events stay local, and a note says so.
    relay.cut();
    rec.go(1, false);
    wait_note(&db, &id, "unreachable");
    let during = count_events(&team, &id);
    assert!(
        during < rec.local_count(),
        "the relay was cut, yet the team store has every event"
    );
    // Back: the backlog goes out before the session ends, and a second note says how far
    // behind it got.
    relay.restore();
    rec.go(2, false);
    wait_remote(&team, &id, rec.local_count(), Duration::from_secs(20));
    wait_note(&db, &id, "caught_up");
    rec.go(3, true);
    let out = rec.finish();
    let err = stderr(&out);
    assert!(err.contains("cannot push to the team store"), "{err}");
    assert!(err.contains("has caught up"), "{err}");
    assert!(!err.contains("not all there"), "{err}");
    let notes = push_notes(&db, &id);
    let caught = notes.iter().find(|(s, _)| s == "caught_up").unwrap();
    assert!(caught.1 > 0, "{notes:?}");
    // Nothing lost: the same bytes from both stores.
    team.assert_same_as(&db, &id);
}

/// A server that is never there: the recording is whole, a note and a line on stderr say how
/// far behind the push is, and a later `push` ships everything.
#[test]
fn record_push_to_an_unreachable_server_keeps_everything_for_later() {
    let Some(team) = Team::new("recdown") else {
        return;
    };
    let relay = Relay::to(&team.writer);
    relay.cut();
    let url = relay.url(&team.writer);
    let mut rec = Phased::start(&url, 1);
    let (db, id) = (rec.db.clone(), rec.id.clone());
    wait_note(&db, &id, "unreachable");
    rec.go(1, true);
    let out = rec.finish();
    let err = stderr(&out);
    assert!(err.contains("cannot push to the team store"), "{err}");
    assert!(err.contains(&format!("flightlog push {id}")), "{err}");
    let notes = push_notes(&db, &id);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].0, "unreachable");
    assert!(notes[0].1 > 0, "{notes:?}");
    assert_eq!(count_events(&team, &id), 0);
    relay.restore();
    let out = super::at(&db, &["push", &id, "--to", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    team.assert_same_as(&db, &id);
}
