//! `flightlog record`: run an agent and watch it from outside.
//!
//! Layers (each can fail on its own and says so with a `gap` event):
//! - [`trace`]: every exec of every descendant, through ptrace (exec/fork/clone/exit stops only).
//! - [`term`]: the agent's terminal (a PTY when stdin is a terminal, pipes otherwise); output is
//!   kept as `terminal` events (`{"stream","data","t_ms"}`) that an asciicast export replays.
//! - [`proxy`]: an HTTP(S) proxy on 127.0.0.1 for the agent (`HTTP_PROXY`, `HTTPS_PROXY`, ...,
//!   with `NO_PROXY` emptied so loopback calls are seen too).
//! - [`watch`]: file changes under the working directory, with diffs; and the secret inventory
//!   at session start (fingerprints and locations only).
//!
//! Durability: one writer thread owns the store ([`writer`]); layers send events over a bounded
//! channel and never wait, except where the product says an event must be on disk first (a
//! destructive exec, a guarded request). The writer is registered in the store so a recorder
//! killed mid-batch is sealed with a `gap` by the next run.
//!
//! Follow-up events: an exec is recorded when it happens (exit `null`), and its end as a small
//! `exec` event `{"pid","exit","signal","duration_ms","exit_of_seq"}`; a proxied request is
//! recorded before it is forwarded, and its response as a small `api_call`
//! `{"status","response_body","duration_ms","error","response_of_seq"}`. So a crash loses
//! nothing that had started, and the guard can decide before anything runs.
//!
//! `--tls-intercept` ([`tls`]): the proxy decrypts HTTPS with a per-install CA that only the
//! agent is told to trust (a bundle named in `SSL_CERT_FILE` and friends, removed at the end),
//! so HTTPS API calls are recorded, decoded and guarded like plain HTTP ones. A `note` event
//! names the CA's SHA-256 fingerprint; what cannot be intercepted is tunnelled and is a `gap`.

pub mod crosscheck;
pub mod judge;
pub mod proxy;
pub mod ship;
pub mod term;
pub mod tls;
pub mod trace;
pub mod watch;
pub mod writer;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flightlog_formats::store::SessionMeta;
use flightlog_formats::{Keys, Kind, NewEvent, Redactor, Store};
use serde_json::json;

pub use judge::{Judge, Verdict};
pub use ship::PushTarget;
pub use writer::Clock;

/// What to record and how.
pub struct RecordOptions {
    /// The command to run (at least one element).
    pub argv: Vec<String>,
    pub db: PathBuf,
    pub key_dir: PathBuf,
    /// The session's home environment (`--env`, else the policy's `home`).
    pub home_env: Option<String>,
    pub label: Option<String>,
    pub judge: Judge,
    pub tls_intercept: bool,
    pub trace: bool,
    pub watch: bool,
    pub proxy: bool,
    /// The working tree (the current directory).
    pub cwd: PathBuf,
    pub clock: Clock,
    /// Environment of the agent before the recorder adds its variables.
    pub env: Vec<(String, String)>,
    /// The team store to ship the session to as it is recorded (`--push`).
    pub push: Option<PushTarget>,
}

/// How a recording ended.
#[derive(Debug, Clone)]
pub struct RecordOutcome {
    pub session: String,
    /// The agent's exit code (128 + signal if killed by a signal).
    pub exit: i32,
    /// Events in the session (all layers, hooks included).
    pub events: u64,
    /// Problems worth a line on stderr (already recorded as gaps where they affect capture).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no command given (usage: flightlog record -- CMD...)")]
    NoCommand,
    #[error(transparent)]
    Store(#[from] flightlog_formats::Error),
    #[error(transparent)]
    Spawn(#[from] trace::SpawnError),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("{0}: {1}")]
    Sys(&'static str, nix::errno::Errno),
}

/// Which layers run, for `session_start`.
fn layers(o: &RecordOptions) -> Vec<&'static str> {
    let mut l = vec!["pty"];
    if o.trace {
        l.push("ptrace");
    }
    if o.proxy {
        l.push("proxy");
        if o.tls_intercept {
            l.push("tls-intercept");
        }
    }
    if o.watch {
        l.push("watch");
    }
    l.push("inventory");
    if o.judge.guard {
        l.push("guard");
    }
    l
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Runs the command under the recorder and returns when it (and the recording) is finished.
pub fn record(opts: RecordOptions) -> Result<RecordOutcome, RecordError> {
    let Some(first) = opts.argv.first() else {
        return Err(RecordError::NoCommand);
    };
    // Resolve the program before anything is recorded: a typo is a usage error, not a session.
    if trace::resolve(first).is_none() {
        return Err(trace::SpawnError::NotFound(first.clone()).into());
    }
    let keys = Keys::load_or_create(&opts.key_dir)?;
    // Secrets seen by this recorder are held in memory; those of hooks and other recorders come
    // through the key directory's `known` file (keyed hashes only).
    let redactor = Redactor::with_known_file(keys.fingerprint_key, &opts.key_dir);
    // Secrets in the recorder's own environment (`GITHUB_TOKEN=..`) are known from the start:
    // the child inherits them, and any layer may show them.
    for (k, v) in std::env::vars() {
        let _ = redactor.scan(&format!("{k}={v}"));
    }
    let mut store = Store::open(&opts.db)?;
    let now = (opts.clock)();
    let mut warnings = Vec::new();
    match store.seal_dead_writers(&redactor, now) {
        Ok(sealed) if !sealed.is_empty() => warnings.push(format!(
            "sealed {} session(s) whose recorder had died: {}",
            sealed.len(),
            sealed.join(", ")
        )),
        Ok(_) => {}
        Err(e) => warnings.push(format!("could not check for dead recorders: {e}")),
    }
    let agent = Path::new(first)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let meta = SessionMeta {
        id: None,
        label: opts.label.clone(),
        agent: agent.clone(),
        home_env: opts.home_env.clone(),
        external_id: None,
    };
    let session = store.create_session(&meta, now)?;
    let pid = std::process::id();
    store.register_writer(&session, pid, now)?;
    let cwd = opts.cwd.canonicalize().unwrap_or_else(|_| opts.cwd.clone());
    let start = NewEvent::new(
        now,
        Kind::SessionStart,
        "recorder",
        json!({
            "agent": agent,
            "label": opts.label,
            "home_env": opts.home_env,
            "cwd": cwd.to_string_lossy(),
            "argv": opts.argv,
            "host": host_name(),
            "flightlog_version": env!("CARGO_PKG_VERSION"),
            "flightlog_exe": std::env::current_exe().ok().map(|p| p.to_string_lossy().into_owned()),
            "layers": layers(&opts),
            "context": crate::context::capture(&cwd, |k| std::env::var(k).ok()),
        }),
    )
    .with_env(opts.home_env.clone());
    store.append(&session, start, &redactor)?;

    // The tree: inventory now, snapshot for the watcher.
    let own = watch::OwnFiles::for_store(&opts.db, &opts.key_dir);
    let walked = watch::walk(&cwd, own, Some(&redactor), opts.watch);
    let mut inv = json!({"inventory": walked.inventory, "files_scanned": walked.files});
    if walked.truncated {
        inv["truncated"] = json!(true);
    }
    store.append(
        &session,
        NewEvent::new((opts.clock)(), Kind::Note, "inventory", inv),
        &redactor,
    )?;
    if walked.truncated {
        store.append(
            &session,
            gap_event((opts.clock)(), "inventory", "tree_too_large", "the working tree has more files than the walk looks at; the inventory and the first diffs are partial"),
            &redactor,
        )?;
    }

    let _ = store.set_busy_timeout(10_000);
    let judge = Arc::new(opts.judge.clone());
    let started = Instant::now();
    let (sink, rx) = writer::channel(opts.clock.clone(), started);
    let wcfg = writer::WriterConfig {
        session: session.clone(),
        redactor: redactor.clone(),
        keys: Some(Keys::load_or_create(&opts.key_dir)?),
        judge: judge.clone(),
        guard: judge.guard,
        checkpoint_every: Duration::from_secs(300),
    };
    let wsink = sink.clone();
    let writer_thread = std::thread::Builder::new()
        .name("flightlog-writer".into())
        .spawn(move || writer::run(store, wcfg, wsink, rx))
        .map_err(|e| RecordError::Io("cannot start the writer", e))?;
    let shipper = opts
        .push
        .clone()
        .map(|t| ship::start(t, opts.db.clone(), session.clone(), sink.clone()));

    let result = run_layers(&opts, &session, &cwd, walked, &sink, &judge, &mut warnings);
    // The shipper's last note, if any, goes in before the session's end.
    let shipped = shipper.map(ship::Shipper::stop);

    // Finish: the session_end, then the writer hands the store back.
    let (exit, reason) = match &result {
        Ok(code) => (Some(*code), "exited"),
        Err(_) => (None, "recorder_error"),
    };
    let end_ts = sink.now();
    sink.stop();
    let wres = writer_thread
        .join()
        .map_err(|_| RecordError::Io("the writer", std::io::Error::other("panicked")))?;
    warnings.extend(wres.errors);
    let store = wres.store;
    // What the hooks reported against what the tracer saw: each difference is a gap. Then the end.
    let mut recorded = Vec::new();
    store.for_each_event(&session, |e| {
        if let Ok(ev) = e.event() {
            recorded.push(ev);
        }
        true
    })?;
    let own_exe = std::env::current_exe()
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let mut closing = crosscheck::cross_check(&recorded, end_ts, own_exe.as_deref());
    drop(recorded);
    closing.push(NewEvent::new(
        end_ts,
        Kind::SessionEnd,
        "recorder",
        json!({"exit": exit, "reason": reason}),
    ));
    store.append_batch(&session, closing, &redactor)?;
    let end = (opts.clock)();
    store.unregister_writer(&session, pid)?;
    store.append_session_checkpoint(&session, &keys, end)?;
    store.mark_ended(&session, end)?;
    store.checkpoint(&keys, end)?;
    if let (Some(target), Some(shipped)) = (&opts.push, shipped)
        && let Some(w) = ship::finish(target, shipped, &store, &session, &keys)
    {
        warnings.push(w);
    }
    let (events, _) = store.head(&session)?;
    let exit = result?;
    Ok(RecordOutcome {
        session,
        exit,
        events,
        warnings,
    })
}

fn gap_event(
    ts: chrono::DateTime<chrono::Utc>,
    layer: &str,
    reason: &str,
    detail: &str,
) -> NewEvent {
    NewEvent::new(
        ts,
        Kind::Gap,
        "recorder",
        json!({"layer": layer, "reason": reason, "detail": detail}),
    )
}

/// A layer that could not run: a gap in the session, and a warning for the user.
fn gap_warning(
    sink: &writer::Sink,
    warnings: &mut Vec<String>,
    layer: &str,
    reason: &str,
    msg: String,
) {
    sink.send("recorder", gap_event(sink.now(), layer, reason, &msg));
    warnings.push(msg);
}

/// Starts proxy and watcher, runs the agent with its terminal and tracer; returns its exit code.
fn run_layers(
    opts: &RecordOptions,
    session: &str,
    cwd: &Path,
    walked: watch::Walk,
    sink: &writer::Sink,
    judge: &Arc<Judge>,
    warnings: &mut Vec<String>,
) -> Result<i32, RecordError> {
    let mut env: Vec<(String, String)> = opts
        .env
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "FLIGHTLOG_SESSION" | "FLIGHTLOG_DB" | "NO_PROXY" | "no_proxy"
            )
        })
        .cloned()
        .collect();
    let db_abs = std::path::absolute(&opts.db).unwrap_or_else(|_| opts.db.clone());
    env.push(("FLIGHTLOG_SESSION".into(), session.to_string()));
    env.push(("FLIGHTLOG_DB".into(), db_abs.to_string_lossy().into_owned()));

    let interceptor = if opts.tls_intercept && opts.proxy {
        match start_interception(opts, session, sink, warnings) {
            Some((i, b)) => {
                env.retain(|(k, _)| !b.vars.iter().any(|(v, _)| v == k));
                env.extend(b.vars);
                Some((i, b.files))
            }
            None => None,
        }
    } else {
        if opts.tls_intercept {
            let msg = "--tls-intercept needs the proxy (it was turned off with --no-proxy)";
            gap_warning(
                sink,
                warnings,
                "proxy",
                "tls_intercept_without_proxy",
                msg.into(),
            );
        }
        None
    };
    let proxy = if opts.proxy {
        let tls = interceptor.as_ref().map(|(i, _)| i.clone());
        match proxy::Proxy::start(sink.clone(), judge.clone(), tls) {
            Ok(p) => {
                let url = p.url();
                env.retain(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "HTTP_PROXY"
                            | "HTTPS_PROXY"
                            | "ALL_PROXY"
                            | "http_proxy"
                            | "https_proxy"
                            | "all_proxy"
                    )
                });
                for k in [
                    "HTTP_PROXY",
                    "HTTPS_PROXY",
                    "ALL_PROXY",
                    "http_proxy",
                    "https_proxy",
                    "all_proxy",
                ] {
                    env.push((k.into(), url.clone()));
                }
                env.push(("NO_PROXY".into(), String::new()));
                env.push(("no_proxy".into(), String::new()));
                Some(p)
            }
            Err(e) => {
                let msg =
                    format!("the proxy could not start: {e}; API calls are seen only in argv");
                gap_warning(sink, warnings, "proxy", "proxy_failed", msg);
                None
            }
        }
    } else {
        None
    };

    let watcher = if opts.watch {
        match watch::start(cwd, walked, sink.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                let msg = format!("the file watcher could not start: {e}");
                gap_warning(sink, warnings, "watch", "watch_failed", msg);
                None
            }
        }
    } else {
        None
    };

    let res = run_agent(opts, env, sink, judge);

    if let Some(w) = watcher {
        w.finish();
    }
    if let Some(p) = proxy {
        p.stop();
    }
    if let Some((_, files)) = interceptor {
        for f in files {
            let _ = std::fs::remove_file(f);
        }
    }
    res
}

/// The CA and the agent's bundles for `--tls-intercept`; a failure is a `gap` and a warning,
/// and the proxy then records HTTPS as CONNECT host:port only.
fn start_interception(
    opts: &RecordOptions,
    session: &str,
    sink: &writer::Sink,
    warnings: &mut Vec<String>,
) -> Option<(Arc<tls::Interceptor>, tls::Bundles)> {
    // Certificates are checked against the real clock, whatever clock the events use.
    let setup = tls::Interceptor::load_or_create(&opts.key_dir, &opts.env, chrono::Utc::now())
        .and_then(|s| {
            let b = s.interceptor.write_bundles(
                &opts.key_dir,
                &format!("session-{session}"),
                &opts.env,
            )?;
            Ok((s, b))
        });
    match setup {
        Ok((s, b)) => {
            for w in s.warnings {
                warnings.push(w);
            }
            sink.send(
                "recorder",
                NewEvent::new(
                    sink.now(),
                    Kind::Note,
                    "proxy",
                    json!({
                        "tls_intercept": {
                            "ca_sha256": s.interceptor.ca_sha256(),
                            "ca_file": opts.key_dir.join(tls::CA_CERT_FILE).to_string_lossy(),
                            "upstream_roots": s.interceptor.roots_count(),
                            "variables": b.vars.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                        }
                    }),
                ),
            );
            Some((Arc::new(s.interceptor), b))
        }
        Err(e) => {
            let msg = format!(
                "TLS interception could not start: {e}; HTTPS calls are recorded as CONNECT host:port only"
            );
            gap_warning(sink, warnings, "proxy", "tls_intercept_failed", msg);
            None
        }
    }
}

fn run_agent(
    opts: &RecordOptions,
    env: Vec<(String, String)>,
    sink: &writer::Sink,
    judge: &Arc<Judge>,
) -> Result<i32, RecordError> {
    let spawn = trace::Spawn::new(&opts.argv, &env, &opts.cwd)?;
    let signals =
        term::Signals::install().map_err(|e| RecordError::Sys("cannot handle signals", e))?;
    let (wake_r, wake_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|e| RecordError::Sys("cannot create a pipe", e))?;
    let pty = term::stdin_is_tty();
    let stdin = std::io::stdin();
    let mut raw_guard = None;
    let (child_stdio, io) = if pty {
        let (master, slave) = term::open_pty(Some(stdin.as_fd()))
            .map_err(|e| RecordError::Sys("cannot open a pseudo-terminal", e))?;
        let (guard, orig) = term::RawMode::enter(stdin.as_fd())
            .map_err(|e| RecordError::Sys("cannot set the terminal to raw mode", e))?;
        term::set_slave_termios(&slave, &orig);
        raw_guard = Some(guard);
        (trace::Stdio::Pty(slave), term::Io::Pty { master })
    } else {
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| RecordError::Sys("cannot create a pipe", e))?;
        let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| RecordError::Sys("cannot create a pipe", e))?;
        (
            trace::Stdio::Pipes {
                out: out_w,
                err: err_w,
            },
            term::Io::Pipes {
                out: out_r,
                err: err_r,
            },
        )
    };
    let (ntx, nrx) = std::sync::mpsc::channel();
    let tsink = sink.clone();
    let tjudge = judge.clone();
    let trace_on = opts.trace;
    let tracer = std::thread::Builder::new()
        .name("flightlog-trace".into())
        .spawn(move || {
            let wake = |w: &OwnedFd| {
                let _ = nix::unistd::write(w, b"x");
            };
            let mut untraced: Option<String> = None;
            let r = trace::run_child(spawn, child_stdio, trace_on, tsink, &tjudge, |n| match n {
                trace::TraceNote::Started {
                    pid, why_untraced, ..
                } => {
                    untraced = why_untraced;
                    let _ = ntx.send(term::LoopNote::Root(pid));
                    wake(&wake_w);
                }
                trace::TraceNote::Exited(_) => {
                    let _ = ntx.send(term::LoopNote::Exited);
                    wake(&wake_w);
                }
            });
            if r.is_err() {
                let _ = ntx.send(term::LoopNote::Exited);
                wake(&wake_w);
            }
            (r, untraced)
        })
        .map_err(|e| RecordError::Io("cannot start the tracer", e))?;
    // The gap for an untraced run is recorded as soon as we know.
    term::io_loop(io, sink, &signals, &wake_r, &nrx);
    let (res, untraced) = tracer
        .join()
        .map_err(|_| RecordError::Io("the tracer", std::io::Error::other("panicked")))?;
    drop(raw_guard);
    drop(signals);
    if let Some(why) = untraced {
        let msg = format!("{why}; the agent ran untraced (its commands are not recorded)");
        eprintln!("flightlog: {msg}");
        sink.send(
            "recorder",
            gap_event(sink.now(), "ptrace", "ptrace_unavailable", &msg),
        );
    }
    Ok(res?.code())
}
