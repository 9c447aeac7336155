//! [`BridgeSession`] in virtual time: ordering of the start message, pacing, barge-in,
//! overflow, marks, Asterisk buffering and flow control, hang-up. Every clock is an `Instant`
//! built from `t0`; nothing sleeps.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::asterisk::{AsteriskEvent, AsteriskFormat, ControlFormat};
use super::jambonz::{JambonzToAgent, MarkOutcome};
use super::playout::Storage;
use super::twilio::TwilioToAgent;
use super::*;
use crate::codec::{l16, G711Law, SampleRate};

fn meta() -> CallMetadata {
    CallMetadata::new(
        "0b6f7f52-1111-4000-8000-000000000001",
        Direction::Inbound,
        "+15550001",
        "+15550002",
    )
    .with_header("X-Freya-Workflow-Id", "wf-1")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn drain(s: &mut BridgeSession) -> Vec<WsMessage> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

/// The text messages only (caller gap-fill audio left out).
fn drain_text(s: &mut BridgeSession) -> Vec<WsMessage> {
    drain(s).into_iter().filter(|m| !m.is_binary()).collect()
}

fn events(s: &mut BridgeSession) -> Vec<BridgeEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn text(m: &WsMessage) -> &str {
    match m {
        WsMessage::Text(t) => t,
        WsMessage::Binary(_) => panic!("binary where text expected"),
    }
}

/// `n` μ-law bytes whose decoded samples follow a ramp of distinct values, so order and loss
/// are visible in the output.
fn ulaw_ramp(start: usize, n: usize) -> Vec<u8> {
    (start..start + n).map(|i| (i % 256) as u8).collect()
}

fn twilio_media(payload: &[u8]) -> WsMessage {
    WsMessage::Text(
        super::twilio::TwilioFromAgent::Media {
            payload: payload.to_vec(),
        }
        .encode("MZ"),
    )
}

fn t(s: &str) -> WsMessage {
    WsMessage::Text(s.to_owned())
}

#[test]
fn the_start_message_goes_first_for_every_protocol() {
    let t0 = Instant::now();
    let configs = [
        BridgeConfig::twilio(),
        BridgeConfig::jambonz(SampleRate::Hz16000),
        BridgeConfig::asterisk(AsteriskFormat::Slin16, ControlFormat::Json),
        BridgeConfig::asterisk(AsteriskFormat::Ulaw, ControlFormat::PlainText),
    ];
    for c in configs {
        let kind = c.protocol.kind();
        let mut s = BridgeSession::new(c, meta(), t0).unwrap();
        // Audio and DTMF queued before anyone polls the transmit queue.
        s.send_audio(t0, &[100; 480]);
        s.send_dtmf('5', 100).unwrap();
        let out = drain(&mut s);
        match kind {
            ProtocolKind::Twilio => {
                assert_eq!(
                    TwilioToAgent::decode(text(&out[0])).unwrap(),
                    TwilioToAgent::Connected
                );
                assert!(matches!(
                    TwilioToAgent::decode(text(&out[1])).unwrap(),
                    TwilioToAgent::Start { sequence: 1, .. }
                ));
                for (i, m) in out[2..5].iter().enumerate() {
                    let TwilioToAgent::Media {
                        sequence,
                        chunk,
                        timestamp_ms,
                        payload,
                        ..
                    } = TwilioToAgent::decode(text(m)).unwrap()
                    else {
                        panic!("media expected")
                    };
                    assert_eq!(
                        (sequence, chunk, timestamp_ms, payload.len()),
                        (2 + i as u64, 1 + i as u64, 20 * i as u64, 160)
                    );
                }
                assert!(matches!(
                    TwilioToAgent::decode(text(&out[5])).unwrap(),
                    TwilioToAgent::Dtmf { sequence: 5, .. }
                ));
            }
            ProtocolKind::Jambonz => {
                assert!(matches!(
                    JambonzToAgent::decode(&out[0]).unwrap(),
                    JambonzToAgent::Metadata(_)
                ));
                assert!(out[1..4]
                    .iter()
                    .all(|m| matches!(m, WsMessage::Binary(b) if b.len() == 640)));
                assert_eq!(
                    JambonzToAgent::decode(&out[4]).unwrap(),
                    JambonzToAgent::Dtmf {
                        digit: "5".into(),
                        duration_ticks: 800
                    }
                );
            }
            ProtocolKind::Asterisk => {
                assert!(matches!(
                    AsteriskEvent::decode(text(&out[0])).unwrap(),
                    AsteriskEvent::MediaStart { .. }
                ));
                assert!(out[1..4].iter().all(WsMessage::is_binary));
                assert!(matches!(
                    AsteriskEvent::decode(text(&out[4])).unwrap(),
                    AsteriskEvent::DtmfEnd { .. }
                ));
            }
        }
        let expected = if kind == ProtocolKind::Twilio { 6 } else { 5 };
        assert_eq!(out.len(), expected, "{kind}");
    }
}

#[test]
fn agent_audio_is_paced_at_20_ms_however_fast_it_arrives() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    let wire = ulaw_ramp(0, 800); // 100 ms in one message
    s.handle_message(t0, twilio_media(&wire));
    let mut expected = Vec::new();
    G711Law::Ulaw.decode_into(&wire, &mut expected);
    assert!(
        s.poll_frame(t0 + ms(19)).is_none(),
        "nothing before the first slot"
    );
    let mut got = Vec::new();
    for k in 1..=5u64 {
        let f = s.poll_frame(t0 + ms(20 * k)).unwrap();
        assert_eq!(f.at, t0 + ms(20 * k));
        assert_eq!(f.audio_samples, 160);
        got.extend_from_slice(&f.samples);
        assert!(
            s.poll_frame(t0 + ms(20 * k)).is_none(),
            "one frame per slot"
        );
        assert_eq!(s.poll_timeout(), Some(t0 + ms(20 * (k + 1))));
    }
    assert_eq!(got, expected, "in order, nothing lost");
    assert!(s.poll_frame(t0 + ms(120)).unwrap().is_silence());
}

#[test]
fn a_late_caller_gets_missed_frames_back_to_back_up_to_100_ms() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    s.handle_message(t0, twilio_media(&[0x80; 8000]));
    let frames: Vec<_> = std::iter::from_fn(|| s.poll_frame(t0 + ms(60))).collect();
    assert_eq!(
        frames.iter().map(|f| f.at).collect::<Vec<_>>(),
        [t0 + ms(20), t0 + ms(40), t0 + ms(60)]
    );
    // 1 s late: the missed slots are skipped, the audio is not.
    let frames: Vec<_> = std::iter::from_fn(|| s.poll_frame(t0 + ms(1060))).collect();
    assert!(frames.len() <= 6, "{} frames in a burst", frames.len());
    assert!(s.stats().late_ticks_skipped >= 45);
    assert_eq!(s.stats().overflow_dropped_samples, 0);
}

#[test]
fn clear_empties_the_queue_at_once_and_echoes_pending_marks() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    drain(&mut s);
    s.handle_message(t0, twilio_media(&[0x10; 4000]));
    s.handle_message(
        t0,
        t(r#"{"event":"mark","streamSid":"MZ","mark":{"name":"utt-1"}}"#),
    );
    s.handle_message(t0, twilio_media(&[0x10; 4000]));
    s.handle_message(
        t0,
        t(r#"{"event":"mark","streamSid":"MZ","mark":{"name":"utt-2"}}"#),
    );
    assert!(!s.poll_frame(t0 + ms(20)).unwrap().is_silence());
    assert!(drain(&mut s).is_empty(), "no mark reached yet");
    s.handle_message(t0 + ms(25), t(r#"{"event":"clear","streamSid":"MZ"}"#));
    assert_eq!(s.stats().queue_samples, 0);
    let f = s.poll_frame(t0 + ms(40)).unwrap();
    assert!(f.is_silence(), "the slot right after clear is silent");
    let names: Vec<String> = drain(&mut s)
        .iter()
        .map(|m| match TwilioToAgent::decode(text(m)).unwrap() {
            TwilioToAgent::Mark { name, .. } => name,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["utt-1", "utt-2"]);
    let ev = events(&mut s);
    assert_eq!(
        ev[0],
        BridgeEvent::Cleared {
            dropped_samples: 8000 - 160
        }
    );
    assert_eq!(s.stats().cleared_samples, 7840);
}

#[test]
fn marks_are_echoed_when_the_audio_before_them_has_played() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    drain(&mut s);
    s.handle_message(t0, twilio_media(&[0x10; 320]));
    s.handle_message(t0, t(r#"{"event":"mark","mark":{"name":"a"}}"#));
    s.poll_frame(t0 + ms(20)).unwrap();
    assert!(drain(&mut s).is_empty());
    s.poll_frame(t0 + ms(40)).unwrap();
    let out = drain(&mut s);
    assert!(
        matches!(TwilioToAgent::decode(text(&out[0])).unwrap(), TwilioToAgent::Mark { name, .. } if name == "a")
    );
    assert_eq!(events(&mut s), [BridgeEvent::Mark { name: "a".into() }]);
    // On an empty queue a mark is echoed at once.
    s.handle_message(t0 + ms(41), t(r#"{"event":"mark","mark":{"name":"b"}}"#));
    assert_eq!(drain(&mut s).len(), 1);
}

#[test]
fn a_flood_drops_the_oldest_audio_and_latency_stays_bounded() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    // 5 s in 250 messages of 20 ms, all at t0: the queue keeps the newest 1 s.
    let mut all = Vec::new();
    for k in 0..250 {
        let chunk = ulaw_ramp(k * 160, 160);
        all.extend_from_slice(&chunk);
        s.handle_message(t0, twilio_media(&chunk));
    }
    let st = s.stats();
    assert_eq!(
        (st.queue_samples, st.overflow_dropped_samples),
        (8000, 32000)
    );
    let mut newest = Vec::new();
    G711Law::Ulaw.decode_into(&all[32000..32160], &mut newest);
    assert_eq!(s.poll_frame(t0 + ms(20)).unwrap().samples.to_vec(), newest);
    // The agent goes on flooding at 2× real time for 10 s: the queue never exceeds 1 s.
    let mut now = t0 + ms(20);
    for _ in 0..500 {
        now += ms(20);
        s.handle_message(now, twilio_media(&[0x22; 320]));
        while s.poll_frame(now).is_some() {}
        assert!(s.stats().queue_samples <= 8000);
    }
    assert_eq!(s.stats().queue_peak_samples, 8000);
}

#[test]
fn a_stalled_agent_gives_silence_and_the_caller_gap_is_filled() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    drain(&mut s);
    let mut now = t0;
    for _ in 0..10 {
        now += ms(20);
        let f = s.poll_frame(now).unwrap();
        assert!(f.is_silence());
    }
    // No caller audio for 200 ms: gap fill started at 100 ms.
    let media = drain(&mut s).len();
    assert_eq!(media, 6, "silence frames at 100..=200 ms");
    assert_eq!(s.stats().caller_gap_frames, 6);
    s.send_audio(now, &[0; 160]);
    now += ms(20);
    s.poll_frame(now);
    assert_eq!(drain(&mut s).len(), 1, "real audio stops the fill");
}

#[test]
fn asterisk_buffering_keeps_every_byte_in_order() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(
        BridgeConfig::asterisk(AsteriskFormat::Slin, ControlFormat::PlainText),
        meta(),
        t0,
    )
    .unwrap();
    drain_text(&mut s);
    let samples: Vec<i16> = (0..1000).map(|i| i * 7 - 3000).collect();
    let mut bytes = Vec::new();
    l16::encode_le(&samples, &mut bytes);
    // Odd-sized pieces (split samples across messages), buffering toggled mid-way.
    let cuts = [0, 101, 333, 600, 1001, 1500, 2000];
    s.handle_message(t0, t("START_MEDIA_BUFFERING"));
    for (k, w) in cuts.windows(2).enumerate() {
        s.handle_message(
            t0,
            WsMessage::Binary(Bytes::copy_from_slice(&bytes[w[0]..w[1]])),
        );
        if k == 2 {
            s.handle_message(t0, t("STOP_MEDIA_BUFFERING half"));
            s.handle_message(t0, t("START_MEDIA_BUFFERING"));
        }
    }
    s.handle_message(t0, t("STOP_MEDIA_BUFFERING done"));
    let mut got = Vec::new();
    let mut now = t0;
    let mut completed = Vec::new();
    while got.len() < 1000 {
        now += ms(20);
        let f = s.poll_frame(now).unwrap();
        got.extend_from_slice(&f.samples[..f.audio_samples]);
        for m in drain_text(&mut s) {
            if let AsteriskEvent::MediaBufferingCompleted { correlation_id, .. } =
                AsteriskEvent::decode(text(&m)).unwrap()
            {
                completed.push((correlation_id.unwrap(), got.len()));
            }
        }
        assert!(now < t0 + ms(200), "audio held back");
    }
    assert_eq!(got, samples);
    assert_eq!(
        completed,
        [("half".to_owned(), 320), ("done".to_owned(), 1000)]
    );
}

#[test]
fn asterisk_flow_control_status_and_flush() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(
        BridgeConfig::asterisk(AsteriskFormat::Ulaw, ControlFormat::Json),
        meta(),
        t0,
    )
    .unwrap();
    drain_text(&mut s);
    s.handle_message(t0, WsMessage::Binary(Bytes::from(vec![0x20; 7400])));
    assert!(matches!(
        AsteriskEvent::decode(text(&drain_text(&mut s)[0])).unwrap(),
        AsteriskEvent::MediaXoff { .. }
    ));
    s.handle_message(t0, t(r#"{"command":"GET_STATUS"}"#));
    let status = AsteriskEvent::decode(text(&drain_text(&mut s)[0])).unwrap();
    assert!(
        matches!(
            status,
            AsteriskEvent::Status {
                queue_length: 47,
                xon_level: 40,
                xoff_level: 45,
                queue_full: false,
                ..
            }
        ),
        "{status:?}"
    );
    s.handle_message(t0, t(r#"{"command":"REPORT_QUEUE_DRAINED"}"#));
    s.handle_message(t0, t(r#"{"command":"MARK_MEDIA","correlation_id":"m"}"#));
    s.handle_message(t0, t(r#"{"command":"FLUSH_MEDIA"}"#));
    let names: Vec<&str> = drain_text(&mut s)
        .iter()
        .map(|m| AsteriskEvent::decode(text(m)).unwrap().name())
        .collect();
    assert_eq!(
        names,
        ["MEDIA_XON", "QUEUE_DRAINED"],
        "flushed marks are dropped silently"
    );
    assert!(s.poll_frame(t0 + ms(20)).unwrap().is_silence());
    s.handle_message(t0, t("SET_MEDIA_DIRECTION in"));
    assert!(matches!(
        AsteriskEvent::decode(text(&drain_text(&mut s)[0])).unwrap(),
        AsteriskEvent::Error { .. }
    ));
    s.handle_message(t0, t("HANGUP"));
    assert_eq!(
        s.closing(),
        Some(&CloseReason::AgentHangup { reason: None })
    );
}

#[test]
fn jambonz_marks_kill_audio_and_clips() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::jambonz(SampleRate::Hz8000), meta(), t0).unwrap();
    drain_text(&mut s);
    s.handle_message(t0, WsMessage::Binary(Bytes::from(vec![0u8; 641]))); // odd byte kept
    s.handle_message(t0, t(r#"{"type":"mark","data":{"name":"a"}}"#));
    s.handle_message(t0, WsMessage::Binary(Bytes::from(vec![0u8; 639])));
    s.handle_message(t0, t(r#"{"type":"mark","data":{"name":"b"}}"#));
    assert_eq!(s.stats().queue_samples, 640);
    s.poll_frame(t0 + ms(20));
    s.poll_frame(t0 + ms(40));
    let replies: Vec<_> = drain_text(&mut s)
        .iter()
        .map(|m| JambonzToAgent::decode(m).unwrap())
        .collect();
    assert_eq!(
        replies,
        [JambonzToAgent::MarkReply {
            name: "a".into(),
            outcome: MarkOutcome::Playout
        }]
    );
    s.handle_message(t0 + ms(41), t(r#"{"type":"killAudio"}"#));
    let replies: Vec<_> = drain_text(&mut s)
        .iter()
        .map(|m| JambonzToAgent::decode(m).unwrap())
        .collect();
    assert_eq!(
        replies,
        [JambonzToAgent::MarkReply {
            name: "b".into(),
            outcome: MarkOutcome::Cleared
        }]
    );
    // A 16 kHz raw clip: 1000 samples → 500 at 8 kHz (plus the resampler's padding), then playDone.
    let mut clip = Vec::new();
    l16::encode_le(&[1000; 1000], &mut clip);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &clip);
    s.handle_message(t0 + ms(41), t(&format!(r#"{{"type":"playAudio","data":{{"audioContent":"{b64}","audioContentType":"raw","sampleRate":16000,"id":"c1"}}}}"#)));
    let mut now = t0 + ms(40);
    while s.stats().queue_samples > 0 {
        now += ms(20);
        s.poll_frame(now);
    }
    let replies: Vec<_> = drain_text(&mut s)
        .iter()
        .map(|m| JambonzToAgent::decode(m).unwrap())
        .collect();
    assert_eq!(
        replies,
        [JambonzToAgent::PlayDone {
            id: serde_json::json!("c1")
        }]
    );
    s.handle_message(now, t(r#"{"type":"disconnect"}"#));
    assert!(s.closing().is_some());
}

#[test]
fn refusals_are_counted_reported_and_capped() {
    let t0 = Instant::now();
    let mut c = BridgeConfig::twilio();
    c.max_error_events = 2;
    let mut s = BridgeSession::new(c, meta(), t0).unwrap();
    s.handle_message(t0, WsMessage::Binary(Bytes::from_static(&[1, 2, 3])));
    s.handle_message(t0, t("{not json"));
    s.handle_message(t0, t(r#"{"event":"media"}"#));
    s.handle_message(t0, t(r#"{"event":"somethingNew"}"#));
    let st = s.stats();
    assert_eq!(
        (
            st.rejected_messages,
            st.ignored_messages,
            st.messages_received
        ),
        (3, 1, 4)
    );
    let ev = events(&mut s);
    assert_eq!(ev.len(), 2);
    assert!(matches!(
        &ev[0],
        BridgeEvent::Error {
            error: BridgeError::UnexpectedFrame { len: 3, .. }
        }
    ));
    assert!(s.is_open(), "refusals never end the leg");
}

#[test]
fn freya_extension_events_and_hangups() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    s.handle_message(t0, t(r#"{"event":"freya.dtmf","digits":"12#"}"#));
    s.handle_message(t0, t(r#"{"event":"freya.dtmf","digits":"1x"}"#));
    s.handle_message(t0, t(r#"{"event":"freya.hangup","reason":"done"}"#));
    let ev = events(&mut s);
    assert_eq!(
        ev[0],
        BridgeEvent::Dtmf {
            digits: "12#".into()
        }
    );
    assert!(matches!(ev[1], BridgeEvent::Error { .. }));
    assert_eq!(
        ev[2],
        BridgeEvent::AgentHangup {
            reason: Some("done".into())
        }
    );
    assert!(s.poll_timeout().is_none());
    s.handle_closed(CloseReason::AgentHangup {
        reason: Some("done".into()),
    });
    assert_eq!(
        events(&mut s),
        [BridgeEvent::Closed {
            reason: CloseReason::AgentHangup {
                reason: Some("done".into())
            }
        }]
    );
    s.handle_closed(CloseReason::HandleDropped);
    assert!(events(&mut s).is_empty(), "Closed is reported once");
}

#[test]
fn caller_hangup_sends_stop_last() {
    let t0 = Instant::now();
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta(), t0).unwrap();
    s.send_audio(t0, &[0; 160]);
    s.hangup();
    s.send_audio(t0, &[0; 160]);
    assert!(s.send_dtmf('1', 100).is_ok());
    let out = drain(&mut s);
    assert_eq!(out.len(), 4);
    let TwilioToAgent::Stop {
        sequence, call_sid, ..
    } = TwilioToAgent::decode(text(&out[3])).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (sequence, call_sid.as_str()),
        (3, "0b6f7f52-1111-4000-8000-000000000001")
    );
    assert_eq!(s.closing(), Some(&CloseReason::CallerHangup));
    assert!(s.send_dtmf('x', 100).is_err());
}

/// Goertzel power of `hz` in `x`, normalised by the signal's energy.
fn tone_share(x: &[i16], hz: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / rate;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = f64::from(v) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    power / (energy * x.len() as f64 / 2.0)
}

#[test]
fn wideband_protocols_keep_the_tone_frequency_both_ways() {
    for config in [
        BridgeConfig::jambonz(SampleRate::Hz16000),
        BridgeConfig::asterisk(AsteriskFormat::Slin16, ControlFormat::Json),
    ] {
        let t0 = Instant::now();
        let mut s = BridgeSession::new(config, meta(), t0).unwrap();
        drain(&mut s);
        let tone = super::echo::tone(1000.0, 8000, 8000);
        let mut now = t0;
        let mut back = Vec::new();
        for chunk in tone.chunks(160) {
            s.send_audio(now, chunk);
            for m in drain(&mut s) {
                assert_eq!(m.len(), 640, "20 ms of 16 kHz L16");
                s.handle_message(now, m); // loop the wire audio straight back
            }
            now += ms(20);
            let f = s.poll_frame(now).unwrap();
            back.extend_from_slice(&f.samples[..f.audio_samples]);
        }
        let steady = &back[800..back.len() - 800];
        assert!(
            tone_share(steady, 1000.0, 8000.0) > 0.9,
            "1 kHz share {}",
            tone_share(steady, 1000.0, 8000.0)
        );
        assert!(tone_share(steady, 1200.0, 8000.0) < 0.01);
    }
}

#[test]
fn g711_agents_queue_one_byte_per_sample_and_l16_agents_two() {
    let t0 = Instant::now();
    // 200 ms of every code, in 20 ms messages.
    let codes = ulaw_ramp(0, 1600);
    let g711 = [
        (BridgeConfig::twilio(), G711Law::Ulaw),
        (
            BridgeConfig::asterisk(AsteriskFormat::Ulaw, ControlFormat::Json),
            G711Law::Ulaw,
        ),
        (
            BridgeConfig::asterisk(AsteriskFormat::Alaw, ControlFormat::Json),
            G711Law::Alaw,
        ),
    ];
    // 200 ms of samples off the G.711 grid, as 8 kHz L16.
    let pcm: Vec<i16> = (0..1600).map(|i| (i * 41 - 30000) as i16 | 1).collect();
    assert!(pcm
        .iter()
        .all(|&x| G711Law::Ulaw.decode(G711Law::Ulaw.encode(x)) != x));
    let l16 = [
        BridgeConfig::asterisk(AsteriskFormat::Slin, ControlFormat::Json),
        BridgeConfig::jambonz(SampleRate::Hz8000),
    ];
    let cases = g711
        .into_iter()
        .map(|(c, law)| (c, Storage::Law(law)))
        .chain(l16.into_iter().map(|c| (c, Storage::Pcm)));
    for (config, storage) in cases {
        let kind = config.protocol.kind();
        let mut s = BridgeSession::new(config, meta(), t0).unwrap();
        let expected = match storage {
            Storage::Law(law) => {
                for chunk in codes.chunks(160) {
                    s.handle_message(
                        t0,
                        match kind {
                            ProtocolKind::Twilio => twilio_media(chunk),
                            _ => WsMessage::Binary(Bytes::copy_from_slice(chunk)),
                        },
                    );
                }
                let mut decoded = Vec::new();
                law.decode_into(&codes, &mut decoded);
                decoded
            }
            Storage::Pcm => {
                for chunk in pcm.chunks(160) {
                    let mut wire = Vec::new();
                    l16::encode_le(chunk, &mut wire);
                    s.handle_message(t0, WsMessage::Binary(Bytes::from(wire)));
                }
                pcm.clone()
            }
        };
        assert_eq!(s.stats().queue_samples, 1600, "{kind} {storage:?}");
        assert_eq!(s.playout.stored_as(), storage);
        if storage != Storage::Pcm {
            assert_eq!(s.scratch.capacity(), 0, "{kind}: no decode buffer either");
        }
        let bytes_per_sample = if storage == Storage::Pcm { 2 } else { 1 };
        assert_eq!(
            s.playout.capacity_bytes(),
            1600 * bytes_per_sample,
            "{kind} {storage:?}"
        );
        let got: Vec<i16> = (1..=10)
            .flat_map(|k| s.poll_frame(t0 + ms(20 * k)).unwrap().samples)
            .collect();
        assert_eq!(
            got, expected,
            "{kind} {storage:?}: exactly the samples sent"
        );
    }
}
