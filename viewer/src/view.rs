//! The view: a pure function of [`State`] drawn into a ratatui [`Frame`].

mod detail;
mod help;
mod picker;
mod screen;
mod status;
mod timeline;

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};

use crate::layout;
use crate::sanitize;
use crate::state::{Mode, State};

/// Draws the whole screen.
pub fn view(state: &State, frame: &mut Frame) {
    let area = frame.area();
    match state.mode {
        Mode::Picker => picker::draw(state, frame, area),
        Mode::Replay => {
            let p = layout::panes(area);
            status::title(state, frame, p.title);
            timeline::draw(state, frame, p.timeline);
            detail::draw(state, frame, p.detail);
            status::draw(state, frame, p.status);
        }
    }
    if state.help {
        help::draw(frame, area);
    }
}

/// Agent text made safe for one line.
pub(crate) fn safe(s: &str) -> String {
    sanitize::line(s)
}

/// White on red, bold: a crossing, a broken chain, a critical finding.
pub(crate) const ALARM: Style = Style::new()
    .fg(Color::White)
    .bg(Color::Red)
    .add_modifier(Modifier::BOLD);

/// Light red, bold: a finding, a break or another environment, below an alarm.
pub(crate) const DANGER: Style = Style::new()
    .fg(Color::LightRed)
    .add_modifier(Modifier::BOLD);

pub(crate) fn env_style(state: &State, env: &str) -> Style {
    let home = state
        .findings
        .home_env
        .as_deref()
        .or(state.session.as_ref().and_then(|s| s.home_env.as_deref()));
    match home {
        Some(h) if h == env => Style::new().fg(Color::Green),
        Some(_) => DANGER,
        None => Style::new().fg(Color::Cyan),
    }
}

pub(crate) fn severity_style(rank: u8) -> Style {
    match rank {
        4 => ALARM,
        3 => DANGER,
        2 => Style::new().fg(Color::Yellow),
        1 => Style::new().fg(Color::Gray),
        _ => Style::new(),
    }
}

pub(crate) fn severity_label(rank: u8) -> &'static str {
    match rank {
        4 => "CRIT",
        3 => "HIGH",
        2 => "MED",
        1 => "LOW",
        _ => "",
    }
}

/// `+12.345s`
pub(crate) fn rel(secs: f64) -> String {
    if secs < 0.0 {
        format!("-{:.3}s", -secs)
    } else {
        format!("+{secs:.3}s")
    }
}

/// Pads or clips to exactly `w` display columns (char-based; agent text is sanitised first).
pub(crate) fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n > w {
        let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
        if w > 0 {
            out.push('…');
        }
        out
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}
