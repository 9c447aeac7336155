//! The one event model (DESIGN.md principle 6): every call state change is one
//! [`CallEvent`], the same JSON in Rust, Python and Node, streamed on the control API and
//! logged as one structured line.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One thing that happened to a call.
///
/// ```
/// use freya::event::{CallEvent, EventKind};
/// let e = CallEvent::new("5b0f8c1e-2f4a-4a57-9c4e-0d6c3f0e8a11", EventKind::Hangup {
///     sip_code: 603, reason: "Decline".into(), q850_cause: Some(21), q850_text: Some("Call rejected".into()),
///     hangup_by: "remote".into(), duration_ms: 0, recording: None });
/// let json = serde_json::to_value(&e).unwrap();
/// assert_eq!(json["event"], "hangup");
/// assert_eq!(json["q850_text"], "Call rejected");
/// assert_eq!(json["call_id"], "5b0f8c1e-2f4a-4a57-9c4e-0d6c3f0e8a11");
/// let back: CallEvent = serde_json::from_value(json).unwrap();
/// assert_eq!(back, e);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    /// The call's freya UUID (its `X-Freya-Call-Id`).
    pub call_id: String,
    /// When, in milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl CallEvent {
    /// An event stamped now.
    pub fn new(call_id: impl Into<String>, kind: EventKind) -> CallEvent {
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        CallEvent {
            call_id: call_id.into(),
            ts_ms,
            kind,
        }
    }

    /// Logs the event as one structured line (target `freya::event`, field `json`).
    pub fn log(&self) {
        let json = serde_json::to_string(self).unwrap_or_default();
        match &self.kind {
            EventKind::Hangup { sip_code, .. } if *sip_code >= 400 => {
                tracing::warn!(target: "freya::event", call_id = %self.call_id, %json, "call event")
            }
            _ => {
                tracing::info!(target: "freya::event", call_id = %self.call_id, %json, "call event")
            }
        }
    }
}

/// The kinds of [`CallEvent`], tagged `"event"` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A call arrived (inbound) or is being placed (outbound).
    Started {
        /// `inbound` or `outbound`.
        direction: String,
        /// The caller (number or URI).
        caller: Option<String>,
        /// The callee.
        callee: Option<String>,
        /// The trunk or endpoint.
        trunk: Option<String>,
        /// The `X-Freya-Workflow-Id`.
        workflow_id: Option<String>,
        /// The route that took it.
        route: Option<String>,
        /// The SIP Call-ID.
        sip_call_id: String,
        /// Every X- header, in order, exact values.
        headers: Vec<(String, String)>,
    },
    /// Ringing: our 180 (inbound) or the far end's 18x (outbound).
    Ringing {
        /// The status (180, 183).
        sip_code: u16,
    },
    /// Answered.
    Answered {},
    /// An agent slot was taken.
    SlotTaken {
        /// The pool.
        pool: String,
        /// The slot number (0-based).
        slot: usize,
        /// For a `mode = "server"` pool: the URL the agent opens to take this call
        /// (`ws://<agent_server.listen>/call/<call_id>`, with the bearer token).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect: Option<String>,
    },
    /// An agent slot was freed.
    SlotFreed {
        /// The pool.
        pool: String,
        /// The slot number.
        slot: usize,
    },
    /// A DTMF digit.
    Dtmf {
        /// The digit (`0-9 * # A-D`).
        digit: String,
        /// How it came: `rfc4733` or `info`.
        via: String,
    },
    /// The caller or the far end put the call on hold or resumed it: a re-INVITE whose SDP
    /// is `a=sendonly`, `a=inactive` or `c=0.0.0.0` (RFC 3264 §8.4), or back to sending.
    /// On a B2BUA route freya then holds (resumes) the other leg too.
    Hold {
        /// `true` on hold, `false` resumed.
        held: bool,
        /// Whose peer: `caller` (the leg that called freya) or `callee` (the leg freya
        /// called: a B2BUA route's far end, or the called party of an originate).
        by: String,
    },
    /// The call ended (always the last event of a call).
    Hangup {
        /// The SIP status that ended it (200 for a BYE after an answer).
        sip_code: u16,
        /// Its reason phrase.
        reason: String,
        /// The Q.850 cause, when known.
        q850_cause: Option<u16>,
        /// The cause in words (`Call rejected`).
        q850_text: Option<String>,
        /// `local`, `remote`, `agent` or `system`.
        hangup_by: String,
        /// From answer to hangup, in ms (0 if never answered).
        duration_ms: u64,
        /// The recording's path, when recorded.
        recording: Option<String>,
    },
}
