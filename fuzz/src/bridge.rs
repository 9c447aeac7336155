//! The `bridge` target: freya-media's WebSocket media bridge, on arbitrary JSON and binary
//! frames.
//!
//! Input layout: byte 0 selects the protocol (and the Asterisk control format / jambonz rate);
//! the rest is (1) decoded whole by every wire decoder, as text when it is UTF-8 and as a
//! binary frame, and (2) cut at 0x1E bytes into a sequence of agent messages fed to a
//! [`BridgeSession`] in virtual time (each piece's first byte: bit 0 picks text or binary, the
//! other bits the milliseconds that pass before it).
//!
//! Holds: no decoder panics; whatever a decoder accepts encodes to a frame that decodes to the
//! same value (both control formats for Asterisk); the session never panics, never queues
//! more than its bound, hands out 160-sample frames no more often than one per 20 ms slot,
//! sends its start message first, and counts every message it receives.

use std::time::{Duration, Instant};

use bytes::Bytes;
use freya_media::bridge::asterisk::{
    AsteriskCommand, AsteriskEvent, AsteriskFormat, ControlFormat,
};
use freya_media::bridge::jambonz::{JambonzFromAgent, JambonzToAgent};
use freya_media::bridge::twilio::{TwilioFromAgent, TwilioToAgent};
use freya_media::bridge::{BridgeConfig, BridgeSession, CallMetadata, Direction, WsMessage};
use freya_media::codec::SampleRate;

/// The `bridge` target's check.
pub fn check_bridge(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    check_decoders(rest);
    check_session(selector, rest);
}

fn check_decoders(raw: &[u8]) {
    let binary = WsMessage::Binary(Bytes::copy_from_slice(raw));
    round_trip_jambonz(&binary);
    let Ok(text) = std::str::from_utf8(raw) else {
        return;
    };
    if let Ok(a) = TwilioToAgent::decode(text) {
        let again = TwilioToAgent::decode(&a.encode());
        assert_eq!(
            again.as_ref(),
            Ok(&a),
            "twilio telephony message does not round-trip"
        );
    }
    if let Ok(a) = TwilioFromAgent::decode(text) {
        let again = TwilioFromAgent::decode(&a.encode("MZ0"));
        assert_eq!(
            again.as_ref(),
            Ok(&a),
            "twilio agent message does not round-trip"
        );
    }
    round_trip_jambonz(&WsMessage::Text(text.to_owned()));
    if let Ok(a) = AsteriskEvent::decode(text) {
        // A JSON object cannot hold two variables of one name: with repeats, only plain text
        // keeps them all (the encoder documents it).
        let repeats = match &a {
            AsteriskEvent::MediaStart {
                channel_variables: v,
                ..
            } => {
                let mut names: Vec<&str> = v.iter().map(|(n, _)| n.as_str()).collect();
                names.sort_unstable();
                names.windows(2).any(|w| w[0] == w[1])
            }
            _ => false,
        };
        let formats: &[ControlFormat] = if repeats {
            &[ControlFormat::PlainText]
        } else {
            &[ControlFormat::PlainText, ControlFormat::Json]
        };
        for &f in formats {
            let again = AsteriskEvent::decode(&a.encode(f));
            assert_eq!(
                again.as_ref(),
                Ok(&a),
                "asterisk event does not round-trip in {f:?}"
            );
        }
    }
    if let Ok(a) = AsteriskCommand::decode(text) {
        for f in [ControlFormat::PlainText, ControlFormat::Json] {
            let again = AsteriskCommand::decode(&a.encode(f));
            assert_eq!(
                again.as_ref(),
                Ok(&a),
                "asterisk command does not round-trip in {f:?}"
            );
        }
    }
}

/// jambonz messages carry arbitrary JSON values (the preamble, clip ids, event data), and
/// serde_json's float parsing is not exact without its `float_roundtrip` feature
/// (8099999999999999999999900 reads as 8.099999999999999e24, which prints and reads back as
/// 8.1e24): so the value must be stable from its first re-encoding on.
fn round_trip_jambonz(m: &WsMessage) {
    if let Ok(a) = JambonzToAgent::decode(m) {
        let b = JambonzToAgent::decode(&a.encode())
            .expect("a re-encoded jambonz telephony message must decode");
        let c = JambonzToAgent::decode(&b.encode());
        assert_eq!(
            c.as_ref(),
            Ok(&b),
            "jambonz telephony message does not round-trip"
        );
    }
    if let Ok(a) = JambonzFromAgent::decode(m) {
        let b = JambonzFromAgent::decode(&a.encode())
            .expect("a re-encoded jambonz agent message must decode");
        let c = JambonzFromAgent::decode(&b.encode());
        assert_eq!(
            c.as_ref(),
            Ok(&b),
            "jambonz agent message does not round-trip"
        );
    }
}

fn config(selector: u8) -> BridgeConfig {
    let mut c = match selector % 6 {
        0 => BridgeConfig::twilio(),
        1 => BridgeConfig::jambonz(SampleRate::Hz8000),
        2 => BridgeConfig::jambonz(SampleRate::Hz16000),
        3 => BridgeConfig::asterisk(AsteriskFormat::Ulaw, ControlFormat::PlainText),
        4 => BridgeConfig::asterisk(AsteriskFormat::Slin16, ControlFormat::Json),
        _ => BridgeConfig::asterisk(AsteriskFormat::Alaw, ControlFormat::Json),
    };
    // Small bounds so short inputs reach them.
    c.max_queue = Duration::from_millis(100 + 20 * u64::from(selector >> 5));
    c.max_marks = 4;
    c.max_error_events = 2;
    c
}

fn check_session(selector: u8, rest: &[u8]) {
    let t0 = Instant::now();
    let cfg = config(selector);
    let max_samples = cfg.max_queue.as_millis() as usize * 8;
    let kind = cfg.protocol.kind();
    let meta = CallMetadata::new("fuzz-call", Direction::Inbound, "a", "b").with_header("X-F", "1");
    let mut s = BridgeSession::new(cfg, meta, t0).expect("fuzz configs are valid");
    let first = s.poll_transmit().expect("a start message is queued");
    assert!(
        matches!(first, WsMessage::Text(_)),
        "{kind}: the first message must be text"
    );

    let mut now = t0;
    let mut last_slot: Option<Instant> = None;
    let mut fed = 0u64;
    for piece in rest.split(|&b| b == 0x1E) {
        let Some((&head, body)) = piece.split_first() else {
            continue;
        };
        now += Duration::from_millis(u64::from(head >> 1));
        let msg = match (head & 1, std::str::from_utf8(body)) {
            (1, Ok(t)) => WsMessage::Text(t.to_owned()),
            _ => WsMessage::Binary(Bytes::copy_from_slice(body)),
        };
        s.handle_message(now, msg);
        fed += 1;
        s.send_audio(now, &[0; 80]);
        if head == 0x7F {
            let _ = s.send_dtmf('#', 100);
        }
        while let Some(f) = s.poll_frame(now) {
            assert!(
                f.audio_samples <= 160,
                "{kind}: frame holds {} samples",
                f.audio_samples
            );
            assert!(
                f.samples[f.audio_samples..].iter().all(|&x| x == 0),
                "{kind}: padding not silent"
            );
            assert!(f.at <= now, "{kind}: frame from the future");
            if let Some(prev) = last_slot {
                assert!(
                    f.at >= prev + Duration::from_millis(20),
                    "{kind}: two frames in one slot"
                );
            }
            last_slot = Some(f.at);
        }
        let st = s.stats();
        assert!(
            st.queue_samples <= max_samples,
            "{kind}: queue {} over its bound {max_samples}",
            st.queue_samples
        );
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
        if !s.is_open() {
            break;
        }
    }
    let st = s.stats();
    assert!(
        st.messages_received <= fed,
        "{kind}: more messages counted than fed"
    );
    assert!(
        st.rejected_messages + st.ignored_messages <= st.messages_received,
        "{kind}: refusals exceed messages"
    );
}
