//! The context a session starts in: the kube context of the active kubeconfig, the terraform
//! workspace of the working tree, the environment variables that name an environment or a
//! cloud profile, and where the agent's model API is
//! ([`flightlog_analysis::analyze::MODEL_BASE_VARS`]). Recorded in `session_start`
//! (`data.context`) so the analysis can classify a `kubectl delete ns x` that names no
//! `--context`, or an `aws` call that names no `--profile`, and knows the agent's conversation
//! with its model from its actions.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// Variables whose value often says which environment or account a command acts on. Values
/// pass through the store's redaction like everything else.
pub const CONTEXT_VARS: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "KUBECONFIG",
    "CLOUDSDK_CORE_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "TF_WORKSPACE",
    "RAILWAY_ENVIRONMENT",
    "FLY_APP",
    "HEROKU_APP",
    "NODE_ENV",
    "RAILS_ENV",
    "APP_ENV",
    "ENVIRONMENT",
    "ENV",
];

/// Captures the context from `cwd` and the variables `var` gives (the process environment in
/// production, a map in tests).
pub fn capture(cwd: &Path, var: impl Fn(&str) -> Option<String>) -> Value {
    let mut vars = Map::new();
    let model = flightlog_analysis::analyze::MODEL_BASE_VARS.iter();
    for name in CONTEXT_VARS.iter().chain(model) {
        if let Some(v) = var(name).filter(|v| !v.is_empty()) {
            vars.insert((*name).to_string(), json!(v));
        }
    }
    let kubeconfig = match var("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => list.split(':').find(|p| !p.is_empty()).map(PathBuf::from),
        None => var("HOME").map(|h| Path::new(&h).join(".kube/config")),
    };
    let kube_context = kubeconfig.as_deref().and_then(current_context);
    let tf = var("TF_WORKSPACE").filter(|v| !v.is_empty()).or_else(|| {
        std::fs::read_to_string(cwd.join(".terraform/environment"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    });
    json!({
        "kube_context": kube_context,
        "kubeconfig": kubeconfig.filter(|p| p.exists()).map(|p| p.display().to_string()),
        "terraform_workspace": tf,
        "vars": vars,
    })
}

/// The `current-context:` of a kubeconfig (a top-level YAML key; read without a YAML parser,
/// bounded to the first 1 MiB).
pub fn current_context(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_string(&mut text)
        .ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix("current-context:")?.trim();
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kubeconfig_terraform_and_vars() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("kc.yaml");
        std::fs::write(
            &kc,
            "apiVersion: v1\nclusters: []\ncurrent-context: \"prod-eu\"\nkind: Config\n",
        )
        .unwrap();
        std::fs::create_dir(d.path().join(".terraform")).unwrap();
        std::fs::write(d.path().join(".terraform/environment"), "prod\n").unwrap();
        let kcs = kc.display().to_string();
        let c = capture(d.path(), |k| match k {
            "KUBECONFIG" => Some(format!("{kcs}:/nonexistent")),
            "AWS_PROFILE" => Some("prod".into()),
            _ => None,
        });
        assert_eq!(c["kube_context"], "prod-eu");
        assert_eq!(c["terraform_workspace"], "prod");
        assert_eq!(c["vars"]["AWS_PROFILE"], "prod");
    }

    #[test]
    fn nothing_to_find_is_nulls() {
        let d = tempfile::tempdir().unwrap();
        let c = capture(d.path(), |_| None);
        assert!(c["kube_context"].is_null() && c["terraform_workspace"].is_null());
    }
}
