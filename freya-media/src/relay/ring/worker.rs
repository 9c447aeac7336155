//! The ring's thread: calls in a slab, one multishot receive per socket taking its buffers
//! from the shared ring ([`bufs`](super::bufs)), sockets in the io_uring's registered file
//! table when there is room (no file lookup per operation), sends batched into the next
//! `io_uring_enter` (one per turn: it submits and waits), deadlines on a lazy heap (an entry
//! found early is pushed back with the call's current deadline, so RTP moving the no-RTP
//! timeout later costs nothing per packet).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use io_uring::types::RecvMsgOut;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use tokio::sync::{mpsc, oneshot};

use super::bufs::{self, BufRing};
use super::sockaddr::{sockaddr_storage, socket_addr_from_name};
use super::{CallWaker, NewCall, Request, RingOptions, Shared};
use crate::relay::driver::{
    deliver_in_process, emit_event, flush_relay_events, offer_tap, snapshot, Command, EndpointSide,
    MIN_STATS_INTERVAL,
};
use crate::relay::endpoint::TappedPacket;
use crate::relay::shell::{IoStats, LegAddrs, RelayStats, ShellEvent, IN_PROCESS_ADDR};
use crate::relay::sockets::SocketPair;
use crate::relay::udp::MAX_DATAGRAM;
use crate::relay::{LegId, Relay, Transmit};

const RECV: u64 = 0;
const SEND: u64 = 1;
const WAKE: u64 = 2;
const CANCEL: u64 = 3;
/// The longest wait without a deadline (the thread also wakes for requests).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Packets taken from one endpoint's in-process sender per turn.
const ENDPOINT_BATCH: usize = 64;

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

/// A send's room, reused from datagram to datagram. Boxed: the kernel reads `dest` through a
/// pointer while the send is in flight, so a slot must not move when `sends` grows.
struct SendSlot {
    /// A send is in flight from this slot (cleared by its completion).
    busy: bool,
    payload: Bytes,
    dest: libc::sockaddr_storage,
    dest_len: libc::socklen_t,
    call: usize,
    gen: u32,
}

/// A receive's completion: whose socket, and what the kernel said.
#[derive(Clone, Copy)]
struct Recv {
    index: usize,
    gen: u32,
    socket: usize,
    result: i32,
    flags: u32,
}

/// Where an operation's socket is: the registered file table (no `fget`/`fput` per
/// operation) or a plain descriptor.
#[derive(Clone, Copy)]
enum Target {
    Fixed(u32),
    Fd(RawFd),
}

struct Call {
    id: u64,
    gen: u32,
    relay: Relay,
    /// Sockets 0..4: A RTP, A RTCP, B RTP, B RTCP; leg B has none for an endpoint call.
    legs: [Option<SocketPair<UdpSocket>>; 2],
    /// The in-process side of an endpoint call (dropped with the call: its reader then
    /// sees the end).
    endpoint: Option<EndpointSide>,
    /// What the endpoint's link wakes when its sender queues a packet ([`CallWaker`]).
    waker: Option<Waker>,
    /// Which sockets have a multishot receive in the kernel.
    armed: [bool; 4],
    /// The call's four slots in the registered file table, from this one; `None`: plain
    /// descriptors (the table is full or could not be set up).
    fixed: Option<u32>,
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
    fn socket(&self, i: usize) -> Option<&UdpSocket> {
        let pair = self.legs.get(i / 2)?.as_ref()?;
        Some(if i.is_multiple_of(2) {
            &pair.rtp
        } else {
            &pair.rtcp
        })
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.relay.poll_timeout(), self.next_stats) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn armed(&self) -> usize {
        self.armed.iter().filter(|&&a| a).count()
    }

    /// Socket `i` as an io_uring target: its registered slot, or its descriptor; `None`
    /// for an in-process leg.
    fn target(&self, i: usize) -> Option<Target> {
        let socket = self.socket(i)?;
        Some(match self.fixed {
            Some(base) => Target::Fixed(base + i as u32),
            None => Target::Fd(socket.as_raw_fd()),
        })
    }

    fn emit(&mut self, event: ShellEvent) {
        emit_event(&self.events, &mut self.io, event);
    }

    fn flush_events(&mut self) {
        flush_relay_events(&mut self.relay, &self.events, &mut self.io);
    }
}

pub(super) struct Worker {
    // Declared (so dropped) before `bufs`: the kernel may write into the buffers until the
    // ring is gone.
    ring: IoUring,
    bufs: BufRing,
    /// Slots in the registered file table (4 per call index; 0: no table).
    file_slots: u32,
    /// The `msghdr` of every multishot receive: only its name and control lengths count.
    recv_msg: Box<libc::msghdr>,
    shared: Arc<Shared>,
    calls: Vec<Option<Call>>,
    /// The generation each slab index is at (bumped when its call goes).
    gens: Vec<u32>,
    free_calls: Vec<usize>,
    ids: HashMap<u64, usize>,
    /// Every send slot made so far (no allocation per datagram once warm); see [`SendSlot`]
    /// for why each is boxed.
    #[allow(clippy::vec_box)]
    sends: Vec<Box<SendSlot>>,
    /// The slots not in flight.
    free_sends: Vec<usize>,
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
    /// Sets up the io_uring (on the thread that will use it: with `DEFER_TASKRUN` only the
    /// task that created it may submit), its buffer ring and, when the process may hold
    /// them, a registered file table.
    ///
    /// # Errors
    /// The io_uring or its buffer ring cannot be set up (kernels before 6.1, which lack
    /// `DEFER_TASKRUN`; `kernel.io_uring_disabled`; seccomp; memory).
    pub(super) fn new(shared: Arc<Shared>, options: RingOptions) -> io::Result<Worker> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(16_384)
            .build(4_096)?;
        let mut bufs = BufRing::new(options.buffers)?;
        bufs.register(&ring.submitter())?;
        let file_slots = if options.registered_files {
            register_file_table(&ring)
        } else {
            0
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut recv_msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        recv_msg.msg_namelen = bufs::NAME_LEN as libc::socklen_t;
        Ok(Worker {
            ring,
            bufs,
            file_slots,
            recv_msg,
            shared,
            calls: Vec::new(),
            gens: Vec::new(),
            free_calls: Vec::new(),
            ids: HashMap::new(),
            sends: Vec::new(),
            free_sends: Vec::new(),

            pending: Vec::new(),
            finalize: Vec::new(),
            timers: BinaryHeap::new(),
            wake_buf: Box::new([0; 8]),
            out: Vec::new(),
            shutdown: false,
        })
    }

    pub(super) fn run(mut self) {
        self.arm_wake();
        let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(256);
        loop {
            self.bufs.commit();
            if let Err(e) = self.push_pending(!self.finalize.is_empty()) {
                tracing::error!(error = %e, "relay ring: submit failed, the thread stops");
                break;
            }
            for index in std::mem::take(&mut self.finalize) {
                self.close_call(index);
            }
            if self.shutdown && self.calls.iter().all(Option::is_none) && self.in_flight() == 0 {
                break;
            }
            // Wakers write the eventfd only while this is set; set before the last look at
            // the ready list, so a call queued after that look is woken by a write.
            self.shared.sleeping.store(true, Ordering::SeqCst);
            let wait = if self.shared.ready().is_empty() {
                self.timers
                    .peek()
                    .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()))
                    .unwrap_or(IDLE_WAIT)
                    .min(IDLE_WAIT)
            } else {
                Duration::ZERO
            };
            let ts = types::Timespec::from(wait);
            let args = types::SubmitArgs::new().timespec(&ts);
            // Submits this turn's sends and re-armed receives, and waits: one syscall.
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
            self.shared.sleeping.store(false, Ordering::SeqCst);
            let now = Instant::now();
            cqes.clear();
            cqes.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for &(data, result, flags) in &cqes {
                let (kind, index, gen, socket) = untag(data);
                match kind {
                    RECV => self.on_recv(
                        now,
                        Recv {
                            index,
                            gen,
                            socket,
                            result,
                            flags,
                        },
                    ),
                    SEND => self.on_sent(index, result),
                    WAKE => {
                        self.arm_wake();
                        self.take_requests(now);
                    }
                    _ => {} // CANCEL: the receive it cancelled completes on its own
                }
            }
            self.drain_ready(now);
            self.run_timers(now);
        }
        self.end();
    }

    /// The thread is ending: refuse new requests, close what is left, without the ring.
    /// After a failed submit or wait, receives and sends may still be armed in the kernel:
    /// their buffers are leaked rather than freed under it (at most the 4 MB buffer ring, on
    /// a path that only a broken ring takes). The wake read is always armed.
    fn end(&mut self) {
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new([0; 8])));
        if self.in_flight() > 0 {
            std::mem::forget(std::mem::take(&mut self.sends));
        }
        if self.calls.iter().flatten().any(|c| c.armed() > 0) {
            // Receives still armed write into the shared buffers.
            std::mem::forget(std::mem::replace(&mut self.bufs, BufRing::leaked()));
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

    /// Moves this turn's entries into the submission queue (submitting early only when it
    /// is full); the wait that ends the turn submits them. `now`: submit at once (calls
    /// about to be closed must have their queued sends in the kernel's hands first).
    fn push_pending(&mut self, now: bool) -> io::Result<()> {
        let (submitter, mut sq, _) = self.ring.split();
        for entry in self.pending.drain(..) {
            // SAFETY: every pointer in the entries points into a boxed SendSlot, the boxed
            // receive msghdr or the wake buffer, which stay in place until their completion
            // is reaped; receive buffers are the buffer ring's.
            while unsafe { sq.push(&entry) }.is_err() {
                sq.sync();
                submitter.submit()?;
                sq.sync();
            }
        }
        sq.sync();
        if now {
            submitter.submit()?;
        }
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
        let fixed = self.register_files(index, &new.legs);
        let waker = new.endpoint.is_some().then(|| {
            Waker::from(Arc::new(CallWaker {
                shared: Arc::clone(&self.shared),
                index,
                gen,
            }))
        });
        let call = Call {
            id: new.id,
            gen,
            relay: new.relay,
            legs: new.legs,
            endpoint: new.endpoint.map(|link| EndpointSide {
                link,
                closed: false,
            }),
            waker,
            armed: [false; 4],
            fixed,
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
        // Polled once, so the link holds the call's waker from the start.
        self.drain_endpoint(now, index);
    }

    /// The call's sockets `index * 4 ..` in the registered file table, when it has room
    /// (an in-process leg's two slots stay empty).
    fn register_files(
        &mut self,
        index: usize,
        legs: &[Option<SocketPair<UdpSocket>>; 2],
    ) -> Option<u32> {
        let base = u32::try_from(index).ok()?.checked_mul(4)?;
        if base.checked_add(4)? > self.file_slots {
            return None;
        }
        let fd = |leg: &Option<SocketPair<UdpSocket>>, rtcp: bool| match leg {
            Some(pair) if rtcp => pair.rtcp.as_raw_fd(),
            Some(pair) => pair.rtp.as_raw_fd(),
            None => -1,
        };
        let fds = [
            fd(&legs[0], false),
            fd(&legs[0], true),
            fd(&legs[1], false),
            fd(&legs[1], true),
        ];
        match self.ring.submitter().register_files_update(base, &fds) {
            Ok(_) => Some(base),
            Err(e) => {
                tracing::debug!(error = %e, "relay ring: file table update failed, plain descriptors");
                None
            }
        }
    }

    /// Arms the socket's multishot receive: it stays armed, one completion per datagram,
    /// until it is cancelled, fails, or the buffer ring runs dry.
    fn arm_recv(&mut self, index: usize, socket: usize) {
        let Some(call) = self.calls[index].as_mut() else {
            return;
        };
        let Some(target) = call.target(socket) else {
            return; // an in-process leg
        };
        call.armed[socket] = true;
        let msg: *const libc::msghdr = &*self.recv_msg;
        let entry = match target {
            Target::Fixed(i) => {
                opcode::RecvMsgMulti::new(types::Fixed(i), msg, bufs::GROUP).build()
            }
            Target::Fd(fd) => opcode::RecvMsgMulti::new(types::Fd(fd), msg, bufs::GROUP).build(),
        };
        self.pending
            .push(entry.user_data(tag(RECV, index, call.gen, socket)));
    }

    fn on_recv(&mut self, now: Instant, c: Recv) {
        // The buffer goes back to the ring whatever becomes of its datagram (a call that is
        // gone or closing, a refused one), after the datagram has been handled.
        let bid = cqueue::buffer_select(c.flags);
        self.handle_recv(now, c, bid);
        if let Some(bid) = bid {
            self.bufs.recycle(bid);
        }
    }

    fn handle_recv(&mut self, now: Instant, c: Recv, bid: Option<u16>) {
        let Recv {
            index,
            gen,
            socket,
            result,
            flags,
        } = c;
        let Some(call) = self.calls.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        if call.gen != gen {
            return;
        }
        let more = cqueue::more(flags);
        if !more {
            call.armed[socket] = false;
        }
        if call.closing {
            if call.armed() == 0 {
                self.finalize.push(index);
            }
            return;
        }
        let leg = if socket < 2 { LegId::A } else { LegId::B };
        if result == -libc::ENOBUFS {
            // The buffer ring ran dry: the datagram waits in its socket; re-armed below,
            // and this turn gives buffers back before the re-armed receive is submitted.
            let count = self.shared.buffer_waits.fetch_add(1, Ordering::Relaxed) + 1;
            if count.is_power_of_two() {
                tracing::debug!(
                    count,
                    "relay ring: receive buffers ran out, receive re-armed"
                );
            }
        } else if result < 0 {
            call.io.recv_errors += 1;
            if call.io.recv_errors.is_power_of_two() {
                let error = io::Error::from_raw_os_error(-result);
                tracing::warn!(?leg, %error, count = call.io.recv_errors, "relay receive failed");
            }
        } else if let Some(buf) = bid.and_then(|b| self.bufs.get(b, result as usize)) {
            match RecvMsgOut::parse(buf, &self.recv_msg) {
                Err(()) => {
                    call.io.recv_errors += 1;
                    tracing::warn!(
                        ?leg,
                        len = result,
                        "relay receive: malformed multishot buffer"
                    );
                }
                Ok(out) if out.is_payload_truncated() => {
                    call.io.oversize += 1;
                    tracing::debug!(?leg, "datagram over {MAX_DATAGRAM} bytes dropped");
                }
                Ok(out) => match socket_addr_from_name(out.name_data()) {
                    Some(source) => {
                        let bytes = Bytes::copy_from_slice(out.payload_data());
                        self.feed(now, index, leg, source, bytes);
                    }
                    None => {
                        call.io.recv_errors += 1;
                        tracing::warn!(?leg, "relay receive: source address of unknown family");
                    }
                },
            }
        } else {
            call.io.recv_errors += 1;
            tracing::warn!(
                ?leg,
                ?bid,
                len = result,
                "relay receive: completion without a buffer of ours"
            );
        }
        if !more {
            self.arm_recv(index, socket);
        }
    }

    /// One datagram from `leg` to the call's core, and what the core sends out for it.
    fn feed(&mut self, now: Instant, index: usize, leg: LegId, source: SocketAddr, bytes: Bytes) {
        let Some(call) = self.calls.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        call.relay.handle_packet(now, leg, source, bytes);
        while let Some(t) = call.relay.poll_transmit() {
            self.out.push(t);
        }
        call.flush_events();
        let mut out = std::mem::take(&mut self.out);
        for t in out.drain(..) {
            self.transmit(index, t);
        }
        self.out = out;
    }

    fn transmit(&mut self, index: usize, t: Transmit) {
        let Some(call) = self.calls[index].as_mut() else {
            return;
        };
        offer_tap(call.tap.as_ref(), &t, &mut call.io);
        let Some(pair) = &call.legs[t.leg.index()] else {
            // The in-process side of an endpoint call: its sink or its queue.
            deliver_in_process(call.endpoint.as_ref(), &t, &mut call.io);
            return;
        };
        let socket = t.leg.index() * 2 + usize::from(t.local_port != pair.local.rtp.port());
        let Some(target) = call.target(socket) else {
            return;
        };
        let (dest, dest_len) = sockaddr_storage(t.destination);
        let fields = SendSlot {
            busy: true,
            payload: t.payload,
            dest,
            dest_len,
            call: index,
            gen: call.gen,
        };
        let at = match self.free_sends.pop() {
            Some(at) => {
                *self.sends[at] = fields;
                at
            }
            None => {
                self.sends.push(Box::new(fields));
                self.sends.len() - 1
            }
        };
        let slot = &self.sends[at];
        let (buf, len) = (slot.payload.as_ptr(), slot.payload.len() as u32);
        let dest: *const libc::sockaddr = (&slot.dest as *const libc::sockaddr_storage).cast();
        let entry = match target {
            Target::Fixed(i) => opcode::Send::new(types::Fixed(i), buf, len)
                .dest_addr(dest)
                .dest_addr_len(slot.dest_len)
                .build(),
            Target::Fd(fd) => opcode::Send::new(types::Fd(fd), buf, len)
                .dest_addr(dest)
                .dest_addr_len(slot.dest_len)
                .build(),
        }
        .user_data(tag(SEND, at, 0, 0));
        self.pending.push(entry);
    }

    /// Sends submitted and not yet completed.
    fn in_flight(&self) -> usize {
        self.sends.len() - self.free_sends.len()
    }

    fn on_sent(&mut self, at: usize, result: i32) {
        let Some(slot) = self.sends.get_mut(at).filter(|slot| slot.busy) else {
            return;
        };
        slot.busy = false;
        slot.payload = Bytes::new(); // the datagram's buffer goes back now, not at reuse
        let (owner, gen) = (slot.call, slot.gen);
        self.free_sends.push(at);
        if result >= 0 {
            return;
        }
        if let Some(call) = self.calls.get_mut(owner).and_then(Option::as_mut) {
            if call.gen == gen {
                call.io.send_errors += 1;
                if call.io.send_errors.is_power_of_two() {
                    let error = io::Error::from_raw_os_error(-result);
                    tracing::warn!(%error, count = call.io.send_errors,
                        "relay send failed, packet dropped");
                }
            }
        }
    }

    /// The endpoint calls whose in-process sender woke them since the last turn.
    fn drain_ready(&mut self, now: Instant) {
        let ready = std::mem::take(&mut *self.shared.ready());
        for (index, gen) in ready {
            if self
                .calls
                .get(index)
                .and_then(Option::as_ref)
                .is_some_and(|c| c.gen == gen)
            {
                self.drain_endpoint(now, index);
            }
        }
    }

    /// Takes what the endpoint's sender queued, as datagrams on leg B, until its queue is
    /// empty (the link then holds the call's waker) or [`ENDPOINT_BATCH`] packets, after
    /// which the call goes back on the ready list for the next turn (one call's flood does
    /// not starve the others).
    fn drain_endpoint(&mut self, now: Instant, index: usize) {
        for _ in 0..ENDPOINT_BATCH {
            let Some(call) = self.calls.get_mut(index).and_then(Option::as_mut) else {
                return;
            };
            let (Some(side), Some(waker)) = (&mut call.endpoint, &call.waker) else {
                return;
            };
            if side.closed || call.closing {
                return;
            }
            match side.link.poll_from_app(&mut Context::from_waker(waker)) {
                Poll::Ready(Some(packet)) => {
                    self.feed(now, index, LegId::B, IN_PROCESS_ADDR, packet)
                }
                Poll::Ready(None) => {
                    side.closed = true; // every sender is gone
                    return;
                }
                Poll::Pending => return,
            }
        }
        if let Some(call) = self.calls.get(index).and_then(Option::as_ref) {
            self.shared.ready().push((index, call.gen));
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
        let armed: Vec<usize> = (0..4).filter(|&s| call.armed[s]).collect();
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
        if let Some(base) = call.fixed {
            // The table holds the sockets open: empty their slots first, so that dropping
            // the call closes them before its ports go back to the pool.
            if let Err(e) = self.ring.submitter().register_files_update(base, &[-1; 4]) {
                tracing::warn!(error = %e, "relay ring: file table slots not emptied");
            }
        }
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

/// Slots for the registered file table: one per descriptor the process may open (the
/// kernel's own bound), at most 65,536; 0 when the table cannot be registered.
fn register_file_table(ring: &IoUring) -> u32 {
    // SAFETY: getrlimit writes into the struct we pass.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let slots = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur.min(65_536) as u32
    } else {
        1_024
    };
    match ring.submitter().register_files_sparse(slots) {
        Ok(()) => slots,
        Err(e) => {
            tracing::debug!(error = %e, slots, "relay ring: no registered file table, plain descriptors");
            0
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
}
