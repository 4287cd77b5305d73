//! `export --format bundle` from the team store: the events exactly as the host signed and
//! pushed them, the MANIFEST signed by the exporting machine, and the auditor's script and
//! `flightlog verify` both accepting it only with the keys that signed it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flightlog_formats::keys::key_dir_for;
use flightlog_formats::{Keys, Kind, NewEvent, Redactor, Store};

use super::{Team, at, local_store, stderr};
use crate::common::{bin, exits};
use crate::verifier;

/// `flightlog --db URL export SESSION --format bundle -o DIR` on the exporting machine, whose
/// own store (and keys) live under `home`.
/// The export must succeed: its stderr.
fn export_bundle(home: &Path, url: &str, id: &str, dir: &Path) -> String {
    let out = Command::new(bin())
        .args(["--db", url, "export", id, "--format", "bundle", "-o"])
        .arg(dir)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("FLIGHTLOG_DB")
        .env_remove("FLIGHTLOG_TEAM_URL")
        .env_remove("FLIGHTLOG_POLICY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    exits(&out, 0);
    stderr(&out)
}

/// The auditor's script, `python3 verify_export.py ARGS...`: its exit code and stdout.
fn auditor_script(args: &[&Path]) -> (Option<i32>, String) {
    let out = Command::new(verifier::python())
        .arg(verifier::script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `flightlog verify DIR --pubkey K...`: its exit code and stdout.
fn verify(dir: &Path, pubkeys: &[&Path]) -> (Option<i32>, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("verify").arg(dir);
    for k in pubkeys {
        cmd.arg("--pubkey").arg(k);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Both verifiers give `code` for the bundle in `dir` with these keys: the script's stdout.
fn assert_both(code: i32, dir: &Path, pubkeys: &[&Path]) -> String {
    let (got, text) = verify(dir, pubkeys);
    assert_eq!(got, Some(code), "flightlog verify {pubkeys:?}: {text}");
    assert_script(code, dir, pubkeys)
}

/// The auditor's script gives `code` for the bundle in `dir` with these keys: its stdout.
fn assert_script(code: i32, dir: &Path, pubkeys: &[&Path]) -> String {
    let mut args = vec![dir];
    args.extend_from_slice(pubkeys);
    let (got, text) = auditor_script(&args);
    assert_eq!(got, Some(code), "verify_export.py {pubkeys:?}: {text}");
    text
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn key_file(dir: &Path) -> PathBuf {
    dir.join("checkpoint.pub")
}

#[test]
fn a_bundle_from_the_team_store_carries_the_hosts_signatures_and_the_exporters_manifest() {
    let Some(team) = Team::new("bundle") else {
        return;
    };
    let (d, db, ids, _) = team.pushed(2, 400);
    let host_keys = key_dir_for(&db);
    let exporter = d.path().join("auditor-laptop");

    // The same session as a bundle from the local store and from the team store.
    let local = d.path().join("local");
    let out = at(
        &db,
        &[
            "export",
            &ids[0],
            "--format",
            "bundle",
            "-o",
            local.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let remote = d.path().join("remote");
    let said = export_bundle(&exporter, &team.reader, &ids[0], &remote);
    assert!(
        said.contains("as pushed to the team store"),
        "the host's pushed store checkpoint covers the session: {said}"
    );
    assert_eq!(
        std::fs::read(local.join("events.jsonl")).unwrap(),
        std::fs::read(remote.join("events.jsonl")).unwrap(),
        "the events are exported as the host signed them"
    );

    // checkpoint.pub: the exporter's key (it signed the MANIFEST), then the host's.
    let host = lines(&key_file(&host_keys));
    let exporter_keys = key_dir_for(&exporter.join("data/flightlog/flightlog.db"));
    let own = lines(&key_file(&exporter_keys));
    assert_ne!(host, own);
    assert_eq!(lines(&key_file(&remote)), [own[0].clone(), host[0].clone()]);
    let cp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(remote.join("checkpoint.json")).unwrap()).unwrap();
    assert_eq!(cp["checkpoint"]["pubkey"], host[0].as_str());

    // flightlog verify: consistent by itself; pinned, it needs both keys.
    let (host_pub, own_pub) = (key_file(&host_keys), key_file(&exporter_keys));
    let (code, text) = verify(&remote, &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = verify(&remote, &[&host_pub]);
    assert_eq!(code, Some(1), "the MANIFEST is the exporter's: {text}");
    assert!(text.contains("MANIFEST.sig does not verify"), "{text}");

    // Both verifiers with both keys; the auditor's script: INTACT with both keys, in two files
    // or in one; never with one.
    let text = assert_both(0, &remote, &[&host_pub, &own_pub]);
    assert!(text.contains("INTACT"), "{text}");
    let both = d.path().join("both.pub");
    std::fs::write(&both, format!("{}\n{}\n", host[0], own[0])).unwrap();
    assert_script(0, &remote, &[&both]);
    let text = assert_script(1, &remote, &[&host_pub]);
    assert!(
        text.contains("MANIFEST.sig does not verify with a key you gave"),
        "{text}"
    );
    let text = assert_script(1, &remote, &[&own_pub]);
    assert!(text.contains("not a key you gave"), "{text}");

    // A file changed after the export is caught by both.
    std::fs::write(remote.join("report.md"), "nothing happened\n").unwrap();
    assert_both(1, &remote, &[&host_pub, &own_pub]);
}

/// When no store checkpoint the host pushed covers the session as it is in the team store, the
/// exporting machine signs one over this session alone (number 0, in no chain).
#[test]
fn without_a_pushed_store_checkpoint_the_exporter_signs_one_for_the_session() {
    let Some(team) = Team::new("bundle_own") else {
        return;
    };
    let (d, db, ids) = local_store(1, 200);
    {
        // More events and a session checkpoint after the last store checkpoint.
        let store = Store::open(&db).unwrap();
        let keys = Keys::load_or_create(&key_dir_for(&db)).unwrap();
        let red = Redactor::new([3; 32]);
        let at = "2026-12-01T10:00:00Z".parse().unwrap();
        store
            .append(
                &ids[0],
                NewEvent::new(
                    at,
                    Kind::Note,
                    "recorder",
                    serde_json::json!({"text": "later"}),
                ),
                &red,
            )
            .unwrap();
        store.append_session_checkpoint(&ids[0], &keys, at).unwrap();
    }
    exits(
        &team.push_all(&db).stdin(Stdio::null()).output().unwrap(),
        0,
    );
    let exporter = d.path().join("exporter");
    let dir = d.path().join("bundle");
    let said = export_bundle(&exporter, &team.reader, &ids[0], &dir);
    assert!(
        said.contains("signed in memory by the exporting machine"),
        "{said}"
    );
    let cp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
    let own = lines(&key_file(&key_dir_for(
        &exporter.join("data/flightlog/flightlog.db"),
    )));
    assert_eq!(cp["checkpoint"]["pubkey"], own[0].as_str());
    assert_eq!(cp["checkpoint"]["no"], 0);
    assert_eq!(cp["checkpoint"]["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(
        cp["checkpoint"]["sessions"][0]["count"], 203,
        "200 events, their checkpoint, the note and the last checkpoint"
    );
    let host_pub = key_file(&key_dir_for(&db));
    let own_pub = key_file(&key_dir_for(&exporter.join("data/flightlog/flightlog.db")));
    assert_both(0, &dir, &[&host_pub, &own_pub]);
}
