//! `flightlog demo`: the nine-second incident, reconstructed for real and reported.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flightlog_fixtures::railway::PRODUCTION_VOLUME_ID;
use serde_json::Value;

use crate::common::{TestEnv, assert_has, exits, ok, output_with_stdin};

/// `flightlog` in `env` with no store or policy given (the demo keeps its own), without color,
/// and with `env`'s `tmp/` as its temporary directory.
fn flightlog(env: &TestEnv) -> Command {
    let tmp = env.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut c = env.cmd_bare();
    c.env("TMPDIR", tmp).env("NO_COLOR", "1");
    c
}

/// `flightlog [BEFORE...] demo --fast ARGS...` in `env`: its output and (stdout, stderr).
fn demo(env: &TestEnv, before: &[&OsStr], args: &[&OsStr]) -> (Output, String, String) {
    let out = flightlog(env)
        .args(before)
        .args(["demo", "--fast"])
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out, stdout, stderr)
}

/// What `demo --keep DIR` leaves: its store and its policy.
struct Kept {
    db: PathBuf,
    policy: PathBuf,
}

impl Kept {
    fn at(keep: &Path) -> Kept {
        Kept {
            db: keep.join("store/flightlog.db"),
            policy: keep.join("flightlog.toml"),
        }
    }

    /// `flightlog --db DB --policy POLICY ARGS` of the kept store, which must exit 0: stdout.
    fn ok(&self, env: &TestEnv, args: &[&str]) -> String {
        let out = flightlog(env)
            .arg("--db")
            .arg(&self.db)
            .arg("--policy")
            .arg(&self.policy)
            .args(args)
            .output()
            .unwrap();
        exits(&out, 0)
    }
}

/// The JSON report of the latest session.
fn report_json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap()
}

const REPORT_JSON: [&str; 4] = ["report", "latest", "--format", "json"];

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The lines of a markdown section (from its heading to the next `## `).
fn section<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    md.lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn demo_reconstructs_the_incident_and_reports_the_crossing() {
    let env = TestEnv::new();
    let keep = env.path("kept");
    let (out, stdout, stderr) = demo(&env, &[], &["--keep".as_ref(), keep.as_ref()]);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // The agent's screen went to stderr; stdout is the report. The report quotes the screen
    // where a recorded terminal chunk is a step of the incident (how much text one chunk holds
    // depends on timing), so what shows the screen is not on stdout is that stdout starts with
    // the report.
    assert_has(
        "the agent's screen on stderr",
        &stderr,
        &[
            "Claude Code (reconstruction)",
            "Unauthorized: credential mismatch",
        ],
    );
    assert!(stdout.starts_with("# flightlog report"), "{stdout}");

    // The stand-in really received the Bearer volumeDelete and deleted the volume.
    let stand_in = section(&stdout, "## Railway API stand-in").join("\n");
    assert!(
        stand_in.contains("mutation serviceInstanceDeploy with Project-Access-Token -> 401"),
        "{stand_in}"
    );
    assert!(
        stand_in.contains("mutation volumeDelete with Authorization: Bearer -> 200"),
        "{stand_in}"
    );
    assert!(
        stand_in.contains(&format!("volume deleted: {PRODUCTION_VOLUME_ID}")),
        "{stand_in}"
    );

    // The markdown report names the crossing, the rule and where the token came from.
    let crossings = section(&stdout, "## Boundary crossings").join("\n");
    assert!(crossings.contains("staging"), "{stdout}");
    assert!(crossings.contains("production"), "{stdout}");
    assert!(crossings.contains("3d2c42fb-"), "{stdout}");
    let destructive = section(&stdout, "## Destructive actions").join("\n");
    assert!(
        destructive.contains("railway.volumeDelete"),
        "{destructive}"
    );
    let provenance = section(&stdout, "## Secret provenance").join("\n");
    assert!(provenance.contains("ops/domains.env"), "{provenance}");
    assert!(stdout.contains("intact"), "{stdout}");

    // The same facts from the kept store, as JSON.
    let kept = Kept::at(&keep);
    let r = report_json(&kept.ok(&env, &REPORT_JSON));
    assert_eq!(r["home_env"], "staging");
    assert_eq!(r["intact"], true);
    let c = &r["boundary_crossings"][0];
    let crossing_seq = c["seq"].as_u64().unwrap();
    assert!(
        destructive.contains(&format!("| {crossing_seq} |")),
        "{destructive}"
    );
    assert_eq!(c["from"], "staging");
    assert_eq!(c["to"], "production");
    let d = &r["destructive"][0];
    assert_eq!(d["seq"].as_u64(), Some(crossing_seq), "{r:#}");
    assert_eq!(d["rule"], "railway.volumeDelete");
    assert_eq!(d["target_env"], "production");
    let secrets = r["secrets"].as_array().unwrap();
    let token = secrets
        .iter()
        .find(|s| {
            s["location"]
                .as_str()
                .is_some_and(|l| l.starts_with("ops/domains.env"))
        })
        .unwrap_or_else(|| panic!("no secret from ops/domains.env in {r:#}"));
    assert!(
        token["used_in_seqs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_u64() == Some(crossing_seq)),
        "{token}"
    );
    let window = &r["critical_window"];
    assert_eq!(window["to_seq"].as_u64(), Some(crossing_seq), "{r:#}");

    // The crossing event is the volumeDelete call, and the token is redacted in it.
    let shown = kept.ok(&env, &["show", "latest", "--json"]);
    let line = shown
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["event"]["seq"].as_u64() == Some(crossing_seq))
        .unwrap();
    let ev = line["event"].to_string();
    assert!(ev.contains("volumeDelete"), "{ev}");
    assert!(ev.contains(PRODUCTION_VOLUME_ID), "{ev}");
    assert!(ev.contains("[REDACTED:"), "{ev}");
    assert!(
        !shown.contains(flightlog_fixtures::railway::ACCOUNT_TOKEN),
        "the account token is stored in clear"
    );

    // The kept store verifies.
    let v: Value = serde_json::from_str(&kept.ok(&env, &["verify", "--all", "--json"])).unwrap();
    assert_eq!(v["intact"], true);

    // Nothing left behind in TMPDIR.
    let left: Vec<_> = std::fs::read_dir(env.path("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("flightlog-demo-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn demo_with_the_guard_stops_the_delete() {
    let env = TestEnv::new();
    let (out, stdout, stderr) = demo(&env, &[], &["--guard".as_ref()]);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let stand_in = section(&stdout, "## Railway API stand-in").join("\n");
    assert_has("the stand-in", &stand_in, &["no volume was deleted"]);
    assert!(!stand_in.contains("volumeDelete"), "{stand_in}");
    let guard = section(&stdout, "## Guard decisions").join("\n");
    assert_has(
        "the guard decisions",
        &guard,
        &["denied at the hook layer", "railway.volumeDelete"],
    );
    assert_has("stderr", &stderr, &["Blocked by a PreToolUse hook"]);
    // The report says the guard stopped it, and marks the action as not run.
    assert_has(
        "the report",
        &stdout,
        &[
            "The guard stopped a destructive action",
            "denied by the guard, not run",
        ],
    );
    // The temporary store is gone.
    let left = std::fs::read_dir(env.path("tmp")).unwrap().count();
    assert_eq!(left, 0);
}

#[test]
fn demo_refuses_a_non_empty_keep_dir() {
    let env = TestEnv::new();
    let keep = env.path("full");
    env.write("full/precious.txt", "do not touch");
    let (out, _, stderr) = demo(&env, &[], &["--keep".as_ref(), keep.as_ref()]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(keep.join("precious.txt")).unwrap(),
        "do not touch"
    );
}

/// The demo uses its own store and policy: a `--db` or `--policy` given to it is refused in
/// words (before anything is recorded), not silently ignored.
#[test]
fn demo_refuses_db_and_policy() {
    let env = TestEnv::new();
    let db = env.path("mine.db");
    for opt in ["--db", "--policy"] {
        let (out, stdout, stderr) = demo(
            &env,
            &[opt.as_ref(), db.as_ref()],
            &["--no-replay".as_ref()],
        );
        assert_eq!(out.status.code(), Some(2), "{opt}: {stderr}");
        assert!(
            stderr.contains("--db and --policy do not apply") && stderr.contains("--keep"),
            "{opt}: {stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
        assert!(!db.exists());
    }
}

/// The incident as Claude Code hook payloads (fixtures/incident/pocketos.hooks.jsonl), each piped
/// into `flightlog hook claude-code` at its own timestamp: the hook layer alone tells the story.
#[test]
fn the_incident_hook_stream_tells_the_story_through_the_hooks() {
    let policy = flightlog_fixtures::workspace_dir().join("demo/incident/flightlog.toml");
    let env = TestEnv::new().with_policy(&std::fs::read_to_string(policy).unwrap());
    for line in flightlog_fixtures::incident::HOOKS_JSONL.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let mut hook = env.cmd();
        hook.args(["hook", "claude-code"])
            .env("FLIGHTLOG_FAKE_NOW", v["timestamp"].as_str().unwrap());
        ok(&output_with_stdin(hook, line.as_bytes()));
    }
    let r = report_json(&env.ok(&REPORT_JSON));
    let crossing = r["boundary_crossings"][0]["seq"].as_u64().unwrap();
    assert_eq!(r["boundary_crossings"][0]["to"], "production", "{r:#}");
    assert_eq!(r["destructive"][0]["rule"], "railway.volumeDelete", "{r:#}");
    assert_eq!(r["destructive"][0]["seq"].as_u64(), Some(crossing));
    let token = r["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "railway-account")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert!(
        token["location"]
            .as_str()
            .unwrap()
            .starts_with("ops/domains.env"),
        "{token}"
    );
    // From the credential failure to the delete: the incident's nine seconds (the window ends
    // at the PreToolUse of the curl, 8.5 s after the failure was reported).
    let secs = r["critical_window"]["seconds"].as_f64().unwrap();
    assert!((8.0..=9.5).contains(&secs), "{secs}");
}

/// Every output tells the same story of the incident: the crossing's seq, the destructive rule,
/// the target environment and the fingerprint of the token it used are the same in `show`, the
/// reports (Markdown, JSON, HTML), the TUI's detail, and the CSV, CEF, OCSF and OTLP exports.
#[test]
fn every_output_agrees_on_the_incident() {
    let test_env = TestEnv::new();
    let keep = test_env.path("kept");
    let (out, _, stderr) = demo(
        &test_env,
        &[],
        &["--no-replay".as_ref(), "--keep".as_ref(), keep.as_ref()],
    );
    assert!(out.status.success(), "{stderr}");
    let kept = Kept::at(&keep);
    let run = |args: &[&str]| -> String { kept.ok(&test_env, args) };

    // The facts, from the JSON report.
    let r = report_json(&run(&REPORT_JSON));
    let session = r["session"].as_str().unwrap().to_string();
    assert_eq!(
        r["boundary_crossings"].as_array().unwrap().len(),
        1,
        "{r:#}"
    );
    let c = &r["boundary_crossings"][0];
    let seq = c["seq"].as_u64().unwrap();
    let env = c["to"].as_str().unwrap().to_string();
    assert_eq!(env, "production");
    let d = &r["destructive"][0];
    assert_eq!(d["seq"].as_u64(), Some(seq));
    assert_eq!(d["target_env"].as_str(), Some(env.as_str()));
    let rule = d["rule"].as_str().unwrap().to_string();
    assert_eq!(rule, "railway.volumeDelete");
    let fp = r["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["used_in_seqs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u.as_u64() == Some(seq))
        })
        .and_then(|s| s["fingerprint"].as_str())
        .unwrap_or_else(|| panic!("no secret used at seq {seq}: {r:#}"))
        .to_string();
    let facts = [rule.as_str(), env.as_str(), fp.as_str()];
    let has_all = |what: &str, s: &str| assert_has(what, s, &facts);

    // show: the crossing's row is marked, names the rule, the target and the token.
    let shown = run(&["show", "latest"]);
    let row = shown
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(seq.to_string().as_str()))
        .unwrap_or_else(|| panic!("no row for seq {seq}:\n{shown}"));
    assert!(row.contains('◆'), "{row}");
    assert!(row.contains(&format!("BOUNDARY CROSSED → {env}")), "{row}");
    assert!(row.contains(&format!("DESTRUCTIVE {rule}")), "{row}");
    has_all("show's crossing row", row);
    let marked: Vec<&str> = shown.lines().filter(|l| l.contains('◆')).collect();
    assert_eq!(marked.len(), 1, "one crossing row:\n{shown}");

    // show --follow marks rows as it prints them, as show does once the session is whole.
    let marks = |timeline: &str| -> std::collections::BTreeMap<u64, String> {
        timeline
            .lines()
            .filter_map(|l| {
                let mut t = l.split_whitespace().skip(1);
                let seq = t.next()?.parse().ok()?;
                let m = t.next().filter(|m| ["◆", "!", "$", "~", "×"].contains(m));
                Some((seq, m.unwrap_or(" ").to_string()))
            })
            .collect()
    };
    let all = marks(&run(&["show", "latest", "--all"]));
    let followed = marks(&run(&["show", "latest", "--all", "--follow"]));
    assert_eq!(followed.get(&seq).map(String::as_str), Some("◆"));
    assert_eq!(
        all, followed,
        "show --all and show --all --follow mark rows alike"
    );

    // The Markdown and HTML reports.
    let md = run(&["report", "latest"]);
    let crossing_md = section(&md, "## Boundary crossings").join("\n");
    assert!(crossing_md.contains(&seq.to_string()), "{crossing_md}");
    assert!(crossing_md.contains(&env), "{crossing_md}");
    let destructive_md = section(&md, "## Destructive actions").join("\n");
    assert!(
        destructive_md.contains(&format!("| {seq} |")),
        "{destructive_md}"
    );
    has_all(
        "the destructive section",
        &format!(
            "{destructive_md}\n{}",
            section(&md, "## Secret provenance").join("\n")
        ),
    );
    let html = run(&["report", "latest", "--format", "html"]);
    has_all("the HTML report", &html);
    assert!(
        html.contains(&format!("seq {seq}")) || html.contains(&format!(">{seq}<")),
        "the HTML report does not name seq {seq}"
    );

    // The TUI's detail of the crossing.
    let mut h = flightlog_viewer::headless::Headless::open(&kept.db, &session, (160, 48), 2_000)
        .unwrap()
        .with_policy(Some(kept.policy.clone()));
    h.finish_index().unwrap();
    h.check().unwrap();
    h.act(flightlog_viewer::action::Action::Jump(
        flightlog_viewer::action::Marker::Crossing,
        true,
    ));
    assert_eq!(
        h.state.current().unwrap().seq,
        seq,
        "the TUI's first crossing"
    );
    let screen = h.screen();
    assert!(screen.contains("BOUNDARY CROSSED"), "{screen}");
    has_all("the TUI's detail", &screen);

    // The exports: the record of the crossing's event, or the finding about it.
    let about = |format: &str, is_about: &dyn Fn(&str) -> bool| {
        let out = run(&["export", "latest", "--format", format]);
        let lines: Vec<&str> = out.lines().filter(|l| is_about(l)).collect();
        assert!(!lines.is_empty(), "{format}: nothing about seq {seq}");
        has_all(format, &lines.join("\n"));
    };
    about("csv", &|l| l.starts_with(&format!("{seq},")));
    about("cef", &|l| l.contains(&format!("cn1Label=seq cn1={seq} ")));
    let json_about = |l: &str| -> bool {
        let v: Value = serde_json::from_str(l).unwrap();
        let s = v.to_string();
        s.contains(&format!("\"seq\":{seq},")) || s.contains(&format!("\"seq\":{seq}}}"))
    };
    about("ocsf", &json_about);
    let otlp = run(&["export", "latest", "--format", "otlp"]);
    let spans: Vec<String> = serde_json::from_str::<Value>(&otlp)
        .ok()
        .map(|v| {
            v["resourceSpans"][0]["scopeSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
                .map(|s| s.to_string())
                .filter(|s| {
                    s.contains(&format!(
                        "{{\"key\":\"flightlog.seq\",\"value\":{{\"intValue\":\"{seq}\"}}}}"
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !spans.is_empty(),
        "otlp: no span about seq {seq}:\n{}",
        &otlp[..otlp.len().min(2000)]
    );
    has_all("otlp", &spans.join("\n"));
}
