//! Loading the catalogue: the rule packs' TOML (and the JSON `analysis/build.rs` compiles them
//! into for judging), checked and compiled into rules indexed by program name.

use std::sync::{LazyLock, OnceLock};

use regex::Regex;
use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
struct RawRule {
    id: String,
    severity: Severity,
    summary: String,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    harmless: Vec<String>,
    #[serde(flatten)]
    first: RawGroup,
    #[serde(default)]
    also: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    rule: Vec<RawRule>,
}

/// A rule as `build.rs` compiles it: its matcher groups in order, the first being the rule's
/// own keys, and no examples.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JudgingRule {
    id: String,
    severity: Severity,
    summary: String,
    groups: Vec<RawGroup>,
}

impl JudgingRule {
    fn into_raw(self) -> RawRule {
        let mut groups = self.groups.into_iter();
        RawRule {
            id: self.id,
            severity: self.severity,
            summary: self.summary,
            examples: Vec::new(),
            harmless: Vec::new(),
            first: groups.next().unwrap_or_default(),
            also: groups.collect(),
        }
    }
}

/// Whether a pack's regexes are checked for syntax as it loads (packs from outside), or not
/// (the built-in packs, checked by the tests).
#[derive(Debug, Clone, Copy)]
enum Check {
    Syntax,
    Trusted,
}

/// A rule's regex, checked for syntax when the catalogue loads and compiled when first used:
/// a hook process judges one command and needs few of them.
#[derive(Debug)]
pub(super) struct Pattern {
    pub(super) src: String,
    pub(super) re: OnceLock<Option<Regex>>,
}

impl Pattern {
    fn new(rule: &str, src: &str) -> Result<Pattern, CatalogueError> {
        regex_syntax::ast::parse::Parser::new()
            .parse(src)
            .map_err(|e| CatalogueError::Regex {
                rule: rule.to_string(),
                pattern: src.to_string(),
                message: e.to_string(),
            })?;
        Ok(Pattern::unchecked(src))
    }

    /// A regex whose syntax is known to be valid.
    fn unchecked(src: &str) -> Pattern {
        Pattern {
            src: src.to_string(),
            re: OnceLock::new(),
        }
    }

    /// The compiled regex (None only if it parses but does not compile, which the tests of the
    /// built-in catalogue rule out).
    pub(super) fn regex(&self) -> Option<&Regex> {
        self.re.get_or_init(|| Regex::new(&self.src).ok()).as_ref()
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        self.regex().is_some_and(|r| r.is_match(text))
    }
}

/// Both forms of the built-in rule packs, from one list of families.
macro_rules! packs {
    ($($family:literal),* $(,)?) => {
        /// The built-in rule packs, in the order rules are tried: (family, TOML).
        pub const PACKS: [(&str, &str); [$($family),*].len()] =
            [$(($family, include_str!(concat!("../../rules/", $family, ".toml")))),*];
        /// The same packs as `build.rs` compiled them for judging, in the same order: (family,
        /// JSON), without the rules' examples.
        const JUDGING: [(&str, &str); [$($family),*].len()] = [$((
            $family,
            include_str!(concat!(env!("OUT_DIR"), "/rules/", $family, ".json")),
        )),*];
    };
}

packs![
    "railway",
    "aws",
    "gcp",
    "azure",
    "paas",
    "kubernetes",
    "iac",
    "databases",
    "storage",
    "backup",
    "secrets",
    "messaging",
    "search",
    "dns-cdn",
    "services",
    "cicd",
    "registries",
    "git",
    "filesystem",
    "containers",
    "mcp",
    "http",
];

impl Catalogue {
    /// The compiled-in catalogue (`analysis/rules/*.toml`).
    pub fn builtin() -> &'static Catalogue {
        // The built-in file is tested (`builtin_catalogue_loads`); an error here is a build
        // defect, and an empty catalogue would silently miss everything.
        static CAT: LazyLock<Catalogue> =
            LazyLock::new(|| Catalogue::load_builtin().expect("the built-in catalogue is valid"));
        &CAT
    }

    /// Loads the built-in catalogue afresh (what [`Catalogue::builtin`] does once), without the
    /// rules' examples: a hook process judges commands and does not need them. It reads the
    /// packs as the build compiled them (`analysis/build.rs`: JSON, no TOML to parse at run
    /// time), and does not check the regexes' syntax again: the tests load the TOML packs,
    /// which checks it, and compile every regex of this catalogue.
    pub fn load_builtin() -> Result<Catalogue, CatalogueError> {
        let mut rules = Vec::new();
        for (family, json) in JUDGING {
            let raw: Vec<JudgingRule> =
                serde_json::from_str(json).map_err(|e| CatalogueError::Compiled {
                    family: family.to_string(),
                    source: e,
                })?;
            let raw = raw.into_iter().map(JudgingRule::into_raw).collect();
            Self::compile(
                family,
                RawCatalogue { rule: raw },
                Check::Trusted,
                &mut rules,
            )?;
        }
        Ok(Catalogue::indexed(rules))
    }

    /// The built-in catalogue with every rule's `examples` and `harmless` look-alikes
    /// (`catalogue list --json`, the tests).
    pub fn builtin_with_examples() -> &'static Catalogue {
        static CAT: LazyLock<Catalogue> = LazyLock::new(|| {
            Catalogue::from_packs(&PACKS).expect("the built-in catalogue is valid")
        });
        &CAT
    }

    /// A catalogue of one pack (family `custom`).
    pub fn from_toml_str(s: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::from_packs(&[("custom", s)])
    }

    /// A catalogue of several packs, tried in order: (family, TOML).
    pub fn from_packs(packs: &[(&str, &str)]) -> Result<Catalogue, CatalogueError> {
        let mut rules = Vec::new();
        for (family, text) in packs {
            let raw: RawCatalogue = toml::from_str(text).map_err(|e| CatalogueError::Toml {
                family: family.to_string(),
                source: e,
            })?;
            Self::compile(family, raw, Check::Syntax, &mut rules)?;
        }
        Ok(Catalogue::indexed(rules))
    }

    /// The catalogue of these rules, indexed by program name.
    fn indexed(rules: Vec<Rule>) -> Catalogue {
        let mut by_program: std::collections::HashMap<String, Vec<usize>> = Default::default();
        let mut by_glob = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            for p in r.groups.iter().flat_map(|g| &g.raw.program) {
                let list = if p.contains(['*', '?', '[']) {
                    &mut by_glob
                } else {
                    by_program.entry(p.clone()).or_default()
                };
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        by_glob.dedup();
        Catalogue {
            rules,
            by_program,
            by_glob,
        }
    }

    fn compile(
        family: &str,
        raw: RawCatalogue,
        check: Check,
        rules: &mut Vec<Rule>,
    ) -> Result<(), CatalogueError> {
        for r in raw.rule {
            let mut groups = Vec::new();
            for g in std::iter::once(r.first).chain(r.also) {
                let re = |p: &str| match check {
                    Check::Syntax => Pattern::new(&r.id, p),
                    Check::Trusted => Ok(Pattern::unchecked(p)),
                };
                let arg_any = g.arg_any.iter().map(|p| re(p)).collect::<Result<_, _>>()?;
                let body_all = g.body_all.iter().map(|p| re(p)).collect::<Result<_, _>>()?;
                let url_any = g.url_any.iter().map(|p| re(p)).collect::<Result<_, _>>()?;
                let sql = g.sql.as_deref().map(re).transpose()?;
                let sql_not = g.sql_not.as_deref().map(re).transpose()?;
                let group = Group {
                    raw: g,
                    arg_any,
                    sql,
                    sql_not,
                    url_any,
                    body_all,
                };
                if !group.is_command()
                    && !group.is_http()
                    && group.sql.is_none()
                    && group.raw.tool.is_empty()
                {
                    if group.raw.words.is_empty() {
                        continue; // an empty first group when everything is in `also`
                    }
                    return Err(CatalogueError::Empty(r.id.clone()));
                }
                groups.push(group);
            }
            if groups.is_empty() {
                return Err(CatalogueError::Empty(r.id));
            }
            rules.push(Rule {
                id: r.id,
                family: family.to_string(),
                severity: r.severity,
                summary: r.summary,
                examples: r.examples,
                harmless: r.harmless,
                groups,
            });
        }
        Ok(())
    }
}
