//! What the transport hands over and takes: connection ids, received messages, events,
//! destinations, send outcomes, and the stream seam ([`StreamIo`]).

use std::fmt;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::message::Message;
use crate::transaction::{Reliability, Remote};

use super::TransportKind;

#[allow(unused_imports)] // named in docs
use super::Transport;

/// Identifies one stream connection for its lifetime (never reused).
///
/// ```
/// use freya_sip::transport::ConnectionId;
/// assert_eq!(ConnectionId(7).to_string(), "conn#7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A message received, parsed and (for a request) stamped with `received`/`rport`.
///
/// ```
/// use freya_sip::message::parse;
/// use freya_sip::transport::{Incoming, TransportKind};
/// let m = parse(bytes::Bytes::from_static(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
///     From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n")).unwrap();
/// let inc = Incoming { message: m, source: "192.0.2.1:5060".parse().unwrap(), transport: TransportKind::Udp, connection: None };
/// assert_eq!(inc.remote(), freya_sip::transaction::Remote::udp(inc.source));
/// ```
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The message (a request's top Via stamped per §18.2.1 / RFC 3581).
    pub message: Message,
    /// Where it came from (an IPv4-mapped IPv6 source shown as IPv4).
    pub source: SocketAddr,
    /// The transport it came over.
    pub transport: TransportKind,
    /// The stream connection it came on (`None` for UDP).
    pub connection: Option<ConnectionId>,
}

impl Incoming {
    /// The peer as the transaction layer sees it.
    pub fn remote(&self) -> Remote {
        Remote {
            addr: self.source,
            reliability: self.transport.reliability(),
        }
    }
}

/// What the transport hands its consumer (the [`Driver`](super::Driver), or your own
/// loop), in the order it happened per socket.
///
/// ```
/// use freya_sip::transport::{ConnectionId, TransportEvent, TransportKind};
/// let e = TransportEvent::Closed { id: ConnectionId(1), peer: "192.0.2.1:5060".parse().unwrap(),
///     kind: TransportKind::Tcp, established: false, reason: "connection refused".into() };
/// assert!(matches!(e, TransportEvent::Closed { established: false, .. }));
/// ```
#[derive(Debug)]
pub enum TransportEvent {
    /// A message.
    Message(Incoming),
    /// A stream connection is up: accepted, adopted, or opened by us (`outbound`).
    Connected {
        /// The connection.
        id: ConnectionId,
        /// The peer.
        peer: SocketAddr,
        /// TCP or TLS.
        kind: TransportKind,
        /// Whether we opened it.
        outbound: bool,
    },
    /// A stream connection is gone. `established` is false when connecting failed (the
    /// messages queued on it were not sent).
    Closed {
        /// The connection.
        id: ConnectionId,
        /// The peer.
        peer: SocketAddr,
        /// TCP or TLS.
        kind: TransportKind,
        /// Whether it had been connected.
        established: bool,
        /// Why it closed (peer closed, idle, framing error, I/O error, connect failure).
        reason: String,
    },
}

/// Where to send bytes: a transport and an address (DNS is the caller's business).
///
/// ```
/// use freya_sip::transport::{Destination, TransportKind};
/// use freya_sip::transaction::Remote;
/// let d = Destination::from_remote(Remote::tcp("192.0.2.1:5060".parse().unwrap()));
/// assert_eq!(d, Destination::tcp("192.0.2.1:5060".parse().unwrap()));
/// assert_eq!(d.kind, TransportKind::Tcp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The transport.
    pub kind: TransportKind,
    /// The peer's address.
    pub addr: SocketAddr,
}

impl Destination {
    /// Over UDP.
    pub fn udp(addr: SocketAddr) -> Destination {
        Destination {
            kind: TransportKind::Udp,
            addr,
        }
    }

    /// Over TCP.
    pub fn tcp(addr: SocketAddr) -> Destination {
        Destination {
            kind: TransportKind::Tcp,
            addr,
        }
    }

    /// From a transaction's [`Remote`]: unreliable → UDP, reliable → TCP (an existing
    /// TLS connection to the address is used too).
    pub fn from_remote(r: Remote) -> Destination {
        match r.reliability {
            Reliability::Unreliable => Destination::udp(r.addr),
            Reliability::Reliable => Destination::tcp(r.addr),
        }
    }
}

/// What [`Transport::send`] did.
///
/// ```
/// use freya_sip::transport::{ConnectionId, SendOutcome};
/// assert_eq!(SendOutcome::Connecting(ConnectionId(3)).connection(), Some(ConnectionId(3)));
/// assert_eq!(SendOutcome::Sent.connection(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// A datagram was sent.
    Sent,
    /// Queued on an established stream connection.
    Queued(ConnectionId),
    /// Queued on a new connection that is still connecting: a
    /// [`TransportEvent::Connected`] or [`TransportEvent::Closed`] for it follows.
    Connecting(ConnectionId),
}

impl SendOutcome {
    /// The stream connection used, if any.
    pub fn connection(&self) -> Option<ConnectionId> {
        match *self {
            SendOutcome::Sent => None,
            SendOutcome::Queued(c) | SendOutcome::Connecting(c) => Some(c),
        }
    }
}

/// A byte stream a connection can run on: a `TcpStream`, or a TLS stream over one (the
/// seam for TLS, see [`Transport::adopt_stream`]). Implemented for every type that fits.
///
/// ```
/// use freya_sip::transport::StreamIo;
/// fn takes<S: StreamIo>(_: S) {}
/// takes(tokio::io::duplex(1024).0); // any AsyncRead + AsyncWrite + Unpin + Send + 'static
/// ```
pub trait StreamIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> StreamIo for T {}
