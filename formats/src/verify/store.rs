//! Verifying a store: its store checkpoints and every session in it.

use std::collections::{BTreeMap, HashMap};

use crate::checkpoint::{SignedCheckpoint, StoreCheckpoint, verify_sig};
use crate::error::Result;
use crate::keys::public_key_from_hex;
use crate::progress::{NoProgress, Progress, Ticker};
use crate::store::Store;

use super::split::{Split, check_inline, check_split};
use super::{Anchor, ChainCheck, Expect, Prehashed, Trust, VerifyReport, problem, store_problem};

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
    verify_store_split(store, opts, progress, Split::for_this_machine())
}

/// [`verify_store_with_progress`], local sessions read as `split` says.
pub(super) fn verify_store_split(
    store: &Store,
    opts: &StoreVerifyOptions,
    progress: &mut dyn Progress,
    split: Split,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let trust = &opts.trust;
    if !trust.pinned {
        report.warnings.push(store_problem(
            "key_not_pinned",
            "checked against the store's own key; pass --pubkey (kept elsewhere) to rule out a re-signed log",
        ));
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
                    report.problems.push(store_problem(
                        "bad_checkpoint",
                        format!("checkpoint #{no}{of} is malformed: {e}"),
                    ));
                    continue;
                }
            };
            if no != expected_no {
                report.problems.push(store_problem(
                    "checkpoint_missing",
                    format!("checkpoint #{expected_no}{of} is missing (found #{no} next)"),
                ));
            }
            expected_no = no + 1;
            if cp.prev_sig != prev_sig {
                report.problems.push(store_problem(
                    "checkpoint_chain_broken",
                    format!(
                        "checkpoint #{no}{of} does not chain to the signature of the one before it"
                    ),
                ));
            }
            if !chain_key.is_empty() && cp.key_id != chain_key {
                report.problems.push(store_problem(
                    "bad_checkpoint",
                    format!("checkpoint #{no}{of} names another key ({})", cp.key_id),
                ));
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
            Some(first) => report.problems.push(store_problem(
                "host_key_changed",
                format!(
                    "host {host} pushed with key {key_id} after key {first}: its key was replaced"
                ),
            )),
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
            Some(_) => report.problems.push(store_problem(
                "checkpoint_replaced",
                format!(
                    "the store's checkpoint #{} differs from the one kept at {source}",
                    ext.checkpoint.no
                ),
            )),
            None => report.problems.push(store_problem(
                "checkpoint_missing",
                format!(
                    "the store has no checkpoint #{} but {source} does",
                    ext.checkpoint.no
                ),
            )),
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
    // How many events each session has, for the progress: a local store's head is one seek,
    // where a count would read every event once more.
    let rows: Vec<(String, u64)> = if store.is_remote() {
        store
            .sessions()?
            .into_iter()
            .map(|s| (s.id, s.events))
            .collect()
    } else {
        store
            .session_ids()?
            .into_iter()
            .map(|id| store.head(&id).map(|(n, _)| (id, n)))
            .collect::<Result<_>>()?
    };
    let mut counts: HashMap<String, u64> = rows.iter().cloned().collect();
    let mut ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
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
    // A row with whole links takes at least 64 bytes of the store's files, so the files bound
    // how many rows a session has. This decides only how a session is read: both ways check
    // the same.
    let max_rows = if store.is_remote() {
        0
    } else {
        let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = store.path().as_os_str().to_owned();
        wal.push("-wal");
        (len(store.path()) + len(std::path::Path::new(&wal))) / 64
    };
    // Connections for the reader threads, opened for the first session that is split.
    let mut readers = Vec::new();
    for id in &ids {
        let ex = expects.remove(id).unwrap_or_default();
        let mut chk = ChainCheck::new(id, ex, trust, &mut report);
        let head = counts.get(id).copied().unwrap_or(0);
        if store.is_remote() {
            check_store_session(store, id, &mut chk, &mut ticker)?;
        } else if split.splits(head, max_rows) {
            if readers.is_empty() {
                readers = (0..split.readers)
                    .map(|_| store.row_reader())
                    .collect::<Result<_>>()?;
            }
            check_split(id, head, split.chunk, &mut readers, &mut chk, &mut ticker)?;
        } else {
            check_inline(store, id, &mut chk, &mut ticker)?;
        }
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

/// Streams a team-store session through the checker in a three-stage pipeline: this thread reads rows,
/// a worker computes the link hashes and Merkle leaves and reads the headers, and another runs
/// the checks in order.
/// Hashing is independent per event because each link is hashed over its *claimed* prev; the
/// checker recomputes the rare link whose claimed prev is wrong. Rows travel in batches that
/// hold their raw bytes in one buffer, and the checker hands each batch back to be filled
/// again: no allocation per row, none per batch once the pipeline is full.
fn check_store_session(
    store: &Store,
    id: &str,
    chk: &mut ChainCheck<'_>,
    ticker: &mut Ticker<'_>,
) -> Result<()> {
    use crate::store::RowBatch;
    use std::sync::mpsc::sync_channel;
    type Hashed = (RowBatch, Vec<Prehashed>);
    std::thread::scope(|sc| -> Result<()> {
        let (raw_tx, raw_rx) = sync_channel::<Hashed>(4);
        let (hashed_tx, hashed_rx) = sync_channel::<Hashed>(4);
        // Batches the checker is done with; more than the pipeline holds, so it never waits.
        let (free_tx, free_rx) = sync_channel::<Hashed>(16);
        sc.spawn(move || {
            for (batch, mut pre) in raw_rx {
                pre.clear();
                pre.extend(
                    batch
                        .rows
                        .iter()
                        .map(|r| Prehashed::of(&r.prev, batch.raw(r), id)),
                );
                if hashed_tx.send((batch, pre)).is_err() {
                    break;
                }
            }
        });
        let checker = sc.spawn(move || {
            for (batch, pre) in hashed_rx {
                for (r, p) in batch.rows.iter().zip(&pre) {
                    chk.event_prehashed(Some(r.seq), r.prev, r.hash, Some(batch.raw(r)), *p);
                }
                ticker.add(batch.rows.len() as u64);
                let _ = free_tx.try_send((batch, pre));
            }
        });
        let spare_pre = std::cell::RefCell::new(Vec::<Vec<Prehashed>>::new());
        let read = store.for_each_event_batch(
            id,
            BATCH,
            || match free_rx.try_recv() {
                Ok((b, p)) => {
                    spare_pre.borrow_mut().push(p);
                    b
                }
                Err(_) => RowBatch::default(),
            },
            |batch| {
                let pre = spare_pre
                    .borrow_mut()
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(BATCH));
                raw_tx.send((batch, pre)).is_ok()
            },
        );
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
        None => report.problems.push(store_problem(
            "untrusted_key",
            format!(
                "{label} is signed by key {} which is not a trusted key (was the key replaced?)",
                cp.key_id
            ),
        )),
        Some(k) => {
            if !verify_sig(&k, body, sig) {
                report.problems.push(store_problem(
                    "bad_signature",
                    format!("{label}: signature does not verify"),
                ));
            }
        }
    }
    if StoreCheckpoint::compute_root(&cp.sessions) != cp.root {
        report.problems.push(store_problem(
            "checkpoint_root_mismatch",
            format!("{label}: the root does not match its session statements"),
        ));
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
