//! The ring's thread: calls in a slab, one armed receive per socket, sends batched into the
//! next `io_uring_enter`, deadlines on a lazy heap (an entry found early is pushed back with
//! the call's current deadline, so RTP moving the no-RTP timeout later costs nothing per
//! packet).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use io_uring::{opcode, squeue, types, IoUring};
use tokio::sync::{mpsc, oneshot};

use super::{NewCall, Request, Shared};
use crate::relay::driver::{
    emit_event, flush_relay_events, media_packet, snapshot, Command, MIN_STATS_INTERVAL,
};
use crate::relay::endpoint::TappedPacket;
use crate::relay::shell::{IoStats, LegAddrs, RelayStats, ShellEvent};
use crate::relay::sockets::SocketPair;
use crate::relay::udp::MAX_DATAGRAM;
use crate::relay::{LegId, Relay, Transmit};

const RECV: u64 = 0;
const SEND: u64 = 1;
const WAKE: u64 = 2;
const CANCEL: u64 = 3;
/// The longest wait without a deadline (the thread also wakes for requests).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// `user_data`: tag (2 bits) | index (30) | generation (30) | socket (2).
fn tag(kind: u64, index: usize, gen: u32, socket: usize) -> u64 {
    kind << 62
        | (index as u64 & 0x3FFF_FFFF) << 32
        | (u64::from(gen) & 0x3FFF_FFFF) << 2
        | socket as u64
}

fn untag(data: u64) -> (u64, usize, u32, usize) {
    (
        data >> 62,
        ((data >> 32) & 0x3FFF_FFFF) as usize,
        ((data >> 2) & 0x3FFF_FFFF) as u32,
        (data & 3) as usize,
    )
}

/// One socket's armed receive. Boxed: the kernel holds pointers into it until its
/// completion.
struct RecvSlot {
    buf: [u8; MAX_DATAGRAM],
    name: libc::sockaddr_storage,
    iov: libc::iovec,
    msg: libc::msghdr,
    armed: bool,
}

/// A datagram in flight. Boxed: the kernel reads `dest` through a pointer.
struct SendSlot {
    payload: Bytes,
    dest: libc::sockaddr_storage,
    dest_len: libc::socklen_t,
    call: usize,
    gen: u32,
}

struct Call {
    id: u64,
    gen: u32,
    relay: Relay,
    /// Sockets 0..4: A RTP, A RTCP, B RTP, B RTCP.
    legs: [SocketPair<UdpSocket>; 2],
    slots: [Box<RecvSlot>; 4],
    closing: bool,
    events: mpsc::Sender<Box<ShellEvent>>,
    done: Option<oneshot::Sender<RelayStats>>,
    tap: Option<mpsc::Sender<TappedPacket>>,
    io: IoStats,
    local: [Option<LegAddrs>; 2],
    stats_interval: Option<Duration>,
    next_stats: Option<Instant>,
}

impl Call {
    fn socket(&self, i: usize) -> &UdpSocket {
        let pair = &self.legs[i / 2];
        if i.is_multiple_of(2) {
            &pair.rtp
        } else {
            &pair.rtcp
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.relay.poll_timeout(), self.next_stats) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn armed(&self) -> usize {
        self.slots.iter().filter(|s| s.armed).count()
    }

    fn emit(&mut self, event: ShellEvent) {
        emit_event(&self.events, &mut self.io, event);
    }

    fn flush_events(&mut self) {
        flush_relay_events(&mut self.relay, &self.events, &mut self.io);
    }
}

pub(super) struct Worker {
    ring: IoUring,
    shared: Arc<Shared>,
    calls: Vec<Option<Call>>,
    /// The generation each slab index is at (bumped when its call goes).
    gens: Vec<u32>,
    free_calls: Vec<usize>,
    ids: HashMap<u64, usize>,
    sends: Vec<Option<Box<SendSlot>>>,
    free_sends: Vec<usize>,
    in_flight: usize,
    /// Entries for the next `io_uring_enter`.
    pending: Vec<squeue::Entry>,
    /// Calls whose receives have all completed: closed right after the next submit (their
    /// queued sends are then in the kernel's hands, which holds their sockets' files).
    finalize: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    wake_buf: Box<[u8; 8]>,
    /// The transmits of one packet (kept for its allocation).
    out: Vec<Transmit>,
    shutdown: bool,
}

impl Worker {
    pub(super) fn ring() -> io::Result<IoUring> {
        IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(16_384)
            .build(4_096)
    }

    pub(super) fn new(ring: IoUring, shared: Arc<Shared>) -> Worker {
        Worker {
            ring,
            shared,
            calls: Vec::new(),
            gens: Vec::new(),
            free_calls: Vec::new(),
            ids: HashMap::new(),
            sends: Vec::new(),
            free_sends: Vec::new(),
            in_flight: 0,
            pending: Vec::new(),
            finalize: Vec::new(),
            timers: BinaryHeap::new(),
            wake_buf: Box::new([0; 8]),
            out: Vec::new(),
            shutdown: false,
        }
    }

    pub(super) fn run(mut self) {
        self.arm_wake();
        let mut cqes: Vec<(u64, i32)> = Vec::with_capacity(256);
        loop {
            if let Err(e) = self.submit_pending() {
                tracing::error!(error = %e, "relay ring: submit failed, the thread stops");
                break;
            }
            for index in std::mem::take(&mut self.finalize) {
                self.close_call(index);
            }
            if self.shutdown && self.calls.iter().all(Option::is_none) && self.in_flight == 0 {
                break;
            }
            let wait = self
                .timers
                .peek()
                .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()))
                .unwrap_or(IDLE_WAIT)
                .min(IDLE_WAIT);
            let ts = types::Timespec::from(wait);
            let args = types::SubmitArgs::new().timespec(&ts);
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                    ) => {}
                Err(e) => {
                    tracing::error!(error = %e, "relay ring: wait failed, the thread stops");
                    break;
                }
            }
            let now = Instant::now();
            cqes.clear();
            cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
            for &(data, result) in &cqes {
                let (kind, index, gen, socket) = untag(data);
                match kind {
                    RECV => self.on_recv(now, index, gen, socket, result),
                    SEND => self.on_sent(index, result),
                    WAKE => {
                        self.arm_wake();
                        self.take_requests(now);
                    }
                    _ => {} // CANCEL: the receive it cancelled completes on its own
                }
            }
            self.run_timers(now);
        }
        self.end();
    }

    /// The thread is ending: refuse new requests, close what is left, without the ring.
    /// After a failed submit or wait, receives and sends may still be armed in the kernel:
    /// their buffers are leaked rather than freed under it (a few KB, on a path that only
    /// a broken ring takes). The wake read is always armed.
    fn end(&mut self) {
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new([0; 8])));
        if self.in_flight > 0 {
            std::mem::forget(std::mem::take(&mut self.sends));
        }
        for call in self.calls.iter_mut().flatten() {
            for slot in call.slots.iter_mut().filter(|s| s.armed) {
                slot.armed = false;
                std::mem::forget(std::mem::replace(slot, empty_slot()));
            }
        }
        {
            let _queue = self.shared.lock();
            self.shared.ended.store(true, Ordering::Release);
        }
        let leftover: Vec<Request> = std::mem::take(&mut *self.shared.lock());
        for request in leftover {
            if let Request::Add(call) = request {
                self.add(Instant::now(), *call, false);
            }
        }
        for index in 0..self.calls.len() {
            if self.calls[index].is_some() {
                self.close_call(index);
            }
        }
    }

    fn submit_pending(&mut self) -> io::Result<()> {
        let (submitter, mut sq, _) = self.ring.split();
        for entry in self.pending.drain(..) {
            // SAFETY: every pointer in the entries points into a boxed RecvSlot, SendSlot or
            // the wake buffer, which stay in place until their completion is reaped.
            while unsafe { sq.push(&entry) }.is_err() {
                sq.sync();
                submitter.submit()?;
                sq.sync();
            }
        }
        sq.sync();
        submitter.submit()?;
        Ok(())
    }

    fn arm_wake(&mut self) {
        let entry = opcode::Read::new(
            types::Fd(self.shared.wake.as_raw_fd()),
            self.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(tag(WAKE, 0, 0, 0));
        self.pending.push(entry);
    }

    fn take_requests(&mut self, now: Instant) {
        let requests = std::mem::take(&mut *self.shared.lock());
        for request in requests {
            match request {
                Request::Add(call) => self.add(now, *call, true),
                Request::Command { id, command } => {
                    if let Some(&index) = self.ids.get(&id) {
                        self.command(now, index, command);
                    }
                }
                Request::Shutdown => {
                    self.shutdown = true;
                    let ids: Vec<usize> = self.ids.values().copied().collect();
                    for index in ids {
                        self.start_close(index);
                    }
                }
            }
        }
    }

    fn add(&mut self, now: Instant, new: NewCall, arm: bool) {
        let index = self.free_calls.pop().unwrap_or_else(|| {
            self.calls.push(None);
            self.gens.push(0);
            self.calls.len() - 1
        });
        let gen = self.gens[index];
        let stats_interval = new.stats_interval.map(|i| i.max(MIN_STATS_INTERVAL));
        let slot = empty_slot;
        let call = Call {
            id: new.id,
            gen,
            relay: new.relay,
            legs: new.legs,
            slots: [slot(), slot(), slot(), slot()],
            closing: self.shutdown,
            events: new.events,
            done: Some(new.done),
            tap: None,
            io: IoStats::default(),
            local: new.local,
            stats_interval,
            next_stats: stats_interval.map(|i| now + i),
        };
        self.ids.insert(call.id, index);
        if let Some(d) = call.deadline() {
            self.timers.push(Reverse((d, index, gen)));
        }
        self.calls[index] = Some(call);
        if !arm || self.shutdown {
            self.finalize.push(index);
            return;
        }
        for socket in 0..4 {
            self.arm_recv(index, socket);
        }
    }

    fn arm_recv(&mut self, index: usize, socket: usize) {
        let Some(call) = self.calls[index].as_mut() else {
            return;
        };
        let fd = call.socket(socket).as_raw_fd();
        let gen = call.gen;
        let slot = &mut call.slots[socket];
        slot.iov = libc::iovec {
            iov_base: slot.buf.as_mut_ptr().cast(),
            iov_len: MAX_DATAGRAM,
        };
        slot.msg.msg_name = (&mut slot.name as *mut libc::sockaddr_storage).cast();
        slot.msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        slot.msg.msg_iov = &mut slot.iov;
        slot.msg.msg_iovlen = 1;
        slot.msg.msg_flags = 0;
        slot.armed = true;
        let entry = opcode::RecvMsg::new(types::Fd(fd), &mut slot.msg)
            .build()
            .user_data(tag(RECV, index, gen, socket));
        self.pending.push(entry);
    }

    fn on_recv(&mut self, now: Instant, index: usize, gen: u32, socket: usize, result: i32) {
        let Some(call) = self.calls.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        if call.gen != gen {
            return;
        }
        call.slots[socket].armed = false;
        if call.closing {
            if call.armed() == 0 {
                self.finalize.push(index);
            }
            return;
        }
        let leg = if socket < 2 { LegId::A } else { LegId::B };
        if result < 0 {
            call.io.recv_errors += 1;
            if call.io.recv_errors.is_power_of_two() {
                let error = io::Error::from_raw_os_error(-result);
                tracing::warn!(?leg, %error, count = call.io.recv_errors, "relay receive failed");
            }
        } else {
            let slot = &call.slots[socket];
            let n = result as usize;
            if slot.msg.msg_flags & libc::MSG_TRUNC != 0 {
                call.io.oversize += 1;
                tracing::debug!(?leg, "datagram over {MAX_DATAGRAM} bytes dropped");
            } else if let Some(source) = socket_addr(&slot.name) {
                let bytes = Bytes::copy_from_slice(&slot.buf[..n.min(MAX_DATAGRAM)]);
                call.relay.handle_packet(now, leg, source, bytes);
                while let Some(t) = call.relay.poll_transmit() {
                    self.out.push(t);
                }
                call.flush_events();
            }
        }
        let mut out = std::mem::take(&mut self.out);
        for t in out.drain(..) {
            self.transmit(index, t);
        }
        self.out = out;
        self.arm_recv(index, socket);
    }

    fn transmit(&mut self, index: usize, t: Transmit) {
        let Some(call) = self.calls[index].as_mut() else {
            return;
        };
        if let Some(tap) = &call.tap {
            if let Some(packet) = media_packet(&t) {
                let tapped = TappedPacket {
                    from: t.leg.other(),
                    packet,
                };
                if tap.try_send(tapped).is_err() {
                    call.io.endpoint_overflow += 1;
                    if call.io.endpoint_overflow.is_power_of_two() {
                        tracing::warn!(
                            count = call.io.endpoint_overflow,
                            "relay tap reader full or gone, copy dropped"
                        );
                    }
                }
            }
        }
        let pair = &call.legs[t.leg.index()];
        let fd = if t.local_port == pair.local.rtp.port() {
            pair.rtp.as_raw_fd()
        } else {
            pair.rtcp.as_raw_fd()
        };
        let (dest, dest_len) = sockaddr_storage(t.destination);
        let slot = Box::new(SendSlot {
            payload: t.payload,
            dest,
            dest_len,
            call: index,
            gen: call.gen,
        });
        let at = match self.free_sends.pop() {
            Some(at) => at,
            None => {
                self.sends.push(None);
                self.sends.len() - 1
            }
        };
        let slot = self.sends[at].insert(slot);
        let entry = opcode::Send::new(
            types::Fd(fd),
            slot.payload.as_ptr(),
            slot.payload.len() as u32,
        )
        .dest_addr((&slot.dest as *const libc::sockaddr_storage).cast())
        .dest_addr_len(slot.dest_len)
        .build()
        .user_data(tag(SEND, at, 0, 0));
        self.in_flight += 1;
        self.pending.push(entry);
    }

    fn on_sent(&mut self, at: usize, result: i32) {
        let Some(slot) = self.sends.get_mut(at).and_then(Option::take) else {
            return;
        };
        self.free_sends.push(at);
        self.in_flight = self.in_flight.saturating_sub(1);
        if result >= 0 {
            return;
        }
        if let Some(call) = self.calls.get_mut(slot.call).and_then(Option::as_mut) {
            if call.gen == slot.gen {
                call.io.send_errors += 1;
                if call.io.send_errors.is_power_of_two() {
                    let error = io::Error::from_raw_os_error(-result);
                    tracing::warn!(%error, count = call.io.send_errors,
                        "relay send failed, packet dropped");
                }
            }
        }
    }

    fn command(&mut self, now: Instant, index: usize, command: Command) {
        let Some(call) = self.calls[index].as_mut() else {
            return;
        };
        match command {
            Command::Update(leg, remote) => {
                tracing::debug!(?leg, ?remote, "relay leg updated");
                call.relay.update_remote(now, leg, remote);
                call.flush_events();
                if let Some(d) = call.deadline() {
                    self.timers.push(Reverse((d, index, call.gen)));
                }
            }
            Command::Stats(reply) => {
                let _ = reply.send(snapshot(&call.relay, &call.local, call.io));
            }
            Command::Tap(tap) => call.tap = Some(tap),
            Command::Close => self.start_close(index),
        }
    }

    /// Cancels the call's armed receives; it is closed once they have all completed.
    fn start_close(&mut self, index: usize) {
        let Some(call) = self.calls[index].as_mut() else {
            return;
        };
        if call.closing && call.armed() > 0 {
            return;
        }
        call.closing = true;
        let gen = call.gen;
        let armed: Vec<usize> = (0..4).filter(|&s| call.slots[s].armed).collect();
        if armed.is_empty() {
            self.finalize.push(index);
            return;
        }
        for socket in armed {
            let entry = opcode::AsyncCancel::new(tag(RECV, index, gen, socket))
                .build()
                .user_data(tag(CANCEL, index, gen, socket));
            self.pending.push(entry);
        }
    }

    /// Reports the final statistics, closes the sockets, gives the ports back.
    fn close_call(&mut self, index: usize) {
        let Some(mut call) = self.calls.get_mut(index).and_then(Option::take) else {
            return;
        };
        self.ids.remove(&call.id);
        self.gens[index] = self.gens[index].wrapping_add(1) & 0x3FFF_FFFF;
        self.free_calls.push(index);
        call.flush_events();
        let stats = snapshot(&call.relay, &call.local, call.io);
        call.emit(ShellEvent::Closed(Box::new(stats.clone())));
        let done = call.done.take();
        tracing::debug!(id = call.id, "relay closed (ring)");
        // Sockets closed, then the port leases released, before `close` returns.
        drop(call);
        if let Some(done) = done {
            let _ = done.send(stats);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, index, gen))) = self.timers.peek() {
            if at > now {
                return;
            }
            self.timers.pop();
            let Some(call) = self.calls.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            if call.gen != gen || call.closing {
                continue;
            }
            let Some(deadline) = call.deadline() else {
                continue;
            };
            if deadline > now {
                self.timers.push(Reverse((deadline, index, gen)));
                continue;
            }
            call.relay.handle_timeout(now);
            if let (Some(next), Some(interval)) = (call.next_stats, call.stats_interval) {
                if next <= now {
                    let stats = snapshot(&call.relay, &call.local, call.io);
                    call.emit(ShellEvent::Stats(Box::new(stats)));
                    let after = next + interval;
                    call.next_stats = Some(if after <= now { now + interval } else { after });
                }
            }
            call.flush_events();
            if let Some(d) = call.deadline() {
                self.timers.push(Reverse((d, index, gen)));
            }
        }
    }
}

fn empty_slot() -> Box<RecvSlot> {
    Box::new(RecvSlot {
        buf: [0; MAX_DATAGRAM],
        // SAFETY: all-zero is a valid value of these plain C structs.
        name: unsafe { std::mem::zeroed() },
        iov: libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        },
        // SAFETY: as above.
        msg: unsafe { std::mem::zeroed() },
        armed: false,
    })
}

fn socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it can hold.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn sockaddr_storage(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut s: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let v4 = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            v4.sin_family = libc::AF_INET as libc::sa_family_t;
            v4.sin_port = a.port().to_be();
            v4.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            (
                s,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 = unsafe {
                &mut *(&mut s as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            v6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            v6.sin6_port = a.port().to_be();
            v6.sin6_addr.s6_addr = a.ip().octets();
            v6.sin6_flowinfo = a.flowinfo();
            v6.sin6_scope_id = a.scope_id();
            (
                s,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips_its_fields() {
        for (kind, index, gen, socket) in [
            (RECV, 0, 0, 0),
            (SEND, 0x3FFF_FFFF, 7, 3),
            (CANCEL, 12, 0x3FFF_FFFF, 2),
        ] {
            assert_eq!(
                untag(tag(kind, index, gen, socket)),
                (kind, index, gen, socket)
            );
        }
    }

    #[test]
    fn socket_addresses_survive_sockaddr_storage() {
        for a in ["127.0.0.1:4000", "[::1]:5004", "[fe80::1%2]:10000"] {
            let a: SocketAddr = a.parse().unwrap();
            let (s, _) = sockaddr_storage(a);
            assert_eq!(socket_addr(&s), Some(a));
        }
    }
}
