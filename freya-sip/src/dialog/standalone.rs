//! Requests outside any dialog that the user sends through the layer's transactions
//! (RFC 3261 §8.1): REGISTER (§10), an OPTIONS ping. The layer owns the transaction layer,
//! so these go through it and their outcome comes back as
//! [`DialogEvent::StandaloneCompleted`].

use std::time::Instant;

use crate::message::Message;
use crate::transaction::{Remote, TransactionEvent, TransactionKey};

use super::error::DialogError;
use super::event::DialogEvent;
use super::layer::DialogLayer;

impl DialogLayer {
    /// Sends `request` — a complete non-INVITE request outside any dialog, its top Via
    /// carrying a fresh branch — to `remote` in a client transaction. Its final response
    /// (or 408 on timeout, 503 on a transport error) comes as
    /// [`DialogEvent::StandaloneCompleted`] with the returned key.
    ///
    /// # Errors
    /// [`DialogError::InvalidState`] for an INVITE or ACK (calls go through
    /// [`DialogLayer::invite`]); the transaction layer's refusal (no usable Via branch, a
    /// transaction with this branch alive).
    pub fn send_standalone(
        &mut self,
        now: Instant,
        request: Message,
        remote: Remote,
    ) -> Result<TransactionKey, DialogError> {
        if matches!(request.method(), Some("INVITE") | Some("ACK") | None) {
            return Err(DialogError::InvalidHeader {
                name: request.method().unwrap_or("").to_owned(),
                reason: "a standalone request is a non-INVITE request (calls use invite)",
            });
        }
        let key = self.tx.send_request(now, request, remote)?;
        self.standalone.insert(key.clone());
        self.finish(now);
        Ok(key)
    }

    /// A transaction event for a standalone request; returns whether `key` was one.
    pub(crate) fn standalone_event(
        &mut self,
        key: &TransactionKey,
        event: &TransactionEvent,
    ) -> bool {
        if !self.standalone.contains(key) {
            return false;
        }
        let done = |status: u16, response: Option<Message>| DialogEvent::StandaloneCompleted {
            key: key.clone(),
            status,
            response,
        };
        match event {
            TransactionEvent::Final(r) => {
                let status = r.status_code().unwrap_or(500);
                self.events.push_back(done(status, Some(r.clone())));
                self.standalone.remove(key);
            }
            TransactionEvent::Timeout(_) => {
                self.events.push_back(done(408, None));
                self.standalone.remove(key);
            }
            TransactionEvent::TransportError => {
                self.events.push_back(done(503, None));
                self.standalone.remove(key);
            }
            TransactionEvent::Terminated => {
                self.standalone.remove(key);
            }
            _ => {}
        }
        true
    }
}
