//! The session picker (no SESSION given).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{fit, safe};
use crate::state::State;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                " flightlog replay ",
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(" choose a session"),
        ]),
        Line::styled(
            fit(
                &format!(
                    "  {:<16} {:<20} {:>8} {:<10} {:<12} {}",
                    "id", "started", "events", "home", "agent", "label"
                ),
                w,
            ),
            Style::new()
                .fg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        ),
    ];
    let p = &state.picker;
    if !p.loaded {
        lines.push(Line::raw("  loading…"));
    } else if p.sessions.is_empty() {
        lines.push(Line::raw(
            "  the store has no sessions yet (flightlog record -- CMD)",
        ));
    }
    let h = area.height.saturating_sub(3) as usize;
    let first = p.selected.saturating_sub(h.saturating_sub(1));
    for (i, s) in p.sessions.iter().enumerate().skip(first).take(h) {
        let started: String = s
            .started
            .chars()
            .take(19)
            .collect::<String>()
            .replace('T', " ");
        let text = format!(
            "{} {:<16} {:<20} {:>8} {:<10} {:<12} {}",
            if i == p.selected { "▶" } else { " " },
            fit(&safe(&s.id), 16),
            safe(&started),
            s.events,
            fit(&safe(s.home_env.as_deref().unwrap_or("-")), 10),
            fit(&safe(s.agent.as_deref().unwrap_or("-")), 12),
            safe(s.label.as_deref().unwrap_or("")),
        );
        let st = if i == p.selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        lines.push(Line::styled(fit(&text, w), st));
    }
    frame.render_widget(Paragraph::new(lines), area);
    let status = Rect {
        y: area.y + area.height.saturating_sub(1),
        height: area.height.min(1),
        ..area
    };
    let msg = match &state.message {
        Some(m) => safe(&m.text),
        None => " Enter open · j/k move · g/G first/last · ? help · q quit".to_string(),
    };
    frame.render_widget(
        Paragraph::new(Line::styled(msg, Style::new().fg(Color::DarkGray))),
        status,
    );
}
