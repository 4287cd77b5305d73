//! One loaded session, the same for every output: its events, the analysis, the verification
//! and the events that could not be read.
//!
//! `report`, `sessions`, the summary `record` prints, `demo`, `policy test` and the exports all
//! build their view with [`load`], so they read the same events, judge them with the same
//! analysis and say "intact" by the same rule ([`SessionView::intact`]). An event whose bytes do
//! not parse is never silently dropped: it is listed in [`SessionView::unreadable`] (and the
//! verification reports it too).

use flightlog_formats::chain::Hash32;
use flightlog_formats::progress::{NoProgress, Progress, Ticker};
use flightlog_formats::verify::{
    StoreVerifyOptions, Trust, VerifyReport, verify_store_with_progress,
};
use flightlog_formats::{Event, Store};

use crate::{Analysis, Policy, analyze};

/// An event the session holds but that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub seq: u64,
    pub error: String,
}

/// A readable event's place in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub prev: Hash32,
    pub hash: Hash32,
}

/// Everything an output needs about one session.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: String,
    /// The readable events, in seq order.
    pub events: Vec<Event>,
    /// `links[i]` is the chain link of `events[i]`.
    pub links: Vec<Link>,
    pub analysis: Analysis,
    /// Verification of the session's chain and of the checkpoints covering it.
    pub verification: VerifyReport,
    /// Events whose bytes do not parse (left out of `events` and the analysis).
    pub unreadable: Vec<Unreadable>,
}

impl SessionView {
    /// Whether the session can be trusted as recorded: verification found no problem with its
    /// own chain and none with the store-wide checkpoints that cover it. The one definition of
    /// "intact" every output uses.
    pub fn intact(&self) -> bool {
        intact(&self.verification, &self.session)
    }
}

/// "Intact" for `session` from a verification report: no problem about that session and no
/// store-wide problem (a broken checkpoint chain leaves every session unproven).
pub fn intact(report: &VerifyReport, session: &str) -> bool {
    !report
        .problems
        .iter()
        .any(|p| p.session.as_deref().is_none_or(|s| s == session))
}

/// The steps of [`load_with_progress`], for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading and parsing the events (progress in events).
    Reading,
    /// Running the analysis (no progress count).
    Analysing,
    /// Verifying the chain and the checkpoints (progress in events).
    Verifying,
}

/// Progress of [`load_with_progress`]: a phase starts, then counts within it.
pub trait LoadProgress: Progress {
    fn phase(&mut self, phase: Phase, total: u64);
}

impl LoadProgress for NoProgress {
    fn phase(&mut self, _: Phase, _: u64) {}
}

/// Loads a session: its events, the analysis under `policy`, and its verification.
pub fn load(
    store: &Store,
    session: &str,
    policy: &Policy,
    trust: &Trust,
) -> flightlog_formats::Result<SessionView> {
    load_with_progress(store, session, policy, trust, &mut NoProgress)
}

/// [`load`], reporting its phases and progress.
pub fn load_with_progress(
    store: &Store,
    session: &str,
    policy: &Policy,
    trust: &Trust,
    progress: &mut dyn LoadProgress,
) -> flightlog_formats::Result<SessionView> {
    let (count, _) = store.head(session)?;
    progress.phase(Phase::Reading, count);
    let (events, links, unreadable) = read(store, session, count, &mut *progress)?;
    progress.phase(Phase::Analysing, 0);
    let analysis = analyze(&events, policy);
    progress.phase(Phase::Verifying, count);
    let verification = verify_store_with_progress(
        store,
        &StoreVerifyOptions {
            session: Some(session.to_string()),
            trust: trust.clone(),
            external: None,
        },
        &mut Counts(&mut *progress),
    )?;
    Ok(SessionView {
        session: session.to_string(),
        events,
        links,
        analysis,
        verification,
        unreadable,
    })
}

type Read = (Vec<Event>, Vec<Link>, Vec<Unreadable>);

fn read(
    store: &Store,
    session: &str,
    count: u64,
    progress: &mut dyn LoadProgress,
) -> flightlog_formats::Result<Read> {
    let mut counts = Counts(progress);
    let mut ticker = Ticker::new(&mut counts, 0, count);
    let mut events = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut links = Vec::with_capacity(events.capacity());
    let mut unreadable = Vec::new();
    store.for_each_event(session, |ev| {
        ticker.add(1);
        match Event::from_bytes(&ev.raw) {
            Ok(e) => {
                events.push(e);
                links.push(Link {
                    prev: ev.prev,
                    hash: ev.hash,
                });
            }
            Err(e) => unreadable.push(Unreadable {
                seq: ev.seq,
                error: e.to_string(),
            }),
        }
        true
    })?;
    ticker.finish();
    Ok((events, links, unreadable))
}

/// A [`LoadProgress`] seen as a plain [`Progress`] (for the counts within a phase).
struct Counts<'a>(&'a mut dyn LoadProgress);

impl Progress for Counts<'_> {
    fn update(&mut self, done: u64, total: u64) {
        self.0.update(done, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_formats::verify::Problem;

    fn problem(session: Option<&str>) -> Problem {
        Problem {
            session: session.map(str::to_string),
            seq: Some(1),
            kind: "hash_mismatch".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn one_definition_of_intact() {
        let mut r = VerifyReport::default();
        assert!(intact(&r, "a"));
        r.problems = vec![problem(Some("b"))];
        assert!(intact(&r, "a"), "another session's problem");
        r.problems = vec![problem(Some("a"))];
        assert!(!intact(&r, "a"));
        r.problems = vec![problem(None)];
        assert!(
            !intact(&r, "a"),
            "a store-wide problem leaves the session unproven"
        );
    }

    #[test]
    fn unreadable_events_are_listed_not_dropped() {
        use flightlog_formats::store::SessionMeta;
        use flightlog_formats::{Kind, NewEvent, Redactor};
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("fl.db")).unwrap();
        let t = chrono::DateTime::parse_from_rfc3339("2026-04-25T10:00:00Z")
            .unwrap()
            .to_utc();
        let id = store
            .create_session(
                &SessionMeta {
                    id: Some("0123456789abcdef".into()),
                    ..SessionMeta::default()
                },
                t,
            )
            .unwrap();
        let red = Redactor::new([7u8; 32]);
        for i in 0..3 {
            let data = serde_json::json!({"text": format!("note {i}")});
            store
                .append(&id, NewEvent::new(t, Kind::Note, "test", data), &red)
                .unwrap();
        }
        let view = load(&store, &id, &Policy::default(), &Trust::default()).unwrap();
        assert_eq!((view.events.len(), view.unreadable.len()), (3, 0));
        assert!(view.intact());
        store
            .connection()
            .execute("UPDATE events SET raw = X'7B' WHERE seq = 1", ())
            .unwrap();
        let view = load(&store, &id, &Policy::default(), &Trust::default()).unwrap();
        let seqs: Vec<u64> = view.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 2]);
        assert_eq!(view.links.len(), 2);
        assert_eq!(view.unreadable.len(), 1);
        assert_eq!(view.unreadable[0].seq, 1);
        assert_eq!(view.analysis.events, 2);
        assert!(!view.intact());
    }
}
