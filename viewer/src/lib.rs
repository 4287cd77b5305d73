//! # flightlog-viewer
//!
//! The replay TUI (`flightlog replay`): a session picker, a timeline with the boundary crossing
//! marked, per-kind detail views (commands, API requests with the decoded GraphQL operation,
//! colored diffs, the emulated terminal screen, the cause chain), playback at recorded pace, and
//! the chain verification state, on sessions of a million events.
//!
//! ## Architecture
//! - [`state`]: all UI state; [`action`]: user intents; [`keymap`]: keys to actions.
//! - [`update`]: `update(&mut State, Msg) -> Option<Effect>`, no I/O and no clock.
//! - [`player`]: the pure replay clock, advanced by `Tick(dt)`.
//! - [`view`]: a pure function of the state into a ratatui `Frame`.
//! - [`loader`], [`findings`], [`analysis`]: read the store (read-only) and compute what is shown.
//! - [`app`]: the only module that touches the terminal: init/restore, the event loop, threads.
//!
//! **Invariant**: nothing an agent wrote reaches the terminal unescaped: every string from an
//! event passes through [`sanitize`], terminal output is drawn from emulated cells.

use std::path::{Path, PathBuf};

pub mod action;
pub mod analysis;
pub mod app;
pub mod headless;
pub mod keymap;
pub mod layout;
pub mod loader;
pub mod player;
pub mod sanitize;
pub mod state;
pub mod update;
pub mod view;

pub use state::{Effect, Msg, State};
pub use update::update;
pub use view::view;

/// Errors of the viewer.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    #[error(transparent)]
    Store(#[from] flightlog_formats::Error),
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
    #[error("policy: {0}")]
    Policy(String),
    #[error("the replay needs a terminal (stdin and stdout must be terminals)")]
    NotATerminal,
    #[error("the store has no sessions")]
    NoSessions,
}

/// How the replay starts.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Start at this seq.
    pub at_seq: Option<u64>,
    /// Playback speed (0.25 to 16).
    pub speed: f64,
    /// Land on the first boundary crossing once it is known.
    pub jump_to_first_crossing: bool,
    /// The policy file for the analysis (None: the built-in defaults).
    pub policy: Option<PathBuf>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            at_seq: None,
            speed: 1.0,
            jump_to_first_crossing: false,
            policy: None,
        }
    }
}

/// Runs the replay TUI on the store at `db` (opened read-only). Without a session, starts at
/// the picker.
pub fn run_replay(
    db: &Path,
    session: Option<&str>,
    opts: ReplayOptions,
) -> Result<(), ViewerError> {
    app::run(db, session, opts)
}
