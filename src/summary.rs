//! A session's headline numbers for listings: crossings, destructive actions, chain state.

use anyhow::Result;
use flightlog_analysis::Policy;
use flightlog_formats::{Payload, Store};

use crate::ctx::Ctx;

pub struct Summary {
    pub home_env: Option<String>,
    /// The machine the session was recorded on (its `session_start`).
    pub host: Option<String>,
    /// The environments its crossings went into.
    pub crossed_into: Vec<String>,
    pub crossings: u64,
    pub destructive: u64,
    pub intact: bool,
}

pub fn summarize(ctx: &Ctx, store: &Store, policy: &Policy, session: &str) -> Result<Summary> {
    let view = flightlog_analysis::session::load(store, session, policy, &ctx.store_trust(store)?)?;
    let a = &view.analysis;
    let host = view.events.iter().find_map(|e| match e.payload() {
        Payload::SessionStart(s) => s.host,
        _ => None,
    });
    let mut crossed_into: Vec<String> = a.boundary_crossings.iter().map(|c| c.to.clone()).collect();
    crossed_into.sort();
    crossed_into.dedup();
    Ok(Summary {
        home_env: a.home_env.clone(),
        host,
        crossed_into,
        crossings: a.boundary_crossings.len() as u64,
        destructive: a.destructive.len() as u64,
        // An unreadable event is a verification problem: the session is not intact.
        intact: view.intact(),
    })
}
