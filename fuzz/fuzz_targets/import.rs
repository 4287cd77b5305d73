//! Transcript import (Claude Code, Codex, asciicast) and jsonl key extraction: never panic.
#![no_main]

use flightlog_interop::import::{asciicast, claude_code, codex, jsonl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let start = chrono::DateTime::from_timestamp(1_777_000_000, 0).unwrap_or_default();
    let main = claude_code::Input {
        name: "fuzz.jsonl".into(),
        bytes: data.to_vec(),
    };
    let _ = claude_code::parse(&main, &[]);
    let _ = codex::parse("rollout-fuzz.jsonl", data);
    let _ = asciicast::parse("fuzz.cast", data, start);
    let _ = jsonl::signing_keys(data);
});
