//! # flightlog-demo
//!
//! What `flightlog demo` ships with (the test fixtures, `flightlog-fixtures`, build on it but
//! are never part of the binary):
//! - [`railway`]: a local stand-in for Railway's GraphQL API (std::net, threads, loopback only);
//! - [`incident`]: the PocketOS incident reconstructed for real: the scripted agent
//!   (`agents/pocketos_incident.sh`), its work tree and its policy (`incident/flightlog.toml`).

pub mod incident;
pub mod railway;
