//! Cost of redacting one hook payload in a fresh process (includes lazy rule compilation).
use std::time::Instant;
fn main() {
    let p = std::env::args().nth(1).unwrap_or_default();
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&p) else {
        return;
    };
    let r = flightlog_formats::Redactor::new([1; 32]);
    let t = Instant::now();
    let n = r.redact_value(&mut v).len();
    let first = t.elapsed();
    let t = Instant::now();
    let _ = r.redact_value(&mut v);
    println!("first {first:?} ({n} found), second {:?}", t.elapsed());
}
