//! Target refreshes and offer/answer inside a dialog: our re-INVITE (hold, resume, a new
//! offer; 491 glare retried after the RFC 3261 §14.1 delay), and the peer's re-INVITE or
//! UPDATE (RFC 3311) answered with [`MediaSession`](crate::sdp::MediaSession).

use std::time::{Duration, Instant};

use crate::message::{HeaderKind, Message};
use crate::sdp::{Capabilities, Direction};
use crate::transaction::{Remote, TransactionKey};

use super::build::{reason_phrase, warning, Body};
use super::error::DialogError;
use super::event::{DialogEvent, Side};
use super::id::{DialogId, SessionId};
use super::info::{has_foreign_body, sdp_of};
use super::layer::{DialogLayer, Purpose};
use super::session::{CallDirection, Intent, OutReinvite, PendingAck, SessionState};
use super::session_timer::{
    lists_option, min_se, session_timer_uac, session_timer_uas, Refresher, SessionExpires,
    SessionTimer, UasTimer,
};
use super::uac::ALLOW;

impl DialogLayer {
    /// Puts the call on hold: a re-INVITE whose offer says `sendonly` (RFC 3264 §8.4).
    ///
    /// # Errors
    /// As [`DialogLayer::reinvite`].
    pub fn hold(&mut self, now: Instant, id: SessionId) -> Result<(), DialogError> {
        self.set_direction_and_reinvite(now, id, Direction::SendOnly)
    }

    /// Takes the call off hold: a re-INVITE whose offer says `sendrecv`.
    ///
    /// # Errors
    /// As [`DialogLayer::reinvite`].
    pub fn unhold(&mut self, now: Instant, id: SessionId) -> Result<(), DialogError> {
        self.set_direction_and_reinvite(now, id, Direction::SendRecv)
    }

    fn set_direction_and_reinvite(
        &mut self,
        now: Instant,
        id: SessionId,
        d: Direction,
    ) -> Result<(), DialogError> {
        self.check_reinvite(id)?;
        if let Some(m) = self.s_mut(id).and_then(|s| s.media.as_mut()) {
            m.set_direction(d);
        }
        self.reinvite(now, id, None)
    }

    fn check_reinvite(&mut self, id: SessionId) -> Result<(), DialogError> {
        let s = self.live(id)?;
        if s.state != SessionState::Established {
            return Err(DialogError::InvalidState {
                session: id,
                operation: "re-INVITE",
                state: s.state.as_str(),
            });
        }
        if s.reinvite.is_some() || s.pending_ack.is_some() {
            return Err(DialogError::InviteInProgress(id));
        }
        Ok(())
    }

    /// Sends a re-INVITE with a new offer from the session's capabilities (replaced by
    /// `media` when given: a new RTP port, other codecs). The outcome comes as
    /// [`DialogEvent::MediaUpdated`] or [`DialogEvent::ReinviteFailed`]; a 491 (glare) is
    /// retried after the random delay of RFC 3261 §14.1.
    ///
    /// # Errors
    /// [`DialogError::NoSuchSession`]; [`DialogError::InvalidState`] before the call is
    /// established; [`DialogError::InviteInProgress`] while another INVITE transaction is
    /// in progress on the dialog (§14.1).
    pub fn reinvite(
        &mut self,
        now: Instant,
        id: SessionId,
        media: Option<Capabilities>,
    ) -> Result<(), DialogError> {
        self.check_reinvite(id)?;
        if let (Some(caps), Some(m)) = (media, self.s_mut(id).and_then(|s| s.media.as_mut())) {
            *m.capabilities_mut() = caps;
        }
        let r = self.start_reinvite(now, id, Intent::Media);
        self.finish(now);
        r
    }

    pub(crate) fn start_reinvite(
        &mut self,
        now: Instant,
        id: SessionId,
        intent: Intent,
    ) -> Result<(), DialogError> {
        self.check_reinvite(id)?;
        let s = self.s_mut(id).ok_or(DialogError::NoSuchSession(id))?;
        let remote = s.remote;
        let m = s.media.as_mut().ok_or(DialogError::InvalidState {
            session: id,
            operation: "re-INVITE",
            state: "without a media session",
        })?;
        let offer = m.create_offer().to_bytes();
        let mut extra = vec![
            (
                "Contact".to_owned(),
                self.config.contact_value(remote.reliability),
            ),
            ("Allow".to_owned(), ALLOW.to_owned()),
        ];
        self.refresh_headers(id, &mut extra);
        let body = Body {
            content_type: "application/sdp",
            bytes: &offer,
        };
        match self.send_in_dialog(now, id, "INVITE", &extra, Some(body), Purpose::Reinvite) {
            Ok(_) => {
                if let Some(s) = self.s_mut(id) {
                    s.reinvite = Some(OutReinvite { intent });
                    s.glare_retry = None;
                }
                Ok(())
            }
            Err(e) => {
                if let Some(m) = self.s_mut(id).and_then(|s| s.media.as_mut()) {
                    m.cancel_offer();
                }
                Err(e)
            }
        }
    }

    /// The §14.1 retry timer fired.
    pub(crate) fn glare_retry(&mut self, now: Instant, id: SessionId) {
        let Some(s) = self.s_mut(id) else {
            return;
        };
        let Some((_, intent)) = s.glare_retry.take() else {
            return;
        };
        match self.start_reinvite(now, id, intent) {
            Ok(()) => {}
            Err(DialogError::InviteInProgress(_)) => {
                // The peer's INVITE got in first; try again once it is done.
                if let Some(s) = self.s_mut(id) {
                    s.glare_retry = Some((now + Duration::from_secs(1), intent));
                }
            }
            Err(error) => tracing::debug!(session = %id, %error, "dialog: re-INVITE retry dropped"),
        }
    }

    /// The final response to our re-INVITE.
    pub(crate) fn reinvite_final(&mut self, now: Instant, id: SessionId, r: Message) {
        let status = r.status_code().unwrap_or(500);
        let cfg = self.config.session_timer;
        let owner = self
            .sessions
            .get(&id)
            .is_some_and(|s| s.direction == CallDirection::Outbound);
        let Some(s) = self.s_mut(id) else {
            return;
        };
        if s.ended {
            return;
        }
        let intent = s.reinvite.take().map_or(Intent::Media, |o| o.intent);
        match status {
            200..=299 => {
                let before = s.negotiated().cloned();
                let Some(d) = s.dialog.as_mut() else {
                    return;
                };
                d.refresh_target(&r);
                let hop = d.next_hop(s.remote);
                let d = d.clone();
                let media = match (sdp_of(&r), s.media.as_mut()) {
                    (Some(Ok(sdp)), Some(m)) => {
                        m.receive_answer(&sdp).cloned().map_err(|e| e.to_string())
                    }
                    (Some(Err(e)), _) => Err(e.to_string()),
                    _ => Err("the 2xx has no SDP answer".to_owned()),
                };
                if lists_option(&r, HeaderKind::Allow, "UPDATE") {
                    s.peer_allows_update = true;
                }
                let timer = session_timer_uac(&cfg, &r);
                s.timer = timer.map(|(secs, we)| SessionTimer::start(now, secs, we));
                let cseq = r.cseq().map_or(0, |c| c.seq);
                let via = self.via(hop.reliability);
                match (
                    DialogId::of_incoming_response(&r),
                    d.build_ack(cseq, &via, None),
                ) {
                    (Some(did), Ok(ack)) => self.send_ack(now, did, cseq, ack.to_bytes(), hop),
                    _ => {
                        tracing::warn!(session = %id, "dialog: ACK for the re-INVITE's 2xx not built")
                    }
                }
                match media {
                    Ok(n) if intent == Intent::Media || before.as_ref() != Some(&n) => {
                        self.events.push_back(DialogEvent::MediaUpdated {
                            session: id,
                            by: Side::Local,
                            media: n,
                        });
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(session = %id, %error, "dialog: re-INVITE answer refused");
                        self.events.push_back(DialogEvent::ReinviteFailed {
                            session: id,
                            status: 488,
                        });
                    }
                }
                if let Some((seconds, we_refresh)) = timer {
                    self.events.push_back(DialogEvent::SessionTimer {
                        session: id,
                        seconds,
                        we_refresh,
                    });
                }
            }
            491 => {
                if let Some(m) = s.media.as_mut() {
                    m.cancel_offer();
                }
                // RFC 3261 §14.1: the Call-ID's owner waits 2.1–4 s, the other 0–2 s, in
                // units of 10 ms.
                let ms = if owner {
                    2100 + 10 * self.ids.below(191)
                } else {
                    10 * self.ids.below(201)
                };
                if let Some(s) = self.s_mut(id) {
                    s.glare_retry = Some((now + Duration::from_millis(ms), intent));
                }
            }
            422 => {
                let asked = min_se(&r).unwrap_or(90);
                if let Some(m) = s.media.as_mut() {
                    m.cancel_offer();
                }
                s.min_se = s.min_se.max(asked);
                if let Some(t) = s.timer.as_mut() {
                    t.seconds = t.seconds.max(asked);
                }
                if let Err(error) = self.start_reinvite(now, id, intent) {
                    tracing::warn!(session = %id, %error, "dialog: re-INVITE after 422 not sent");
                }
            }
            408 | 481 => self.dialog_lost(now, id, status, Some(&r)),
            _ => {
                if let Some(m) = s.media.as_mut() {
                    m.cancel_offer();
                }
                self.events.push_back(DialogEvent::ReinviteFailed {
                    session: id,
                    status,
                });
            }
        }
    }

    pub(crate) fn on_reinvite(
        &mut self,
        now: Instant,
        id: SessionId,
        key: TransactionKey,
        req: Message,
    ) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if !matches!(
            s.state,
            SessionState::Established | SessionState::AwaitingAck
        ) {
            // §14.2: an INVITE while the first one has no final response yet.
            let extra = [(
                "Retry-After".to_owned(),
                (1 + self.ids.below(10)).to_string(),
            )];
            self.auto_reply(now, &key, &req, 500, "Server Internal Error", None, &extra);
            return;
        }
        if s.reinvite.is_some()
            || s.media
                .as_ref()
                .is_some_and(|m| m.has_pending_offer() && s.pending_ack.is_none())
        {
            // §14.2: our re-INVITE (or UPDATE offer) is in progress: glare.
            self.stats.glare += 1;
            self.auto_reply(now, &key, &req, 491, "Request Pending", None, &[]);
            return;
        }
        if let Some(p) = &s.pending_ack {
            if p.offer_in_2xx {
                self.stats.glare += 1;
                self.auto_reply(now, &key, &req, 491, "Request Pending", None, &[]);
                return;
            }
            // The peer sends a new INVITE only after its ACK: this one overtook it.
            if let Some(p) = self.s_mut(id).and_then(|s| s.pending_ack.take()) {
                self.complete_ack(now, id, p, None);
            }
        }
        let Some(timer) = self.refresh_decision(now, &key, &req) else {
            return;
        };
        let before = self.sessions.get(&id).and_then(|s| s.negotiated().cloned());
        let Some((body, offer_in_2xx)) = self.offer_answer(now, id, &key, &req, true) else {
            return;
        };
        let t1 = self.config.timers.t1;
        let give_up = self.config.timers.timer_b();
        let remote = self
            .sessions
            .get(&id)
            .map_or(Remote::udp(([0, 0, 0, 0], 0).into()), |s| s.remote);
        let headers = self.dialog_headers(remote, true, timer);
        let sdp = body.as_ref().map(|b| Body {
            content_type: "application/sdp",
            bytes: b,
        });
        let resp = match self.reply(now, &key, &req, 200, "OK", None, &headers, sdp) {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(session = %id, %error, "dialog: 200 to the re-INVITE not sent");
                return;
            }
        };
        self.after_refresh(now, id, &req, timer);
        if let Some(s) = self.s_mut(id) {
            s.pending_ack = Some(PendingAck {
                key,
                cseq: req.cseq().map_or(0, |c| c.seq),
                response: resp,
                interval: t1,
                next: now + t1,
                give_up: now + give_up,
                offer_in_2xx,
                initial: false,
            });
        }
        self.media_changed(id, before);
    }

    pub(crate) fn on_update(
        &mut self,
        now: Instant,
        id: SessionId,
        key: TransactionKey,
        req: Message,
    ) {
        let Some(timer) = self.refresh_decision(now, &key, &req) else {
            return;
        };
        let before = self.sessions.get(&id).and_then(|s| s.negotiated().cloned());
        let Some((body, _)) = self.offer_answer(now, id, &key, &req, false) else {
            return;
        };
        let remote = self
            .sessions
            .get(&id)
            .map_or(Remote::udp(([0, 0, 0, 0], 0).into()), |s| s.remote);
        let headers = self.dialog_headers(remote, true, timer);
        let sdp = body.as_ref().map(|b| Body {
            content_type: "application/sdp",
            bytes: b,
        });
        if let Err(error) = self.reply(now, &key, &req, 200, "OK", None, &headers, sdp) {
            tracing::warn!(session = %id, %error, "dialog: 200 to the UPDATE not sent");
            return;
        }
        self.after_refresh(now, id, &req, timer);
        self.media_changed(id, before);
    }

    /// Offer/answer for a re-INVITE or UPDATE: `Some((body, offer_in_2xx))`, or `None`
    /// after an error response was sent (400, 415, 488, 491). Without an offer, a
    /// re-INVITE's 2xx carries our offer (`offer_in_2xx`); an UPDATE's carries no body.
    fn offer_answer(
        &mut self,
        now: Instant,
        id: SessionId,
        key: &TransactionKey,
        req: &Message,
        invite: bool,
    ) -> Option<(Option<Vec<u8>>, bool)> {
        if has_foreign_body(req) {
            let extra = [("Accept".to_owned(), "application/sdp".to_owned())];
            self.auto_reply(now, key, req, 415, "Unsupported Media Type", None, &extra);
            return None;
        }
        let offer = sdp_of(req);
        let s = self.s_mut(id)?;
        let Some(m) = s.media.as_mut() else {
            if offer.is_some() {
                let extra = [("Retry-After".to_owned(), "1".to_owned())];
                self.auto_reply(now, key, req, 500, "Server Internal Error", None, &extra);
                return None;
            }
            return Some((None, false));
        };
        match offer {
            Some(Err(e)) => {
                let extra = [("Warning".to_owned(), warning(399, &format!("SDP: {e}")))];
                self.auto_reply(now, key, req, 400, "Bad Request", None, &extra);
                None
            }
            Some(Ok(o)) => match m.receive_offer(&o) {
                Ok(a) => Some((Some(a.to_bytes()), false)),
                Err(e) => {
                    let status = e.status();
                    if status == 491 {
                        self.stats.glare += 1;
                    }
                    let w = e.warning();
                    let extra = [("Warning".to_owned(), warning(w.0, &e.to_string()))];
                    self.auto_reply(now, key, req, status, reason_phrase(status), None, &extra);
                    None
                }
            },
            None if invite => Some((Some(m.create_offer().to_bytes()), true)),
            None => Some((None, false)),
        }
    }

    /// After our 2xx to a target refresh: new remote target, the session timer as decided
    /// (RFC 4028 §9: none when the request asked for none), the peer's Allow.
    fn after_refresh(
        &mut self,
        now: Instant,
        id: SessionId,
        req: &Message,
        timer: Option<(SessionExpires, bool)>,
    ) {
        let Some(s) = self.s_mut(id) else {
            return;
        };
        if let Some(did) = DialogId::of_incoming_request(req) {
            if let Some(d) = s.dialog_mut(&did) {
                d.refresh_target(req);
            }
        }
        if req.header("Allow").is_some() {
            s.peer_allows_update = lists_option(req, HeaderKind::Allow, "UPDATE");
        }
        s.timer = timer.map(|(se, _)| {
            SessionTimer::start(now, se.seconds, se.refresher == Some(Refresher::Uas))
        });
        if let Some(t) = s.timer {
            self.events.push_back(DialogEvent::SessionTimer {
                session: id,
                seconds: t.seconds,
                we_refresh: t.we_refresh,
            });
        }
    }

    fn media_changed(&mut self, id: SessionId, before: Option<crate::sdp::Negotiated>) {
        let after = self.sessions.get(&id).and_then(|s| s.negotiated().cloned());
        if let Some(n) = after {
            if before.as_ref() != Some(&n) {
                self.events.push_back(DialogEvent::MediaUpdated {
                    session: id,
                    by: Side::Remote,
                    media: n,
                });
            }
        }
    }

    /// The answer to a re-INVITE (or UPDATE) with RFC 4028 §9 applied: `None` after a 422
    /// was sent.
    fn refresh_decision(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &Message,
    ) -> Option<Option<(SessionExpires, bool)>> {
        match session_timer_uas(&self.config.session_timer, req) {
            UasTimer::TooSmall { min_se } => {
                let extra = [("Min-SE".to_owned(), min_se.to_string())];
                self.auto_reply(
                    now,
                    key,
                    req,
                    422,
                    "Session Interval Too Small",
                    None,
                    &extra,
                );
                None
            }
            UasTimer::Run { expires, require } => Some(Some((expires, require))),
            UasTimer::Off => Some(None),
        }
    }
}
