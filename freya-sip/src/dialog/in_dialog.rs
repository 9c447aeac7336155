//! Inside a dialog (RFC 3261 §12.2, §15): hanging up, requests the user sends (INFO with
//! DTMF, OPTIONS, …), the checks every received request gets (481, 420, 500) and the
//! answers the layer gives itself (BYE, INFO, OPTIONS).

use std::time::Instant;

use crate::message::Message;
use crate::transaction::{Remote, TransactionKey};

use super::build::{
    body_bytes, check_header, owned, reason_phrase, unsupported_requires, warning, Body,
};
use super::error::DialogError;
use super::event::{CallEnd, DialogEvent, EndKind, IncomingRequest, Side};
use super::id::{DialogId, SessionId};
use super::info::Dtmf;
use super::layer::{DialogLayer, Purpose};
use super::q850::Q850;
use super::session::SessionState;
use super::uac::ALLOW;

impl DialogLayer {
    /// Hangs up with `cause` (default 16 Normal call clearing), whatever the call's state:
    /// - an incoming call not yet answered is rejected (with the cause's SIP status, RFC
    ///   3398 §7.2.4.1, else 480);
    /// - an outgoing call not yet answered is cancelled (CANCEL with `Reason: Q.850`, RFC
    ///   3326; it waits for a provisional response if none came yet, §9.1);
    /// - an answered call gets a BYE with that Reason — deferred until the ACK when our 2xx
    ///   is not yet acknowledged (§15).
    ///
    /// [`DialogEvent::Ended`] follows at once for a BYE or a rejection, and when the
    /// INVITE's final response arrives for a CANCEL. Hanging up a call whose CANCEL is
    /// under way is not an error.
    ///
    /// # Errors
    /// [`DialogError::NoSuchSession`] once the call has ended (or its end was reported).
    pub fn hangup(
        &mut self,
        now: Instant,
        id: SessionId,
        cause: Option<Q850>,
    ) -> Result<(), DialogError> {
        let c = cause.unwrap_or(Q850::NORMAL_CALL_CLEARING);
        let s = self.live(id)?;
        match s.state {
            SessionState::Incoming | SessionState::Ringing => {
                let status = c.sip_status().unwrap_or(480);
                return self.reject(now, id, status, reason_phrase(status), Some(c), &[]);
            }
            SessionState::Calling | SessionState::Proceeding => {
                s.hangup_cause = Some(c);
                s.state = SessionState::Cancelling;
                let (key, remote) = (s.invite_key.clone(), s.remote);
                match self.tx.cancel(now, &key, &[("Reason", &c.reason_header())]) {
                    Ok(cancel) => {
                        self.by_tx.insert(cancel, (id, Purpose::Server, remote));
                    }
                    Err(error) => tracing::warn!(session = %id, %error, "dialog: CANCEL not sent"),
                }
            }
            SessionState::Cancelling | SessionState::Ending => {}
            SessionState::AwaitingAck => {
                s.state = SessionState::Ending;
                s.hangup_cause = Some(c);
                s.timer = None;
                self.end(id, CallEnd::local(EndKind::Bye, 200, "OK", Some(c)));
            }
            SessionState::Established => {
                self.send_bye(now, id, Some(c))?;
                self.end(id, CallEnd::local(EndKind::Bye, 200, "OK", Some(c)));
            }
        }
        self.finish(now);
        Ok(())
    }

    /// Sends a BYE in the session's dialog (with `Reason: Q.850` when `cause` is given);
    /// stops its timers. The session is left for the caller to end.
    pub(crate) fn send_bye(
        &mut self,
        now: Instant,
        id: SessionId,
        cause: Option<Q850>,
    ) -> Result<(), DialogError> {
        let extra: Vec<(String, String)> = cause
            .map(|c| ("Reason".to_owned(), c.reason_header()))
            .into_iter()
            .collect();
        self.send_in_dialog(now, id, "BYE", &extra, None, Purpose::Bye)?;
        if let Some(s) = self.s_mut(id) {
            s.pending_ack = None;
            s.timer = None;
            s.glare_retry = None;
        }
        Ok(())
    }

    /// Builds a request in the session's dialog and starts its client transaction towards
    /// the dialog's next hop.
    pub(crate) fn send_in_dialog(
        &mut self,
        now: Instant,
        id: SessionId,
        method: &str,
        extra: &[(String, String)],
        body: Option<Body<'_>>,
        purpose: Purpose,
    ) -> Result<TransactionKey, DialogError> {
        let s = self
            .sessions
            .get(&id)
            .ok_or(DialogError::NoSuchSession(id))?;
        let hop = match &s.dialog {
            Some(d) => d.next_hop(s.remote),
            None => {
                return Err(DialogError::InvalidState {
                    session: id,
                    operation: "send a request in the dialog",
                    state: "without a dialog",
                })
            }
        };
        let via = self.via(hop.reliability);
        let s = self.s_mut(id).ok_or(DialogError::NoSuchSession(id))?;
        let d = s.dialog.as_mut().ok_or(DialogError::NoSuchSession(id))?;
        let req = d.build_request(method, &via, extra, body.map(|b| (b.content_type, b.bytes)))?;
        let key = self.tx.send_request(now, req, hop)?;
        self.by_tx.insert(key.clone(), (id, purpose, hop));
        Ok(key)
    }

    /// Sends a request in the dialog — INFO, OPTIONS, MESSAGE, NOTIFY, REFER… (INVITE, ACK,
    /// CANCEL, BYE, PRACK and UPDATE have their own methods or are the layer's) — with
    /// `extra` headers and an optional body (`(content type, bytes)`). Its final response
    /// comes as [`DialogEvent::RequestCompleted`]; a 481 or 408 also ends the call (RFC
    /// 3261 §12.2.1.2).
    ///
    /// # Errors
    /// [`DialogError::NoSuchSession`]; [`DialogError::InvalidState`] for a method the layer
    /// keeps, or before a dialog exists; [`DialogError::InvalidHeader`] for a refused
    /// header or a method that is not a token.
    pub fn send_request(
        &mut self,
        now: Instant,
        id: SessionId,
        method: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<TransactionKey, DialogError> {
        if matches!(
            method,
            "INVITE" | "ACK" | "CANCEL" | "BYE" | "PRACK" | "UPDATE"
        ) {
            return Err(DialogError::InvalidState {
                session: id,
                operation: "send this method with send_request",
                state: "handled by the dialog layer",
            });
        }
        check_header(method, "")?;
        self.live(id)?;
        let body = body.map(|(content_type, bytes)| Body {
            content_type,
            bytes,
        });
        let r = self.send_in_dialog(now, id, method, &owned(extra), body, Purpose::Request);
        self.finish(now);
        r
    }

    /// Sends a DTMF key press as a SIP INFO with an `application/dtmf-relay` body
    /// (`Signal=` / `Duration=`).
    ///
    /// # Errors
    /// As [`DialogLayer::send_request`].
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        id: SessionId,
        dtmf: Dtmf,
    ) -> Result<TransactionKey, DialogError> {
        let body = dtmf.relay_body();
        self.send_request(
            now,
            id,
            "INFO",
            &[],
            Some(("application/dtmf-relay", body.as_bytes())),
        )
    }

    /// The final response to a request the user sent.
    pub(crate) fn request_final(
        &mut self,
        now: Instant,
        id: SessionId,
        key: TransactionKey,
        r: Option<Message>,
    ) {
        let status = r.as_ref().and_then(Message::status_code).unwrap_or(408);
        if !self.sessions.contains_key(&id) {
            return;
        }
        self.refer_completed(id, &key, status);
        // A 481 to a NOTIFY or SUBSCRIBE ends that subscription only, not the call's
        // dialog usage (RFC 5057 §5.1, RFC 6665 §4.1.3).
        let subscription_only = status == 481 && matches!(key.method(), "NOTIFY" | "SUBSCRIBE");
        self.events.push_back(DialogEvent::RequestCompleted {
            session: id,
            key,
            status,
            response: r.clone(),
        });
        if matches!(status, 408 | 481) && !subscription_only {
            self.dialog_lost(now, id, status, r.as_ref());
        }
    }

    /// RFC 3261 §12.2.1.2: an in-dialog request got 481 or 408 (or timed out): the dialog
    /// is gone. A BYE is still sent unless the peer said 481.
    pub(crate) fn dialog_lost(
        &mut self,
        now: Instant,
        id: SessionId,
        status: u16,
        r: Option<&Message>,
    ) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.ended {
            return;
        }
        if status != 481 {
            let _ = self.send_bye(now, id, Some(Q850::RECOVERY_ON_TIMER_EXPIRY));
        }
        let by = if status == 481 {
            Side::Remote
        } else {
            Side::Local
        };
        let phrase = r
            .and_then(Message::reason_phrase)
            .unwrap_or(reason_phrase(status))
            .to_owned();
        let end = CallEnd::from_status(by, EndKind::DialogLost, status, &phrase, r);
        self.end(id, end);
    }

    /// A request with a To tag: 481 without its dialog (RFC 3261 §12.2.2), 420 for an
    /// unsupported Require, 500 when out of order, else handled by method.
    pub(crate) fn on_in_dialog_request(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Message,
        remote: Remote,
    ) {
        let found = DialogId::of_incoming_request(&req)
            .and_then(|did| self.dialogs.get(&did).map(|id| (did, *id)));
        let Some((did, id)) = found else {
            self.unknown_dialog(now, &key, &req);
            return;
        };
        let method = req.method().unwrap_or("").to_owned();
        let timer_on = self.config.session_timer.enabled;
        let Some(s) = self.s_mut(id) else {
            self.unknown_dialog(now, &key, &req);
            return;
        };
        if s.ended {
            if method == "BYE" {
                self.auto_reply(now, &key, &req, 200, "OK", None, &[]);
                self.remove(id);
            } else {
                self.unknown_dialog(now, &key, &req);
            }
            return;
        }
        let Some(d) = s.dialog_mut(&did) else {
            self.unknown_dialog(now, &key, &req);
            return;
        };
        if let Err(DialogError::OutOfOrder { cseq, remote: r }) = d.receive_request(&req) {
            self.stats.out_of_order += 1;
            tracing::info!(session = %id, cseq, remote = r, "dialog: request out of order, 500");
            self.auto_reply(now, &key, &req, 500, "Server Internal Error", None, &[]);
            return;
        }
        if let Some(tags) = unsupported_requires(&req, timer_on) {
            self.auto_reply(
                now,
                &key,
                &req,
                420,
                "Bad Extension",
                None,
                &[("Unsupported".into(), tags)],
            );
            return;
        }
        match method.as_str() {
            "BYE" => self.on_bye(now, id, key, req),
            "INVITE" => self.on_reinvite(now, id, key, req),
            "UPDATE" => self.on_update(now, id, key, req),
            "INFO" => self.on_info(now, id, key, req),
            "NOTIFY" => self.on_notify(now, id, key, req),
            "OPTIONS" => {
                let mut extra = vec![
                    ("Allow".to_owned(), ALLOW.to_owned()),
                    (
                        "Accept".to_owned(),
                        "application/sdp, application/dtmf-relay, application/dtmf".to_owned(),
                    ),
                ];
                if timer_on {
                    extra.push(("Supported".into(), "timer".into()));
                }
                self.server_header(&mut extra);
                self.auto_reply(now, &key, &req, 200, "OK", None, &extra);
            }
            // We never send reliable provisional responses (RFC 3262 §3).
            "PRACK" => self.unknown_dialog(now, &key, &req),
            _ => self.events.push_back(DialogEvent::Request(IncomingRequest {
                session: Some(id),
                key,
                request: req,
                remote,
            })),
        }
    }

    fn on_bye(&mut self, now: Instant, id: SessionId, key: TransactionKey, req: Message) {
        self.auto_reply(now, &key, &req, 200, "OK", None, &[]);
        let Some(s) = self.s_mut(id) else {
            return;
        };
        match s.state {
            SessionState::Incoming | SessionState::Ringing => {
                // §15.1.2: a BYE on the early dialog ends the INVITE with 487.
                let (inv, ikey, tag) =
                    (s.invite.clone(), s.invite_key.clone(), s.local_tag.clone());
                self.auto_reply(now, &ikey, &inv, 487, "Request Terminated", Some(&tag), &[]);
                let end = CallEnd::from_status(
                    Side::Remote,
                    EndKind::Cancelled,
                    487,
                    "Request Terminated",
                    Some(&req),
                )
                .or_cause(Q850::NORMAL_CALL_CLEARING);
                self.end(id, end);
            }
            // The callee must not BYE an early dialog (§15); the INVITE's outcome decides.
            SessionState::Calling | SessionState::Proceeding | SessionState::Cancelling => {}
            SessionState::AwaitingAck | SessionState::Established => {
                s.pending_ack = None;
                let end = CallEnd::from_status(Side::Remote, EndKind::Bye, 200, "OK", Some(&req))
                    .or_cause(Q850::NORMAL_CALL_CLEARING);
                self.end(id, end);
            }
            SessionState::Ending => self.remove(id),
        }
    }

    fn on_info(&mut self, now: Instant, id: SessionId, key: TransactionKey, req: Message) {
        let ct = req.content_type().map(str::to_owned);
        match ct.as_deref() {
            Some(t) if Dtmf::is_dtmf_type(t) => match Dtmf::parse(t, req.body()) {
                Ok(dtmf) => {
                    self.auto_reply(now, &key, &req, 200, "OK", None, &[]);
                    self.events
                        .push_back(DialogEvent::Dtmf { session: id, dtmf });
                }
                Err(e) => {
                    let extra = [("Warning".to_owned(), warning(399, &e.to_string()))];
                    self.auto_reply(now, &key, &req, 400, "Bad Request", None, &extra);
                }
            },
            _ => {
                self.auto_reply(now, &key, &req, 200, "OK", None, &[]);
                self.events.push_back(DialogEvent::Info {
                    session: id,
                    content_type: ct,
                    body: body_bytes(&req),
                });
            }
        }
    }
}
