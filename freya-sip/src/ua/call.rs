//! [`Call`]: the handle of one call, inbound or outbound — what is known about it
//! ([`CallInfo`]), its events, and what can be done to it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::dialog::{CallDirection, DialogError, DialogEvent, Dtmf, SessionId, Q850};
use crate::message::Message;
use crate::sdp::{Capabilities, Negotiated, SessionDescription};
use crate::transport::TransportKind;

use super::agent::{now, Shared};
use super::error::UaError;
use super::identify::{Party, Peer};

/// What is known about a call when it starts.
///
/// ```
/// use freya_sip::ua::CallInfo;
/// fn x_headers(info: &CallInfo) -> Vec<(String, String)> {
///     info.invite.headers()
///         .filter(|h| h.name().len() > 2 && h.name()[..2].eq_ignore_ascii_case("X-"))
///         .map(|h| (h.name().to_owned(), h.value().to_owned()))
///         .collect()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The session in the dialog layer.
    pub session: SessionId,
    /// Inbound (we were called) or outbound (we called).
    pub direction: CallDirection,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The caller: for an inbound call from a trunk with `trust_id_inbound`, the
    /// P-Asserted-Identity or Remote-Party-ID; else From.
    pub caller: Option<Party>,
    /// The callee (To).
    pub callee: Option<Party>,
    /// The trunk or endpoint the call came from or goes through.
    pub peer: Option<Peer>,
    /// Where the INVITE came from (inbound) or was sent to (outbound).
    pub remote: SocketAddr,
    /// The transport it runs over.
    pub transport: TransportKind,
    /// The INVITE: received (every header in order with its exact bytes, X- headers
    /// included) or sent.
    pub invite: Message,
}

impl CallInfo {
    /// The SDP offer of an inbound INVITE, when it carried one that parses (an
    /// `application/sdp` body, or the first such part of a `multipart/mixed` body): parsed
    /// from [`CallInfo::invite`] on each call rather than kept, because a parsed description
    /// costs ~2.5 KiB per live call and is read once, at setup (BENCHMARKS.md, memory).
    /// `None` for an outbound call, an INVITE without SDP, or an offer that does not parse
    /// (the dialog layer has already refused such an INVITE with 400/488).
    pub fn offer(&self) -> Option<SessionDescription> {
        match self.direction {
            crate::dialog::CallDirection::Inbound => {
                crate::dialog::info::sdp_of(&self.invite).and_then(Result::ok)
            }
            crate::dialog::CallDirection::Outbound => None,
        }
    }
}

/// One call. Its events ([`DialogEvent`]: progress, answer, media changes, DTMF, and
/// exactly one [`DialogEvent::Ended`] carrying the SIP status and the Q.850 cause) come
/// from [`Call::next_event`]. Dropping the handle of a call still alive hangs it up
/// (rejects it with 480 if it was never answered): nothing is left ringing unowned.
///
/// ```no_run
/// use freya_sip::ua::Call;
/// use freya_sip::dialog::DialogEvent;
/// use freya_sip::sdp::Capabilities;
/// async fn serve(call: Call) -> Result<(), freya_sip::ua::UaError> {
///     call.ring()?;
///     call.answer(Capabilities::new("192.0.2.10".parse().unwrap(), 10000))?;
///     let mut call = call;
///     while let Some(ev) = call.next_event().await {
///         if let DialogEvent::Ended { end, .. } = ev {
///             println!("{end}");
///         }
///     }
///     Ok(())
/// }
/// ```
pub struct Call {
    shared: Arc<Shared>,
    info: Arc<CallInfo>,
    events: mpsc::UnboundedReceiver<Box<DialogEvent>>,
    /// Whether dropping the handle hangs the call up.
    armed: bool,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("session", &self.info.session)
            .field("direction", &self.info.direction)
            .field("call_id", &self.info.call_id)
            .finish()
    }
}

impl Call {
    pub(crate) fn new(
        shared: Arc<Shared>,
        info: Arc<CallInfo>,
        events: mpsc::UnboundedReceiver<Box<DialogEvent>>,
    ) -> Call {
        Call {
            shared,
            info,
            events,
            armed: true,
        }
    }

    /// Makes dropping this handle do nothing (the UA already disposed of the call).
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// What is known about the call.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// A shareable copy of [`Call::info`].
    pub fn info_arc(&self) -> Arc<CallInfo> {
        self.info.clone()
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.info.session
    }

    /// The next event; `None` after [`DialogEvent::Ended`] (or once the UA shut down).
    pub async fn next_event(&mut self) -> Option<DialogEvent> {
        let ev = self.events.recv().await.map(|b| *b);
        if matches!(ev, Some(DialogEvent::Ended { .. }) | None) {
            self.armed = false;
        }
        ev
    }

    /// The media agreed now (after the answer; updated by re-INVITEs).
    pub fn negotiated(&self) -> Option<Negotiated> {
        let core = self.shared.lock();
        core.layer
            .session(self.info.session)
            .and_then(|s| s.negotiated().cloned())
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut crate::dialog::DialogLayer, SessionId) -> Result<T, DialogError>,
    ) -> Result<T, UaError> {
        with_session(&self.shared, self.info.session, f)
    }

    /// A handle that can hang this call up from elsewhere (a control API, a shutdown)
    /// while this [`Call`] stays with the task that runs it; see [`CallControl`].
    pub fn control(&self) -> CallControl {
        CallControl {
            shared: self.shared.clone(),
            session: self.info.session,
        }
    }

    /// Sends `180 Ringing` (inbound calls).
    ///
    /// # Errors
    /// [`UaError::Dialog`] when the call is not an unanswered inbound one.
    pub fn ring(&self) -> Result<(), UaError> {
        self.with(|l, id| l.ring(now(), id, &[]))
    }

    /// Sends `183 Session Progress` with an SDP answer from `media` (early media).
    ///
    /// # Errors
    /// As [`Call::ring`]; the INVITE must carry an offer.
    pub fn progress(&self, media: Capabilities) -> Result<(), UaError> {
        self.with(|l, id| l.progress(now(), id, media, &[]))
    }

    /// Answers with `200 OK` and an SDP answer built from `media` (our RTP address, port
    /// and codecs; RFC 3264 §6) — or an offer when the INVITE had none. The call is
    /// established when the ACK comes ([`DialogEvent::Confirmed`]).
    ///
    /// # Errors
    /// As [`Call::ring`]; [`DialogError::Negotiation`] when no codec is in common (the
    /// caller then got 488 and the call ended).
    pub fn answer(&self, media: Capabilities) -> Result<(), UaError> {
        self.with(|l, id| l.answer(now(), id, media, &[]))
    }

    /// Answers with extra headers in the 200.
    ///
    /// # Errors
    /// As [`Call::answer`], and [`DialogError::InvalidHeader`] for a header refused.
    pub fn answer_with(
        &self,
        media: Capabilities,
        headers: &[(&str, &str)],
    ) -> Result<(), UaError> {
        self.with(|l, id| l.answer(now(), id, media, headers))
    }

    /// Rejects an unanswered inbound call with `status` (300–699), `reason`, and a
    /// `Reason: Q.850;cause=N` header when `cause` is given (RFC 3326).
    ///
    /// # Errors
    /// As [`Call::ring`]; [`DialogError::InvalidStatus`] outside 300–699.
    pub fn reject(&self, status: u16, reason: &str, cause: Option<Q850>) -> Result<(), UaError> {
        self.with(|l, id| l.reject(now(), id, status, reason, cause, &[]))
    }

    /// Hangs up: CANCEL before an answer (outbound), a rejection (inbound, unanswered),
    /// BYE after; with `Reason: Q.850` (`cause`, default 16 normal clearing).
    ///
    /// # Errors
    /// [`UaError::Dialog`] with [`DialogError::NoSuchSession`] once the call has ended.
    pub fn hangup(&self, cause: Option<Q850>) -> Result<(), UaError> {
        self.with(|l, id| l.hangup(now(), id, cause))
    }

    /// Sends a re-INVITE with new media (`None`: the same offer again, a refresh). The
    /// outcome is [`DialogEvent::MediaUpdated`] or [`DialogEvent::ReinviteFailed`].
    ///
    /// # Errors
    /// [`DialogError::InvalidState`] before the call is established;
    /// [`DialogError::InviteInProgress`] while another INVITE is under way.
    pub fn reinvite(&self, media: Option<Capabilities>) -> Result<(), UaError> {
        self.with(|l, id| l.reinvite(now(), id, media))
    }

    /// Puts the call on hold (re-INVITE with `a=sendonly`, RFC 3264 §8.4).
    ///
    /// # Errors
    /// As [`Call::reinvite`].
    pub fn hold(&self) -> Result<(), UaError> {
        self.with(|l, id| l.hold(now(), id))
    }

    /// Takes the call off hold (re-INVITE with `a=sendrecv`).
    ///
    /// # Errors
    /// As [`Call::reinvite`].
    pub fn unhold(&self) -> Result<(), UaError> {
        self.with(|l, id| l.unhold(now(), id))
    }

    /// Asks the peer to transfer the call to `target` (a `sip:`, `sips:` or `tel:` URI) by
    /// REFER (RFC 3515; a blind transfer, RFC 5589 §6.1). The REFER's final response comes
    /// as [`DialogEvent::RequestCompleted`] (method `REFER`), the transferee's progress as
    /// [`DialogEvent::ReferNotify`]; the call stays up until someone hangs up.
    ///
    /// # Errors
    /// [`UaError::Dialog`]: [`DialogError::InvalidState`] before the call is established,
    /// [`DialogError::InvalidUri`] for a target that does not parse.
    pub fn refer(&self, target: &str) -> Result<(), UaError> {
        self.with(|l, id| l.refer(now(), id, target).map(|_| ()))
    }

    /// Sends a DTMF key press as a SIP INFO (`application/dtmf-relay`); `duration_ms` in
    /// milliseconds.
    ///
    /// # Errors
    /// [`UaError::Dialog`] for a digit that is not `0-9 * # A-D` or a call not
    /// established.
    pub fn send_dtmf(&self, digit: char, duration_ms: u32) -> Result<(), UaError> {
        let dtmf = Dtmf::new(digit, duration_ms);
        if !"0123456789*#ABCDabcd".contains(digit) {
            return Err(UaError::Dialog(DialogError::InvalidHeader {
                name: "Signal".into(),
                reason: "a DTMF digit is one of 0-9 * # A-D",
            }));
        }
        self.with(|l, id| l.send_dtmf(now(), id, dtmf).map(|_| ()))
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.armed && !self.shared.is_closed() {
            // Not locking here: a handle may be dropped while the core is locked.
            let _ = self.shared.dropped.send(self.info.session);
            self.shared.wake.notify_one();
        }
    }
}

/// Runs `f` on the dialog layer for `session` and wakes the UA's driver to send what it
/// queued.
fn with_session<T>(
    shared: &Shared,
    session: SessionId,
    f: impl FnOnce(&mut crate::dialog::DialogLayer, SessionId) -> Result<T, DialogError>,
) -> Result<T, UaError> {
    if shared.is_closed() {
        return Err(UaError::Closed);
    }
    let r = {
        let mut core = shared.lock();
        f(&mut core.layer, session)
    };
    shared.wake.notify_one();
    Ok(r?)
}

/// Hangs up a call from outside the task that owns its [`Call`]: the control API's
/// `DELETE /calls/{id}`, a graceful shutdown. What follows is what [`Call::hangup`]
/// does (CANCEL, rejection or BYE, with `Reason: Q.850`, RFC 3326); the owning task sees
/// the call end through its events as for any local hang-up. Cheap to clone.
///
/// ```no_run
/// # async fn f(call: freya_sip::ua::Call) {
/// let control = call.control();
/// // ... later, from another task:
/// let _ = control.hangup(Some(freya_sip::dialog::Q850::new(16)));
/// # }
/// ```
#[derive(Clone)]
pub struct CallControl {
    shared: Arc<Shared>,
    session: SessionId,
}

impl std::fmt::Debug for CallControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallControl")
            .field("session", &self.session)
            .finish()
    }
}

impl CallControl {
    /// Hangs the call up with `Reason: Q.850;cause=N` (`cause`, default 16 normal clearing).
    ///
    /// # Errors
    /// [`UaError::Dialog`] with [`DialogError::NoSuchSession`] once the call has ended;
    /// [`UaError::Closed`] after the UA shut down.
    pub fn hangup(&self, cause: Option<Q850>) -> Result<(), UaError> {
        with_session(&self.shared, self.session, |l, id| {
            l.hangup(now(), id, cause)
        })
    }

    /// [`Call::refer`] from outside the call's task.
    ///
    /// # Errors
    /// As [`Call::refer`]; [`DialogError::NoSuchSession`] once the call has ended.
    pub fn refer(&self, target: &str) -> Result<(), UaError> {
        with_session(&self.shared, self.session, |l, id| {
            l.refer(now(), id, target).map(|_| ())
        })
    }
}
