//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!                  |request sent, Timer E (unreliable), Timer F
//!                  V
//!  Timer F    +-----------+  Timer E: resend, E = min(2E, T2)
//!  --------   |  Trying   |
//!  Timeout    +-----------+
//!               |      |  1xx: to TU
//!               |      V
//!               |   +------------+  Timer E: resend, E = T2;  1xx: to TU
//!               |   | Proceeding |  Timer F: Timeout
//!               |   +------------+
//!  200-699:     |      |  200-699: to TU
//!  to TU        V      V
//!             +-----------+  response retransmissions absorbed
//!             | Completed |  Timer K (T4; 0 on reliable)
//!             +-----------+ -----------------------------> Terminated
//! ```

use std::time::{Duration, Instant};

use crate::message::Message;

use super::error::TransactionError;
use super::timers::{Timer, TimerConfig, Timers};
use super::{drain_methods, status_of, Outputs, Reliability, TransactionEvent};

/// The states of Figure 6 (RFC 3261).
///
/// ```
/// use freya_sip::transaction::ClientNonInviteState;
/// assert_ne!(ClientNonInviteState::Trying, ClientNonInviteState::Completed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientNonInviteState {
    /// Request sent, no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing its retransmissions until Timer K.
    Completed,
    /// Done; takes no more input.
    Terminated,
}

/// A non-INVITE client transaction (BYE, OPTIONS, REGISTER, INFO, CANCEL…): sends the
/// request, retransmits it on Timer E (doubling up to T2; every T2 once a provisional came),
/// gives up on Timer F, absorbs final retransmissions until Timer K.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::message::parse;
/// use freya_sip::transaction::{ClientNonInvite, ClientNonInviteState, Reliability, TimerConfig, Timer};
/// let bye = parse(bytes::Bytes::from_static(
///     b"BYE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/TCP a.example;branch=z9hG4bK2\r\n\
///       From: <sip:alice@a.example>;tag=a\r\nTo: <sip:bob@b.example>;tag=b\r\nCall-ID: c\r\n\
///       CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let t0 = Instant::now();
/// let mut tx = ClientNonInvite::new(bye, Reliability::Reliable, TimerConfig::default(), t0).unwrap();
/// assert_eq!(tx.timer(Timer::E), None);                                // no retransmission on TCP
/// assert_eq!(tx.timer(Timer::F), Some(t0 + Duration::from_secs(32)));
/// let ok = parse(bytes::Bytes::from_static(
///     b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP a.example;branch=z9hG4bK2\r\n\
///       From: <sip:alice@a.example>;tag=a\r\nTo: <sip:bob@b.example>;tag=b\r\nCall-ID: c\r\n\
///       CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// tx.handle_response(t0, ok).unwrap();
/// assert_eq!(tx.state(), ClientNonInviteState::Terminated);             // Timer K is zero on TCP
/// ```
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    request: Message,
    reliability: Reliability,
    config: TimerConfig,
    timers: Timers,
    /// Timer E's current interval.
    e_interval: Duration,
    out: Outputs,
}

impl ClientNonInvite {
    /// Starts the transaction at `now`: queues the request for transmission, arms Timer E
    /// (T1, unreliable transports only) and Timer F (64·T1).
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`]; [`TransactionError::UnexpectedMethod`] for an
    /// INVITE; [`TransactionError::AckIsNotATransaction`] for an ACK.
    pub fn new(
        request: Message,
        reliability: Reliability,
        config: TimerConfig,
        now: Instant,
    ) -> Result<ClientNonInvite, TransactionError> {
        super::error::require_non_invite(&request)?;
        let mut tx = ClientNonInvite {
            state: ClientNonInviteState::Trying,
            reliability,
            timers: Timers::default(),
            e_interval: config.t1,
            out: Outputs::default(),
            request,
            config,
        };
        tx.out.send(tx.request.to_bytes(), false);
        if let Some(e) = config.first_retransmit(reliability) {
            tx.e_interval = e;
            tx.timers.arm(Timer::E, now, e);
        }
        tx.timers.arm(Timer::F, now, config.timer_b());
        Ok(tx)
    }

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// Whether the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientNonInviteState::Terminated
    }

    /// Takes a response matched to this transaction: in Trying/Proceeding a 1xx moves to
    /// Proceeding and is passed to the TU; a 200–699 moves to Completed, is passed, and arms
    /// Timer K (T4; on a reliable transport the transaction terminates at once). In
    /// Completed, responses are absorbed.
    ///
    /// # Errors
    /// [`TransactionError::NotAResponse`], [`TransactionError::InvalidStatus`],
    /// [`TransactionError::Terminated`].
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: Message,
    ) -> Result<(), TransactionError> {
        let status = status_of(&response)?;
        use ClientNonInviteState as S;
        match (self.state, status) {
            (S::Terminated, _) => return Err(TransactionError::Terminated),
            (S::Trying | S::Proceeding, 100..=199) => {
                self.state = S::Proceeding;
                self.out.event(TransactionEvent::Provisional(response));
            }
            (S::Trying | S::Proceeding, _) => {
                self.state = S::Completed;
                self.timers.stop_all();
                self.out.event(TransactionEvent::Final(response));
                let k = self.config.timer_k(self.reliability);
                if k.is_zero() {
                    self.terminate();
                } else {
                    self.timers.arm(Timer::K, now, k);
                }
            }
            (S::Completed, _) => {}
        }
        Ok(())
    }

    /// Fires every timer due at `now`, earliest first: Timer E retransmits the request
    /// (next interval min(2·E, T2) in Trying, T2 in Proceeding, §17.1.2.2); Timer F reports
    /// [`TransactionEvent::Timeout`] and terminates; Timer K terminates.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.take_expired(now) {
            match t {
                Timer::E => {
                    self.out.send(self.request.to_bytes(), true);
                    self.e_interval = match self.state {
                        ClientNonInviteState::Proceeding => self.config.next_capped(self.config.t2),
                        _ => self.config.next_capped(self.e_interval),
                    };
                    self.timers.arm(Timer::E, now, self.e_interval);
                }
                Timer::F => {
                    self.out.event(TransactionEvent::Timeout(Timer::F));
                    self.terminate();
                }
                Timer::K => self.terminate(),
                _ => {}
            }
        }
    }

    /// Reports a transport failure (§17.1.2.2): [`TransactionEvent::TransportError`], then
    /// Terminated. No effect once terminated.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if !self.is_terminated() {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    fn terminate(&mut self) {
        self.state = ClientNonInviteState::Terminated;
        self.timers.stop_all();
        self.out.event(TransactionEvent::Terminated);
    }

    drain_methods!();
}
