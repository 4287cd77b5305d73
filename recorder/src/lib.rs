//! flightlog-recorder
pub mod hook;
