//! End-to-end tests.
mod record;
mod replay_tui;
