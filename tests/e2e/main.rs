//! End-to-end tests.
mod interop;
mod record;
mod replay_tui;
mod demo;
mod fixtures_verify;
mod hooks;
