//! The catalogue's share of a guard decision: what a hook process pays to load the built-in
//! catalogue (parse the rule packs, compile their regexes) and to judge one command line, on
//! every command of `tests/data/commands.tsv`. Prints a table;
//! `cargo bench -p flightlog-analysis --bench decision`.
//!
//! FLIGHTLOG_BENCH_RUNS sets the number of loads (default 200); each command is judged that
//! many times too.

use std::time::{Duration, Instant};

use flightlog_analysis::catalogue::{Catalogue, WorkTree};

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6
}

fn main() {
    let runs: usize = std::env::var("FLIGHTLOG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let table = include_str!("../tests/data/commands.tsv");
    let lines: Vec<String> = table
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(_, c)| {
            if c.contains("<<") {
                c.replace("\\n", "\n")
            } else {
                c.to_string()
            }
        })
        .collect();
    let wt = WorkTree {
        root: Some("/home/dev/app".into()),
        cwd: None,
    };

    let mut loads: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let c = Catalogue::load_builtin().expect("the built-in catalogue loads");
            std::hint::black_box(&c);
            t.elapsed()
        })
        .collect();

    if std::env::var_os("FLIGHTLOG_BENCH_PACKS").is_some() {
        for (family, text) in flightlog_analysis::catalogue::PACKS {
            let t = Instant::now();
            for _ in 0..20 {
                std::hint::black_box(toml::from_str::<toml::Table>(text).expect("toml"));
            }
            let parse = t.elapsed() / 20;
            let t = Instant::now();
            for _ in 0..20 {
                std::hint::black_box(Catalogue::from_packs(&[(family, text)]).expect("pack"));
            }
            eprintln!("{family}: toml {parse:?}, load {:?}", t.elapsed() / 20);
        }
    }
    let cat = Catalogue::builtin();
    let mut per_line: Vec<Duration> = Vec::with_capacity(runs * lines.len());
    let mut worst: Vec<Duration> = vec![Duration::ZERO; lines.len()];
    for _ in 0..runs {
        for (i, l) in lines.iter().enumerate() {
            let t = Instant::now();
            std::hint::black_box(cat.match_line(l, &wt));
            let d = t.elapsed();
            worst[i] = worst[i].max(d);
            per_line.push(d);
        }
    }
    let rules = cat.rules.len();
    println!("| what | median | p99 | anchor |\n|---|---|---|---|");
    println!(
        "| load the built-in catalogue ({rules} rules) | {:.0} µs | {:.0} µs | once per hook process |",
        pct(&mut loads, 0.5),
        pct(&mut loads, 0.99)
    );
    println!(
        "| judge one command line ({} lines of commands.tsv) | {:.1} µs | {:.1} µs | per exec or hook event |",
        lines.len(),
        pct(&mut per_line, 0.5),
        pct(&mut per_line, 0.99)
    );
}
