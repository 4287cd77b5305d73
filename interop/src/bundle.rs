//! The auditor's bundle: a directory that can be verified offline without trusting flightlog.
//!
//! ```text
//! events.jsonl     the session's jsonl export, ending with a signed checkpoint event
//! checkpoint.json  a signed store checkpoint (taken at export) covering the session
//! checkpoint.pub   the Ed25519 public key (64 hex) that signed both; from the team store, the
//!                  exporting machine's key (first: it signed the MANIFEST) and the hosts' keys
//!                  that signed the session and checkpoint.json, one per line
//! report.md        the incident report
//! report.html      the same, as one self-contained page
//! session.cast     the terminal output (asciicast v3, markers at crossings)
//! verify.py        a copy of scripts/verify_export.py, the standard-library verifier
//! README.md        how to verify
//! MANIFEST         sha256 of every file above (`sha256sum -c MANIFEST` format)
//! MANIFEST.sig     Ed25519 signature (hex) of MANIFEST by the same key
//! ```
//!
//! [`verify_extras`] checks everything but the chain itself (which `verify_jsonl` checks):
//! every file against the MANIFEST (none missing, none added), the MANIFEST's signature, and the
//! store checkpoint against the events.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use flightlog_analysis::report;
use flightlog_analysis::session::SessionView;
use flightlog_formats::chain::split_export_line;
use flightlog_formats::checkpoint::{SignedCheckpoint, StoreCheckpoint, sign, verify_sig};
use flightlog_formats::event::format_ts;
use flightlog_formats::jsonl::{unsaved_final_checkpoint_line, write_session};
use flightlog_formats::keys::{Keys, VerifyingKey, key_id, public_key_from_hex};
use flightlog_formats::merkle::MerkleBuilder;
use flightlog_formats::payload::Payload;
use flightlog_formats::progress::Progress;
use flightlog_formats::verify::Problem;
use flightlog_formats::{Event, Store};
use sha2::{Digest, Sha256};

use crate::{Error, Result, export, findings, html};

/// Files every bundle holds (besides MANIFEST and MANIFEST.sig).
pub const FILES: [&str; 8] = [
    "events.jsonl",
    "checkpoint.json",
    "checkpoint.pub",
    "report.md",
    "report.html",
    "session.cast",
    "verify.py",
    "README.md",
];

/// The parts of a bundle made elsewhere (reports, cast, script).
#[derive(Debug, Clone)]
pub struct Parts {
    pub report_md: String,
    pub report_html: String,
    pub cast: Vec<u8>,
    pub verify_py: String,
}

/// The standard-library verifier every bundle carries as `verify.py`.
pub const VERIFY_SCRIPT: &str = include_str!("../../scripts/verify_export.py");

impl Parts {
    /// The parts of a loaded session's bundle: its reports, its cast (reporting the events cast
    /// out of the session's events) and [`VERIFY_SCRIPT`].
    pub fn of(view: &SessionView, progress: &mut dyn Progress) -> Result<Parts> {
        let records = export::records(view);
        let findings = findings::from_analysis(&view.analysis, &view.events);
        let intact = view.intact();
        let mut cast = Vec::new();
        export::write(
            export::Format::Asciicast,
            &records,
            &findings,
            &mut cast,
            progress,
        )?;
        Ok(Parts {
            report_md: report::markdown(&view.analysis, intact),
            report_html: html::report_html(&view.analysis, &view.events, intact),
            cast,
            verify_py: VERIFY_SCRIPT.to_string(),
        })
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    crate::write_new_private(&dir.join(name), bytes)
}

/// Whether making a bundle may write to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Nothing is written: the final session checkpoint (if missing) and the store checkpoint
    /// (if none covers the session as it is) are signed in memory, for the bundle only.
    ReadOnly,
}

/// Where a bundle's `checkpoint.json` came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOrigin {
    /// Taken for the bundle and stored (checkpoint number).
    Stored(u64),
    /// The store's latest checkpoint, which already covered the session as exported.
    Latest(u64),
    /// Signed for the bundle and not stored (the store was read-only).
    InMemory(u64),
    /// From the team store: the host's store checkpoint (number, key id), as it was pushed,
    /// covering the session as exported.
    Pushed(u64, String),
    /// From the team store, when no pushed checkpoint covers the session as exported: signed
    /// in memory by the exporting machine's key over this session alone (number 0: it belongs
    /// to no chain).
    Exporter,
}

impl std::fmt::Display for CheckpointOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointOrigin::Stored(n) => write!(f, "store checkpoint #{n}, taken and stored"),
            CheckpointOrigin::Latest(n) => {
                write!(
                    f,
                    "the latest store checkpoint, #{n}, which covers the session"
                )
            }
            CheckpointOrigin::InMemory(n) => write!(
                f,
                "store checkpoint #{n}, signed in memory and not stored (read-only store)"
            ),
            CheckpointOrigin::Pushed(n, key) => write!(
                f,
                "store checkpoint #{n} of the host key {key}, as pushed to the team store"
            ),
            CheckpointOrigin::Exporter => write!(
                f,
                "a checkpoint of this session alone, signed in memory by the exporting machine \
                 (no checkpoint pushed to the team store covers the session as exported)"
            ),
        }
    }
}

/// Writes a bundle of `session` into `dir` (which must not exist, or be empty). With
/// [`Access::ReadWrite`] the session must already end with a checkpoint
/// (`ensure_final_checkpoint`) and a fresh store checkpoint is taken, so `checkpoint.json`
/// covers every event exported; with [`Access::ReadOnly`] nothing is written (see there).
///
/// From the team store (always read-only) the events are exported as their host signed them,
/// never re-signed: `checkpoint.json` is the host's pushed store checkpoint that covers the
/// session as exported, else [`CheckpointOrigin::Exporter`]; the MANIFEST is signed by `keys`
/// (the exporting machine), and `checkpoint.pub` lists that key first, then every other key
/// that signed something in the bundle.
pub fn write(
    store: &Store,
    session: &str,
    keys: &Keys,
    now: DateTime<Utc>,
    dir: &Path,
    parts: &Parts,
    access: Access,
) -> Result<CheckpointOrigin> {
    if dir.exists() {
        let mut rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        if rd.next().is_some() {
            return Err(Error::Invalid(format!(
                "{} exists and is not empty; choose a new directory for the bundle",
                dir.display()
            )));
        }
    } else {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io(dir, e))?;
    }
    let mut events = Vec::new();
    write_session(store, session, &mut events)?;
    let pubkey = hex::encode(keys.verifying_key().as_bytes());
    let (cp, origin) = if store.is_remote() {
        team_checkpoint(store, session, keys, now)?
    } else {
        match access {
            Access::ReadWrite => {
                let cp = store.checkpoint(keys, now)?;
                let no = cp.checkpoint.no;
                (cp, CheckpointOrigin::Stored(no))
            }
            Access::ReadOnly => {
                if let Some(line) = unsaved_final_checkpoint_line(store, session, keys, now)? {
                    events.extend_from_slice(&line);
                }
                let statement = store.session_statement(session)?;
                match store.latest_checkpoint()? {
                    Some(cp)
                        if cp.checkpoint.pubkey == pubkey
                            && cp.checkpoint.sessions.contains(&statement) =>
                    {
                        let no = cp.checkpoint.no;
                        (cp, CheckpointOrigin::Latest(no))
                    }
                    _ => {
                        let cp = store.unsaved_checkpoint(keys, now)?;
                        let no = cp.checkpoint.no;
                        (cp, CheckpointOrigin::InMemory(no))
                    }
                }
            }
        }
    };
    let signers = signers(&pubkey, &events, &cp);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("events.jsonl", events),
        ("checkpoint.json", {
            let mut v = serde_json::to_vec_pretty(&cp)?;
            v.push(b'\n');
            v
        }),
        ("checkpoint.pub", {
            let mut v = String::new();
            for k in &signers {
                v.push_str(k);
                v.push('\n');
            }
            v.into_bytes()
        }),
        ("report.md", parts.report_md.clone().into_bytes()),
        ("report.html", parts.report_html.clone().into_bytes()),
        ("session.cast", parts.cast.clone()),
        ("verify.py", parts.verify_py.clone().into_bytes()),
        (
            "README.md",
            readme(session, &signers, &cp, &origin).into_bytes(),
        ),
    ];
    let mut manifest = String::new();
    for (name, bytes) in &files {
        write_file(dir, name, bytes)?;
        manifest.push_str(&format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))));
    }
    write_file(dir, "MANIFEST", manifest.as_bytes())?;
    let sig = sign(&keys.signing, manifest.as_bytes());
    write_file(dir, "MANIFEST.sig", format!("{sig}\n").as_bytes())?;
    Ok(origin)
}

/// The checkpoint a bundle from the team store carries: the newest store checkpoint a host
/// pushed that states exactly this session as exported (count, head, root), signed by its own
/// key, which must be a host key the team store knows; else one signed in memory by `keys`
/// over this session alone.
fn team_checkpoint(
    store: &Store,
    session: &str,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<(SignedCheckpoint, CheckpointOrigin)> {
    let statement = store.session_statement(session)?;
    let hosts: Vec<String> = store
        .host_keys()?
        .into_iter()
        .map(|(_, _, pubkey)| pubkey)
        .collect();
    let mut best: Option<SignedCheckpoint> = None;
    for (_, rows) in store.checkpoint_chains()? {
        for (_, body, sig) in rows.into_iter().rev() {
            let Ok(checkpoint) = serde_json::from_slice::<StoreCheckpoint>(&body) else {
                continue;
            };
            if !checkpoint.sessions.contains(&statement) {
                continue;
            }
            let signed = hosts.contains(&checkpoint.pubkey)
                && public_key_from_hex(&checkpoint.pubkey)
                    .is_some_and(|k| verify_sig(&k, &body, &sig));
            if signed
                && best
                    .as_ref()
                    .is_none_or(|b| checkpoint.ts > b.checkpoint.ts)
            {
                best = Some(SignedCheckpoint { checkpoint, sig });
            }
            // The newest row of a chain that covers the session is the one wanted.
            break;
        }
    }
    if let Some(cp) = best {
        let origin = CheckpointOrigin::Pushed(cp.checkpoint.no, cp.checkpoint.key_id.clone());
        return Ok((cp, origin));
    }
    let vk = keys.verifying_key();
    let sessions = vec![statement];
    let checkpoint = StoreCheckpoint {
        v: 1,
        no: 0,
        ts: format_ts(now),
        prev_sig: String::new(),
        key_id: key_id(&vk),
        pubkey: hex::encode(vk.as_bytes()),
        root: StoreCheckpoint::compute_root(&sessions),
        sessions,
    };
    let sig = sign(&keys.signing, &checkpoint.body_bytes());
    Ok((
        SignedCheckpoint { checkpoint, sig },
        CheckpointOrigin::Exporter,
    ))
}

/// Every key (hex) that signed something in a bundle: `manifest` (the MANIFEST's signer) first,
/// then the keys of the session checkpoints in `events`, then `checkpoint.json`'s.
fn signers(manifest: &str, events: &[u8], cp: &SignedCheckpoint) -> Vec<String> {
    let mut out = vec![manifest.to_string()];
    let mut add = |k: &str| {
        if !out.iter().any(|x| x == k) {
            out.push(k.to_string());
        }
    };
    for line in events.split(|b| *b == b'\n') {
        let Some((_, _, raw)) = split_export_line(line) else {
            continue;
        };
        if let Ok(ev) = Event::from_bytes(raw)
            && let Payload::Checkpoint(c) = ev.payload()
            && let Some(key) = c.pubkey
        {
            add(&key);
        }
    }
    add(&cp.checkpoint.pubkey);
    out
}

fn readme(
    session: &str,
    signers: &[String],
    cp: &SignedCheckpoint,
    origin: &CheckpointOrigin,
) -> String {
    let pubkey = signers.join("\n\n       ");
    let several = signers.len() > 1;
    let (key_row, manifest_signer) = if several {
        (
            "the Ed25519 public keys that signed this bundle, one per line: the exporting \
             machine's (MANIFEST), then the hosts' (for reference only)",
            "the exporting machine's key",
        )
    } else {
        (
            "the Ed25519 public key that signed the checkpoints (for reference only)",
            "the same key",
        )
    };
    let keys_note = if several {
        "\n   This bundle comes from a team store and holds signatures by more than one key: the\n   \
         first signed the MANIFEST (the machine that exported it), the others signed the\n   \
         session's checkpoints and `checkpoint.json` (the hosts that recorded it). Get each\n   \
         from a channel you trust and give them all to the verifier (one file may hold several\n   \
         keys, one per line).\n"
    } else {
        ""
    };
    format!(
        "# flightlog evidence bundle: session {session}\n\n\
         This directory is a tamper-evident record of one AI agent session, exported by\n\
         flightlog {version}. You can check it without trusting flightlog, and without trusting\n\
         anything in this directory: whoever could change a file here could change this README,\n\
         `verify.py` and `checkpoint.pub` too. Two things must come from elsewhere: the signer's\n\
         public key and the verifier you run.\n\n\
         ## Files\n\n\
         | file | what |\n|---|---|\n\
         | `events.jsonl` | every event; each line is `{{\"prev\",\"hash\",\"event\"}}`, hash-chained |\n\
         | `checkpoint.json` | {origin} ({ts}), covering this session |\n\
         | `checkpoint.pub` | {key_row} |\n\
         | `report.md`, `report.html` | the incident report (crossings, destructive actions, secrets, gaps) |\n\
         | `session.cast` | terminal output, asciicast v3 (`asciinema play session.cast`); markers at findings |\n\
         | `verify.py` | a copy of flightlog's standard-library verifier (`scripts/verify_export.py`), to read |\n\
         | `MANIFEST`, `MANIFEST.sig` | SHA-256 of every file, signed with {manifest_signer} |\n\n\
         ## Verify offline\n\n\
         1. Get the signer's public key (64 hex digits) from a channel you trust (the team that runs\n   \
            flightlog, a key registry; not this directory) and save it outside this directory, for\n   \
            example as `/path/to/trusted.pub`. This bundle says it was signed by\n\n       \
            {pubkey}\n\n   \
            which proves nothing by itself.\n{keys_note}\n\
         2. Get the verifier from a source you trust: `scripts/verify_export.py` from flightlog's\n   \
            source, or `verify.py` from here once you have read it (about 200 lines of Python, no\n   \
            dependencies). Keep it outside this directory, for example as\n   \
            `/path/to/trusted/verify_export.py`.\n\n\
         3. Run it on this directory with the trusted key:\n\n       \
            python3 /path/to/trusted/verify_export.py . /path/to/trusted.pub\n\n   \
            It checks `MANIFEST.sig` against the key, every file against `MANIFEST` (none modified,\n   \
            missing or added), the chain of `events.jsonl`, and every checkpoint (count, head,\n   \
            RFC 6962 Merkle root) and its signature. Only `INTACT` with exit status 0 means all of\n   \
            that held for the key you gave.\n\n\
         4. Or, with flightlog installed, the same checks plus the store checkpoint:\n\n       \
            flightlog verify . --pubkey /path/to/trusted.pub\n\n\
         `sha256sum -c MANIFEST` alone proves nothing: anyone can rebuild a MANIFEST.\n\n\
         Each event's hash is `SHA-256(bytes.fromhex(prev) || EVENT)`, where EVENT is the raw\n\
         bytes of the line between `\"event\":` and the final `}}`; the first `prev` is 64 zeros.\n\
         The last event is a `checkpoint` that signs `{{\"count\",\"head\",\"root\",\"session\"}}`\n\
         (sorted keys, no spaces) over every event before it, so a truncated file is detected.\n\n\
         Secrets were replaced by `[REDACTED:<kind>:<fingerprint>]` before hashing; the same\n\
         secret has the same fingerprint everywhere, so its uses can be followed without\n\
         revealing it.\n",
        version = crate::VERSION,
        ts = cp.checkpoint.ts,
    )
}

fn problem(kind: &str, detail: impl Into<String>) -> Problem {
    Problem {
        session: None,
        seq: None,
        kind: kind.into(),
        detail: detail.into(),
    }
}

/// Checks a bundle's files against its MANIFEST and signatures, and its store checkpoint
/// against its events. Returns every problem found (the chain itself is `verify_jsonl`'s job).
///
/// `trusted`: the keys the auditor trusts (`--pubkey`). When given, the MANIFEST and the store
/// checkpoint must be signed by one of them, and `checkpoint.pub` must be one of them; when
/// empty, the bundle's own `checkpoint.pub` is used (which proves consistency, not origin).
pub fn verify_extras(dir: &Path, trusted: &[VerifyingKey]) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    let manifest = match std::fs::read_to_string(dir.join("MANIFEST")) {
        Ok(m) => m,
        Err(e) => {
            out.push(problem(
                "bundle_manifest_missing",
                format!("MANIFEST cannot be read: {e}"),
            ));
            String::new()
        }
    };
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in manifest.lines().enumerate() {
        match line.split_once("  ") {
            Some((h, name)) if h.len() == 64 && !name.contains('/') => {
                listed.insert(name.to_string(), h.to_string());
            }
            _ => out.push(problem(
                "bundle_manifest_malformed",
                format!("MANIFEST line {} is not `<sha256>  <file>`", i + 1),
            )),
        }
    }
    for (name, want) in &listed {
        match std::fs::read(dir.join(name)) {
            Ok(b) => {
                if hex::encode(Sha256::digest(&b)) != *want {
                    out.push(problem(
                        "bundle_file_modified",
                        format!("{name} does not match its SHA-256 in MANIFEST (modified)"),
                    ));
                }
            }
            Err(_) => out.push(problem(
                "bundle_file_missing",
                format!("{name} is listed in MANIFEST but missing"),
            )),
        }
    }
    if !manifest.is_empty() {
        for f in FILES {
            if !listed.contains_key(f) {
                out.push(problem(
                    "bundle_file_unlisted",
                    format!("MANIFEST does not list {f}"),
                ));
            }
        }
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut present: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    for name in present {
        if name != "MANIFEST" && name != "MANIFEST.sig" && !listed.contains_key(&name) {
            out.push(problem(
                "bundle_file_added",
                format!("{name} is not part of the bundle (not in MANIFEST)"),
            ));
        }
    }
    // The manifest's signature, by the bundle's keys (one per line; from the team store, the
    // exporting machine's first, then the hosts').
    let listed_keys: Option<Vec<VerifyingKey>> =
        std::fs::read_to_string(dir.join("checkpoint.pub"))
            .ok()
            .and_then(|t| {
                let keys: Option<Vec<_>> = t
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(public_key_from_hex)
                    .collect();
                keys.filter(|k| !k.is_empty())
            });
    if listed_keys.is_none() {
        out.push(problem(
            "bundle_key_missing",
            "checkpoint.pub is missing or not Ed25519 public keys, one per line",
        ));
    }
    let listed_keys = listed_keys.unwrap_or_default();
    if !trusted.is_empty() && listed_keys.iter().any(|k| !trusted.contains(k)) {
        out.push(problem(
            "bundle_key_untrusted",
            "checkpoint.pub holds a key you do not trust (--pubkey)",
        ));
    }
    let keys: Vec<VerifyingKey> = if trusted.is_empty() {
        listed_keys
    } else {
        trusted.to_vec()
    };
    if keys.is_empty() {
        return Ok(out);
    }
    let signer = if trusted.is_empty() {
        "checkpoint.pub"
    } else {
        "the key you trust"
    };
    let sig = std::fs::read_to_string(dir.join("MANIFEST.sig")).unwrap_or_default();
    if !manifest.is_empty()
        && !keys
            .iter()
            .any(|k| verify_sig(k, manifest.as_bytes(), sig.trim()))
    {
        out.push(problem(
            "bundle_manifest_signature",
            format!(
                "MANIFEST.sig does not verify with {signer} (MANIFEST or its signature replaced)"
            ),
        ));
    }
    // The store checkpoint: signed by the same key, consistent, and covering these events.
    let cp: Option<SignedCheckpoint> = std::fs::read(dir.join("checkpoint.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(cp) = cp else {
        out.push(problem(
            "bundle_checkpoint",
            "checkpoint.json is missing or not a flightlog checkpoint",
        ));
        return Ok(out);
    };
    let cp_key = public_key_from_hex(&cp.checkpoint.pubkey).filter(|k| keys.contains(k));
    if !cp_key.is_some_and(|k| verify_sig(&k, &cp.checkpoint.body_bytes(), &cp.sig)) {
        out.push(problem(
            "bundle_checkpoint",
            format!("checkpoint.json is not signed by {signer}"),
        ));
    }
    if StoreCheckpoint::compute_root(&cp.checkpoint.sessions) != cp.checkpoint.root {
        out.push(problem(
            "bundle_checkpoint",
            "checkpoint.json: the root does not match its session statements",
        ));
    }
    let events = std::fs::read(dir.join("events.jsonl")).unwrap_or_default();
    let mut hashes = Vec::new();
    let mut session = None;
    for line in events.split(|b| *b == b'\n') {
        if let Some((_, h, ev)) = split_export_line(line) {
            if session.is_none() {
                session = Event::from_bytes(ev).ok().map(|e| e.session);
            }
            hashes.push(h);
        }
    }
    let st = session
        .as_ref()
        .and_then(|s| cp.checkpoint.sessions.iter().find(|x| &x.session == s));
    match st {
        None => out.push(problem(
            "bundle_checkpoint",
            "checkpoint.json does not cover the exported session",
        )),
        Some(st) => {
            let n = st.count as usize;
            if n > hashes.len() {
                out.push(problem(
                    "bundle_checkpoint",
                    format!(
                        "checkpoint.json covers {n} events but events.jsonl has {} (truncated)",
                        hashes.len()
                    ),
                ));
            } else {
                let mut mb = MerkleBuilder::new();
                for h in &hashes[..n] {
                    mb.push_data(h);
                }
                let head = if n == 0 {
                    "0".repeat(64)
                } else {
                    hex::encode(hashes[n - 1])
                };
                if hex::encode(mb.root()) != st.root || head != st.head {
                    out.push(problem(
                        "bundle_checkpoint",
                        "the events are not the ones checkpoint.json signed (rewritten)",
                    ));
                }
            }
        }
    }
    Ok(out)
}
