//! The working tree: the secret inventory at session start, and file changes while the agent
//! runs (create, modify, delete, rename) with unified diffs for text files.
//!
//! - One walk at start honours `.gitignore` files (and `.git/info/exclude`), skips `.git/` and
//!   the recorder's own files (the store, its `-wal`/`-shm`/`-journal`, the key directory). It
//!   builds the inventory (fingerprints and locations only) and a bounded snapshot of text files
//!   so the first change of a file has a real diff.
//! - Each non-ignored directory gets its own inotify watch (so `target/` or `node_modules/` cost
//!   nothing); new directories are watched as they appear.
//! - Bursts are coalesced (50 ms of quiet, at most 500 ms), then each touched path is compared
//!   with the snapshot. A watcher overflow or error becomes a `gap`, and the tree is rescanned.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use flightlog_formats::{Kind, NewEvent, Redactor};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::writer::Sink;

/// Files larger than this get hashes, not diffs.
pub const DIFF_LIMIT: u64 = 256 * 1024;
/// Files larger than this are not read at all (size only).
const HASH_LIMIT: u64 = 16 * 1024 * 1024;
/// Files larger than this are not scanned for secrets.
const SCAN_LIMIT: u64 = 1024 * 1024;
/// Bound on the text kept in the snapshot.
const SNAPSHOT_BYTES: usize = 64 * 1024 * 1024;
/// Bound on the files looked at by the walk.
const WALK_FILES: usize = 50_000;
/// A diff longer than this is cut.
const DIFF_MAX: usize = 128 * 1024;
const QUIET: Duration = Duration::from_millis(50);
/// At the end: how long the event queue must stay idle before the watcher stops.
const SETTLE: Duration = Duration::from_millis(8);
const MAX_DELAY: Duration = Duration::from_millis(500);

/// Paths the recorder writes and must never report.
#[derive(Debug, Clone, Default)]
pub struct OwnFiles {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

impl OwnFiles {
    /// The store's files and the key directory.
    pub fn for_store(db: &Path, key_dir: &Path) -> OwnFiles {
        let db = absolute(db);
        let mut files = vec![db.clone()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut s = db.clone().into_os_string();
            s.push(suffix);
            files.push(PathBuf::from(s));
        }
        OwnFiles {
            files,
            dirs: vec![absolute(key_dir)],
        }
    }

    fn contains(&self, p: &Path) -> bool {
        self.files.iter().any(|f| f == p) || self.dirs.iter().any(|d| p.starts_with(d))
    }
}

fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    // The file may not exist yet: canonicalize its directory.
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => dir
            .canonicalize()
            .map(|d| d.join(name))
            .unwrap_or_else(|_| p.to_path_buf()),
        _ => std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf()),
    }
}

/// Which paths of the tree are not ours to report.
pub struct Ignores {
    root: PathBuf,
    matchers: Vec<(PathBuf, Gitignore)>,
    own: OwnFiles,
}

impl Ignores {
    pub fn new(root: &Path, own: OwnFiles) -> Ignores {
        let mut ig = Ignores {
            root: root.to_path_buf(),
            matchers: Vec::new(),
            own,
        };
        // Ignore files of the directories above the root (inside the same repository) and
        // the repository's info/exclude.
        let mut dir = Some(root);
        while let Some(d) = dir {
            ig.add_dir(d);
            let exclude = d.join(".git/info/exclude");
            if exclude.is_file() {
                let mut b = GitignoreBuilder::new(d);
                b.add(&exclude);
                if let Ok(g) = b.build() {
                    ig.matchers.push((d.to_path_buf(), g));
                }
            }
            if d.join(".git").exists() {
                break;
            }
            dir = d.parent();
        }
        ig
    }

    /// Loads `dir/.gitignore` if there is one.
    fn add_dir(&mut self, dir: &Path) {
        let f = dir.join(".gitignore");
        if !f.is_file() {
            return;
        }
        let mut b = GitignoreBuilder::new(dir);
        b.add(&f);
        if let Ok(g) = b.build() {
            self.matchers.push((dir.to_path_buf(), g));
            // Deepest directories first: the nearest .gitignore decides.
            self.matchers
                .sort_by_key(|(d, _)| std::cmp::Reverse(d.components().count()));
        }
    }

    pub fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        if self.own.contains(path) {
            return true;
        }
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return true;
        };
        if rel.components().any(|c| c.as_os_str() == ".git") {
            return true;
        }
        for (dir, g) in &self.matchers {
            if !path.starts_with(dir) || path == dir {
                continue;
            }
            let m = g.matched_path_or_any_parents(path, is_dir);
            if m.is_ignore() {
                return true;
            }
            if m.is_whitelist() {
                return false;
            }
        }
        false
    }
}

/// What we know of a file.
#[derive(Debug, Clone, PartialEq)]
struct FileState {
    size: u64,
    sha256: Option<String>,
    /// The text, if it is a text file within the diff limit (and the snapshot budget).
    text: Option<String>,
    binary: bool,
}

fn read_state(path: &Path, keep_text: bool) -> Option<FileState> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let size = meta.len();
    if size > HASH_LIMIT {
        return Some(FileState {
            size,
            sha256: None,
            text: None,
            binary: true,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::fs::File::open(path)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let binary =
        bytes[..bytes.len().min(8192)].contains(&0) || std::str::from_utf8(&bytes).is_err();
    let text = (!binary && keep_text && bytes.len() as u64 <= DIFF_LIMIT)
        .then(|| String::from_utf8(bytes).ok())
        .flatten();
    Some(FileState {
        size: bytes_len(size, &text),
        sha256: Some(sha),
        text,
        binary,
    })
}

fn bytes_len(size: u64, text: &Option<String>) -> u64 {
    text.as_ref().map(|t| t.len() as u64).unwrap_or(size)
}

/// The result of the start-of-session walk.
pub struct Walk {
    pub inventory: Vec<Value>,
    pub truncated: bool,
    pub files: usize,
    dirs: Vec<PathBuf>,
    snapshot: HashMap<PathBuf, FileState>,
    pub ignores: Ignores,
}

/// Walks the tree once: inventory (if `redactor`) and snapshot (if `snapshot`).
pub fn walk(root: &Path, own: OwnFiles, redactor: Option<&Redactor>, snapshot: bool) -> Walk {
    let mut ignores = Ignores::new(root, own);
    let mut out = Walk {
        inventory: Vec::new(),
        truncated: false,
        files: 0,
        dirs: Vec::new(),
        snapshot: HashMap::new(),
        ignores: Ignores::new(root, OwnFiles::default()),
    };
    let mut budget = SNAPSHOT_BYTES;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        ignores.add_dir(&dir);
        out.dirs.push(dir.clone());
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_symlink() {
                continue;
            }
            if ignores.ignored(&p, ft.is_dir()) {
                continue;
            }
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            out.files += 1;
            if out.files > WALK_FILES {
                out.truncated = true;
                break;
            }
            let Some(st) = read_state(&p, snapshot && budget > 0) else {
                continue;
            };
            if let (Some(r), false) = (redactor, st.binary)
                && st.size <= SCAN_LIMIT
            {
                let text = match &st.text {
                    Some(t) => Some(t.clone()),
                    None => std::fs::read_to_string(&p).ok(),
                };
                if let Some(text) = text {
                    let rel = rel_str(root, &p);
                    for m in r.scan(&text) {
                        let line = text[..m.start].matches('\n').count() + 1;
                        out.inventory.push(json!({
                            "fp": m.fp, "kind": m.kind, "path": rel, "line": line,
                        }));
                    }
                }
            }
            if snapshot {
                budget = budget.saturating_sub(st.text.as_ref().map_or(0, String::len));
                out.snapshot.insert(p, st);
            }
        }
        if out.truncated {
            break;
        }
    }
    out.ignores = ignores;
    out
}

fn rel_str(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// What the watcher thread receives.
pub enum WMsg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// The running watcher; dropping it stops the watch.
pub struct WatchHandle {
    stop: std::sync::mpsc::Sender<WMsg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WatchHandle {
    /// Stops watching after reporting what is pending.
    pub fn finish(mut self) {
        let _ = self.stop.send(WMsg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts watching `root` with the state of `walk`.
pub fn start(root: &Path, walk: Walk, sink: Sink) -> Result<WatchHandle, notify::Error> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stop_tx = tx.clone();
    let mut watcher = notify::recommended_watcher(move |res| {
        let _ = tx.send(WMsg::Fs(res));
    })?;
    let mut state = State {
        root: root.to_path_buf(),
        snapshot: walk.snapshot,
        ignores: walk.ignores,
        sink,
        dirty: BTreeSet::new(),
        renames: Vec::new(),
        watch_errors: 0,
    };
    for d in &walk.dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            state.gap(
                "watch_failed",
                &format!("cannot watch {}: {e}", rel_str(root, d)),
            );
        }
    }
    let thread = std::thread::Builder::new()
        .name("flightlog-watch".into())
        .spawn(move || state.run(watcher, rx))
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(WatchHandle {
        stop: stop_tx,
        thread: Some(thread),
    })
}

struct State {
    root: PathBuf,
    snapshot: HashMap<PathBuf, FileState>,
    ignores: Ignores,
    sink: Sink,
    dirty: BTreeSet<PathBuf>,
    renames: Vec<(PathBuf, PathBuf)>,
    watch_errors: u64,
}

impl State {
    fn run(&mut self, mut watcher: notify::RecommendedWatcher, rx: Receiver<WMsg>) {
        let mut first: Option<Instant> = None;
        let mut last = Instant::now();
        let mut stopping = false;
        loop {
            let wait = match first {
                Some(f) => QUIET
                    .saturating_sub(last.elapsed())
                    .min(MAX_DELAY.saturating_sub(f.elapsed())),
                None => Duration::from_secs(3600),
            };
            match rx.recv_timeout(wait) {
                Ok(WMsg::Fs(res)) => {
                    self.take(res, &mut watcher);
                    last = Instant::now();
                    first.get_or_insert(last);
                    continue;
                }
                Ok(WMsg::Stop) => stopping = true,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stopping = true,
            }
            if stopping {
                // Changes the agent made just before it exited are already queued by the
                // kernel (inotify events are generated by the write itself); take what
                // arrives until the queue has been idle for SETTLE (at most QUIET in all).
                let grace = Instant::now() + QUIET;
                loop {
                    let wait = SETTLE.min(grace.saturating_duration_since(Instant::now()));
                    match rx.recv_timeout(wait) {
                        Ok(WMsg::Fs(res)) => self.take(res, &mut watcher),
                        Ok(WMsg::Stop) => {}
                        Err(_) => break,
                    }
                }
                self.report();
                return;
            }
            if first.is_some() {
                self.report();
                first = None;
            }
        }
    }

    fn gap(&mut self, reason: &str, detail: &str) {
        let ev = NewEvent::new(
            self.sink.now(),
            Kind::Gap,
            "watch",
            json!({"layer": "watch", "reason": reason, "detail": detail}),
        );
        self.sink.send("watch", ev);
    }

    fn take(
        &mut self,
        res: notify::Result<notify::Event>,
        watcher: &mut notify::RecommendedWatcher,
    ) {
        let ev = match res {
            Ok(ev) => ev,
            Err(e) => {
                self.watch_errors += 1;
                self.gap("watcher_error", &e.to_string());
                return;
            }
        };
        if ev.need_rescan() {
            self.gap(
                "watcher_overflow",
                "the file watcher's queue overflowed; changes were recovered by rescanning the tree",
            );
            self.rescan(watcher);
            return;
        }
        if let EventKind::Modify(ModifyKind::Name(RenameMode::Both)) = ev.kind
            && ev.paths.len() == 2
        {
            self.renames
                .push((ev.paths[0].clone(), ev.paths[1].clone()));
        }
        if matches!(ev.kind, EventKind::Access(_)) {
            return;
        }
        for p in ev.paths {
            if p.is_dir() {
                if matches!(
                    ev.kind,
                    EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
                ) && !self.ignores.ignored(&p, true)
                {
                    self.add_dir(&p, watcher);
                }
                continue;
            }
            if !self.ignores.ignored(&p, false) {
                self.dirty.insert(p);
            }
        }
    }

    /// A new directory: watch it, and look at what was created in it before the watch.
    fn add_dir(&mut self, dir: &Path, watcher: &mut notify::RecommendedWatcher) {
        self.ignores.add_dir(dir);
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            let detail = format!("cannot watch {}: {e}", rel_str(&self.root, dir));
            self.gap("watch_failed", &detail);
        }
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if self.ignores.ignored(&p, is_dir) {
                continue;
            }
            if is_dir {
                self.add_dir(&p, watcher);
            } else {
                self.dirty.insert(p);
            }
        }
    }

    fn rescan(&mut self, watcher: &mut notify::RecommendedWatcher) {
        let known: Vec<PathBuf> = self.snapshot.keys().cloned().collect();
        self.dirty.extend(known);
        let root = self.root.clone();
        self.add_dir(&root, watcher);
    }

    fn report(&mut self) {
        for (from, to) in std::mem::take(&mut self.renames) {
            if self.ignores.ignored(&to, false) && self.ignores.ignored(&from, false) {
                continue;
            }
            // A file we never knew renamed into place (an editor's or `sed -i`'s atomic save)
            // is a create or modify of the target; a path that changed again since is
            // compared as separate paths.
            if from.exists() || !to.is_file() || !self.snapshot.contains_key(&from) {
                if !self.ignores.ignored(&to, false) {
                    self.dirty.insert(to);
                }
                continue;
            }
            let before = self.snapshot.remove(&from);
            let after = read_state(&to, true);
            self.dirty.remove(&from);
            self.dirty.remove(&to);
            let Some(after) = after else { continue };
            let mut data = change_data(&self.root, &to, "rename", before.as_ref(), Some(&after));
            data["from"] = json!(rel_str(&self.root, &from));
            self.emit(data);
            self.snapshot.insert(to, after);
        }
        for p in std::mem::take(&mut self.dirty) {
            let before = self.snapshot.get(&p);
            let after = read_state(&p, true);
            let op = match (before, &after) {
                (None, None) => continue,
                (Some(_), None) => "delete",
                (None, Some(_)) => "create",
                (Some(b), Some(a))
                    if b.sha256 == a.sha256 && b.size == a.size && a.sha256.is_some() =>
                {
                    continue;
                }
                (Some(_), Some(_)) => "modify",
            };
            let data = change_data(&self.root, &p, op, before, after.as_ref());
            self.emit(data);
            match after {
                Some(a) => {
                    self.snapshot.insert(p, a);
                }
                None => {
                    self.snapshot.remove(&p);
                }
            }
        }
    }

    fn emit(&self, data: Value) {
        let ev = NewEvent::new(self.sink.now(), Kind::FileChange, "watch", data);
        self.sink.send("watch", ev);
    }
}

fn change_data(
    root: &Path,
    path: &Path,
    op: &str,
    before: Option<&FileState>,
    after: Option<&FileState>,
) -> Value {
    let binary = before.is_some_and(|b| b.binary) || after.is_some_and(|a| a.binary);
    let old = match before {
        Some(b) => b.text.as_deref(),
        None => Some(""),
    };
    let new = match after {
        Some(a) => a.text.as_deref(),
        None => Some(""),
    };
    let rel = rel_str(root, path);
    let diff = match (old, new, binary) {
        (Some(o), Some(n), false) if o != n => Some(unified(o, n, &rel)),
        _ => None,
    };
    json!({
        "path": rel,
        "op": op,
        "from": null,
        "diff": diff,
        "sha256_before": before.and_then(|b| b.sha256.clone()),
        "sha256_after": after.and_then(|a| a.sha256.clone()),
        "size": after.map(|a| a.size),
        "binary": binary,
    })
}

fn unified(old: &str, new: &str, rel: &str) -> String {
    let d = similar::TextDiff::from_lines(old, new);
    let mut s = d
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string();
    if s.len() > DIFF_MAX {
        let mut cut = DIFF_MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n[diff truncated]\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_and_own_files_are_skipped() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n*.log\n!keep.log\n").unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/.gitignore"), "local.txt\n").unwrap();
        let own = OwnFiles::for_store(&root.join("db.sqlite"), &root.join("keys"));
        let mut ig = Ignores::new(&root, own);
        ig.add_dir(&root.join("sub"));
        assert!(ig.ignored(&root.join("target/x.rs"), false));
        assert!(ig.ignored(&root.join("a.log"), false));
        assert!(!ig.ignored(&root.join("keep.log"), false));
        assert!(ig.ignored(&root.join("sub/local.txt"), false));
        assert!(!ig.ignored(&root.join("local.txt"), false));
        assert!(ig.ignored(&root.join("db.sqlite-wal"), false));
        assert!(ig.ignored(&root.join("keys/fingerprint.key"), false));
        assert!(ig.ignored(&root.join(".git/HEAD"), false));
        assert!(!ig.ignored(&root.join("src/main.rs"), false));
    }

    #[test]
    fn diffs_and_hashes() {
        let a = FileState {
            size: 4,
            sha256: Some("x".into()),
            text: Some("a\nb\n".into()),
            binary: false,
        };
        let b = FileState {
            size: 4,
            sha256: Some("y".into()),
            text: Some("a\nc\n".into()),
            binary: false,
        };
        let root = Path::new("/r");
        let d = change_data(root, Path::new("/r/f.txt"), "modify", Some(&a), Some(&b));
        let d = flightlog_formats::payload::FileChange::from_value(&d);
        let diff = d.diff.as_deref().unwrap();
        assert!(
            diff.contains("--- a/f.txt") && diff.contains("-b\n") && diff.contains("+c\n"),
            "{diff}"
        );
        let del = change_data(root, Path::new("/r/f.txt"), "delete", Some(&a), None);
        let del = flightlog_formats::payload::FileChange::from_value(&del);
        assert!(del.diff.as_deref().unwrap().contains("-a\n"));
        assert_eq!(del.sha256_after, None);
    }
}
