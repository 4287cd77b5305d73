//! Joining an event to its action, and the findings of an action: crossing, destructive
//! action, and the environment its credential reaches.

use super::*;

impl Analyzer<'_> {
    /// Joins an event to its action (or starts one), and records what it says of an outcome.
    pub(super) fn join(&mut self, ev: &Event, typed: &Typed, acts: &Acts) -> Option<usize> {
        let layer = layer_of(ev);
        let t = ev.time();
        match ev.kind {
            Kind::ToolCall => {
                let id = typed.call.as_ref().and_then(|c| c.call_id.as_deref());
                Some(self.joiner.arrive(Arrival {
                    call_id: id,
                    ..Arrival::new(ev.seq, t, layer, &acts.keys)
                }))
            }
            Kind::ToolResult => {
                let r = typed.result.as_ref()?;
                let id = self.joiner.action_of(r.call_seq, r.call_id.as_deref())?;
                let mut text = r.error_text().unwrap_or_default();
                if text.is_empty() {
                    text = r.output_text();
                }
                let is_err = r.is_error == Some(true) || r.error_text().is_some();
                self.joiner.evidence(
                    id,
                    r.call_seq,
                    ev.seq,
                    "hook",
                    Evidence::Result(is_err, text),
                );
                Some(id)
            }
            Kind::Exec => {
                let x = typed.exec.as_ref()?;
                if let Some(of) = x.exit_of_seq {
                    let (pid, _) = self.live.remove(&of).unwrap_or((x.pid, String::new()));
                    if let Some(p) = pid.or(x.pid) {
                        self.joiner.process_ended(p);
                    }
                    let id = self.joiner.action_of(Some(of), None)?;
                    self.joiner
                        .evidence(id, Some(of), ev.seq, "exec", Evidence::Exit(x.exit));
                    return Some(id);
                }
                let argv = x.argv();
                if argv.is_empty() {
                    return None;
                }
                let cmds = shell::from_argv(argv);
                let sandbox = cmds.iter().any(|c| {
                    c.wrappers
                        .iter()
                        .any(|w| matches!(w.as_str(), "codex-linux-sandbox" | "bwrap"))
                }) || matches!(
                    shell::basename(&argv[0]),
                    "codex-linux-sandbox" | "bwrap" | "sandbox-exec"
                ) || argv.iter().any(|a| a == "--sandbox-policy-cwd");
                let progs: Vec<String> = cmds
                    .iter()
                    .map(|c| c.program().to_string())
                    .filter(|p| !p.is_empty() && !SHELL_BUILTINS.contains(&p.as_str()))
                    .collect();
                let id = self.joiner.arrive(Arrival {
                    process: x.pid.map(|p| (p, x.ppid, progs)),
                    sandbox,
                    ..Arrival::new(ev.seq, t, layer, &acts.keys)
                });
                // A process without a pid never ends by pid; keep no entry for it.
                if x.pid.is_some() {
                    self.live
                        .insert(ev.seq, (x.pid, truncate(&argv.join(" "), 80)));
                    // Bounded: the oldest of very many running processes is let go (its exit,
                    // if it comes, is then described without its command line).
                    if self.live.len() > LIVE_PROCESSES {
                        self.live.pop_first();
                    }
                }
                Some(id)
            }
            Kind::ApiCall => {
                let a = typed.api.as_ref()?;
                if let Some(of) = a.response_of_seq {
                    let id = self.joiner.action_of(Some(of), None)?;
                    self.joiner.evidence(
                        id,
                        Some(of),
                        ev.seq,
                        "api",
                        Evidence::Response(a.status, a.error.clone()),
                    );
                    return Some(id);
                }
                if a.method.as_deref() == Some("CONNECT") {
                    // A tunnel: what went through it (if intercepted) is its own request.
                    return None;
                }
                Some(self.joiner.arrive(Arrival {
                    via: a.via_seq,
                    ..Arrival::new(ev.seq, t, layer, &acts.keys)
                }))
            }
            Kind::Decision => {
                let d = ev.decision().unwrap_or_default();
                if d.decision.as_deref() != Some("deny") {
                    return None;
                }
                let id = self.joiner.action_of(d.target_seq, d.call_id.as_deref())?;
                let target = d.target_seq;
                let reason = d.reason.unwrap_or_else(|| "denied".into());
                self.joiner
                    .evidence(id, target, ev.seq, "other", Evidence::Denied(reason));
                Some(id)
            }
            Kind::FileChange if acts.acting => Some(
                self.joiner
                    .arrive(Arrival::new(ev.seq, t, layer, &acts.keys)),
            ),
            _ => None,
        }
    }

    /// A finding of event `ev` in action `id`: the action's crossing and destructive entries
    /// are made once, at its first event that shows them; later layers add their evidence.
    pub(super) fn report(
        &mut self,
        ev: &Event,
        id: usize,
        crossing_to: Option<String>,
        evidence: Vec<String>,
        top: Option<Match>,
        f: &EventFacts,
    ) {
        let layer = layer_of(ev);
        let from = self.ctx.home.clone().unwrap_or_else(|| "home".into());
        let home = self.ctx.home.clone();
        let described = describe(ev);
        let Some(st) = self.joiner.act_mut(id) else {
            return; // not reached: an event's own action is kept while it joins
        };
        if st.what.is_none() {
            st.what = Some(described.clone());
        }
        self.described.insert(ev.seq, described);
        match (st.crossing, &crossing_to) {
            (Some(ci), _) => {
                let c = &mut self.crossings[ci];
                c.evidence
                    .push(format!("also seen by the {layer} layer at seq {}", ev.seq));
                // A named environment says more than "every environment".
                if let Some(to) = &crossing_to
                    && c.to == "*"
                    && to != "*"
                {
                    c.to = to.clone();
                }
            }
            (None, Some(to)) => {
                st.crossing = Some(self.crossings.len());
                self.crossings.push(Crossing {
                    seq: ev.seq,
                    ts: ev.ts.clone(),
                    from,
                    to: to.clone(),
                    evidence,
                    action: id,
                    outcome: Outcome::Unknown,
                    outcome_detail: None,
                });
            }
            (None, None) => {}
        }
        let target = crossing_to.clone().or_else(|| f.env.clone()).or(home);
        match (st.destructive, &top) {
            (None, Some(m)) => {
                st.destructive = Some(self.destructive.len());
                self.destructive.push(Destructive {
                    seq: ev.seq,
                    rule: m.rule.clone(),
                    severity: m.severity,
                    target_env: target,
                    summary: format!("{}: {}", m.summary, m.detail),
                    blocked: false,
                    action: id,
                    outcome: Outcome::Unknown,
                    outcome_detail: None,
                });
            }
            (Some(di), Some(m)) => {
                let d = &mut self.destructive[di];
                if m.severity > d.severity {
                    d.severity = m.severity;
                }
                if d.target_env.as_deref().is_none_or(|t| t == "*")
                    && let Some(t) = target.filter(|t| t != "*")
                {
                    d.target_env = Some(t);
                }
            }
            _ => {}
        }
    }

    /// Environment and crossing of an event's acts; fills `f.env` and `f.env_evidence`.
    pub(super) fn environment(
        &self,
        acts: &Acts,
        f: &mut EventFacts,
    ) -> (Option<String>, Vec<String>) {
        let ctx = &self.ctx;
        let home = ctx.home.as_deref();
        let mut crossing_to: Option<String> = None;
        let mut evidence: Vec<String> = Vec::new();
        for t in &acts.targets {
            evidence.push(t.evidence.clone());
            if crossing_to.is_none() && ctx.away(&t.env) && !t.switch {
                crossing_to = Some(t.env.clone());
            }
        }
        f.env = acts
            .targets
            .iter()
            .find(|t| ctx.away(&t.env))
            .or_else(|| acts.targets.first())
            .map(|t| t.env.clone());
        // credentials reaching beyond home
        if acts.acting {
            for fp in &f.secret_uses {
                let Some(st) = self.secrets.get(fp) else {
                    continue;
                };
                for rule in &ctx.policy.credentials {
                    if !credential_matches(rule, fp, st) {
                        continue;
                    }
                    let reach = if rule.reaches.iter().any(|r| r == "*") {
                        "every environment".to_string()
                    } else {
                        rule.reaches.join(", ")
                    };
                    let how = if st.bearer_railway {
                        " (sent as Authorization: Bearer to Railway's API)"
                    } else {
                        ""
                    };
                    evidence.push(format!(
                        "credential {fp} is a {} token{how}, {}; the policy (line {}) says it reaches {reach}",
                        rule.describe(),
                        st.provenance(),
                        rule.line
                    ));
                    if acts.mutating && rule.reaches_beyond(home) && crossing_to.is_none() {
                        crossing_to = Some(
                            rule.reaches
                                .iter()
                                .find(|r| *r == "*" || ctx.away(r))
                                .cloned()
                                .unwrap_or_else(|| "*".into()),
                        );
                    }
                    if f.env.is_none() || f.env.as_deref() == home {
                        f.env = crossing_to.clone().or(f.env.take());
                    }
                }
            }
        }
        evidence.extend(acts.notes.iter().cloned());
        f.env_evidence = evidence.clone();
        f.crossing = crossing_to.is_some();
        (crossing_to, evidence)
    }
}
