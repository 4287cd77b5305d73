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

use crate::event::{Event, Kind, Redaction};

/// Encodes an event into its canonical bytes.
pub fn to_bytes(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_head(&mut out, event.v, &event.session, event.seq);
    write_tail(
        &mut out,
        &Tail {
            ts: &event.ts,
            kind: &event.kind,
            source: &event.source,
            env: event.env.as_deref(),
            redactions: &event.redactions,
            data: &event.data,
        },
    );
    out
}

/// The fields of an event that come after its seq in the canonical bytes.
pub(crate) struct Tail<'a> {
    pub(crate) ts: &'a str,
    pub(crate) kind: &'a Kind,
    pub(crate) source: &'a str,
    pub(crate) env: Option<&'a str>,
    pub(crate) redactions: &'a [Redaction],
    pub(crate) data: &'a Value,
}

/// Writes the canonical bytes of an event up to and including its seq:
/// `{"v":V,"session":"…","seq":N`. With [`write_tail`] after it, the bytes of [`to_bytes`]; the
/// store encodes the tail before it knows the seq (on another thread), and puts the two
/// together in order.
pub(crate) fn write_head(out: &mut Vec<u8>, v: u32, session: &str, seq: u64) {
    out.extend_from_slice(b"{\"v\":");
    write_u64(out, u64::from(v));
    out.extend_from_slice(b",\"session\":");
    write_str(out, session);
    out.extend_from_slice(b",\"seq\":");
    write_u64(out, seq);
}

/// Writes the canonical bytes of an event after its seq: `,"ts":…,"data":…}`.
pub(crate) fn write_tail(out: &mut Vec<u8>, t: &Tail<'_>) {
    out.extend_from_slice(b",\"ts\":");
    write_str(out, t.ts);
    out.extend_from_slice(b",\"kind\":");
    write_str(out, t.kind.as_str());
    out.extend_from_slice(b",\"source\":");
    write_str(out, t.source);
    out.extend_from_slice(b",\"env\":");
    match t.env {
        Some(e) => write_str(out, e),
        None => out.extend_from_slice(b"null"),
    }
    if !t.redactions.is_empty() {
        out.extend_from_slice(b",\"redactions\":[");
        for (i, r) in t.redactions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"fp\":");
            write_str(out, &r.fp);
            out.extend_from_slice(b",\"kind\":");
            write_str(out, &r.kind);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"data\":");
    write_value(out, t.data);
    out.push(b'}');
}

/// A number in decimal, as `serde_json` and `to_string` print it, without an allocation.
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Writes any JSON value with sorted object keys.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(map) => {
            // The entries sorted by key (`str` orders by its UTF-8 bytes), each with its value:
            // no lookup by key afterwards, and no allocation for the usual small object.
            const SMALL: usize = 16;
            static NULL: Value = Value::Null;
            let mut small = [("", &NULL); SMALL];
            let mut large = Vec::new();
            let entries: &mut [(&str, &Value)] = if map.len() <= SMALL {
                for (slot, (k, v)) in small.iter_mut().zip(map) {
                    *slot = (k.as_str(), v);
                }
                &mut small[..map.len()]
            } else {
                large.extend(map.iter().map(|(k, v)| (k.as_str(), v)));
                &mut large
            };
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, val);
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
        Value::String(text) => write_str(out, text),
        // Other scalars: serde_json's own compact form. Writing into a Vec cannot fail.
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

/// A JSON string exactly as `serde_json` writes it: `"` and `\\` escaped with a backslash,
/// the control characters below 0x20 as `\b \t \n \f \r` or `\u00xx` (lowercase hex), every
/// other character (DEL and non-ASCII included) as it is. Eight bytes are checked at a time
/// for one that needs an escape; most text has none.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Whether some byte of `w` is below 0x20, or is `"` or `\`.
    fn needs_escape(w: u64) -> bool {
        let zero = |x: u64| x.wrapping_sub(LO) & !x & HI != 0;
        (w.wrapping_sub(LO * 0x20) & !w & HI != 0) || zero(w ^ (LO * 0x22)) || zero(w ^ (LO * 0x5c))
    }
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut done = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(chunk) = b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            if !needs_escape(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(b.len());
        for (j, &c) in b.iter().enumerate().take(end).skip(i) {
            let esc: &[u8] = match c {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\t' => b"\\t",
                b'\r' => b"\\r",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(&b[done..j]);
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(c >> 4)]);
                    out.push(HEX[usize::from(c & 0xf)]);
                    done = j + 1;
                    continue;
                }
                _ => continue,
            };
            out.extend_from_slice(&b[done..j]);
            out.extend_from_slice(esc);
            done = j + 1;
        }
        i = end;
    }
    out.extend_from_slice(&b[done..]);
    out.push(b'"');
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
    fn object_keys_are_sorted_by_their_bytes_small_or_large() {
        for n in [0usize, 1, 15, 16, 17, 40] {
            let mut m = serde_json::Map::new();
            for i in (0..n).rev() {
                m.insert(format!("k{}", (i * 7919) % 1000), json!(i));
            }
            m.insert("é".into(), json!(1));
            m.insert("Z".into(), json!({"b": 1, "a": [2, {"d": 3, "c": 4}]}));
            let v = Value::Object(m.clone());
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let mut want = String::from("{");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    want.push(',');
                }
                let val = match k.as_str() {
                    "Z" => r#"{"a":[2,{"c":4,"d":3}],"b":1}"#.to_string(),
                    _ => m[k.as_str()].to_string(),
                };
                want.push_str(&format!("{}:{val}", serde_json::to_string(k).unwrap()));
            }
            want.push('}');
            assert_eq!(
                String::from_utf8(value_bytes(&v)).unwrap(),
                want,
                "{n} keys"
            );
        }
    }

    /// Strings are escaped exactly as `serde_json` escapes them: every character below 0x80
    /// and a few beyond, alone and at every position of an 8-byte word, and random mixes.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let check = |t: &str| {
            let mut out = Vec::new();
            write_str(&mut out, t);
            assert_eq!(out, serde_json::to_vec(t).unwrap(), "{t:?}");
        };
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(['é', '\u{2028}', '\u{feff}', '😀', '\u{7ff}']);
        for &c in &chars {
            for pad in 0..17 {
                let a = "a".repeat(pad);
                check(&format!("{a}{c}"));
                check(&format!("{a}{c}{a}"));
                check(&format!("{c}{a}{c}"));
            }
        }
        let mut rng = crate::synth::Rng::new(5);
        for _ in 0..5_000 {
            let len = rng.below(40) as usize;
            let t: String = (0..len)
                .map(|_| chars[rng.below(chars.len() as u64) as usize])
                .collect();
            check(&t);
        }
        check("");
    }

    #[test]
    fn numbers_are_written_as_to_string_writes_them() {
        for n in [
            0u64,
            7,
            9,
            10,
            99,
            100,
            1_000_000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = b"x".to_vec();
            write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
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
