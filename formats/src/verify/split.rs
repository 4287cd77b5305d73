//! Checking a local session read on several threads.
//!
//! The session's seqs are cut into chunks of a power of two, dealt round-robin to one reader per
//! core, each on its own connection. A reader hashes every row where SQLite holds it (the mapped
//! page: no copy), copies out the bytes of only the rows the checker may need them for (see
//! [`ChainCheck::needs_bytes`]), and combines the chunk's Merkle leaves into one subtree. The
//! checker takes the chunks in order on the calling thread; what it does per event is compare
//! links and seqs. Hashing is independent per event because each link is hashed over its
//! *claimed* prev; where a claimed prev is wrong the checker hashes that link again, and the
//! chunk's leaves enter the tree one by one.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::chain::Hash32;
use crate::error::{Error, Result};
use crate::merkle::MerkleBuilder;
use crate::progress::Ticker;
use crate::store::{RowReader, Store};

use super::{ChainCheck, Prehashed};

/// How local sessions are read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Split {
    /// Seqs per chunk, a power of two: a chunk of consecutive events, starting at a multiple of
    /// it, is one perfect subtree of the session's Merkle tree.
    pub(super) chunk: u64,
    /// Reader threads; 1 reads on the calling thread alone.
    pub(super) readers: usize,
}

impl Split {
    /// Chunks of 2,048 seqs (a few hundred KB of rows in flight per reader), one reader per
    /// core.
    pub(super) fn for_this_machine() -> Split {
        Split {
            chunk: 2048,
            readers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8),
        }
    }

    /// Whether a session of `head` seqs (its last seq + 1) is read in chunks on reader threads.
    /// `max_rows` bounds how many rows the store can hold at all: chunks past it would mostly
    /// be empty seeks (a seq far out is tampering), so such a session is read in one pass.
    pub(super) fn splits(&self, head: u64, max_rows: u64) -> bool {
        self.readers > 1 && head > self.chunk && head / 2 <= max_rows
    }
}

/// Chunks each reader may have ready before the checker takes them.
const AHEAD: usize = 3;

/// One row as a reader hands it to the checker.
#[derive(Debug, Clone, Copy)]
struct Row {
    seq: u64,
    prev: Hash32,
    hash: Hash32,
    pre: Prehashed,
    /// Where the row's bytes are in [`Chunk::bytes`], for the rows that carry them.
    bytes: Option<(usize, usize)>,
}

/// The rows of one chunk of seqs; a chunk is filled, checked and handed back to be filled again.
#[derive(Debug, Default)]
struct Chunk {
    no: u64,
    rows: Vec<Row>,
    bytes: Vec<u8>,
    /// The root over the chunk's leaves when their number is a power of two, with that number.
    subtree: Option<(u64, Hash32)>,
}

impl Chunk {
    fn raw(&self, row: &Row) -> Option<&[u8]> {
        row.bytes.and_then(|(a, b)| self.bytes.get(a..b))
    }

    /// Reads the rows with seq in `lo..=hi`.
    fn fill(&mut self, reader: &RowReader, session: &str, lo: u64, hi: u64) -> Result<()> {
        self.rows.clear();
        self.bytes.clear();
        self.subtree = None;
        let mut tree = MerkleBuilder::new();
        let mut last: Option<Hash32> = None;
        reader.rows_between(session, lo, hi, |seq, prev, hash, raw| {
            let prev = to_hash32(prev);
            let hash = to_hash32(hash);
            let pre = Prehashed::of(&prev, raw, session);
            tree.push_leaf_hash(pre.leaf);
            // The checker's prev at this row is the hash of the row before it, which for the
            // first row of a chunk is in another chunk: that row always carries its bytes.
            let needs = last.is_none_or(|p| ChainCheck::needs_bytes(&p, &prev, &pre));
            let bytes = needs.then(|| {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(raw);
                (start, self.bytes.len())
            });
            self.rows.push(Row {
                seq,
                prev,
                hash,
                pre,
                bytes,
            });
            last = Some(hash);
            true
        })?;
        let n = self.rows.len() as u64;
        if n.is_power_of_two() {
            self.subtree = Some((n, tree.root()));
        }
        Ok(())
    }
}

/// A stored link as a hash: zeros unless it is 32 bytes (as the store's other readers do).
fn to_hash32(b: &[u8]) -> Hash32 {
    <Hash32>::try_from(b).unwrap_or_default()
}

/// The seqs of chunk `no` of `chunks`: the last one is open-ended, so that no row with a seq of
/// 0 or more is left out.
fn seqs(chunk: u64, chunks: u64, no: u64) -> (u64, u64) {
    let lo = no * chunk;
    if no + 1 == chunks {
        (lo, u64::MAX)
    } else {
        (lo, lo + chunk - 1)
    }
}

/// One reader: chunks `first`, `first + step`, ... in order, until the last or until the checker
/// stops taking them.
#[allow(clippy::too_many_arguments)]
fn read_chunks(
    reader: &RowReader,
    session: &str,
    chunk: u64,
    chunks: u64,
    first: u64,
    step: u64,
    out: SyncSender<Result<Chunk>>,
    free: Receiver<Chunk>,
) {
    let mut no = first;
    while no < chunks {
        let mut c = free.try_recv().unwrap_or_default();
        c.no = no;
        let (lo, hi) = seqs(chunk, chunks, no);
        let res = c.fill(reader, session, lo, hi).map(|()| c);
        let failed = res.is_err();
        if out.send(res).is_err() || failed {
            return;
        }
        no += step;
    }
}

/// Checks a local session of `head` seqs with one reader thread per connection in `readers`.
pub(super) fn check_split(
    session: &str,
    head: u64,
    chunk: u64,
    readers: &mut [RowReader],
    chk: &mut ChainCheck<'_>,
    ticker: &mut Ticker<'_>,
) -> Result<()> {
    let chunks = head.div_ceil(chunk).max(1);
    let step = readers.len() as u64;
    std::thread::scope(|sc| {
        let mut outs = Vec::new();
        let mut frees = Vec::new();
        let mut handles = Vec::new();
        for (w, reader) in readers.iter_mut().enumerate() {
            let (tx, rx) = sync_channel(AHEAD);
            let (free_tx, free_rx) = sync_channel(AHEAD + 2);
            // Each connection goes to one thread (a connection is not shared between threads).
            handles.push(sc.spawn(move || {
                read_chunks(reader, session, chunk, chunks, w as u64, step, tx, free_rx)
            }));
            outs.push(rx);
            frees.push(free_tx);
        }
        let res = (|| -> Result<()> {
            for no in 0..chunks {
                let w = (no % step) as usize;
                let c = outs[w].recv().map_err(|_| {
                    Error::Invalid("a verify reader thread stopped before its last chunk".into())
                })??;
                if c.no != no {
                    return Err(Error::Invalid(format!(
                        "verify expected chunk {no} and was handed chunk {}",
                        c.no
                    )));
                }
                chk.begin_chunk();
                for r in &c.rows {
                    chk.event_prehashed(Some(r.seq), r.prev, r.hash, c.raw(r), r.pre);
                }
                chk.end_chunk(c.subtree);
                ticker.add(c.rows.len() as u64);
                let _ = frees[w].try_send(c);
            }
            Ok(())
        })();
        // Readers still sending (after an error) see the channels gone and stop.
        drop(outs);
        drop(frees);
        for h in handles {
            if h.join().is_err() {
                return Err(Error::Invalid("a verify reader thread panicked".into()));
            }
        }
        res
    })
}

/// Checks a local session in one pass on the calling thread, rows borrowed from SQLite.
pub(super) fn check_inline(
    store: &Store,
    session: &str,
    chk: &mut ChainCheck<'_>,
    ticker: &mut Ticker<'_>,
) -> Result<()> {
    store
        .rows()?
        .rows_between(session, 0, u64::MAX, |seq, prev, hash, raw| {
            chk.event(Some(seq), to_hash32(prev), to_hash32(hash), raw);
            ticker.add(1);
            true
        })
}
