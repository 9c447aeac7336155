//! The sans-IO relay of one call: packets in with their source and arrival time, packets out
//! with their destination, events and the next deadline drained by the caller.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::latch::{Latch, LatchDecision, LatchPolicy, LatchReason};
use super::leg::{DropReason, LegConfig, LegId, LegStats, RemoteMedia};
use crate::rtp::rtcp::{classify, MuxKind, StreamStats};
use crate::rtp::RtpPacket;

/// SSRCs whose statistics a leg keeps; the least recently heard is forgotten.
const MAX_STREAMS: usize = 8;
/// Distinct (leg, source, reason) drops reported as events; later ones are only counted.
const MAX_DROP_EVENTS: usize = 64;

/// Settings of a [`Relay`] shared by both legs.
///
/// ```
/// use std::time::Duration;
/// use freya_media::relay::RelayConfig;
///
/// let config = RelayConfig::default();
/// assert_eq!(config.rtp_timeout, Some(Duration::from_secs(30)));
/// assert_eq!(config.latch.nat_packets, 5);
/// let no_timeout = RelayConfig { rtp_timeout: None, ..config };
/// assert!(no_timeout.rtp_timeout.is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Latching and bleed protection.
    pub latch: LatchPolicy,
    /// No RTP accepted on a leg for this long raises [`RelayEvent::RtpTimeout`] (Asterisk's
    /// `rtp_timeout`); `None` disables it. Not armed while the call is on hold. Default 30 s.
    pub rtp_timeout: Option<Duration>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            latch: LatchPolicy::default(),
            rtp_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// A relay setting that was refused, naming it and its value.
///
/// ```
/// use std::time::Duration;
/// use freya_media::relay::{LegConfig, PortPair, Relay, RelayConfig, RelayError, RemoteMedia};
///
/// let leg = LegConfig::new(PortPair { rtp: 10_000, rtcp: 10_001 }, RemoteMedia::default());
/// let config = RelayConfig { rtp_timeout: Some(Duration::ZERO), ..RelayConfig::default() };
/// let err = Relay::new(std::time::Instant::now(), config, leg, leg).unwrap_err();
/// assert!(matches!(err, RelayError::InvalidConfig { field: "rtp_timeout", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// A configuration value is unusable.
    #[error("relay setting {field} = {value} is invalid: {reason}")]
    InvalidConfig {
        /// The setting's name.
        field: &'static str,
        /// Its value, as text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// RTP or RTCP (told apart by the RFC 5761 §4 rule).
///
/// ```
/// use freya_media::relay::PacketKind;
///
/// assert_ne!(PacketKind::Rtp, PacketKind::Rtcp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// An RTP packet.
    Rtp,
    /// An RTCP (compound) packet.
    Rtcp,
}

/// A datagram for the caller to send: from `leg`'s socket on `local_port` to `destination`.
/// `payload` is the received buffer itself, not a copy.
///
/// ```
/// use bytes::Bytes;
/// use freya_media::relay::{LegId, PacketKind, Transmit};
///
/// let t = Transmit {
///     leg: LegId::B,
///     local_port: 10_002,
///     destination: "198.51.100.7:4000".parse()?,
///     kind: PacketKind::Rtp,
///     payload: Bytes::from_static(b"\x80\x00"),
/// };
/// assert_eq!(t.leg, LegId::B);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The leg whose socket sends it.
    pub leg: LegId,
    /// That leg's local port to send from (its RTP port, or its RTCP port for RTCP without
    /// rtcp-mux).
    pub local_port: u16,
    /// Where to send it.
    pub destination: SocketAddr,
    /// RTP or RTCP.
    pub kind: PacketKind,
    /// The datagram.
    pub payload: Bytes,
}

/// Something the caller should know about, drained with [`Relay::poll_event`].
///
/// ```
/// use freya_media::relay::{LegId, RelayEvent};
///
/// let e = RelayEvent::SsrcChanged { leg: LegId::A, old: 1, new: 2 };
/// assert!(matches!(e, RelayEvent::SsrcChanged { leg: LegId::A, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEvent {
    /// The leg latched onto its peer's source.
    Latched {
        /// The leg.
        leg: LegId,
        /// The source latched.
        source: SocketAddr,
        /// The SSRC it sends.
        ssrc: u32,
        /// Why it was trusted.
        reason: LatchReason,
    },
    /// The leg moved to a new source that kept the SSRC after the old one went quiet.
    Relatched {
        /// The leg.
        leg: LegId,
        /// The previous source.
        from: SocketAddr,
        /// The new source.
        to: SocketAddr,
        /// The SSRC both sent.
        ssrc: u32,
    },
    /// The leg learned where its peer sends RTCP from (RTCP on its own port); RTCP to the
    /// peer goes there from now on.
    RtcpLatched {
        /// The leg.
        leg: LegId,
        /// The RTCP source.
        source: SocketAddr,
    },
    /// A re-INVITE changed the peer's address: the latch was dropped.
    LatchReset {
        /// The leg.
        leg: LegId,
        /// The source it was latched onto.
        previous: SocketAddr,
    },
    /// The latched source started a new SSRC (the latch follows it).
    SsrcChanged {
        /// The leg.
        leg: LegId,
        /// The previous SSRC.
        old: u32,
        /// The new SSRC.
        new: u32,
    },
    /// A packet was dropped. Reported once per leg, source and reason (up to 64 per relay);
    /// every drop is counted in [`LegStats::dropped`].
    Dropped {
        /// The leg the packet arrived on (or, for the outbound reasons, would have left by).
        leg: LegId,
        /// The packet's source.
        source: SocketAddr,
        /// Why.
        reason: DropReason,
    },
    /// No RTP accepted on the leg for the configured `rtp_timeout` (for hang-up upstream).
    /// Raised once; armed again by the next RTP packet or a resume from hold.
    RtpTimeout {
        /// The silent leg.
        leg: LegId,
        /// How long it has been silent.
        silent_for: Duration,
    },
}

/// What [`Relay::handle_packet`] did with a packet.
///
/// ```
/// use freya_media::relay::{DropReason, PacketOutcome};
///
/// assert_ne!(PacketOutcome::Forwarded, PacketOutcome::Dropped(DropReason::Malformed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketOutcome {
    /// Queued for the other leg ([`Relay::poll_transmit`]).
    Forwarded,
    /// Not forwarded, and counted.
    Dropped(DropReason),
}

#[derive(Debug)]
struct LegState {
    config: LegConfig,
    /// The last specified address the peer signaled: a re-INVITE to another one resets the
    /// latch, one to `0.0.0.0` (hold) or none does not.
    last_signaled: Option<SocketAddr>,
    latch: Latch,
    rtcp_source: Option<SocketAddr>,
    stats: LegStats,
    streams: Vec<StreamStats>,
    last_rtp: Instant,
    timed_out: bool,
}

impl LegState {
    fn new(now: Instant, config: LegConfig, policy: LatchPolicy) -> Self {
        LegState {
            last_signaled: config.remote.rtp_destination(),
            config,
            latch: Latch::new(policy),
            rtcp_source: None,
            stats: LegStats::default(),
            streams: Vec::new(),
            last_rtp: now,
            timed_out: false,
        }
    }

    fn destination(&self, kind: PacketKind) -> Option<(u16, SocketAddr)> {
        let remote = &self.config.remote;
        let ports = self.config.ports;
        let symmetric = self.config.rtp_symmetric;
        match kind {
            PacketKind::Rtp => {
                let latched = self.latch.addr().filter(|_| symmetric);
                Some((ports.rtp, latched.or_else(|| remote.rtp_destination())?))
            }
            PacketKind::Rtcp if remote.rtcp_mux => {
                let latched = self.latch.addr().filter(|_| symmetric);
                Some((ports.rtp, latched.or_else(|| remote.rtcp_destination())?))
            }
            PacketKind::Rtcp => {
                let learned = self.rtcp_source.filter(|_| symmetric);
                Some((ports.rtcp, learned.or_else(|| remote.rtcp_destination())?))
            }
        }
    }

    fn record_stream(&mut self, now: Instant, packet: &RtpPacket) {
        let ssrc = packet.ssrc();
        if let Some(stream) = self.streams.iter_mut().find(|s| s.ssrc() == ssrc) {
            stream.record_packet(now, packet);
            return;
        }
        if self.streams.len() >= MAX_STREAMS {
            if let Some(stalest) = self
                .streams
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.last_packet())
                .map(|(i, _)| i)
            {
                self.streams.swap_remove(stalest);
            }
        }
        let mut stream = StreamStats::new(ssrc, self.config.clock_rate);
        stream.record_packet(now, packet);
        // A leg almost always carries one SSRC: grow one slot at a time rather than to
        // `Vec`'s first capacity of 4 (4 × `StreamStats` is ~1.2 KiB per leg, two legs per
        // call; BENCHMARKS.md, memory per call).
        self.streams.reserve_exact(1);
        self.streams.push(stream);
    }
}

/// The symmetric RTP relay of one call (sans-IO): two legs, A and B; media accepted on one
/// is forwarded, unchanged and uncopied, to the other.
///
/// Each leg latches onto its peer's source with RTP-bleed protection (see [`LatchPolicy`]);
/// packets from anywhere else are dropped and counted. Hold stops sending to the held peer
/// without tearing the leg down. Feed it with [`handle_packet`](Relay::handle_packet) and
/// [`handle_timeout`](Relay::handle_timeout); drain [`poll_transmit`](Relay::poll_transmit),
/// [`poll_event`](Relay::poll_event) and [`poll_timeout`](Relay::poll_timeout) after each.
///
/// ```
/// use std::time::Instant;
/// use bytes::Bytes;
/// use freya_media::relay::{LegConfig, LegId, PortPair, Relay, RelayConfig, RemoteMedia};
///
/// let carrier = "198.51.100.7:4000".parse()?;
/// let agent = "192.0.2.20:6000".parse()?;
/// let a = LegConfig::new(PortPair { rtp: 10_000, rtcp: 10_001 }, RemoteMedia::new(carrier));
/// let b = LegConfig::new(PortPair { rtp: 10_002, rtcp: 10_003 }, RemoteMedia::new(agent));
/// let now = Instant::now();
/// let mut relay = Relay::new(now, RelayConfig::default(), a, b)?;
///
/// // RTP (PCMU, SSRC 7) from the carrier's signaled address: latched at once, forwarded.
/// let rtp = Bytes::from_static(&[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 0xFF]);
/// relay.handle_packet(now, LegId::A, carrier, rtp.clone());
/// let out = relay.poll_transmit().expect("forwarded");
/// assert_eq!((out.leg, out.local_port, out.destination), (LegId::B, 10_002, agent));
/// assert_eq!(out.payload.as_ptr(), rtp.as_ptr()); // not copied
/// assert_eq!(relay.latched(LegId::A), Some(carrier));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    legs: [LegState; 2],
    transmits: VecDeque<Transmit>,
    events: VecDeque<RelayEvent>,
    reported_drops: Vec<(LegId, SocketAddr, DropReason)>,
}

impl Relay {
    /// A relay between legs `a` and `b`, created at `now` (the RTP timeout counts from here).
    ///
    /// Refuses a zero `rtp_timeout` and two legs on the same local port.
    pub fn new(
        now: Instant,
        config: RelayConfig,
        a: LegConfig,
        b: LegConfig,
    ) -> Result<Self, RelayError> {
        if config.rtp_timeout == Some(Duration::ZERO) {
            return Err(RelayError::InvalidConfig {
                field: "rtp_timeout",
                value: "0s".to_owned(),
                reason: "must be positive (use None to disable it)",
            });
        }
        if a.ports.rtp == b.ports.rtp && a.ports.rtp != 0 {
            return Err(RelayError::InvalidConfig {
                field: "ports",
                value: a.ports.rtp.to_string(),
                reason: "both legs use the same local RTP port",
            });
        }
        Ok(Relay {
            config,
            legs: [
                LegState::new(now, a, config.latch),
                LegState::new(now, b, config.latch),
            ],
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            reported_drops: Vec::new(),
        })
    }

    /// A datagram received at `now` on `leg`'s socket from `source`. RTP and RTCP are told
    /// apart by the rtcp-mux rule, so RTCP may arrive on either local port.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        leg: LegId,
        source: SocketAddr,
        bytes: Bytes,
    ) -> PacketOutcome {
        match self.accept(now, leg, source, &bytes) {
            Ok(kind) => self.forward(leg, source, kind, bytes),
            Err(reason) => {
                self.drop_packet(leg, source, reason);
                PacketOutcome::Dropped(reason)
            }
        }
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Relay::handle_timeout) must be called next: the earliest RTP
    /// timeout still armed. `None` while on hold, when disabled, or when both legs timed out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timeout = self.timeout_armed()?;
        self.legs
            .iter()
            .filter(|l| !l.timed_out)
            .filter_map(|l| l.last_rtp.checked_add(timeout))
            .min()
    }

    /// Raises [`RelayEvent::RtpTimeout`] for every leg silent for `rtp_timeout` at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(timeout) = self.timeout_armed() else {
            return;
        };
        for id in [LegId::A, LegId::B] {
            let leg = &mut self.legs[id.index()];
            let silent_for = now.saturating_duration_since(leg.last_rtp);
            if !leg.timed_out && silent_for >= timeout {
                leg.timed_out = true;
                self.events.push_back(RelayEvent::RtpTimeout {
                    leg: id,
                    silent_for,
                });
            }
        }
    }

    /// Applies a re-INVITE of `leg`'s peer at `now`. The latch survives when the address is
    /// unchanged, or when it becomes unspecified (hold) or absent; another address drops it
    /// ([`RelayEvent::LatchReset`]). Resuming from hold restarts the RTP timeout.
    pub fn update_remote(&mut self, now: Instant, leg: LegId, remote: RemoteMedia) {
        let was_held = self.on_hold();
        let state = &mut self.legs[leg.index()];
        if let Some(new) = remote.rtp_destination() {
            if state.last_signaled.is_some_and(|old| old != new) {
                state.rtcp_source = None;
                if let Some(previous) = state.latch.reset() {
                    self.events
                        .push_back(RelayEvent::LatchReset { leg, previous });
                }
            }
            state.last_signaled = Some(new);
        }
        state.config.remote = remote;
        if was_held && !self.on_hold() {
            for state in &mut self.legs {
                state.last_rtp = now;
                state.timed_out = false;
            }
        }
    }

    /// Whether either peer has the call on hold (the RTP timeout is then disarmed).
    pub fn on_hold(&self) -> bool {
        self.legs.iter().any(|l| {
            let remote = &l.config.remote;
            remote.is_hold() || !remote.direction.peer_sends()
        })
    }

    /// The source `leg` is latched onto, if any.
    pub fn latched(&self, leg: LegId) -> Option<SocketAddr> {
        self.legs[leg.index()].latch.addr()
    }

    /// The SSRC `leg`'s latch follows, if latched.
    pub fn latched_ssrc(&self, leg: LegId) -> Option<u32> {
        self.legs[leg.index()].latch.ssrc()
    }

    /// `leg`'s configuration, with the peer's latest signaled media.
    pub fn leg_config(&self, leg: LegId) -> &LegConfig {
        &self.legs[leg.index()].config
    }

    /// `leg`'s counters.
    pub fn stats(&self, leg: LegId) -> &LegStats {
        &self.legs[leg.index()].stats
    }

    /// Reception statistics of the RTP streams (per SSRC, up to 8) forwarded from `leg`'s
    /// peer.
    pub fn streams(&self, leg: LegId) -> &[StreamStats] {
        &self.legs[leg.index()].streams
    }

    fn timeout_armed(&self) -> Option<Duration> {
        self.config.rtp_timeout.filter(|_| !self.on_hold())
    }

    /// Classifies, checks direction and source, records; the packet's kind if accepted.
    fn accept(
        &mut self,
        now: Instant,
        leg: LegId,
        source: SocketAddr,
        bytes: &Bytes,
    ) -> Result<PacketKind, DropReason> {
        if source.ip().is_unspecified() || source.port() == 0 {
            // Not an address anyone can be answered at: never latched, never a destination.
            return Err(DropReason::Unverified);
        }
        let kind = match classify(bytes) {
            MuxKind::Rtp => PacketKind::Rtp,
            MuxKind::Rtcp if bytes.len() >= 8 => PacketKind::Rtcp,
            _ => return Err(DropReason::Malformed),
        };
        let packet = match kind {
            PacketKind::Rtp => {
                Some(RtpPacket::parse(bytes.clone()).map_err(|_| DropReason::Malformed)?)
            }
            PacketKind::Rtcp => None,
        };
        let state = &mut self.legs[leg.index()];
        let remote = state.config.remote;
        if !remote.direction.peer_sends() {
            return Err(DropReason::DirectionForbids);
        }
        let signaled = state.last_signaled.map(|a| a.ip());
        match &packet {
            Some(packet) => {
                let ssrc = packet.ssrc();
                let decision = state
                    .latch
                    .on_rtp(now, source, ssrc, packet.sequence(), signaled);
                let event = match decision {
                    LatchDecision::Accept => None,
                    LatchDecision::Drop(reason) => return Err(reason),
                    LatchDecision::Latched(reason) => Some(RelayEvent::Latched {
                        leg,
                        source,
                        ssrc,
                        reason,
                    }),
                    LatchDecision::Relatched { from } => Some(RelayEvent::Relatched {
                        leg,
                        from,
                        to: source,
                        ssrc,
                    }),
                    LatchDecision::SsrcChanged { old } => Some(RelayEvent::SsrcChanged {
                        leg,
                        old,
                        new: ssrc,
                    }),
                };
                // RTCP learned from another IP than the (new) latch is not the peer's.
                if state.rtcp_source.is_some_and(|r| r.ip() != source.ip()) {
                    state.rtcp_source = None;
                }
                self.events.extend(event);
                state.last_rtp = now;
                state.timed_out = false;
                state.record_stream(now, packet);
            }
            None => {
                state
                    .latch
                    .accepts_rtcp(source, remote.rtcp_mux, signaled)?;
                if !remote.rtcp_mux && state.rtcp_source != Some(source) {
                    state.rtcp_source = Some(source);
                    self.events
                        .push_back(RelayEvent::RtcpLatched { leg, source });
                }
                state.stats.rtcp_in += 1;
            }
        }
        state.stats.packets_in += 1;
        state.stats.bytes_in += bytes.len() as u64;
        Ok(kind)
    }

    fn forward(
        &mut self,
        from: LegId,
        source: SocketAddr,
        kind: PacketKind,
        bytes: Bytes,
    ) -> PacketOutcome {
        let to = from.other();
        let state = &mut self.legs[to.index()];
        if state.config.remote.is_hold() {
            self.drop_packet(to, source, DropReason::PeerOnHold);
            return PacketOutcome::Dropped(DropReason::PeerOnHold);
        }
        let Some((local_port, destination)) = state.destination(kind) else {
            self.drop_packet(to, source, DropReason::NoDestination);
            return PacketOutcome::Dropped(DropReason::NoDestination);
        };
        state.stats.packets_out += 1;
        state.stats.bytes_out += bytes.len() as u64;
        if kind == PacketKind::Rtcp {
            state.stats.rtcp_out += 1;
        }
        self.transmits.push_back(Transmit {
            leg: to,
            local_port,
            destination,
            kind,
            payload: bytes,
        });
        PacketOutcome::Forwarded
    }

    fn drop_packet(&mut self, leg: LegId, source: SocketAddr, reason: DropReason) {
        self.legs[leg.index()].stats.dropped.count(reason);
        let key = (leg, source, reason);
        if self.reported_drops.len() < MAX_DROP_EVENTS && !self.reported_drops.contains(&key) {
            self.reported_drops.push(key);
            self.events.push_back(RelayEvent::Dropped {
                leg,
                source,
                reason,
            });
        }
    }
}
