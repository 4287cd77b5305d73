//! Glob matching for policy and catalogue patterns.
//!
//! `*` matches any run of characters except `/`; `**` matches anything, `/` included; `?` one
//! character (not `/`). Everything else is literal. Host and context patterns are compared
//! case-insensitively by the callers (they lower-case both sides).

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with backtracking on the last star (two kinds of star).
    fn go(p: &[char], t: &[char]) -> bool {
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize, bool)> = None; // (pattern idx after star, text idx, double)
        while ti < t.len() {
            if pi < p.len() && p[pi] == '*' {
                let double = p.get(pi + 1) == Some(&'*');
                let after = if double { pi + 2 } else { pi + 1 };
                // `**/` also matches zero directories
                star = Some((after, ti, double));
                pi = after;
                continue;
            }
            if pi < p.len() && (p[pi] == t[ti] || (p[pi] == '?' && t[ti] != '/')) {
                pi += 1;
                ti += 1;
                continue;
            }
            match star {
                Some((after, sti, double)) if double || t[sti] != '/' => {
                    star = Some((after, sti + 1, double));
                    pi = after;
                    ti = sti + 1;
                }
                _ => return false,
            }
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        pi == p.len()
    }
    go(&p, &t)
}

/// Case-insensitive [`matches`].
pub fn matches_ci(pattern: &str, text: &str) -> bool {
    matches(&pattern.to_lowercase(), &text.to_lowercase())
}

/// Whether any `|`-separated alternative of `alts` matches `text`.
pub fn any_alt(alts: &str, text: &str) -> bool {
    alts.split('|').any(|a| matches(a, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars() {
        assert!(matches("*.prod.internal", "db.prod.internal"));
        assert!(matches("*.prod.internal", "a.b.prod.internal"));
        assert!(!matches("*.prod.internal", "prod.internal"));
        assert!(matches("3d2c42fb-*", "3d2c42fb-1111-2222"));
        assert!(matches("/srv/prod/**", "/srv/prod/a/b/c"));
        assert!(!matches("/srv/prod/*", "/srv/prod/a/b"));
        assert!(matches(
            "postgres://*@db.prod.example.com/*",
            "postgres://app@db.prod.example.com/main"
        ));
        assert!(!matches("/apps/*", "/apps/x/addons/y"));
        assert!(matches("/**/instances/*", "/v1/projects/p/instances/i"));
        assert!(matches("prod-?", "prod-1"));
        assert!(matches("*", ""));
        assert!(!matches("a", "ab"));
        assert!(matches_ci("PROD-*", "prod-eu"));
    }
}
