//! The policy (`flightlog.toml`): which environment is home, what belongs to each environment,
//! what each credential can reach, and what the guard denies.
//!
//! The stable core (PRODUCT.md §3) is read here with every key's line, so errors and unknown
//! keys are reported as `FILE:LINE:COL: message`. Unknown keys are warnings (a newer policy
//! still loads in an older flightlog); wrong types and bad values are errors.
//!
//! ```toml
//! home = "staging"
//! [environments.production]
//! hosts = ["db.prod.example.com", "*.prod.internal"]
//! urls = ["postgres://*@db.prod.example.com/*"]
//! ids = ["3d2c42fb-*", "prod-main-db"]
//! env_vars = { RAILWAY_ENVIRONMENT = "production", AWS_PROFILE = ["prod", "prod-*"] }
//! kube_contexts = ["prod-*"]
//! terraform_workspaces = ["prod"]
//! aws_profiles = ["prod"]            # extension: --profile / AWS_PROFILE
//! gcp_projects = ["acme-prod"]       # extension: gcloud --project / CLOUDSDK_CORE_PROJECT
//! paths = ["/srv/prod/**"]
//! [[credentials]]
//! kind = "railway-account"           # or env = "VAR", file = "glob", fingerprint = "hex"
//! reaches = ["*"]
//! [guard]
//! enabled = false
//! deny = ["destructive-crossing"]    # also "crossing", "destructive"
//! min_severity = "medium"            # destructive rules below it are recorded, not denied
//! fail = "open"                      # or "closed"
//! ```

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

mod parse;

use parse::*;

/// The built-in policy, used when no file is given. Documented in `fixtures/policies/`.
pub const DEFAULT_POLICY: &str = r#"# flightlog built-in policy
# No home: the session's --env names it; without one, every named environment is away.

[environments.production]
kube_contexts = ["prod", "prod-*", "*-prod", "production", "*-production"]
terraform_workspaces = ["prod", "production", "prod-*"]
aws_profiles = ["prod", "production", "prod-*", "*-prod"]
env_vars = { RAILWAY_ENVIRONMENT = ["production", "prod"], AWS_PROFILE = ["prod", "production", "prod-*", "*-prod"], TF_WORKSPACE = ["prod", "production"] }

# A Railway account or workspace token (sent as `Authorization: Bearer`) reaches every project
# and environment; a project token (`Project-Access-Token`) reaches one environment.
[[credentials]]
kind = "railway-account"
reaches = ["*"]

[guard]
enabled = false
deny = ["destructive-crossing"]
min_severity = "medium"               # destructive rules below it are recorded, not denied
fail = "open"
"#;

/// The secret kinds a `[[credentials]] kind` can name: the redactor's kinds plus the ones the
/// analysis derives (`railway-account`, `railway-project`).
pub const KNOWN_KINDS: [&str; 13] = [
    "railway-account",
    "railway-project",
    "railway-token",
    "bearer-token",
    "env-secret",
    "aws-access-key-id",
    "github-token",
    "github-pat",
    "stripe-key",
    "slack-token",
    "jwt",
    "url-password",
    "private-key",
];

/// What the guard denies.
pub const DENY_KEYWORDS: [&str; 3] = ["destructive-crossing", "crossing", "destructive"];

/// A loaded policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The session's home environment (a session's own `home_env` wins).
    pub home: Option<String>,
    pub environments: Vec<Environment>,
    pub credentials: Vec<CredentialRule>,
    pub guard: GuardSettings,
    /// Where it came from (`None`: built-in).
    pub source: Option<PathBuf>,
    /// `[checkpoints] anchor`: a shell command run after each store checkpoint, with the signed
    /// checkpoint (JSON) on stdin, to copy it where the agent cannot write.
    pub anchor: Option<String>,
    /// `[team] url`: the team store (`postgres://...`) that `push` and `record` ship to when
    /// neither `--to`/`--push` nor FLIGHTLOG_TEAM_URL names one.
    pub team_url: Option<String>,
}

/// Matchers of one environment. Every list holds globs (`*`, `**`, `?`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Environment {
    pub name: String,
    pub hosts: Vec<String>,
    pub urls: Vec<String>,
    pub ids: Vec<String>,
    /// (variable, value globs)
    pub env_vars: Vec<(String, Vec<String>)>,
    pub kube_contexts: Vec<String>,
    pub terraform_workspaces: Vec<String>,
    pub aws_profiles: Vec<String>,
    pub gcp_projects: Vec<String>,
    pub paths: Vec<String>,
}

/// What a credential reaches. The selectors that are set must all hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CredentialRule {
    pub kind: Option<String>,
    pub env: Option<String>,
    pub file: Option<String>,
    pub fingerprint: Option<String>,
    /// Environment names, or `*` for every environment.
    pub reaches: Vec<String>,
    pub line: usize,
}

impl CredentialRule {
    /// Whether this credential reaches beyond `home`.
    pub fn reaches_beyond(&self, home: Option<&str>) -> bool {
        self.reaches
            .iter()
            .any(|r| r == "*" || Some(r.as_str()) != home)
    }

    /// A short name: `railway-account`, `env RAILWAY_TOKEN`, `file .env*`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(k) = &self.kind {
            parts.push(k.clone());
        }
        if let Some(e) = &self.env {
            parts.push(format!("env {e}"));
        }
        if let Some(f) = &self.file {
            parts.push(format!("file {f}"));
        }
        if let Some(f) = &self.fingerprint {
            parts.push(format!("fingerprint {f}"));
        }
        parts.join(", ")
    }
}

/// Guard settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSettings {
    pub enabled: bool,
    /// `destructive-crossing`, `crossing`, `destructive`.
    pub deny: Vec<String>,
    /// The least severe destructive action `deny` applies to (default `medium`: `low` rules
    /// such as `docker rm -f` and `git branch -D` are recorded, not denied).
    pub min_severity: crate::catalogue::Severity,
    pub fail: FailMode,
}

impl GuardSettings {
    /// Whether the guard is on: the policy enables it, or the run asked for it (`record
    /// --guard`). The one switch every guard (hooks, traced execs, proxied requests) obeys.
    pub fn on(&self, asked: bool) -> bool {
        self.enabled || asked
    }
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            enabled: false,
            deny: vec!["destructive-crossing".into()],
            min_severity: crate::catalogue::Severity::Medium,
            fail: FailMode::Open,
        }
    }
}

/// What a hook answers when flightlog itself fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    Open,
    Closed,
}

impl FailMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailMode::Open => "open",
            FailMode::Closed => "closed",
        }
    }
}

/// One problem in a policy file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// A warning (an unknown key or kind) rather than an error.
    pub warning: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// A policy that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_problems(path.as_deref(), problems))]
    Invalid {
        path: Option<PathBuf>,
        problems: Vec<Problem>,
    },
}

fn render_problems(path: Option<&Path>, problems: &[Problem]) -> String {
    let name = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "policy".into());
    problems
        .iter()
        .map(|p| format!("{name}:{p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl PolicyError {
    /// The problems with their lines (empty for I/O errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Invalid { problems, .. } => problems,
            PolicyError::Io { .. } => &[],
        }
    }

    fn with_path(self, p: &Path) -> PolicyError {
        match self {
            PolicyError::Invalid { problems, .. } => PolicyError::Invalid {
                path: Some(p.to_path_buf()),
                problems,
            },
            other => other,
        }
    }
}

/// A parsed policy and the warnings (unknown keys, unknown kinds) found on the way.
#[derive(Debug, Clone)]
pub struct Checked {
    pub policy: Policy,
    pub warnings: Vec<Problem>,
}

impl Default for Policy {
    /// The built-in policy ([`DEFAULT_POLICY`]).
    fn default() -> Self {
        match Policy::check_str(DEFAULT_POLICY) {
            Ok(c) => c.policy,
            // The built-in text is tested (`default_policy_parses`); fall back to empty rather
            // than panic in a hook.
            Err(_) => Policy::empty(),
        }
    }
}

impl Policy {
    /// A policy that says nothing: no home, no environments, no credentials, the guard off.
    pub(crate) fn empty() -> Self {
        Policy {
            home: None,
            environments: Vec::new(),
            credentials: Vec::new(),
            guard: GuardSettings::default(),
            source: None,
            anchor: None,
            team_url: None,
        }
    }
}

impl Policy {
    /// Loads the policy at `path`, or the built-in one when `None`.
    pub fn load(path: Option<&Path>) -> Result<Policy, PolicyError> {
        match path {
            None => Ok(Policy::default()),
            Some(p) => Ok(Policy::check_file(p)?.policy),
        }
    }

    /// Reads and checks a policy file.
    pub fn check_file(path: &Path) -> Result<Checked, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = Policy::check_str(&text).map_err(|e| e.with_path(path))?;
        c.policy.source = Some(path.to_path_buf());
        Ok(c)
    }

    /// Parses a policy; unknown keys are ignored (see [`Policy::check_str`] for them).
    pub fn from_toml_str(s: &str) -> Result<Policy, PolicyError> {
        Ok(Policy::check_str(s)?.policy)
    }

    /// Parses a policy and returns the warnings too.
    pub fn check_str(s: &str) -> Result<Checked, PolicyError> {
        let mut p = Parser {
            src: s,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let root = match DeTable::parse(s) {
            Ok(t) => t,
            Err(e) => {
                let (line, column) = e.span().map(|sp| line_col(s, sp.start)).unwrap_or((1, 1));
                return Err(PolicyError::Invalid {
                    path: None,
                    problems: vec![Problem {
                        line,
                        column,
                        message: e.message().trim().to_string(),
                        warning: false,
                    }],
                });
            }
        };
        let policy = p.policy(root.get_ref());
        if !p.errors.is_empty() {
            // Unknown keys are worth seeing next to the errors (a typo often explains them).
            p.errors.append(&mut p.warnings);
            p.errors.sort_by_key(|e| (e.line, e.column));
            return Err(PolicyError::Invalid {
                path: None,
                problems: p.errors,
            });
        }
        p.warnings.sort_by_key(|e| (e.line, e.column));
        Ok(Checked {
            policy,
            warnings: p.warnings,
        })
    }

    /// The environment named `name`.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(s: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(s.len());
    let before = &s.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_globs_are_errors_at_their_line() {
        let src = "home = \"staging\"\n[environments.production]\nhosts = [\"ok.example.com\", \"*.prod.[internal\"]\nids = [\"a{b,c\"]\n[environments.production.env_vars]\nAWS_PROFILE = \"prod-[\"\n[[credentials]]\nfile = \"ops/{a\"\nreaches = [\"*\"]\n";
        let Err(PolicyError::Invalid { problems, .. }) = Policy::check_str(src) else {
            panic!("broken globs accepted");
        };
        let got: Vec<String> = problems
            .iter()
            .filter(|p| !p.warning)
            .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
            .collect();
        let want = [
            "3:28: `hosts`: `*.prod.[internal` is not a valid glob: a `[` class is not closed with `]`",
            "4:8: `ids`: `a{b,c` is not a valid glob: a `{` is not closed with `}`",
            "6:15: `env_vars.AWS_PROFILE`: `prod-[` is not a valid glob: a `[` class is not closed with `]`",
            "8:8: `file`: `ops/{a` is not a valid glob: a `{` is not closed with `}`",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn checkpoint_anchor_parses_and_unknown_keys_are_named() {
        let c =
            Policy::check_str("[checkpoints]\nanchor = \"cat > /mnt/audit/cp.json\"\nevery = 5\n")
                .unwrap();
        assert_eq!(c.policy.anchor.as_deref(), Some("cat > /mnt/audit/cp.json"));
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert_eq!(c.warnings[0].line, 3);
        assert!(c.warnings[0].message.contains("every"));
    }

    #[test]
    fn team_url_is_read_and_checked() {
        let c = Policy::check_str(
            "[team]\nurl = \"postgres://ci@db.internal/flightlog?sslmode=require\"\nurls = 1\n",
        )
        .unwrap();
        assert_eq!(
            c.policy.team_url.as_deref(),
            Some("postgres://ci@db.internal/flightlog?sslmode=require")
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert_eq!(c.warnings[0].line, 3);
        assert!(c.warnings[0].message.contains("did you mean `url`"));
        let e = Policy::check_str("[team]\nurl = \"/var/lib/flightlog.db\"\n").unwrap_err();
        assert!(e.to_string().contains("postgres://"), "{e}");
        let e = Policy::check_str("team = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("must be a table"), "{e}");
    }

    #[test]
    fn default_policy_parses() {
        let c = Policy::check_str(DEFAULT_POLICY).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let p = Policy::default();
        assert_eq!(p.home, None);
        assert!(!p.guard.enabled);
        assert_eq!(p.guard.deny, vec!["destructive-crossing"]);
        assert_eq!(p.credentials[0].kind.as_deref(), Some("railway-account"));
        assert_eq!(p.credentials[0].reaches, vec!["*"]);
    }

    #[test]
    fn the_product_example_parses() {
        let src = r#"home = "staging"                       # the session's home environment

[environments.production]
hosts = ["db.prod.example.com", "*.prod.internal"]
urls = ["postgres://*@db.prod.example.com/*"]
ids = ["3d2c42fb-*", "prod-main-db"]
env_vars = { RAILWAY_ENVIRONMENT = "production", AWS_PROFILE = "prod" }
kube_contexts = ["prod-*"]
terraform_workspaces = ["prod"]
paths = ["/srv/prod/**"]

[environments.staging]
hosts = ["*.staging.example.com"]

[[credentials]]
kind = "railway-account"
reaches = ["*"]

[guard]
enabled = false
deny = ["destructive-crossing"]
fail = "open"
"#;
        let c = Policy::check_str(src).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let p = c.policy;
        assert_eq!(p.home.as_deref(), Some("staging"));
        let prod = p.environment("production").unwrap();
        assert_eq!(prod.ids, vec!["3d2c42fb-*", "prod-main-db"]);
        assert!(
            prod.env_vars
                .contains(&("AWS_PROFILE".into(), vec!["prod".into()]))
        );
        assert_eq!(p.credentials[0].line, 15);
    }

    #[test]
    fn errors_name_their_line() {
        let src = "home = 3\n[environments.production]\nhosts = \"x\"\nids = [1]\n[guard]\nfail = \"ajar\"\ndeny = [\"everything\"]\n";
        let e = Policy::check_str(src).unwrap_err();
        let lines: Vec<usize> = e.problems().iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 4, 6, 7], "{e}");
        assert!(
            e.to_string()
                .contains("policy:1:8: `home` must be a string"),
            "{e}"
        );

        let e = Policy::check_str("[[credentials]]\nreaches = [\"*\"]\n").unwrap_err();
        assert!(e.to_string().contains("needs `kind`"), "{e}");
        let e = Policy::check_str("home = \"a\"\nhome = \"b\"\n").unwrap_err();
        assert_eq!(e.problems()[0].line, 2, "{e}");
        let e = Policy::check_str("[environments.production\n").unwrap_err();
        assert_eq!(e.problems()[0].line, 1, "{e}");
    }

    #[test]
    fn unknown_keys_are_warnings_with_lines() {
        let src = "home = \"staging\"\n\n[environments.production]\nhostz = [\"a\"]\n\n[gaurd]\nenabled = true\n[[credentials]]\nkind = \"railway-acount\"\nreaches = [\"prod\"]\n";
        let c = Policy::check_str(src).unwrap();
        let w: Vec<String> = c.warnings.iter().map(|p| p.to_string()).collect();
        assert!(
            w[0].starts_with(
                "4:1: unknown key `hostz` in [environments.production] (did you mean `hosts`?)"
            ),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("6:2: unknown key `gaurd` in the top level (did you mean `guard`?)"),
            "{w:?}"
        );
        assert!(
            w[2].starts_with("8:1: `reaches` names `prod`") || w[3].starts_with("8:1"),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|x| x.starts_with("9:8: unknown credential kind `railway-acount`")),
            "{w:?}"
        );
    }
}
