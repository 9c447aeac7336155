//! The relay task's poll loop: datagrams from the sockets (and packets from a
//! [`MediaEndpoint`](super::MediaEndpoint)) into the [`Relay`] with their arrival `Instant`,
//! its transmits out, its deadline on one timer, its events onto a channel.
//!
//! A hand-written poll (`poll_fn`) rather than `tokio::select!`: each wake drains every ready
//! socket with non-blocking `recvfrom` until it would block, and polls only the readiness of
//! the others, without creating and dropping a future per socket per packet.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;

use super::endpoint::{MediaPacket, TappedPacket};
use super::shell::{
    IoStats, LegAddrs, LegReport, RelayStats, ShellConfig, ShellEvent, IN_PROCESS_ADDR,
};
use super::sockets::BoundPair;
use super::{LegId, PacketKind, Relay, RelayEvent, RemoteMedia, Transmit};
use crate::rtp::RtpPacket;

/// The largest datagram accepted, in bytes. RTP over UDP stays under the path MTU (about
/// 1500 bytes); a longer datagram is refused and counted ([`IoStats::oversize`]).
const MAX_DATAGRAM: usize = 4096;
/// The receive buffer: datagrams are cut from it as `Bytes`; once every one of them has been
/// sent and dropped, `reserve` reuses the same memory, so steady state allocates nothing.
const BUFFER: usize = 64 * 1024;
/// Packets taken from one socket per wake before the others get their turn (fairness between
/// the sockets of a call and the calls of a thread).
const BATCH: usize = 32;
/// The shortest stats interval honoured (a shorter one is raised to this).
const MIN_STATS_INTERVAL: Duration = Duration::from_millis(10);

/// What the [`RelayHandle`](super::RelayHandle) asks of the task.
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

/// The channels to and from a [`MediaEndpoint`](super::MediaEndpoint).
#[derive(Debug)]
pub(crate) struct EndpointSide {
    pub(crate) to_app: mpsc::Sender<MediaPacket>,
    pub(crate) from_app: mpsc::Receiver<Bytes>,
    /// Every sender is gone: stop polling `from_app`.
    pub(crate) closed: bool,
}

#[derive(Debug)]
pub(crate) struct Driver {
    relay: Relay,
    endpoint: Option<EndpointSide>,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<ShellEvent>,
    tap: Option<mpsc::Sender<TappedPacket>>,
    local: [Option<LegAddrs>; 2],
    buf: BytesMut,
    io: IoStats,
    timer: Pin<Box<Sleep>>,
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
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::Sender<ShellEvent>,
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
            buf: BytesMut::with_capacity(BUFFER),
            io: IoStats::default(),
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
    pub(crate) async fn run(mut self) -> RelayStats {
        std::future::poll_fn(|cx| self.poll_once(cx)).await;
        let stats = self.snapshot();
        self.legs = [LegIo::InProcess, LegIo::InProcess]; // sockets closed, ports released
        self.endpoint = None; // the endpoint's reader sees the end
        self.flush_events();
        self.emit(ShellEvent::Closed(Box::new(stats.clone())));
        tracing::debug!(?stats.io, "relay closed");
        stats
    }

    fn poll_once(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.commands.poll_recv(cx) {
                Poll::Ready(Some(Command::Close)) | Poll::Ready(None) => return Poll::Ready(()),
                Poll::Ready(Some(command)) => self.command(command),
                Poll::Pending => break,
            }
        }
        let mut more = false;
        for leg in [LegId::A, LegId::B] {
            more |= self.drain_socket(cx, leg, PacketKind::Rtp);
            more |= self.drain_socket(cx, leg, PacketKind::Rtcp);
        }
        more |= self.drain_endpoint(cx);
        self.poll_timers(cx);
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

    /// Receives from one socket until it would block or `BATCH` datagrams; whether it
    /// stopped on the batch limit (more may be waiting).
    fn drain_socket(&mut self, cx: &mut Context<'_>, leg: LegId, kind: PacketKind) -> bool {
        for _ in 0..BATCH {
            let LegIo::Socket(pair) = &self.legs[leg.index()] else {
                return false;
            };
            let socket = match kind {
                PacketKind::Rtp => &pair.rtp,
                PacketKind::Rtcp => &pair.rtcp,
            };
            self.buf.reserve(MAX_DATAGRAM + 1);
            let mut limited = (&mut self.buf).limit(MAX_DATAGRAM + 1);
            match socket.try_recv_buf_from(&mut limited) {
                Ok((len, source)) => {
                    let datagram = self.buf.split().freeze();
                    if len > MAX_DATAGRAM {
                        self.io.oversize += 1;
                        tracing::debug!(?leg, %source, "datagram over {MAX_DATAGRAM} bytes dropped");
                        continue;
                    }
                    self.on_datagram(leg, source, datagram);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Readiness cleared: ask to be woken when it is readable again.
                    match socket.poll_recv_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
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
            tracing::warn!(?leg, %error, count = self.io.recv_errors, "relay recvfrom failed");
        }
    }

    /// Takes packets from the endpoint's sender; whether it stopped on the batch limit.
    fn drain_endpoint(&mut self, cx: &mut Context<'_>) -> bool {
        for _ in 0..BATCH {
            let polled = match &mut self.endpoint {
                Some(side) if !side.closed => side.from_app.poll_recv(cx),
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
        if let Some(tap) = &self.tap {
            if let Some(packet) = media_packet(&t) {
                let tapped = TappedPacket {
                    from: t.leg.other(),
                    packet,
                };
                if tap.try_send(tapped).is_err() {
                    self.overflow("tap");
                }
            }
        }
        match &self.legs[t.leg.index()] {
            LegIo::Socket(pair) => {
                let socket = if t.local_port == pair.local.rtp.port() {
                    &pair.rtp
                } else {
                    &pair.rtcp
                };
                if let Err(error) = socket.try_send_to(&t.payload, t.destination) {
                    self.io.send_errors += 1;
                    if self.io.send_errors.is_power_of_two() {
                        tracing::warn!(leg = ?t.leg, destination = %t.destination, %error,
                            count = self.io.send_errors, "relay sendto failed, packet dropped");
                    }
                }
            }
            LegIo::InProcess => {
                let delivered = match (&self.endpoint, media_packet(&t)) {
                    (Some(side), Some(packet)) => side.to_app.try_send(packet).is_ok(),
                    _ => false,
                };
                if !delivered {
                    self.overflow("endpoint");
                }
            }
        }
    }

    fn overflow(&mut self, what: &'static str) {
        self.io.endpoint_overflow += 1;
        if self.io.endpoint_overflow.is_power_of_two() {
            tracing::warn!(
                what,
                count = self.io.endpoint_overflow,
                "in-process reader full or gone, packet dropped"
            );
        }
    }

    fn poll_timers(&mut self, cx: &mut Context<'_>) {
        loop {
            let deadline = match (self.relay.poll_timeout(), self.next_stats) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(d) => d,
                    None => return,
                },
            };
            if self.timer_at != Some(deadline) {
                self.timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(deadline));
                self.timer_at = Some(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return;
            }
            // The timer wheel has millisecond ticks: never pass the core a time before the
            // deadline it asked for, or it would ask again at once.
            let now = Instant::now().max(deadline);
            self.timer_at = None;
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
        while let Some(event) = self.relay.poll_event() {
            match event {
                RelayEvent::Dropped { .. } => tracing::debug!(?event, "relay drop"),
                RelayEvent::RtpTimeout { .. } | RelayEvent::LatchReset { .. } => {
                    tracing::info!(?event, "relay")
                }
                _ => tracing::debug!(?event, "relay"),
            }
            self.emit(ShellEvent::Relay(event));
        }
    }

    fn emit(&mut self, event: ShellEvent) {
        if self.events.try_send(event).is_err() {
            self.io.events_lost += 1;
            if self.io.events_lost.is_power_of_two() {
                tracing::debug!(count = self.io.events_lost, "relay event reader lagging");
            }
        }
    }

    fn snapshot(&self) -> RelayStats {
        let report = |leg: LegId| LegReport {
            leg,
            local: self.local[leg.index()],
            latched: self.relay.latched(leg),
            remote: self.relay.leg_config(leg).remote,
            counters: *self.relay.stats(leg),
            streams: self
                .relay
                .streams(leg)
                .iter()
                .map(|s| s.snapshot())
                .collect(),
        };
        RelayStats {
            legs: [report(LegId::A), report(LegId::B)],
            io: self.io,
            at: Instant::now(),
        }
    }
}

/// A transmit as the in-process side sees it (the core parsed RTP already; parsing again
/// only builds the view).
fn media_packet(t: &Transmit) -> Option<MediaPacket> {
    match t.kind {
        PacketKind::Rtp => RtpPacket::parse(t.payload.clone())
            .ok()
            .map(MediaPacket::Rtp),
        PacketKind::Rtcp => Some(MediaPacket::Rtcp(t.payload.clone())),
    }
}
