//! Verification: every event, every link, every checkpoint. It reports every problem it finds
//! (with session, seq and kind), not just the first; the viewer shows a tampered log with the
//! breaks marked, and `flightlog verify` turns the report into an exit code.

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::canonical::fast_header;
use crate::chain::{GENESIS, Hash32, link_hash};
use crate::checkpoint::{SessionStatement, parse_session_checkpoint, verify_sig};
use crate::event::{Event, Kind};
use crate::keys::{key_id, public_key_from_hex};
use crate::merkle::MerkleBuilder;

mod jsonl;
mod split;
mod store;

pub use jsonl::{verify_jsonl, verify_jsonl_with_progress};
pub use store::{StoreVerifyOptions, default_trust, verify_store, verify_store_with_progress};

/// One problem (or warning) found by verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub session: Option<String>,
    pub seq: Option<u64>,
    /// A stable machine-readable kind, e.g. `hash_mismatch`, `broken_link`, `missing_event`.
    pub kind: String,
    pub detail: String,
}

/// How far the log is anchored by a checkpoint kept outside the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub checkpoint_no: u64,
    pub ts: String,
    pub source: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub intact: bool,
    pub events_checked: u64,
    pub checkpoints_checked: u64,
    pub problems: Vec<Problem>,
    /// Not failures: events after the last checkpoint, keys not pinned, and the like.
    pub warnings: Vec<Problem>,
    pub anchored: Option<Anchor>,
}

impl VerifyReport {
    fn finish(mut self) -> Self {
        self.intact = self.problems.is_empty();
        self
    }

    /// Problems of one session, by seq (for the viewer's break markers).
    pub fn problem_seqs(&self, session: &str) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .problems
            .iter()
            .filter(|p| p.session.as_deref() == Some(session))
            .filter_map(|p| p.seq)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The keys verification trusts.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub keys: Vec<VerifyingKey>,
    /// True when the keys came from the auditor (`--pubkey`, a bundle), not from the store's
    /// own directory.
    pub pinned: bool,
}

impl Trust {
    fn find(&self, id: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| key_id(k) == id)
    }
}

fn problem(session: &str, seq: Option<u64>, kind: &str, detail: impl Into<String>) -> Problem {
    Problem {
        session: Some(session.to_string()),
        seq,
        kind: kind.to_string(),
        detail: detail.into(),
    }
}

/// A problem of the whole store or export file, in no one session.
fn store_problem(kind: &str, detail: impl Into<String>) -> Problem {
    Problem {
        session: None,
        seq: None,
        kind: kind.to_string(),
        detail: detail.into(),
    }
}

/// A signed expectation about a prefix of a session.
#[derive(Debug, Clone)]
struct Expect {
    count: u64,
    head: String,
    root: String,
    from: String,
}

/// An event's link hash over its claimed prev, that hash as a Merkle leaf, and its canonical
/// header (computed together, possibly on another thread, while the bytes are in cache).
#[derive(Debug, Clone, Copy)]
struct Prehashed {
    link: Hash32,
    leaf: Hash32,
    /// None when the bytes do not start with a canonical header (they are then parsed in full).
    head: Option<Head>,
}

/// What the checker needs of a canonical header.
#[derive(Debug, Clone, Copy)]
struct Head {
    seq: u64,
    /// The event names the session being checked.
    session_ok: bool,
    checkpoint: bool,
}

impl Prehashed {
    fn of(claimed_prev: &Hash32, raw: &[u8], session: &str) -> Prehashed {
        let link = link_hash(claimed_prev, raw);
        Prehashed {
            link,
            leaf: crate::merkle::leaf_hash(&link),
            head: fast_header(raw).map(|h| Head {
                seq: h.seq,
                session_ok: h.session == session.as_bytes(),
                checkpoint: h.kind == b"checkpoint",
            }),
        }
    }
}

/// Checks one session's chain, event by event.
struct ChainCheck<'a> {
    session: String,
    expected_seq: u64,
    /// The claimed hash of the previous event (links are checked against it).
    prev: Hash32,
    /// Recomputed hashes feed the Merkle tree, so a rewritten chain cannot match a checkpoint.
    merkle: MerkleBuilder,
    /// Leaves of the chunk being checked that are not in `merkle` yet (see
    /// [`ChainCheck::end_chunk`]); always empty unless `chunked`.
    pending: Vec<Hash32>,
    /// Events arrive in chunks whose Merkle subtree the reader computed.
    chunked: bool,
    /// Every pending leaf is the one the reader computed: no link was recomputed here and no
    /// root was taken inside the chunk.
    pending_whole: bool,
    last_computed: Hash32,
    last_checkpoint_cover: u64,
    last_was_checkpoint: bool,
    /// The last event is a checkpoint signed by a key that is not trusted (its own problem
    /// says so: the export is not "truncated").
    last_untrusted: bool,
    /// Prefix expectations from store checkpoints, sorted by count.
    expects: Vec<Expect>,
    trust: &'a Trust,
    report: &'a mut VerifyReport,
}

impl<'a> ChainCheck<'a> {
    fn new(
        session: &str,
        expects: Vec<Expect>,
        trust: &'a Trust,
        report: &'a mut VerifyReport,
    ) -> Self {
        let mut expects = expects;
        expects.sort_by_key(|e| e.count);
        let mut c = ChainCheck {
            session: session.to_string(),
            expected_seq: 0,
            prev: GENESIS,
            merkle: MerkleBuilder::new(),
            pending: Vec::new(),
            chunked: false,
            pending_whole: false,
            last_computed: GENESIS,
            last_checkpoint_cover: 0,
            last_was_checkpoint: false,
            last_untrusted: false,
            expects,
            trust,
            report,
        };
        c.check_expectations();
        c
    }

    /// Records a problem of this session, at `seq` when it has one.
    fn problem_at(&mut self, seq: Option<u64>, kind: &str, detail: impl Into<String>) {
        let p = problem(&self.session, seq, kind, detail);
        self.report.problems.push(p);
    }

    /// `row_seq` is the seq column of a store row (None for jsonl).
    fn event(
        &mut self,
        row_seq: Option<u64>,
        claimed_prev: Hash32,
        claimed_hash: Hash32,
        raw: &[u8],
    ) {
        let pre = Prehashed::of(&claimed_prev, raw, &self.session);
        self.event_prehashed(row_seq, claimed_prev, claimed_hash, Some(raw), pre);
    }

    /// Whether checking an event needs its bytes, beyond what [`Prehashed`] holds: its link
    /// is broken (the link is hashed again over the right prev), or its header is not in
    /// canonical form, names another session or makes it a checkpoint (it is parsed in full).
    fn needs_bytes(prev: &Hash32, claimed_prev: &Hash32, pre: &Prehashed) -> bool {
        claimed_prev != prev || pre.head.is_none_or(|h| h.checkpoint || !h.session_ok)
    }

    /// Like [`ChainCheck::event`], with the link hash (over the *claimed* prev), its Merkle
    /// leaf and the header computed beforehand, possibly on another thread. `raw` may be left
    /// out where [`ChainCheck::needs_bytes`] says it is not needed; missing where it is, the
    /// event is reported (`unread`), never passed.
    fn event_prehashed(
        &mut self,
        row_seq: Option<u64>,
        claimed_prev: Hash32,
        claimed_hash: Hash32,
        raw: Option<&[u8]>,
        pre: Prehashed,
    ) {
        self.report.events_checked += 1;
        let raw = match raw {
            Some(r) => r,
            None => {
                if Self::needs_bytes(&self.prev, &claimed_prev, &pre) {
                    let seq = row_seq.unwrap_or(self.expected_seq);
                    self.problem_at(
                        Some(seq),
                        "unread",
                        "the event's bytes were not read, so it could not be checked",
                    );
                }
                &[]
            }
        };
        // The chain is hashed over the previous event's claimed hash; when the claimed prev is
        // that hash (every intact link), the precomputed value is the one.
        let (computed, leaf) = if claimed_prev == self.prev {
            (pre.link, pre.leaf)
        } else {
            self.pending_whole = false;
            let c = link_hash(&self.prev, raw);
            (c, crate::merkle::leaf_hash(&c))
        };
        // Fast path: canonical events start with a fixed header; only checkpoints (and
        // anything not in canonical form) are parsed in full.
        let mut full: Option<Event> = None;
        let (seq, session_ok, is_checkpoint) = match pre.head {
            Some(h) => {
                if h.checkpoint {
                    full = Event::from_bytes(raw).ok();
                }
                (h.seq, h.session_ok, h.checkpoint)
            }
            None => match Event::from_bytes(raw) {
                Ok(e) => {
                    let r = (e.seq, e.session == self.session, e.kind == Kind::Checkpoint);
                    full = Some(e);
                    r
                }
                Err(e) => {
                    let seq = row_seq.unwrap_or(self.expected_seq);
                    self.problem_at(
                        Some(seq),
                        "unparseable",
                        format!("event bytes are not a valid event: {e}"),
                    );
                    (seq, true, false)
                }
            },
        };
        if !session_ok {
            let claimed = Event::from_bytes(raw)
                .map(|e| e.session)
                .unwrap_or_default();
            self.problem_at(
                Some(seq),
                "wrong_session",
                format!("event claims session {claimed}"),
            );
        }
        if let Some(rs) = row_seq
            && rs != seq
        {
            self.problem_at(
                Some(rs),
                "seq_mismatch",
                format!("stored at seq {rs} but the event says seq {seq}"),
            );
        }
        if seq > self.expected_seq {
            let detail = if seq == self.expected_seq + 1 {
                format!("event {} is missing (deleted)", self.expected_seq)
            } else {
                format!(
                    "events {}..{} are missing (deleted)",
                    self.expected_seq,
                    seq - 1
                )
            };
            self.problem_at(Some(self.expected_seq), "missing_event", detail);
        } else if seq < self.expected_seq {
            self.problem_at(
                Some(seq),
                "out_of_order",
                format!(
                    "seq {seq} appears where seq {} was expected (inserted, duplicated or reordered)",
                    self.expected_seq
                ),
            );
        }
        if claimed_prev != self.prev {
            self.problem_at(
                Some(seq),
                "broken_link",
                "prev does not match the hash of the event before it",
            );
        }
        // The event's own bytes must hash (with the prev it claims) to the hash it claims: the
        // precomputed link is over the claimed prev.
        if pre.link != claimed_hash {
            self.problem_at(
                Some(seq),
                "hash_mismatch",
                "the event's bytes do not hash to its stored hash (edited)",
            );
        }
        // Checkpoint events sign everything before them.
        self.last_was_checkpoint = false;
        self.last_untrusted = false;
        if is_checkpoint
            && let Some(e) = &full
            && e.data.get("scope").and_then(|v| v.as_str()) == Some("session")
        {
            self.check_checkpoint_event(seq, e);
        }
        self.prev = claimed_hash;
        self.last_computed = computed;
        if self.chunked {
            self.pending.push(leaf);
        } else {
            self.merkle.push_leaf_hash(leaf);
        }
        self.expected_seq = seq.max(self.expected_seq) + 1;
        if seq + 1 < self.expected_seq {
            // keep expected monotonic after an out-of-order event
        }
        self.check_expectations();
    }

    fn check_checkpoint_event(&mut self, seq: u64, e: &Event) {
        self.report.checkpoints_checked += 1;
        let Some((st, pubkey, sig)) = parse_session_checkpoint(&e.data) else {
            self.problem_at(Some(seq), "bad_checkpoint", "checkpoint event is malformed");
            return;
        };
        let root = self.merkle_root();
        let actual = SessionStatement {
            session: self.session.clone(),
            count: self.merkle.size(),
            head: hex::encode(self.last_computed),
            root: hex::encode(root),
        };
        if st.count != seq {
            self.problem_at(
                Some(seq),
                "bad_checkpoint",
                format!(
                    "checkpoint at seq {seq} claims to cover {} events",
                    st.count
                ),
            );
        } else if st != actual {
            self.problem_at(
                Some(seq),
                "checkpoint_mismatch",
                format!(
                    "the events before seq {seq} are not the ones this checkpoint signed (rewritten)"
                ),
            );
        }
        match self.key_for(&pubkey) {
            Err(msg) => {
                self.last_untrusted = true;
                self.problem_at(Some(seq), "untrusted_key", msg);
            }
            Ok(key) => {
                if !verify_sig(&key, &st.bytes(), &sig) {
                    self.problem_at(
                        Some(seq),
                        "bad_signature",
                        "checkpoint signature does not verify",
                    );
                } else {
                    self.last_checkpoint_cover = seq + 1;
                    self.last_was_checkpoint = true;
                }
            }
        }
    }

    fn key_for(&mut self, pubkey_hex: &str) -> std::result::Result<VerifyingKey, String> {
        let Some(k) = public_key_from_hex(pubkey_hex) else {
            return Err("checkpoint carries a malformed public key".into());
        };
        if self.trust.keys.contains(&k) {
            return Ok(k);
        }
        if self.trust.keys.is_empty() {
            return Ok(k);
        }
        Err(format!(
            "signed by key {} which is not a trusted key",
            key_id(&k)
        ))
    }

    /// Events pushed into the Merkle tree so far, with the pending ones.
    fn merkle_size(&self) -> u64 {
        self.merkle.size() + self.pending.len() as u64
    }

    /// Moves the pending leaves into the tree one by one.
    fn flush_leaves(&mut self) {
        for leaf in self.pending.drain(..) {
            self.merkle.push_leaf_hash(leaf);
        }
        self.pending_whole = false;
    }

    /// The root over every event so far.
    fn merkle_root(&mut self) -> Hash32 {
        self.flush_leaves();
        self.merkle.root()
    }

    /// The next events are one chunk, whose leaves the reader also combined into a subtree.
    fn begin_chunk(&mut self) {
        self.flush_leaves();
        self.chunked = true;
        self.pending_whole = true;
    }

    /// Ends a chunk: its leaves enter the tree as the reader's subtree of `size` leaves when
    /// they are that many, every one of them is the leaf the reader computed, and the tree's
    /// size is a multiple of `size`; otherwise one by one.
    fn end_chunk(&mut self, subtree: Option<(u64, Hash32)>) {
        match subtree {
            Some((size, root))
                if self.pending_whole
                    && self.pending.len() as u64 == size
                    && self.merkle.push_subtree(size, root) =>
            {
                self.pending.clear();
                self.pending_whole = false;
            }
            _ => self.flush_leaves(),
        }
    }

    fn check_expectations(&mut self) {
        let size = self.merkle_size();
        while let Some(x) = self.expects.first() {
            if x.count > size {
                break;
            }
            let x = self.expects.remove(0);
            let head = if x.count == 0 {
                hex::encode(GENESIS)
            } else {
                hex::encode(self.last_computed)
            };
            let root = hex::encode(self.merkle_root());
            if head != x.head || root != x.root {
                let seq = x.count.checked_sub(1);
                self.problem_at(
                    seq,
                    "checkpoint_mismatch",
                    format!(
                        "events 0..{} differ from what {} signed (rewritten or re-chained)",
                        x.count, x.from
                    ),
                );
            }
            self.last_checkpoint_cover = self.last_checkpoint_cover.max(x.count);
        }
    }

    /// Ends the session: expectations beyond the end mean truncation.
    fn finish(mut self, require_final_checkpoint: bool) {
        self.flush_leaves();
        let size = self.merkle.size();
        for x in std::mem::take(&mut self.expects) {
            self.problem_at(
                Some(size),
                "truncated",
                format!(
                    "{} covers {} events but only {size} remain",
                    x.from, x.count
                ),
            );
        }
        if require_final_checkpoint {
            if !self.last_was_checkpoint && !self.last_untrusted {
                self.problem_at(
                    Some(size.saturating_sub(1)),
                    "unanchored_export",
                    "the export does not end with a checkpoint covering all its events (truncated?)",
                );
            }
        } else if self.last_checkpoint_cover < size {
            let n = size - self.last_checkpoint_cover;
            // A trailing checkpoint event covers everything before it.
            if !(self.last_was_checkpoint && n == 1) {
                self.report.warnings.push(problem(
                    &self.session,
                    Some(self.last_checkpoint_cover),
                    "unanchored_tail",
                    format!("{n} events after the last checkpoint cannot be proven complete"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
