//! Digits sent toward a call's SIP peer ([`Stack::send_dtmf`](super::Stack::send_dtmf)), as
//! an agent navigating an IVR does: RFC 4733 telephone-events in the call's own RTP stream
//! when its SDP agreed on telephone-event (the agent's audio is held back while a tone is
//! on, §2.5.1), or SIP INFO (`application/dtmf-relay`) when the trunk says
//! `dtmf_mode = "info"`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use freya_media::dtmf::{DtmfSender, DtmfSenderConfig};
use freya_sip::ua::{Call, DtmfMode};
use serde::{Deserialize, Serialize};

use crate::request::RequestError;
use crate::StackError;

/// The most digits one request may send.
pub const MAX_DTMF_DIGITS: usize = 32;

/// Digits to send ([`Stack::send_dtmf`](super::Stack::send_dtmf); the body of the API's
/// `POST /calls/{id}/dtmf`).
///
/// ```
/// let r: freya::stack::DtmfRequest = serde_json::from_str(r#"{"digits": "1#"}"#).unwrap();
/// assert_eq!((r.digits.as_str(), r.duration_ms), ("1#", 100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtmfRequest {
    /// The keys, in order: `0`–`9`, `*`, `#`, `A`–`D`; 1 to [`MAX_DTMF_DIGITS`].
    pub digits: String,
    /// How long each key is held, in ms: 40 to 2,000 (default 100); 100 ms of silence
    /// separate them.
    #[serde(default = "default_duration")]
    pub duration_ms: u32,
}

fn default_duration() -> u32 {
    100
}

impl DtmfRequest {
    /// Checks the digits and the duration.
    ///
    /// # Errors
    /// [`StackError::Request`] naming the key and the value.
    pub(crate) fn check(&self) -> Result<(), StackError> {
        let refuse = |m: String| StackError::Request(RequestError::from_message(m));
        let n = self.digits.chars().count();
        if n == 0 || n > MAX_DTMF_DIGITS {
            return Err(refuse(format!(
                "digits: {} keys; 1 to {MAX_DTMF_DIGITS} may be sent at once",
                n
            )));
        }
        if let Some((i, c)) = self
            .digits
            .chars()
            .enumerate()
            .find(|(_, c)| !"0123456789*#ABCDabcd".contains(*c))
        {
            return Err(refuse(format!(
                "digits: {c:?} (key {}) is not a DTMF key (0-9 * # A-D)",
                i + 1
            )));
        }
        if !(40..=2000).contains(&self.duration_ms) {
            return Err(refuse(format!(
                "duration_ms: {} is outside 40-2000",
                self.duration_ms
            )));
        }
        Ok(())
    }
}

/// The RFC 4733 side of a call's outgoing RTP: the sender of its queued tones and the
/// telephone-event payload type the SDP agreed. Shared by the call's task (which queues)
/// and the agent-audio sink (which sends, on its 20 ms clock).
pub(crate) struct DtmfOut {
    pub(crate) sender: Mutex<DtmfSender>,
    pub(crate) payload_type: u8,
    /// Set (under the lock) when keys are queued, cleared (under the lock) once the sender
    /// is idle: the sink looks at it alone on its 50 turns a second, and takes the lock
    /// only while keys are being sent.
    pub(crate) busy: AtomicBool,
}

pub(crate) type SharedDtmfOut = Arc<DtmfOut>;

impl DtmfOut {
    /// The RFC 4733 sender of a call whose SDP agreed on telephone-event `payload_type`.
    pub(crate) fn shared(payload_type: u8) -> Option<SharedDtmfOut> {
        let sender = DtmfSender::new(DtmfSenderConfig::default()).ok()?;
        Some(Arc::new(DtmfOut {
            sender: Mutex::new(sender),
            payload_type,
            busy: AtomicBool::new(false),
        }))
    }
}

/// Sends `req` (checked) toward `call`'s peer: by SIP INFO for an `info` trunk, else as
/// RFC 4733 events through `out`.
///
/// # Errors
/// [`StackError::Dtmf`] when the call agreed no telephone-event and its trunk does not use
/// INFO; [`StackError::Sip`] when an INFO cannot be sent.
pub(crate) fn send(
    call: &Call,
    call_id: &str,
    out: Option<&SharedDtmfOut>,
    req: &DtmfRequest,
) -> Result<(), StackError> {
    let mode = call
        .info()
        .peer
        .as_ref()
        .map(|p| p.dtmf_mode)
        .unwrap_or_default();
    match (mode, out) {
        (DtmfMode::Info, _) => {
            for digit in req.digits.chars() {
                call.send_dtmf(digit.to_ascii_uppercase(), req.duration_ms)?;
            }
            tracing::info!(call_id, digits = %req.digits, "stack: DTMF sent by SIP INFO");
            Ok(())
        }
        (DtmfMode::Rfc4733, Some(out)) => {
            let mut sender = out.sender.lock().unwrap_or_else(|p| p.into_inner());
            sender
                .send_digits(
                    Instant::now(),
                    &req.digits.to_ascii_uppercase(),
                    Duration::from_millis(u64::from(req.duration_ms)),
                )
                .map_err(|e| {
                    StackError::Request(RequestError::from_message(format!("digits: {e}")))
                })?;
            out.busy.store(true, Ordering::Release);
            tracing::info!(call_id, digits = %req.digits, "stack: DTMF queued as RFC 4733 events");
            Ok(())
        }
        (DtmfMode::Rfc4733, None) => Err(StackError::Dtmf {
            call_id: call_id.to_owned(),
            reason: "its SDP agreed no telephone-event (RFC 4733); a trunk with dtmf_mode = \
                     \"info\" sends SIP INFO instead"
                .into(),
        }),
    }
}
