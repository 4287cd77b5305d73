//! Store checkpoints: a signed statement over every session (count, head, Merkle root),
//! chained to the previous one.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::append::statement_in;
use super::{CheckpointChain, Store, map_busy};
use crate::checkpoint::{SessionStatement, SignedCheckpoint, StoreCheckpoint, sign};
use crate::error::{Error, Result};
use crate::event::format_ts;
use crate::keys::{Keys, key_id};

impl Store {
    /// A store checkpoint signed now but not stored (for a store opened read-only): it
    /// continues the stored checkpoints (next number, previous signature) without writing.
    pub fn unsaved_checkpoint(&self, keys: &Keys, ts: DateTime<Utc>) -> Result<SignedCheckpoint> {
        let (checkpoint, _, sig) = next_checkpoint(self.conn()?, keys, ts)?;
        Ok(SignedCheckpoint { checkpoint, sig })
    }

    /// What a checkpoint would say about a session now (count, head, Merkle root).
    pub fn session_statement(&self, session: &str) -> Result<SessionStatement> {
        if let Some(pg) = self.remote() {
            return pg.statement(session);
        }
        statement_in(self.conn()?, session)
    }

    /// Writes a store-wide checkpoint over every session, chained to the previous one.
    pub fn checkpoint(&self, keys: &Keys, ts: DateTime<Utc>) -> Result<SignedCheckpoint> {
        let tx = self.immediate()?;
        let (checkpoint, body, sig) = next_checkpoint(&tx, keys, ts)?;
        tx.execute(
            "INSERT INTO checkpoints (no, body, sig) VALUES (?1, ?2, ?3)",
            params![checkpoint.no as i64, body, sig],
        )?;
        tx.commit().map_err(|e| map_busy(e, self.busy_ms))?;
        Ok(SignedCheckpoint { checkpoint, sig })
    }

    /// Raw checkpoint rows `(no, body bytes, sig)`, in order.
    pub fn checkpoint_rows(&self) -> Result<Vec<(u64, Vec<u8>, String)>> {
        if self.is_remote() {
            return Err(Error::Invalid(
                "the team store keeps one checkpoint chain per signing key (checkpoint_chains)"
                    .into(),
            ));
        }
        let mut stmt = self
            .conn()?
            .prepare("SELECT no, body, sig FROM checkpoints ORDER BY no")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The newest checkpoint, parsed.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>> {
        let Some((_, body, sig)) = self.checkpoint_rows()?.pop() else {
            return Ok(None);
        };
        let checkpoint: StoreCheckpoint = serde_json::from_slice(&body)?;
        Ok(Some(SignedCheckpoint { checkpoint, sig }))
    }

    /// Every chain of store checkpoints `(key id, rows)`: one in a local store (its key id is
    /// empty: the rows name their key), one per signing key in the team store.
    pub fn checkpoint_chains(&self) -> Result<Vec<CheckpointChain>> {
        if let Some(pg) = self.remote() {
            return pg.checkpoint_chains();
        }
        let rows = self.checkpoint_rows()?;
        Ok(if rows.is_empty() {
            Vec::new()
        } else {
            vec![(String::new(), rows)]
        })
    }

    /// The team store's host keys `(host, key id, public key hex)`, first-seen first per host;
    /// none in a local store (its keys are in its key directory).
    pub fn host_keys(&self) -> Result<Vec<(String, String, String)>> {
        match self.remote() {
            Some(pg) => pg.host_keys(),
            None => Ok(Vec::new()),
        }
    }
}

/// The next store checkpoint as `conn` sees the store: every session's statement, numbered and
/// chained after the last stored checkpoint, with its body bytes and signature.
fn next_checkpoint(
    conn: &Connection,
    keys: &Keys,
    ts: DateTime<Utc>,
) -> Result<(StoreCheckpoint, Vec<u8>, String)> {
    let prev: Option<(i64, String)> = conn
        .query_row(
            "SELECT no, sig FROM checkpoints ORDER BY no DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut ids: Vec<String> = {
        let mut stmt = conn.prepare("SELECT id FROM sessions ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    ids.sort();
    let mut sessions = Vec::with_capacity(ids.len());
    for id in &ids {
        sessions.push(statement_in(conn, id)?);
    }
    let vk = keys.verifying_key();
    let cp = StoreCheckpoint {
        v: 1,
        no: prev.as_ref().map(|p| p.0 as u64 + 1).unwrap_or(1),
        ts: format_ts(ts),
        prev_sig: prev.map(|p| p.1).unwrap_or_default(),
        key_id: key_id(&vk),
        pubkey: hex::encode(vk.as_bytes()),
        root: StoreCheckpoint::compute_root(&sessions),
        sessions,
    };
    let body = cp.body_bytes();
    let sig = sign(&keys.signing, &body);
    Ok((cp, body, sig))
}
