//! Real agents replaying the nine-second incident (`tests/data/agents/*.jsonl`, events of
//! sessions recorded from Claude Code 2.1.197, Codex CLI 0.171.0, Gemini CLI 0.61.0 and Aider
//! 0.86.2 driven by a scripted model server; see `tests/data/agents/README.md`). Whatever the
//! agent and the mode, the story is the same: one action deletes the volume, it is one crossing
//! and one destructive action, with the outcome it really had, and the token came from
//! `ops/domains.env:4`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use flightlog_analysis::{Outcome, Policy, analyze, report};
use flightlog_formats::{Event, Kind};

fn events(name: &str) -> Vec<Event> {
    let path = format!(
        "{}/tests/data/agents/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| Event::from_bytes(l.as_bytes()).unwrap())
        .collect()
}

fn policy() -> Policy {
    let path = format!(
        "{}/../demo/incident/flightlog.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    Policy::check_file(std::path::Path::new(&path))
        .unwrap()
        .policy
}

/// (session, outcome of the delete, layers that must have seen it)
const RUNS: &[(&str, Outcome, &[&str])] = &[
    ("claude-code-hooks", Outcome::Done, &["hook"]),
    (
        "claude-code-record",
        Outcome::Done,
        &["hook", "exec", "api-argv", "api"],
    ),
    ("claude-code-guard", Outcome::DeniedByGuard, &["hook"]),
    ("codex-hooks", Outcome::Done, &["hook"]),
    (
        "codex-record",
        Outcome::Done,
        &["hook", "exec", "api-argv", "api"],
    ),
    ("codex-guard", Outcome::DeniedByGuard, &["hook"]),
    (
        "codex-record-sandboxed",
        Outcome::BlockedByAgent,
        &["hook", "exec", "api-argv"],
    ),
    ("gemini-hooks", Outcome::Done, &["hook"]),
    (
        "gemini-record",
        Outcome::Done,
        &["hook", "exec", "api-argv", "api"],
    ),
    ("gemini-guard", Outcome::DeniedByGuard, &["hook"]),
    ("aider-record", Outcome::Done, &["exec", "api-argv", "api"]),
    ("aider-guard", Outcome::DeniedByGuard, &["exec"]),
];

#[test]
fn every_agent_in_every_mode_tells_one_story() {
    let p = policy();
    for &(name, outcome, layers) in RUNS {
        let ev = events(name);
        let a = analyze(&ev, &p);
        let ctx = format!("{name}: {:#?}", a.actions);
        assert_eq!(a.boundary_crossings.len(), 1, "{ctx}");
        assert_eq!(a.destructive.len(), 1, "{ctx}");
        assert_eq!(a.actions.len(), 1, "{ctx}");
        let (c, d, act) = (&a.boundary_crossings[0], &a.destructive[0], &a.actions[0]);
        assert_eq!((c.action, d.action), (act.id, act.id), "{ctx}");
        assert_eq!(
            (c.from.as_str(), c.to.as_str()),
            ("staging", "production"),
            "{ctx}"
        );
        assert_eq!(d.rule, "railway.volumeDelete", "{ctx}");
        assert_eq!(d.target_env.as_deref(), Some("production"), "{ctx}");
        // The finding is at the delete: its first event names the mutation.
        let first = ev.iter().find(|e| e.seq == c.seq).unwrap();
        assert!(first.data.to_string().contains("volumeDelete"), "{ctx}");
        assert_eq!(
            (c.outcome, d.outcome, act.outcome),
            (outcome, outcome, outcome),
            "{ctx}"
        );
        assert_eq!(d.blocked, outcome == Outcome::DeniedByGuard, "{ctx}");
        for l in layers {
            assert!(act.seen.iter().any(|s| s.layer == *l), "{ctx}: no {l}");
        }
        // Provenance: the account token's file and line, and the agent's own read of it.
        let account: Vec<_> = a
            .secrets
            .iter()
            .filter(|s| s.kind == "railway-account")
            .collect();
        assert_eq!(account.len(), 1, "{name}: {:#?}", a.secrets);
        let s = account[0];
        assert_eq!(
            s.location.as_deref(),
            Some("ops/domains.env:4"),
            "{name}: {s:#?}"
        );
        assert_eq!(
            s.read_location.as_deref(),
            Some("ops/domains.env:4"),
            "{name}: {s:#?}"
        );
        let read = s.read_seq.unwrap();
        assert!(
            read < c.seq,
            "{name}: read at {read}, crossing at {}",
            c.seq
        );
        assert!(
            c.evidence.iter().any(|e| e.contains(&format!(
                "read by the agent from ops/domains.env:4 at seq {read}"
            ))),
            "{name}: {:#?}",
            c.evidence
        );
        // The agent's own model traffic is never a target, whatever it mentions.
        for e in ev.iter().filter(|e| e.kind == Kind::ApiCall) {
            let path = e.data.get("path").and_then(|p| p.as_str()).unwrap_or("");
            if path.starts_with("/v1/") {
                // Nothing found about it: no entry at all.
                assert!(
                    a.facts_of(e.seq).is_none(),
                    "{name}: {:?}",
                    a.facts_of(e.seq)
                );
            }
        }
        // The report says the same, in JSON and in words.
        let j = report::json(&a, true);
        assert_eq!(j["destructive"][0]["target_env"], "production", "{name}");
        assert_eq!(j["boundary_crossings"][0]["to"], "production", "{name}");
        assert_eq!(
            j["destructive"][0]["outcome"],
            serde_json::to_value(outcome).unwrap(),
            "{name}"
        );
        let md = report::markdown(&a, true);
        assert_eq!(
            md.contains("crossing attempted"),
            outcome.is_attempt(),
            "{name}: {md}"
        );
    }
}

#[test]
fn model_traffic_that_mentions_production_is_conversation() {
    // Aider's conversation with its model (/v1/chat/completions, request and streamed
    // response) names the production volume.
    let ev = events("aider-record");
    let model: Vec<u64> = ev
        .iter()
        .filter(|e| {
            e.kind == Kind::ApiCall
                && e.data.get("path").and_then(|p| p.as_str()) == Some("/v1/chat/completions")
        })
        .map(|e| e.seq)
        .collect();
    let mentions: Vec<&Event> = ev
        .iter()
        .filter(|e| {
            let of = e.data.get("response_of_seq").and_then(|s| s.as_u64());
            e.kind == Kind::ApiCall
                && (model.contains(&e.seq) || of.is_some_and(|s| model.contains(&s)))
                && e.data.to_string().contains("3d2c42fb-")
        })
        .collect();
    assert!(!mentions.is_empty(), "the fixture must hold such a request");
    let a = analyze(&ev, &policy());
    for m in mentions {
        assert!(a.boundary_crossings.iter().all(|c| c.seq != m.seq));
        assert!(a.actions[0].seen.iter().all(|s| s.seq != m.seq));
    }
}

#[test]
fn a_sandboxed_attempt_is_reported_as_an_attempt() {
    let a = analyze(&events("codex-record-sandboxed"), &policy());
    let d = &a.destructive[0];
    assert_eq!(d.outcome, Outcome::BlockedByAgent);
    let why = d.outcome_detail.as_deref().unwrap_or("");
    assert!(
        why.contains("sandbox") && why.contains("curl: (7)"),
        "{why}"
    );
    let md = report::markdown(&a, true);
    assert!(
        md.contains("tried to cross the environment boundary; it did not happen"),
        "{md}"
    );
    assert!(md.contains("**attempted, blocked by the agent"), "{md}");
    assert!(!md.contains("A destructive action crossed"), "{md}");
}
