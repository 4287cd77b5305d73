//! flightlog-analysis
pub mod decode;
pub mod shell;
