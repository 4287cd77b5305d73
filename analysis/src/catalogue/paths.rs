//! Paths of a command's operands against the work tree: lexical normalisation, `cd`, scratch
//! directories.

use super::*;

/// Scratch places where a recursive delete is routine.
pub(super) const SCRATCH: [&str; 4] = ["/tmp", "/var/tmp", "/dev/shm", "/private/tmp"];

/// Whether a path operand resolves outside the work tree (and outside scratch directories).
/// `~`, `$HOME` and `/` are always outside; variables other than `$HOME`/`$PWD` are unknown and
/// not counted.
pub fn outside_worktree(p: &str, wt: &WorkTree) -> bool {
    let p = p.trim();
    if p.is_empty() {
        return false;
    }
    if p == "~" || p.starts_with("~/") || p.starts_with("$HOME") || p.starts_with("${HOME}") {
        return true;
    }
    let p = p
        .strip_prefix("$PWD")
        .or_else(|| p.strip_prefix("${PWD}"))
        .map(|rest| format!(".{rest}"))
        .unwrap_or_else(|| p.to_string());
    if p.starts_with('$') || p.starts_with('~') {
        return false;
    }
    let cwd = wt.cwd.as_deref().or(wt.root.as_deref());
    let abs = if p.starts_with('/') {
        normalize(Path::new(&p))
    } else {
        match cwd {
            Some(c) => normalize(&Path::new(c).join(&p)),
            // Unknown cwd: only `..` can be seen to leave.
            None => return p.starts_with(".."),
        }
    };
    let abs_s = abs.to_string_lossy();
    // Strip a trailing glob component for the comparison (`/srv/data/*`), remembering that the
    // operand names what is in the directory rather than the directory itself.
    let globbed = abs_s.ends_with('*');
    let abs_s = abs_s
        .trim_end_matches("/*")
        .trim_end_matches('*')
        .to_string();
    if SCRATCH
        .iter()
        .any(|s| abs_s == *s || abs_s.starts_with(&format!("{s}/")))
    {
        // `rm -rf /tmp` itself is outside; `/tmp/build` and `/tmp/*` are scratch.
        return !globbed && SCRATCH.contains(&abs_s.as_str());
    }
    match wt.root.as_deref() {
        Some(root) => {
            let root = normalize(Path::new(root));
            let r = root.to_string_lossy();
            !(abs_s == r || abs_s.starts_with(&format!("{}/", r.trim_end_matches('/'))))
        }
        None => match cwd {
            Some(c) => {
                let c = normalize(Path::new(c));
                let c = c.to_string_lossy();
                !(abs_s == c || abs_s.starts_with(&format!("{}/", c.trim_end_matches('/'))))
            }
            None => true, // an absolute path with no idea where the work tree is
        },
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`), without touching the file system.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

/// The working directory after `cd ARG`.
pub fn resolve_cd(wt: &WorkTree, arg: Option<&str>) -> String {
    match arg {
        None | Some("~") => "~".into(),
        Some(a) if a.starts_with('/') => normalize(Path::new(a)).to_string_lossy().into_owned(),
        Some(a) if a.starts_with('~') || a.starts_with('$') => a.to_string(),
        Some(a) => match wt.cwd.as_deref().or(wt.root.as_deref()) {
            Some(c) => normalize(&Path::new(c).join(a))
                .to_string_lossy()
                .into_owned(),
            None => a.to_string(),
        },
    }
}
