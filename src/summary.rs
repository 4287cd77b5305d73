//! A session's headline numbers for listings: crossings, destructive actions, chain state.

use anyhow::Result;
use flightlog_analysis::Policy;
use flightlog_formats::verify::{StoreVerifyOptions, Trust, verify_store};
use flightlog_formats::{Event, Store};

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
    let keys = flightlog_formats::keys::trusted_public_keys(&ctx.key_dir()).unwrap_or_default();
    let report = verify_store(
        store,
        &StoreVerifyOptions {
            session: Some(session.to_string()),
            trust: Trust {
                keys,
                pinned: false,
            },
            external: None,
        },
    )?;
    let intact = !report
        .problems
        .iter()
        .any(|p| p.session.as_deref() == Some(session) || p.session.is_none());
    let mut events: Vec<Event> = Vec::new();
    store.for_each_event(session, |e| {
        if let Ok(ev) = e.event() {
            events.push(ev);
        }
        true
    })?;
    let a = flightlog_analysis::analyze(&events, policy);
    let host = events
        .iter()
        .find(|e| e.kind == flightlog_formats::Kind::SessionStart)
        .and_then(|e| e.data.get("host"))
        .and_then(|h| h.as_str())
        .map(str::to_string);
    let mut crossed_into: Vec<String> = a.boundary_crossings.iter().map(|c| c.to.clone()).collect();
    crossed_into.sort();
    crossed_into.dedup();
    Ok(Summary {
        home_env: a.home_env.clone(),
        host,
        crossed_into,
        crossings: a.boundary_crossings.len() as u64,
        destructive: a.destructive.len() as u64,
        intact,
    })
}
