//! Checkpoints kept elsewhere: the policy's anchor command, and `verify --checkpoint` against a
//! store rewritten after the anchor was taken.

use std::path::Path;
use std::process::Output;

use crate::common::{TestEnv, exits, kinds, output_with_stdin};

/// `flightlog ARGS` run in the environment's directory (where its `flightlog.toml` is found),
/// with `stdin` written to it.
fn run(env: &TestEnv, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = env.cmd();
    c.args(args).current_dir(&env.root);
    output_with_stdin(c, stdin)
}

#[test]
fn the_anchor_command_gets_each_checkpoint_and_verify_uses_it() {
    let env = TestEnv::new();
    let (dir, db) = (&env.root, &env.db);
    let vault = dir.join("vault");
    std::fs::create_dir(&vault).unwrap();
    env.write(
        "flightlog.toml",
        format!(
            "[checkpoints]\nanchor = \"cat > {}/cp-$FLIGHTLOG_CHECKPOINT_NO.json\"\n",
            vault.display()
        ),
    );
    for i in 0..5 {
        let p = format!(
            r#"{{"session_id":"a","hook_event_name":"PreToolUse","tool_name":"Bash","tool_use_id":"t{i}","tool_input":{{"command":"echo {i}"}}}}"#
        );
        exits(&run(&env, &["hook", "claude-code"], p.as_bytes()), 0);
    }
    exits(&run(&env, &["checkpoint"], b""), 0);
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
        &env,
        &["verify", "--all", "--checkpoint", kept_s, "--pubkey", pub_s],
        b"",
    );
    let text = exits(&o, 0);
    assert!(text.contains("anchored: up to checkpoint #1"), "{text}");

    // The agent (same user) truncates the session and re-signs with the local key: the store
    // alone looks fine, the anchored checkpoint does not agree.
    assert!(rusqlite_free_truncate(db), "truncated");
    exits(&run(&env, &["checkpoint"], b""), 0);
    let o = run(
        &env,
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
    let v: serde_json::Value = serde_json::from_str(&exits(&o, 1)).unwrap();
    let problems = kinds(&v, "problems");
    assert!(problems.contains(&"truncated"), "{problems:?}");
}

#[test]
fn a_failing_anchor_is_reported_and_the_answer_is_no() {
    let env = TestEnv::new();
    env.write("flightlog.toml", "[checkpoints]\nanchor = \"exit 3\"\n");
    let o = run(&env, &["checkpoint"], b"");
    exits(&o, 1);
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
