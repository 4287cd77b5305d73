//! End-to-end tests.
mod interop;
mod record;
mod replay_tui;
