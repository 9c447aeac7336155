//! The jitter buffer on synthetic arrival traces in virtual time (issue 4: reorder, burst
//! loss, duplicates, a late packet, clock drift ±0.1 %, SSRC change and sequence reset), and
//! property tests: any arrival order yields output in sequence order, and nothing panics.

use std::time::{Duration, Instant};

use bytes::Bytes;
use freya_media::jitter::{
    JitterBuffer, JitterConfig, JitterStats, PacketInfo, Playout, PushOutcome,
};
use proptest::prelude::*;

const FRAME: Duration = Duration::from_millis(20);

/// One packet on the wire: when it arrives (since t0) and what it carries. The payload is
/// the sender's packet index, to check identity at the output.
#[derive(Debug, Clone)]
struct Arrival {
    at: Duration,
    info: PacketInfo,
    index: u32,
}

/// A sender of `count` packets, one per `period`, sequence numbers from `first_seq`, each
/// delayed by `delay(i)` (None = lost in the network).
fn stream(
    ssrc: u32,
    first_seq: u16,
    count: u32,
    start: Duration,
    period: Duration,
    mut delay: impl FnMut(u32) -> Option<Duration>,
) -> Vec<Arrival> {
    (0..count)
        .filter_map(|i| {
            let sent = start + period * i;
            delay(i).map(|d| Arrival {
                at: sent + d,
                info: PacketInfo {
                    ssrc,
                    sequence: first_seq.wrapping_add(i as u16),
                    timestamp: i.wrapping_mul(160),
                    marker: i == 0,
                },
                index: i,
            })
        })
        .collect()
}

#[derive(Debug, Default)]
struct Run {
    /// (when, what) for every pop that returned something.
    out: Vec<(Duration, Playout)>,
    max_buffered: usize,
    max_delay: Duration,
    stats: JitterStats,
    /// Stats when the last frame was played (before the end-of-stream losses).
    stats_at_last_frame: JitterStats,
    /// (when, target delay) after every pop.
    targets: Vec<(Duration, Duration)>,
    /// (sender index, outcome) of every push that was not queued.
    refused: Vec<(u32, PushOutcome)>,
}

impl Run {
    fn frames(&self) -> Vec<(u32, u64)> {
        self.out
            .iter()
            .filter_map(|(_, p)| match p {
                Playout::Frame(f) => Some((f.ssrc, f.seq)),
                _ => None,
            })
            .collect()
    }

    fn payload_indices(&self) -> Vec<u32> {
        self.out
            .iter()
            .filter_map(|(_, p)| match p {
                Playout::Frame(f) => Some(u32::from_be_bytes(f.payload[..4].try_into().unwrap())),
                _ => None,
            })
            .collect()
    }

    fn lost_seqs(&self) -> Vec<u64> {
        self.out
            .iter()
            .filter_map(|(_, p)| match p {
                Playout::Lost { seq } => Some(*seq),
                _ => None,
            })
            .collect()
    }
}

/// Drives the buffer in virtual time: arrivals and pops in time order (arrivals first on a
/// tie), pops exactly when due, until `until`.
fn run(config: JitterConfig, mut arrivals: Vec<Arrival>, until: Duration) -> (Run, JitterBuffer) {
    arrivals.sort_by_key(|a| a.at);
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(config).unwrap();
    let mut result = Run::default();
    let mut next = arrivals.into_iter().peekable();
    loop {
        let due = jb.poll_timeout().map(|d| d - t0);
        let arrival = next.peek().map(|a| a.at);
        let pop_first = match (due, arrival) {
            (Some(d), Some(a)) => d < a,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if pop_first {
            let d = due.unwrap();
            if d > until {
                break;
            }
            let playout = jb.pop(t0 + d).expect("a frame is due at poll_timeout");
            assert!(jb.pop(t0 + d).is_none() || jb.poll_timeout().unwrap() <= t0 + d);
            if matches!(playout, Playout::Frame(_)) {
                result.stats_at_last_frame = jb.stats();
            }
            result.out.push((d, playout));
            result.targets.push((d, jb.target_delay()));
            result.max_delay = result.max_delay.max(jb.current_delay().unwrap_or_default());
        } else {
            let a = next.next().unwrap();
            if a.at > until {
                break;
            }
            let outcome = jb.push(
                t0 + a.at,
                a.info,
                Bytes::copy_from_slice(&a.index.to_be_bytes()),
            );
            if outcome != PushOutcome::Queued {
                result.refused.push((a.index, outcome));
            }
            result.max_buffered = result.max_buffered.max(jb.buffered());
        }
    }
    result.stats = jb.stats();
    (result, jb)
}

fn constant(ms: u64) -> impl FnMut(u32) -> Option<Duration> {
    move |_| Some(Duration::from_millis(ms))
}

/// A deterministic pseudo-random generator for delays (no dependency, same trace every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn in_order_stream_plays_everything_at_the_minimum_delay() {
    let arrivals = stream(1, 1000, 500, Duration::ZERO, FRAME, constant(30));
    let (r, jb) = run(JitterConfig::default(), arrivals, Duration::from_secs(12));
    let s = r.stats_at_last_frame;
    // Starts at the 40 ms initial delay, shrinks to 20 ms after one stable second by skipping
    // one frame; nothing lost, late or filled.
    assert_eq!(jb.target_delay(), Duration::from_millis(20));
    assert_eq!((s.lost, s.late, s.fillers, s.duplicates), (0, 0, 0, 0));
    assert_eq!(s.dropped, 1);
    assert_eq!(s.played, 499);
    let seqs: Vec<u64> = r.frames().iter().map(|&(_, q)| q).collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(seqs.first(), Some(&1000));
    assert_eq!(seqs.last(), Some(&1499));
    // The first frame is played 40 ms after it arrived (30 ms network + initial delay).
    assert_eq!(r.out[0].0, Duration::from_millis(70));
    assert!(r.max_buffered <= 3, "max buffered {}", r.max_buffered);
    // After the stream ends: concealment for idle_after (1 s), then playout stops.
    assert_eq!(r.stats.idles, 1);
    assert_eq!(r.stats.lost, 50);
    assert!(jb.poll_timeout().is_none());
}

#[test]
fn reordered_pairs_come_out_in_order() {
    // Every even packet arrives 15 ms late, after its odd successor.
    let arrivals = stream(1, 65_500, 400, Duration::ZERO, FRAME, |i| {
        Some(Duration::from_millis(if i % 2 == 0 { 25 } else { 10 }))
    });
    let (r, _) = run(JitterConfig::default(), arrivals, Duration::from_secs(9));
    let s = r.stats_at_last_frame;
    assert_eq!((s.lost, s.late), (0, 0));
    assert_eq!(s.played + s.dropped, 400);
    let seqs: Vec<u64> = r.frames().iter().map(|&(_, q)| q).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "in order across the 16-bit wrap"
    );
    assert_eq!(seqs.last(), Some(&(65_500 + 399)));
    let indices = r.payload_indices();
    assert!(indices.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn packets_reordered_before_playout_starts_are_all_played() {
    // 2 arrives first, then 0, then 1: nothing has been played yet, so none is late.
    let arrivals = stream(1, 0, 100, Duration::ZERO, FRAME, |i| {
        Some(Duration::from_millis(match i {
            0 => 45,
            1 => 30,
            2 => 0,
            _ => 10,
        }))
    });
    let (r, _) = run(JitterConfig::default(), arrivals, Duration::from_secs(3));
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!(r.payload_indices()[..4], [0, 1, 2, 3]);
    assert_eq!(r.stats_at_last_frame.lost, 0);
}

#[test]
fn burst_loss_is_reported_frame_by_frame_and_playout_resumes() {
    let arrivals = stream(1, 0, 500, Duration::ZERO, FRAME, |i| {
        (!(200..205).contains(&i)).then_some(Duration::from_millis(30))
    });
    let (r, _) = run(JitterConfig::default(), arrivals, Duration::from_secs(11));
    assert_eq!(r.lost_seqs()[..5], [200, 201, 202, 203, 204]);
    let s = r.stats_at_last_frame;
    assert_eq!((s.lost, s.late, s.fillers), (5, 0, 0));
    assert_eq!(s.played + s.dropped, 495);
    // The Lost markers sit exactly where the missing frames belong.
    let order: Vec<u64> = r.out.iter().filter_map(|(_, p)| p.seq()).collect();
    let at = order.iter().position(|&q| q == 200).unwrap();
    assert_eq!(order[at - 1], 199);
    assert_eq!(order[at + 5], 205);
}

#[test]
fn duplicates_are_counted_and_played_once() {
    let mut arrivals = stream(1, 0, 500, Duration::ZERO, FRAME, constant(30));
    let copies: Vec<Arrival> = arrivals
        .iter()
        .filter(|a| a.index % 10 == 0)
        .flat_map(|a| {
            let mut soon = a.clone();
            soon.at += Duration::from_millis(1); // still buffered
            let mut later = a.clone();
            later.at += Duration::from_millis(300); // already played
            [soon, later]
        })
        .collect();
    arrivals.extend(copies);
    let (r, _) = run(JitterConfig::default(), arrivals, Duration::from_secs(11));
    assert_eq!(r.stats.duplicates, 100);
    assert_eq!(r.stats.late, 0);
    let indices = r.payload_indices();
    let mut unique = indices.clone();
    unique.dedup();
    assert_eq!(indices, unique);
    assert_eq!(indices.len() as u64 + r.stats.dropped, 500);
}

#[test]
fn a_late_packet_is_discarded_and_grows_the_delay_which_then_shrinks_slowly() {
    let arrivals = stream(1, 0, 2000, Duration::ZERO, FRAME, |i| {
        Some(Duration::from_millis(if i == 200 { 180 } else { 30 }))
    });
    let (r, jb) = run(JitterConfig::default(), arrivals, Duration::from_secs(40));
    assert_eq!(r.refused, [(200, PushOutcome::Late)]);
    let s = r.stats_at_last_frame;
    assert_eq!(s.late, 1);
    assert_eq!(r.lost_seqs()[0], 200);
    // Frame 200 was due at 4.04 s and arrived at 4.18 s: the spread jumped by 150 ms.
    let peak = r.targets.iter().map(|&(_, t)| t).max().unwrap();
    assert_eq!(peak, Duration::from_millis(155));
    // The delay grew with fillers (no further loss); after the 5 s window forgot the late
    // packet, the target came down by at most one frame per second, back to 20 ms.
    assert_eq!(s.lost, 1);
    assert!(s.fillers >= 5, "fillers {}", s.fillers);
    for w in r.targets.windows(2) {
        let (t_prev, prev) = w[0];
        let (_, next) = w[1];
        if next < prev {
            assert!(prev - next <= FRAME);
            // Only the initial 40 → 20 ms step before the late packet at 4.04 s; after it,
            // nothing until the window (5 s) has forgotten it.
            let early = t_prev < Duration::from_secs(4) && prev == Duration::from_millis(40);
            assert!(
                early || t_prev > Duration::from_secs(9),
                "shrank too early at {t_prev:?}"
            );
        }
    }
    assert_eq!(jb.target_delay(), Duration::from_millis(20));
    let shrink_steps = r.targets.windows(2).filter(|w| w[1].1 < w[0].1).count();
    assert!(
        shrink_steps >= 7,
        "{shrink_steps} steps from 155 ms to 20 ms"
    );
}

#[test]
fn jittery_network_is_absorbed_after_warm_up() {
    let mut rng = Lcg(7);
    let arrivals = stream(1, 0, 3000, Duration::ZERO, FRAME, |_| {
        Some(Duration::from_millis(20 + rng.next() % 80))
    });
    let (r, jb) = run(JitterConfig::default(), arrivals, Duration::from_secs(61));
    let s = r.stats_at_last_frame;
    // Only the first second or so, before the spread was learned, loses packets.
    assert!(s.late <= 15, "late {}", s.late);
    let last_frame = r
        .out
        .iter()
        .rposition(|(_, p)| matches!(p, Playout::Frame(_)))
        .unwrap();
    let late_after_warmup = r.out[..last_frame]
        .iter()
        .filter(|(at, p)| *at > Duration::from_secs(5) && matches!(p, Playout::Lost { .. }))
        .count();
    assert_eq!(late_after_warmup, 0);
    let target = jb.target_delay();
    assert!(
        (Duration::from_millis(80)..=Duration::from_millis(90)).contains(&target),
        "target {target:?}"
    );
    assert!(r.max_delay <= Duration::from_millis(200));
}

/// Sender and receiver clocks differ by `ppm` (sender period 20 ms × (1 + ppm/10⁶) on the
/// receiver's clock), over 10 minutes, with 0–10 ms of network jitter.
fn drift(ppm: i64) -> (Run, JitterBuffer) {
    let period = Duration::from_nanos((20_000_000i64 + 20 * ppm) as u64);
    let count = 30_000; // 10 minutes of 20 ms frames
    let mut rng = Lcg(99);
    let arrivals = stream(1, 0, count, Duration::ZERO, period, |_| {
        Some(Duration::from_micros(30_000 + rng.next() % 10_000))
    });
    run(JitterConfig::default(), arrivals, Duration::from_secs(601))
}

#[test]
fn slow_sender_clock_does_not_starve_the_buffer() {
    let (r, _) = drift(1000); // +0.1 %: the receiver consumes faster than the sender sends
    let s = r.stats_at_last_frame;
    assert_eq!((s.lost, s.late), (0, 0));
    // 600 s × 0.1 % = 600 ms = 30 frames of delay to give back, as fillers.
    assert!((27..=33).contains(&s.fillers), "fillers {}", s.fillers);
    assert!(r.max_buffered <= 4, "max buffered {}", r.max_buffered);
    assert!(
        r.max_delay <= Duration::from_millis(60),
        "max delay {:?}",
        r.max_delay
    );
    assert_eq!(s.played + s.dropped, 30_000);
}

#[test]
fn fast_sender_clock_does_not_grow_the_buffer() {
    let (r, _) = drift(-1000); // −0.1 %: packets arrive faster than they are played
    let s = r.stats_at_last_frame;
    assert_eq!((s.lost, s.late), (0, 0));
    assert!((27..=33).contains(&s.dropped), "dropped {}", s.dropped);
    assert!(r.max_buffered <= 4, "max buffered {}", r.max_buffered);
    assert!(
        r.max_delay <= Duration::from_millis(60),
        "max delay {:?}",
        r.max_delay
    );
    assert_eq!(s.played + s.dropped, 30_000);
}

#[test]
fn ssrc_change_starts_a_new_stream() {
    let mut arrivals = stream(0xA, 100, 200, Duration::ZERO, FRAME, constant(30));
    // A re-INVITE switched the far end: a new SSRC, random sequence numbers crossing the wrap.
    arrivals.extend(stream(0xB, 65_400, 300, FRAME * 200, FRAME, constant(30)));
    let (r, _) = run(JitterConfig::default(), arrivals, Duration::from_secs(11));
    let s = r.stats_at_last_frame;
    assert_eq!(s.stream_resets, 1);
    assert_eq!((s.lost, s.late), (0, 0));
    assert_eq!(s.played + s.dropped + s.flushed, 500);
    assert!(s.flushed <= 3);
    let frames = r.frames();
    let split = frames.iter().position(|&(ssrc, _)| ssrc == 0xB).unwrap();
    assert!(frames[..split].iter().all(|&(ssrc, _)| ssrc == 0xA));
    assert!(frames[split..].iter().all(|&(ssrc, _)| ssrc == 0xB));
    assert!(frames[..split].windows(2).all(|w| w[1].1 > w[0].1));
    assert!(frames[split..].windows(2).all(|w| w[1].1 > w[0].1));
    assert_eq!(frames[split].1, 65_400);
    assert_eq!(frames.last().unwrap().1, 65_400 + 299);
}

#[test]
fn sequence_restart_on_the_same_ssrc_resets_after_confirmation() {
    let mut arrivals = stream(1, 1000, 200, Duration::ZERO, FRAME, constant(30));
    arrivals.extend(stream(1, 30_000, 200, FRAME * 200, FRAME, constant(30)));
    let (r, _) = run(JitterConfig::default(), arrivals, Duration::from_secs(10));
    let s = r.stats_at_last_frame;
    assert_eq!(s.jumps, 1); // 30000 alone could be a wild packet: held back…
    assert_eq!(s.stream_resets, 1); // …30001 confirmed the restart
    assert_eq!(s.played + s.dropped + s.flushed + s.jumps, 400);
    let seqs: Vec<u64> = r.frames().iter().map(|&(_, q)| q).collect();
    let split = seqs.iter().position(|&q| q >= 30_000).unwrap();
    assert_eq!(seqs[split], 30_001);
    assert_eq!(*seqs.last().unwrap(), 30_199);
}

#[test]
fn a_stalled_consumer_never_makes_the_buffer_grow_past_capacity() {
    let t0 = Instant::now();
    let config = JitterConfig::default();
    let capacity = config.capacity;
    let mut jb = JitterBuffer::new(config).unwrap();
    for i in 0..5000u32 {
        let info = PacketInfo {
            ssrc: 1,
            sequence: i as u16,
            timestamp: i * 160,
            marker: false,
        };
        jb.push(t0 + FRAME * i, info, Bytes::from_static(&[0; 160]));
        assert!(jb.buffered() <= capacity);
    }
    assert_eq!(jb.stats().overflows, 5000 / capacity as u64 - 1);
    // Playout then resumes on the most recent audio.
    let due = jb.poll_timeout().unwrap();
    assert!(matches!(jb.pop(due), Some(Playout::Frame(f)) if f.seq >= 4950));
}

#[test]
fn a_pause_stops_playout_and_the_next_talkspurt_restarts_it() {
    let mut arrivals = stream(1, 0, 100, Duration::ZERO, FRAME, constant(30));
    // On hold for 3 s, then the same stream resumes.
    arrivals.extend(stream(
        1,
        100,
        100,
        Duration::from_secs(5),
        FRAME,
        constant(30),
    ));
    let (r, _) = run(JitterConfig::default(), arrivals, Duration::from_secs(8));
    let s = r.stats_at_last_frame;
    assert_eq!(s.idles, 1);
    assert_eq!(s.lost, 50); // 1 s of concealment, then silence from the buffer
    assert_eq!(s.played + s.dropped, 200);
    assert_eq!(s.late, 0);
}

/// After playout went idle, a straggler from before the pause (older than a packet already
/// received) is late: it neither restarts playout nor plays stale audio; the sender's next
/// packet (a newer sequence number, as after DTX silence) does, in order from there.
#[test]
fn after_a_pause_a_straggler_from_before_it_is_late_and_the_next_packet_restarts() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let info = |sequence: u16| PacketInfo {
        ssrc: 1,
        sequence,
        timestamp: u32::from(sequence) * 160,
        marker: false,
    };
    let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
    for i in 0..10u16 {
        assert_eq!(
            jb.push(
                at(u64::from(i) * 20),
                info(1000 + i),
                Bytes::from(vec![i as u8])
            ),
            PushOutcome::Queued
        );
    }
    // Played out, then 1 s of nothing: idle.
    let mut t = 0;
    while t < 2000 {
        while jb.pop(at(t)).is_some() {}
        t += 20;
    }
    assert_eq!(jb.stats().idles, 1);
    assert!(jb.poll_timeout().is_none(), "playout stopped");
    // A packet from before the pause turns up: late, and playout stays stopped.
    assert_eq!(
        jb.push(at(2000), info(1003), Bytes::from_static(b"stale")),
        PushOutcome::Late
    );
    assert_eq!(jb.stats().late, 1);
    assert!(
        jb.poll_timeout().is_none(),
        "a stale packet restarted playout"
    );
    // The sender resumes with its next sequence number: playout restarts on it, in order.
    for i in 0..5u16 {
        assert_eq!(
            jb.push(
                at(2000 + u64::from(i) * 20),
                info(1010 + i),
                Bytes::from(vec![100 + i as u8])
            ),
            PushOutcome::Queued
        );
    }
    let mut played = Vec::new();
    let mut t = 2000;
    while t < 2400 {
        while let Some(p) = jb.pop(at(t)) {
            if let Playout::Frame(f) = p {
                played.push(f.payload[0]);
            }
        }
        t += 20;
    }
    assert_eq!(played, [100, 101, 102, 103, 104]);
}

proptest! {
    /// A stream with arbitrary loss, duplication and delays up to 400 ms (so any arrival
    /// order a real network makes): frames come out in strictly increasing sequence order,
    /// each at most once, each with its own payload; every packet is accounted for.
    #[test]
    fn any_arrival_order_plays_in_sequence_order(
        first_seq in any::<u16>(),
        packets in proptest::collection::vec((0u64..400, 0u8..10, 0u8..10), 1..300),
    ) {
        let mut arrivals = Vec::new();
        for (i, &(delay_ms, loss, dup)) in packets.iter().enumerate() {
            let i = i as u32;
            if loss == 0 {
                continue;
            }
            let at = FRAME * i + Duration::from_millis(delay_ms);
            let info = PacketInfo { ssrc: 5, sequence: first_seq.wrapping_add(i as u16), timestamp: i * 160, marker: false };
            arrivals.push(Arrival { at, info, index: i });
            if dup == 0 {
                arrivals.push(Arrival { at: at + Duration::from_millis(u64::from(i % 50)), info, index: i });
            }
        }
        let sent = arrivals.len() as u64;
        let (r, jb) = run(JitterConfig::default(), arrivals, Duration::from_secs(20));
        let order: Vec<u64> = r.out.iter().filter_map(|(_, p)| p.seq()).collect();
        prop_assert!(order.windows(2).all(|w| w[1] > w[0]), "{:?}", order);
        let mut last = None;
        for (_, p) in &r.out {
            if let Playout::Frame(f) = p {
                let index = u32::from_be_bytes(f.payload[..4].try_into().unwrap());
                prop_assert_eq!(f.seq as u16, first_seq.wrapping_add(index as u16));
                prop_assert!(last.is_none_or(|l| index > l));
                last = Some(index);
            }
        }
        let s = jb.stats();
        prop_assert_eq!(s.received, sent);
        prop_assert_eq!(s.queued + s.duplicates + s.late + s.jumps, sent);
        prop_assert_eq!(s.queued, s.played + s.dropped + s.flushed + jb.buffered() as u64);
        prop_assert!(r.max_buffered <= jb.config().capacity);
    }

    /// Arbitrary packets (two SSRCs, any sequence numbers, any spacing) interleaved with pops
    /// at arbitrary times never panic, never exceed the capacity, and keep frames in order
    /// between stream resets.
    #[test]
    fn arbitrary_input_never_panics(
        events in proptest::collection::vec((0u64..200, 0u8..4, any::<u16>(), any::<bool>()), 0..400),
    ) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let mut now = t0;
        let mut last: Option<u64> = None;
        let mut resets = 0;
        for (dt, kind, seq, ssrc_b) in events {
            now += Duration::from_millis(dt);
            if kind == 0 {
                loop {
                    // A reset since the last frame (in a push, or the idle a pop ends its run
                    // with, after handing out that run's last frame) starts a new run here.
                    let s = jb.stats();
                    let r = s.stream_resets + s.overflows + s.idles;
                    if r != resets {
                        resets = r;
                        last = None;
                    }
                    let Some(p) = jb.pop(now) else { break };
                    if let Some(q) = p.seq() {
                        prop_assert!(last.is_none_or(|l| q > l), "{} after {:?}", q, last);
                        last = Some(q);
                    }
                }
            } else {
                let info = PacketInfo { ssrc: if ssrc_b { 2 } else { 1 }, sequence: seq, timestamp: 0, marker: false };
                jb.push(now, info, Bytes::new());
            }
            prop_assert!(jb.buffered() <= jb.config().capacity);
            prop_assert!(jb.target_delay() <= jb.config().max_delay);
            prop_assert!(jb.target_delay() >= jb.config().min_delay);
        }
    }
}
