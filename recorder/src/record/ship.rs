//! `record --push`: ships the session to the team store while it is recorded.
//!
//! The local store is the spool. A thread reads the session's new events from its own read-only
//! connection every [`TICK`] and sends them ([`Pusher::push_session`]), so the team store trails
//! the recording by about a second. When the server cannot be reached, nothing is lost: the
//! events wait in the local store, a `note` event (layer `push`) and a line on stderr say how
//! far behind the push is, and the shipper tries again every [`RETRY`]. When it is back, the
//! backlog goes out and a second note says how far behind it got. At the end the recorder
//! pushes what is left, with the checkpoints and this host's key ([`finish`]).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flightlog_formats::keys::key_id;
use flightlog_formats::store::pg::{self, PushStats, Pusher};
use flightlog_formats::{Keys, Kind, NewEvent, Store};
use serde_json::json;

use super::writer::Sink;

/// How often new events are looked for.
pub const TICK: Duration = Duration::from_millis(250);
/// How often an unreachable server is tried again.
pub const RETRY: Duration = Duration::from_secs(1);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where to ship: the team store's URL and the host name its sessions carry there.
#[derive(Debug, Clone)]
pub struct PushTarget {
    pub url: String,
    pub host: String,
}

/// The running shipper.
pub struct Shipper {
    stop: Sender<()>,
    thread: JoinHandle<Shipped>,
}

/// What the shipper leaves for [`finish`]: its connection, if it has one, and how many events
/// of the session the team store was last known to have.
#[derive(Default)]
pub struct Shipped {
    pusher: Option<Pusher>,
    events: u64,
}

/// A time the server could not be reached.
struct Outage {
    since: Instant,
    /// The most events the team store lacked during it.
    behind: u64,
}

/// Starts shipping `session` of the store at `db`.
pub fn start(target: PushTarget, db: PathBuf, session: String, sink: Sink) -> Shipper {
    let (stop, stopped) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("flightlog-push".into())
        .spawn(move || run(&target, &db, &session, &sink, &stopped))
        .ok();
    match thread {
        Some(thread) => Shipper { stop, thread },
        // No thread: everything is pushed at the end (`finish` connects itself).
        None => {
            let (stop, _) = std::sync::mpsc::channel();
            Shipper {
                stop,
                thread: std::thread::spawn(Shipped::default),
            }
        }
    }
}

impl Shipper {
    /// Stops the thread.
    pub fn stop(self) -> Shipped {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

fn run(
    target: &PushTarget,
    db: &std::path::Path,
    session: &str,
    sink: &Sink,
    stopped: &Receiver<()>,
) -> Shipped {
    let shown = pg::display_url(&target.url);
    let mut pusher: Option<Pusher> = None;
    let mut store: Option<Store> = None;
    let mut outage: Option<Outage> = None;
    let mut next_try = Instant::now();
    // The events the team store has of this session, as far as we know.
    let mut shipped = 0u64;
    loop {
        match stopped.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                return Shipped {
                    pusher,
                    events: shipped,
                };
            }
        }
        if pusher.is_none() && Instant::now() < next_try {
            continue;
        }
        let local = match store.as_ref() {
            Some(s) => s,
            None => match Store::open_read_only(db) {
                Ok(s) => store.insert(s),
                Err(_) => continue,
            },
        };
        let Ok((local_next, _)) = local.head(session) else {
            continue;
        };
        if local_next == shipped && pusher.is_some() {
            continue;
        }
        let result = match pusher.as_mut() {
            Some(p) => Ok(p),
            None => Pusher::connect_within(&target.url, &target.host, Some(CONNECT_TIMEOUT))
                .map(|p| pusher.insert(p)),
        }
        .and_then(|p| {
            let mut stats = PushStats::default();
            p.push_session(local, session, &mut stats, &mut |_| {})?;
            Ok(stats.already + stats.events)
        });
        match result {
            Ok(have) => {
                shipped = have;
                if let Some(o) = outage.take() {
                    let secs = o.since.elapsed().as_secs();
                    let msg = format!(
                        "the team store {shown} is reachable again: the push was up to {} \
                         event(s) and {secs} s behind, and has caught up",
                        o.behind
                    );
                    say(&msg);
                    sink.send(
                        "push",
                        note(sink, "caught_up", &shown, o.behind, secs, None),
                    );
                }
            }
            Err(e) => {
                pusher = None;
                next_try = Instant::now() + RETRY;
                let behind = local_next.saturating_sub(shipped);
                match outage.as_mut() {
                    Some(o) => o.behind = o.behind.max(behind),
                    None => {
                        let detail = e.to_string();
                        say(&format!(
                            "cannot push to the team store {shown} ({}): {behind} event(s) \
                             behind; they are kept in the local store and sent when it is back",
                            flightlog_formats::text::line(&detail)
                        ));
                        sink.send(
                            "push",
                            note(sink, "unreachable", &shown, behind, 0, Some(&detail)),
                        );
                        outage = Some(Outage {
                            since: Instant::now(),
                            behind,
                        });
                    }
                }
            }
        }
    }
}

/// The `note` event that records the push falling behind or catching up.
fn note(
    sink: &Sink,
    state: &str,
    shown: &str,
    behind: u64,
    secs: u64,
    error: Option<&str>,
) -> NewEvent {
    let mut push = json!({
        "state": state,
        "server": shown,
        "behind_events": behind,
    });
    if state == "caught_up" {
        push["behind_seconds"] = json!(secs);
    }
    if let Some(e) = error {
        push["error"] = json!(e);
    }
    NewEvent::new(sink.now(), Kind::Note, "push", json!({ "push": push }))
}

/// A line on stderr; the agent's terminal may be in raw mode, where a newline does not return
/// the cursor.
fn say(msg: &str) {
    use std::io::{IsTerminal, Write};
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\nflightlog: {msg}\r\n");
    } else {
        let _ = writeln!(err, "flightlog: {msg}");
    }
}

/// The end of the session: pushes what is left of it, the store's checkpoints and this host's
/// key, on the shipper's connection or a new one. Returns a warning when the team store is
/// left behind (the events stay in the local store for `flightlog push`).
pub fn finish(
    target: &PushTarget,
    shipped: Shipped,
    store: &Store,
    session: &str,
    keys: &Keys,
) -> Option<String> {
    let shown = pg::display_url(&target.url);
    let mut stats = PushStats::default();
    let result = match shipped.pusher {
        Some(p) => Ok(p),
        None => Pusher::connect_within(&target.url, &target.host, Some(CONNECT_TIMEOUT)),
    }
    .and_then(|mut p| {
        let vk = keys.verifying_key();
        p.push_key(&key_id(&vk), &hex::encode(vk.as_bytes()))?;
        p.push_session(store, session, &mut stats, &mut |_| {})?;
        p.push_checkpoints(store)
    });
    match result {
        Ok(_) => None,
        Err(e) => {
            let local = store.head(session).map(|h| h.0).unwrap_or(0);
            let there = shipped.events.max(stats.already + stats.events);
            let behind = local.saturating_sub(there);
            Some(format!(
                "cannot push to the team store {shown} ({}): the push of session {session} is \
                 {behind} of {local} event(s) behind (with its checkpoints); they are kept in \
                 the local store: `flightlog push {session}` sends them",
                flightlog_formats::text::line(&e.to_string())
            ))
        }
    }
}
