//! The fuzz targets on a stable toolchain, bounded: each target replays every committed input of
//! its corpus (`fuzz/corpus/<target>/`), then checks inputs generated from them (byte flips,
//! inserted tokens, cuts, splices of two inputs) until its time budget is spent.
//!
//! `FUZZ_SECONDS` sets the budget per target (default 10); `FUZZ_SEED` the generator's seed
//! (default: fixed, so a failure reproduces; the seed is printed). A failing input is written to
//! `fuzz/artifacts/<target>/` and its path printed: copy it into the corpus when it is fixed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flightlog_fuzz_checks::TARGETS;

/// A small, fast, seedable generator (xorshift64*): the harness needs no crate for this.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that reach deeper into the parsers than random bytes do.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\n",
    b"\r\n",
    b"\x1b[",
    b"\x1b]",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"\0",
    b"%",
    b"%25",
    b"'",
    b"'\"'\"'",
    b"$(",
    b"`",
    b"|",
    b"&&",
    b";",
    b"<<'EOF'\n",
    b"\nEOF\n",
    b"-c",
    b"bash",
    b"sh -c",
    b"python3 -c",
    b"rm -rf /",
    b"curl -X POST",
    b"mutation { volumeDelete(volumeId: \"x\") }",
    b"DROP TABLE",
    b"null",
    b"true",
    b"9999999999999999999999",
    b"-1",
    b"\"prev\":",
    b"\"hash\":",
    b"\"event\":",
    b"ghp_",
    b"AKIA",
    b"Bearer ",
    b"Basic ",
    b"postgres://u:p@h/db",
    b"eyJ",
    b"=",
    b"[[",
    b"]]",
];

fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len() + 1);
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..i, t.iter().copied());
            }
            2 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + 1 + rng.below(16)).min(v.len());
                v.drain(a..b);
            }
            3 if !v.is_empty() => {
                v.truncate(rng.below(v.len()));
            }
            4 if !other.is_empty() => {
                let cut = rng.below(v.len() + 1);
                let from = rng.below(other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let b = rng.next() as u8;
                v.insert(i, b);
            }
        }
    }
    v.truncate(256 * 1024);
    v
}

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// The last panic's message and place, kept by the quiet panic hook.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Runs `check` on `input`; on a panic, keeps the input as an artifact and fails with its path
/// and the panic's message.
fn run_one(name: &str, check: fn(&[u8]), input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| check(input)).is_err() {
        let why = LAST_PANIC.lock().map(|s| s.clone()).unwrap_or_default();
        let _ = std::panic::take_hook();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../artifacts")
            .join(name);
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("crash-{:016x}", fnv(input)));
        let _ = std::fs::write(&path, input);
        panic!(
            "fuzz target {name}: {what} failed: {why}; input kept in {}",
            path.display()
        );
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn every_fuzz_target_holds_on_its_corpus_and_generated_inputs() {
    let budget = Duration::from_secs_f64(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10.0),
    );
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f11e_0f1a_0006_u64);
    // Quiet the default hook while panics are caught: the harness reports the input itself.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string();
        }
    }));
    let mut summary = Vec::new();
    for (name, check) in TARGETS {
        let seeds = corpus(name);
        for (path, bytes) in &seeds {
            run_one(
                name,
                *check,
                bytes,
                &format!("corpus input {}", path.display()),
            );
        }
        let mut rng = Rng(seed ^ fnv(name.as_bytes()) | 1);
        let started = Instant::now();
        let mut generated = 0u64;
        let empty: &[u8] = b"";
        while started.elapsed() < budget {
            let base = if seeds.is_empty() {
                empty
            } else {
                &seeds[rng.below(seeds.len())].1
            };
            let other = if seeds.is_empty() {
                empty
            } else {
                &seeds[rng.below(seeds.len())].1
            };
            let input = mutate(&mut rng, base, other);
            run_one(
                name,
                *check,
                &input,
                &format!("generated input #{generated} (seed {seed})"),
            );
            generated += 1;
        }
        summary.push(format!(
            "{name}: {} corpus + {generated} generated",
            seeds.len()
        ));
    }
    std::panic::set_hook(hook);
    println!(
        "fuzz (seed {seed}, {:?} per target):\n  {}",
        budget,
        summary.join("\n  ")
    );
}
