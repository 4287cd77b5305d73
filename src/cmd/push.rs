//! `flightlog push [SESSION|--all] [--to URL]`: ships local sessions to the team store.
//!
//! Each session is verified locally first, then its events are copied byte for byte from the
//! server's head on (so a push is incremental and resumes after a cut), in transactions of
//! [`pg::PUSH_BATCH`] events ([`Pusher::push_session`]); then the store's checkpoints and this
//! host's signing key. The
//! server's triggers refuse anything that does not continue a chain, so two machines pushing
//! at once, or the same session pushed twice, cannot fork it.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use flightlog_formats::keys::key_id;
use flightlog_formats::store::pg::{self, PushStats, Pusher};
use flightlog_formats::verify::{StoreVerifyOptions, verify_store};

use crate::ctx::Ctx;
use crate::progress::{Bar, Unit};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog push --all --to postgres://ci@db.internal/flightlog?sslmode=require\n  FLIGHTLOG_TEAM_URL=postgres://ci@db.internal/flightlog flightlog push latest\n\nThe URL comes from --to, else FLIGHTLOG_TEAM_URL, else the policy's [team] url. The host\nname recorded with each session is FLIGHTLOG_HOST, else the machine's host name."
)]
pub struct Args {
    /// The session to push (id, unique prefix, `latest`).
    #[arg(conflicts_with = "all", required_unless_present = "all")]
    session: Option<String>,
    /// Push every session of the local store.
    #[arg(long)]
    all: bool,
    /// The team store (postgres://...).
    #[arg(long, value_name = "URL")]
    to: Option<String>,
}

/// The team store's URL: the flag, else FLIGHTLOG_TEAM_URL, else the policy's `[team] url`.
pub fn team_url(ctx: &Ctx, explicit: Option<&str>) -> Result<Option<String>> {
    if let Some(u) = explicit {
        return Ok(Some(u.to_string()));
    }
    if let Some(u) = std::env::var("FLIGHTLOG_TEAM_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        return Ok(Some(u));
    }
    Ok(ctx.policy().context("cannot load the policy")?.team_url)
}

/// The name this machine's sessions carry in the team store.
pub fn host_name() -> String {
    if let Some(h) = std::env::var("FLIGHTLOG_HOST")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return h.trim().to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let Some(url) = team_url(ctx, args.to.as_deref())? else {
        bail!(
            "no team store: pass --to URL, set FLIGHTLOG_TEAM_URL, or add [team] url to the policy"
        );
    };
    if !pg::is_url(&url) {
        bail!("the team store must be a postgres:// URL");
    }
    if ctx.db_url().is_some() {
        bail!("push copies a local store to the team store: --db must be the local store");
    }
    let shown = pg::display_url(&url);
    let store = ctx.open_rw()?;
    let ids = match &args.session {
        Some(name) if !args.all => vec![store.resolve(name)?],
        _ => store.sessions()?.into_iter().map(|s| s.id).collect(),
    };
    // Verify locally first: a broken chain is not shipped.
    let trust = ctx.store_trust(&store)?;
    let report = verify_store(
        &store,
        &StoreVerifyOptions {
            session: if args.all { None } else { ids.first().cloned() },
            trust,
            external: None,
        },
    )?;
    let bad: Vec<String> = report
        .problems
        .iter()
        .map(|p| match &p.session {
            Some(s) => format!("{s}: {} ({})", p.kind, p.detail),
            None => format!("{} ({})", p.kind, p.detail),
        })
        .collect();
    if !bad.is_empty() {
        for b in &bad {
            eprintln!("flightlog: {}", flightlog_formats::text::line(b));
        }
        eprintln!(
            "flightlog: the local store does not verify; nothing was pushed (see `flightlog verify`)"
        );
        return Ok(ExitCode::from(1));
    }
    let mut pusher = Pusher::connect(&url, &host_name())
        .with_context(|| format!("cannot reach the team store {shown}"))?;
    let keys = ctx.keys()?;
    let vk = keys.verifying_key();
    pusher
        .push_key(&key_id(&vk), &hex::encode(vk.as_bytes()))
        .with_context(|| format!("cannot push to {shown}"))?;
    let total: u64 = ids
        .iter()
        .map(|id| store.head(id).map(|h| h.0))
        .sum::<Result<u64, _>>()?;
    let bar = Bar::new(Unit::Events, "pushing", total);
    let mut stats = PushStats::default();
    let mut done = 0u64;
    for id in &ids {
        pusher
            .push_session(&store, id, &mut stats, &mut |n| {
                done += n;
                bar.set(done, total);
            })
            .with_context(|| format!("cannot push session {id} to {shown}"))?;
    }
    stats.checkpoints = pusher
        .push_checkpoints(&store)
        .with_context(|| format!("cannot push the checkpoints to {shown}"))?;
    bar.finish();
    eprintln!(
        "pushed {} session(s) to {shown}: {} new event(s), {} already there, {} new checkpoint(s)",
        stats.sessions, stats.events, stats.already, stats.checkpoints
    );
    Ok(ExitCode::SUCCESS)
}
