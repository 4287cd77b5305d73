//! The per-session hash chain.
//!
//! `hash = SHA-256(prev || event_bytes)` where `prev` is the previous event's hash (32 bytes) and
//! 32 zero bytes for `seq` 0. The jsonl export line is exactly
//! `{"prev":"<64 hex>","hash":"<64 hex>","event":EVENT}` with EVENT the stored bytes verbatim.

use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 digest.
pub type Hash32 = [u8; 32];

/// The `prev` of the first event of every session.
pub const GENESIS: Hash32 = [0u8; 32];

/// Computes one link of the chain.
pub fn link_hash(prev: &Hash32, event_bytes: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(event_bytes);
    h.finalize().into()
}

/// Parses 64 hex digits into a hash.
pub fn parse_hash(s: &str) -> Option<Hash32> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Builds one jsonl export line (without the trailing newline).
pub fn export_line(prev: &Hash32, hash: &Hash32, event_bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(event_bytes.len() + 160);
    out.extend_from_slice(b"{\"prev\":\"");
    out.extend_from_slice(hex::encode(prev).as_bytes());
    out.extend_from_slice(b"\",\"hash\":\"");
    out.extend_from_slice(hex::encode(hash).as_bytes());
    out.extend_from_slice(b"\",\"event\":");
    out.extend_from_slice(event_bytes);
    out.push(b'}');
    out
}

/// Splits a jsonl export line into (prev, hash, event bytes) without re-encoding the event.
///
/// The line must be exactly the layout [`export_line`] writes.
pub fn split_export_line(line: &[u8]) -> Option<(Hash32, Hash32, &[u8])> {
    let rest = line.strip_prefix(b"{\"prev\":\"")?;
    let (prev_hex, rest) = rest.split_at_checked(64)?;
    let rest = rest.strip_prefix(b"\",\"hash\":\"")?;
    let (hash_hex, rest) = rest.split_at_checked(64)?;
    let rest = rest.strip_prefix(b"\",\"event\":")?;
    let event = rest.strip_suffix(b"}")?;
    let prev = parse_hash(std::str::from_utf8(prev_hex).ok()?)?;
    let hash = parse_hash(std::str::from_utf8(hash_hex).ok()?)?;
    Some((prev, hash, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_line_round_trip() {
        let ev = br#"{"v":1,"seq":0}"#;
        let h = link_hash(&GENESIS, ev);
        let line = export_line(&GENESIS, &h, ev);
        let (p, hh, e) = split_export_line(&line).unwrap();
        assert_eq!(p, GENESIS);
        assert_eq!(hh, h);
        assert_eq!(e, ev);
    }

    #[test]
    fn rejects_other_layouts() {
        assert!(split_export_line(br#"{"hash":"00","prev":"00","event":{}}"#).is_none());
        assert!(split_export_line(b"").is_none());
    }
}
