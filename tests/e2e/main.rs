//! End-to-end tests.
mod record;
