//! The progress callbacks of imports and exports: `done` never goes back, stays within the
//! total, and the last report is `(total, total)`.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use flightlog_formats::jsonl::{ensure_final_checkpoint, write_session};
use flightlog_formats::progress::{NoProgress, Progress};
use flightlog_formats::synth::asciicast;
use flightlog_formats::verify::Trust;
use flightlog_formats::{Keys, Redactor, Store};
use flightlog_interop::export::{self, Format};
use flightlog_interop::import;

/// Reports as seen by a callback.
#[derive(Default)]
struct Seen(Vec<(u64, u64)>);

impl Seen {
    fn cb(&mut self) -> impl Progress + '_ {
        |d, t| self.0.push((d, t))
    }

    fn assert_reaches(&self, total: u64) {
        let seen = &self.0;
        assert!(seen.len() > 2, "{seen:?}");
        assert!(seen.iter().all(|(d, t)| d <= t), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
        assert_eq!(seen.last(), Some(&(total, total)), "{seen:?}");
    }
}

struct Fx {
    dir: tempfile::TempDir,
    store: Store,
    keys: Keys,
    session: String,
}

/// A store holding an imported recording of 3000 lines (imported with progress).
fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("fl.db")).unwrap();
    let keys = Keys::load_or_create(&dir.path().join("keys")).unwrap();
    let red = Redactor::new(keys.fingerprint_key);
    let start = Utc
        .with_ymd_and_hms(2026, 4, 25, 21, 0, 0)
        .single()
        .unwrap();
    let parsed = import::asciicast::parse("big.cast", asciicast(3000).as_bytes(), start).unwrap();
    let n = parsed.events.len() as u64;
    let mut seen = Seen::default();
    let stored =
        import::store_parsed_with_progress(&store, &red, parsed.clone(), &mut seen.cb()).unwrap();
    assert!(!stored.already);
    seen.assert_reaches(n);
    // Importing the same input again finds it: reported done at once.
    let mut again = Seen::default();
    let stored2 =
        import::store_parsed_with_progress(&store, &red, parsed, &mut again.cb()).unwrap();
    assert!(stored2.already);
    assert_eq!(again.0.last(), Some(&(n, n)));
    Fx {
        dir,
        store,
        keys,
        session: stored.session,
    }
}

#[test]
fn every_export_reports_the_events_written() {
    let fx = fixture();
    let mut seen = Seen::default();
    let records = export::load_with_progress(&fx.store, &fx.session, &mut seen.cb()).unwrap();
    let n = records.len() as u64;
    assert!(n > 3000);
    seen.assert_reaches(n);
    for format in [
        Format::Ocsf,
        Format::Otlp,
        Format::Asciicast,
        Format::Csv,
        Format::Cef,
    ] {
        let mut seen = Seen::default();
        let mut out = Vec::new();
        export::write(format, &records, &[], &mut out, &mut seen.cb()).unwrap();
        // OCSF has no class for terminal output: its export of a recording is empty.
        assert_eq!(out.is_empty(), format == Format::Ocsf, "{format:?}");
        seen.assert_reaches(n);
        // Reporting progress does not change the bytes.
        let mut quiet = Vec::new();
        export::write(format, &records, &[], &mut quiet, &mut NoProgress).unwrap();
        assert_eq!(out, quiet, "{format:?}");
    }
}

#[test]
fn a_jsonl_import_reports_three_steps_per_event() {
    let fx = fixture();
    ensure_final_checkpoint(&fx.store, &fx.session, &fx.keys, Utc::now()).unwrap();
    let path = fx.dir.path().join("export.jsonl");
    let mut out = Vec::new();
    let n = write_session(&fx.store, &fx.session, &mut out).unwrap();
    std::fs::write(&path, &out).unwrap();

    let other = Store::open(&fx.dir.path().join("other.db")).unwrap();
    let red = Redactor::new([3; 32]);
    let trust = Trust {
        keys: vec![fx.keys.verifying_key()],
        pinned: true,
    };
    // Each import reports to a Seen of its own.
    let import = |seen: &mut Seen| {
        import::jsonl::import_with_progress(&other, &red, &path, &trust, Utc::now(), &mut seen.cb())
            .unwrap()
    };
    let mut seen = Seen::default();
    let imported = import(&mut seen);
    assert_eq!(imported.len(), 1);
    seen.assert_reaches(3 * n);
    // Again: the same session is found, and the progress still ends at its total.
    let mut seen = Seen::default();
    let again = import(&mut seen);
    assert!(again[0].already);
    seen.assert_reaches(3 * n);
}
