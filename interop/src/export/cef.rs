//! CEF export (ArcSight Common Event Format, reference/formats.md 6.6): one line per event,
//! plus one line per crossing or destructive action.
//!
//! `CEF:0|flightlog|flightlog|<version>|<class id>|<name>|<severity>|<extension>` with the
//! header escaped (`\|`, `\\`) and the extension escaped (`\=`, `\\`, `\n`, `\r`). The chain
//! travels in `cs2` (hash) and `cs3` (previous hash).

use std::io::Write;

use flightlog_formats::Kind;
use flightlog_formats::progress::{NoProgress, Progress, Ticker};

use super::{FindingsBySeq, Record, epoch_ms, one_line, s, summary};
use crate::Result;
use crate::findings::{Finding, FindingKind};

/// Escapes a header field.
pub fn header(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('|', "\\|");
    one_line(&s, 512)
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
    x.push(("msg".into(), one_line(&summary(e), 1000)));
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

/// Writes the CEF lines. Returns the count.
pub fn write(records: &[Record], findings: &[Finding], out: impl Write) -> Result<u64> {
    write_with_progress(records, findings, out, &mut NoProgress)
}

/// [`write`], reporting the events written out of `records.len()`.
pub fn write_with_progress(
    records: &[Record],
    findings: &[Finding],
    mut out: impl Write,
    progress: &mut dyn Progress,
) -> Result<u64> {
    let mut ticker = Ticker::new(progress, 0, records.len() as u64);
    let io = |e| crate::Error::io("<output>", e);
    let by_seq = FindingsBySeq::new(findings);
    let mut n = 0;
    for r in records {
        let e = &r.event;
        let d = &e.data;
        let mut extra: Vec<(&str, String)> = Vec::new();
        match e.kind {
            Kind::ApiCall => {
                if let Some(m) = s(d, "method") {
                    extra.push(("requestMethod", m.to_string()));
                }
                if let Some(u) = s(d, "url") {
                    extra.push(("request", u.to_string()));
                }
                if let Some(h) = s(d, "host") {
                    extra.push(("dhost", h.to_string()));
                }
            }
            Kind::Exec => {
                if let Some(p) = d.get("pid").and_then(|v| v.as_i64()) {
                    extra.push(("spid", p.to_string()));
                }
            }
            Kind::FileChange | Kind::FileRead => {
                if let Some(p) = s(d, "path") {
                    extra.push(("filePath", p.to_string()));
                }
            }
            _ => {}
        }
        let name = format!("{} {}", e.kind.as_str(), e.source);
        out.write_all(line(r, e.kind.as_str(), &name, 1, &extra).as_bytes())
            .and_then(|_| out.write_all(b"\n"))
            .map_err(io)?;
        n += 1;
        for f in by_seq.at(e.seq) {
            let class = match f.kind {
                FindingKind::Crossing => "finding.boundary_crossing".to_string(),
                FindingKind::Destructive => format!("finding.destructive.{}", f.rule),
            };
            let extra = vec![
                ("cs6Label", "evidence".to_string()),
                ("cs6", f.evidence.join("; ")),
                ("reason", f.rule.clone()),
            ];
            out.write_all(line(r, &class, &f.title, f.cef_severity(), &extra).as_bytes())
                .and_then(|_| out.write_all(b"\n"))
                .map_err(io)?;
            n += 1;
        }
        ticker.add(1);
    }
    out.flush().map_err(io)?;
    ticker.finish();
    Ok(n)
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
}
