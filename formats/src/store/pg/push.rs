//! Shipping a local store's sessions to the team store: the connection, and the incremental,
//! resumable copy of a session's events and the store's checkpoints.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use postgres::Client;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

use super::{PUSH_BATCH, conn, display_url, pg_err};
use crate::Store;
use crate::chain::Hash32;
use crate::checkpoint::StoreCheckpoint;
use crate::error::{Error, Result};
use crate::store::{CheckpointChain, CheckpointRow, StoredEvent, to_hash};

/// What one push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStats {
    pub sessions: u64,
    /// Events sent now (not those the server had already).
    pub events: u64,
    pub checkpoints: u64,
    /// Events the server already had.
    pub already: u64,
}

/// A connection that ships a local store's sessions to the team store.
pub struct Pusher {
    client: Client,
    url: String,
    host: String,
    /// What this connection knows the server has: the next seq of each session it pushed to
    /// (a stale value only makes a batch fail the chain check, and the head is read again).
    next: HashMap<String, u64>,
    /// Sessions whose row this connection has sent.
    rows_sent: HashSet<String>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("url", &display_url(&self.url))
            .field("host", &self.host)
            .finish()
    }
}

/// A session's row as pushed.
#[derive(Debug, Clone)]
pub struct PushSession<'a> {
    pub id: &'a str,
    pub label: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub home_env: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub started: &'a str,
}

impl Pusher {
    pub fn connect(url: &str, host: &str) -> Result<Pusher> {
        Self::connect_within(url, host, None)
    }

    /// [`Pusher::connect`], giving up after `timeout` when the server does not answer (a
    /// recorder shipping as it records must not hang on a host that drops packets).
    pub fn connect_within(url: &str, host: &str, timeout: Option<Duration>) -> Result<Pusher> {
        Ok(Pusher {
            client: conn::connect_within(url, timeout)?,
            url: url.to_string(),
            host: host.to_string(),
            next: HashMap::new(),
            rows_sent: HashSet::new(),
        })
    }

    /// Ships one session of `store` from the server's head on, in transactions of
    /// [`PUSH_BATCH`] events: incremental, resumable after a cut. The server's head must be
    /// this store's event at that seq, else the two are not the same log and nothing is sent.
    /// `tick` hears of events sent or found already there.
    pub fn push_session(
        &mut self,
        store: &Store,
        id: &str,
        stats: &mut PushStats,
        tick: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let (local_next, _) = store.head(id)?;
        if !self.rows_sent.contains(id) {
            let Some((row, external_id)) = store.session_for_push(id)? else {
                return Err(Error::NoSuchSession(id.to_string()));
            };
            self.push_session_row(&PushSession {
                id: &row.id,
                label: row.label.as_deref(),
                agent: row.agent.as_deref(),
                home_env: row.home_env.as_deref(),
                external_id: external_id.as_deref(),
                started: &row.started,
            })?;
            self.rows_sent.insert(id.to_string());
        }
        let mut next = match self.next.get(id) {
            Some(&n) if n <= local_next => n,
            _ => self.resume_point(store, id, local_next)?,
        };
        stats.sessions += 1;
        stats.already += next;
        tick(next);
        // A concurrent pusher of the same session makes our batch fail the chain check; we then
        // continue from where it got, a bounded number of times.
        let mut retries = 0;
        while next < local_next {
            let batch = store.rows_for_push(id, next, PUSH_BATCH as u64)?;
            let Some(last) = batch.last() else {
                break;
            };
            let after = last.0.seq + 1;
            match self.send_batch(id, &batch) {
                Ok(()) => {
                    stats.events += batch.len() as u64;
                    tick(batch.len() as u64);
                    next = after;
                    self.next.insert(id.to_string(), next);
                }
                Err(e) => {
                    self.next.remove(id);
                    let moved = self.resume_point(store, id, local_next)?;
                    if moved > next && retries < 8 {
                        retries += 1;
                        stats.already += moved - next;
                        tick(moved - next);
                        next = moved;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        self.next.insert(id.to_string(), next);
        Ok(())
    }

    /// Where to continue: the server's next seq, after checking that its head is our event
    /// there.
    fn resume_point(&mut self, store: &Store, id: &str, local_next: u64) -> Result<u64> {
        let (remote_next, remote_hash) = self.remote_head(id)?;
        if remote_next > local_next {
            return Err(Error::Invalid(format!(
                "the team store has {remote_next} events of session {id}, the local store only \
                 {local_next}: they are not the same log"
            )));
        }
        if remote_next > 0 {
            let ours = store.event(id, remote_next - 1)?;
            if ours.map(|e| e.hash) != Some(remote_hash) {
                return Err(Error::Invalid(format!(
                    "event {} of session {id} differs between the team store and the local \
                     store: they are not the same log",
                    remote_next - 1
                )));
            }
        }
        self.next.insert(id.to_string(), remote_next);
        Ok(remote_next)
    }

    /// Sends the store checkpoints the server does not have yet, per signing key; returns how
    /// many.
    pub fn push_checkpoints(&mut self, store: &Store) -> Result<u64> {
        let mut by_key: Vec<CheckpointChain> = Vec::new();
        for (no, body, sig) in store.checkpoint_rows()? {
            let key = serde_json::from_slice::<StoreCheckpoint>(&body)
                .map(|c| c.key_id)
                .unwrap_or_default();
            match by_key.last_mut() {
                Some((k, v)) if *k == key => v.push((no, body, sig)),
                _ => by_key.push((key, vec![(no, body, sig)])),
            }
        }
        let mut sent = 0;
        for (key, rows) in by_key {
            if key.is_empty() {
                continue; // a malformed checkpoint: the local verify reports it
            }
            let have = self.checkpoint_head(&key)?;
            let new: Vec<_> = rows.into_iter().filter(|r| r.0 > have).collect();
            if !new.is_empty() {
                sent += self.send_checkpoints(&key, &new)?;
            }
        }
        Ok(sent)
    }

    fn err(&self, e: postgres::Error) -> Error {
        pg_err(&self.url, e)
    }

    /// Records the signing key of this host (trusted on first push; another key for the same
    /// host is kept beside it and reported by verify).
    pub fn push_key(&mut self, key_id: &str, pubkey_hex: &str) -> Result<()> {
        let host = self.host.clone();
        self.client
            .execute(
                "INSERT INTO flightlog.host_keys (host, key_id, pubkey) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&host, &key_id, &pubkey_hex],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn push_session_row(&mut self, s: &PushSession<'_>) -> Result<()> {
        let host = self.host.clone();
        self.client
            .execute(
                "INSERT INTO flightlog.sessions (id, host, label, agent, home_env, external_id, \
                 started) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &s.id,
                    &host,
                    &s.label,
                    &s.agent,
                    &s.home_env,
                    &s.external_id,
                    &s.started,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The server's head of a session: the next seq and the hash it links to.
    pub fn remote_head(&mut self, session: &str) -> Result<(u64, Hash32)> {
        let r = self
            .client
            .query_one(
                "SELECT next, hash FROM flightlog.session_head($1)",
                &[&session],
            )
            .map_err(|e| self.err(e))?;
        Ok((r.get::<_, i64>(0).max(0) as u64, to_hash(r.get(1))))
    }

    /// Sends events (which must continue the server's chain) in one transaction, by COPY.
    pub fn send_batch(
        &mut self,
        session: &str,
        batch: &[(StoredEvent, String, String)],
    ) -> Result<()> {
        let url = self.url.clone();
        let e = |err| pg_err(&url, err);
        let mut tx = self.client.transaction().map_err(e)?;
        copy_events(&mut tx, "flightlog.events", session, batch).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// The newest checkpoint number the server has for a key.
    pub fn checkpoint_head(&mut self, key_id: &str) -> Result<u64> {
        let r = self
            .client
            .query_one("SELECT flightlog.checkpoint_head($1)", &[&key_id])
            .map_err(|e| self.err(e))?;
        Ok(r.get::<_, i64>(0).max(0) as u64)
    }

    /// Sends checkpoint rows (already there: skipped).
    pub fn send_checkpoints(&mut self, key_id: &str, rows: &[CheckpointRow]) -> Result<u64> {
        let url = self.url.clone();
        let e = |err| pg_err(&url, err);
        let mut tx = self.client.transaction().map_err(e)?;
        let stmt = tx
            .prepare(
                "INSERT INTO flightlog.checkpoints (key_id, no, body, sig) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .map_err(e)?;
        let mut n = 0;
        for (no, body, sig) in rows {
            n += tx
                .execute(&stmt, &[&key_id, &(*no as i64), body, sig])
                .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(n)
    }
}

/// Writes `batch` (rows of `session` as [`Store::rows_for_push`] gives them) into `table`, a
/// table with the columns of `flightlog.events`, by binary COPY in `tx`. [`Pusher::send_batch`]
/// writes into `flightlog.events`; the replay bench writes the same rows into a table without
/// triggers, as the anchor its push rate is compared with. `table` is SQL, never input.
#[doc(hidden)]
pub fn copy_events(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    session: &str,
    batch: &[(StoredEvent, String, String)],
) -> std::result::Result<(), postgres::Error> {
    let sink = tx.copy_in(&format!(
        "COPY {table} (session, seq, ts, kind, prev, hash, raw) FROM STDIN (FORMAT binary)"
    ))?;
    let types = [
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::BYTEA,
        Type::BYTEA,
        Type::BYTEA,
    ];
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for (ev, ts, kind) in batch {
        let seq = ev.seq as i64;
        w.write(&[
            &session,
            &seq,
            ts,
            kind,
            &&ev.prev[..],
            &&ev.hash[..],
            &ev.raw.as_slice(),
        ])?;
    }
    w.finish()?;
    Ok(())
}
