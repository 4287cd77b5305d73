//! The catalogue measured on a table of commands (`tests/data/commands.tsv`): destructive
//! actions in many disguises and harmless look-alikes. Prints precision and recall and holds
//! both at or above 0.97.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use flightlog_analysis::catalogue::{Catalogue, WorkTree};

#[test]
fn catalogue_precision_and_recall() {
    let table = include_str!("data/commands.tsv");
    let wt = WorkTree {
        root: Some("/home/dev/app".into()),
        cwd: None,
    };
    let cat = Catalogue::builtin();
    let (mut tp, mut fp, mut fn_, mut rows) = (0u32, 0u32, 0u32, 0u32);
    let mut wrong = Vec::new();
    for line in table.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (expected, cmd) = line.split_once('\t').expect("rule<TAB>command");
        let cmd = if cmd.contains("<<") {
            cmd.replace("\\n", "\n")
        } else {
            cmd.to_string()
        };
        rows += 1;
        let got = cat.match_line(&cmd, &wt);
        let predicted = got.first().map(|m| m.rule.as_str());
        let expected = (expected != "-").then_some(expected);
        match (expected, predicted) {
            (Some(e), Some(p)) if e == p => tp += 1,
            (Some(_), Some(_)) => {
                fp += 1;
                fn_ += 1;
            }
            (Some(_), None) => fn_ += 1,
            (None, Some(_)) => fp += 1,
            (None, None) => {}
        }
        if expected != predicted {
            wrong.push(format!("  expected {expected:?}, got {predicted:?}: {cmd}"));
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
    println!(
        "catalogue table: {rows} commands, {} destructive; precision {precision:.3}, recall {recall:.3}",
        tp + fn_
    );
    for w in &wrong {
        println!("{w}");
    }
    assert!(rows >= 150, "the table has {rows} commands");
    assert!(
        precision >= 0.97,
        "precision {precision:.3}\n{}",
        wrong.join("\n")
    );
    assert!(recall >= 0.97, "recall {recall:.3}\n{}", wrong.join("\n"));
}
