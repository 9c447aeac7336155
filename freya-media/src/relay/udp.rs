//! One UDP socket of a relay leg, as cheap per packet as the platform allows.
//!
//! On Linux the socket is registered with tokio's reactor for readability only (through
//! [`AsyncFd`](tokio::io::unix::AsyncFd)) and read with `recvmmsg(MSG_DONTWAIT)`:
//!
//! - readable only: a `tokio::net::UdpSocket` is registered for writability too, so every
//!   `sendto` (whose skb is freed at once on loopback, and soon after on a NIC) woke the
//!   reactor with an `EPOLLOUT` edge for the sending socket: one more epoll event per
//!   forwarded packet, for a readiness nobody waits for. The relay never waits to send (a full
//!   send buffer drops the packet and counts it), so it needs no write readiness.
//! - `recvmmsg`: tokio's readiness is edge-triggered, so it is cleared only by a receive that
//!   returns `EAGAIN`. With `recvfrom` that is a second syscall per packet. `recvmmsg` asked
//!   for [`RECV_BATCH`] datagrams with `MSG_DONTWAIT` stops at the first `EAGAIN` and returns
//!   what it got, so fewer datagrams than asked means the queue was empty when the kernel
//!   looked: the closure passed to tokio's `try_io` then reports `WouldBlock`, which clears
//!   the readiness without the second syscall. tokio stamps readiness with a tick, and
//!   `try_io` clears only the readiness of the tick it read before the call
//!   (`ScheduledIo::set_readiness` ignores a `Tick::Clear` whose tick is stale), so a datagram
//!   that arrived after the kernel looked has raised a new edge with a new tick and is not
//!   lost.
//!
//! Elsewhere the same interface runs on `tokio::net::UdpSocket` with `recvfrom` until it
//! would block (the behaviour the relay had everywhere before).
//!
//! Memory: the kernel writes into one scratch buffer per thread ([`with_scratch`]), used only
//! in the synchronous receive, and each datagram is copied out at its own length (an RTP
//! packet is ~200 bytes). A receive buffer per call was 20 KiB resident per call, for room
//! that at most one call per thread uses at any moment.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::task::{Context, Poll};

use std::cell::Cell;

use bytes::Bytes;

/// The largest datagram accepted, in bytes. RTP over UDP stays under the path MTU (about
/// 1500 bytes); a longer datagram is refused and counted ([`IoStats::oversize`]).
///
/// [`IoStats::oversize`]: super::IoStats::oversize
pub(crate) const MAX_DATAGRAM: usize = 4096;
/// Datagrams asked of the kernel per receive call. One is the common case (a call's socket
/// gets a packet every 20 ms); more only after a burst or a stall. Must be at least 2, so
/// that "fewer than asked" can mean "queue empty".
pub(crate) const RECV_BATCH: usize = 4;
/// Room given to each datagram: one byte more than accepted, so that an oversize datagram
/// shows as `MAX_DATAGRAM + 1` bytes.
const SLOT: usize = MAX_DATAGRAM + 1;

/// Bytes of the per-thread receive scratch: one batch of slots.
const SCRATCH: usize = RECV_BATCH * SLOT;

thread_local! {
    /// The receive scratch of this thread (allocated on first use, kept for the thread's
    /// life). Taken out while in use, so a nested use (there is none) would get a fresh one
    /// instead of aliasing it.
    static RECV_SCRATCH: Cell<Option<Box<[u8; SCRATCH]>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's receive scratch ([`SCRATCH`] bytes). `f` runs synchronously
/// (no `.await` can hold the scratch), so one buffer per thread serves every call.
fn with_scratch<R>(f: impl FnOnce(&mut [u8; SCRATCH]) -> R) -> R {
    let mut buf = RECV_SCRATCH
        .with(Cell::take)
        .unwrap_or_else(|| Box::new([0u8; SCRATCH]));
    let result = f(&mut buf);
    RECV_SCRATCH.with(|cell| cell.set(Some(buf)));
    result
}

/// One received datagram, copied out of the scratch at its length. Longer than
/// [`MAX_DATAGRAM`] means it was truncated: oversize.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) source: SocketAddr,
    pub(crate) bytes: Bytes,
}

pub(crate) use imp::RelaySocket;

#[cfg(target_os = "linux")]
mod imp {
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::{AsRawFd, RawFd};

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    use super::*;

    /// A leg's UDP socket: readable-only registration, `recvmmsg` receive, plain `sendto`.
    #[derive(Debug)]
    pub(crate) struct RelaySocket {
        fd: AsyncFd<StdUdpSocket>,
    }

    impl RelaySocket {
        /// Registers `socket` with the current runtime's reactor for readability.
        pub(crate) fn from_std(socket: StdUdpSocket) -> io::Result<Self> {
            socket.set_nonblocking(true)?;
            // SAFETY: the `AsyncFd` takes ownership of `socket`, whose descriptor is open and
            // stays open (and the same) until the `AsyncFd` is dropped: nothing here closes,
            // replaces or duplicates it, and `as_raw_fd` of a `UdpSocket` always returns it.
            let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
            Ok(RelaySocket { fd })
        }

        pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
            self.fd.get_ref().local_addr()
        }

        /// One non-blocking `sendto`. A full send buffer is an error (`WouldBlock`): the
        /// caller drops the packet and counts it, it never waits.
        pub(crate) fn send_to(&self, payload: &[u8], to: SocketAddr) -> io::Result<usize> {
            self.fd.get_ref().send_to(payload, to)
        }

        /// Ready when readable; otherwise registers `cx`'s waker for the next edge.
        pub(crate) fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.fd.poll_read_ready(cx).map_ok(|_guard| ())
        }

        /// Receives up to [`RECV_BATCH`] datagrams into `out` with one syscall (through the
        /// thread's scratch, each datagram copied out). `Ok` when the batch was full (more
        /// may be queued); `Err(WouldBlock)` when the queue is now empty and the readiness
        /// was cleared — `out` may still hold datagrams; any other error with `out` empty.
        pub(crate) fn try_recv_batch(&self, out: &mut Vec<Datagram>) -> io::Result<()> {
            self.fd.try_io(Interest::READABLE, |socket| {
                with_scratch(|scratch| recv_batch(socket.as_raw_fd(), scratch, out))
            })
        }
    }

    fn recv_batch(
        fd: RawFd,
        scratch: &mut [u8; SCRATCH],
        out: &mut Vec<Datagram>,
    ) -> io::Result<()> {
        let base = scratch.as_mut_ptr();
        // SAFETY: all-zero bytes are a valid value of these plain C structs (integers, null
        // pointers).
        let mut names: [libc::sockaddr_storage; RECV_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut headers: [libc::mmsghdr; RECV_BATCH] = unsafe { zeroed() };
        let mut iovecs: [libc::iovec; RECV_BATCH] = std::array::from_fn(|k| libc::iovec {
            iov_base: base.wrapping_add(k * SLOT).cast(),
            iov_len: SLOT,
        });
        for (k, header) in headers.iter_mut().enumerate() {
            header.msg_hdr.msg_name = names.as_mut_ptr().wrapping_add(k).cast();
            header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = iovecs.as_mut_ptr().wrapping_add(k);
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: each header points at its own iovec, covering SLOT bytes of `scratch`
        // (RECV_BATCH * SLOT bytes by its type; the slots do not overlap), and at
        // its own sockaddr_storage with msg_namelen its size; all of them outlive the call,
        // and the kernel writes at most iov_len bytes per message and msg_namelen per name.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                RECV_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(RECV_BATCH);
        for k in 0..n {
            let len = (headers[k].msg_len as usize).min(SLOT);
            let source = socket_addr(&names[k], headers[k].msg_hdr.msg_namelen);
            // The kernel wrote `len` (<= SLOT) bytes at the start of slot k. An oversize
            // datagram is refused by the caller: its length is all it needs.
            let start = k * SLOT;
            let bytes = Bytes::copy_from_slice(&scratch[start..start + len.min(MAX_DATAGRAM + 1)]);
            out.push(Datagram { source, bytes });
        }
        if n < RECV_BATCH {
            // The kernel stopped at EAGAIN: the queue is empty. Saying so clears tokio's
            // readiness without a second, empty receive.
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(())
        }
    }

    /// The source of a datagram. An INET socket only receives IPv4/IPv6 sources; anything
    /// else is reported as `0.0.0.0:0`, which the core drops as foreign and counts.
    fn socket_addr(name: &libc::sockaddr_storage, len: libc::socklen_t) -> SocketAddr {
        let len = len as usize;
        match libc::c_int::from(name.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the kernel wrote a sockaddr_in, which fits in a
                // sockaddr_storage and needs no stricter alignment.
                let sin = unsafe {
                    &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    u16::from_be(sin.sin_port),
                ))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe {
                    &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                ))
            }
            _ => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use tokio::net::UdpSocket;

    use super::*;

    /// A leg's UDP socket: tokio's, `recvfrom` until it would block.
    #[derive(Debug)]
    pub(crate) struct RelaySocket {
        socket: UdpSocket,
    }

    impl RelaySocket {
        pub(crate) fn from_std(socket: StdUdpSocket) -> io::Result<Self> {
            socket.set_nonblocking(true)?;
            Ok(RelaySocket {
                socket: UdpSocket::from_std(socket)?,
            })
        }

        pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
            self.socket.local_addr()
        }

        pub(crate) fn send_to(&self, payload: &[u8], to: SocketAddr) -> io::Result<usize> {
            self.socket.try_send_to(payload, to)
        }

        pub(crate) fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.socket.poll_recv_ready(cx)
        }

        /// As the Linux version; here one `recvfrom` per datagram and a last one that
        /// returns `WouldBlock`.
        pub(crate) fn try_recv_batch(&self, out: &mut Vec<Datagram>) -> io::Result<()> {
            with_scratch(|scratch| {
                for _ in 0..RECV_BATCH {
                    let (len, source) = self.socket.try_recv_from(&mut scratch[..SLOT])?;
                    out.push(Datagram {
                        source,
                        bytes: Bytes::copy_from_slice(&scratch[..len]),
                    });
                }
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (RelaySocket, StdUdpSocket) {
        let relay = RelaySocket::from_std(StdUdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let peer = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        (relay, peer)
    }

    async fn readable(socket: &RelaySocket) {
        std::future::poll_fn(|cx| socket.poll_recv_ready(cx))
            .await
            .unwrap();
    }

    /// A burst larger than one batch: every datagram arrives once, in order, with its exact
    /// bytes and source; the call that finds the queue empty reports WouldBlock.
    #[tokio::test]
    async fn batch_receives_every_datagram_once_in_order() {
        let (relay, peer) = pair();
        let to = relay.local_addr().unwrap();
        let sizes = [12usize, 172, 1, 1500, 40, 172, 300, 12, 99, 172, 4096];
        for (i, &size) in sizes.iter().enumerate() {
            let datagram: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            peer.send_to(&datagram, to).unwrap();
        }
        readable(&relay).await;
        let mut out = Vec::new();
        // Full batches come back Ok; the call that gets fewer than asked reports WouldBlock.
        let mut full = 0;
        loop {
            match relay.try_recv_batch(&mut out) {
                Ok(_) => {
                    full += 1;
                    assert_eq!(out.len(), full * RECV_BATCH, "a full batch");
                }
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                    break;
                }
            }
            assert!(full <= sizes.len(), "the queue never ran dry");
        }
        assert_eq!(full, sizes.len() / RECV_BATCH);
        assert_eq!(out.len(), sizes.len());
        for (i, d) in out.iter().enumerate() {
            let want: Vec<u8> = (0..sizes[i]).map(|j| (i * 31 + j) as u8).collect();
            assert_eq!(&d.bytes[..], &want[..], "datagram {i}");
            assert_eq!(d.source, peer.local_addr().unwrap());
        }
        // Readiness cleared: nothing is tried until a new datagram raises it again.
        out.clear();
        let idle = relay.try_recv_batch(&mut out);
        assert_eq!(idle.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        peer.send_to(b"again", to).unwrap();
        readable(&relay).await;
        let _ = relay.try_recv_batch(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].bytes[..], b"again");
    }

    /// A datagram over MAX_DATAGRAM comes back MAX_DATAGRAM + 1 bytes long (truncated), so
    /// the driver can refuse and count it.
    #[tokio::test]
    async fn oversize_datagram_is_visible() {
        let (relay, peer) = pair();
        peer.send_to(&[7u8; MAX_DATAGRAM + 100], relay.local_addr().unwrap())
            .unwrap();
        readable(&relay).await;
        let mut out = Vec::new();
        let _ = relay.try_recv_batch(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes.len(), MAX_DATAGRAM + 1);
    }

    #[tokio::test]
    async fn ipv6_source_is_decoded() {
        let Ok(peer) = StdUdpSocket::bind("[::1]:0") else {
            return; // no IPv6 loopback here
        };
        let relay = RelaySocket::from_std(StdUdpSocket::bind("[::1]:0").unwrap()).unwrap();
        peer.send_to(b"v6", relay.local_addr().unwrap()).unwrap();
        readable(&relay).await;
        let mut out = Vec::new();
        let _ = relay.try_recv_batch(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].source, peer.local_addr().unwrap());
    }
}
