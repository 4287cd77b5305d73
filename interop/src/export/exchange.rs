//! Follow-up events joined to the event they complete, so that every export writes one record
//! per HTTP exchange and per process:
//!
//! - an HTTP response (`api_call` with `response_of_seq`: status, duration, body, error) joins
//!   its request;
//! - an exec's end (`exec` with `exit_of_seq`: exit, signal, duration) joins its start.
//!
//! The joined record keeps the request's (start's) seq and chain links and names the follow-up
//! (`response_seq` / `exit_seq`, with its hash and time), so nothing of the chain is hidden. A
//! follow-up whose event is not in the session stays a record of its own. Findings about a
//! follow-up move to the record it joined.

use std::collections::HashMap;

use flightlog_formats::{Event, Kind};
use serde_json::{Value, json};

use super::Record;
use crate::findings::Finding;

/// The seq of the event `e` completes, and the prefix of the fields naming `e` in the join:
/// a response (`response_of_seq`) is `response_*`, an exec's end (`exit_of_seq`) `exit_*`.
fn completes(e: &Event) -> Option<(u64, &'static str)> {
    match e.kind {
        Kind::ApiCall => e.api_call()?.response_of_seq.map(|s| (s, "response")),
        Kind::Exec => e.exec()?.exit_of_seq.map(|s| (s, "exit")),
        _ => None,
    }
}

/// Whether a follow-up was already joined into `e` (its `response_seq` / `exit_seq` is set).
fn joined(e: &Event) -> bool {
    match e.kind {
        Kind::ApiCall => e.api_call().is_some_and(|a| a.response_seq.is_some()),
        Kind::Exec => e.exec().is_some_and(|x| x.exit_seq.is_some()),
        _ => false,
    }
}

/// Copies the follow-up's fields into the event it completes (a null never overwrites a value).
fn merge(into: &mut Event, follow: &Event, name: &str, hash: Option<&str>) {
    let Value::Object(target) = &mut into.data else {
        return;
    };
    if let Value::Object(m) = &follow.data {
        for (k, v) in m {
            if k.ends_with("_of_seq") || k == "imported" {
                continue;
            }
            if !v.is_null() || target.get(k).is_none_or(Value::is_null) {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    target.insert(format!("{name}_seq"), json!(follow.seq));
    target.insert(format!("{name}_ts"), json!(follow.ts));
    if let Some(h) = hash {
        target.insert(format!("{name}_hash"), json!(h));
    }
    into.redactions.extend(follow.redactions.iter().cloned());
}

/// Joins follow-ups into the records they complete; findings about a follow-up move with it.
pub fn join_records(records: &[Record], findings: &[Finding]) -> (Vec<Record>, Vec<Finding>) {
    let mut out: Vec<Record> = Vec::with_capacity(records.len());
    let mut at: HashMap<u64, usize> = HashMap::new();
    let mut moved: HashMap<u64, u64> = HashMap::new();
    for r in records {
        if let Some((of, name)) = completes(&r.event)
            && let Some(&i) = at.get(&of)
            && out[i].event.kind == r.event.kind
            && !joined(&out[i].event)
        {
            merge(&mut out[i].event, &r.event, name, Some(&r.hash));
            moved.insert(r.event.seq, of);
            continue;
        }
        at.insert(r.event.seq, out.len());
        out.push(r.clone());
    }
    let findings = findings
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if let Some(&to) = moved.get(&f.seq) {
                f.seq = to;
            }
            f
        })
        .collect();
    (out, findings)
}

/// [`join_records`] for bare events (the HTML report's timeline).
pub fn join_events(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    let mut at: HashMap<u64, usize> = HashMap::new();
    for e in events {
        if let Some((of, name)) = completes(e)
            && let Some(&i) = at.get(&of)
            && out[i].kind == e.kind
            && !joined(&out[i])
        {
            merge(&mut out[i], e, name, None);
            continue;
        }
        at.insert(e.seq, out.len());
        out.push(e.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use flightlog_formats::Kind;
    use serde_json::json;

    use super::join_records;
    use crate::export::test_data::{finding, record};

    #[test]
    fn responses_and_exits_join_what_they_complete() {
        let records = vec![
            record(
                0,
                Kind::Exec,
                json!({"argv": ["curl", "x"], "pid": 7, "exit": null}),
            ),
            record(
                1,
                Kind::ApiCall,
                json!({"method": "POST", "url": "https://h/graphql", "status": null, "response_body": null}),
            ),
            record(
                2,
                Kind::ApiCall,
                json!({"status": 200, "duration_ms": 640, "response_body": "{}", "error": null, "response_of_seq": 1}),
            ),
            record(
                3,
                Kind::Exec,
                json!({"pid": 7, "exit": 0, "signal": null, "duration_ms": 900, "exit_of_seq": 0}),
            ),
            // A response whose request is not in the session stays on its own.
            record(
                4,
                Kind::ApiCall,
                json!({"status": 502, "response_of_seq": 99}),
            ),
            // A second response to the same request is not merged over the first.
            record(
                5,
                Kind::ApiCall,
                json!({"status": 500, "response_of_seq": 1}),
            ),
        ];
        let (out, fs) = join_records(&records, &[finding(2, 0), finding(1, 1), finding(4, 2)]);
        let seqs: Vec<u64> = out.iter().map(|r| r.event.seq).collect();
        assert_eq!(seqs, [0, 1, 4, 5]);
        let req = &out[1].event.data;
        assert_eq!(req["method"], "POST");
        assert_eq!(req["status"], 200);
        assert_eq!(req["duration_ms"], 640);
        assert_eq!(req["response_body"], "{}");
        assert_eq!(req["response_seq"], 2);
        assert_eq!(req["response_hash"], records[2].hash.as_str());
        assert_eq!(out[1].hash, records[1].hash, "the request's own links stay");
        let exec = &out[0].event.data;
        assert_eq!(exec["exit"], 0);
        assert_eq!(exec["duration_ms"], 900);
        assert_eq!(exec["exit_seq"], 3);
        assert_eq!(exec["argv"], json!(["curl", "x"]));
        let moved: Vec<u64> = fs.iter().map(|f| f.seq).collect();
        assert_eq!(moved, [1, 1, 4]);
    }
}
