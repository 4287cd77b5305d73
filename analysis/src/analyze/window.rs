//! The critical window: the cause chain from the first error or secret read to the action
//! it led to.

use super::*;

impl Timeline<'_> {
    /// The index of an event's facts; every event a cause chain cites has some.
    pub(super) fn idx_of(&self, seq: u64) -> Option<usize> {
        self.facts.binary_search_by_key(&seq, |f| f.seq).ok()
    }

    pub(super) fn time(&self, i: usize) -> Option<chrono::DateTime<chrono::Utc>> {
        self.times.get(i).copied().flatten()
    }

    pub(super) fn describe(&self, seq: u64) -> String {
        self.described.get(&seq).cloned().unwrap_or_default()
    }
}

pub(super) fn window(
    tl: &Timeline<'_>,
    secrets: &[SecretTrail],
    errors: &[(usize, bool, String)],
    crossings: &[Crossing],
    destructive: &[Destructive],
) -> Option<Window> {
    let idx_of = |seq: u64| tl.idx_of(seq);
    let facts = tl.facts;
    // Seqs of crossings (reported, or a fact's), so each destructive action is checked in O(1).
    let crossing_seqs: HashSet<u64> = crossings
        .iter()
        .map(|c| c.seq)
        .chain(facts.iter().filter(|f| f.crossing).map(|f| f.seq))
        .collect();
    let anchor_seq = destructive
        .iter()
        .find(|d| crossing_seqs.contains(&d.seq))
        .map(|d| d.seq)
        .or_else(|| crossings.first().map(|c| c.seq))
        .or_else(|| destructive.first().map(|d| d.seq))?;
    let anchor = idx_of(anchor_seq)?;
    // The secret behind it: used by the anchor (or the same action at nearby layers), seen before.
    let used: Vec<&String> = facts[anchor].secret_uses.iter().collect();
    // The read that matters is the agent's (tool output, file read), not the inventory.
    let read_of = |s: &SecretTrail| s.read_seq.unwrap_or(u64::MAX);
    let secret = secrets
        .iter()
        .filter(|s| used.contains(&&s.fingerprint) && read_of(s) < anchor_seq)
        .min_by_key(|s| read_of(s));
    let limit_seq = secret.map(read_of).unwrap_or(anchor_seq);
    let limit = idx_of(limit_seq)?;
    let limit_t = tl.time(limit);
    let within = |i: usize, mins: i64| match (tl.time(i), limit_t) {
        (Some(a), Some(b)) => (b - a).num_minutes() <= mins,
        _ => true,
    };
    let error = errors
        .iter()
        .filter(|(i, cred, _)| *i < limit && *cred && within(*i, 10))
        .min_by_key(|(i, ..)| *i)
        .or_else(|| {
            errors
                .iter()
                .filter(|(i, ..)| *i < limit && within(*i, 10))
                .max_by_key(|(i, ..)| *i)
        });
    let start = error
        .map(|(i, ..)| *i)
        .or(secret.and_then(|s| idx_of(read_of(s))))?;
    if start >= anchor {
        return None;
    }
    let mut steps = Vec::new();
    if let Some((i, cred, text)) = error {
        steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: facts[*i].seq,
            role: "error".into(),
            text: format!(
                "{}{}",
                if *cred {
                    "credential failure: "
                } else {
                    "error: "
                },
                truncate(text, 160)
            ),
        });
    }
    if let Some(s) = secret {
        let read = read_of(s);
        let how = Some(tl.describe(read))
            .filter(|d| !d.is_empty())
            .map(|d| format!(" by {d}"))
            .unwrap_or_default();
        steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: read,
            role: "secret_read".into(),
            text: format!(
                "{} token {} read{}{}",
                s.kind,
                s.fingerprint,
                s.read_location
                    .as_ref()
                    .or(s.location.as_ref())
                    .map(|l| format!(" from {l}"))
                    .unwrap_or_default(),
                how
            ),
        });
        for &u in s
            .used_in_seqs
            .iter()
            .filter(|&&u| u > read && u < anchor_seq)
        {
            steps.push(CauseStep {
                offset_seconds: 0.0,
                seq: u,
                role: "secret_use".into(),
                text: format!("token {} used: {}", s.fingerprint, tl.describe(u)),
            });
        }
    }
    if let Some(c) = crossings
        .iter()
        .find(|c| c.seq < anchor_seq && c.seq > facts[start].seq)
    {
        steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: c.seq,
            role: "crossing".into(),
            text: format!(
                "crosses from {} to {}: {}",
                c.from,
                c.to,
                tl.describe(c.seq)
            ),
        });
    }
    let anchor_text = tl.describe(anchor_seq);
    match destructive.iter().find(|d| d.seq == anchor_seq) {
        Some(d) => {
            let crossing = crossings.iter().find(|c| c.seq == anchor_seq);
            steps.push(CauseStep {
                offset_seconds: 0.0,
                seq: anchor_seq,
                role: "destructive".into(),
                text: format!(
                    "{} ({}){}: {}",
                    d.rule,
                    d.severity,
                    crossing
                        .map(|c| format!(", crossing from {} to {}", c.from, c.to))
                        .unwrap_or_default(),
                    anchor_text
                ),
            });
        }
        None => steps.push(CauseStep {
            offset_seconds: 0.0,
            seq: anchor_seq,
            role: "crossing".into(),
            text: anchor_text,
        }),
    }
    steps.sort_by_key(|s| s.seq);
    let t0 = tl.time(start);
    for st in &mut steps {
        if let (Some(a), Some(b)) = (t0, idx_of(st.seq).and_then(|i| tl.time(i))) {
            st.offset_seconds = (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6;
        }
    }
    let seconds = match (tl.time(start), tl.time(anchor)) {
        (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    Some(Window {
        from_seq: facts[start].seq,
        to_seq: anchor_seq,
        seconds,
        steps,
    })
}
