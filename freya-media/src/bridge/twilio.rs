//! Twilio Media Streams, bidirectional (`<Connect><Stream>`): every message in both directions
//! is a JSON text frame with an `event` key (ws-media §1). freya plays Twilio's part.
//!
//! [`TwilioToAgent`] is what the telephony side sends (`connected`, `start`, `media`, `dtmf`,
//! `mark`, `stop`); [`TwilioFromAgent`] is what an agent sends (`media`, `mark`, `clear`, plus
//! freya's extension events `freya.hangup` and `freya.dtmf`, which pipecat can emit through an
//! `OutputTransportMessageFrame`, ws-media §7 rule 15). Audio is G.711 μ-law at 8 kHz, base64
//! in `media.payload`; the decoded payload is kept as raw μ-law bytes here.
//!
//! ```
//! use freya_media::bridge::twilio::{TwilioFromAgent, TwilioToAgent};
//!
//! let msg = TwilioToAgent::Dtmf { sequence: 7, stream_sid: "MZ1".into(), digit: "5".into() };
//! let text = msg.encode();
//! assert_eq!(text, r#"{"event":"dtmf","sequenceNumber":"7","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"5"}}"#);
//! assert_eq!(TwilioToAgent::decode(&text)?, msg);
//!
//! let clear = TwilioFromAgent::decode(r#"{"event":"clear","streamSid":"MZ1"}"#)?;
//! assert_eq!(clear, TwilioFromAgent::Clear);
//! # Ok::<(), freya_media::bridge::BridgeError>(())
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::ProtocolKind::Twilio as P;
use super::{excerpt, json_string, parse_object, str_at, BridgeError, CallMetadata, Direction};

/// A message from the telephony side (freya) to the agent (ws-media §1.2).
///
/// ```
/// use freya_media::bridge::twilio::TwilioToAgent;
/// assert_eq!(TwilioToAgent::Connected.encode(), r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#);
/// ```
///
/// `sequence` is the `sequenceNumber` (a decimal string on the wire, "1" on the first message
/// after `connected`); `chunk` counts `media` messages from 1; `timestamp_ms` is the media
/// time of the chunk since the stream started, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioToAgent {
    /// `{"event":"connected","protocol":"Call","version":"1.0.0"}`, first and once.
    Connected,
    /// `start`, second and once: ids, `tracks: ["inbound"]`, μ-law 8 kHz media format and the
    /// call metadata in `customParameters` (string values, in order).
    Start {
        /// `sequenceNumber`.
        sequence: u64,
        /// `streamSid` (top level and inside `start`).
        stream_sid: String,
        /// `start.callSid`.
        call_sid: String,
        /// `start.accountSid`.
        account_sid: String,
        /// `start.customParameters`, in order.
        custom_parameters: Vec<(String, String)>,
    },
    /// 20 ms of caller audio (`media.track: "inbound"`).
    Media {
        /// `sequenceNumber`.
        sequence: u64,
        /// `streamSid`.
        stream_sid: String,
        /// `media.chunk`, from 1.
        chunk: u64,
        /// `media.timestamp`, ms since the stream started.
        timestamp_ms: u64,
        /// `media.payload`, decoded: raw μ-law bytes (160 per 20 ms).
        payload: Vec<u8>,
    },
    /// One caller key press (`dtmf.track: "inbound_track"`).
    Dtmf {
        /// `sequenceNumber`.
        sequence: u64,
        /// `streamSid`.
        stream_sid: String,
        /// `dtmf.digit` (`0-9`, `*`, `#`, `A-D`).
        digit: String,
    },
    /// Echo of an agent `mark`: the audio before it has played, or a `clear` discarded it.
    Mark {
        /// `sequenceNumber`.
        sequence: u64,
        /// `streamSid`.
        stream_sid: String,
        /// `mark.name`, as the agent sent it.
        name: String,
    },
    /// Last message: the caller hung up (`stop.accountSid`, `stop.callSid`).
    Stop {
        /// `sequenceNumber`.
        sequence: u64,
        /// `streamSid`.
        stream_sid: String,
        /// `stop.callSid`.
        call_sid: String,
        /// `stop.accountSid`.
        account_sid: String,
    },
}

impl TwilioToAgent {
    /// The JSON text frame (keys in Twilio's order).
    pub fn encode(&self) -> String {
        let v = match self {
            TwilioToAgent::Connected => {
                json!({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            }
            TwilioToAgent::Start {
                sequence,
                stream_sid,
                call_sid,
                account_sid,
                custom_parameters,
            } => {
                let params: Map<String, Value> = custom_parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                json!({
                    "event": "start",
                    "sequenceNumber": sequence.to_string(),
                    "streamSid": stream_sid,
                    "start": {
                        "streamSid": stream_sid,
                        "accountSid": account_sid,
                        "callSid": call_sid,
                        "tracks": ["inbound"],
                        "customParameters": params,
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    },
                })
            }
            TwilioToAgent::Media {
                sequence,
                stream_sid,
                chunk,
                timestamp_ms,
                payload,
            } => {
                let sid = Value::String(stream_sid.clone()).to_string();
                return MediaHead {
                    sequence: *sequence,
                    stream_sid_json: &sid,
                    chunk: *chunk,
                    timestamp_ms: *timestamp_ms,
                }
                .encode(payload);
            }
            TwilioToAgent::Dtmf {
                sequence,
                stream_sid,
                digit,
            } => json!({
                "event": "dtmf",
                "sequenceNumber": sequence.to_string(),
                "streamSid": stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }),
            TwilioToAgent::Mark {
                sequence,
                stream_sid,
                name,
            } => json!({
                "event": "mark",
                "sequenceNumber": sequence.to_string(),
                "streamSid": stream_sid,
                "mark": {"name": name},
            }),
            TwilioToAgent::Stop {
                sequence,
                stream_sid,
                call_sid,
                account_sid,
            } => json!({
                "event": "stop",
                "sequenceNumber": sequence.to_string(),
                "streamSid": stream_sid,
                "stop": {"accountSid": account_sid, "callSid": call_sid},
            }),
        };
        v.to_string()
    }

    /// Parses a telephony-side message (what an agent does).
    ///
    /// # Errors
    /// [`BridgeError::NotJson`], [`BridgeError::MissingField`] (a required field absent),
    /// [`BridgeError::BadField`] (bad base64 or sequence number),
    /// [`BridgeError::UnknownMessage`] (another `event`).
    pub fn decode(text: &str) -> Result<Self, BridgeError> {
        match super::twilio_fast::to_agent(text) {
            Some(decoded) => decoded,
            None => Self::decode_general(text),
        }
    }

    /// [`TwilioToAgent::decode`] through a `serde_json::Value` tree, for every message and
    /// every error; `decode` takes a borrowed shortcut for plain `media` messages and gives
    /// the same result. Public for the benchmark that compares the two
    /// (`bridge_load decode`).
    ///
    /// # Errors
    /// As [`TwilioToAgent::decode`].
    pub fn decode_general(text: &str) -> Result<Self, BridgeError> {
        let m = parse_object(P, text)?;
        let event = str_at(&m, &["event"]).ok_or_else(|| missing("message", "event", text))?;
        let need = |path: &[&str], field: &'static str| {
            str_at(&m, path)
                .map(str::to_owned)
                .ok_or_else(|| missing(event, field, text))
        };
        let seq =
            || number(&m, "sequenceNumber").ok_or_else(|| missing(event, "sequenceNumber", text));
        Ok(match event {
            "connected" => TwilioToAgent::Connected,
            "start" => {
                let params = match m.get("start").and_then(|s| s.get("customParameters")) {
                    Some(Value::Object(p)) => {
                        p.iter().map(|(k, v)| (k.clone(), json_string(v))).collect()
                    }
                    _ => Vec::new(),
                };
                TwilioToAgent::Start {
                    sequence: seq()?,
                    stream_sid: need(&["start", "streamSid"], "start.streamSid")?,
                    call_sid: need(&["start", "callSid"], "start.callSid")?,
                    account_sid: str_at(&m, &["start", "accountSid"])
                        .unwrap_or_default()
                        .to_owned(),
                    custom_parameters: params,
                }
            }
            "media" => {
                let media = m.get("media").and_then(Value::as_object);
                let num = |k: &str| media.and_then(|o| number(o, k)).unwrap_or(0);
                TwilioToAgent::Media {
                    sequence: seq()?,
                    stream_sid: need(&["streamSid"], "streamSid")?,
                    chunk: num("chunk"),
                    timestamp_ms: num("timestamp"),
                    payload: decode_payload(&need(&["media", "payload"], "media.payload")?)?,
                }
            }
            "dtmf" => TwilioToAgent::Dtmf {
                sequence: seq()?,
                stream_sid: need(&["streamSid"], "streamSid")?,
                digit: need(&["dtmf", "digit"], "dtmf.digit")?,
            },
            "mark" => TwilioToAgent::Mark {
                sequence: seq()?,
                stream_sid: need(&["streamSid"], "streamSid")?,
                name: need(&["mark", "name"], "mark.name")?,
            },
            "stop" => TwilioToAgent::Stop {
                sequence: seq()?,
                stream_sid: need(&["streamSid"], "streamSid")?,
                call_sid: str_at(&m, &["stop", "callSid"])
                    .unwrap_or_default()
                    .to_owned(),
                account_sid: str_at(&m, &["stop", "accountSid"])
                    .unwrap_or_default()
                    .to_owned(),
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

/// The fields of a `media` message but its payload, for [`MediaHead::encode`]: the hot path
/// (one message per 20 ms per call) writes the JSON directly, in
/// [`TwilioToAgent::encode`]'s exact bytes, with one allocation and no JSON tree.
pub(super) struct MediaHead<'a> {
    /// `sequenceNumber`.
    pub(super) sequence: u64,
    /// `streamSid` as a JSON string literal, quotes and escapes included (made once per
    /// leg with serde_json, so escaping is serde_json's).
    pub(super) stream_sid_json: &'a str,
    /// `media.chunk`.
    pub(super) chunk: u64,
    /// `media.timestamp`, ms.
    pub(super) timestamp_ms: u64,
}

impl MediaHead<'_> {
    /// The `media` message carrying `payload` (raw μ-law, base64-encoded in place).
    pub(super) fn encode(&self, payload: &[u8]) -> String {
        const A: &str = r#"{"event":"media","sequenceNumber":""#;
        const B: &str = r#"","streamSid":"#;
        const C: &str = r#","media":{"track":"inbound","chunk":""#;
        const D: &str = r#"","timestamp":""#;
        const E: &str = r#"","payload":""#;
        const F: &str = r#""}}"#;
        let len = A.len()
            + B.len()
            + C.len()
            + D.len()
            + E.len()
            + F.len()
            + 3 * 20
            + self.stream_sid_json.len()
            + payload.len().div_ceil(3) * 4;
        let mut out = String::with_capacity(len);
        out.push_str(A);
        push_u64(&mut out, self.sequence);
        out.push_str(B);
        out.push_str(self.stream_sid_json);
        out.push_str(C);
        push_u64(&mut out, self.chunk);
        out.push_str(D);
        push_u64(&mut out, self.timestamp_ms);
        out.push_str(E);
        B64.encode_string(payload, &mut out);
        out.push_str(F);
        out
    }
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// A message from the agent to the telephony side (ws-media §1.3). `streamSid` is neither
/// required nor checked on input (ws-media §7 rule 11).
///
/// ```
/// use freya_media::bridge::twilio::TwilioFromAgent;
/// let m = TwilioFromAgent::decode(r#"{"event":"media","media":{"payload":"/38="}}"#)?;
/// assert_eq!(m, TwilioFromAgent::Media { payload: vec![0xFF, 0x7F] });
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioFromAgent {
    /// Agent audio: raw μ-law 8 kHz bytes (decoded from base64), any length.
    Media {
        /// The μ-law bytes.
        payload: Vec<u8>,
    },
    /// A marker after the audio sent so far; echoed back when played or cleared.
    Mark {
        /// `mark.name`.
        name: String,
    },
    /// Barge-in: discard queued audio at once, echo every pending mark.
    Clear,
    /// freya extension `{"event":"freya.hangup","reason":…}`: end the call.
    Hangup {
        /// Optional free-text reason.
        reason: Option<String>,
    },
    /// freya extension `{"event":"freya.dtmf","digits":"12#"}`: send DTMF to the caller.
    SendDtmf {
        /// The digits, in order.
        digits: String,
    },
}

impl TwilioFromAgent {
    /// The JSON text frame, with `streamSid` as given.
    pub fn encode(&self, stream_sid: &str) -> String {
        let v = match self {
            TwilioFromAgent::Media { payload } => json!({
                "event": "media", "streamSid": stream_sid, "media": {"payload": B64.encode(payload)},
            }),
            TwilioFromAgent::Mark { name } => {
                json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})
            }
            TwilioFromAgent::Clear => json!({"event": "clear", "streamSid": stream_sid}),
            TwilioFromAgent::Hangup { reason } => match reason {
                Some(r) => json!({"event": "freya.hangup", "reason": r}),
                None => json!({"event": "freya.hangup"}),
            },
            TwilioFromAgent::SendDtmf { digits } => {
                json!({"event": "freya.dtmf", "digits": digits})
            }
        };
        v.to_string()
    }

    /// Parses an agent message (what freya does).
    ///
    /// # Errors
    /// [`BridgeError::NotJson`]; [`BridgeError::MissingField`] for a message without `event`,
    /// a `media` without `media.payload`, a `mark` without `mark.name`, a `freya.dtmf` without
    /// `digits`; [`BridgeError::BadField`] for bad base64; [`BridgeError::UnknownMessage`] for
    /// any other `event` (to be ignored).
    pub fn decode(text: &str) -> Result<Self, BridgeError> {
        match super::twilio_fast::from_agent(text) {
            Some(decoded) => decoded,
            None => Self::decode_general(text),
        }
    }

    /// [`TwilioFromAgent::decode`] through a `serde_json::Value` tree, for every message and
    /// every error; `decode` takes a borrowed shortcut for plain `media` messages and gives
    /// the same result. Public for the benchmark that compares the two
    /// (`bridge_load decode`).
    ///
    /// # Errors
    /// As [`TwilioFromAgent::decode`].
    pub fn decode_general(text: &str) -> Result<Self, BridgeError> {
        let m = parse_object(P, text)?;
        let event = str_at(&m, &["event"]).ok_or_else(|| missing("message", "event", text))?;
        Ok(match event {
            "media" => {
                let p = str_at(&m, &["media", "payload"])
                    .ok_or_else(|| missing(event, "media.payload", text))?;
                TwilioFromAgent::Media {
                    payload: decode_payload(p)?,
                }
            }
            "mark" => TwilioFromAgent::Mark {
                name: str_at(&m, &["mark", "name"])
                    .ok_or_else(|| missing(event, "mark.name", text))?
                    .to_owned(),
            },
            "clear" => TwilioFromAgent::Clear,
            "freya.hangup" => TwilioFromAgent::Hangup {
                reason: str_at(&m, &["reason"]).map(str::to_owned),
            },
            "freya.dtmf" => TwilioFromAgent::SendDtmf {
                digits: str_at(&m, &["digits"])
                    .ok_or_else(|| missing(event, "digits", text))?
                    .to_owned(),
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

/// `start.customParameters` for a call (see [`CallMetadata`] for the keys), in order.
pub fn custom_parameters(meta: &CallMetadata) -> Vec<(String, String)> {
    let mut p = vec![
        ("from_number".to_owned(), meta.caller.clone()),
        ("to_number".to_owned(), meta.callee.clone()),
        ("call_id".to_owned(), meta.call_id.clone()),
        ("direction".to_owned(), meta.direction.as_str().to_owned()),
    ];
    if let Some(wf) = &meta.workflow_id {
        p.push(("workflow_id".to_owned(), wf.clone()));
    }
    for (name, value) in meta.headers_object() {
        p.push((name, json_string(&value)));
    }
    p.push(("x_headers".to_owned(), meta.headers_json()));
    p
}

/// The call metadata back from `customParameters` written by [`custom_parameters`].
///
/// # Errors
/// [`BridgeError::MissingField`] when `call_id`, `direction`, `from_number` or `to_number` is
/// absent; [`BridgeError::BadField`] for a bad `direction` or `x_headers`.
pub fn metadata_from_parameters(params: &[(String, String)]) -> Result<CallMetadata, BridgeError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let need = |k: &'static str| get(k).ok_or_else(|| missing("start", k, "customParameters"));
    let dir = need("direction")?;
    let direction = Direction::parse(dir).ok_or_else(|| BridgeError::BadField {
        protocol: P,
        field: "direction",
        value: excerpt(dir),
        reason: "expected inbound or outbound".into(),
    })?;
    Ok(CallMetadata {
        call_id: need("call_id")?.to_owned(),
        direction,
        caller: need("from_number")?.to_owned(),
        callee: need("to_number")?.to_owned(),
        workflow_id: get("workflow_id").map(str::to_owned),
        headers: match get("x_headers") {
            Some(j) => CallMetadata::headers_from_json(j)?,
            None => Vec::new(),
        },
    })
}

/// Base64 (standard alphabet, padded) to bytes.
pub(super) fn decode_payload(p: &str) -> Result<Vec<u8>, BridgeError> {
    B64.decode(p).map_err(|e| BridgeError::BadField {
        protocol: P,
        field: "media.payload",
        value: excerpt(p),
        reason: e.to_string(),
    })
}

/// A count that Twilio writes as a decimal string (numbers accepted too).
fn number(m: &Map<String, Value>, key: &str) -> Option<u64> {
    match m.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
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

    /// The example shapes of ws-media §1.2 (values filled in).
    #[test]
    fn decodes_the_fact_sheet_examples() {
        assert_eq!(
            TwilioToAgent::decode(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
                .unwrap(),
            TwilioToAgent::Connected
        );
        let start = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ18","start":{"streamSid":"MZ18","accountSid":"AC1","callSid":"CA2","tracks":["inbound"],"customParameters":{"from_number":"+1555"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
        let TwilioToAgent::Start {
            sequence,
            stream_sid,
            call_sid,
            account_sid,
            custom_parameters,
        } = TwilioToAgent::decode(start).unwrap()
        else {
            panic!("not a start")
        };
        assert_eq!(
            (
                sequence,
                stream_sid.as_str(),
                call_sid.as_str(),
                account_sid.as_str()
            ),
            (1, "MZ18", "CA2", "AC1")
        );
        assert_eq!(
            custom_parameters,
            vec![("from_number".to_owned(), "+1555".to_owned())]
        );

        let media = r#"{"event":"media","sequenceNumber":"2","streamSid":"MZ18","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/38A"}}"#;
        assert_eq!(
            TwilioToAgent::decode(media).unwrap(),
            TwilioToAgent::Media {
                sequence: 2,
                stream_sid: "MZ18".into(),
                chunk: 1,
                timestamp_ms: 5,
                payload: vec![0xFF, 0x7F, 0x00]
            }
        );
        let stop = r#"{"event":"stop","sequenceNumber":"900","streamSid":"MZ18","stop":{"accountSid":"AC1","callSid":"CA2"}}"#;
        assert_eq!(
            TwilioToAgent::decode(stop).unwrap(),
            TwilioToAgent::Stop {
                sequence: 900,
                stream_sid: "MZ18".into(),
                call_sid: "CA2".into(),
                account_sid: "AC1".into()
            }
        );
    }

    #[test]
    fn encodes_exact_bytes() {
        let start = TwilioToAgent::Start {
            sequence: 1,
            stream_sid: "MZ1".into(),
            call_sid: "c".into(),
            account_sid: "a".into(),
            custom_parameters: vec![
                ("to_number".into(), "2".into()),
                ("from_number".into(), "1".into()),
            ],
        };
        assert_eq!(
            start.encode(),
            r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"streamSid":"MZ1","accountSid":"a","callSid":"c","tracks":["inbound"],"customParameters":{"to_number":"2","from_number":"1"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#
        );
        let media = TwilioToAgent::Media {
            sequence: 2,
            stream_sid: "MZ1".into(),
            chunk: 1,
            timestamp_ms: 0,
            payload: vec![0xFF; 3],
        };
        assert_eq!(
            media.encode(),
            r#"{"event":"media","sequenceNumber":"2","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"////"}}"#
        );
        assert_eq!(
            TwilioToAgent::Stop {
                sequence: 3,
                stream_sid: "MZ1".into(),
                call_sid: "c".into(),
                account_sid: "a".into()
            }
            .encode(),
            r#"{"event":"stop","sequenceNumber":"3","streamSid":"MZ1","stop":{"accountSid":"a","callSid":"c"}}"#
        );
        for msg in [start, media] {
            assert_eq!(TwilioToAgent::decode(&msg.encode()).unwrap(), msg);
        }
    }

    /// The direct `media` writer gives serde_json's bytes, escapes and numbers included.
    #[test]
    fn media_writer_matches_a_json_tree() {
        let sids = ["MZ1", "MZ\"q\\b", "MZ\u{1}\n\t\u{7f}", "MZé€😀", ""];
        let numbers = [0u64, 1, 9, 10, 99, 12_345, u64::MAX];
        for sid in sids {
            for (i, &n) in numbers.iter().enumerate() {
                let payload: Vec<u8> = (0..i * 53 % 170).map(|b| (b * 7) as u8).collect();
                let tree = json!({
                    "event": "media",
                    "sequenceNumber": n.to_string(),
                    "streamSid": sid,
                    "media": {
                        "track": "inbound",
                        "chunk": numbers[(i + 1) % numbers.len()].to_string(),
                        "timestamp": numbers[(i + 2) % numbers.len()].to_string(),
                        "payload": B64.encode(&payload),
                    },
                })
                .to_string();
                let msg = TwilioToAgent::Media {
                    sequence: n,
                    stream_sid: sid.into(),
                    chunk: numbers[(i + 1) % numbers.len()],
                    timestamp_ms: numbers[(i + 2) % numbers.len()],
                    payload: payload.clone(),
                };
                assert_eq!(msg.encode(), tree, "sid {sid:?} n {n}");
                assert_eq!(TwilioToAgent::decode(&tree).unwrap(), msg);
            }
        }
    }

    /// ws-media §1.3 shapes, and what pipecat's serializer sends (`clear` with `streamSid`).
    #[test]
    fn decodes_agent_messages() {
        assert_eq!(
            TwilioFromAgent::decode(
                r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/w=="}}"#
            )
            .unwrap(),
            TwilioFromAgent::Media {
                payload: vec![0xFF]
            }
        );
        assert_eq!(
            TwilioFromAgent::decode(
                r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"utt-3"}}"#
            )
            .unwrap(),
            TwilioFromAgent::Mark {
                name: "utt-3".into()
            }
        );
        assert_eq!(
            TwilioFromAgent::decode(r#"{"event":"clear"}"#).unwrap(),
            TwilioFromAgent::Clear
        );
        assert_eq!(
            TwilioFromAgent::decode(r#"{"event":"freya.dtmf","digits":"1#"}"#).unwrap(),
            TwilioFromAgent::SendDtmf {
                digits: "1#".into()
            }
        );
        for m in [
            TwilioFromAgent::Media {
                payload: vec![1, 2, 3, 4],
            },
            TwilioFromAgent::Mark { name: "m".into() },
            TwilioFromAgent::Clear,
            TwilioFromAgent::Hangup {
                reason: Some("done".into()),
            },
            TwilioFromAgent::Hangup { reason: None },
        ] {
            assert_eq!(TwilioFromAgent::decode(&m.encode("MZ")).unwrap(), m);
        }
    }

    #[test]
    fn refusals_are_typed() {
        let e = TwilioFromAgent::decode(r#"{"event":"media","media":{}}"#).unwrap_err();
        assert!(
            matches!(
                e,
                BridgeError::MissingField {
                    field: "media.payload",
                    ..
                }
            ),
            "{e}"
        );
        let e =
            TwilioFromAgent::decode(r#"{"event":"media","media":{"payload":"!!"}}"#).unwrap_err();
        assert!(
            matches!(
                e,
                BridgeError::BadField {
                    field: "media.payload",
                    ..
                }
            ),
            "{e}"
        );
        let e = TwilioFromAgent::decode(r#"{"streamSid":"x"}"#).unwrap_err();
        assert!(
            matches!(e, BridgeError::MissingField { field: "event", .. }),
            "{e}"
        );
        let e = TwilioFromAgent::decode(r#"{"event":"playAudio"}"#).unwrap_err();
        assert_eq!(
            e,
            BridgeError::UnknownMessage {
                protocol: P,
                name: "playAudio".into()
            }
        );
    }

    #[test]
    fn metadata_round_trips_through_custom_parameters() {
        let meta = CallMetadata::new("u-1", Direction::Outbound, "+1", "+2")
            .with_workflow("wf")
            .with_header("X-A", "1")
            .with_header("X-A", " 2 ")
            .with_header("X-Freya-Workflow-Id", "wf");
        let p = custom_parameters(&meta);
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "from_number",
                "to_number",
                "call_id",
                "direction",
                "workflow_id",
                "X-A",
                "X-Freya-Workflow-Id",
                "x_headers"
            ]
        );
        assert_eq!(p[5].1, "1,  2 ");
        assert_eq!(metadata_from_parameters(&p).unwrap(), meta);
        assert!(metadata_from_parameters(&p[1..]).is_err());
    }
}
