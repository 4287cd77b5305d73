//! Global options and the things every command needs: where the store is, the keys, the policy
//! path, the clock, and whether output goes to a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flightlog_analysis::Policy;
use flightlog_analysis::session::{self, SessionView};
use flightlog_formats::{Keys, Redactor, Store, keys::key_dir_for};

/// Options shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// The store (else FLIGHTLOG_DB, else $XDG_DATA_HOME/flightlog/flightlog.db); reading
    /// commands also take the team store's postgres://URL.
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    /// The policy file (else FLIGHTLOG_POLICY, else ./flightlog.toml if present, else defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// What a command runs with.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub db: PathBuf,
    pub policy: Option<PathBuf>,
    pub color: bool,
    pub stdout_tty: bool,
}

impl Ctx {
    pub fn from_opts(opts: &GlobalOpts) -> Result<Ctx> {
        let db = match &opts.db {
            Some(p) => p.clone(),
            None => default_db()?,
        };
        // A team store URL is not a path.
        let db = match db.to_str() {
            Some(u) if flightlog_formats::store::pg::is_url(u) => db,
            _ => real_path(db),
        };
        let policy = opts
            .policy
            .clone()
            .or_else(|| std::env::var_os("FLIGHTLOG_POLICY").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("flightlog.toml");
                p.is_file().then_some(p)
            });
        let stdout_tty = std::io::stdout().is_terminal();
        let color = stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Ok(Ctx {
            db,
            policy,
            color,
            stdout_tty,
        })
    }

    /// Refuses a `--db postgres://` URL: for the commands that write a local store, before they
    /// do anything else.
    pub fn require_local(&self) -> Result<()> {
        if self.db_url().is_some() {
            anyhow::bail!(
                "{} is the team store: this command writes a local store (use --db PATH; \
                 `flightlog push` ships local sessions to the team store)",
                self.db_shown()
            );
        }
        Ok(())
    }

    /// Opens the store for writing (creating it), and seals sessions whose recorder died
    /// (kill -9, power loss) with a `gap` event: the next flightlog run that can write does it.
    pub fn open_rw(&self) -> Result<Store> {
        self.require_local()?;
        let store = Store::open(&self.db)
            .with_context(|| format!("cannot open the store {}", self.db.display()))?;
        let redactor = self.redactor()?;
        store
            .seal_dead_writers(&redactor, self.now())
            .context("cannot seal the sessions of recorders that died")?;
        Ok(store)
    }

    /// The team store's URL when `--db` names one.
    pub fn db_url(&self) -> Option<&str> {
        self.db
            .to_str()
            .filter(|s| flightlog_formats::store::pg::is_url(s))
    }

    /// The store as it may be shown (a URL without its password).
    pub fn db_shown(&self) -> String {
        match self.db_url() {
            Some(u) => flightlog_formats::store::pg::display_url(u),
            None => self.db.display().to_string(),
        }
    }

    /// Opens an existing store read-only: the SQLite file, or the team store on PostgreSQL.
    pub fn open_ro(&self) -> Result<Store> {
        if let Some(url) = self.db_url() {
            return Store::open_postgres(url)
                .with_context(|| format!("cannot open the team store {}", self.db_shown()));
        }
        Store::open_read_only(&self.db)
            .with_context(|| format!("cannot open the store {}", self.db.display()))
    }

    /// The keys a store's checkpoints are checked against when no `--pubkey` is given.
    pub fn store_trust(&self, store: &Store) -> Result<flightlog_formats::verify::Trust> {
        if store.is_remote() {
            // The team store's own host keys; no local directory is involved.
            return flightlog_formats::verify::default_trust(store, Path::new(""))
                .context("cannot read the team store's host keys");
        }
        flightlog_formats::verify::default_trust(store, &self.key_dir()?)
            .context("cannot read the signing keys")
    }

    /// The key directory beside the local store. The team store has none on this machine (its
    /// hosts' public keys are in the store): a path made of a URL (`postgres:/u@h/keys`) is
    /// never read or created.
    pub fn key_dir(&self) -> Result<PathBuf> {
        if self.db_url().is_some() {
            anyhow::bail!(
                "{} is the team store: it has no key directory on this machine (the keys of the \
                 hosts that pushed are in the store); use --db PATH for the local store",
                self.db_shown()
            );
        }
        Ok(key_dir_for(&self.db))
    }

    /// Loads (creating on first use) the per-install keys.
    pub fn keys(&self) -> Result<Keys> {
        let dir = self.key_dir()?;
        Keys::load_or_create(&dir)
            .with_context(|| format!("cannot load the keys in {}", dir.display()))
    }

    /// This machine's own keys, for what it signs itself: the keys of the local store, also when
    /// `--db` names the team store (a bundle exported from it is signed by the exporter, the
    /// sessions in it by their hosts). The local store is FLIGHTLOG_DB when that is a path, else
    /// the default one.
    pub fn own_keys(&self) -> Result<Keys> {
        if self.db_url().is_none() {
            return self.keys();
        }
        let local = match default_db()? {
            p if p.to_str().is_some_and(flightlog_formats::store::pg::is_url) => xdg_db()?,
            p => real_path(p),
        };
        let dir = key_dir_for(&local);
        Keys::load_or_create(&dir)
            .with_context(|| format!("cannot load this machine's keys in {}", dir.display()))
    }

    /// The redactor, with the per-install fingerprint key (the signing key is not loaded) and
    /// the secrets other processes of the install have recognised (the key directory's `known`).
    pub fn redactor(&self) -> Result<Redactor> {
        let dir = self.key_dir()?;
        let key = flightlog_formats::keys::fingerprint_key(&dir)
            .with_context(|| format!("cannot load the keys in {}", dir.display()))?;
        Ok(Redactor::with_known_file(key, &dir))
    }

    /// The policy: `--policy`, else FLIGHTLOG_POLICY, else ./flightlog.toml, else the built-in
    /// defaults.
    pub fn policy(&self) -> Result<Policy> {
        Policy::load(self.policy.as_deref()).map_err(anyhow::Error::new)
    }

    /// One session as every output sees it ([`session::load`]): events, analysis, verification.
    /// Events that cannot be read are named on stderr, never silently left out.
    pub fn session_view(&self, store: &Store, id: &str, policy: &Policy) -> Result<SessionView> {
        let view = session::load(store, id, policy, &self.store_trust(store)?)
            .with_context(|| format!("cannot load session {id}"))?;
        warn_unreadable(&view);
        Ok(view)
    }

    /// The current time (the one place the binary reads the wall clock; tests set
    /// FLIGHTLOG_FAKE_NOW to an RFC 3339 time to make output deterministic).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        now()
    }
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    if let Some(t) = std::env::var("FLIGHTLOG_FAKE_NOW")
        .ok()
        .and_then(|s| flightlog_formats::event::parse_ts(&s))
    {
        return t;
    }
    chrono::Utc::now()
}

/// The store's real path: a store reached through a symlink keeps its keys (and so its
/// signatures and secret fingerprints) beside the real file, not beside the link. A path that
/// does not exist yet is resolved through its directory.
fn real_path(db: PathBuf) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(&db) {
        return p;
    }
    match (db.parent(), db.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or(db)
        }
        _ => db,
    }
}

fn default_db() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("FLIGHTLOG_DB").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    xdg_db()
}

/// $XDG_DATA_HOME/flightlog/flightlog.db (XDG_DATA_HOME defaulting to ~/.local/share).
fn xdg_db() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .context("neither --db, FLIGHTLOG_DB, XDG_DATA_HOME nor HOME is set")?;
            Path::new(&home).join(".local/share")
        }
    };
    Ok(base.join("flightlog").join("flightlog.db"))
}

/// Names on stderr the events of a view that could not be read (they are left out of the
/// analysis; verification reports them too).
pub fn warn_unreadable(view: &SessionView) {
    for u in &view.unreadable {
        eprintln!(
            "flightlog: warning: event {} of session {} is unreadable ({}); it is left out of the analysis",
            u.seq,
            view.session,
            flightlog_formats::text::line(&u.error)
        );
    }
}
