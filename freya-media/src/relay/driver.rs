//! The relay task's poll loop: datagrams from the sockets (and packets from a
//! [`MediaEndpoint`](super::MediaEndpoint)) into the [`Relay`] with their arrival `Instant`,
//! its transmits out, its deadline on one timer, its events onto a channel.
//!
//! A hand-written poll (`poll_fn`) rather than `tokio::select!`: each wake drains every ready
//! socket until it would block (on Linux one `recvmmsg` per wake in the common case, see
//! [`udp`](super::udp)), and polls only the readiness of the others, without creating and
//! dropping a future per socket per packet.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;

use super::endpoint::{EndpointLink, MediaPacket, TappedPacket};
use super::shell::{
    IoStats, LegAddrs, LegReport, RelayStats, ShellConfig, ShellEvent, IN_PROCESS_ADDR,
};
use super::sockets::BoundPair;
use super::udp::{Datagram, RelaySocket, MAX_DATAGRAM};
use super::wake::{Source, WakeSet};
use super::{LegId, PacketKind, Relay, RelayEvent, RemoteMedia, Transmit};
use crate::rtp::RtpPacket;

/// Packets taken from one socket per wake before the others get their turn (fairness between
/// the sockets of a call and the calls of a thread).
const BATCH: usize = 32;
/// The shortest stats interval honoured (a shorter one is raised to this).
pub(crate) const MIN_STATS_INTERVAL: Duration = Duration::from_millis(10);

/// What the [`RelayHandle`](super::RelayHandle) asks of the task (or of the io_uring
/// relay thread).
#[derive(Debug)]
pub(crate) enum Command {
    Update(LegId, RemoteMedia),
    Stats(oneshot::Sender<RelayStats>),
    Tap(mpsc::Sender<TappedPacket>),
    Close,
}

/// The I/O of one leg.
#[derive(Debug)]
pub(crate) enum LegIo {
    /// A SIP peer's leg: RTP and RTCP sockets.
    Socket(BoundPair),
    /// The in-process side of an endpoint (see [`EndpointSide`]), or a leg already closed.
    InProcess,
}

impl LegIo {
    pub(crate) fn socket(pair: BoundPair) -> Self {
        LegIo::Socket(pair)
    }

    pub(crate) fn local_addrs(&self) -> Option<LegAddrs> {
        match self {
            LegIo::Socket(pair) => Some(pair.local),
            LegIo::InProcess => None,
        }
    }
}

/// The relay's side of the queues to and from a [`MediaEndpoint`](super::MediaEndpoint).
#[derive(Debug)]
pub(crate) struct EndpointSide {
    pub(crate) link: Arc<EndpointLink>,
    /// Every sender is gone: stop polling the app's queue.
    pub(crate) closed: bool,
}

impl Drop for EndpointSide {
    /// The relay task ended (or was dropped): the endpoint's reader sees the end.
    fn drop(&mut self) {
        self.link.relay_done();
    }
}

#[derive(Debug)]
pub(crate) struct Driver {
    relay: Relay,
    endpoint: Option<EndpointSide>,
    commands: mpsc::UnboundedReceiver<Box<Command>>,
    events: mpsc::Sender<Box<ShellEvent>>,
    tap: Option<mpsc::Sender<TappedPacket>>,
    local: [Option<LegAddrs>; 2],
    /// The datagrams of one receive call (kept for its allocation).
    received: Vec<Datagram>,
    io: IoStats,
    /// Which sources woke the task (shared with their wakers).
    wake: Arc<WakeSet>,
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is armed for; at or before the core's next deadline.
    timer_at: Option<Instant>,
    stats_interval: Option<Duration>,
    next_stats: Option<Instant>,
    /// Last field: dropped after everything else, sockets before their port lease.
    legs: [LegIo; 2],
}

impl Driver {
    pub(crate) fn new(
        config: ShellConfig,
        relay: Relay,
        legs: [LegIo; 2],
        endpoint: Option<EndpointSide>,
        commands: mpsc::UnboundedReceiver<Box<Command>>,
        events: mpsc::Sender<Box<ShellEvent>>,
        local: [Option<LegAddrs>; 2],
    ) -> Self {
        let now = Instant::now();
        let stats_interval = config.stats_interval.map(|i| i.max(MIN_STATS_INTERVAL));
        Driver {
            relay,
            endpoint,
            commands,
            events,
            tap: None,
            local,
            received: Vec::new(),
            io: IoStats::default(),
            wake: Arc::new(WakeSet::new()),
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                now,
            ))),
            timer_at: None,
            stats_interval,
            next_stats: stats_interval.map(|i| now + i),
            legs,
        }
    }

    /// Runs until closed or until the handle is dropped; then closes the sockets, releases
    /// the ports, reports [`ShellEvent::Closed`] and returns the final statistics.
    ///
    /// Not an `async fn`: its future would hold the driver twice (the argument, and the
    /// local the body moves it into: rust-lang/rust#62958), and the task's future is
    /// allocated, and resident, at its full size for the whole call. An `async move` block
    /// keeps the one captured copy.
    // Deliberately not `async fn` (see above), which is what this lint asks for.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn run(mut self) -> impl std::future::Future<Output = RelayStats> + Send {
        async move {
            std::future::poll_fn(|cx| self.poll_once(cx)).await;
            self.finish()
        }
    }

    /// The end of [`run`](Self::run).
    fn finish(&mut self) -> RelayStats {
        let stats = self.snapshot();
        self.legs = [LegIo::InProcess, LegIo::InProcess]; // sockets closed, ports released
        self.endpoint = None; // the endpoint's reader sees the end
        self.flush_events();
        self.emit(ShellEvent::Closed(Box::new(stats.clone())));
        tracing::debug!(?stats.io, "relay closed");
        stats
    }

    fn poll_once(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let wake = Arc::clone(&self.wake);
        let fired = wake.begin(cx);
        if fired.has(Source::Commands) {
            let mut commands_cx = wake.context(Source::Commands);
            loop {
                match self.commands.poll_recv(&mut commands_cx) {
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Ready(Some(command)) if matches!(*command, Command::Close) => {
                        return Poll::Ready(())
                    }
                    Poll::Ready(Some(command)) => self.command(*command),
                    Poll::Pending => break,
                }
            }
        }
        let mut more = false;
        for (source, leg, kind) in [
            (Source::RtpA, LegId::A, PacketKind::Rtp),
            (Source::RtcpA, LegId::A, PacketKind::Rtcp),
            (Source::RtpB, LegId::B, PacketKind::Rtp),
            (Source::RtcpB, LegId::B, PacketKind::Rtcp),
        ] {
            if fired.has(source) && self.drain_socket(&mut wake.context(source), leg, kind) {
                wake.again(source);
                more = true;
            }
        }
        if fired.has(Source::Endpoint) && self.drain_endpoint(&mut wake.context(Source::Endpoint)) {
            wake.again(Source::Endpoint);
            more = true;
        }
        self.poll_timers(&mut wake.context(Source::Timer), fired.has(Source::Timer));
        self.flush_events();
        if more {
            // A batch limit was hit: let other tasks run, then come back.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Update(leg, remote) => {
                tracing::debug!(?leg, ?remote, "relay leg updated");
                self.relay.update_remote(Instant::now(), leg, remote);
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Command::Tap(tap) => self.tap = Some(tap),
            Command::Close => {}
        }
    }

    /// Receives from one socket until it would block or about `BATCH` datagrams; whether it
    /// stopped on the batch limit (more may be waiting).
    fn drain_socket(&mut self, cx: &mut Context<'_>, leg: LegId, kind: PacketKind) -> bool {
        let mut taken = 0;
        while taken < BATCH {
            let Some(socket) = leg_socket(&self.legs, leg, kind) else {
                return false;
            };
            let result = socket.try_recv_batch(&mut self.received);
            let mut received = std::mem::take(&mut self.received);
            taken += received.len().max(1);
            for Datagram { source, bytes } in received.drain(..) {
                if bytes.len() > MAX_DATAGRAM {
                    self.io.oversize += 1;
                    tracing::debug!(?leg, %source, "datagram over {MAX_DATAGRAM} bytes dropped");
                    continue;
                }
                self.on_datagram(leg, source, bytes);
            }
            self.received = received;
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Readiness cleared: ask to be woken when it is readable again.
                    let Some(socket) = leg_socket(&self.legs, leg, kind) else {
                        return false;
                    };
                    match socket.poll_recv_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => {
                            self.recv_error(leg, e);
                            return false;
                        }
                        Poll::Pending => return false,
                    }
                }
                Err(e) => self.recv_error(leg, e),
            }
        }
        true
    }

    fn recv_error(&mut self, leg: LegId, error: io::Error) {
        self.io.recv_errors += 1;
        if self.io.recv_errors.is_power_of_two() {
            tracing::warn!(?leg, %error, count = self.io.recv_errors, "relay receive failed");
        }
    }

    /// Takes packets from the endpoint's sender; whether it stopped on the batch limit.
    fn drain_endpoint(&mut self, cx: &mut Context<'_>) -> bool {
        for _ in 0..BATCH {
            let polled = match &mut self.endpoint {
                Some(side) if !side.closed => side.link.poll_from_app(cx),
                _ => return false,
            };
            match polled {
                Poll::Ready(Some(packet)) => self.on_datagram(LegId::B, IN_PROCESS_ADDR, packet),
                Poll::Ready(None) => {
                    if let Some(side) = &mut self.endpoint {
                        side.closed = true;
                    }
                    return false;
                }
                Poll::Pending => return false,
            }
        }
        true
    }

    fn on_datagram(&mut self, leg: LegId, source: std::net::SocketAddr, datagram: Bytes) {
        self.relay
            .handle_packet(Instant::now(), leg, source, datagram);
        while let Some(transmit) = self.relay.poll_transmit() {
            self.transmit(transmit);
        }
    }

    fn transmit(&mut self, t: Transmit) {
        offer_tap(self.tap.as_ref(), &t, &mut self.io);
        match &self.legs[t.leg.index()] {
            LegIo::Socket(pair) => {
                let socket = if t.local_port == pair.local.rtp.port() {
                    &pair.rtp
                } else {
                    &pair.rtcp
                };
                if let Err(error) = socket.send_to(&t.payload, t.destination) {
                    self.io.send_errors += 1;
                    if self.io.send_errors.is_power_of_two() {
                        tracing::warn!(leg = ?t.leg, destination = %t.destination, %error,
                            count = self.io.send_errors, "relay sendto failed, packet dropped");
                    }
                }
            }
            LegIo::InProcess => deliver_in_process(self.endpoint.as_ref(), &t, &mut self.io),
        }
    }

    /// The core's next deadline or the next stats report, whichever is first.
    fn next_deadline(&self) -> Option<Instant> {
        match (self.relay.poll_timeout(), self.next_stats) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Arms the timer and handles what is due. `fired`: the timer woke the task (otherwise
    /// an armed timer still holds its waker and is not polled).
    fn poll_timers(&mut self, cx: &mut Context<'_>, mut fired: bool) {
        loop {
            let deadline = self.next_deadline();
            match (self.timer_at, deadline) {
                // Armed for now or earlier: keep it. Every RTP packet moves the timeout
                // later; re-arming for each would update the timer wheel per packet. An
                // early fire only re-arms (below).
                (Some(at), Some(d)) if at <= d => {
                    if !fired {
                        return;
                    }
                }
                (_, Some(d)) => {
                    self.timer.as_mut().reset(tokio::time::Instant::from_std(d));
                    self.timer_at = Some(d);
                }
                (_, None) => {
                    if fired && self.timer_at.is_some() && self.timer.as_mut().poll(cx).is_ready() {
                        self.timer_at = None;
                    }
                    return;
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return;
            }
            fired = true;
            let (Some(at), Some(deadline)) = (self.timer_at.take(), deadline) else {
                return;
            };
            if at < deadline {
                continue; // armed for a deadline that has moved on: arm for the new one
            }
            // The timer wheel has millisecond ticks: never pass the core a time before the
            // deadline it asked for, or it would ask again at once.
            let now = Instant::now().max(deadline);
            self.relay.handle_timeout(now);
            if let (Some(at), Some(interval)) = (self.next_stats, self.stats_interval) {
                if at <= now {
                    let stats = self.snapshot();
                    self.emit(ShellEvent::Stats(Box::new(stats)));
                    let next = at + interval;
                    self.next_stats = Some(if next <= now { now + interval } else { next });
                }
            }
        }
    }

    fn flush_events(&mut self) {
        flush_relay_events(&mut self.relay, &self.events, &mut self.io);
    }

    fn emit(&mut self, event: ShellEvent) {
        emit_event(&self.events, &mut self.io, event);
    }

    fn snapshot(&self) -> RelayStats {
        snapshot(&self.relay, &self.local, self.io)
    }
}

/// Logs and hands to the call's reader every event the core has (shared with the io_uring
/// relay thread).
pub(crate) fn flush_relay_events(
    relay: &mut Relay,
    events: &mpsc::Sender<Box<ShellEvent>>,
    io: &mut IoStats,
) {
    while let Some(event) = relay.poll_event() {
        match event {
            RelayEvent::Dropped { .. } => tracing::debug!(?event, "relay drop"),
            RelayEvent::RtpTimeout { .. } | RelayEvent::LatchReset { .. } => {
                tracing::info!(?event, "relay")
            }
            _ => tracing::debug!(?event, "relay"),
        }
        emit_event(events, io, ShellEvent::Relay(event));
    }
}

/// Hands `event` to the call's reader; one it has no room for is counted
/// ([`IoStats::events_lost`]) and, at 1, 2, 4 … lost, logged.
pub(crate) fn emit_event(
    events: &mpsc::Sender<Box<ShellEvent>>,
    io: &mut IoStats,
    event: ShellEvent,
) {
    if events.try_send(Box::new(event)).is_err() {
        io.events_lost += 1;
        if io.events_lost.is_power_of_two() {
            tracing::debug!(count = io.events_lost, "relay event reader lagging");
        }
    }
}

/// Both legs' counters, latches and per-SSRC statistics now (shared with the io_uring
/// relay thread).
pub(crate) fn snapshot(relay: &Relay, local: &[Option<LegAddrs>; 2], io: IoStats) -> RelayStats {
    let report = |leg: LegId| LegReport {
        leg,
        local: local[leg.index()],
        latched: relay.latched(leg),
        remote: relay.leg_config(leg).remote,
        counters: *relay.stats(leg),
        streams: relay.streams(leg).iter().map(|s| s.snapshot()).collect(),
    };
    RelayStats {
        legs: [report(LegId::A), report(LegId::B)],
        io,
        at: Instant::now(),
    }
}

/// `leg`'s socket for `kind`; `None` for an in-process (or closed) leg.
fn leg_socket(legs: &[LegIo; 2], leg: LegId, kind: PacketKind) -> Option<&RelaySocket> {
    match (&legs[leg.index()], kind) {
        (LegIo::Socket(pair), PacketKind::Rtp) => Some(&pair.rtp),
        (LegIo::Socket(pair), PacketKind::Rtcp) => Some(&pair.rtcp),
        (LegIo::InProcess, _) => None,
    }
}

/// A transmit as the in-process side sees it (the core parsed RTP already; parsing again
/// only builds the view).
/// A copy of `t` for the call's tap, if it has one; a full or gone tap reader drops the copy
/// (counted, logged at 1, 2, 4 …). Both shells.
pub(crate) fn offer_tap(tap: Option<&mpsc::Sender<TappedPacket>>, t: &Transmit, io: &mut IoStats) {
    let (Some(tap), Some(packet)) = (tap, media_packet(t)) else {
        return;
    };
    let tapped = TappedPacket {
        from: t.leg.other(),
        packet,
    };
    if tap.try_send(tapped).is_err() {
        overflow(io, "tap");
    }
}

/// `t` to an endpoint call's in-process side: its RTP sink or its queue; a full or gone
/// reader drops it (counted, logged). Both shells.
pub(crate) fn deliver_in_process(endpoint: Option<&EndpointSide>, t: &Transmit, io: &mut IoStats) {
    let delivered = match (endpoint, media_packet(t)) {
        (Some(side), Some(packet)) => side.link.push_to_app(packet),
        _ => false,
    };
    if !delivered {
        overflow(io, "endpoint");
    }
}

fn overflow(io: &mut IoStats, what: &'static str) {
    io.endpoint_overflow += 1;
    if io.endpoint_overflow.is_power_of_two() {
        tracing::warn!(
            what,
            count = io.endpoint_overflow,
            "in-process reader full or gone, packet dropped"
        );
    }
}

pub(crate) fn media_packet(t: &Transmit) -> Option<MediaPacket> {
    match t.kind {
        PacketKind::Rtp => RtpPacket::parse(t.payload.clone())
            .ok()
            .map(MediaPacket::Rtp),
        PacketKind::Rtcp => Some(MediaPacket::Rtcp(t.payload.clone())),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{spawn_relay, LegSetup, PortPool, RelayConfig, SharedPortPool, ShellConfig};
    use super::*;

    /// The timer is armed lazily (a later deadline does not re-arm it): with RTP flowing on
    /// leg A (its timeout moving later with every packet), periodic stats still come at their
    /// interval, and silent leg B still times out once, on time.
    #[tokio::test]
    async fn stats_and_timeout_fire_while_rtp_moves_the_deadline() {
        let pool = SharedPortPool::new(PortPool::new(22_900..=22_903).unwrap());
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = ShellConfig {
            bind_ip: [127, 0, 0, 1].into(),
            stats_interval: Some(Duration::from_millis(40)),
            relay: RelayConfig {
                rtp_timeout: Some(Duration::from_millis(150)),
                ..RelayConfig::default()
            },
            ..ShellConfig::default()
        };
        let a = LegSetup::new(RemoteMedia::new(peer.local_addr().unwrap()));
        let b = LegSetup::new(RemoteMedia::new(sink.local_addr().unwrap()));
        let (relay, mut events) = spawn_relay(&pool, config, a, b).unwrap();
        let to = relay.local(LegId::A).unwrap().rtp;
        let start = Instant::now();
        let mut packet = vec![0u8; 172];
        packet[0] = 0x80;
        for seq in 0..60u16 {
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            peer.send_to(&packet, to).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = start.elapsed();
        let (mut stats, mut timeouts) = (0, Vec::new());
        while let Some(event) = events.try_recv() {
            match event {
                ShellEvent::Stats(_) => stats += 1,
                ShellEvent::Relay(RelayEvent::RtpTimeout { leg, silent_for }) => {
                    timeouts.push((leg, silent_for))
                }
                _ => {}
            }
        }
        let expected = (elapsed.as_millis() / 40) as usize;
        // Loose below (a loaded machine delays timers), exact enough to fail if they stopped.
        assert!(
            stats * 2 >= expected && stats <= expected + 1,
            "{stats} stats in {elapsed:?}"
        );
        assert_eq!(timeouts.len(), 1, "{timeouts:?}");
        assert_eq!(timeouts[0].0, LegId::B);
        assert!(timeouts[0].1 >= Duration::from_millis(150));
        let final_stats = relay.close().await.unwrap();
        assert_eq!(final_stats.leg(LegId::A).counters.packets_in, 60);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    fn future_size<A, Fut, F: FnOnce(A) -> Fut>(_: &F) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// The relay task's future holds the driver once: as an `async fn`, `run` held it twice
    /// (2,960 bytes for a 1,472-byte driver in a release build), resident for every call.
    #[test]
    fn the_task_future_holds_the_driver_once() {
        let driver = std::mem::size_of::<Driver>();
        let future = future_size(&Driver::run);
        assert!(
            future < driver + 256,
            "run future {future} bytes, driver {driver}"
        );
    }
}
