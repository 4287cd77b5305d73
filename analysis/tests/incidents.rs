//! Fixture sessions, one per incident class (`tests/data/*.jsonl`, policies in
//! `fixtures/policies/`), and a session that stays home while deleting things.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use flightlog_analysis::{Analysis, EventFacts, Policy, Severity, analyze, guard_decision, report};
use flightlog_formats::Event;

/// The facts of one event (an event the analysis found nothing about has none).
fn fact(a: &Analysis, seq: u64) -> EventFacts {
    a.facts_of(seq)
        .cloned()
        .unwrap_or_else(|| EventFacts::new(seq))
}

/// The one item of `items` (fails listing them when there is not exactly one).
fn only<'a, T: std::fmt::Debug>(items: &'a [T], what: &str) -> &'a T {
    assert_eq!(items.len(), 1, "{what}: {items:#?}");
    &items[0]
}

/// The fixture session `name` and its analysis under the policy `pack`.
fn incident(name: &str, pack: &str) -> (Vec<Event>, Analysis) {
    let ev = events(name);
    let a = analyze(&ev, &policy(pack));
    (ev, a)
}

/// The analysis put event `seq` in `env`, a crossing or not.
fn assert_env(a: &Analysis, seq: u64, env: &str, crossing: bool) {
    let f = fact(a, seq);
    assert_eq!(f.env.as_deref(), Some(env), "seq {seq}");
    assert_eq!(f.crossing, crossing, "seq {seq}");
}

/// One of the crossing's pieces of evidence says `needle`.
fn assert_evidence(c: &flightlog_analysis::Crossing, needle: &str) {
    assert!(
        c.evidence.iter().any(|e| e.contains(needle)),
        "no {needle:?} in {:?}",
        c.evidence
    );
}

fn events(name: &str) -> Vec<Event> {
    let path = format!("{}/tests/data/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| Event::from_bytes(l.as_bytes()).unwrap())
        .collect()
}

fn policy(name: &str) -> Policy {
    let path = format!(
        "{}/../fixtures/policies/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let checked = Policy::check_file(std::path::Path::new(&path)).unwrap();
    assert!(
        checked.warnings.is_empty(),
        "{name}: {:?}",
        checked.warnings
    );
    checked.policy
}

#[test]
fn nine_second_incident_gets_the_full_answer() {
    let (ev, a) = incident("incident-railway", "railway");
    let md = report::markdown(&a, true);
    println!("{md}");

    // The crossing is the curl (the hook's tool_call), once, with the evidence.
    let c = only(&a.boundary_crossings, "crossings");
    assert_eq!(c.seq, 10);
    assert_eq!((c.from.as_str(), c.to.as_str()), ("staging", "production"));
    let ev_text = c.evidence.join("\n");
    assert!(
        ev_text.contains("resource id 3d2c42fb-8e4a-4c1e-9f7d-2b6c1a0e5d93 matches production ids"),
        "{ev_text}"
    );
    assert!(ev_text.contains("railway-account token (sent as Authorization: Bearer to Railway's API), first seen in ops/domains.env:3"), "{ev_text}");
    assert!(ev_text.contains("reaches every environment"), "{ev_text}");
    assert!(ev_text.contains("host backboard.railway.app"), "{ev_text}");
    assert!(
        ev_text.contains("also seen by the exec layer at seq 11"),
        "{ev_text}"
    );
    assert!(
        ev_text.contains("also seen by the api-argv layer at seq 12"),
        "{ev_text}"
    );
    // The exec and the api_call are the same action: facts say crossing, no second entry.
    assert!(fact(&a, ev[11].seq).crossing && fact(&a, ev[12].seq).crossing);

    let d = only(&a.destructive, "destructive");
    assert_eq!(
        (d.seq, d.rule.as_str(), d.severity),
        (10, "railway.volumeDelete", Severity::Critical)
    );
    assert_eq!(d.target_env.as_deref(), Some("production"));

    // The secret: seen at session start in ops/domains.env, read by Grep, used by the curl
    // (tagged env-secret in the file and bearer-token in the header: linked by fingerprint).
    assert_eq!(a.secrets.len(), 1);
    let s = &a.secrets[0];
    assert_eq!(s.fingerprint, "a1b2c3d4e5f60718");
    assert_eq!(s.kind, "railway-account");
    assert_eq!(s.location.as_deref(), Some("ops/domains.env:3"));
    assert_eq!(s.first_seen_seq, 1);
    assert_eq!(s.read_seq, Some(7));
    assert_eq!(s.used_in_seqs, vec![10, 11, 12]);

    let w = a.critical_window.as_ref().unwrap();
    assert_eq!((w.from_seq, w.to_seq), (5, 10));
    assert!((w.seconds - 8.9).abs() < 0.01, "{}", w.seconds);
    let roles: Vec<&str> = w.steps.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(roles, vec!["error", "secret_read", "destructive"]);

    let j = report::json(&a, true);
    assert_eq!(j["boundary_crossings"][0]["seq"], 10);
    assert_eq!(j["destructive"][0]["rule"], "railway.volumeDelete");
    assert_eq!(j["destructive"][0]["severity"], "critical");
    assert_eq!(
        j["secrets"][0]["used_in_seqs"],
        serde_json::json!([10, 11, 12])
    );
    assert_eq!(j["critical_window"]["seconds"], 8.9);
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 10);
    assert!(md.contains("## Critical window: 8.9 seconds"));

    // The guard (policy: enabled, deny destructive-crossing) stops the curl at the hook.
    let p = policy("railway");
    let g = guard_decision(&p, &ev[..10], &ev[10]);
    assert!(g.deny, "{g:?}");
    assert_eq!(g.rule.as_deref(), Some("railway.volumeDelete"));
    // and lets the harmless steps through
    for i in [3, 6, 8] {
        assert!(!guard_decision(&p, &ev[..i], &ev[i]).deny, "seq {i}");
    }
}

#[test]
fn nine_second_incident_with_built_in_defaults() {
    // No policy file: the account token alone makes the curl a crossing to every environment.
    let ev = events("incident-railway");
    let a = analyze(&ev, &Policy::default());
    assert_eq!(a.home_env.as_deref(), Some("staging"));
    let c = only(&a.boundary_crossings, "crossings");
    assert_eq!((c.seq, c.to.as_str()), (10, "*"));
    assert_eq!(a.destructive[0].rule, "railway.volumeDelete");
    assert!(a.critical_window.is_some());
    // The guard is off by default.
    assert!(!guard_decision(&Policy::default(), &ev[..10], &ev[10]).deny);
}

#[test]
fn aws_rds_delete_against_prod_profile() {
    let (_, a) = incident("incident-aws-rds", "aws-rds");
    let c = only(&a.boundary_crossings, "crossings");
    assert_eq!((c.seq, c.to.as_str()), (5, "production"));
    assert_evidence(c, "AWS_PROFILE=prod");
    assert_evidence(c, "prod-main-db");
    assert_eq!(
        only(&a.destructive, "destructive").rule,
        "aws.rds.delete-no-snapshot"
    );
    let w = a.critical_window.as_ref().unwrap();
    assert_eq!((w.from_seq, w.to_seq), (2, 5));
    assert_eq!(a.secrets.len(), 2);
    // `cat` shows the whole file: the secret is on its second line.
    assert_eq!(
        a.secrets[0].location.as_deref(),
        Some("~/.aws/credentials:2")
    );
}

#[test]
fn kubectl_delete_namespace_in_prod_context() {
    let (ev, a) = incident("incident-kubectl", "kubernetes");
    // `use-context` is a context switch (classified, not a crossing); the delete crosses.
    assert_env(&a, ev[3].seq, "production", false);
    let c = only(&a.boundary_crossings, "crossings");
    assert_eq!(c.seq, 4);
    assert!(c.evidence[0].contains("prod-eu"));
    assert_eq!(
        only(&a.destructive, "exec and hook are one action").rule,
        "k8s.delete-namespace"
    );
    let p = policy("kubernetes");
    assert!(guard_decision(&p, &ev[..4], &ev[4]).deny);
    // the traced exec alone (no hook) is denied too
    assert!(guard_decision(&p, &ev[..4], &ev[5]).deny);
}

#[test]
fn terraform_destroy_in_prod_workspace() {
    let (ev, a) = incident("incident-terraform", "terraform");
    let c = only(&a.boundary_crossings, "crossings");
    assert_eq!(c.seq, 3);
    assert_evidence(c, "terraform workspace prod");
    assert_eq!(
        only(&a.destructive, "destructive").rule,
        "terraform.destroy"
    );
    // the traced destroy alone is in production too (workspace carried over in the session)
    assert_env(&a, ev[5].seq, "production", true);
}

#[test]
fn psql_drop_table_against_prod_url() {
    let (ev, a) = incident("incident-psql", "postgres");
    // The first DROP TABLE went to localhost (home): destructive, not a crossing.
    assert_env(&a, ev[1].seq, "dev", false);
    let c = only(&a.boundary_crossings, "crossings");
    assert_eq!((c.seq, c.to.as_str()), (5, "production"));
    assert_evidence(c, "URL postgres://app@db.prod.example.com/main matches");
    assert_evidence(c, "env DATABASE_URL_PROD");
    let rules: Vec<(u64, &str)> = a
        .destructive
        .iter()
        .map(|d| (d.seq, d.rule.as_str()))
        .collect();
    assert_eq!(rules, vec![(1, "sql.drop-table"), (5, "sql.drop-table")]);
    assert_eq!(a.destructive[1].target_env.as_deref(), Some("production"));
    let w = a.critical_window.as_ref().unwrap();
    assert_eq!((w.from_seq, w.to_seq), (2, 5));
}

#[test]
fn git_force_push_to_main() {
    let (ev, a) = incident("incident-git", "git");
    let d = only(&a.destructive, "destructive");
    assert_eq!((d.seq, d.rule.as_str()), (3, "git.push-force"));
    assert!(only(&a.boundary_crossings, "crossings").evidence[0].contains("github.com"));
    let p = policy("git");
    assert!(guard_decision(&p, &ev[..3], &ev[3]).deny);
    assert!(
        !guard_decision(&p, &ev[..1], &ev[1]).deny,
        "a normal push is allowed"
    );
}

#[test]
fn rm_rf_outside_the_work_tree() {
    let (_, a) = incident("incident-rm", "filesystem");
    let d = only(&a.destructive, "destructive");
    assert_eq!((d.seq, d.rule.as_str()), (3, "fs.rm-rf-outside-worktree"));
    // `pg_ctl -D /var/lib/postgresql/data` already acts on a production path; the rm again.
    let seqs: Vec<u64> = a.boundary_crossings.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, vec![1, 3]);
    assert!(a.boundary_crossings[1].evidence[0].contains("/var/lib/postgresql/data"));
    let w = a.critical_window.as_ref().unwrap();
    assert_eq!((w.from_seq, w.to_seq), (2, 3));
}

#[test]
fn staying_home_with_deletions_reports_no_crossing() {
    let ev = events("staying-home");
    // (The postgres policy would call `localhost` its `dev` environment: away from this
    // session's home, staging; so it is not a stay-home policy for this session.)
    for p in [Policy::default(), policy("railway"), policy("kubernetes")] {
        let a = analyze(&ev, &p);
        assert!(
            a.boundary_crossings.is_empty(),
            "{:#?}",
            a.boundary_crossings
        );
        assert!(a.facts.iter().all(|f| !f.crossing));
        let rules: Vec<&str> = a.destructive.iter().map(|d| d.rule.as_str()).collect();
        assert_eq!(rules, vec!["git.reset-hard", "sql.truncate"], "{rules:?}");
        // The token printed by `cat` is provenance: seen, never used.
        assert_eq!(a.secrets.len(), 1);
        assert!(a.secrets[0].used_in_seqs.is_empty());
        let md = report::markdown(&a, true);
        assert!(md.contains("The session stayed home"), "{md}");
        // with the guard on and deny = destructive-crossing nothing is denied
        let mut g = p.clone();
        g.guard.enabled = true;
        g.guard.deny = vec!["destructive-crossing".into()];
        for i in 1..ev.len() {
            assert!(!guard_decision(&g, &ev[..i], &ev[i]).deny, "seq {i}");
        }
    }
}

#[test]
fn kubeconfig_current_context_at_session_start_classifies_a_bare_kubectl() {
    // The recorder captured `current-context: prod-eu` from the active kubeconfig; the agent's
    // `kubectl delete ns` names no --context and never ran use-context.
    let mut ev = events("incident-kubectl");
    ev.retain(|e| {
        !e.data["command"]
            .as_str()
            .or_else(|| {
                e.data["argv"]
                    .as_array()
                    .and_then(|a| a.get(2))
                    .and_then(|v| v.as_str())
            })
            .is_some_and(|c| c.contains("use-context"))
    });
    ev[0].data["context"] = serde_json::json!({"kube_context": "prod-eu", "vars": {}});
    let bare = ev
        .iter()
        .position(|e| {
            e.data["command"]
                .as_str()
                .is_some_and(|c| c.contains("delete ns"))
        })
        .unwrap();
    let a = analyze(&ev, &policy("kubernetes"));
    assert!(fact(&a, ev[bare].seq).crossing, "{:#?}", a.facts);
    assert_eq!(fact(&a, ev[bare].seq).env.as_deref(), Some("production"));
    assert!(
        a.boundary_crossings[0]
            .evidence
            .iter()
            .any(|e| e.contains("prod-eu"))
    );
    // Without the captured context there is nothing to say it is production.
    ev[0].data["context"] = serde_json::json!(null);
    let a = analyze(&ev, &policy("kubernetes"));
    assert!(!fact(&a, ev[bare].seq).crossing);
}

/// Severity feeds the guard: with `deny = ["destructive"]`, a `low` rule (`git branch -D`,
/// `docker rm -f`) is denied only when `min_severity` lets it; `medium` and above always are.
#[test]
fn guard_denies_destructive_actions_from_min_severity_up() {
    let ev = |seq: u64, command: &str| {
        let line = serde_json::json!({
            "v": 1, "session": "sev", "seq": seq, "ts": "2026-04-25T10:00:01.000000Z",
            "kind": "tool_call", "source": "hook:claude-code", "env": null,
            "data": {"agent": "claude-code", "tool": "Bash", "call_id": format!("c{seq}"),
                     "input": {"command": command}, "command": command}
        });
        Event::from_bytes(line.to_string().as_bytes()).unwrap()
    };
    let start = Event::from_bytes(
        br#"{"v":1,"session":"sev","seq":0,"ts":"2026-04-25T10:00:00.000000Z","kind":"session_start","source":"recorder","env":null,"data":{"agent":"claude-code","label":"t","home_env":"staging","cwd":"/home/dev/app","argv":["claude"],"host":"h","flightlog_version":"0.1.0","layers":["hook"]}}"#,
    )
    .unwrap();
    let with = |extra: &str| {
        let src = format!("[guard]\nenabled = true\ndeny = [\"destructive\"]\n{extra}");
        Policy::check_str(&src).unwrap().policy
    };
    let default_min = with("");
    let low_min = with("min_severity = \"low\"\n");
    let prior = [start];
    for low in ["git branch -D spike", "docker rm -f web-1"] {
        let d = guard_decision(&default_min, &prior, &ev(1, low));
        assert!(!d.deny, "{low}: {d:?}");
        assert!(
            d.reason.contains("below the guard's min_severity"),
            "{}",
            d.reason
        );
        assert!(guard_decision(&low_min, &prior, &ev(1, low)).deny, "{low}");
    }
    for higher in ["git clean -fdx", "git push --force origin main"] {
        assert!(
            guard_decision(&default_min, &prior, &ev(1, higher)).deny,
            "{higher}"
        );
    }
    let bad = Policy::check_str("[guard]\nmin_severity = \"severe\"\n");
    assert!(bad.is_err(), "{bad:?}");
}
