//! Store benchmarks: appends (batched and durable one-by-one), verify throughput, and the
//! side-by-side anchors (a plain SQLite insert loop on the same disk, `sha256sum` over the same
//! bytes). Prints a table; run with `cargo bench -p flightlog-formats --bench store`.
//! `FLIGHTLOG_BENCH_EVENTS` sets the size of the verify session (default 1,000,000),
//! `FLIGHTLOG_BENCH_APPEND_EVENTS` the events of each batched append run (default 200,000),
//! `FLIGHTLOG_BENCH_PARTS` which parts run (a comma list of `append` (one call per batch, and
//! the same batches streamed through `Store::append_batches`), `single`, `plain`, `verify`;
//! default all), and `FLIGHTLOG_BENCH_VERIFY_DB` a store file that the verify part
//! reuses when it exists and builds there when it does not (so two builds of verify can be
//! timed, or profiled, on the same file); `FLIGHTLOG_BENCH_NO_ANCHOR=1` leaves the
//! `sha256sum` anchor out (a profile of verify alone).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use flightlog_formats::store::SessionMeta;
use flightlog_formats::synth::{Rng, event};
use flightlog_formats::verify::{StoreVerifyOptions, verify_store};
use flightlog_formats::{NewEvent, Redactor, Store};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn events(n: u64, seed: u64) -> Vec<NewEvent> {
    let start = Utc
        .with_ymd_and_hms(2026, 4, 25, 21, 0, 0)
        .single()
        .expect("valid time");
    let mut rng = Rng::new(seed);
    (0..n).map(|i| event(&mut rng, i, n, start)).collect()
}

/// A new store at `path` with one empty session in it, and the session's id.
fn store_with_session(path: &Path) -> (Store, String) {
    let store = Store::open(path).expect("store");
    let id = store
        .create_session(&SessionMeta::default(), Utc::now())
        .expect("session");
    (store, id)
}

fn row(out: &mut Vec<String>, what: &str, value: String, anchor: &str) {
    println!("| {what} | {value} | {anchor} |");
    out.push(format!("| {what} | {value} | {anchor} |"));
}

fn main() {
    let n_verify: u64 = std::env::var("FLIGHTLOG_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir =
        tempfile::tempdir_in(std::env::var("FLIGHTLOG_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .expect("temp dir");
    let n_append: u64 = std::env::var("FLIGHTLOG_BENCH_APPEND_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let parts = std::env::var("FLIGHTLOG_BENCH_PARTS").unwrap_or_default();
    let run = |part: &str| parts.is_empty() || parts.split(',').any(|p| p.trim() == part);
    let red = Redactor::new([5u8; 32]);
    let mut table = Vec::new();
    println!("| what | result | anchor |\n|---|---|---|");

    // 1. Batched appends (group commit), durable (WAL, synchronous=FULL), with redaction.
    for batch in [100usize, 1000] {
        if !run("append") {
            break;
        }
        let (store, id) = store_with_session(&dir.path().join(format!("batch{batch}.db")));
        let evs = events(n_append, 1);
        let t = Instant::now();
        let mut it = evs.into_iter().peekable();
        while it.peek().is_some() {
            let chunk: Vec<NewEvent> = it.by_ref().take(batch).collect();
            store.append_batch(&id, chunk, &red).expect("append");
        }
        let rate = n_append as f64 / t.elapsed().as_secs_f64();
        row(
            &mut table,
            &format!("append, batches of {batch} (redacted, durable)"),
            format!("{:.0} events/s", rate),
            "target >= 150k/s; plain SQLite 156k (100) / 286k (1,000)",
        );
    }

    // 1b. The same batches of 1,000 as one stream (`Store::append_batches`): each batch is
    // still its own durable commit, acknowledged after it, and the next one is redacted and
    // encoded while it is inserted and committed.
    if run("append") {
        let (store, id) = store_with_session(&dir.path().join("stream.db"));
        let evs = events(n_append, 1);
        let t = Instant::now();
        let mut it = evs.into_iter().peekable();
        let batches = std::iter::from_fn(move || {
            it.peek()?;
            Some(it.by_ref().take(1000).collect::<Vec<NewEvent>>())
        });
        let mut acked = 0u64;
        store
            .append_batches(&id, batches, &red, |out| {
                acked += out.len() as u64;
                Ok(())
            })
            .expect("append");
        assert_eq!(acked, n_append);
        let rate = n_append as f64 / t.elapsed().as_secs_f64();
        row(
            &mut table,
            "append stream, batches of 1000 (redacted, durable, each acknowledged after its commit)",
            format!("{:.0} events/s", rate),
            "target >= 150k/s",
        );
    }

    // 2. Durable single appends: one commit per event.
    if run("single") {
        let (store, id) = store_with_session(&dir.path().join("single.db"));
        let evs = events(3_000, 2);
        let mut lat = Vec::with_capacity(evs.len());
        let t = Instant::now();
        for e in evs {
            let s = Instant::now();
            store.append(&id, e, &red).expect("append");
            lat.push(s.elapsed());
        }
        let rate = 3_000.0 / t.elapsed().as_secs_f64();
        let p50 = pct(&mut lat, 0.5);
        let p99 = pct(&mut lat, 0.99);
        row(
            &mut table,
            "durable single append",
            format!(
                "{rate:.0} events/s, p50 {:.0} us, p99 {:.0} us",
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6
            ),
            "SQLite one commit per event: 5.7k/s",
        );
    }

    // 3. Plain SQLite insert loop on the same disk, same row sizes, batches of 1,000.
    if run("plain") {
        let conn = rusqlite::Connection::open(dir.path().join("plain.db")).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (a INTEGER, b BLOB);",
        )
        .expect("schema");
        let rows: Vec<Vec<u8>> = events(200_000, 3)
            .into_iter()
            .map(|e| e.data.to_string().into_bytes())
            .collect();
        let t = Instant::now();
        for chunk in rows.chunks(1000) {
            let tx = conn.unchecked_transaction().expect("tx");
            {
                let mut st = tx
                    .prepare_cached("INSERT INTO t (a, b) VALUES (?1, ?2)")
                    .expect("prep");
                for (i, r) in chunk.iter().enumerate() {
                    st.execute(rusqlite::params![i as i64, r]).expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
        row(
            &mut table,
            "plain SQLite insert loop, batches of 1,000 (anchor)",
            format!("{:.0} rows/s", 200_000.0 / t.elapsed().as_secs_f64()),
            "same disk, same row sizes",
        );
    }

    // 4. Verify a large session, and sha256sum over the same bytes.
    if run("verify") {
        let path = std::env::var("FLIGHTLOG_BENCH_VERIFY_DB")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| dir.path().join("big.db"));
        let reuse = path.exists();
        let store = Store::open(&path).expect("store");
        let id = match store.session_ids().expect("sessions").first() {
            Some(s) if reuse => s.clone(),
            _ => store
                .create_session(&SessionMeta::default(), Utc::now())
                .expect("session"),
        };
        let mut rng_seed = 10;
        let mut left = if reuse { 0 } else { n_verify };
        while left > 0 {
            let n = left.min(50_000);
            let mut chunk = events(n, rng_seed);
            rng_seed += 1;
            while !chunk.is_empty() {
                let rest = chunk.split_off(chunk.len().min(1000));
                store.append_batch(&id, chunk, &red).expect("append");
                chunk = rest;
            }
            left -= n;
        }
        let ro = Store::open_read_only(&path).expect("ro");
        let t = Instant::now();
        let r = verify_store(&ro, &StoreVerifyOptions::default()).expect("verify");
        let secs = t.elapsed().as_secs_f64();
        assert!(r.intact);
        if std::env::var_os("FLIGHTLOG_BENCH_NO_ANCHOR").is_some() {
            row(
                &mut table,
                &format!("verify {} events", r.events_checked),
                format!(
                    "{:.2} M events/s ({secs:.2} s)",
                    r.events_checked as f64 / secs / 1e6
                ),
                "target >= 2M/s",
            );
        } else {
            // The same bytes as a jsonl export, through sha256sum.
            let export = dir.path().join("big.jsonl");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&export).expect("create"));
            let mut bytes = 0u64;
            ro.for_each_event(&id, |e| {
                bytes += e.raw.len() as u64;
                f.write_all(&e.raw).expect("write");
                true
            })
            .expect("read");
            f.flush().expect("flush");
            drop(f);
            let t2 = Instant::now();
            let ok = std::process::Command::new("sha256sum")
                .arg(&export)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            let sha_secs = t2.elapsed().as_secs_f64();
            row(
                &mut table,
                &format!(
                    "verify {} events ({:.0} MB)",
                    r.events_checked,
                    bytes as f64 / 1e6
                ),
                format!(
                    "{:.2} M events/s ({secs:.2} s)",
                    r.events_checked as f64 / secs / 1e6
                ),
                "target >= 2M/s",
            );
            if ok {
                row(
                    &mut table,
                    "sha256sum over the same bytes (anchor)",
                    format!("{sha_secs:.2} s; verify is {:.2}x", secs / sha_secs),
                    "target: verify within 2x",
                );
            }
        }
    }
    if let Ok(p) = std::env::var("FLIGHTLOG_BENCH_TABLE") {
        let _ = std::fs::write(p, table.join("\n") + "\n");
    }
}
