//! CEF export (ArcSight Common Event Format, reference/formats.md 6.6): one line per event,
//! plus one line per crossing or destructive action.
//!
//! `CEF:0|flightlog|flightlog|<version>|<class id>|<name>|<severity>|<extension>` with the
//! header escaped (`\|`, `\\`) and the extension escaped (`\=`, `\\`, `\n`, `\r`). The chain
//! travels in `cs2` (hash) and `cs3` (previous hash).

use std::io::Write;

use flightlog_formats::Payload;
use flightlog_formats::progress::Ticker;

use flightlog_formats::text::one_line;

use super::{Record, epoch_ms, summary};
use crate::Result;
use crate::findings::{Finding, FindingKind};

/// Escapes a header field.
pub fn header(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('|', "\\|");
    one_line(&s, 512)
}

/// The `msg` of an event: its text with line breaks kept (escaped as `\\n` by [`ext`]) where
/// it has one, else its one-line summary; other control characters become spaces.
fn message(e: &flightlog_formats::Event) -> String {
    let text = match e.payload() {
        Payload::Prompt(t) | Payload::Message(t) => t.text,
        Payload::ToolResult(r) => match r.output {
            Some(serde_json::Value::String(o)) => Some(o),
            _ => None,
        },
        _ => None,
    };
    match text {
        Some(t) => t
            .chars()
            .take(1000)
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\r' {
                    ' '
                } else {
                    c
                }
            })
            .collect(),
        None => one_line(&summary(e), 1000),
    }
}

/// Escapes an extension value.
pub fn ext(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn line(r: &Record, class: &str, name: &str, sev: u8, extra: &[(&str, String)]) -> String {
    let e = &r.event;
    let mut x: Vec<(String, String)> = vec![
        ("rt".into(), epoch_ms(e).to_string()),
        ("act".into(), e.kind.as_str().to_string()),
        ("cs1Label".into(), "session".into()),
        ("cs1".into(), e.session.clone()),
        ("cn1Label".into(), "seq".into()),
        ("cn1".into(), e.seq.to_string()),
        ("cs2Label".into(), "chain_sha256".into()),
        ("cs2".into(), r.hash.clone()),
        ("cs3Label".into(), "prev_sha256".into()),
        ("cs3".into(), r.prev.clone()),
        ("cs4Label".into(), "source".into()),
        ("cs4".into(), e.source.clone()),
    ];
    if let Some(env) = &e.env {
        x.push(("cs5Label".into(), "env".into()));
        x.push(("cs5".into(), env.clone()));
    }
    for (k, v) in extra {
        x.push((k.to_string(), v.clone()));
    }
    x.push(("msg".into(), message(e)));
    let ext_s: Vec<String> = x.iter().map(|(k, v)| format!("{k}={}", ext(v))).collect();
    format!(
        "CEF:0|flightlog|flightlog|{}|{}|{}|{}|{}",
        header(crate::VERSION),
        header(class),
        header(name),
        sev,
        ext_s.join(" ")
    )
}

/// Writes a CEF line per event and per finding, ticking per event. Returns the count.
pub(super) fn write_lines(
    records: &[Record],
    findings: &[Finding],
    out: &mut dyn Write,
    ticker: &mut Ticker<'_>,
) -> Result<u64> {
    super::for_each_joined(records, findings, ticker, |r, fs| {
        let e = &r.event;
        let mut extra: Vec<(&str, String)> = Vec::new();
        match e.payload() {
            Payload::ApiCall(d) => {
                if let Some(m) = &d.method {
                    extra.push(("requestMethod", m.to_string()));
                }
                if let Some(u) = &d.url {
                    extra.push(("request", u.to_string()));
                }
                let url = d.url.as_deref().unwrap_or("");
                let (_, url_host, url_port, _) = super::ocsf::url_parts(url);
                if let Some(h) = d.host.clone().or(url_host) {
                    extra.push(("dhost", h));
                }
                if let Some(p) = d.port.or(url_port.map(u64::from)) {
                    extra.push(("dpt", p.to_string()));
                }
                if let Some(st) = d.status {
                    extra.push(("cn2Label", "http_status".into()));
                    extra.push(("cn2", st.to_string()));
                    let outcome = if st < 400 { "success" } else { "failure" };
                    extra.push(("outcome", outcome.into()));
                }
                if let Some(ms) = d.duration_ms {
                    extra.push(("cn3Label", "duration_ms".into()));
                    extra.push(("cn3", ms.to_string()));
                }
            }
            Payload::Exec(d) => {
                if let Some(p) = d.pid {
                    extra.push(("spid", p.to_string()));
                }
            }
            Payload::FileChange(flightlog_formats::payload::FileChange { path, .. })
            | Payload::FileRead(flightlog_formats::payload::FileRead { path, .. }) => {
                if let Some(p) = path {
                    extra.push(("filePath", p));
                }
            }
            _ => {}
        }
        let name = format!("{} {}", e.kind.as_str(), e.source);
        super::write_line(out, &line(r, e.kind.as_str(), &name, 1, &extra), b"\n")?;
        for f in fs {
            let class = match f.kind {
                FindingKind::Crossing => "finding.boundary_crossing".to_string(),
                FindingKind::Destructive => format!("finding.destructive.{}", f.rule),
            };
            let extra = vec![
                ("cs6Label", "evidence".to_string()),
                ("cs6", f.evidence.join("; ")),
                ("reason", f.rule.clone()),
            ];
            let text = line(r, &class, &f.title, f.cef_severity(), &extra);
            super::write_line(out, &text, b"\n")?;
        }
        Ok(1 + fs.len() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::{ext, header};

    #[test]
    fn escapes_per_spec() {
        assert_eq!(header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(ext("k=v\\x\ny\rz"), r"k\=v\\x\ny\rz");
        assert_eq!(ext("a|b"), "a|b");
    }

    #[test]
    fn api_calls_carry_port_and_status_and_text_keeps_its_lines() {
        use flightlog_formats::progress::NoProgress;

        use crate::export::{Format, write};
        use flightlog_formats::Kind;
        use serde_json::json;

        use crate::export::test_data::record;
        let records = vec![
            record(
                0,
                Kind::Prompt,
                json!({"text": "line one\nline two\u{1b}[31m"}),
            ),
            record(
                1,
                Kind::ApiCall,
                json!({"method": "POST", "url": "https://backboard.railway.app/graphql/v2", "host": "backboard.railway.app"}),
            ),
            record(
                2,
                Kind::ApiCall,
                json!({"status": 200, "duration_ms": 640, "response_of_seq": 1}),
            ),
        ];
        let mut out = Vec::new();
        assert_eq!(
            write(Format::Cef, &records, &[], &mut out, &mut NoProgress).unwrap(),
            2
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains(r"msg=line one\nline two [31m"),
            "{}",
            lines[0]
        );
        for want in [
            "dhost=backboard.railway.app",
            "dpt=443",
            "cn2=200",
            "cn3=640",
            "outcome=success",
            "requestMethod=POST",
        ] {
            assert!(lines[1].contains(want), "{want}: {}", lines[1]);
        }
    }
}
