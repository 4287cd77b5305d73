//! The detail pane: banners (crossing, destructive action, secret use, chain break), then a
//! view per kind; and the Screen, Cause chain and JSON tabs.

use flightlog_formats::payload::ToolResult;
use flightlog_formats::{Event, Payload};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde_json::Value;

use super::{ALARM, DANGER, rel, safe, severity_style};
use crate::sanitize;
use crate::state::{FindingsSource, IndexEntry, Loaded, State, Tab, flag, fold};
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
    if e.fold & fold::OWN != 0 {
        out.push(Line::styled(
            "flightlog's own hook process, folded from the timeline (a: fold it away)",
            Style::new().fg(Color::DarkGray),
        ));
    } else if e.fold & fold::EXIT != 0 {
        out.push(Line::styled(
            "the end of an exec, shown on its row (a: fold it away)",
            Style::new().fg(Color::DarkGray),
        ));
    }
    let Some(l) = loaded else {
        out.push(Line::styled("loading…", Style::new().fg(Color::DarkGray)));
        return out;
    };
    match &l.event {
        Err(err) => {
            out.push(banner(
                format!("✗ the stored bytes are not a valid event: {}", safe(err)),
                DANGER,
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
    let red = ALARM;
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

/// A present field as text.
fn text<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(T::to_string)
}

/// A `key value` line for each present field, in order.
fn fields<const N: usize>(out: &mut Vec<Line<'static>>, list: [(&str, Option<String>); N]) {
    for (k, v) in list {
        if let Some(v) = v {
            out.push(kv(k, v));
        }
    }
}

fn command_line(out: &mut Vec<Line<'static>>, command: &Option<String>) {
    if let Some(c) = command {
        out.push(Line::styled(
            format!("$ {}", safe(c)),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
}

fn tool_agent(tool: &Option<String>, agent: &Option<String>) -> String {
    format!(
        "{} ({})",
        tool.as_deref().unwrap_or(""),
        agent.as_deref().unwrap_or("")
    )
}

fn body(state: &State, ev: &Event, out: &mut Vec<Line<'static>>) {
    let dim = Style::new().fg(Color::Gray);
    match ev.payload() {
        Payload::Exec(x) => {
            out.push(Line::styled(
                format!("$ {}", safe(&x.argv().join(" "))),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            fields(
                out,
                [
                    ("cwd", x.cwd.clone()),
                    ("exe", x.exe.clone()),
                    ("pid", text(&x.pid)),
                    ("ppid", text(&x.ppid)),
                    ("exit", text(&x.exit)),
                    ("signal", x.signal.clone()),
                    ("duration_ms", text(&x.duration_ms)),
                ],
            );
            if let Some(end) = state.index.exits.get(&ev.seq)
                && let Some(how) = state.pages.get(*end).and_then(|l| l.ended.clone())
            {
                out.push(kv("ended", format!("{how} (seq {end})")));
            }
            if let Some(r) = result_for(state, ev.seq) {
                out.push(heading("output"));
                output_of(r, out);
            }
        }
        Payload::ToolCall(c) => {
            out.push(kv("tool", tool_agent(&c.tool, &c.agent)));
            command_line(out, &c.command);
            if let Some(input) = &c.input {
                out.push(heading("input"));
                out.extend(text_lines(&str_of(input), dim));
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
        Payload::ToolResult(r) => {
            out.push(kv("tool", tool_agent(&r.tool, &r.agent)));
            if let Some(c) = r.call_seq {
                out.push(kv("call", format!("seq {c}")));
            }
            command_line(out, &r.command);
            fields(
                out,
                [
                    ("is_error", text(&r.is_error)),
                    ("duration_ms", text(&r.duration_ms)),
                ],
            );
            out.push(heading("output"));
            output_event(ev, out);
        }
        Payload::ApiCall(api) => {
            let status = text(&api.status).unwrap_or_else(|| "no response".into());
            out.push(Line::styled(
                format!(
                    "{} {}  → {}",
                    safe(api.method.as_deref().unwrap_or("")),
                    safe(api.url.as_deref().unwrap_or("")),
                    safe(&status)
                ),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            fields(
                out,
                [
                    ("host", api.host.clone()),
                    ("path", api.path.clone()),
                    ("via_seq", text(&api.via_seq)),
                ],
            );
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
                    Span::styled(safe(&fields.join(", ")), DANGER),
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
            for (body, title) in [
                (&api.request_body, "request body"),
                (&api.response_body, "response body"),
            ] {
                if let Some(b) = body {
                    out.push(heading(title));
                    out.extend(text_lines(b, dim));
                }
            }
        }
        Payload::FileChange(f) => {
            out.push(Line::styled(
                format!(
                    "{} {}",
                    safe(f.op.as_deref().unwrap_or("")),
                    safe(f.path.as_deref().unwrap_or(""))
                ),
                Style::new().add_modifier(Modifier::BOLD),
            ));
            fields(
                out,
                [
                    ("from", f.from.clone()),
                    ("size", text(&f.size)),
                    ("sha256_before", f.sha256_before.clone()),
                    ("sha256_after", f.sha256_after.clone()),
                ],
            );
            if f.binary == Some(true) {
                out.push(Line::styled("binary file: no diff", dim));
            } else if let Some(diff) = &f.diff {
                out.push(heading("diff"));
                diff_lines(diff, out);
            } else {
                out.push(Line::styled("no diff recorded", dim));
            }
        }
        Payload::FileRead(f) => {
            out.push(kv("path", f.path.clone().unwrap_or_default()));
            out.push(kv("via", f.via.clone().unwrap_or_default()));
            for s in f.secrets.unwrap_or_default() {
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
        Payload::Prompt(t) | Payload::Message(t) => {
            out.push(kv("role", t.role.unwrap_or_default()));
            out.extend(text_lines(t.text.as_deref().unwrap_or(""), Style::new()));
        }
        Payload::Terminal(t) => {
            out.push(kv("stream", t.stream.unwrap_or_default()));
            out.push(kv("t_ms", text(&t.t_ms).unwrap_or_default()));
            out.push(Line::styled("(Tab: the screen at this moment)", dim));
            out.extend(text_lines(t.data.as_deref().unwrap_or(""), dim));
        }
        Payload::Decision(d) => {
            let decision = d.decision.unwrap_or_default();
            out.push(Line::styled(
                format!("guard: {}", safe(&decision)),
                if decision == "deny" {
                    DANGER
                } else {
                    Style::new().fg(Color::Green)
                },
            ));
            fields(
                out,
                [
                    ("rule", d.rule),
                    ("reason", d.reason),
                    ("target_seq", text(&d.target_seq)),
                    ("layer", d.layer),
                    ("fail_mode", d.fail_mode),
                ],
            );
        }
        Payload::Gap(g) => {
            out.push(Line::styled(
                "… capture gap: events may be missing here",
                Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
            ));
            fields(
                out,
                [
                    ("layer", g.layer),
                    ("reason", g.reason),
                    ("detail", g.detail),
                ],
            );
        }
        _ => out.extend(text_lines(
            &serde_json::to_string_pretty(&ev.data).unwrap_or_default(),
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
            "crossing" | "destructive" => DANGER,
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
