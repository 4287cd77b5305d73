//! libFuzzer entry for the `http_reader` check (the property is in fuzz/checks/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flightlog_fuzz_checks::http_reader(data));
