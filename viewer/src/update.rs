//! All state transitions: `update(state, msg) -> Option<Effect>`. No I/O, no clock: time comes
//! in as `Msg::Tick(dt)`, data as messages from the loader, and work goes out as [`Effect`]s.

use crate::action::{Action, GoTo, Marker, PromptKind};
use crate::layout;
use crate::state::{
    Effect, Filter, Findings, Index, MAX_PAGES, Message, Mode, Msg, PAGE, Pending, Prompt, State,
    Tab, VerifyState, flag, fold,
};

/// Applies one message and returns the work the runtime should do.
pub fn update(state: &mut State, msg: Msg) -> Option<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Action(a) => {
            state.message = None;
            action(state, a, &mut fx);
        }
        Msg::Tick(dt) => tick(state, dt),
        Msg::Resize(w, h) => {
            state.size = (w, h);
            ensure_visible(state);
        }
        Msg::Sessions(Ok(rows)) => {
            state.picker.sessions = rows;
            state.picker.loaded = true;
            state.picker.selected = state
                .picker
                .selected
                .min(state.picker.sessions.len().saturating_sub(1));
        }
        Msg::Sessions(Err(e)) | Msg::LoadError(e) => {
            state.load_error = Some(e.clone());
            say_error(state, e);
        }
        Msg::Opened(info) => {
            state.mode = Mode::Replay;
            state.session = Some(info);
        }
        Msg::Indexed(chunk) => indexed(state, chunk),
        Msg::Page(no, events) => {
            state.pages.requested.remove(&no);
            state.pages.map.insert(no, events);
            evict(state);
        }
        Msg::Screen(snap) => state.screen = Some(snap),
        Msg::SearchResult {
            query,
            forward,
            seq,
            ..
        } => {
            state.searching = false;
            match seq {
                Some(seq) => match state.index.find(seq).map(|p| row_pos(state, p)) {
                    Some(Some(pos)) => {
                        let row = row_for_pos(state, pos);
                        move_to(state, row);
                        let on = state.current().map(|e| e.seq).unwrap_or(seq);
                        if on == seq {
                            say(state, format!("/{query}: seq {seq}"));
                        } else {
                            say(state, format!("/{query}: seq {seq} (on seq {on}'s row)"));
                        }
                    }
                    _ => {
                        // Hidden by the filter (or not indexed yet): keep looking past it.
                        state.searching = true;
                        fx.push(Effect::Search {
                            query,
                            from: seq,
                            forward,
                        });
                    }
                },
                None => say_error(state, format!("not found: {query}")),
            }
        }
        Msg::Verified(v) => {
            state.verify = v;
            mark_all(state);
            rebuild_rows(state);
        }
        Msg::Analyzed(f) => {
            state.findings = f;
            mark_all(state);
            rebuild_rows(state);
            resolve_pending(state);
        }
    }
    if state.mode == Mode::Replay {
        needs(state, &mut fx);
    }
    match fx.len() {
        0 => None,
        1 => fx.pop(),
        _ => Some(Effect::Batch(fx)),
    }
}

fn say(state: &mut State, text: String) {
    state.message = Some(Message { text, error: false });
}

fn say_error(state: &mut State, text: String) {
    state.message = Some(Message { text, error: true });
}

fn action(state: &mut State, a: Action, fx: &mut Vec<Effect>) {
    if state.mode == Mode::Picker && state.prompt.is_none() {
        picker_action(state, a, fx);
        return;
    }
    let page = layout::timeline_rows(state.size).max(1);
    match a {
        Action::Quit => {
            if state.help {
                state.help = false;
            } else if state.prompt.is_some() {
                state.prompt = None;
            } else {
                state.quit = true;
                fx.push(Effect::Quit);
            }
        }
        Action::Next => step(state, 1),
        Action::Prev => step(state, -1),
        Action::PageDown => step(state, page as i64),
        Action::PageUp => step(state, -(page as i64)),
        Action::First => {
            state.follow = false;
            move_to(state, 0);
        }
        Action::Last => {
            if state.index.complete {
                move_to(state, state.rows().saturating_sub(1));
            } else {
                state.pending = Some(Pending::Last);
                move_to(state, state.rows().saturating_sub(1));
                say(state, "still indexing: moving to the end when done".into());
            }
        }
        Action::PlayPause => {
            if !state.player.playing && state.cursor + 1 >= state.rows() && state.rows() > 0 {
                move_to(state, 0);
            }
            state.player.toggle();
        }
        Action::Faster => state.player.faster(),
        Action::Slower => state.player.slower(),
        Action::Jump(m, fwd) => jump(state, m, fwd),
        Action::OpenPrompt(kind) => {
            let input = match kind {
                PromptKind::Filter => state.filter.describe(),
                _ => String::new(),
            };
            state.prompt = Some(Prompt { kind, input });
        }
        Action::Input(c) => {
            if let Some(p) = &mut state.prompt
                && p.input.chars().count() < 200
                && !c.is_control()
            {
                p.input.push(c);
            }
        }
        Action::Backspace => {
            if let Some(p) = &mut state.prompt {
                p.input.pop();
            }
        }
        Action::Cancel => state.prompt = None,
        Action::Submit => {
            if let Some(p) = state.prompt.take() {
                let next = match p.kind {
                    PromptKind::GoTo => match GoTo::parse(&p.input) {
                        Some(g) => Some(Action::GoTo(g)),
                        None => {
                            say_error(
                                state,
                                format!("not a seq or time: {} (try 42 or +12.5s)", p.input),
                            );
                            None
                        }
                    },
                    PromptKind::Search => {
                        (!p.input.is_empty()).then(|| Action::Search(p.input.clone()))
                    }
                    PromptKind::Filter => Some(Action::SetFilter(p.input.clone())),
                };
                if let Some(n) = next {
                    action(state, n, fx);
                }
            }
        }
        Action::GoTo(g) => goto(state, g),
        Action::SetFilter(s) => match Filter::parse(&s) {
            Ok(f) => {
                state.filter = f;
                apply_filter(state);
                if state.rows() == 0 && !state.index.entries.is_empty() {
                    say_error(
                        state,
                        "no event matches the filter (f, then empty, clears it)".into(),
                    );
                }
            }
            Err(e) => say_error(state, e),
        },
        Action::Search(q) => {
            state.last_search = Some(q.clone());
            search(state, q, true, fx);
        }
        Action::SearchAgain(fwd) => match state.last_search.clone() {
            Some(q) => search(state, q, fwd, fx),
            None => say_error(state, "no search yet (/ to search)".into()),
        },
        Action::NextTab(fwd) => {
            let i = Tab::ALL.iter().position(|t| *t == state.tab).unwrap_or(0);
            let n = Tab::ALL.len();
            state.tab = Tab::ALL[if fwd { (i + 1) % n } else { (i + n - 1) % n }];
            state.detail_scroll = 0;
        }
        Action::ScrollDetail(d) => {
            state.detail_scroll = (state.detail_scroll as i32 + d).clamp(0, u16::MAX as i32) as u16;
        }
        Action::ToggleHelp => state.help = !state.help,
        Action::ToggleAllRows => {
            state.all_rows = !state.all_rows;
            rebuild_rows(state);
            if state.all_rows {
                say(
                    state,
                    "all rows: flightlog's own hook processes and exec ends too (a: fold them)"
                        .into(),
                );
            } else {
                say(
                    state,
                    "folded: the agent's actions only (a: all rows)".into(),
                );
            }
        }
        Action::ToggleFollow => {
            state.follow = !state.follow;
            if state.follow {
                move_to(state, state.rows().saturating_sub(1));
                say(state, "following new events (F to stop)".into());
            }
        }
        Action::Open => {}
    }
}

fn picker_action(state: &mut State, a: Action, fx: &mut Vec<Effect>) {
    let n = state.picker.sessions.len();
    let sel = &mut state.picker.selected;
    match a {
        Action::Quit => {
            if state.help {
                state.help = false;
            } else {
                state.quit = true;
                fx.push(Effect::Quit);
            }
        }
        Action::Next => *sel = (*sel + 1).min(n.saturating_sub(1)),
        Action::Prev => *sel = sel.saturating_sub(1),
        Action::First => *sel = 0,
        Action::Last => *sel = n.saturating_sub(1),
        Action::ToggleHelp => state.help = !state.help,
        Action::Open => {
            if let Some(s) = state.picker.sessions.get(*sel) {
                fx.push(Effect::OpenSession(s.id.clone()));
            }
        }
        _ => {}
    }
}

fn search(state: &mut State, query: String, forward: bool, fx: &mut Vec<Effect>) {
    let from = state.current().map(|e| e.seq).unwrap_or(0);
    state.searching = true;
    say(state, format!("searching for {query}..."));
    fx.push(Effect::Search {
        query,
        from,
        forward,
    });
}

/// Moves by `delta` rows.
fn step(state: &mut State, delta: i64) {
    let rows = state.rows();
    if rows == 0 {
        return;
    }
    let to = (state.cursor as i64 + delta).clamp(0, rows as i64 - 1) as usize;
    if delta < 0 {
        state.follow = false;
    }
    move_to(state, to);
}

/// Puts the cursor on a row.
pub fn move_to(state: &mut State, row: usize) {
    let rows = state.rows();
    let row = row.min(rows.saturating_sub(1));
    if row != state.cursor {
        state.detail_scroll = 0;
    }
    state.cursor = row;
    state.player.reset_carry();
    ensure_visible(state);
}

/// Keeps the cursor row inside the drawn window.
fn ensure_visible(state: &mut State) {
    let h = layout::timeline_rows(state.size).max(1);
    let rows = state.rows();
    if state.cursor < state.scroll {
        state.scroll = state.cursor;
    } else if state.cursor >= state.scroll + h {
        state.scroll = state.cursor + 1 - h;
    }
    state.scroll = state.scroll.min(rows.saturating_sub(1));
}

fn marker_flag(m: Marker) -> u8 {
    match m {
        Marker::Crossing => flag::CROSSING,
        Marker::Destructive => flag::DESTRUCTIVE,
        Marker::SecretUse => flag::SECRET_USE,
        Marker::Error => flag::ERROR,
        Marker::Gap => flag::GAP,
        Marker::Break => flag::BROKEN,
    }
}

fn marker_name(m: Marker) -> &'static str {
    match m {
        Marker::Crossing => "boundary crossing",
        Marker::Destructive => "destructive action",
        Marker::SecretUse => "secret use",
        Marker::Error => "error",
        Marker::Gap => "gap",
        Marker::Break => "chain break",
    }
}

/// Finds the next (or previous) visible row carrying a marker.
pub fn find_marker(state: &State, m: Marker, forward: bool) -> Option<usize> {
    let f = marker_flag(m);
    let has = |row: usize| state.entry_of_row(row).is_some_and(|e| e.marks() & f != 0);
    if forward {
        (state.cursor + 1..state.rows()).find(|r| has(*r))
    } else {
        (0..state.cursor).rev().find(|r| has(*r))
    }
}

fn jump(state: &mut State, m: Marker, forward: bool) {
    match find_marker(state, m, forward) {
        Some(row) => {
            move_to(state, row);
            if m == Marker::Crossing {
                state.tab = Tab::Detail;
            }
        }
        None => {
            let dir = if forward { "after" } else { "before" };
            let mut text = format!("no {} {dir} this event", marker_name(m));
            if !state.index.complete {
                text.push_str(" (still indexing)");
            } else if matches!(
                m,
                Marker::Crossing | Marker::Destructive | Marker::SecretUse
            ) && state.findings.source == crate::state::FindingsSource::Pending
            {
                text.push_str(" (analysis still running)");
            } else if m == Marker::Break && state.verify == VerifyState::Pending {
                text.push_str(" (verification still running)");
            }
            say(state, text);
        }
    }
}

fn goto(state: &mut State, g: GoTo) {
    match g {
        GoTo::Seq(seq) => {
            let last = state.index.entries.last().map(|e| e.seq);
            if last.is_none_or(|l| l < seq) && !state.index.complete {
                state.pending = Some(Pending::Seq(seq));
                say(
                    state,
                    format!("seq {seq} is not indexed yet; going there when it is"),
                );
                return;
            }
            let pos = state
                .index
                .position_of(seq)
                .min(state.index.entries.len().saturating_sub(1));
            if state.index.entries.get(pos).is_some_and(|e| e.seq != seq) {
                say(state, format!("no seq {seq}; showing the next event"));
            }
            let row = row_for_pos(state, pos);
            move_to(state, row);
        }
        GoTo::Time(secs) => {
            let target = state.index.base_us() + (secs * 1e6) as i64;
            let pos = state.index.entries.partition_point(|e| e.t_us < target);
            let pos = pos.min(state.index.entries.len().saturating_sub(1));
            let row = row_for_pos(state, pos);
            move_to(state, row);
        }
    }
}

/// The row showing `pos`, or the first row after it in time order.
fn row_for_pos(state: &State, pos: usize) -> usize {
    let Some(key) = state.index.entries.get(pos).map(|e| e.order_key()) else {
        return state.rows().saturating_sub(1);
    };
    let entries = &state.index.entries;
    state
        .visible
        .partition_point(|p| entries[*p as usize].order_key() < key)
        .min(state.visible.len().saturating_sub(1))
}

/// The position whose row shows `pos`: itself, or the exec an end event is folded into.
fn row_pos(state: &State, pos: usize) -> Option<usize> {
    let e = state.index.entries.get(pos)?;
    if state.has_row(e) {
        return Some(pos);
    }
    if e.fold & fold::EXIT != 0 {
        let exec = state
            .index
            .exits
            .iter()
            .find_map(|(x, end)| (*end == e.seq).then_some(*x))?;
        let p = state.index.find(exec)?;
        return state.has_row(&state.index.entries[p]).then_some(p);
    }
    None
}

/// Recomputes the rows (filter, folding, time order), keeping the cursor on its event.
pub fn rebuild_rows(state: &mut State) {
    let keep = state.current().map(|e| e.seq);
    let st = &*state;
    let entries = &st.index.entries;
    let filter = st.filter.compile(&st.index);
    let mut rows: Vec<u32> = (0..entries.len())
        .filter(|i| {
            let e = &entries[*i];
            (st.all_rows || e.shown_by_default()) && filter.matches(e)
        })
        .map(|i| i as u32)
        .collect();
    // Nearly sorted already (time mostly follows seq): one pass when it is, and the stable
    // sort's run detection keeps it close to linear when it is not.
    if !rows.is_sorted_by_key(|p| entries[*p as usize].order_key()) {
        rows.sort_by_key(|p| entries[*p as usize].order_key());
    }
    state.visible = rows;
    if let Some(seq) = keep {
        let pos = state.index.position_of(seq);
        state.cursor = row_for_pos(state, pos);
    }
    state.cursor = state.cursor.min(state.rows().saturating_sub(1));
    ensure_visible(state);
}

fn apply_filter(state: &mut State) {
    rebuild_rows(state);
}

/// Folds each exec end's marks into its exec's row; an end whose exec is not in the session
/// keeps a row of its own.
fn fold_flags(state: &mut State) {
    let idx = &mut state.index;
    for e in &mut idx.entries {
        e.child_flags = 0;
    }
    let pairs: Vec<(Option<usize>, usize)> = idx
        .exits
        .iter()
        .filter_map(|(x, end)| Some((idx.find(*x), idx.find(*end)?)))
        .collect();
    for (exec, end) in pairs {
        match exec {
            Some(x) => {
                let m = idx.entries[end].marks();
                idx.entries[x].child_flags |= m;
            }
            None => idx.entries[end].fold &= !fold::EXIT,
        }
    }
}

fn tick(state: &mut State, dt: std::time::Duration) {
    if !state.player.playing {
        return;
    }
    let cur = state.cursor;
    let rows = state.rows();
    let st = &*state;
    let gap = |k: usize| -> Option<u64> {
        let a = st.entry_of_row(cur + k)?;
        if cur + k + 1 >= rows {
            return None;
        }
        let b = st.entry_of_row(cur + k + 1)?;
        Some((b.t_us - a.t_us).max(0) as u64)
    };
    let mut player = state.player.clone();
    let steps = player.tick(dt, gap);
    state.player = player;
    if steps > 0 {
        let carry = state.player.clone();
        move_to(state, cur + steps);
        state.player = carry;
    }
}

fn indexed(state: &mut State, chunk: crate::state::IndexChunk) {
    let follow_end = state.follow;
    let idx = &mut state.index;
    let start = idx.entries.len();
    idx.kinds = chunk.kinds;
    idx.envs = chunk.envs;
    idx.sources = chunk.sources;
    idx.total_hint = chunk.total_hint;
    idx.complete = chunk.complete;
    idx.results.extend(chunk.results);
    idx.exits.extend(chunk.exits);
    idx.secret_origin.extend(chunk.secret_origin);
    idx.entries.extend(chunk.entries);
    for seq in chunk.own {
        if let Some(p) = idx.find(seq) {
            idx.entries[p].fold |= fold::OWN;
        }
    }
    let end = idx.entries.len();
    // A cached page that was still filling (a live session) is stale now.
    if end > start {
        let first_new = state.index.entries[start].seq / PAGE;
        let last_new = state.index.entries[end - 1].seq / PAGE;
        state
            .pages
            .map
            .retain(|p, _| *p < first_new || *p > last_new);
    }
    mark_range(state, start, end);
    fold_flags(state);
    rebuild_rows(state);
    if follow_end && end > start {
        move_to(state, state.rows().saturating_sub(1));
    }
    resolve_pending(state);
    ensure_visible(state);
}

fn resolve_pending(state: &mut State) {
    let Some(p) = state.pending else { return };
    match p {
        Pending::Seq(seq) => {
            if state.index.entries.last().is_some_and(|e| e.seq >= seq) || state.index.complete {
                state.pending = None;
                goto(state, GoTo::Seq(seq));
            }
        }
        Pending::Last => {
            if state.index.complete {
                state.pending = None;
                move_to(state, state.rows().saturating_sub(1));
            }
        }
        Pending::FirstCrossing => {
            if let Some(&seq) = state.findings.crossings.keys().next()
                && let Some(pos) = state.index.find(seq)
            {
                state.pending = None;
                let row = row_for_pos(state, pos);
                move_to(state, row);
                state.tab = Tab::Detail;
            } else if state.findings.source != crate::state::FindingsSource::Pending
                && state.index.complete
            {
                state.pending = None;
                say(state, "no boundary crossing in this session".into());
            }
        }
    }
}

/// Recomputes every marker flag from the findings and the verification.
fn mark_all(state: &mut State) {
    let n = state.index.entries.len();
    mark_range(state, 0, n);
    fold_flags(state);
}

/// Sets the findings and verification flags on entries `start..end`.
fn mark_range(state: &mut State, start: usize, end: usize) {
    if start >= end {
        return;
    }
    let derived =
        flag::CROSSING | flag::DESTRUCTIVE | flag::SECRET_USE | flag::SECRET_READ | flag::BROKEN;
    let idx: &mut Index = &mut state.index;
    for e in &mut idx.entries[start..end] {
        e.flags &= !derived;
        e.severity = 0;
    }
    let (lo, hi) = (idx.entries[start].seq, idx.entries[end - 1].seq);
    let f: &Findings = &state.findings;
    let mut set = |seq: u64, bit: u8, sev: u8| {
        let p = idx.entries[start..end].partition_point(|e| e.seq < seq) + start;
        if let Some(e) = idx.entries.get_mut(p).filter(|e| e.seq == seq) {
            e.flags |= bit;
            e.severity = e.severity.max(sev);
        }
    };
    for (seq, _) in f.crossings.range(lo..=hi) {
        set(*seq, flag::CROSSING, 0);
    }
    for (seq, d) in f.destructive.range(lo..=hi) {
        set(*seq, flag::DESTRUCTIVE, severity_rank(&d.severity));
    }
    for (seq, _) in f.secret_uses.range(lo..=hi) {
        set(*seq, flag::SECRET_USE, 0);
    }
    for (seq, _) in f.secret_reads.range(lo..=hi) {
        set(*seq, flag::SECRET_READ, 0);
    }
    for seq in f.errors.range(lo..=hi) {
        set(*seq, flag::ERROR, 0);
    }
    if let VerifyState::Done { breaks, .. } = &state.verify {
        for (seq, _) in breaks.range(lo..=hi) {
            set(*seq, flag::BROKEN, 0);
        }
    }
}

/// 1 low .. 4 critical.
pub fn severity_rank(s: &str) -> u8 {
    match s {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// Asks for the pages and screen the view needs, and bounds the page cache.
fn needs(state: &mut State, fx: &mut Vec<Effect>) {
    let h = layout::timeline_rows(state.size).max(1);
    let mut want = Vec::new();
    let add = |seq: u64, want: &mut Vec<u64>| {
        let p = seq / PAGE;
        if !want.contains(&p) {
            want.push(p);
        }
    };
    if let Some(e) = state.current() {
        add(e.seq, &mut want);
        if let Some(r) = state.index.results.get(&e.seq) {
            add(*r, &mut want);
        }
    }
    // The ends folded into the drawn exec rows (their status and duration).
    for row in state.scroll..(state.scroll + h).min(state.rows()) {
        if let Some(end) = state
            .entry_of_row(row)
            .and_then(|e| state.index.exits.get(&e.seq))
        {
            add(*end, &mut want);
        }
    }
    for row in [state.scroll, state.scroll + h - 1] {
        if let Some(e) = state.entry_of_row(row) {
            add(e.seq, &mut want);
        }
    }
    // Rows between the first and last drawn row may skip pages under a filter.
    for row in state.scroll..(state.scroll + h).min(state.rows()) {
        if let Some(e) = state.entry_of_row(row) {
            add(e.seq, &mut want);
        }
    }
    let missing: Vec<u64> = want
        .into_iter()
        .filter(|p| !state.pages.map.contains_key(p) && !state.pages.requested.contains(p))
        .collect();
    if !missing.is_empty() {
        state.pages.requested.extend(missing.iter().copied());
        fx.push(Effect::Fetch(missing));
    }
    if state.tab == Tab::Screen
        && let Some(seq) = state.current().map(|e| e.seq)
        && state.screen_requested != Some(seq)
    {
        state.screen_requested = Some(seq);
        fx.push(Effect::Screen(seq));
    }
}

/// Drops the pages farthest from the cursor once more than [`MAX_PAGES`] are held.
fn evict(state: &mut State) {
    if state.pages.map.len() <= MAX_PAGES {
        return;
    }
    let here = state.current().map(|e| e.seq / PAGE).unwrap_or(0);
    let mut keys: Vec<u64> = state.pages.map.keys().copied().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.abs_diff(here)));
    let excess = state.pages.map.len() - MAX_PAGES;
    for k in keys.into_iter().take(excess) {
        state.pages.map.remove(&k);
    }
}
