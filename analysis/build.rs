//! Compiles the built-in rule packs (`rules/*.toml`) into the form a process loads: JSON, one
//! file per pack in `OUT_DIR/rules/`, each rule `{id, severity, summary, groups}` with its
//! matcher groups in order (the rule's own keys, then each `[[rule.also]]`) and without its
//! `examples` and `harmless` look-alikes, which only the tests and `catalogue list` read (they
//! load the TOML). Parsing 48 KB of rule TOML was most of a guarded hook's work.
//!
//! Nothing is checked here beyond the TOML syntax: the tests load the same packs both ways and
//! compare the rules (`the_judging_catalogue_has_every_rule_and_matcher`).

use std::path::Path;

/// The keys of a rule that are not a matcher; every other key belongs to its first group.
const RULE_KEYS: [&str; 3] = ["id", "severity", "summary"];
/// Keys a judging process does not need.
const DROPPED: [&str; 2] = ["examples", "harmless"];

fn main() {
    let dir = Path::new("rules");
    println!("cargo:rerun-if-changed=rules");
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("rules");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("rules/ is there")
        .map(|e| e.expect("rules/ is readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).expect("a rule pack is UTF-8");
        let json = compact(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.with_extension("json");
        let name = name.file_name().expect("a file name");
        std::fs::write(out.join(name), json).expect("OUT_DIR is writable");
    }
}

fn compact(text: &str) -> Result<String, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut rules = Vec::new();
    for (key, value) in doc {
        let list = match (key.as_str(), value) {
            ("rule", toml::Value::Array(list)) => list,
            (k, _) => return Err(format!("unexpected top-level key {k:?}")),
        };
        for rule in list {
            let toml::Value::Table(mut rule) = rule else {
                return Err("a [[rule]] that is not a table".into());
            };
            let mut out = serde_json::Map::new();
            for k in RULE_KEYS {
                if let Some(v) = rule.remove(k) {
                    out.insert(k.to_string(), json(v)?);
                }
            }
            for k in DROPPED {
                rule.remove(k);
            }
            let also = match rule.remove("also") {
                None => Vec::new(),
                Some(toml::Value::Array(a)) => a,
                Some(_) => return Err("`also` is not an array of tables".into()),
            };
            let mut groups = vec![json(toml::Value::Table(rule))?];
            for g in also {
                groups.push(json(g)?);
            }
            out.insert("groups".into(), serde_json::Value::Array(groups));
            rules.push(serde_json::Value::Object(out));
        }
    }
    serde_json::to_string(&rules).map_err(|e| e.to_string())
}

fn json(v: toml::Value) -> Result<serde_json::Value, String> {
    Ok(match v {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(t) => serde_json::Value::Object(
            t.into_iter()
                .map(|(k, v)| Ok((k, json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("a value rules do not use: {other}")),
    })
}
