//! The policy's `[checkpoints] anchor` command: after each store checkpoint the CLI writes, the
//! signed checkpoint (JSON) goes to this shell command on stdin, so a copy lands where the agent
//! cannot write (another user's directory, another machine, a protected git ref). The command
//! gets FLIGHTLOG_CHECKPOINT_NO and FLIGHTLOG_DB, must finish within 30 seconds, and a failure is
//! reported on stderr; it never changes the outcome of the command that made the checkpoint.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flightlog_formats::checkpoint::SignedCheckpoint;

use crate::ctx::Ctx;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs the anchor command for `cp`, if the policy has one. Returns what went wrong, if anything.
pub fn run(ctx: &Ctx, cp: &SignedCheckpoint) -> Option<String> {
    let policy = crate::guard::policy(ctx).ok()?;
    let cmd = policy.anchor?;
    let json = serde_json::to_string(cp).ok()?;
    let err = match spawn(ctx, &cmd, cp.checkpoint.no, &json) {
        Ok(()) => return None,
        Err(e) => e,
    };
    eprintln!(
        "flightlog: checkpoint #{} was not anchored: {err}",
        cp.checkpoint.no
    );
    Some(err)
}

fn spawn(ctx: &Ctx, cmd: &str, no: u64, json: &str) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("FLIGHTLOG_CHECKPOINT_NO", no.to_string())
        .env("FLIGHTLOG_DB", &ctx.db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run the anchor command `{cmd}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that ignores stdin closes the pipe early; that is its business.
        let _ = stdin
            .write_all(json.as_bytes())
            .and_then(|_| stdin.write_all(b"\n"));
    }
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("the anchor command `{cmd}` failed ({st})")),
            Ok(None) if start.elapsed() > LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the anchor command `{cmd}` took longer than {LIMIT:?} and was stopped"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for the anchor command: {e}")),
        }
    }
}
