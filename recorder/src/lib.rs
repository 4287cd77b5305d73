//! flightlog-recorder
pub mod hook;
pub mod record;
