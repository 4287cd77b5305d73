//! The lexer: a command line into pipeline elements (words, redirects, heredoc and
//! here-string stdin) and the command substitutions to split in turn.

/// One pipeline element as lexed.
#[derive(Debug, Default)]
pub(super) struct RawCommand {
    pub(super) words: Vec<String>,
    pub(super) stdin: Option<String>,
    pub(super) redirects: Vec<String>,
    /// Its stdin comes from the previous element (`a | b`: true for b).
    pub(super) piped_in: bool,
    /// Its stdout goes to the next element.
    pub(super) pipes_out: bool,
}

#[derive(Debug, Default)]
pub(super) struct Lexed {
    pub(super) commands: Vec<RawCommand>,
    /// Bodies of `$( .. )` and backticks, to be split as command lines themselves.
    pub(super) substitutions: Vec<String>,
}

pub(super) struct Lexer<'a> {
    pub(super) s: &'a [u8],
    pub(super) text: &'a str,
    pub(super) i: usize,
}

/// Splits a line into pipeline elements. Grouping (`( )`, `{ }`) is flattened.
pub(super) fn lex(text: &str) -> Lexed {
    let mut lx = Lexer {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let mut out = Lexed::default();
    let mut cur = RawCommand::default();
    // Heredocs waiting for the next newline: (delimiter, strip tabs).
    // (delimiter, strip tabs, index of the command it feeds).
    let mut pending: Vec<(String, bool, usize)> = Vec::new();
    let mut next = Next::Word;
    let finish = |cur: &mut RawCommand, out: &mut Lexed, pipes_out: bool| {
        let mut done = std::mem::take(cur);
        done.pipes_out = pipes_out;
        cur.piped_in = pipes_out;
        if !done.words.is_empty() || done.stdin.is_some() {
            out.commands.push(done);
        } else if pipes_out {
            cur.piped_in = false;
        }
    };
    while lx.i < lx.s.len() {
        let c = lx.s[lx.i];
        match c {
            b' ' | b'\t' | b'\r' => {
                lx.i += 1;
            }
            b'\\' if lx.s.get(lx.i + 1) == Some(&b'\n') => {
                lx.i += 2;
            }
            b'\n' => {
                lx.i += 1;
                // Heredoc bodies start after this newline.
                for (delim, strip, idx) in std::mem::take(&mut pending) {
                    let body = lx.heredoc_body(&delim, strip);
                    match out.commands.get_mut(idx) {
                        Some(done) => attach_stdin(done, body),
                        None => attach_stdin(&mut cur, body),
                    }
                }
                finish(&mut cur, &mut out, false);
            }
            b'#' => {
                while lx.i < lx.s.len() && lx.s[lx.i] != b'\n' {
                    lx.i += 1;
                }
            }
            b';' | b'&' | b'|' | b'(' | b')' => {
                let two = lx.s.get(lx.i + 1).copied();
                match (c, two) {
                    (b'&', Some(b'>')) => {
                        lx.i += 2;
                        if lx.s.get(lx.i) == Some(&b'>') {
                            lx.i += 1;
                        }
                        next = Next::RedirTarget;
                        continue;
                    }
                    (b'|', Some(b'|')) | (b'&', Some(b'&')) | (b';', Some(b';')) => {
                        lx.i += 2;
                        finish(&mut cur, &mut out, false);
                    }
                    (b'|', Some(b'&')) => {
                        lx.i += 2;
                        finish(&mut cur, &mut out, true);
                    }
                    (b'|', _) => {
                        lx.i += 1;
                        finish(&mut cur, &mut out, true);
                    }
                    _ => {
                        lx.i += 1;
                        finish(&mut cur, &mut out, false);
                    }
                }
            }
            b'<' | b'>' => {
                let (op_next, len) = redirect_op(&lx.s[lx.i..]);
                lx.i += len;
                next = op_next;
            }
            _ => {
                // fd-number redirect: `2>file`, `2>&1`
                if c.is_ascii_digit() {
                    let mut j = lx.i;
                    while j < lx.s.len() && lx.s[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j < lx.s.len() && (lx.s[j] == b'>' || lx.s[j] == b'<') {
                        lx.i = j;
                        continue;
                    }
                }
                let word = lx.word(&mut out.substitutions);
                match std::mem::replace(&mut next, Next::Word) {
                    Next::Word => {
                        if cur.words.is_empty() && (word == "{" || word == "}") {
                            continue;
                        }
                        if word == "}" {
                            continue;
                        }
                        if matches!(
                            word.as_str(),
                            "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "!"
                        ) && cur.words.is_empty()
                        {
                            continue;
                        }
                        if matches!(word.as_str(), "fi" | "done" | "esac") && cur.words.is_empty() {
                            continue;
                        }
                        cur.words.push(word);
                    }
                    Next::RedirTarget => {
                        if !word.chars().all(|c| c.is_ascii_digit() || c == '-') {
                            cur.redirects.push(word);
                        }
                    }
                    Next::HeredocDelim(strip) => {
                        pending.push((word, strip, out.commands.len()));
                    }
                    Next::HereString => attach_stdin(&mut cur, word),
                }
            }
        }
    }
    if !pending.is_empty() {
        // Heredoc with no newline after the operator: nothing to read.
        pending.clear();
    }
    finish(&mut cur, &mut out, false);
    out
}

pub(super) fn attach_stdin(cur: &mut RawCommand, text: String) {
    cur.stdin = Some(match cur.stdin.take() {
        Some(prev) => format!("{prev}\n{text}"),
        None => text,
    });
}

/// What the next word means to the lexer.
pub(super) enum Next {
    Word,
    /// After `>`, `<`, `>>`, `&>`: a redirection target.
    RedirTarget,
    /// After `<<` / `<<-` (strip tabs): a heredoc delimiter.
    HeredocDelim(bool),
    /// After `<<<`: a here-string.
    HereString,
}

/// Reads a redirection operator at the start of `s`; returns its kind and length.
pub(super) fn redirect_op(s: &[u8]) -> (Next, usize) {
    let starts = |p: &[u8]| s.starts_with(p);
    if starts(b"<<<") {
        (Next::HereString, 3)
    } else if starts(b"<<-") {
        (Next::HeredocDelim(true), 3)
    } else if starts(b"<<") {
        (Next::HeredocDelim(false), 2)
    } else if starts(b">>") || starts(b">&") || starts(b">|") || starts(b"<>") || starts(b"<&") {
        (Next::RedirTarget, 2)
    } else {
        (Next::RedirTarget, 1)
    }
}

impl Lexer<'_> {
    /// Reads one word, removing quotes. Substitution bodies are pushed to `subs`.
    fn word(&mut self, subs: &mut Vec<String>) -> String {
        let mut w = String::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => {
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    if let Some(ch) = self.char_at() {
                        if ch != '\n' {
                            w.push(ch);
                        }
                        self.i += ch.len_utf8();
                    }
                }
                b'\'' => {
                    self.i += 1;
                    let start = self.i;
                    while self.i < self.s.len() && self.s[self.i] != b'\'' {
                        self.i += 1;
                    }
                    w.push_str(&self.text[start..self.i]);
                    self.i = (self.i + 1).min(self.s.len());
                }
                b'"' => {
                    self.i += 1;
                    while self.i < self.s.len() && self.s[self.i] != b'"' {
                        match self.s[self.i] {
                            b'\\' => {
                                let nx = self.s.get(self.i + 1).copied();
                                match nx {
                                    Some(b'"' | b'\\' | b'$' | b'`') => {
                                        w.push(nx.map(char::from).unwrap_or('\\'));
                                        self.i += 2;
                                    }
                                    Some(b'\n') => self.i += 2,
                                    _ => {
                                        w.push('\\');
                                        self.i += 1;
                                    }
                                }
                            }
                            _ => self.expansion_or_char(&mut w, subs),
                        }
                    }
                    self.i = (self.i + 1).min(self.s.len());
                }
                b'$' if self.s.get(self.i + 1) == Some(&b'\'') => {
                    self.i += 2;
                    w.push_str(&self.ansi_c());
                }
                _ => self.expansion_or_char(&mut w, subs),
            }
        }
        w
    }

    /// At a command substitution (`$(...)`, backticks): reads it, keeps it in the word and
    /// pushes its body to `subs`; at anything else: one character of the word. The same inside
    /// double quotes and out.
    fn expansion_or_char(&mut self, w: &mut String, subs: &mut Vec<String>) {
        match self.s[self.i] {
            b'$' if self.s.get(self.i + 1) == Some(&b'(') => {
                let body = self.substitution();
                w.push_str("$(");
                w.push_str(&body);
                w.push(')');
                subs.push(body);
            }
            b'`' => {
                let body = self.backtick();
                w.push_str(&body);
                subs.push(body);
            }
            _ => {
                if let Some(ch) = self.char_at() {
                    w.push(ch);
                    self.i += ch.len_utf8();
                } else {
                    self.i += 1;
                }
            }
        }
    }

    fn char_at(&self) -> Option<char> {
        self.text.get(self.i..).and_then(|t| t.chars().next())
    }

    /// At `$(`: returns the body, leaves `i` after the closing `)`.
    fn substitution(&mut self) -> String {
        self.i += 2;
        let start = self.i;
        let mut depth = 1;
        let mut quote: Option<u8> = None;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match quote {
                Some(q) => {
                    if c == b'\\' && q == b'"' {
                        self.i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'\\' => self.i += 1,
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            let body = self.text[start..self.i].to_string();
                            self.i += 1;
                            return body;
                        }
                    }
                    _ => {}
                },
            }
            self.i += 1;
        }
        self.text.get(start..).unwrap_or("").to_string()
    }

    /// At a backtick: returns the body, leaves `i` after the closing backtick.
    fn backtick(&mut self) -> String {
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b'`' {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        let end = self.i.min(self.s.len());
        self.i = (self.i + 1).min(self.s.len());
        self.text.get(start..end).unwrap_or("").to_string()
    }

    /// After `$'`: an ANSI-C quoted string.
    fn ansi_c(&mut self) -> String {
        let mut w = String::new();
        while self.i < self.s.len() && self.s[self.i] != b'\'' {
            if self.s[self.i] == b'\\' && self.i + 1 < self.s.len() {
                let e = self.s[self.i + 1];
                self.i += 2;
                match e {
                    b'n' => w.push('\n'),
                    b't' => w.push('\t'),
                    b'r' => w.push('\r'),
                    b'\\' => w.push('\\'),
                    b'\'' => w.push('\''),
                    b'"' => w.push('"'),
                    b'x' => {
                        let hex: String = self.text[self.i..]
                            .chars()
                            .take(2)
                            .take_while(char::is_ascii_hexdigit)
                            .collect();
                        self.i += hex.len();
                        if let Ok(b) = u8::from_str_radix(&hex, 16) {
                            w.push(char::from(b));
                        }
                    }
                    other => {
                        w.push('\\');
                        w.push(char::from(other));
                    }
                }
                continue;
            }
            if let Some(ch) = self.char_at() {
                w.push(ch);
                self.i += ch.len_utf8();
            } else {
                self.i += 1;
            }
        }
        self.i = (self.i + 1).min(self.s.len());
        w
    }

    /// Reads heredoc lines up to the delimiter line (or the end).
    fn heredoc_body(&mut self, delim: &str, strip_tabs: bool) -> String {
        let mut lines = Vec::new();
        while self.i < self.s.len() {
            let end = self.text[self.i..]
                .find('\n')
                .map(|p| self.i + p)
                .unwrap_or(self.s.len());
            let raw = &self.text[self.i..end];
            self.i = (end + 1).min(self.s.len());
            let line = if strip_tabs {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if line.trim_end_matches('\r') == delim {
                break;
            }
            lines.push(line.to_string());
        }
        lines.join("\n")
    }
}
