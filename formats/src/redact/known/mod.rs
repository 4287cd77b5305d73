//! Secrets already seen, matched again wherever they appear, in any layer.
//!
//! A value becomes *known* when the inventory or any rule recognises it as a secret. From then
//! on it is found by its bytes, not by its context: glued to other text (`backup_<v>.txt`),
//! percent-encoded (any subset of its bytes, either hex case: `%2D` for `-` included),
//! JSON-escaped (`\"`, `\/`, `\uXXXX`), or base64-encoded at any of the three byte alignments, in
//! the standard or the URL-safe alphabet (a `Basic` credential, a token inside a base64 blob).
//!
//! Escapes are handled by decoding, not by enumerating forms: a text holding `%` or `\` is also
//! searched through a *decoded view* (`%XX` and JSON escapes decoded, each decoded byte mapped
//! back to the bytes it came from), so any mix of encoded and plain bytes matches, and the
//! redaction covers exactly the original bytes of the value. Base64 is searched as forms: the
//! encoding of the value's bytes from offset 0, 1 or 2 (whole 3-byte groups only, so the form
//! does not depend on the bytes around it), widened over the neighbouring base64 characters that
//! still carry bits of the value.
//!
//! Two sources, one marker:
//! - **In memory** (this process): the value's forms in Aho-Corasick automata. Nothing of it is
//!   written anywhere. New values go to a small automaton of their own, rebuilt when searched
//!   after a change; it is merged into the main one when it grows to half its size, so learning
//!   `n` values costs `O(n log n)` and a batch of values learned together one build.
//! - **On disk** (values other processes found; a hook process lives a few milliseconds): the
//!   file `known` in the key directory holds, per form, no value: its length, a 16-bit keyed
//!   *anchor* (SipHash-1-3 of its first 8 bytes, keyed from the fingerprint key, truncated) and
//!   its keyed fingerprint (HMAC-SHA-256, the same function as the markers'). A text is scanned
//!   for 8-byte windows whose anchor is in the file; a window is a match when the HMAC of the
//!   text at that length equals the stored one. SECURITY.md says what the file reveals.
//!
//! Every form of a value maps to the fingerprint of the plain value, so one secret has one
//! fingerprint however it is written.

mod file;
use file::*;

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
/// The file's size cap. Beyond it the file is rewritten (atomically, under its lock) without
/// duplicate forms and, if still over, without its oldest values, down to three quarters of it.
pub const MAX_FILE_BYTES: u64 = 512 * 1024;
/// The lock file beside it: appends and rewrites take it, so no process's entries are lost.
const LOCK: &str = "known.lock";
/// The tail automaton is merged into the main one beyond this many forms (or half the main's).
const TAIL_MIN: usize = 64;

/// One way a known secret is written.
#[derive(Clone)]
struct Form {
    text: String,
    fp: Arc<str>,
    kind: Arc<str>,
    /// Base64 forms: how many characters before and after the form may still carry bits of
    /// the value (they are redacted with it).
    lead: u8,
    trail: u8,
}

/// A form read from the file.
#[derive(Clone)]
struct Entry {
    len: usize,
    check: [u8; 8],
    fp: Arc<str>,
    kind: Arc<str>,
    lead: u8,
    trail: u8,
}

/// Forms read from the file, indexed by anchor.
#[derive(Default, Clone)]
struct Hashed {
    /// One bit per anchor value: whether some entry has it (one load per window).
    bits: Vec<u64>,
    /// The entries, sorted by anchor (after [`Hashed::sort`]).
    entries: Vec<(u16, Entry)>,
    count: usize,
}

impl Hashed {
    fn add(&mut self, anchor: u16, e: Entry) {
        if self.bits.is_empty() {
            self.bits = vec![0; (1 << ANCHOR_BITS) / 64];
        }
        self.bits[anchor as usize / 64] |= 1 << (anchor % 64);
        self.entries.push((anchor, e));
        self.count += 1;
    }

    fn sort(&mut self) {
        self.entries.sort_by_key(|(a, _)| *a);
    }

    /// The entries with this anchor.
    fn get(&self, anchor: u16) -> &[(u16, Entry)] {
        let from = self.entries.partition_point(|(a, _)| *a < anchor);
        let to = self.entries.partition_point(|(a, _)| *a <= anchor);
        &self.entries[from..to]
    }

    fn has(&self, anchor: u16) -> bool {
        !self.bits.is_empty() && self.bits[anchor as usize / 64] & (1 << (anchor % 64)) != 0
    }
}

struct Matcher {
    ac: AhoCorasick,
    forms: Vec<Form>,
}

impl Matcher {
    fn build(forms: &[Form]) -> Option<Arc<Matcher>> {
        if forms.is_empty() {
            return None;
        }
        let patterns: Vec<&str> = forms.iter().map(|f| f.text.as_str()).collect();
        // Cannot fail for these sizes; if it did, the rules would still apply.
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        Some(Arc::new(Matcher {
            ac,
            forms: forms.to_vec(),
        }))
    }
}

#[derive(Default)]
struct Inner {
    forms: Vec<Form>,
    seen: HashSet<String>,
    /// Fingerprints of the values held in memory.
    fps: HashSet<String>,
    /// The automaton over `forms[..main_len]`.
    main: Option<Arc<Matcher>>,
    main_len: usize,
    /// The automaton over the rest (`None` when there is none or it is out of date).
    tail: Option<Arc<Matcher>>,
    /// Forms were learned since the automata were built.
    dirty: bool,
    hashed: Arc<Hashed>,
    /// Fingerprints of the file's entries (not to write them twice).
    filed: HashSet<String>,
    file: Option<PathBuf>,
    /// How much of the file has been read.
    read_to: u64,
    /// Which file that was (a rewrite replaces it).
    read_id: u64,
    /// The size cap of the file ([`MAX_FILE_BYTES`] but in tests).
    cap: u64,
}

impl Inner {
    fn cap(&self) -> u64 {
        if self.cap == 0 {
            MAX_FILE_BYTES
        } else {
            self.cap
        }
    }

    /// Brings the automata up to date with `forms`.
    fn rebuild(&mut self) {
        if !self.dirty {
            return;
        }
        let pending = self.forms.len() - self.main_len;
        if pending > TAIL_MIN.max(self.main_len / 2) || self.main.is_none() {
            self.main = Matcher::build(&self.forms);
            self.main_len = self.forms.len();
            self.tail = None;
        } else {
            self.tail = Matcher::build(&self.forms[self.main_len..]);
        }
        self.dirty = false;
    }
}

/// The main and tail automata, and the file's forms.
type Matchers = (Option<Arc<Matcher>>, Option<Arc<Matcher>>, Arc<Hashed>);

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

/// A match before overlaps are resolved (in the original text's bytes).
struct Cand {
    start: usize,
    end: usize,
    fp: Arc<str>,
    kind: Arc<str>,
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

    /// Sets the file's size cap (tests: a small one makes rewrites frequent).
    #[cfg(test)]
    fn set_cap(&self, cap: u64) {
        if let Ok(mut i) = self.inner.write() {
            i.cap = cap;
        }
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
        let (len, id) = f
            .metadata()
            .map(|m| (m.len(), file_id(&m)))
            .unwrap_or((0, 0));
        if len == inner.read_to && id == inner.read_id {
            return;
        }
        let mut hashed = if len < inner.read_to || id != inner.read_id {
            inner.read_to = 0;
            inner.read_id = id;
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
        // The forms of one value are on consecutive lines: they share its fingerprint and kind.
        let mut last: Option<(Arc<str>, Arc<str>, bool)> = None;
        for line in text[..whole].lines() {
            if hashed.count >= MAX_FILE_ENTRIES {
                break;
            }
            let Some((anchor, mut e)) = parse_line(line) else {
                continue;
            };
            let in_memory = match &last {
                Some((fp, kind, mem)) if *fp == e.fp && *kind == e.kind => {
                    e.fp = fp.clone();
                    e.kind = kind.clone();
                    *mem
                }
                _ => {
                    inner.filed.insert(e.fp.to_string());
                    let mem = inner.fps.contains(&*e.fp);
                    last = Some((e.fp.clone(), e.kind.clone(), mem));
                    mem
                }
            };
            if in_memory {
                continue; // held in memory: the automaton finds it faster
            }
            hashed.add(anchor, e);
        }
        hashed.sort();
        inner.read_to += whole as u64;
        if hashed.count > 0 {
            self.any.store(true, Ordering::Release);
        }
        inner.hashed = Arc::new(hashed);
    }

    /// Remembers a secret value (in memory; in the file as keyed hashes only). Values too short
    /// or too plain to be matched alone (`postgres`, `changeme`, `12345678`) are not learned:
    /// the rules still find them in context. The automata are rebuilt when next searched, so
    /// values learned together cost one build.
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
        let (fp_a, kind_a): (Arc<str>, Arc<str>) = (fp.into(), kind.into());
        let mut new = Vec::new();
        for (text, lead, trail) in forms(value) {
            if inner.seen.insert(text.clone()) {
                new.push(Form {
                    text,
                    fp: fp_a.clone(),
                    kind: kind_a.clone(),
                    lead,
                    trail,
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
                    "k2 {} {} {} {:04x} {} {} {}\n",
                    f.fp,
                    f.kind,
                    b.len(),
                    self.anchor(&b[..ANCHOR]),
                    hex::encode(self.check(b)),
                    f.lead,
                    f.trail
                ));
            }
            // Best effort: a file that cannot be written costs matching in other processes,
            // never an event.
            // (Read back by `refresh`, these lines are skipped: their values are in memory.)
            let _ = append_locked(&path, &lines, inner.cap());
        }
        inner.forms.extend(new);
        inner.dirty = true;
        self.any.store(true, Ordering::Release);
    }

    /// The automata, rebuilt first if values were learned since.
    fn matchers(&self) -> Option<Matchers> {
        {
            let i = self.inner.read().ok()?;
            if !i.dirty {
                return Some((i.main.clone(), i.tail.clone(), i.hashed.clone()));
            }
        }
        let mut i = self.inner.write().ok()?;
        i.rebuild();
        Some((i.main.clone(), i.tail.clone(), i.hashed.clone()))
    }

    /// Appends the known secrets in `text` that do not overlap `taken` (byte ranges), and adds
    /// their ranges to `taken`.
    pub fn find(&self, text: &str, taken: &mut Vec<(usize, usize)>, out: &mut Vec<Found>) {
        if !self.any.load(Ordering::Acquire) || text.len() < MIN_LEN {
            return;
        }
        let Some((main, tail, hashed)) = self.matchers() else {
            return;
        };
        let mut cands = Vec::new();
        let raw = View::raw(text);
        let decoded = View::decoded(text);
        for view in std::iter::once(&raw).chain(decoded.as_ref()) {
            for m in main.iter().chain(tail.iter()) {
                for hit in m.ac.find_iter(&view.bytes[..]) {
                    let f = &m.forms[hit.pattern().as_usize()];
                    if let Some((s, e)) =
                        view.original(text, hit.start(), hit.end(), f.lead, f.trail)
                    {
                        cands.push(Cand {
                            start: s,
                            end: e,
                            fp: f.fp.clone(),
                            kind: f.kind.clone(),
                        });
                    }
                }
            }
            if hashed.count > 0 {
                self.scan_hashed(text, view, &hashed, &mut cands);
            }
        }
        // Leftmost first, longest first; a match overlapping one already taken is dropped.
        cands.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        for c in cands {
            if taken.iter().any(|&(a, b)| c.start < b && a < c.end) {
                continue;
            }
            taken.push((c.start, c.end));
            out.push(Found {
                start: c.start,
                end: c.end,
                fp: c.fp.to_string(),
                kind: c.kind.to_string(),
            });
        }
    }

    /// The file's forms in one view of a text: an anchor per 8-byte window, an HMAC where the
    /// anchor is one of the file's.
    fn scan_hashed(&self, text: &str, view: &View, hashed: &Hashed, cands: &mut Vec<Cand>) {
        let b = &view.bytes[..];
        let mut i = 0;
        while i + ANCHOR <= b.len() {
            let a = self.anchor(&b[i..i + ANCHOR]);
            let mut next = i + 1;
            if hashed.has(a) {
                // Longest first: a value that extends another is the one meant.
                let mut best: Option<(usize, usize, &Entry)> = None;
                for (_, e) in hashed.get(a) {
                    let end = i + e.len;
                    if end > b.len()
                        || best.is_some_and(|(s, t, _)| t - s >= e.len)
                        || self.check(&b[i..end]) != e.check
                    {
                        continue;
                    }
                    best = Some((i, end, e));
                }
                if let Some((s, t, e)) = best
                    && let Some((os, oe)) = view.original(text, s, t, e.lead, e.trail)
                {
                    cands.push(Cand {
                        start: os,
                        end: oe,
                        fp: e.fp.clone(),
                        kind: e.kind.clone(),
                    });
                    next = t;
                }
            }
            i = next;
        }
    }
}

/// A text as searched: its own bytes, or its bytes with escapes decoded, and where each byte
/// came from.
struct View<'a> {
    bytes: std::borrow::Cow<'a, [u8]>,
    /// For a decoded view, the original byte range of each byte (`None`: the identity).
    spans: Option<Vec<(u32, u32)>>,
}

impl<'a> View<'a> {
    fn raw(text: &'a str) -> View<'a> {
        View {
            bytes: std::borrow::Cow::Borrowed(text.as_bytes()),
            spans: None,
        }
    }

    /// `%XX` (either case) and JSON escapes (`\"`, `\\`, `\/`, `\n` ..., `\uXXXX` with surrogate
    /// pairs) decoded; `None` when the text has none.
    fn decoded(text: &str) -> Option<View<'static>> {
        let b = text.as_bytes();
        if text.len() > u32::MAX as usize || !b.iter().any(|&c| c == b'%' || c == b'\\') {
            return None;
        }
        let mut bytes = Vec::with_capacity(b.len());
        let mut spans = Vec::with_capacity(b.len());
        let mut changed = false;
        let mut i = 0;
        while i < b.len() {
            let (decoded, used) = decode_at(b, i);
            match decoded {
                Some(d) => {
                    changed = true;
                    let mut buf = [0u8; 4];
                    let out: &[u8] = match d {
                        Decoded::Byte(x) => {
                            buf[0] = x;
                            &buf[..1]
                        }
                        Decoded::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
                    };
                    for &x in out {
                        bytes.push(x);
                        spans.push((i as u32, (i + used) as u32));
                    }
                }
                None => {
                    bytes.push(b[i]);
                    spans.push((i as u32, i as u32 + 1));
                }
            }
            i += used;
        }
        changed.then_some(View {
            bytes: std::borrow::Cow::Owned(bytes),
            spans: Some(spans),
        })
    }

    /// The original byte range of `[s, e)` of this view, widened by up to `lead` and `trail`
    /// base64 characters (and `=` padding after) of the original text; `None` when it does not
    /// fall on character boundaries there.
    fn original(
        &self,
        text: &str,
        s: usize,
        e: usize,
        lead: u8,
        trail: u8,
    ) -> Option<(usize, usize)> {
        let (mut os, mut oe) = match &self.spans {
            None => (s, e),
            Some(sp) => (sp.get(s)?.0 as usize, sp.get(e.checked_sub(1)?)?.1 as usize),
        };
        if let Some(sp) = &self.spans {
            // A match must not start or end in the middle of one escape.
            if (s > 0 && sp[s - 1].0 as usize == os)
                || sp.get(e).is_some_and(|x| x.1 as usize == oe)
            {
                return None;
            }
        }
        let b = text.as_bytes();
        let is64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
        for _ in 0..lead {
            if os > 0 && is64(b[os - 1]) {
                os -= 1;
            }
        }
        if trail > 0 {
            for _ in 0..trail {
                if oe < b.len() && is64(b[oe]) {
                    oe += 1;
                }
            }
            for _ in 0..2 {
                if oe < b.len() && b[oe] == b'=' {
                    oe += 1;
                }
            }
        }
        (text.is_char_boundary(os) && text.is_char_boundary(oe) && os < oe).then_some((os, oe))
    }
}

enum Decoded {
    Byte(u8),
    Char(char),
}

/// The escape at `b[i]`, if any, and the bytes it spans (1 when there is none).
fn decode_at(b: &[u8], i: usize) -> (Option<Decoded>, usize) {
    let hex = |c: u8| (c as char).to_digit(16);
    match b[i] {
        b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
            (Some(h), Some(l)) => (Some(Decoded::Byte((h * 16 + l) as u8)), 3),
            _ => (None, 1),
        },
        b'\\' if i + 1 < b.len() => match b[i + 1] {
            b'"' => (Some(Decoded::Byte(b'"')), 2),
            b'\\' => (Some(Decoded::Byte(b'\\')), 2),
            b'/' => (Some(Decoded::Byte(b'/')), 2),
            b'n' => (Some(Decoded::Byte(b'\n')), 2),
            b't' => (Some(Decoded::Byte(b'\t')), 2),
            b'r' => (Some(Decoded::Byte(b'\r')), 2),
            b'u' => {
                let unit = |at: usize| -> Option<u32> {
                    let h = b.get(at..at + 4)?;
                    h.iter().try_fold(0u32, |acc, &c| Some(acc * 16 + hex(c)?))
                };
                let Some(u) = unit(i + 2) else {
                    return (None, 1);
                };
                if (0xD800..0xDC00).contains(&u)
                    && b.get(i + 6..i + 8) == Some(b"\\u")
                    && let Some(lo) = unit(i + 8)
                    && (0xDC00..0xE000).contains(&lo)
                {
                    let c = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    return match char::from_u32(c) {
                        Some(c) => (Some(Decoded::Char(c)), 12),
                        None => (None, 1),
                    };
                }
                match char::from_u32(u) {
                    Some(c) => (Some(Decoded::Char(c)), 6),
                    None => (None, 1),
                }
            }
            _ => (None, 1),
        },
        _ => (None, 1),
    }
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

/// The forms of a value searched as they are (escapes are decoded instead, see the module
/// documentation): the value itself, with `+` for its spaces (form encoding), and its base64
/// from byte offset 0, 1 and 2 in the standard and the URL-safe alphabet. Each comes with how
/// many base64 characters before and after it still carry bits of the value (`lead`, `trail`).
pub fn forms(v: &str) -> Vec<(String, u8, u8)> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out: Vec<(String, u8, u8)> = vec![(v.to_string(), 0, 0)];
    let mut add = |s: String, lead: u8, trail: u8| {
        if !out.iter().any(|(t, _, _)| *t == s) {
            out.push((s, lead, trail));
        }
    };
    if v.contains(' ') {
        add(v.replace(' ', "+"), 0, 0);
    }
    let b = v.as_bytes();
    // Characters of a 4-character group that hold bits of the bytes outside the whole groups.
    const SPILL: [u8; 3] = [0, 2, 3];
    for j in 0..3 {
        let Some(rest) = b.len().checked_sub(j) else {
            continue;
        };
        let whole = rest / 3 * 3;
        if whole < 6 {
            continue;
        }
        let chunk = &b[j..j + whole];
        let (lead, trail) = (SPILL[j], SPILL[rest % 3]);
        add(STANDARD_NO_PAD.encode(chunk), lead, trail);
        add(URL_SAFE_NO_PAD.encode(chunk), lead, trail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find_all(k: &Known, text: &str) -> Vec<(String, String)> {
        let (mut taken, mut out) = (Vec::new(), Vec::new());
        k.find(text, &mut taken, &mut out);
        out.iter()
            .map(|f| (text[f.start..f.end].to_string(), f.fp.clone()))
            .collect()
    }

    #[test]
    fn forms_are_the_value_and_its_base64_at_three_alignments() {
        let f = forms("a/b c\"d?>>");
        let texts: Vec<&str> = f.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(texts[0], "a/b c\"d?>>");
        assert!(texts.contains(&"a/b+c\"d?>>"));
        // Offsets 0, 1, 2: whole groups only, both alphabets.
        assert!(texts.contains(&"YS9iIGMiZD8+")); // "a/b c\"d?>"
        assert!(texts.contains(&"YS9iIGMiZD8-"));
        assert!(texts.contains(&"L2IgYyJkPz4+")); // "/b c\"d?>>"
        assert!(f.contains(&("L2IgYyJkPz4+".to_string(), 2, 0)));
        assert!(f.contains(&("YS9iIGMiZD8+".to_string(), 0, 2)));
        assert_eq!(forms("abcdefgh").len(), 4);
    }

    #[test]
    fn escapes_of_any_subset_and_case_are_matched_with_the_values_fingerprint() {
        let k = Known::new(&[3u8; 32]);
        let v = "Tr0ub4dor-Kq93/Xz71";
        k.learn(v, "00112233445566ff", "password");
        let fp = "00112233445566ff".to_string();
        for (text, hit) in [
            ("x Tr0ub4dor-Kq93/Xz71 y", "Tr0ub4dor-Kq93/Xz71"),
            ("q=Tr0ub4dor%2DKq93%2FXz71&", "Tr0ub4dor%2DKq93%2FXz71"),
            ("q=Tr0ub4dor%2dKq93/Xz71&", "Tr0ub4dor%2dKq93/Xz71"),
            ("q=%54r0ub4dor-Kq93%2fXz%371&", "%54r0ub4dor-Kq93%2fXz%371"),
            ("{\"a\":\"Tr0ub4dor-Kq93\\/Xz71\"}", "Tr0ub4dor-Kq93\\/Xz71"),
            (
                "{\"a\":\"\\u0054r0ub4dor\\u002dKq93\\u002FXz71\\n\"}",
                "\\u0054r0ub4dor\\u002dKq93\\u002FXz71",
            ),
            (
                "backup_Tr0ub4dor%2DKq93%2FXz71.txt",
                "Tr0ub4dor%2DKq93%2FXz71",
            ),
        ] {
            assert_eq!(
                find_all(&k, text),
                vec![(hit.to_string(), fp.clone())],
                "{text}"
            );
        }
        // A non-ASCII value, escaped as UTF-16 with a surrogate pair.
        k.learn("pässwört-\u{1F511}-42", "0000000000000001", "password");
        let t = "\"p\\u00e4sswört-\\ud83d\\udd11-42\"";
        assert_eq!(
            find_all(&k, t),
            vec![(
                "p\\u00e4sswört-\\ud83d\\udd11-42".to_string(),
                "0000000000000001".to_string()
            )]
        );
        // Half an escape is never a match: nothing outside the value is taken.
        assert!(find_all(&k, "Tr0ub4dor-Kq93/Xz7%31%32").len() == 1);
        assert_eq!(
            find_all(&k, "Tr0ub4dor-Kq93/Xz7%31%32")[0].0,
            "Tr0ub4dor-Kq93/Xz7%31"
        );
    }

    #[test]
    fn base64_at_every_alignment_and_alphabet_is_matched_whole() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let key = [4u8; 32];
        let v = "Tr0ub4dor>Kq93?Xz71~~";
        let dir = tempfile::tempdir().unwrap();
        let mem = Known::new(&key);
        mem.attach(dir.path());
        mem.learn(v, "00112233445566ff", "password");
        // Another process, from the file only.
        let file = Known::new(&key);
        file.attach(dir.path());
        for k in [&mem, &file] {
            for prefix in ["", "u", "us", "user:", "user:x", "a-much-longer-prefix:"] {
                for suffix in ["", "!", "!?", " and more"] {
                    let plain = format!("{prefix}{v}{suffix}");
                    for enc in [STANDARD.encode(&plain), URL_SAFE_NO_PAD.encode(&plain)] {
                        let text = format!("Authorization: Basic {enc} end");
                        let found = find_all(k, &text);
                        assert_eq!(found.len(), 1, "{plain:?} {text}");
                        assert_eq!(found[0].1, "00112233445566ff");
                        // What is left decodes to no byte of the value: the bytes around it at most.
                        let at = text.find(&found[0].0).unwrap();
                        let left = &enc[..at - "Authorization: Basic ".len()];
                        let right =
                            text[at + found[0].0.len()..text.len() - 4].trim_end_matches('=');
                        assert!(left.len() * 6 / 8 <= prefix.len(), "{plain:?}: {left}");
                        assert!(right.len() * 6 / 8 <= suffix.len(), "{plain:?}: {right}");
                    }
                }
            }
        }
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
            "touch backup_Tr0ub4dor-Kq93-Xz71.txt; x=Tr0ub4dor%2dKq93%2DXz71%21 y=Tr0ub4dor%2DKq93";
        let mut taken = Vec::new();
        let mut out = Vec::new();
        b.find(text, &mut taken, &mut out);
        assert_eq!(out.len(), 2, "{:?}", taken);
        assert_eq!(&text[out[0].start..out[0].end], "Tr0ub4dor-Kq93-Xz71");
        // Over-encoded (found), and cut short (not found).
        assert_eq!(&text[out[1].start..out[1].end], "Tr0ub4dor%2dKq93%2DXz71");
        assert!(out.iter().all(|f| f.fp == "00112233445566ff"));
        // A key that is not the install's matches nothing.
        let c = Known::new(&[1u8; 32]);
        c.attach(dir.path());
        let (mut t, mut o) = (Vec::new(), Vec::new());
        c.find(text, &mut t, &mut o);
        assert!(o.is_empty());
    }

    /// The file line of each form of `v`.
    fn lines_of(k: &Known, v: &str, fp: &str) -> String {
        forms(v)
            .iter()
            .map(|(t, lead, trail)| {
                let b = t.as_bytes();
                format!(
                    "k2 {fp} password {} {:04x} {} {lead} {trail}\n",
                    b.len(),
                    k.anchor(&b[..ANCHOR]),
                    hex::encode(k.check(b))
                )
            })
            .collect()
    }

    #[test]
    fn concurrent_writers_lose_no_entry_and_the_file_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let key = [6u8; 32];
        let probe = Known::new(&key);
        let value = |w: usize, i: usize| format!("Kx{w:02}-{i:03}-Zq93Tr0ub4dor");
        let fp = |w: usize, i: usize| format!("{:016x}", w * 1000 + i);
        let (writers, per) = (6, 40);
        let unique: u64 = (0..writers)
            .flat_map(|w| (0..per).map(move |i| (w, i)))
            .map(|(w, i)| lines_of(&probe, &value(w, i), &fp(w, i)).len() as u64)
            .sum();
        // Another process keeps appending the same value's lines: past the cap at nearly every
        // append, so the file is rewritten all along while the writers append.
        let noise = lines_of(&probe, "Nn-noise-Zq93Tr0ub4dor", "ffffffffffffffff").repeat(4);
        let cap = unique + noise.len() as u64 + 512;
        let done = std::sync::atomic::AtomicBool::new(false);
        let appends = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    append_locked(&path, &noise, cap).unwrap();
                    appends.fetch_add(1, Ordering::Relaxed);
                }
            });
            let writers: Vec<_> = (0..writers)
                .map(|w| {
                    let (dir, value, fp) = (dir.path(), &value, &fp);
                    sc.spawn(move || {
                        for i in 0..per {
                            // A new process for each value, as hooks are.
                            let k = Known::new(&key);
                            k.set_cap(cap);
                            k.attach(dir);
                            k.learn(&value(w, i), &fp(w, i), "password");
                        }
                    })
                })
                .collect();
            for h in writers {
                h.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        assert!(appends.load(Ordering::Relaxed) > 10);
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len <= cap, "{len} > {cap}");
        let reader = Known::new(&key);
        reader.attach(dir.path());
        let mut lost = Vec::new();
        for w in 0..writers {
            for i in 0..per {
                let found = find_all(&reader, &format!("cp backup_{}.sql", value(w, i)));
                if found.len() != 1 || found[0].1 != fp(w, i) {
                    lost.push(value(w, i));
                }
            }
        }
        assert!(lost.is_empty(), "{} lost: {lost:?}", lost.len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn over_the_cap_the_oldest_values_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let key = [6u8; 32];
        let k = Known::new(&key);
        k.set_cap(4_000);
        k.attach(dir.path());
        for i in 0..40 {
            k.learn(
                &format!("Kx-{i:03}-Zq93Tr0ub4dor"),
                &format!("{i:016x}"),
                "password",
            );
        }
        let len = std::fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert!(len <= 4_000, "{len}");
        let reader = Known::new(&key);
        reader.attach(dir.path());
        assert_eq!(find_all(&reader, "Kx-039-Zq93Tr0ub4dor").len(), 1);
        assert!(find_all(&reader, "Kx-000-Zq93Tr0ub4dor").is_empty());
    }
}
