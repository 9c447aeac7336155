//! `--target uring`: an experiment, not freya's relay shell. freya-media's sans-IO relay core
//! ([`Relay`], the same latching, bleed checks and stats as in the stack) for every stream,
//! driven by ONE thread through io_uring instead of a tokio task per call:
//!
//! - every leg's RTP socket keeps one `IORING_OP_RECVMSG` armed; a completion is handed to its
//!   call's core and the receive re-armed;
//! - each datagram the core emits becomes an `IORING_OP_SEND` with a destination address;
//! - receives re-armed and sends queued by one batch of completions go to the kernel in the
//!   same `io_uring_enter` that waits for the next batch (`DEFER_TASKRUN`: the receive work
//!   runs in this thread, inside that call).
//!
//! So a forwarded packet costs one shared syscall instead of `epoll_wait` + `recvmmsg` +
//! `sendto`, and no task wake-up. It answers whether replacing tokio's reactor for the relay
//! sockets is worth it, before any of it goes into freya-media.
//!
//! Not here (the tokio shell has them): RTCP sockets, the no-RTP timeout, hold and re-INVITE
//! commands, taps and in-process endpoints.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freya_media::relay::{LegConfig, LegId, PortPair, Relay, RelayConfig, RemoteMedia, Transmit};
use io_uring::{opcode, types, IoUring};

const BUF: usize = 2048;
/// `user_data` bit that marks a send; the rest is the send slot.
const SEND: u64 = 1 << 63;

/// One leg's RTP socket and its armed receive (boxed: the kernel holds pointers into it).
struct RecvSlot {
    call: usize,
    leg: LegId,
    socket: UdpSocket,
    buf: [u8; BUF],
    name: libc::sockaddr_in,
    iov: libc::iovec,
    msg: libc::msghdr,
}

/// A datagram in flight: the kernel reads `payload` and `dest` until its completion.
struct SendSlot {
    payload: Bytes,
    dest: libc::sockaddr_in,
}

/// What the relay thread counted.
#[derive(Debug, Default)]
pub struct UringStats {
    pub forwarded: u64,
    pub dropped_by_core: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
    pub enters: u64,
}

/// The relay thread: binds 2 sockets per stream (leg A receives from `from[i]`, leg B sends to
/// `to[i]`), reports the A-side addresses through `ready`, and runs until `stop`.
pub fn run(
    streams: usize,
    from: Vec<SocketAddr>,
    to: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<Result<Vec<SocketAddr>, String>>,
) -> Result<UringStats, String> {
    let now = Instant::now();
    let mut relays = Vec::with_capacity(streams);
    let mut slots: Vec<Box<RecvSlot>> = Vec::with_capacity(streams * 2);
    let mut targets = Vec::with_capacity(streams);
    for i in 0..streams {
        let mut ports = [PortPair { rtp: 0, rtcp: 0 }; 2];
        for (l, leg) in [LegId::A, LegId::B].into_iter().enumerate() {
            let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let local = socket.local_addr().map_err(|e| e.to_string())?;
            ports[l] = PortPair {
                rtp: local.port(),
                rtcp: local.port().wrapping_add(1),
            };
            if leg == LegId::A {
                targets.push(local);
            }
            slots.push(Box::new(RecvSlot {
                call: i,
                leg,
                socket,
                buf: [0; BUF],
                // SAFETY: sockaddr_in, iovec and msghdr are plain C structs; all-zero is valid.
                name: unsafe { std::mem::zeroed() },
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                msg: unsafe { std::mem::zeroed() },
            }));
        }
        let a = LegConfig::new(ports[0], RemoteMedia::new(from[i % from.len()]));
        let b = LegConfig::new(ports[1], RemoteMedia::new(to[i % to.len()]));
        let config = RelayConfig {
            rtp_timeout: None,
            ..RelayConfig::default()
        };
        relays.push(Relay::new(now, config, a, b).map_err(|e| e.to_string())?);
    }
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(16_384)
        .build(4_096)
        .map_err(|e| format!("io_uring setup: {e}"))?;
    let _ = ready.send(Ok(targets));

    // Boxed: the kernel reads `dest` through a pointer while the Vec may grow.
    let mut sends: Vec<Option<Box<SendSlot>>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut stats = UringStats::default();
    let mut rearm: Vec<usize> = (0..slots.len()).collect();
    let mut out: Vec<(usize, Transmit)> = Vec::new();
    let timeout = types::Timespec::new().nsec(100_000_000);
    let args = types::SubmitArgs::new().timespec(&timeout);
    while !stop.load(Ordering::Relaxed) {
        // Queue what the last batch asked for: re-armed receives, then sends.
        {
            let (submitter, mut sq, _) = ring.split();
            for idx in rearm.drain(..) {
                let slot = &mut slots[idx];
                slot.iov = libc::iovec {
                    iov_base: slot.buf.as_mut_ptr().cast(),
                    iov_len: BUF,
                };
                slot.msg.msg_name = (&mut slot.name as *mut libc::sockaddr_in).cast();
                slot.msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                slot.msg.msg_iov = &mut slot.iov;
                slot.msg.msg_iovlen = 1;
                let entry = opcode::RecvMsg::new(types::Fd(slot.socket.as_raw_fd()), &mut slot.msg)
                    .build()
                    .user_data(idx as u64);
                push(&submitter, &mut sq, &entry)?;
            }
            for (call, t) in out.drain(..) {
                let SocketAddr::V4(dest) = t.destination else {
                    stats.send_errors += 1;
                    continue;
                };
                let slot = Box::new(SendSlot {
                    payload: t.payload,
                    dest: sockaddr_in(dest),
                });
                let at = match free.pop() {
                    Some(at) => {
                        sends[at] = Some(slot);
                        at
                    }
                    None => {
                        sends.push(Some(slot));
                        sends.len() - 1
                    }
                };
                let Some(s) = &sends[at] else { continue };
                let fd = slots[call * 2 + usize::from(t.leg == LegId::B)]
                    .socket
                    .as_raw_fd();
                let entry =
                    opcode::Send::new(types::Fd(fd), s.payload.as_ptr(), s.payload.len() as u32)
                        .dest_addr((&s.dest as *const libc::sockaddr_in).cast())
                        .dest_addr_len(std::mem::size_of::<libc::sockaddr_in>() as u32)
                        .build()
                        .user_data(SEND | at as u64);
                push(&submitter, &mut sq, &entry)?;
            }
            sq.sync();
        }
        stats.enters += 1;
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(format!("io_uring_enter: {e}")),
        }
        let now = Instant::now();
        let mut cq = ring.completion();
        cq.sync();
        for cqe in &mut cq {
            let data = cqe.user_data();
            if data & SEND != 0 {
                let at = (data & !SEND) as usize;
                sends[at] = None;
                free.push(at);
                if cqe.result() < 0 {
                    stats.send_errors += 1;
                } else {
                    stats.forwarded += 1;
                }
                continue;
            }
            let idx = data as usize;
            rearm.push(idx);
            let n = cqe.result();
            if n < 0 {
                stats.recv_errors += 1;
                continue;
            }
            let slot = &slots[idx];
            let source = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(u32::from_be(slot.name.sin_addr.s_addr))),
                u16::from_be(slot.name.sin_port),
            );
            let relay = &mut relays[slot.call];
            let bytes = Bytes::copy_from_slice(&slot.buf[..n as usize]);
            if matches!(
                relay.handle_packet(now, slot.leg, source, bytes),
                freya_media::relay::PacketOutcome::Dropped(_)
            ) {
                stats.dropped_by_core += 1;
            }
            while let Some(t) = relay.poll_transmit() {
                out.push((slot.call, t));
            }
            while relay.poll_event().is_some() {}
        }
    }
    // Let in-flight sends finish before their buffers go.
    let _ = ring.submit_and_wait(0);
    std::thread::sleep(Duration::from_millis(10));
    Ok(stats)
}

fn push(
    submitter: &io_uring::Submitter<'_>,
    sq: &mut io_uring::SubmissionQueue<'_>,
    entry: &io_uring::squeue::Entry,
) -> Result<(), String> {
    // SAFETY: every pointer in `entry` points into a boxed RecvSlot or a SendSlot that stays
    // in place until its completion has been reaped.
    while unsafe { sq.push(entry) }.is_err() {
        sq.sync();
        submitter
            .submit()
            .map_err(|e| format!("io_uring submit: {e}"))?;
        sq.sync();
    }
    Ok(())
}

fn sockaddr_in(a: std::net::SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}
