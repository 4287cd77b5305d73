//! The replay without a terminal: the same state machine, loader and view, with effects served
//! synchronously. Tests, benchmarks and non-interactive callers drive it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flightlog_formats::Store;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::action::Action;
use crate::loader::{self, Indexer, Screener};
use crate::state::{Effect, Msg, State};
use crate::{ViewerError, update, view};

/// A replay session driven in-process.
pub struct Headless {
    pub state: State,
    store: Store,
    db: PathBuf,
    indexer: Indexer,
    screener: Screener,
    policy: Option<PathBuf>,
}

impl std::fmt::Debug for Headless {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Headless").field("db", &self.db).finish()
    }
}

impl Headless {
    /// Opens a session and indexes its first `first_chunk` events (the first frame's worth).
    pub fn open(
        db: &Path,
        session: &str,
        size: (u16, u16),
        first_chunk: u64,
    ) -> Result<Headless, ViewerError> {
        let store = loader::open_store(db)?;
        let info = loader::open_session(&store, session)?;
        let mut h = Headless {
            state: State::new(size, 1.0),
            indexer: Indexer::new(&info.id),
            screener: Screener::new(&info.id),
            store,
            db: db.to_path_buf(),
            policy: None,
        };
        h.send(Msg::Opened(info));
        h.index_more(first_chunk)?;
        Ok(h)
    }

    pub fn with_policy(mut self, policy: Option<PathBuf>) -> Self {
        self.policy = policy;
        self
    }

    /// Indexes up to `n` more events; returns whether the index is complete.
    pub fn index_more(&mut self, n: u64) -> Result<bool, ViewerError> {
        let c = self.indexer.chunk(&self.store, n)?;
        let done = c.complete;
        self.send(Msg::Indexed(c));
        Ok(done)
    }

    /// Indexes the rest of the session.
    pub fn finish_index(&mut self) -> Result<(), ViewerError> {
        while !self.index_more(50_000)? {}
        Ok(())
    }

    /// Runs verification and the findings, as the background checker does.
    pub fn check(&mut self) -> Result<(), ViewerError> {
        let id = self.indexer.session.clone();
        let v = loader::verify(&self.store, &self.db, &id);
        self.send(Msg::Verified(v));
        let home = self.state.session.as_ref().and_then(|s| s.home_env.clone());
        let f = crate::analysis::findings(&self.store, &id, home, self.policy.as_deref())?;
        self.send(Msg::Analyzed(f));
        Ok(())
    }

    /// Opens, indexes everything, verifies and analyses.
    pub fn open_all(db: &Path, session: &str, size: (u16, u16)) -> Result<Headless, ViewerError> {
        let mut h = Headless::open(db, session, size, 2_000)?;
        h.finish_index()?;
        h.check()?;
        Ok(h)
    }

    /// Applies a message and serves the effects it asks for.
    pub fn send(&mut self, msg: Msg) {
        let mut queue = vec![msg];
        while let Some(m) = queue.pop() {
            if let Some(fx) = update(&mut self.state, m) {
                self.serve(fx, &mut queue);
            }
        }
    }

    pub fn act(&mut self, a: Action) {
        self.send(Msg::Action(a));
    }

    pub fn tick(&mut self, dt: Duration) {
        self.send(Msg::Tick(dt));
    }

    fn serve(&mut self, fx: Effect, queue: &mut Vec<Msg>) {
        let sid = self.indexer.session.clone();
        match fx {
            Effect::Quit | Effect::ListSessions | Effect::OpenSession(_) => {}
            Effect::Fetch(pages) => {
                for p in pages {
                    match loader::fetch_page(&self.store, &sid, p) {
                        Ok(evs) => queue.push(Msg::Page(p, evs)),
                        Err(e) => queue.push(Msg::LoadError(e.to_string())),
                    }
                }
            }
            Effect::Screen(seq) => match self.screener.screen_at(&self.store, seq) {
                Ok(s) => queue.push(Msg::Screen(s)),
                Err(e) => queue.push(Msg::LoadError(e.to_string())),
            },
            Effect::Search {
                query,
                from,
                forward,
            } => {
                let seq = loader::search(&self.store, &sid, &query, from, forward).unwrap_or(None);
                queue.push(Msg::SearchResult {
                    query,
                    forward,
                    from,
                    seq,
                });
            }
            Effect::Batch(v) => {
                for f in v {
                    self.serve(f, queue);
                }
            }
        }
    }

    /// Draws the current state into an in-memory terminal of the state's size.
    pub fn render(&self) -> TestBackend {
        let (w, h) = self.state.size;
        let mut t = match Terminal::new(TestBackend::new(w, h)) {
            Ok(t) => t,
            Err(never) => match never {},
        };
        if let Err(never) = t.draw(|f| view(&self.state, f)) {
            match never {}
        }
        t.backend().clone()
    }

    /// The current frame as text (see [`screen_text`]).
    pub fn screen(&self) -> String {
        screen_text(&self.render())
    }
}

/// The text of a drawn frame: each cell's symbol, a line per row.
pub fn screen_text(b: &TestBackend) -> String {
    let buf = b.buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}
