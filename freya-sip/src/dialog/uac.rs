//! The calling side (RFC 3261 §13.2): our INVITE, its provisional and final responses,
//! early dialogs, the ACK for every 2xx (§13.2.2.4), forks released with BYE, the 422
//! retry of RFC 4028 §7.4.

use std::fmt::Write as _;
use std::time::Instant;

use crate::auth::{Credentials, DigestClient};
use crate::message::{HeaderKind, Message, Uri};
use crate::sdp::{Capabilities, MediaSession};
use crate::transaction::Remote;

use super::build::{check_header, finish, Body};
use super::error::DialogError;
use super::event::{CallEnd, DialogEvent, EndKind, Side};
use super::id::{DialogId, SessionId};
use super::info::sdp_of;
use super::layer::{DialogLayer, Purpose};
use super::q850::Q850;
use super::session::{CallDirection, Session, SessionState};
use super::session_timer::{lists_option, min_se, session_timer_uac, SessionTimer};
use super::state::Dialog;

/// The methods freya accepts in a dialog (the `Allow` header).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";

/// A call to place with [`DialogLayer::invite`].
///
/// ```
/// use freya_sip::dialog::OutgoingCall;
/// use freya_sip::sdp::Capabilities;
/// use freya_sip::transaction::Remote;
/// let call = OutgoingCall::new(
///     "sip:+14155550100@trunk.example",
///     "\"Freya\" <sip:+442071838750@192.0.2.10>",
///     Remote::udp("198.51.100.7:5060".parse().unwrap()),
///     Capabilities::new("192.0.2.10".parse().unwrap(), 10000),
/// )
/// .header("X-Freya-Direction", "outbound")
/// .header("X-Freya-Workflow-Id", "wf-42");
/// assert_eq!(call.headers.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCall {
    /// The Request-URI (`sip:+14155550100@trunk.example`).
    pub target: String,
    /// The To value; `<target>` when `None`.
    pub to: Option<String>,
    /// The From value without a tag (`"Freya" <sip:+4420…@192.0.2.10>`); our tag is added.
    pub from: String,
    /// Where to send the INVITE (the trunk or outbound proxy).
    pub remote: Remote,
    /// Route values to put in the INVITE (a pre-loaded route set, RFC 3261 §8.1.2).
    pub route: Vec<String>,
    /// Extra headers, written in this order with exactly these bytes (names checked to be
    /// tokens, values to hold no CR/LF).
    pub headers: Vec<(String, String)>,
    /// Our media capabilities: the SDP offer is built from them.
    pub media: Capabilities,
    /// Answers a 401/407 to the INVITE (RFC 3261 §22.2): the INVITE is sent again once per
    /// challenge with `Authorization` / `Proxy-Authorization`. Without credentials, or
    /// when the realm challenges again without `stale=true`, the call ends with that
    /// status.
    pub credentials: Option<Credentials>,
}

impl OutgoingCall {
    /// A call to `target` from `from`, sent to `remote`, offering `media`.
    pub fn new(
        target: impl Into<String>,
        from: impl Into<String>,
        remote: Remote,
        media: Capabilities,
    ) -> OutgoingCall {
        OutgoingCall {
            target: target.into(),
            to: None,
            from: from.into(),
            remote,
            route: Vec::new(),
            headers: Vec::new(),
            media,
            credentials: None,
        }
    }

    /// Sets the credentials that answer a challenge to the INVITE.
    pub fn credentials(mut self, credentials: Credentials) -> OutgoingCall {
        self.credentials = Some(credentials);
        self
    }

    /// Adds an extra header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> OutgoingCall {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the To value.
    pub fn to(mut self, to: impl Into<String>) -> OutgoingCall {
        self.to = Some(to.into());
        self
    }
}

fn no_crlf(name: &str, v: &str) -> Result<(), DialogError> {
    check_header(name, v)
}

impl DialogLayer {
    /// Places a call: builds the INVITE (our tag and a fresh Call-ID, CSeq 1, Contact,
    /// `Allow`, `Supported: timer` and — when configured — `Session-Expires`, the extra
    /// headers, the SDP offer from `call.media`) and starts its transaction. Progress,
    /// answer and failure come as events.
    ///
    /// # Errors
    /// [`DialogError::InvalidUri`] for a target that is not a URI (or carries headers);
    /// [`DialogError::InvalidHeader`] for an extra header refused (nothing is sent).
    pub fn invite(&mut self, now: Instant, call: OutgoingCall) -> Result<SessionId, DialogError> {
        match Uri::parse(&call.target) {
            Ok(Uri::Sip(u)) if !u.headers.is_empty() => {
                return Err(DialogError::InvalidUri {
                    uri: call.target,
                    reason: "a Request-URI cannot carry headers".into(),
                })
            }
            Ok(_) => {}
            Err(e) => {
                return Err(DialogError::InvalidUri {
                    uri: call.target.clone(),
                    reason: format!("{} at offset {}", e.what, e.at),
                })
            }
        }
        let to = call
            .to
            .clone()
            .unwrap_or_else(|| format!("<{}>", call.target));
        no_crlf("To", &to)?;
        no_crlf("From", &call.from)?;
        for r in &call.route {
            no_crlf("Route", r)?;
        }
        let host = self
            .config
            .via_sent_by
            .rsplit_once(':')
            .filter(|(h, p)| !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(self.config.via_sent_by.as_str(), |(h, _)| h)
            .to_owned();
        let call_id = self.ids.call_id(&host);
        let tag = self.ids.tag();
        let via = self.via(call.remote.reliability);
        let mut media =
            MediaSession::new(call.media.clone(), 1 + self.ids.below(u64::from(u32::MAX)));
        let offer = media.create_offer().to_bytes();
        let mut head = String::with_capacity(768);
        let _ = write!(
            head,
            "INVITE {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n",
            call.target
        );
        for r in &call.route {
            let _ = write!(head, "Route: {r}\r\n");
        }
        let _ = write!(
            head,
            "From: {};tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: {}\r\nAllow: {ALLOW}\r\n",
            call.from,
            self.config.contact_value(call.remote.reliability)
        );
        let st = self.config.session_timer;
        if st.enabled {
            head.push_str("Supported: timer\r\n");
            if let Some(se) = st.session_expires {
                let _ = write!(head, "Session-Expires: {se}\r\nMin-SE: {}\r\n", st.min_se);
            }
        }
        if let Some(ua) = &self.config.user_agent {
            let _ = write!(head, "User-Agent: {ua}\r\n");
        }
        let invite = finish(
            head,
            &call.headers,
            Some(Body {
                content_type: "application/sdp",
                bytes: &offer,
            }),
        )?;
        let key = self.tx.send_request(now, invite.clone(), call.remote)?;
        let auth = call
            .credentials
            .map(|c| Box::new(DigestClient::with_seed(c, self.ids.next_u64())));
        let id = self.new_session_id();
        self.by_tx
            .insert(key.clone(), (id, Purpose::Invite, call.remote));
        self.outbound.insert((call_id, tag.clone()), id);
        self.sessions.insert(
            id,
            Box::new(Session {
                id,
                direction: CallDirection::Outbound,
                state: SessionState::Calling,
                remote: call.remote,
                invite,
                invite_key: key,
                local_tag: tag,
                dialog: None,
                early: Vec::new(),
                media: Some(media),
                timer: None,
                uas_timer: None,
                min_se: st.min_se,
                pending_ack: None,
                reinvite: None,
                glare_retry: None,
                hangup_cause: None,
                peer_allows_update: false,
                retries_422: 0,
                auth,
                progress_seen: Vec::new(),
                refers_pending: 0,
                ended: false,
                scheduled: None,
            }),
        );
        self.finish(now);
        Ok(id)
    }

    /// A provisional response to our INVITE: an early dialog per To tag (RFC 3261
    /// §12.1.2; several when the INVITE forked), early media from its SDP, a `Progress`
    /// event above 100 (once per status and To tag, unless it brings SDP).
    pub(crate) fn uac_provisional(&mut self, _now: Instant, id: SessionId, r: Message) {
        let status = r.status_code().unwrap_or(0);
        if status <= 100 {
            return;
        }
        let Some(s) = self.s_mut(id) else {
            return;
        };
        if s.ended
            || !matches!(
                s.state,
                SessionState::Calling | SessionState::Proceeding | SessionState::Cancelling
            )
        {
            return;
        }
        if s.state == SessionState::Calling {
            s.state = SessionState::Proceeding;
        }
        let mut new_dialog = None;
        if let Some(did) = DialogId::of_incoming_response(&r) {
            match s.early.iter_mut().find(|d| d.id() == &did) {
                Some(d) => {
                    d.refresh_target(&r);
                }
                None => match Dialog::uac(&s.invite, &r) {
                    Ok(d) => {
                        s.early.push(d);
                        new_dialog = Some(did);
                    }
                    Err(error) => {
                        tracing::warn!(session = %id, %error, "dialog: early dialog not created")
                    }
                },
            }
        }
        let early_media = match (sdp_of(&r), s.media.as_mut()) {
            (Some(Ok(sdp)), Some(m)) => match m.receive_answer(&sdp) {
                Ok(n) => Some(n.clone()),
                Err(error) => {
                    tracing::warn!(session = %id, %error, "dialog: early-media answer refused");
                    None
                }
            },
            (Some(Err(error)), _) => {
                tracing::warn!(session = %id, %error, "dialog: provisional response with unreadable SDP");
                None
            }
            _ => None,
        };
        let cancelling = s.state == SessionState::Cancelling;
        let seen = (
            status,
            r.to().and_then(|t| t.tag()).unwrap_or("").to_owned(),
        );
        let repeated = s.progress_seen.contains(&seen);
        if !repeated && s.progress_seen.len() < 32 {
            s.progress_seen.push(seen);
        }
        if let Some(did) = new_dialog {
            self.dialogs.insert(did, id);
        }
        if !cancelling && !repeated {
            self.events.push_back(DialogEvent::Progress {
                session: id,
                status,
                response: r,
                early_media,
            });
        }
    }

    /// A 2xx to our INVITE that no kept ACK answers: the answer (confirm the dialog, ACK,
    /// apply the SDP answer, start the session timer), or a fork / an answer that crossed
    /// our CANCEL (ACK, then BYE: RFC 3261 §13.2.2.4, §9.1).
    pub(crate) fn uac_2xx(
        &mut self,
        now: Instant,
        id: Option<SessionId>,
        r: Message,
        remote: Remote,
    ) {
        let Some(did) = DialogId::of_incoming_response(&r) else {
            self.stats.stray_responses += 1;
            return;
        };
        let cseq = r.cseq().map_or(0, |c| c.seq);
        let session = id.and_then(|id| self.sessions.get(&id));
        let invite_cseq = session.and_then(|s| s.invite.cseq()).map(|c| c.seq);
        // A retransmission of the answer whose kept ACK expired: ACK it again, nothing more.
        if let Some(s) = session.filter(|s| s.dialog.as_ref().is_some_and(|d| d.id() == &did)) {
            if let Some(d) = s.dialog.clone() {
                let hop = d.next_hop(s.remote);
                let via = self.via(hop.reliability);
                if let Ok(ack) = d.build_ack(cseq, &via, None) {
                    self.send_ack(now, did, cseq, ack.to_bytes(), hop);
                }
            }
            return;
        }
        let confirm = session.is_some_and(|s| {
            !s.ended
                && s.dialog.is_none()
                && matches!(s.state, SessionState::Calling | SessionState::Proceeding)
                && invite_cseq == Some(cseq)
        });
        let (Some(id), true) = (id, confirm) else {
            let (req, fallback, cancelling) = match session {
                Some(s) => (
                    s.invite.clone(),
                    s.remote,
                    s.state == SessionState::Cancelling && s.dialog.is_none(),
                ),
                None => (r.clone(), remote, false),
            };
            self.release_fork(now, id, &req, &r, fallback);
            if let (Some(id), true) = (id, cancelling) {
                let cause = self
                    .sessions
                    .get(&id)
                    .and_then(|s| s.hangup_cause)
                    .unwrap_or(Q850::NORMAL_CALL_CLEARING);
                self.unmap_early(id);
                let end = CallEnd::from_status(
                    Side::Local,
                    EndKind::Cancelled,
                    r.status_code().unwrap_or(200),
                    r.reason_phrase().unwrap_or(""),
                    Some(&r),
                )
                .or_cause(cause);
                self.end(id, end);
            }
            return;
        };
        self.unmap_early(id);
        let cfg = self.config.session_timer;
        let Some(s) = self.s_mut(id) else {
            return;
        };
        let dialog = match Dialog::uac(&s.invite, &r) {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(session = %id, %error, "dialog: 2xx without what a dialog needs; dropped");
                return;
            }
        };
        s.state = SessionState::Established;
        s.peer_allows_update = lists_option(&r, HeaderKind::Allow, "UPDATE");
        let hop = dialog.next_hop(s.remote);
        s.dialog = Some(dialog.clone());
        let media = match (sdp_of(&r), s.media.as_mut()) {
            (Some(Ok(sdp)), Some(m)) => m.receive_answer(&sdp).cloned().map_err(|e| e.to_string()),
            (Some(Err(e)), _) => Err(e.to_string()),
            (None, Some(m)) => m
                .negotiated()
                .cloned()
                .ok_or_else(|| "the 2xx has no SDP answer".to_owned()),
            (_, None) => Err("no media session".to_owned()),
        };
        let timer = session_timer_uac(&cfg, &r);
        s.timer = timer.map(|(secs, we)| SessionTimer::start(now, secs, we));
        self.dialogs.insert(did.clone(), id);
        let via = self.via(hop.reliability);
        match dialog.build_ack(cseq, &via, None) {
            Ok(ack) => self.send_ack(now, did, cseq, ack.to_bytes(), hop),
            Err(error) => tracing::warn!(session = %id, %error, "dialog: ACK could not be built"),
        }
        match media {
            Ok(n) => {
                self.events.push_back(DialogEvent::Answered {
                    session: id,
                    response: r,
                    media: n,
                });
                if let Some((seconds, we_refresh)) = timer {
                    self.events.push_back(DialogEvent::SessionTimer {
                        session: id,
                        seconds,
                        we_refresh,
                    });
                }
            }
            Err(error) => {
                // RFC 3261 §13.2.2.4 / RFC 3264: ACK, then release the call.
                tracing::warn!(session = %id, %error, "dialog: answer refused; releasing the call");
                let _ = self.send_bye(now, id, Some(Q850::new(65)));
                let mut end = CallEnd::local(
                    EndKind::MediaFailed,
                    488,
                    "Not Acceptable Here",
                    Some(Q850::new(65)),
                );
                end.message = Some(r);
                self.end(id, end);
            }
        }
    }

    /// ACKs a 2xx we do not want and releases its dialog with BYE.
    fn release_fork(
        &mut self,
        now: Instant,
        id: Option<SessionId>,
        req: &Message,
        r: &Message,
        fallback: Remote,
    ) {
        let mut d = match Dialog::uac(req, r) {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "dialog: unusable 2xx from a fork; dropped");
                return;
            }
        };
        let cseq = r.cseq().map_or(0, |c| c.seq);
        let hop = d.next_hop(fallback);
        let via = self.via(hop.reliability);
        if let Ok(ack) = d.build_ack(cseq, &via, None) {
            self.send_ack(now, d.id().clone(), cseq, ack.to_bytes(), hop);
        }
        let via = self.via(hop.reliability);
        let reason = [("Reason", "SIP;cause=200;text=\"Call completed elsewhere\"")];
        match d.build_request("BYE", &via, &reason, None) {
            Ok(bye) => match self.tx.send_request(now, bye, hop) {
                Ok(key) => {
                    self.by_tx.insert(
                        key,
                        (id.unwrap_or(SessionId::from_raw(0)), Purpose::ForkBye, hop),
                    );
                }
                Err(error) => tracing::warn!(%error, "dialog: BYE for a fork not sent"),
            },
            Err(error) => tracing::warn!(%error, "dialog: BYE for a fork not built"),
        }
        self.stats.forks_released += 1;
        tracing::debug!(dialog = %d.id(), "dialog: extra 2xx ACKed and released");
    }

    fn unmap_early(&mut self, id: SessionId) {
        let Some(s) = self.s_mut(id) else {
            return;
        };
        let early = std::mem::take(&mut s.early);
        for d in early {
            if self.dialogs.get(d.id()) == Some(&id) {
                self.dialogs.remove(d.id());
            }
        }
    }

    /// A 3xx–6xx to our INVITE (the transaction ACKed it): 401/407 is answered with the
    /// call's credentials (RFC 3261 §22.2, see `uac_auth`), 422 is retried with the Min-SE
    /// asked for (RFC 4028 §7.4); anything else ends the call.
    pub(crate) fn uac_final_failure(&mut self, now: Instant, id: SessionId, r: Message) {
        let status = r.status_code().unwrap_or(500);
        self.unmap_early(id);
        let Some(s) = self.s_mut(id) else {
            return;
        };
        if s.ended {
            return;
        }
        let cancelling = s.state == SessionState::Cancelling;
        let may_retry_422 = status == 422 && !cancelling && s.retries_422 < 2;
        if matches!(status, 401 | 407) && !cancelling && self.retry_auth(now, id, &r) {
            return;
        }
        if may_retry_422 {
            match self.retry_422(now, id, &r) {
                Ok(()) => return,
                Err(error) => tracing::warn!(session = %id, %error, "dialog: 422 retry failed"),
            }
        }
        let Some(s) = self.s_mut(id) else {
            return;
        };
        if let Some(m) = s.media.as_mut() {
            m.cancel_offer();
        }
        let cause = s.hangup_cause.unwrap_or(Q850::NORMAL_CALL_CLEARING);
        let phrase = r.reason_phrase().unwrap_or("").to_owned();
        let end = if cancelling {
            CallEnd::from_status(Side::Local, EndKind::Cancelled, status, &phrase, Some(&r))
                .or_cause(cause)
        } else {
            CallEnd::from_status(Side::Remote, EndKind::Rejected, status, &phrase, Some(&r))
        };
        self.end(id, end);
    }

    /// Our INVITE got no final response (Timer B, the CANCEL wait) or could not be sent.
    pub(crate) fn uac_no_final(&mut self, _now: Instant, id: SessionId, transport: bool) {
        self.unmap_early(id);
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.ended || s.state.is_answered() {
            return;
        }
        let cancelling = s.state == SessionState::Cancelling;
        let (kind, status, phrase) = match (transport, cancelling) {
            (true, _) => (EndKind::TransportError, 503, "Service Unavailable"),
            (false, true) => (EndKind::Cancelled, 408, "Request Timeout"),
            (false, false) => (EndKind::Timeout, 408, "Request Timeout"),
        };
        let end = CallEnd::from_status(Side::Local, kind, status, phrase, None);
        self.end(id, end);
    }

    /// RFC 4028 §7.4: a new INVITE (same dialog identifiers, next CSeq, new branch) asking
    /// for the 422's Min-SE.
    fn retry_422(&mut self, now: Instant, id: SessionId, r: &Message) -> Result<(), DialogError> {
        let floor = self.config.session_timer.min_se;
        let Some(s) = self.sessions.get(&id) else {
            return Err(DialogError::NoSuchSession(id));
        };
        let asked = min_se(r).unwrap_or(90).max(floor);
        let seq = s.invite.cseq().map_or(1, |c| c.seq.wrapping_add(1));
        let (invite, remote) = (s.invite.clone(), s.remote);
        let via = self.via(remote.reliability);
        let mut e = invite.edit();
        e.set_header("Via", &via)?;
        e.set_header("CSeq", &format!("{seq} INVITE"))?;
        e.set_header("Session-Expires", &asked.to_string())?;
        e.set_header("Min-SE", &asked.to_string())?;
        let invite = e.finish()?;
        let key = self.tx.send_request(now, invite.clone(), remote)?;
        self.by_tx
            .insert(key.clone(), (id, Purpose::Invite, remote));
        if let Some(s) = self.s_mut(id) {
            s.invite = invite;
            s.invite_key = key;
            s.retries_422 += 1;
            s.min_se = asked;
            s.state = SessionState::Calling;
        }
        Ok(())
    }
}
