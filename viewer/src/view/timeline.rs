//! The timeline: one row per event, the crossing impossible to miss.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{env_style, fit, rel, safe, severity_label, severity_style};
use crate::state::{IndexEntry, State, flag};

/// The marker glyph and its style, most important first.
fn mark(e: &IndexEntry) -> (&'static str, Style) {
    let f = e.flags;
    if f & flag::BROKEN != 0 || f & flag::UNPARSEABLE != 0 {
        (
            "✗",
            Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
        )
    } else if f & flag::CROSSING != 0 {
        (
            "◆",
            Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
        )
    } else if f & flag::DESTRUCTIVE != 0 {
        ("!", severity_style(e.severity.max(3)))
    } else if f & flag::SECRET_USE != 0 {
        (
            "$",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )
    } else if f & flag::SECRET_READ != 0 {
        ("~", Style::new().fg(Color::Yellow))
    } else if f & flag::ERROR != 0 {
        ("×", Style::new().fg(Color::Red))
    } else if f & flag::GAP != 0 {
        (
            "…",
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        )
    } else {
        (" ", Style::new())
    }
}

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let mut lines = Vec::with_capacity(area.height as usize);
    if state.rows() == 0 {
        let text = if !state.index.complete {
            "loading…".to_string()
        } else if !state.filter.is_empty() {
            "no event matches the filter (f, then an empty line, clears it)".to_string()
        } else {
            "this session has no events".to_string()
        };
        lines.push(Line::styled(text, Style::new().fg(Color::DarkGray)));
    }
    let env_w = state
        .index
        .envs
        .values
        .iter()
        .map(|e| e.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 12)
        + 2;
    for row in state.scroll..(state.scroll + area.height as usize).min(state.rows()) {
        let Some(e) = state.entry_of_row(row) else {
            break;
        };
        lines.push(row_line(state, e, row == state.cursor, w, env_w));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn row_line(
    state: &State,
    e: &IndexEntry,
    selected: bool,
    w: usize,
    env_w: usize,
) -> Line<'static> {
    let (glyph, gstyle) = mark(e);
    let crossing = e.flags & flag::CROSSING != 0;
    let base = if crossing {
        Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    let base = if selected {
        base.add_modifier(Modifier::REVERSED)
    } else {
        base
    };
    let time = format!("{:>10}", rel(state.rel_secs(e)));
    let kind = fit(&safe(state.index.kind_name(e)), 13);
    let env = if e.env == 0 {
        " ".repeat(env_w)
    } else {
        fit(&format!("[{}]", safe(state.index.envs.get(e.env))), env_w)
    };
    let estyle = if e.env == 0 || crossing {
        base
    } else {
        env_style(state, state.index.envs.get(e.env)).patch(base)
    };
    let sev = fit(severity_label(e.severity), 4);
    let used = 2 + 11 + 1 + 13 + 1 + env_w + 1 + 5;
    let summary = match state.pages.get(e.seq) {
        Some(l) => l.summary.clone(),
        None => "…".to_string(),
    };
    let summary = if crossing {
        let to = state
            .findings
            .crossings
            .get(&e.seq)
            .map(|c| {
                if c.to == "*" {
                    "every env".to_string()
                } else {
                    safe(&c.to)
                }
            })
            .unwrap_or_default();
        let attempted = state
            .findings
            .crossings
            .get(&e.seq)
            .is_some_and(|c| c.attempt.is_some());
        if attempted {
            format!("CROSSING ATTEMPTED → {to} · {summary}")
        } else {
            format!("BOUNDARY CROSSED → {to} · {summary}")
        }
    } else {
        summary
    };
    let rest = w.saturating_sub(used);
    let mut spans = vec![
        Span::styled(
            glyph.to_string(),
            if crossing { base } else { gstyle.patch(base) },
        ),
        Span::styled(" ", base),
        Span::styled(
            time,
            base.fg(if crossing {
                Color::White
            } else {
                Color::DarkGray
            }),
        ),
        Span::styled(" ", base),
        Span::styled(kind, base.add_modifier(Modifier::BOLD)),
        Span::styled(" ", base),
        Span::styled(env, estyle),
        Span::styled(" ", base),
        Span::styled(sev, severity_style(e.severity).patch(base)),
        Span::styled(" ", base),
    ];
    spans.push(Span::styled(fit(&summary, rest), base));
    Line::from(spans)
}
