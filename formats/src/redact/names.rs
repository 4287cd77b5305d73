//! Names that say "secret" and values that could be one: the evidence the context rules weigh.

/// How strong the evidence from a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameClass {
    /// `password`, `passwd`, `pass`, `pwd`, `passphrase`: any non-placeholder value.
    Password,
    /// `token`, `secret`, `api_key`, `credentials`, ...: a value that could be a credential.
    Token,
    /// A bare `KEY` or `auth`: only a random-looking value.
    Weak,
}
/// Splits a name into lowercase words: `keyStorePassword` -> key, store, password;
/// `AWS_SECRET_ACCESS_KEY` -> aws, secret, access, key.
pub(super) fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The words both lists below start with, in this order, followed by each list's own.
macro_rules! secret_words {
    ($($own:literal),* $(,)?) => {
        &[
            "password", "passwd", "pass", "pwd", "passphrase", "passcode", "pw", "pword",
            "token", "secret", "apikey", "credential", "credentials", "authtoken",
            "accesstoken", "secretkey", "privatekey", "pat", "cred", "creds", "key",
            $($own),*
        ]
    };
}

/// The last words [`name_class`] accepts (see [`candidate_rules`](super::rules::candidate_rules)).
#[rustfmt::skip]
pub(super) const SECRET_NAME_ENDS: &[&str] = secret_words!(
    "auth", "key_base", "key-base", "key.base", "key_data", "key-data", "key.data",
);

/// Whether a name says its value is a secret, and how strongly.
pub(super) fn name_class(name: &str) -> Option<NameClass> {
    // Most names (JSON keys such as `argv`, `cwd`, `stdout`) end in no word that could name a
    // secret: said without splitting the name into words.
    if !may_end_in_secret_word(name) {
        return None;
    }
    name_class_of_words(name)
}

/// The last words [`name_class`] can accept a name by (each also accepted glued to a longer
/// last word where it is `password`, `passwd`, `token` or `secret`).
const LAST_WORDS: &[&str] = secret_words!("base", "data", "auth");

/// Whether `name`, without its trailing non-alphanumeric characters, ends with one of
/// [`LAST_WORDS`] (ASCII case ignored). [`words`] makes the last word a suffix of that, so a
/// name for which this is false has no last word that [`name_class`] accepts.
fn may_end_in_secret_word(name: &str) -> bool {
    let b = name
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .as_bytes();
    LAST_WORDS
        .iter()
        .any(|w| b.len() >= w.len() && b[b.len() - w.len()..].eq_ignore_ascii_case(w.as_bytes()))
}

/// [`name_class`] by the name's words.
fn name_class_of_words(name: &str) -> Option<NameClass> {
    let w = words(name);
    let last = w.last()?.as_str();
    let prev = if w.len() >= 2 {
        w[w.len() - 2].as_str()
    } else {
        ""
    };
    if w.iter()
        .any(|x| matches!(x.as_str(), "public" | "publishable" | "pub" | "example"))
    {
        return None;
    }
    // Glued names: `PGPASSWORD`, `GITHUBTOKEN`, `clientsecret`.
    let glued = |suffix: &str| last.len() > suffix.len() && last.ends_with(suffix);
    if glued("password") || glued("passwd") {
        return Some(NameClass::Password);
    }
    if glued("token") || glued("secret") {
        return Some(NameClass::Token);
    }
    match last {
        "password" | "passwd" | "pass" | "pwd" | "passphrase" | "passcode" | "pw" | "pword" => {
            Some(NameClass::Password)
        }
        "token" | "secret" | "apikey" | "credential" | "credentials" | "authtoken"
        | "accesstoken" | "secretkey" | "privatekey" | "pat" | "cred" | "creds" => {
            Some(NameClass::Token)
        }
        "key" => match prev {
            "api" | "access" | "secret" | "private" | "account" | "shared" | "client"
            | "master" | "encryption" | "signing" | "auth" | "admin" | "restricted" | "service"
            | "app" | "license" | "sas" | "storage" | "deploy" | "webhook" | "hmac" | "session"
            | "jwt" | "encrypt" | "crypt" | "cipher" | "aes" | "ssh" | "management"
            | "subscription" | "ingest" | "write" | "root" | "user" => Some(NameClass::Token),
            _ => Some(NameClass::Weak),
        },
        // `SECRET_KEY_BASE` (Rails), kubeconfig `client-key-data`.
        "base" if prev == "key" && w.iter().any(|x| x == "secret") => Some(NameClass::Token),
        "data" if prev == "key" && w.iter().any(|x| x == "client" || x == "private") => {
            Some(NameClass::Token)
        }
        "auth" if w.len() == 1 => Some(NameClass::Weak),
        _ => None,
    }
}

/// The kind recorded for a named secret.
pub(super) fn named_kind(name: &str, class: NameClass) -> &'static str {
    let w = words(name);
    if w.iter().any(|x| x == "railway") {
        return if w.iter().any(|x| x == "api" || x == "account") {
            "railway-account"
        } else {
            "railway-project"
        };
    }
    match class {
        NameClass::Password => "password",
        _ => "env-secret",
    }
}

/// Values that stand for a secret without being one.
pub(super) fn is_placeholder(v: &str) -> bool {
    let t = v.trim();
    if t.is_empty() {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    if t.starts_with('$')
        || t.starts_with("[REDACTED")
        || t.starts_with('<')
        || t.starts_with("{{")
        || t.starts_with("{%")
        || t.starts_with("<%")
        || (t.starts_with('%') && t.ends_with('%') && t.len() > 2)
        || (t.starts_with("#{") && t.ends_with('}'))
    {
        return true;
    }
    if lower.contains("xxxx") || t.contains("***") || t.contains("...") || t.contains("EXAMPLE") {
        return true;
    }
    // A run of one repeated character (`--------`, `00000000`, `aaaa`).
    let mut cs = t.chars();
    if let Some(first) = cs.next()
        && t.len() >= 4
        && cs.all(|c| c == first)
    {
        return true;
    }
    if lower.starts_with("your") || lower.ends_with("-here") || lower.ends_with("_here") {
        return true;
    }
    matches!(
        lower.as_str(),
        "null"
            | "none"
            | "nil"
            | "true"
            | "false"
            | "undefined"
            | "empty"
            | "required"
            | "optional"
            | "string"
            | "str"
            | "text"
            | "bool"
            | "int"
            | "hidden"
            | "redacted"
            | "masked"
            | "placeholder"
            | "dummy"
            | "sample"
            | "example"
            | "todo"
            | "tbd"
            | "fixme"
            | "changeit-later"
            | "password"
            | "passwd"
            | "secret"
            | "token"
            | "apikey"
            | "api_key"
            | "api-key"
            | "pass"
            | "expired"
            | "invalid"
            | "missing"
            | "unset"
            | "default"
            | "env"
            | "prompt"
            | "stdin"
            | "file"
            | "bearer"
            | "basic"
    )
}

/// Code that reads a secret from elsewhere: `os.environ[..]`, `get_token()`, `process.env.X`,
/// `args.api_key`.
pub(super) fn is_code(v: &str) -> bool {
    if v.contains('(') || v.contains(')') || v.contains('[') || v.contains("::") {
        return true;
    }
    let segs: Vec<&str> = v.split('.').collect();
    segs.len() >= 2
        && segs.iter().all(|s| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit())
        })
}

/// A file path rather than a secret value.
pub(super) fn is_path(v: &str) -> bool {
    let rooted = v.starts_with('/')
        || v.starts_with("~/")
        || v.starts_with("./")
        || v.starts_with("../")
        || v.starts_with("file:");
    let random_seg = v.split('/').any(|s| {
        s.len() >= 8
            && s.chars().any(|c| c.is_ascii_uppercase())
            && s.chars().any(|c| c.is_ascii_lowercase())
            && s.chars().any(|c| c.is_ascii_digit())
    });
    if rooted {
        return !random_seg && !v.contains('+') && !v.contains('=');
    }
    const EXT: [&str; 14] = [
        ".json", ".yaml", ".yml", ".txt", ".pem", ".key", ".p12", ".pfx", ".env", ".enc", ".cfg",
        ".conf", ".ini", ".toml",
    ];
    let lower = v.to_ascii_lowercase();
    EXT.iter().any(|e| lower.ends_with(e)) && !random_seg
}

pub(super) fn has_digit(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
}

pub(super) fn has_alpha(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_alphabetic())
}

/// A value that looks generated: letters and digits (or long and mixed-case).
pub(super) fn looks_random(v: &str) -> bool {
    let mixed_case =
        v.bytes().any(|b| b.is_ascii_uppercase()) && v.bytes().any(|b| b.is_ascii_lowercase());
    (v.len() >= 8 && has_digit(v) && has_alpha(v)) || (v.len() >= 24 && mixed_case)
}

pub(super) fn value_ok(v: &str, class: NameClass) -> bool {
    if v.len() > 8192 || is_placeholder(v) || is_code(v) || is_path(v) {
        return false;
    }
    match class {
        NameClass::Password => {
            v.len() >= 4
                && !v.contains(char::is_whitespace)
                && (!v.bytes().all(|b| b.is_ascii_digit()) || v.len() >= 6)
        }
        NameClass::Token => {
            v.len() >= 8
                && !v.contains(char::is_whitespace)
                && !v.bytes().all(|b| b.is_ascii_digit())
                && (has_digit(v) || v.len() >= 12 || !v.bytes().all(|b| b.is_ascii_lowercase()))
        }
        NameClass::Weak => v.len() >= 16 && looks_random(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick test on a name's ending never turns away a name its words would accept.
    #[test]
    fn the_ending_test_agrees_with_the_words() {
        let mut names: Vec<String> = [
            "argv",
            "cwd",
            "data",
            "key",
            "KEY",
            "api_key",
            "apiKey",
            "SECRET_KEY_BASE",
            "secret key base",
            "client-key-data",
            "private.key.data",
            "auth",
            "x_auth",
            "PGPASSWORD",
            "keyStorePassword",
            "password_",
            "password!",
            "tokené",
            "Token9",
            "max_tokens",
            "tokenizer",
            "public_key",
            "pat",
            "path",
            "pw",
            "pword",
            "é",
            "",
            "_",
            "railway_api_token",
            "credentials",
            "CREDS",
            "passcode-",
            "base",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let parts = [
            "api", "key", "KEY", "Key", "token", "TOKEN", "secret", "pass", "word", "PASS", "Word",
            "data", "base", "auth", "x", "_", "-", ".", " ", "é", "9", "pw", "d", "s", "public",
            "client", "private", "cred", "phrase", "code",
        ];
        let mut rng = crate::synth::Rng::new(11);
        for _ in 0..20_000 {
            let n = 1 + rng.below(4) as usize;
            names.push(
                (0..n)
                    .map(|_| parts[rng.below(parts.len() as u64) as usize])
                    .collect(),
            );
        }
        for n in &names {
            assert_eq!(name_class(n), name_class_of_words(n), "{n:?}");
        }
    }
}
