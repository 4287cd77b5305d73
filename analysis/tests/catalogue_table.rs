//! The catalogue measured on its corpus: the table of commands (`tests/data/commands.tsv`,
//! destructive actions in many disguises and harmless look-alikes) plus every rule's own
//! `examples` (each must match, with that rule the most severe) and `harmless` look-alikes
//! (each must match no rule). Prints precision, recall and the false-positive rate per family
//! and holds the whole corpus exact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::BTreeMap;

use flightlog_analysis::catalogue::{Catalogue, Rule, WorkTree};

/// One command of the corpus and the rule it must match first (None: harmless).
struct Row {
    family: String,
    expected: Option<String>,
    input: String,
    /// A tool name rather than a command line.
    tool: bool,
}

fn is_tool_rule(r: &Rule) -> bool {
    r.id.starts_with("mcp.")
}

fn corpus(cat: &Catalogue) -> Vec<Row> {
    let family_of = |id: &str| {
        cat.rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.family.clone())
            .unwrap_or_else(|| panic!("commands.tsv names an unknown rule {id}"))
    };
    let mut rows = Vec::new();
    for line in include_str!("data/commands.tsv").lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (expected, cmd) = line.split_once('\t').expect("rule<TAB>command");
        let input = if cmd.contains("<<") {
            cmd.replace("\\n", "\n")
        } else {
            cmd.to_string()
        };
        let expected = (expected != "-").then(|| expected.to_string());
        rows.push(Row {
            family: expected
                .as_deref()
                .map(family_of)
                .unwrap_or_else(|| "(table look-alikes)".into()),
            expected,
            input,
            tool: false,
        });
    }
    for r in &cat.rules {
        for e in &r.examples {
            rows.push(Row {
                family: r.family.clone(),
                expected: Some(r.id.clone()),
                input: e.clone(),
                tool: is_tool_rule(r),
            });
        }
        for h in &r.harmless {
            rows.push(Row {
                family: r.family.clone(),
                expected: None,
                input: h.clone(),
                tool: is_tool_rule(r),
            });
        }
    }
    rows
}

/// Whether a command line runs an interpreter one-liner or heredoc.
fn through_interpreter(line: &str) -> bool {
    flightlog_analysis::shell::split(line).iter().any(|c| {
        let p = c.program();
        p.starts_with("python") || matches!(p, "node" | "perl" | "ruby" | "php" | "deno" | "bun")
    })
}

/// Every rule shows what it matches and what it must leave alone.
#[test]
fn every_rule_has_examples_and_look_alikes() {
    for r in &Catalogue::builtin_with_examples().rules {
        assert!(!r.examples.is_empty(), "{} has no examples", r.id);
        assert!(
            !r.harmless.is_empty(),
            "{} has no harmless look-alikes",
            r.id
        );
    }
}

fn worktree() -> WorkTree {
    WorkTree {
        root: Some("/home/dev/app".into()),
        cwd: None,
    }
}

#[derive(Default)]
struct Tally {
    rows: u32,
    destructive: u32,
    tp: u32,
    fn_: u32,
    fp: u32,
    harmless: u32,
}

#[test]
fn catalogue_is_exact_on_its_corpus() {
    let cat = Catalogue::builtin_with_examples();
    let wt = worktree();
    let rows = corpus(cat);
    let mut by_family: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    let mut interp = Tally::default();
    let mut wrong = Vec::new();
    for row in &rows {
        let got = if row.tool {
            cat.match_tool(&row.input)
        } else {
            cat.match_line(&row.input, &wt)
        };
        let predicted = got.first().map(|m| m.rule.as_str());
        let expected = row.expected.as_deref();
        let mut tallies = vec![by_family.entry(row.family.clone()).or_default()];
        if !row.tool && through_interpreter(&row.input) {
            tallies.push(&mut interp);
        }
        tallies.push(&mut total);
        for t in tallies {
            t.rows += 1;
            match (expected, predicted) {
                (Some(e), Some(p)) if e == p => {
                    t.destructive += 1;
                    t.tp += 1;
                }
                (Some(_), Some(_)) => {
                    t.destructive += 1;
                    t.fn_ += 1;
                    t.fp += 1;
                }
                (Some(_), None) => {
                    t.destructive += 1;
                    t.fn_ += 1;
                }
                (None, Some(_)) => {
                    t.harmless += 1;
                    t.fp += 1;
                }
                (None, None) => t.harmless += 1,
            }
        }
        if expected != predicted {
            wrong.push(format!(
                "  [{}] expected {expected:?}, got {predicted:?}: {}",
                row.family, row.input
            ));
        }
    }
    let ratio = |a: u32, b: u32| f64::from(a) / f64::from(b.max(1));
    println!("| family | rows | destructive | harmless | recall | false positives |");
    println!("|---|---|---|---|---|---|");
    let extra = [
        ("(through an interpreter)".to_string(), &interp),
        ("all".to_string(), &total),
    ];
    for (f, t) in by_family.iter().chain(extra.iter().map(|(f, t)| (f, *t))) {
        println!(
            "| {f} | {} | {} | {} | {:.3} | {:.3}% |",
            t.rows,
            t.destructive,
            t.harmless,
            ratio(t.tp, t.destructive),
            100.0 * ratio(t.fp, t.rows),
        );
    }
    let precision = ratio(total.tp, total.tp + total.fp);
    let recall = ratio(total.tp, total.tp + total.fn_);
    println!(
        "catalogue corpus: {} rows, {} destructive; precision {precision:.3}, recall {recall:.3}",
        total.rows, total.destructive
    );
    assert!(
        wrong.is_empty(),
        "{} of {} rows judged wrong:\n{}",
        wrong.len(),
        total.rows,
        wrong.join("\n")
    );
    assert!(total.rows >= 1500, "the corpus has {} rows", total.rows);
    assert!(interp.destructive >= 30 && interp.harmless >= 15);
    // Every family of the catalogue is represented with destructive and harmless rows.
    for family in [
        "aws",
        "azure",
        "backup",
        "cicd",
        "containers",
        "databases",
        "dns-cdn",
        "filesystem",
        "gcp",
        "git",
        "http",
        "iac",
        "kubernetes",
        "messaging",
        "paas",
        "railway",
        "registries",
        "search",
        "secrets",
        "services",
        "storage",
    ] {
        let t = &by_family[family];
        assert!(
            t.destructive >= 5 && t.harmless >= 5,
            "{family}: {} / {}",
            t.destructive,
            t.harmless
        );
    }
}

/// `catalogue explain` gives every row of the corpus the verdict the catalogue gives it, names
/// the deciding rule, and shows the commands it saw.
#[test]
fn explain_agrees_on_every_row() {
    let cat = Catalogue::builtin_with_examples();
    let wt = worktree();
    let mut n = 0;
    for row in corpus(cat).iter().filter(|r| !r.tool) {
        let e = cat.explain_line(&row.input, &wt);
        assert_eq!(e.rule, row.expected, "explain of {}", row.input);
        assert_eq!(e.destructive, row.expected.is_some(), "{}", row.input);
        assert_eq!(
            e.severity,
            e.rule
                .as_ref()
                .and_then(|id| cat.rules.iter().find(|r| &r.id == id))
                .map(|r| r.severity)
        );
        assert!(!e.commands.is_empty(), "no command seen in {}", row.input);
        if let Some(top) = e.matches.first() {
            // The deciding rule is shown on a command seen, or on its SQL or request.
            assert!(
                e.commands.iter().any(|c| c.matched.contains(&top.rule)),
                "{}: {} on no command seen",
                row.input,
                top.rule
            );
        }
        n += 1;
    }
    assert!(n >= 1500, "{n} rows explained");
}

/// Interpreters and wrappers are named on the match they hid.
#[test]
fn explain_names_the_wrappers_and_interpreters() {
    let cat = Catalogue::builtin_with_examples();
    let e = cat.explain_line(
        r#"sudo bash -c "python3 -c \"import os; os.system('rm -rf /')\"""#,
        &worktree(),
    );
    assert_eq!(e.rule.as_deref(), Some("fs.rm-rf-outside-worktree"));
    assert_eq!(
        e.matches[0].via,
        vec!["sudo", "bash -c", "python3 -c: os.system"]
    );
}
