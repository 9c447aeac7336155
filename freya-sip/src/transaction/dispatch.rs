//! The layer's inputs and outputs: where a peer is ([`Remote`]), what to send
//! ([`Outbound`]), what happened ([`LayerEvent`]), what became of a received message
//! ([`Dispatch`]), and the counters ([`LayerStats`]).

use std::net::SocketAddr;

use crate::message::Message;

use super::error::TransactionError;
use super::key::TransactionKey;
use super::{Reliability, TransactionEvent, Transmit};

/// Where a transaction's peer is: the address a client transaction sends to (chosen by the
/// TU, RFC 3263), or the address a server transaction's request came from (the transport
/// answers per §18.2.2 / RFC 3581 from it), and whether that transport is reliable.
///
/// ```
/// use freya_sip::transaction::{Reliability, Remote};
/// let r = Remote::udp("198.51.100.7:5060".parse().unwrap());
/// assert_eq!(r.reliability, Reliability::Unreliable);
/// assert_eq!(Remote::tcp(r.addr).reliability, Reliability::Reliable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Remote {
    /// The peer's address.
    pub addr: SocketAddr,
    /// Whether the transport to it is reliable (decides timers A/E/G and D/I/J/K).
    pub reliability: Reliability,
}

impl Remote {
    /// A peer over UDP.
    pub fn udp(addr: SocketAddr) -> Remote {
        Remote {
            addr,
            reliability: Reliability::Unreliable,
        }
    }

    /// A peer over TCP (or any reliable transport).
    pub fn tcp(addr: SocketAddr) -> Remote {
        Remote {
            addr,
            reliability: Reliability::Reliable,
        }
    }
}

/// Bytes to send, with the transaction they belong to and where they go.
///
/// ```
/// use freya_sip::transaction::{Outbound, Remote, TransactionKey, Transmit};
/// let o = Outbound {
///     key: TransactionKey::client("z9hG4bK1", "OPTIONS"),
///     remote: Remote::udp("192.0.2.1:5060".parse().unwrap()),
///     transmit: Transmit { bytes: bytes::Bytes::from_static(b"OPTIONS sip:b SIP/2.0 ..."), retransmission: false },
/// };
/// assert_eq!(o.key.method(), "OPTIONS");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The transaction sending.
    pub key: TransactionKey,
    /// The peer (for a server transaction: where the request came from).
    pub remote: Remote,
    /// The bytes and whether they are a retransmission.
    pub transmit: Transmit,
}

/// An event for the TU, with the transaction it concerns.
///
/// ```
/// use freya_sip::transaction::{LayerEvent, TransactionEvent, TransactionKey};
/// let e = LayerEvent { key: TransactionKey::client("z9hG4bK1", "BYE"), event: TransactionEvent::Terminated };
/// assert_eq!(e.key.method(), "BYE");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEvent {
    /// The transaction.
    pub key: TransactionKey,
    /// What happened.
    pub event: TransactionEvent,
}

/// What [`TransactionLayer::handle_message`](super::TransactionLayer::handle_message) did with a message.
///
/// ```
/// use freya_sip::transaction::Dispatch;
/// fn describe(d: &Dispatch) -> &'static str {
///     match d {
///         Dispatch::Matched(_) => "handled by its transaction",
///         Dispatch::NewRequest { .. } => "new request: TU answers, or discards it",
///         Dispatch::Cancel { invite: Some(_), .. } => "CANCEL answered 200; INVITE told",
///         Dispatch::Cancel { invite: None, .. } => "CANCEL answered 481",
///         Dispatch::Ack(_) => "ACK for a 2xx: the dialog's",
///         Dispatch::StrayResponse(_) => "dropped and counted",
///         Dispatch::Invalid { .. } => "unusable: dropped and counted",
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub enum Dispatch {
    /// The message matched an existing transaction, which processed or absorbed it (a
    /// response, a retransmitted request, an ACK for a non-2xx).
    Matched(TransactionKey),
    /// A request that matched no transaction: a server transaction now exists under `key`
    /// and the TU decides — [`respond`](super::TransactionLayer::respond) (accept or refuse) or
    /// [`discard`](super::TransactionLayer::discard) (ignore). Until then, retransmissions are
    /// absorbed and an INVITE gets `100 Trying` after [`TimerConfig::trying_delay`](super::TimerConfig::trying_delay).
    NewRequest {
        /// The new server transaction.
        key: TransactionKey,
        /// The request.
        request: Message,
    },
    /// A new CANCEL (§9.2). Its server transaction (`cancel`) has answered it: 200 when it
    /// matched an INVITE server transaction (`invite`; if that had no final response yet, a
    /// [`TransactionEvent::Cancelled`] for it follows and the TU answers 487), 481 when it
    /// matched none (`invite` is `None`, counted in [`LayerStats::unmatched_cancels`]).
    Cancel {
        /// The CANCEL's own server transaction.
        cancel: TransactionKey,
        /// The INVITE server transaction it cancels, when found.
        invite: Option<TransactionKey>,
    },
    /// An ACK that matched no INVITE server transaction: the ACK for a 2xx, which is a
    /// transaction of its own and goes to the dialog (§13.3.1.4, §17.1.1.3). Counted.
    Ack(Message),
    /// A response that matched no client transaction (§17.1.3): to be dropped (§18.1.2);
    /// counted in [`LayerStats::stray_responses`] and logged.
    StrayResponse(Message),
    /// A message that cannot be matched (no Via, no branch on a response, no CSeq…);
    /// counted in [`LayerStats::invalid`] and logged. A request here deserves a 400 from
    /// the TU when it can be answered at all.
    Invalid {
        /// The message.
        message: Message,
        /// Why it cannot be matched.
        error: TransactionError,
    },
}

/// Counters kept by the layer (DESIGN.md principle 4: nothing dropped silently).
///
/// ```
/// use freya_sip::transaction::LayerStats;
/// assert_eq!(LayerStats::default().stray_responses, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Transactions created (client and server).
    pub created: u64,
    /// Transactions removed (terminated or discarded).
    pub terminated: u64,
    /// Incoming messages matched to an existing transaction.
    pub matched: u64,
    /// Responses matching no client transaction, dropped.
    pub stray_responses: u64,
    /// ACKs matching no INVITE server transaction, handed to the TU.
    pub unmatched_acks: u64,
    /// CANCELs matching no INVITE server transaction, answered 481.
    pub unmatched_cancels: u64,
    /// Messages that could not be matched at all, dropped.
    pub invalid: u64,
    /// Transmits flagged as retransmissions.
    pub retransmissions: u64,
    /// Timeout events (Timers B, F, H, the §9.1 CANCEL wait).
    pub timeouts: u64,
    /// Transport errors reported.
    pub transport_errors: u64,
}
