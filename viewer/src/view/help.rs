//! The help overlay (`?`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

const KEYS: &[(&str, &str)] = &[
    ("j k ↓ ↑ → ← .", "step to the next / previous event"),
    ("g G < > Home End", "first / last event"),
    ("PgDn PgUp ^F ^B", "page down / up"),
    ("space", "play / pause at recorded pace"),
    ("+ -", "speed 0.25x … 16x (pauses capped at 2 s)"),
    ("c ] / C [", "next / previous boundary crossing"),
    ("d D", "next / previous destructive action"),
    ("s S", "next / previous secret use"),
    ("e E", "next / previous error"),
    ("x X", "next / previous capture gap"),
    ("b B", "next / previous chain break"),
    (":", "go to seq (42) or time (+12.5s)"),
    ("/ n N", "search, next match, previous match"),
    ("f", "filter: kind=… layer=… env=… only=crossing,error"),
    ("Tab t", "detail · screen · cause chain · JSON"),
    ("J K ^E ^Y", "scroll the detail pane"),
    ("a", "all rows: flightlog's own hooks, exec ends"),
    ("F", "follow a session still being recorded"),
    ("?", "this help"),
    ("q Esc", "close / quit"),
];

pub fn draw(frame: &mut Frame, area: Rect) {
    let w = area.width.min(72);
    let h = area.height.min(KEYS.len() as u16 + 4);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines = vec![Line::styled(
        "markers: ◆ crossing  ! destructive  $ secret use  ~ secret read  × error  … gap  ✗ chain break",
        Style::new().fg(Color::Gray),
    )];
    for (k, v) in KEYS {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{k:>18}  "),
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ),
            Span::raw(*v),
        ]));
    }
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" keys (any key closes) ")),
        r,
    );
}
