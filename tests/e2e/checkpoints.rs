//! Checkpoints kept elsewhere: the policy's anchor command, and `verify --checkpoint` against a
//! store rewritten after the anchor was taken.

use std::path::Path;
use std::process::Output;

use crate::common::{flightlog, output_with_stdin};

fn run(db: &Path, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = flightlog(db);
    c.args(args).current_dir(dir);
    output_with_stdin(c, stdin)
}

#[test]
fn the_anchor_command_gets_each_checkpoint_and_verify_uses_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let db = dir.join("store/fl.db");
    let vault = dir.join("vault");
    std::fs::create_dir(&vault).unwrap();
    std::fs::write(
        dir.join("flightlog.toml"),
        format!(
            "[checkpoints]\nanchor = \"cat > {}/cp-$FLIGHTLOG_CHECKPOINT_NO.json\"\n",
            vault.display()
        ),
    )
    .unwrap();
    for i in 0..5 {
        let p = format!(
            r#"{{"session_id":"a","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t{i}","tool_input":{{"command":"echo {i}"}}}}"#
        );
        assert!(
            run(&db, dir, &["hook", "claude-code"], p.as_bytes())
                .status
                .success()
        );
    }
    let o = run(&db, dir, &["checkpoint"], b"");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        vault.join("cp-1.json").is_file(),
        "the anchor command received checkpoint #1"
    );
    // What the vault keeps is out of the agent's reach: a copy stands for it here.
    let kept = dir.join("offsite-cp-1.json");
    std::fs::copy(vault.join("cp-1.json"), &kept).unwrap();
    let pubkey = dir.join("store/keys/checkpoint.pub");
    let kept_s = kept.to_str().unwrap();
    let pub_s = pubkey.to_str().unwrap();
    let o = run(
        &db,
        dir,
        &["verify", "--all", "--checkpoint", kept_s, "--pubkey", pub_s],
        b"",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("anchored: up to checkpoint #1"));

    // The agent (same user) truncates the session and re-signs with the local key: the store
    // alone looks fine, the anchored checkpoint does not agree.
    {
        let conn = rusqlite_free_truncate(&db);
        assert!(conn, "truncated");
    }
    let o = run(&db, dir, &["checkpoint"], b"");
    assert!(o.status.success());
    let o = run(
        &db,
        dir,
        &[
            "verify",
            "--all",
            "--json",
            "--checkpoint",
            kept_s,
            "--pubkey",
            pub_s,
        ],
        b"",
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let kinds: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"truncated"), "{kinds:?}");
}

#[test]
fn a_failing_anchor_is_reported_and_the_answer_is_no() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let db = dir.join("store/fl.db");
    std::fs::write(
        dir.join("flightlog.toml"),
        "[checkpoints]\nanchor = \"exit 3\"\n",
    )
    .unwrap();
    let o = run(&db, dir, &["checkpoint"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("was not anchored"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Deletes the last two events of every session, the way an agent with write access would.
fn rusqlite_free_truncate(db: &Path) -> bool {
    let store = flightlog_formats::Store::open(db).unwrap();
    store
        .connection()
        .execute_batch(
            "DELETE FROM events WHERE seq >= (SELECT MAX(seq) - 1 FROM events e2 WHERE e2.session = events.session); \
             DELETE FROM checkpoints;",
        )
        .is_ok()
}
