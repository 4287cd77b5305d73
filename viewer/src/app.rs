//! The runtime: the only module that touches the terminal. It owns `ratatui::init`/`restore`,
//! the event loop, and the threads (input, store loader, verifier/analyser) that feed one
//! channel of messages into [`crate::update`].

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event::{self as ct, KeyEvent};

use crate::loader::{self, Indexer, Screener};
use crate::state::{Effect, Msg, Pending, State};
use crate::{ReplayOptions, ViewerError, keymap, update, view};

/// How often a finished index looks for new events (a session still being recorded).
const POLL: Duration = Duration::from_millis(250);
/// Index chunk sizes: small first so the first frame comes fast.
const FIRST_CHUNK: u64 = 2_000;
const CHUNK: u64 = 50_000;

/// What reaches the event loop.
enum Incoming {
    Key(KeyEvent),
    Resize(u16, u16),
    Msg(Box<Msg>),
}

/// Runs the replay until the user quits.
pub fn run(db: &Path, session: Option<&str>, opts: ReplayOptions) -> Result<(), ViewerError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(ViewerError::NotATerminal);
    }
    // Fail on a missing store or session before the screen switches.
    let store = loader::open_store(db)?;
    let open = match session {
        Some(name) => Some(loader::open_session(&store, name)?.id),
        None => {
            if store.sessions()?.is_empty() {
                return Err(ViewerError::NoSessions);
            }
            None
        }
    };
    drop(store);
    let mut terminal = ratatui::init();
    let res = event_loop(&mut terminal, db, open, &opts);
    ratatui::restore();
    res
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    db: &Path,
    open: Option<String>,
    opts: &ReplayOptions,
) -> Result<(), ViewerError> {
    let (tx, rx) = mpsc::channel::<Incoming>();
    let (req_tx, req_rx) = mpsc::channel::<Effect>();
    let (chk_tx, chk_rx) = mpsc::channel::<String>();
    let stop = Arc::new(AtomicBool::new(false));

    let input = {
        let tx = tx.clone();
        let stop = stop.clone();
        thread::spawn(move || input_thread(tx, stop))
    };
    {
        let tx = tx.clone();
        let db = db.to_path_buf();
        thread::spawn(move || worker(db, req_rx, tx, chk_tx));
    }
    {
        let tx = tx.clone();
        let db = db.to_path_buf();
        let policy = opts.policy.clone();
        let stop = stop.clone();
        thread::spawn(move || checker(db, policy, chk_rx, tx, stop));
    }
    drop(tx);

    let size = terminal.size()?;
    let mut state = State::new((size.width, size.height), opts.speed);
    state.pending = match (opts.at_seq, opts.jump_to_first_crossing) {
        (Some(s), _) => Some(Pending::Seq(s)),
        (None, true) => Some(Pending::FirstCrossing),
        (None, false) => None,
    };
    match open {
        Some(id) => run_effect(&req_tx, Effect::OpenSession(id)),
        None => run_effect(&req_tx, Effect::ListSessions),
    }
    let mut dirty = true;
    let mut last_tick = Instant::now();
    let result = loop {
        if dirty {
            terminal.draw(|f| view(&state, f))?;
            dirty = false;
        }
        let timeout = if state.player.playing {
            Duration::from_millis(16)
        } else {
            Duration::from_millis(500)
        };
        let mut msgs = Vec::new();
        match rx.recv_timeout(timeout) {
            Ok(inc) => {
                push(&state, inc, &mut msgs);
                // Drain what else is queued so a burst becomes one redraw.
                while let Ok(inc) = rx.try_recv() {
                    push(&state, inc, &mut msgs);
                    if msgs.len() > 256 {
                        break;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
        }
        let now = Instant::now();
        if state.player.playing {
            msgs.push(Msg::Tick(now - last_tick));
        }
        last_tick = now;
        for m in msgs {
            // Keys are mapped against the state as it is when they are applied.
            if let Some(fx) = update(&mut state, m) {
                run_effect(&req_tx, fx);
            }
            dirty = true;
        }
        if state.quit {
            break Ok(());
        }
    };
    stop.store(true, Ordering::Relaxed);
    let _ = input.join();
    result
}

fn push(state: &State, inc: Incoming, msgs: &mut Vec<Msg>) {
    match inc {
        Incoming::Key(k) => {
            // Apply queued messages first when a key depends on state (prompts, help).
            if let Some(a) = keymap::map(state, k) {
                msgs.push(Msg::Action(a));
            }
        }
        Incoming::Resize(w, h) => msgs.push(Msg::Resize(w, h)),
        Incoming::Msg(m) => msgs.push(*m),
    }
}

/// Hands an effect to the loader thread: a batch one by one; quitting is the event loop's.
fn run_effect(req: &Sender<Effect>, fx: Effect) {
    match fx {
        Effect::Quit => {}
        Effect::Batch(v) => {
            for f in v {
                run_effect(req, f);
            }
        }
        work => {
            let _ = req.send(work);
        }
    }
}

fn input_thread(tx: Sender<Incoming>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match ct::poll(Duration::from_millis(50)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        let inc = match ct::read() {
            Ok(ct::Event::Key(k)) => Incoming::Key(k),
            Ok(ct::Event::Resize(w, h)) => Incoming::Resize(w, h),
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.send(inc).is_err() {
            return;
        }
    }
}

fn send(tx: &Sender<Incoming>, m: Msg) -> bool {
    tx.send(Incoming::Msg(Box::new(m))).is_ok()
}

/// The loader: the session list, the index (then polling for new events), pages, screens,
/// searches. One read-only connection.
fn worker(db: PathBuf, rx: Receiver<Effect>, tx: Sender<Incoming>, chk: Sender<String>) {
    let store = match loader::open_store(&db) {
        Ok(s) => s,
        Err(e) => {
            send(&tx, Msg::LoadError(format!("cannot open the store: {e}")));
            return;
        }
    };
    let mut indexer: Option<Indexer> = None;
    let mut screener: Option<Screener> = None;
    let mut complete = true;
    let mut first = true;
    let mut last_poll = Instant::now();
    loop {
        // Requests first: they are what the user is waiting for.
        let mut reqs = Vec::new();
        let next = if complete {
            rx.recv_timeout(POLL)
                .map_err(|e| e == RecvTimeoutError::Disconnected)
        } else {
            rx.try_recv().map_err(|e| e == TryRecvError::Disconnected)
        };
        match next {
            Ok(r) => reqs.push(r),
            Err(true) => return,
            Err(false) => {}
        }
        while let Ok(r) = rx.try_recv() {
            reqs.push(r);
        }
        // Only the newest screen request matters.
        let last_screen = reqs.iter().rposition(|r| matches!(r, Effect::Screen(_)));
        for (i, r) in reqs.into_iter().enumerate() {
            let sid = indexer.as_ref().map(|ix| ix.session.clone());
            let ok = match r {
                Effect::ListSessions => send(
                    &tx,
                    Msg::Sessions(store.sessions().map_err(|e| e.to_string())),
                ),
                Effect::OpenSession(name) => match loader::open_session(&store, &name) {
                    Ok(info) => {
                        let _ = chk.send(info.id.clone());
                        indexer = Some(Indexer::new(&info.id));
                        screener = Some(Screener::new(&info.id));
                        complete = false;
                        first = true;
                        send(&tx, Msg::Opened(info))
                    }
                    Err(e) => send(&tx, Msg::LoadError(e.to_string())),
                },
                Effect::Fetch(pages) => {
                    let Some(sid) = sid else { continue };
                    let mut ok = true;
                    for p in pages {
                        let m = match loader::fetch_page(&store, &sid, p) {
                            Ok(evs) => Msg::Page(p, evs),
                            Err(e) => Msg::LoadError(e.to_string()),
                        };
                        ok &= send(&tx, m);
                    }
                    ok
                }
                Effect::Screen(seq) => {
                    if Some(i) != last_screen {
                        continue;
                    }
                    let Some(sc) = screener.as_mut() else {
                        continue;
                    };
                    match sc.screen_at(&store, seq) {
                        Ok(snap) => send(&tx, Msg::Screen(snap)),
                        Err(e) => send(&tx, Msg::LoadError(e.to_string())),
                    }
                }
                Effect::Search {
                    query,
                    from,
                    forward,
                } => {
                    let Some(sid) = sid else { continue };
                    let seq = loader::search(&store, &sid, &query, from, forward).unwrap_or(None);
                    send(
                        &tx,
                        Msg::SearchResult {
                            query,
                            forward,
                            from,
                            seq,
                        },
                    )
                }
                // `run_effect` sends neither.
                Effect::Quit | Effect::Batch(_) => true,
            };
            if !ok {
                return;
            }
        }
        let Some(ix) = indexer.as_mut() else { continue };
        if !complete {
            let limit = if first { FIRST_CHUNK } else { CHUNK };
            first = false;
            match ix.chunk(&store, limit) {
                Ok(c) => {
                    complete = c.complete;
                    if complete {
                        last_poll = Instant::now();
                    }
                    if !send(&tx, Msg::Indexed(c)) {
                        return;
                    }
                }
                Err(e) => {
                    complete = true;
                    send(&tx, Msg::LoadError(e.to_string()));
                }
            }
        } else if last_poll.elapsed() >= POLL {
            last_poll = Instant::now();
            if let Ok((count, _)) = store.head(&ix.session)
                && count > ix.next
            {
                complete = false;
            }
        }
    }
}

/// Verification and findings, on their own connection; re-run when the session grows.
fn checker(
    db: PathBuf,
    policy: Option<PathBuf>,
    rx: Receiver<String>,
    tx: Sender<Incoming>,
    stop: Arc<AtomicBool>,
) {
    let store = match loader::open_store(&db) {
        Ok(s) => s,
        Err(_) => return,
    };
    let Ok(mut session) = rx.recv() else { return };
    let mut done_at: Option<u64> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(s) = rx.try_recv() {
            session = s;
            done_at = None;
        }
        let count = store.head(&session).map(|h| h.0).unwrap_or(0);
        if done_at != Some(count) {
            done_at = Some(count);
            let v = loader::verify(&store, &db, &session);
            if !send(&tx, Msg::Verified(v)) {
                return;
            }
            let home = loader::open_session(&store, &session)
                .ok()
                .and_then(|i| i.home_env);
            let m = match crate::analysis::findings(&store, &session, home, policy.as_deref()) {
                Ok(f) => Msg::Analyzed(f),
                Err(e) => Msg::LoadError(format!("analysis: {e}")),
            };
            if !send(&tx, m) {
                return;
            }
        }
        // A growing session is re-checked at most every two seconds.
        thread::sleep(Duration::from_secs(2));
    }
}
