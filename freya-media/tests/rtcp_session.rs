//! Two RTCP sessions (caller and freya) exchanging RTP and RTCP over an emulated network in
//! virtual time: reports every ~5 s, loss and jitter as the far end sees them, round-trip
//! time from LSR/DLSR, BYE on close.

use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use freya_media::rtp::rtcp::{
    self, parse_compound, RtcpConfig, RtcpEvent, RtcpPacket, RtcpSession,
};
use freya_media::rtp::{RtpHeader, RtpPacket};

const ONE_WAY: Duration = Duration::from_millis(40);

fn rtp(ssrc: u32, seq: u16, ts: u32) -> RtpPacket {
    let mut out = BytesMut::new();
    RtpHeader::new(0, seq, ts, ssrc)
        .write(&[0xFF; 160], &mut out)
        .unwrap();
    RtpPacket::parse(out.freeze()).unwrap()
}

struct Run {
    a: RtcpSession,
    b: RtcpSession,
    /// Every RTCP compound A sent, with its send time.
    a_sent: Vec<(Instant, Bytes)>,
    b_events: Vec<RtcpEvent>,
    a_events: Vec<RtcpEvent>,
}

/// A and B each send 20 ms RTP packets for `seconds`; A→B drops packets for which `lose`
/// is true, and delays alternate packets by 10 ms extra (jitter). RTCP flows both ways with
/// a 40 ms one-way delay; A's wall clock is 3 h ahead of B's (RTT must not care).
fn run(seconds: u32, lose: impl Fn(u32) -> bool, randomize: bool) -> Run {
    let t0 = Instant::now();
    let mut ca = RtcpConfig::new(0xA, "caller@198.51.100.1");
    let mut cb = RtcpConfig::new(0xB, "freya@192.0.2.1");
    ca.randomize = randomize;
    cb.randomize = randomize;
    let wall = SystemTime::now();
    let mut a = RtcpSession::new(ca, t0, wall + Duration::from_secs(3 * 3600)).unwrap();
    let mut b = RtcpSession::new(cb, t0, wall).unwrap();
    // (arrival, to_b, datagram)
    let mut in_flight: Vec<(Instant, bool, Bytes)> = Vec::new();
    let mut a_sent = Vec::new();
    let (mut a_events, mut b_events) = (Vec::new(), Vec::new());
    let end = t0 + Duration::from_secs(u64::from(seconds));
    let mut step = 0u32;
    let mut now = t0;
    while now < end {
        // RTP, both ways, every 20 ms.
        let ts = step * 160;
        a.on_rtp_sent(now, ts, 160);
        b.on_rtp_sent(now, ts, 160);
        if !lose(step) {
            let jitter = if step % 2 == 1 {
                Duration::from_millis(10)
            } else {
                Duration::ZERO
            };
            b.on_rtp_received(now + ONE_WAY + jitter, &rtp(0xA, step as u16, ts));
        }
        a.on_rtp_received(now + ONE_WAY, &rtp(0xB, step as u16, ts));
        // RTCP due within this 20 ms step.
        let step_end = now + Duration::from_millis(20);
        for (session, to_b) in [(&mut a, true), (&mut b, false)] {
            while let Some(at) = session.poll_timeout().filter(|&at| at < step_end) {
                let at = at.max(now);
                let datagram = session.poll_transmit(at).unwrap();
                if to_b {
                    a_sent.push((at, datagram.clone()));
                }
                in_flight.push((at + ONE_WAY, to_b, datagram));
            }
        }
        in_flight.sort_by_key(|(at, _, _)| *at);
        while let Some(pos) = in_flight.iter().position(|(at, _, _)| *at < step_end) {
            let (at, to_b, datagram) = in_flight.remove(pos);
            if to_b {
                b.handle_rtcp(at, datagram).unwrap();
                b_events.extend(std::iter::from_fn(|| b.poll_event()));
            } else {
                a.handle_rtcp(at, datagram).unwrap();
                a_events.extend(std::iter::from_fn(|| a.poll_event()));
            }
        }
        now = step_end;
        step += 1;
    }
    Run {
        a,
        b,
        a_sent,
        b_events,
        a_events,
    }
}

#[test]
fn reports_every_five_seconds_with_sr_and_cname() {
    let r = run(60, |_| false, false);
    let times: Vec<Duration> = r.a_sent.windows(2).map(|w| w[1].0 - w[0].0).collect();
    // First after 2.5 s, then every 5 s (not randomised here), give or take the 20 ms step.
    assert_eq!(r.a_sent.len(), 12);
    assert!(
        times
            .iter()
            .all(|d| (Duration::from_millis(4980)..=Duration::from_millis(5020)).contains(d)),
        "{times:?}"
    );
    for (_, wire) in &r.a_sent {
        let packets = parse_compound(wire.clone()).unwrap();
        let RtcpPacket::SenderReport(sr) = &packets[0] else {
            panic!("A sends RTP, so its reports are SRs: {packets:?}");
        };
        assert_eq!(sr.ssrc, 0xA);
        assert_eq!(sr.reports.len(), 1);
        assert_eq!(sr.reports[0].ssrc, 0xB);
        // 160 payload bytes per packet.
        assert_eq!(sr.info.octet_count, sr.info.packet_count * 160);
        let RtcpPacket::SourceDescription(sdes) = &packets[1] else {
            panic!("SDES second: {packets:?}");
        };
        assert_eq!(
            sdes.chunks[0].cname().as_deref(),
            Some("caller@198.51.100.1")
        );
    }
    assert_eq!(r.a.stats().reports_sent, 12);
    assert_eq!(r.a.stats().sender_reports_sent, 12);
}

#[test]
fn randomised_intervals_stay_within_half_to_one_and_a_half() {
    let r = run(300, |_| false, true);
    let gaps: Vec<Duration> = r.a_sent.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter()
            .all(|d| *d >= Duration::from_millis(2500) && *d <= Duration::from_millis(7520)),
        "{gaps:?}"
    );
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    assert!(
        (Duration::from_millis(4300)..=Duration::from_millis(5700)).contains(&mean),
        "mean {mean:?}"
    );
    assert!(gaps.iter().any(|d| *d < Duration::from_millis(4500)));
    assert!(gaps.iter().any(|d| *d > Duration::from_millis(5500)));
}

#[test]
fn round_trip_time_from_lsr_and_dlsr() {
    let r = run(30, |_| false, false);
    // Each side measures 2 × 40 ms, whatever their wall clocks say (A's is 3 h ahead).
    for session in [&r.a, &r.b] {
        let rtt = session.rtt().expect("an RTT after a few reports");
        let error = rtt.abs_diff(2 * ONE_WAY);
        assert!(error < Duration::from_micros(100), "rtt {rtt:?}");
    }
    let with_rtt = r
        .a_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RtcpEvent::Report {
                    from: 0xB,
                    rtt: Some(_),
                    ..
                }
            )
        })
        .count();
    assert!(with_rtt >= 4);
    let b_heard = r
        .b_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RtcpEvent::Report {
                    from: 0xA,
                    rtt: Some(_),
                    ..
                }
            )
        })
        .count();
    assert!(b_heard >= 4);
}

#[test]
fn loss_and_jitter_as_the_far_end_reports_them() {
    // A → B loses every 10th packet; alternate packets come 10 ms late (80 ticks of jitter).
    let r = run(60, |step| step % 10 == 5, false);
    let reports: Vec<_> = r
        .a_events
        .iter()
        .filter_map(|e| match e {
            RtcpEvent::Report {
                from: 0xB, block, ..
            } => Some(*block),
            _ => None,
        })
        .collect();
    assert!(reports.len() >= 10);
    let last = reports.last().unwrap();
    // 10 % loss: 25.6/256, truncated to 25 (A.3 integer arithmetic).
    assert!(
        reports[1..]
            .iter()
            .all(|b| (24..=26).contains(&b.fraction_lost)),
        "{reports:?}"
    );
    let stats = r.b.source(0xA).unwrap().snapshot();
    // B's own count now is a little ahead of its last report, never behind.
    let reported = i64::from(last.cumulative_lost);
    assert!(
        reported <= stats.lost && stats.lost - reported <= 60,
        "{reported} vs {}",
        stats.lost
    );
    assert!(last.cumulative_lost >= 250, "{}", last.cumulative_lost);
    // Alternating 0/10 ms transit (a loss in between turns a pair into 0/0 or 10/10, so a
    // bit less than 80 ticks).
    assert!((60..=80).contains(&last.jitter), "jitter {}", last.jitter);
    assert!((7.5..=10.0).contains(&last.jitter_ms(8000)));
    assert_eq!(stats.duplicates, 0);
    // The highest sequence number reported is close to what A sent by then.
    assert!(last.extended_highest_seq > 2700);
}

#[test]
fn close_sends_a_bye_that_the_peer_reports() {
    let t0 = Instant::now();
    let mut config = RtcpConfig::new(0xA, "a");
    config.randomize = false;
    let mut a = RtcpSession::new(config, t0, SystemTime::now()).unwrap();
    let mut b = RtcpSession::new(RtcpConfig::new(0xB, "b"), t0, SystemTime::now()).unwrap();
    a.close(Some("normal clearing"));
    assert_eq!(a.poll_timeout(), Some(t0)); // at once
    let bye = a.poll_transmit(t0).unwrap();
    let packets = parse_compound(bye.clone()).unwrap();
    // Not sending RTP: RR, then SDES, then BYE.
    assert!(matches!(packets[0], RtcpPacket::ReceiverReport(_)));
    assert!(matches!(packets[1], RtcpPacket::SourceDescription(_)));
    assert!(matches!(&packets[2], RtcpPacket::Goodbye(bye) if bye.sources == [0xA]));
    assert!(a.is_closed());
    assert_eq!(a.poll_transmit(t0 + Duration::from_secs(10)), None);
    b.handle_rtcp(t0, bye).unwrap();
    assert_eq!(
        b.poll_event(),
        Some(RtcpEvent::Bye {
            ssrc: 0xA,
            reason: Some("normal clearing".into())
        })
    );
    assert_eq!(a.stats().byes_sent, 1);
}

#[test]
fn malformed_rtcp_is_refused_and_counted() {
    let t0 = Instant::now();
    let mut b = RtcpSession::new(RtcpConfig::new(0xB, "b"), t0, SystemTime::now()).unwrap();
    let err = b
        .handle_rtcp(t0, Bytes::from_static(&[0x80, 201, 0, 9]))
        .unwrap_err();
    assert!(matches!(
        err,
        rtcp::RtcpError::LengthMismatch { offset: 0, .. }
    ));
    assert_eq!((b.stats().received, b.stats().malformed), (1, 1));
}

#[test]
fn a_peer_cycling_ssrcs_cannot_grow_memory() {
    let t0 = Instant::now();
    let mut b = RtcpSession::new(RtcpConfig::new(0xB, "b"), t0, SystemTime::now()).unwrap();
    for ssrc in 0..1000u32 {
        b.on_rtp_received(
            t0 + Duration::from_millis(u64::from(ssrc)),
            &rtp(ssrc, 1, 0),
        );
    }
    assert_eq!(b.sources().count(), 4);
    assert!(b.source(999).is_some());
    assert!(b.source(0).is_none());
}

#[test]
fn bad_config_names_the_setting() {
    let mut config = RtcpConfig::new(1, &"x".repeat(300));
    let err = RtcpSession::new(config.clone(), Instant::now(), SystemTime::now()).unwrap_err();
    assert!(err.to_string().starts_with("RTCP setting cname = "));
    config.cname = "ok".into();
    config.interval = Duration::from_millis(10);
    let err = RtcpSession::new(config, Instant::now(), SystemTime::now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "RTCP setting interval = 10ms is invalid: must be between 100 ms and 1 hour"
    );
}
