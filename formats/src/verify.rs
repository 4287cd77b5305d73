//! Verification: every event, every link, every checkpoint. It reports every problem it finds
//! (with session, seq and kind), not just the first; the viewer shows a tampered log with the
//! breaks marked, and `flightlog verify` turns the report into an exit code.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::canonical::fast_header;
use crate::chain::{GENESIS, Hash32, link_hash, split_export_line};
use crate::checkpoint::{
    SessionStatement, SignedCheckpoint, StoreCheckpoint, parse_session_checkpoint, verify_sig,
};
use crate::error::Result;
use crate::event::{Event, Kind};
use crate::keys::{key_id, public_key_from_hex};
use crate::merkle::MerkleBuilder;
use crate::progress::{NoProgress, Progress, Ticker};
use crate::store::Store;

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

/// A signed expectation about a prefix of a session.
#[derive(Debug, Clone)]
struct Expect {
    count: u64,
    head: String,
    root: String,
    from: String,
}

/// An event's link hash over its claimed prev, and that hash as a Merkle leaf.
#[derive(Debug, Clone, Copy)]
struct Prehashed {
    link: Hash32,
    leaf: Hash32,
}

impl Prehashed {
    fn of(claimed_prev: &Hash32, raw: &[u8]) -> Prehashed {
        let link = link_hash(claimed_prev, raw);
        Prehashed {
            link,
            leaf: crate::merkle::leaf_hash(&link),
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

    fn push(&mut self, p: Problem) {
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
        let pre = Prehashed::of(&claimed_prev, raw);
        self.event_prehashed(row_seq, claimed_prev, claimed_hash, raw, pre);
    }

    /// Like [`ChainCheck::event`], with the link hash (over the *claimed* prev) and its Merkle
    /// leaf computed beforehand, possibly on another thread.
    fn event_prehashed(
        &mut self,
        row_seq: Option<u64>,
        claimed_prev: Hash32,
        claimed_hash: Hash32,
        raw: &[u8],
        pre: Prehashed,
    ) {
        self.report.events_checked += 1;
        // The chain is hashed over the previous event's claimed hash; when the claimed prev is
        // that hash (every intact link), the precomputed value is the one.
        let (computed, leaf) = if claimed_prev == self.prev {
            (pre.link, pre.leaf)
        } else {
            let c = link_hash(&self.prev, raw);
            (c, crate::merkle::leaf_hash(&c))
        };
        // Fast path: canonical events start with a fixed header; only checkpoints (and
        // anything not in canonical form) are parsed in full.
        let mut full: Option<Event> = None;
        let (seq, session_ok, is_checkpoint) = match fast_header(raw) {
            Some(h) => {
                let is_cp = h.kind == b"checkpoint";
                if is_cp {
                    full = Event::from_bytes(raw).ok();
                }
                (h.seq, h.session == self.session.as_bytes(), is_cp)
            }
            None => match Event::from_bytes(raw) {
                Ok(e) => {
                    let r = (e.seq, e.session == self.session, e.kind == Kind::Checkpoint);
                    full = Some(e);
                    r
                }
                Err(e) => {
                    let seq = row_seq.unwrap_or(self.expected_seq);
                    let s = self.session.clone();
                    self.push(problem(
                        &s,
                        Some(seq),
                        "unparseable",
                        format!("event bytes are not a valid event: {e}"),
                    ));
                    (seq, true, false)
                }
            },
        };
        if !session_ok {
            let claimed = Event::from_bytes(raw)
                .map(|e| e.session)
                .unwrap_or_default();
            self.push(problem(
                &self.session.clone(),
                Some(seq),
                "wrong_session",
                format!("event claims session {claimed}"),
            ));
        }
        if let Some(rs) = row_seq
            && rs != seq
        {
            self.push(problem(
                &self.session.clone(),
                Some(rs),
                "seq_mismatch",
                format!("stored at seq {rs} but the event says seq {seq}"),
            ));
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
            self.push(problem(
                &self.session.clone(),
                Some(self.expected_seq),
                "missing_event",
                detail,
            ));
        } else if seq < self.expected_seq {
            self.push(problem(&self.session.clone(), Some(seq), "out_of_order", format!("seq {seq} appears where seq {} was expected (inserted, duplicated or reordered)", self.expected_seq)));
        }
        if claimed_prev != self.prev {
            self.push(problem(
                &self.session.clone(),
                Some(seq),
                "broken_link",
                "prev does not match the hash of the event before it",
            ));
        }
        // The event's own bytes must hash (with the prev it claims) to the hash it claims.
        let own = if claimed_prev == self.prev {
            computed
        } else {
            link_hash(&claimed_prev, raw)
        };
        if own != claimed_hash {
            self.push(problem(
                &self.session.clone(),
                Some(seq),
                "hash_mismatch",
                "the event's bytes do not hash to its stored hash (edited)",
            ));
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
        self.merkle.push_leaf_hash(leaf);
        self.expected_seq = seq.max(self.expected_seq) + 1;
        if seq + 1 < self.expected_seq {
            // keep expected monotonic after an out-of-order event
        }
        self.check_expectations();
    }

    fn check_checkpoint_event(&mut self, seq: u64, e: &Event) {
        let s = self.session.clone();
        self.report.checkpoints_checked += 1;
        let Some((st, pubkey, sig)) = parse_session_checkpoint(&e.data) else {
            self.push(problem(
                &s,
                Some(seq),
                "bad_checkpoint",
                "checkpoint event is malformed",
            ));
            return;
        };
        let actual = SessionStatement {
            session: s.clone(),
            count: self.merkle.size(),
            head: hex::encode(self.last_computed),
            root: hex::encode(self.merkle.root()),
        };
        if st.count != seq {
            self.push(problem(
                &s,
                Some(seq),
                "bad_checkpoint",
                format!(
                    "checkpoint at seq {seq} claims to cover {} events",
                    st.count
                ),
            ));
        } else if st != actual {
            self.push(problem(&s, Some(seq), "checkpoint_mismatch", format!("the events before seq {seq} are not the ones this checkpoint signed (rewritten)")));
        }
        match self.key_for(&pubkey) {
            Err(msg) => {
                self.last_untrusted = true;
                self.push(problem(&s, Some(seq), "untrusted_key", msg));
            }
            Ok(key) => {
                if !verify_sig(&key, &st.bytes(), &sig) {
                    self.push(problem(
                        &s,
                        Some(seq),
                        "bad_signature",
                        "checkpoint signature does not verify",
                    ));
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

    fn check_expectations(&mut self) {
        let size = self.merkle.size();
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
            let root = hex::encode(self.merkle.root());
            if head != x.head || root != x.root {
                let s = self.session.clone();
                let seq = x.count.checked_sub(1);
                self.push(problem(
                    &s,
                    seq,
                    "checkpoint_mismatch",
                    format!(
                        "events 0..{} differ from what {} signed (rewritten or re-chained)",
                        x.count, x.from
                    ),
                ));
            }
            self.last_checkpoint_cover = self.last_checkpoint_cover.max(x.count);
        }
    }

    /// Ends the session: expectations beyond the end mean truncation.
    fn finish(mut self, require_final_checkpoint: bool) {
        let s = self.session.clone();
        let size = self.merkle.size();
        for x in std::mem::take(&mut self.expects) {
            self.push(problem(
                &s,
                Some(size),
                "truncated",
                format!(
                    "{} covers {} events but only {size} remain",
                    x.from, x.count
                ),
            ));
        }
        if require_final_checkpoint {
            if !self.last_was_checkpoint && !self.last_untrusted {
                self.push(problem(&s, Some(size.saturating_sub(1)), "unanchored_export", "the export does not end with a checkpoint covering all its events (truncated?)"));
            }
        } else if self.last_checkpoint_cover < size {
            let n = size - self.last_checkpoint_cover;
            // A trailing checkpoint event covers everything before it.
            if !(self.last_was_checkpoint && n == 1) {
                self.report.warnings.push(problem(
                    &s,
                    Some(self.last_checkpoint_cover),
                    "unanchored_tail",
                    format!("{n} events after the last checkpoint cannot be proven complete"),
                ));
            }
        }
    }
}

/// Options for verifying a store.
#[derive(Debug, Clone, Default)]
pub struct StoreVerifyOptions {
    /// Only this session (None: every session).
    pub session: Option<String>,
    pub trust: Trust,
    /// A checkpoint kept outside the store (`--checkpoint FILE`).
    pub external: Option<(SignedCheckpoint, String)>,
}

/// What a store's own checkpoints are checked against when the auditor names no key: the keys
/// in the local store's key directory, or the team store's host keys (trusted on first push).
pub fn default_trust(store: &Store, key_dir: &std::path::Path) -> Result<Trust> {
    if store.is_remote() {
        let keys = store
            .host_keys()?
            .iter()
            .filter_map(|(_, _, pk)| public_key_from_hex(pk))
            .collect();
        return Ok(Trust {
            keys,
            pinned: false,
        });
    }
    Ok(Trust {
        keys: crate::keys::trusted_public_keys(key_dir).unwrap_or_default(),
        pinned: false,
    })
}

/// Verifies a store: every session's chain, every store checkpoint and its chain of signatures.
pub fn verify_store(store: &Store, opts: &StoreVerifyOptions) -> Result<VerifyReport> {
    verify_store_with_progress(store, opts, &mut NoProgress)
}

/// [`verify_store`], reporting the events checked out of the events of the sessions verified.
pub fn verify_store_with_progress(
    store: &Store,
    opts: &StoreVerifyOptions,
    progress: &mut dyn Progress,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let trust = &opts.trust;
    if !trust.pinned {
        report.warnings.push(Problem {
            session: None,
            seq: None,
            kind: "key_not_pinned".into(),
            detail: "checked against the store's own key; pass --pubkey (kept elsewhere) to rule out a re-signed log".into(),
        });
    }
    // 1. Store checkpoints: one chain in a local store, one per signing key in the team store.
    let mut expects: HashMap<String, Vec<Expect>> = HashMap::new();
    let mut store_sigs: BTreeMap<u64, String> = BTreeMap::new();
    for (chain_key, rows) in store.checkpoint_chains()? {
        let mut prev_sig = String::new();
        let mut expected_no = 1u64;
        let of = if chain_key.is_empty() {
            String::new()
        } else {
            format!(" of key {chain_key}")
        };
        for (no, body, sig) in rows {
            report.checkpoints_checked += 1;
            if chain_key.is_empty() {
                store_sigs.insert(no, sig.clone());
            }
            let cp: StoreCheckpoint = match serde_json::from_slice(&body) {
                Ok(c) => c,
                Err(e) => {
                    report.problems.push(Problem {
                        session: None,
                        seq: None,
                        kind: "bad_checkpoint".into(),
                        detail: format!("checkpoint #{no}{of} is malformed: {e}"),
                    });
                    continue;
                }
            };
            if no != expected_no {
                report.problems.push(Problem {
                    session: None,
                    seq: None,
                    kind: "checkpoint_missing".into(),
                    detail: format!("checkpoint #{expected_no}{of} is missing (found #{no} next)"),
                });
            }
            expected_no = no + 1;
            if cp.prev_sig != prev_sig {
                report.problems.push(Problem {
                    session: None,
                    seq: None,
                    kind: "checkpoint_chain_broken".into(),
                    detail: format!(
                        "checkpoint #{no}{of} does not chain to the signature of the one before it"
                    ),
                });
            }
            if !chain_key.is_empty() && cp.key_id != chain_key {
                report.problems.push(Problem {
                    session: None,
                    seq: None,
                    kind: "bad_checkpoint".into(),
                    detail: format!("checkpoint #{no}{of} names another key ({})", cp.key_id),
                });
            }
            prev_sig = sig.clone();
            check_store_checkpoint(
                &cp,
                &body,
                &sig,
                trust,
                &format!("checkpoint #{no}{of}"),
                &mut report,
                &mut expects,
            );
        }
    }
    // The team store trusts each host's first key; a host that signs with another one is
    // reported (a replaced key is how a rewritten log would be re-signed).
    let mut first_key: BTreeMap<String, String> = BTreeMap::new();
    for (host, key_id, _) in store.host_keys()? {
        match first_key.get(&host) {
            None => {
                first_key.insert(host, key_id);
            }
            Some(first) => report.problems.push(Problem {
                session: None,
                seq: None,
                kind: "host_key_changed".into(),
                detail: format!(
                    "host {host} pushed with key {key_id} after key {first}: its key was replaced"
                ),
            }),
        }
    }
    // 2. An external checkpoint: the anchor.
    if let Some((ext, source)) = &opts.external {
        let label = format!("external checkpoint #{} ({source})", ext.checkpoint.no);
        let before = report.problems.len();
        check_store_checkpoint(
            &ext.checkpoint,
            &ext.checkpoint.body_bytes(),
            &ext.sig,
            trust,
            &label,
            &mut report,
            &mut expects,
        );
        match store_sigs.get(&ext.checkpoint.no) {
            Some(s) if *s == ext.sig => {}
            Some(_) => report.problems.push(Problem {
                session: None,
                seq: None,
                kind: "checkpoint_replaced".into(),
                detail: format!(
                    "the store's checkpoint #{} differs from the one kept at {source}",
                    ext.checkpoint.no
                ),
            }),
            None => report.problems.push(Problem {
                session: None,
                seq: None,
                kind: "checkpoint_missing".into(),
                detail: format!(
                    "the store has no checkpoint #{} but {source} does",
                    ext.checkpoint.no
                ),
            }),
        }
        if report.problems.len() == before {
            report.anchored = Some(Anchor {
                checkpoint_no: ext.checkpoint.no,
                ts: ext.checkpoint.ts.clone(),
                source: source.clone(),
            });
        }
    }
    // 3. Sessions.
    let rows = store.sessions()?;
    let mut counts: HashMap<String, u64> = rows.iter().map(|s| (s.id.clone(), s.events)).collect();
    let mut ids: Vec<String> = rows.into_iter().map(|s| s.id).collect();
    for orphan in store.orphan_event_sessions()? {
        counts.insert(orphan.clone(), store.head(&orphan)?.0);
        report.problems.push(problem(
            &orphan,
            None,
            "session_row_missing",
            "events exist for a session the store does not list",
        ));
        ids.push(orphan);
    }
    if let Some(only) = &opts.session {
        ids.retain(|i| i == only);
        expects.retain(|k, _| k == only);
    }
    if store.is_remote() {
        // A host's checkpoints cover every session of its local store, and a host pushes only
        // some of them: a session the team store never received is not a deleted one.
        expects.retain(|k, _| counts.contains_key(k));
    }
    let total = ids.iter().filter_map(|i| counts.get(i)).sum();
    let mut ticker = Ticker::new(progress, 0, total);
    for id in &ids {
        let ex = expects.remove(id).unwrap_or_default();
        let mut chk = ChainCheck::new(id, ex, trust, &mut report);
        check_store_session(store, id, &mut chk, &mut ticker)?;
        chk.finish(false);
    }
    ticker.finish();
    let mut gone: Vec<_> = expects.into_iter().collect();
    gone.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, ex) in gone {
        if let Some(x) = ex.iter().max_by_key(|x| x.count) {
            report.problems.push(problem(
                &id,
                None,
                "session_deleted",
                format!(
                    "{} covers {} events of this session, which is gone from the store",
                    x.from, x.count
                ),
            ));
        }
    }
    Ok(report.finish())
}

/// Events per batch handed between the verify threads.
const BATCH: usize = 2048;

/// Streams a session through the checker in a three-stage pipeline: this thread reads rows,
/// a worker computes the link hashes and Merkle leaves, and another runs the checks in order.
/// Hashing is independent per event because each link is hashed over its *claimed* prev; the
/// checker recomputes the rare link whose claimed prev is wrong.
fn check_store_session(
    store: &Store,
    id: &str,
    chk: &mut ChainCheck<'_>,
    ticker: &mut Ticker<'_>,
) -> Result<()> {
    use std::sync::mpsc::sync_channel;
    type Hashed = Vec<(crate::store::StoredEvent, Prehashed)>;
    std::thread::scope(|sc| -> Result<()> {
        let (raw_tx, raw_rx) = sync_channel::<Vec<crate::store::StoredEvent>>(4);
        let (hashed_tx, hashed_rx) = sync_channel::<Hashed>(4);
        sc.spawn(move || {
            for batch in raw_rx {
                let hashed: Hashed = batch
                    .into_iter()
                    .map(|e| {
                        let p = Prehashed::of(&e.prev, &e.raw);
                        (e, p)
                    })
                    .collect();
                if hashed_tx.send(hashed).is_err() {
                    break;
                }
            }
        });
        let checker = sc.spawn(move || {
            for batch in hashed_rx {
                let n = batch.len() as u64;
                for (ev, pre) in batch {
                    chk.event_prehashed(Some(ev.seq), ev.prev, ev.hash, &ev.raw, pre);
                }
                ticker.add(n);
            }
        });
        let mut batch = Vec::with_capacity(BATCH);
        let mut sent_ok = true;
        let read = store.for_each_event(id, |ev| {
            batch.push(ev);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                sent_ok = raw_tx.send(full).is_ok();
            }
            sent_ok
        });
        if !batch.is_empty() && sent_ok {
            let _ = raw_tx.send(batch);
        }
        drop(raw_tx);
        if checker.join().is_err() {
            return Err(crate::error::Error::Invalid(
                "the verify checker thread panicked".into(),
            ));
        }
        read
    })
}

fn check_store_checkpoint(
    cp: &StoreCheckpoint,
    body: &[u8],
    sig: &str,
    trust: &Trust,
    label: &str,
    report: &mut VerifyReport,
    expects: &mut HashMap<String, Vec<Expect>>,
) {
    let key = match trust.find(&cp.key_id) {
        Some(k) => Some(*k),
        None if trust.keys.is_empty() => public_key_from_hex(&cp.pubkey),
        None => None,
    };
    match key {
        None => report.problems.push(Problem {
            session: None,
            seq: None,
            kind: "untrusted_key".into(),
            detail: format!(
                "{label} is signed by key {} which is not a trusted key (was the key replaced?)",
                cp.key_id
            ),
        }),
        Some(k) => {
            if !verify_sig(&k, body, sig) {
                report.problems.push(Problem {
                    session: None,
                    seq: None,
                    kind: "bad_signature".into(),
                    detail: format!("{label}: signature does not verify"),
                });
            }
        }
    }
    if StoreCheckpoint::compute_root(&cp.sessions) != cp.root {
        report.problems.push(Problem {
            session: None,
            seq: None,
            kind: "checkpoint_root_mismatch".into(),
            detail: format!("{label}: the root does not match its session statements"),
        });
    }
    for st in &cp.sessions {
        expects.entry(st.session.clone()).or_default().push(Expect {
            count: st.count,
            head: st.head.clone(),
            root: st.root.clone(),
            from: label.to_string(),
        });
    }
}

/// One jsonl line: claimed prev, claimed hash, event bytes.
type Line = (Hash32, Hash32, Vec<u8>);

/// Verifies a jsonl export (one or more sessions). Each session must end with a checkpoint
/// event that covers all its events.
pub fn verify_jsonl(reader: impl BufRead, trust: &Trust) -> Result<VerifyReport> {
    verify_jsonl_with_progress(reader, trust, &mut NoProgress)
}

/// [`verify_jsonl`], reporting the events checked out of the events read. The file is read in
/// full before the first report (a caller that wants to show the reading can count the bytes
/// its reader hands out).
pub fn verify_jsonl_with_progress(
    reader: impl BufRead,
    trust: &Trust,
    progress: &mut dyn Progress,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    if !trust.pinned {
        report.warnings.push(Problem { session: None, seq: None, kind: "key_not_pinned".into(), detail: "no trusted public key given (--pubkey): signatures were checked against the key the file carries".into() });
    }
    // Lines grouped per session in file order, kept as bytes.
    let mut grouped: crate::chain::Grouped<Line> = crate::chain::Grouped::default();
    let mut reader = reader;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| crate::error::Error::io("<jsonl>", e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let Some((prev, hash, ev)) = split_export_line(line) else {
            report.problems.push(Problem {
                session: None,
                seq: None,
                kind: "bad_line".into(),
                detail: format!("line {line_no} is not {{\"prev\":…,\"hash\":…,\"event\":…}}"),
            });
            continue;
        };
        // An event that names no session goes with the session that appeared last.
        let sid = line_session(ev)
            .unwrap_or_else(|| Cow::Owned(grouped.last_session().unwrap_or_default().to_string()));
        grouped.push(&sid, (prev, hash, ev.to_vec()));
    }
    if grouped.is_empty() && report.problems.is_empty() {
        report.problems.push(Problem {
            session: None,
            seq: None,
            kind: "empty".into(),
            detail: "no events in the file".into(),
        });
    }
    let sessions = grouped.into_groups();
    let total = sessions.iter().map(|s| s.1.len() as u64).sum();
    let mut ticker = Ticker::new(progress, 0, total);
    for (sid, lines) in sessions {
        let mut chk = ChainCheck::new(&sid, Vec::new(), trust, &mut report);
        for (prev, hash, raw) in &lines {
            chk.event(None, *prev, *hash, raw);
            ticker.add(1);
        }
        chk.finish(true);
    }
    ticker.finish();
    Ok(report.finish())
}

/// The session a jsonl event names: read from its canonical header when it has one, else from
/// the event parsed in full. None when neither names one.
fn line_session(ev: &[u8]) -> Option<Cow<'_, str>> {
    match fast_header(ev).map(|h| std::str::from_utf8(h.session)) {
        Some(Ok(s)) => Some(Cow::Borrowed(s)),
        _ => Event::from_bytes(ev).ok().map(|e| Cow::Owned(e.session)),
    }
}

#[cfg(test)]
mod tests;
