//! jambonz `listen` (ws-media §2): one JSON text frame of call metadata first, then binary
//! frames of L16 (signed 16-bit little-endian, mono) at the preamble's `sampleRate`, both
//! ways; text frames for DTMF, marks and control. freya plays jambonz's part (mod_audio_fork).
//!
//! [`JambonzToAgent`] is what the telephony side sends; [`JambonzFromAgent`] what the agent
//! sends (binary audio, `killAudio`, `mark`, `clearMarks`, `disconnect`, `playAudio`, and the
//! event-only `transcription`/`transfer`/`error`/`json`).
//!
//! ```
//! use freya_media::bridge::jambonz::{JambonzFromAgent, JambonzToAgent};
//! use freya_media::bridge::WsMessage;
//!
//! let dtmf = JambonzToAgent::Dtmf { digit: "5".into(), duration_ticks: 1600 };
//! assert_eq!(dtmf.encode(), WsMessage::Text(r#"{"event":"dtmf","dtmf":"5","duration":1600}"#.into()));
//! let kill = JambonzFromAgent::decode(&WsMessage::Text(r#"{"type":"killAudio"}"#.into()))?;
//! assert_eq!(kill, JambonzFromAgent::KillAudio);
//! # Ok::<(), freya_media::bridge::BridgeError>(())
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::ProtocolKind::Jambonz as P;
use super::{excerpt, parse_object, str_at, BridgeError, CallMetadata, Direction, WsMessage};

/// The subprotocol jambonz offers on the upgrade (ws-media §2.1).
pub const SUBPROTOCOL: &str = "audio.jambonz.org";

/// mod_audio_fork truncates the preamble at this many bytes (ws-media §2.3).
pub const MAX_PREAMBLE: usize = 8192;

/// How a mark ended (ws-media §2.3 mark reply).
///
/// ```
/// use freya_media::bridge::jambonz::{JambonzToAgent, MarkOutcome};
/// let r = JambonzToAgent::MarkReply { name: "m".into(), outcome: MarkOutcome::Cleared };
/// assert!(matches!(r.encode(), freya_media::bridge::WsMessage::Text(t) if t.contains("cleared")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The audio before the mark has played (`"playout"`).
    Playout,
    /// `killAudio` discarded the audio before it (`"cleared"`).
    Cleared,
}

impl MarkOutcome {
    fn as_str(self) -> &'static str {
        match self {
            MarkOutcome::Playout => "playout",
            MarkOutcome::Cleared => "cleared",
        }
    }
}

/// A message from the telephony side (freya) to the agent (ws-media §2.3).
///
/// ```
/// use freya_media::bridge::jambonz::JambonzToAgent;
/// use freya_media::bridge::WsMessage;
/// let audio = JambonzToAgent::decode(&WsMessage::Binary(bytes::Bytes::from_static(&[0; 320])))?;
/// assert!(matches!(audio, JambonzToAgent::Audio(b) if b.len() == 320));
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum JambonzToAgent {
    /// The metadata preamble: first frame, text, once.
    Metadata(Map<String, Value>),
    /// Caller audio: raw L16 little-endian at the preamble's `sampleRate` (20 ms units).
    Audio(Bytes),
    /// `{"event":"dtmf","dtmf":"5","duration":1600}` — duration in 8 kHz RTP ticks.
    Dtmf {
        /// The key.
        digit: String,
        /// How long it was held, in RTP timestamp ticks (8 per ms).
        duration_ticks: u32,
    },
    /// `{"type":"mark","data":{"name":…,"event":"playout"|"cleared"}}`.
    MarkReply {
        /// The agent's mark name.
        name: String,
        /// Played or cleared.
        outcome: MarkOutcome,
    },
    /// `{"type":"playDone","data":{"id":…}}` after a `playAudio` clip has played.
    PlayDone {
        /// The clip's `id`, as the agent sent it (`null` when it had none).
        id: Value,
    },
}

impl JambonzToAgent {
    /// The frame: text JSON, or binary for audio.
    pub fn encode(&self) -> WsMessage {
        let v = match self {
            JambonzToAgent::Metadata(m) => Value::Object(m.clone()),
            JambonzToAgent::Audio(b) => return WsMessage::Binary(b.clone()),
            JambonzToAgent::Dtmf {
                digit,
                duration_ticks,
            } => {
                json!({"event": "dtmf", "dtmf": digit, "duration": duration_ticks})
            }
            JambonzToAgent::MarkReply { name, outcome } => {
                json!({"type": "mark", "data": {"name": name, "event": outcome.as_str()}})
            }
            JambonzToAgent::PlayDone { id } => json!({"type": "playDone", "data": {"id": id}}),
        };
        WsMessage::Text(v.to_string())
    }

    /// Parses a telephony-side frame (what an agent does). A text frame with `sampleRate` and
    /// neither `event` nor `type` is the metadata preamble.
    ///
    /// # Errors
    /// [`BridgeError::NotJson`], [`BridgeError::MissingField`], [`BridgeError::UnknownMessage`].
    pub fn decode(msg: &WsMessage) -> Result<Self, BridgeError> {
        let text = match msg {
            WsMessage::Binary(b) => return Ok(JambonzToAgent::Audio(b.clone())),
            WsMessage::Text(t) => t,
        };
        let m = parse_object(P, text)?;
        if str_at(&m, &["event"]) == Some("dtmf") {
            let digit = str_at(&m, &["dtmf"]).ok_or_else(|| missing("dtmf", "dtmf", text))?;
            let duration_ticks = m.get("duration").and_then(Value::as_u64).unwrap_or(0);
            return Ok(JambonzToAgent::Dtmf {
                digit: digit.to_owned(),
                duration_ticks: u32::try_from(duration_ticks).unwrap_or(u32::MAX),
            });
        }
        match str_at(&m, &["type"]) {
            Some("mark") => {
                let name = str_at(&m, &["data", "name"])
                    .ok_or_else(|| missing("mark", "data.name", text))?;
                let outcome = match str_at(&m, &["data", "event"]) {
                    Some("cleared") => MarkOutcome::Cleared,
                    _ => MarkOutcome::Playout,
                };
                Ok(JambonzToAgent::MarkReply {
                    name: name.to_owned(),
                    outcome,
                })
            }
            Some("playDone") => Ok(JambonzToAgent::PlayDone {
                id: m
                    .get("data")
                    .and_then(|d| d.get("id"))
                    .cloned()
                    .unwrap_or(Value::Null),
            }),
            Some(other) => Err(BridgeError::UnknownMessage {
                protocol: P,
                name: other.to_owned(),
            }),
            None if m.contains_key("sampleRate") && !m.contains_key("event") => {
                Ok(JambonzToAgent::Metadata(m))
            }
            None => Err(BridgeError::UnknownMessage {
                protocol: P,
                name: str_at(&m, &["event"]).unwrap_or("(no type)").to_owned(),
            }),
        }
    }
}

/// What a `playAudio` clip holds (ws-media §2.4).
///
/// ```
/// use freya_media::bridge::jambonz::{ClipFormat, JambonzFromAgent};
/// use freya_media::bridge::WsMessage;
/// let m = WsMessage::Text(r#"{"type":"playAudio","data":{"audioContent":"","audioContentType":"wav"}}"#.into());
/// assert!(matches!(JambonzFromAgent::decode(&m)?, JambonzFromAgent::PlayAudio { format: ClipFormat::Wav, .. }));
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipFormat {
    /// Headerless L16 little-endian at the clip's `sampleRate`.
    Raw,
    /// A WAV file (16-bit PCM mono).
    Wav,
}

/// A message from the agent to the telephony side (ws-media §2.4).
///
/// ```
/// use freya_media::bridge::jambonz::JambonzFromAgent;
/// use freya_media::bridge::WsMessage;
/// let m = JambonzFromAgent::Mark { name: "utt-1".into() }.encode();
/// assert_eq!(m, WsMessage::Text(r#"{"type":"mark","data":{"name":"utt-1"}}"#.into()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum JambonzFromAgent {
    /// Streaming audio: raw L16 little-endian at the bidirectional sample rate, any length
    /// (an odd trailing byte belongs to the next frame).
    Audio(Bytes),
    /// Stop playback and empty the buffer; pending marks are reported `cleared`.
    KillAudio,
    /// A marker after the audio received so far; reported `playout` when reached.
    Mark {
        /// `data.name`.
        name: String,
    },
    /// Forget all outstanding marks, silently.
    ClearMarks,
    /// End the listen: the socket is closed and the call continues or ends per routing.
    Disconnect,
    /// A non-streaming clip (`data.audioContent`, base64).
    PlayAudio {
        /// The clip's bytes, base64-decoded.
        audio: Vec<u8>,
        /// `data.audioContentType`: `raw`, or `wave`/`wav`.
        format: ClipFormat,
        /// `data.sampleRate` in Hz (needed for raw).
        sample_rate: Option<u32>,
        /// `data.queuePlay`: queue behind what plays now instead of replacing it.
        queue: bool,
        /// `data.id`, echoed in `playDone`.
        id: Value,
    },
    /// `transcription`, `transfer`, `error` or `json`: application events with no media
    /// effect; the `type` and `data` are kept.
    AppEvent {
        /// The `type`.
        kind: String,
        /// The `data` object (`null` when absent).
        data: Value,
    },
}

impl JambonzFromAgent {
    /// The frame.
    pub fn encode(&self) -> WsMessage {
        let v = match self {
            JambonzFromAgent::Audio(b) => return WsMessage::Binary(b.clone()),
            JambonzFromAgent::KillAudio => json!({"type": "killAudio"}),
            JambonzFromAgent::Mark { name } => json!({"type": "mark", "data": {"name": name}}),
            JambonzFromAgent::ClearMarks => json!({"type": "clearMarks"}),
            JambonzFromAgent::Disconnect => json!({"type": "disconnect"}),
            JambonzFromAgent::PlayAudio {
                audio,
                format,
                sample_rate,
                queue,
                id,
            } => {
                let mut data = Map::new();
                data.insert("audioContent".into(), B64.encode(audio).into());
                let kind = if *format == ClipFormat::Raw {
                    "raw"
                } else {
                    "wave"
                };
                data.insert("audioContentType".into(), kind.into());
                if let Some(r) = sample_rate {
                    data.insert("sampleRate".into(), (*r).into());
                }
                data.insert("queuePlay".into(), (*queue).into());
                if !id.is_null() {
                    data.insert("id".into(), id.clone());
                }
                json!({"type": "playAudio", "data": data})
            }
            JambonzFromAgent::AppEvent { kind, data } => json!({"type": kind, "data": data}),
        };
        WsMessage::Text(v.to_string())
    }

    /// Parses an agent frame (what freya does).
    ///
    /// # Errors
    /// [`BridgeError::NotJson`]; [`BridgeError::MissingField`] (no `type`, a `mark` without
    /// `data.name`, a `playAudio` without `data.audioContent`); [`BridgeError::BadField`] (bad
    /// base64 or content type); [`BridgeError::UnknownMessage`] for another `type`.
    pub fn decode(msg: &WsMessage) -> Result<Self, BridgeError> {
        let text = match msg {
            WsMessage::Binary(b) => return Ok(JambonzFromAgent::Audio(b.clone())),
            WsMessage::Text(t) => t,
        };
        let m = parse_object(P, text)?;
        let kind = str_at(&m, &["type"]).ok_or_else(|| missing("message", "type", text))?;
        Ok(match kind {
            "killAudio" => JambonzFromAgent::KillAudio,
            "mark" => JambonzFromAgent::Mark {
                name: str_at(&m, &["data", "name"])
                    .ok_or_else(|| missing(kind, "data.name", text))?
                    .to_owned(),
            },
            "clearMarks" => JambonzFromAgent::ClearMarks,
            "disconnect" => JambonzFromAgent::Disconnect,
            "playAudio" => {
                let content = str_at(&m, &["data", "audioContent"])
                    .ok_or_else(|| missing(kind, "data.audioContent", text))?;
                let audio = B64.decode(content).map_err(|e| BridgeError::BadField {
                    protocol: P,
                    field: "data.audioContent",
                    value: excerpt(content),
                    reason: e.to_string(),
                })?;
                let format = match str_at(&m, &["data", "audioContentType"]).unwrap_or("raw") {
                    "raw" => ClipFormat::Raw,
                    "wave" | "wav" => ClipFormat::Wav,
                    other => {
                        return Err(BridgeError::BadField {
                            protocol: P,
                            field: "data.audioContentType",
                            value: excerpt(other),
                            reason: "expected raw, wave or wav".into(),
                        })
                    }
                };
                let data = m.get("data");
                let sample_rate = data
                    .and_then(|d| d.get("sampleRate"))
                    .and_then(Value::as_u64)
                    .and_then(|r| u32::try_from(r).ok());
                JambonzFromAgent::PlayAudio {
                    audio,
                    format,
                    sample_rate,
                    queue: data
                        .and_then(|d| d.get("queuePlay"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    id: data
                        .and_then(|d| d.get("id"))
                        .cloned()
                        .unwrap_or(Value::Null),
                }
            }
            "transcription" | "transfer" | "error" | "json" => JambonzFromAgent::AppEvent {
                kind: kind.to_owned(),
                data: m.get("data").cloned().unwrap_or(Value::Null),
            },
            other => {
                return Err(BridgeError::UnknownMessage {
                    protocol: P,
                    name: other.to_owned(),
                })
            }
        })
    }
}

/// The metadata preamble for a call at `sample_rate` Hz (ws-media §2.3, §7 rule 17): the
/// jambonz call attributes, then freya's keys (`freyaCallId`, `workflowId`, `xHeaders`).
pub fn preamble(meta: &CallMetadata, sample_rate: u32) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sampleRate".into(), sample_rate.into());
    m.insert("mixType".into(), "mono".into());
    m.insert("callSid".into(), meta.call_id.clone().into());
    m.insert("direction".into(), meta.direction.as_str().into());
    m.insert("from".into(), meta.caller.clone().into());
    m.insert("to".into(), meta.callee.clone().into());
    m.insert("callId".into(), meta.call_id.clone().into());
    m.insert("callerId".into(), meta.caller.clone().into());
    m.insert("callStatus".into(), "in-progress".into());
    m.insert("headers".into(), Value::Object(meta.headers_object()));
    m.insert("freyaCallId".into(), meta.call_id.clone().into());
    if let Some(wf) = &meta.workflow_id {
        m.insert("workflowId".into(), wf.clone().into());
    }
    m.insert("xHeaders".into(), Value::Array(meta.headers_array()));
    m
}

/// The call metadata back from a preamble written by [`preamble`].
///
/// # Errors
/// [`BridgeError::MissingField`] when `callSid`, `direction`, `from` or `to` is absent;
/// [`BridgeError::BadField`] for a bad `direction` or `xHeaders`.
pub fn metadata_from_preamble(m: &Map<String, Value>) -> Result<CallMetadata, BridgeError> {
    let need = |k: &'static str| str_at(m, &[k]).ok_or_else(|| missing("metadata", k, "preamble"));
    let dir = need("direction")?;
    let direction = Direction::parse(dir).ok_or_else(|| BridgeError::BadField {
        protocol: P,
        field: "direction",
        value: excerpt(dir),
        reason: "expected inbound or outbound".into(),
    })?;
    let headers = match m.get("xHeaders") {
        Some(v) => CallMetadata::headers_from_value(v).ok_or_else(|| BridgeError::BadField {
            protocol: P,
            field: "xHeaders",
            value: excerpt(&v.to_string()),
            reason: "not [[name, value], …]".into(),
        })?,
        None => Vec::new(),
    };
    Ok(CallMetadata {
        call_id: str_at(m, &["freyaCallId"])
            .map_or_else(|| need("callSid"), Ok)?
            .to_owned(),
        direction,
        caller: need("from")?.to_owned(),
        callee: need("to")?.to_owned(),
        workflow_id: str_at(m, &["workflowId"]).map(str::to_owned),
        headers,
    })
}

fn missing(message: &str, field: &'static str, text: &str) -> BridgeError {
    BridgeError::MissingField {
        protocol: P,
        message: message.to_owned(),
        field,
        excerpt: excerpt(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> WsMessage {
        WsMessage::Text(s.to_owned())
    }

    /// ws-media §2.3 / §2.4 message shapes.
    #[test]
    fn decodes_the_fact_sheet_shapes() {
        assert_eq!(
            JambonzToAgent::decode(&text(r#"{"event":"dtmf","dtmf":"5","duration":1600}"#))
                .unwrap(),
            JambonzToAgent::Dtmf {
                digit: "5".into(),
                duration_ticks: 1600
            }
        );
        assert_eq!(
            JambonzToAgent::decode(&text(
                r#"{"type":"mark","data":{"name":"m1","event":"cleared"}}"#
            ))
            .unwrap(),
            JambonzToAgent::MarkReply {
                name: "m1".into(),
                outcome: MarkOutcome::Cleared
            }
        );
        let pre = JambonzToAgent::decode(&text(
            r#"{"sampleRate":8000,"mixType":"mono","callSid":"c"}"#,
        ))
        .unwrap();
        assert!(matches!(pre, JambonzToAgent::Metadata(m) if m["sampleRate"] == 8000));

        let play = r#"{"type":"playAudio","data":{"audioContent":"AAE=","audioContentType":"raw","sampleRate":8000,"queuePlay":true,"id":7}}"#;
        assert_eq!(
            JambonzFromAgent::decode(&text(play)).unwrap(),
            JambonzFromAgent::PlayAudio {
                audio: vec![0, 1],
                format: ClipFormat::Raw,
                sample_rate: Some(8000),
                queue: true,
                id: json!(7)
            }
        );
        assert_eq!(
            JambonzFromAgent::decode(&text(r#"{"type":"clearMarks"}"#)).unwrap(),
            JambonzFromAgent::ClearMarks
        );
        assert_eq!(
            JambonzFromAgent::decode(&text(r#"{"type":"disconnect"}"#)).unwrap(),
            JambonzFromAgent::Disconnect
        );
        assert_eq!(
            JambonzFromAgent::decode(&text(r#"{"type":"mark","data":{"name":"utt"}}"#)).unwrap(),
            JambonzFromAgent::Mark { name: "utt".into() }
        );
        let audio = WsMessage::Binary(Bytes::from_static(&[1, 0, 2]));
        assert_eq!(
            JambonzFromAgent::decode(&audio).unwrap(),
            JambonzFromAgent::Audio(Bytes::from_static(&[1, 0, 2]))
        );
    }

    #[test]
    fn round_trips_and_exact_bytes() {
        assert_eq!(
            JambonzToAgent::MarkReply {
                name: "a".into(),
                outcome: MarkOutcome::Playout
            }
            .encode(),
            text(r#"{"type":"mark","data":{"name":"a","event":"playout"}}"#)
        );
        assert_eq!(
            JambonzToAgent::PlayDone { id: json!("x") }.encode(),
            text(r#"{"type":"playDone","data":{"id":"x"}}"#)
        );
        for m in [
            JambonzFromAgent::KillAudio,
            JambonzFromAgent::Mark { name: "n".into() },
            JambonzFromAgent::ClearMarks,
            JambonzFromAgent::Disconnect,
            JambonzFromAgent::PlayAudio {
                audio: vec![9; 5],
                format: ClipFormat::Wav,
                sample_rate: None,
                queue: false,
                id: Value::Null,
            },
            JambonzFromAgent::AppEvent {
                kind: "transcription".into(),
                data: json!({"text": "hi"}),
            },
        ] {
            assert_eq!(JambonzFromAgent::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn refusals_are_typed() {
        let e = JambonzFromAgent::decode(&text(r#"{"data":{}}"#)).unwrap_err();
        assert!(
            matches!(e, BridgeError::MissingField { field: "type", .. }),
            "{e}"
        );
        let e = JambonzFromAgent::decode(&text(r#"{"type":"mark"}"#)).unwrap_err();
        assert!(
            matches!(
                e,
                BridgeError::MissingField {
                    field: "data.name",
                    ..
                }
            ),
            "{e}"
        );
        let e = JambonzFromAgent::decode(&text(
            r#"{"type":"playAudio","data":{"audioContent":"AA==","audioContentType":"mp3"}}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                BridgeError::BadField {
                    field: "data.audioContentType",
                    ..
                }
            ),
            "{e}"
        );
        let e = JambonzFromAgent::decode(&text(r#"{"type":"dance"}"#)).unwrap_err();
        assert!(matches!(e, BridgeError::UnknownMessage { .. }), "{e}");
    }

    #[test]
    fn preamble_carries_the_metadata() {
        let meta = CallMetadata::new("u-9", Direction::Inbound, "alice", "bob")
            .with_workflow("w")
            .with_header("X-Z", "z")
            .with_header("X-Z", "zz");
        let p = preamble(&meta, 16000);
        assert_eq!(p["sampleRate"], 16000);
        assert_eq!(p["mixType"], "mono");
        assert_eq!(p["headers"], json!({"X-Z": "z, zz"}));
        assert_eq!(metadata_from_preamble(&p).unwrap(), meta);
        let WsMessage::Text(t) = JambonzToAgent::Metadata(p).encode() else {
            panic!()
        };
        assert!(
            t.starts_with(r#"{"sampleRate":16000,"mixType":"mono","callSid":"u-9","#),
            "{t}"
        );
    }
}
