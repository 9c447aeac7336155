//! Where what arrives goes: transaction events to the call they belong to (by
//! transaction and purpose), new requests to the UAS or in-dialog handling, stray 2xx to
//! the ACK cache or the fork logic, and session deadlines to their handlers.

use std::time::Instant;

use crate::message::Message;
use crate::transaction::{LayerEvent, Remote, TransactionEvent, TransactionKey};

use super::event::DialogEvent;
use super::id::SessionId;
use super::layer::{DialogLayer, Purpose};

impl DialogLayer {
    pub(crate) fn on_tx_event(&mut self, now: Instant, ev: LayerEvent) {
        let LayerEvent { key, event } = ev;
        if let TransactionEvent::Ack(ack) = event {
            // An ACK that matched an INVITE server transaction: for our 2xx (Accepted,
            // RFC 6026) it is the dialog's; for a non-2xx it only confirmed the
            // transaction.
            let for_2xx = match self.tx.get(&key) {
                Some(crate::transaction::Transaction::ServerInvite(t)) => {
                    t.final_status().is_some_and(|s| s < 300)
                }
                _ => true,
            };
            if for_2xx {
                self.on_ack(now, ack);
            }
            return;
        }
        if self.standalone_event(&key, &event) {
            return;
        }
        let Some(&(id, purpose, remote)) = self.by_tx.get(&key) else {
            return;
        };
        match event {
            TransactionEvent::Terminated => {
                self.by_tx.remove(&key);
            }
            TransactionEvent::Provisional(r) => {
                if purpose == Purpose::Invite {
                    self.uac_provisional(now, id, r);
                }
            }
            TransactionEvent::Final(r) => {
                let ok = r.status_code().is_some_and(|s| (200..300).contains(&s));
                if ok && key.is_invite() && self.reack(&r) {
                    return;
                }
                match purpose {
                    Purpose::Invite if ok => self.uac_2xx(now, Some(id), r, remote),
                    Purpose::Invite => self.uac_final_failure(now, id, r),
                    Purpose::Reinvite => self.reinvite_final(now, id, r),
                    Purpose::Update => self.update_final(now, id, r),
                    Purpose::Request => self.request_final(now, id, key, Some(r)),
                    _ => {}
                }
            }
            TransactionEvent::Timeout(_) | TransactionEvent::TransportError => {
                let transport = matches!(event, TransactionEvent::TransportError);
                match purpose {
                    Purpose::Invite => self.uac_no_final(now, id, transport),
                    Purpose::InviteServer if transport => self.uas_transport_error(id),
                    Purpose::Reinvite | Purpose::Update => {
                        self.dialog_lost(now, id, if transport { 503 } else { 408 }, None)
                    }
                    Purpose::Request => {
                        let status = if transport { 503 } else { 408 };
                        self.refer_completed(id, &key, status);
                        self.events.push_back(DialogEvent::RequestCompleted {
                            session: id,
                            key,
                            status,
                            response: None,
                        });
                        self.dialog_lost(now, id, status, None);
                    }
                    _ => {}
                }
            }
            TransactionEvent::Ack(_) => {}
            TransactionEvent::Cancelled(cancel) => {
                if purpose == Purpose::InviteServer {
                    self.uas_cancelled(now, id, cancel);
                }
            }
        }
    }

    pub(crate) fn on_session_timeout(&mut self, now: Instant, id: SessionId) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if let Some(p) = &s.pending_ack {
            if now >= p.give_up {
                self.no_ack(now, id);
                return;
            }
            if now >= p.next {
                self.retransmit_2xx(now, id);
            }
        }
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.glare_retry.is_some_and(|(at, _)| at <= now) {
            self.glare_retry(now, id);
        }
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if !s.ended && s.timer.is_some_and(|t| t.deadline() <= now) {
            self.session_timer_due(now, id);
        }
    }

    pub(crate) fn on_request(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: Message,
        remote: Remote,
    ) {
        if req.to().is_some_and(|t| t.tag().is_some()) {
            self.on_in_dialog_request(now, key, req, remote);
            return;
        }
        match req.method() {
            Some("INVITE") => self.uas_new_invite(now, key, req, remote),
            Some("BYE" | "INFO" | "UPDATE" | "PRACK") => self.unknown_dialog(now, &key, &req),
            _ => self
                .events
                .push_back(DialogEvent::Request(super::event::IncomingRequest {
                    session: None,
                    key,
                    request: req,
                    remote,
                })),
        }
    }

    /// 481 Call/Transaction Does Not Exist (RFC 3261 §12.2.2).
    pub(crate) fn unknown_dialog(&mut self, now: Instant, key: &TransactionKey, req: &Message) {
        self.stats.unknown_dialog += 1;
        tracing::debug!(
            start_line = req.start_line(),
            call_id = req.call_id(),
            "dialog: request for no dialog, 481"
        );
        self.auto_reply(
            now,
            key,
            req,
            481,
            "Call/Transaction Does Not Exist",
            None,
            &[],
        );
    }

    pub(crate) fn on_stray_response(&mut self, now: Instant, r: Message, remote: Remote) {
        let is_invite_2xx = r.status_code().is_some_and(|s| (200..300).contains(&s))
            && r.cseq().is_some_and(|c| c.method == "INVITE");
        if is_invite_2xx && self.reack(&r) {
            return;
        }
        if is_invite_2xx {
            let key = (
                r.call_id().unwrap_or("").to_owned(),
                r.from().and_then(|f| f.tag()).unwrap_or("").to_owned(),
            );
            if let Some(&id) = self.outbound.get(&key) {
                self.uac_2xx(now, Some(id), r, remote);
                return;
            }
        }
        self.stats.stray_responses += 1;
    }
}
