//! Makes agent-produced text safe to draw: no escape sequence, control character or bidi
//! override ever reaches the terminal. Everything is kept visible in an escaped form.

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

fn is_bidi_or_invisible(c: char) -> bool {
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
            '\x1b' => out.push_str("\\e"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c if is_bidi_or_invisible(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_sequences_become_visible() {
        let s = "a\x1b]52;c;aGVsbG8=\x07b\x1b[2Jc\u{202E}evil\u{2066}\0\u{9b}31m";
        let out = line(s);
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        assert!(!out.chars().any(is_bidi_or_invisible), "{out:?}");
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
}
