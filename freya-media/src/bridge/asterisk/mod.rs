//! Asterisk `chan_websocket` (ws-media §3): text control messages (plain-text one-liners or
//! JSON, chosen per call) and binary media in the channel's codec. freya plays Asterisk's part.
//!
//! [`AsteriskEvent`] is what the telephony side sends (`MEDIA_START` first, `DTMF_END`,
//! `MEDIA_XOFF`/`MEDIA_XON`, `STATUS`, `MEDIA_BUFFERING_COMPLETED`, `MEDIA_MARK_PROCESSED`,
//! `QUEUE_DRAINED`, `ERROR`); [`AsteriskCommand`] what the app sends (§3.5). Plain-text
//! events are `EVENT key:value …`; the call metadata rides in `MEDIA_START`: as
//! `channel_variables` in JSON, and as extra `NAME:value` tokens in plain text, where `%`, `:`,
//! whitespace and control characters are percent-encoded (RFC 3986 §2.1) so that a token
//! never splits.
//!
//! ```
//! use freya_media::bridge::asterisk::{AsteriskCommand, AsteriskEvent, ControlFormat};
//!
//! let dtmf = AsteriskEvent::DtmfEnd { channel_id: "c1".into(), digit: "5".into() };
//! assert_eq!(dtmf.encode(ControlFormat::PlainText), "DTMF_END digit:5 channel_id:c1");
//! assert_eq!(dtmf.encode(ControlFormat::Json), r#"{"event":"DTMF_END","channel_id":"c1","digit":"5"}"#);
//! assert_eq!(AsteriskCommand::decode("FLUSH_MEDIA")?, AsteriskCommand::FlushMedia);
//! assert_eq!(
//!     AsteriskCommand::decode(r#"{"command":"MARK_MEDIA","correlation_id":"m1"}"#)?,
//!     AsteriskCommand::MarkMedia { correlation_id: Some("m1".into()) }
//! );
//! # Ok::<(), freya_media::bridge::BridgeError>(())
//! ```

mod command;
mod event;

use serde_json::Value;

pub use command::AsteriskCommand;
pub use event::AsteriskEvent;

use super::ProtocolKind::Asterisk as P;
use super::{excerpt, json_string, parse_object, str_at, BridgeError, CallMetadata, Direction};
use crate::codec::SampleRate;

/// How control messages are written (ws-media §3.3): Asterisk's `f(plain-text|json)` option.
///
/// ```
/// use freya_media::bridge::asterisk::{AsteriskCommand, ControlFormat};
/// assert_eq!(AsteriskCommand::GetStatus.encode(ControlFormat::Json), r#"{"command":"GET_STATUS"}"#);
/// assert_eq!(AsteriskCommand::GetStatus.encode(ControlFormat::PlainText), "GET_STATUS");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControlFormat {
    /// `EVENT key:value …` lines (Asterisk's default, no channel variables).
    PlainText,
    /// One JSON object per frame (needed by the `pipecat-asterisk` serializer for metadata).
    #[default]
    Json,
}

/// The channel codec, i.e. what the binary media frames hold (ws-media §3.6).
///
/// ```
/// use freya_media::bridge::asterisk::AsteriskFormat;
/// assert_eq!(AsteriskFormat::parse("slin16")?.optimal_frame_size(), 640);
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsteriskFormat {
    /// G.711 μ-law, 8 kHz, 160 bytes per 20 ms.
    #[default]
    Ulaw,
    /// G.711 A-law, 8 kHz, 160 bytes per 20 ms.
    Alaw,
    /// Signed linear 16-bit little-endian at 8 kHz, 320 bytes per 20 ms.
    Slin,
    /// Signed linear 16-bit little-endian at 16 kHz, 640 bytes per 20 ms.
    Slin16,
}

impl AsteriskFormat {
    /// Asterisk's codec name (`ulaw`, `alaw`, `slin`, `slin16`).
    pub const fn name(self) -> &'static str {
        match self {
            AsteriskFormat::Ulaw => "ulaw",
            AsteriskFormat::Alaw => "alaw",
            AsteriskFormat::Slin => "slin",
            AsteriskFormat::Slin16 => "slin16",
        }
    }

    /// The format for a codec name.
    ///
    /// # Errors
    /// [`BridgeError::BadConfig`] for a codec this bridge does not carry.
    pub fn parse(name: &str) -> Result<Self, BridgeError> {
        match name.to_ascii_lowercase().as_str() {
            "ulaw" => Ok(AsteriskFormat::Ulaw),
            "alaw" => Ok(AsteriskFormat::Alaw),
            "slin" | "slin8" => Ok(AsteriskFormat::Slin),
            "slin16" => Ok(AsteriskFormat::Slin16),
            _ => Err(BridgeError::BadConfig {
                setting: "asterisk.format",
                value: name.to_owned(),
                reason: "expected ulaw, alaw, slin or slin16",
            }),
        }
    }

    /// The codec's sample rate.
    pub const fn sample_rate(self) -> SampleRate {
        match self {
            AsteriskFormat::Slin16 => SampleRate::Hz16000,
            _ => SampleRate::Hz8000,
        }
    }

    /// Bytes in 20 ms: `optimal_frame_size` of `MEDIA_START` (ws-media §3.6).
    pub const fn optimal_frame_size(self) -> usize {
        match self {
            AsteriskFormat::Ulaw | AsteriskFormat::Alaw => 160,
            AsteriskFormat::Slin => 320,
            AsteriskFormat::Slin16 => 640,
        }
    }
}

/// `MEDIA_START` channel variables for a call (see [`CallMetadata`]), in order.
pub fn channel_variables(meta: &CallMetadata) -> Vec<(String, String)> {
    let mut v = vec![
        ("FREYA_CALL_ID".to_owned(), meta.call_id.clone()),
        (
            "FREYA_DIRECTION".to_owned(),
            meta.direction.as_str().to_owned(),
        ),
        ("FREYA_CALLER".to_owned(), meta.caller.clone()),
        ("FREYA_CALLEE".to_owned(), meta.callee.clone()),
    ];
    if let Some(wf) = &meta.workflow_id {
        v.push(("FREYA_WORKFLOW_ID".to_owned(), wf.clone()));
    }
    for (name, value) in meta.headers_object() {
        v.push((name, json_string(&value)));
    }
    v.push(("FREYA_X_HEADERS".to_owned(), meta.headers_json()));
    v
}

/// The call metadata back from variables written by [`channel_variables`].
///
/// # Errors
/// [`BridgeError::MissingField`] when a `FREYA_` variable other than the workflow id is
/// absent; [`BridgeError::BadField`] for a bad direction or header list.
pub fn metadata_from_variables(vars: &[(String, String)]) -> Result<CallMetadata, BridgeError> {
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let need =
        |k: &'static str| get(k).ok_or_else(|| missing("MEDIA_START", k, "channel_variables"));
    let dir = need("FREYA_DIRECTION")?;
    Ok(CallMetadata {
        call_id: need("FREYA_CALL_ID")?.to_owned(),
        direction: Direction::parse(dir)
            .ok_or_else(|| bad("FREYA_DIRECTION", dir, "expected inbound or outbound"))?,
        caller: need("FREYA_CALLER")?.to_owned(),
        callee: need("FREYA_CALLEE")?.to_owned(),
        workflow_id: get("FREYA_WORKFLOW_ID").map(str::to_owned),
        headers: CallMetadata::headers_from_json(need("FREYA_X_HEADERS")?)?,
    })
}

/// The parts of a control message: its name, its fields in order, and (JSON only) the
/// `channel_variables` object.
pub(super) type Split = (String, Vec<(String, String)>, Option<Vec<(String, String)>>);

/// Splits a control message into its name (`key` in JSON: `event` or `command`) and its
/// fields, in order. Plain-text fields are `key:value` (percent-decoded); a bare token is a
/// field with an empty key.
pub(super) fn split_message(text: &str, key: &'static str) -> Result<Split, BridgeError> {
    if text.trim_start().starts_with('{') {
        let m = parse_object(P, text)?;
        let name = str_at(&m, &[key])
            .ok_or_else(|| missing("message", key, text))?
            .to_owned();
        let mut fields = Vec::new();
        let mut vars = None;
        for (k, v) in &m {
            match v {
                _ if k == key => {}
                Value::Object(o) if k == "channel_variables" => {
                    vars = Some(o.iter().map(|(n, v)| (n.clone(), json_string(v))).collect());
                }
                other => fields.push((k.clone(), json_string(other))),
            }
        }
        return Ok((name, fields, vars));
    }
    let mut tokens = text.split_ascii_whitespace();
    let name = tokens
        .next()
        .ok_or_else(|| missing("message", key, text))?
        .to_owned();
    let mut fields = Vec::new();
    for t in tokens {
        let (k, v) = t.split_once(':').unwrap_or(("", t));
        fields.push((pct_decode(k)?, pct_decode(v)?));
    }
    Ok((name, fields, None))
}

/// Percent-encodes `%`, `:`, whitespace and ASCII control characters (RFC 3986 §2.1), so a
/// key or value stays one plain-text token and splits at the right colon.
pub(super) fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '%' || c == ':' || c.is_ascii_whitespace() || c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn pct_decode(s: &str) -> Result<String, BridgeError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("value", s, "bad percent-escape"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("value", s, "percent-escapes are not UTF-8"))
}

pub(super) fn missing(message: &str, field: &'static str, text: &str) -> BridgeError {
    BridgeError::MissingField {
        protocol: P,
        message: message.to_owned(),
        field,
        excerpt: excerpt(text),
    }
}

pub(super) fn bad(field: &'static str, value: &str, reason: &str) -> BridgeError {
    BridgeError::BadField {
        protocol: P,
        field,
        value: excerpt(value),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            AsteriskFormat::parse("SLIN16")
                .unwrap()
                .optimal_frame_size(),
            640
        );
        assert_eq!(AsteriskFormat::Alaw.sample_rate(), SampleRate::Hz8000);
        assert!(AsteriskFormat::parse("opus").is_err());
    }
}
