//! SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state), sans-IO.
//!
//! Four state machines, one per figure of §17 — [`ClientInvite`] (Fig. 5), [`ClientNonInvite`]
//! (Fig. 6), [`ServerInvite`] (Fig. 7) and [`ServerNonInvite`] (Fig. 8) — and a
//! [`TransactionLayer`] that owns many of them, matches incoming messages to them
//! (§17.1.3, §17.2.3, see [`TransactionKey`]) and hands everything else to the caller.
//!
//! Nothing here owns a socket or reads a clock. Input is a parsed
//! [`Message`] and `now: Instant`; output is drained by the caller,
//! in the style of quinn-proto:
//! - `poll_transmit()` — bytes to send ([`Transmit`]: the bytes and whether they are a
//!   retransmission),
//! - `poll_event()` — what the transaction user (TU) must know ([`TransactionEvent`]),
//! - `poll_timeout()` — the next `Instant` at which `handle_timeout(now)` must be called.
//!
//! Timers (A–K, L, M) come from a [`TimerConfig`] (T1/T2/T4) and depend on whether the
//! transport is [`Reliability::Reliable`] (no retransmissions, zero wait timers) or not.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use freya_sip::message::parse;
//! use freya_sip::transaction::{ClientNonInvite, Reliability, TimerConfig, Timer, TransactionEvent};
//!
//! let options = parse(bytes::Bytes::from_static(
//!     b"OPTIONS sip:carrier.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKq1\r\n\
//!       From: <sip:freya@192.0.2.1>;tag=1\r\nTo: <sip:carrier.example>\r\nCall-ID: ka1\r\n\
//!       CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
//! )).unwrap();
//! let t0 = Instant::now();
//! let mut tx = ClientNonInvite::new(options, Reliability::Unreliable, TimerConfig::default(), t0)
//!     .unwrap();
//! assert!(!tx.poll_transmit().unwrap().retransmission);       // the request itself
//! // Nobody answers: Timer E retransmits at 0.5 s, 1.5 s, 3.5 s, … and Timer F gives up at 32 s.
//! while let Some(at) = tx.poll_timeout() {
//!     tx.handle_timeout(at);
//! }
//! assert_eq!(tx.timer(Timer::F), None);
//! let events: Vec<_> = std::iter::from_fn(|| tx.poll_event()).collect();
//! assert_eq!(events, [TransactionEvent::Timeout(Timer::F), TransactionEvent::Terminated]);
//! ```

mod branch;
mod client_invite;
mod client_non_invite;
mod derived;
mod dispatch;
mod error;
mod key;
mod layer;
mod machine;
mod server_invite;
mod server_non_invite;
mod timers;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::message::Message;

pub use branch::BranchGenerator;
pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use derived::{build_ack, build_cancel};
pub use dispatch::{Dispatch, LayerEvent, LayerStats, Outbound, Remote};
pub use error::TransactionError;
pub use key::{Role, TransactionKey};
pub use layer::TransactionLayer;
pub use machine::Transaction;
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use timers::{Timer, TimerConfig};

/// Whether the transport under a transaction retransmits by itself (RFC 3261 §17: "reliable"
/// means TCP, TLS, SCTP, WebSocket). On a reliable transport the transaction layer never
/// retransmits (timers A, E, G are not set) and its wait timers D, I, J, K are zero.
///
/// ```
/// use freya_sip::transaction::Reliability;
/// assert_eq!(Reliability::from_transport("udp"), Reliability::Unreliable);
/// assert_eq!(Reliability::from_transport("TCP"), Reliability::Reliable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// UDP: the transaction layer retransmits.
    Unreliable,
    /// TCP, TLS, SCTP, WS, WSS: the transport delivers or reports an error.
    Reliable,
}

impl Reliability {
    /// From a Via transport token (`UDP` → unreliable, anything else → reliable;
    /// case-insensitive). `DTLS-UDP`-style tokens ending in `UDP` count as unreliable.
    pub fn from_transport(token: &str) -> Reliability {
        let t = token.trim();
        let udp = t.len() >= 3 && t[t.len() - 3..].eq_ignore_ascii_case("udp");
        if udp {
            Reliability::Unreliable
        } else {
            Reliability::Reliable
        }
    }
}

/// Bytes a transaction wants sent to its peer.
///
/// Client transactions send to the address and transport the request was sent to (the ACK
/// for a non-2xx too, §17.1.1.3); server transactions answer per §18.2.2, which is the
/// transport's business.
///
/// ```
/// use freya_sip::transaction::Transmit;
/// let t = Transmit { bytes: bytes::Bytes::from_static(b"SIP/2.0 100 Trying\r\n\r\n"), retransmission: false };
/// assert!(t.bytes.starts_with(b"SIP/2.0 100"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The whole message, ready for the wire.
    pub bytes: Bytes,
    /// `true` when these bytes were sent before by this transaction (a timer-driven
    /// retransmission, a response replayed for a retransmitted request, an ACK resent for a
    /// retransmitted final response).
    pub retransmission: bool,
}

/// What a transaction tells its transaction user (TU).
///
/// ```
/// use freya_sip::transaction::{Timer, TransactionEvent};
/// let e = TransactionEvent::Timeout(Timer::B);
/// assert!(e.is_timeout());
/// assert!(!TransactionEvent::Terminated.is_timeout());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// Client: a provisional (1xx) response (§17.1.1.2, §17.1.2.2). Retransmitted 1xx are
    /// passed on too; the TU tells them apart by content if it cares.
    Provisional(Message),
    /// Client: a final (2xx–6xx) response. Passed once for a non-2xx (retransmissions are
    /// absorbed, and an INVITE transaction ACKs them itself); for an INVITE, every 2xx
    /// received in the Accepted state is passed, retransmissions and forks included, so
    /// that the TU ACKs each (RFC 6026 §7.2).
    Final(Message),
    /// The transaction gave up; the TU acts as for a `408 Request Timeout` (client, Timer B
    /// or F, §8.1.3.1), or as if the call failed for want of an ACK (server INVITE, Timer H,
    /// §13.3.1.4), or as if the INVITE was cancelled (client INVITE after the §9.1 CANCEL
    /// wait).
    Timeout(Timer),
    /// The caller reported a transport failure for this transaction (§17.1.1.2, §17.1.2.2,
    /// §17.2.4); the transaction has terminated.
    TransportError,
    /// Server INVITE: an ACK. In Completed it acknowledges our non-2xx final (the
    /// transaction moves to Confirmed; informational); in Accepted it acknowledges a 2xx and
    /// belongs to the TU (RFC 6026 §7.1). ACK retransmissions in Confirmed are absorbed.
    Ack(Message),
    /// Server INVITE: a CANCEL matched this transaction before a final response (§9.2).
    /// The CANCEL itself has been answered 200; the TU should now answer the INVITE with
    /// `487 Request Terminated`.
    Cancelled(Message),
    /// The transaction reached the Terminated state and takes no more input.
    Terminated,
}

impl TransactionEvent {
    /// Whether this is a [`TransactionEvent::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransactionEvent::Timeout(_))
    }
}

/// The status of a response given to a machine, checked to be 100–699.
pub(crate) fn status_of(m: &Message) -> Result<u16, TransactionError> {
    match (m.status_code(), m.method()) {
        (Some(s), _) if (100..=699).contains(&s) => Ok(s),
        (Some(s), _) => Err(TransactionError::InvalidStatus(s)),
        (None, m) => Err(TransactionError::NotAResponse(m.unwrap_or("").to_owned())),
    }
}

/// The methods every machine has for draining its output, quinn-proto style.
macro_rules! drain_methods {
    () => {
        /// The next bytes to send, oldest first; `None` when there is nothing to send.
        /// Call after every `handle_*` call until it returns `None`.
        pub fn poll_transmit(&mut self) -> Option<$crate::transaction::Transmit> {
            self.out.transmits.pop_front()
        }

        /// The next event for the TU, oldest first; `None` when there is none.
        pub fn poll_event(&mut self) -> Option<$crate::transaction::TransactionEvent> {
            self.out.events.pop_front()
        }

        /// The `Instant` at which [`handle_timeout`](Self::handle_timeout) must next be
        /// called: the earliest armed timer. `None` when no timer is armed (the
        /// transaction waits for input, or has terminated).
        pub fn poll_timeout(&self) -> Option<std::time::Instant> {
            self.timers.earliest()
        }

        /// When `timer` is due, if it is armed (for tests and diagnostics).
        pub fn timer(&self, timer: $crate::transaction::Timer) -> Option<std::time::Instant> {
            self.timers.get(timer)
        }

        /// The request that created the transaction.
        pub fn request(&self) -> &$crate::message::Message {
            &self.request
        }

        /// The transport's reliability, fixed when the transaction was created.
        pub fn reliability(&self) -> $crate::transaction::Reliability {
            self.reliability
        }
    };
}
pub(crate) use drain_methods;

/// Output queues shared by the four machines.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outputs {
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<TransactionEvent>,
}

impl Outputs {
    pub(crate) fn send(&mut self, bytes: Bytes, retransmission: bool) {
        self.transmits.push_back(Transmit {
            bytes,
            retransmission,
        });
    }

    pub(crate) fn event(&mut self, e: TransactionEvent) {
        self.events.push_back(e);
    }
}
