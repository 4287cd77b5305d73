//! flightlog-viewer
