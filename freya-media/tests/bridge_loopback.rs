//! The bridge end to end over real loopback WebSockets, against the Rust echo agent
//! (`freya_media::bridge::echo`, the `echo-agent` example's core), for every protocol:
//! metadata arrives exactly, a 1 kHz tone comes back at 1 kHz, DTMF reaches the agent, a
//! flood is bounded, barge-in empties the queue at once, agent hang-up ends the leg. Plus
//! server mode (token check, 404/401/409) and failing sockets (refused, silent, dropped).

mod bridge_common;

use std::time::Duration;

use bridge_common::*;
use freya_media::bridge::asterisk::{AsteriskFormat, ControlFormat};
use freya_media::bridge::echo::{serve_echo, EchoNote};
use freya_media::bridge::{
    connect, AuthRequest, BridgeConfig, BridgeEvent, BridgeServer, ClientConfig, CloseReason,
    LegError, LegOutput, ProtocolKind, ServerConfig,
};
use freya_media::codec::SampleRate;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Starts the echo agent on a free loopback port; returns its URL and its notes.
async fn echo_agent() -> (
    String,
    mpsc::UnboundedReceiver<(std::net::SocketAddr, EchoNote)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/telephony/ws", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(serve_echo(listener, None, Some(tx)));
    (url, rx)
}

async fn run(config: BridgeConfig, call_id: &str) -> CloseReason {
    let kind = config.protocol.kind();
    let max_queue_ms = config.max_queue.as_millis() as u64;
    let (url, mut notes) = echo_agent().await;
    let meta = test_metadata(call_id);
    let leg = connect(&ClientConfig::new(&url), config, meta.clone())
        .await
        .unwrap();
    assert_eq!(leg.call_id, call_id);
    let (_, reason) = echo_scenario(leg, max_queue_ms).await;
    let mut seen = Vec::new();
    while let Ok((_, n)) = notes.try_recv() {
        seen.push(n);
    }
    assert_eq!(
        seen.first(),
        Some(&EchoNote::Started {
            protocol: kind,
            metadata: Some(meta)
        }),
        "{kind}: the agent must get the exact metadata first"
    );
    let digits: Vec<&EchoNote> = seen
        .iter()
        .filter(|n| matches!(n, EchoNote::Dtmf(_)))
        .collect();
    assert_eq!(
        digits,
        [
            &EchoNote::Dtmf("5".into()),
            &EchoNote::Dtmf("*".into()),
            &EchoNote::Dtmf("#".into()),
            &EchoNote::Dtmf("0".into())
        ]
    );
    assert!(
        !seen.iter().any(|n| matches!(n, EchoNote::Ignored(_))),
        "{kind}: agent refused something: {seen:?}"
    );
    reason
}

#[tokio::test]
async fn twilio_echo() {
    let reason = run(
        BridgeConfig::twilio(),
        "7d0c3f7e-0000-4000-8000-000000000001",
    )
    .await;
    assert_eq!(
        reason,
        CloseReason::AgentClosed {
            code: Some(1000),
            reason: String::new()
        }
    );
}

#[tokio::test]
async fn jambonz_8k_echo() {
    let reason = run(
        BridgeConfig::jambonz(SampleRate::Hz8000),
        "7d0c3f7e-0000-4000-8000-000000000002",
    )
    .await;
    assert_eq!(reason, CloseReason::AgentHangup { reason: None });
}

#[tokio::test]
async fn jambonz_16k_echo() {
    let reason = run(
        BridgeConfig::jambonz(SampleRate::Hz16000),
        "7d0c3f7e-0000-4000-8000-000000000003",
    )
    .await;
    assert_eq!(reason, CloseReason::AgentHangup { reason: None });
}

#[tokio::test]
async fn asterisk_ulaw_json_echo() {
    let c = BridgeConfig::asterisk(AsteriskFormat::Ulaw, ControlFormat::Json);
    let reason = run(c, "7d0c3f7e-0000-4000-8000-000000000004").await;
    assert_eq!(reason, CloseReason::AgentHangup { reason: None });
}

#[tokio::test]
async fn asterisk_slin16_plain_echo_with_a_3_s_queue() {
    let mut c = BridgeConfig::asterisk(AsteriskFormat::Slin16, ControlFormat::PlainText);
    c.max_queue = Duration::from_secs(3);
    let reason = run(c, "7d0c3f7e-0000-4000-8000-000000000005").await;
    assert_eq!(reason, CloseReason::AgentHangup { reason: None });
}

/// The caller hangs up: Twilio's agent gets `stop` (the echo agent then closes), the leg ends
/// with `CallerHangup`.
#[tokio::test]
async fn caller_hangup_ends_the_leg() {
    let (url, mut notes) = echo_agent().await;
    let mut leg = connect(
        &ClientConfig::new(&url),
        BridgeConfig::twilio(),
        test_metadata("c-hangup"),
    )
    .await
    .unwrap();
    leg.send_audio(&[0; 160]).unwrap();
    leg.hangup().unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(out) = leg.recv().await {
            if let LegOutput::Event(BridgeEvent::Closed { reason }) = out {
                return reason;
            }
        }
        panic!("no Closed event")
    })
    .await
    .unwrap();
    assert_eq!(reason, CloseReason::CallerHangup);
    let mut got_stop = false;
    while let Ok(Some((_, n))) =
        tokio::time::timeout(Duration::from_millis(500), notes.recv()).await
    {
        got_stop |= n == EchoNote::Stopped;
    }
    assert!(got_stop, "the agent never saw stop");
    assert!(matches!(leg.send_audio(&[0; 160]), Err(LegError::Closed)));
}

/// Server mode: the agent dials freya at /call/{id} with a token.
#[tokio::test]
async fn server_mode_names_the_call_and_checks_the_token() {
    let config = ServerConfig {
        authorizer: Some(std::sync::Arc::new(|r: &AuthRequest| {
            r.token.as_deref() == Some("s3cret")
        })),
        ..ServerConfig::default()
    };
    let server = BridgeServer::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let meta = test_metadata("srv-call-1");
    let pending = server
        .expect_call(
            meta.clone(),
            BridgeConfig::asterisk(AsteriskFormat::Ulaw, ControlFormat::Json),
        )
        .unwrap();
    assert!(matches!(
        server.expect_call(meta.clone(), BridgeConfig::twilio()),
        Err(LegError::DuplicateCall { .. })
    ));

    let status = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => 101,
    };
    let unknown =
        tokio_tungstenite::connect_async(format!("ws://{addr}/call/nope?token=s3cret")).await;
    assert_eq!(status(unknown.map(|_| ())), 404);
    let bad =
        tokio_tungstenite::connect_async(format!("ws://{addr}/call/srv-call-1?token=wrong")).await;
    assert_eq!(status(bad.map(|_| ())), 401);

    let (mut agent, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/call/srv-call-1?token=s3cret"))
            .await
            .unwrap();
    let second =
        tokio_tungstenite::connect_async(format!("ws://{addr}/call/srv-call-1?token=s3cret")).await;
    assert!(matches!(status(second.map(|_| ())), 404 | 409));
    let mut leg = pending.wait(Duration::from_secs(2)).await.unwrap();

    // MEDIA_START first, with the metadata; then the caller's audio.
    let first = agent.next().await.unwrap().unwrap();
    let start =
        freya_media::bridge::asterisk::AsteriskEvent::decode(first.to_text().unwrap()).unwrap();
    let freya_media::bridge::asterisk::AsteriskEvent::MediaStart {
        channel_variables, ..
    } = start
    else {
        panic!("{start:?}")
    };
    assert_eq!(
        freya_media::bridge::asterisk::metadata_from_variables(&channel_variables).unwrap(),
        meta
    );
    leg.send_audio(&tone(1000.0, 0, 160)).unwrap();
    let media = agent.next().await.unwrap().unwrap();
    assert!(matches!(media, Message::Binary(ref b) if b.len() == 160));

    // Agent audio comes back paced; then the agent closes.
    agent
        .send(Message::Binary(media.into_data()))
        .await
        .unwrap();
    let mut got_audio = false;
    while let Some(out) = tokio::time::timeout(Duration::from_secs(2), leg.recv())
        .await
        .unwrap()
    {
        if let LegOutput::Frame(f) = out {
            if f.audio_samples == 160 {
                got_audio = true;
                agent.close(None).await.unwrap();
            }
        }
        if let LegOutput::Event(BridgeEvent::Closed { reason }) = out {
            assert!(
                matches!(reason, CloseReason::AgentClosed { .. }),
                "{reason:?}"
            );
            break;
        }
    }
    assert!(got_audio);
}

#[tokio::test]
async fn an_unreachable_agent_fails_fast() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = connect(
        &ClientConfig::new(format!("ws://{addr}/ws")),
        BridgeConfig::twilio(),
        test_metadata("x"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LegError::Connect { .. }), "{err}");
    let err = connect(
        &ClientConfig::new("wss://127.0.0.1:1/ws"),
        BridgeConfig::twilio(),
        test_metadata("x"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LegError::Connect { .. }), "{err}");
}

/// An agent that accepts TCP but never answers the upgrade: connect times out, no hang.
#[tokio::test]
async fn a_silent_agent_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let (_sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let mut c = ClientConfig::new(format!("ws://{addr}/ws"));
    c.connect_timeout = Duration::from_millis(300);
    let t = std::time::Instant::now();
    let err = connect(&c, BridgeConfig::twilio(), test_metadata("x"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LegError::Timeout {
            what: "connect",
            ms: 300
        }
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    hold.abort();
}

/// An agent whose TCP connection drops mid-call (no close frame): the leg ends with a reason.
#[tokio::test]
async fn a_dropped_agent_socket_ends_the_leg_with_a_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _ = ws.next().await; // connected
        drop(ws); // no close frame
    });
    let mut leg = connect(
        &ClientConfig::new(format!("ws://{addr}/ws")),
        BridgeConfig::twilio(),
        test_metadata("x"),
    )
    .await
    .unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match leg.recv().await {
                Some(LegOutput::Event(BridgeEvent::Closed { reason })) => return reason,
                Some(_) => {}
                None => panic!("ended without Closed"),
            }
        }
    })
    .await
    .expect("the leg hung");
    assert!(
        matches!(
            reason,
            CloseReason::AgentClosed { code: None, .. } | CloseReason::Failed { .. }
        ),
        "{reason:?}"
    );
}

/// The protocol name parses as the example's `--protocol` flag does.
#[test]
fn protocol_names() {
    assert_eq!(
        "twilio".parse::<ProtocolKind>().unwrap(),
        ProtocolKind::Twilio
    );
}

/// The echo agent ends a call with the closing handshake (RFC 6455 §7.1.1): after its Close
/// it keeps reading until ours. A bridge keeps writing audio until it reads that Close; had
/// the agent dropped the connection at once, those writes would meet a reset and the leg
/// would end as "Broken pipe" instead of a normal agent close.
#[tokio::test]
async fn the_echo_agent_waits_for_the_close_reply() {
    let (url, _notes) = echo_agent().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let media = |seq: u32| {
        Message::Text(
            format!(
                r#"{{"event":"media","sequenceNumber":"{seq}","streamSid":"MZ1","media":{{"track":"inbound","chunk":"{seq}","timestamp":"0","payload":"f39/f39/"}}}}"#
            )
            .into(),
        )
    };
    let start = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"streamSid":"MZ1","callSid":"CA1","accountSid":"AC1","tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
    ws.send(Message::Text(
        r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text(start.into())).await.unwrap();
    ws.send(Message::Text(
        r#"{"event":"dtmf","sequenceNumber":"2","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"0"}}"#.into(),
    ))
    .await
    .unwrap();
    // The agent has sent its Close by now; we have not read it, as a bridge busy sending
    // audio would not have: its audio keeps coming.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for seq in 3..8 {
        let sent = ws.send(media(seq)).await;
        assert!(
            sent.is_ok(),
            "write {seq} after the agent's Close: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Then the Close arrives (after the mark for the digit); tungstenite answers it, and the
    // agent ends the connection cleanly.
    let close = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(frame)) => return Ok(frame),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    })
    .await
    .expect("the agent closes after digit 0");
    let close = close.expect("a Close frame, not a reset");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1000));
    let end = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
    assert!(matches!(end, Ok(None)), "{end:?}");
}

/// A frame sink gets every caller-bound frame in the leg's own task: the frames queued
/// before it was installed first, then one per 20 ms slot, in slot order, with the echoed
/// 1 kHz tone in them; `recv` then delivers events only (here the close).
#[tokio::test]
async fn a_frame_sink_takes_every_frame_in_the_legs_task() {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let (url, _notes) = echo_agent().await;
    let leg = connect(
        &ClientConfig::new(&url),
        BridgeConfig::twilio(),
        test_metadata("sink-1"),
    )
    .await
    .unwrap();
    let (sender, mut rx) = split(leg);
    let caller = spawn_caller(sender.clone(), 100);
    // Let frames queue (silence, then the echo) before the sink exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    type Slots = Arc<Mutex<Vec<(Instant, [i16; 160])>>>;
    let frames: Slots = Arc::default();
    let taken = frames.clone();
    rx.set_frame_sink(Box::new(move |f: &freya_media::bridge::CallerFrame| {
        taken.lock().unwrap().push((f.at, f.samples));
    }));
    let handed_over = frames.lock().unwrap().len();
    assert!(
        handed_over >= 5,
        "the queued frames go to the sink at once: {handed_over}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while frames
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, s)| frame_has(s, 1000.0))
        .count()
        < 60
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the echoed tone did not reach the sink"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sender.hangup().unwrap();
    let mut others = Vec::new();
    while let Some(out) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
    {
        others.push(out);
    }
    caller.abort();
    assert!(
        !others.iter().any(|o| matches!(o, LegOutput::Frame(_))),
        "no frame bypasses the sink"
    );
    assert!(matches!(
        others.last(),
        Some(LegOutput::Event(BridgeEvent::Closed { .. }))
    ));
    let frames = frames.lock().unwrap();
    for pair in frames.windows(2) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            Duration::from_millis(20),
            "one frame per 20 ms slot, in order"
        );
    }
    let echoed: Vec<i16> = frames
        .iter()
        .filter(|(_, s)| frame_has(s, 1000.0))
        .flat_map(|(_, s)| s.to_vec())
        .collect();
    let hz = zero_crossing_hz(&echoed[320..echoed.len() - 320]);
    assert!((hz - 1000.0).abs() < 15.0, "echoed tone at {hz:.1} Hz");
}
