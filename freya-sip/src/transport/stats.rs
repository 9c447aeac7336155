//! The transport's counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the transport (DESIGN.md principle 4). Refused messages are counted by
/// kind in the [`RejectLog`](crate::message::RejectLog)
/// ([`Transport::rejects`](super::Transport::rejects)).
///
/// ```
/// use freya_sip::transport::TransportStats;
/// assert_eq!(TransportStats::default().udp_received, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams received.
    pub udp_received: u64,
    /// Datagrams sent.
    pub udp_sent: u64,
    /// Datagrams holding only CR/LF (keep-alives), ignored.
    pub udp_keepalives: u64,
    /// Messages received on stream connections.
    pub stream_received: u64,
    /// Messages queued on stream connections.
    pub stream_sent: u64,
    /// Connections accepted (or adopted).
    pub accepted: u64,
    /// Connections opened by us.
    pub connected: u64,
    /// Connections we failed to open.
    pub connect_failures: u64,
    /// Connections closed, for any reason.
    pub closed: u64,
    /// Connections closed for being idle.
    pub idle_closed: u64,
    /// Connections closed for a framing or parse error.
    pub framing_errors: u64,
    /// Accepts refused at the connection limit.
    pub refused_connections: u64,
    /// CRLFCRLF keep-alive pings received on streams (RFC 5626 §3.5.1); each is answered
    /// with a CRLF pong.
    pub pings: u64,
    /// Error responses (400/505/513) sent for refused requests.
    pub error_responses: u64,
    /// Refused responses dropped (never answered).
    pub dropped_responses: u64,
    /// Requests whose Via could not be stamped (delivered unstamped, logged).
    pub stamp_errors: u64,
    /// Sends that failed.
    pub send_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) udp_received: AtomicU64,
    pub(crate) udp_sent: AtomicU64,
    pub(crate) udp_keepalives: AtomicU64,
    pub(crate) stream_received: AtomicU64,
    pub(crate) stream_sent: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
    pub(crate) framing_errors: AtomicU64,
    pub(crate) refused_connections: AtomicU64,
    pub(crate) pings: AtomicU64,
    pub(crate) error_responses: AtomicU64,
    pub(crate) dropped_responses: AtomicU64,
    pub(crate) stamp_errors: AtomicU64,
    pub(crate) send_errors: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> TransportStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            udp_received: g(&self.udp_received),
            udp_sent: g(&self.udp_sent),
            udp_keepalives: g(&self.udp_keepalives),
            stream_received: g(&self.stream_received),
            stream_sent: g(&self.stream_sent),
            accepted: g(&self.accepted),
            connected: g(&self.connected),
            connect_failures: g(&self.connect_failures),
            closed: g(&self.closed),
            idle_closed: g(&self.idle_closed),
            framing_errors: g(&self.framing_errors),
            refused_connections: g(&self.refused_connections),
            pings: g(&self.pings),
            error_responses: g(&self.error_responses),
            dropped_responses: g(&self.dropped_responses),
            stamp_errors: g(&self.stamp_errors),
            send_errors: g(&self.send_errors),
        }
    }
}
