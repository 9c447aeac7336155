//! Arbitrary datagrams from arbitrary sources, re-INVITEs and time jumps: the relay never
//! panics and never sends to an address that was neither signaled nor latched.

/// Named `relay` so that `cargo test -p freya-media relay` selects these tests.
mod relay {

    use std::collections::HashSet;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};
    use freya_media::relay::{
        Direction, LegConfig, LegId, PortPair, Relay, RelayConfig, RelayEvent, RemoteMedia,
    };
    use freya_media::rtp::RtpHeader;
    use proptest::prelude::*;

    const SOURCES: [&str; 8] = [
        "198.51.100.7:4000",  // A signaled
        "198.51.100.7:4001",  // A's RTCP
        "198.51.100.7:4100",  // A's IP, another port
        "192.0.2.20:6000",    // B signaled
        "192.0.2.20:6001",    // B's RTCP
        "203.0.113.50:31000", // a NAT'd peer
        "203.0.113.66:40000", // an attacker
        "0.0.0.0:4000",       // an unspecified source
    ];

    #[derive(Debug, Clone)]
    enum Step {
        Packet {
            leg: bool,
            source: usize,
            bytes: Vec<u8>,
        },
        Rtp {
            leg: bool,
            source: usize,
            ssrc: u32,
            seq: u16,
            pt: u8,
        },
        Update {
            leg: bool,
            source: Option<usize>,
            direction: u8,
            mux: bool,
        },
        Wait(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (
                any::<bool>(),
                0..8usize,
                proptest::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(leg, source, bytes)| Step::Packet { leg, source, bytes }),
            (any::<bool>(), 0..8usize, 0..3u32, 0..12u16, 0..128u8).prop_map(
                |(leg, source, ssrc, seq, pt)| Step::Rtp {
                    leg,
                    source,
                    ssrc,
                    seq,
                    pt
                }
            ),
            (
                any::<bool>(),
                proptest::option::of(0..8usize),
                0..4u8,
                any::<bool>()
            )
                .prop_map(|(leg, source, direction, mux)| Step::Update {
                    leg,
                    source,
                    direction,
                    mux
                }),
            (0..5_000u64).prop_map(Step::Wait),
        ]
    }

    fn leg_id(b: bool) -> LegId {
        if b {
            LegId::A
        } else {
            LegId::B
        }
    }

    fn signaled_set(remote: &RemoteMedia, allowed: &mut HashSet<SocketAddr>) {
        allowed.extend(remote.rtp_destination());
        allowed.extend(remote.rtcp_destination());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_never_sends_to_an_unknown_address(steps in proptest::collection::vec(step(), 0..120)) {
            let sources: Vec<SocketAddr> = SOURCES.iter().map(|s| s.parse().unwrap()).collect();
            let mut now = Instant::now();
            let a = RemoteMedia::new(sources[0]);
            let b = RemoteMedia::new(sources[3]);
            let mut relay = Relay::new(
                now,
                RelayConfig { rtp_timeout: Some(Duration::from_secs(3)), ..RelayConfig::default() },
                LegConfig::new(PortPair { rtp: 10_000, rtcp: 10_001 }, a),
                LegConfig::new(PortPair { rtp: 10_002, rtcp: 10_003 }, b),
            ).unwrap();
            let mut allowed = HashSet::new();
            signaled_set(&a, &mut allowed);
            signaled_set(&b, &mut allowed);
            for step in steps {
                match step {
                    Step::Packet { leg, source, bytes } => {
                        relay.handle_packet(now, leg_id(leg), sources[source], Bytes::from(bytes));
                    }
                    Step::Rtp { leg, source, ssrc, seq, pt } => {
                        let mut wire = BytesMut::new();
                        RtpHeader::new(pt, seq, 0, ssrc).write(&[0; 4], &mut wire).unwrap();
                        relay.handle_packet(now, leg_id(leg), sources[source], wire.freeze());
                    }
                    Step::Update { leg, source, direction, mux } => {
                        let remote = RemoteMedia {
                            addr: source.map(|i| sources[i]),
                            rtcp: None,
                            rtcp_mux: mux,
                            direction: [Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive][usize::from(direction)],
                        };
                        signaled_set(&remote, &mut allowed);
                        relay.update_remote(now, leg_id(leg), remote);
                    }
                    Step::Wait(ms) => {
                        now += Duration::from_millis(ms);
                        if relay.poll_timeout().is_some_and(|t| t <= now) {
                            relay.handle_timeout(now);
                        }
                    }
                }
                while let Some(event) = relay.poll_event() {
                    match event {
                        RelayEvent::Latched { source, .. } => { allowed.insert(source); }
                        RelayEvent::Relatched { to, .. } => { allowed.insert(to); }
                        RelayEvent::RtcpLatched { source, .. } => { allowed.insert(source); }
                        _ => {}
                    }
                }
                while let Some(t) = relay.poll_transmit() {
                    prop_assert!(allowed.contains(&t.destination), "sent to {} (allowed {:?})", t.destination, allowed);
                    prop_assert!(!t.destination.ip().is_unspecified());
                    let held = relay.leg_config(t.leg).remote.is_hold();
                    prop_assert!(!held, "sent to a held leg");
                    let ports = relay.leg_config(t.leg).ports;
                    prop_assert!(t.local_port == ports.rtp || t.local_port == ports.rtcp);
                }
            }
        }
    }
}
