//! Migrations are numbered `.sql` files, never edited once released: a store that ran one must
//! be able to trust that a newer flightlog means the same by it. Each released file is pinned
//! here by its SHA-256; a change to one fails this test (add a new numbered file instead), and a
//! new file is pinned when it is added.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use sha2::{Digest, Sha256};

/// (file under `formats/src/migrations`, SHA-256 of its bytes)
const RELEASED: &[(&str, &str)] = &[
    (
        "0001_init.sql",
        "e49ca7184927ba558792d146e7dbb57332cf408bd5e9e335f04719bfef971d36",
    ),
    (
        "pg/0001_init.sql",
        "926820b9bc842695a92c5472214f68786a999566b2dcbbb9075a14aa7d44cf71",
    ),
];

fn sql_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            sql_files(&entry.path(), &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".sql") {
            out.push(format!("{prefix}{name}"));
        }
    }
}

#[test]
fn released_migrations_are_never_edited() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/migrations");
    let mut found = Vec::new();
    sql_files(&dir, "", &mut found);
    found.sort();
    let mut pinned: Vec<String> = RELEASED.iter().map(|(f, _)| f.to_string()).collect();
    pinned.sort();
    assert_eq!(
        found, pinned,
        "every migration file is pinned here, and only those"
    );
    for (file, want) in RELEASED {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let got = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            &got, want,
            "{file} changed after release: add a new numbered migration instead"
        );
    }
}
