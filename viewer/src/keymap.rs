//! Keys to actions, following less, vim and asciinema habits. Pure: tests feed `KeyEvent`s.
//!
//! | keys | action |
//! |---|---|
//! | `q`, `Ctrl-C` | quit (`q`/`Esc` first close the help or a prompt) |
//! | `j` `k` `↓` `↑` `→` `←` `l` `h` `.` | step |
//! | `g` `G` `Home` `End` `<` `>` | first / last |
//! | `PgDn` `PgUp` `Ctrl-F` `Ctrl-B` `Ctrl-D` `Ctrl-U` | page |
//! | `space` | play / pause; `+` `-` speed |
//! | `c` `]` / `C` `[` | next / previous boundary crossing |
//! | `d`/`D` `s`/`S` `e`/`E` `x`/`X` `b`/`B` | destructive action, secret use, error, gap, chain break |
//! | `:` | go to seq or time (`42`, `+12.5s`) |
//! | `/` `n` `N` | search, next, previous |
//! | `f` | filter (`kind=exec layer=proxy env=production only=crossing`); empty clears |
//! | `Tab` `Shift-Tab` `t` | detail tabs (detail, screen, cause chain, JSON) |
//! | `J` `K` | scroll the detail pane |
//! | `F` | follow a session that is still being recorded |
//! | `?` | help |

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::action::{Action, Marker, PromptKind};
use crate::state::{Mode, State};

/// Maps a key to an action in the current state (prompts take text, the help takes any key).
pub fn map(state: &State, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    if state.prompt.is_some() {
        return match key.code {
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char(c) if !ctrl => Some(Action::Input(c)),
            _ => None,
        };
    }
    if state.help {
        return Some(Action::ToggleHelp);
    }
    if state.mode == Mode::Picker {
        return match key.code {
            KeyCode::Char('q') | KeyCode::Esc => Some(Action::Quit),
            KeyCode::Char('j') | KeyCode::Down => Some(Action::Next),
            KeyCode::Char('k') | KeyCode::Up => Some(Action::Prev),
            KeyCode::Char('g') | KeyCode::Home => Some(Action::First),
            KeyCode::Char('G') | KeyCode::End => Some(Action::Last),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => Some(Action::Open),
            KeyCode::Char('?') => Some(Action::ToggleHelp),
            _ => None,
        };
    }
    if ctrl {
        return match key.code {
            KeyCode::Char('f') | KeyCode::Char('d') => Some(Action::PageDown),
            KeyCode::Char('b') | KeyCode::Char('u') => Some(Action::PageUp),
            KeyCode::Char('e') => Some(Action::ScrollDetail(1)),
            KeyCode::Char('y') => Some(Action::ScrollDetail(-1)),
            _ => None,
        };
    }
    let a = match key.code {
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('j') | KeyCode::Char('l') | KeyCode::Char('.') => Action::Next,
        KeyCode::Down | KeyCode::Right => Action::Next,
        KeyCode::Char('k') | KeyCode::Char('h') | KeyCode::Up | KeyCode::Left => Action::Prev,
        KeyCode::Char('g') | KeyCode::Char('<') | KeyCode::Home => Action::First,
        KeyCode::Char('G') | KeyCode::Char('>') | KeyCode::End => Action::Last,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Char(' ') => Action::PlayPause,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::Faster,
        KeyCode::Char('-') | KeyCode::Char('_') => Action::Slower,
        KeyCode::Char('c') | KeyCode::Char(']') => Action::Jump(Marker::Crossing, true),
        KeyCode::Char('C') | KeyCode::Char('[') => Action::Jump(Marker::Crossing, false),
        KeyCode::Char('d') => Action::Jump(Marker::Destructive, true),
        KeyCode::Char('D') => Action::Jump(Marker::Destructive, false),
        KeyCode::Char('s') => Action::Jump(Marker::SecretUse, true),
        KeyCode::Char('S') => Action::Jump(Marker::SecretUse, false),
        KeyCode::Char('e') => Action::Jump(Marker::Error, true),
        KeyCode::Char('E') => Action::Jump(Marker::Error, false),
        KeyCode::Char('x') => Action::Jump(Marker::Gap, true),
        KeyCode::Char('X') => Action::Jump(Marker::Gap, false),
        KeyCode::Char('b') => Action::Jump(Marker::Break, true),
        KeyCode::Char('B') => Action::Jump(Marker::Break, false),
        KeyCode::Char(':') => Action::OpenPrompt(PromptKind::GoTo),
        KeyCode::Char('/') => Action::OpenPrompt(PromptKind::Search),
        KeyCode::Char('f') => Action::OpenPrompt(PromptKind::Filter),
        KeyCode::Char('n') => Action::SearchAgain(true),
        KeyCode::Char('N') => Action::SearchAgain(false),
        KeyCode::Tab | KeyCode::Char('t') => Action::NextTab(true),
        KeyCode::BackTab | KeyCode::Char('T') => Action::NextTab(false),
        KeyCode::Char('J') => Action::ScrollDetail(3),
        KeyCode::Char('K') => Action::ScrollDetail(-3),
        KeyCode::Char('F') => Action::ToggleFollow,
        KeyCode::Char('a') => Action::ToggleAllRows,
        KeyCode::Char('?') => Action::ToggleHelp,
        _ => return None,
    };
    Some(a)
}

/// Parses a key script such as `"j j <space> ] : 4 2 <enter>"` (tests and demos).
pub fn parse_script(s: &str) -> Vec<KeyEvent> {
    s.split_whitespace()
        .filter_map(|t| {
            let code = match t {
                "<space>" => KeyCode::Char(' '),
                "<enter>" => KeyCode::Enter,
                "<esc>" => KeyCode::Esc,
                "<tab>" => KeyCode::Tab,
                "<bs>" => KeyCode::Backspace,
                "<left>" => KeyCode::Left,
                "<right>" => KeyCode::Right,
                "<up>" => KeyCode::Up,
                "<down>" => KeyCode::Down,
                _ => {
                    let mut cs = t.chars();
                    let c = cs.next()?;
                    if cs.next().is_some() {
                        return None;
                    }
                    KeyCode::Char(c)
                }
            };
            Some(KeyEvent::from(code))
        })
        .collect()
}
