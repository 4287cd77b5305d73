//! The agent's terminal: a PTY when our stdin is a terminal (raw mode, resize, signals), plain
//! pipes otherwise; either way output is passed through and recorded as `terminal` events.
//!
//! The user's terminal settings are restored on every way out: normal end, error, panic (a
//! panic hook), and SIGTERM/SIGINT/SIGHUP/SIGQUIT (handled: forwarded to the agent, which then
//! ends, and the recorder finishes normally). Only SIGKILL cannot be caught; then EXITKILL ends
//! the traced agent and the next run seals the session.

use std::io::{IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use flightlog_formats::{Kind, NewEvent};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use serde_json::json;

use super::writer::Sink;

/// Output is flushed into a `terminal` event after this long or this many bytes.
const FLUSH_AFTER: Duration = Duration::from_millis(20);
const FLUSH_BYTES: usize = 32 * 1024;

static SIG_PIPE_W: AtomicI32 = AtomicI32::new(-1);
static SAVED_TERMIOS: Mutex<Option<Termios>> = Mutex::new(None);

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd = SIG_PIPE_W.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let from_tty = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let b = [(sig as u8) | if from_tty { 0x80 } else { 0 }];
    // SAFETY: write(2) is async-signal-safe; errors (a full pipe) are ignored.
    unsafe {
        let saved = *libc::__errno_location();
        libc::write(fd, b.as_ptr().cast(), 1);
        *libc::__errno_location() = saved;
    }
}

/// Signals the recorder handles while the agent runs.
const HANDLED: [Signal; 5] = [
    Signal::SIGWINCH,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// The self-pipe the signal handler writes to; dropping it restores default handlers.
pub struct Signals {
    pub read: OwnedFd,
    _write: OwnedFd,
    old: Vec<(Signal, SigAction)>,
}

impl Signals {
    pub fn install() -> nix::Result<Signals> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        SIG_PIPE_W.store(w.as_raw_fd(), Ordering::Relaxed);
        let act = SigAction::new(
            SigHandler::SigAction(on_signal),
            SaFlags::SA_RESTART | SaFlags::SA_SIGINFO,
            SigSet::empty(),
        );
        let mut old = Vec::new();
        for s in HANDLED {
            // SAFETY: the handler only calls write(2).
            old.push((s, unsafe { sigaction(s, &act) }?));
        }
        Ok(Signals {
            read: r,
            _write: w,
            old,
        })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (s, a) in &self.old {
            // SAFETY: restoring the previous disposition.
            unsafe {
                let _ = sigaction(*s, a);
            }
        }
        SIG_PIPE_W.store(-1, Ordering::Relaxed);
    }
}

/// Puts the terminal on `fd` in raw mode; restores it when dropped (and from the panic hook).
pub struct RawMode {
    fd: RawFd,
}

impl RawMode {
    pub fn enter(fd: BorrowedFd<'_>) -> nix::Result<(RawMode, Termios)> {
        let orig = termios::tcgetattr(fd)?;
        if let Ok(mut saved) = SAVED_TERMIOS.lock() {
            *saved = Some(orig.clone());
        }
        install_panic_restore(fd.as_raw_fd());
        let mut raw = orig.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSADRAIN, &raw)?;
        Ok((RawMode { fd: fd.as_raw_fd() }, orig))
    }
}

fn restore(fd: RawFd) {
    if let Ok(saved) = SAVED_TERMIOS.lock()
        && let Some(t) = saved.as_ref()
    {
        // SAFETY: fd is our stdin, open for the life of the process.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = termios::tcsetattr(b, SetArg::TCSADRAIN, t);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore(self.fd);
        if let Ok(mut saved) = SAVED_TERMIOS.lock() {
            *saved = None;
        }
    }
}

fn install_panic_restore(fd: RawFd) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore(fd);
            prev(info);
        }));
    });
}

/// Opens a PTY pair (both ends close-on-exec) sized like our terminal.
pub fn open_pty(size_from: Option<BorrowedFd<'_>>) -> nix::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let m = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if m < 0 {
        return Err(Errno::last());
    }
    // SAFETY: m is a fresh descriptor we own.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    // SAFETY: grantpt/unlockpt/ptsname_r on the master descriptor.
    let name = unsafe {
        if libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            return Err(Errno::last());
        }
        let mut buf = [0 as libc::c_char; 128];
        if libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) != 0 {
            return Err(Errno::last());
        }
        std::ffi::CStr::from_ptr(buf.as_ptr()).to_owned()
    };
    // SAFETY: open(2) on the slave's path.
    let s = unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(Errno::last());
    }
    // SAFETY: s is a fresh descriptor we own.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    if let Some(src) = size_from {
        copy_winsize(src.as_raw_fd(), master.as_raw_fd());
    }
    Ok((master, slave))
}

fn winsize(fd: RawFd) -> Option<libc::winsize> {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some(ws)
}

/// Copies the window size; returns "COLSxROWS".
fn copy_winsize(from: RawFd, to: RawFd) -> Option<String> {
    let ws = winsize(from)?;
    // SAFETY: TIOCSWINSZ reads a winsize.
    unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) };
    Some(format!("{}x{}", ws.ws_col, ws.ws_row))
}

/// Whether stdin is a terminal (the PTY mode).
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Text accumulated for one `terminal` stream.
struct Capture {
    stream: &'static str,
    fd: Option<u8>,
    buf: Vec<u8>,
    since: Option<(Instant, u64)>,
}

impl Capture {
    fn new(stream: &'static str, fd: Option<u8>) -> Self {
        Capture {
            stream,
            fd,
            buf: Vec::new(),
            since: None,
        }
    }

    fn push(&mut self, sink: &Sink, bytes: &[u8]) {
        if self.since.is_none() {
            self.since = Some((Instant::now(), sink.t_ms()));
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= FLUSH_BYTES {
            self.flush(sink, false);
        }
    }

    fn due(&self) -> Option<Duration> {
        self.since
            .map(|(t, _)| FLUSH_AFTER.saturating_sub(t.elapsed()))
    }

    /// Emits what is buffered (keeping an incomplete UTF-8 tail unless `all`).
    fn flush(&mut self, sink: &Sink, all: bool) {
        let Some((_, t_ms)) = self.since else { return };
        let cut = if all {
            self.buf.len()
        } else {
            match std::str::from_utf8(&self.buf) {
                Ok(_) => self.buf.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => self.buf.len(),
            }
        };
        if cut == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf[..cut]).into_owned();
        self.buf.drain(..cut);
        self.since = if self.buf.is_empty() {
            None
        } else {
            Some((Instant::now(), sink.t_ms()))
        };
        let mut data = json!({"stream": self.stream, "data": text, "t_ms": t_ms});
        if let Some(fd) = self.fd {
            data["fd"] = json!(fd);
        }
        sink.send(
            "pty",
            NewEvent::new(sink.now(), Kind::Terminal, "pty", data),
        );
    }
}

/// What the I/O loop learns from the tracer thread.
pub enum LoopNote {
    Root(i32),
    Exited,
}

/// The agent's side of the I/O.
pub enum Io {
    Pty { master: OwnedFd },
    Pipes { out: OwnedFd, err: OwnedFd },
}

/// Runs the I/O loop until the agent has exited and its output is drained.
/// `wake` is readable when the tracer has news in `notes`.
pub fn io_loop(
    io: Io,
    sink: &Sink,
    signals: &Signals,
    wake: &OwnedFd,
    notes: &std::sync::mpsc::Receiver<LoopNote>,
) {
    let pty = matches!(io, Io::Pty { .. });
    let (a, b): (OwnedFd, Option<OwnedFd>) = match io {
        Io::Pty { master } => (master, None),
        Io::Pipes { out, err } => (out, Some(err)),
    };
    let stdin = std::io::stdin();
    let stdin_fd = stdin.as_fd();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let mut out_ok = true;
    let mut err_ok = true;
    let mut cap_a = Capture::new("o", (!pty).then_some(1));
    let mut cap_b = Capture::new("o", Some(2));
    let mut cap_in = Capture::new("i", None);
    let mut a_open = true;
    let mut b_open = b.is_some();
    let mut stdin_open = pty;
    let mut root: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    let mut term_count = 0u32;
    let mut buf = vec![0u8; 64 * 1024];
    if pty && let Some(size) = copy_winsize(stdin_fd.as_raw_fd(), a.as_raw_fd()) {
        sink.send("pty", resize_event(sink, &size));
    }
    loop {
        // After the agent exited, drain what is already buffered, then stop (a background
        // process may keep the other end open forever).
        if let Some(t) = exited_at
            && (!(a_open || b_open) || t.elapsed() > Duration::from_millis(200))
        {
            break;
        }
        let timeout = [cap_a.due(), cap_b.due(), cap_in.due()]
            .into_iter()
            .flatten()
            .min()
            .map(|d| d.as_millis().min(1000) as u16)
            .map(PollTimeout::from)
            .unwrap_or(if exited_at.is_some() {
                PollTimeout::from(50u16)
            } else {
                PollTimeout::NONE
            });
        let mut fds = vec![
            PollFd::new(signals.read.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        let ia = a_open.then(|| {
            fds.push(PollFd::new(a.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let ib = match (&b, b_open) {
            (Some(b), true) => {
                fds.push(PollFd::new(b.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let iin = stdin_open.then(|| {
            fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
            fds.len() - 1
        });
        match poll(&mut fds, timeout) {
            Ok(0) => {
                cap_a.flush(sink, false);
                cap_b.flush(sink, false);
                cap_in.flush(sink, false);
                if exited_at.is_some() && !has_input(&a) && b.as_ref().is_none_or(|b| !has_input(b))
                {
                    break;
                }
                continue;
            }
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        let sig_ready = ready(Some(0));
        let wake_ready = ready(Some(1));
        let a_ready = ready(ia);
        let b_ready = ready(ib);
        let in_ready = ready(iin);
        drop(fds);
        if sig_ready {
            let mut sb = [0u8; 64];
            let n = nix::unistd::read(&signals.read, &mut sb).unwrap_or(0);
            for &byte in &sb[..n] {
                let from_tty = byte & 0x80 != 0;
                let Ok(sig) = Signal::try_from(i32::from(byte & 0x7f)) else {
                    continue;
                };
                if sig == Signal::SIGWINCH {
                    if pty && let Some(size) = copy_winsize(stdin_fd.as_raw_fd(), a.as_raw_fd()) {
                        sink.send("pty", resize_event(sink, &size));
                    }
                    continue;
                }
                // In pipe mode the terminal already sent ^C / ^\ to the agent's process group.
                if !pty && from_tty {
                    continue;
                }
                if let Some(r) = root {
                    term_count += 1;
                    let target = nix::unistd::Pid::from_raw(r);
                    let s = if term_count > 2 { Signal::SIGKILL } else { sig };
                    let _ = nix::sys::signal::kill(target, s);
                }
            }
        }
        if wake_ready {
            let mut wb = [0u8; 16];
            let _ = nix::unistd::read(wake, &mut wb);
            while let Ok(n) = notes.try_recv() {
                match n {
                    LoopNote::Root(p) => root = Some(p),
                    LoopNote::Exited => exited_at = Some(Instant::now()),
                }
            }
        }
        if a_ready {
            match read_some(&a, &mut buf) {
                Some(n) if n > 0 => {
                    if pty || out_ok {
                        let w = if pty {
                            &mut stdout as &mut dyn Write
                        } else {
                            &mut stdout
                        };
                        if w.write_all(&buf[..n]).and_then(|_| w.flush()).is_err() {
                            out_ok = false;
                        }
                    }
                    cap_a.push(sink, &buf[..n]);
                }
                Some(_) => a_open = false,
                None => {}
            }
        }
        if b_ready && let Some(b) = &b {
            match read_some(b, &mut buf) {
                Some(n) if n > 0 => {
                    if err_ok && stderr.write_all(&buf[..n]).is_err() {
                        err_ok = false;
                    }
                    cap_b.push(sink, &buf[..n]);
                }
                Some(_) => b_open = false,
                None => {}
            }
        }
        if in_ready {
            match read_some(&stdin_fd, &mut buf) {
                Some(n) if n > 0 => {
                    if write_all_fd(&a, &buf[..n]).is_err() {
                        stdin_open = false;
                    }
                    // Typed input is kept only while the agent's terminal echoes it: no
                    // passwords typed at a prompt with echo off.
                    if echo_on(&a) {
                        cap_in.push(sink, &buf[..n]);
                    }
                }
                Some(_) => {
                    stdin_open = false;
                    // End of our input: send the terminal's EOF character to the agent.
                    let _ = write_all_fd(&a, &[4]);
                }
                None => {}
            }
        }
    }
    cap_a.flush(sink, true);
    cap_b.flush(sink, true);
    cap_in.flush(sink, true);
}

fn resize_event(sink: &Sink, size: &str) -> NewEvent {
    NewEvent::new(
        sink.now(),
        Kind::Terminal,
        "pty",
        json!({"stream": "r", "data": size, "t_ms": sink.t_ms()}),
    )
}

fn has_input(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
}

fn echo_on(master: &OwnedFd) -> bool {
    termios::tcgetattr(master.as_fd()).is_ok_and(|t| t.local_flags.contains(LocalFlags::ECHO))
}

/// Reads what is available: Some(0) at end of file (or EIO from a PTY whose slave closed),
/// None if interrupted or would block.
fn read_some<F: AsFd>(fd: &F, buf: &mut [u8]) -> Option<usize> {
    match nix::unistd::read(fd.as_fd(), buf) {
        Ok(n) => Some(n),
        Err(Errno::EINTR) | Err(Errno::EAGAIN) => None,
        Err(_) => Some(0),
    }
}

fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes a descriptor close-on-exec.
pub fn cloexec(fd: &OwnedFd) {
    let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
}

/// Sets the PTY slave to the user's original settings (so the agent starts cooked).
pub fn set_slave_termios(slave: &OwnedFd, t: &Termios) {
    let _ = termios::tcsetattr(slave.as_fd(), SetArg::TCSANOW, t);
}
