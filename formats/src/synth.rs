//! Synthetic sessions of realistic shape and size, for benchmarks and load tests.
//!
//! Deterministic: the same seed gives the same events. The mix follows what a recorded agent
//! session looks like: mostly terminal output and execs, some tool calls and results, file
//! changes with diffs, API calls, and a boundary-crossing destructive call near the end.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::event::{Kind, NewEvent};
use crate::store::SessionMeta;

/// A small, fast, seeded generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "cargo",
    "test",
    "build",
    "src",
    "lib",
    "main",
    "error",
    "warning",
    "compiling",
    "finished",
    "node",
    "npm",
    "install",
    "deploy",
    "staging",
    "config",
    "database",
    "migration",
    "user",
    "request",
    "response",
    "status",
    "ok",
    "failed",
    "retry",
    "token",
    "service",
    "volume",
];

fn words(rng: &mut Rng, n: usize) -> String {
    let mut s = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            s.push(if rng.below(12) == 0 { '\n' } else { ' ' });
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s
}

/// The `i`-th synthetic event of a session of `total` events starting at `start`.
pub fn event(rng: &mut Rng, i: u64, total: u64, start: DateTime<Utc>) -> NewEvent {
    let ts = start + Duration::milliseconds((i * 37) as i64);
    let pid = 1000 + rng.below(30_000);
    let (kind, source, data): (Kind, &str, Value) = if i + 1 == total / 2 {
        (
            Kind::ApiCall,
            "proxy",
            json!({"method": "POST", "url": "https://backboard.railway.app/graphql/v2",
                   "host": "backboard.railway.app", "path": "/graphql/v2", "status": 200,
                   "request_headers": {"content-type": "application/json"},
                   "request_body": "{\"query\":\"mutation { volumeDelete(volumeId: \\\"3d2c42fb-prod\\\") }\"}",
                   "graphql": {"operation_type": "mutation", "root_fields": ["volumeDelete"], "variables": {}}}),
        )
    } else {
        match rng.below(20) {
            0..=7 => {
                let n = 30 + rng.below(100) as usize;
                (
                    Kind::Terminal,
                    "pty",
                    json!({"stream": "o", "data": words(rng, n), "t_ms": i * 37}),
                )
            }
            8..=12 => (
                Kind::Exec,
                "ptrace",
                json!({"argv": ["cargo", "test", "-p", WORDS[rng.below(28) as usize]], "cwd": "/work/app",
                       "pid": pid, "ppid": pid - 1, "exe": "/usr/bin/cargo", "exit": null}),
            ),
            13..=14 => (
                Kind::ToolCall,
                "hook:claude-code",
                json!({"agent": "claude-code", "tool": "Bash", "call_id": format!("toolu_{i:012}"),
                       "command": format!("npm run {}", WORDS[rng.below(28) as usize]),
                       "input": {"command": "npm run build", "description": words(rng, 8)}}),
            ),
            15..=16 => (
                Kind::ToolResult,
                "hook:claude-code",
                json!({"agent": "claude-code", "tool": "Bash", "call_id": format!("toolu_{:012}", i.saturating_sub(1)),
                       "output": {"stdout": words(rng, 80), "stderr": ""}, "is_error": rng.below(10) == 0}),
            ),
            17 => (
                Kind::FileChange,
                "watch",
                json!({"path": format!("src/{}.rs", WORDS[rng.below(28) as usize]), "op": "modify",
                       "diff": format!("@@ -1,3 +1,3 @@\n-{}\n+{}\n", words(rng, 10), words(rng, 10)),
                       "binary": false, "size": 1200}),
            ),
            18 => (
                Kind::ApiCall,
                "proxy",
                json!({"method": "GET", "url": "https://registry.npmjs.org/left-pad", "host": "registry.npmjs.org",
                       "path": "/left-pad", "status": 200, "request_headers": {}, "response_body": words(rng, 20)}),
            ),
            _ => (
                Kind::Message,
                "hook:claude-code",
                json!({"role": "assistant", "text": words(rng, 40)}),
            ),
        }
    };
    NewEvent::new(ts, kind, source, data)
}

/// The metadata of a synthetic session: Claude Code's, in staging, with the fixed `id`.
pub fn session_meta(id: &str, label: &str) -> SessionMeta {
    SessionMeta {
        id: Some(id.into()),
        label: Some(label.into()),
        agent: Some("claude-code".into()),
        home_env: Some("staging".into()),
        external_id: None,
    }
}

/// An asciicast v2 recording of `lines` output lines, a millisecond apart: import and export
/// work of a known size for the progress tests.
pub fn asciicast(lines: usize) -> String {
    let mut s =
        String::from("{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1777000000}\n");
    for i in 0..lines {
        s.push_str(&format!(
            "[{}.{:03}, \"o\", \"line {i} compiling ok\\r\\n\"]\n",
            i / 1000,
            i % 1000
        ));
    }
    s
}
