//! Moving bytes: the `Sock` streams (TCP and TLS, for `poll`), non-blocking writes,
//! relaying an upgraded connection both ways, and a blind tunnel.

use super::*;

/// A stream the proxy can relay an upgraded connection over: its socket (for `poll`), and a
/// way to end its sending side.
pub(super) trait Sock: Read + Write {
    fn socket(&self) -> BorrowedFd<'_>;
    fn set_nonblocking(&self, on: bool) -> io::Result<()>;
    fn end_writes(&mut self);
}

impl Sock for TcpStream {
    fn socket(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }
    fn end_writes(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

macro_rules! tls_sock {
    ($conn:ty) => {
        impl Sock for StreamOwned<$conn, TcpStream> {
            fn socket(&self) -> BorrowedFd<'_> {
                self.sock.as_fd()
            }
            fn set_nonblocking(&self, on: bool) -> io::Result<()> {
                self.sock.set_nonblocking(on)
            }
            fn end_writes(&mut self) {
                self.conn.send_close_notify();
                let _ = flush_nb(self);
                let _ = self.sock.shutdown(Shutdown::Write);
            }
        }
    };
}
tls_sock!(ServerConnection);
tls_sock!(ClientConnection);

/// The server side of one forwarded request.
pub(super) enum Upstream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Upstream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Upstream::Plain(s) => s.read(buf),
            Upstream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Upstream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Upstream::Plain(s) => s.write(buf),
            Upstream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Upstream::Plain(s) => s.flush(),
            Upstream::Tls(s) => s.flush(),
        }
    }
}

impl Sock for Upstream {
    fn socket(&self) -> BorrowedFd<'_> {
        match self {
            Upstream::Plain(s) => s.socket(),
            Upstream::Tls(s) => s.socket(),
        }
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Upstream::Plain(s) => Sock::set_nonblocking(s, on),
            Upstream::Tls(s) => s.set_nonblocking(on),
        }
    }
    fn end_writes(&mut self) {
        match self {
            Upstream::Plain(s) => s.end_writes(),
            Upstream::Tls(s) => s.end_writes(),
        }
    }
}

/// Writes all of `buf` to a non-blocking stream, waiting for the socket when it is full (as
/// long as the peer takes to read, as a blocking tunnel would).
pub(super) fn write_all_nb<W: Sock>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(w.socket(), PollFlags::POLLOUT)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    flush_nb(w)
}

pub(super) fn flush_nb<W: Sock + ?Sized>(w: &mut W) -> io::Result<()> {
    loop {
        match w.flush() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(w.socket(), PollFlags::POLLOUT)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn wait(fd: BorrowedFd<'_>, what: PollFlags) -> io::Result<()> {
    let mut fds = [PollFd::new(fd, what)];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Relays an upgraded connection (WebSocket, ...) both ways until both sides have ended:
/// non-blocking reads on each side, `poll` on both sockets when neither had anything.
pub(super) fn splice<A: Sock, B: Sock>(a: &mut A, b: &mut B) -> io::Result<()> {
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        let mut moved = false;
        if a_open {
            match relay_once(a, b, &mut buf)? {
                Some(true) => moved = true,
                Some(false) => {}
                None => a_open = false,
            }
        }
        if b_open {
            match relay_once(b, a, &mut buf)? {
                Some(true) => moved = true,
                Some(false) => {}
                None => b_open = false,
            }
        }
        if moved {
            continue;
        }
        let mut fds = Vec::with_capacity(2);
        if a_open {
            fds.push(PollFd::new(a.socket(), PollFlags::POLLIN));
        }
        if b_open {
            fds.push(PollFd::new(b.socket(), PollFlags::POLLIN));
        }
        // Both sides were drained (rustls holds no readable plaintext), so only new bytes on a
        // socket can wake this.
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    Ok(())
}

/// Moves what `from` has to `to`: Some(true) if bytes moved, Some(false) if nothing was
/// there, None at the end of `from` (whose end is passed on to `to`).
pub(super) fn relay_once<F: Sock, T: Sock>(
    from: &mut F,
    to: &mut T,
    buf: &mut [u8],
) -> io::Result<Option<bool>> {
    match from.read(buf) {
        Ok(0) => {
            to.end_writes();
            Ok(None)
        }
        Ok(n) => {
            write_all_nb(to, &buf[..n])?;
            Ok(Some(true))
        }
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted =>
        {
            Ok(Some(false))
        }
        // A TLS peer that closes without close_notify ends the same way.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            to.end_writes();
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

pub(super) fn tunnel(client: TcpStream, upstream: TcpStream, buffered: &[u8]) {
    let (Ok(mut c_read), Ok(mut u_write)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    if !buffered.is_empty() && u_write.write_all(buffered).is_err() {
        return;
    }
    let t = std::thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = t.join();
}

pub(super) fn copy_keep(
    r: &mut impl Read,
    w: &mut impl Write,
    kept: &mut Vec<u8>,
) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A TLS server that closes without close_notify ends its body the same way.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if kept.len() <= EXCERPT {
            kept.extend_from_slice(&buf[..n.min(EXCERPT + 1 - kept.len())]);
        }
        w.write_all(&buf[..n])?;
    }
}
