//! The file `known` in the key directory: its lines, appends under a lock, and the atomic
//! rewrite that keeps it under its cap.

use super::*;

/// A line of the file: `k1 <fp> <kind> <len> <anchor> <hmac>`, or `k2` with the base64
/// widening (`<lead> <trail>`) after.
pub(super) fn parse_line(line: &str) -> Option<(u16, Entry)> {
    let mut it = line.split(' ');
    let version = it.next()?;
    if version != "k1" && version != "k2" {
        return None;
    }
    let fp = it.next()?;
    let kind = it.next()?;
    let len: usize = it.next()?.parse().ok()?;
    let anchor = u16::from_str_radix(it.next()?, 16).ok()?;
    let mut check = [0u8; 8];
    hex::decode_to_slice(it.next()?, &mut check).ok()?;
    let (lead, trail) = if version == "k2" {
        let lead: u8 = it.next()?.parse().ok()?;
        let trail: u8 = it.next()?.parse().ok()?;
        (lead, trail)
    } else {
        (0, 0)
    };
    let fp_ok = fp.len() == 16 && fp.bytes().all(|c| c.is_ascii_hexdigit());
    let kind_ok = !kind.is_empty()
        && kind.len() <= 40
        && kind
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    let ok = fp_ok
        && kind_ok
        && (ANCHOR..=MAX_LEN * 6).contains(&len)
        && lead <= 3
        && trail <= 3
        && it.next().is_none();
    ok.then(|| {
        let e = Entry {
            len,
            check,
            fp: fp.into(),
            kind: kind.into(),
            lead,
            trail,
        };
        (anchor, e)
    })
}

/// What identifies a file across a rename over it (its inode on Unix).
pub(super) fn file_id(m: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        0
    }
}

/// Appends `lines` to the file under its lock, and rewrites it when it has grown past `cap`.
pub(super) fn append_locked(path: &Path, lines: &str, cap: u64) -> std::io::Result<()> {
    let lock = open_append(&path.with_file_name(LOCK))?;
    lock.lock()?;
    let mut file = open_append(path)?;
    file.write_all(lines.as_bytes())?;
    if file.metadata()?.len() > cap {
        compact(path, cap)?;
    }
    Ok(())
}

/// Rewrites the file (the caller holds the lock): one line per form of a fingerprint (the
/// first), and only the newest values when that is still over `cap`, down to 3/4 of it. The new
/// file replaces the old one by a rename, so a reader sees one or the other, whole.
pub(super) fn compact(path: &Path, cap: u64) -> std::io::Result<()> {
    let raw = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&raw);
    // Values in the order they first appear, each with its distinct forms.
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<&str>> = HashMap::new();
    let mut forms: HashSet<(String, usize, [u8; 8])> = HashSet::new();
    for line in text.lines() {
        let Some((_, e)) = parse_line(line) else {
            continue;
        };
        if !forms.insert((e.fp.to_string(), e.len, e.check)) {
            continue;
        }
        let g = groups.entry(e.fp.to_string()).or_insert_with(|| {
            order.push(e.fp.to_string());
            Vec::new()
        });
        g.push(line);
    }
    let size = |fp: &String| -> u64 {
        groups
            .get(fp)
            .map_or(0, |g| g.iter().map(|l| l.len() as u64 + 1).sum())
    };
    let mut total: u64 = order.iter().map(size).sum();
    let mut first = 0;
    if total > cap {
        while first < order.len() && total > cap / 4 * 3 {
            total -= size(&order[first]);
            first += 1;
        }
    }
    let mut out = String::with_capacity(total as usize);
    for fp in &order[first..] {
        for l in groups.get(fp).map(Vec::as_slice).unwrap_or(&[]) {
            out.push_str(l);
            out.push('\n');
        }
    }
    let tmp = path.with_file_name(format!("{FILE}.tmp"));
    let mut o = std::fs::OpenOptions::new();
    o.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp)?;
    f.write_all(out.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub(super) fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}
