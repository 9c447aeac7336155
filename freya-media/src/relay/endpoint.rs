//! The in-process side of a call whose media freya terminates ([`spawn_endpoint`]): two
//! bounded queues of RTP packets between the relay task and the code that plays the second
//! peer.
//!
//! Why not tokio's mpsc: its list blocks hold 32 slots each, and a slot of the app-bound
//! queue is a whole [`MediaPacket`] (~120 bytes), so every call kept 4–8 KB of blocks (two
//! blocks while the 64-packet queue wraps) plus the `Bytes` channel's, for the one or two
//! packets that actually wait. Here one mutex guards two `VecDeque`s that hold what waits,
//! with one waker per reader — the shape of the bridge's leg link (`bridge/link.rs`).
//! Bounds and drop accounting are those of the channels it replaces.
//!
//! [`spawn_endpoint`]: super::spawn_endpoint

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::sync::Notify;

use super::shell::ShellError;
use super::LegId;
use crate::rtp::RtpPacket;

/// A packet the relay accepted from a peer: RTP parsed (RFC 3550 §5.1), RTCP as received
/// (parse it with [`rtcp::parse_compound`](crate::rtp::rtcp::parse_compound) if needed).
/// Both are views of the received datagram, not copies.
///
/// ```
/// use bytes::Bytes;
/// use freya_media::relay::MediaPacket;
/// use freya_media::rtp::RtpPacket;
///
/// let wire = Bytes::from_static(&[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 0xFF]);
/// let packet = MediaPacket::Rtp(RtpPacket::parse(wire)?);
/// assert_eq!(packet.as_rtp().map(|p| p.ssrc()), Some(7));
/// assert_eq!(packet.bytes().len(), 13);
/// # Ok::<(), freya_media::rtp::RtpError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaPacket {
    /// An RTP packet.
    Rtp(RtpPacket),
    /// An RTCP compound packet (RFC 3550 §6), unparsed.
    Rtcp(Bytes),
}

impl MediaPacket {
    /// The RTP packet, if this is one.
    pub fn as_rtp(&self) -> Option<&RtpPacket> {
        match self {
            MediaPacket::Rtp(packet) => Some(packet),
            MediaPacket::Rtcp(_) => None,
        }
    }

    /// The whole datagram.
    pub fn bytes(&self) -> &Bytes {
        match self {
            MediaPacket::Rtp(packet) => packet.raw(),
            MediaPacket::Rtcp(bytes) => bytes,
        }
    }
}

/// A copy of a forwarded packet from [`RelayHandle::tap`](super::RelayHandle::tap).
///
/// ```
/// use bytes::Bytes;
/// use freya_media::relay::{LegId, MediaPacket, TappedPacket};
///
/// let tapped = TappedPacket { from: LegId::A, packet: MediaPacket::Rtcp(Bytes::new()) };
/// assert_eq!(tapped.from.other(), LegId::B);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TappedPacket {
    /// The leg whose peer sent it (it went out on the other leg).
    pub from: LegId,
    /// The packet.
    pub packet: MediaPacket,
}

/// Code that takes leg A's RTP inside the relay task, in place of the
/// [`EndpointReceiver`]'s queue: installed with [`EndpointReceiver::set_rtp_sink`].
///
/// Why: a call whose media freya terminates (an agent bridge, a player) would otherwise
/// wake a task of its own for every 20 ms packet only to decode it and hand it on; a sink
/// does that work where the packet already is, so a packet costs one task wake-up less.
/// [`take`](Self::take) runs in the relay's task for every accepted RTP packet (after
/// latching and bleed protection, RFC 3550 §8.2), so it must not block: decode, hand
/// the audio to a queue, return. It returns `true` when it consumed the packet; `false`
/// leaves the packet to the receiver's queue as before (e.g. RFC 4733 telephone-events
/// that need the receiver's timers). RTCP always goes to the queue.
///
/// Any `FnMut(&RtpPacket) -> bool + Send` closure is a sink.
///
/// ```
/// use freya_media::relay::RtpSink;
/// use freya_media::rtp::RtpPacket;
///
/// let mut audio_bytes = 0usize;
/// let mut sink = move |p: &RtpPacket| {
///     if p.payload_type() != 0 {
///         return false; // not PCMU: leave it to the queue
///     }
///     audio_bytes += p.payload().len(); // 8 kHz μ-law: one byte per sample
///     true
/// };
/// let wire = bytes::Bytes::from_static(&[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 0xFF]);
/// assert!(sink.take(&RtpPacket::parse(wire)?));
/// # Ok::<(), freya_media::rtp::RtpError>(())
/// ```
pub trait RtpSink: Send + 'static {
    /// Takes one accepted RTP packet from leg A's peer; `false` to leave it to the queue.
    fn take(&mut self, packet: &RtpPacket) -> bool;
}

impl<F> RtpSink for F
where
    F: FnMut(&RtpPacket) -> bool + Send + 'static,
{
    fn take(&mut self, packet: &RtpPacket) -> bool {
        self(packet)
    }
}

/// The in-process peer of a [`spawn_endpoint`](super::spawn_endpoint) call: leg B of its
/// relay.
///
/// - **In** ([`recv`](Self::recv)): what leg A's peer sent, once the relay accepted it
///   (latched source, not on bleed, peer's direction allows sending). RTP and RTCP.
/// - **Out** ([`sender`](Self::sender)): whole RTP (or RTCP) packets the caller built — SSRC,
///   sequence numbers and timestamps are the caller's (with
///   [`RtpHeader::write`](crate::rtp::RtpHeader::write); RFC 4733 DTMF packets share the
///   media stream's numbering). The relay checks each one like a datagram from a peer
///   (malformed ones are dropped and counted on leg B), and sends it to leg A's peer from
///   leg A's RTP socket, unless that peer is on hold.
///
/// Both directions are bounded queues (`ShellConfig::endpoint_capacity` packets each). The
/// relay never waits for the caller: a packet it cannot queue is dropped and counted in
/// [`IoStats::endpoint_overflow`](super::IoStats::endpoint_overflow);
/// [`EndpointSender::try_send`] says `EndpointFull`.
///
/// Dropping the endpoint does not end the call ([`RelayHandle`](super::RelayHandle) does);
/// media from the peer is then dropped and counted.
///
/// ```
/// use bytes::BytesMut;
/// use freya_media::relay::{spawn_endpoint, LegSetup, PortPool, ShellConfig, SharedPortPool};
/// use freya_media::rtp::RtpHeader;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = SharedPortPool::new(PortPool::new(21_200..=21_299)?);
/// let config = ShellConfig { bind_ip: "127.0.0.1".parse()?, ..ShellConfig::default() };
/// let (relay, mut endpoint, _events) = spawn_endpoint(&pool, config, LegSetup::default())?;
/// let sender = endpoint.sender();
/// let mut wire = BytesMut::new();
/// RtpHeader::new(0, 1, 160, 0xF00D).write(&[0xFF; 160], &mut wire)?;
/// sender.try_send(wire.freeze())?; // to the peer of leg A, once its address is known
/// // An echo: `while let Some(p) = endpoint.recv().await { sender.try_send(p.bytes().clone())?; }`
/// relay.close().await?;
/// assert!(endpoint.recv().await.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct MediaEndpoint {
    rx: EndpointReceiver,
    tx: EndpointSender,
}

impl MediaEndpoint {
    /// The endpoint of `link` (which counts this endpoint's sender already).
    pub(crate) fn new(link: Arc<EndpointLink>) -> Self {
        MediaEndpoint {
            rx: EndpointReceiver {
                link: Arc::clone(&link),
            },
            tx: EndpointSender { link },
        }
    }

    /// The next packet from leg A's peer; `None` once the relay has ended.
    pub async fn recv(&mut self) -> Option<MediaPacket> {
        self.rx.recv().await
    }

    /// The next packet if one is waiting.
    pub fn try_recv(&mut self) -> Option<MediaPacket> {
        self.rx.try_recv()
    }

    /// A sender of packets to leg A's peer (cheap to clone).
    pub fn sender(&self) -> EndpointSender {
        self.tx.clone()
    }

    /// See [`EndpointReceiver::set_rtp_sink`].
    pub fn set_rtp_sink(&mut self, sink: Box<dyn RtpSink>) {
        self.rx.set_rtp_sink(sink);
    }

    /// The receiving half alone, for a task that only reads, and the sender.
    pub fn split(self) -> (EndpointReceiver, EndpointSender) {
        (self.rx, self.tx)
    }
}

/// The receiving half of a [`MediaEndpoint`] (from [`MediaEndpoint::split`]): packets from
/// leg A's peer, in arrival order. Dropping it makes the relay drop (and count) what it would
/// have queued.
///
/// ```
/// use freya_media::relay::{spawn_endpoint, LegSetup, PortPool, ShellConfig, SharedPortPool};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = SharedPortPool::new(PortPool::new(21_300..=21_399)?);
/// let config = ShellConfig { bind_ip: "127.0.0.1".parse()?, ..ShellConfig::default() };
/// let (relay, endpoint, _events) = spawn_endpoint(&pool, config, LegSetup::default())?;
/// let (mut from_peer, _to_peer) = endpoint.split();
/// assert!(from_peer.try_recv().is_none()); // nothing sent yet
/// relay.close().await?;
/// assert!(from_peer.recv().await.is_none()); // the relay has ended
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct EndpointReceiver {
    link: Arc<EndpointLink>,
}

impl EndpointReceiver {
    /// The next packet from leg A's peer; `None` once the relay has ended and every queued
    /// packet was taken. Cancel-safe: a packet is only taken when this returns it.
    pub async fn recv(&mut self) -> Option<MediaPacket> {
        std::future::poll_fn(|cx| self.link.poll_to_app(cx)).await
    }

    /// The next packet if one is waiting.
    pub fn try_recv(&mut self) -> Option<MediaPacket> {
        self.link.lock().to_app.pop_front()
    }

    /// From now on, leg A's RTP goes to `sink` first, in the relay's task; what it leaves
    /// (and all RTCP) still comes out of [`recv`](Self::recv). RTP packets already queued
    /// are offered to `sink` first (here, in this call, in order), so none overtakes an
    /// older one; what it leaves stays queued in order. Replaces an earlier sink. The sink
    /// is dropped when the relay ends or this receiver is dropped.
    pub fn set_rtp_sink(&mut self, sink: Box<dyn RtpSink>) {
        self.link.set_sink(sink);
    }
}

impl Drop for EndpointReceiver {
    fn drop(&mut self) {
        // The sink first (it is taken before the state in `push_to_app`).
        drop(self.link.sink().take());
        let mut s = self.link.lock();
        s.receiver_alive = false;
        s.to_app = VecDeque::new();
        s.app_waker = None;
    }
}

/// Sends whole RTP/RTCP packets from in-process code to leg A's peer (see [`MediaEndpoint`]).
///
/// ```
/// use freya_media::relay::{ShellError};
/// # fn f(sender: freya_media::relay::EndpointSender) {
/// match sender.try_send(bytes::Bytes::from_static(&[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])) {
///     Ok(()) | Err(ShellError::EndpointFull { .. }) => {} // full: that packet is lost
///     Err(_) => {} // the relay has ended
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct EndpointSender {
    link: Arc<EndpointLink>,
}

impl Clone for EndpointSender {
    fn clone(&self) -> Self {
        self.link.lock().senders += 1;
        EndpointSender {
            link: Arc::clone(&self.link),
        }
    }
}

impl Drop for EndpointSender {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.link.lock();
            s.senders = s.senders.saturating_sub(1);
            if s.senders == 0 {
                s.relay_waker.take() // the relay sees the end of the input
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl EndpointSender {
    /// Queues `packet` without waiting.
    ///
    /// # Errors
    /// [`ShellError::EndpointFull`] when `capacity` packets are already waiting (the relay
    /// task is behind); [`ShellError::Closed`] when the relay has ended.
    pub fn try_send(&self, packet: Bytes) -> Result<(), ShellError> {
        self.link.push_from_app(packet).map_err(|(error, _)| error)
    }

    /// Queues `packet`, waiting for room.
    ///
    /// # Errors
    /// [`ShellError::Closed`] when the relay has ended.
    pub async fn send(&self, mut packet: Bytes) -> Result<(), ShellError> {
        loop {
            // Registered before the attempt, so a packet taken in between still wakes us.
            let room = self.link.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.link.push_from_app(packet) {
                Ok(()) => return Ok(()),
                Err((ShellError::EndpointFull { .. }, back)) => packet = back,
                Err((error, _)) => return Err(error),
            }
            room.await;
        }
    }
}

/// What both queues share (see the module doc).
#[derive(Debug, Default)]
struct LinkState {
    /// Accepted packets from leg A's peer, waiting for the [`EndpointReceiver`].
    to_app: VecDeque<MediaPacket>,
    app_waker: Option<Waker>,
    receiver_alive: bool,
    /// Packets from in-process code, waiting for the relay task.
    from_app: VecDeque<Bytes>,
    relay_waker: Option<Waker>,
    /// Live [`EndpointSender`]s (the endpoint's own included).
    senders: usize,
    /// The relay task has ended: the receiver gets `None` once `to_app` is empty.
    relay_done: bool,
}

/// The queues between one relay task and its [`MediaEndpoint`].
pub(crate) struct EndpointLink {
    state: Mutex<LinkState>,
    /// The receiver's [`RtpSink`], called by the relay task before queueing. Its own lock,
    /// always taken before `state` (never the other way), and only by the relay task and
    /// the receiver, so it is uncontended in practice.
    sink: Mutex<Option<Box<dyn RtpSink>>>,
    /// Packets that may wait in each direction.
    capacity: usize,
    /// Wakes [`EndpointSender::send`]s waiting for room (rare: only a full queue waits).
    room: Notify,
}

/// A queue that held a burst does not keep its room once drained (beyond this many slots).
const KEEP_SLOTS: usize = 16;

impl std::fmt::Debug for EndpointLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointLink")
            .field("state", &self.state)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

fn store(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl EndpointLink {
    /// A link with one sender and a live receiver, `capacity` (at least 1) packets each way.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(EndpointLink {
            state: Mutex::new(LinkState {
                receiver_alive: true,
                senders: 1,
                ..LinkState::default()
            }),
            sink: Mutex::new(None),
            capacity: capacity.max(1),
            room: Notify::new(),
        })
    }

    fn sink(&self) -> MutexGuard<'_, Option<Box<dyn RtpSink>>> {
        // A sink that panicked leaves its own state behind; the relay keeps going with it.
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs `sink`, offering it the queued RTP first (see
    /// [`EndpointReceiver::set_rtp_sink`]). The sink lock is held throughout, and
    /// `push_to_app` holds it from its sink check until its packet is queued, so every RTP
    /// packet is either offered here or to the installed sink.
    fn set_sink(&self, mut sink: Box<dyn RtpSink>) {
        let mut slot = self.sink();
        let queued = std::mem::take(&mut self.lock().to_app);
        let kept: VecDeque<MediaPacket> = queued
            .into_iter()
            .filter(|packet| match packet {
                MediaPacket::Rtp(p) => !sink.take(p),
                MediaPacket::Rtcp(_) => true,
            })
            .collect();
        if !kept.is_empty() {
            // Back in front, in order (nothing was queued meanwhile: the relay task waits
            // for the sink lock).
            let mut s = self.lock();
            for packet in kept.into_iter().rev() {
                s.to_app.push_front(packet);
            }
        }
        *slot = Some(sink);
    }

    fn lock(&self) -> MutexGuard<'_, LinkState> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poll_to_app(&self, cx: &mut Context<'_>) -> Poll<Option<MediaPacket>> {
        let mut s = self.lock();
        match s.to_app.pop_front() {
            Some(packet) => {
                if s.to_app.is_empty() && s.to_app.capacity() > KEEP_SLOTS {
                    s.to_app.shrink_to(4);
                }
                Poll::Ready(Some(packet))
            }
            None if s.relay_done => Poll::Ready(None),
            None => {
                store(&mut s.app_waker, cx);
                Poll::Pending
            }
        }
    }

    fn push_from_app(&self, packet: Bytes) -> Result<(), (ShellError, Bytes)> {
        let waker = {
            let mut s = self.lock();
            if s.relay_done {
                return Err((ShellError::Closed, packet));
            }
            if s.from_app.len() >= self.capacity {
                let capacity = self.capacity;
                return Err((ShellError::EndpointFull { capacity }, packet));
            }
            s.from_app.push_back(packet);
            s.relay_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    // ---- relay side ----

    /// Queues a packet for the receiver; `false` (the packet is dropped, the caller counts
    /// it) when `capacity` packets wait or the receiver is gone.
    pub(crate) fn push_to_app(&self, packet: MediaPacket) -> bool {
        // The sink lock is held until the packet is queued (lock order: sink, then state,
        // as in `set_sink`), so a sink being installed meanwhile finds this packet in the
        // queue and is offered it: no RTP packet the sink would take can slip past it.
        let mut sink = self.sink();
        if let (MediaPacket::Rtp(p), Some(sink)) = (&packet, sink.as_mut()) {
            if sink.take(p) {
                return true;
            }
        }
        let waker = {
            let mut s = self.lock();
            if !s.receiver_alive || s.to_app.len() >= self.capacity {
                return false;
            }
            s.to_app.push_back(packet);
            s.app_waker.take()
        };
        drop(sink);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// The next packet from in-process code; `Ready(None)` once every sender is gone and
    /// nothing is left; `Pending` (waker kept) when none waits.
    pub(crate) fn poll_from_app(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let (packet, was_full) = {
            let mut s = self.lock();
            let was_full = s.from_app.len() >= self.capacity;
            match s.from_app.pop_front() {
                Some(packet) => {
                    if s.from_app.is_empty() && s.from_app.capacity() > KEEP_SLOTS {
                        s.from_app.shrink_to(4);
                    }
                    (packet, was_full)
                }
                None if s.senders == 0 => return Poll::Ready(None),
                None => {
                    store(&mut s.relay_waker, cx);
                    return Poll::Pending;
                }
            }
        };
        if was_full {
            self.room.notify_waiters();
        }
        Poll::Ready(Some(packet))
    }

    /// The relay task has ended: the receiver gets `None` after what is queued, senders get
    /// [`ShellError::Closed`].
    pub(crate) fn relay_done(&self) {
        // What the sink holds (a bridge's sender, a recorder) is released with the relay;
        // taken before `state`, as everywhere.
        let sink = self.sink().take();
        drop(sink);
        let waker = {
            let mut s = self.lock();
            s.relay_done = true;
            s.from_app = VecDeque::new();
            s.relay_waker = None;
            s.app_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    use crate::test_util::Count;

    fn rtcp(tag: u8) -> MediaPacket {
        MediaPacket::Rtcp(Bytes::from(vec![tag]))
    }

    #[test]
    fn to_app_is_bounded_ordered_and_ends_after_the_queue() {
        let link = EndpointLink::new(2);
        let mut endpoint = MediaEndpoint::new(Arc::clone(&link));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(link.poll_to_app(&mut cx).is_pending());
        assert!(link.push_to_app(rtcp(1)));
        assert!(link.push_to_app(rtcp(2)));
        assert!(!link.push_to_app(rtcp(3)), "the bound refuses the third");
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once");
        assert_eq!(endpoint.try_recv(), Some(rtcp(1)));
        link.relay_done();
        assert_eq!(link.poll_to_app(&mut cx), Poll::Ready(Some(rtcp(2))));
        assert_eq!(link.poll_to_app(&mut cx), Poll::Ready(None));
        assert_eq!(
            endpoint.sender().try_send(Bytes::new()),
            Err(ShellError::Closed)
        );
    }

    #[test]
    fn a_dropped_receiver_refuses_and_frees_the_queue() {
        let link = EndpointLink::new(4);
        let (rx, _tx) = MediaEndpoint::new(Arc::clone(&link)).split();
        assert!(link.push_to_app(rtcp(1)));
        drop(rx);
        assert!(!link.push_to_app(rtcp(2)));
        assert_eq!(link.lock().to_app.capacity(), 0);
    }

    #[test]
    fn from_app_is_bounded_and_ends_with_the_last_sender() {
        let link = EndpointLink::new(2);
        let endpoint = MediaEndpoint::new(Arc::clone(&link));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(link.poll_from_app(&mut cx).is_pending());
        let sender = endpoint.sender();
        sender.try_send(Bytes::from_static(b"a")).unwrap();
        sender.try_send(Bytes::from_static(b"b")).unwrap();
        assert_eq!(
            sender.try_send(Bytes::from_static(b"c")),
            Err(ShellError::EndpointFull { capacity: 2 })
        );
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            link.poll_from_app(&mut cx),
            Poll::Ready(Some(Bytes::from_static(b"a")))
        );
        drop(endpoint);
        assert_eq!(
            link.poll_from_app(&mut cx),
            Poll::Ready(Some(Bytes::from_static(b"b")))
        );
        assert!(
            link.poll_from_app(&mut cx).is_pending(),
            "a sender is alive"
        );
        drop(sender);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "the last sender wakes");
        assert_eq!(link.poll_from_app(&mut cx), Poll::Ready(None));
    }

    #[tokio::test]
    async fn send_waits_for_room_and_sees_the_end() {
        let link = EndpointLink::new(1);
        let endpoint = MediaEndpoint::new(Arc::clone(&link));
        let sender = endpoint.sender();
        sender.send(Bytes::from_static(b"a")).await.unwrap();
        let waiting = tokio::spawn({
            let sender = sender.clone();
            async move { sender.send(Bytes::from_static(b"b")).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room yet");
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        assert_eq!(
            link.poll_from_app(&mut cx),
            Poll::Ready(Some(Bytes::from_static(b"a")))
        );
        waiting.await.unwrap().unwrap();
        assert_eq!(
            link.poll_from_app(&mut cx),
            Poll::Ready(Some(Bytes::from_static(b"b")))
        );
        sender.try_send(Bytes::from_static(b"c")).unwrap();
        let blocked = tokio::spawn({
            let sender = sender.clone();
            async move { sender.send(Bytes::from_static(b"d")).await }
        });
        tokio::task::yield_now().await;
        link.relay_done();
        assert_eq!(blocked.await.unwrap(), Err(ShellError::Closed));
    }
}
