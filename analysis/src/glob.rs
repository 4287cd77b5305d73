//! Glob matching for policy and catalogue patterns, by `globset`.
//!
//! `*` matches any run of characters except `/`; `**` as a path component matches any number of
//! components, none included (`**/.env` matches `.env`); `?` one character (not `/`);
//! `[abc]`, `[!a-z]` and `{a,b}` are classes and alternatives; `\` escapes. Host and context
//! patterns are compared case-insensitively by the callers (they lower-case both sides).
//!
//! Each pattern is compiled once per thread and kept: analysis matches the same few policy
//! patterns against every event. A pattern that does not compile matches nothing; `policy
//! check` (and loading a policy) reports it with its line through [`check`].

use std::cell::RefCell;
use std::collections::HashMap;

use globset::{GlobBuilder, GlobMatcher};

/// How many compiled patterns a thread keeps before it starts over (policies have tens).
const CACHE_LIMIT: usize = 4096;

thread_local! {
    static CACHE: RefCell<HashMap<(String, bool), Option<GlobMatcher>>> =
        RefCell::new(HashMap::new());
}

/// `paths`: whether `*` and `?` stop at `/` (paths, URLs, hosts); for single words (an argv
/// word, a ref spec such as `+main:feature/x`) they do not.
fn parse(pattern: &str, paths: bool) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(paths)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
}

fn compile(pattern: &str, paths: bool) -> Result<GlobMatcher, globset::Error> {
    parse(pattern, paths).map(|g| g.compile_matcher())
}

/// Why `pattern` is not a valid glob, or `Ok` when it is. Parsing is the whole check (a parsed
/// glob always compiles), so loading a policy compiles nothing; matching compiles on first use.
pub fn check(pattern: &str) -> Result<(), String> {
    parse(pattern, true)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            globset::ErrorKind::UnclosedClass => "a `[` class is not closed with `]`".to_string(),
            globset::ErrorKind::UnopenedAlternates => "a `}` closes no `{`".to_string(),
            globset::ErrorKind::UnclosedAlternates => "a `{` is not closed with `}`".to_string(),
            globset::ErrorKind::NestedAlternates => "`{…}` alternatives cannot nest".to_string(),
            globset::ErrorKind::DanglingEscape => "it ends with a lone `\\`".to_string(),
            globset::ErrorKind::InvalidRange(a, b) => format!("the range `{a}-{b}` is backwards"),
            other => other.to_string(),
        })
}

/// Whether `text` (a path, URL, host or name) matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    cached(pattern, true, text)
}

/// Whether the single word `text` matches `pattern`, `*` crossing `/` too.
pub fn matches_word(pattern: &str, text: &str) -> bool {
    cached(pattern, false, text)
}

fn cached(pattern: &str, paths: bool, text: &str) -> bool {
    // A pattern with no glob syntax matches itself only: nothing to compile (most of the
    // catalogue's program names and words; a hook process would compile each one once).
    if !pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
        return pattern == text;
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let key = (pattern.to_string(), paths);
        if let Some(m) = cache.get(&key) {
            return m.as_ref().is_some_and(|m| m.is_match(text));
        }
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        let m = compile(pattern, paths).ok();
        let hit = m.as_ref().is_some_and(|m| m.is_match(text));
        cache.insert(key, m);
        hit
    })
}

/// Case-insensitive [`matches`].
pub fn matches_ci(pattern: &str, text: &str) -> bool {
    matches(&pattern.to_lowercase(), &text.to_lowercase())
}

/// Whether any `|`-separated alternative of `alts` matches the word `text`.
pub fn any_alt(alts: &str, text: &str) -> bool {
    alts.split('|').any(|a| matches_word(a, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let cases = [
            ("*.prod.internal", "db.prod.internal", true),
            ("*.prod.internal", "a.b.prod.internal", true),
            ("*.prod.internal", "prod.internal", false),
            ("3d2c42fb-*", "3d2c42fb-1111-2222", true),
            ("/srv/prod/**", "/srv/prod/a/b/c", true),
            ("/srv/prod/*", "/srv/prod/a/b", false),
            (
                "postgres://*@db.prod.example.com/*",
                "postgres://app@db.prod.example.com/main",
                true,
            ),
            ("/apps/*", "/apps/x/addons/y", false),
            ("/**/instances/*", "/v1/projects/p/instances/i", true),
            ("prod-?", "prod-1", true),
            ("prod-?", "prod-12", false),
            ("*", "", true),
            ("a", "ab", false),
            ("**/.env", ".env", true),
            ("**/.env", "ops/deploy/.env", true),
            ("**/*.env", "ops/domains.env", true),
            ("prod-[0-9]", "prod-7", true),
            ("prod-[0-9]", "prod-x", false),
            (
                "db.{prod,production}.internal",
                "db.production.internal",
                true,
            ),
            (
                "db.{prod,production}.internal",
                "db.staging.internal",
                false,
            ),
            ("literal\\*star", "literal*star", true),
            ("literal\\*star", "literalXstar", false),
            ("*.prod.[internal", "db.prod.[internal", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(matches(pattern, text), want, "{pattern:?} ~ {text:?}");
        }
        assert!(matches_ci("PROD-*", "prod-eu"));
        assert!(any_alt("staging|prod-*", "prod-eu"));
        assert!(any_alt("+?**", "+feature/x:feature/x"));
        assert!(matches_word(":*", ":feature/old"));
        assert!(!matches(":*", ":feature/old"));
    }

    #[test]
    fn literal_patterns_match_as_globset_does() {
        let words = [
            "git",
            "GIT",
            "",
            "a/b",
            "db.prod.internal",
            "-rf",
            "x y",
            "caf\u{e9}",
            ":",
        ];
        for pattern in words {
            for text in words {
                for paths in [true, false] {
                    let compiled = compile(pattern, paths).map(|m| m.is_match(text));
                    assert_eq!(
                        Ok(cached(pattern, paths, text)),
                        compiled.map_err(|_| ()),
                        "{pattern:?} ~ {text:?} (paths: {paths})"
                    );
                }
            }
        }
    }

    #[test]
    fn broken_globs_are_named() {
        let cases = [
            ("*.prod.[internal", Some("`[` class")),
            ("a{b,c", Some("`{` is not closed")),
            ("a}b", Some("closes no")),
            ("trailing\\", Some("lone `\\`")),
            ("[z-a]", Some("backwards")),
            ("*.prod.internal", None),
            ("/srv/prod/**", None),
            ("{a,b}", None),
        ];
        for (pattern, want) in cases {
            match (check(pattern), want) {
                (Ok(()), None) => {}
                (Err(why), Some(part)) => assert!(why.contains(part), "{pattern:?}: {why}"),
                (got, want) => panic!("{pattern:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
