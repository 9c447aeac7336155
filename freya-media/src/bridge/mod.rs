//! WebSocket media bridge: one call's audio, DTMF and hang-up carried over a WebSocket to a
//! voice agent (pipecat and others), in one of three wire protocols chosen per agent slot:
//!
//! - [`twilio`]: Twilio Media Streams JSON (`connected`, `start`, base64 μ-law `media`, `mark`,
//!   `clear`, `dtmf`, `stop`), as pipecat's stock `TwilioFrameSerializer` expects;
//! - [`jambonz`]: the jambonz `listen` verb (JSON metadata, then binary L16 both ways);
//! - [`asterisk`]: Asterisk's `chan_websocket` (`MEDIA_START`, text commands, binary media).
//!
//! Layers, each usable alone:
//!
//! - the protocol modules are pure encode/decode of each message, both directions (what freya
//!   sends and what an agent sends), with typed errors ([`BridgeError`]);
//! - [`BridgeSession`] is the sans-IO core of one bridged leg: caller audio and DTMF in,
//!   WebSocket messages out (start/metadata first, never audio before it); agent messages in,
//!   caller-bound 20 ms frames out, paced by [`BridgeSession::poll_frame`] from a bounded queue;
//! - [`connect`] (client mode: freya dials the agent's URL) and [`BridgeServer`] (server mode:
//!   the agent dials freya and names its call) are the tokio shells, one task per leg, handing
//!   back a [`BridgeLeg`];
//! - [`host_leg`] joins a leg to an agent in this very process ([`HostAgent`]: 16-bit PCM
//!   frames and DTMF in, audio, barge-in and hang-up out, no socket between);
//! - [`echo`] is an echo agent for all three protocols (the `echo-agent` example and the tests).
//!
//! Units used throughout: caller-side audio is **8 kHz mono 16-bit linear PCM**, counted in
//! *samples*; one frame is 20 ms = [`FRAME_SAMPLES`] (160) samples. Wire-side rates and
//! encodings (μ-law, L16 at 8–48 kHz) are converted inside the session. The protocols follow
//! the fact sheet `shared/protocols/ws-media.md` (its section numbers are cited as "ws-media §…").
//!
//! ```
//! use std::time::{Duration, Instant};
//! use freya_media::bridge::{BridgeConfig, BridgeSession, CallMetadata, Direction, WsMessage};
//!
//! let t0 = Instant::now();
//! let meta = CallMetadata::new("0b6f7f52-0000-4000-8000-000000000001", Direction::Inbound, "+15550001", "+15550002");
//! let mut session = BridgeSession::new(BridgeConfig::twilio(), meta, t0)?;
//! session.send_audio(t0, &[0i16; 160]); // one 20 ms caller frame
//! let first: Vec<WsMessage> = std::iter::from_fn(|| session.poll_transmit()).collect();
//! assert!(matches!(&first[0], WsMessage::Text(t) if t.contains("\"connected\"")));
//! assert!(matches!(&first[1], WsMessage::Text(t) if t.contains("\"start\"")));
//! assert!(matches!(&first[2], WsMessage::Text(t) if t.contains("\"media\"")));
//!
//! // The agent answers with 40 ms of μ-law; it is played out 20 ms at a time.
//! let payload = "////////////////////////////////////////////////////////////////////////////////"
//!     .repeat(4); // 240 base64 chars = 180 bytes of 0xFF (μ-law silence)
//! session.handle_message(t0, WsMessage::Text(format!(r#"{{"event":"media","media":{{"payload":"{payload}"}}}}"#)));
//! let frame = session.poll_frame(t0 + Duration::from_millis(20)).unwrap();
//! assert_eq!(frame.audio_samples, 160);
//! # Ok::<(), freya_media::bridge::BridgeError>(())
//! ```

pub mod asterisk;
mod client;
mod config;
pub mod echo;
mod events;
mod host;
pub mod jambonz;
mod leg;
mod link;
mod metadata;
mod playout;
mod server;
mod session;
mod session_agent;
#[cfg(test)]
mod session_tests;
pub mod twilio;
mod twilio_fast;
pub mod upgrade;

use std::fmt;

use crate::codec::CodecError;

pub use client::{connect, ClientConfig, ClientTls};
pub use config::{BridgeConfig, Protocol};
pub use events::{BridgeEvent, BridgeStats, CallerFrame, CloseReason};
pub use host::{host_leg, HostAgent, HostInput, HostReceiver, HostSender};
pub use leg::{BridgeLeg, FrameSink, LegError, LegOutput, LegReceiver, LegSender, ShellOptions};
pub use metadata::{CallMetadata, Direction};
pub use server::{AuthRequest, Authorizer, BridgeServer, PendingLeg, ServerConfig};
pub use session::BridgeSession;

/// Samples in one 20 ms frame of caller-side audio (8 kHz).
pub const FRAME_SAMPLES: usize = 160;

/// One WebSocket data message, independent of the WebSocket library (the sans-IO core never
/// sees sockets). Control frames (ping, pong, close) are the shell's business.
///
/// ```
/// use freya_media::bridge::WsMessage;
///
/// let m = WsMessage::Binary(bytes::Bytes::from_static(&[0, 0]));
/// assert_eq!(m.len(), 2);
/// assert!(!WsMessage::Text("{}".into()).is_binary());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text frame (UTF-8): JSON or a plain-text control line.
    Text(String),
    /// A binary frame: raw audio for jambonz and Asterisk.
    Binary(bytes::Bytes),
}

impl WsMessage {
    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            WsMessage::Text(t) => t.len(),
            WsMessage::Binary(b) => b.len(),
        }
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for a binary frame.
    pub fn is_binary(&self) -> bool {
        matches!(self, WsMessage::Binary(_))
    }
}

/// Which wire protocol an agent slot speaks.
///
/// ```
/// use freya_media::bridge::ProtocolKind;
///
/// assert_eq!("jambonz".parse::<ProtocolKind>()?, ProtocolKind::Jambonz);
/// assert_eq!(ProtocolKind::Asterisk.to_string(), "asterisk");
/// assert!("sip".parse::<ProtocolKind>().is_err());
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolKind {
    /// Twilio Media Streams (ws-media §1).
    Twilio,
    /// jambonz `listen` (ws-media §2).
    Jambonz,
    /// Asterisk `chan_websocket` (ws-media §3).
    Asterisk,
}

impl ProtocolKind {
    /// The lowercase name used in configs and logs.
    pub const fn name(self) -> &'static str {
        match self {
            ProtocolKind::Twilio => "twilio",
            ProtocolKind::Jambonz => "jambonz",
            ProtocolKind::Asterisk => "asterisk",
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ProtocolKind {
    type Err = BridgeError;

    /// `twilio`, `jambonz` or `asterisk` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, BridgeError> {
        match s.to_ascii_lowercase().as_str() {
            "twilio" => Ok(ProtocolKind::Twilio),
            "jambonz" => Ok(ProtocolKind::Jambonz),
            "asterisk" => Ok(ProtocolKind::Asterisk),
            _ => Err(BridgeError::BadConfig {
                setting: "protocol",
                value: s.to_owned(),
                reason: "expected twilio, jambonz or asterisk",
            }),
        }
    }
}

/// Why a wire message or a bridge setting was refused. A refused agent message never ends
/// the leg (ws-media §7 rule 5: ignore what you do not understand): the session counts it in
/// [`BridgeStats::rejected_messages`], logs it, and reports it as [`BridgeEvent::Error`].
///
/// ```
/// use freya_media::bridge::{twilio::TwilioFromAgent, BridgeError};
///
/// let err = TwilioFromAgent::decode("not json").unwrap_err();
/// assert!(matches!(err, BridgeError::NotJson { .. }));
/// assert!(err.to_string().contains("not json"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    /// A text message that should be JSON is not.
    #[error("{protocol}: text message is not JSON ({reason}): {excerpt}")]
    NotJson {
        /// The protocol being decoded.
        protocol: ProtocolKind,
        /// serde_json's message.
        reason: String,
        /// The start of the message, escaped.
        excerpt: String,
    },
    /// A message lacks a field its kind requires.
    #[error("{protocol}: {message} message lacks {field}: {excerpt}")]
    MissingField {
        /// The protocol being decoded.
        protocol: ProtocolKind,
        /// The message kind (`media`, `MEDIA_START`, …).
        message: String,
        /// The missing field's path (`media.payload`).
        field: &'static str,
        /// The start of the message, escaped.
        excerpt: String,
    },
    /// A field is present but its value cannot be used.
    #[error("{protocol}: {field} = {value:?} is invalid: {reason}")]
    BadField {
        /// The protocol being decoded.
        protocol: ProtocolKind,
        /// The field's path.
        field: &'static str,
        /// The refused value (truncated, escaped).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A binary frame where the protocol has only text, or the reverse.
    #[error("{protocol}: unexpected {kind} frame of {len} bytes")]
    UnexpectedFrame {
        /// The protocol being decoded.
        protocol: ProtocolKind,
        /// `"binary"` or `"text"`.
        kind: &'static str,
        /// The frame's length, in bytes.
        len: usize,
    },
    /// A message kind this bridge does not know (it is ignored).
    #[error("{protocol}: unknown message {name:?}")]
    UnknownMessage {
        /// The protocol being decoded.
        protocol: ProtocolKind,
        /// The `event` / `type` / command name seen.
        name: String,
    },
    /// A per-leg limit was reached (outstanding marks, …); the message was dropped.
    #[error("{protocol}: limit of {limit} {what} reached")]
    Limit {
        /// The protocol being decoded.
        protocol: ProtocolKind,
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A bridge setting that cannot work.
    #[error("bridge setting {setting} = {value} is invalid: {reason}")]
    BadConfig {
        /// The setting's name.
        setting: &'static str,
        /// Its value, printed.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The resampler or an L16 buffer was refused.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// The start of `text`, at most 80 characters, escaped for a log line or an error message.
pub(crate) fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(80).flat_map(char::escape_debug).collect();
    if text.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

/// A JSON value's string form: strings as they are, anything else as JSON text.
pub(crate) fn json_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses a JSON object for `protocol`, with the excerpt in the error.
pub(crate) fn parse_object(
    protocol: ProtocolKind,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, BridgeError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(BridgeError::NotJson {
            protocol,
            reason: "not a JSON object".into(),
            excerpt: excerpt(text),
        }),
        Err(e) => Err(BridgeError::NotJson {
            protocol,
            reason: e.to_string(),
            excerpt: excerpt(text),
        }),
    }
}

/// The string at `path` inside a JSON object (`None` when absent or not a string).
pub(crate) fn str_at<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    path: &[&str],
) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut cur = map;
    for p in parents {
        cur = cur.get(*p)?.as_object()?;
    }
    cur.get(*last)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_truncates_and_escapes() {
        assert_eq!(excerpt("a\"b\n"), "a\\\"b\\n");
        let long = "x".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), 81);
    }

    #[test]
    fn str_at_walks_objects() {
        let m = parse_object(ProtocolKind::Twilio, r#"{"a":{"b":"c"},"n":1}"#).unwrap();
        assert_eq!(str_at(&m, &["a", "b"]), Some("c"));
        assert_eq!(str_at(&m, &["n"]), None);
        assert_eq!(str_at(&m, &["a", "x"]), None);
        assert!(parse_object(ProtocolKind::Twilio, "[1]").is_err());
    }
}
