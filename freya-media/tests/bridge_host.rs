//! A host agent (`host_leg`): the leg's other end in this process, at 16 kHz. Caller audio
//! arrives resampled with its tone intact; the host's audio reaches the call side paced in
//! 20 ms frames with its tone intact; DTMF arrives once with its duration; `clear` empties
//! the queue at once; the host's hang-up and the leg's end each reach the other side.

mod bridge_common;

use std::time::Duration;

use bridge_common::{split, test_metadata, tone, tone_share, zero_crossing_hz};
use freya_media::bridge::{
    host_leg, BridgeConfig, BridgeEvent, HostInput, LegError, LegOutput, ShellOptions,
};
use freya_media::codec::SampleRate;

/// `n` samples of a sine at `hz` sampled at `rate` Hz, -6 dBFS.
fn tone_at(hz: f64, rate: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (16384.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin()).round() as i16
        })
        .collect()
}

fn within<T>(
    what: &str,
    f: impl std::future::Future<Output = T>,
) -> impl std::future::Future<Output = T> {
    let what = what.to_owned();
    async move {
        tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .unwrap_or_else(|_| panic!("no {what} within 5 s"))
    }
}

#[tokio::test]
async fn a_host_agent_hears_the_caller_and_is_heard() {
    let bridge = BridgeConfig::jambonz(SampleRate::Hz16000);
    let (leg, agent) = host_leg(bridge, test_metadata("host-1"), ShellOptions::default())
        .await
        .unwrap();
    assert_eq!(agent.metadata().call_id, "host-1");
    assert_eq!(agent.sample_rate(), 16_000);
    let (from_caller, mut to_caller) = agent.split();
    let (tx, mut rx) = split(leg);

    // 25 frames of a 440 Hz caller tone at 8 kHz: the host gets 320-sample frames at 16 kHz.
    let mut heard = Vec::new();
    let reader = tokio::spawn(async move {
        let mut from_caller = from_caller;
        let mut digits = Vec::new();
        while let Some(input) = from_caller.recv().await {
            match input {
                HostInput::Audio(s) => heard.push(s),
                HostInput::Dtmf { digit, duration_ms } => digits.push((digit, duration_ms)),
            }
        }
        (heard, digits)
    });
    for i in 0..25 {
        tx.send_audio(&tone(440.0, i * 160, 160)).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send_dtmf('7', 120).unwrap();

    // The host answers with 200 ms of 1 kHz at 16 kHz in one go: paced out in 20 ms frames.
    to_caller
        .send_audio(&tone_at(1000.0, 16_000.0, 3200))
        .await
        .unwrap();
    let mut played = Vec::new();
    let mut stamps = Vec::new();
    while played.len() < 1600 {
        match within("a caller-bound frame", rx.recv()).await {
            Some(LegOutput::Frame(f)) if !f.is_silence() => {
                stamps.push(f.at);
                played.extend_from_slice(&f.samples[..f.audio_samples]);
            }
            Some(_) => {}
            None => panic!("the leg ended"),
        }
    }
    assert!(played.len() >= 1500, "{} samples played", played.len());
    let hz = zero_crossing_hz(&played[160..1440]);
    assert!((hz - 1000.0).abs() < 10.0, "the caller heard {hz} Hz");
    // Paced: 20 ms apart on the leg's clock, not all at once.
    let span = stamps[stamps.len() - 1] - stamps[0];
    assert!(
        span >= Duration::from_millis(20 * (stamps.len() as u64 - 2)),
        "{span:?} for {} frames",
        stamps.len()
    );

    // Barge-in: a second of audio queued, then clear; what follows is silence.
    to_caller
        .send_audio(&tone_at(1000.0, 16_000.0, 16_000))
        .await
        .unwrap();
    to_caller.clear().await.unwrap();
    let cleared = loop {
        match within("the clear", rx.recv()).await {
            Some(LegOutput::Event(BridgeEvent::Cleared { .. })) => break true,
            Some(_) => {}
            None => panic!("the leg ended"),
        }
    };
    assert!(cleared);
    let mut after = 0;
    for _ in 0..5 {
        if let Some(LegOutput::Frame(f)) = within("a frame after the clear", rx.recv()).await {
            after += f.audio_samples;
        }
    }
    assert_eq!(after, 0, "agent audio played after the clear");
    assert!(tx.stats().cleared_samples > 0, "{:?}", tx.stats());

    // The host hangs up: the call side hears of it.
    to_caller.hangup().await.unwrap();
    loop {
        match within("the agent's hangup", rx.recv()).await {
            Some(LegOutput::Event(BridgeEvent::AgentHangup { .. })) => break,
            Some(_) => {}
            None => panic!("the leg ended before the hangup event"),
        }
    }
    tx.hangup().unwrap();
    let (heard, digits) = within("the host's reader to end", reader).await.unwrap();
    let caller: Vec<i16> = heard.iter().skip(2).take(20).flatten().copied().collect();
    assert!(
        heard.iter().all(|f| f.len() == 320),
        "16 kHz frames of 20 ms"
    );
    let share = tone_share_at(&caller, 440.0, 16_000.0);
    assert!(
        share > 0.8,
        "the host heard 440 Hz at {share:.2} of the energy"
    );
    assert_eq!(digits, [('7', 120)]);
    assert_eq!(to_caller.send_audio(&[0; 160]).await, Err(LegError::Closed));
}

/// [`tone_share`] at another sample rate.
fn tone_share_at(x: &[i16], hz: f64, rate: f64) -> f64 {
    tone_share(x, hz * 8000.0 / rate)
}

#[tokio::test]
async fn only_jambonz_framing_is_hosted() {
    let e = host_leg(
        BridgeConfig::twilio(),
        test_metadata("h"),
        ShellOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        LegError::NotHostable {
            protocol: "twilio".into()
        }
    );
}
