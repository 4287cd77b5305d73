//! A jsonl export from anywhere: verification reports problems, it never panics.
#![no_main]

use flightlog_formats::verify::{Trust, verify_jsonl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = verify_jsonl(data, &Trust::default());
});
