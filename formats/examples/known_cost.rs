//! What the known-secrets file costs a hook process: loading `keys/known` and redacting a hook
//! payload with it, against a redactor that knows nothing. Run with
//! `cargo run --release -p flightlog-formats --example known_cost [SECRETS]`.
use std::time::Instant;

use flightlog_formats::Redactor;
use serde_json::json;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(330);
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let key = [7u8; 32];
    // A recorder learns `n` values (fake, random-looking) and writes their keyed hashes.
    let rec = Redactor::with_known_file(key, dir.path());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut values = Vec::new();
    for _ in 0..n {
        let mut v = String::from("Kx");
        for _ in 0..30 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(
                b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"[(x % 57) as usize]
                    as char,
            );
        }
        rec.learn(&v, "env-secret");
        values.push(v);
    }
    let file = std::fs::metadata(dir.path().join("known")).map_or(0, |m| m.len());
    // Learning the same values in memory (no file), then the first search (one build).
    let fresh = Redactor::new(key);
    let t = Instant::now();
    for v in &values {
        fresh.learn(v, "env-secret");
    }
    let _ = fresh.redact_str(&format!("backup_{}.txt", values[0]));
    println!(
        "learning {n} values and the first search: {:.3} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    for size in [2_000usize, 64_000] {
        let mut text = String::new();
        while text.len() < size {
            text.push_str("drwxr-xr-x  2 agent agent 4096 Apr 25 10:00 src/main.rs ok\n");
        }
        text.push_str(&format!("backup_{}.txt", values[n / 2]));
        let payload = json!({"hook_event_name": "PostToolUse", "tool_name": "Bash",
            "tool_input": {"command": "ls -la"}, "tool_response": {"stdout": text}});
        let runs = 200;
        let mut with = 0.0;
        let mut without = 0.0;
        let mut load = 0.0;
        let mut found = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let hook = Redactor::with_known_file(key, dir.path());
            load += t.elapsed().as_secs_f64();
            let mut v = payload.clone();
            let t = Instant::now();
            found += hook.redact_value(&mut v).len();
            with += t.elapsed().as_secs_f64();
            let plain = Redactor::new(key);
            let mut v = payload.clone();
            let t = Instant::now();
            let _ = plain.redact_value(&mut v);
            without += t.elapsed().as_secs_f64();
        }
        let ms = |s: f64| s * 1000.0 / runs as f64;
        println!(
            "{n} known values ({file} bytes of keys/known), payload {} bytes: load {:.3} ms, redact {:.3} ms (without the file {:.3} ms); found {}/{runs}",
            text.len(),
            ms(load),
            ms(with),
            ms(without),
            found
        );
    }
}
