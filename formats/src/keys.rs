//! Per-install keys: the Ed25519 checkpoint key and the HMAC key for secret fingerprints.
//!
//! Both live in a `keys/` directory beside the database, created 0700, files 0600. A key file
//! that group or others can read is refused. Creation is atomic (write a temporary file, then
//! hard-link it into place), so two processes starting at once agree on one key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const SIGNING_FILE: &str = "checkpoint.key";
const PUBLIC_FILE: &str = "checkpoint.pub";
const FINGERPRINT_FILE: &str = "fingerprint.key";

/// The keys a writer needs.
pub struct Keys {
    pub signing: SigningKey,
    pub fingerprint_key: [u8; 32],
    pub dir: PathBuf,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("key_id", &key_id(&self.signing.verifying_key()))
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The key directory that belongs to a database path.
pub fn key_dir_for(db: &Path) -> PathBuf {
    db.parent()
        .map(|p| p.join("keys"))
        .unwrap_or_else(|| PathBuf::from("keys"))
}

/// A short identifier of a public key: the first 16 hex digits of SHA-256 of its bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Creates a directory (and parents) with mode 0700 if it does not exist.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true).mode(0o700);
    b.create(dir).map_err(|e| Error::io(dir, e))
}

/// Refuses a file that group or others may read or write.
pub fn check_private(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::UnsafePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn random32() -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
    Ok(b)
}

/// Writes `contents` to `path` (mode 0600) only if it does not exist yet, atomically (a
/// concurrent creator wins or loses as a whole); returns what is there afterwards.
pub fn create_private_once(path: &Path, contents: &str) -> Result<String> {
    if !path.exists() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| Error::io(&tmp, e))?;
            f.write_all(contents.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(&tmp, e))?;
        }
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    check_private(path)?;
    fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

fn parse32(path: &Path, text: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|e| Error::BadKey {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

impl Keys {
    /// Loads the keys in `dir`, creating any that do not exist yet.
    pub fn load_or_create(dir: &Path) -> Result<Keys> {
        ensure_private_dir(dir)?;
        let sk_path = dir.join(SIGNING_FILE);
        let seed = parse32(
            &sk_path,
            &create_private_once(&sk_path, &hex::encode(random32()?))?,
        )?;
        let signing = SigningKey::from_bytes(&seed);
        let pub_path = dir.join(PUBLIC_FILE);
        let pub_hex = hex::encode(signing.verifying_key().as_bytes());
        if !pub_path.exists() {
            create_private_once(&pub_path, &format!("{pub_hex}\n"))?;
        }
        let fp_path = dir.join(FINGERPRINT_FILE);
        let fingerprint_key = parse32(
            &fp_path,
            &create_private_once(&fp_path, &hex::encode(random32()?))?,
        )?;
        Ok(Keys {
            signing,
            fingerprint_key,
            dir: dir.to_path_buf(),
        })
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }
}

/// Loads (creating if needed) only the fingerprint key: what a writer that never signs (a hook)
/// needs, without touching the signing key.
pub fn fingerprint_key(dir: &Path) -> Result<[u8; 32]> {
    ensure_private_dir(dir)?;
    let fp_path = dir.join(FINGERPRINT_FILE);
    parse32(
        &fp_path,
        &create_private_once(&fp_path, &hex::encode(random32()?))?,
    )
}

/// Reads a public key file (64 hex digits, as `checkpoint.pub` and bundles hold it).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    public_key_from_hex(text.trim()).ok_or_else(|| Error::BadKey {
        path: path.to_path_buf(),
        reason: "expected 64 hex digits of an Ed25519 public key".into(),
    })
}

/// The public keys of a file that holds one or more, one per line (64 hex digits each; blank
/// lines are ignored). A bundle from the team store lists the exporting machine's key and the
/// keys of the hosts that signed the session. Any other line makes the whole file unusable.
pub fn read_public_keys(path: &Path) -> Result<Vec<VerifyingKey>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::BadKey {
        path: path.to_path_buf(),
        reason,
    };
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let key = public_key_from_hex(line).ok_or_else(|| {
            bad(format!(
                "line {}: expected 64 hex digits of an Ed25519 public key",
                i + 1
            ))
        })?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(bad("expected 64 hex digits of an Ed25519 public key".into()));
    }
    Ok(keys)
}

pub fn public_key_from_hex(s: &str) -> Option<VerifyingKey> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).ok()?;
    VerifyingKey::from_bytes(&b).ok()
}

/// The trusted public keys of a key directory: the current key and any archived `*.pub`.
///
/// Reading does not create anything; a missing directory gives an empty list.
pub fn trusted_public_keys(dir: &Path) -> Result<Vec<VerifyingKey>> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    for p in paths {
        out.push(read_public_key(&p)?);
    }
    if out.is_empty() {
        let sk_path = dir.join(SIGNING_FILE);
        if sk_path.exists() {
            check_private(&sk_path)?;
            let text = fs::read_to_string(&sk_path).map_err(|e| Error::io(&sk_path, e))?;
            out.push(SigningKey::from_bytes(&parse32(&sk_path, &text)?).verifying_key());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_stable() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("keys");
        let a = Keys::load_or_create(&dir).unwrap();
        let b = Keys::load_or_create(&dir).unwrap();
        assert_eq!(a.verifying_key(), b.verifying_key());
        assert_eq!(a.fingerprint_key, b.fingerprint_key);
        for f in [SIGNING_FILE, FINGERPRINT_FILE] {
            let m = fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o600, "{f}");
        }
        let m = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o700);
        assert_eq!(trusted_public_keys(&dir).unwrap(), vec![a.verifying_key()]);
    }

    #[test]
    fn a_key_file_holds_one_key_or_more_one_per_line() {
        let d = tempfile::tempdir().unwrap();
        let a = hex::encode(
            Keys::load_or_create(&d.path().join("a"))
                .unwrap()
                .verifying_key()
                .as_bytes(),
        );
        let b = hex::encode(
            Keys::load_or_create(&d.path().join("b"))
                .unwrap()
                .verifying_key()
                .as_bytes(),
        );
        let cases: [(String, Option<usize>); 7] = [
            (format!("{a}\n"), Some(1)),
            (a.clone(), Some(1)),
            (format!("{a}\n{b}\n"), Some(2)),
            (format!("\n{a}\n\n  {b}  \n"), Some(2)),
            (format!("{a}\n{a}\n"), Some(1)),
            (format!("{a}\nnot a key\n"), None),
            ("\n\n".to_string(), None),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            let p = d.path().join(format!("k{i}.pub"));
            fs::write(&p, text).unwrap();
            let got = read_public_keys(&p).ok().map(|k| k.len());
            assert_eq!(got, *want, "{text:?}");
        }
    }

    #[test]
    fn refuses_world_readable_key() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("keys");
        Keys::load_or_create(&dir).unwrap();
        fs::set_permissions(dir.join(SIGNING_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keys::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, Error::UnsafePermissions { .. }), "{err}");
    }
}
