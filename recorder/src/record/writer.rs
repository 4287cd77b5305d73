//! The one writer of a recorded session.
//!
//! Every capture layer sends events to one thread that owns the [`Store`]. The thread commits
//! what arrives within [`GATHER`] of the first queued event in one transaction (group commit):
//! an event is durable a few milliseconds after it is sent, and a burst of events costs one
//! fsync. An event someone waits for ([`Sink::commit`]) ends the gathering at once. Layers
//! never block on the writer by accident: [`Sink::send`] never waits; if the queue is full the
//! event is counted as dropped and the writer records a `gap` saying how many events of which
//! layer were lost. Events that must be on disk before the agent may go on (a destructive exec,
//! a guarded API call) use [`Sink::commit`], which waits for the commit and, with the guard on,
//! for its decision.
//!
//! Follow-up events (the exit of a traced process, the response to a proxied request) name the
//! event they complete by a local id; the writer turns it into that event's `seq`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flightlog_formats::{Event, Keys, Kind, NewEvent, Redactor, Store};
use serde_json::{Value, json};

use super::judge::{Judge, Verdict};

/// The clock the recorder stamps events with (injected so tests are deterministic).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How many events may wait for the writer before layers start dropping.
pub const QUEUE: usize = 65_536;
/// Largest group commit.
const MAX_BATCH: usize = 4_096;
/// How long the writer gathers events after the first one before committing them (unless one
/// of them is waited for). Short enough to be "a few milliseconds" of exposure to a crash,
/// long enough that an exec-heavy agent costs one fsync per burst, not per event.
pub const GATHER: Duration = Duration::from_millis(4);

/// What the writer answers to [`Sink::commit`].
#[derive(Debug, Clone)]
pub struct Ack {
    pub seq: Option<u64>,
    /// With the guard on: the decision (None when the guard is off).
    pub verdict: Option<Verdict>,
    /// Why the event could not be committed, if it was not.
    pub error: Option<String>,
}

/// A follow-up reference: `data[field] = seq of the event with this local id`.
#[derive(Debug, Clone, Copy)]
pub struct FollowUp {
    pub of: u64,
    pub field: &'static str,
}

pub(crate) enum Msg {
    Event(Box<Pending>),
    Stop,
}

/// The sending side that layers clone.
#[derive(Clone)]
pub struct Sink {
    tx: SyncSender<Msg>,
    dropped: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    next_local: Arc<AtomicU64>,
    pub clock: Clock,
    pub started: Instant,
}

impl Sink {
    /// A fresh local id to name an event in a later follow-up.
    pub fn local_id(&self) -> u64 {
        self.next_local.fetch_add(1, Ordering::Relaxed)
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Milliseconds since the session started (monotonic).
    pub fn t_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Queues an event without ever waiting; a full queue counts it as dropped (a `gap` follows).
    pub fn send(&self, layer: &'static str, ev: NewEvent) {
        self.send_full(layer, ev, None, None);
    }

    /// Queues an event that a later follow-up may refer to by `local`, or that is itself a
    /// follow-up.
    pub fn send_full(
        &self,
        layer: &'static str,
        ev: NewEvent,
        local: Option<u64>,
        follow: Option<FollowUp>,
    ) {
        let msg = Msg::Event(Box::new(Pending {
            ev,
            local,
            follow,
            ack: None,
            guard: None,
        }));
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                if let Ok(mut d) = self.dropped.lock() {
                    *d.entry(layer).or_default() += 1;
                }
            }
        }
    }

    /// Sends an event and waits until it is committed (and, with `guard`, decided).
    pub fn commit(&self, ev: NewEvent, local: Option<u64>, guard: Option<&'static str>) -> Ack {
        let (atx, arx) = std::sync::mpsc::sync_channel(1);
        let msg = Msg::Event(Box::new(Pending {
            ev,
            local,
            follow: None,
            ack: Some(atx),
            guard,
        }));
        if self.tx.send(msg).is_err() {
            return Ack {
                seq: None,
                verdict: None,
                error: Some("the writer has stopped".into()),
            };
        }
        arx.recv().unwrap_or(Ack {
            seq: None,
            verdict: None,
            error: Some("the writer stopped before committing".into()),
        })
    }

    pub(crate) fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// Creates the channel; the receiver goes to [`run`].
pub(crate) fn channel(clock: Clock, started: Instant) -> (Sink, Receiver<Msg>) {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    (
        Sink {
            tx,
            dropped: Arc::new(Mutex::new(BTreeMap::new())),
            next_local: Arc::new(AtomicU64::new(1)),
            clock,
            started,
        },
        rx,
    )
}

/// What the writer hands back when it stops.
pub struct WriterResult {
    pub store: Store,
    pub committed: u64,
    pub errors: Vec<String>,
}

pub(crate) struct WriterConfig {
    pub session: String,
    pub redactor: Redactor,
    pub keys: Option<Keys>,
    pub judge: Arc<Judge>,
    /// Keep a copy of the session's events (the guard reads the history).
    pub guard: bool,
    /// How often to sign a checkpoint during a long session.
    pub checkpoint_every: Duration,
}

pub(crate) struct Pending {
    ev: NewEvent,
    local: Option<u64>,
    follow: Option<FollowUp>,
    ack: Option<SyncSender<Ack>>,
    /// Ask the guard about this event once it is committed; the `layer` of its decision.
    guard: Option<&'static str>,
}

struct Writer {
    store: Store,
    cfg: WriterConfig,
    sink: Sink,
    locals: HashMap<u64, u64>,
    history: Vec<Event>,
    committed: u64,
    errors: Vec<String>,
    last_checkpoint: Instant,
}

/// The writer loop. Runs until [`Sink::stop`] is called and the queue is drained.
pub(crate) fn run(store: Store, cfg: WriterConfig, sink: Sink, rx: Receiver<Msg>) -> WriterResult {
    let mut w = Writer {
        store,
        cfg,
        sink,
        locals: HashMap::new(),
        history: Vec::new(),
        committed: 0,
        errors: Vec::new(),
        last_checkpoint: Instant::now(),
    };
    if w.cfg.guard {
        w.refresh_history();
    }
    let mut stopping = false;
    while !stopping {
        let first = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                stopping = true;
                None
            }
        };
        let mut batch: Vec<Pending> = Vec::new();
        if let Some(m) = first {
            take(m, &mut batch, &mut stopping);
        }
        let until = Instant::now() + GATHER;
        let mut waited = batch.iter().any(|p| p.ack.is_some());
        while batch.len() < MAX_BATCH && !stopping {
            // Someone waits for this batch: commit what is queued now, without gathering.
            waited = waited || batch.last().is_some_and(|p| p.ack.is_some());
            let next = if waited {
                rx.try_recv().map_err(|_| RecvTimeoutError::Timeout)
            } else {
                rx.recv_timeout(until.saturating_duration_since(Instant::now()))
            };
            match next {
                Ok(m) => take(m, &mut batch, &mut stopping),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => stopping = true,
            }
        }
        w.flush_drops();
        if !batch.is_empty() {
            w.commit_batch(batch);
        }
        if w.last_checkpoint.elapsed() >= w.cfg.checkpoint_every && w.committed > 0 {
            w.periodic_checkpoint();
        }
    }
    // Drain whatever arrived with or after the stop.
    let mut rest = Vec::new();
    let mut ignored = true;
    while let Ok(m) = rx.try_recv() {
        take(m, &mut rest, &mut ignored);
    }
    w.flush_drops();
    if !rest.is_empty() {
        w.commit_batch(rest);
    }
    WriterResult {
        store: w.store,
        committed: w.committed,
        errors: w.errors,
    }
}

fn take(m: Msg, batch: &mut Vec<Pending>, stopping: &mut bool) {
    match m {
        Msg::Event(p) => batch.push(*p),
        Msg::Stop => *stopping = true,
    }
}

impl Writer {
    fn flush_drops(&mut self) {
        let dropped: BTreeMap<&'static str, u64> = match self.sink.dropped.lock() {
            Ok(mut d) => std::mem::take(&mut *d),
            Err(_) => return,
        };
        if dropped.is_empty() {
            return;
        }
        let evs = dropped
            .into_iter()
            .map(|(layer, n)| {
                NewEvent::new(
                    self.sink.now(),
                    Kind::Gap,
                    "recorder",
                    json!({
                        "layer": layer,
                        "reason": "queue_full",
                        "detail": format!("{n} {layer} events were dropped because the writer queue was full"),
                        "dropped": n,
                    }),
                )
            })
            .map(|ev| Pending {
                ev,
                local: None,
                follow: None,
                ack: None,
                guard: None,
            })
            .collect();
        self.commit_batch(evs);
    }

    /// Commits a batch in one transaction. A follow-up names its event by local id: the seq of
    /// an event committed earlier, or of one earlier in this very batch (known inside the
    /// transaction, so an exec and its exit can share one commit).
    fn commit_batch(&mut self, chunk: Vec<Pending>) {
        if chunk.is_empty() {
            return;
        }
        let mut result = self.append_resolving(&chunk);
        // A busy store (another writer holding the lock past the timeout) gets a few retries.
        let mut tries = 0;
        while let Err(flightlog_formats::Error::Busy(_)) = &result {
            tries += 1;
            if tries > 5 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50 * tries));
            result = self.append_resolving(&chunk);
        }
        match result {
            Ok(appended) => {
                self.committed += appended.len() as u64;
                for (p, a) in chunk.iter().zip(appended.iter()) {
                    if let Some(l) = p.local {
                        self.locals.insert(l, a.seq);
                    }
                }
                // The end of a process or request releases its id (an exec may be referred to
                // twice: the api_call decoded from its argv, then its exit).
                for p in &chunk {
                    if let Some(f) = p.follow
                        && f.field != "via_seq"
                    {
                        self.locals.remove(&f.of);
                    }
                }
                if self.cfg.guard {
                    self.refresh_history();
                }
                for (p, a) in chunk.into_iter().zip(appended) {
                    let verdict = p.guard.map(|layer| self.decide(a.seq, layer));
                    if let Some(ack) = p.ack {
                        let _ = ack.send(Ack {
                            seq: Some(a.seq),
                            verdict,
                            error: None,
                        });
                    }
                }
            }
            Err(e) => {
                let msg = format!("could not commit {} events: {e}", chunk.len());
                eprintln!("flightlog: {msg}");
                self.errors.push(msg.clone());
                for p in chunk {
                    if let Some(ack) = p.ack {
                        let verdict = p.guard.map(|layer| self.judge_fail(layer, &msg));
                        let _ = ack.send(Ack {
                            seq: None,
                            verdict,
                            error: Some(msg.clone()),
                        });
                    }
                }
                if let Ok(mut d) = self.sink.dropped.lock() {
                    *d.entry("recorder").or_default() += 1;
                }
            }
        }
    }

    /// Appends the batch in one transaction, filling each follow-up's field with the seq of the
    /// event it completes. Nothing in `self` changes: a failed transaction leaves no trace.
    fn append_resolving(
        &self,
        chunk: &[Pending],
    ) -> flightlog_formats::Result<Vec<flightlog_formats::store::Appended>> {
        let (session, redactor, locals) = (&self.cfg.session, &self.cfg.redactor, &self.locals);
        self.store.write_tx(|w| {
            // Inside the transaction the batch takes the seqs that follow the head, in order.
            let (next, _) = w.head(session)?;
            let mut here: HashMap<u64, u64> = HashMap::new();
            let evs = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut ev = p.ev.clone();
                    if let Some(f) = p.follow
                        && let Value::Object(m) = &mut ev.data
                    {
                        let seq = here.get(&f.of).or_else(|| locals.get(&f.of)).copied();
                        m.insert(f.field.to_string(), json!(seq));
                    }
                    if let Some(l) = p.local {
                        here.insert(l, next + i as u64);
                    }
                    ev
                })
                .collect();
            // What hooks recognised since the last batch is matched in this one.
            redactor.refresh();
            w.append(session, evs, redactor)
        })
    }

    /// Reads events committed since the last refresh (ours and those of hooks in the session).
    fn refresh_history(&mut self) {
        let from = self.history.len() as u64;
        if let Ok(rows) = self.store.events(&self.cfg.session, from, u64::MAX / 2) {
            for r in rows {
                match r.event() {
                    Ok(ev) => self.history.push(ev),
                    Err(_) => break,
                }
            }
        }
    }

    fn decide(&mut self, seq: u64, layer: &'static str) -> Verdict {
        let idx = seq as usize;
        let verdict = match self.history.get(idx) {
            Some(candidate) => self.cfg.judge.guard(&self.history[..idx], candidate),
            None => self
                .cfg
                .judge
                .fail_verdict("the event was not found after commit"),
        };
        self.record_decision(&verdict, Some(seq), layer);
        verdict
    }

    fn judge_fail(&mut self, layer: &'static str, why: &str) -> Verdict {
        let verdict = self.cfg.judge.fail_verdict(why);
        self.record_decision(&verdict, None, layer);
        verdict
    }

    fn record_decision(&mut self, v: &Verdict, target: Option<u64>, layer: &'static str) {
        if !v.deny && !v.notable {
            return;
        }
        let ev = NewEvent::new(
            self.sink.now(),
            Kind::Decision,
            "guard",
            json!({
                "decision": if v.deny { "deny" } else { "allow" },
                "rule": v.rule,
                "reason": v.reason,
                "target_seq": target,
                "layer": layer,
                "fail_mode": self.cfg.judge.fail_mode(),
            }),
        );
        match self.store.append(&self.cfg.session, ev, &self.cfg.redactor) {
            Ok(_) => {
                self.committed += 1;
                self.refresh_history();
            }
            Err(e) => self
                .errors
                .push(format!("could not record a guard decision: {e}")),
        }
    }

    fn periodic_checkpoint(&mut self) {
        self.last_checkpoint = Instant::now();
        let Some(keys) = &self.cfg.keys else { return };
        let now = self.sink.now();
        if let Err(e) = self
            .store
            .append_session_checkpoint(&self.cfg.session, keys, now)
            .and_then(|_| self.store.checkpoint(keys, now))
        {
            self.errors.push(format!("periodic checkpoint failed: {e}"));
        } else {
            self.committed += 1;
            if self.cfg.guard {
                self.refresh_history();
            }
        }
    }
}
