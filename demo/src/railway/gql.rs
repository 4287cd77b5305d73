//! Just enough GraphQL to read an operation's type, root fields, aliases and arguments.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A root field of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    /// Argument values, with `$variables` substituted; objects and lists are kept as JSON.
    pub args: BTreeMap<String, Value>,
}

/// A parsed operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `query`, `mutation` or `subscription`.
    pub operation_type: String,
    pub name: Option<String>,
    pub fields: Vec<Field>,
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
    vars: &'a Value,
}

const MAX_DEPTH: usize = 64;

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.i += 1,
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at offset {}", c as char, self.i))
        }
    }
    fn name(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            if self.i == start && self.s[self.i].is_ascii_digit() {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return Ok(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let e = self.s.get(self.i).copied().ok_or("unterminated string")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
    /// Skips a balanced group starting at `open` (strings inside respected).
    fn skip_group(&mut self, open: u8, close: u8) -> Result<(), String> {
        self.expect(open)?;
        let mut depth = 1usize;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            if c == b'"' {
                self.string()?;
                continue;
            }
            self.i += 1;
            if c == open {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("nested too deeply".into());
                }
            } else if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
        }
        Err(format!("unbalanced '{}'", open as char))
    }
    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'$') => {
                self.i += 1;
                let n = self.name().ok_or("expected a variable name")?;
                Ok(self.vars.get(&n).cloned().unwrap_or(Value::Null))
            }
            Some(b'{') => {
                self.skip_group(b'{', b'}')?;
                Ok(Value::Object(Map::new()))
            }
            Some(b'[') => {
                self.skip_group(b'[', b']')?;
                Ok(Value::Array(Vec::new()))
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                Ok(serde_json::from_str(&t).unwrap_or(Value::String(t)))
            }
            Some(_) => {
                let n = self
                    .name()
                    .ok_or_else(|| format!("unexpected input at offset {}", self.i))?;
                Ok(match n.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => Value::String(n),
                })
            }
            None => Err("unexpected end of input".into()),
        }
    }
    fn directives(&mut self) -> Result<(), String> {
        while self.eat(b'@') {
            self.name().ok_or("expected a directive name")?;
            if self.peek() == Some(b'(') {
                self.skip_group(b'(', b')')?;
            }
        }
        Ok(())
    }
}

/// Parses the first operation of a GraphQL document.
pub fn parse(query: &str, variables: &Value) -> Result<Operation, String> {
    let mut p = P {
        s: query.as_bytes(),
        i: 0,
        vars: variables,
    };
    let mut op = Operation {
        operation_type: "query".into(),
        name: None,
        fields: Vec::new(),
    };
    if p.peek() != Some(b'{') {
        let kw = p.name().ok_or("expected an operation")?;
        match kw.as_str() {
            "query" | "mutation" | "subscription" => op.operation_type = kw,
            other => return Err(format!("unexpected '{other}'")),
        }
        if p.peek() != Some(b'{') && p.peek() != Some(b'(') && p.peek() != Some(b'@') {
            op.name = p.name();
        }
        if p.peek() == Some(b'(') {
            p.skip_group(b'(', b')')?;
        }
        p.directives()?;
    }
    p.expect(b'{')?;
    loop {
        if p.eat(b'}') {
            break;
        }
        if p.peek().is_none() {
            return Err("unexpected end of input".into());
        }
        if p.peek() == Some(b'.') {
            return Err("fragments are not supported by this stand-in".into());
        }
        let first = p
            .name()
            .ok_or_else(|| format!("expected a field at offset {}", p.i))?;
        let (alias, name) = if p.eat(b':') {
            (
                Some(first),
                p.name().ok_or("expected a field name after alias")?,
            )
        } else {
            (None, first)
        };
        let mut args = BTreeMap::new();
        if p.eat(b'(') {
            loop {
                if p.eat(b')') {
                    break;
                }
                let an = p
                    .name()
                    .ok_or_else(|| format!("expected an argument at offset {}", p.i))?;
                p.expect(b':')?;
                let v = p.value()?;
                args.insert(an, v);
            }
        }
        p.directives()?;
        if p.peek() == Some(b'{') {
            p.skip_group(b'{', b'}')?;
        }
        op.fields.push(Field { alias, name, args });
    }
    if op.fields.is_empty() {
        return Err("empty selection set".into());
    }
    Ok(op)
}
