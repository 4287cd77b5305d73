//! The team store read back: the `--db postgres://...` backend of [`crate::Store`].

use std::sync::{Mutex, MutexGuard};

use postgres::Client;

use super::{MIGRATIONS, connect, display_url, pg_err};
use crate::chain::{GENESIS, Hash32};
use crate::checkpoint::SessionStatement;
use crate::error::{Error, Result};
use crate::store::{CheckpointChain, SessionRow, StoredEvent, pick_session, to_hash};

/// A team store opened for reading (the `--db postgres://...` backend of [`crate::Store`]).
pub struct PgStore {
    client: Mutex<Client>,
    url: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &display_url(&self.url))
            .finish()
    }
}

/// Rows per round trip when streaming a session.
const PAGE: i64 = 8_192;

impl PgStore {
    pub fn open(url: &str) -> Result<PgStore> {
        let mut client = connect(url)?;
        let version: Option<i32> = client
            .query_one(
                "SELECT CASE WHEN to_regclass('flightlog.migrations') IS NULL THEN NULL \
                 ELSE (SELECT max(version) FROM flightlog.migrations) END",
                &[],
            )
            .map_err(|e| pg_err(url, e))?
            .get(0);
        match version {
            None | Some(0) => {
                return Err(Error::Invalid(format!(
                    "{} has no flightlog team store (run `flightlog team init URL` first)",
                    display_url(url)
                )));
            }
            Some(v) if v as usize > MIGRATIONS.len() => {
                return Err(Error::SchemaTooNew {
                    found: i64::from(v),
                    supported: MIGRATIONS.len() as i64,
                });
            }
            Some(_) => {}
        }
        Ok(PgStore {
            client: Mutex::new(client),
            url: url.to_string(),
        })
    }

    /// The URL without its password.
    pub fn shown_url(&self) -> String {
        display_url(&self.url)
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: postgres::Error) -> Error {
        pg_err(&self.url, e)
    }

    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        let rows = self
            .client()
            .query(
                "SELECT s.id, s.host, s.label, s.agent, s.home_env, s.started, \
                 (SELECT e.ts FROM flightlog.events e WHERE e.session = s.id \
                  AND e.kind = 'session_end' ORDER BY e.seq DESC LIMIT 1), \
                 (SELECT coalesce(max(e.seq) + 1, 0) FROM flightlog.events e \
                  WHERE e.session = s.id) \
                 FROM flightlog.sessions s ORDER BY s.started, s.id",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| SessionRow {
                ended: r.get(6),
                events: r.get::<_, i64>(7).max(0) as u64,
                ..session_row(&r)
            })
            .collect())
    }

    /// One session's row, without counting its events.
    pub fn session_meta(&self, id: &str) -> Result<Option<SessionRow>> {
        let row = self
            .client()
            .query_opt(
                "SELECT s.id, s.host, s.label, s.agent, s.home_env, s.started \
                 FROM flightlog.sessions s WHERE s.id = $1",
                &[&id],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.as_ref().map(session_row))
    }

    pub fn session_ids(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .query("SELECT id FROM flightlog.sessions ORDER BY id", &[])
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub fn orphan_event_sessions(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .query(
                "SELECT DISTINCT e.session FROM flightlog.events e WHERE NOT EXISTS \
                 (SELECT 1 FROM flightlog.sessions s WHERE s.id = e.session)",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub fn resolve(&self, name: &str) -> Result<String> {
        if name == "latest" {
            return self
                .client()
                .query_opt(
                    "SELECT id FROM flightlog.sessions ORDER BY started DESC, pushed DESC, id DESC \
                     LIMIT 1",
                    &[],
                )
                .map_err(|e| self.err(e))?
                .map(|r| r.get(0))
                .ok_or_else(|| Error::NoSuchSession(name.to_string()));
        }
        let rows = self
            .client()
            .query(
                "SELECT id FROM flightlog.sessions WHERE id = $1 OR left(id, length($1)) = $1 \
                 ORDER BY id",
                &[&name],
            )
            .map_err(|e| self.err(e))?;
        let ids: Vec<String> = rows.into_iter().map(|r| r.get(0)).collect();
        pick_session(name, ids)
    }

    pub fn session_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .client()
            .query_opt("SELECT 1 FROM flightlog.sessions WHERE id = $1", &[&id])
            .map_err(|e| self.err(e))?
            .is_some())
    }

    /// The next seq of a session and the hash the next event links to.
    pub fn head(&self, session: &str) -> Result<(u64, Hash32)> {
        let r = self
            .client()
            .query_one(
                "SELECT seq, hash FROM flightlog.events WHERE session = $1 \
                 ORDER BY seq DESC LIMIT 1",
                &[&session],
            )
            .map(Some)
            .or_else(|e| if is_no_row(&e) { Ok(None) } else { Err(e) })
            .map_err(|e| self.err(e))?;
        Ok(match r {
            Some(r) => (r.get::<_, i64>(0) as u64 + 1, to_hash(r.get(1))),
            None => (0, GENESIS),
        })
    }

    /// What a checkpoint would say about a session now, read in pages of hashes.
    pub fn statement(&self, session: &str) -> Result<SessionStatement> {
        let mut client = self.client();
        let stmt = client
            .prepare(
                "SELECT seq, hash FROM flightlog.events WHERE session = $1 AND seq >= $2 \
                 ORDER BY seq LIMIT $3",
            )
            .map_err(|e| self.err(e))?;
        // Hashes are folded page by page, never all held at once.
        let mut failed = None;
        let mut page = std::collections::VecDeque::new();
        let (mut next, mut more) = (0i64, true);
        let hashes = std::iter::from_fn(|| {
            if page.is_empty() && more {
                match client.query(&stmt, &[&session, &next, &PAGE]) {
                    Ok(rows) => {
                        more = rows.len() as i64 == PAGE;
                        for r in rows {
                            next = r.get::<_, i64>(0).saturating_add(1);
                            page.push_back(to_hash(r.get(1)));
                        }
                    }
                    Err(e) => {
                        failed = Some(e);
                        more = false;
                    }
                }
            }
            page.pop_front()
        });
        let statement = SessionStatement::of_hashes(session, hashes);
        match failed {
            Some(e) => Err(self.err(e)),
            None => Ok(statement),
        }
    }

    /// Streams events with `seq >= from`, at most `limit`, in pages of [`PAGE`] rows.
    pub fn for_each_event_from(
        &self,
        session: &str,
        from: u64,
        limit: u64,
        mut f: impl FnMut(StoredEvent) -> bool,
    ) -> Result<()> {
        let mut next = i64::try_from(from).unwrap_or(i64::MAX);
        let mut left = limit;
        let mut client = self.client();
        let stmt = client
            .prepare(
                "SELECT seq, prev, hash, raw FROM flightlog.events WHERE session = $1 \
                 AND seq >= $2 ORDER BY seq LIMIT $3",
            )
            .map_err(|e| self.err(e))?;
        while left > 0 {
            let n = PAGE.min(i64::try_from(left).unwrap_or(i64::MAX));
            let rows = client
                .query(&stmt, &[&session, &next, &n])
                .map_err(|e| self.err(e))?;
            let got = rows.len() as i64;
            for r in rows {
                let seq: i64 = r.get(0);
                next = seq.saturating_add(1);
                let ev = StoredEvent {
                    seq: seq as u64,
                    prev: to_hash(r.get(1)),
                    hash: to_hash(r.get(2)),
                    raw: r.get(3),
                };
                if !f(ev) {
                    return Ok(());
                }
            }
            left = left.saturating_sub(got as u64);
            if got < n {
                break;
            }
        }
        Ok(())
    }

    /// `(seq, raw)` of events with `from <= seq <= to` and the given kind, in order.
    pub fn raws_of_kind(
        &self,
        session: &str,
        from: u64,
        to: u64,
        kind: &str,
    ) -> Result<Vec<Vec<u8>>> {
        let rows = self
            .client()
            .query(
                "SELECT raw FROM flightlog.events WHERE session = $1 AND seq >= $2 \
                 AND seq <= $3 AND kind = $4 ORDER BY seq",
                &[
                    &session,
                    &i64::try_from(from).unwrap_or(i64::MAX),
                    &i64::try_from(to).unwrap_or(i64::MAX),
                    &kind,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The nearest seq after (or before) `from` whose event text contains `query`, ignoring
    /// ASCII case.
    pub fn search(
        &self,
        session: &str,
        from: u64,
        query: &str,
        forward: bool,
    ) -> Result<Option<u64>> {
        let sql = if forward {
            "SELECT seq FROM flightlog.events WHERE session = $1 AND seq > $2 \
             AND strpos(lower(convert_from(raw, 'UTF8')), lower($3)) > 0 ORDER BY seq LIMIT 1"
        } else {
            "SELECT seq FROM flightlog.events WHERE session = $1 AND seq < $2 \
             AND strpos(lower(convert_from(raw, 'UTF8')), lower($3)) > 0 \
             ORDER BY seq DESC LIMIT 1"
        };
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let row = self
            .client()
            .query_opt(sql, &[&session, &from, &query])
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    /// Every signing key's checkpoint rows `(no, body, sig)`, keyed by key id.
    pub fn checkpoint_chains(&self) -> Result<Vec<CheckpointChain>> {
        let rows = self
            .client()
            .query(
                "SELECT key_id, no, body, sig FROM flightlog.checkpoints ORDER BY key_id, no",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let mut out: Vec<CheckpointChain> = Vec::new();
        for r in rows {
            let key: String = r.get(0);
            let row = (r.get::<_, i64>(1) as u64, r.get(2), r.get(3));
            match out.last_mut() {
                Some((k, v)) if *k == key => v.push(row),
                _ => out.push((key, vec![row])),
            }
        }
        Ok(out)
    }

    /// `(host, key_id, pubkey hex)` of every key pushed, oldest first per host.
    pub fn host_keys(&self) -> Result<Vec<(String, String, String)>> {
        let rows = self
            .client()
            .query(
                "SELECT host, key_id, pubkey FROM flightlog.host_keys \
                 ORDER BY host, first_seen, key_id",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}

fn is_no_row(e: &postgres::Error) -> bool {
    // query_one reports "query returned an unexpected number of rows" without a db error.
    e.as_db_error().is_none() && e.to_string().contains("unexpected number of rows")
}

/// A session's row from its first six columns (`id, host, label, agent, home_env, started`),
/// with no end and no events counted.
fn session_row(r: &postgres::Row) -> SessionRow {
    SessionRow {
        id: r.get(0),
        host: Some(r.get(1)),
        label: r.get(2),
        agent: r.get(3),
        home_env: r.get(4),
        started: r.get(5),
        ended: None,
        events: 0,
    }
}
