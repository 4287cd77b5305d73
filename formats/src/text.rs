//! Text hygiene for every output: agent-produced text made safe to draw or print. No escape
//! sequence, control character, bidi override or invisible character ever reaches a terminal
//! (or a report, a CSV cell, an HTML page) raw; everything is kept visible in an escaped form.
//!
//! This is the one set of rules: the TUI, `flightlog show`, the Markdown and HTML reports and
//! the exports all call it (see [`is_invisible`] for the one list of invisible characters).

/// Escapes text for display on one line: newlines and tabs become visible too.
pub fn line(s: &str) -> String {
    escape(s, false)
}

/// Escapes text for display over several lines: `\n` is kept, tabs become spaces.
pub fn text(s: &str) -> String {
    escape(s, true)
}

/// Bytes that are not UTF-8 are shown as `\xNN`.
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(&escape(chunk.valid(), true));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Removes well-formed CSI and OSC sequences (colors, cursor moves, titles) so terminal output
/// reads as text in one-line summaries. Anything left is still escaped by [`line`].
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match it.peek() {
            Some('[') => {
                it.next();
                // Parameters and intermediates, then one final byte in @..~.
                for d in it.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            Some(']') => {
                it.next();
                while let Some(d) = it.next() {
                    if d == '\x07' {
                        break;
                    }
                    if d == '\x1b' && it.peek() == Some(&'\\') {
                        it.next();
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Characters that change how text reads without being seen: bidi controls and overrides
/// (U+061C, U+200E/F, U+202A-E, U+2066-9), zero-width and word-joiner characters (U+200B-D,
/// U+2060-4, U+FEFF) and interlinear annotation marks (U+FFF9-B). The one list every output
/// escapes.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

fn escape(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' if multiline => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\t' if multiline => out.push_str("    "),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => match escaped(c) {
                Some(e) => out.push_str(&e),
                None => out.push(c),
            },
        }
    }
    out
}

/// Escapes one character the way every output shows it, or `None` when it is safe as is.
/// Newlines and tabs are the caller's business (they differ by output).
pub fn escaped(c: char) -> Option<String> {
    match c {
        '\x1b' => Some("\\e".to_string()),
        c if (c as u32) < 0x20 || c == '\x7f' => Some(format!("\\x{:02x}", c as u32)),
        c if ('\u{80}'..='\u{9f}').contains(&c) || is_invisible(c) => {
            Some(format!("\\u{{{:x}}}", c as u32))
        }
        _ => None,
    }
}

/// Cuts to `n` characters, with `…` when something was cut.
pub fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().nth(n).is_some() {
        out.push('…');
    }
    out
}

/// One line for a summary: whitespace runs (newlines and tabs included) become one space,
/// the ends are trimmed, it is cut to `max` characters, and what is left is escaped ([`line`]).
pub fn one_line(s: &str, max: usize) -> String {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    line(&clip(&collapsed, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_sequences_become_visible() {
        let s = "a\x1b]52;c;aGVsbG8=\x07b\x1b[2Jc\u{202E}evil\u{2066}\0\u{9b}31m";
        let out = line(s);
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        assert!(!out.chars().any(is_invisible), "{out:?}");
        assert_eq!(
            out,
            "a\\e]52;c;aGVsbG8=\\x07b\\e[2Jc\\u{202e}evil\\u{2066}\\x00\\u{9b}31m"
        );
    }

    #[test]
    fn ansi_is_stripped_for_summaries() {
        assert_eq!(
            strip_ansi("\x1b[1;32mok\x1b[0m \x1b]0;t\x07x\x1b]52;c;AA\x1b\\y"),
            "ok xy"
        );
        assert_eq!(line(&strip_ansi("a\x1bZ\x1b[")), "a\\eZ");
    }

    #[test]
    fn invalid_utf8_is_shown() {
        assert_eq!(bytes(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
    }

    #[test]
    fn multiline_keeps_newlines_only() {
        assert_eq!(text("a\nb\tc\r"), "a\nb    c\\r");
    }

    #[test]
    fn one_line_collapses_whitespace_then_escapes() {
        assert_eq!(one_line("  a \n\t b\u{200b}c  ", 100), "a b\\u{200b}c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(escaped('\u{feff}').as_deref(), Some("\\u{feff}"));
        assert_eq!(escaped('é'), None);
    }
}
