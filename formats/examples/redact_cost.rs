//! Where an append's time goes: redaction, canonical encoding, cloning (per event).
use chrono::{TimeZone, Utc};
use flightlog_formats::synth::{Rng, event};
use std::time::Instant;
fn main() {
    let Some(start) = Utc.with_ymd_and_hms(2026, 4, 25, 21, 0, 0).single() else {
        return;
    };
    let mut rng = Rng::new(1);
    let evs: Vec<_> = (0..50_000)
        .map(|i| event(&mut rng, i, 50_000, start))
        .collect();
    let red = flightlog_formats::Redactor::new([1; 32]);
    let t = Instant::now();
    let mut n = 0;
    for e in &evs {
        let mut d = e.data.clone();
        n += red.redact_value(&mut d).len();
    }
    println!(
        "redact: {:.2} us/event ({n} found)",
        t.elapsed().as_secs_f64() * 1e6 / 50_000.0
    );
    let t = Instant::now();
    let mut bytes = 0;
    for e in &evs {
        bytes += flightlog_formats::canonical::value_bytes(&e.data).len();
    }
    println!(
        "canonical: {:.2} us/event, avg {} bytes",
        t.elapsed().as_secs_f64() * 1e6 / 50_000.0,
        bytes / 50_000
    );
}
