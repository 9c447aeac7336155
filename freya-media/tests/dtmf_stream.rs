//! RFC 4733 sender → (emulated network) → receiver, in virtual time: every key press arrives
//! exactly once, in order, with its duration, despite lost, duplicated and reordered packets.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use freya_media::dtmf::{
    DtmfEvent, DtmfPacket, DtmfReceiver, DtmfSender, DtmfSenderConfig, EventCode, EventEnd,
};
use freya_media::rtp::{RtpHeader, RtpPacket};
use proptest::prelude::*;

const TELEPHONE_EVENT_PT: u8 = 101;
const SSRC: u32 = 0x5EED;
/// The audio clock's timestamp at t0, to show the sender uses the caller's media clock.
const TS_BASE: u32 = 4_000_000_000;

/// Media timestamp (8 kHz) at `at`.
fn media_ts(t0: Instant, at: Instant) -> u32 {
    TS_BASE.wrapping_add(((at - t0).as_micros() * 8 / 1000) as u32)
}

/// Runs the sender to completion; returns every packet with the time it was sent.
fn transmit(tx: &mut DtmfSender, t0: Instant) -> Vec<DtmfPacket> {
    let mut sent = Vec::new();
    while let Some(at) = tx.poll_timeout() {
        while let Some(p) = tx.poll_transmit(at, media_ts(t0, at)) {
            sent.push(p);
        }
    }
    sent
}

/// Serialises a DTMF packet as a real RTP packet (the wire format the receiver gets).
fn to_rtp(p: &DtmfPacket, seq: u16) -> Bytes {
    let mut header = RtpHeader::new(TELEPHONE_EVENT_PT, seq, p.timestamp, SSRC);
    header.marker = p.marker;
    let mut out = BytesMut::new();
    header.write(&p.payload(), &mut out).unwrap();
    out.freeze()
}

/// Delivers `(arrival, bytes)` to a receiver in arrival order, running its timer between
/// arrivals and after the last, and returns the events it reported.
fn receive(mut arrivals: Vec<(Instant, Bytes)>) -> (Vec<DtmfEvent>, DtmfReceiver) {
    arrivals.sort_by_key(|(at, _)| *at);
    let mut rx = DtmfReceiver::new(8000);
    let mut events = Vec::new();
    for (at, bytes) in arrivals {
        while let Some(deadline) = rx.poll_timeout().filter(|d| *d <= at) {
            rx.handle_timeout(deadline);
        }
        let packet = RtpPacket::parse(bytes).unwrap();
        assert_eq!(packet.payload_type(), TELEPHONE_EVENT_PT);
        rx.handle_rtp(at, &packet).unwrap();
        events.extend(std::iter::from_fn(|| rx.poll_event()));
    }
    while let Some(deadline) = rx.poll_timeout() {
        rx.handle_timeout(deadline);
    }
    events.extend(std::iter::from_fn(|| rx.poll_event()));
    (events, rx)
}

fn digits_of(events: &[DtmfEvent]) -> String {
    events.iter().filter_map(|e| e.code.to_char()).collect()
}

fn send_all(digits: &str, tone: Duration) -> (Instant, Vec<DtmfPacket>) {
    let t0 = Instant::now();
    let mut tx = DtmfSender::new(DtmfSenderConfig::default()).unwrap();
    tx.send_digits(t0, digits, tone).unwrap();
    let sent = transmit(&mut tx, t0);
    (t0, sent)
}

#[test]
fn sender_packets_follow_rfc_4733() {
    let (t0, sent) = send_all("159#", Duration::from_millis(160));
    // 160 ms: start + updates at 50/100/150 ms, end at 160 ms, twice more 50 ms apart.
    assert_eq!(sent.len(), 4 * 7);
    for event in sent.chunks(7) {
        let start = event[0];
        assert!(start.marker, "marker on the first packet");
        assert!(
            event[1..].iter().all(|p| !p.marker),
            "marker on the first only"
        );
        assert!(
            event.iter().all(|p| p.timestamp == start.timestamp),
            "one timestamp per event"
        );
        assert_eq!(
            start.timestamp,
            media_ts(t0, start.due),
            "timestamp = media clock at start"
        );
        let durations: Vec<u16> = event.iter().map(|p| p.event.duration).collect();
        assert_eq!(durations, [0, 400, 800, 1200, 1280, 1280, 1280]);
        let ends: Vec<bool> = event.iter().map(|p| p.event.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        let offsets: Vec<u128> = event
            .iter()
            .map(|p| (p.due - start.due).as_millis())
            .collect();
        assert_eq!(offsets, [0, 50, 100, 150, 160, 210, 260]);
        assert!(event.iter().all(|p| p.event.volume == 10));
    }
    // Tones are 160 ms + 100 ms gap apart, so timestamps advance by 260 ms = 2080 ticks,
    // across the u32 wrap of the media clock.
    let starts: Vec<u32> = sent.chunks(7).map(|e| e[0].timestamp).collect();
    for pair in starts.windows(2) {
        assert_eq!(pair[1].wrapping_sub(pair[0]), 2080);
    }
    let codes: Vec<u8> = sent.chunks(7).map(|e| e[0].event.event.code()).collect();
    assert_eq!(codes, [1, 5, 9, 11]);
}

#[test]
fn clean_network_gives_each_digit_once_with_its_duration() {
    let (_, sent) = send_all("0123456789*#ABCD", Duration::from_millis(100));
    let arrivals = sent
        .iter()
        .enumerate()
        .map(|(i, p)| (p.due + Duration::from_millis(30), to_rtp(p, i as u16)))
        .collect();
    let (events, rx) = receive(arrivals);
    assert_eq!(digits_of(&events), "0123456789*#ABCD");
    assert!(events.iter().all(|e| e.duration_ms == 100));
    assert!(events
        .iter()
        .all(|e| e.rtp.map(|r| r.ended_by) == Some(EventEnd::EndPacket)));
    assert_eq!(
        rx.stats().duplicates,
        2 * 16,
        "two retransmitted end packets per digit"
    );
    assert_eq!(rx.stats().events, 16);
}

#[test]
fn all_end_packets_lost_still_one_event_per_digit() {
    let (_, sent) = send_all("4242", Duration::from_millis(200));
    let arrivals = sent
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.event.end)
        .map(|(i, p)| (p.due, to_rtp(p, i as u16)))
        .collect();
    let (events, _) = receive(arrivals);
    assert_eq!(digits_of(&events), "4242");
    // The last update (150 ms) is the best the receiver knows.
    assert!(events.iter().all(|e| e.duration_ms == 150));
    let ends: Vec<EventEnd> = events.iter().map(|e| e.rtp.unwrap().ended_by).collect();
    assert_eq!(
        ends,
        [
            EventEnd::NextEvent,
            EventEnd::NextEvent,
            EventEnd::NextEvent,
            EventEnd::Timeout
        ]
    );
}

#[test]
fn lost_start_and_first_end_packet_keep_exact_durations() {
    let (_, sent) = send_all("77", Duration::from_millis(120));
    let mut first_end_seen = std::collections::HashSet::new();
    let arrivals = sent
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.marker)
        .filter(|(_, p)| !p.event.end || !first_end_seen.insert(p.timestamp))
        .map(|(i, p)| (p.due, to_rtp(p, i as u16)))
        .collect();
    let (events, _) = receive(arrivals);
    assert_eq!(digits_of(&events), "77");
    assert!(events.iter().all(|e| e.duration_ms == 120));
}

#[test]
fn duplicated_and_reordered_packets_within_events() {
    let (_, sent) = send_all("2580", Duration::from_millis(150));
    // Every packet twice; each event's packets delivered in reverse order inside a 5 ms burst
    // after the event's last packet was sent (worst-case reordering within the event).
    let mut arrivals = Vec::new();
    for event in sent.chunks(6) {
        let burst = event.last().unwrap().due;
        for (k, p) in event.iter().rev().enumerate() {
            let at = burst + Duration::from_micros(500 * k as u64);
            arrivals.push((at, to_rtp(p, k as u16)));
            arrivals.push((at, to_rtp(p, k as u16)));
        }
    }
    let (events, rx) = receive(arrivals);
    assert_eq!(digits_of(&events), "2580");
    assert!(events.iter().all(|e| e.duration_ms == 150));
    assert_eq!(rx.stats().events, 4);
}

/// A small deterministic generator for the network emulator.
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any digits and tone length; up to 60 ms of per-packet jitter (reordering inside an
    /// event, and a late end retransmit may arrive after the next event has started); any
    /// subset of the end packets and of the start packets lost; random duplicates. Each key
    /// press that reached the receiver is reported once, in order; its duration is exact when
    /// an end packet arrived before the next event did, and otherwise is at least the last
    /// update's (at most 50 ms short).
    #[test]
    fn digits_survive_jitter_loss_and_duplicates(
        digits in "[0-9*#A-D]{1,6}",
        tone_ms in 40u64..400,
        seed in any::<u64>(),
    ) {
        let (_, sent) = send_all(&digits, Duration::from_millis(tone_ms));
        let mut rng = Lcg(seed);
        let mut arrivals = Vec::new();
        // (arrival, event timestamp, end bit) of every delivered packet.
        let mut delivered = Vec::new();
        for (i, p) in sent.iter().enumerate() {
            let lose = (p.event.end || p.marker) && rng.next().is_multiple_of(3);
            if lose {
                continue;
            }
            let copies = if rng.next().is_multiple_of(5) { 2 } else { 1 };
            for _ in 0..copies {
                let at = p.due + Duration::from_micros(rng.next() % 60_000);
                arrivals.push((at, to_rtp(p, i as u16)));
                delivered.push((at, p.timestamp, p.event.end));
            }
        }
        let mut starts: Vec<u32> = sent.iter().filter(|p| p.marker).map(|p| p.timestamp).collect();
        starts.dedup();
        let end_in_time = |k: usize| {
            let next_first = starts.get(k + 1).and_then(|&next| {
                delivered.iter().filter(|d| d.1 == next).map(|d| d.0).min()
            });
            delivered.iter().any(|&(at, ts, end)| {
                end && ts == starts[k] && next_first.is_none_or(|n| at < n)
            })
        };
        // A key press is heard when one of its packets arrives before any packet of a later
        // one: a short tone has a single non-end packet, the start, and its last end
        // retransmit leaves together with the next tone's start, so with the start and the
        // first two end packets lost it may come after the next press has begun. The receiver
        // drops such a packet as stale rather than report the keys out of order.
        let first_arrival = |ts: u32| delivered.iter().filter(|d| d.1 == ts).map(|d| d.0).min();
        let heard: Vec<usize> = (0..starts.len())
            .filter(|&k| {
                let later = starts[k + 1..].iter().filter_map(|&ts| first_arrival(ts)).min();
                first_arrival(starts[k]).is_some_and(|at| later.is_none_or(|l| at <= l))
            })
            .collect();
        let expected: String = heard
            .iter()
            .filter_map(|&k| digits.to_uppercase().chars().nth(k))
            .collect();
        let (events, rx) = receive(arrivals);
        prop_assert_eq!(digits_of(&events), expected);
        let last_update_ms = (tone_ms - 1) / 50 * 50;
        for (&k, e) in heard.iter().zip(&events) {
            let rtp = e.rtp.unwrap();
            prop_assert_eq!(rtp.timestamp, starts[k]);
            let ms = u64::from(e.duration_ms);
            if end_in_time(k) {
                prop_assert_eq!(ms, tone_ms);
                prop_assert_eq!(rtp.ended_by, EventEnd::EndPacket);
            } else {
                prop_assert!(ms >= last_update_ms && ms <= tone_ms, "{} ms for a {} ms tone", ms, tone_ms);
            }
        }
        prop_assert_eq!(rx.stats().malformed, 0);
        prop_assert_eq!(rx.stats().events as usize, heard.len());
    }
}

#[test]
fn sip_info_digits_are_the_same_event_type() {
    let from_info = DtmfEvent::from_sip_info(EventCode::from_char('5').unwrap(), 100);
    let (_, sent) = send_all("5", Duration::from_millis(100));
    let arrivals = sent
        .iter()
        .enumerate()
        .map(|(i, p)| (p.due, to_rtp(p, i as u16)))
        .collect();
    let (events, _) = receive(arrivals);
    assert_eq!(events[0].code, from_info.code);
    assert_eq!(events[0].duration_ms, from_info.duration_ms);
}
