//! Progress of long work (verify, export, import), reported through a plain callback.
//!
//! Libraries do no terminal I/O: a long function takes a `&mut dyn Progress` and calls it now
//! and then with `(done, total)`; the binary decides whether and how to show it. Calls are
//! cheap but not free, so work loops report every [`EVERY`] items (through a [`Ticker`]), not
//! per item. `done` never decreases within one call of a `_with_progress` function, never
//! exceeds `total`, and the last report has `done == total`.

/// Items (events, lines) between two progress reports.
pub const EVERY: u64 = 1024;

/// Receives progress reports. Any `FnMut(u64, u64) + Send` closure is one; `Send` because
/// verification reports from its checker thread.
pub trait Progress: Send {
    /// `done` of `total` units of work (events, bytes: the function's documentation says).
    fn update(&mut self, done: u64, total: u64);
}

impl<F: FnMut(u64, u64) + Send> Progress for F {
    fn update(&mut self, done: u64, total: u64) {
        self(done, total)
    }
}

/// Reports nothing: what the functions without `_with_progress` pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&mut self, _done: u64, _total: u64) {}
}

/// Counts work and reports it every [`EVERY`] items, keeping `done` monotonic and within
/// `total` (a total that was an estimate grows to what was actually done).
pub struct Ticker<'a> {
    progress: &'a mut dyn Progress,
    done: u64,
    total: u64,
    next: u64,
}

impl<'a> Ticker<'a> {
    /// A ticker starting at `done` of `total`; reports that start at once.
    pub fn new(progress: &'a mut dyn Progress, done: u64, total: u64) -> Ticker<'a> {
        let total = total.max(done);
        progress.update(done, total);
        Ticker {
            progress,
            done,
            total,
            next: done.saturating_add(EVERY),
        }
    }

    /// `n` more items done; reports if [`EVERY`] items passed since the last report.
    pub fn add(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        if self.done >= self.next {
            self.report();
            self.next = self.done.saturating_add(EVERY);
        }
    }

    /// Moves to `done` items (if that is ahead); reports as [`Ticker::add`] does.
    pub fn advance_to(&mut self, done: u64) {
        if done > self.done {
            self.add(done - self.done);
        }
    }

    /// Items done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Raises the total (never lowers it).
    pub fn grow_total(&mut self, total: u64) {
        self.total = self.total.max(total);
    }

    /// Reports the current count now.
    pub fn report(&mut self) {
        self.total = self.total.max(self.done);
        self.progress.update(self.done, self.total);
    }

    /// Ends the work: the total becomes what was done, and that is reported.
    pub fn finish(mut self) {
        self.total = self.done;
        self.progress.update(self.done, self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::{ensure_final_checkpoint, write_session_with_progress};
    use crate::keys::Keys;
    use crate::store::{SessionMeta, Store, StoredEvent};
    use crate::synth::{Rng, event};
    use crate::verify::{
        StoreVerifyOptions, verify_jsonl_with_progress, verify_store_with_progress,
    };
    use crate::{Event, Redactor};
    use chrono::{TimeZone, Utc};

    /// Every report within its total, `done` never going back, more than a start and an end,
    /// and the last report `(total, total)`.
    fn assert_reports(seen: &[(u64, u64)], total: u64) {
        assert!(seen.len() > 2, "{seen:?}");
        assert!(seen.iter().all(|(d, t)| d <= t), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
        assert_eq!(seen.last(), Some(&(total, total)));
    }

    /// A store with one synthetic session of `n` events (appended with progress) and a final
    /// checkpoint event.
    fn store_of(dir: &std::path::Path, n: u64) -> (Store, String, Keys) {
        let store = Store::open(&dir.join("fl.db")).unwrap();
        let keys = Keys::load_or_create(&dir.join("keys")).unwrap();
        let red = Redactor::new(keys.fingerprint_key);
        let start = Utc
            .with_ymd_and_hms(2026, 4, 25, 21, 0, 0)
            .single()
            .unwrap();
        let id = store
            .create_session(&SessionMeta::default(), start)
            .unwrap();
        let mut rng = Rng::new(7);
        let evs = (0..n).map(|i| event(&mut rng, i, n, start)).collect();
        let mut seen = Vec::new();
        store
            .append_batch_with_progress(&id, evs, &red, &mut |d, t| seen.push((d, t)))
            .unwrap();
        assert_reports(&seen, n);
        ensure_final_checkpoint(&store, &id, &keys, start).unwrap();
        (store, id, keys)
    }

    #[test]
    fn long_work_reports_monotonic_progress_that_reaches_its_total() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id, _keys) = store_of(dir.path(), 5000);
        let total = store.head(&id).unwrap().0;
        assert_eq!(total, 5001);

        let mut seen = Vec::new();
        let report =
            verify_store_with_progress(&store, &StoreVerifyOptions::default(), &mut |d, t| {
                seen.push((d, t))
            })
            .unwrap();
        assert!(report.intact, "{report:?}");
        assert_reports(&seen, total);

        let mut out = Vec::new();
        let mut seen = Vec::new();
        let n = write_session_with_progress(&store, &id, &mut out, &mut |d, t| seen.push((d, t)))
            .unwrap();
        assert_eq!(n, total);
        assert_reports(&seen, total);

        let mut seen = Vec::new();
        let report = verify_jsonl_with_progress(&out[..], &Default::default(), &mut |d, t| {
            seen.push((d, t))
        })
        .unwrap();
        assert!(report.intact, "{report:?}");
        assert_reports(&seen, total);

        // The same rows stored verbatim in another store.
        let other = Store::open(&dir.path().join("other.db")).unwrap();
        let rows: Vec<StoredEvent> = store.events(&id, 0, u64::MAX).unwrap();
        let first = Event::from_bytes(&rows[0].raw).unwrap();
        let meta = SessionMeta {
            id: Some(id.clone()),
            ..Default::default()
        };
        let mut seen = Vec::new();
        other
            .insert_verbatim_session_with_progress(
                &meta,
                first.time().unwrap(),
                &rows,
                &mut |d, t| seen.push((d, t)),
            )
            .unwrap();
        assert_reports(&seen, total);
    }

    #[test]
    fn verify_reports_over_every_session_of_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _id, keys) = store_of(dir.path(), 1500);
        let red = Redactor::new(keys.fingerprint_key);
        let start = Utc.with_ymd_and_hms(2026, 4, 26, 9, 0, 0).single().unwrap();
        let second = store
            .create_session(&SessionMeta::default(), start)
            .unwrap();
        let mut rng = Rng::new(8);
        let evs = (0..2500).map(|i| event(&mut rng, i, 2500, start)).collect();
        store.append_batch(&second, evs, &red).unwrap();
        let mut seen = Vec::new();
        let report =
            verify_store_with_progress(&store, &StoreVerifyOptions::default(), &mut |d, t| {
                seen.push((d, t))
            })
            .unwrap();
        assert_eq!(report.events_checked, 1501 + 2500);
        assert_reports(&seen, 1501 + 2500);
        assert!(seen.iter().all(|(_, t)| *t == 4001), "{seen:?}");
    }

    #[test]
    fn a_ticker_reports_every_so_often_and_ends_at_the_total() {
        let mut seen = Vec::new();
        let mut cb = |d: u64, t: u64| seen.push((d, t));
        let mut t = Ticker::new(&mut cb, 0, 3000);
        for _ in 0..3000 {
            t.add(1);
        }
        t.finish();
        assert_eq!(
            seen,
            vec![(0, 3000), (1024, 3000), (2048, 3000), (3000, 3000)]
        );
    }

    #[test]
    fn a_total_that_was_too_small_grows_and_done_stays_within_it() {
        let mut seen = Vec::new();
        let mut cb = |d: u64, t: u64| seen.push((d, t));
        let mut t = Ticker::new(&mut cb, 0, 10);
        t.add(2000);
        t.finish();
        assert!(seen.iter().all(|(d, t)| d <= t), "{seen:?}");
        assert_eq!(seen.last(), Some(&(2000, 2000)));
    }
}
