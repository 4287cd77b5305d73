//! flightlog-analysis
