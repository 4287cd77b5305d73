//! `flightlog push [SESSION|--all] [--to URL]`: ships local sessions to the team store.
//!
//! Each session is verified locally first, then its events are copied byte for byte from the
//! server's head on (so a push is incremental and resumes after a cut), in transactions of
//! [`pg::PUSH_BATCH`] events; then the store's checkpoints and this host's signing key. The
//! server's triggers refuse anything that does not continue a chain, so two machines pushing
//! at once, or the same session pushed twice, cannot fork it.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use flightlog_formats::Store;
use flightlog_formats::checkpoint::StoreCheckpoint;
use flightlog_formats::keys::key_id;
use flightlog_formats::store::pg::{self, PushSession, PushStats, Pusher};
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
    let Some(path) = &ctx.policy else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: toml::Value =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    Ok(v.get("team")
        .and_then(|t| t.get("url"))
        .and_then(|u| u.as_str())
        .map(str::to_string))
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
            eprintln!("flightlog: {}", flightlog_viewer::sanitize::line(b));
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
        push_session(&store, &mut pusher, id, &mut stats, &mut |n| {
            done += n;
            bar.set(done, total);
        })
        .with_context(|| format!("cannot push session {id} to {shown}"))?;
    }
    stats.checkpoints = push_checkpoints(&store, &mut pusher)
        .with_context(|| format!("cannot push the checkpoints to {shown}"))?;
    bar.finish();
    eprintln!(
        "pushed {} session(s) to {shown}: {} new event(s), {} already there, {} new checkpoint(s)",
        stats.sessions, stats.events, stats.already, stats.checkpoints
    );
    Ok(ExitCode::SUCCESS)
}

/// Sends one session's events from the server's head on. `tick` hears of events sent or found
/// already there.
pub fn push_session(
    store: &Store,
    pusher: &mut Pusher,
    id: &str,
    stats: &mut PushStats,
    tick: &mut dyn FnMut(u64),
) -> Result<()> {
    let Some((row, external_id)) = store.session_for_push(id)? else {
        bail!("no session {id} in the local store");
    };
    pusher.push_session_row(&PushSession {
        id: &row.id,
        label: row.label.as_deref(),
        agent: row.agent.as_deref(),
        home_env: row.home_env.as_deref(),
        external_id: external_id.as_deref(),
        started: &row.started,
    })?;
    let (local_next, _) = store.head(id)?;
    let mut next = resume_point(store, pusher, id, local_next)?;
    stats.sessions += 1;
    stats.already += next;
    tick(next);
    // A concurrent pusher of the same session makes our batch fail the chain check; we then
    // continue from where it got, a bounded number of times.
    let mut retries = 0;
    while next < local_next {
        let batch = store.rows_for_push(id, next, pg::PUSH_BATCH as u64)?;
        let Some(last) = batch.last() else {
            break;
        };
        let after = last.0.seq + 1;
        match pusher.send_batch(id, &batch) {
            Ok(()) => {
                stats.events += batch.len() as u64;
                tick(batch.len() as u64);
                next = after;
            }
            Err(e) => {
                let moved = resume_point(store, pusher, id, local_next)?;
                if moved > next && retries < 8 {
                    retries += 1;
                    stats.already += moved - next;
                    tick(moved - next);
                    next = moved;
                    continue;
                }
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Where to continue: the server's next seq, after checking that its head is our event there
/// (otherwise the two logs disagree and nothing is sent).
fn resume_point(store: &Store, pusher: &mut Pusher, id: &str, local_next: u64) -> Result<u64> {
    let (remote_next, remote_hash) = pusher.remote_head(id)?;
    if remote_next > local_next {
        bail!(
            "the team store has {remote_next} events of this session, the local store only \
             {local_next}: they are not the same log"
        );
    }
    if remote_next > 0 {
        let ours = store.event(id, remote_next - 1)?;
        if ours.map(|e| e.hash) != Some(remote_hash) {
            bail!(
                "event {} differs between the team store and the local store: they are not the \
                 same log",
                remote_next - 1
            );
        }
    }
    Ok(remote_next)
}

/// Sends the store checkpoints the server does not have yet, per signing key.
pub fn push_checkpoints(store: &Store, pusher: &mut Pusher) -> Result<u64> {
    let rows = store.checkpoint_rows()?;
    let mut by_key: Vec<flightlog_formats::store::CheckpointChain> = Vec::new();
    for (no, body, sig) in rows {
        let key = serde_json::from_slice::<StoreCheckpoint>(&body)
            .map(|c| c.key_id)
            .unwrap_or_default();
        match by_key.last_mut() {
            Some((k, v)) if *k == key => v.push((no, body, sig)),
            _ => by_key.push((key, vec![(no, body, sig)])),
        }
    }
    let mut sent = 0;
    for (key, rows) in by_key {
        if key.is_empty() {
            continue; // a malformed checkpoint: local verify reported it already
        }
        let have = pusher.checkpoint_head(&key)?;
        let new: Vec<_> = rows.into_iter().filter(|r| r.0 > have).collect();
        if !new.is_empty() {
            sent += pusher.send_checkpoints(&key, &new)?;
        }
    }
    Ok(sent)
}
