//! The sans-IO relay driven in virtual time: no sockets, `Instant`s advanced by hand.

/// Named `relay` so that `cargo test -p freya-media relay` selects these tests.
mod relay {

    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};
    use freya_media::relay::{
        Direction, DropReason, LatchReason, LegConfig, LegId, PacketKind, PacketOutcome, PortPair,
        Relay, RelayConfig, RelayEvent, RemoteMedia, Transmit,
    };
    use freya_media::rtp::RtpHeader;

    const CARRIER: &str = "198.51.100.7:4000";
    const AGENT: &str = "192.0.2.20:6000";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn rtp(ssrc: u32, seq: u16, payload: &[u8]) -> Bytes {
        let mut wire = BytesMut::new();
        RtpHeader::new(0, seq, u32::from(seq) * 160, ssrc)
            .write(payload, &mut wire)
            .unwrap();
        wire.freeze()
    }

    /// An RTCP receiver report with no blocks (8 bytes) from `ssrc`.
    fn rtcp_rr(ssrc: u32) -> Bytes {
        let mut v = vec![0x80, 201, 0, 1];
        v.extend_from_slice(&ssrc.to_be_bytes());
        Bytes::from(v)
    }

    fn relay_with(config: RelayConfig, a: RemoteMedia, b: RemoteMedia, t0: Instant) -> Relay {
        Relay::new(
            t0,
            config,
            LegConfig::new(
                PortPair {
                    rtp: 10_000,
                    rtcp: 10_001,
                },
                a,
            ),
            LegConfig::new(
                PortPair {
                    rtp: 10_002,
                    rtcp: 10_003,
                },
                b,
            ),
        )
        .unwrap()
    }

    fn relay(t0: Instant) -> Relay {
        relay_with(
            RelayConfig::default(),
            RemoteMedia::new(addr(CARRIER)),
            RemoteMedia::new(addr(AGENT)),
            t0,
        )
    }

    fn transmits(relay: &mut Relay) -> Vec<Transmit> {
        std::iter::from_fn(|| relay.poll_transmit()).collect()
    }

    fn events(relay: &mut Relay) -> Vec<RelayEvent> {
        std::iter::from_fn(|| relay.poll_event()).collect()
    }

    #[test]
    fn straight_relay_both_ways_byte_for_byte_without_copy() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        for seq in 0..10u16 {
            let now = t0 + Duration::from_millis(20 * u64::from(seq));
            let payload: Vec<u8> = (0..160).map(|i| (i as u8) ^ (seq as u8)).collect();
            let from_a = rtp(0xA, seq, &payload);
            let from_b = rtp(0xB, seq, &payload);
            assert_eq!(
                relay.handle_packet(now, LegId::A, addr(CARRIER), from_a.clone()),
                PacketOutcome::Forwarded
            );
            assert_eq!(
                relay.handle_packet(now, LegId::B, addr(AGENT), from_b.clone()),
                PacketOutcome::Forwarded
            );
            let out = transmits(&mut relay);
            assert_eq!(out.len(), 2);
            assert_eq!(
                (
                    out[0].leg,
                    out[0].local_port,
                    out[0].destination,
                    out[0].kind
                ),
                (LegId::B, 10_002, addr(AGENT), PacketKind::Rtp)
            );
            assert_eq!(out[0].payload, from_a);
            assert_eq!(out[0].payload.as_ptr(), from_a.as_ptr(), "payload copied");
            assert_eq!(
                (out[1].leg, out[1].local_port, out[1].destination),
                (LegId::A, 10_000, addr(CARRIER))
            );
            assert_eq!(out[1].payload, from_b);
            assert_eq!(out[1].payload.as_ptr(), from_b.as_ptr(), "payload copied");
        }
        let ev = events(&mut relay);
        assert_eq!(
            ev,
            vec![
                RelayEvent::Latched {
                    leg: LegId::A,
                    source: addr(CARRIER),
                    ssrc: 0xA,
                    reason: LatchReason::SignaledAddress
                },
                RelayEvent::Latched {
                    leg: LegId::B,
                    source: addr(AGENT),
                    ssrc: 0xB,
                    reason: LatchReason::SignaledAddress
                },
            ]
        );
        let a = relay.stats(LegId::A);
        assert_eq!((a.packets_in, a.packets_out), (10, 10));
        assert_eq!((a.bytes_in, a.bytes_out), (1720, 1720));
        assert_eq!(a.dropped.total(), 0);
        // StreamStats per SSRC, fed from the forwarded packets.
        let streams = relay.streams(LegId::A);
        assert_eq!(streams.len(), 1);
        let s = streams[0].snapshot();
        assert_eq!((s.ssrc, s.packets, s.bytes, s.lost), (0xA, 10, 1600, 0));
    }

    #[test]
    fn nat_peer_latched_after_five_packets_in_sequence() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        let nat = addr("203.0.113.50:31000"); // not the signaled IP
        for seq in 100..104u16 {
            assert_eq!(
                relay.handle_packet(t0, LegId::A, nat, rtp(0x77, seq, &[1; 160])),
                PacketOutcome::Dropped(DropReason::Unverified)
            );
        }
        assert_eq!(relay.latched(LegId::A), None);
        assert!(transmits(&mut relay).is_empty());
        assert_eq!(
            relay.handle_packet(t0, LegId::A, nat, rtp(0x77, 104, &[1; 160])),
            PacketOutcome::Forwarded
        );
        assert_eq!(relay.latched(LegId::A), Some(nat));
        assert_eq!(relay.latched_ssrc(LegId::A), Some(0x77));
        assert!(events(&mut relay).contains(&RelayEvent::Latched {
            leg: LegId::A,
            source: nat,
            ssrc: 0x77,
            reason: LatchReason::Nat { packets: 5 }
        }));
        assert_eq!(relay.stats(LegId::A).dropped.get(DropReason::Unverified), 4);
        // rtp_symmetric: B's media now goes to the NAT address, not the signaled one.
        relay.handle_packet(t0, LegId::B, addr(AGENT), rtp(0xB, 0, &[2; 160]));
        let out = transmits(&mut relay);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].destination, nat);
    }

    #[test]
    fn without_rtp_symmetric_media_goes_to_the_signaled_address() {
        let t0 = Instant::now();
        let mut relay = Relay::new(
            t0,
            RelayConfig::default(),
            LegConfig {
                rtp_symmetric: false,
                ..LegConfig::new(
                    PortPair {
                        rtp: 10_000,
                        rtcp: 10_001,
                    },
                    RemoteMedia::new(addr(CARRIER)),
                )
            },
            LegConfig::new(
                PortPair {
                    rtp: 10_002,
                    rtcp: 10_003,
                },
                RemoteMedia::new(addr(AGENT)),
            ),
        )
        .unwrap();
        let nat = addr("203.0.113.50:31000");
        for seq in 0..5 {
            relay.handle_packet(t0, LegId::A, nat, rtp(1, seq, &[0; 20]));
        }
        assert_eq!(relay.latched(LegId::A), Some(nat));
        transmits(&mut relay);
        relay.handle_packet(t0, LegId::B, addr(AGENT), rtp(2, 0, &[0; 20]));
        assert_eq!(transmits(&mut relay)[0].destination, addr(CARRIER));
    }

    #[test]
    fn bleed_attacker_is_never_latched_and_is_counted() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        let attacker = addr("203.0.113.66:40000");
        let mut forwarded_from_attacker = 0;
        for seq in 0..200u16 {
            let now = t0 + Duration::from_millis(20 * u64::from(seq));
            // The real peer only for the first 50 packets, then it goes quiet: even then an
            // attacker with its own SSRC gets nothing, however long it keeps sending in sequence.
            if seq < 50 {
                relay.handle_packet(now, LegId::A, addr(CARRIER), rtp(0xC0FFEE, seq, &[1; 160]));
            }
            let outcome = relay.handle_packet(now, LegId::A, attacker, rtp(0xBAD, seq, &[9; 160]));
            assert_eq!(outcome, PacketOutcome::Dropped(DropReason::ForeignSource));
            for t in transmits(&mut relay) {
                if t.payload[12] == 9 {
                    forwarded_from_attacker += 1;
                }
            }
        }
        assert_eq!(forwarded_from_attacker, 0);
        assert_eq!(relay.latched(LegId::A), Some(addr(CARRIER)));
        let dropped = relay.stats(LegId::A).dropped;
        assert_eq!(dropped.get(DropReason::ForeignSource), 200);
        assert_eq!(relay.stats(LegId::A).packets_in, 50);
        // One event for the attacker, not 200.
        let drops: Vec<_> = events(&mut relay)
            .into_iter()
            .filter(|e| matches!(e, RelayEvent::Dropped { .. }))
            .collect();
        assert_eq!(
            drops,
            vec![RelayEvent::Dropped {
                leg: LegId::A,
                source: attacker,
                reason: DropReason::ForeignSource
            }]
        );
        // Its RTCP is refused as well.
        assert_eq!(
            relay.handle_packet(t0, LegId::A, attacker, rtcp_rr(0xBAD)),
            PacketOutcome::Dropped(DropReason::ForeignSource)
        );
    }

    #[test]
    fn relatch_only_same_ssrc_after_quiet_time() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        let moved = addr("198.51.100.7:4100"); // the peer's NAT binding changed
        let ms = |n: u64| t0 + Duration::from_millis(n);
        relay.handle_packet(ms(0), LegId::A, addr(CARRIER), rtp(5, 0, &[0; 160]));
        relay.handle_packet(ms(1000), LegId::A, addr(CARRIER), rtp(5, 1, &[0; 160]));
        // Same SSRC, new source, old source quiet only 1.9 s: refused.
        assert_eq!(
            relay.handle_packet(ms(2900), LegId::A, moved, rtp(5, 2, &[0; 160])),
            PacketOutcome::Dropped(DropReason::ForeignSource)
        );
        // Another SSRC from the new source after 5 s of quiet: refused.
        assert_eq!(
            relay.handle_packet(ms(6000), LegId::A, moved, rtp(6, 3, &[0; 160])),
            PacketOutcome::Dropped(DropReason::ForeignSource)
        );
        assert_eq!(relay.latched(LegId::A), Some(addr(CARRIER)));
        // Same SSRC after ≥ 2 s of quiet: re-latched.
        assert_eq!(
            relay.handle_packet(ms(6000), LegId::A, moved, rtp(5, 4, &[0; 160])),
            PacketOutcome::Forwarded
        );
        assert_eq!(relay.latched(LegId::A), Some(moved));
        assert!(events(&mut relay).contains(&RelayEvent::Relatched {
            leg: LegId::A,
            from: addr(CARRIER),
            to: moved,
            ssrc: 5
        }));
        // The old source is now the foreign one.
        assert_eq!(
            relay.handle_packet(ms(6020), LegId::A, addr(CARRIER), rtp(5, 5, &[0; 160])),
            PacketOutcome::Dropped(DropReason::ForeignSource)
        );
        // Media to leg A follows the new source.
        transmits(&mut relay);
        relay.handle_packet(ms(6040), LegId::B, addr(AGENT), rtp(9, 0, &[0; 160]));
        assert_eq!(transmits(&mut relay)[0].destination, moved);
    }

    #[test]
    fn ssrc_change_from_the_latched_source_is_followed() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 0, &[0; 10]));
        relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(2, 500, &[0; 10]));
        assert_eq!(relay.latched_ssrc(LegId::A), Some(2));
        assert!(events(&mut relay).contains(&RelayEvent::SsrcChanged {
            leg: LegId::A,
            old: 1,
            new: 2
        }));
        assert_eq!(relay.streams(LegId::A).len(), 2);
    }

    #[test]
    fn hold_stops_sending_and_resume_restarts_it_with_the_latch_kept() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 0, &[0; 10]));
        relay.handle_packet(t0, LegId::B, addr(AGENT), rtp(2, 0, &[0; 10]));
        assert_eq!(transmits(&mut relay).len(), 2);

        // The carrier puts the call on hold: sendonly. It still sends (music on hold).
        let held = RemoteMedia {
            direction: Direction::SendOnly,
            ..RemoteMedia::new(addr(CARRIER))
        };
        relay.update_remote(t0, LegId::A, held);
        assert_eq!(relay.latched(LegId::A), Some(addr(CARRIER)));
        assert_eq!(
            relay.handle_packet(t0, LegId::B, addr(AGENT), rtp(2, 1, &[0; 10])),
            PacketOutcome::Dropped(DropReason::PeerOnHold)
        );
        assert_eq!(
            relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 1, &[0; 10])),
            PacketOutcome::Forwarded
        );
        let out = transmits(&mut relay);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].destination, addr(AGENT));
        assert_eq!(relay.stats(LegId::A).dropped.get(DropReason::PeerOnHold), 1);

        // RFC 2543 hold: c=0.0.0.0. Nothing is sent to it, the latch stays.
        relay.update_remote(t0, LegId::A, RemoteMedia::new(addr("0.0.0.0:4000")));
        assert_eq!(relay.latched(LegId::A), Some(addr(CARRIER)));
        assert_eq!(
            relay.handle_packet(t0, LegId::B, addr(AGENT), rtp(2, 2, &[0; 10])),
            PacketOutcome::Dropped(DropReason::PeerOnHold)
        );

        // Inactive: packets from the held peer are dropped too.
        let inactive = RemoteMedia {
            direction: Direction::Inactive,
            ..RemoteMedia::new(addr(CARRIER))
        };
        relay.update_remote(t0, LegId::A, inactive);
        assert_eq!(
            relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 2, &[0; 10])),
            PacketOutcome::Dropped(DropReason::DirectionForbids)
        );
        assert_eq!(
            relay
                .stats(LegId::A)
                .dropped
                .get(DropReason::DirectionForbids),
            1
        );

        // Resume with the same address: the latch was kept, media flows both ways again.
        relay.update_remote(t0, LegId::A, RemoteMedia::new(addr(CARRIER)));
        assert_eq!(relay.latched(LegId::A), Some(addr(CARRIER)));
        relay.handle_packet(t0, LegId::B, addr(AGENT), rtp(2, 3, &[0; 10]));
        relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 3, &[0; 10]));
        let out = transmits(&mut relay);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].destination, addr(CARRIER));
        assert!(!events(&mut relay)
            .iter()
            .any(|e| matches!(e, RelayEvent::LatchReset { .. })));
    }

    #[test]
    fn reinvite_to_a_new_address_resets_the_latch() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 0, &[0; 10]));
        let new_addr = addr("198.51.100.99:5000");
        relay.update_remote(t0, LegId::A, RemoteMedia::new(new_addr));
        assert_eq!(relay.latched(LegId::A), None);
        assert!(events(&mut relay).contains(&RelayEvent::LatchReset {
            leg: LegId::A,
            previous: addr(CARRIER)
        }));
        // The old source is no longer the signaled IP: a single packet does not latch it.
        assert_eq!(
            relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 1, &[0; 10])),
            PacketOutcome::Dropped(DropReason::Unverified)
        );
        assert_eq!(
            relay.handle_packet(t0, LegId::A, new_addr, rtp(3, 0, &[0; 10])),
            PacketOutcome::Forwarded
        );
    }

    #[test]
    fn rtp_timeout_fires_at_the_right_instant_and_not_during_hold() {
        let t0 = Instant::now();
        let config = RelayConfig {
            rtp_timeout: Some(Duration::from_secs(30)),
            ..RelayConfig::default()
        };
        let mut relay = relay_with(
            config,
            RemoteMedia::new(addr(CARRIER)),
            RemoteMedia::new(addr(AGENT)),
            t0,
        );
        let s = |n: u64| t0 + Duration::from_secs(n);
        relay.handle_packet(s(10), LegId::A, addr(CARRIER), rtp(1, 0, &[0; 10]));
        relay.handle_packet(s(10), LegId::B, addr(AGENT), rtp(2, 0, &[0; 10]));
        relay.handle_packet(s(20), LegId::B, addr(AGENT), rtp(2, 1, &[0; 10]));
        events(&mut relay);
        assert_eq!(relay.poll_timeout(), Some(s(40))); // A last heard at 10 s
        relay.handle_timeout(s(40) - Duration::from_micros(1));
        assert_eq!(relay.poll_event(), None);
        relay.handle_timeout(s(40));
        assert_eq!(
            events(&mut relay),
            vec![RelayEvent::RtpTimeout {
                leg: LegId::A,
                silent_for: Duration::from_secs(30)
            }]
        );
        // Raised once; the next deadline is B's.
        assert_eq!(relay.poll_timeout(), Some(s(50)));
        relay.handle_timeout(s(45));
        assert_eq!(relay.poll_event(), None);

        // B's peer holds the call at 45 s: no timeout however long the silence.
        let hold = RemoteMedia {
            direction: Direction::SendOnly,
            ..RemoteMedia::new(addr(AGENT))
        };
        relay.update_remote(s(45), LegId::B, hold);
        assert_eq!(relay.poll_timeout(), None);
        relay.handle_timeout(s(500));
        assert_eq!(relay.poll_event(), None);

        // Resume at 600 s: the clock restarts for both legs.
        relay.update_remote(s(600), LegId::B, RemoteMedia::new(addr(AGENT)));
        assert_eq!(relay.poll_timeout(), Some(s(630)));
        relay.handle_packet(s(610), LegId::A, addr(CARRIER), rtp(1, 1, &[0; 10]));
        relay.handle_timeout(s(630));
        assert_eq!(
            events(&mut relay),
            vec![RelayEvent::RtpTimeout {
                leg: LegId::B,
                silent_for: Duration::from_secs(30)
            }]
        );
        assert_eq!(relay.poll_timeout(), Some(s(640)));
    }

    #[test]
    fn rtcp_mux_is_forwarded_to_the_other_legs_rtcp_destination() {
        let t0 = Instant::now();
        let mux = |a: &str| RemoteMedia {
            rtcp_mux: true,
            ..RemoteMedia::new(addr(a))
        };
        let nat_b = addr("203.0.113.80:7000");
        let mut relay = relay_with(RelayConfig::default(), mux(CARRIER), mux(AGENT), t0);
        // RTCP from the carrier before any RTP: its signaled IP, accepted; to B's mux address.
        let rr = rtcp_rr(0xA);
        assert_eq!(
            relay.handle_packet(t0, LegId::A, addr(CARRIER), rr.clone()),
            PacketOutcome::Forwarded
        );
        let out = transmits(&mut relay);
        assert_eq!(
            (
                out[0].leg,
                out[0].local_port,
                out[0].destination,
                out[0].kind
            ),
            (LegId::B, 10_002, addr(AGENT), PacketKind::Rtcp)
        );
        assert_eq!(out[0].payload.as_ptr(), rr.as_ptr());
        // RTCP from a NAT'd B before it latched: refused.
        assert_eq!(
            relay.handle_packet(t0, LegId::B, nat_b, rtcp_rr(0xB)),
            PacketOutcome::Dropped(DropReason::Unverified)
        );
        for seq in 0..5 {
            relay.handle_packet(t0, LegId::B, nat_b, rtp(0xB, seq, &[0; 10]));
        }
        assert_eq!(relay.latched(LegId::B), Some(nat_b));
        transmits(&mut relay);
        // Now B's RTCP passes and A's RTCP goes to B's latched address.
        assert_eq!(
            relay.handle_packet(t0, LegId::B, nat_b, rtcp_rr(0xB)),
            PacketOutcome::Forwarded
        );
        relay.handle_packet(t0, LegId::A, addr(CARRIER), rtcp_rr(0xA));
        let out = transmits(&mut relay);
        assert_eq!(out[0].destination, addr(CARRIER));
        assert_eq!(out[1].destination, nat_b);
        assert_eq!(relay.stats(LegId::B).rtcp_out, 2);
        assert_eq!(relay.stats(LegId::B).rtcp_in, 1);
    }

    #[test]
    fn rtcp_without_mux_uses_the_rtcp_ports() {
        let t0 = Instant::now();
        let mut relay = relay(t0);
        relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 0, &[0; 10]));
        // Carrier RTCP from its RTCP port; goes out B's RTCP port to B's port + 1.
        let carrier_rtcp = addr("198.51.100.7:4001");
        relay.handle_packet(t0, LegId::A, carrier_rtcp, rtcp_rr(1));
        let out = transmits(&mut relay);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[1].local_port, out[1].destination),
            (10_003, addr("192.0.2.20:6001"))
        );
        // B's RTCP comes back to where the carrier's RTCP came from.
        relay.handle_packet(t0, LegId::B, addr("192.0.2.20:6001"), rtcp_rr(2));
        let out = transmits(&mut relay);
        assert_eq!(
            (out[0].local_port, out[0].destination),
            (10_001, carrier_rtcp)
        );
        assert!(events(&mut relay).contains(&RelayEvent::RtcpLatched {
            leg: LegId::A,
            source: carrier_rtcp
        }));
    }

    #[test]
    fn garbage_and_missing_destinations_are_counted() {
        let t0 = Instant::now();
        let mut relay = relay_with(
            RelayConfig::default(),
            RemoteMedia::new(addr(CARRIER)),
            RemoteMedia::default(), // B's SDP not known yet
            t0,
        );
        assert_eq!(
            relay.handle_packet(t0, LegId::A, addr(CARRIER), Bytes::from_static(b"hello")),
            PacketOutcome::Dropped(DropReason::Malformed)
        );
        assert_eq!(
            relay.handle_packet(t0, LegId::A, addr(CARRIER), rtp(1, 0, &[0; 10])),
            PacketOutcome::Dropped(DropReason::NoDestination)
        );
        assert_eq!(relay.stats(LegId::A).dropped.get(DropReason::Malformed), 1);
        assert_eq!(
            relay.stats(LegId::B).dropped.get(DropReason::NoDestination),
            1
        );
    }
}
