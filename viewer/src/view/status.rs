//! The title line and the status line (play state, position, filter, chain verification).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{ALARM, DANGER, safe};
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
            ALARM
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
                DANGER,
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
    let pl = &state.player;
    let play_style = Style::new().fg(Color::Black).bg(if pl.playing {
        Color::Green
    } else {
        Color::Gray
    });
    let glyph = if pl.playing { "▶" } else { "⏸" };
    let rows = state.rows();
    let pos = if rows == 0 { 0 } else { state.cursor + 1 };
    let short_where = match state.current() {
        Some(e) => format!(" {pos}/{rows} seq {} ", e.seq),
        None => format!(" {pos}/{rows} "),
    };
    let mut long_where = short_where.trim_end().to_string();
    if !state.index.complete {
        let total = state.index.total_hint.max(1);
        long_where.push_str(&format!(
            " indexing {}%",
            (state.index.entries.len() as u64 * 100 / total).min(99)
        ));
    }
    if !state.filter.is_empty() {
        long_where.push_str(&format!(" [{}]", safe(&state.filter.describe())));
    }
    if state.all_rows {
        long_where.push_str(" all rows");
    }
    if state.follow {
        long_where.push_str(" following");
    }
    long_where.push(' ');
    let message = state.message.as_ref().map(|m| {
        (
            format!(" {} ", safe(&m.text)),
            if m.error {
                DANGER
            } else {
                Style::new().fg(Color::Yellow)
            },
        )
    });
    let (chain_long, chain_short, chain_style) = chain_texts(state);
    let help = " ? help ";
    let width = area.width as usize;
    // From the most to the least complete; the first that fits is drawn. What goes first:
    // the help hint, then the long chain text, the speed, the position details; the answer to
    // what the user just did (the message) and the position stay, the message cut last.
    let play_long = format!(" {glyph} {}x ", fmt_speed(pl.speed));
    let play_short = format!(" {glyph} ");
    let variants: [(&str, &str, &str, bool); 6] = [
        (&play_long, &long_where, &chain_long, true),
        (&play_long, &long_where, &chain_long, false),
        (&play_long, &long_where, &chain_short, false),
        (&play_short, &long_where, &chain_short, false),
        (&play_short, &short_where, &chain_short, false),
        (&play_short, &short_where, "", false),
    ];
    let w = |t: &str| t.chars().count();
    let msg_w = message.as_ref().map_or(0, |(t, _)| w(t));
    let chosen = variants
        .iter()
        .find(|(p, wh, c, h)| w(p) + w(wh) + msg_w + w(c) + if *h { w(help) } else { 0 } <= width)
        .unwrap_or(&variants[variants.len() - 1]);
    let (play, where_, chain, with_help) = *chosen;
    let mut spans = vec![
        Span::styled(play.to_string(), play_style),
        Span::raw(where_.to_string()),
    ];
    let used = w(play) + w(where_);
    let right_w = w(chain) + if with_help { w(help) } else { 0 };
    let mut used_total = used;
    if let Some((text, style)) = message {
        let room = width.saturating_sub(used + right_w);
        let text = if w(&text) > room {
            let keep: String = text.chars().take(room.saturating_sub(2)).collect();
            if room >= 2 {
                format!("{keep}… ")
            } else {
                String::new()
            }
        } else {
            text
        };
        used_total += w(&text);
        spans.push(Span::styled(text, style));
    }
    spans.push(Span::raw(
        " ".repeat(width.saturating_sub(used_total + right_w)),
    ));
    spans.push(Span::styled(chain.to_string(), chain_style));
    if with_help {
        spans.push(Span::styled(help, Style::new().fg(Color::DarkGray)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The chain state in full and in short, and its style.
fn chain_texts(state: &State) -> (String, String, Style) {
    match &state.verify {
        VerifyState::Pending => (
            " chain: verifying… ".into(),
            " verifying… ".into(),
            Style::new().fg(Color::Gray),
        ),
        VerifyState::Failed(e) => (
            format!(" chain: not verified ({}) ", safe(e)),
            " not verified ".into(),
            Style::new().fg(Color::Yellow),
        ),
        VerifyState::Done {
            intact: true,
            events,
            checkpoints,
            ..
        } => (
            format!(
                " ✓ chain intact ({events} event{}, {checkpoints} checkpoint{}) ",
                plural(*events),
                plural(*checkpoints)
            ),
            " ✓ intact ".into(),
            Style::new().fg(Color::Green),
        ),
        VerifyState::Done { breaks, other, .. } => {
            let n = breaks.values().map(Vec::len).sum::<usize>() + other.len();
            let mut long = format!(" ✗ CHAIN BROKEN: {n} problem{}", plural(n as u64));
            let mut short = " ✗ BROKEN".to_string();
            if let Some(first) = breaks.keys().next() {
                long.push_str(&format!(" from seq {first} (b: next break)"));
                short.push_str(&format!(" seq {first}"));
            } else if let Some(o) = other.first() {
                long.push_str(&format!(": {o}"));
            }
            (long + " ", short + " ", ALARM)
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn fmt_speed(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}
