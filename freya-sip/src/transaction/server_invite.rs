//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, with the Accepted state of
//! RFC 6026 §7.1).
//!
//! ```text
//!                |INVITE received (the layer hands it to the TU); 100 Trying after 200 ms
//!                V
//!           +------------+ INVITE retransmit: resend last 1xx;  1xx from TU: send
//!           | Proceeding | CANCEL: Cancelled to TU
//!           +------------+ -------------------------+ 2xx from TU: send, Timer L
//!  300-699 from TU: send,  |                        V
//!  Timer G (unreliable), H |                  +----------+ INVITE retransmit: absorbed
//!                          V                  | Accepted | 2xx from TU: send; ACK: to TU
//!           +------------+ INVITE retransmit: +----------+
//!           | Completed  | resend final          | Timer L
//!           +------------+ Timer G: resend,      V
//!  Timer H:   |        |   G = min(2G, T2)   Terminated
//!  Timeout    |        | ACK: to TU
//!             V        V
//!   Terminated   +-----------+ ACK: absorbed
//!                | Confirmed | Timer I (T4; 0 on reliable) ---> Terminated
//!                +-----------+
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::{parse, response_to, Message};

use super::error::TransactionError;
use super::timers::{Timer, TimerConfig, Timers};
use super::{drain_methods, status_of, Outputs, Reliability, TransactionEvent};

/// The states of Figure 7 (RFC 3261) with RFC 6026's Accepted.
///
/// ```
/// use freya_sip::transaction::ServerInviteState;
/// assert_ne!(ServerInviteState::Completed, ServerInviteState::Confirmed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerInviteState {
    /// INVITE received; no final response yet.
    Proceeding,
    /// A 300–699 final was sent; retransmitting it (Timer G) until an ACK or Timer H.
    Completed,
    /// The ACK arrived; absorbing ACK retransmissions until Timer I.
    Confirmed,
    /// A 2xx was sent; absorbing INVITE retransmissions, passing ACKs and sending the TU's
    /// 2xx retransmissions until Timer L (RFC 6026).
    Accepted,
    /// Done; takes no more input.
    Terminated,
}

/// An INVITE server transaction: sends `100 Trying` when the TU is slow, replays the last
/// response to retransmitted INVITEs, retransmits a non-2xx final until the ACK (Timers G,
/// H), absorbs ACK retransmissions (Timer I), and reports a CANCEL to the TU.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::message::{parse, response_to};
/// use freya_sip::transaction::{Reliability, ServerInvite, ServerInviteState, Timer, TimerConfig};
/// let invite = parse(bytes::Bytes::from_static(
///     b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK3\r\n\
///       From: <sip:alice@a.example>;tag=a\r\nTo: <sip:bob@b.example>\r\nCall-ID: c\r\n\
///       CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let t0 = Instant::now();
/// let mut tx = ServerInvite::new(invite.clone(), Reliability::Unreliable, TimerConfig::default(), t0).unwrap();
/// tx.handle_timeout(t0 + Duration::from_millis(200));
/// assert!(tx.poll_transmit().unwrap().bytes.starts_with(b"SIP/2.0 100 Trying"));
/// let busy = parse(response_to(&invite, 486, "Busy Here", &[]).unwrap()).unwrap();
/// tx.respond(t0 + Duration::from_secs(1), busy).unwrap();
/// assert_eq!(tx.state(), ServerInviteState::Completed);
/// assert_eq!(tx.timer(Timer::G), Some(t0 + Duration::from_millis(1500)));
/// assert_eq!(tx.timer(Timer::H), Some(t0 + Duration::from_secs(33)));
/// ```
#[derive(Debug, Clone)]
pub struct ServerInvite {
    state: ServerInviteState,
    request: Message,
    reliability: Reliability,
    config: TimerConfig,
    timers: Timers,
    /// Timer G's current interval.
    g_interval: Duration,
    /// The most recent provisional response sent.
    provisional: Option<Bytes>,
    /// The final response sent (the last 2xx, in Accepted).
    final_response: Option<(u16, Bytes)>,
    out: Outputs,
}

impl ServerInvite {
    /// Creates the transaction for an INVITE received at `now` and arms the `100 Trying`
    /// timer ([`TimerConfig::trying_delay`]; a zero delay sends it at once). The caller
    /// hands the INVITE to the TU.
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`] or [`TransactionError::UnexpectedMethod`] when
    /// `request` is not an INVITE.
    pub fn new(
        request: Message,
        reliability: Reliability,
        config: TimerConfig,
        now: Instant,
    ) -> Result<ServerInvite, TransactionError> {
        super::error::require_invite(&request)?;
        let mut tx = ServerInvite {
            state: ServerInviteState::Proceeding,
            request,
            reliability,
            config,
            timers: Timers::default(),
            g_interval: config.t1,
            provisional: None,
            final_response: None,
            out: Outputs::default(),
        };
        match config.trying_delay {
            Some(d) if d.is_zero() => tx.send_trying(),
            Some(d) => tx.timers.arm(Timer::Trying, now, d),
            None => {}
        }
        Ok(tx)
    }

    /// The current state.
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// Whether the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerInviteState::Terminated
    }

    /// The status of the final response sent, if any.
    pub fn final_status(&self) -> Option<u16> {
        self.final_response.as_ref().map(|(s, _)| *s)
    }

    /// The To tag of the last response sent (for matching an RFC 2543 ACK, §17.2.3).
    pub(crate) fn response_to_tag(&self) -> Option<String> {
        let bytes = self
            .final_response
            .as_ref()
            .map(|(_, b)| b)
            .or(self.provisional.as_ref())?;
        let m = parse(bytes.clone()).ok()?;
        m.to().and_then(|t| t.tag()).map(str::to_owned)
    }

    /// Sends a response from the TU (§17.2.1). In Proceeding: a 1xx is sent and remembered
    /// for retransmitted INVITEs; a 2xx is sent and moves to Accepted (Timer L, RFC 6026); a
    /// 300–699 is sent and moves to Completed (Timer G on unreliable transports, Timer H).
    /// In Accepted, further 2xx (the TU's retransmissions, §13.3.1.4) are sent.
    ///
    /// # Errors
    /// [`TransactionError::NotAResponse`], [`TransactionError::InvalidStatus`],
    /// [`TransactionError::FinalAlreadySent`] for anything else after a final,
    /// [`TransactionError::Terminated`].
    pub fn respond(&mut self, now: Instant, response: Message) -> Result<(), TransactionError> {
        let status = status_of(&response)?;
        let bytes = response.to_bytes();
        use ServerInviteState as S;
        match (self.state, status) {
            (S::Terminated, _) => return Err(TransactionError::Terminated),
            (S::Proceeding, 100..=199) => {
                self.timers.stop(Timer::Trying);
                self.provisional = Some(bytes.clone());
                self.out.send(bytes, false);
            }
            (S::Proceeding, 200..=299) => {
                self.state = S::Accepted;
                self.timers.stop_all();
                self.final_response = Some((status, bytes.clone()));
                self.out.send(bytes, false);
                self.timers.arm(Timer::L, now, self.config.timer_b());
            }
            (S::Proceeding, _) => {
                self.state = S::Completed;
                self.timers.stop_all();
                self.final_response = Some((status, bytes.clone()));
                self.out.send(bytes, false);
                if let Some(g) = self.config.first_retransmit(self.reliability) {
                    self.g_interval = g;
                    self.timers.arm(Timer::G, now, g);
                }
                self.timers.arm(Timer::H, now, self.config.timer_b());
            }
            (S::Accepted, 200..=299) => {
                let again = self
                    .final_response
                    .as_ref()
                    .is_some_and(|(_, b)| *b == bytes);
                self.final_response = Some((status, bytes.clone()));
                self.out.send(bytes, again);
            }
            (S::Accepted | S::Completed | S::Confirmed, refused) => {
                return Err(TransactionError::FinalAlreadySent {
                    sent: self.final_status().unwrap_or(0),
                    refused,
                })
            }
        }
        Ok(())
    }

    /// Takes a request matched to this transaction: a retransmitted INVITE or an ACK.
    ///
    /// - INVITE in Proceeding: the last provisional is sent again; when there is none yet,
    ///   `100 Trying` is sent now (unless disabled), since the client is evidently waiting.
    /// - INVITE in Completed: the final response is sent again. Elsewhere: absorbed.
    /// - ACK in Completed: → Confirmed, [`TransactionEvent::Ack`], Timer I (T4; on a
    ///   reliable transport the transaction terminates at once). In Accepted: passed to the
    ///   TU (RFC 6026). Elsewhere: absorbed.
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`]; [`TransactionError::UnexpectedMethod`] for
    /// another method (a CANCEL goes to [`cancel`](Self::cancel));
    /// [`TransactionError::Terminated`].
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: Message,
    ) -> Result<(), TransactionError> {
        use ServerInviteState as S;
        if self.state == S::Terminated {
            return Err(TransactionError::Terminated);
        }
        match request.method() {
            Some("INVITE") => match self.state {
                S::Proceeding => match &self.provisional {
                    Some(p) => self.out.send(p.clone(), true),
                    None if self.config.trying_delay.is_some() => self.send_trying(),
                    None => {}
                },
                S::Completed => {
                    if let Some((_, f)) = &self.final_response {
                        self.out.send(f.clone(), true);
                    }
                }
                _ => {}
            },
            Some("ACK") => match self.state {
                S::Completed => {
                    self.state = S::Confirmed;
                    self.timers.stop_all();
                    self.out.event(TransactionEvent::Ack(request));
                    let i = self.config.timer_k(self.reliability);
                    if i.is_zero() {
                        self.terminate();
                    } else {
                        self.timers.arm(Timer::I, now, i);
                    }
                }
                S::Accepted => self.out.event(TransactionEvent::Ack(request)),
                _ => {}
            },
            Some(m) => {
                return Err(TransactionError::UnexpectedMethod {
                    expected: "INVITE or ACK",
                    got: m.to_owned(),
                })
            }
            None => return Err(TransactionError::NotARequest),
        }
        Ok(())
    }

    /// A CANCEL matched this transaction (§9.2). Before a final response, reports
    /// [`TransactionEvent::Cancelled`] (the TU answers 487) and returns `true`; afterwards
    /// the CANCEL has no effect and this returns `false`. Either way the CANCEL's own
    /// transaction answers it with 200.
    pub fn cancel(&mut self, _now: Instant, cancel: Message) -> bool {
        if self.state == ServerInviteState::Proceeding {
            self.out.event(TransactionEvent::Cancelled(cancel));
            true
        } else {
            false
        }
    }

    /// Fires every timer due at `now`, earliest first: the `100 Trying` timer sends 100
    /// if the TU has sent nothing; Timer G resends the final and sets G = min(2·G, T2);
    /// Timer H reports [`TransactionEvent::Timeout`] (no ACK) and terminates; Timers I and
    /// L terminate.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.timers.take_expired(now) {
            match t {
                Timer::Trying
                    if self.state == ServerInviteState::Proceeding
                        && self.provisional.is_none() =>
                {
                    self.send_trying();
                }
                Timer::G if self.state == ServerInviteState::Completed => {
                    if let Some((_, f)) = &self.final_response {
                        self.out.send(f.clone(), true);
                    }
                    self.g_interval = self.config.next_capped(self.g_interval);
                    self.timers.arm(Timer::G, now, self.g_interval);
                }
                Timer::H => {
                    self.out.event(TransactionEvent::Timeout(Timer::H));
                    self.terminate();
                }
                Timer::I | Timer::L => self.terminate(),
                _ => {}
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

    fn send_trying(&mut self) {
        self.timers.stop(Timer::Trying);
        if let Some(b) = response_to(&self.request, 100, "Trying", &[]) {
            self.provisional = Some(b.clone());
            self.out.send(b, false);
        }
    }

    fn terminate(&mut self) {
        self.state = ServerInviteState::Terminated;
        self.timers.stop_all();
        self.out.event(TransactionEvent::Terminated);
    }

    drain_methods!();
}
