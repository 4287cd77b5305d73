//! Progress bars for long work (import, export, verify), drawn on standard error.
//!
//! The one module that draws progress. Libraries report through
//! [`flightlog_formats::progress::Progress`] callbacks; a [`Bar`] turns those reports into an
//! `indicatif` bar, only when standard error is a terminal (piped or redirected, nothing at all
//! is written, so scripted use sees the same bytes as before). The bar appears only after
//! [`DELAY`], so quick commands do not flicker, and is cleared when the work ends. Colors
//! follow `NO_COLOR`.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use flightlog_formats::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before its bar appears.
pub const DELAY: Duration = Duration::from_millis(300);

/// What a bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of input (imports, reading an export).
    Bytes,
    /// Events (verify, export).
    Events,
    /// Nothing countable: a spinner with the message.
    Spinner,
}

/// A progress bar on standard error, or nothing when that is not a terminal.
pub struct Bar {
    inner: Option<Inner>,
    color: bool,
}

struct Inner {
    pb: ProgressBar,
    /// Dropping it tells the timer thread the work ended (before or after the bar appeared).
    stop: Option<Sender<()>>,
    timer: Option<JoinHandle<()>>,
}

/// Whether standard error can show a bar: a terminal, and not a dumb one.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// `NO_COLOR` (set and not empty) turns colors off.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Bar {
    /// A bar for work of `total` units, shown on standard error if it is a terminal.
    pub fn new(unit: Unit, message: &str, total: u64) -> Bar {
        Bar::with(stderr_is_terminal(), unit, message, total)
    }

    /// A bar that never draws.
    pub fn hidden() -> Bar {
        Bar {
            inner: None,
            color: false,
        }
    }

    fn with(enabled: bool, unit: Unit, message: &str, total: u64) -> Bar {
        if !enabled {
            return Bar::hidden();
        }
        let color = !no_color();
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        pb.set_style(style(unit, color));
        pb.set_message(message.to_string());
        let (stop, stopped) = mpsc::channel::<()>();
        let shown = pb.clone();
        let timer = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                if stopped.recv_timeout(DELAY) == Err(RecvTimeoutError::Timeout) {
                    shown.set_draw_target(ProgressDrawTarget::stderr());
                    shown.enable_steady_tick(Duration::from_millis(100));
                }
            })
            .ok();
        Bar {
            inner: Some(Inner {
                pb,
                stop: Some(stop),
                timer,
            }),
            color,
        }
    }

    /// Starts the next phase of the work: a new message, unit and total, from zero.
    pub fn phase(&self, unit: Unit, message: &str, total: u64) {
        if let Some(i) = &self.inner {
            i.pb.set_style(style(unit, self.color));
            i.pb.set_message(message.to_string());
            i.pb.set_length(total);
            i.pb.set_position(0);
        }
    }

    /// Moves the bar to `done` of `total`.
    pub fn set(&self, done: u64, total: u64) {
        if let Some(i) = &self.inner {
            i.pb.set_length(total);
            i.pb.set_position(done.min(total));
        }
    }

    /// A library callback that moves this bar.
    pub fn reporter(&self) -> impl Progress + use<> {
        let pb = self.inner.as_ref().map(|i| i.pb.clone());
        move |done: u64, total: u64| {
            if let Some(pb) = &pb {
                pb.set_length(total);
                pb.set_position(done.min(total));
            }
        }
    }

    /// A library callback for one part of the work: its `done` of `total` moves the bar through
    /// `span` units starting at `base` (an import's file within the bytes of every file).
    pub fn part(&self, base: u64, span: u64) -> impl Progress + use<> {
        let pb = self.inner.as_ref().map(|i| i.pb.clone());
        move |done: u64, total: u64| {
            if let Some(pb) = &pb {
                pb.set_position(base.saturating_add(scaled(done, total, span)));
            }
        }
    }

    /// Runs `f` (which prints to standard error) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.inner {
            Some(i) => i.pb.suspend(f),
            None => f(),
        }
    }

    /// Ends the work and clears the bar (also done on drop).
    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some(mut i) = self.inner.take() {
            drop(i.stop.take());
            if let Some(t) = i.timer.take() {
                let _ = t.join();
            }
            i.pb.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `done/total` of `span`, without overflow.
fn scaled(done: u64, total: u64, span: u64) -> u64 {
    if total == 0 {
        return span;
    }
    let v = u128::from(done.min(total)) * u128::from(span) / u128::from(total);
    u64::try_from(v).unwrap_or(span)
}

fn template(unit: Unit, color: bool) -> String {
    let (spinner, bar) = if color {
        ("{spinner:.cyan}", "{bar:30.cyan/blue}")
    } else {
        ("{spinner}", "{bar:30}")
    };
    match unit {
        Unit::Bytes => format!("{spinner} {{msg}} [{bar}] {{bytes}}/{{total_bytes}} ({{eta}})"),
        Unit::Events => {
            format!("{spinner} {{msg}} [{bar}] {{human_pos}}/{{human_len}} events ({{eta}})")
        }
        Unit::Spinner => format!("{spinner} {{msg}} {{elapsed}}"),
    }
}

fn style(unit: Unit, color: bool) -> ProgressStyle {
    ProgressStyle::with_template(&template(unit, color))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .tick_chars("|/-\\ ")
}

/// Shows the phases of loading a session (reading, analysing, verifying) on a [`Bar`].
pub struct LoadBar<'a> {
    bar: &'a Bar,
    pb: Option<ProgressBar>,
}

impl<'a> LoadBar<'a> {
    pub fn new(bar: &'a Bar) -> LoadBar<'a> {
        LoadBar {
            bar,
            pb: bar.inner.as_ref().map(|i| i.pb.clone()),
        }
    }
}

impl Progress for LoadBar<'_> {
    fn update(&mut self, done: u64, total: u64) {
        if let Some(pb) = &self.pb {
            pb.set_length(total);
            pb.set_position(done.min(total));
        }
    }
}

impl flightlog_analysis::session::LoadProgress for LoadBar<'_> {
    fn phase(&mut self, phase: flightlog_analysis::session::Phase, total: u64) {
        use flightlog_analysis::session::Phase;
        match phase {
            Phase::Reading => self.bar.phase(Unit::Events, "reading", total),
            Phase::Analysing => self.bar.phase(Unit::Spinner, "analysing", 0),
            Phase::Verifying => self.bar.phase(Unit::Events, "verifying", total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_maps_its_fraction_into_its_span() {
        assert_eq!(scaled(0, 10, 1000), 0);
        assert_eq!(scaled(5, 10, 1000), 500);
        assert_eq!(scaled(10, 10, 1000), 1000);
        assert_eq!(scaled(20, 10, 1000), 1000);
        assert_eq!(scaled(0, 0, 1000), 1000);
        assert_eq!(scaled(u64::MAX, u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn a_bar_that_is_not_shown_still_takes_reports() {
        let bar = Bar::with(false, Unit::Events, "verifying", 10);
        let mut r = bar.reporter();
        r.update(5, 10);
        bar.phase(Unit::Bytes, "reading", 100);
        bar.finish();
    }

    #[test]
    fn templates_parse_and_only_colored_ones_name_colors() {
        for unit in [Unit::Bytes, Unit::Events, Unit::Spinner] {
            assert!(ProgressStyle::with_template(&template(unit, true)).is_ok());
            let plain = template(unit, false);
            assert!(ProgressStyle::with_template(&plain).is_ok());
            assert!(!plain.contains('.'), "{plain}");
        }
    }
}
