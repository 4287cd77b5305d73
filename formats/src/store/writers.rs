//! Writers of live sessions: each `record` registers its process (pid and start time, so a
//! reused pid is not mistaken for it), and any later writer seals the sessions of writers that
//! died with a `gap` and a `session_end`.

use std::fs;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::append::{append_in, head_in};
use super::{Store, map_busy};
use crate::error::{Error, Result};
use crate::event::{Kind, NewEvent, format_ts};
use crate::redact::Redactor;

impl Store {
    /// Registers a live writer (a recorder) of a session.
    pub fn register_writer(&self, session: &str, pid: u32, ts: DateTime<Utc>) -> Result<()> {
        self.write(|tx| tx
            .execute(
                "INSERT OR REPLACE INTO writers (session, pid, boot, started) VALUES (?1, ?2, ?3, ?4)",
                params![session, pid, process_start_token(pid), format_ts(ts)],
            )
            .map(|_| ())
            .map_err(Error::from))?;
        Ok(())
    }

    pub fn unregister_writer(&self, session: &str, pid: u32) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM writers WHERE session = ?1 AND pid = ?2",
                params![session, pid],
            )
            .map(|_| ())
            .map_err(Error::from)
        })?;
        Ok(())
    }

    /// Finds writers that died without closing their session and seals each such session with
    /// a `gap` event (and a `session_end`). Returns the sealed session ids.
    pub fn seal_dead_writers(
        &self,
        redactor: &Redactor,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let writers: Vec<(String, u32, String, String)> = {
            let mut stmt = self
                .conn()?
                .prepare("SELECT session, pid, boot, started FROM writers")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut sealed = Vec::new();
        for (session, pid, boot, started) in writers {
            if process_start_token(pid) == boot && !boot.is_empty() {
                continue; // still alive
            }
            let tx = self.immediate()?;
            // Re-check under the lock: another process may have sealed it already.
            let still: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM writers WHERE session = ?1 AND pid = ?2",
                    params![session, pid],
                    |r| r.get(0),
                )
                .optional()?;
            if still.is_none() {
                tx.commit()?;
                continue;
            }
            let (count, _) = head_in(&tx, &session)?;
            let gap = NewEvent::new(
                now,
                Kind::Gap,
                "recorder",
                serde_json::json!({
                    "reason": "writer_died",
                    "detail": format!(
                        "the recorder (pid {pid}, started {started}) stopped without closing the \
                         session; events it had not yet committed are lost, the {count} events \
                         before this one are intact"
                    ),
                    "pid": pid,
                    "last_seq": count.checked_sub(1),
                }),
            );
            let end = NewEvent::new(
                now,
                Kind::SessionEnd,
                "recorder",
                serde_json::json!({"reason": "writer_died"}),
            );
            append_in(&tx, &session, vec![gap, end], Some(redactor))?;
            tx.execute(
                "DELETE FROM writers WHERE session = ?1 AND pid = ?2",
                params![session, pid],
            )?;
            tx.execute(
                "UPDATE sessions SET ended = ?2 WHERE id = ?1 AND ended IS NULL",
                params![session, format_ts(now)],
            )?;
            tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
            sealed.push(session);
        }
        Ok(sealed)
    }
}

/// A token that identifies one process instance (pid + its start time from /proc), so a
/// reused pid is not mistaken for the original writer. Empty if the process does not exist.
pub fn process_start_token(pid: u32) -> String {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return String::new();
    };
    // Field 22 (starttime) counted after the ")" that closes the command name.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let start = after.split_whitespace().nth(19).unwrap_or("");
    format!("{pid}:{start}")
}
