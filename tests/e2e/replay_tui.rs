//! `flightlog replay` driven in a real terminal (tmux): open a recorded session, jump to the
//! boundary crossing, see the banner, quit, and find the terminal restored.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use flightlog_formats::event::parse_ts;
use flightlog_formats::synth::session_meta;
use flightlog_formats::{Kind, NewEvent, Redactor, Store};
use serde_json::json;

use crate::common::Tmux;

pub(crate) const SESSION: &str = "e2e0replay0tui01";

/// The binary under test: Cargo's path when this crate depends on the binary, else the
/// workspace's debug build (`cargo build -p flightlog`).
fn binary() -> Option<PathBuf> {
    if let Some(p) = option_env!("CARGO_BIN_EXE_flightlog") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let p = target.join("debug").join("flightlog");
    p.is_file().then_some(p)
}

fn ev(ts: &str, kind: Kind, source: &str, env: Option<&str>, data: serde_json::Value) -> NewEvent {
    NewEvent::new(parse_ts(ts).unwrap(), kind, source, data).with_env(env.map(str::to_string))
}

/// A store at `db` with one session, [`SESSION`], that reads a token in staging and uses it
/// against production: one crossing.
pub(crate) fn build_store(db: &Path) {
    let store = Store::open(db).unwrap();
    let redactor = Redactor::new([9u8; 32]);
    let token = "rw_acct_0a1b2c3d4e5f6a7b";
    let fp = redactor.fingerprint(token);
    store
        .create_session(
            &session_meta(SESSION, "e2e replay"),
            parse_ts("2026-04-25T10:00:00Z").unwrap(),
        )
        .unwrap();
    let events = vec![
        ev(
            "2026-04-25T10:00:00Z",
            Kind::SessionStart,
            "recorder",
            None,
            json!({"agent":"claude-code","home_env":"staging"}),
        ),
        ev(
            "2026-04-25T10:00:01Z",
            Kind::Exec,
            "ptrace",
            Some("staging"),
            json!({"argv":["railway","up"],"exit":1}),
        ),
        ev(
            "2026-04-25T10:00:04Z",
            Kind::FileRead,
            "hook:claude-code",
            None,
            json!({"path":"ops/old.env","via":"tool","secrets":[{"fp":fp,"kind":"bearer-token","line":3}]}),
        ),
        ev(
            "2026-04-25T10:00:09.500Z",
            Kind::ApiCall,
            "proxy",
            Some("production"),
            json!({"method":"POST","url":"https://backboard.railway.app/graphql/v2","host":"backboard.railway.app","status":200,"request_headers":{"Authorization":format!("Bearer {token}")},"graphql":{"operation_type":"mutation","root_fields":["volumeDelete"],"variables":{}}}),
        ),
        ev(
            "2026-04-25T10:00:12Z",
            Kind::SessionEnd,
            "recorder",
            None,
            json!({"exit":0}),
        ),
    ];
    store.append_batch(SESSION, events, &redactor).unwrap();
}

#[test]
fn replay_jumps_to_the_crossing_and_restores_the_terminal() {
    if !crate::common::need("tmux") {
        return;
    }
    let Some(bin) = binary() else {
        eprintln!("skipped: no flightlog binary (run `cargo build -p flightlog` first)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data").join("flightlog.db");
    build_store(&db);

    let tmux = Tmux::start(
        "e2e",
        (100, 30),
        &["PS1=e2e-prompt$ ", "TERM=xterm-256color", "sh"],
    );
    tmux.wait_for("the shell prompt", |s| s.contains("e2e-prompt$"));
    let cmd = format!(
        "{} --db {} replay {}",
        bin.display(),
        db.display(),
        &SESSION[..8]
    );
    tmux.run(&["send-keys", "-t", "t", &cmd, "Enter"]);
    tmux.wait_for("the replay", |s| {
        s.contains("flightlog replay") && s.contains("chain intact")
    });
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "1"
    );
    tmux.wait_for("the analysis", |s| s.contains("1 crossing"));
    tmux.run(&["send-keys", "-t", "t", "c"]);
    let screen = tmux.wait_for("the crossing banner", |s| {
        s.contains("BOUNDARY CROSSED: staging →")
    });
    assert!(screen.contains("backboard.railway.app"), "{screen}");
    assert!(screen.contains("volumeDelete"), "{screen}");
    tmux.run(&["send-keys", "-t", "t", "q"]);
    let screen = tmux.wait_for("the shell again", |s| !s.contains("flightlog replay"));
    assert!(screen.contains("e2e-prompt$"), "{screen}");
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "0"
    );
    // The terminal is back in cooked mode with echo: typed text shows up at the prompt.
    tmux.run(&["send-keys", "-t", "t", "echo restored-$((40+2))", "Enter"]);
    tmux.wait_for("the shell to answer", |s| s.contains("restored-42"));
}
