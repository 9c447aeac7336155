//! Transferring a call away from its agent: a blind transfer by REFER (RFC 3515, RFC 5589
//! §6.1), as an agent does when the caller asks for a human. freya asks the call's SIP
//! peer (the carrier) to call the target itself; the peer reports how its INVITE goes in
//! NOTIFYs (sipfrag status lines), and freya hangs up its own leg once the target answered.
//! Until then the caller stays with the agent, who hears of a failure in the events.
//!
//! [`Stack::transfer`](super::Stack::transfer) hands a command to the call's task
//! ([`super::commands`]), whose media loop (`call::pump`) drives a [`CallTransfer`]: it
//! sends the REFER, follows its response and NOTIFYs, and emits each step as a `transfer`
//! event.

use std::time::{Duration, Instant};

use freya_sip::dialog::{DialogError, DialogEvent, ReferProgress, SessionState};
use freya_sip::ua::{Call, UaError};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::Inner;
use crate::event::{CallEvent, EventKind};
use crate::StackError;

/// How long a transfer may go without an outcome (the target's answer or refusal) before
/// it counts as failed and the call stays with its agent. RFC 3515 leaves the refer
/// subscription's length to the transferee; a target that rings unanswered for a minute
/// has failed for a caller waiting on hold.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// A transfer to ask for ([`Stack::transfer`](super::Stack::transfer); the body of the
/// API's `POST /calls/{id}/transfer`).
///
/// ```
/// let r: freya::stack::TransferRequest = serde_json::from_str(r#"{"to": "+14155550123"}"#).unwrap();
/// assert_eq!(r.to, "+14155550123");
/// assert!(serde_json::from_str::<freya::stack::TransferRequest>(r#"{"too": "1"}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Where the caller goes: a number (`+` and digits: `sip:<number>@<host>` with the
    /// host of the call's trunk, else the address the call came from), or a `sip:`,
    /// `sips:` or `tel:` URI, used as given.
    pub to: String,
}

/// The call task's side: the transfer in progress, if any.
pub(crate) struct CallTransfer<'a> {
    inner: &'a Inner,
    id: &'a str,
    current: Option<Current>,
}

/// The transfer in progress.
#[derive(Clone)]
struct Current {
    target: String,
    /// When it fails without an outcome.
    due: Instant,
    /// Whether the REFER went out: asked for right after our 200, it waits for the ACK
    /// (RFC 3261 §13.3.1.4: the dialog is confirmed by it).
    sent: bool,
}

/// What the media loop does after a dialog event the transfer took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing more.
    Continue,
    /// The target answered: end the agent's leg and hang up ours (BYE).
    HangUp,
}

impl<'a> CallTransfer<'a> {
    /// No transfer yet for call `id`.
    pub(crate) fn new(inner: &'a Inner, id: &'a str) -> CallTransfer<'a> {
        CallTransfer {
            inner,
            id,
            current: None,
        }
    }

    /// When the transfer in progress gives up waiting.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.current.as_ref().map(|c| c.due)
    }

    /// Starts a transfer to `to`: resolves the target, sends the REFER (or has it wait for
    /// the ACK), replies.
    pub(crate) fn start(
        &mut self,
        call: &Call,
        to: &str,
        reply: oneshot::Sender<Result<String, StackError>>,
    ) {
        let result = self.begin(call, to);
        // The asker may have given up waiting: the transfer goes on regardless.
        let _ = reply.send(result);
    }

    fn begin(&mut self, call: &Call, to: &str) -> Result<String, StackError> {
        if let Some(c) = &self.current {
            return Err(self.refusal(format!("a transfer to {} is in progress", c.target)));
        }
        let target = target_uri(self.inner, call, to)?;
        let sent = match call.refer(&target) {
            Ok(()) => true,
            Err(UaError::Dialog(DialogError::InvalidState { state, .. }))
                if state == SessionState::AwaitingAck.as_str() =>
            {
                tracing::info!(call_id = self.id, %target, "stack: transfer waits for the ACK of our 200");
                false
            }
            Err(e) => return Err(self.sip_refusal(e)),
        };
        self.current = Some(Current {
            target: target.clone(),
            due: Instant::now() + TRANSFER_TIMEOUT,
            sent,
        });
        if sent {
            self.requested(&target);
        }
        Ok(target)
    }

    fn requested(&self, target: &str) {
        tracing::info!(call_id = self.id, %target, "stack: transfer requested (REFER)");
        self.emit("requested", target, None, None);
    }

    fn refusal(&self, reason: String) -> StackError {
        StackError::Transfer {
            call_id: self.id.to_owned(),
            reason,
        }
    }

    fn sip_refusal(&self, e: UaError) -> StackError {
        match e {
            UaError::Dialog(DialogError::InvalidUri { uri, reason }) => {
                StackError::Request(crate::request::RequestError::from_message(format!(
                    "to: {uri:?} is not a transfer target: {reason}"
                )))
            }
            UaError::Dialog(DialogError::InvalidState { state, .. }) => {
                self.refusal(format!("the call cannot be transferred while {state}"))
            }
            UaError::Dialog(DialogError::NoSuchSession(_)) => StackError::NoSuchCall {
                call_id: self.id.to_owned(),
            },
            other => StackError::Sip(other),
        }
    }

    /// Whether `ev` is the transfer's (the REFER's response, a NOTIFY, the ACK a waiting
    /// REFER needs): [`Self::on_event`] takes it; the media loop takes the others.
    pub(crate) fn takes(&self, ev: &DialogEvent) -> bool {
        match ev {
            DialogEvent::RequestCompleted { key, .. } => key.method() == "REFER",
            DialogEvent::ReferNotify { .. } => true,
            DialogEvent::Confirmed { .. } => self.current.as_ref().is_some_and(|c| !c.sent),
            _ => false,
        }
    }

    /// Follows the transfer in progress with `ev` (one [`Self::takes`]).
    pub(crate) fn on_event(&mut self, call: &Call, ev: &DialogEvent) -> Next {
        match ev {
            DialogEvent::Confirmed { .. } => self.send_waiting(call),
            DialogEvent::RequestCompleted {
                key,
                status,
                response,
                ..
            } if key.method() == "REFER" => {
                let Some(Current { target, .. }) = self.current.clone() else {
                    return Next::Continue;
                };
                let phrase = response
                    .as_ref()
                    .and_then(|r| r.reason_phrase())
                    .map(str::to_owned);
                if (200..300).contains(status) {
                    self.emit("accepted", &target, Some(*status), phrase);
                } else {
                    tracing::info!(call_id = self.id, %target, status, "stack: transfer refused by the peer");
                    self.current = None;
                    self.emit("refused", &target, Some(*status), phrase);
                }
                Next::Continue
            }
            DialogEvent::ReferNotify { progress, .. } => self.on_notify(progress),
            _ => Next::Continue,
        }
    }

    /// The ACK came: the REFER that waited for it goes now.
    fn send_waiting(&mut self, call: &Call) -> Next {
        let Some(c) = self.current.as_mut().filter(|c| !c.sent) else {
            return Next::Continue;
        };
        let target = c.target.clone();
        match call.refer(&target) {
            Ok(()) => {
                c.sent = true;
                self.requested(&target);
            }
            Err(error) => {
                tracing::warn!(call_id = self.id, %target, %error, "stack: the REFER could not be sent");
                self.current = None;
                self.emit(
                    "failed",
                    &target,
                    None,
                    Some(format!("the REFER could not be sent: {error}")),
                );
            }
        }
        Next::Continue
    }

    fn on_notify(&mut self, p: &ReferProgress) -> Next {
        let Some(Current { target, .. }) = self.current.clone() else {
            // A NOTIFY after the transfer was given up (timed out): the dialog layer
            // answered it; the outcome came too late to act on.
            tracing::info!(call_id = self.id, status = ?p.status, "stack: a late transfer NOTIFY, ignored");
            return Next::Continue;
        };
        if p.succeeded() {
            tracing::info!(call_id = self.id, %target, "stack: transferred; hanging up our leg");
            self.current = None;
            self.emit("succeeded", &target, p.status, p.reason.clone());
            Next::HangUp
        } else if p.failed() {
            tracing::info!(call_id = self.id, %target, status = ?p.status, "stack: transfer failed; the call stays with its agent");
            self.current = None;
            let reason = p.reason.clone().or_else(|| {
                Some("the transferee ended the subscription without an outcome".into())
            });
            self.emit("failed", &target, p.status, reason);
            Next::Continue
        } else {
            self.emit("progress", &target, p.status, p.reason.clone());
            Next::Continue
        }
    }

    /// The deadline passed without an outcome: the transfer has failed.
    pub(crate) fn expire(&mut self) {
        if let Some(c) = self.current.take() {
            tracing::warn!(call_id = self.id, target = %c.target, "stack: transfer gave no outcome in time; the call stays with its agent");
            let reason = format!(
                "no outcome from the transferee within {} s",
                TRANSFER_TIMEOUT.as_secs()
            );
            self.emit("failed", &c.target, None, Some(reason));
        }
    }

    fn emit(&self, state: &str, target: &str, sip_code: Option<u16>, reason: Option<String>) {
        self.inner.emit(CallEvent::new(
            self.id,
            EventKind::Transfer {
                state: state.to_owned(),
                target: target.to_owned(),
                sip_code,
                reason,
            },
        ));
    }
}

/// The URI the REFER names for `to`: a URI as given; a number at the host of the call's
/// trunk, or else at the address the call came from.
fn target_uri(inner: &Inner, call: &Call, to: &str) -> Result<String, StackError> {
    let to = to.trim();
    let scheme = to.split(':').next().unwrap_or_default();
    if to.contains(':')
        && ["sip", "sips", "tel"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return Ok(to.to_owned());
    }
    let digits = to.strip_prefix('+').unwrap_or(to);
    if digits.is_empty() || digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StackError::Request(
            crate::request::RequestError::from_message(format!(
                "to: {to:?} is neither a number (+ and digits) nor a sip:, sips: or tel: URI"
            )),
        ));
    }
    let host = call
        .info()
        .peer
        .as_ref()
        .and_then(|p| {
            inner
                .ua
                .config()
                .trunk(&p.name)
                .and_then(|t| t.host.clone())
        })
        .unwrap_or_else(|| call.info().remote.to_string());
    Ok(format!("sip:{to}@{host}"))
}
