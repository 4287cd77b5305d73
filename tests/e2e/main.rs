//! End-to-end tests.
mod hooks;
mod record;
mod replay_tui;
