//! User intents. Keys map to these in [`crate::keymap`]; tests script them directly.

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    Next,
    Prev,
    First,
    Last,
    PageDown,
    PageUp,
    PlayPause,
    Faster,
    Slower,
    /// Jump to the next (`true`) or previous (`false`) row with this marker.
    Jump(Marker, bool),
    /// Open a prompt (`:` go to, `/` search, `f` filter).
    OpenPrompt(PromptKind),
    /// Typed into the open prompt.
    Input(char),
    Backspace,
    Submit,
    Cancel,
    /// Repeat the last search forward (`n`) or backward (`N`).
    SearchAgain(bool),
    /// Cycle the detail tab forward or backward.
    NextTab(bool),
    /// Scroll the detail pane by lines (negative: up).
    ScrollDetail(i32),
    ToggleHelp,
    ToggleFollow,
    /// Show every event, or fold flightlog's own hook processes and exec ends (the default).
    ToggleAllRows,
    /// Picker: open the selected session.
    Open,
    /// Go directly to a seq or a time (also what `:` submits).
    GoTo(GoTo),
    /// Set a filter directly (also what `f` submits).
    SetFilter(String),
    Search(String),
}

/// Markers a jump can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Crossing,
    Destructive,
    SecretUse,
    Error,
    Gap,
    /// A verification problem (chain break).
    Break,
}

/// Which prompt is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    GoTo,
    Search,
    Filter,
}

/// A go-to target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GoTo {
    Seq(u64),
    /// Seconds since the session's first event.
    Time(f64),
}

impl GoTo {
    /// Parses `42` (a seq), `+12.5s`, `12.5s` or `+12.5` (seconds from the start).
    pub fn parse(s: &str) -> Option<GoTo> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let (plus, rest) = match s.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (secs, rest) = match rest.strip_suffix('s') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if plus || secs {
            let v: f64 = rest.trim().parse().ok()?;
            return (v.is_finite() && v >= 0.0).then_some(GoTo::Time(v));
        }
        rest.parse().ok().map(GoTo::Seq)
    }
}
