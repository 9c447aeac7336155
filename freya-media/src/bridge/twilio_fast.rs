//! The hot path of Twilio Media Streams decoding: `media` messages, 50 per second per call in
//! each direction (ws-media §1.2).
//!
//! The general decoder ([`TwilioToAgent::decode`], [`TwilioFromAgent::decode`]) reads every
//! message into a `serde_json::Value` tree: a map and an owned string per field, ~10
//! allocations for a 20 ms frame. Here a `media` message is read into borrowed fields
//! instead (a field is copied only when it holds a JSON escape). Only a message this path
//! fully understands is decoded here; anything else — another event, a missing, null or
//! oddly typed field, a duplicate key, malformed JSON — returns `None` and goes through the
//! general decoder, which then gives the same value or the same error it always did. The
//! equivalence tests below hold the two paths to that.

use std::borrow::Cow;

use serde::Deserialize;

use super::twilio::{decode_payload, TwilioFromAgent, TwilioToAgent};
use super::BridgeError;

/// A `media` message's fields as they stand in the text.
#[derive(Deserialize)]
struct Media<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, rename = "streamSid", default)]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "sequenceNumber", default)]
    sequence: Option<Count<'a>>,
    #[serde(borrow, default)]
    media: Option<Body<'a>>,
}

/// `media.*`.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    payload: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    chunk: Option<Count<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<Count<'a>>,
}

/// A count Twilio writes as a decimal string; a JSON number is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Count<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(u64),
}

impl Count<'_> {
    /// The value, or `None` where the general path would not read one either.
    fn value(&self) -> Option<u64> {
        match self {
            Count::Text(s) => s.parse().ok(),
            Count::Number(n) => Some(*n),
        }
    }
}

/// The `media` message `text` as a [`Media`], when it is one with a payload.
fn media(text: &str) -> Option<(Media<'_>, Cow<'_, str>)> {
    let mut m: Media<'_> = serde_json::from_str(text).ok()?;
    if m.event != "media" {
        return None;
    }
    let payload = m.media.as_mut()?.payload.take()?;
    Some((m, payload))
}

/// [`TwilioToAgent::decode`] for a `media` message (what an agent receives): `None` when the
/// general path must decide.
pub(super) fn to_agent(text: &str) -> Option<Result<TwilioToAgent, BridgeError>> {
    let (m, payload) = media(text)?;
    let sequence = m.sequence.as_ref()?.value()?;
    let stream_sid = m.stream_sid?.into_owned();
    let body = m.media.as_ref()?;
    // The general path reads an absent or unreadable count as 0.
    let count = |c: &Option<Count<'_>>| c.as_ref().and_then(Count::value).unwrap_or(0);
    let (chunk, timestamp_ms) = (count(&body.chunk), count(&body.timestamp));
    Some(
        decode_payload(&payload).map(|payload| TwilioToAgent::Media {
            sequence,
            stream_sid,
            chunk,
            timestamp_ms,
            payload,
        }),
    )
}

/// [`TwilioFromAgent::decode`] for a `media` message (what freya receives from an agent):
/// `None` when the general path must decide.
pub(super) fn from_agent(text: &str) -> Option<Result<TwilioFromAgent, BridgeError>> {
    let (_, payload) = media(text)?;
    Some(decode_payload(&payload).map(|payload| TwilioFromAgent::Media { payload }))
}

#[cfg(test)]
mod tests {
    use super::super::twilio::{TwilioFromAgent, TwilioToAgent};
    use super::*;
    use proptest::prelude::*;

    /// Messages on both sides of the fast path's edge: each must decode exactly as the
    /// general path decodes it, value or error.
    const EDGES: &[&str] = &[
        r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"2","timestamp":"20","payload":"f39/"},"streamSid":"MZ1"}"#,
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"f39/"}}"#,
        r#"{"event":"media","sequenceNumber":3,"streamSid":"MZ1","media":{"payload":"f39/","chunk":7,"timestamp":140}}"#,
        r#"{"event":"media","sequenceNumber":"x","streamSid":"MZ1","media":{"payload":"f39/"}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"payload":"f39/","chunk":1.5}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"payload":"f39/","chunk":"-1"}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":null,"media":{"payload":"f39/"}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"M\u005a\n","media":{"payload":"f39\/"}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"payload":"not base64!"}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"payload":null}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":5}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1"}"#,
        r#"{"event":"media","event":"mark","streamSid":"MZ1","media":{"payload":"f39/"}}"#,
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"f39/","payload":"AAAA"}}"#,
        r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"m"}}"#,
        r#"{"event":"clear","streamSid":"MZ1"}"#,
        r#"{"event":5,"media":{"payload":"f39/"}}"#,
        r#"["media"]"#,
        r#"{"event":"media","media":{"payload":"f39/"}"#,
        "",
    ];

    #[test]
    fn the_fast_path_decodes_as_the_general_path() {
        for text in EDGES {
            assert_eq!(
                TwilioToAgent::decode(text),
                TwilioToAgent::decode_general(text),
                "to agent: {text}"
            );
            assert_eq!(
                TwilioFromAgent::decode(text),
                TwilioFromAgent::decode_general(text),
                "from agent: {text}"
            );
        }
    }

    #[test]
    fn a_plain_media_message_takes_the_fast_path() {
        let text = EDGES[0];
        let Some(Ok(TwilioToAgent::Media {
            sequence,
            chunk,
            timestamp_ms,
            payload,
            ..
        })) = to_agent(text)
        else {
            panic!("not decoded by the fast path");
        };
        assert_eq!((sequence, chunk, timestamp_ms), (3, 2, 20));
        assert_eq!(payload, [0x7f, 0x7f, 0x7f]);
        assert!(matches!(
            from_agent(text),
            Some(Ok(TwilioFromAgent::Media { .. }))
        ));
        // Not for it: another event, or a sequence number the general path must judge.
        assert!(to_agent(EDGES[14]).is_none());
        assert!(to_agent(EDGES[3]).is_none());
    }

    proptest! {
        /// Media messages with arbitrary field values, field order and extra fields decode
        /// the same on both paths.
        #[test]
        fn media_messages_decode_alike(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            seq in prop_oneof![any::<u64>().prop_map(|n| format!("\"{n}\"")), any::<u64>().prop_map(|n| n.to_string()), "\"[0-9a-z]{0,4}\"".prop_map(|s| s.to_string()), Just("null".to_string())],
            sid in "[A-Za-z0-9\\\\\"é]{0,8}",
            chunk in prop_oneof![Just(String::new()), any::<u32>().prop_map(|n| format!(",\"chunk\":\"{n}\"")), Just(",\"chunk\":-3".to_string())],
            extra in prop_oneof![Just(String::new()), Just(",\"track\":\"outbound\"".to_string()), Just(",\"x\":{\"y\":[1,2]}".to_string())],
            reorder in any::<bool>(),
            garble in any::<bool>(),
        ) {
            use base64::Engine as _;
            let mut b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
            if garble { b64.push('*'); }
            let sid_json = serde_json::to_string(&sid).unwrap();
            let body = format!("{{\"payload\":\"{b64}\"{chunk}{extra}}}");
            let text = if reorder {
                format!("{{\"media\":{body},\"streamSid\":{sid_json},\"sequenceNumber\":{seq},\"event\":\"media\"}}")
            } else {
                format!("{{\"event\":\"media\",\"sequenceNumber\":{seq},\"streamSid\":{sid_json},\"media\":{body}}}")
            };
            prop_assert_eq!(TwilioToAgent::decode(&text), TwilioToAgent::decode_general(&text), "{}", text);
            prop_assert_eq!(TwilioFromAgent::decode(&text), TwilioFromAgent::decode_general(&text), "{}", text);
        }
    }
}
