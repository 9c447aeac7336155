//! Binding a leg's UDP sockets on a pair booked from the shared [`PortPool`], and giving the
//! pair back only once those sockets are closed.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};

use super::ports::{PortError, PortPair, PortPool, PortPoolStats};
use super::shell::{LegAddrs, ShellError};
use super::udp::RelaySocket;

/// A [`PortPool`] shared by every relay of a process (cheap to clone: an `Arc`).
///
/// The pool itself is sans-IO; this wrapper adds the lock and the binding: the spawn
/// functions ([`spawn_relay`](super::spawn_relay)) allocate a pair, bind its RTP and RTCP
/// sockets, and on a port another process holds mark the pair bad ([`PortPool::mark_bad`])
/// and try the next one. The lock is held only
/// for the pool's bookkeeping, never across a bind or an `await`.
///
/// ```
/// use freya_media::relay::{PortPool, SharedPortPool};
///
/// let pool = SharedPortPool::new(PortPool::new(10_000..=10_099)?);
/// assert_eq!((pool.in_use(), pool.capacity()), (0, 50));
/// let also = pool.clone(); // the same pool
/// assert_eq!(also.available(), 50);
/// # Ok::<(), freya_media::relay::PortError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SharedPortPool(Arc<Mutex<PortPool>>);

impl SharedPortPool {
    /// Shares `pool`.
    pub fn new(pool: PortPool) -> Self {
        SharedPortPool(Arc::new(Mutex::new(pool)))
    }

    /// Pairs allocated and not yet released (a pair is released once its sockets are closed).
    pub fn in_use(&self) -> usize {
        self.lock().in_use()
    }

    /// Pairs that can be handed out now.
    pub fn available(&self) -> usize {
        self.lock().available()
    }

    /// Pairs in the range.
    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// Whether the pair of this RTP port is allocated (its sockets may be open).
    pub fn is_allocated(&self, rtp: u16) -> bool {
        self.lock().is_allocated(rtp)
    }

    /// The pool's counters.
    pub fn stats(&self) -> PortPoolStats {
        self.lock().stats()
    }

    /// Runs `f` on the pool under its lock (for [`PortPool::restore_bad`] and the like).
    pub fn with<R>(&self, f: impl FnOnce(&mut PortPool) -> R) -> R {
        f(&mut self.lock())
    }

    /// The pool. A panic while the lock was held cannot leave a `PortPool` half-updated (each
    /// of its operations completes or changes nothing), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, PortPool> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Allocates a pair and binds UDP sockets on `ip` at its RTP and RTCP ports
    /// (RFC 3550 §11). Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`ShellError::Ports`] when no pair is left (every other one in use or marked bad by
    /// this very call); [`ShellError::Bind`] when binding fails for another reason than a port
    /// in use (an `ip` that is not local, no runtime to register with): the pair is released.
    pub(crate) fn bind_pair(&self, ip: IpAddr) -> Result<BoundPair, ShellError> {
        self.bind_pair_with(ip, RelaySocket::from_std)
    }

    /// [`bind_pair`](Self::bind_pair) with plain blocking-mode std sockets, registered with
    /// no reactor (the io_uring relay thread drives them). Needs no runtime.
    #[cfg(target_os = "linux")]
    pub(crate) fn bind_pair_std(&self, ip: IpAddr) -> Result<SocketPair<StdUdpSocket>, ShellError> {
        self.bind_pair_with(ip, Ok)
    }

    fn bind_pair_with<S: LocalAddr>(
        &self,
        ip: IpAddr,
        make: impl Fn(StdUdpSocket) -> io::Result<S> + Copy,
    ) -> Result<SocketPair<S>, ShellError> {
        // Pairs marked bad get one more try per call, when nothing else is free: the
        // process that held them may have let go, and only a bind can tell.
        let mut retried = false;
        loop {
            let allocated = self.lock().allocate();
            let pair = match allocated {
                Ok(pair) => pair,
                Err(PortError::Exhausted { bad, .. }) if bad > 0 && !retried => {
                    retried = true;
                    let n = self.lock().restore_all_bad();
                    tracing::info!(
                        pairs = n,
                        "RTP ports exhausted: retrying the pairs marked bad"
                    );
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match bind_both(ip, pair, make) {
                Ok((rtp, rtcp)) => {
                    let local = LegAddrs {
                        rtp: rtp.local_addr().unwrap_or(SocketAddr::new(ip, pair.rtp)),
                        rtcp: rtcp.local_addr().unwrap_or(SocketAddr::new(ip, pair.rtcp)),
                    };
                    return Ok(SocketPair {
                        rtp,
                        rtcp,
                        local,
                        lease: PortLease {
                            pool: self.clone(),
                            rtp: pair.rtp,
                        },
                    });
                }
                Err((addr, err)) if err.kind() == io::ErrorKind::AddrInUse => {
                    // Another process holds it: out of rotation until the pool runs out of
                    // other pairs (then retried once per call).
                    tracing::warn!(%addr, "RTP port in use by another socket, marked bad");
                    if let Err(e) = self.lock().mark_bad(pair.rtp) {
                        tracing::error!(port = pair.rtp, error = %e, "mark_bad refused");
                    }
                }
                Err((addr, err)) => {
                    if let Err(e) = self.lock().release(pair.rtp) {
                        tracing::error!(port = pair.rtp, error = %e, "release refused");
                    }
                    return Err(ShellError::Bind {
                        addr,
                        kind: err.kind(),
                        message: err.to_string(),
                    });
                }
            }
        }
    }
}

/// A bound socket's local address (both socket kinds a pair can hold).
pub(crate) trait LocalAddr {
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl LocalAddr for RelaySocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        RelaySocket::local_addr(self)
    }
}

impl LocalAddr for StdUdpSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        StdUdpSocket::local_addr(self)
    }
}

fn bind_one<S>(
    addr: SocketAddr,
    make: impl Fn(StdUdpSocket) -> io::Result<S>,
) -> Result<S, (SocketAddr, io::Error)> {
    let socket = StdUdpSocket::bind(addr).map_err(|e| (addr, e))?;
    make(socket).map_err(|e| (addr, e))
}

fn bind_both<S>(
    ip: IpAddr,
    pair: PortPair,
    make: impl Fn(StdUdpSocket) -> io::Result<S> + Copy,
) -> Result<(S, S), (SocketAddr, io::Error)> {
    let rtp = bind_one(SocketAddr::new(ip, pair.rtp), make)?;
    let rtcp = bind_one(SocketAddr::new(ip, pair.rtcp), make)?;
    Ok((rtp, rtcp))
}

/// The booking of one pair: released to the pool when dropped.
#[derive(Debug)]
pub(crate) struct PortLease {
    pool: SharedPortPool,
    rtp: u16,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Err(e) = self.pool.lock().release(self.rtp) {
            tracing::error!(port = self.rtp, error = %e, "releasing a relay port was refused");
        }
    }
}

/// A leg's two sockets and the booking of their ports.
///
/// Field order matters: Rust drops fields in declaration order, so the sockets are closed
/// before the lease gives the ports back. A port is never handed to another call while a
/// socket of this one is still open on it.
#[derive(Debug)]
pub(crate) struct SocketPair<S> {
    pub(crate) rtp: S,
    pub(crate) rtcp: S,
    /// The sockets' local addresses.
    pub(crate) local: LegAddrs,
    pub(crate) lease: PortLease,
}

/// A pair of sockets registered with tokio's reactor (the per-call task shell).
pub(crate) type BoundPair = SocketPair<RelaySocket>;

impl<S> SocketPair<S> {
    /// The pair's ports as the core knows them.
    pub(crate) fn ports(&self) -> PortPair {
        let rtp = self.lease.rtp;
        PortPair {
            rtp,
            rtcp: rtp.wrapping_add(1),
        }
    }
}
