//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!                   |request received (the layer hands it to the TU)
//!                   V
//!             +-----------+ request retransmit: absorbed
//!             |  Trying   |
//!             +-----------+
//!  200-699      |      | 1xx from TU: send
//!  from TU:     |      V
//!  send         |  +------------+ request retransmit: resend last 1xx
//!               |  | Proceeding | 1xx from TU: send
//!               |  +------------+
//!               |      | 200-699 from TU: send
//!               V      V
//!             +-----------+ request retransmit: resend final
//!             | Completed | Timer J (64*T1; 0 on reliable) ---> Terminated
//!             +-----------+
//! ```

use std::time::Instant;

use bytes::Bytes;

use crate::message::Message;

use super::error::TransactionError;
use super::timers::{Timer, TimerConfig, Timers};
use super::{drain_methods, status_of, Outputs, Reliability, TransactionEvent};

/// The states of Figure 8 (RFC 3261).
///
/// ```
/// use freya_sip::transaction::ServerNonInviteState;
/// assert_ne!(ServerNonInviteState::Trying, ServerNonInviteState::Proceeding);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerNonInviteState {
    /// Request received, nothing sent yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// The final response was sent; replayed to request retransmissions until Timer J.
    Completed,
    /// Done; takes no more input.
    Terminated,
}

/// A non-INVITE server transaction: absorbs request retransmissions, replaying the last
/// response sent (§17.2.2), until Timer J after the final response.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::message::{parse, response_to};
/// use freya_sip::transaction::{Reliability, ServerNonInvite, ServerNonInviteState, Timer, TimerConfig};
/// let bye = parse(bytes::Bytes::from_static(
///     b"BYE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK4\r\n\
///       From: <sip:alice@a.example>;tag=a\r\nTo: <sip:bob@b.example>;tag=b\r\nCall-ID: c\r\n\
///       CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let t0 = Instant::now();
/// let mut tx = ServerNonInvite::new(bye.clone(), Reliability::Unreliable, TimerConfig::default(), t0).unwrap();
/// tx.respond(t0, parse(response_to(&bye, 200, "OK", &[]).unwrap()).unwrap()).unwrap();
/// assert!(tx.poll_transmit().is_some());
/// tx.handle_request(t0, bye).unwrap();                                   // a retransmission
/// assert!(tx.poll_transmit().unwrap().retransmission);                   // gets the 200 again
/// assert_eq!(tx.timer(Timer::J), Some(t0 + Duration::from_secs(32)));
/// tx.handle_timeout(t0 + Duration::from_secs(32));
/// assert_eq!(tx.state(), ServerNonInviteState::Terminated);
/// ```
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    request: Message,
    reliability: Reliability,
    config: TimerConfig,
    timers: Timers,
    /// The last response sent (provisional in Proceeding, final in Completed).
    last: Option<(u16, Bytes)>,
    out: Outputs,
}

impl ServerNonInvite {
    /// Creates the transaction for a request received at `now`; the caller hands the
    /// request to the TU.
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`]; [`TransactionError::UnexpectedMethod`] for an
    /// INVITE; [`TransactionError::AckIsNotATransaction`] for an ACK.
    pub fn new(
        request: Message,
        reliability: Reliability,
        config: TimerConfig,
        _now: Instant,
    ) -> Result<ServerNonInvite, TransactionError> {
        super::error::require_non_invite(&request)?;
        Ok(ServerNonInvite {
            state: ServerNonInviteState::Trying,
            request,
            reliability,
            config,
            timers: Timers::default(),
            last: None,
            out: Outputs::default(),
        })
    }

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// Whether the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerNonInviteState::Terminated
    }

    /// The status of the final response sent, if any.
    pub fn final_status(&self) -> Option<u16> {
        self.last.as_ref().map(|(s, _)| *s).filter(|s| *s >= 200)
    }

    /// Sends a response from the TU: a 1xx moves to (or stays in) Proceeding; a 200–699
    /// moves to Completed and arms Timer J (64·T1; on a reliable transport the transaction
    /// terminates at once).
    ///
    /// # Errors
    /// [`TransactionError::NotAResponse`], [`TransactionError::InvalidStatus`],
    /// [`TransactionError::FinalAlreadySent`] in Completed (§17.2.2: later finals are
    /// discarded), [`TransactionError::Terminated`].
    pub fn respond(&mut self, now: Instant, response: Message) -> Result<(), TransactionError> {
        let status = status_of(&response)?;
        use ServerNonInviteState as S;
        match self.state {
            S::Terminated => return Err(TransactionError::Terminated),
            S::Completed => {
                return Err(TransactionError::FinalAlreadySent {
                    sent: self.final_status().unwrap_or(0),
                    refused: status,
                })
            }
            S::Trying | S::Proceeding => {}
        }
        let bytes = response.to_bytes();
        self.last = Some((status, bytes.clone()));
        self.out.send(bytes, false);
        if status < 200 {
            self.state = S::Proceeding;
        } else {
            self.state = S::Completed;
            let j = self.config.timer_j(self.reliability);
            if j.is_zero() {
                self.terminate();
            } else {
                self.timers.arm(Timer::J, now, j);
            }
        }
        Ok(())
    }

    /// Takes a retransmission of the request: absorbed in Trying; answered with the last
    /// response sent in Proceeding and Completed (§17.2.2).
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`], [`TransactionError::Terminated`].
    pub fn handle_request(
        &mut self,
        _now: Instant,
        request: Message,
    ) -> Result<(), TransactionError> {
        if request.method().is_none() {
            return Err(TransactionError::NotARequest);
        }
        match self.state {
            ServerNonInviteState::Terminated => Err(TransactionError::Terminated),
            ServerNonInviteState::Trying => Ok(()),
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed => {
                if let Some((_, b)) = &self.last {
                    self.out.send(b.clone(), true);
                }
                Ok(())
            }
        }
    }

    /// Fires the timers due at `now`: Timer J terminates.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.take_expired(now) {
            if t == Timer::J {
                self.terminate();
            }
        }
    }

    /// Reports a transport failure (§17.2.4): [`TransactionEvent::TransportError`], then
    /// Terminated. No effect once terminated.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if !self.is_terminated() {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    fn terminate(&mut self) {
        self.state = ServerNonInviteState::Terminated;
        self.timers.stop_all();
        self.out.event(TransactionEvent::Terminated);
    }

    drain_methods!();
}
