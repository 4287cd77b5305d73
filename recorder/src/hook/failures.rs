//! Hooks that failed to record leave one line each in `hook-failures.jsonl` beside the store
//! (0600; no payload, only its size and SHA-256), so that the next hook that can write turns
//! them into `gap` events: a failure is never silent, even when the store itself was the problem.
//!
//! A hook claims the notes by renaming the file to `hook-failures.claimed-<pid>-<start>` (its
//! own process, by pid and start time), so no other hook claims them too. It deletes them once
//! its gaps are committed, or puts them back if it fails as well. A hook killed in between
//! leaves its claimed file behind: the next hook adopts every claimed file whose process is
//! gone (renaming it to its own name first, so only one hook adopts it).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flightlog_formats::store::process_start_token;
use flightlog_formats::{Kind, NewEvent};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Agent;

/// The notes file beside a store.
pub fn notes_path(store_dir: &Path) -> PathBuf {
    store_dir.join("hook-failures.jsonl")
}

/// Notes a failed hook. Best effort: if even this cannot be written, stderr said enough.
pub fn note(
    notes: &Path,
    now: DateTime<Utc>,
    agent: Agent,
    event: &str,
    payload: &[u8],
    error: &str,
    closed: bool,
) {
    if !notes.parent().is_some_and(Path::is_dir) {
        return;
    }
    let session: Option<String> = serde_json::from_slice::<Value>(payload).ok().and_then(|v| {
        ["session_id", "conversation_id", "thread-id"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
    });
    let line = json!({
        "ts": flightlog_formats::event::format_ts(now),
        "agent": agent.name(),
        "hook_event": event,
        "agent_session": session,
        "bytes": payload.len(),
        "sha256": hex::encode(Sha256::digest(payload)),
        "error": error,
        "answered": if closed { "denied (fail closed)" } else { "allowed (fail open)" },
    });
    let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(notes)
    else {
        return;
    };
    let _ = writeln!(f, "{line}");
}

/// Notes claimed by this process (renamed away, so no other hook claims them too).
#[derive(Debug)]
pub struct Claimed {
    files: Vec<PathBuf>,
    back: PathBuf,
    lines: Vec<Value>,
}

/// `hook-failures.claimed-`: what every claimed file's name starts with.
fn claimed_prefix(notes: &Path) -> String {
    let stem = notes
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{stem}.claimed-")
}

/// The process a claimed file's name after the prefix belongs to (`<pid>-<start>[-<n>]`;
/// `<pid>` alone in files of earlier versions), and whether it still runs.
fn owner_alive(rest: &str) -> bool {
    let mut parts = rest.split('-');
    let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    match parts.next() {
        Some(start) => process_start_token(pid) == format!("{pid}:{start}"),
        None => Path::new(&format!("/proc/{pid}")).exists(),
    }
}

/// Claims the notes, and the claims of hooks that died holding them. None if there are none.
pub fn claim(notes: &Path) -> Option<Claimed> {
    let dir = notes.parent()?;
    let me = process_start_token(std::process::id()).replace(':', "-");
    let prefix = claimed_prefix(notes);
    let mut files = Vec::new();
    let mine = dir.join(format!("{prefix}{me}"));
    if notes.is_file() && std::fs::rename(notes, &mine).is_ok() {
        files.push(mine);
    }
    let orphans: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&prefix)?;
            let ours = rest == me || rest.starts_with(&format!("{me}-"));
            (!ours && !owner_alive(rest)).then(|| e.path())
        })
        .collect();
    for (n, orphan) in orphans.into_iter().enumerate() {
        let adopted = dir.join(format!("{prefix}{me}-{}", n + 1));
        // Another hook may adopt it first: then the rename fails and it is theirs.
        if std::fs::rename(&orphan, &adopted).is_ok() {
            files.push(adopted);
        }
    }
    if files.is_empty() {
        return None;
    }
    let lines = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<Value>>()
        })
        .collect();
    Some(Claimed {
        files,
        back: notes.to_path_buf(),
        lines,
    })
}

impl Claimed {
    /// One `gap` event per note.
    pub fn gaps(&self, now: DateTime<Utc>) -> Vec<NewEvent> {
        self.lines
            .iter()
            .map(|l| {
                let detail = format!(
                    "a {} {} hook at {} could not be recorded ({}); the agent was {}",
                    l["agent"].as_str().unwrap_or("?"),
                    l["hook_event"]
                        .as_str()
                        .filter(|e| !e.is_empty())
                        .unwrap_or("(unparsed)"),
                    l["ts"].as_str().unwrap_or("?"),
                    l["error"].as_str().unwrap_or("?"),
                    l["answered"].as_str().unwrap_or("?"),
                );
                NewEvent::new(
                    now,
                    Kind::Gap,
                    "recorder",
                    json!({"layer": "hook", "reason": "hook_not_recorded", "detail": detail, "failure": l}),
                )
            })
            .collect()
    }

    /// The gaps are in the chain: forget the notes.
    pub fn done(self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }

    /// This hook failed too: put the notes back for the next one.
    pub fn release(self) {
        for file in &self.files {
            let Ok(text) = std::fs::read(file) else {
                continue;
            };
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.back)
                && f.write_all(&text).is_ok()
            {
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 25, 10, 0, 0)
            .single()
            .unwrap()
    }

    /// A pid that ran and is gone (reaped), so no process has it now (bar reuse within the test).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    fn noted(notes: &Path, session: &str) {
        let payload = format!(r#"{{"session_id":"{session}"}}"#);
        note(
            notes,
            now(),
            Agent::ClaudeCode,
            "PreToolUse",
            payload.as_bytes(),
            "locked",
            false,
        );
    }

    fn sessions(c: &Claimed) -> Vec<String> {
        let mut s: Vec<String> = c
            .gaps(now())
            .iter()
            .map(|g| {
                g.data["failure"]["agent_session"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        s.sort();
        s
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn claims_left_by_dead_hooks_are_adopted_and_live_ones_left_alone() {
        let dead = dead_pid();
        let init = process_start_token(1).replace(':', "-");
        assert!(!init.is_empty(), "pid 1 runs");
        // (claimed files present before the claim, whose notes this hook adopts)
        let cases = [
            ("nothing claimed", vec![], vec!["fresh"]),
            (
                "a hook killed after its claim",
                vec![(format!("{dead}-12345"), "orphan")],
                vec!["fresh", "orphan"],
            ),
            (
                "an earlier version's claim (pid only), its hook gone",
                vec![(format!("{dead}"), "legacy")],
                vec!["fresh", "legacy"],
            ),
            (
                "a running process's claim, and a pid reused by another process",
                vec![
                    (init.clone(), "running"),
                    (format!("{}-1", std::process::id()), "reused"),
                ],
                vec!["fresh", "reused"],
            ),
        ];
        for (what, before, want) in cases {
            let d = tempfile::tempdir().unwrap();
            let notes = notes_path(d.path());
            for (owner, session) in &before {
                let f = d.path().join(format!("hook-failures.claimed-{owner}"));
                noted(&f, session);
            }
            noted(&notes, "fresh");
            let c = claim(&notes).expect("something to claim");
            assert_eq!(sessions(&c), want, "{what}");
            c.done();
            let left: Vec<String> = names(d.path());
            let live: Vec<String> = before
                .iter()
                .filter(|(_, s)| *s == "running")
                .map(|(o, _)| format!("hook-failures.claimed-{o}"))
                .collect();
            assert_eq!(left, live, "{what}: only a live hook's claim is left");
        }
    }

    #[test]
    fn a_failing_hook_puts_every_claimed_note_back() {
        let d = tempfile::tempdir().unwrap();
        let notes = notes_path(d.path());
        noted(
            &d.path()
                .join(format!("hook-failures.claimed-{}-9", dead_pid())),
            "orphan",
        );
        noted(&notes, "fresh");
        claim(&notes).expect("claimed").release();
        assert_eq!(names(d.path()), ["hook-failures.jsonl"]);
        let again = claim(&notes).expect("the notes are back");
        assert_eq!(sessions(&again), ["fresh", "orphan"]);
        again.done();
        assert!(names(d.path()).is_empty());
        assert!(claim(&notes).is_none(), "nothing left to claim");
    }
}
