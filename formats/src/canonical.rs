//! Canonical bytes: the exact bytes that are stored, hashed and exported.
//!
//! The encoding is compact JSON (no insignificant whitespace), UTF-8, with:
//! - the top-level fields of [`crate::Event`] in their declared order
//!   (`v, session, seq, ts, kind, source, env, [redactions], data`);
//! - every object inside `data` (and `redactions`) with its keys sorted by their UTF-8 bytes;
//! - strings escaped as `serde_json` escapes them (`"`, `\\`, and control characters; non-ASCII
//!   kept as UTF-8); numbers as `serde_json` prints them.
//!
//! Verifiers never re-encode: they hash the stored bytes. This module only decides what bytes a
//! *new* event gets. Golden tests pin the result.

use serde_json::Value;

use crate::event::Event;

/// Encodes an event into its canonical bytes.
pub fn to_bytes(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"v\":");
    out.extend_from_slice(event.v.to_string().as_bytes());
    out.extend_from_slice(b",\"session\":");
    write_str(&mut out, &event.session);
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(event.seq.to_string().as_bytes());
    out.extend_from_slice(b",\"ts\":");
    write_str(&mut out, &event.ts);
    out.extend_from_slice(b",\"kind\":");
    write_str(&mut out, event.kind.as_str());
    out.extend_from_slice(b",\"source\":");
    write_str(&mut out, &event.source);
    out.extend_from_slice(b",\"env\":");
    match &event.env {
        Some(e) => write_str(&mut out, e),
        None => out.extend_from_slice(b"null"),
    }
    if !event.redactions.is_empty() {
        out.extend_from_slice(b",\"redactions\":[");
        for (i, r) in event.redactions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"fp\":");
            write_str(&mut out, &r.fp);
            out.extend_from_slice(b",\"kind\":");
            write_str(&mut out, &r.kind);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"data\":");
    write_value(&mut out, &event.data);
    out.push(b'}');
    out
}

/// Writes any JSON value with sorted object keys.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                if let Some(val) = map.get(k) {
                    write_value(out, val);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        // Scalars: serde_json's own compact form. Writing into a Vec cannot fail.
        other => {
            if serde_json::to_writer(&mut *out, other).is_err() {
                out.extend_from_slice(b"null");
            }
        }
    }
}

/// Canonical bytes of any JSON value (sorted keys, compact).
pub fn value_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// The fixed header of canonical event bytes, read without parsing the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The session id's bytes as they stand between the quotes (no escapes in them).
    pub session: &'a [u8],
    pub seq: u64,
    /// The kind's bytes as they stand between the quotes (no escapes in them).
    pub kind: &'a [u8],
}

/// Reads `session`, `seq` and `kind` from the fixed header of canonical event bytes:
/// `{"v":N,"session":"…","seq":N,"ts":"…","kind":"…",`. None if the bytes do not start that
/// way (or use escapes there); the caller then parses the event in full. Only the header is
/// read: bytes that start like an event may still not be one.
pub fn fast_header(raw: &[u8]) -> Option<Header<'_>> {
    fn digits(b: &[u8]) -> Option<(u64, &[u8])> {
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 19 {
            return None;
        }
        let v = std::str::from_utf8(&b[..n]).ok()?.parse().ok()?;
        Some((v, &b[n..]))
    }
    fn string(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let end = b.iter().position(|c| *c == b'"' || *c == b'\\')?;
        (b[end] == b'"').then(|| (&b[..end], &b[end + 1..]))
    }
    let rest = raw.strip_prefix(b"{\"v\":")?;
    let (_, rest) = digits(rest)?;
    let rest = rest.strip_prefix(b",\"session\":\"")?;
    let (session, rest) = string(rest)?;
    let rest = rest.strip_prefix(b",\"seq\":")?;
    let (seq, rest) = digits(rest)?;
    let rest = rest.strip_prefix(b",\"ts\":\"")?;
    let (_, rest) = string(rest)?;
    let rest = rest.strip_prefix(b",\"kind\":\"")?;
    let (kind, _) = string(rest)?;
    Some(Header { session, seq, kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Kind, Redaction};
    use serde_json::json;

    fn sample() -> Event {
        Event {
            v: 1,
            session: "s1".into(),
            seq: 3,
            ts: "2026-04-25T10:00:08.900000Z".into(),
            kind: Kind::ApiCall,
            source: "proxy".into(),
            env: Some("production".into()),
            redactions: vec![Redaction {
                fp: "00112233aabbccdd".into(),
                kind: "railway-token".into(),
            }],
            data: json!({"url":"https://x/graphql/v2","method":"POST","a":{"z":1,"b":[true,null,"é\n"]}}),
        }
    }

    #[test]
    fn golden_bytes() {
        let got = String::from_utf8(to_bytes(&sample())).unwrap();
        assert_eq!(
            got,
            r#"{"v":1,"session":"s1","seq":3,"ts":"2026-04-25T10:00:08.900000Z","kind":"api_call","source":"proxy","env":"production","redactions":[{"fp":"00112233aabbccdd","kind":"railway-token"}],"data":{"a":{"b":[true,null,"é\n"],"z":1},"method":"POST","url":"https://x/graphql/v2"}}"#
        );
    }

    #[test]
    fn golden_hash() {
        let h = crate::chain::link_hash(&[0u8; 32], &to_bytes(&sample()));
        assert_eq!(
            hex::encode(h),
            "e50397b164c031638d270c17bed7a39f1751b35109ea591ab2256a13f490ab05"
        );
    }

    #[test]
    fn round_trip_is_stable() {
        let e = sample();
        let bytes = to_bytes(&e);
        let back = Event::from_bytes(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(to_bytes(&back), bytes);
    }

    #[test]
    fn fast_header_reads_canonical_bytes_only() {
        let bytes = to_bytes(&sample());
        assert_eq!(
            fast_header(&bytes),
            Some(Header {
                session: b"s1",
                seq: 3,
                kind: b"api_call"
            })
        );
        // Escapes, another key order, or not an event: the caller parses in full.
        let escaped = br#"{"v":1,"session":"s\u0031","seq":3,"ts":"t","kind":"note","#;
        assert_eq!(fast_header(escaped), None);
        let reordered = br#"{"session":"s1","v":1,"seq":3,"ts":"t","kind":"note","#;
        assert_eq!(fast_header(reordered), None);
        assert_eq!(fast_header(br#"{"v":1,"session":"s1","seq":-3,"#), None);
        assert_eq!(fast_header(b""), None);
    }

    #[test]
    fn no_redactions_field_when_empty() {
        let mut e = sample();
        e.redactions.clear();
        e.env = None;
        let s = String::from_utf8(to_bytes(&e)).unwrap();
        assert!(s.contains(r#""env":null,"data":"#));
        assert!(!s.contains("redactions"));
    }
}
