//! The team store on a terminal (tmux): `push` draws a progress bar, and `replay --db
//! postgres://...` shows the same screens as the replay of the local store it was pushed from.

use super::{Team, at, local_store};
use crate::common::{Pane, assert_bar, bin, exits, need};
use crate::replay_tui::{SESSION, build_store};

/// Replays `SESSION` from `db` in `pane`: the first screen once the analysis is done, and the
/// screen after `c` (the next crossing); then quits and waits for the shell.
fn replay_screens(pane: &Pane, db: &str) -> (String, String) {
    let cmd = format!("{} --db '{db}' replay {}", bin().display(), &SESSION[..8]);
    pane.run(&["send-keys", "-t", "t", &cmd, "Enter"]);
    let first = pane.wait_for("the replay with its analysis", |s| {
        s.contains("chain intact") && s.contains("1 crossing")
    });
    pane.run(&["send-keys", "-t", "t", "c"]);
    let crossing = pane.wait_for("the crossing banner", |s| {
        s.contains("BOUNDARY CROSSED: staging →")
    });
    pane.run(&["send-keys", "-t", "t", "q"]);
    pane.wait_for("the shell again", |s| !s.contains("flightlog replay"));
    pane.run(&["send-keys", "-t", "t", "clear", "Enter"]);
    pane.wait_for("a clear screen", |s| !s.contains(&cmd[..20]));
    (first, crossing)
}

#[test]
fn a_push_on_a_terminal_shows_a_bar_and_the_replay_from_the_team_store_matches_the_local_one() {
    if !need("tmux") {
        return;
    }
    let Some(team) = Team::new("terminal") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let pane = Pane::start(
        "e2e-team",
        (110, 32),
        &[
            "PS1=e2e-prompt$ ",
            "TERM=xterm-256color",
            "NO_COLOR=1",
            "sh",
        ],
        d.path().join("pane.log"),
    );
    pane.wait_for("the shell prompt", |s| s.contains("e2e-prompt$"));

    // The replay: the same first screen and the same crossing, row for row.
    let db = d.path().join("replay/flightlog.db");
    build_store(&db);
    exits(&at(&db, &["push", "--all", "--to", &team.writer]), 0);
    let local = replay_screens(&pane, db.to_str().unwrap());
    let remote = replay_screens(&pane, &team.reader);
    assert!(local.1.contains("volumeDelete"), "{}", local.1);
    assert_eq!(local.0, remote.0, "first screen");
    assert_eq!(local.1, remote.1, "crossing screen");

    // A long push draws a bar by events (150,000 and the session checkpoint), cleared before
    // its summary.
    let (_big_dir, big, _ids) = local_store(1, 150_000);
    let out = pane.command(
        &format!(
            "{} --db '{}' push --all --to '{}'",
            bin().display(),
            big.display(),
            team.writer
        ),
        100,
    );
    assert_bar(&out, "pushing", "150,001 events");
    assert!(
        out.contains("pushed 1 session(s)") && out.contains("150001 new event(s)"),
        "{out:?}"
    );
}
