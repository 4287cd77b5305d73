//! The replay state machine and its screens, on fixture sessions in a real (temporary) store.
//!
//! - State-machine tests feed actions and ticks and assert on the state.
//! - Snapshot tests render into `TestBackend` at 80x24, 120x35 and 160x48 (insta files in
//!   `snapshots/`).
//! - The hostile fixture asserts that nothing an agent wrote reaches the terminal as a control
//!   character, escape sequence or bidi override.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use flightlog_viewer::action::{Action, GoTo, Marker, PromptKind};
use flightlog_viewer::headless::{Headless, screen_text};
use flightlog_viewer::keymap;
use flightlog_viewer::state::{FindingsSource, Msg, Pending, Tab, VerifyState};
use ratatui::backend::TestBackend;

fn open(f: &common::Fixture, size: (u16, u16)) -> Headless {
    Headless::open_all(&f.db, common::SESSION, size).unwrap()
}

/// The incident with event 4 rewritten (its exit code) and its chain left as it was.
fn tampered_incident() -> common::Fixture {
    let f = common::incident();
    common::tamper(&f.db, 4, |raw| {
        String::from_utf8(raw)
            .unwrap()
            .replace("\"exit\":1", "\"exit\":0")
            .into_bytes()
    });
    f
}

/// A fixture made by `make`, opened at `size` (the fixture lives as long as the replay needs it).
fn opened(make: fn() -> common::Fixture, size: (u16, u16)) -> (common::Fixture, Headless) {
    let f = make();
    let h = open(&f, size);
    (f, h)
}

fn seq(h: &Headless) -> u64 {
    h.state.current().unwrap().seq
}

#[test]
fn opens_at_the_first_event_with_findings_and_verification() {
    let f = common::incident();
    let h = open(&f, (80, 24));
    assert_eq!(h.state.rows(), 13);
    assert_eq!(seq(&h), 0);
    assert!(h.state.index.complete);
    assert_eq!(h.state.findings.source, FindingsSource::Analysis);
    assert_eq!(
        h.state
            .findings
            .crossings
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![9]
    );
    assert!(h.state.findings.destructive.contains_key(&9));
    assert!(matches!(
        h.state.verify,
        VerifyState::Done { intact: true, .. }
    ));
    let chain = h.state.findings.chain.as_ref().unwrap();
    assert_eq!(chain.to_seq, 9);
    assert!(
        chain
            .steps
            .iter()
            .any(|s| s.role == "secret_read" && s.seq == 7)
    );
}

#[test]
fn steps_stay_in_bounds() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    h.act(Action::Prev);
    assert_eq!(seq(&h), 0);
    h.act(Action::Next);
    h.act(Action::Next);
    assert_eq!(seq(&h), 2);
    h.act(Action::Last);
    assert_eq!(seq(&h), 12);
    h.act(Action::Next);
    assert_eq!(seq(&h), 12);
    h.act(Action::First);
    assert_eq!(seq(&h), 0);
    h.act(Action::PageDown);
    assert_eq!(
        seq(&h),
        9,
        "a page is the timeline height (9 rows at 80x24)"
    );
}

#[test]
fn jumps_to_each_marker() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    h.act(Action::Jump(Marker::Crossing, true));
    assert_eq!(seq(&h), 9);
    h.act(Action::Jump(Marker::Crossing, true));
    assert_eq!(seq(&h), 9);
    assert!(
        h.state
            .message
            .as_ref()
            .unwrap()
            .text
            .contains("no boundary crossing after")
    );
    h.act(Action::Jump(Marker::Crossing, false));
    assert_eq!(seq(&h), 9);
    h.act(Action::First);
    h.act(Action::Jump(Marker::Error, true));
    let first_error = seq(&h);
    assert!(first_error == 4 || first_error == 5, "{first_error}");
    h.act(Action::First);
    h.act(Action::Jump(Marker::SecretUse, true));
    assert_eq!(seq(&h), 9);
    h.act(Action::First);
    h.act(Action::Jump(Marker::Destructive, true));
    assert_eq!(seq(&h), 9);
    h.act(Action::Last);
    h.act(Action::Jump(Marker::Gap, false));
    assert_eq!(seq(&h), 12, "no gap in this session");
}

#[test]
fn go_to_seq_and_time_through_the_prompt() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    for k in keymap::parse_script(": 7 <enter>") {
        let a = keymap::map(&h.state, k).unwrap();
        h.act(a);
    }
    assert_eq!(seq(&h), 7);
    for k in keymap::parse_script(": + 9 . 5 s <enter>") {
        let a = keymap::map(&h.state, k).unwrap();
        h.act(a);
    }
    assert_eq!(seq(&h), 9);
    h.act(Action::OpenPrompt(PromptKind::GoTo));
    for c in "nonsense".chars() {
        h.act(Action::Input(c));
    }
    h.act(Action::Submit);
    assert_eq!(seq(&h), 9);
    assert!(h.state.message.as_ref().unwrap().error);
    assert_eq!(GoTo::parse("12.5s"), Some(GoTo::Time(12.5)));
    assert_eq!(GoTo::parse("42"), Some(GoTo::Seq(42)));
    assert_eq!(GoTo::parse("-3"), None);
}

#[test]
fn search_finds_forward_and_backward() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    h.act(Action::Search("VOLUMEDELETE".into()));
    assert_eq!(seq(&h), 9);
    h.act(Action::SearchAgain(true));
    assert_eq!(seq(&h), 10);
    h.act(Action::SearchAgain(true));
    assert_eq!(seq(&h), 10);
    assert!(h.state.message.as_ref().unwrap().text.contains("not found"));
    h.act(Action::SearchAgain(false));
    assert_eq!(seq(&h), 9);
}

#[test]
fn filters_by_kind_layer_env_and_marker() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    h.act(Action::SetFilter("kind=exec".into()));
    assert_eq!(h.state.rows(), 2);
    assert_eq!(seq(&h), 4);
    h.act(Action::SetFilter("layer=hook".into()));
    assert_eq!(h.state.rows(), 5);
    h.act(Action::SetFilter("env=production".into()));
    assert_eq!(h.state.rows(), 2);
    h.act(Action::SetFilter("only=crossing".into()));
    assert_eq!(h.state.rows(), 1);
    h.act(Action::SetFilter("colour=blue".into()));
    assert!(h.state.message.as_ref().unwrap().error);
    assert_eq!(h.state.rows(), 1, "a bad filter keeps the old one");
    // Search skips events the filter hides.
    h.act(Action::SetFilter("kind=api_call".into()));
    h.act(Action::First);
    h.act(Action::Search("volumeDelete".into()));
    assert_eq!(seq(&h), 10);
    // The filter compiled for scans and the filter agree on every entry.
    for spec in [
        "kind=exec",
        "kind=exec,api_call layer=ptrace",
        "layer=hook",
        "layer=hook:claude-code",
        "env=production",
        "env=none",
        "only=crossing",
        "kind=nosuch",
    ] {
        let filter = flightlog_viewer::state::Filter::parse(spec).unwrap();
        let compiled = filter.compile(&h.state.index);
        for e in &h.state.index.entries {
            assert_eq!(
                compiled.matches(e),
                filter.matches(&h.state.index, e),
                "{spec} at seq {}",
                e.seq
            );
        }
    }
    h.act(Action::SetFilter(String::new()));
    assert_eq!(h.state.rows(), 13);
    assert_eq!(
        seq(&h),
        10,
        "clearing the filter keeps the event under the cursor"
    );
}

#[test]
fn playback_follows_recorded_pace_with_speed_and_idle_cap() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    h.act(Action::PlayPause);
    assert!(h.state.player.playing);
    // Each step: a tick of so many ms, then the event under the cursor.
    let ticks = |h: &mut Headless, steps: &[(u64, u64)]| {
        for &(ms, want) in steps {
            h.tick(Duration::from_millis(ms));
            assert_eq!(seq(h), want, "after a tick of {ms} ms");
        }
    };
    // 500 ms to seq 1; 100 ms to seq 2, 400 ms to seq 3.
    ticks(&mut h, &[(499, 0), (1, 1), (500, 3)]);
    h.act(Action::Faster);
    h.act(Action::Faster);
    assert_eq!(h.state.player.speed, 4.0);
    // seq 3 -> 4 is 100 ms, 4 -> 5 is 900 ms, 5 -> 6 is 0: 1000 ms recorded = 250 ms at 4x.
    ticks(&mut h, &[(249, 4), (1, 6)]);
    h.act(Action::Slower);
    h.act(Action::Slower);
    h.act(Action::Jump(Marker::Error, false));
    h.act(Action::GoTo(GoTo::Seq(8)));
    // seq 8 -> 9 is 4.5 s, capped to 2 s.
    ticks(&mut h, &[(1999, 8), (1, 9), (60_000, 12)]);
    assert!(!h.state.player.playing, "the end pauses");
    h.act(Action::PlayPause);
    assert_eq!(seq(&h), 0, "play at the end restarts");
}

#[test]
fn quit_closes_overlays_first() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    h.act(Action::ToggleHelp);
    let k = keymap::parse_script("j")[0];
    assert_eq!(
        keymap::map(&h.state, k),
        Some(Action::ToggleHelp),
        "any key closes the help"
    );
    h.act(Action::Quit);
    assert!(!h.state.help && !h.state.quit);
    h.act(Action::OpenPrompt(PromptKind::Search));
    assert_eq!(
        keymap::map(&h.state, keymap::parse_script("q")[0]),
        Some(Action::Input('q'))
    );
    h.act(Action::Quit);
    assert!(h.state.prompt.is_none() && !h.state.quit);
    h.act(Action::Quit);
    assert!(h.state.quit);
}

#[test]
fn tabs_cycle_and_the_screen_is_emulated() {
    let (_f, mut h) = opened(common::incident, (80, 24));
    h.act(Action::GoTo(GoTo::Seq(7)));
    h.act(Action::NextTab(true));
    assert_eq!(h.state.tab, Tab::Screen);
    let snap = h.state.screen.as_ref().unwrap();
    assert_eq!(snap.at_seq, 7);
    assert_eq!(snap.fed, 2);
    let text = h.screen();
    assert!(text.contains("user@dev1:~/app$ railway up"), "{text}");
    assert!(text.contains("Error: Unauthorized."), "{text}");
    h.act(Action::NextTab(false));
    assert_eq!(h.state.tab, Tab::Detail);
}

#[test]
fn tool_call_shows_its_result_output() {
    let (_f, mut h) = opened(common::incident, (160, 48));
    h.act(Action::GoTo(GoTo::Seq(3)));
    let text = h.screen();
    assert!(text.contains("result (seq 5)"), "{text}");
    assert!(
        text.contains("Error: Unauthorized. The project token"),
        "{text}"
    );
}

#[test]
fn tampered_log_opens_with_the_break_marked() {
    let f = tampered_incident();
    let mut h = open(&f, (80, 24));
    assert_eq!(h.state.rows(), 13);
    let VerifyState::Done { intact, breaks, .. } = &h.state.verify else {
        panic!("{:?}", h.state.verify)
    };
    assert!(!intact);
    assert!(breaks.contains_key(&4), "{breaks:?}");
    h.act(Action::Jump(Marker::Break, true));
    assert_eq!(seq(&h), 4);
    let text = h.screen();
    assert!(text.contains("CHAIN BROKEN AT THIS EVENT"), "{text}");
}

#[test]
fn pending_moves_resolve_when_the_index_arrives() {
    let f = common::incident();
    let mut h = Headless::open(&f.db, common::SESSION, (80, 24), 3).unwrap();
    assert!(!h.state.index.complete);
    h.act(Action::GoTo(GoTo::Seq(10)));
    assert_eq!(h.state.pending, Some(Pending::Seq(10)));
    h.finish_index().unwrap();
    assert_eq!(seq(&h), 10);
    assert_eq!(h.state.pending, None);

    let mut h = Headless::open(&f.db, common::SESSION, (80, 24), 3).unwrap();
    h.state.pending = Some(Pending::FirstCrossing);
    h.finish_index().unwrap();
    h.check().unwrap();
    assert_eq!(seq(&h), 9);
}

#[test]
fn a_live_session_is_followed() {
    let f = common::store_with(common::incident_events()[..5].to_vec(), "live");
    let mut h = Headless::open_all(&f.db, common::SESSION, (80, 24)).unwrap();
    h.act(Action::ToggleFollow);
    assert!(h.state.follow);
    assert_eq!(seq(&h), 4);
    let store = flightlog_formats::Store::open(&f.db).unwrap();
    store
        .append_batch(
            common::SESSION,
            common::incident_events()[5..].to_vec(),
            &common::redactor(),
        )
        .unwrap();
    assert!(h.index_more(1000).unwrap());
    assert_eq!(h.state.rows(), 13);
    assert_eq!(seq(&h), 12, "following moves to the newest event");
    assert!(
        h.state.current_loaded().is_some(),
        "the refilled page is loaded"
    );
}

#[test]
fn picker_lists_and_opens() {
    let f = common::incident();
    let store = flightlog_formats::Store::open_read_only(&f.db).unwrap();
    let mut st = flightlog_viewer::State::new((80, 24), 1.0);
    flightlog_viewer::update(&mut st, Msg::Sessions(Ok(store.sessions().unwrap())));
    let fx = flightlog_viewer::update(&mut st, Msg::Action(Action::Open));
    assert_eq!(
        fx,
        Some(flightlog_viewer::Effect::OpenSession(
            common::SESSION.into()
        ))
    );
    let mut t = ratatui::Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|fr| flightlog_viewer::view(&st, fr)).unwrap();
    insta::assert_snapshot!("picker_80x24", t.backend());
}

// ---- snapshots ----

fn snap(name: &str, h: &mut Headless, setup: &[Action]) {
    for a in setup {
        h.act(a.clone());
    }
    insta::assert_snapshot!(name, h.render());
}

#[test]
fn snapshots_of_the_main_screens() {
    for size in [(80u16, 24u16), (160, 48)] {
        let sfx = format!("{}x{}", size.0, size.1);
        let f = common::incident();
        let mut h = open(&f, size);
        snap(&format!("start_{sfx}"), &mut h, &[]);
        snap(
            &format!("crossing_{sfx}"),
            &mut h,
            &[Action::Jump(Marker::Crossing, true)],
        );
        snap(&format!("api_call_{sfx}"), &mut h, &[Action::Next]);
        snap(
            &format!("diff_{sfx}"),
            &mut h,
            &[Action::GoTo(GoTo::Seq(8))],
        );
        snap(
            &format!("chain_{sfx}"),
            &mut h,
            &[
                Action::GoTo(GoTo::Seq(10)),
                Action::NextTab(true),
                Action::NextTab(true),
            ],
        );
        snap(
            &format!("help_{sfx}"),
            &mut h,
            &[
                Action::NextTab(true),
                Action::NextTab(true),
                Action::ToggleHelp,
            ],
        );

        let f = tampered_incident();
        let mut h = open(&f, size);
        snap(
            &format!("tampered_{sfx}"),
            &mut h,
            &[Action::Jump(Marker::Break, true)],
        );
    }
}

// ---- hostile output ----

fn assert_harmless(b: &TestBackend, ctx: &str) {
    let buf = b.buffer();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let s = buf[(x, y)].symbol();
            for c in s.chars() {
                let bidi = matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
                assert!(
                    !c.is_control() && !bidi,
                    "{ctx}: cell ({x},{y}) holds {c:?}\n{}",
                    screen_text(b)
                );
            }
        }
    }
}

#[test]
fn hostile_output_renders_as_visible_harmless_text() {
    let f = common::hostile();
    for size in [(80u16, 24u16), (160, 48)] {
        let mut h = open(&f, size);
        let rows = h.state.rows();
        assert_eq!(rows, 8);
        for r in 0..rows {
            for tab in Tab::ALL {
                h.state.tab = tab;
                h.act(Action::GoTo(GoTo::Seq(r as u64)));
                assert_harmless(&h.render(), &format!("seq {r} tab {tab:?}"));
            }
            h.state.tab = Tab::Detail;
        }
        h.act(Action::ToggleHelp);
        assert_harmless(&h.render(), "help");
    }
    // The escapes are shown, not dropped.
    let mut h = open(&f, (160, 48));
    h.act(Action::GoTo(GoTo::Seq(1)));
    let text = h.screen();
    assert!(text.contains("\\e]52;c;aGVsbG8="), "{text}");
    assert!(text.contains("\\u{202e}"), "{text}");
    h.act(Action::GoTo(GoTo::Seq(7)));
    let text = h.screen();
    assert!(text.contains("\\xff\\xfe"), "{text}");
    // The picker sanitises labels too.
    let store = flightlog_formats::Store::open_read_only(&f.db).unwrap();
    let mut st = flightlog_viewer::State::new((80, 24), 1.0);
    flightlog_viewer::update(&mut st, Msg::Sessions(Ok(store.sessions().unwrap())));
    let mut t = ratatui::Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|fr| flightlog_viewer::view(&st, fr)).unwrap();
    assert_harmless(t.backend(), "picker");
}

/// Output captured from pipes (CI, `claude -p`, the piped demo) has bare LFs: the Screen tab
/// shows it as lines, not a staircase.
#[test]
fn the_screen_of_a_session_recorded_without_a_terminal_has_no_staircase() {
    let mut events = common::incident_events();
    events.truncate(1);
    for (i, chunk) in ["first line\nsecond", " line\r", "\nthird line\n"]
        .iter()
        .enumerate()
    {
        events.push(flightlog_formats::NewEvent::new(
            common::t0() + chrono::Duration::milliseconds(100 * (i as i64 + 1)),
            flightlog_formats::Kind::Terminal,
            "pty",
            serde_json::json!({"stream":"o","data":chunk,"t_ms":100,"fd":1}),
        ));
    }
    let f = common::store_with(events, "piped");
    let mut h = open(&f, (80, 24));
    h.act(Action::GoTo(GoTo::Seq(3)));
    h.act(Action::NextTab(true));
    assert_eq!(h.state.tab, Tab::Screen);
    let snap = h.state.screen.as_ref().unwrap();
    let rows: Vec<String> = snap
        .cells
        .iter()
        .take(4)
        .map(|r| {
            r.iter()
                .map(|c| c.text.as_str())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    assert_eq!(rows, ["first line", "second line", "third line", ""]);
    insta::assert_snapshot!("piped_screen_80x24", h.render());
    h.send(Msg::Resize(120, 35));
    insta::assert_snapshot!("piped_screen_120x35", h.render());
}

/// At 80 columns the answer to what the user just did (a search, a jump past the last error)
/// and the position stay on the status line; the help hint and the long chain text go first.
#[test]
fn status_feedback_survives_at_80_columns() {
    let f = common::incident();
    for (size, actions, want) in [
        (
            (80u16, 24u16),
            vec![Action::Search("VOLUMEDELETE".into())],
            "VOLUMEDELETE",
        ),
        (
            (80, 24),
            vec![
                Action::Search("VOLUMEDELETE".into()),
                Action::SearchAgain(true),
                Action::SearchAgain(true),
            ],
            "not found",
        ),
        (
            (80, 24),
            vec![Action::Last, Action::Jump(Marker::Error, true)],
            "error",
        ),
        (
            (200, 50),
            vec![Action::Search("VOLUMEDELETE".into())],
            "? help",
        ),
    ] {
        let mut h = open(&f, size);
        for a in actions {
            h.act(a);
        }
        let text = h.screen();
        let status = text.lines().last().unwrap_or_default().to_string();
        let msg = h
            .state
            .message
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default();
        assert!(
            status.contains(want),
            "{size:?}: {status:?} (message {msg:?})"
        );
        let e = h.state.current().unwrap();
        assert!(
            status.contains(&format!("seq {}", e.seq)),
            "{size:?}: {status:?}"
        );
        assert!(
            status.contains("intact") || status.contains("verifying"),
            "{size:?}: {status:?}"
        );
    }
}

// ---- the folded timeline ----

fn row_seqs(h: &Headless) -> Vec<u64> {
    (0..h.state.rows())
        .map(|r| h.state.entry_of_row(r).unwrap().seq)
        .collect()
}

/// flightlog's own hook processes and exec ends are folded away (kept in the store, `a` shows
/// them); rows are in time order, seq only breaking ties.
#[test]
fn the_timeline_folds_the_recorders_own_processes_and_exec_ends() {
    let (_f, mut h) = opened(common::hooked, (120, 35));
    assert_eq!(
        row_seqs(&h),
        [0, 1, 3, 5, 6, 8, 11, 14, 13, 15, 17, 19],
        "the agent's actions only, by time"
    );
    let text = h.screen();
    assert!(
        !text.contains("fl-hook") && !text.contains("/usr/bin/flightlog"),
        "{text}"
    );
    assert!(text.contains("exit 1, 850 ms"), "{text}");
    // All rows: everything in the store, still by time.
    h.act(Action::ToggleAllRows);
    assert!(h.state.all_rows);
    assert_eq!(h.state.rows(), 20);
    let times: Vec<i64> = (0..h.state.rows())
        .map(|r| h.state.entry_of_row(r).unwrap().t_us)
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let text = h.screen();
    assert!(
        text.contains("fl-hook") && text.contains("/usr/bin/flightlog"),
        "{text}"
    );
    h.act(Action::ToggleAllRows);
    assert_eq!(h.state.rows(), 12);
}

/// Marks, `e`, search, step-by-step replay and the detail pane work on folded rows.
#[test]
fn folded_rows_keep_their_marks_and_moves() {
    let (_f, mut h) = opened(common::hooked, (80, 24));
    // The failed `railway up`: its end (exit 1) is folded into its row, and `e` lands there.
    h.act(Action::Jump(Marker::Error, true));
    assert_eq!(seq(&h), 6);
    let text = h.screen();
    assert!(text.contains("ended exit 1, 850 ms (seq 7)"), "{text}");
    // The crossing, at the curl.
    h.act(Action::First);
    h.act(Action::Jump(Marker::Crossing, true));
    let crossing = seq(&h);
    assert!(h.state.findings.crossings.contains_key(&crossing));
    assert!(h.state.has_row(h.state.current().unwrap()));
    h.act(Action::First);
    h.act(Action::Jump(Marker::Destructive, true));
    assert!(h.state.findings.destructive.contains_key(&seq(&h)));
    // A search that matches an exec end lands on its exec's row.
    h.act(Action::First);
    h.act(Action::Search("11990".into()));
    assert_eq!(seq(&h), 1, "{:?}", h.state.message);
    // Playback steps through the rows in time order to the end.
    h.act(Action::First);
    h.act(Action::PlayPause);
    let mut seen = vec![seq(&h)];
    for _ in 0..20_000 {
        h.tick(Duration::from_millis(1));
        if seen.last() != Some(&seq(&h)) {
            seen.push(seq(&h));
        }
    }
    assert_eq!(seen, [0, 1, 3, 5, 6, 8, 11, 14, 13, 15, 17, 19]);
}

#[test]
fn snapshots_of_the_folded_timeline() {
    let f = common::hooked();
    for size in [(80u16, 24u16), (120, 35)] {
        let sfx = format!("{}x{}", size.0, size.1);
        let mut h = open(&f, size);
        snap(&format!("folded_{sfx}"), &mut h, &[]);
        snap(
            &format!("folded_crossing_{sfx}"),
            &mut h,
            &[Action::Jump(Marker::Crossing, true)],
        );
        snap(
            &format!("folded_all_rows_{sfx}"),
            &mut h,
            &[Action::First, Action::ToggleAllRows],
        );
        // The answer to `e` past the last error, at both sizes.
        let mut h = open(&f, size);
        snap(
            &format!("status_no_error_after_{sfx}"),
            &mut h,
            &[Action::Last, Action::Jump(Marker::Error, true)],
        );
    }
}
