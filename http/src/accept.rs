//! [`AcceptThread`]: a loopback server's accept loop on a thread of its own, stopped when dropped.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// An accept loop running on its own thread. Dropping it sets the stop flag, wakes the loop's
/// blocking `accept()` with one connection, and joins the thread.
#[derive(Debug)]
pub struct AcceptThread {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl AcceptThread {
    /// Runs `serve(listener, stop)` on a thread named `name`. `serve` must check `stop` after
    /// each accepted connection and return once it is set (the listener closes with it).
    pub fn spawn(
        name: &str,
        listener: TcpListener,
        serve: impl FnOnce(TcpListener, Arc<AtomicBool>) + Send + 'static,
    ) -> io::Result<AcceptThread> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || serve(listener, stop))?
        };
        Ok(AcceptThread {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for AcceptThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Connections are served until the thread is dropped; by then the loop has returned (its
    /// thread joined, its listener closed), and the connection that woke it was not served.
    #[test]
    fn serves_until_dropped_then_the_loop_has_returned() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let returned = Arc::new(AtomicBool::new(false));
        let t = {
            let (served, returned) = (Arc::clone(&served), Arc::clone(&returned));
            AcceptThread::spawn("accept-test", listener, move |listener, stop| {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if conn.is_ok() {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                }
                returned.store(true, Ordering::SeqCst);
            })
            .unwrap()
        };
        let addr = t.addr();
        for _ in 0..3 {
            drop(TcpStream::connect(addr).unwrap());
        }
        while served.load(Ordering::SeqCst) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(t);
        assert!(returned.load(Ordering::SeqCst), "the loop was not joined");
        assert_eq!(
            served.load(Ordering::SeqCst),
            3,
            "the waking connection was served"
        );
    }
}
