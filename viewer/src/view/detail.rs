//! The detail pane: banners (crossing, destructive action, secret use, chain break), then a
//! view per kind; and the Screen, Cause chain and JSON tabs.

use flightlog_formats::payload::{ApiCall, FileChange, FileRead, ToolResult};
use flightlog_formats::{Event, Kind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde_json::Value;

use super::{rel, safe, severity_style};
use crate::sanitize;
use crate::state::{FindingsSource, IndexEntry, Loaded, State, Tab, flag};
use crate::update::severity_rank;

/// Longest text shown for one field (the rest is summarised).
const MAX_FIELD: usize = 16 * 1024;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let mut tabs = vec![Span::raw(" ")];
    for t in Tab::ALL {
        let st = if t == state.tab {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Gray)
        };
        tabs.push(Span::styled(format!(" {} ", t.title()), st));
        tabs.push(Span::raw(" "));
    }
    let block = Block::new()
        .borders(Borders::TOP | Borders::LEFT)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(tabs));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if state.tab == Tab::Screen {
        super::screen::draw(state, frame, inner);
        return;
    }
    let lines = match state.tab {
        Tab::Chain => chain_lines(state),
        Tab::Json => json_lines(state),
        _ => detail_lines(state),
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((state.detail_scroll, 0)),
        inner,
    );
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_string();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &s[..end], s.len() - end)
}

/// Multi-line agent text, escaped, as lines with a style.
fn text_lines(s: &str, style: Style) -> Vec<Line<'static>> {
    sanitize::text(&clip(s))
        .split('\n')
        .map(|l| Line::styled(l.to_string(), style))
        .collect()
}

fn kv(k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:>11} "), Style::new().fg(Color::DarkGray)),
        Span::raw(safe(&v.into())),
    ])
}

fn heading(s: &str) -> Line<'static> {
    Line::styled(
        format!("── {s} "),
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    )
}

fn banner(s: String, style: Style) -> Line<'static> {
    Line::styled(s, style)
}

fn detail_lines(state: &State) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let Some(e) = state.current() else {
        out.push(Line::styled("no event", Style::new().fg(Color::DarkGray)));
        return out;
    };
    banners(state, e, &mut out);
    let loaded = state.pages.get(e.seq);
    let env = if e.env == 0 {
        "-".to_string()
    } else {
        safe(state.index.envs.get(e.env))
    };
    out.push(Line::from(vec![
        Span::styled(
            format!("seq {}", e.seq),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" · {} · ", rel(state.rel_secs(e)))),
        Span::styled(
            safe(state.index.kind_name(e)),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " · {} · env ",
            safe(state.index.sources.get(e.source))
        )),
        Span::styled(
            env.clone(),
            if e.env == 0 {
                Style::new()
            } else {
                super::env_style(state, &env)
            },
        ),
    ]));
    let Some(l) = loaded else {
        out.push(Line::styled("loading…", Style::new().fg(Color::DarkGray)));
        return out;
    };
    match &l.event {
        Err(err) => {
            out.push(banner(
                format!("✗ the stored bytes are not a valid event: {}", safe(err)),
                Style::new()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD),
            ));
            out.extend(text_lines(&l.raw, Style::new()));
        }
        Ok(ev) => {
            out.push(Line::styled(safe(&ev.ts), Style::new().fg(Color::DarkGray)));
            if !ev.redactions.is_empty() {
                let r: Vec<String> = ev
                    .redactions
                    .iter()
                    .map(|r| format!("{} [{}]", safe(&r.kind), safe(&r.fp)))
                    .collect();
                out.push(kv("redacted", r.join(", ")));
            }
            out.push(Line::raw(""));
            body(state, ev, &mut out);
        }
    }
    out
}

fn banners(state: &State, e: &IndexEntry, out: &mut Vec<Line<'static>>) {
    let red = Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD);
    if let Some(problems) = state.breaks_at(e.seq) {
        out.push(banner(
            "✗ CHAIN BROKEN AT THIS EVENT (the log was altered here)".into(),
            red,
        ));
        for p in problems {
            out.push(Line::styled(
                format!("  {p}"),
                Style::new().fg(Color::LightRed),
            ));
        }
        out.push(Line::raw(""));
    } else if e.flags & flag::UNPARSEABLE != 0 {
        out.push(banner("✗ UNREADABLE OR MISPLACED EVENT".into(), red));
    }
    if let Some(c) = state.findings.crossings.get(&e.seq) {
        let head = match &c.attempt {
            Some(_) => "◆ CROSSING ATTEMPTED",
            None => "◆ BOUNDARY CROSSED",
        };
        out.push(banner(
            format!("{head}: {} → {}", safe(&c.from), target(&c.to)),
            red,
        ));
        if let Some(a) = &c.attempt {
            out.push(Line::styled(
                format!("  it did not happen: {}", safe(a)),
                Style::new().fg(Color::Yellow),
            ));
        }
        for ev in &c.evidence {
            out.push(Line::styled(
                format!("  • {}", safe(ev)),
                Style::new().fg(Color::LightRed),
            ));
        }
        out.push(Line::raw(""));
    }
    if let Some(d) = state.findings.destructive.get(&e.seq) {
        let sev = severity_rank(&d.severity);
        out.push(banner(
            format!(
                "! DESTRUCTIVE ({}): {} · {}{}",
                safe(&d.severity),
                safe(&d.rule),
                safe(&d.summary),
                d.target_env
                    .as_deref()
                    .map(|t| format!(" · target {}", safe(t)))
                    .unwrap_or_default()
            ),
            severity_style(sev.max(3)),
        ));
        if let Some(a) = &d.attempt {
            out.push(Line::styled(
                format!("  attempted, not done: {}", safe(a)),
                Style::new().fg(Color::Yellow),
            ));
        }
    }
    if let Some(fps) = state.findings.secret_uses.get(&e.seq) {
        for fp in fps {
            let from = match state
                .findings
                .secret_trails
                .get(fp)
                .or_else(|| state.index.secret_origin.get(fp))
            {
                Some(o) => format!(
                    "{} read at seq {}{}",
                    safe(&o.kind),
                    o.seq,
                    o.location
                        .as_deref()
                        .map(|l| format!(" from {}", safe(l)))
                        .unwrap_or_default()
                ),
                None => "not seen being read in this session".into(),
            };
            out.push(banner(
                format!("$ uses secret [{}]: {from}", safe(fp)),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ));
        }
    }
    if e.flags & flag::ERROR != 0 {
        out.push(banner("× failed".into(), Style::new().fg(Color::Red)));
    }
}

/// A crossing's target; `*` is a credential that reaches every environment.
fn target(to: &str) -> String {
    if to == "*" {
        "every environment (*)".to_string()
    } else {
        safe(to)
    }
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn body(state: &State, ev: &Event, out: &mut Vec<Line<'static>>) {
    let d = &ev.data;
    let g = |k: &str| d.get(k).map(str_of).unwrap_or_default();
    let has = |k: &str| d.get(k).is_some_and(|v| !v.is_null());
    let dim = Style::new().fg(Color::Gray);
    match &ev.kind {
        Kind::Exec => {
            let argv: Vec<String> = ev.exec().map(|x| x.argv().to_vec()).unwrap_or_default();
            out.push(Line::styled(
                format!("$ {}", safe(&argv.join(" "))),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            for k in ["cwd", "exe", "pid", "ppid", "exit", "signal", "duration_ms"] {
                if has(k) {
                    out.push(kv(k, g(k)));
                }
            }
            if let Some(r) = result_for(state, ev.seq) {
                out.push(heading("output"));
                output_of(r, out);
            }
        }
        Kind::ToolCall => {
            out.push(kv("tool", format!("{} ({})", g("tool"), g("agent"))));
            if has("command") {
                out.push(Line::styled(
                    format!("$ {}", safe(&g("command"))),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
            }
            if has("input") {
                out.push(heading("input"));
                out.extend(text_lines(&g("input"), dim));
            }
            match result_for(state, ev.seq) {
                Some(r) => {
                    out.push(heading(&format!("result (seq {})", r.seq)));
                    output_of(r, out);
                }
                None => match state.index.results.get(&ev.seq) {
                    Some(s) => out.push(kv("result", format!("seq {s} (loading…)"))),
                    None => out.push(kv("result", "none recorded")),
                },
            }
        }
        Kind::ToolResult => {
            out.push(kv("tool", format!("{} ({})", g("tool"), g("agent"))));
            if has("call_seq") {
                out.push(kv("call", format!("seq {}", g("call_seq"))));
            }
            if has("command") {
                out.push(Line::styled(
                    format!("$ {}", safe(&g("command"))),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
            }
            for k in ["is_error", "duration_ms"] {
                if has(k) {
                    out.push(kv(k, g(k)));
                }
            }
            out.push(heading("output"));
            output_event(ev, out);
        }
        Kind::ApiCall => {
            let status = if has("status") {
                g("status")
            } else {
                "no response".into()
            };
            out.push(Line::styled(
                format!(
                    "{} {}  → {}",
                    safe(&g("method")),
                    safe(&g("url")),
                    safe(&status)
                ),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            for k in ["host", "path", "via_seq"] {
                if has(k) {
                    out.push(kv(k, g(k)));
                }
            }
            let api = ApiCall::from_value(d);
            if let Some(q) = &api.graphql {
                out.push(heading("GraphQL operation"));
                let fields = api.root_fields();
                let op = format!(
                    "{} {}",
                    q.operation_type.as_deref().unwrap_or(""),
                    q.operation_name.as_deref().unwrap_or("")
                );
                out.push(kv("operation", op.trim().to_string()));
                out.push(Line::from(vec![
                    Span::styled(
                        format!("{:>11} ", "fields"),
                        Style::new().fg(Color::DarkGray),
                    ),
                    Span::styled(
                        safe(&fields.join(", ")),
                        Style::new()
                            .fg(Color::LightRed)
                            .add_modifier(Modifier::BOLD),
                    ),
                ]));
                if let Some(v) = &q.variables {
                    out.push(kv("variables", ""));
                    out.extend(text_lines(&str_of(v), dim));
                }
            }
            if let Some(h) = &api.request_headers
                && !h.is_empty()
            {
                out.push(heading("request headers"));
                for (k, v) in h {
                    out.push(Line::raw(format!("  {}: {}", safe(k), safe(&str_of(v)))));
                }
            }
            for (k, t) in [
                ("request_body", "request body"),
                ("response_body", "response body"),
            ] {
                if has(k) {
                    out.push(heading(t));
                    out.extend(text_lines(&g(k), dim));
                }
            }
        }
        Kind::FileChange => {
            out.push(Line::styled(
                format!("{} {}", safe(&g("op")), safe(&g("path"))),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            if has("from") {
                out.push(kv("from", g("from")));
            }
            for k in ["size", "sha256_before", "sha256_after"] {
                if has(k) {
                    out.push(kv(k, g(k)));
                }
            }
            if FileChange::from_value(d).binary == Some(true) {
                out.push(Line::styled("binary file: no diff", dim));
            } else if has("diff") {
                out.push(heading("diff"));
                diff_lines(&g("diff"), out);
            } else {
                out.push(Line::styled("no diff recorded", dim));
            }
        }
        Kind::FileRead => {
            out.push(kv("path", g("path")));
            out.push(kv("via", g("via")));
            for s in FileRead::from_value(d).secrets.unwrap_or_default() {
                out.push(Line::styled(
                    format!(
                        "  ~ secret {} [{}] line {}",
                        safe(s.kind.as_deref().unwrap_or("")),
                        safe(s.fp.as_deref().unwrap_or("")),
                        s.line.map(|l| l.to_string()).unwrap_or_default()
                    ),
                    Style::new().fg(Color::Yellow),
                ));
            }
        }
        Kind::Prompt | Kind::Message => {
            out.push(kv("role", g("role")));
            out.extend(text_lines(&g("text"), Style::new()));
        }
        Kind::Terminal => {
            out.push(kv("stream", g("stream")));
            out.push(kv("t_ms", g("t_ms")));
            out.push(Line::styled("(Tab: the screen at this moment)", dim));
            out.extend(text_lines(&g("data"), dim));
        }
        Kind::Decision => {
            let deny = g("decision") == "deny";
            out.push(Line::styled(
                format!("guard: {}", safe(&g("decision"))),
                if deny {
                    Style::new()
                        .fg(Color::LightRed)
                        .add_modifier(Modifier::BOLD)
                } else {
                    Style::new().fg(Color::Green)
                },
            ));
            for k in ["rule", "reason", "target_seq", "layer", "fail_mode"] {
                if has(k) {
                    out.push(kv(k, g(k)));
                }
            }
        }
        Kind::Gap => {
            out.push(Line::styled(
                "… capture gap: events may be missing here",
                Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
            ));
            for k in ["layer", "reason", "detail"] {
                if has(k) {
                    out.push(kv(k, g(k)));
                }
            }
        }
        _ => out.extend(text_lines(
            &serde_json::to_string_pretty(d).unwrap_or_default(),
            dim,
        )),
    }
}

/// The loaded tool_result that answers a call.
fn result_for(state: &State, seq: u64) -> Option<&Loaded> {
    let r = state.index.results.get(&seq)?;
    state.pages.get(*r)
}

fn output_of(r: &Loaded, out: &mut Vec<Line<'static>>) {
    match &r.event {
        Ok(ev) => output_event(ev, out),
        Err(_) => out.push(Line::raw("(unreadable result)")),
    }
}

fn output_event(ev: &Event, out: &mut Vec<Line<'static>>) {
    let r = ToolResult::from_value(&ev.data);
    if let Some(o) = &r.output {
        out.extend(text_lines(&str_of(o), Style::new()));
    }
    if let Some(e) = &r.error {
        out.extend(text_lines(&str_of(e), Style::new().fg(Color::LightRed)));
    }
}

/// A unified diff with `+` lines green, `-` lines red and hunk headers cyan.
pub fn diff_lines(diff: &str, out: &mut Vec<Line<'static>>) {
    for l in sanitize::text(&clip(diff)).split('\n') {
        let st = if l.starts_with("+++") || l.starts_with("---") {
            Style::new().add_modifier(Modifier::BOLD)
        } else if l.starts_with('+') {
            Style::new().fg(Color::Green)
        } else if l.starts_with('-') {
            Style::new().fg(Color::Red)
        } else if l.starts_with("@@") {
            Style::new().fg(Color::Cyan)
        } else {
            Style::new()
        };
        out.push(Line::styled(l.to_string(), st));
    }
}

fn chain_lines(state: &State) -> Vec<Line<'static>> {
    let f = &state.findings;
    let mut out = Vec::new();
    match f.source {
        FindingsSource::Pending => {
            out.push(Line::styled("analysing…", Style::new().fg(Color::DarkGray)));
            return out;
        }
        FindingsSource::Analysis => {}
    }
    out.push(Line::from(format!(
        "{} crossing(s) · {} destructive · {} secret use(s) · {} error(s)",
        f.crossings.len(),
        f.destructive.len(),
        f.secret_uses.len(),
        f.errors.len()
    )));
    if let Some(n) = &f.note {
        out.push(Line::styled(safe(n), Style::new().fg(Color::DarkGray)));
    }
    out.push(Line::raw(""));
    let Some(c) = &f.chain else {
        out.push(Line::raw("no cause chain: no boundary crossing was found"));
        return out;
    };
    out.push(Line::styled(
        format!(
            "critical window: seq {} → seq {}, {:.1} s",
            c.from_seq, c.to_seq, c.seconds
        ),
        Style::new().add_modifier(Modifier::BOLD),
    ));
    let here = state.current().map(|e| e.seq);
    let t0 = state
        .index
        .find(c.from_seq)
        .map(|p| state.index.entries[p].t_us);
    for s in &c.steps {
        let t = match (t0, state.index.find(s.seq)) {
            (Some(a), Some(p)) => {
                format!("{:>8}", rel((state.index.entries[p].t_us - a) as f64 / 1e6))
            }
            _ => " ".repeat(8),
        };
        let role_style = match s.role.as_str() {
            "error" => Style::new().fg(Color::Red),
            "secret_read" | "secret_use" => Style::new().fg(Color::Yellow),
            "crossing" | "destructive" => Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            _ => Style::new(),
        };
        let cur = if here == Some(s.seq) { "▶" } else { " " };
        out.push(Line::from(vec![
            Span::raw(format!("{cur} {t} seq {:<6} ", s.seq)),
            Span::styled(format!("{:<12}", safe(&s.role)), role_style),
            Span::raw(safe(&s.text)),
        ]));
    }
    out
}

fn json_lines(state: &State) -> Vec<Line<'static>> {
    let Some(l) = state.current_loaded() else {
        return vec![Line::styled("loading…", Style::new().fg(Color::DarkGray))];
    };
    let text = match &l.event {
        Ok(ev) => sanitize::text(&clip(&serde_json::to_string_pretty(ev).unwrap_or_default())),
        Err(_) => l.raw.clone(),
    };
    text.split('\n').map(|s| Line::raw(s.to_string())).collect()
}
