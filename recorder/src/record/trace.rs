//! Starting the agent and following its process tree with ptrace.
//!
//! The thread that forks the agent is its tracer (ptrace ties a tracee to one thread), so
//! [`run_child`] forks, attaches and then waits for every descendant on that thread.
//!
//! - The child waits on a pipe until the parent has attached with `PTRACE_SEIZE` (options
//!   TRACEEXEC, TRACEFORK, TRACEVFORK, TRACECLONE, EXITKILL), then execs. If the kernel refuses
//!   (EPERM in a container, seccomp), the agent runs untraced and the caller records a `gap`.
//! - Only exec, fork/vfork/clone and exit stops are taken: no syscall stops.
//! - At an exec stop the new image has not run yet. The exec is recorded there, so a crash
//!   loses nothing. An exec the catalogue calls destructive (or every exec when the guard denies
//!   plain crossings) stays stopped until its event is committed and the guard decided; a denied
//!   one is killed with SIGKILL before its first instruction and a `decision` is recorded.
//! - The exit of a traced image is a small follow-up `exec` event
//!   `{"pid","exit","signal","duration_ms","exit_of_seq"}` referring to the exec event by seq.
//!   When a process execs again, the exit belongs to its last image.
//! - Group stops (Ctrl-Z, SIGSTOP) are left in place with PTRACE_LISTEN, so job control works.
//! - When the agent's root process exits, remaining descendants are detached (recorded in a
//!   `gap`: they outlive the session untraced) so the recorder can finish.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use flightlog_formats::{Kind, NewEvent};
use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde_json::json;

use super::judge::Judge;
use super::writer::{FollowUp, Sink};

/// Whether this process may trace a child as `record` does (`PTRACE_SEIZE` on a child it
/// started): Err with the reason when it may not (a container without CAP_SYS_PTRACE, seccomp,
/// Yama's `ptrace_scope` 3).
pub fn ptrace_allowed() -> Result<(), String> {
    let mut child = std::process::Command::new("sleep")
        .arg("5")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start a child to probe with: {e}"))?;
    let pid = Pid::from_raw(child.id() as i32);
    let r = ptrace::seize(pid, Options::PTRACE_O_EXITKILL);
    let _ = child.kill();
    let _ = child.wait();
    r.map_err(|e| format!("PTRACE_SEIZE of a child fails with {e}"))
}

/// How the agent's standard streams are connected.
pub enum Stdio {
    /// A PTY slave for stdin, stdout and stderr; the child gets its own session.
    Pty(OwnedFd),
    /// Pipes for stdout and stderr (write ends); stdin is inherited.
    Pipes { out: OwnedFd, err: OwnedFd },
}

/// Everything prepared before the fork (nothing may allocate between fork and exec).
pub struct Spawn {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{0}: an argument or environment value contains a NUL byte")]
    Nul(String),
    #[error("cannot start {0}: {1}")]
    Os(String, Errno),
}

impl Spawn {
    pub fn new(argv: &[String], env: &[(String, String)], cwd: &Path) -> Result<Spawn, SpawnError> {
        let first = argv.first().cloned().unwrap_or_default();
        let path = resolve(&first).ok_or_else(|| SpawnError::NotFound(first.clone()))?;
        let c = |s: &[u8]| CString::new(s).map_err(|_| SpawnError::Nul(first.clone()));
        Ok(Spawn {
            program: c(path.as_os_str().as_bytes())?,
            argv: argv
                .iter()
                .map(|a| c(a.as_bytes()))
                .collect::<Result<_, _>>()?,
            envp: env
                .iter()
                .map(|(k, v)| c(format!("{k}={v}").as_bytes()))
                .collect::<Result<_, _>>()?,
            cwd: c(cwd.as_os_str().as_bytes())?,
        })
    }
}

/// Finds a program like execvp does (a name with a slash is taken as is).
pub fn resolve(name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How the root process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootExit {
    Code(i32),
    Signal(i32),
}

impl RootExit {
    /// The exit code a shell would report (128 + signal).
    pub fn code(self) -> i32 {
        match self {
            RootExit::Code(c) => c,
            RootExit::Signal(s) => 128 + s,
        }
    }
}

/// What the tracer thread reports to the I/O loop.
pub enum TraceNote {
    Started {
        pid: i32,
        traced: bool,
        why_untraced: Option<String>,
    },
    Exited(RootExit),
}

/// Forks the agent, traces it (if `trace`), and waits for it. Runs on its own thread.
/// `notify` is called once with `Started` and once with `Exited`.
pub fn run_child(
    spawn: Spawn,
    stdio: Stdio,
    trace: bool,
    sink: Sink,
    judge: &Judge,
    mut notify: impl FnMut(TraceNote),
) -> Result<RootExit, SpawnError> {
    let (sync_r, sync_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SpawnError::Os(arg0(&spawn), e))?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SpawnError::Os(arg0(&spawn), e))?;
    let mut argv_ptrs: Vec<*const libc::c_char> = spawn.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = spawn.envp.iter().map(|a| a.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let (slave, out, err) = match &stdio {
        Stdio::Pty(s) => (s.as_raw_fd(), -1, -1),
        Stdio::Pipes { out, err } => (-1, out.as_raw_fd(), err.as_raw_fd()),
    };
    let sync_fd = sync_r.as_raw_fd();
    let err_fd = err_w.as_raw_fd();
    // SAFETY: the child only makes async-signal-safe system calls on data prepared above, then
    // execs or exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SpawnError::Os(arg0(&spawn), Errno::last()));
    }
    if pid == 0 {
        // SAFETY: async-signal-safe calls only; see child_exec.
        unsafe {
            child_exec(
                &spawn.program,
                &spawn.cwd,
                &argv_ptrs,
                &env_ptrs,
                slave,
                out,
                err,
                sync_fd,
                err_fd,
            )
        }
    }
    drop(stdio);
    drop(sync_r);
    drop(err_w);
    let root = Pid::from_raw(pid);
    let mut why_untraced = None;
    let traced = if trace {
        let opts = Options::PTRACE_O_TRACEEXEC
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_EXITKILL;
        match ptrace::seize(root, opts) {
            Ok(()) => true,
            Err(e) => {
                why_untraced = Some(format!("ptrace is not permitted here ({e})"));
                false
            }
        }
    } else {
        false
    };
    // Let the child exec.
    let _ = nix::unistd::write(&sync_w, b"g");
    drop(sync_w);
    // An exec failure arrives as an errno on the pipe (closed on a successful exec).
    let mut buf = [0u8; 4];
    let n = loop {
        match nix::unistd::read(&err_r, &mut buf) {
            Err(Errno::EINTR) => continue,
            r => break r.unwrap_or(0),
        }
    };
    if n == 4 {
        let errno = Errno::from_raw(i32::from_ne_bytes(buf));
        // Reap the child (it exits 127).
        loop {
            match waitpid(root, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) | Err(_) => break,
                Ok(_) => {
                    let _ = ptrace::cont(root, None);
                }
            }
        }
        return Err(SpawnError::Os(arg0(&spawn), errno));
    }
    notify(TraceNote::Started {
        pid,
        traced,
        why_untraced,
    });
    let exit = if traced {
        Tracer::new(root, sink, judge).run()
    } else {
        wait_untraced(root)
    };
    notify(TraceNote::Exited(exit));
    Ok(exit)
}

fn arg0(s: &Spawn) -> String {
    s.argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The child between fork and exec.
///
/// # Safety
/// Must only be called in a freshly forked child; it never returns.
#[allow(clippy::too_many_arguments)]
unsafe fn child_exec(
    program: &CString,
    cwd: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    slave: RawFd,
    out: RawFd,
    err: RawFd,
    sync_fd: RawFd,
    err_fd: RawFd,
) -> ! {
    // SAFETY: plain system calls on valid descriptors and NUL-terminated arrays.
    unsafe {
        // Signals: default dispositions and an empty mask (Rust ignores SIGPIPE; exec keeps that).
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        if slave >= 0 {
            libc::setsid();
            libc::ioctl(slave, libc::TIOCSCTTY as _, 0);
            libc::dup2(slave, 0);
            libc::dup2(slave, 1);
            libc::dup2(slave, 2);
        } else {
            libc::dup2(out, 1);
            libc::dup2(err, 2);
        }
        // Wait until the parent has attached.
        let mut b = [0u8; 1];
        loop {
            let r = libc::read(sync_fd, b.as_mut_ptr().cast(), 1);
            if r >= 0 || *libc::__errno_location() != libc::EINTR {
                break;
            }
        }
        if libc::chdir(cwd.as_ptr()) != 0 {
            let e = (*libc::__errno_location()).to_ne_bytes();
            libc::write(err_fd, e.as_ptr().cast(), 4);
            libc::_exit(127);
        }
        libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        let e = (*libc::__errno_location()).to_ne_bytes();
        libc::write(err_fd, e.as_ptr().cast(), 4);
        libc::_exit(127);
    }
}

fn wait_untraced(root: Pid) -> RootExit {
    loop {
        match waitpid(root, None) {
            Ok(WaitStatus::Exited(_, c)) => return RootExit::Code(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return RootExit::Signal(s as i32),
            Err(Errno::EINTR) | Ok(_) => continue,
            Err(_) => return RootExit::Code(255),
        }
    }
}

struct Image {
    local: u64,
    started: Instant,
}

struct Tracer<'a> {
    root: Pid,
    sink: Sink,
    judge: &'a Judge,
    /// Creator of each process/thread we saw created.
    parent: HashMap<i32, i32>,
    /// The current traced image of each process that exec'd.
    images: HashMap<i32, Image>,
    live: HashSet<i32>,
    root_exit: Option<RootExit>,
    draining: bool,
}

const MAX_ARG: usize = 64 * 1024;

impl<'a> Tracer<'a> {
    fn new(root: Pid, sink: Sink, judge: &'a Judge) -> Self {
        let mut live = HashSet::new();
        live.insert(root.as_raw());
        Tracer {
            root,
            sink,
            judge,
            parent: HashMap::new(),
            images: HashMap::new(),
            live,
            root_exit: None,
            draining: false,
        }
    }

    fn run(mut self) -> RootExit {
        loop {
            if self.root_exit.is_some() && self.live.is_empty() {
                break;
            }
            let st = match waitpid(None::<Pid>, Some(WaitPidFlag::__WALL)) {
                Ok(s) => s,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            match st {
                WaitStatus::Exited(pid, code) => self.exited(pid, RootExit::Code(code)),
                WaitStatus::Signaled(pid, sig, _) => self.exited(pid, RootExit::Signal(sig as i32)),
                WaitStatus::Stopped(pid, sig) => {
                    self.live.insert(pid.as_raw());
                    if self.draining {
                        let _ = ptrace::detach(pid, Some(sig));
                        self.live.remove(&pid.as_raw());
                    } else {
                        let _ = ptrace::cont(pid, Some(sig));
                    }
                }
                WaitStatus::PtraceEvent(pid, sig, ev) => {
                    self.live.insert(pid.as_raw());
                    self.event(pid, sig, ev);
                }
                _ => {}
            }
        }
        self.root_exit.unwrap_or(RootExit::Code(255))
    }

    fn event(&mut self, pid: Pid, sig: Signal, ev: i32) {
        if ev == libc::PTRACE_EVENT_EXEC {
            if !self.draining {
                // The exec resumes the process itself (as early as it may).
                self.exec(pid);
                return;
            }
        } else if ev == libc::PTRACE_EVENT_FORK
            || ev == libc::PTRACE_EVENT_VFORK
            || ev == libc::PTRACE_EVENT_CLONE
        {
            if let Ok(child) = ptrace::getevent(pid) {
                self.parent.insert(child as i32, pid.as_raw());
                self.live.insert(child as i32);
                if self.draining {
                    let _ = ptrace::interrupt(Pid::from_raw(child as i32));
                }
            }
        } else if ev == libc::PTRACE_EVENT_STOP
            && matches!(
                sig,
                Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
            )
            && !self.draining
        {
            // A group stop: stay stopped until SIGCONT, still traced.
            // SAFETY: PTRACE_LISTEN on a tracee in a ptrace stop.
            unsafe {
                libc::ptrace(libc::PTRACE_LISTEN, pid.as_raw(), 0, 0);
            }
            return;
        }
        if self.draining {
            let _ = ptrace::detach(pid, None);
            self.live.remove(&pid.as_raw());
        } else {
            let _ = ptrace::cont(pid, None);
        }
    }

    /// Records an exec at its stop and resumes the process: an exec the catalogue calls
    /// destructive stays stopped until its event is on disk (and the guard has decided; a
    /// denied one is killed); any other is resumed before its event is even built, so the
    /// agent does not wait for the recorder's bookkeeping.
    fn exec(&mut self, pid: Pid) {
        let p = pid.as_raw();
        let proc_dir = PathBuf::from(format!("/proc/{p}"));
        let argv = read_argv(&proc_dir.join("cmdline"));
        let cwd = std::fs::read_link(proc_dir.join("cwd"))
            .map(|c| c.to_string_lossy().into_owned())
            .ok();
        let exe = std::fs::read_link(proc_dir.join("exe"))
            .map(|c| c.to_string_lossy().into_owned())
            .ok();
        let ppid = self
            .parent
            .get(&p)
            .copied()
            // A process we saw exec is its own thread group; otherwise ask /proc.
            .map(|pp| {
                if self.images.contains_key(&pp) {
                    pp
                } else {
                    tgid_of(pp).unwrap_or(pp)
                }
            })
            .or_else(|| ppid_of(p));
        let (hold, _rule) = self.judge.hold_exec(&argv, cwd.as_deref());
        if !hold {
            let _ = ptrace::cont(pid, None);
        }
        let now = self.sink.now();
        let data = json!({
            "argv": argv,
            "cwd": cwd,
            "pid": p,
            "ppid": ppid,
            "exe": exe,
            "exit": null,
            "signal": null,
            "duration_ms": null,
            "start_ts": flightlog_formats::event::format_ts(now),
        });
        let ev = NewEvent::new(now, Kind::Exec, "ptrace", data);
        let local = self.sink.local_id();
        self.images.insert(
            p,
            Image {
                local,
                started: Instant::now(),
            },
        );
        if hold {
            let guard = self.judge.guard.then_some("ptrace");
            let ack = self.sink.commit(ev, Some(local), guard);
            if let Some(err) = &ack.error {
                eprintln!("flightlog: a held exec could not be committed: {err}");
            }
            if ack.verdict.is_some_and(|v| v.deny) {
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            }
            let _ = ptrace::cont(pid, None);
        } else {
            self.sink.send_full("ptrace", ev, Some(local), None);
        }
        if let Some(api) = self.judge.argv_api(&argv) {
            let mut api = api;
            if let Some(m) = api.as_object_mut() {
                m.insert("via_seq".into(), serde_json::Value::Null);
            }
            let ev = NewEvent::new(self.sink.now(), Kind::ApiCall, "argv", api);
            self.sink.send_full(
                "ptrace",
                ev,
                None,
                Some(FollowUp {
                    of: local,
                    field: "via_seq",
                }),
            );
        }
    }

    fn exited(&mut self, pid: Pid, how: RootExit) {
        let p = pid.as_raw();
        self.live.remove(&p);
        if let Some(img) = self.images.remove(&p) {
            let (exit, signal) = match how {
                RootExit::Code(c) => (Some(c), None),
                RootExit::Signal(s) => (
                    None,
                    Some(
                        Signal::try_from(s)
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_else(|_| s.to_string()),
                    ),
                ),
            };
            let ev = NewEvent::new(
                self.sink.now(),
                Kind::Exec,
                "ptrace",
                json!({
                    "pid": p,
                    "exit": exit,
                    "signal": signal,
                    "duration_ms": img.started.elapsed().as_millis() as u64,
                    "exit_of_seq": null,
                }),
            );
            self.sink.send_full(
                "ptrace",
                ev,
                None,
                Some(FollowUp {
                    of: img.local,
                    field: "exit_of_seq",
                }),
            );
        }
        if pid == self.root {
            self.root_exit = Some(how);
            self.start_draining();
        }
    }

    /// The root exited: stop following what is left, and say so.
    fn start_draining(&mut self) {
        if self.live.is_empty() {
            return;
        }
        self.draining = true;
        let mut left: Vec<serde_json::Value> = Vec::new();
        for &p in &self.live {
            let _ = ptrace::interrupt(Pid::from_raw(p));
            if self.images.contains_key(&p) {
                left.push(
                    json!({"pid": p, "argv": read_argv(Path::new(&format!("/proc/{p}/cmdline")))}),
                );
            }
        }
        if !left.is_empty() {
            let ev = NewEvent::new(
                self.sink.now(),
                Kind::Gap,
                "ptrace",
                json!({
                    "layer": "ptrace",
                    "reason": "outlived_session",
                    "detail": format!("{} processes were still running when the recorded command exited; they are no longer traced", left.len()),
                    "processes": left,
                }),
            );
            self.sink.send("ptrace", ev);
        }
    }
}

fn read_argv(path: &Path) -> Vec<String> {
    let raw = std::fs::read(path).unwrap_or_default();
    let mut out: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|a| {
            if a.len() > MAX_ARG {
                format!(
                    "{}...[{} bytes in all]",
                    String::from_utf8_lossy(&a[..MAX_ARG]),
                    a.len()
                )
            } else {
                OsStr::from_bytes(a).to_string_lossy().into_owned()
            }
        })
        .collect();
    if raw.last() == Some(&0) {
        out.pop();
    }
    out
}

fn stat_field(pid: i32, idx: usize) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(idx)?.parse().ok()
}

fn ppid_of(pid: i32) -> Option<i32> {
    stat_field(pid, 1)
}

fn tgid_of(tid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_programs_like_execvp() {
        assert!(resolve("sh").is_some());
        assert_eq!(resolve("./x"), Some(PathBuf::from("./x")));
        assert_eq!(resolve("definitely-not-a-command-xyz"), None);
        assert_eq!(resolve(""), None);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(RootExit::Code(3).code(), 3);
        assert_eq!(RootExit::Signal(15).code(), 143);
    }
}
