//! The transport's error type.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::TransportKind;

/// Why the transport could not bind, send, connect or route. Each variant names the
/// offending value (address, key, size, Via).
///
/// ```
/// use freya_sip::transport::{TransportError, TransportKind};
/// let e = TransportError::NotEnabled(TransportKind::Tcp);
/// assert_eq!(e.to_string(), "transport tcp is not enabled in this endpoint");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A [`TransportConfig`](super::TransportConfig) value is invalid.
    #[error("invalid transport config {key} = {value:?}: {reason}")]
    Config {
        /// The config key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Binding a socket failed.
    #[error("cannot bind {kind} on {addr}: {source}")]
    Bind {
        /// UDP or TCP.
        kind: TransportKind,
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// The transport is not served by this endpoint (turned off in the config).
    #[error("transport {0} is not enabled in this endpoint")]
    NotEnabled(TransportKind),
    /// TLS is reserved: freya does not dial or accept it (see
    /// [`Transport::adopt_stream`](super::Transport::adopt_stream)).
    #[error("transport {0} is reserved and not implemented: adopt an established stream instead")]
    Unsupported(TransportKind),
    /// The destination's address family cannot be reached from the bound socket (an IPv6
    /// destination from an IPv4 socket).
    #[error("cannot reach {dest} from a socket bound to {local}")]
    AddressFamily {
        /// Where the socket is bound.
        local: SocketAddr,
        /// The destination.
        dest: SocketAddr,
    },
    /// Sending failed.
    #[error("cannot send {len} bytes over {kind} to {dest}: {source}")]
    Send {
        /// UDP or TCP.
        kind: TransportKind,
        /// The destination.
        dest: SocketAddr,
        /// The message size.
        len: usize,
        /// The system's error.
        source: io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect over {kind} to {dest}: {source}")]
    Connect {
        /// TCP.
        kind: TransportKind,
        /// The destination.
        dest: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// Connecting took longer than the configured timeout.
    #[error("connecting to {dest} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The destination.
        dest: SocketAddr,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The connection's write queue is full (the peer does not read).
    #[error("write queue of the connection to {dest} is full ({capacity} messages)")]
    QueueFull {
        /// The peer.
        dest: SocketAddr,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The connection limit is reached.
    #[error("connection limit of {limit} reached; not connecting to {dest}")]
    TooManyConnections {
        /// The peer.
        dest: SocketAddr,
        /// The configured limit.
        limit: usize,
    },
    /// A datagram too large for UDP (over 65,507 bytes on IPv4).
    #[error("message of {len} bytes is too large for a UDP datagram to {dest}")]
    DatagramTooLarge {
        /// The destination.
        dest: SocketAddr,
        /// The message size.
        len: usize,
    },
    /// A response cannot be routed from its top Via (§18.2.2): none, or an unusable one.
    #[error("cannot route response: {reason} (top Via {via:?})")]
    NoResponseRoute {
        /// The top Via as received, or empty when there is none.
        via: String,
        /// What is missing.
        reason: &'static str,
    },
    /// Rewriting a message's top Via (the §18.1.1 switch to TCP) failed.
    #[error("cannot rewrite top Via {via:?}: {reason}")]
    ViaRewrite {
        /// The Via value.
        via: String,
        /// Why.
        reason: String,
    },
    /// The transport has been closed.
    #[error("transport is closed")]
    Closed,
}
