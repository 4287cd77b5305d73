//! flightlog-recorder
pub mod context;
pub mod hook;
pub mod record;
