//! A host pool (`mode = "host"`): the program running the stack is the voice agent, taking
//! each call's audio as PCM frames through `Stack::host_calls`. The stack dials itself: the
//! outbound leg is served by a built-in echo agent, the inbound leg (numbers under +1416)
//! by this test as the host, at 16 kHz. What the host says goes out as RTP, is echoed by
//! the other leg's agent, and comes back to the host: checked by frequency.

mod common;

use std::time::{Duration, Instant};

use freya::config::StackConfig;
use freya::event::EventKind;
use freya::media::bridge::{Direction, HostInput};
use freya::stack::{DtmfRequest, OriginateRequest, Stack};
use freya::StackError;

const HOST_POOL: &str = r#"
[[agents]]
name = "inproc"
mode = "host"
slots = 2
sample_rate = 16000
[[routes]]
name = "host"
called = "+1416*"
agents = "inproc"
"#;

/// `n` samples of a sine at `hz`, sampled at 16 kHz, -6 dBFS.
fn tone16k(hz: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (16384.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 16_000.0).sin()).round() as i16
        })
        .collect()
}

/// Frequency (16 kHz samples) from the mean distance between rising zero crossings.
fn zero_crossing_hz(x: &[i16]) -> f64 {
    let c: Vec<f64> = x
        .windows(2)
        .enumerate()
        .filter(|(_, p)| p[0] < 0 && p[1] >= 0)
        .map(|(i, p)| i as f64 + f64::from(p[0]) / f64::from(p[0] - p[1]))
        .collect();
    if c.len() < 2 {
        return 0.0;
    }
    16_000.0 * (c.len() - 1) as f64 / (c[c.len() - 1] - c[0])
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_pool_hands_calls_to_the_program_with_their_audio() {
    let (text, _) = common::self_dialing(2, HOST_POOL);
    let stack = Stack::start(StackConfig::from_toml(&text).unwrap())
        .await
        .unwrap();
    for (pool, why) in [("echo", "not a host pool"), ("nope", "no such agent pool")] {
        let e = stack.host_calls(pool).unwrap_err();
        assert!(
            matches!(e, StackError::Config { .. }) && e.to_string().contains(why),
            "{e}"
        );
    }
    let mut calls = stack.host_calls("inproc").unwrap();
    assert_eq!(calls.pool(), "inproc");
    let e = stack.host_calls("inproc").unwrap_err();
    assert!(e.to_string().contains("already taken"), "{e}");
    let mut events = stack.subscribe();

    let out_id = stack
        .originate(OriginateRequest {
            to: "+14165550100".into(),
            caller_id: Some("+14155550111".into()),
            trunk: Some("self".into()),
            workflow_id: Some("wf-host".into()),
            headers: vec![("X-Tenant".into(), "acme".into())],
            agents: None,
            record: false,
        })
        .await
        .unwrap();
    let call = tokio::time::timeout(Duration::from_secs(10), calls.next())
        .await
        .expect("a host call within 10 s")
        .expect("the stack is up");
    let meta = call.metadata().clone();
    assert_ne!(call.call_id, out_id, "the inbound leg has its own id");
    assert_eq!(meta.call_id, call.call_id);
    assert_eq!(meta.direction, Direction::Inbound);
    assert_eq!(meta.callee, "+14165550100");
    assert_eq!(meta.workflow_id.as_deref(), Some("wf-host"));
    assert!(
        meta.headers
            .iter()
            .any(|(n, v)| n == "X-Tenant" && v == "acme"),
        "{meta:?}"
    );
    assert_eq!(call.agent.sample_rate(), 16_000);
    let host_id = call.call_id.clone();
    let (mut from_caller, mut to_caller) = call.agent.split();

    // A second of 1 kHz in one go: the leg paces it out; the far leg's echo agent sends it
    // back; the host hears it.
    to_caller
        .send_audio(&tone16k(1000.0, 16_000))
        .await
        .unwrap();
    let mut heard: Vec<i16> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut best = (0.0, 0.0);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), from_caller.recv()).await {
            Ok(Some(HostInput::Audio(s))) => {
                assert_eq!(s.len(), 320, "20 ms at 16 kHz");
                heard.extend_from_slice(&s);
                // The last 200 ms: the echo once it arrived.
                if heard.len() >= 3200 {
                    let tail = &heard[heard.len() - 3200..];
                    let level = rms(tail);
                    if level > 2000.0 {
                        best = (zero_crossing_hz(tail), level);
                        if (best.0 - 1000.0).abs() < 15.0 {
                            break;
                        }
                    }
                }
            }
            Ok(Some(HostInput::Dtmf { .. })) => {}
            Ok(None) => panic!("the call ended"),
            Err(_) => {}
        }
    }
    assert!(
        (best.0 - 1000.0).abs() < 15.0,
        "the host heard {:.1} Hz at RMS {:.0} (after {} samples)",
        best.0,
        best.1,
        heard.len()
    );

    // DTMF toward the far end, both ways (RFC 4733 in each leg's RTP): the outbound leg's
    // digits reach this host once each, with their duration; the host leg's reach the
    // other leg (its `dtmf` events).
    let dtmf = |digits: &str| DtmfRequest {
        digits: digits.into(),
        duration_ms: 120,
    };
    for (bad, why) in [("12x", "'x' (key 3)"), ("", "0 keys")] {
        let e = stack.send_dtmf(&out_id, dtmf(bad)).await.unwrap_err();
        assert!(
            matches!(e, StackError::Request(_)) && e.to_string().contains(why),
            "{e}"
        );
    }
    let e = stack
        .send_dtmf("no-such-call", dtmf("1"))
        .await
        .unwrap_err();
    assert!(matches!(e, StackError::NoSuchCall { .. }), "{e}");
    stack.send_dtmf(&out_id, dtmf("159#")).await.unwrap();
    let mut digits = vec![];
    let until = Instant::now() + Duration::from_secs(5);
    while digits.len() < 4 && Instant::now() < until {
        if let Ok(Some(HostInput::Dtmf { digit, duration_ms })) =
            tokio::time::timeout(Duration::from_millis(500), from_caller.recv()).await
        {
            digits.push((digit, duration_ms));
        }
    }
    assert_eq!(
        digits.iter().map(|d| d.0).collect::<String>(),
        "159#",
        "{digits:?}"
    );
    assert!(
        digits.iter().all(|d| (100..=160).contains(&d.1)),
        "{digits:?}"
    );
    // Not `0`, `*` or `#`: the built-in echo agent acts on those (hang-up, a burst, a clear).
    stack.send_dtmf(&host_id, dtmf("19")).await.unwrap();
    let mut seen = String::new();
    let until = Instant::now() + Duration::from_secs(5);
    while seen.len() < 2 && Instant::now() < until {
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            if let EventKind::Dtmf { digit, via } = e.kind {
                if e.call_id == out_id {
                    assert_eq!(via, "rfc4733");
                    seen.push_str(&digit);
                }
            }
        }
    }
    assert_eq!(seen, "19");

    // The host hangs up: its leg ends as the agent's, and the other leg with it.
    to_caller.hangup().await.unwrap();
    let mut ended = std::collections::HashMap::new();
    while ended.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("hangup events")
            .unwrap();
        if let EventKind::Hangup {
            hangup_by, media, ..
        } = e.kind
        {
            ended.insert(e.call_id.clone(), (hangup_by, media));
        }
    }
    let (by, media) = &ended[&host_id];
    assert_eq!(by, "agent");
    let agent = media
        .as_ref()
        .and_then(|m| m.agent.as_ref())
        .expect("agent stats");
    // The second the host sent, counted at the caller's 8 kHz; some of it played before the
    // echo came back and the host hung up.
    assert_eq!(agent.agent_samples_received, 8000, "{agent:?}");
    assert!(agent.frames_played >= 5, "{agent:?}");
    assert!(ended.contains_key(&out_id));
    // What was still in the pipe comes first, then the end.
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while from_caller.recv().await.is_some() {}
    })
    .await;
    assert!(drained.is_ok(), "the host's end closes with the call");

    stack.shutdown().await;
    assert!(calls.next().await.is_none(), "HostCalls ends at shutdown");
    assert!(matches!(
        stack.host_calls("inproc"),
        Err(StackError::Closed)
    ));
}

#[tokio::test]
async fn without_a_host_a_host_pools_calls_fail_as_unreachable() {
    let (text, _) = common::self_dialing(2, HOST_POOL);
    let stack = Stack::start(StackConfig::from_toml(&text).unwrap())
        .await
        .unwrap();
    let mut events = stack.subscribe();
    // No host_calls at all, then one dropped: either way the inbound leg gets 503.
    drop(stack.host_calls("inproc").unwrap());
    let out_id = stack
        .originate(OriginateRequest {
            to: "+14165550100".into(),
            caller_id: None,
            trunk: Some("self".into()),
            workflow_id: None,
            headers: vec![],
            agents: None,
            record: false,
        })
        .await
        .unwrap();
    let hangup = loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the outbound leg's end")
            .unwrap();
        if e.call_id == out_id {
            if let EventKind::Hangup { sip_code, .. } = e.kind {
                break sip_code;
            }
        }
    };
    assert_eq!(hangup, 503);
    stack.shutdown().await;
}

#[test]
fn a_host_pool_is_checked_when_the_config_loads() {
    let (text, _) = common::self_dialing(
        2,
        &HOST_POOL.replace("sample_rate = 16000", "sample_rate = 11025"),
    );
    let e = StackConfig::from_toml(&text).unwrap_err().to_string();
    assert!(
        e.contains("agents[1].sample_rate") && e.contains("11025"),
        "{e}"
    );
    let (text, _) = common::self_dialing(
        2,
        &HOST_POOL.replace("mode = \"host\"", "mode = \"host\"\nbuiltin_echo = true"),
    );
    let e = StackConfig::from_toml(&text).unwrap_err().to_string();
    assert!(e.contains("agents[1].builtin_echo"), "{e}");
}
