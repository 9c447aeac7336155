//! What the dialog layer tells its user: incoming calls and requests, call progress,
//! answers, media changes, DTMF, and how each call ended (SIP status, Q.850 cause, side).

use bytes::Bytes;

use crate::message::Message;
use crate::sdp::{Negotiated, SessionDescription};
use crate::transaction::{Remote, TransactionKey};

use super::id::SessionId;
use super::info::Dtmf;
use super::q850::Q850;

/// Which side did something (hung up, changed the media).
///
/// ```
/// use freya_sip::dialog::Side;
/// assert_eq!(Side::Remote.as_str(), "remote");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// freya (our user, or the stack on its behalf: a timeout, a session expiry).
    Local,
    /// The peer.
    Remote,
}

impl Side {
    /// `local` or `remote`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }
}

/// How a call ended.
///
/// ```
/// use freya_sip::dialog::EndKind;
/// assert_eq!(EndKind::Bye.as_str(), "bye");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndKind {
    /// The INVITE got a 3xx–6xx final response (we were the UAC), or we answered one
    /// (we were the UAS).
    Rejected,
    /// The caller gave up before the answer (CANCEL, or a BYE on the early dialog). When
    /// the callee's 2xx crossed our CANCEL, the status is that 2xx's (the call was ACKed
    /// and released with BYE at once, RFC 3261 §9.1).
    Cancelled,
    /// A hang-up with BYE after the answer.
    Bye,
    /// No final response to the INVITE (Timer B, or none after our CANCEL): status 408.
    Timeout,
    /// We answered but no ACK came within 64·T1 (RFC 3261 §13.3.1.4): we sent BYE.
    NoAck,
    /// RFC 4028: no session refresh arrived before the session expired: we sent BYE.
    SessionExpired,
    /// An in-dialog request got 481 or 408, or timed out (RFC 3261 §12.2.1.2): the peer no
    /// longer has the dialog.
    DialogLost,
    /// Offer/answer failed on the answer (no codec in common, an unusable SDP): the call
    /// was refused with 488, or — as the UAC — ACKed and released with BYE.
    MediaFailed,
    /// The transport reported it could not send (treated as 503, RFC 3261 §8.1.3.1).
    TransportError,
}

impl EndKind {
    /// A lower-case name for logs and JSON (`rejected`, `cancelled`, `bye`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EndKind::Rejected => "rejected",
            EndKind::Cancelled => "cancelled",
            EndKind::Bye => "bye",
            EndKind::Timeout => "timeout",
            EndKind::NoAck => "no_ack",
            EndKind::SessionExpired => "session_expired",
            EndKind::DialogLost => "dialog_lost",
            EndKind::MediaFailed => "media_failed",
            EndKind::TransportError => "transport_error",
        }
    }
}

/// Where a call end's Q.850 cause came from.
///
/// ```
/// use freya_sip::dialog::CauseSource;
/// assert_ne!(CauseSource::Header, CauseSource::Mapped);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CauseSource {
    /// The peer's `Reason: Q.850;cause=N` header (RFC 3326).
    Header,
    /// Mapped from the SIP status by RFC 3398 §8.2.6.1 (the peer sent no Reason).
    Mapped,
    /// Not signalled by the peer: the cause we sent in our own BYE, CANCEL or response,
    /// or the one the event implies (16 Normal call clearing for a hang-up or a cancel
    /// without Reason).
    Implied,
}

/// How and why a call ended: one per session, in [`DialogEvent::Ended`].
///
/// ```
/// use freya_sip::dialog::{CallEnd, CauseSource, EndKind, Q850, Side};
/// let end = CallEnd::from_status(Side::Remote, EndKind::Rejected, 486, "Busy Here", None);
/// assert_eq!(end.cause, Some(Q850::USER_BUSY));
/// assert_eq!(end.cause_source, Some(CauseSource::Mapped));
/// assert_eq!(end.to_string(), "rejected by remote: 486 Busy Here, Q.850 cause 17 User busy");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEnd {
    /// Who ended the call.
    pub by: Side,
    /// How.
    pub kind: EndKind,
    /// The SIP status: the INVITE's final response (failure, rejection, cancellation), 200
    /// for a BYE hang-up, 408 for a timeout, 503 for a transport error.
    pub status: u16,
    /// The reason phrase of that status, as received or as we sent it.
    pub reason_phrase: String,
    /// The Q.850 cause: from the Reason header when present, else mapped from the status,
    /// else the one our own action implies; `None` when nothing gives one.
    pub cause: Option<Q850>,
    /// Where [`CallEnd::cause`] came from.
    pub cause_source: Option<CauseSource>,
    /// The Reason header's `text`, when present.
    pub reason_text: Option<String>,
    /// The message that ended the call (final response, BYE, CANCEL), when there was one.
    pub message: Option<Message>,
}

impl CallEnd {
    /// A call end for `status`, with the cause read from `message`'s Reason header when it
    /// has a Q.850 one, else mapped from the status (RFC 3398 §8.2.6.1).
    pub fn from_status(
        by: Side,
        kind: EndKind,
        status: u16,
        reason_phrase: &str,
        message: Option<&Message>,
    ) -> CallEnd {
        let q850 = message.and_then(|m| {
            m.reasons()
                .filter_map(Result::ok)
                .find(|r| r.is_q850() && r.cause.is_some())
                .map(|r| (r.cause.unwrap_or(0), r.text().map(|t| t.into_owned())))
        });
        let (cause, cause_source, reason_text) = match q850 {
            Some((n, text)) => (Some(Q850::new(n)), Some(CauseSource::Header), text),
            None => {
                let text = message.and_then(|m| {
                    m.reasons()
                        .filter_map(Result::ok)
                        .find_map(|r| r.text().map(|t| t.into_owned()))
                });
                match Q850::from_sip_status(status) {
                    Some(c) => (Some(c), Some(CauseSource::Mapped), text),
                    None => (None, None, text),
                }
            }
        };
        CallEnd {
            by,
            kind,
            status,
            reason_phrase: reason_phrase.to_owned(),
            cause,
            cause_source,
            reason_text,
            message: message.cloned(),
        }
    }

    /// Replaces a missing cause with `cause` (source [`CauseSource::Implied`]): a hang-up
    /// without Reason is 16 Normal call clearing.
    pub fn or_cause(mut self, cause: Q850) -> CallEnd {
        if self.cause.is_none() {
            self.cause = Some(cause);
            self.cause_source = Some(CauseSource::Implied);
        }
        self
    }

    /// A call end we caused, with our own `cause`.
    pub fn local(kind: EndKind, status: u16, reason_phrase: &str, cause: Option<Q850>) -> CallEnd {
        CallEnd {
            by: Side::Local,
            kind,
            status,
            reason_phrase: reason_phrase.to_owned(),
            cause,
            cause_source: cause.map(|_| CauseSource::Implied),
            reason_text: None,
            message: None,
        }
    }
}

impl std::fmt::Display for CallEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {}: {} {}",
            self.kind.as_str(),
            self.by.as_str(),
            self.status,
            self.reason_phrase
        )?;
        if let Some(c) = self.cause {
            write!(f, ", Q.850 cause {c}")?;
        }
        Ok(())
    }
}

/// A new call: an INVITE outside any dialog, handed over to be rung, answered or rejected
/// ([`DialogLayer::ring`](super::DialogLayer::ring), [`answer`](super::DialogLayer::answer),
/// [`reject`](super::DialogLayer::reject)). Until then the transaction layer keeps the
/// caller waiting with `100 Trying`; nothing is accepted implicitly.
///
/// ```
/// use freya_sip::dialog::{DialogEvent, IncomingCall};
/// fn caller(e: &DialogEvent) -> Option<String> {
///     match e {
///         DialogEvent::Incoming(call) => call.request.from().map(|f| f.uri.to_owned()),
///         _ => None,
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct IncomingCall {
    /// The session created for it.
    pub session: SessionId,
    /// The INVITE, every header as received.
    pub request: Message,
    /// Where it came from.
    pub remote: Remote,
    /// The SDP offer, when the INVITE carried one (else our answer will carry the offer).
    pub offer: Option<SessionDescription>,
}

/// A request the dialog layer does not handle itself, handed over to be answered with
/// [`DialogLayer::respond`](super::DialogLayer::respond): outside a dialog (OPTIONS
/// keep-alives, MESSAGE, REGISTER, SUBSCRIBE…) or inside one (REFER, NOTIFY, MESSAGE…).
///
/// ```
/// use freya_sip::dialog::IncomingRequest;
/// fn is_ping(r: &IncomingRequest) -> bool {
///     r.session.is_none() && r.request.method() == Some("OPTIONS")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    /// The session whose dialog it belongs to; `None` outside any dialog.
    pub session: Option<SessionId>,
    /// The server transaction to answer through.
    pub key: TransactionKey,
    /// The request.
    pub request: Message,
    /// Where it came from.
    pub remote: Remote,
}

/// What the dialog layer reports, drained with
/// [`DialogLayer::poll_event`](super::DialogLayer::poll_event).
///
/// ```
/// use freya_sip::dialog::DialogEvent;
/// fn log(e: &DialogEvent) -> String {
///     match e {
///         DialogEvent::Ended { session, end } => format!("{session}: {end}"),
///         other => format!("{:?}", other.session()),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub enum DialogEvent {
    /// A new incoming call.
    Incoming(IncomingCall),
    /// A request for the user to answer.
    Request(IncomingRequest),
    /// Our INVITE got a provisional response above 100 (180 Ringing, 183 Session Progress);
    /// `early_media` is what its SDP answer agreed, when it had one.
    Progress {
        /// The session.
        session: SessionId,
        /// The status (101–199).
        status: u16,
        /// The response.
        response: Message,
        /// The early-media agreement, when the response carried SDP.
        early_media: Option<Negotiated>,
    },
    /// Our INVITE was answered (2xx) and ACKed; `media` is what the answer agreed. (An
    /// answer whose SDP cannot be accepted is ACKed and released instead: no `Answered`,
    /// an `Ended` with [`EndKind::MediaFailed`].)
    Answered {
        /// The session.
        session: SessionId,
        /// The 2xx.
        response: Message,
        /// The agreement.
        media: Negotiated,
    },
    /// The ACK for our 2xx arrived: the incoming call is established (RFC 3261 §13.3.1.4).
    Confirmed {
        /// The session.
        session: SessionId,
    },
    /// A re-INVITE or UPDATE changed the media (hold, resume, new address or codec).
    MediaUpdated {
        /// The session.
        session: SessionId,
        /// Who asked for the change.
        by: Side,
        /// What is agreed now.
        media: Negotiated,
    },
    /// Our re-INVITE was refused (the media stays as it was, RFC 3264 §8); 491 is retried
    /// by the layer itself and not reported.
    ReinviteFailed {
        /// The session.
        session: SessionId,
        /// The final status (408 on timeout).
        status: u16,
    },
    /// A DTMF key press arrived in a SIP INFO.
    Dtmf {
        /// The session.
        session: SessionId,
        /// The key press.
        dtmf: Dtmf,
    },
    /// An INFO with another body arrived (answered 200).
    Info {
        /// The session.
        session: SessionId,
        /// Its Content-Type, when present.
        content_type: Option<String>,
        /// Its body.
        body: Bytes,
    },
    /// A NOTIFY of the refer subscription our REFER created
    /// ([`DialogLayer::refer`](super::DialogLayer::refer)) arrived (answered 200): how the
    /// transferee's INVITE to the target goes (RFC 3515 §2.4.5).
    ReferNotify {
        /// The session.
        session: SessionId,
        /// The sipfrag's status and whether the subscription ended.
        progress: super::ReferProgress,
    },
    /// A request we sent in the dialog with
    /// [`DialogLayer::send_request`](super::DialogLayer::send_request) (INFO, OPTIONS, …)
    /// or [`DialogLayer::refer`](super::DialogLayer::refer) got its final response (status
    /// 408 on timeout, 503 on transport error).
    RequestCompleted {
        /// The session.
        session: SessionId,
        /// Its transaction.
        key: TransactionKey,
        /// The final status.
        status: u16,
        /// The response, when one arrived.
        response: Option<Message>,
    },
    /// A session timer was (re)negotiated (RFC 4028): refreshes every `seconds` / 2 when
    /// `we_refresh`, else a BYE if the peer's refresh does not come in time.
    SessionTimer {
        /// The session.
        session: SessionId,
        /// The session interval, in seconds.
        seconds: u32,
        /// Whether we are the refresher.
        we_refresh: bool,
    },
    /// A request sent with
    /// [`DialogLayer::send_standalone`](super::DialogLayer::send_standalone) got its final
    /// response (status 408 on timeout, 503 on a transport error, then no response).
    StandaloneCompleted {
        /// Its transaction.
        key: TransactionKey,
        /// The final status.
        status: u16,
        /// The response, when one arrived.
        response: Option<Message>,
    },
    /// The call is over; the session is gone. Exactly one per session.
    Ended {
        /// The session.
        session: SessionId,
        /// How and why.
        end: CallEnd,
    },
}

impl DialogEvent {
    /// The session the event concerns (`None` for an out-of-dialog request or a
    /// standalone request's outcome).
    pub fn session(&self) -> Option<SessionId> {
        match self {
            DialogEvent::Incoming(c) => Some(c.session),
            DialogEvent::Request(r) => r.session,
            DialogEvent::StandaloneCompleted { .. } => None,
            DialogEvent::Progress { session, .. }
            | DialogEvent::Answered { session, .. }
            | DialogEvent::Confirmed { session }
            | DialogEvent::MediaUpdated { session, .. }
            | DialogEvent::ReinviteFailed { session, .. }
            | DialogEvent::Dtmf { session, .. }
            | DialogEvent::Info { session, .. }
            | DialogEvent::ReferNotify { session, .. }
            | DialogEvent::RequestCompleted { session, .. }
            | DialogEvent::SessionTimer { session, .. }
            | DialogEvent::Ended { session, .. } => Some(*session),
        }
    }
}
