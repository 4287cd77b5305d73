//! `flightlog record`: run a command (an agent) and record everything it does.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use flightlog_analysis::policy::Policy;
use flightlog_recorder::record::{self, Judge, RecordOptions};

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog record -- claude\n  flightlog record --env staging --label 'fix flaky test' -- codex\n  flightlog record --guard -- ./agent.sh\n  flightlog record --push postgres://laptop_7@db.internal/flightlog -- claude\n\nThe command runs in a pseudo-terminal when stdin is a terminal, with pipes otherwise. Its exit\ncode is flightlog's (128+N if it was killed by signal N). FLIGHTLOG_SESSION and FLIGHTLOG_DB are\nset for it so agent hooks inside join the session; HTTP_PROXY/HTTPS_PROXY point at the session's\nproxy. A one-line summary goes to stderr at the end."
)]
pub struct Args {
    /// The session's home environment (overrides the policy's `home`).
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// A label for the session.
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// Deny destructive boundary crossings as they happen (see the policy's [guard]).
    #[arg(long)]
    guard: bool,
    /// Record HTTPS calls in full: the proxy decrypts them with a per-install CA
    /// (keys/tls-ca.pem) that only this agent is told to trust (SSL_CERT_FILE, CURL_CA_BUNDLE,
    /// NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, ...). Connections it cannot intercept are
    /// tunnelled untouched and recorded as a gap.
    #[arg(long)]
    tls_intercept: bool,
    /// Do not trace processes (ptrace).
    #[arg(long)]
    no_trace: bool,
    /// Do not watch files.
    #[arg(long)]
    no_watch: bool,
    /// Do not start the HTTP(S) proxy.
    #[arg(long)]
    no_proxy: bool,
    /// Ship the session to the team store (postgres://...) while recording; without this
    /// flag, FLIGHTLOG_TEAM_URL or the policy's [team] url turns it on. The local store is the
    /// spool: nothing is lost while the server is away.
    #[arg(long, value_name = "URL", conflicts_with = "no_push")]
    push: Option<String>,
    /// Do not ship to the team store, even if FLIGHTLOG_TEAM_URL or [team] url is set.
    #[arg(long)]
    no_push: bool,
    /// The command to run.
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    if ctx.db_url().is_some() {
        anyhow::bail!(
            "{} is the team store: record writes a local store (--db PATH) and ships it with \
             --push URL",
            ctx.db_shown()
        );
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let policy = Policy::load(ctx.policy.as_deref())
        .with_context(|| "cannot load the policy".to_string())?;
    let home_env = args.env.clone().or_else(|| policy.home.clone());
    let push = if args.no_push {
        None
    } else {
        crate::cmd::push::team_url(ctx, args.push.as_deref())?
    };
    if let Some(url) = &push
        && !flightlog_formats::store::pg::is_url(url)
    {
        anyhow::bail!("--push takes the team store's postgres:// URL");
    }
    let judge = Judge::from_policy(policy.clone(), args.guard).with_root(&cwd);
    let guard_on = judge.guard;
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    if guard_on {
        env.retain(|(k, _)| k != "FLIGHTLOG_GUARD");
        env.push(("FLIGHTLOG_GUARD".into(), "1".into()));
    }
    let opts = RecordOptions {
        argv: args.cmd,
        db: ctx.db.clone(),
        key_dir: ctx.key_dir()?,
        home_env,
        label: args.label,
        judge,
        tls_intercept: args.tls_intercept,
        trace: !args.no_trace,
        watch: !args.no_watch,
        proxy: !args.no_proxy,
        cwd,
        clock: Arc::new(crate::ctx::now),
        env,
        push: push.map(|url| record::PushTarget {
            url,
            host: crate::cmd::push::host_name(),
        }),
    };
    let out = record::record(opts)?;
    for w in &out.warnings {
        eprintln!("flightlog: {w}");
    }
    eprintln!("flightlog: {}", summary(ctx, &out, &policy));
    // The recorder ended with a store checkpoint: hand it to the policy's anchor command.
    if policy.anchor.is_some()
        && let Ok(store) = ctx.open_ro()
        && let Ok(Some(cp)) = store.latest_checkpoint()
    {
        crate::anchor::run(ctx, &cp);
    }
    Ok(ExitCode::from(out.exit.clamp(0, 255) as u8))
}

/// `session <id>: N events, C boundary crossings, D destructive actions, exit X`.
fn summary(ctx: &Ctx, out: &record::RecordOutcome, policy: &Policy) -> String {
    let head = format!("session {}: {} events", out.session, out.events);
    let analysed = ctx
        .open_ro()
        .ok()
        .and_then(|store| ctx.session_view(&store, &out.session, policy).ok());
    match analysed {
        Some(v) => format!(
            "{head}, {} boundary crossings, {} destructive actions{}, exit {}",
            v.analysis.boundary_crossings.len(),
            v.analysis.destructive.len(),
            match v.unreadable.len() {
                0 => String::new(),
                n => format!(", {n} unreadable events"),
            },
            out.exit
        ),
        None => format!("{head}, exit {} (analysis unavailable)", out.exit),
    }
}
