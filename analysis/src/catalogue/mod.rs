//! The destructive-action catalogue: rules as data (one TOML file per family in
//! `analysis/rules/`, compiled in), matched against commands, SQL statements, HTTP/GraphQL
//! requests and agent tool names.
//!
//! The rule format is documented in `analysis/rules/README.md`. [`Catalogue::builtin`] is the
//! compiled-in catalogue; [`Catalogue::from_toml_str`] loads another one (tests, extensions).

use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

use crate::decode::{ApiRequest, decode_argv, percent_decode};
use crate::glob;
use crate::shell::{self, SimpleCommand};

mod load;
mod matchers;
mod paths;

pub use load::PACKS;
use load::Pattern;
pub use matchers::aws_action;
use matchers::*;
pub use paths::{normalize, outside_worktree, resolve_cd};

/// How bad an action is if it was not meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// One step up (critical stays critical).
    pub fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A catalogue that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue pack {family}: {source}")]
    Toml {
        family: String,
        source: toml::de::Error,
    },
    #[error("built-in catalogue pack {family} as compiled by the build: {source}")]
    Compiled {
        family: String,
        source: serde_json::Error,
    },
    #[error("catalogue rule {rule}: bad regex {pattern:?}: {message}")]
    Regex {
        rule: String,
        pattern: String,
        message: String,
    },
    #[error("catalogue rule {0} has no matcher")]
    Empty(String),
}

/// One matched rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub rule: String,
    pub severity: Severity,
    pub summary: String,
    /// What matched, for people: the command, statement or request.
    pub detail: String,
    /// The wrappers and interpreters the command was seen through, outermost first
    /// (`sudo`, `bash -c`, `python3 -c: os.system`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

/// A matcher group as a pack writes it (every key optional).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawGroup {
    program: Vec<String>,
    words: Vec<String>,
    anchored: bool,
    flags_all: Vec<String>,
    flags_any: Vec<String>,
    flags_none: Vec<String>,
    arg_any: Vec<String>,
    outside_worktree: bool,
    sql: Option<String>,
    sql_not: Option<String>,
    graphql: Vec<String>,
    http_method: Vec<String>,
    http_host: Vec<String>,
    http_path: Vec<String>,
    aws_action: Vec<String>,
    url_any: Vec<String>,
    body_all: Vec<String>,
    tool: Vec<String>,
}

#[derive(Debug)]
struct Group {
    raw: RawGroup,
    arg_any: Vec<Pattern>,
    sql: Option<Pattern>,
    sql_not: Option<Pattern>,
    url_any: Vec<Pattern>,
    body_all: Vec<Pattern>,
}

impl Group {
    fn is_command(&self) -> bool {
        !self.raw.program.is_empty()
    }
    fn is_http(&self) -> bool {
        !self.raw.graphql.is_empty()
            || !self.raw.http_method.is_empty()
            || !self.raw.http_host.is_empty()
            || !self.raw.http_path.is_empty()
            || !self.raw.aws_action.is_empty()
            || !self.raw.url_any.is_empty()
    }
}

/// A rule, compiled.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    /// The pack it comes from (`aws`, `git`, ...).
    pub family: String,
    pub severity: Severity,
    pub summary: String,
    /// Commands (or, for tool rules, tool names) this rule must match as the most severe rule.
    pub examples: Vec<String>,
    /// Look-alikes that must match no rule at all.
    pub harmless: Vec<String>,
    groups: Vec<Group>,
}

impl Rule {
    /// What the rule matches, one line per matcher group, for people (`catalogue list`).
    pub fn matchers(&self) -> Vec<String> {
        self.groups.iter().map(Group::describe).collect()
    }
}

impl Group {
    fn describe(&self) -> String {
        let r = &self.raw;
        let mut parts: Vec<String> = Vec::new();
        if !r.program.is_empty() {
            let mut p = r.program.join("|");
            if !r.words.is_empty() {
                p.push(' ');
                p.push_str(&r.words.join(" "));
            }
            parts.push(p);
        }
        if r.anchored {
            parts.push("(words first)".into());
        }
        if !r.flags_all.is_empty() {
            parts.push(format!("with {}", r.flags_all.join(" and ")));
        }
        if !r.flags_any.is_empty() {
            parts.push(format!("with any of {}", r.flags_any.join(", ")));
        }
        if !r.flags_none.is_empty() {
            parts.push(format!("without {}", r.flags_none.join(", ")));
        }
        for a in &r.arg_any {
            parts.push(format!("an argument matching /{a}/"));
        }
        if r.outside_worktree {
            parts.push("on a path outside the work tree".into());
        }
        if let Some(q) = &r.sql {
            parts.push(format!("SQL /{q}/"));
        }
        if let Some(q) = &r.sql_not {
            parts.push(format!("not /{q}/"));
        }
        if !r.graphql.is_empty() {
            parts.push(format!("GraphQL mutation {}", r.graphql.join("|")));
        }
        if !r.http_method.is_empty() {
            parts.push(format!("HTTP {}", r.http_method.join("|")));
        }
        if !r.http_host.is_empty() {
            parts.push(format!("to {}", r.http_host.join("|")));
        }
        if !r.http_path.is_empty() {
            parts.push(format!("path {}", r.http_path.join("|")));
        }
        for u in &r.url_any {
            parts.push(format!("URL /{u}/"));
        }
        if !r.aws_action.is_empty() {
            parts.push(format!("AWS action {}", r.aws_action.join("|")));
        }
        for b in &r.body_all {
            parts.push(format!("body /{b}/"));
        }
        if !r.tool.is_empty() {
            parts.push(format!("agent tool {}", r.tool.join("|")));
        }
        parts.join(" ")
    }
}

/// One simple command seen in a line, for [`Catalogue::explain_line`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub argv: Vec<String>,
    /// Wrappers and interpreters it was seen through, outermost first.
    pub via: Vec<String>,
    /// Rules that matched this command itself (its program, SQL or HTTP request).
    pub matched: Vec<String>,
    /// Rules about this program that were tried and did not match.
    pub not_matched: Vec<String>,
}

/// Why a command line is or is not destructive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub line: String,
    pub destructive: bool,
    /// The most severe match decides.
    pub rule: Option<String>,
    pub severity: Option<Severity>,
    pub matches: Vec<Match>,
    pub commands: Vec<Seen>,
}

/// Where a command runs, for rules about the work tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkTree {
    /// The work tree's root (the session's cwd at start), absolute.
    pub root: Option<String>,
    /// The command's working directory, absolute (defaults to the root).
    pub cwd: Option<String>,
}

/// The compiled catalogue.
#[derive(Debug)]
pub struct Catalogue {
    pub rules: Vec<Rule>,
    /// Rules with a command matcher, by literal program name (rule indices, ascending).
    by_program: std::collections::HashMap<String, Vec<usize>>,
    /// Rules whose command matchers name programs by glob (`mkfs.*`): always tried.
    by_glob: Vec<usize>,
}

impl Catalogue {
    /// The rules (indices, ascending) with a command matcher that may match `cmd`'s program.
    fn command_candidates(&self, cmd: &SimpleCommand) -> Vec<usize> {
        let mut v: Vec<usize> = self.by_glob.clone();
        for key in [cmd.program(), cmd.argv[0].as_str()] {
            if let Some(l) = self.by_program.get(key) {
                v.extend_from_slice(l);
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    fn hit(rule: &Rule, detail: String) -> Match {
        Match {
            rule: rule.id.clone(),
            severity: rule.severity,
            summary: rule.summary.clone(),
            detail,
            via: Vec::new(),
        }
    }

    /// Rules matching one simple command (program rules, plus its SQL and its HTTP request).
    pub fn match_simple(&self, cmd: &SimpleCommand, wt: &WorkTree) -> Vec<Match> {
        let mut out = Vec::new();
        if cmd.argv.is_empty() {
            return out;
        }
        let detail = cmd.argv.join(" ");
        for i in self.command_candidates(cmd) {
            let rule = &self.rules[i];
            if rule
                .groups
                .iter()
                .any(|g| g.is_command() && command_matches(g, cmd, wt))
            {
                out.push(Self::hit(rule, detail.clone()));
            }
        }
        for stmt in shell::sql_statements(cmd) {
            out.extend(self.match_sql(&stmt));
        }
        if let Some(req) = decode_argv(&cmd.argv) {
            out.extend(self.match_api(&req));
        }
        for m in &mut out {
            m.via.clone_from(&cmd.wrappers);
        }
        // Interpreter one-liners: what their code runs or removes (`python -c`, `node -e`, ...).
        for inner in crate::interp::commands(cmd) {
            out.extend(self.match_simple(&inner, wt));
        }
        dedup(&mut out);
        out
    }

    /// Rules matching an argv (an `execve`), wrappers seen through.
    pub fn match_argv(&self, argv: &[String], wt: &WorkTree) -> Vec<Match> {
        let mut out = Vec::new();
        for c in shell::from_argv(argv) {
            out.extend(self.match_simple(&c, wt));
        }
        dedup(&mut out);
        out
    }

    /// Rules matching a command line; `cd` on the line moves the working directory.
    pub fn match_line(&self, line: &str, wt: &WorkTree) -> Vec<Match> {
        let mut wt = wt.clone();
        let mut out = Vec::new();
        for c in shell::split(line) {
            if c.program() == "cd" {
                wt.cwd = Some(resolve_cd(&wt, c.argv.get(1).map(String::as_str)));
                continue;
            }
            out.extend(self.match_simple(&c, &wt));
        }
        dedup(&mut out);
        out
    }

    /// Why a command line is or is not destructive: every match with the wrappers and
    /// interpreters it was seen through, and every simple command seen with the rules tried on
    /// it. The verdict is [`Catalogue::match_line`]'s.
    pub fn explain_line(&self, line: &str, wt: &WorkTree) -> Explanation {
        let matches = self.match_line(line, wt);
        let mut commands = Vec::new();
        let mut wt = wt.clone();
        for c in shell::split(line) {
            if c.program() == "cd" {
                wt.cwd = Some(resolve_cd(&wt, c.argv.get(1).map(String::as_str)));
                continue;
            }
            self.explain_simple(&c, &wt, &mut commands);
        }
        Explanation {
            line: line.to_string(),
            destructive: !matches.is_empty(),
            rule: matches.first().map(|m| m.rule.clone()),
            severity: matches.first().map(|m| m.severity),
            matches,
            commands,
        }
    }

    fn explain_simple(&self, c: &SimpleCommand, wt: &WorkTree, out: &mut Vec<Seen>) {
        if c.argv.is_empty() {
            return;
        }
        let own: Vec<String> = self
            .match_simple(c, wt)
            .into_iter()
            .filter(|m| m.via == c.wrappers)
            .map(|m| m.rule)
            .collect();
        let prog = c.program();
        let not_matched = self
            .command_candidates(c)
            .into_iter()
            .filter(|&i| {
                self.rules[i].groups.iter().any(|g| {
                    g.raw
                        .program
                        .iter()
                        .any(|p| glob::matches(p, prog) || glob::matches(p, &c.argv[0]))
                })
            })
            .map(|i| self.rules[i].id.clone())
            .filter(|id| !own.contains(id))
            .collect();
        out.push(Seen {
            argv: c.argv.clone(),
            via: c.wrappers.clone(),
            matched: own,
            not_matched,
        });
        for inner in crate::interp::commands(c) {
            self.explain_simple(&inner, wt, out);
        }
    }

    /// Rules matching one SQL statement.
    pub fn match_sql(&self, stmt: &str) -> Vec<Match> {
        let stmt = stmt.trim();
        let mut out = Vec::new();
        for rule in &self.rules {
            let hit = rule.groups.iter().any(|g| match &g.sql {
                Some(re) => {
                    re.is_match(stmt) && !g.sql_not.as_ref().is_some_and(|n| n.is_match(stmt))
                }
                None => false,
            });
            if hit {
                out.push(Self::hit(rule, stmt.to_string()));
            }
        }
        out
    }

    /// Rules matching an HTTP request (GraphQL mutations, REST verbs and paths, AWS actions,
    /// and SQL sent in a JSON body's `sql`/`query` field).
    pub fn match_api(&self, req: &ApiRequest) -> Vec<Match> {
        let mut out = Vec::new();
        let detail = match &req.graphql {
            Some(g) => format!(
                "{} {} ({} {})",
                req.method,
                req.url,
                g.operation_type,
                g.root_fields.join(", ")
            ),
            None => format!("{} {}", req.method, req.url),
        };
        for rule in &self.rules {
            if rule
                .groups
                .iter()
                .any(|g| g.is_http() && http_matches(g, req))
            {
                out.push(Self::hit(rule, detail.clone()));
            }
        }
        if req.graphql.is_none()
            && let Some(body) = &req.body
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(body)
        {
            for key in ["sql", "query", "statement"] {
                if let Some(q) = v.get(key).and_then(|q| q.as_str()) {
                    for stmt in shell::split_sql(q) {
                        out.extend(self.match_sql(&stmt));
                    }
                }
            }
        }
        dedup(&mut out);
        out
    }

    /// Rules matching an agent tool's name (MCP tools and the like).
    pub fn match_tool(&self, tool: &str) -> Vec<Match> {
        let mut out = Vec::new();
        let lower = tool.to_ascii_lowercase();
        for rule in &self.rules {
            if rule.groups.iter().any(|g| {
                g.raw
                    .tool
                    .iter()
                    .any(|p| glob::matches(&p.to_ascii_lowercase(), &lower))
            }) {
                out.push(Self::hit(rule, tool.to_string()));
            }
        }
        out
    }
}

/// [`Catalogue::match_argv`] on the built-in catalogue, without a known work tree.
pub fn match_command(argv: &[String]) -> Vec<Match> {
    Catalogue::builtin().match_argv(argv, &WorkTree::default())
}

/// [`Catalogue::match_api`] on the built-in catalogue.
pub fn match_api(req: &ApiRequest) -> Vec<Match> {
    Catalogue::builtin().match_api(req)
}

/// [`Catalogue::match_sql`] on the built-in catalogue.
pub fn match_sql(stmt: &str) -> Vec<Match> {
    Catalogue::builtin().match_sql(stmt)
}

/// [`Catalogue::match_line`] on the built-in catalogue.
pub fn match_line(line: &str, wt: &WorkTree) -> Vec<Match> {
    Catalogue::builtin().match_line(line, wt)
}

fn dedup(v: &mut Vec<Match>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|m| seen.insert(m.rule.clone()));
    v.sort_by_key(|m| std::cmp::Reverse(m.severity));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_loads() {
        let c = Catalogue::load_builtin().unwrap();
        assert!(c.rules.len() >= 50, "{} rules", c.rules.len());
        let mut ids: Vec<&str> = c.rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule ids");
    }

    #[test]
    fn the_judging_catalogue_has_every_rule_and_matcher() {
        let fast = Catalogue::load_builtin().unwrap();
        let full = Catalogue::builtin_with_examples();
        assert_eq!(fast.rules.len(), full.rules.len());
        for (a, b) in fast.rules.iter().zip(&full.rules) {
            assert_eq!(
                (&a.id, &a.family, a.severity),
                (&b.id, &b.family, b.severity)
            );
            assert_eq!(a.matchers(), b.matchers(), "{}", a.id);
            assert!(a.examples.is_empty() && !b.examples.is_empty(), "{}", a.id);
        }
    }

    #[test]
    fn every_builtin_regex_compiles() {
        let c = Catalogue::load_builtin().unwrap();
        for r in &c.rules {
            for g in &r.groups {
                let all = g
                    .arg_any
                    .iter()
                    .chain(&g.url_any)
                    .chain(&g.body_all)
                    .chain(&g.sql)
                    .chain(&g.sql_not);
                for p in all {
                    assert!(p.regex().is_some(), "{}: {}", r.id, p.src);
                }
            }
        }
        let bad = "[[rule]]\nid = \"x\"\nseverity = \"low\"\nsummary = \"s\"\nprogram = [\"x\"]\narg_any = [\"(unclosed\"]\n";
        assert!(matches!(
            Catalogue::from_toml_str(bad),
            Err(CatalogueError::Regex { .. })
        ));
    }

    #[test]
    fn flags() {
        use crate::testing::argv as a;
        assert!(flag_present("-r|-R|--recursive", &a(&["-rf", "x"])));
        assert!(flag_present("-r|-R|--recursive", &a(&["-fR"])));
        assert!(flag_present("--force", &a(&["--force"])));
        assert!(!flag_present("--force", &a(&["--force-with-lease"])));
        assert!(flag_present("-destroy", &a(&["-destroy"])));
        assert!(!flag_present("-d", &a(&["--dry-run"])));
        assert!(flag_present("-replace", &a(&["-replace=aws_db.x"])));
    }

    #[test]
    fn worktree() {
        let wt = WorkTree {
            root: Some("/home/dev/app".into()),
            cwd: None,
        };
        assert!(!outside_worktree("build", &wt));
        assert!(!outside_worktree("./node_modules", &wt));
        assert!(outside_worktree("..", &wt));
        assert!(outside_worktree("../other", &wt));
        assert!(outside_worktree("/", &wt));
        assert!(outside_worktree("~", &wt));
        assert!(outside_worktree("$HOME/.config", &wt));
        assert!(!outside_worktree("/home/dev/app/dist", &wt));
        assert!(!outside_worktree("/tmp/build-123", &wt));
        assert!(outside_worktree("/tmp", &wt));
        assert!(!outside_worktree("/tmp/*", &wt));
        assert!(!outside_worktree("/var/tmp/cache-*", &wt));
        assert!(outside_worktree("/tmp/../etc/*", &wt));
        assert!(!outside_worktree("$BUILD_DIR", &wt));
        assert!(outside_worktree("/var/lib/postgresql/data", &wt));
    }
}
