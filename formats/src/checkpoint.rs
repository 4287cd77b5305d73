//! Signed checkpoints.
//!
//! Two kinds, both Ed25519-signed over canonical JSON bytes (sorted keys, compact):
//!
//! - a **store checkpoint** covers every session in the store: for each session its event count,
//!   head hash and the RFC 6962 root of its event hashes, plus one root over those session
//!   statements. Each store checkpoint carries the previous one's signature (`prev_sig`), so the
//!   checkpoints form a chain of their own (CloudTrail-style). They live in the `checkpoints`
//!   table and can be exported to a file kept elsewhere.
//! - a **session checkpoint** is a `checkpoint` event inside a session's chain, signing the
//!   statement `{"count","head","root","session"}` over the events before it. Every export ends
//!   with one, so a truncated export is detected.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::canonical::value_bytes;
use crate::chain::Hash32;
use crate::keys::key_id;
use crate::merkle;

/// What a checkpoint says about one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatement {
    pub session: String,
    /// Events covered: seq 0 .. count-1.
    pub count: u64,
    /// Hash of event `count-1` (64 zeros when count is 0).
    pub head: String,
    /// RFC 6962 root over the event hashes (each 32-byte hash is one leaf's data).
    pub root: String,
}

impl SessionStatement {
    /// The statement over a session's event hashes, in seq order.
    pub fn of_hashes(session: &str, hashes: impl IntoIterator<Item = Hash32>) -> SessionStatement {
        let mut mb = merkle::MerkleBuilder::new();
        let mut head = crate::chain::GENESIS;
        for h in hashes {
            mb.push_data(&h);
            head = h;
        }
        SessionStatement {
            session: session.to_string(),
            count: mb.size(),
            head: hex::encode(head),
            root: hex::encode(mb.root()),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        value_bytes(&json!({
            "session": self.session,
            "count": self.count,
            "head": self.head,
            "root": self.root,
        }))
    }

    /// The Merkle leaf data for this statement inside a store checkpoint.
    pub fn leaf(&self) -> Vec<u8> {
        self.bytes()
    }
}

/// A store-wide checkpoint (unsigned body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCheckpoint {
    pub v: u32,
    /// 1, 2, 3, ... in the store.
    pub no: u64,
    pub ts: String,
    /// Signature (hex) of the previous store checkpoint; empty for the first.
    pub prev_sig: String,
    pub key_id: String,
    pub pubkey: String,
    /// RFC 6962 root over the session statements' bytes, sessions sorted by id.
    pub root: String,
    pub sessions: Vec<SessionStatement>,
}

impl StoreCheckpoint {
    pub fn body_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and numbers cannot fail.
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        value_bytes(&v)
    }

    pub fn compute_root(sessions: &[SessionStatement]) -> String {
        let leaves: Vec<Vec<u8>> = sessions.iter().map(SessionStatement::leaf).collect();
        hex::encode(merkle::root_of(&leaves))
    }
}

/// A checkpoint with its signature, as stored and exported (`flightlog checkpoint -o FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub checkpoint: StoreCheckpoint,
    /// Ed25519 signature (hex) over `checkpoint.body_bytes()`.
    pub sig: String,
}

pub fn sign(key: &SigningKey, bytes: &[u8]) -> String {
    hex::encode(key.sign(bytes).to_bytes())
}

/// Checks a hex signature; false for anything malformed.
pub fn verify_sig(key: &VerifyingKey, bytes: &[u8], sig_hex: &str) -> bool {
    let mut b = [0u8; 64];
    if hex::decode_to_slice(sig_hex, &mut b).is_err() {
        return false;
    }
    key.verify(bytes, &Signature::from_bytes(&b)).is_ok()
}

/// Builds the `data` of a session checkpoint event.
pub fn session_checkpoint_data(key: &SigningKey, st: &SessionStatement) -> Value {
    let vk = key.verifying_key();
    json!({
        "scope": "session",
        "session": st.session,
        "count": st.count,
        "head": st.head,
        "root": st.root,
        "key_id": key_id(&vk),
        "pubkey": hex::encode(vk.as_bytes()),
        "sig": sign(key, &st.bytes()),
    })
}

/// Reads a session checkpoint event's data back.
pub fn parse_session_checkpoint(data: &Value) -> Option<(SessionStatement, String, String)> {
    let st = SessionStatement {
        session: data.get("session")?.as_str()?.to_string(),
        count: data.get("count")?.as_u64()?,
        head: data.get("head")?.as_str()?.to_string(),
        root: data.get("root")?.as_str()?.to_string(),
    };
    let pubkey = data.get("pubkey")?.as_str()?.to_string();
    let sig = data.get("sig")?.as_str()?.to_string();
    Some((st, pubkey, sig))
}

pub fn hex_hash(h: &Hash32) -> String {
    hex::encode(h)
}
