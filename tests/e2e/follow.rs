//! `show --follow` on a session while `record` writes it: lines appear as events are
//! committed, and the follower ends when the session does.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, wait_timeout};

#[test]
fn show_follow_prints_a_live_session_and_ends_with_it() {
    let env = TestEnv::new();
    let mut rec = env.start_recording(
        "slow",
        &[
            "--no-proxy",
            "--no-watch",
            "--",
            "bash",
            "-c",
            // The output differs from the command line (which is followed too).
            "printf '%s-%s\\n' first output; sleep 4; printf '%s-%s\\n' second output; sleep 1",
        ],
    );
    let mut follow = env
        .cmd()
        .args(["show", "latest", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first output is followed while the agent still runs (it sleeps four seconds after).
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no first output while recording: {seen:#?}"));
        let first = line.contains("first-output");
        seen.push(line);
        if first {
            break;
        }
    }
    assert!(
        rec.try_wait().unwrap().is_none(),
        "the line came only after the recording ended: {seen:#?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains("second-output")),
        "{seen:#?}"
    );
    assert!(rec.wait().unwrap().success());
    // The follower prints the rest and ends by itself once the session has ended.
    let Some(status) = wait_timeout(&mut follow, Duration::from_secs(15)) else {
        follow.kill().unwrap();
        panic!("show --follow did not end with the session");
    };
    assert!(status.success(), "{status:?}");
    // Every line it printed (the reader ends at the pipe's end).
    seen.extend(rx.iter());
    let text = seen.join("\n");
    assert!(text.contains("second-output"), "{text}");
    assert!(text.contains("session_end"), "{text}");
    let first_seq = |s: &str| -> Vec<u64> {
        seen.iter()
            .filter(|l| l.contains(s))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect()
    };
    // Every event once, in commit order.
    let seqs: Vec<u64> = seen
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(first_seq("session_start"), [0], "{text}");
}
