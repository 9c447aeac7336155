//! `chan_websocket` events (telephony side → app), ws-media §3.4.

use serde_json::{Map, Value};

use super::{bad, missing, pct_encode, split_message, ControlFormat, P};
use crate::bridge::{json_string, BridgeError};

/// An event from the telephony side (freya) to the app (ws-media §3.4).
///
/// ```
/// use freya_media::bridge::asterisk::AsteriskEvent;
/// let ev = AsteriskEvent::decode("MEDIA_XOFF channel_id:c1")?;
/// assert_eq!(ev, AsteriskEvent::MediaXoff { channel_id: "c1".into() });
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsteriskEvent {
    /// First message after connect.
    MediaStart {
        /// `connection_id` (freya uses the call UUID).
        connection_id: String,
        /// `channel`, the channel name.
        channel: String,
        /// `channel_id`, the channel's unique id (the call UUID).
        channel_id: String,
        /// `format`, the codec name.
        format: String,
        /// `optimal_frame_size`, bytes per 20 ms.
        optimal_frame_size: usize,
        /// `ptime`, ms.
        ptime: u32,
        /// `channel_variables` (JSON) or the extra tokens (plain text), in order. Names should
        /// be unique: the JSON form is an object, where a repeated name keeps its last value.
        channel_variables: Vec<(String, String)>,
    },
    /// The caller pressed a key.
    DtmfEnd {
        /// `channel_id`.
        channel_id: String,
        /// `digit`.
        digit: String,
    },
    /// The playout queue reached its high-water mark: stop sending.
    MediaXoff {
        /// `channel_id`.
        channel_id: String,
    },
    /// The queue fell below its low-water mark after an XOFF.
    MediaXon {
        /// `channel_id`.
        channel_id: String,
    },
    /// Reply to `GET_STATUS`; queue figures in 20 ms frames.
    Status {
        /// `channel_id`.
        channel_id: String,
        /// Frames queued.
        queue_length: usize,
        /// XON level, frames.
        xon_level: usize,
        /// XOFF level, frames.
        xoff_level: usize,
        /// The queue is at its limit.
        queue_full: bool,
        /// Bulk (buffering) mode is on.
        bulk_media: bool,
        /// `PAUSE_MEDIA` is in effect.
        media_paused: bool,
    },
    /// The audio before a `STOP_MEDIA_BUFFERING` has played.
    MediaBufferingCompleted {
        /// `channel_id`.
        channel_id: String,
        /// The STOP's `correlation_id`.
        correlation_id: Option<String>,
    },
    /// A `MARK_MEDIA` marker reached the front of the queue.
    MediaMarkProcessed {
        /// `channel_id`.
        channel_id: String,
        /// The mark's `correlation_id`.
        correlation_id: Option<String>,
    },
    /// Once after `REPORT_QUEUE_DRAINED`, when the queue is empty.
    QueueDrained {
        /// `channel_id`.
        channel_id: String,
    },
    /// A command was refused.
    Error {
        /// `channel_id`.
        channel_id: String,
        /// `error_text`.
        error_text: String,
    },
}

impl AsteriskEvent {
    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            AsteriskEvent::MediaStart { .. } => "MEDIA_START",
            AsteriskEvent::DtmfEnd { .. } => "DTMF_END",
            AsteriskEvent::MediaXoff { .. } => "MEDIA_XOFF",
            AsteriskEvent::MediaXon { .. } => "MEDIA_XON",
            AsteriskEvent::Status { .. } => "STATUS",
            AsteriskEvent::MediaBufferingCompleted { .. } => "MEDIA_BUFFERING_COMPLETED",
            AsteriskEvent::MediaMarkProcessed { .. } => "MEDIA_MARK_PROCESSED",
            AsteriskEvent::QueueDrained { .. } => "QUEUE_DRAINED",
            AsteriskEvent::Error { .. } => "ERROR",
        }
    }

    /// The text frame in `format`.
    pub fn encode(&self, format: ControlFormat) -> String {
        let mut fields: Vec<(&str, Value)> = Vec::new();
        let mut vars: &[(String, String)] = &[];
        match self {
            AsteriskEvent::MediaStart {
                connection_id,
                channel,
                channel_id,
                format: codec,
                optimal_frame_size,
                ptime,
                channel_variables,
            } => {
                fields.push(("connection_id", connection_id.as_str().into()));
                fields.push(("channel", channel.as_str().into()));
                fields.push(("channel_id", channel_id.as_str().into()));
                fields.push(("format", codec.as_str().into()));
                fields.push(("optimal_frame_size", (*optimal_frame_size).into()));
                fields.push(("ptime", (*ptime).into()));
                vars = channel_variables;
            }
            AsteriskEvent::DtmfEnd { channel_id, digit } => {
                // Plain text puts the digit first, as Asterisk does (ws-media §3.4).
                if format == ControlFormat::PlainText {
                    fields.push(("digit", digit.as_str().into()));
                    fields.push(("channel_id", channel_id.as_str().into()));
                } else {
                    fields.push(("channel_id", channel_id.as_str().into()));
                    fields.push(("digit", digit.as_str().into()));
                }
            }
            AsteriskEvent::MediaXoff { channel_id }
            | AsteriskEvent::MediaXon { channel_id }
            | AsteriskEvent::QueueDrained { channel_id } => {
                fields.push(("channel_id", channel_id.as_str().into()))
            }
            AsteriskEvent::Status {
                channel_id,
                queue_length,
                xon_level,
                xoff_level,
                queue_full,
                bulk_media,
                media_paused,
            } => {
                fields.push(("channel_id", channel_id.as_str().into()));
                fields.push(("queue_length", (*queue_length).into()));
                fields.push(("xon_level", (*xon_level).into()));
                fields.push(("xoff_level", (*xoff_level).into()));
                fields.push(("queue_full", (*queue_full).into()));
                fields.push(("bulk_media", (*bulk_media).into()));
                fields.push(("media_paused", (*media_paused).into()));
            }
            AsteriskEvent::MediaBufferingCompleted {
                channel_id,
                correlation_id,
            }
            | AsteriskEvent::MediaMarkProcessed {
                channel_id,
                correlation_id,
            } => {
                fields.push(("channel_id", channel_id.as_str().into()));
                if let Some(c) = correlation_id {
                    fields.push(("correlation_id", c.as_str().into()));
                }
            }
            AsteriskEvent::Error {
                channel_id,
                error_text,
            } => {
                fields.push(("channel_id", channel_id.as_str().into()));
                fields.push(("error_text", error_text.as_str().into()));
            }
        }
        match format {
            ControlFormat::Json => {
                let mut m = Map::new();
                m.insert("event".into(), self.name().into());
                for (k, v) in fields {
                    m.insert(k.into(), v);
                }
                if let AsteriskEvent::MediaStart { .. } = self {
                    let vars: Map<String, Value> = vars
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().into()))
                        .collect();
                    m.insert("channel_variables".into(), Value::Object(vars));
                }
                Value::Object(m).to_string()
            }
            ControlFormat::PlainText => {
                let mut line = self.name().to_owned();
                for (k, v) in fields {
                    line.push(' ');
                    line.push_str(k);
                    line.push(':');
                    line.push_str(&pct_encode(&json_string(&v)));
                }
                for (k, v) in vars {
                    line.push(' ');
                    line.push_str(&pct_encode(k));
                    line.push(':');
                    line.push_str(&pct_encode(v));
                }
                line
            }
        }
    }

    /// Parses an event in either format (JSON when the frame starts with `{`).
    ///
    /// # Errors
    /// [`BridgeError::NotJson`], [`BridgeError::MissingField`], [`BridgeError::BadField`]
    /// (a number or percent-escape that does not parse), [`BridgeError::UnknownMessage`].
    pub fn decode(text: &str) -> Result<Self, BridgeError> {
        let (name, fields, vars) = split_message(text, "event")?;
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let need = |k: &'static str| get(k).ok_or_else(|| missing(&name, k, text));
        let channel_id = || get("channel_id").unwrap_or_default();
        let num = |k: &'static str| -> Result<usize, BridgeError> {
            let v = need(k)?;
            v.parse().map_err(|_| bad(k, &v, "not a number"))
        };
        let flag = |k: &str| get(k).is_some_and(|v| v == "true");
        Ok(match name.as_str() {
            "MEDIA_START" => {
                const KNOWN: [&str; 6] = [
                    "connection_id",
                    "channel",
                    "channel_id",
                    "format",
                    "optimal_frame_size",
                    "ptime",
                ];
                // Plain text: every token after the first of each known key is a variable.
                let mut seen = [false; 6];
                let plain_vars =
                    fields
                        .iter()
                        .filter(|(k, _)| match KNOWN.iter().position(|n| n == k) {
                            Some(i) if !seen[i] => {
                                seen[i] = true;
                                false
                            }
                            _ => true,
                        });
                let channel_variables = match vars {
                    Some(v) => v,
                    None => plain_vars.cloned().collect(),
                };
                AsteriskEvent::MediaStart {
                    connection_id: get("connection_id").unwrap_or_default(),
                    channel: get("channel").unwrap_or_default(),
                    channel_id: channel_id(),
                    format: need("format")?,
                    optimal_frame_size: num("optimal_frame_size")?,
                    ptime: u32::try_from(num("ptime")?)
                        .map_err(|_| bad("ptime", "?", "too large"))?,
                    channel_variables,
                }
            }
            "DTMF_END" => AsteriskEvent::DtmfEnd {
                channel_id: channel_id(),
                digit: need("digit")?,
            },
            "MEDIA_XOFF" => AsteriskEvent::MediaXoff {
                channel_id: channel_id(),
            },
            "MEDIA_XON" => AsteriskEvent::MediaXon {
                channel_id: channel_id(),
            },
            "QUEUE_DRAINED" => AsteriskEvent::QueueDrained {
                channel_id: channel_id(),
            },
            "STATUS" => AsteriskEvent::Status {
                channel_id: channel_id(),
                queue_length: num("queue_length")?,
                xon_level: num("xon_level")?,
                xoff_level: num("xoff_level")?,
                queue_full: flag("queue_full"),
                bulk_media: flag("bulk_media"),
                media_paused: flag("media_paused"),
            },
            "MEDIA_BUFFERING_COMPLETED" => AsteriskEvent::MediaBufferingCompleted {
                channel_id: channel_id(),
                correlation_id: get("correlation_id"),
            },
            "MEDIA_MARK_PROCESSED" => AsteriskEvent::MediaMarkProcessed {
                channel_id: channel_id(),
                correlation_id: get("correlation_id"),
            },
            "ERROR" => AsteriskEvent::Error {
                channel_id: channel_id(),
                error_text: get("error_text").unwrap_or_default(),
            },
            _ => return Err(BridgeError::UnknownMessage { protocol: P, name }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::asterisk::{channel_variables, metadata_from_variables, AsteriskCommand};
    use crate::bridge::{CallMetadata, Direction};

    fn media_start(vars: Vec<(String, String)>) -> AsteriskEvent {
        AsteriskEvent::MediaStart {
            connection_id: "c1".into(),
            channel: "WebSocket/c1".into(),
            channel_id: "u1".into(),
            format: "ulaw".into(),
            optimal_frame_size: 160,
            ptime: 20,
            channel_variables: vars,
        }
    }

    /// ws-media §3.4: `MEDIA_START connection_id:… channel:… channel_id:… format:ulaw
    /// optimal_frame_size:160 ptime:20`.
    #[test]
    fn media_start_plain_matches_the_fact_sheet() {
        let ev = media_start(vec![]);
        let line = ev.encode(ControlFormat::PlainText);
        assert_eq!(line, "MEDIA_START connection_id:c1 channel:WebSocket/c1 channel_id:u1 format:ulaw optimal_frame_size:160 ptime:20");
        assert_eq!(AsteriskEvent::decode(&line).unwrap(), ev);
        assert_eq!(
            AsteriskEvent::decode("DTMF_END digit:5").unwrap(),
            AsteriskEvent::DtmfEnd {
                channel_id: String::new(),
                digit: "5".into()
            }
        );
    }

    #[test]
    fn media_start_carries_metadata_in_both_formats() {
        let meta = CallMetadata::new("u1", Direction::Inbound, "a b", "100%")
            .with_header("X-Odd", "tab\there: colon")
            .with_workflow("wf");
        let ev = media_start(channel_variables(&meta));
        for f in [ControlFormat::PlainText, ControlFormat::Json] {
            let text = ev.encode(f);
            let back = AsteriskEvent::decode(&text).unwrap();
            assert_eq!(back, ev, "{f:?}: {text}");
            let AsteriskEvent::MediaStart {
                channel_variables, ..
            } = back
            else {
                panic!()
            };
            assert_eq!(metadata_from_variables(&channel_variables).unwrap(), meta);
        }
        assert!(ev
            .encode(ControlFormat::Json)
            .contains(r#""channel_variables":{"FREYA_CALL_ID":"u1","#));
        assert!(ev
            .encode(ControlFormat::PlainText)
            .contains(" FREYA_CALLER:a%20b FREYA_CALLEE:100%25 "));
    }

    #[test]
    fn variables_named_like_fields_survive() {
        let ev = media_start(vec![
            ("format".into(), "x y".into()),
            ("a:b".into(), "c:d".into()),
        ]);
        for f in [ControlFormat::PlainText, ControlFormat::Json] {
            assert_eq!(AsteriskEvent::decode(&ev.encode(f)).unwrap(), ev, "{f:?}");
        }
        let mark = AsteriskCommand::MarkMedia {
            correlation_id: Some("a:b".into()),
        };
        assert_eq!(mark.encode(ControlFormat::PlainText), "MARK_MEDIA a%3Ab");
        assert_eq!(AsteriskCommand::decode("MARK_MEDIA a%3Ab").unwrap(), mark);
    }

    #[test]
    fn every_event_round_trips() {
        let events = [
            AsteriskEvent::DtmfEnd {
                channel_id: "c".into(),
                digit: "#".into(),
            },
            AsteriskEvent::MediaXoff {
                channel_id: "c".into(),
            },
            AsteriskEvent::MediaXon {
                channel_id: "c".into(),
            },
            AsteriskEvent::Status {
                channel_id: "c".into(),
                queue_length: 3,
                xon_level: 40,
                xoff_level: 45,
                queue_full: false,
                bulk_media: true,
                media_paused: false,
            },
            AsteriskEvent::MediaBufferingCompleted {
                channel_id: "c".into(),
                correlation_id: Some("b1".into()),
            },
            AsteriskEvent::MediaMarkProcessed {
                channel_id: "c".into(),
                correlation_id: None,
            },
            AsteriskEvent::QueueDrained {
                channel_id: "c".into(),
            },
            AsteriskEvent::Error {
                channel_id: "c".into(),
                error_text: "no such thing".into(),
            },
        ];
        for ev in events {
            for f in [ControlFormat::PlainText, ControlFormat::Json] {
                assert_eq!(AsteriskEvent::decode(&ev.encode(f)).unwrap(), ev, "{f:?}");
            }
        }
    }
}
