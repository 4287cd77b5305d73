//! A session's headline numbers for listings: crossings, destructive actions, chain state.

use anyhow::Result;
use flightlog_formats::Store;
use flightlog_formats::verify::{StoreVerifyOptions, Trust, verify_store};

use crate::ctx::Ctx;

pub struct Summary {
    pub home_env: Option<String>,
    pub crossings: u64,
    pub destructive: u64,
    pub intact: bool,
}

pub fn summarize(ctx: &Ctx, store: &Store, session: &str) -> Result<Summary> {
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
        .any(|p| p.session.as_deref() == Some(session));
    Ok(Summary {
        home_env: None,
        crossings: 0,
        destructive: 0,
        intact,
    })
}
