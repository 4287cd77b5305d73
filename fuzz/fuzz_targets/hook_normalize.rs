//! Hook payloads of every agent: parse, normalize, peek, bound, answer. Nothing may panic.
#![no_main]

use flightlog_recorder::hook::{self, Agent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_777_000_000, 0).unwrap_or_default();
    let _ = hook::peek_event_name(data);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for agent in [Agent::ClaudeCode, Agent::Codex, Agent::Gemini, Agent::Cursor] {
        if let Some(n) = hook::normalize(agent, &v, now) {
            let _ = hook::is_pre_event(agent, &n.hook_event);
            let _ = hook::answer(agent, &n.hook_event, None);
            let _ = hook::failure_answer(agent, &n.hook_event, true, "fuzz");
        }
    }
});
