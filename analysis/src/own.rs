//! flightlog's own processes among a session's traced execs: the one rule that decides which
//! execs are the recorder's hooks (`flightlog hook claude-code`, or whatever command
//! `hook install --command` put in the agent's settings) rather than the agent's actions.
//!
//! A traced exec is flightlog's own when its binary is flightlog's (the `exe` the session
//! recorded as `flightlog_exe`), when it runs `flightlog ... hook ...`, or when it is a shell
//! whose `-c` script runs one. The shells above such a process (up to, never including, the
//! agent: the session's first exec) are flightlog's too: the agent started them only to run the
//! hook. The cross-check (no false gaps for the hooks) and the timelines (hooks folded into the
//! events they recorded) both ask [`OwnHooks`].

use std::collections::{HashMap, HashSet};

use crate::shell;

/// How far up the process tree a hook's shells are followed.
const MAX_HOPS: usize = 16;

/// Whether one exec, on its own, is flightlog's hook: its binary is `own_exe`, it runs
/// `flightlog ... hook ...`, directly or through a shell's `-c` script or another wrapper.
pub fn is_hook_exec(argv: &[String], exe: Option<&str>, own_exe: Option<&str>) -> bool {
    let Some(first) = argv.first() else {
        return false;
    };
    if own_exe.is_some_and(|o| exe == Some(o)) {
        return true;
    }
    if shell::basename(first) == "flightlog" && argv.iter().any(|a| a == "hook") {
        return true;
    }
    // Through wrappers: `bash -c '/usr/bin/flightlog hook claude-code'`, `env X=1 flightlog ..`.
    shell::from_argv(argv)
        .iter()
        .any(|c| c.program() == "flightlog" && c.argv.iter().any(|a| a == "hook"))
}

/// Follows a session's traced execs, in seq order, and says which are flightlog's own.
#[derive(Debug, Default, Clone)]
pub struct OwnHooks {
    own_exe: Option<String>,
    /// The agent's pid: the first exec's.
    agent: Option<u64>,
    /// pid -> parent pid, as the latest exec of that pid said.
    parent: HashMap<u64, u64>,
    /// pid -> the execs of its current process image chain (reset when the pid exits).
    execs_of: HashMap<u64, Vec<u64>>,
    ours: HashSet<u64>,
}

impl OwnHooks {
    /// `own_exe`: flightlog's binary as the session recorded it (`session_start`'s
    /// `flightlog_exe`), or the running binary for the recorder itself.
    pub fn new(own_exe: Option<&str>) -> Self {
        OwnHooks {
            own_exe: own_exe.map(str::to_string),
            ..OwnHooks::default()
        }
    }

    /// Feeds one traced exec. Returns the seqs of the execs now known to be flightlog's own:
    /// this one if it is, and those of the shells above it not returned before.
    pub fn exec(
        &mut self,
        seq: u64,
        pid: Option<u64>,
        ppid: Option<u64>,
        exe: Option<&str>,
        argv: &[String],
    ) -> Vec<u64> {
        if argv.is_empty() {
            return Vec::new();
        }
        if self.agent.is_none() {
            self.agent = pid;
        }
        if let Some(p) = pid {
            if let Some(pp) = ppid {
                self.parent.insert(p, pp);
            }
            self.execs_of.entry(p).or_default().push(seq);
        }
        let mut out = Vec::new();
        if pid.is_some_and(|p| self.ours.contains(&p)) {
            // A shell of ours exec'ing the hook binary in place (`sh -c /opt/ci/fl-hook`).
            out.push(seq);
            return out;
        }
        if !is_hook_exec(argv, exe, self.own_exe.as_deref()) {
            return out;
        }
        let Some(mut p) = pid else {
            out.push(seq);
            return out;
        };
        for _ in 0..MAX_HOPS {
            if Some(p) == self.agent || !self.ours.insert(p) {
                break;
            }
            out.extend(self.execs_of.get(&p).into_iter().flatten().copied());
            match self.parent.get(&p) {
                Some(&pp) if Some(pp) != self.agent => p = pp,
                _ => break,
            }
        }
        out.sort_unstable();
        out
    }

    /// Notes that a process ended: a later process with the same pid is another one.
    pub fn exit(&mut self, pid: u64) {
        self.execs_of.remove(&pid);
        self.ours.remove(&pid);
    }

    /// Whether a pid is one of flightlog's hook processes (or a shell above one).
    pub fn is_ours(&self, pid: u64) -> bool {
        self.ours.contains(&pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::argv;

    #[test]
    fn one_exec_on_its_own() {
        type Case<'a> = (&'a [&'a str], Option<&'a str>, Option<&'a str>, bool);
        let cases: &[Case] = &[
            (
                &["/usr/bin/flightlog", "hook", "claude-code"],
                None,
                None,
                true,
            ),
            (
                &["flightlog", "--db", "x.db", "hook", "codex"],
                None,
                None,
                true,
            ),
            (&["flightlog", "show", "latest"], None, None, false),
            (
                &["bash", "-c", "/usr/local/bin/flightlog hook gemini"],
                None,
                None,
                true,
            ),
            (
                &["bash", "-c", "grep hook flightlog.toml"],
                None,
                None,
                false,
            ),
            (
                &["/opt/ci/fl-hook"],
                Some("/opt/ci/flightlog-1.2"),
                Some("/opt/ci/flightlog-1.2"),
                true,
            ),
            (
                &["/opt/ci/fl-hook"],
                Some("/opt/ci/flightlog-1.2"),
                Some("/usr/bin/flightlog"),
                false,
            ),
            (&["curl", "hook"], Some("/usr/bin/curl"), None, false),
            (&[], None, None, false),
        ];
        for (a, exe, own, want) in cases {
            assert_eq!(
                is_hook_exec(&argv(a), *exe, *own),
                *want,
                "{a:?} {exe:?} {own:?}"
            );
        }
    }

    #[test]
    fn the_shells_above_a_hook_are_ours_but_never_the_agent() {
        let mut o = OwnHooks::new(Some("/opt/ci/flightlog-1.2"));
        assert!(
            o.exec(0, Some(10), Some(1), None, &argv(&["claude"]))
                .is_empty()
        );
        // The agent's own command: not ours.
        assert!(
            o.exec(1, Some(11), Some(10), None, &argv(&["bash", "-c", "ls"]))
                .is_empty()
        );
        o.exit(11);
        // `hook install --command /opt/ci/fl-hook`, run through a shell that execs it in place.
        assert!(
            o.exec(
                2,
                Some(15),
                Some(10),
                None,
                &argv(&["/bin/sh", "-c", "/opt/ci/fl-hook x"])
            )
            .is_empty()
        );
        let hook = o.exec(
            3,
            Some(15),
            Some(10),
            Some("/opt/ci/flightlog-1.2"),
            &argv(&["/opt/ci/fl-hook", "x"]),
        );
        assert_eq!(hook, vec![2, 3]);
        assert!(o.is_ours(15) && !o.is_ours(10));
        o.exit(15);
        // The same pid again, now the agent's: not ours.
        assert!(
            o.exec(4, Some(15), Some(10), None, &argv(&["make"]))
                .is_empty()
        );
        assert!(!o.is_ours(15));
        // A hook under a wrapper shell with its own pid: both are ours.
        assert!(
            o.exec(
                5,
                Some(20),
                Some(10),
                None,
                &argv(&["sh", "-c", "exec 3>&1; hk"])
            )
            .is_empty()
        );
        assert_eq!(
            o.exec(
                6,
                Some(21),
                Some(20),
                None,
                &argv(&["flightlog", "hook", "claude-code"])
            ),
            vec![5, 6]
        );
    }
}
