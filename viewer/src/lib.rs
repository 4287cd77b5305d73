//! # flightlog-viewer
//!
//! The replay TUI. `sanitize` makes agent text safe to draw.

pub mod sanitize;
