//! The in-process side of a call whose media freya terminates ([`spawn_endpoint`]): channels
//! of RTP packets between the relay task and the code that plays the second peer.
//!
//! [`spawn_endpoint`]: super::spawn_endpoint

use bytes::Bytes;
use tokio::sync::mpsc;

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
/// Both directions are bounded channels. The relay never waits for the caller: a packet it
/// cannot queue is dropped and counted in
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
/// let pool = SharedPortPool::new(PortPool::new(41_200..=41_299)?);
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
    rx: mpsc::Receiver<MediaPacket>,
    tx: EndpointSender,
}

impl MediaEndpoint {
    pub(crate) fn new(
        rx: mpsc::Receiver<MediaPacket>,
        tx: mpsc::Sender<Bytes>,
        capacity: usize,
    ) -> Self {
        MediaEndpoint {
            rx,
            tx: EndpointSender { tx, capacity },
        }
    }

    /// The next packet from leg A's peer; `None` once the relay has ended.
    pub async fn recv(&mut self) -> Option<MediaPacket> {
        self.rx.recv().await
    }

    /// The next packet if one is waiting.
    pub fn try_recv(&mut self) -> Option<MediaPacket> {
        self.rx.try_recv().ok()
    }

    /// A sender of packets to leg A's peer (cheap to clone).
    pub fn sender(&self) -> EndpointSender {
        self.tx.clone()
    }

    /// The receiving half alone, for a task that only reads, and the sender.
    pub fn split(self) -> (mpsc::Receiver<MediaPacket>, EndpointSender) {
        (self.rx, self.tx)
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
#[derive(Debug, Clone)]
pub struct EndpointSender {
    tx: mpsc::Sender<Bytes>,
    capacity: usize,
}

impl EndpointSender {
    /// Queues `packet` without waiting.
    ///
    /// # Errors
    /// [`ShellError::EndpointFull`] when `capacity` packets are already waiting (the relay
    /// task is behind); [`ShellError::Closed`] when the relay has ended.
    pub fn try_send(&self, packet: Bytes) -> Result<(), ShellError> {
        self.tx.try_send(packet).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ShellError::EndpointFull {
                capacity: self.capacity,
            },
            mpsc::error::TrySendError::Closed(_) => ShellError::Closed,
        })
    }

    /// Queues `packet`, waiting for room.
    ///
    /// # Errors
    /// [`ShellError::Closed`] when the relay has ended.
    pub async fn send(&self, packet: Bytes) -> Result<(), ShellError> {
        self.tx.send(packet).await.map_err(|_| ShellError::Closed)
    }
}
