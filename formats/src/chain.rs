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

/// Parses 64 hex digits (either case) into a hash.
pub fn parse_hash(s: &str) -> Option<Hash32> {
    parse_hash_bytes(s.as_bytes())
}

/// The value of each byte as a hex digit; 0xff for a byte that is not one.
const HEX_DIGIT: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0u8;
    while i < 10 {
        t[(b'0' + i) as usize] = i;
        i += 1;
    }
    let mut i = 0u8;
    while i < 6 {
        t[(b'a' + i) as usize] = 10 + i;
        t[(b'A' + i) as usize] = 10 + i;
        i += 1;
    }
    t
};

/// [`parse_hash`] over bytes (export lines are checked without a UTF-8 pass: bytes that are not
/// ASCII are not hex digits either). Every export line holds two hashes, so this is a table
/// lookup per digit.
fn parse_hash_bytes(b: &[u8]) -> Option<Hash32> {
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (
            HEX_DIGIT[usize::from(pair[0])],
            HEX_DIGIT[usize::from(pair[1])],
        );
        if (hi | lo) > 0x0f {
            return None;
        }
        *o = (hi << 4) | lo;
    }
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

/// The lines of a jsonl export grouped per session, sessions in the order they first appear
/// (consecutive lines are nearly always of one session, so the last one is tried first).
#[derive(Debug)]
pub struct Grouped<T> {
    sessions: Vec<(String, Vec<T>)>,
    places: std::collections::HashMap<String, usize>,
    current: Option<usize>,
}

impl<T> Default for Grouped<T> {
    fn default() -> Self {
        Grouped {
            sessions: Vec::new(),
            places: std::collections::HashMap::new(),
            current: None,
        }
    }
}

impl<T> Grouped<T> {
    /// Adds an item to its session's group.
    pub fn push(&mut self, session: &str, item: T) {
        let place = match self.current.filter(|&c| self.sessions[c].0 == session) {
            Some(c) => c,
            None => match self.places.get(session) {
                Some(&p) => p,
                None => {
                    let p = self.sessions.len();
                    self.places.insert(session.to_string(), p);
                    self.sessions.push((session.to_string(), Vec::new()));
                    p
                }
            },
        };
        self.current = Some(place);
        self.sessions[place].1.push(item);
    }

    /// The session of the group added last, if any.
    pub fn last_session(&self) -> Option<&str> {
        self.sessions.last().map(|s| s.0.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The groups, in the order their sessions first appeared.
    pub fn into_groups(self) -> Vec<(String, Vec<T>)> {
        self.sessions
    }
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
    let prev = parse_hash_bytes(prev_hex)?;
    let hash = parse_hash_bytes(hash_hex)?;
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
    fn hashes_parse_as_hex_decodes_them() {
        let lower = "00ff10a9b8c7d6e5f4".repeat(4)[..64].to_string();
        let want: Vec<u8> = hex::decode(&lower).unwrap();
        assert_eq!(parse_hash(&lower).map(|h| h.to_vec()), Some(want.clone()));
        assert_eq!(
            parse_hash(&lower.to_uppercase()).map(|h| h.to_vec()),
            Some(want)
        );
        for bad in [
            &lower[..63],
            &format!("{lower}0"),
            &format!("{}g", &lower[..63]),
            &format!("{} ", &lower[..63]),
            &format!("{}é", &lower[..62]),
            "",
        ] {
            assert_eq!(parse_hash(bad), None, "{bad}");
        }
        let mut bytes = lower.into_bytes();
        bytes[10] = 0xff;
        assert_eq!(parse_hash_bytes(&bytes), None);
    }

    #[test]
    fn rejects_other_layouts() {
        assert!(split_export_line(br#"{"hash":"00","prev":"00","event":{}}"#).is_none());
        assert!(split_export_line(b"").is_none());
    }
}
