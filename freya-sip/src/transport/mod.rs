//! The transport layer (RFC 3261 §18, RFC 3581, RFC 5626 §3.5.1): the thin tokio shell
//! (DESIGN.md principle 2) that owns the UDP socket, the TCP listener and the TCP
//! connections, and feeds parsed messages to the sans-IO cores.
//!
//! Two levels:
//! - [`Transport`] owns the sockets. It receives, frames ([`StreamFramer`] per connection),
//!   parses, refuses bad input (typed error, one log line naming the peer and the byte
//!   offset, a [`RejectLog`] counter, and the 400/505/513 of
//!   [`error_response`](crate::message::error_response) back for a request whose essentials
//!   are readable — never for a response), stamps `received`/`rport` on requests
//!   ([`stamp_received`], §18.2.1 and RFC 3581), answers CRLF keep-alive pings, and hands
//!   every good message over as an [`Incoming`]. It sends bytes to a [`Destination`], and
//!   routes responses per §18.2.2 ([`response_destination`]).
//! - [`Driver`] runs a [`TransactionLayer`](crate::transaction::TransactionLayer) on a
//!   [`Transport`] and one timer, and talks to the transaction user (dialogs, UA) through
//!   a [`DriverHandle`] (commands) and a stream of [`TuEvent`]s.
//!
//! Sending a request: the transaction user writes the top Via with
//! [`SentBy::via`] and the Contact with [`SentBy::contact_uri`] (the advertised address
//! and port of [`TransportConfig`]) and gives the destination as a `SocketAddr`;
//! [`TransportConfig::udp_mtu_switch`] optionally moves large requests from UDP to TCP
//! (RFC 3261 §18.1.1).
//!
//! The rules themselves — where a response goes, how the top Via is stamped, what the
//! local sent-by is — are pure functions in this module, tested without sockets.
//!
//! **Out of scope here**: DNS. Requests go to a `SocketAddr` the caller chose (RFC 3263's
//! NAPTR/SRV/A lookups belong to the layer above); a `maddr` or a Via sent-by that is a
//! host name, not an IP literal, cannot be used to route a response (the `received`
//! address is used instead, which a stamped Via always has in that case).
//!
//! **TLS** has a seam and no implementation: [`TransportKind::Tls`] is reserved, and the
//! connection code is generic over any `AsyncRead + AsyncWrite` stream — a TLS adapter
//! completes its handshake and hands the stream to [`Transport::adopt_stream`].
//!
//! ```no_run
//! use freya_sip::transport::{Driver, TransportConfig, TuEvent};
//! use freya_sip::transaction::TimerConfig;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = TransportConfig::new("127.0.0.1:5060".parse()?);
//! let (handle, mut events) = Driver::spawn(config, TimerConfig::default()).await?;
//! while let Some(event) = events.recv().await {
//!     if let TuEvent::Request { key, request, .. } = event {
//!         let (status, reason) = match request.method() {
//!             Some("OPTIONS") => (200, "OK"),
//!             _ => (501, "Not Implemented"),
//!         };
//!         handle.respond_with(key, status, reason, Vec::new()).await?;
//!     }
//! }
//! # Ok(()) }
//! ```

mod config;
mod driver;
mod endpoint;
mod error;
mod event;
mod handle;
mod received;
mod route;
mod shared;
mod stats;
mod stream;
mod udp;

#[cfg(test)]
mod tests;

use std::fmt;

pub use config::TransportConfig;
pub use driver::Driver;
pub use endpoint::Transport;
pub use error::TransportError;
pub use event::{ConnectionId, Destination, Incoming, SendOutcome, StreamIo, TransportEvent};
pub(crate) use handle::response_kind;
pub use handle::{DriverError, DriverHandle, DriverStats, TuEvent};
pub use received::stamp_received;
pub use route::{
    force_transport, response_destination, ResponseRoute, SentBy, DEFAULT_SIPS_PORT,
    DEFAULT_SIP_PORT,
};
pub use stats::TransportStats;

#[allow(unused_imports)] // named in the module docs
use crate::message::{RejectLog, StreamFramer};

/// Which transport a message travels on. TLS is reserved: its name, port and reliability
/// are known, and [`Transport::adopt_stream`] accepts an already-established TLS stream,
/// but freya does not dial or accept TLS itself.
///
/// ```
/// use freya_sip::transport::TransportKind;
/// use freya_sip::transaction::Reliability;
/// assert_eq!(TransportKind::from_via("tcp"), Some(TransportKind::Tcp));
/// assert_eq!(TransportKind::Udp.via_token(), "UDP");
/// assert_eq!(TransportKind::Tls.reliability(), Reliability::Reliable);
/// assert_eq!(TransportKind::Tls.default_port(), 5061);
/// assert_eq!(TransportKind::Tcp.to_string(), "tcp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// UDP (unreliable: the transaction layer retransmits).
    Udp,
    /// TCP (reliable, stream-framed).
    Tcp,
    /// TLS over TCP: reserved (see the module docs).
    Tls,
}

impl TransportKind {
    /// The token written in a Via (`UDP`, `TCP`, `TLS`).
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }

    /// The kind a Via transport token names (case-insensitive); `None` for others (SCTP,
    /// WS…).
    pub fn from_via(token: &str) -> Option<TransportKind> {
        let t = token.trim();
        [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls]
            .into_iter()
            .find(|k| k.via_token().eq_ignore_ascii_case(t))
    }

    /// Whether the transaction layer must retransmit over it.
    pub fn reliability(self) -> crate::transaction::Reliability {
        match self {
            TransportKind::Udp => crate::transaction::Reliability::Unreliable,
            TransportKind::Tcp | TransportKind::Tls => crate::transaction::Reliability::Reliable,
        }
    }

    /// Whether it is a byte stream (framed by Content-Length).
    pub fn is_stream(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// The port a sent-by without one means (RFC 3261 §18.2.2, §19.1.2): 5060, or 5061
    /// for TLS.
    pub fn default_port(self) -> u16 {
        match self {
            TransportKind::Tls => DEFAULT_SIPS_PORT,
            _ => DEFAULT_SIP_PORT,
        }
    }

    /// The `transport=` URI parameter value for a Contact (`None` for UDP, the default).
    pub fn uri_param(self) -> Option<&'static str> {
        match self {
            TransportKind::Udp => None,
            TransportKind::Tcp => Some("tcp"),
            TransportKind::Tls => Some("tls"),
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        })
    }
}
