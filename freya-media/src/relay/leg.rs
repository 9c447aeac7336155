//! One side of a relayed call: what its peer signaled in SDP, how freya sends to it, and
//! its counters.

use std::net::SocketAddr;

use super::ports::PortPair;

/// Which leg of a [`Relay`](super::Relay): by convention A is the carrier side, B the other.
///
/// ```
/// use freya_media::relay::LegId;
///
/// assert_eq!(LegId::A.other(), LegId::B);
/// assert_eq!(LegId::B.other(), LegId::A);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LegId {
    /// The first leg.
    A,
    /// The second leg.
    B,
}

impl LegId {
    /// The leg media received on this one is forwarded to.
    pub fn other(self) -> LegId {
        match self {
            LegId::A => LegId::B,
            LegId::B => LegId::A,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            LegId::A => 0,
            LegId::B => 1,
        }
    }
}

/// The media direction the peer of a leg signaled in its SDP (RFC 3264 §5.1), from the
/// peer's point of view: `SendOnly` means the peer sends and does not want to receive (it put
/// the call on hold).
///
/// ```
/// use freya_media::relay::Direction;
///
/// assert!(Direction::SendOnly.peer_sends() && !Direction::SendOnly.peer_receives());
/// assert!(!Direction::RecvOnly.peer_sends() && Direction::RecvOnly.peer_receives());
/// assert_eq!(Direction::default(), Direction::SendRecv);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default when SDP names none).
    #[default]
    SendRecv,
    /// `a=sendonly`: the peer sends, freya must not send to it (hold).
    SendOnly,
    /// `a=recvonly`: the peer only receives; packets from it are dropped.
    RecvOnly,
    /// `a=inactive`: neither way.
    Inactive,
}

impl Direction {
    /// Whether the peer may send media to freya.
    pub fn peer_sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether freya may send media to the peer.
    pub fn peer_receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// What the peer of a leg signaled in its SDP: media address, RTCP address, rtcp-mux and
/// direction. Given at creation and again on every re-INVITE
/// ([`Relay::update_remote`](super::Relay::update_remote)).
///
/// ```
/// use freya_media::relay::{Direction, RemoteMedia};
///
/// let remote = RemoteMedia::new("198.51.100.7:4000".parse()?);
/// assert_eq!(remote.rtcp_destination(), Some("198.51.100.7:4001".parse()?));
/// let held = RemoteMedia { direction: Direction::SendOnly, ..remote };
/// assert!(held.is_hold());
/// assert!(RemoteMedia::new("0.0.0.0:4000".parse()?).is_hold()); // RFC 2543 hold
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RemoteMedia {
    /// The RTP address (`c=` and `m=` port); `None` before the peer's SDP is known. An
    /// unspecified IP (`0.0.0.0`, `::`) means hold; port 0 means the stream is disabled.
    pub addr: Option<SocketAddr>,
    /// An explicit RTCP address (`a=rtcp`, RFC 3605); otherwise RTCP goes to the RTP port + 1,
    /// or to the RTP address with rtcp-mux.
    pub rtcp: Option<SocketAddr>,
    /// Whether RTP and RTCP share the RTP port (`a=rtcp-mux`, RFC 5761).
    pub rtcp_mux: bool,
    /// The peer's media direction.
    pub direction: Direction,
}

impl RemoteMedia {
    /// A sendrecv peer at `addr`, without rtcp-mux.
    pub fn new(addr: SocketAddr) -> Self {
        RemoteMedia {
            addr: Some(addr),
            ..RemoteMedia::default()
        }
    }

    /// Whether the peer put the call on hold: it does not want media (sendonly, inactive)
    /// or its address is unspecified.
    pub fn is_hold(&self) -> bool {
        !self.direction.peer_receives() || self.addr.is_some_and(|a| a.ip().is_unspecified())
    }

    /// The signaled RTP destination, if any usable one (not unspecified, port not 0).
    pub fn rtp_destination(&self) -> Option<SocketAddr> {
        self.addr.filter(|a| usable(*a))
    }

    /// The signaled RTCP destination: `a=rtcp`, else the RTP address with rtcp-mux, else the
    /// RTP port + 1.
    pub fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.rtcp_mux {
            return self.rtp_destination();
        }
        if let Some(rtcp) = self.rtcp {
            return Some(rtcp).filter(|a| usable(*a));
        }
        let rtp = self.rtp_destination()?;
        let port = rtp.port().checked_add(1)?;
        Some(SocketAddr::new(rtp.ip(), port))
    }
}

fn usable(addr: SocketAddr) -> bool {
    !addr.ip().is_unspecified() && addr.port() != 0
}

/// How one leg of a [`Relay`](super::Relay) is set up.
///
/// ```
/// use freya_media::relay::{LegConfig, PortPair, RemoteMedia};
///
/// let ports = PortPair { rtp: 10_000, rtcp: 10_001 }; // from PortPool::allocate
/// let leg = LegConfig::new(ports, RemoteMedia::new("198.51.100.7:4000".parse()?));
/// assert!(leg.rtp_symmetric);
/// assert_eq!(leg.clock_rate, 8000);
/// let asymmetric = LegConfig { rtp_symmetric: false, ..leg };
/// assert!(!asymmetric.rtp_symmetric);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    /// The local RTP/RTCP ports of this leg (the shell's sockets), from the port pool.
    pub ports: PortPair,
    /// What the peer signaled.
    pub remote: RemoteMedia,
    /// Asterisk's `rtp_symmetric` (default yes): send to where the peer's packets come from
    /// once latched, rather than to the signaled address.
    pub rtp_symmetric: bool,
    /// The media clock rate in Hz for the per-SSRC jitter statistics (8000 for G.711).
    pub clock_rate: u32,
}

impl LegConfig {
    /// A symmetric leg on `ports` towards `remote`, with an 8 kHz media clock.
    pub fn new(ports: PortPair, remote: RemoteMedia) -> Self {
        LegConfig {
            ports,
            remote,
            rtp_symmetric: true,
            clock_rate: 8000,
        }
    }
}

/// Why the relay did not forward a packet. Each reason has a counter in [`DropCounts`].
///
/// ```
/// use freya_media::relay::DropReason;
///
/// assert_eq!(DropReason::ForeignSource.to_string(), "foreign source (leg latched elsewhere)");
/// assert_eq!(DropReason::ALL.len(), 6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DropReason {
    /// Neither RTP nor RTCP, or an RTP packet that does not parse.
    #[error("malformed (not RTP or RTCP)")]
    Malformed,
    /// From a source the leg has not latched yet and that is not the signaled IP (yet):
    /// a NAT candidate still short of `nat_packets`, or RTCP before the latch.
    #[error("unverified source (not signaled, not latched yet)")]
    Unverified,
    /// From a source other than the latched one (RTP bleed).
    #[error("foreign source (leg latched elsewhere)")]
    ForeignSource,
    /// The peer's direction says it does not send (recvonly, inactive).
    #[error("peer direction forbids sending")]
    DirectionForbids,
    /// Accepted, but the other leg's peer is on hold: not sent to it.
    #[error("destination leg on hold")]
    PeerOnHold,
    /// Accepted, but the other leg has no address to send to (nothing signaled or latched).
    #[error("destination leg has no address")]
    NoDestination,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 6] = [
        DropReason::Malformed,
        DropReason::Unverified,
        DropReason::ForeignSource,
        DropReason::DirectionForbids,
        DropReason::PeerOnHold,
        DropReason::NoDestination,
    ];

    fn index(self) -> usize {
        match self {
            DropReason::Malformed => 0,
            DropReason::Unverified => 1,
            DropReason::ForeignSource => 2,
            DropReason::DirectionForbids => 3,
            DropReason::PeerOnHold => 4,
            DropReason::NoDestination => 5,
        }
    }
}

/// Dropped packets of one leg, per [`DropReason`]. The inbound reasons count on the leg the
/// packet arrived on; [`DropReason::PeerOnHold`] and [`DropReason::NoDestination`] count on
/// the leg it would have been sent from.
///
/// ```
/// use freya_media::relay::{DropCounts, DropReason};
///
/// let counts = DropCounts::default();
/// assert_eq!(counts.get(DropReason::Malformed), 0);
/// assert_eq!(counts.total(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounts([u64; 6]);

impl DropCounts {
    /// Packets dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Packets dropped for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn count(&mut self, reason: DropReason) {
        let slot = &mut self.0[reason.index()];
        *slot = slot.saturating_add(1);
    }
}

/// The counters of one leg. "In" counts packets accepted from the leg's peer (RTP and RTCP),
/// "out" packets handed to the caller to send to it; refused ones count in `dropped`.
///
/// ```
/// use freya_media::relay::LegStats;
///
/// let stats = LegStats::default();
/// assert_eq!((stats.packets_in, stats.packets_out, stats.dropped.total()), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegStats {
    /// Packets accepted from the peer (RTP and RTCP).
    pub packets_in: u64,
    /// Bytes (whole datagrams) accepted from the peer.
    pub bytes_in: u64,
    /// Of `packets_in`, RTCP packets.
    pub rtcp_in: u64,
    /// Packets queued for sending to the peer.
    pub packets_out: u64,
    /// Bytes (whole datagrams) queued for sending to the peer.
    pub bytes_out: u64,
    /// Of `packets_out`, RTCP packets.
    pub rtcp_out: u64,
    /// Dropped packets per reason.
    pub dropped: DropCounts,
}
