//! Builds a synthetic session of N events at PATH in which every K-th event is a destructive
//! API call (so the session has about N/K findings), for timing the exports on it:
//!
//! ```text
//! cargo run --release -p flightlog-interop --example export_big -- /tmp/big.db 300000 30
//! FLIGHTLOG_DB=/tmp/big.db target/release/flightlog export latest --format csv -o /tmp/x.csv
//! ```
use chrono::{TimeZone, Utc};
use flightlog_formats::store::SessionMeta;
use flightlog_formats::synth::{Rng, event};
use flightlog_formats::{Redactor, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp/big.db".into()));
    let n: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(300_000);
    let every: u64 = args
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .max(1);
    if path.exists() {
        return Err(format!("{} exists", path.display()).into());
    }
    let store = Store::open(&path)?;
    let start = Utc
        .with_ymd_and_hms(2026, 4, 25, 21, 0, 0)
        .single()
        .ok_or("bad start time")?;
    let id = store.create_session(&SessionMeta::default(), start)?;
    let red = Redactor::new([5; 32]);
    let mut rng = Rng::new(1);
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + 1000).min(n))
            .map(|k| {
                // The generator puts its destructive call at index total/2 - 1.
                let total = if k % every == every - 1 {
                    2 * (k + 1)
                } else {
                    n
                };
                event(&mut rng, k, total, start)
            })
            .collect();
        i += batch.len() as u64;
        store.append_batch(&id, batch, &red)?;
    }
    println!("{id}: {n} events, a destructive call every {every}");
    Ok(())
}
