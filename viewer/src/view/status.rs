//! The title line and the status line (play state, position, filter, chain verification).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::safe;
use crate::action::PromptKind;
use crate::state::{FindingsSource, State, VerifyState};

pub fn title(state: &State, frame: &mut Frame, area: Rect) {
    let s = state.session.as_ref();
    let mut spans = vec![Span::styled(
        " flightlog replay ",
        Style::new()
            .fg(Color::Black)
            .bg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    )];
    if let Some(s) = s {
        spans.push(Span::styled(
            format!(" {} ", safe(&s.id)),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    let f = &state.findings;
    if f.source != FindingsSource::Pending {
        let n = f.crossings.len();
        let st = if n > 0 {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Green)
        };
        spans.push(Span::styled(
            format!(" {n} crossing{} ", if n == 1 { "" } else { "s" }),
            st,
        ));
        if !f.destructive.is_empty() {
            spans.push(Span::styled(
                format!(" {} destructive ", f.destructive.len()),
                Style::new()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD),
            ));
        }
    }
    let home = state
        .findings
        .home_env
        .clone()
        .or_else(|| s.and_then(|s| s.home_env.clone()));
    if let Some(h) = home {
        spans.push(Span::styled(
            format!(" home {} ", safe(&h)),
            Style::new().fg(Color::Green),
        ));
    }
    if let Some(s) = s {
        if let Some(l) = &s.label {
            spans.push(Span::raw(format!("{} ", safe(l))));
        }
        if let Some(a) = &s.agent {
            spans.push(Span::styled(
                format!("{} ", safe(a)),
                Style::new().fg(Color::Gray),
            ));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    if let Some(p) = &state.prompt {
        let (lead, hint) = match p.kind {
            PromptKind::GoTo => (":", "  seq (42) or time (+12.5s)"),
            PromptKind::Search => ("/", "  text in the event"),
            PromptKind::Filter => (
                "filter: ",
                "  kind=exec,api_call layer=proxy env=production only=crossing",
            ),
        };
        let line = Line::from(vec![
            Span::styled(lead, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(safe(&p.input)),
            Span::styled("█", Style::new().fg(Color::Gray)),
            Span::styled(hint, Style::new().fg(Color::DarkGray)),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut left = Vec::new();
    let pl = &state.player;
    left.push(Span::styled(
        format!(
            " {} {}x ",
            if pl.playing { "▶" } else { "⏸" },
            fmt_speed(pl.speed)
        ),
        Style::new().fg(Color::Black).bg(if pl.playing {
            Color::Green
        } else {
            Color::Gray
        }),
    ));
    let rows = state.rows();
    let pos = if rows == 0 { 0 } else { state.cursor + 1 };
    let mut where_ = format!(" {pos}/{rows}");
    if let Some(e) = state.current() {
        where_.push_str(&format!(" seq {}", e.seq));
    }
    if !state.index.complete {
        let total = state.index.total_hint.max(1);
        where_.push_str(&format!(
            " indexing {}%",
            (state.index.entries.len() as u64 * 100 / total).min(99)
        ));
    }
    if !state.filter.is_empty() {
        where_.push_str(&format!(" [{}]", safe(&state.filter.describe())));
    }
    if state.follow {
        where_.push_str(" following");
    }
    left.push(Span::raw(where_ + " "));
    if let Some(m) = &state.message {
        left.push(Span::styled(
            format!(" {} ", safe(&m.text)),
            if m.error {
                Style::new()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::new().fg(Color::Yellow)
            },
        ));
    }
    let chain = match &state.verify {
        VerifyState::Pending => Span::styled(" chain: verifying… ", Style::new().fg(Color::Gray)),
        VerifyState::Failed(e) => Span::styled(
            format!(" chain: not verified ({}) ", safe(e)),
            Style::new().fg(Color::Yellow),
        ),
        VerifyState::Done {
            intact: true,
            events,
            checkpoints,
            ..
        } => Span::styled(
            format!(" ✓ chain intact ({events} events, {checkpoints} checkpoints) "),
            Style::new().fg(Color::Green),
        ),
        VerifyState::Done { breaks, other, .. } => {
            let mut t = format!(
                " ✗ CHAIN BROKEN: {} problem(s)",
                breaks.values().map(Vec::len).sum::<usize>() + other.len()
            );
            if let Some(first) = breaks.keys().next() {
                t.push_str(&format!(" from seq {first} (b: next break)"));
            } else if let Some(o) = other.first() {
                t.push_str(&format!(": {o}"));
            }
            Span::styled(
                t + " ",
                Style::new()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
            )
        }
    };
    let help = Span::styled(" ? help ", Style::new().fg(Color::DarkGray));
    let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
    let right_w = chain.content.chars().count() + help.content.chars().count();
    let pad = (area.width as usize).saturating_sub(used + right_w);
    if pad == 0 {
        // Narrow: the chain state matters more than the position details.
        left.truncate(1);
        let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
        let pad = (area.width as usize).saturating_sub(used + right_w);
        left.push(Span::raw(" ".repeat(pad)));
    } else {
        left.push(Span::raw(" ".repeat(pad)));
    }
    left.push(chain);
    left.push(help);
    frame.render_widget(Paragraph::new(Line::from(left)), area);
}

fn fmt_speed(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}
