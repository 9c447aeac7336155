//! The called side (RFC 3261 §13.3): a new INVITE handed over as an [`IncomingCall`],
//! ringing, answering (the 2xx retransmitted until the ACK, §13.3.1.4), rejecting, a
//! CANCEL, and the ACK.

use std::time::Instant;

use crate::message::{HeaderKind, Message};
use crate::sdp::{Capabilities, MediaSession};
use crate::transaction::{Remote, TransactionKey};

use super::build::{owned, reason_phrase, unsupported_requires, warning, Body};
use super::error::DialogError;
use super::event::{CallEnd, DialogEvent, EndKind, IncomingCall, Side};
use super::id::{DialogId, SessionId};
use super::info::{has_foreign_body, sdp_of};
use super::layer::{DialogLayer, Purpose};
use super::q850::Q850;
use super::session::{CallDirection, PendingAck, Session, SessionState};
use super::session_timer::{session_timer_uas, SessionExpires, SessionTimer, UasTimer};
use super::state::{Dialog, DialogState};
use super::uac::ALLOW;

impl DialogLayer {
    /// Headers of a response that creates or refreshes a dialog: Contact; for a 2xx
    /// Allow, Supported, and the session timer's Session-Expires / Require.
    pub(crate) fn dialog_headers(
        &self,
        remote: Remote,
        ok: bool,
        timer: Option<(SessionExpires, bool)>,
    ) -> Vec<(String, String)> {
        let mut h = vec![(
            "Contact".to_owned(),
            self.config.contact_value(remote.reliability),
        )];
        if ok {
            h.push(("Allow".into(), ALLOW.into()));
            if self.config.session_timer.enabled {
                h.push(("Supported".into(), "timer".into()));
            }
            if let Some((se, require)) = timer {
                h.push(("Session-Expires".into(), se.to_string()));
                if require {
                    h.push(("Require".into(), "timer".into()));
                }
            }
        }
        self.server_header(&mut h);
        h
    }

    /// A new INVITE: refused at once when we cannot take it (482 for a merged request,
    /// 420 for an unsupported Require, 422 below our Min-SE, 415 for a body we cannot
    /// read, 400 for unreadable SDP), else handed over as [`DialogEvent::Incoming`].
    pub(crate) fn uas_new_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Message,
        remote: Remote,
    ) {
        let cfg = self.config.session_timer;
        let refuse = |this: &mut Self, status: u16, extra: Vec<(String, String)>| {
            this.stats.refused += 1;
            tracing::info!(status, call_id = req.call_id(), "dialog: INVITE refused");
            let tag = this.ids.tag();
            this.auto_reply(
                now,
                &key,
                &req,
                status,
                reason_phrase(status),
                Some(&tag),
                &extra,
            );
        };
        // §8.2.2.2: the same request reached us by another path (a fork that looped).
        let caller = (
            req.call_id().unwrap_or("").to_owned(),
            req.from().and_then(|f| f.tag()).unwrap_or("").to_owned(),
        );
        let merged = self
            .inbound
            .get(&caller)
            .and_then(|id| self.sessions.get(id))
            .is_some_and(|s| {
                s.invite_key != key && s.invite.cseq().map(|c| c.seq) == req.cseq().map(|c| c.seq)
            });
        if merged {
            refuse(self, 482, Vec::new());
            return;
        }
        if let Some(tags) = unsupported_requires(&req, cfg.enabled) {
            refuse(self, 420, vec![("Unsupported".into(), tags)]);
            return;
        }
        let timer = match session_timer_uas(&cfg, &req) {
            UasTimer::TooSmall { min_se } => {
                refuse(self, 422, vec![("Min-SE".into(), min_se.to_string())]);
                return;
            }
            UasTimer::Run { expires, require } => Some((expires, require)),
            UasTimer::Off => None,
        };
        if has_foreign_body(&req) {
            refuse(self, 415, vec![("Accept".into(), "application/sdp".into())]);
            return;
        }
        let offer = match sdp_of(&req) {
            None => None,
            Some(Ok(o)) => Some(o),
            Some(Err(e)) => {
                refuse(
                    self,
                    400,
                    vec![("Warning".into(), warning(399, &format!("SDP: {e}")))],
                );
                return;
            }
        };
        let id = self.new_session_id();
        let tag = self.ids.tag();
        self.by_tx
            .insert(key.clone(), (id, Purpose::InviteServer, remote));
        self.inbound.insert(caller, id);
        self.sessions.insert(
            id,
            Box::new(Session {
                id,
                direction: CallDirection::Inbound,
                state: SessionState::Incoming,
                remote,
                invite: req.clone(),
                invite_key: key,
                local_tag: tag,
                dialog: None,
                early: Vec::new(),
                media: None,
                timer: None,
                uas_timer: timer,
                min_se: cfg.min_se,
                pending_ack: None,
                reinvite: None,
                glare_retry: None,
                hangup_cause: None,
                peer_allows_update: super::session_timer::lists_option(
                    &req,
                    HeaderKind::Allow,
                    "UPDATE",
                ),
                retries_422: 0,
                auth: None,
                progress_seen: Vec::new(),
                refers_pending: 0,
                ended: false,
                scheduled: None,
            }),
        );
        self.events.push_back(DialogEvent::Incoming(IncomingCall {
            session: id,
            request: req,
            remote,
            offer,
        }));
    }

    fn unanswered(
        &mut self,
        id: SessionId,
        operation: &'static str,
    ) -> Result<&mut Session, DialogError> {
        let s = self.live(id)?;
        match s.state {
            SessionState::Incoming | SessionState::Ringing => Ok(s),
            other => Err(DialogError::InvalidState {
                session: id,
                operation,
                state: other.as_str(),
            }),
        }
    }

    /// Creates (or finds) the UAS dialog of session `id` in `state` and maps it.
    fn uas_dialog(&mut self, id: SessionId, state: DialogState) -> Result<(), DialogError> {
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(DialogError::NoSuchSession(id))?;
        match &mut s.dialog {
            Some(d) => {
                if state == DialogState::Confirmed {
                    d.confirm();
                }
            }
            None => {
                let d = Dialog::uas(&s.invite, &s.local_tag, state)?;
                self.dialogs.insert(d.id().clone(), id);
                s.dialog = Some(d);
            }
        }
        Ok(())
    }

    /// Sends `180 Ringing` for an incoming call (with our To tag and Contact: an early
    /// dialog, RFC 3261 §12.1.1), with `extra` headers.
    ///
    /// # Errors
    /// [`DialogError::NoSuchSession`], [`DialogError::InvalidState`] once answered or
    /// rejected, [`DialogError::InvalidHeader`] for an extra header refused.
    pub fn ring(
        &mut self,
        now: Instant,
        id: SessionId,
        extra: &[(&str, &str)],
    ) -> Result<(), DialogError> {
        let s = self.unanswered(id, "ring")?;
        let (req, key, tag, remote) = (
            s.invite.clone(),
            s.invite_key.clone(),
            s.local_tag.clone(),
            s.remote,
        );
        let mut headers = self.dialog_headers(remote, false, None);
        headers.extend(owned(extra));
        self.reply(now, &key, &req, 180, "Ringing", Some(&tag), &headers, None)?;
        self.uas_dialog(id, DialogState::Early)?;
        if let Some(s) = self.s_mut(id) {
            s.state = SessionState::Ringing;
        }
        self.finish(now);
        Ok(())
    }

    /// Sends `183 Session Progress` with our SDP answer (early media) for an incoming call
    /// whose INVITE carried an offer. The later 2xx carries the same answer.
    ///
    /// # Errors
    /// As [`DialogLayer::ring`]; [`DialogError::Negotiation`] when the offer cannot be
    /// answered (nothing is sent; the call can still be rejected, e.g. with 488).
    pub fn progress(
        &mut self,
        now: Instant,
        id: SessionId,
        media: Capabilities,
        extra: &[(&str, &str)],
    ) -> Result<(), DialogError> {
        let session_id = 1 + self.ids.below(u64::from(u32::MAX));
        let s = self.unanswered(id, "send early media")?;
        let offer = match sdp_of(&s.invite) {
            Some(Ok(o)) => o,
            _ => {
                return Err(DialogError::InvalidState {
                    session: id,
                    operation: "send early media",
                    state: "without an SDP offer",
                })
            }
        };
        let ms = s
            .media
            .get_or_insert_with(|| MediaSession::new(media, session_id));
        let answer = match ms.local_description_bytes() {
            Some(sdp) if ms.negotiated().is_some() => sdp.to_vec(),
            _ => ms.receive_offer(&offer)?.to_bytes(),
        };
        let (req, key, tag, remote) = (
            s.invite.clone(),
            s.invite_key.clone(),
            s.local_tag.clone(),
            s.remote,
        );
        let mut headers = self.dialog_headers(remote, false, None);
        headers.extend(owned(extra));
        let body = Body {
            content_type: "application/sdp",
            bytes: &answer,
        };
        self.reply(
            now,
            &key,
            &req,
            183,
            "Session Progress",
            Some(&tag),
            &headers,
            Some(body),
        )?;
        self.uas_dialog(id, DialogState::Early)?;
        if let Some(s) = self.s_mut(id) {
            s.state = SessionState::Ringing;
        }
        self.finish(now);
        Ok(())
    }

    /// Answers an incoming call: `200 OK` with our To tag, Contact, Allow, Supported, the
    /// session timer's Session-Expires (RFC 4028 §9), `extra` headers and the SDP — our
    /// answer to the INVITE's offer (the one a 183 already carried, if any), or our offer
    /// when the INVITE had none (the ACK then carries the answer). The dialog is confirmed;
    /// the 2xx is retransmitted (T1, doubling to T2) until the ACK, and after 64·T1 without
    /// one the call is released with BYE (RFC 3261 §13.3.1.4).
    ///
    /// # Errors
    /// As [`DialogLayer::ring`]; [`DialogError::Negotiation`] when the offer cannot be
    /// answered: the call has then been rejected with 488 (and a Warning) and has ended.
    pub fn answer(
        &mut self,
        now: Instant,
        id: SessionId,
        media: Capabilities,
        extra: &[(&str, &str)],
    ) -> Result<(), DialogError> {
        let session_id = 1 + self.ids.below(u64::from(u32::MAX));
        let t1 = self.config.timers.t1;
        let give_up = self.config.timers.timer_b();
        let s = self.unanswered(id, "answer")?;
        let offer = sdp_of(&s.invite).and_then(Result::ok);
        let ms = s
            .media
            .get_or_insert_with(|| MediaSession::new(media, session_id));
        let (body, offer_in_2xx) = match &offer {
            Some(o) => match ms.local_description_bytes() {
                Some(sdp) if ms.negotiated().is_some() => (sdp.to_vec(), false),
                _ => match ms.receive_offer(o) {
                    Ok(a) => (a.to_bytes(), false),
                    Err(e) => {
                        let w = e.warning();
                        let extra = vec![("Warning".to_owned(), warning(w.0, &e.to_string()))];
                        let (req, key, tag) =
                            (s.invite.clone(), s.invite_key.clone(), s.local_tag.clone());
                        let status = e.status();
                        self.auto_reply(
                            now,
                            &key,
                            &req,
                            status,
                            reason_phrase(status),
                            Some(&tag),
                            &extra,
                        );
                        let end = CallEnd::local(
                            EndKind::MediaFailed,
                            status,
                            reason_phrase(status),
                            Q850::from_sip_status(status),
                        );
                        self.end(id, end);
                        self.finish(now);
                        return Err(DialogError::Negotiation(e));
                    }
                },
            },
            None => (ms.create_offer().to_bytes(), true),
        };
        let (req, key, tag, remote, timer) = (
            s.invite.clone(),
            s.invite_key.clone(),
            s.local_tag.clone(),
            s.remote,
            s.uas_timer,
        );
        let mut headers = self.dialog_headers(remote, true, timer);
        headers.extend(owned(extra));
        let sdp = Body {
            content_type: "application/sdp",
            bytes: &body,
        };
        let resp = self.reply(now, &key, &req, 200, "OK", Some(&tag), &headers, Some(sdp))?;
        self.uas_dialog(id, DialogState::Confirmed)?;
        let cseq = req.cseq().map_or(0, |c| c.seq);
        if let Some(s) = self.s_mut(id) {
            s.state = SessionState::AwaitingAck;
            s.pending_ack = Some(PendingAck {
                key,
                cseq,
                response: resp,
                interval: t1,
                next: now + t1,
                give_up: now + give_up,
                offer_in_2xx,
                initial: true,
            });
            if let Some((se, _)) = timer {
                let we = se.refresher == Some(super::session_timer::Refresher::Uas);
                s.timer = Some(SessionTimer::start(now, se.seconds, we));
                self.events.push_back(DialogEvent::SessionTimer {
                    session: id,
                    seconds: se.seconds,
                    we_refresh: we,
                });
            }
        }
        self.finish(now);
        Ok(())
    }

    /// Rejects an incoming call with `status` (300–699) and `reason`, a `Reason:
    /// Q.850;cause=N` header when `cause` is given (RFC 3326), and `extra` headers. The
    /// call ends.
    ///
    /// # Errors
    /// As [`DialogLayer::ring`]; [`DialogError::InvalidStatus`] outside 300–699.
    pub fn reject(
        &mut self,
        now: Instant,
        id: SessionId,
        status: u16,
        reason: &str,
        cause: Option<Q850>,
        extra: &[(&str, &str)],
    ) -> Result<(), DialogError> {
        if !(300..=699).contains(&status) {
            return Err(DialogError::InvalidStatus {
                status,
                reason: "a rejection is 300-699",
            });
        }
        let s = self.unanswered(id, "reject")?;
        let (req, key, tag, remote) = (
            s.invite.clone(),
            s.invite_key.clone(),
            s.local_tag.clone(),
            s.remote,
        );
        let mut headers = Vec::new();
        if status < 400 {
            headers.push((
                "Contact".to_owned(),
                self.config.contact_value(remote.reliability),
            ));
        }
        if let Some(c) = cause {
            headers.push(("Reason".to_owned(), c.reason_header()));
        }
        self.server_header(&mut headers);
        headers.extend(owned(extra));
        self.reply(now, &key, &req, status, reason, Some(&tag), &headers, None)?;
        let mut end = CallEnd::from_status(Side::Local, EndKind::Rejected, status, reason, None);
        if let Some(c) = cause {
            end.cause = Some(c);
            end.cause_source = Some(super::event::CauseSource::Implied);
        }
        self.end(id, end);
        self.finish(now);
        Ok(())
    }

    /// A CANCEL for an incoming call not yet answered (RFC 3261 §9.2): 487 to the INVITE
    /// (the CANCEL itself was answered 200 by the transaction layer); the call ends.
    pub(crate) fn uas_cancelled(&mut self, now: Instant, id: SessionId, cancel: Message) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.ended || !matches!(s.state, SessionState::Incoming | SessionState::Ringing) {
            return;
        }
        let (req, key, tag) = (s.invite.clone(), s.invite_key.clone(), s.local_tag.clone());
        self.auto_reply(now, &key, &req, 487, "Request Terminated", Some(&tag), &[]);
        let end = CallEnd::from_status(
            Side::Remote,
            EndKind::Cancelled,
            487,
            "Request Terminated",
            Some(&cancel),
        )
        .or_cause(Q850::NORMAL_CALL_CLEARING);
        self.end(id, end);
    }

    /// The INVITE's transaction could not send our response.
    pub(crate) fn uas_transport_error(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.ended || s.state == SessionState::Established {
            return;
        }
        let end = CallEnd::from_status(
            Side::Local,
            EndKind::TransportError,
            503,
            "Service Unavailable",
            None,
        );
        self.end(id, end);
    }

    /// An ACK (for one of our 2xx: initial INVITE or re-INVITE).
    pub(crate) fn on_ack(&mut self, now: Instant, ack: Message) {
        let found =
            DialogId::of_incoming_request(&ack).and_then(|did| self.dialogs.get(&did).copied());
        let cseq = ack.cseq().map(|c| c.seq);
        let Some(id) = found else {
            self.stats.stray_acks += 1;
            return;
        };
        let Some(s) = self.s_mut(id) else {
            return;
        };
        if s.pending_ack.as_ref().is_none_or(|p| Some(p.cseq) != cseq) {
            self.stats.stray_acks += 1;
            return;
        }
        if let Some(p) = s.pending_ack.take() {
            self.complete_ack(now, id, p, Some(&ack));
        }
    }

    /// Our 2xx is acknowledged (by its ACK, or implicitly by a later request): the answer
    /// in the ACK is applied; the initial call is confirmed (or, when we hung up meanwhile,
    /// released with the deferred BYE).
    pub(crate) fn complete_ack(
        &mut self,
        now: Instant,
        id: SessionId,
        p: PendingAck,
        ack: Option<&Message>,
    ) {
        let Some(s) = self.s_mut(id) else {
            return;
        };
        let mut media_failed = None;
        if p.offer_in_2xx {
            let answer = ack.and_then(sdp_of);
            let result = match (answer, s.media.as_mut()) {
                (Some(Ok(sdp)), Some(m)) => {
                    m.receive_answer(&sdp).cloned().map_err(|e| e.to_string())
                }
                (Some(Err(e)), _) => Err(e.to_string()),
                _ => Err("the ACK carries no SDP answer".to_owned()),
            };
            match result {
                Ok(n) if !p.initial => self.events.push_back(DialogEvent::MediaUpdated {
                    session: id,
                    by: Side::Remote,
                    media: n,
                }),
                Ok(_) => {}
                Err(e) => media_failed = Some(e),
            }
        }
        if !p.initial {
            if let Some(error) = media_failed {
                tracing::warn!(session = %id, %error, "dialog: re-INVITE answer in ACK refused");
            }
            return;
        }
        let Some(s) = self.s_mut(id) else {
            return;
        };
        match s.state {
            SessionState::Ending => {
                let cause = s.hangup_cause;
                s.state = SessionState::Established;
                if let Err(error) = self.send_bye(now, id, cause) {
                    tracing::warn!(session = %id, %error, "dialog: deferred BYE not sent");
                }
                self.remove(id);
            }
            SessionState::AwaitingAck => {
                s.state = SessionState::Established;
                match media_failed {
                    None => self
                        .events
                        .push_back(DialogEvent::Confirmed { session: id }),
                    Some(error) => {
                        tracing::warn!(session = %id, %error, "dialog: answer in ACK refused; releasing");
                        let cause = Q850::new(65);
                        let _ = self.send_bye(now, id, Some(cause));
                        self.end(
                            id,
                            CallEnd::local(
                                EndKind::MediaFailed,
                                488,
                                "Not Acceptable Here",
                                Some(cause),
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// Timer for our 2xx: send it again; the interval doubles up to T2.
    pub(crate) fn retransmit_2xx(&mut self, now: Instant, id: SessionId) {
        let t2 = self.config.timers.t2;
        let Some(s) = self.s_mut(id) else {
            return;
        };
        let remote = s.remote;
        let Some(p) = s.pending_ack.as_mut() else {
            return;
        };
        p.interval = (p.interval * 2).min(t2);
        p.next = now + p.interval;
        let (key, resp) = (p.key.clone(), p.response.clone());
        self.stats.ok_retransmissions += 1;
        if self.tx.respond(now, &key, resp.clone()).is_err() {
            self.push_raw(remote, resp.to_bytes(), true);
        }
    }

    /// 64·T1 without the ACK for our 2xx (RFC 3261 §13.3.1.4): the dialog is confirmed but
    /// the session ends: BYE.
    pub(crate) fn no_ack(&mut self, now: Instant, id: SessionId) {
        self.stats.no_ack += 1;
        let Some(s) = self.s_mut(id) else {
            return;
        };
        s.pending_ack = None;
        let ending = s.state == SessionState::Ending;
        let cause = s.hangup_cause;
        s.state = SessionState::Established;
        tracing::info!(session = %id, "dialog: no ACK for our 2xx within 64*T1; BYE");
        if let Err(error) = self.send_bye(now, id, cause.or(Some(Q850::RECOVERY_ON_TIMER_EXPIRY))) {
            tracing::warn!(session = %id, %error, "dialog: BYE after the missing ACK not sent");
        }
        if ending {
            self.remove(id);
        } else {
            let end =
                CallEnd::from_status(Side::Local, EndKind::NoAck, 408, "No ACK received", None);
            self.end(id, end);
        }
    }
}
