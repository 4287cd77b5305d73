//! Policy files: parsing and checking never panic; a line/column is always inside the text.
#![no_main]

use flightlog_analysis::policy::{Policy, line_col};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Policy::from_toml_str(s);
    let _ = Policy::check_str(s);
    let (line, _) = line_col(s, s.len());
    assert!(line >= 1 && line <= s.lines().count().max(1) + 1);
});
