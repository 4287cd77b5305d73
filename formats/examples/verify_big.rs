//! Builds a synthetic session of N events at PATH (once), then times `verify_store` on it.
//! `cargo run --release -p flightlog-formats --example verify_big -- /tmp/big.db 1000000`
use chrono::{TimeZone, Utc};
use flightlog_formats::store::SessionMeta;
use flightlog_formats::synth::{Rng, event};
use flightlog_formats::verify::{StoreVerifyOptions, verify_store};
use flightlog_formats::{Redactor, Store};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp/big.db".into()));
    let n: u64 = args
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if !path.exists() {
        let store = Store::open(&path).expect("store");
        let id = store
            .create_session(&SessionMeta::default(), Utc::now())
            .expect("session");
        let red = Redactor::new([5; 32]);
        let Some(start) = Utc.with_ymd_and_hms(2026, 4, 25, 21, 0, 0).single() else {
            return;
        };
        let mut rng = Rng::new(1);
        let mut i = 0;
        while i < n {
            let batch: Vec<_> = (i..(i + 1000).min(n))
                .map(|k| event(&mut rng, k, n, start))
                .collect();
            i += batch.len() as u64;
            store.append_batch(&id, batch, &red).expect("append");
        }
    }
    let ro = Store::open_read_only(&path).expect("ro");
    let t = Instant::now();
    let r = verify_store(&ro, &StoreVerifyOptions::default()).expect("verify");
    let s = t.elapsed().as_secs_f64();
    println!(
        "verified {} events in {s:.2} s: {:.2} M/s, intact {}",
        r.events_checked,
        r.events_checked as f64 / s / 1e6,
        r.intact
    );
}
