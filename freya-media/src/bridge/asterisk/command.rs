//! `chan_websocket` commands (app → telephony side), ws-media §3.5.

use serde_json::json;

use super::{missing, pct_encode, split_message, ControlFormat, P};
use crate::bridge::BridgeError;

/// A command from the app to the telephony side (ws-media §3.5).
///
/// ```
/// use freya_media::bridge::asterisk::AsteriskCommand;
/// assert_eq!(
///     AsteriskCommand::decode("STOP_MEDIA_BUFFERING b1")?,
///     AsteriskCommand::StopMediaBuffering { correlation_id: Some("b1".into()) }
/// );
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsteriskCommand {
    /// Answer the channel (freya's stack answers on its own; accepted and ignored).
    Answer,
    /// Hang up and close the socket.
    Hangup,
    /// Bulk mode: keep partial frames across binary messages.
    StartMediaBuffering,
    /// End bulk mode; `MEDIA_BUFFERING_COMPLETED` follows when the audio before it played.
    StopMediaBuffering {
        /// Echoed in `MEDIA_BUFFERING_COMPLETED`.
        correlation_id: Option<String>,
    },
    /// A marker; `MEDIA_MARK_PROCESSED` when reached.
    MarkMedia {
        /// Echoed in `MEDIA_MARK_PROCESSED`.
        correlation_id: Option<String>,
    },
    /// Barge-in: drop every queued frame and partial data, end bulk mode, clear pause.
    FlushMedia,
    /// Stop taking frames from the queue (kept).
    PauseMedia,
    /// Resume after `PAUSE_MEDIA`.
    ContinueMedia,
    /// Ask for `STATUS`.
    GetStatus,
    /// Ask for one `QUEUE_DRAINED` when the queue is empty.
    ReportQueueDrained,
    /// `both`/`in`/`out` (JSON only in Asterisk; refused here with `ERROR`).
    SetMediaDirection {
        /// The requested direction.
        direction: String,
    },
}

impl AsteriskCommand {
    /// The command's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            AsteriskCommand::Answer => "ANSWER",
            AsteriskCommand::Hangup => "HANGUP",
            AsteriskCommand::StartMediaBuffering => "START_MEDIA_BUFFERING",
            AsteriskCommand::StopMediaBuffering { .. } => "STOP_MEDIA_BUFFERING",
            AsteriskCommand::MarkMedia { .. } => "MARK_MEDIA",
            AsteriskCommand::FlushMedia => "FLUSH_MEDIA",
            AsteriskCommand::PauseMedia => "PAUSE_MEDIA",
            AsteriskCommand::ContinueMedia => "CONTINUE_MEDIA",
            AsteriskCommand::GetStatus => "GET_STATUS",
            AsteriskCommand::ReportQueueDrained => "REPORT_QUEUE_DRAINED",
            AsteriskCommand::SetMediaDirection { .. } => "SET_MEDIA_DIRECTION",
        }
    }

    /// The text frame in `format` (plain text: `COMMAND [argument]`).
    pub fn encode(&self, format: ControlFormat) -> String {
        let arg = match self {
            AsteriskCommand::StopMediaBuffering { correlation_id }
            | AsteriskCommand::MarkMedia { correlation_id } => {
                correlation_id.as_deref().map(|c| ("correlation_id", c))
            }
            AsteriskCommand::SetMediaDirection { direction } => {
                Some(("direction", direction.as_str()))
            }
            _ => None,
        };
        match (format, arg) {
            (ControlFormat::Json, Some((k, v))) => {
                json!({"command": self.name(), k: v}).to_string()
            }
            (ControlFormat::Json, None) => json!({"command": self.name()}).to_string(),
            (ControlFormat::PlainText, Some((_, v))) => {
                format!("{} {}", self.name(), pct_encode(v))
            }
            (ControlFormat::PlainText, None) => self.name().to_owned(),
        }
    }

    /// Parses a command in either format. Plain-text arguments may be bare (`MARK_MEDIA m1`)
    /// or `key:value` (`MARK_MEDIA correlation_id:m1`).
    ///
    /// # Errors
    /// [`BridgeError::NotJson`], [`BridgeError::MissingField`] (no `command`, or
    /// `SET_MEDIA_DIRECTION` without a direction), [`BridgeError::UnknownMessage`].
    pub fn decode(text: &str) -> Result<Self, BridgeError> {
        let (name, fields, _) = split_message(text, "command")?;
        let arg = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n == k || n.is_empty())
                .map(|(_, v)| v.clone())
        };
        Ok(match name.as_str() {
            "ANSWER" => AsteriskCommand::Answer,
            "HANGUP" => AsteriskCommand::Hangup,
            "START_MEDIA_BUFFERING" => AsteriskCommand::StartMediaBuffering,
            "STOP_MEDIA_BUFFERING" => AsteriskCommand::StopMediaBuffering {
                correlation_id: arg("correlation_id"),
            },
            "MARK_MEDIA" => AsteriskCommand::MarkMedia {
                correlation_id: arg("correlation_id"),
            },
            "FLUSH_MEDIA" => AsteriskCommand::FlushMedia,
            "PAUSE_MEDIA" => AsteriskCommand::PauseMedia,
            "CONTINUE_MEDIA" => AsteriskCommand::ContinueMedia,
            "GET_STATUS" => AsteriskCommand::GetStatus,
            "REPORT_QUEUE_DRAINED" => AsteriskCommand::ReportQueueDrained,
            "SET_MEDIA_DIRECTION" => AsteriskCommand::SetMediaDirection {
                direction: arg("direction").ok_or_else(|| missing(&name, "direction", text))?,
            },
            _ => return Err(BridgeError::UnknownMessage { protocol: P, name }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_in_both_formats() {
        let cmds = [
            AsteriskCommand::Answer,
            AsteriskCommand::Hangup,
            AsteriskCommand::StartMediaBuffering,
            AsteriskCommand::StopMediaBuffering {
                correlation_id: Some("s 1".into()),
            },
            AsteriskCommand::StopMediaBuffering {
                correlation_id: None,
            },
            AsteriskCommand::MarkMedia {
                correlation_id: Some("m1".into()),
            },
            AsteriskCommand::FlushMedia,
            AsteriskCommand::PauseMedia,
            AsteriskCommand::ContinueMedia,
            AsteriskCommand::GetStatus,
            AsteriskCommand::ReportQueueDrained,
            AsteriskCommand::SetMediaDirection {
                direction: "in".into(),
            },
        ];
        for c in cmds {
            for f in [ControlFormat::PlainText, ControlFormat::Json] {
                assert_eq!(AsteriskCommand::decode(&c.encode(f)).unwrap(), c, "{f:?}");
            }
        }
        assert_eq!(
            AsteriskCommand::decode("STOP_MEDIA_BUFFERING correlation_id:x").unwrap(),
            AsteriskCommand::StopMediaBuffering {
                correlation_id: Some("x".into())
            }
        );
        assert!(matches!(
            AsteriskCommand::decode("DANCE"),
            Err(BridgeError::UnknownMessage { .. })
        ));
        assert!(matches!(
            AsteriskCommand::decode(""),
            Err(BridgeError::MissingField { .. })
        ));
        assert!(matches!(
            AsteriskCommand::decode("MARK_MEDIA %zz"),
            Err(BridgeError::BadField { .. })
        ));
        assert!(matches!(
            AsteriskCommand::decode(r#"{"cmd":"x"}"#),
            Err(BridgeError::MissingField { .. })
        ));
    }
}
