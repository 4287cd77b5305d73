//! Secrets already seen, matched again wherever they appear, in any layer.
//!
//! A value becomes *known* when the inventory or any rule recognises it as a secret. From then
//! on it is found by its bytes, not by its context: glued to other text (`backup_<v>.txt`),
//! URL-encoded (`token%3D<v>`), JSON-escaped, or as the password of a `Basic` credential.
//!
//! Two sources, one marker:
//! - **In memory** (this process): the value's forms (plain, percent-encoded upper and lower
//!   case, JSON-escaped) in one Aho-Corasick automaton. Nothing of it is written anywhere.
//! - **On disk** (values other processes found; a hook process lives a few milliseconds): the
//!   file `known` in the key directory holds, per form, no value: its length, a 16-bit keyed
//!   *anchor* (SipHash-1-3 of its first 8 bytes, keyed from the fingerprint key, truncated) and
//!   its keyed fingerprint (HMAC-SHA-256, the same function as the markers'). A text is scanned
//!   for 8-byte windows whose anchor is in the file; a window is a match when the HMAC of the
//!   text at that length equals the stored one. SECURITY.md says what the file reveals.
//!
//! Every form of a value maps to the fingerprint of the plain value, so one secret has one
//! fingerprint however it is written.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use siphasher::sip::SipHasher13;

/// Values shorter than this are matched by the rules only (in their context), never alone.
pub const MIN_LEN: usize = 8;
/// Longer values are not learned (a whole document is not a credential).
const MAX_LEN: usize = 8192;
/// The anchor window: the first bytes of a form.
const ANCHOR: usize = 8;
/// Bits of the anchor kept in the file (see SECURITY.md: at most this much is learned about
/// the first 8 bytes of a value by someone who also holds the key).
const ANCHOR_BITS: u32 = 16;
/// The file's name in the key directory.
pub const FILE: &str = "known";
/// Entries read from the file at most (a file is never allowed to make scanning unbounded).
const MAX_FILE_ENTRIES: usize = 65_536;

/// One way a known secret is written.
#[derive(Clone)]
struct Form {
    text: String,
    fp: String,
    kind: String,
}

/// A form read from the file.
#[derive(Clone)]
struct Entry {
    len: usize,
    check: [u8; 8],
    fp: String,
    kind: String,
}

/// Forms read from the file, indexed by anchor.
#[derive(Default, Clone)]
struct Hashed {
    /// One bit per anchor value: whether some entry has it (one load per window).
    bits: Vec<u64>,
    by_anchor: HashMap<u16, Vec<Entry>>,
    count: usize,
}

impl Hashed {
    fn add(&mut self, anchor: u16, e: Entry) {
        if self.bits.is_empty() {
            self.bits = vec![0; (1 << ANCHOR_BITS) / 64];
        }
        self.bits[anchor as usize / 64] |= 1 << (anchor % 64);
        self.by_anchor.entry(anchor).or_default().push(e);
        self.count += 1;
    }

    fn has(&self, anchor: u16) -> bool {
        !self.bits.is_empty() && self.bits[anchor as usize / 64] & (1 << (anchor % 64)) != 0
    }
}

struct Matcher {
    ac: AhoCorasick,
    forms: Vec<Form>,
}

#[derive(Default)]
struct Inner {
    forms: Vec<Form>,
    seen: HashSet<String>,
    /// Fingerprints of the values held in memory.
    fps: HashSet<String>,
    matcher: Option<Arc<Matcher>>,
    hashed: Arc<Hashed>,
    /// Fingerprints of the file's entries (not to write them twice).
    filed: HashSet<String>,
    file: Option<PathBuf>,
    /// How much of the file has been read.
    read_to: u64,
}

/// The known secrets of a redactor (shared by its clones).
pub struct Known {
    mac: Hmac<Sha256>,
    sip: (u64, u64),
    any: AtomicBool,
    inner: RwLock<Inner>,
}

/// A known secret found in a text.
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub fp: String,
    pub kind: String,
}

impl Known {
    pub fn new(key: &[u8; 32]) -> Known {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        // The anchor key is derived from the fingerprint key, so the file needs no key of its own.
        let mut m = mac.clone();
        m.update(b"flightlog known-secret anchor v1");
        let d = m.finalize().into_bytes();
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&d[i..i + 8]);
            u64::from_le_bytes(b)
        };
        Known {
            mac,
            sip: (word(0), word(8)),
            any: AtomicBool::new(false),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The keyed fingerprint of `bytes` (the markers' function), as 8 bytes.
    fn check(&self, bytes: &[u8]) -> [u8; 8] {
        let mut m = self.mac.clone();
        m.update(bytes);
        let d = m.finalize().into_bytes();
        let mut out = [0u8; 8];
        out.copy_from_slice(&d[..8]);
        out
    }

    fn anchor(&self, window: &[u8]) -> u16 {
        use std::hash::Hasher;
        let mut h = SipHasher13::new_with_keys(self.sip.0, self.sip.1);
        h.write(window);
        (h.finish() & ((1 << ANCHOR_BITS) - 1)) as u16
    }

    /// Uses (and from now on appends to) the file `known` in `dir`. Entries that cannot be read
    /// are skipped: the file only ever adds redactions.
    pub fn attach(&self, dir: &Path) {
        let path = dir.join(FILE);
        if let Ok(mut inner) = self.inner.write() {
            inner.file = Some(path);
            inner.read_to = 0;
        }
        self.refresh();
    }

    /// Reads what other processes appended to the file since the last call (a `stat` when
    /// nothing changed).
    pub fn refresh(&self) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        let Some(path) = inner.file.clone() else {
            return;
        };
        let Ok(mut f) = std::fs::File::open(&path) else {
            return;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len == inner.read_to {
            return;
        }
        let mut hashed = if len < inner.read_to {
            inner.read_to = 0;
            inner.filed.clear();
            Hashed::default()
        } else {
            (*inner.hashed).clone()
        };
        if f.seek(SeekFrom::Start(inner.read_to)).is_err() {
            return;
        }
        let mut text = String::new();
        if f.take(len - inner.read_to)
            .read_to_string(&mut text)
            .is_err()
        {
            return;
        }
        // Only whole lines; a line being written is read next time.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text[..whole].lines() {
            if hashed.count >= MAX_FILE_ENTRIES {
                break;
            }
            let Some((anchor, e)) = parse_line(line) else {
                continue;
            };
            inner.filed.insert(e.fp.clone());
            if inner.fps.contains(&e.fp) {
                continue; // held in memory: the automaton finds it faster
            }
            hashed.add(anchor, e);
        }
        inner.read_to += whole as u64;
        if hashed.count > 0 {
            self.any.store(true, Ordering::Release);
        }
        inner.hashed = Arc::new(hashed);
    }

    /// Remembers a secret value (in memory; in the file as keyed hashes only). Values too short
    /// or too plain to be matched alone (`postgres`, `changeme`, `12345678`) are not learned:
    /// the rules still find them in context.
    pub fn learn(&self, value: &str, fp: &str, kind: &str) {
        if !worth_learning(value) {
            return;
        }
        if let Ok(inner) = self.inner.read()
            && inner.seen.contains(value)
        {
            return;
        }
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if inner.seen.contains(value) {
            return;
        }
        let mut new = Vec::new();
        for form in forms(value) {
            if inner.seen.insert(form.clone()) {
                new.push(Form {
                    text: form,
                    fp: fp.to_string(),
                    kind: kind.to_string(),
                });
            }
        }
        if new.is_empty() {
            return;
        }
        inner.fps.insert(fp.to_string());
        if let Some(path) = inner.file.clone()
            && inner.filed.insert(fp.to_string())
        {
            let mut lines = String::new();
            for f in &new {
                let b = f.text.as_bytes();
                lines.push_str(&format!(
                    "k1 {} {} {} {:04x} {}\n",
                    f.fp,
                    f.kind,
                    b.len(),
                    self.anchor(&b[..ANCHOR]),
                    hex::encode(self.check(b))
                ));
            }
            // Best effort: a file that cannot be written costs matching in other processes,
            // never an event.
            // (Read back by `refresh`, these lines are skipped: their values are in memory.)
            if let Ok(mut file) = open_append(&path) {
                let _ = file.write_all(lines.as_bytes());
            }
        }
        inner.forms.extend(new);
        let patterns: Vec<&str> = inner.forms.iter().map(|f| f.text.as_str()).collect();
        match AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
        {
            Ok(ac) => {
                let forms = inner.forms.clone();
                inner.matcher = Some(Arc::new(Matcher { ac, forms }));
                self.any.store(true, Ordering::Release);
            }
            Err(_) => {
                // Cannot happen for these sizes; the rules still apply.
            }
        }
    }

    /// Appends the known secrets in `text` that do not overlap `taken` (byte ranges), and adds
    /// their ranges to `taken`.
    pub fn find(&self, text: &str, taken: &mut Vec<(usize, usize)>, out: &mut Vec<Found>) {
        if !self.any.load(Ordering::Acquire) || text.len() < MIN_LEN {
            return;
        }
        let (matcher, hashed) = match self.inner.read() {
            Ok(i) => (i.matcher.clone(), i.hashed.clone()),
            Err(_) => return,
        };
        let overlaps = |taken: &[(usize, usize)], s: usize, e: usize| {
            taken.iter().any(|&(a, b)| s < b && a < e)
        };
        if let Some(m) = matcher {
            for hit in m.ac.find_iter(text) {
                let (s, e) = (hit.start(), hit.end());
                if overlaps(taken, s, e) {
                    continue;
                }
                let f = &m.forms[hit.pattern().as_usize()];
                taken.push((s, e));
                out.push(Found {
                    start: s,
                    end: e,
                    fp: f.fp.clone(),
                    kind: f.kind.clone(),
                });
            }
        }
        if hashed.count == 0 {
            return;
        }
        let b = text.as_bytes();
        let mut i = 0;
        while i + ANCHOR <= b.len() {
            let a = self.anchor(&b[i..i + ANCHOR]);
            let mut next = i + 1;
            if hashed.has(a) && text.is_char_boundary(i) {
                // Longest first: a value that extends another is the one meant.
                let mut best: Option<(usize, &str, &str)> = None;
                for e in hashed.by_anchor.get(&a).map(Vec::as_slice).unwrap_or(&[]) {
                    let end = i + e.len;
                    if end > b.len()
                        || best.is_some_and(|(l, _, _)| l >= e.len)
                        || !text.is_char_boundary(end)
                        || self.check(&b[i..end]) != e.check
                    {
                        continue;
                    }
                    best = Some((e.len, &e.fp, &e.kind));
                }
                if let Some((len, fp, kind)) = best
                    && !overlaps(taken, i, i + len)
                {
                    taken.push((i, i + len));
                    out.push(Found {
                        start: i,
                        end: i + len,
                        fp: fp.to_string(),
                        kind: kind.to_string(),
                    });
                    next = i + len;
                }
            }
            i = next;
        }
    }
}

fn parse_line(line: &str) -> Option<(u16, Entry)> {
    let mut it = line.split(' ');
    if it.next()? != "k1" {
        return None;
    }
    let fp = it.next()?;
    let kind = it.next()?;
    let len: usize = it.next()?.parse().ok()?;
    let anchor = u16::from_str_radix(it.next()?, 16).ok()?;
    let check: [u8; 8] = hex::decode(it.next()?).ok()?.try_into().ok()?;
    let fp_ok = fp.len() == 16 && fp.bytes().all(|c| c.is_ascii_hexdigit());
    let kind_ok = !kind.is_empty()
        && kind.len() <= 40
        && kind
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    (fp_ok && kind_ok && (ANCHOR..=MAX_LEN * 6).contains(&len)).then(|| {
        let e = Entry {
            len,
            check,
            fp: fp.to_string(),
            kind: kind.to_string(),
        };
        (anchor, e)
    })
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Whether a value is distinctive enough to be matched wherever it appears: at least
/// [`MIN_LEN`] bytes and two character classes (lower, upper, digit, other), or 16 bytes.
pub fn worth_learning(v: &str) -> bool {
    if v.len() < MIN_LEN || v.len() > MAX_LEN || v.starts_with("[REDACTED:") {
        return false;
    }
    let b = v.as_bytes();
    let classes = [
        b.iter().any(u8::is_ascii_lowercase),
        b.iter().any(u8::is_ascii_uppercase),
        b.iter().any(u8::is_ascii_digit),
        b.iter().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    classes >= 2 || (v.len() >= 16 && !b.iter().all(u8::is_ascii_digit))
}

/// The ways a value is commonly written: as is, percent-encoded (upper- and lowercase hex, and
/// with `+` for spaces), and JSON-escaped (with and without `\/`).
pub fn forms(v: &str) -> Vec<String> {
    let mut out = vec![v.to_string()];
    let mut add = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    let pct = |lower: bool, plus: bool| {
        let mut s = String::with_capacity(v.len() * 3);
        for &c in v.as_bytes() {
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                s.push(c as char);
            } else if c == b' ' && plus {
                s.push('+');
            } else if lower {
                s.push_str(&format!("%{c:02x}"));
            } else {
                s.push_str(&format!("%{c:02X}"));
            }
        }
        s
    };
    add(pct(false, false));
    add(pct(true, false));
    add(pct(false, true));
    let json = serde_json::to_string(v).unwrap_or_default();
    if json.len() >= 2 {
        let inner = json[1..json.len() - 1].to_string();
        add(inner.replace('/', "\\/"));
        add(inner);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_cover_the_common_encodings() {
        let f = forms("a/b c\"d");
        assert!(f.contains(&"a/b c\"d".to_string()));
        assert!(f.contains(&"a%2Fb%20c%22d".to_string()));
        assert!(f.contains(&"a%2fb%20c%22d".to_string()));
        assert!(f.contains(&"a%2Fb+c%22d".to_string()));
        assert!(f.contains(&"a/b c\\\"d".to_string()));
        assert!(f.contains(&"a\\/b c\\\"d".to_string()));
        assert_eq!(forms("abcdefgh"), vec!["abcdefgh".to_string()]);
    }

    #[test]
    fn plain_values_are_not_learned() {
        for v in [
            "postgres",
            "changeme",
            "12345678",
            "hunter2",
            "1234567890123456789",
        ] {
            assert!(!worth_learning(v), "{v}");
        }
        for v in [
            "Tr0ub4dor-Kq93-Xz71",
            "s3cr3tpw",
            "correcthorsebatterystaple",
        ] {
            assert!(worth_learning(v), "{v}");
        }
    }

    #[test]
    fn the_file_matches_without_the_values() {
        let dir = tempfile::tempdir().unwrap();
        let key = [9u8; 32];
        let a = Known::new(&key);
        a.attach(dir.path());
        a.learn("Tr0ub4dor-Kq93-Xz71", "00112233445566ff", "password");
        let file = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!file.contains("Tr0ub4dor"), "{file}");
        assert!(!file.contains("Kq93"), "{file}");
        // Another process, with only the file.
        let b = Known::new(&key);
        b.attach(dir.path());
        let text =
            "touch backup_Tr0ub4dor-Kq93-Xz71.txt; x=Tr0ub4dor-Kq93-Xz71%21 y=Tr0ub4dor%2DKq93";
        let mut taken = Vec::new();
        let mut out = Vec::new();
        b.find(text, &mut taken, &mut out);
        assert_eq!(out.len(), 2, "{:?}", taken);
        assert_eq!(&text[out[0].start..out[0].end], "Tr0ub4dor-Kq93-Xz71");
        assert!(out.iter().all(|f| f.fp == "00112233445566ff"));
        // A key that is not the install's matches nothing.
        let c = Known::new(&[1u8; 32]);
        c.attach(dir.path());
        let (mut t, mut o) = (Vec::new(), Vec::new());
        c.find(text, &mut t, &mut o);
        assert!(o.is_empty());
    }
}
