//! What each fuzz target checks, as a plain function of the input bytes. A check panics when a
//! property breaks (and so does the code under test, when it panics on bad input).
//!
//! Two harnesses run them: libFuzzer through `fuzz/fuzz_targets/*.rs` (coverage-guided, needs a
//! nightly toolchain and cargo-fuzz: `scripts/fuzz.sh`), and the bounded stable harness in
//! `tests/bounded.rs`, which `.ci/run` runs: every committed corpus input of a target, then
//! inputs generated from them for a time budget.

use flightlog_analysis::policy::{Policy, line_col};
use flightlog_analysis::{catalogue, decode, shell};
use flightlog_formats::verify::{Trust, verify_jsonl};
use flightlog_formats::{Redaction, Redactor};
use flightlog_interop::import::{asciicast, claude_code, codex, jsonl};
use flightlog_recorder::hook::{self, Agent};

/// A target: its name (the corpus directory under `fuzz/corpus/`) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order the harnesses run them.
pub const TARGETS: &[Target] = &[
    ("decode", decode),
    ("hook_normalize", hook_normalize),
    ("import", import),
    ("policy", policy),
    ("redact", redact),
    ("known", known),
    ("verify_jsonl", verify_jsonl_check),
    ("sanitize", sanitize),
    ("http_reader", http_reader),
];

/// Shell splitting, argv/HTTP/GraphQL/SQL decoding and the catalogue: never panic.
pub fn decode(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let cmds = shell::split(&s);
    for c in &cmds {
        let _ = c.program();
    }
    let argv: Vec<String> = s.split_whitespace().map(str::to_string).collect();
    let _ = shell::from_argv(&argv);
    let _ = decode::decode_argv(&argv);
    let _ = catalogue::match_command(&argv);
    let _ = catalogue::match_sql(&s);
    let _ = decode::graphql_from_body(&s, "application/json");
    let _ = decode::parse_graphql(&s, None, serde_json::Value::Null);
    let _ = decode::percent_decode(&s);
    let _ = decode::strip_credentials(&s);
    if let Some(u) = decode::Url::parse(&s) {
        let _ = u.without_password();
    }
    let _ = decode::decode_http("POST", &s, &[], data);
}

/// Hook payloads of every agent: parse, normalize, peek, answer. Nothing may panic.
pub fn hook_normalize(data: &[u8]) {
    let now = chrono::DateTime::from_timestamp(1_777_000_000, 0).unwrap_or_default();
    let _ = hook::peek_event_name(data);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for agent in [
        Agent::ClaudeCode,
        Agent::Codex,
        Agent::Gemini,
        Agent::Cursor,
    ] {
        if let Some(n) = hook::normalize(agent, &v, now) {
            let _ = hook::is_pre_event(agent, &n.hook_event);
            let _ = hook::answer(agent, &n.hook_event, None);
            let _ = hook::failure_answer(agent, &n.hook_event, true, "fuzz");
        }
    }
}

/// Transcript imports (Claude Code, Codex, asciicast) and jsonl key extraction: never panic.
pub fn import(data: &[u8]) {
    let start = chrono::DateTime::from_timestamp(1_777_000_000, 0).unwrap_or_default();
    let main = claude_code::Input {
        name: "fuzz.jsonl".into(),
        bytes: data.to_vec(),
    };
    let _ = claude_code::parse(&main, &[]);
    let _ = codex::parse("rollout-fuzz.jsonl", data);
    let _ = asciicast::parse("fuzz.cast", data, start);
    let _ = jsonl::signing_keys(data);
}

/// Policy files: parsing and checking never panic; a line/column is always inside the text.
pub fn policy(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Policy::from_toml_str(s);
    let _ = Policy::check_str(s);
    let (line, _) = line_col(s, s.len());
    assert!(line >= 1 && line <= s.lines().count().max(1) + 1);
}

/// Redaction never panics, is idempotent, and leaves no text it found in place.
pub fn redact(data: &[u8]) {
    let r = Redactor::new([9; 32]);
    let text = String::from_utf8_lossy(data);
    let (found, _, reds) = redact_str_checked(&r, &text);
    assert!(found == 0 || !reds.is_empty());
    if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(data) {
        r.redact_value(&mut v);
        let mut w = v.clone();
        assert!(
            r.redact_value(&mut w).is_empty(),
            "redact_value not idempotent"
        );
        assert_eq!(v, w);
    }
}

/// The known-value matcher. The input's first line holds values (tab-separated), the rest is a
/// text. Each value is learned, in memory by one redactor and through the `known` file only by
/// another (a hook's view); both must leave no learned value in the text, nor its percent-encoded
/// (every byte, lowercase hex), `\uXXXX`-escaped or base64 (behind one byte, URL-safe) forms
/// appended to it, outside a marker; and redacting twice changes nothing.
pub fn known(data: &[u8]) {
    use base64::Engine;
    let s = String::from_utf8_lossy(data);
    let (head, text) = s.split_once('\n').unwrap_or((&s, ""));
    let values: Vec<&str> = head.split('\t').take(16).collect();
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let key = [11; 32];
    let mem = Redactor::with_known_file(key, dir.path());
    let mut learned = Vec::new();
    for v in &values {
        mem.learn(v, "password");
        if flightlog_formats::redact::known::worth_learning(v) {
            learned.push(*v);
        }
    }
    let file = Redactor::with_known_file(key, dir.path());
    let mut text = text.to_string();
    let mut encoded = Vec::new();
    for v in &learned {
        let pct: String = v.bytes().map(|c| format!("%{c:02x}")).collect();
        let uesc: String = v
            .chars()
            .map(|c| match c as u32 {
                u if u < 0x10000 => format!("\\u{u:04x}"),
                _ => c.to_string(),
            })
            .collect();
        let b = v.as_bytes();
        let core = &b[2..2 + (b.len() - 2) / 3 * 3];
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let blob = b64.encode([b"x".as_slice(), b].concat());
        text.push_str(&format!(" {pct} {uesc} {blob}"));
        encoded.extend([pct, uesc, b64.encode(core)]);
    }
    for r in [&mem, &file] {
        let (_, once, _) = redact_str_checked(r, &text);
        let markers = marker_ranges(&once);
        for v in learned
            .iter()
            .copied()
            .chain(encoded.iter().map(String::as_str))
        {
            for (at, _) in once.match_indices(v) {
                assert!(
                    markers.iter().any(|&(a, b)| at < b && a < at + v.len()),
                    "{v:?} left in {once:?}"
                );
            }
        }
    }
}

/// What holds for any redactor on any text: each match it scans is a non-empty range on char
/// boundaries, and redacting the redacted text changes nothing. Returns the number of matches,
/// and the text redacted once with its redactions.
fn redact_str_checked(r: &Redactor, text: &str) -> (usize, String, Vec<Redaction>) {
    let found = r.scan(text);
    for m in &found {
        assert!(m.start < m.end && m.end <= text.len(), "match out of range");
        assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
    }
    let (once, reds) = r.redact_str(text);
    let (twice, more) = r.redact_str(&once);
    assert_eq!(once, twice, "redaction is not idempotent on {text:?}");
    assert!(more.is_empty());
    (found.len(), once, reds)
}

/// The byte ranges of the markers in a redacted text.
fn marker_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("[REDACTED:") {
        let start = from + at;
        let end = text[start..]
            .find(']')
            .map_or(text.len(), |e| start + e + 1);
        out.push((start, end));
        from = end;
    }
    out
}

/// A jsonl export from anywhere: verification reports problems, it never panics.
pub fn verify_jsonl_check(data: &[u8]) {
    let _ = verify_jsonl(data, &Trust::default());
}

/// The one sanitizer: whatever the agent wrote, what comes out holds no control character, no
/// escape, no C1 control and no invisible character (one-line forms hold no newline either).
pub fn sanitize(data: &[u8]) {
    use flightlog_formats::text;
    let s = String::from_utf8_lossy(data);
    let unsafe_char = |c: char| {
        ((c as u32) < 0x20 && c != '\n')
            || c == '\x7f'
            || ('\u{80}'..='\u{9f}').contains(&c)
            || text::is_invisible(c)
    };
    for (name, out) in [
        ("line", text::line(&s)),
        ("one_line", text::one_line(&s, 80)),
        ("strip_ansi+line", text::line(&text::strip_ansi(&s))),
    ] {
        assert!(
            !out.chars().any(|c| unsafe_char(c) || c == '\n'),
            "{name}: {out:?}"
        );
    }
    for (name, out) in [("text", text::text(&s)), ("bytes", text::bytes(data))] {
        assert!(!out.chars().any(unsafe_char), "{name}: {out:?}");
    }
    assert!(text::one_line(&s, 80).chars().count() <= 80 * 12 + 1);
}

/// The HTTP/1.1 reader the proxy and its stand-ins share: never panic and never keep more than
/// asked, on any bytes a client or server may send (requests one after another on a connection,
/// a response and its body as the proxy passes it on, a chunk-size line).
pub fn http_reader(data: &[u8]) {
    use flightlog_http::{
        Body, read_chunked, read_request_body, read_request_head, read_response_head,
    };
    use std::io::{BufReader, Read};
    let mut r = BufReader::new(data);
    for _ in 0..8 {
        match read_request_head(&mut r) {
            Ok(Some(head)) => match read_request_body(&mut r, &head, 4096) {
                Ok(body) => assert!(body.len() <= 4096, "a body over the limit was kept"),
                Err(_) => break,
            },
            _ => break,
        }
    }
    let mut r = BufReader::new(data);
    if let Ok(Some(head)) = read_response_head(&mut r)
        && let Ok(body) = head.response_body("GET")
    {
        let (mut kept, mut raw) = (Vec::new(), Vec::new());
        match body {
            Body::Chunked => {
                let _ = read_chunked(&mut r, &mut kept, &mut raw, 4097, false);
                assert!(kept.len() <= 4097, "more than the excerpt was kept");
                assert!(
                    raw.len() <= data.len(),
                    "more bytes passed on than were read"
                );
            }
            Body::Length(n) => {
                let _ = (&mut r).take(n).read_to_end(&mut raw);
            }
            Body::UntilClose | Body::None => {}
        }
    }
    let _ = flightlog_http::chunk_size(data);
}
