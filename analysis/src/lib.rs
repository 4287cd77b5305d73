//! flightlog-analysis
pub mod catalogue;
pub mod decode;
pub mod glob;
pub mod policy;
pub mod shell;

pub use catalogue::Severity;
