//! The timeline: one row per event, the crossing impossible to miss.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{ALARM, DANGER, env_style, fit, rel, safe, severity_label, severity_style};
use crate::state::{IndexEntry, State, flag};

/// The marker glyph and its style, most important first.
fn mark(e: &IndexEntry) -> (&'static str, Style) {
    let f = e.marks();
    if f & flag::BROKEN != 0 || f & flag::UNPARSEABLE != 0 {
        ("✗", DANGER)
    } else if f & flag::CROSSING != 0 {
        ("◆", DANGER)
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

/// The kind in at most six columns, for a narrow timeline (the detail pane names it in full).
fn short_kind(kind: &str) -> &str {
    match kind {
        "session_start" => "start",
        "session_end" => "end",
        "tool_call" => "call",
        "tool_result" => "result",
        "api_call" => "api",
        "file_change" => "change",
        "file_read" => "read",
        "message" => "msg",
        "terminal" => "term",
        "decision" => "decide",
        "raw_input" => "raw",
        "checkpoint" => "ckpt",
        other => other,
    }
}

/// Below this width the kind column uses [`short_kind`].
const FULL_KINDS: usize = 100;

/// Column widths: time, kind, environment (0: no column).
struct Cols {
    time: usize,
    kind: usize,
    env: usize,
    short: bool,
}

impl Cols {
    /// Each column as wide as its widest value in the session, so the summary gets the rest.
    fn new(state: &State, w: usize) -> Cols {
        let short = w < FULL_KINDS;
        let time = state
            .index
            .entries
            .last()
            .map(|e| e.t_us)
            .map(|t| {
                rel((t - state.index.base_us()) as f64 / 1e6)
                    .chars()
                    .count()
            })
            .unwrap_or(7)
            .max(7);
        let kind = state
            .index
            .kinds
            .values
            .iter()
            .map(|k| {
                if short {
                    short_kind(k).chars().count().min(6)
                } else {
                    k.chars().count().min(13)
                }
            })
            .max()
            .unwrap_or(4);
        let env = state
            .index
            .envs
            .values
            .iter()
            .map(|e| e.chars().count())
            .max()
            .unwrap_or(0)
            .min(if short { 10 } else { 12 });
        Cols {
            time,
            kind,
            env,
            short,
        }
    }

    /// Columns before the summary (mark, time, kind, environment, and their spaces).
    fn used(&self) -> usize {
        2 + self.time + 1 + self.kind + 1 + if self.env > 0 { self.env + 1 } else { 0 }
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
    let cols = Cols::new(state, w);
    for row in state.scroll..(state.scroll + area.height as usize).min(state.rows()) {
        let Some(e) = state.entry_of_row(row) else {
            break;
        };
        lines.push(row_line(state, e, row == state.cursor, w, &cols));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn row_line(state: &State, e: &IndexEntry, selected: bool, w: usize, cols: &Cols) -> Line<'static> {
    let (glyph, gstyle) = mark(e);
    let crossing = e.marks() & flag::CROSSING != 0;
    let base = if crossing {
        ALARM
    } else if e.fold != 0 {
        // A folded row shown because all rows are: dimmed, the agent's actions stand out.
        Style::new().fg(Color::DarkGray)
    } else {
        Style::new()
    };
    let base = if selected {
        base.add_modifier(Modifier::REVERSED)
    } else {
        base
    };
    let time = format!("{:>width$}", rel(state.rel_secs(e)), width = cols.time);
    let kind_name = state.index.kind_name(e);
    let kind = if cols.short {
        fit(&safe(short_kind(kind_name)), cols.kind)
    } else {
        fit(&safe(kind_name), cols.kind)
    };
    let env = if e.env == 0 {
        " ".repeat(cols.env)
    } else {
        fit(&safe(state.index.envs.get(e.env)), cols.env)
    };
    let estyle = if e.env == 0 || crossing {
        base
    } else {
        env_style(state, state.index.envs.get(e.env)).patch(base)
    };
    let summary = match state.pages.get(e.seq) {
        Some(l) => l.summary.clone(),
        None => "…".to_string(),
    };
    let mut lead = String::new();
    if crossing {
        let c = state.findings.crossings.get(&e.seq);
        let to = c
            .map(|c| {
                if c.to == "*" {
                    "every env".to_string()
                } else {
                    safe(&c.to)
                }
            })
            .unwrap_or_default();
        if c.is_some_and(|c| c.attempt.is_some()) {
            lead = format!("CROSSING ATTEMPTED → {to} · ");
        } else {
            lead = format!("BOUNDARY CROSSED → {to} · ");
        }
    }
    let sev = severity_label(e.severity);
    let rest = w.saturating_sub(cols.used());
    // How an exec ended, kept at the right end of its row when there is room for it.
    let ended = state
        .ended_of(e)
        .and_then(|l| l.ended.clone())
        .map(|t| format!(" {t}"));
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
    ];
    if cols.env > 0 {
        spans.push(Span::styled(env, estyle));
        spans.push(Span::styled(" ", base));
    }
    let mut left = rest;
    if !sev.is_empty() && left > sev.len() + 1 {
        spans.push(Span::styled(
            format!("{sev} "),
            severity_style(e.severity).patch(base),
        ));
        left -= sev.len() + 1;
    }
    let text = format!("{lead}{summary}");
    match ended {
        Some(t) if left >= t.chars().count() + 16 => {
            let tw = t.chars().count();
            let failed = e.child_flags & flag::ERROR != 0;
            spans.push(Span::styled(fit(&text, left - tw), base));
            spans.push(Span::styled(
                t,
                if crossing {
                    base
                } else if failed {
                    base.fg(Color::Red)
                } else {
                    base.fg(Color::DarkGray)
                },
            ));
        }
        _ => spans.push(Span::styled(fit(&text, left), base)),
    }
    Line::from(spans)
}
