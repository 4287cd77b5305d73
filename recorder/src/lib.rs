//! flightlog-recorder
