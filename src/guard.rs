//! The guard as the binary wires it: the policy's `[guard]` settings, `--guard` (passed to
//! hooks inside `flightlog record` as FLIGHTLOG_GUARD=1), and the analysis crate's decision.

use anyhow::Result;
use flightlog_formats::Event;
use flightlog_recorder::hook::Denial;

use crate::ctx::Ctx;

pub type GuardFn = Box<dyn Fn(&[Event], &Event) -> Option<Denial>>;

/// The guard for hooks, or None when it is off.
pub fn hook_guard(_ctx: &Ctx) -> Result<Option<GuardFn>> {
    Ok(None)
}

/// Whether a failing flightlog should deny (policy `[guard] fail = "closed"`).
pub fn fail_closed(_ctx: &Ctx) -> bool {
    false
}
