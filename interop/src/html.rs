//! The incident report as one self-contained HTML page: no scripts, no external resources (a
//! Content-Security-Policy forbids any), readable on screen and printable.
//!
//! All agent-controlled text is escaped for HTML and made visible: control characters and
//! bidirectional overrides (which could reorder what a reviewer reads) are shown as `\u{..}`.

use std::collections::{HashMap, HashSet};

use flightlog_analysis::Analysis;
use flightlog_formats::{Event, Kind};

use flightlog_formats::text::one_line;

use crate::export::summary;

/// Escapes text for HTML and makes control and bidi characters visible.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || flightlog_formats::text::is_invisible(c) => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--red:#b42318;--redbg:#fdecea;--amber:#9a6700;--amberbg:#fff8c5;--green:#1a7f37;--greenbg:#dafbe1}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);background:var(--bg);max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.muted{color:var(--muted)}code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:22px}.ok{color:var(--green)}.bad{color:var(--red)}
.banner{border:2px solid var(--red);background:var(--redbg);border-radius:8px;padding:14px 18px;margin:14px 0}
.banner h3{margin:0 0 6px;color:var(--red);font-size:18px}
.verify-ok{border:1px solid var(--green);background:var(--greenbg);border-radius:8px;padding:8px 14px}
.verify-bad{border:2px solid var(--red);background:var(--redbg);border-radius:8px;padding:8px 14px}
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.num{text-align:right;white-space:nowrap}
tr.crossing td{background:var(--redbg)}tr.destructive td{background:var(--amberbg)}
.sev{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;border:1px solid currentColor}
.sev-critical,.sev-high{color:var(--red)}.sev-medium{color:var(--amber)}.sev-low{color:var(--muted)}
.step{display:grid;grid-template-columns:90px 110px 1fr;gap:8px;padding:4px 0;border-bottom:1px dashed var(--line)}
.summary{word-break:break-word}
@media print{body{max-width:none;padding:0;font-size:11px}.banner,.verify-bad,tr.crossing td,tr.destructive td{-webkit-print-color-adjust:exact;print-color-adjust:exact}h2{break-after:avoid}tr{break-inside:avoid}}
";

/// The HTML report of a session: `analysis` of `events` (the session's events in seq order),
/// `intact` the verification result. One self-contained page.
pub fn report_html(analysis: &Analysis, events: &[Event], intact: bool) -> String {
    let a = analysis;
    // One row per HTTP exchange and per process: responses and exits join what they complete.
    let joined = crate::export::exchange::join_events(events);
    let events = joined.as_slice();
    // The first event of each seq, looked up rather than scanned for.
    let mut first_event: HashMap<u64, &Event> = HashMap::with_capacity(events.len());
    for e in events {
        first_event.entry(e.seq).or_insert(e);
    }
    let by_seq = |seq: u64| first_event.get(&seq).copied();
    let t0 = events.first().and_then(Event::time);
    let rel = |e: &Event| match (e.time(), t0) {
        (Some(t), Some(s)) => format!("+{:.3}s", (t - s).num_milliseconds() as f64 / 1000.0),
        _ => "?".into(),
    };
    let ev_summary = |seq: u64| by_seq(seq).map(summary).unwrap_or_default();
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("flightlog report: session {}", a.session);
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    ));
    let started = events.first().map(|e| e.ts.as_str()).unwrap_or("");
    let ended = events.last().map(|e| e.ts.as_str()).unwrap_or("");
    h.push_str(&format!(
        "<header><h1>{}</h1><div class=\"muted\">{} to {} · home environment <b>{}</b> · flightlog {}</div></header>\n",
        esc(&title),
        esc(started),
        esc(ended),
        esc(a.home_env.as_deref().unwrap_or("(none)")),
        esc(crate::VERSION)
    ));
    // Verification.
    if intact {
        h.push_str("<p class=\"verify-ok\" id=\"verification\"><b class=\"ok\">&#10003; Chain verified intact.</b> Every event hash, link and checkpoint signature checked.</p>\n");
    } else {
        h.push_str("<p class=\"verify-bad\" id=\"verification\"><b class=\"bad\">&#10007; NOT intact.</b> The log fails verification: run <code>flightlog verify</code> for the problems. Treat what follows as unproven.</p>\n");
    }
    let window = a
        .critical_window
        .as_ref()
        .map(|w| format!("{:.1} s", w.seconds))
        .unwrap_or_else(|| "-".into());
    h.push_str(&format!(
        "<section class=\"cards\"><div class=\"card\">events<b>{}</b></div>\
         <div class=\"card\">boundary crossings<b class=\"{}\">{}</b></div>\
         <div class=\"card\">destructive actions<b class=\"{}\">{}</b></div>\
         <div class=\"card\">secrets traced<b>{}</b></div>\
         <div class=\"card\">gaps<b>{}</b></div>\
         <div class=\"card\">critical window<b>{}</b></div></section>\n",
        a.events,
        if a.boundary_crossings.is_empty() {
            "ok"
        } else {
            "bad"
        },
        a.boundary_crossings.len(),
        if a.destructive.is_empty() {
            "ok"
        } else {
            "bad"
        },
        a.destructive.len(),
        a.secrets.len(),
        a.gaps.len(),
        esc(&window)
    ));
    // Crossings: impossible to miss.
    h.push_str("<h2 id=\"crossings\">Boundary crossings</h2>\n");
    if a.boundary_crossings.is_empty() {
        h.push_str("<p class=\"ok\">No event acted outside the home environment.</p>\n");
    }
    for c in &a.boundary_crossings {
        let at = by_seq(c.seq).map(rel).unwrap_or_default();
        // An action that did not reach its target is an attempt, said as such.
        let head = if c.outcome.is_attempt() {
            format!(
                "Crossing attempted ({})",
                flightlog_analysis::report::outcome_text(c.outcome, &c.outcome_detail)
            )
        } else {
            "Boundary crossed".to_string()
        };
        h.push_str(&format!(
            "<div class=\"banner\" id=\"crossing-{seq}\"><h3>&#9888; {head}: {from} &rarr; {to}</h3>\
             <div>seq <b>{seq}</b> · {ts} ({at})</div><div class=\"summary mono\">{sum}</div><ul>",
            seq = c.seq,
            head = esc(&head),
            from = esc(&c.from),
            to = esc(&c.to),
            ts = esc(&c.ts),
            at = esc(&at),
            sum = esc(&one_line(&ev_summary(c.seq), 600)),
        ));
        for ev in &c.evidence {
            h.push_str(&format!("<li>{}</li>", esc(ev)));
        }
        h.push_str("</ul></div>\n");
    }
    // Destructive actions.
    let rows = a.destructive.iter().map(|d| {
            let sev = serde_json::to_value(d.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!(
                "<tr class=\"destructive\"><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td><td><span class=\"sev sev-{}\">{}</span></td><td>{}</td><td class=\"summary\">{}</td></tr>\n",
                d.seq,
                esc(&by_seq(d.seq).map(rel).unwrap_or_default()),
                esc(&d.rule),
                esc(&sev),
                esc(&sev),
                esc(d.target_env.as_deref().unwrap_or("-")),
                esc(&if d.outcome.is_attempt() {
                    format!(
                        "attempted, {}: {}",
                        flightlog_analysis::report::outcome_text(d.outcome, &d.outcome_detail),
                        d.summary
                    )
                } else {
                    d.summary.clone()
                })
            )
    });
    table_section(
        &mut h,
        ("destructive", "Destructive actions"),
        "<p class=\"ok\">None found.</p>\n",
        &["seq", "time", "rule", "severity", "target", "what"],
        rows,
    );
    // Critical window / cause chain.
    h.push_str("<h2 id=\"window\">Critical window</h2>\n");
    match &a.critical_window {
        None => {
            h.push_str("<p class=\"muted\">No chain from an error to a destructive action.</p>\n")
        }
        Some(w) => {
            h.push_str(&format!(
                "<p><b>{:.1} seconds</b> from seq {} to seq {}.</p>\n<div>",
                w.seconds, w.from_seq, w.to_seq
            ));
            for s in &w.steps {
                h.push_str(&format!(
                    "<div class=\"step\"><span class=\"mono\">+{:.1}s</span><span class=\"sev sev-{}\">{}</span><span class=\"summary\">seq {}: {}</span></div>\n",
                    s.offset_seconds,
                    if matches!(s.role.as_str(), "crossing" | "destructive") { "high" } else { "medium" },
                    esc(&s.role),
                    s.seq,
                    esc(&s.text)
                ));
            }
            h.push_str("</div>\n");
        }
    }
    // Secrets.
    let rows = a.secrets.iter().map(|s| {
        let used: Vec<String> = s.used_in_seqs.iter().map(|x| x.to_string()).collect();
        format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">seq {}</td><td>{}</td></tr>\n",
            esc(&s.fingerprint),
            esc(&s.kind),
            esc(s.location.as_deref().unwrap_or("-")),
            s.first_seen_seq,
            esc(&if used.is_empty() { "-".to_string() } else { format!("seq {}", used.join(", ")) })
        )
    });
    table_section(
        &mut h,
        ("secrets", "Secret provenance"),
        "<p class=\"muted\">No secret was seen.</p>\n",
        &[
            "fingerprint",
            "kind",
            "where it came from",
            "first seen",
            "used in",
        ],
        rows,
    );
    // Gaps.
    let rows = a.gaps.iter().map(|g| {
        format!(
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"summary\">{}</td></tr>\n",
            g.seq,
            esc(&g.layer),
            esc(&g.reason),
            esc(&g.detail)
        )
    });
    table_section(
        &mut h,
        ("gaps", "Gaps in capture"),
        "<p class=\"ok\">No capture layer reported a gap.</p>\n",
        &["seq", "layer", "reason", "detail"],
        rows,
    );
    // Timeline: the whole session when small, else around the findings.
    h.push_str("<h2 id=\"timeline\">Timeline</h2>\n");
    let mut marked: Vec<u64> = a
        .boundary_crossings
        .iter()
        .map(|c| c.seq)
        .chain(a.destructive.iter().map(|d| d.seq))
        .collect();
    marked.sort_unstable();
    // The closest finding at or after seq - 20 is the one that can be within 20 of seq.
    let near_finding = |seq: u64| {
        let from = marked.partition_point(|m| *m < seq.saturating_sub(20));
        marked
            .get(from)
            .is_some_and(|m| seq + 20 >= *m && seq <= m + 20)
    };
    let keep = |seq: u64| -> bool {
        if events.len() <= 2000 {
            return true;
        }
        let in_window = a
            .critical_window
            .as_ref()
            .is_some_and(|w| seq + 20 >= w.from_seq && seq <= w.to_seq + 20);
        in_window || near_finding(seq)
    };
    if events.len() > 2000 {
        h.push_str(&format!(
            "<p class=\"muted\">{} events; showing those within 20 of a finding or the critical window.</p>\n",
            events.len()
        ));
    }
    h.push_str("<table><tr><th>time</th><th>seq</th><th>kind</th><th>source</th><th>env</th><th>what</th></tr>\n");
    let env_of = |seq: u64| a.facts_of(seq).and_then(|f| f.env.clone());
    let crossing_seqs: HashSet<u64> = a.boundary_crossings.iter().map(|c| c.seq).collect();
    let destructive_seqs: HashSet<u64> = a.destructive.iter().map(|d| d.seq).collect();
    for e in events.iter().filter(|e| keep(e.seq)) {
        if e.kind == Kind::Checkpoint && events.len() > 50 {
            continue;
        }
        let class = if crossing_seqs.contains(&e.seq) {
            " class=\"crossing\""
        } else if destructive_seqs.contains(&e.seq) {
            " class=\"destructive\""
        } else {
            ""
        };
        let env = e
            .env
            .clone()
            .or_else(|| env_of(e.seq))
            .unwrap_or_else(|| "-".into());
        h.push_str(&format!(
            "<tr{class}><td class=\"num mono\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"summary\">{}</td></tr>\n",
            esc(&rel(e)),
            e.seq,
            esc(e.kind.as_str()),
            esc(&e.source),
            esc(&env),
            esc(&one_line(&summary(e), 240))
        ));
    }
    h.push_str("</table>\n");
    h.push_str(&format!(
        "<footer class=\"muted\"><p>Generated by flightlog {}. Verify the signed log with <code>flightlog verify</code>, or an exported bundle offline with a trusted copy of <code>verify_export.py</code> and the signer's key from a channel you trust (the bundle's README says how).</p></footer>\n</body></html>\n",
        esc(crate::VERSION)
    ));
    h
}

/// A section: its heading, then `empty` when there are no rows, else a table of the `head`
/// columns and the rows (`<tr>` lines).
fn table_section(
    h: &mut String,
    (id, title): (&str, &str),
    empty: &str,
    head: &[&str],
    rows: impl ExactSizeIterator<Item = String>,
) {
    h.push_str(&format!("<h2 id=\"{id}\">{title}</h2>\n"));
    if rows.len() == 0 {
        h.push_str(empty);
        return;
    }
    h.push_str("<table><tr>");
    for c in head {
        h.push_str(&format!("<th>{c}</th>"));
    }
    h.push_str("</tr>\n");
    for r in rows {
        h.push_str(&r);
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_shows_bidi_and_controls() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(esc("a\u{202e}b\u{1b}[31m"), "a\\u{202e}b\\u{001b}[31m");
        assert_eq!(esc("line\nnext"), "line\nnext");
    }

    /// A Codex run whose sandbox kept the delete off the network: the report says attempted.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn an_attempt_is_reported_as_an_attempt() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../analysis/tests/data/agents");
        let events: Vec<flightlog_formats::Event> =
            std::fs::read_to_string(format!("{dir}/codex-record-sandboxed.jsonl"))
                .unwrap()
                .lines()
                .map(|l| flightlog_formats::Event::from_bytes(l.as_bytes()).unwrap())
                .collect();
        let policy = flightlog_analysis::Policy::load(Some(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../demo/incident/flightlog.toml"
        ))))
        .unwrap();
        let a = flightlog_analysis::analyze(&events, &policy);
        let h = super::report_html(&a, &events, true);
        assert!(
            h.contains("Crossing attempted (blocked by the agent"),
            "{h}"
        );
        assert!(h.contains("attempted, blocked by the agent"));
        assert!(!h.contains("Boundary crossed:"));
    }
}
