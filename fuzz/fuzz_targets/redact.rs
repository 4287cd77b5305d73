//! Redaction never panics, is idempotent, and leaves no text it found in place.
#![no_main]

use flightlog_formats::Redactor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = Redactor::new([9; 32]);
    let text = String::from_utf8_lossy(data);
    let found = r.scan(&text);
    for m in &found {
        assert!(m.start < m.end && m.end <= text.len(), "match out of range");
        assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
    }
    let (once, reds) = r.redact_str(&text);
    let (twice, more) = r.redact_str(&once);
    assert_eq!(once, twice, "redaction is not idempotent on {text:?}");
    assert!(more.is_empty());
    assert!(found.is_empty() || !reds.is_empty());
    if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(data) {
        r.redact_value(&mut v);
        let mut w = v.clone();
        assert!(r.redact_value(&mut w).is_empty(), "redact_value not idempotent");
        assert_eq!(v, w);
    }
});
