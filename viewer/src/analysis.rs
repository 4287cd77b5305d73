//! Findings for a session: the policy-aware analysis when it can run, else what the capture
//! layers recorded ([`crate::findings::recorded`]).

use std::path::Path;

use flightlog_formats::Store;

use crate::ViewerError;
use crate::state::Findings;

/// Computes the findings of a session.
pub fn findings(
    store: &Store,
    session: &str,
    home: Option<String>,
    _policy: Option<&Path>,
) -> Result<Findings, ViewerError> {
    crate::findings::recorded(store, session, home)
}
