//! asciicast v2 and v3 recordings → `terminal` events (reference/formats.md 5).
//!
//! v2 times are absolute seconds, v3 times are intervals. `o`/`i`/`r` become `terminal` events
//! (`{"stream","data","t_ms"}`), `m` a `note` with the marker label, `x` the `session_end` with
//! the exit status; unknown codes are kept as `note`s with the raw line, malformed lines as
//! `raw_input`. The session starts at the header's `timestamp` (else the file's mtime).

use std::path::Path;

use chrono::{DateTime, Utc};
use flightlog_formats::{Kind, NewEvent};
use serde_json::{Value, json};

use super::calls::{file_fingerprint, read_named};
use super::{Parsed, Stats, imported, sha256_hex, unknown_record, unparseable};
use crate::{Error, Result};

const FORMAT: &str = "asciicast";
/// The latest event time a recording may have: a hundred years, in seconds. A time past it is
/// an unparseable line, not a date the calendar cannot hold.
const MAX_SECONDS: f64 = 100.0 * 365.25 * 86_400.0;

/// An asciicast v1 document (`{"version":1,"width","height","stdout":[[delay,data],...]}`)
/// rewritten as the equivalent v2 recording (absolute times), so one parser reads both.
fn v1_as_v2(name: &str, doc: &Value) -> Result<String> {
    let bad = |what: &str| Error::Invalid(format!("{name}: asciicast v1: {what}"));
    let frames = doc
        .get("stdout")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"stdout\" array"))?;
    let mut header = json!({
        "version": 2,
        "width": doc.get("width").and_then(Value::as_u64).ok_or_else(|| bad("no width"))?,
        "height": doc.get("height").and_then(Value::as_u64).ok_or_else(|| bad("no height"))?,
    });
    for k in ["command", "title", "env"] {
        if let Some(v) = doc.get(k).filter(|v| !v.is_null()) {
            header[k] = v.clone();
        }
    }
    let mut out = header.to_string();
    let mut t = 0f64;
    for f in frames {
        let (Some(delay), Some(data)) = (
            f.get(0).and_then(Value::as_f64),
            f.get(1).and_then(Value::as_str),
        ) else {
            return Err(bad("a frame is not [delay, text]"));
        };
        t += delay.max(0.0);
        out.push('\n');
        out.push_str(&json!([t, "o", data]).to_string());
    }
    out.push('\n');
    Ok(out)
}

/// Reads and parses a `.cast` file.
pub fn parse_path(path: &Path) -> Result<Parsed> {
    let (name, bytes) = read_named(path)?;
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    parse(&name, &bytes, mtime)
}

/// Parses a recording; `fallback_start` is used when the header has no `timestamp`.
pub fn parse(name: &str, bytes: &[u8], fallback_start: DateTime<Utc>) -> Result<Parsed> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::Invalid(format!("{name}: not UTF-8: {e}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, head_line) = lines
        .next()
        .ok_or_else(|| Error::Invalid(format!("{name}: empty file")))?;
    // asciicast v1 is one JSON document (often spread over many lines), not a header line.
    if let Ok(doc) = serde_json::from_str::<Value>(text)
        && doc.get("version").and_then(Value::as_u64) == Some(1)
    {
        // The events are the v2 rewrite's; the file named and fingerprinted is the original.
        let mut parsed = parse(name, v1_as_v2(name, &doc)?.as_bytes(), fallback_start)?;
        if let Some(Value::Object(start)) = parsed.events.first_mut().map(|e| &mut e.data) {
            start.insert("asciicast_version".into(), json!(1));
            start.insert(
                "files".into(),
                json!([{"name": name, "sha256": sha256_hex(bytes), "bytes": bytes.len()}]),
            );
        }
        parsed.fingerprint = file_fingerprint(name, bytes);
        return Ok(parsed);
    }
    let header: Value = serde_json::from_str(head_line).map_err(|e| {
        Error::Invalid(format!(
            "{name}: the first line is not an asciicast v2 or v3 header (JSON): {e}"
        ))
    })?;
    let version = header.get("version").and_then(Value::as_u64).unwrap_or(0);
    let (cols, rows) = match version {
        2 => (header.get("width"), header.get("height")),
        3 => (header.pointer("/term/cols"), header.pointer("/term/rows")),
        v => {
            return Err(Error::Invalid(format!(
                "{name}: asciicast version {v} is not supported (1, 2 and 3 are)"
            )));
        }
    };
    let (Some(cols), Some(rows)) = (cols.and_then(Value::as_u64), rows.and_then(Value::as_u64))
    else {
        return Err(Error::Invalid(format!(
            "{name}: the header lacks the terminal size"
        )));
    };
    let (start, time_base) = match header.get("timestamp").and_then(Value::as_f64) {
        Some(secs) => (
            DateTime::<Utc>::from_timestamp_micros((secs * 1e6) as i64).unwrap_or(fallback_start),
            "header",
        ),
        None => (fallback_start, "file_mtime"),
    };
    let mut stats = Stats {
        records: 1,
        ..Stats::default()
    };
    let mut body: Vec<NewEvent> = Vec::new();
    let mut t = 0f64;
    let mut exit: Option<Value> = None;
    for (i, line) in lines {
        if version == 3 && line.starts_with('#') {
            continue;
        }
        stats.records += 1;
        let line_no = i + 1;
        // Times are bounded below (MAX_SECONDS), so this never overflows; if the header's
        // start is itself at the edge of the calendar, the start stands in.
        let at = |t: f64| {
            start
                .checked_add_signed(chrono::Duration::microseconds((t * 1e6) as i64))
                .unwrap_or(start)
        };
        let parsed: Option<(f64, String, Value)> =
            serde_json::from_str::<Value>(line).ok().and_then(|v| {
                let a = v.as_array()?;
                if a.len() < 3 {
                    return None;
                }
                Some((a[0].as_f64()?, a[1].as_str()?.to_string(), a[2].clone()))
            });
        let event = match parsed {
            None => Err("not an asciicast event [time, code, data]"),
            Some((time, code, data)) => {
                let next = if version == 2 { time.max(t) } else { t + time };
                if time.is_finite() && time >= 0.0 && next <= MAX_SECONDS {
                    Ok((next, code, data))
                } else {
                    Err("negative, invalid or out-of-range time")
                }
            }
        };
        let (next, code, data) = match event {
            Ok(e) => e,
            Err(why) => {
                stats.unparseable_lines += 1;
                body.push(unparseable(at(t), FORMAT, name, line_no, line, why));
                continue;
            }
        };
        t = next;
        let ts = at(t);
        let t_ms = (t * 1000.0).round() as u64;
        let data_str = data
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| data.to_string());
        match code.as_str() {
            "o" | "i" | "r" => body.push(imported(
                ts,
                Kind::Terminal,
                FORMAT,
                json!({"stream": code, "data": data_str, "t_ms": t_ms}),
            )),
            "m" => body.push(imported(
                ts,
                Kind::Note,
                FORMAT,
                json!({"marker": data_str, "t_ms": t_ms, "text": format!("marker: {data_str}")}),
            )),
            "x" => {
                exit = Some(
                    data_str
                        .trim()
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                );
                body.push(imported(
                    ts,
                    Kind::SessionEnd,
                    FORMAT,
                    json!({"exit": exit, "reason": "exit", "raw_status": data_str, "t_ms": t_ms}),
                ));
            }
            other => {
                let mut data = unknown_record(&mut stats, other, line);
                data.insert("t_ms".into(), json!(t_ms));
                body.push(imported(ts, Kind::Note, FORMAT, Value::Object(data)));
            }
        }
    }
    let end = start + chrono::Duration::microseconds((t * 1e6) as i64);
    let title = header
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut events = Vec::with_capacity(body.len() + 2);
    events.push(imported(
        start,
        Kind::SessionStart,
        FORMAT,
        json!({
            "agent": null,
            "label": title.clone().unwrap_or_else(|| name.to_string()),
            "home_env": null,
            "cwd": null,
            "argv": null,
            "command": header.get("command"),
            "host": null,
            "flightlog_version": crate::VERSION,
            "layers": [format!("import:{FORMAT}")],
            "asciicast_version": version,
            "term": {
                "cols": cols,
                "rows": rows,
                "type": header.pointer("/term/type").or_else(|| header.pointer("/env/TERM")),
                "theme": header.pointer("/term/theme").or_else(|| header.get("theme")),
            },
            "env": header.get("env"),
            "time_base": time_base,
            "idle_time_limit": header.get("idle_time_limit"),
            "files": [{"name": name, "sha256": sha256_hex(bytes), "bytes": bytes.len()}],
            "stats": serde_json::to_value(&stats)?,
        }),
    ));
    events.extend(body);
    if exit.is_none() {
        events.push(imported(
            end,
            Kind::SessionEnd,
            FORMAT,
            json!({"exit": null, "reason": "end_of_recording"}),
        ));
    }
    Ok(Parsed {
        format: FORMAT,
        agent: None,
        label: title.or_else(|| Some(name.to_string())),
        started: start,
        ended: Some(end),
        fingerprint: file_fingerprint(name, bytes),
        events,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use flightlog_formats::Kind;

    use super::parse;

    #[test]
    fn a_line_that_is_not_an_event_with_a_usable_time_is_kept_as_raw_input() {
        let header = r#"{"version":2,"width":80,"height":24,"timestamp":1509091818}"#;
        let start = Utc.timestamp_opt(0, 0).unwrap();
        for (line, why) in [
            (r#"[0.5,"o"]"#, "not an asciicast event [time, code, data]"),
            (r#"{"t":1}"#, "not an asciicast event [time, code, data]"),
            (
                r#"[-1.0,"o","x"]"#,
                "negative, invalid or out-of-range time",
            ),
            (
                r#"[1e300,"o","x"]"#,
                "negative, invalid or out-of-range time",
            ),
        ] {
            let text = format!("{header}\n{line}\n[1.0,\"o\",\"ok\"]\n");
            let p = parse("t.cast", text.as_bytes(), start).unwrap();
            let raw: Vec<_> = p
                .events
                .iter()
                .filter(|e| e.kind == Kind::RawInput)
                .collect();
            assert_eq!(raw.len(), 1, "{line}");
            assert_eq!(raw[0].data["error"], why, "{line}");
            assert_eq!(raw[0].data["line"], 2, "{line}");
            assert_eq!(p.stats.unparseable_lines, 1, "{line}");
            let terminal = p.events.iter().filter(|e| e.kind == Kind::Terminal).count();
            assert_eq!(terminal, 1, "{line}: the next event still counts");
        }
    }
}
