//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, with the Accepted state of
//! RFC 6026 §7.2).
//!
//! ```text
//!                  |INVITE sent, Timer A (unreliable), Timer B
//!                  V
//!   Timer B   +-----------+  1xx: to TU          2xx: to TU, Timer M
//!  ---------- |  Calling  |-------------+   +------------------------+
//!  Timeout    +-----------+             |   |                        V
//!              |  |  Timer A: resend   V   |                  +-----------+
//!              |  |             +------------+ 1xx: to TU      | Accepted  | 2xx: to TU
//!              |  |             | Proceeding |--------+        +-----------+
//!              |  |             +------------+        |           | Timer M
//!              |  | 300-699: ACK, to TU |              |           V
//!              |  V                     V              |     Terminated
//!              | +-----------+ <--------+
//!              | | Completed | 300-699: resend ACK; Timer D (0 on reliable)
//!              | +-----------+ ------------------------------> Terminated
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::Message;

use super::derived::build_ack;
use super::error::TransactionError;
use super::timers::{Timer, TimerConfig, Timers};
use super::{drain_methods, status_of, Outputs, Reliability, TransactionEvent};

/// The states of Figure 5 (RFC 3261) with RFC 6026's Accepted.
///
/// ```
/// use freya_sip::transaction::ClientInviteState;
/// assert_ne!(ClientInviteState::Calling, ClientInviteState::Proceeding);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientInviteState {
    /// INVITE sent, no response yet; retransmitting on Timer A (unreliable transports).
    Calling,
    /// A provisional response arrived; waiting for the final one (no timer, unless a
    /// CANCEL was sent: §9.1).
    Proceeding,
    /// A 300–699 final arrived and was ACKed; absorbing its retransmissions until Timer D.
    Completed,
    /// A 2xx arrived; passing further 2xx (retransmissions, forks) to the TU until Timer M
    /// (RFC 6026).
    Accepted,
    /// Done; takes no more input.
    Terminated,
}

/// An INVITE client transaction: sends the INVITE, retransmits it (Timer A) until a
/// response or Timer B, ACKs a non-2xx final itself (§17.1.1.3), passes every 2xx to the
/// TU while Accepted (RFC 6026).
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::message::parse;
/// use freya_sip::transaction::{ClientInvite, ClientInviteState, Reliability, TimerConfig, Timer, TransactionEvent};
/// let invite = parse(bytes::Bytes::from_static(
///     b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n\
///       From: <sip:alice@a.example>;tag=a\r\nTo: <sip:bob@b.example>\r\nCall-ID: c\r\n\
///       CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let t0 = Instant::now();
/// let mut tx = ClientInvite::new(invite, Reliability::Unreliable, TimerConfig::default(), t0).unwrap();
/// assert!(tx.poll_transmit().is_some());                                    // the INVITE
/// assert_eq!(tx.timer(Timer::A), Some(t0 + Duration::from_millis(500)));
/// assert_eq!(tx.timer(Timer::B), Some(t0 + Duration::from_secs(32)));
/// let busy = parse(bytes::Bytes::from_static(
///     b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n\
///       From: <sip:alice@a.example>;tag=a\r\nTo: <sip:bob@b.example>;tag=b\r\nCall-ID: c\r\n\
///       CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// tx.handle_response(t0, busy).unwrap();
/// assert_eq!(tx.state(), ClientInviteState::Completed);
/// assert!(tx.poll_transmit().unwrap().bytes.starts_with(b"ACK "));             // ACK sent by the transaction
/// assert!(matches!(tx.poll_event(), Some(TransactionEvent::Final(r)) if r.status_code() == Some(486)));
/// assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));         // Timer D
/// ```
#[derive(Debug, Clone)]
pub struct ClientInvite {
    state: ClientInviteState,
    request: Message,
    reliability: Reliability,
    config: TimerConfig,
    timers: Timers,
    /// Timer A's current interval.
    a_interval: Duration,
    /// The ACK for the non-2xx final, once built.
    ack: Option<Bytes>,
    out: Outputs,
}

impl ClientInvite {
    /// Starts the transaction at `now`: queues the INVITE for transmission, arms Timer A
    /// (T1, unreliable transports only) and Timer B (64·T1).
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`] or [`TransactionError::UnexpectedMethod`] when
    /// `request` is not an INVITE.
    pub fn new(
        request: Message,
        reliability: Reliability,
        config: TimerConfig,
        now: Instant,
    ) -> Result<ClientInvite, TransactionError> {
        super::error::require_invite(&request)?;
        let mut tx = ClientInvite {
            state: ClientInviteState::Calling,
            reliability,
            timers: Timers::default(),
            a_interval: config.t1,
            ack: None,
            out: Outputs::default(),
            request,
            config,
        };
        tx.out.send(tx.request.to_bytes(), false);
        if let Some(a) = config.first_retransmit(reliability) {
            tx.a_interval = a;
            tx.timers.arm(Timer::A, now, a);
        }
        tx.timers.arm(Timer::B, now, config.timer_b());
        Ok(tx)
    }

    /// The current state.
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// Whether the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientInviteState::Terminated
    }

    /// Takes a response matched to this transaction ([`TransactionKey::for_response`](super::TransactionKey::for_response)).
    ///
    /// - Calling/Proceeding: 1xx → Proceeding, passed to the TU; 2xx → Accepted (Timer M),
    ///   passed; 300–699 → Completed, ACKed (§17.1.1.3), passed, Timer D armed (or, on a
    ///   reliable transport, Terminated at once).
    /// - Completed: a retransmitted 300–699 is ACKed again and absorbed.
    /// - Accepted: every 2xx is passed to the TU (it ACKs each, RFC 6026).
    /// - Anything else is absorbed.
    ///
    /// # Errors
    /// [`TransactionError::NotAResponse`], [`TransactionError::InvalidStatus`],
    /// [`TransactionError::Terminated`]; [`TransactionError::MissingTo`] (or another
    /// header) when a non-2xx final cannot be ACKed — the response is still passed to the TU.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: Message,
    ) -> Result<(), TransactionError> {
        let status = status_of(&response)?;
        use ClientInviteState as S;
        match (self.state, status) {
            (S::Terminated, _) => Err(TransactionError::Terminated),
            (S::Calling | S::Proceeding, 100..=199) => {
                self.state = S::Proceeding;
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                self.out.event(TransactionEvent::Provisional(response));
                Ok(())
            }
            (S::Calling | S::Proceeding, 200..=299) => {
                self.state = S::Accepted;
                self.timers.stop_all();
                self.timers.arm(Timer::M, now, self.config.timer_b());
                self.out.event(TransactionEvent::Final(response));
                Ok(())
            }
            (S::Calling | S::Proceeding, _) => {
                self.state = S::Completed;
                self.timers.stop_all();
                let ack = build_ack(&self.request, &response).map(|a| a.to_bytes());
                if let Ok(a) = &ack {
                    self.ack = Some(a.clone());
                    self.out.send(a.clone(), false);
                }
                self.out.event(TransactionEvent::Final(response));
                let d = self.config.timer_d(self.reliability);
                if d.is_zero() {
                    self.terminate();
                } else {
                    self.timers.arm(Timer::D, now, d);
                }
                ack.map(drop)
            }
            (S::Completed, 300..=699) => {
                if let Some(ack) = &self.ack {
                    self.out.send(ack.clone(), true);
                }
                Ok(())
            }
            (S::Accepted, 200..=299) => {
                self.out.event(TransactionEvent::Final(response));
                Ok(())
            }
            // 1xx/2xx in Completed, 1xx/non-2xx in Accepted: too late to mean anything.
            _ => Ok(()),
        }
    }

    /// Fires every timer due at `now`, earliest first: Timer A retransmits the INVITE and
    /// doubles its interval (no cap, §17.1.1.2); Timer B reports
    /// [`TransactionEvent::Timeout`] and terminates; Timers D and M terminate; the §9.1
    /// CANCEL wait reports a timeout and terminates.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.take_expired(now) {
            match t {
                Timer::A if self.state == ClientInviteState::Calling => {
                    self.out.send(self.request.to_bytes(), true);
                    self.a_interval = self.a_interval.saturating_mul(2);
                    self.timers.arm(Timer::A, now, self.a_interval);
                }
                Timer::B | Timer::CancelWait => {
                    self.out.event(TransactionEvent::Timeout(t));
                    self.terminate();
                }
                Timer::D | Timer::M => self.terminate(),
                _ => {}
            }
        }
    }

    /// Tells the transaction that a CANCEL for it was sent at `now` (§9.1): if no final
    /// response arrives within 64·T1, it reports [`TransactionEvent::Timeout`]
    /// ([`Timer::CancelWait`]) and terminates. No effect once a final has arrived.
    pub fn cancel_sent(&mut self, now: Instant) {
        if matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) {
            self.timers
                .arm(Timer::CancelWait, now, self.config.timer_b());
        }
    }

    /// Reports a transport failure (§17.1.1.2): [`TransactionEvent::TransportError`], then
    /// Terminated. No effect once terminated.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if !self.is_terminated() {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    /// Whether a CANCEL may be sent now (§9.1: only after a provisional response and before
    /// a final one).
    pub fn can_send_cancel(&self) -> bool {
        self.state == ClientInviteState::Proceeding
    }

    fn terminate(&mut self) {
        self.state = ClientInviteState::Terminated;
        self.timers.stop_all();
        self.out.event(TransactionEvent::Terminated);
    }

    drain_methods!();
}
