//! libFuzzer entry for the `known` check (the property is in fuzz/checks/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flightlog_fuzz_checks::known(data));
