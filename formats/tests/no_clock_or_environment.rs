//! `formats` does no terminal I/O, and nothing it stores comes from a clock or the environment
//! (ARCHITECTURE.md): timestamps and keys are passed in. This test reads the library's source
//! (each file up to its test module) and allows each clock, environment or terminal call only
//! in the files ARCHITECTURE.md names for it.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// (what a call looks like, the files under `formats/src` that may make it, and why)
const ALLOWED: &[(&str, &[&str], &str)] = &[
    ("Utc::now", &[], "the caller passes timestamps"),
    ("Local::now", &[], "the caller passes timestamps"),
    (
        "SystemTime::now",
        &["store.rs"],
        "the clock's low bits jitter lock retries",
    ),
    (
        "Instant::now",
        &["store.rs", "store/open.rs"],
        "a monotonic deadline for a busy store",
    ),
    (
        "/proc/",
        &["store/writers.rs"],
        "tells a live writer from a dead one",
    ),
    (
        "env::var",
        &["store/pg/conn.rs"],
        "the libpq variables and HOME for ~/.pgpass",
    ),
    ("print!", &[], "no terminal I/O"),
    ("println!", &[], "no terminal I/O"),
    ("io::stdout", &[], "no terminal I/O"),
    ("io::stderr", &[], "no terminal I/O"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The file's code before its test module, without comment lines.
fn library_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn clock_environment_and_terminal_are_read_only_where_the_architecture_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "{} source files", files.len());
    let mut wrong = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let code = library_code(path);
        for (call, files, why) in ALLOWED {
            if code.contains(call) && !files.contains(&rel.as_str()) {
                wrong.push(format!("{rel}: {call} ({why})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
