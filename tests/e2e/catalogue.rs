//! `flightlog catalogue list|explain` as the binary answers: every row of the analysis crate's
//! command table explained with the verdict the table expects, the exit codes, and the list.

use std::process::{Command, Output};

use crate::common::bin;

fn flightlog(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("FLIGHTLOG_POLICY")
        .output()
        .unwrap()
}

#[test]
fn explain_gives_every_table_row_its_verdict() {
    let table = include_str!("../../analysis/tests/data/commands.tsv");
    let mut rows = 0;
    for line in table.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (expected, cmd) = line.split_once('\t').unwrap();
        let cmd = if cmd.contains("<<") {
            cmd.replace("\\n", "\n")
        } else {
            cmd.to_string()
        };
        let out = flightlog(&[
            "catalogue",
            "explain",
            "--json",
            "--root",
            "/home/dev/app",
            "--",
            &cmd,
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{cmd}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        let want = (expected != "-").then_some(expected);
        assert_eq!(v["rule"].as_str(), want, "{cmd}");
        assert_eq!(
            out.status.code(),
            Some(if want.is_some() { 1 } else { 0 }),
            "{cmd}"
        );
        rows += 1;
    }
    assert!(rows >= 290, "{rows} rows");
}

#[test]
fn explain_in_words_names_rule_and_interpreter() {
    // (command, exit code, the first line starts with, and the explanation says)
    let cases: [(&[&str], i32, &str, &str); 2] = [
        (
            &[r#"python3 -c "import os; os.system('rm -rf /')""#],
            1,
            "destructive: fs.rm-rf-outside-worktree (critical)",
            "seen through: python3 -c: os.system",
        ),
        (
            &["rm", "-rf", "/tmp/*"],
            0,
            "not destructive: no rule matches",
            "tried, no match: fs.rm-rf-outside-worktree",
        ),
    ];
    for (command, code, starts, says) in cases {
        let mut args = vec!["catalogue", "explain", "--root", "/home/dev/app"];
        args.extend_from_slice(command);
        let out = flightlog(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{command:?}: {text}");
        assert!(text.starts_with(starts), "{command:?}: {text}");
        assert!(text.contains(says), "{command:?}: {text}");
    }
}

#[test]
fn list_shows_every_rule_with_family_and_severity() {
    let out = flightlog(&["catalogue", "list", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = v.as_array().unwrap();
    assert!(rules.len() >= 100, "{} rules", rules.len());
    for r in rules {
        for key in ["id", "family", "severity", "summary"] {
            assert!(r[key].as_str().is_some_and(|s| !s.is_empty()), "{r}");
        }
        assert!(!r["matches"].as_array().unwrap().is_empty(), "{r}");
    }
    let out = flightlog(&["catalogue", "list", "--family", "secrets"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("secrets.destroy"), "{text}");
    assert!(!text.contains("git.push-force"), "{text}");
    let out = flightlog(&["catalogue", "list", "--family", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the families are"));
}
