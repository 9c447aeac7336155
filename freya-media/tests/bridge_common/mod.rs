//! Shared by the bridge's end-to-end tests (`bridge_loopback.rs` with the Rust echo agent,
//! `pipecat_echo.rs` with a real pipecat agent): tone measurement, a paced caller, and a
//! driver that records every frame and event a leg delivers with its arrival time.

#![allow(dead_code)] // each test binary uses part of it

use std::time::{Duration, Instant};

use freya_media::bridge::{
    BridgeEvent, BridgeLeg, CallMetadata, CloseReason, Direction, LegOutput, LegReceiver, LegSender,
};

pub const RATE: f64 = 8000.0;

/// `n` samples of a sine at `hz` (8 kHz, -6 dBFS), starting at sample `from`.
pub fn tone(hz: f64, from: usize, n: usize) -> Vec<i16> {
    (from..from + n)
        .map(|i| {
            (16384.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / RATE).sin()).round() as i16
        })
        .collect()
}

/// The share of `x`'s energy at `hz` (Goertzel), 0..≈1.
pub fn tone_share(x: &[i16], hz: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / RATE;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
    if energy == 0.0 {
        return 0.0;
    }
    power / (energy * x.len() as f64 / 2.0)
}

/// Frequency from the mean distance between rising zero crossings (interpolated).
pub fn zero_crossing_hz(x: &[i16]) -> f64 {
    let mut crossings = Vec::new();
    for (i, p) in x.windows(2).enumerate() {
        let (a, b) = (f64::from(p[0]), f64::from(p[1]));
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 + a / (a - b));
        }
    }
    if crossings.len() < 2 {
        return 0.0;
    }
    let span = crossings[crossings.len() - 1] - crossings[0];
    RATE * (crossings.len() - 1) as f64 / span
}

/// RMS level of `x`.
pub fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// True when a 20 ms frame holds a tone at `hz`.
pub fn frame_has(x: &[i16], hz: f64) -> bool {
    rms(x) > 1000.0 && tone_share(x, hz) > 0.5
}

/// The metadata the end-to-end tests send (with awkward header values).
pub fn test_metadata(call_id: &str) -> CallMetadata {
    CallMetadata::new(call_id, Direction::Inbound, "+15550001111", "+15550002222")
        .with_workflow("wf-echo")
        .with_header("X-Freya-Workflow-Id", "wf-echo")
        .with_header("X-Tenant", " acme : ü %20 ")
        .with_header("X-Tenant", "second")
}

/// Sends caller audio every 20 ms: `tone_frames` frames of a 1 kHz tone, then silence, until
/// the leg ends.
pub fn spawn_caller(sender: LegSender, tone_frames: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for i in 0.. {
            tick.tick().await;
            let frame = if i < tone_frames {
                tone(1000.0, i * 160, 160)
            } else {
                vec![0; 160]
            };
            if let Err(freya_media::bridge::LegError::Closed) = sender.send_audio(&frame) {
                break;
            }
        }
    })
}

/// What a leg delivered, with arrival times.
#[derive(Default)]
pub struct Recording {
    pub frames: Vec<(Instant, [i16; 160], usize)>,
    pub events: Vec<(Instant, BridgeEvent)>,
}

impl Recording {
    /// Concatenated agent audio of the frames received in `[from, to)`.
    pub fn audio_between(&self, from: Instant, to: Instant) -> Vec<i16> {
        self.frames
            .iter()
            .filter(|(t, _, _)| *t >= from && *t < to)
            .flat_map(|(_, s, n)| s[..*n].to_vec())
            .collect()
    }
}

/// Reads the leg until `until` returns true for the recording, or `limit` passes. Returns
/// false on timeout or when the leg ended first.
pub async fn record_until(
    rx: &mut LegReceiver,
    rec: &mut Recording,
    limit: Duration,
    mut until: impl FnMut(&Recording) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if until(rec) {
            return true;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(LegOutput::Frame(f))) => {
                rec.frames
                    .push((Instant::now(), f.samples, f.audio_samples))
            }
            Ok(Some(LegOutput::Event(e))) => rec.events.push((Instant::now(), e)),
            Ok(None) | Err(_) => return until(rec),
        }
    }
}

/// Reads the leg until 40 frames of the caller's 1 kHz tone have come back (within 10 s),
/// then checks the echo by content: 1 kHz ± 15 Hz by zero crossings and a 1 kHz share
/// above 0.8, leaving out the first and last two frames (the burst's edges are not steady).
pub async fn expect_echoed_tone(rx: &mut LegReceiver, rec: &mut Recording) {
    let tone_frames = |r: &Recording| r.frames.iter().filter(|f| frame_has(&f.1, 1000.0)).count();
    assert!(
        record_until(rx, rec, Duration::from_secs(10), |r| tone_frames(r) >= 40).await,
        "the 1 kHz tone did not come back: {} frames, {} with audio, events {:?}",
        rec.frames.len(),
        rec.frames.iter().filter(|f| f.2 > 0).count(),
        rec.events
    );
    let echoed: Vec<i16> = rec
        .frames
        .iter()
        .filter(|f| frame_has(&f.1, 1000.0))
        .flat_map(|f| f.1.to_vec())
        .collect();
    let steady = &echoed[320..echoed.len() - 320];
    let hz = zero_crossing_hz(steady);
    assert!((hz - 1000.0).abs() < 15.0, "echoed tone at {hz:.1} Hz");
    let share = tone_share(steady, 1000.0);
    assert!(share > 0.8, "1 kHz share of the echo {share:.3}");
}

/// Sends DTMF `0` (the echo agent's "hang up") and reads the leg until it reports
/// `Closed` within `limit`; returns the close reason. Panics (the test fails) when the leg
/// does not close in time.
pub async fn hang_up_with_digit_0(
    sender: &LegSender,
    rx: &mut LegReceiver,
    rec: &mut Recording,
    limit: Duration,
) -> CloseReason {
    sender.send_dtmf('0', 120).unwrap();
    let closed = |r: &Recording| {
        r.events
            .iter()
            .any(|(_, e)| matches!(e, BridgeEvent::Closed { .. }))
    };
    assert!(
        record_until(rx, rec, limit, closed).await,
        "the agent's hang-up did not end the leg: {:?}",
        rec.events
    );
    rec.events
        .iter()
        .find_map(|(_, e)| match e {
            BridgeEvent::Closed { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap()
}

/// Splits a leg, keeping its call id.
pub fn split(leg: BridgeLeg) -> (LegSender, LegReceiver) {
    leg.split()
}

/// The echo-agent DTMF contract (see `freya_media::bridge::echo`), driven end to end:
/// 1. a 1 kHz caller tone for 1 s must come back at 1 kHz;
/// 2. DTMF `5` must come back as the agent's mark `dtmf-5`;
/// 3. DTMF `*` makes the agent send 2 s of 600 Hz at once; once it plays, DTMF `#` makes the
///    agent barge in: after the bridge reports `Cleared`, no 600 Hz frame may arrive more than
///    40 ms later (none at all, in fact, since the queue is emptied at once);
/// 4. DTMF `0` makes the agent hang up: the leg ends with `Closed`.
///
/// Returns the recording and the `Closed` reason.
pub async fn echo_scenario(leg: BridgeLeg, max_queue_ms: u64) -> (Recording, CloseReason) {
    let (sender, mut rx) = leg.split();
    let caller = spawn_caller(sender.clone(), 50);
    let mut rec = Recording::default();
    let t_start = Instant::now();

    // 1. Echo of the tone.
    expect_echoed_tone(&mut rx, &mut rec).await;
    let first_echo = rec
        .frames
        .iter()
        .find(|f| frame_has(&f.1, 1000.0))
        .map(|f| f.0)
        .unwrap();
    eprintln!(
        "echo latency (first tone frame back): {:?}",
        first_echo - t_start
    );

    // 2. DTMF reaches the agent (its mark comes back).
    sender.send_dtmf('5', 120).unwrap();
    let mark = |name: &'static str| {
        move |r: &Recording| {
            r.events
                .iter()
                .any(|(_, e)| matches!(e, BridgeEvent::Mark { name: n } if n == name))
        }
    };
    assert!(
        record_until(&mut rx, &mut rec, Duration::from_secs(5), mark("dtmf-5")).await,
        "no mark dtmf-5: {:?}",
        rec.events
    );

    // 3. Burst, then barge-in.
    sender.send_dtmf('*', 120).unwrap();
    let burst_seen =
        |r: &Recording| r.frames.iter().filter(|f| frame_has(&f.1, 600.0)).count() >= 10;
    assert!(
        record_until(&mut rx, &mut rec, Duration::from_secs(5), burst_seen).await,
        "the 600 Hz burst never played"
    );
    let stats = sender.stats();
    assert!(stats.queue_samples > 2000, "burst not queued: {stats:?}");
    if max_queue_ms < 2000 {
        assert!(
            stats.overflow_dropped_samples > 0,
            "a 2 s burst into a {max_queue_ms} ms queue must overflow: {stats:?}"
        );
    }
    let t_hash = Instant::now();
    sender.send_dtmf('#', 120).unwrap();
    let cleared = |r: &Recording| {
        r.events
            .iter()
            .any(|(_, e)| matches!(e, BridgeEvent::Cleared { .. }))
    };
    assert!(
        record_until(&mut rx, &mut rec, Duration::from_secs(5), cleared).await,
        "no Cleared event"
    );
    let (t_clear, dropped) = rec
        .events
        .iter()
        .find_map(|(t, e)| match e {
            BridgeEvent::Cleared { dropped_samples } => Some((*t, *dropped_samples)),
            _ => None,
        })
        .unwrap();
    let settle = Instant::now() + Duration::from_millis(300);
    record_until(&mut rx, &mut rec, Duration::from_millis(300), |_| {
        Instant::now() >= settle
    })
    .await;
    let late: Vec<Duration> = rec
        .frames
        .iter()
        .filter(|f| f.0 > t_clear && frame_has(&f.1, 600.0))
        .map(|f| f.0 - t_clear)
        .collect();
    assert!(
        late.iter().all(|d| *d <= Duration::from_millis(40)),
        "600 Hz frames after clear: {late:?}"
    );
    assert!(dropped > 1600, "clear dropped only {dropped} samples");
    eprintln!(
        "DTMF # to Cleared: {:?}; dropped {} ms of queued audio; burst frames after clear: {}",
        t_clear - t_hash,
        dropped / 8,
        late.len()
    );

    // 4. Agent hang-up.
    let reason = hang_up_with_digit_0(&sender, &mut rx, &mut rec, Duration::from_secs(10)).await;
    assert!(
        matches!(
            tokio::time::timeout(Duration::from_secs(2), rx.recv()).await,
            Ok(None)
        ),
        "output continues after Closed"
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), caller).await;
    (rec, reason)
}
