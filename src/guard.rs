//! The guard as the binary wires it: the policy's `[guard]` settings, `--guard` (passed to
//! hooks inside `flightlog record` as FLIGHTLOG_GUARD=1), and the analysis crate's decision.

use anyhow::{Context, Result};
use flightlog_analysis::policy::{FailMode, Policy};
use flightlog_formats::Event;
use flightlog_recorder::hook::Denial;

use crate::ctx::Ctx;

pub type GuardFn = Box<flightlog_recorder::hook::GuardFn>;

/// The policy in effect (`--policy`, FLIGHTLOG_POLICY, ./flightlog.toml, built-in defaults).
pub fn policy(ctx: &Ctx) -> Result<Policy> {
    Policy::load(ctx.policy.as_deref()).with_context(|| match &ctx.policy {
        Some(p) => format!("cannot use the policy {}", p.display()),
        None => "cannot use the built-in policy".to_string(),
    })
}

/// True when the guard is on: the policy enables it, or `record --guard` asked for it.
pub fn enabled(policy: &Policy) -> bool {
    policy
        .guard
        .on(std::env::var("FLIGHTLOG_GUARD").is_ok_and(|v| v == "1"))
}

/// The guard for hooks, or None when it is off.
pub fn hook_guard(ctx: &Ctx) -> Result<Option<GuardFn>> {
    let mut policy = policy(ctx)?;
    if !enabled(&policy) {
        return Ok(None);
    }
    policy.guard.enabled = true;
    Ok(Some(Box::new(move |prior: &[Event], candidate: &Event| {
        let d = flightlog_analysis::guard_decision(&policy, prior, candidate);
        d.deny.then(|| Denial {
            rule: d.rule.clone(),
            reason: d.reason.clone(),
        })
    })))
}

/// Whether a failing flightlog should deny (the guard is on and `[guard] fail = "closed"`).
/// A policy that cannot be read counts as fail open (and the hook says why on stderr).
pub fn fail_closed(ctx: &Ctx) -> bool {
    match policy(ctx) {
        Ok(p) => enabled(&p) && p.guard.fail == FailMode::Closed,
        Err(_) => false,
    }
}
