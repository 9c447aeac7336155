//! Call recordings read back with hound: exact content by checksum, tone frequency per
//! channel, silence in gaps, mono mix, and the crash guarantee (issue 4: "written
//! incrementally so a crash loses at most the last second").

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use freya_media::record::{CallRecorder, Layout, RecordConfig, RecordError, Side};

const RATE: u32 = 8000;
const FRAME: usize = 160;

fn tone(hz: f64, amplitude: f64, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| (amplitude * (2.0 * PI * hz * i as f64 / f64::from(RATE)).sin()).round() as i16)
        .collect()
}

/// FNV-1a over the samples' little-endian bytes.
fn checksum(samples: &[i16]) -> u64 {
    samples
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
}

/// Frequency from zero crossings (sign changes / 2 per second).
fn frequency(samples: &[i16]) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] >= 0) != (w[1] >= 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / f64::from(RATE))
}

/// Goertzel power of `hz` relative to the signal's total power (1.0 = a pure tone).
fn tone_share(samples: &[i16], hz: f64) -> f64 {
    let n = samples.len() as f64;
    let coeff = 2.0 * (2.0 * PI * hz / f64::from(RATE)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let total: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    2.0 * power / (n * total)
}

fn read(path: &std::path::Path) -> (hound::WavSpec, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    let samples = reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (spec, samples)
}

fn split(interleaved: &[i16]) -> (Vec<i16>, Vec<i16>) {
    (
        interleaved.iter().step_by(2).copied().collect(),
        interleaved.iter().skip(1).step_by(2).copied().collect(),
    )
}

#[test]
fn stereo_caller_left_agent_right_exact_and_by_frequency() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordConfig::new(dir.path());
    let caller = tone(440.0, 8000.0, 3 * RATE as usize);
    let agent = tone(1000.0, 12000.0, 3 * RATE as usize);
    let mut rec = CallRecorder::create(&config, "6f1e2d3c-0000-4000-8000-000000000001").unwrap();
    // Interleaved 20 ms frames, the agent's running one frame behind.
    for i in 0..caller.len() / FRAME + 1 {
        if let Some(frame) = caller.get(i * FRAME..(i + 1) * FRAME) {
            rec.write(Side::Caller, (i * FRAME) as u64, frame).unwrap();
        }
        if let Some(j) = i.checked_sub(1) {
            rec.write(
                Side::Agent,
                (j * FRAME) as u64,
                &agent[j * FRAME..(j + 1) * FRAME],
            )
            .unwrap();
        }
    }
    let summary = rec.finalize().unwrap();
    assert_eq!(summary.frames, 3 * u64::from(RATE));
    assert_eq!(summary.duration, Duration::from_secs(3));
    assert_eq!(
        summary.stats.late_samples + summary.stats.silence_samples,
        0
    );
    assert!(summary
        .path
        .ends_with("6f1e2d3c-0000-4000-8000-000000000001.wav"));

    let (spec, samples) = read(&summary.path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, RATE, 16)
    );
    let (left, right) = split(&samples);
    assert_eq!(checksum(&left), checksum(&caller));
    assert_eq!(checksum(&right), checksum(&agent));
    assert!(
        (frequency(&left) - 440.0).abs() < 2.0,
        "{}",
        frequency(&left)
    );
    assert!(
        (frequency(&right) - 1000.0).abs() < 2.0,
        "{}",
        frequency(&right)
    );
    assert!(tone_share(&left, 440.0) > 0.95);
    assert!(tone_share(&left, 1000.0) < 0.01);
    assert!(tone_share(&right, 1000.0) > 0.95);
}

#[test]
fn gaps_are_silence_and_channels_stay_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "gaps").unwrap();
    let caller = tone(440.0, 8000.0, 4 * RATE as usize);
    let agent = tone(1000.0, 8000.0, 2 * RATE as usize);
    // Caller: 0–1 s, then a 500 ms gap (lost packets), then 1.5–4 s.
    for start in (0..4 * RATE as usize).step_by(FRAME) {
        if (RATE as usize..RATE as usize * 3 / 2).contains(&start) {
            continue;
        }
        rec.write(Side::Caller, start as u64, &caller[start..start + FRAME])
            .unwrap();
        // The agent starts talking at 2 s, in step with the caller's clock.
        let agent_start = start.checked_sub(2 * RATE as usize);
        if let Some(a) = agent_start.filter(|&a| a < agent.len()) {
            rec.write(Side::Agent, start as u64, &agent[a..a + FRAME])
                .unwrap();
        }
    }
    let summary = rec.finalize().unwrap();
    assert_eq!(summary.frames, 4 * u64::from(RATE));
    let (_, samples) = read(&summary.path);
    let (left, right) = split(&samples);
    let r = RATE as usize;
    assert_eq!(checksum(&left[..r]), checksum(&caller[..r]));
    assert!(
        left[r..r * 3 / 2].iter().all(|&s| s == 0),
        "the gap is silence"
    );
    assert_eq!(checksum(&left[r * 3 / 2..]), checksum(&caller[r * 3 / 2..]));
    assert!(
        right[..2 * r].iter().all(|&s| s == 0),
        "agent silent for 2 s"
    );
    assert_eq!(checksum(&right[2 * r..]), checksum(&agent));
    assert!((frequency(&right[2 * r..]) - 1000.0).abs() < 2.0);
    assert_eq!(summary.stats.late_samples, 0);
}

#[test]
fn mono_mix_is_the_saturating_sum() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RecordConfig::new(dir.path());
    config.layout = Layout::Mono;
    let caller = tone(440.0, 20000.0, 2 * RATE as usize);
    let agent = tone(1000.0, 20000.0, 2 * RATE as usize);
    let mut rec = CallRecorder::create(&config, "mono").unwrap();
    for start in (0..caller.len()).step_by(FRAME) {
        rec.write(Side::Agent, start as u64, &agent[start..start + FRAME])
            .unwrap();
        rec.write(Side::Caller, start as u64, &caller[start..start + FRAME])
            .unwrap();
    }
    let summary = rec.finalize().unwrap();
    let (spec, mixed) = read(&summary.path);
    assert_eq!(spec.channels, 1);
    let expected: Vec<i16> = caller
        .iter()
        .zip(&agent)
        .map(|(a, b)| a.saturating_add(*b))
        .collect();
    assert_eq!(checksum(&mixed), checksum(&expected));
    assert!(
        expected.contains(&i16::MAX),
        "the test does reach saturation"
    );
    assert!(tone_share(&mixed, 440.0) > 0.3);
    assert!(tone_share(&mixed, 1000.0) > 0.3);
}

#[test]
fn a_crash_loses_at_most_the_last_second() {
    let dir = tempfile::tempdir().unwrap();
    let caller = tone(440.0, 8000.0, 3 * RATE as usize);
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "crash").unwrap();
    // Only the caller talks: the agent's channel must not hold the file back.
    for start in (0..caller.len()).step_by(FRAME) {
        rec.write(Side::Caller, start as u64, &caller[start..start + FRAME])
            .unwrap();
    }
    let path = rec.path().to_path_buf();
    assert!(rec.stats().flushes >= 3);
    // A crash: no destructor, no finalize, buffers never flushed.
    std::mem::forget(rec);
    let (spec, samples) = read(&path);
    let (left, right) = split(&samples);
    let seconds = left.len() as f64 / f64::from(spec.sample_rate);
    assert!(seconds >= 2.0, "only {seconds} s readable");
    assert_eq!(checksum(&left), checksum(&caller[..left.len()]));
    assert!(right.iter().all(|&s| s == 0));
}

#[test]
fn dropping_without_finalize_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "dropped").unwrap();
    let agent = tone(1000.0, 8000.0, RATE as usize / 2);
    rec.write(Side::Agent, 0, &agent).unwrap();
    let path = rec.path().to_path_buf();
    drop(rec);
    let (_, samples) = read(&path);
    let (_, right) = split(&samples);
    assert_eq!(checksum(&right), checksum(&agent));
}

#[test]
fn late_and_overlapping_audio_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "late").unwrap();
    rec.write(Side::Caller, 0, &[1; 4000]).unwrap();
    rec.write(Side::Caller, 3900, &[2; 200]).unwrap(); // 100 overlap the caller's own audio
                                                       // The agent's first 500 ms come after 250 ms of it were written with silence.
    rec.write(Side::Agent, 0, &[3; 4000]).unwrap();
    let stats = rec.stats();
    let align = 1600; // 200 ms
    assert_eq!(stats.late_samples, 100 + (4100 - align));
    let summary = rec.finalize().unwrap();
    let (_, samples) = read(&summary.path);
    let (left, right) = split(&samples);
    assert_eq!(left.len(), 4100);
    assert!(left[..4000].iter().all(|&s| s == 1));
    assert!(left[4000..].iter().all(|&s| s == 2));
    // Written as silence before the agent's audio came: 0..2500; then the agent until 4000.
    assert!(right[..2500].iter().all(|&s| s == 0));
    assert!(right[2500..4000].iter().all(|&s| s == 3));
    assert!(right[4000..].iter().all(|&s| s == 0));
}

#[test]
fn arrival_times_with_jitter_stay_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "timed").unwrap();
    let t0 = Instant::now();
    let caller = tone(440.0, 8000.0, 2 * RATE as usize);
    let jitter = [0u64, 7, 3, 12, 1, 9];
    for (i, frame) in caller.chunks(FRAME).enumerate() {
        let at = t0 + Duration::from_millis(20 * i as u64 + jitter[i % jitter.len()]);
        rec.write_at(Side::Caller, at, frame).unwrap();
    }
    // A real pause of 1 s, then more audio: a gap, not snapped.
    let resume = t0 + Duration::from_secs(3);
    rec.write_at(Side::Caller, resume, &caller[..FRAME])
        .unwrap();
    let summary = rec.finalize().unwrap();
    assert_eq!(summary.frames, 3 * u64::from(RATE) + FRAME as u64);
    let (_, samples) = read(&summary.path);
    let (left, _) = split(&samples);
    assert_eq!(checksum(&left[..caller.len()]), checksum(&caller));
    assert!(left[2 * RATE as usize..3 * RATE as usize]
        .iter()
        .all(|&s| s == 0));
}

#[test]
fn typed_errors_name_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordConfig::new(dir.path());
    for bad in ["", "a/b", "..", "call id", "ü"] {
        assert!(
            matches!(
                CallRecorder::create(&config, bad),
                Err(RecordError::BadCallId { .. })
            ),
            "{bad:?}"
        );
    }
    let _first = CallRecorder::create(&config, "same").unwrap();
    let err = CallRecorder::create(&config, "same").unwrap_err();
    assert!(matches!(err, RecordError::Exists { .. }));
    let missing = RecordConfig::new(dir.path().join("nope"));
    let err = CallRecorder::create(&missing, "x").unwrap_err();
    assert!(
        matches!(
            &err,
            RecordError::Io {
                op: "create",
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ),
        "{err}"
    );
    let mut rec = CallRecorder::create(&config, "gap").unwrap();
    rec.write(Side::Caller, 0, &[0; 10]).unwrap();
    let err = rec
        .write(Side::Caller, 10 + 3601 * u64::from(RATE), &[0; 10])
        .unwrap_err();
    assert!(matches!(
        err,
        RecordError::GapTooLarge {
            side: Side::Caller,
            end: 10,
            ..
        }
    ));
    assert!(err
        .to_string()
        .starts_with("caller frame at sample 28808010"));
}

/// Feeds `tone` as 20 ms RTP packets `(index, arrival ms)`, in the given order, with
/// timestamps `ts0 + 160 * index` (wrapping) of one SSRC; returns the caller channel.
fn caller_by_rtp(
    name: &str,
    signal: &[i16],
    ts0: u32,
    order: &[(usize, u64)],
) -> (Vec<i16>, freya_media::record::RecordStats) {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), name).unwrap();
    let t0 = Instant::now();
    for &(i, ms) in order {
        let ts = ts0.wrapping_add(160 * i as u32);
        let frame = &signal[i * FRAME..(i + 1) * FRAME];
        rec.write_rtp(
            Side::Caller,
            t0 + Duration::from_millis(ms),
            0xfeed,
            ts,
            8000,
            frame,
        )
        .unwrap();
    }
    let summary = rec.finalize().unwrap();
    let (_, samples) = read(&summary.path);
    (split(&samples).0, summary.stats)
}

#[test]
fn rtp_bursts_are_placed_by_timestamp() {
    // 1 s of 440 Hz in 50 packets. Packets 10..=19 are held back 300 ms and arrive in one
    // burst, in order; the timestamps wrap past 2^32 on the way.
    let signal = tone(440.0, 8000.0, 50 * FRAME);
    let mut order: Vec<(usize, u64)> = (0..50)
        .filter(|i| !(10..20).contains(i))
        .map(|i| (i, 20 * i as u64))
        .collect();
    let burst_at = 20 * 19 + 100;
    let pos = order.iter().position(|&(i, _)| i == 20).unwrap();
    for (k, i) in (10..20).enumerate() {
        order.insert(pos + k, (i, burst_at));
    }
    let (caller, stats) = caller_by_rtp("rtp-burst", &signal, u32::MAX - 800, &order);
    assert_eq!(stats.late_samples, 0, "{stats:?}");
    assert_eq!(caller.len(), signal.len());
    assert_eq!(checksum(&caller), checksum(&signal), "sample-exact");

    // The same arrivals placed by arrival time lose the burst to overlap.
    let dir = tempfile::tempdir().unwrap();
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "arrival").unwrap();
    let t0 = Instant::now();
    for &(i, ms) in &order {
        let frame = &signal[i * FRAME..(i + 1) * FRAME];
        rec.write_at(Side::Caller, t0 + Duration::from_millis(ms), frame)
            .unwrap();
    }
    assert!(rec.finalize().unwrap().stats.late_samples > 0);
}

#[test]
fn rtp_new_ssrc_or_clock_jump_reanchors_at_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "rtp-jump").unwrap();
    let t0 = Instant::now();
    let at = |ms| t0 + Duration::from_millis(ms);
    // 10 packets of stream A, then stream B (new SSRC, unrelated timestamps) after a
    // 200 ms pause, then B's clock jumps by an hour mid-stream: each time the audio goes
    // where it arrives, nothing is refused and no hour of silence is written.
    for i in 0..10u32 {
        rec.write_rtp(
            Side::Caller,
            at(20 * u64::from(i)),
            1,
            160 * i,
            8000,
            &[1000; FRAME],
        )
        .unwrap();
    }
    for i in 0..10u32 {
        let ms = 400 + 20 * u64::from(i);
        rec.write_rtp(
            Side::Caller,
            at(ms),
            2,
            7_777 + 160 * i,
            8000,
            &[2000; FRAME],
        )
        .unwrap();
    }
    for i in 0..5u32 {
        let ms = 600 + 20 * u64::from(i);
        let ts = 7_777 + 8000 * 3600 + 160 * i;
        rec.write_rtp(Side::Caller, at(ms), 2, ts, 8000, &[3000; FRAME])
            .unwrap();
    }
    assert!(rec
        .write_rtp(Side::Caller, at(800), 2, 0, 0, &[0; FRAME])
        .is_err());
    let summary = rec.finalize().unwrap();
    let (_, samples) = read(&summary.path);
    let caller = split(&samples).0;
    // 700 ms in all: A at 0–200 ms, silence, B at 400–600 ms, B after the jump at 600–700.
    assert_eq!(caller.len(), 700 * 8);
    assert!(caller[..1600].iter().all(|&s| s == 1000));
    assert!(caller[1600..3200].iter().all(|&s| s == 0));
    assert!(caller[3200..4800].iter().all(|&s| s == 2000));
    assert!(caller[4800..].iter().all(|&s| s == 3000));
    assert_eq!(summary.stats.late_samples, 0);
}

#[test]
fn rtp_at_16_khz_converts_the_8_khz_clock() {
    // An 8 kHz RTP clock feeding a 16 kHz recording: 160 ticks are 320 samples.
    let dir = tempfile::tempdir().unwrap();
    let mut config = RecordConfig::new(dir.path());
    config.sample_rate = 16_000;
    let mut rec = CallRecorder::create(&config, "rtp-16k").unwrap();
    let t0 = Instant::now();
    // Packet 1 arrives before packet 0 (reordered), both at once: packet 0, older than the
    // stream's anchor, lies before the recording's start.
    rec.write_rtp(Side::Caller, t0, 9, 160, 8000, &[5; 320])
        .unwrap();
    rec.write_rtp(Side::Caller, t0, 9, 0, 8000, &[7; 320])
        .unwrap();
    rec.write_rtp(
        Side::Caller,
        t0 + Duration::from_millis(40),
        9,
        320,
        8000,
        &[9; 320],
    )
    .unwrap();
    let summary = rec.finalize().unwrap();
    let (spec, samples) = read(&summary.path);
    assert_eq!(spec.sample_rate, 16_000);
    let caller = split(&samples).0;
    // Packet 1 anchored the stream at 0, so packet 0 lies before the start: dropped,
    // counted; packets 1 and 2 are contiguous.
    assert_eq!(summary.stats.late_samples, 320);
    assert_eq!(caller.len(), 640);
    assert!(caller[..320].iter().all(|&s| s == 5));
    assert!(caller[320..].iter().all(|&s| s == 9));
}
