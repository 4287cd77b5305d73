//! What an event does: the targets a command, a tool call, a request or a file change acts
//! on, and the environment each belongs to.

use super::*;

pub(super) fn url_re() -> &'static Regex {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s'"`<>)\\]+"#).expect("url regex")
    });
    &RE
}

/// Programs whose arguments are only text (they read or print, they do not act on targets).
pub(super) const INERT: [&str; 46] = [
    "grep", "egrep", "fgrep", "rg", "ag", "ack", "cat", "bat", "less", "more", "head", "tail",
    "echo", "printf", "wc", "sort", "uniq", "cut", "tr", "awk", "sed", "jq", "yq", "diff", "ls",
    "tree", "file", "stat", "pwd", "true", "false", "test", "[", "which", "type", "man", "date",
    "sleep", "basename", "dirname", "realpath", "readlink", "column", "fold", "nl", "base64",
];

/// Verbs that change something, for commands that use a far-reaching credential.
pub(super) const MUTATING_WORDS: [&str; 34] = [
    "up", "deploy", "apply", "delete", "destroy", "create", "push", "rm", "remove", "update",
    "set", "put", "post", "patch", "run", "restart", "scale", "migrate", "reset", "drop", "write",
    "import", "upload", "sync", "cp", "mv", "down", "redeploy", "rollback", "link", "unlink",
    "add", "exec", "install",
];

/// The command line of a shell tool call (`data.command`, or `input.command` as a string or an
/// argv array).
pub fn command_of(ev: &Event) -> Option<String> {
    call_command(&ev.tool_call()?)
}

/// [`command_of`] a tool call's payload. The input is the agent's own shape.
pub(super) fn call_command(call: &ToolCall) -> Option<String> {
    if let Some(c) = &call.command {
        return Some(c.clone());
    }
    let input = call.input.as_ref()?;
    match input.get("command").or_else(|| input.get("cmd")) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => {
            let argv: Vec<String> = a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            // `["bash", "-lc", "script"]`: the script is the command line
            if argv.len() == 3 && argv[1].starts_with('-') && argv[1].contains('c') {
                return Some(argv[2].clone());
            }
            Some(
                argv.iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        _ => None,
    }
}

pub(super) fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

pub(super) fn acts_of(ev: &Event, typed: &Typed, ctx: &Ctx<'_>, state: &mut State) -> Acts {
    let mut acts = Acts::default();
    match &ev.kind {
        Kind::ToolCall => {
            let Some(call) = typed.call.as_ref() else {
                return acts;
            };
            let tool = call.tool.as_deref().unwrap_or("");
            let command = call_command(call);
            if let Some(patch) = command
                .clone()
                .filter(|c| c.trim_start().starts_with("*** Begin Patch"))
            {
                // Codex's apply_patch: a file edit, not a command line.
                acts.action_text.push((None, patch.clone()));
                for l in patch.lines() {
                    let file = [
                        "*** Update File: ",
                        "*** Add File: ",
                        "*** Delete File: ",
                        "*** Move to: ",
                    ]
                    .iter()
                    .find_map(|p| l.strip_prefix(p));
                    if let Some(f) = file {
                        acts.acting = true;
                        acts.mutating = true;
                        path_target(f.trim(), ctx, "writes", &mut acts);
                        acts.keys.push(format!("patch {}", f.trim()));
                    }
                }
            } else if let Some(cmd) = command {
                acts.action_text.push((None, cmd.clone()));
                let wt_cwd = state.cwd.clone();
                shell_acts(&shell::split(&cmd), ctx, state, wt_cwd, true, &mut acts);
                if tool_matches_write_on_line(&acts) {
                    acts.mutating = true;
                }
            } else {
                tool_acts(call, tool, ctx, &mut acts);
            }
        }
        Kind::Exec => {
            let Some(x) = typed.exec.as_ref() else {
                return acts;
            };
            let argv = x.argv();
            if !argv.is_empty() {
                acts.action_text.push((None, argv.join(" ")));
                let cwd = x.cwd.clone().or_else(|| state.cwd.clone());
                // An exec does not change the session's cwd or exports.
                let mut scratch = state.clone();
                shell_acts(
                    &shell::from_argv(argv),
                    ctx,
                    &mut scratch,
                    cwd,
                    false,
                    &mut acts,
                );
                // but a traced `terraform workspace select` does change the workspace
                state.tf_workspace = scratch.tf_workspace;
                state.kube_context = scratch.kube_context;
            }
        }
        Kind::ApiCall => {
            if let Some(req) = ApiRequest::from_data(&ev.data) {
                for (k, v) in &req.headers {
                    acts.action_text.push((Some(k.clone()), v.clone()));
                }
                acts.action_text.push((None, req.url.clone()));
                if let Some(b) = &req.body {
                    acts.action_text.push((None, b.clone()));
                }
                api_acts(&req, ctx, &mut acts);
            }
        }
        Kind::FileChange => {
            let c = ev.file_change().unwrap_or_default();
            if let Some(p) = &c.path {
                acts.acting = true;
                acts.mutating = true;
                path_target(p, ctx, "changes", &mut acts);
                if let Some(from) = &c.from {
                    path_target(from, ctx, "renames", &mut acts);
                }
            }
        }
        _ => {}
    }
    acts
}

pub(super) fn tool_matches_write_on_line(acts: &Acts) -> bool {
    !acts.matches.is_empty()
}

pub(super) fn tool_acts(call: &ToolCall, tool: &str, ctx: &Ctx<'_>, acts: &mut Acts) {
    // The tool's input is the agent's own shape: paths and URLs under the usual names.
    let input = call.input.clone().unwrap_or(Value::Null);
    collect_strings(&input, None, &mut acts.action_text);
    let lower = tool.to_ascii_lowercase();
    let writes = [
        "write",
        "edit",
        "multiedit",
        "notebookedit",
        "str_replace",
        "create",
        "apply_patch",
    ];
    for k in ["file_path", "path", "notebook_path"] {
        if let Some(p) = input.get(k).and_then(Value::as_str) {
            acts.acting = true;
            let verb = if writes.iter().any(|w| lower.contains(w)) {
                acts.mutating = true;
                "writes"
            } else {
                "reads"
            };
            path_target(p, ctx, verb, acts);
        }
    }
    if let Some(u) = input.get("url").and_then(Value::as_str) {
        acts.acting = true;
        url_targets(u, ctx, acts);
    }
    let m = ctx.cat.match_tool(tool);
    if lower.starts_with("mcp__") {
        acts.acting = true;
        acts.mutating |= !m.is_empty()
            || MUTATING_WORDS
                .iter()
                .any(|w| lower.contains(w) && w.len() > 3);
        let mut strings = Vec::new();
        collect_strings(&input, None, &mut strings);
        for (_, s) in &strings {
            id_targets(s, ctx, acts);
            for u in url_re().find_iter(s) {
                url_targets(u.as_str(), ctx, acts);
            }
        }
        acts.keys.push(format!("tool {tool} {input}"));
    }
    acts.matches.extend(m);
}

pub(super) fn shell_acts(
    cmds: &[SimpleCommand],
    ctx: &Ctx<'_>,
    state: &mut State,
    cwd: Option<String>,
    persist_cwd: bool,
    acts: &mut Acts,
) {
    let mut wt = WorkTree {
        root: ctx.root.clone(),
        cwd,
    };
    for c in cmds {
        let prog = c.program().to_string();
        if prog == "cd" || prog == "pushd" {
            let to = resolve_cd(&wt, c.argv.get(1).map(String::as_str));
            wt.cwd = Some(to.clone());
            if persist_cwd {
                state.cwd = Some(to);
            }
            continue;
        }
        if matches!(prog.as_str(), "export" | "declare" | "typeset") {
            for a in &c.argv[1..] {
                if let Some(kv) = shell::parse_assignment(a) {
                    let mut tmp = Acts::default();
                    env_var_targets(std::slice::from_ref(&kv), ctx, &mut tmp);
                    if !tmp.targets.is_empty() {
                        acts.context_switch = true;
                        acts.targets.extend(tmp.targets.into_iter().map(|mut t| {
                            t.switch = true;
                            t
                        }));
                    }
                    state.exports.push(kv);
                }
            }
            continue;
        }
        // matches first: they apply to every program
        let m = ctx.cat.match_simple(c, &wt);
        if !m.is_empty() {
            acts.mutating = true;
        }
        acts.matches.extend(m);
        acts.keys.push(format!("cmd {}", c.argv.join(" ")));
        if let Some(req) = decode_argv(&c.argv) {
            api_acts(&req, ctx, acts);
        }
        // redirections write files, whatever the program
        for r in &c.redirects {
            if r.starts_with('/') || r.starts_with('~') {
                path_target(r, ctx, "writes", acts);
                if !acts.targets.is_empty() {
                    acts.acting = true;
                }
            }
        }
        if INERT.contains(&prog.as_str()) && c.remote_host.is_none() {
            continue;
        }
        acts.acting = true;
        let positional: Vec<&String> = c.argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
        if positional
            .iter()
            .any(|p| MUTATING_WORDS.contains(&p.as_str()))
        {
            acts.mutating = true;
        }
        // the environment the command runs with
        let mut env: Vec<(String, String)> = state.exports.clone();
        env.extend(c.assignments.iter().cloned());
        for (k, v) in &c.assignments {
            acts.action_text.push((Some(k.clone()), v.clone()));
        }
        context_targets(c, &env, ctx, state, acts);
        env_var_targets(&env, ctx, acts);
        if let Some(h) = &c.remote_host {
            host_target(h, ctx, "runs on host", acts);
        }
        command_host_targets(c, ctx, acts);
        for a in &c.argv[1..] {
            for u in url_re().find_iter(a) {
                url_targets(u.as_str(), ctx, acts);
            }
            id_targets(a, ctx, acts);
            if a.starts_with('/') || a.starts_with('~') {
                path_target(a, ctx, "touches", acts);
            }
        }
        for (_, v) in &c.assignments {
            for u in url_re().find_iter(v) {
                url_targets(u.as_str(), ctx, acts);
            }
        }
        if let Some(stdin) = &c.stdin
            && shell::is_sql_client(c)
        {
            id_targets(stdin, ctx, acts);
        }
    }
}

/// Kube context, terraform workspace, AWS profile, GCP project.
pub(super) fn context_targets(
    c: &SimpleCommand,
    env: &[(String, String)],
    ctx: &Ctx<'_>,
    state: &mut State,
    acts: &mut Acts,
) {
    let prog = c.program();
    let args = &c.argv[1..];
    let flag = |names: &[&str]| -> Option<String> {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            for n in names {
                if a == n {
                    return it.next().cloned();
                }
                if let Some(v) = a.strip_prefix(&format!("{n}=")) {
                    return Some(v.to_string());
                }
            }
        }
        None
    };
    let env_get = |k: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let positional: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    match prog {
        "kubectl" | "oc" | "helm" | "k9s" | "kubectx" | "k" => {
            if (prog == "kubectl" || prog == "oc")
                && positional.starts_with(&["config", "use-context"])
            {
                if let Some(name) = positional.get(2) {
                    state.kube_context = Some(name.to_string());
                    acts.context_switch = true;
                    context_target(name, Context::Kube, true, ctx, acts);
                }
                return;
            }
            if prog == "kubectx" {
                if let Some(name) = positional.first() {
                    state.kube_context = Some(name.to_string());
                    acts.context_switch = true;
                    context_target(name, Context::Kube, true, ctx, acts);
                }
                return;
            }
            let name =
                flag(&["--context", "--kube-context"]).or_else(|| state.kube_context.clone());
            if let Some(n) = name {
                context_target(&n, Context::Kube, false, ctx, acts);
            }
        }
        "terraform" | "tofu" | "terragrunt" => {
            if positional.first() == Some(&"workspace") {
                if matches!(positional.get(1), Some(&"select") | Some(&"new"))
                    && let Some(ws) = positional.get(2)
                {
                    state.tf_workspace = Some(ws.to_string());
                    acts.context_switch = true;
                    context_target(ws, Context::Terraform, true, ctx, acts);
                }
                return;
            }
            if matches!(
                positional.first(),
                Some(&"fmt") | Some(&"version") | Some(&"validate")
            ) {
                return;
            }
            if let Some(ws) = env_get("TF_WORKSPACE").or_else(|| state.tf_workspace.clone()) {
                context_target(&ws, Context::Terraform, false, ctx, acts);
            }
        }
        "aws" => {
            if let Some(p) = flag(&["--profile"]).or_else(|| env_get("AWS_PROFILE")) {
                if let Some((e, pat)) = ctx.env_match(|e| &e.aws_profiles, &p, true) {
                    acts.targets.push(Target {
                        switch: false,
                        env: e.name.clone(),
                        evidence: format!(
                            "AWS profile {p} matches {} aws_profiles \"{pat}\"",
                            e.name
                        ),
                    });
                }
                // `--profile` counts as AWS_PROFILE for env_vars matchers
                env_var_targets(&[("AWS_PROFILE".into(), p)], ctx, acts);
            }
        }
        "gcloud" | "gsutil" | "bq" => {
            if let Some(p) = flag(&["--project"]).or_else(|| env_get("CLOUDSDK_CORE_PROJECT"))
                && let Some((e, pat)) = ctx.env_match(|e| &e.gcp_projects, &p, true)
            {
                acts.targets.push(Target {
                    switch: false,
                    env: e.name.clone(),
                    evidence: format!("GCP project {p} matches {} gcp_projects \"{pat}\"", e.name),
                });
            }
        }
        _ => {}
    }
}

/// A context a command runs in that an environment may name.
#[derive(Debug, Clone, Copy)]
pub(super) enum Context {
    /// Matched against `kube_contexts`.
    Kube,
    /// Matched against `terraform_workspaces`.
    Terraform,
}

/// The environment that names the context `name` the command switches to (`switch`) or runs in.
pub(super) fn context_target(
    name: &str,
    context: Context,
    switch: bool,
    ctx: &Ctx<'_>,
    acts: &mut Acts,
) {
    let (pick, key, what, to): (fn(&Environment) -> &[String], _, _, _) = match context {
        Context::Kube => (
            |e| &e.kube_contexts,
            "kube_contexts",
            "kube context",
            "switches to",
        ),
        Context::Terraform => (
            |e| &e.terraform_workspaces,
            "terraform_workspaces",
            "terraform workspace",
            "selects",
        ),
    };
    let verb = if switch { to } else { "runs in" };
    if let Some((e, pat)) = ctx.env_match(pick, name, true) {
        acts.targets.push(Target {
            switch,
            env: e.name.clone(),
            evidence: format!(
                "{verb} {what} {name}, which matches {} {key} \"{pat}\"",
                e.name
            ),
        });
    }
}

pub(super) fn env_var_targets(env: &[(String, String)], ctx: &Ctx<'_>, acts: &mut Acts) {
    for (k, v) in env {
        for e in &ctx.policy.environments {
            for (var, pats) in &e.env_vars {
                if var == k
                    && let Some(p) = pats.iter().find(|p| glob::matches(p, v))
                {
                    let ev = format!("{k}={v} matches {} env_vars {k} = \"{p}\"", e.name);
                    acts.target(&e.name, ev);
                }
            }
        }
    }
}

/// Hosts named by flags of database and remote-shell clients.
pub(super) fn command_host_targets(c: &SimpleCommand, ctx: &Ctx<'_>, acts: &mut Acts) {
    let prog = c.program();
    let args = &c.argv[1..];
    let db_clients = [
        "psql",
        "pg_dump",
        "pg_restore",
        "pg_dumpall",
        "dropdb",
        "createdb",
        "mysql",
        "mariadb",
        "mysqldump",
        "redis-cli",
        "valkey-cli",
        "mongosh",
        "mongo",
        "clickhouse-client",
        "cqlsh",
    ];
    let mut hosts = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if let Some(h) = a
            .strip_prefix("--host=")
            .or_else(|| a.strip_prefix("--hostname="))
        {
            hosts.push(h.to_string());
        } else if a == "--host" || a == "--hostname" || (a == "-h" && db_clients.contains(&prog)) {
            if let Some(h) = it.next() {
                hosts.push(h.clone());
            }
        } else if db_clients.contains(&prog)
            && a.starts_with("-h")
            && a.len() > 2
            && !a.starts_with("--")
        {
            hosts.push(a[2..].to_string());
        }
    }
    if matches!(prog, "ssh" | "scp" | "rsync" | "sftp" | "mosh") {
        for a in args.iter().filter(|a| !a.starts_with('-')) {
            if a.contains("://") {
                continue;
            }
            let h = a.split(':').next().unwrap_or(a);
            let h = h.rsplit('@').next().unwrap_or(h);
            if prog == "ssh" || a.contains(':') || a.contains('@') {
                if !h.is_empty() && !h.starts_with('/') && !h.starts_with('.') {
                    hosts.push(h.to_string());
                }
                if prog == "ssh" {
                    break;
                }
            }
        }
    }
    for h in hosts {
        host_target(&h, ctx, "connects to host", acts);
    }
}

pub(super) fn host_target(h: &str, ctx: &Ctx<'_>, verb: &str, acts: &mut Acts) {
    let h = h.to_ascii_lowercase();
    if let Some((e, pat)) = ctx.env_match(|e| &e.hosts, &h, true) {
        let ev = format!("{verb} {h}, which matches {} hosts \"{pat}\"", e.name);
        acts.target(&e.name, ev);
    }
}

pub(super) fn url_targets(u: &str, ctx: &Ctx<'_>, acts: &mut Acts) {
    let Some(parsed) = Url::parse(u) else { return };
    host_target(&parsed.host, ctx, "connects to host", acts);
    let clean = strip_credentials(u);
    if let Some((e, pat)) = ctx.env_match(|e| &e.urls, &clean, false) {
        let ev = format!("URL {clean} matches {} urls \"{pat}\"", e.name);
        acts.target(&e.name, ev);
    }
    if is_railway_host(&parsed.host) {
        let note = format!(
            "host {}: Railway's API acts on whatever the token reaches",
            parsed.host
        );
        if !acts.notes.contains(&note) {
            acts.notes.push(note);
        }
    }
}

pub(super) fn id_targets(text: &str, ctx: &Ctx<'_>, acts: &mut Acts) {
    if ctx.policy.environments.iter().all(|e| e.ids.is_empty()) {
        return;
    }
    for tok in token_re().find_iter(text) {
        let t = tok.as_str().trim_end_matches(['.', ':', '/']);
        if let Some((e, pat)) = ctx.env_match(|e| &e.ids, t, false) {
            let ev = format!("resource id {t} matches {} ids \"{pat}\"", e.name);
            acts.target(&e.name, ev);
        }
    }
}

pub(super) fn path_target(p: &str, ctx: &Ctx<'_>, verb: &str, acts: &mut Acts) {
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        match &ctx.root {
            Some(r) if !p.starts_with('~') && !p.starts_with('$') => {
                crate::catalogue::normalize(&std::path::Path::new(r).join(p))
                    .to_string_lossy()
                    .into_owned()
            }
            _ => p.to_string(),
        }
    };
    for e in &ctx.policy.environments {
        if let Some(pat) = e
            .paths
            .iter()
            .find(|pat| glob::matches(pat, &abs) || glob::matches(pat, p))
        {
            let ev = format!("{verb} {p}, which matches {} paths \"{pat}\"", e.name);
            acts.target(&e.name, ev);
            return;
        }
    }
}

pub(super) fn api_acts(req: &ApiRequest, ctx: &Ctx<'_>, acts: &mut Acts) {
    acts.acting = true;
    if req.is_mutating() {
        acts.mutating = true;
    }
    url_targets(&req.url, ctx, acts);
    if let Some(b) = &req.body {
        id_targets(b, ctx, acts);
    }
    if let Some(g) = &req.graphql {
        id_targets(&g.variables.to_string(), ctx, acts);
    }
    let m = ctx.cat.match_api(req);
    if !m.is_empty() {
        acts.mutating = true;
    }
    acts.matches.extend(m);
    acts.matches.sort_by_key(|m| std::cmp::Reverse(m.severity));
    acts.keys.push(api_key(
        &req.method,
        &req.host,
        &req.path,
        req.body.as_deref(),
    ));
    acts.apis.push(req.clone());
}
