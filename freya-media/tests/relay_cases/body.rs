// The relay tests shared by the tokio shell (relay_shell.rs) and the io_uring thread
// (relay_ring.rs, relay_ring_small.rs): each includer defines `spawn_relay` and
// `spawn_endpoint` for its shell.

    use std::f64::consts::PI;
    use std::future::Future;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};
    use freya_media::codec::G711Law;
    use freya_media::relay::{
        Direction, DropReason, LatchReason, LegId, LegSetup,
        MediaPacket, PortError, PortPool, RelayEvent, RelayEvents, RemoteMedia, SharedPortPool,
        ShellConfig, ShellError, ShellEvent,
    };
    use freya_media::rtp::{RtpHeader, RtpPacket};
    use tokio::net::UdpSocket;

    const RATE: f64 = 8000.0;
    /// Generous bound for anything that should happen "now" on loopback.
    const WAIT: Duration = Duration::from_secs(3);

    async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
        match tokio::time::timeout(WAIT, fut).await {
            Ok(v) => v,
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }

    fn config() -> ShellConfig {
        ShellConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            ..ShellConfig::default()
        }
    }

    /// A pool of `pairs` pairs from `first` (each test its own range: tests run in parallel),
    /// below the kernel's ephemeral ports (32768–60999 on Linux), which the tests' own peers
    /// bind (`127.0.0.1:0`) and could otherwise take from a pool.
    fn pool(first: u16, pairs: u16) -> SharedPortPool {
        SharedPortPool::new(PortPool::new(first..=first + 2 * pairs - 1).unwrap())
    }

    async fn peer() -> (UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    /// `seconds` of a sine at `freq` Hz, amplitude 8000, as 20 ms PCMU frames (160 bytes).
    fn tone(freq: f64, seconds: f64) -> Vec<Vec<u8>> {
        let samples: Vec<i16> = (0..(seconds * RATE) as usize)
            .map(|n| (8000.0 * (2.0 * PI * freq * n as f64 / RATE).sin()) as i16)
            .collect();
        samples
            .chunks(160)
            .map(|frame| {
                let mut out = Vec::new();
                G711Law::Ulaw.encode_into(frame, &mut out);
                out
            })
            .collect()
    }

    fn rtp(ssrc: u32, seq: u16, payload: &[u8]) -> Bytes {
        let mut wire = BytesMut::new();
        RtpHeader::new(0, seq, u32::from(seq) * 160, ssrc)
            .write(payload, &mut wire)
            .unwrap();
        wire.freeze()
    }

    /// The frequency from the positive-going zero crossings, interpolated between samples.
    fn frequency(samples: &[i16]) -> f64 {
        let crossings: Vec<f64> = samples
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0 && w[1] >= 0)
            .map(|(i, w)| i as f64 + f64::from(w[0]) / (f64::from(w[0]) - f64::from(w[1])))
            .collect();
        assert!(
            crossings.len() > 2,
            "no tone: {} crossings",
            crossings.len()
        );
        let span = crossings[crossings.len() - 1] - crossings[0];
        (crossings.len() - 1) as f64 / span * RATE
    }

    /// The share of the signal's energy at `freq` (Goertzel): about 1 for a pure tone there.
    fn purity(samples: &[i16], freq: f64) -> f64 {
        let w = 2.0 * PI * freq / RATE;
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in samples {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        let energy: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
        2.0 * power / (samples.len() as f64 * energy)
    }

    /// Whether `samples` are a tone of `freq` ± 5 Hz, and nearly nothing else.
    fn is_tone(samples: &[i16], freq: f64) -> bool {
        (frequency(samples) - freq).abs() <= 5.0 && purity(samples, freq) > 0.9
    }

    fn decode(payloads: &[Bytes]) -> Vec<i16> {
        let mut pcm = Vec::new();
        for p in payloads {
            G711Law::Ulaw.decode_into(p, &mut pcm);
        }
        pcm
    }

    #[test]
    fn the_tone_check_can_fail() {
        let frames = |f| {
            let v: Vec<Bytes> = tone(f, 1.0).into_iter().map(Bytes::from).collect();
            decode(&v)
        };
        let khz = frames(1000.0);
        assert!(
            (frequency(&khz) - 1000.0).abs() < 0.5,
            "{}",
            frequency(&khz)
        );
        assert!(is_tone(&khz, 1000.0));
        let a440 = frames(440.0);
        assert!(!is_tone(&a440, 1000.0));
        assert!(is_tone(&a440, 440.0));
        assert!(!is_tone(&frames(1008.0), 1000.0));
    }

    /// Receives `n` datagrams, each from `from`; their bytes.
    async fn recv_n(socket: &UdpSocket, n: usize, from: SocketAddr) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        while out.len() < n {
            let (len, source) = within("a relayed packet", socket.recv_from(&mut buf))
                .await
                .unwrap();
            assert_eq!(source, from, "packet not from the relay's leg address");
            out.push(Bytes::copy_from_slice(&buf[..len]));
        }
        out
    }

    /// Asserts that nothing arrives on `socket` for 200 ms.
    async fn silent(socket: &UdpSocket) {
        let mut buf = [0u8; 2048];
        let got =
            tokio::time::timeout(Duration::from_millis(200), socket.recv_from(&mut buf)).await;
        assert!(got.is_err(), "unexpected packet: {got:?}");
    }

    fn drain(events: &mut RelayEvents) -> Vec<RelayEvent> {
        std::iter::from_fn(|| events.try_recv())
            .filter_map(|e| match e {
                ShellEvent::Relay(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Sends `frames` from `socket` to `to` as RTP of `ssrc` from `first_seq`; the packets.
    async fn send_frames(
        socket: &UdpSocket,
        to: SocketAddr,
        ssrc: u32,
        first_seq: u16,
        frames: &[Vec<u8>],
    ) -> Vec<Bytes> {
        let mut sent = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let packet = rtp(ssrc, first_seq + i as u16, frame);
            socket.send_to(&packet, to).await.unwrap();
            sent.push(packet);
            if i % 10 == 9 {
                tokio::task::yield_now().await;
            }
        }
        sent
    }

    fn payloads(packets: &[Bytes]) -> Vec<Bytes> {
        packets
            .iter()
            .map(|p| RtpPacket::parse(p.clone()).unwrap().payload().clone())
            .collect()
    }

    #[tokio::test]
    async fn tone_both_ways_and_a_bleed_attempt_is_dropped() {
        let pool = pool(22_000, 4);
        let (a, a_addr) = peer().await;
        let (b, b_addr) = peer().await;
        let (c, c_addr) = peer().await;
        let (relay, mut events) = spawn_relay(
            &pool,
            config(),
            LegSetup::new(RemoteMedia::new(a_addr)),
            LegSetup::new(RemoteMedia::new(b_addr)),
        )
        .unwrap();
        let relay_a = relay.local(LegId::A).unwrap();
        let relay_b = relay.local(LegId::B).unwrap();
        assert_eq!(relay_a.rtcp.port(), relay_a.rtp.port() + 1);
        assert_ne!(relay_a.rtp, relay_b.rtp);

        // A → B: one second of 1 kHz, 50 packets, byte for byte.
        let sent = send_frames(&a, relay_a.rtp, 0xA, 0, &tone(1000.0, 1.0)).await;
        let got = recv_n(&b, 50, relay_b.rtp).await;
        assert_eq!(got, sent);
        let pcm = decode(&payloads(&got));
        assert_eq!(pcm.len(), 8000);
        assert!(is_tone(&pcm, 1000.0), "B heard {} Hz", frequency(&pcm));

        // B → A (symmetric): A hears 440 Hz from the relay's leg-A address.
        let back = send_frames(&b, relay_b.rtp, 0xB, 0, &tone(440.0, 1.0)).await;
        let got = recv_n(&a, 50, relay_a.rtp).await;
        assert_eq!(got, back);
        let pcm = decode(&payloads(&got));
        assert!(is_tone(&pcm, 440.0) && !is_tone(&pcm, 1000.0));

        // C, another source, sends to the relay's A leg mid-call: neither latched nor forwarded.
        send_frames(&c, relay_a.rtp, 0xC, 0, &tone(1000.0, 0.2)).await;
        let more = send_frames(&a, relay_a.rtp, 0xA, 50, &tone(1000.0, 0.1)).await;
        let got = recv_n(&b, 5, relay_b.rtp).await;
        assert_eq!(got, more, "B received something else than A's packets");
        silent(&b).await;
        let stats = within("stats", relay.stats()).await.unwrap();
        let leg_a = stats.leg(LegId::A);
        assert_eq!(leg_a.latched, Some(a_addr));
        assert_eq!(leg_a.counters.dropped.get(DropReason::ForeignSource), 10);
        assert_eq!(leg_a.counters.packets_in, 55);
        assert_eq!(stats.leg(LegId::B).counters.packets_out, 55);
        assert_eq!(stats.leg(LegId::B).counters.packets_in, 50);
        assert_eq!(leg_a.streams.len(), 1);
        assert_eq!((leg_a.streams[0].ssrc, leg_a.streams[0].packets), (0xA, 55));
        let events = drain(&mut events);
        assert!(events.contains(&RelayEvent::Latched {
            leg: LegId::A,
            source: a_addr,
            ssrc: 0xA,
            reason: LatchReason::SignaledAddress
        }));
        assert!(events.contains(&RelayEvent::Dropped {
            leg: LegId::A,
            source: c_addr,
            reason: DropReason::ForeignSource
        }));

        let last = within("close", relay.close()).await.unwrap();
        assert_eq!(
            last.leg(LegId::A)
                .counters
                .dropped
                .get(DropReason::ForeignSource),
            10
        );
        assert_eq!(pool.in_use(), 0);
    }

    #[tokio::test]
    async fn unsignaled_peer_is_latched_after_five_packets_and_answered_there() {
        let pool = pool(22_010, 2);
        let (a, a_addr) = peer().await;
        let (b, b_addr) = peer().await;
        // A's SDP not known yet (or its NAT rewrote it): latch on 5 packets in sequence.
        let (relay, _events) = spawn_relay(
            &pool,
            config(),
            LegSetup::default(),
            LegSetup::new(RemoteMedia::new(b_addr)),
        )
        .unwrap();
        let relay_a = relay.local(LegId::A).unwrap();
        let relay_b = relay.local(LegId::B).unwrap();
        let sent = send_frames(&a, relay_a.rtp, 0xA, 100, &tone(1000.0, 0.2)).await;
        // The first 4 are unverified; from the 5th on they are forwarded.
        let got = recv_n(&b, 6, relay_b.rtp).await;
        assert_eq!(got, sent[4..]);
        let back = send_frames(&b, relay_b.rtp, 0xB, 0, &tone(440.0, 0.1)).await;
        assert_eq!(recv_n(&a, 5, relay_a.rtp).await, back);
        let stats = relay.close().await.unwrap();
        assert_eq!(stats.leg(LegId::A).latched, Some(a_addr));
        assert_eq!(
            stats
                .leg(LegId::A)
                .counters
                .dropped
                .get(DropReason::Unverified),
            4
        );
    }

    #[tokio::test]
    async fn hold_stops_sending_without_tearing_down() {
        let pool = pool(22_020, 2);
        let (a, a_addr) = peer().await;
        let (b, b_addr) = peer().await;
        let (relay, _events) = spawn_relay(
            &pool,
            config(),
            LegSetup::new(RemoteMedia::new(a_addr)),
            LegSetup::new(RemoteMedia::new(b_addr)),
        )
        .unwrap();
        let (relay_a, relay_b) = (
            relay.local(LegId::A).unwrap(),
            relay.local(LegId::B).unwrap(),
        );
        let frames = tone(1000.0, 0.3);
        let sent = send_frames(&a, relay_a.rtp, 1, 0, &frames[..5]).await;
        assert_eq!(recv_n(&b, 5, relay_b.rtp).await, sent);

        // B puts the call on hold (re-INVITE with a=sendonly).
        let held = RemoteMedia {
            direction: Direction::SendOnly,
            ..RemoteMedia::new(b_addr)
        };
        relay.update_remote(LegId::B, held).unwrap();
        send_frames(&a, relay_a.rtp, 1, 5, &frames[5..10]).await;
        silent(&b).await;
        // B's own (sendonly) media still reaches A: the leg is up.
        let from_b = send_frames(&b, relay_b.rtp, 2, 0, &frames[..3]).await;
        assert_eq!(recv_n(&a, 3, relay_a.rtp).await, from_b);
        let stats = relay.stats().await.unwrap();
        assert_eq!(
            stats
                .leg(LegId::B)
                .counters
                .dropped
                .get(DropReason::PeerOnHold),
            5
        );

        // Resume: media flows to B again.
        relay
            .update_remote(LegId::B, RemoteMedia::new(b_addr))
            .unwrap();
        let sent = send_frames(&a, relay_a.rtp, 1, 10, &frames[10..15]).await;
        assert_eq!(recv_n(&b, 5, relay_b.rtp).await, sent);
        relay.close().await.unwrap();
    }

    #[tokio::test]
    async fn rtp_timeout_is_reported_after_the_configured_silence() {
        let pool = pool(22_030, 2);
        let (a, a_addr) = peer().await;
        let (_b, b_addr) = peer().await;
        let timeout = Duration::from_millis(300);
        let mut config = config();
        config.relay.rtp_timeout = Some(timeout);
        let (relay, mut events) = spawn_relay(
            &pool,
            config,
            LegSetup::new(RemoteMedia::new(a_addr)),
            LegSetup::new(RemoteMedia::new(b_addr)),
        )
        .unwrap();
        let relay_a = relay.local(LegId::A).unwrap();
        let frames = tone(1000.0, 0.1);
        // A talks for 100 ms then stops.
        for (i, frame) in frames.iter().enumerate() {
            a.send_to(&rtp(1, i as u16, frame), relay_a.rtp)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let last_sent = Instant::now();
        let (mut timed_out_a, mut timed_out_b) = (None, None);
        while timed_out_a.is_none() || timed_out_b.is_none() {
            let event = within("RtpTimeout events", events.recv()).await.unwrap();
            if let ShellEvent::Relay(RelayEvent::RtpTimeout { leg, silent_for }) = event {
                let slot = if leg == LegId::A {
                    &mut timed_out_a
                } else {
                    &mut timed_out_b
                };
                assert!(slot.is_none(), "timeout reported twice for {leg:?}");
                *slot = Some((Instant::now(), silent_for));
            }
        }
        let (at, silent_for) = timed_out_a.unwrap();
        assert!(silent_for >= timeout, "{silent_for:?}");
        // Not before 300 ms of silence (less the 20 ms after the last packet), and not late.
        let waited = at - last_sent;
        assert!(waited >= timeout - Duration::from_millis(25), "{waited:?}");
        assert!(waited < timeout + Duration::from_millis(500), "{waited:?}");
        // B never sent: its timeout counts from the relay's start.
        assert!(timed_out_b.unwrap().1 >= timeout);
        relay.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_pair_marked_bad_is_tried_again_once_the_pool_runs_out() {
        let pool = pool(22_060, 2);
        // Another process holds the first pair: with one good pair left, a relay (two
        // pairs) cannot start; the retry of the bad pair inside the call fails too.
        let squatter = std::net::UdpSocket::bind("127.0.0.1:22060").unwrap();
        let err =
            spawn_relay(&pool, config(), LegSetup::default(), LegSetup::default()).unwrap_err();
        assert!(
            matches!(err, ShellError::Ports(PortError::Exhausted { bad: 1, .. })),
            "{err}"
        );
        assert_eq!(pool.in_use(), 0, "nothing leaked");
        // The squatter lets go: the next call binds the pair it held, no restart needed.
        drop(squatter);
        let (relay, _e) =
            spawn_relay(&pool, config(), LegSetup::default(), LegSetup::default()).unwrap();
        let mut ports = [
            relay.local(LegId::A).unwrap().rtp.port(),
            relay.local(LegId::B).unwrap().rtp.port(),
        ];
        ports.sort_unstable();
        assert_eq!(ports, [22_060, 22_062]);
        assert!(pool.stats().restored_bad >= 1);
        within("close", relay.close()).await.unwrap();
    }

    #[tokio::test]
    async fn ports_are_released_on_close_and_on_drop_never_while_open() {
        let pool = pool(22_040, 3);
        // Another socket holds the first pair's RTP port: that pair is skipped and marked bad.
        let squatter = std::net::UdpSocket::bind("127.0.0.1:22040").unwrap();
        let (relay, _e) =
            spawn_relay(&pool, config(), LegSetup::default(), LegSetup::default()).unwrap();
        let ports = [
            relay.local(LegId::A).unwrap().rtp.port(),
            relay.local(LegId::B).unwrap().rtp.port(),
        ];
        assert_eq!(ports, [22_042, 22_044]);
        assert_eq!((pool.in_use(), pool.stats().marked_bad), (2, 1));
        // Exhausted: a typed error, nothing leaked.
        let err =
            spawn_relay(&pool, config(), LegSetup::default(), LegSetup::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ShellError::Ports(PortError::Exhausted {
                    in_use: 2,
                    bad: 1,
                    ..
                })
            ),
            "{err}"
        );
        assert_eq!(pool.in_use(), 2);
        // The ports are live: binding them fails.
        assert!(std::net::UdpSocket::bind("127.0.0.1:22042").is_err());

        within("close", relay.close()).await.unwrap();
        assert_eq!(pool.in_use(), 0);
        // Closed for real: the ports can be bound again (then given back).
        for port in [22_042u16, 22_043, 22_044, 22_045] {
            drop(std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap());
        }
        drop(squatter);

        // Drop without close: released once the task runs.
        let (relay, _e) =
            spawn_relay(&pool, config(), LegSetup::default(), LegSetup::default()).unwrap();
        assert_eq!(pool.in_use(), 2);
        drop(relay);
        within("release after drop", async {
            while pool.in_use() != 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        // An endpoint books one pair.
        let (relay, endpoint, _e) = spawn_endpoint(&pool, config(), LegSetup::default()).unwrap();
        assert_eq!(pool.in_use(), 1);
        drop(endpoint);
        relay.close().await.unwrap();
        assert_eq!(pool.in_use(), 0);
    }

    #[tokio::test]
    async fn endpoint_echo_terminates_the_leg_in_process() {
        let pool = pool(22_050, 2);
        let (a, a_addr) = peer().await;
        let (c, _) = peer().await;
        let (relay, mut endpoint, _events) =
            spawn_endpoint(&pool, config(), LegSetup::new(RemoteMedia::new(a_addr))).unwrap();
        assert!(relay.local(LegId::B).is_none());
        assert_eq!(
            relay.update_remote(LegId::B, RemoteMedia::default()),
            Err(ShellError::NoSocket { leg: LegId::B })
        );
        let relay_a = relay.local(LegId::A).unwrap();

        let sent = send_frames(&a, relay_a.rtp, 0xA, 0, &tone(1000.0, 1.0)).await;
        // Bleed from C after A latched: never reaches the endpoint.
        send_frames(&c, relay_a.rtp, 0xC, 0, &tone(440.0, 0.1)).await;
        let mut heard = Vec::new();
        while heard.len() < 50 {
            match within("endpoint media", endpoint.recv()).await.unwrap() {
                MediaPacket::Rtp(p) => heard.push(p),
                MediaPacket::Rtcp(_) => panic!("no RTCP was sent"),
            }
        }
        assert!(heard.iter().all(|p| p.ssrc() == 0xA));
        let raw: Vec<Bytes> = heard.iter().map(|p| p.raw().clone()).collect();
        assert_eq!(raw, sent);
        let pcm = decode(
            &heard
                .iter()
                .map(|p| p.payload().clone())
                .collect::<Vec<_>>(),
        );
        assert!(is_tone(&pcm, 1000.0));

        // Echo back with our own SSRC: A hears it from the relay's leg address.
        let sender = endpoint.sender();
        let mut echoed = Vec::new();
        for p in &heard {
            let packet = rtp(0xE, p.sequence(), p.payload());
            sender.try_send(packet.clone()).unwrap();
            echoed.push(packet);
            if echoed.len() % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let got = recv_n(&a, 50, relay_a.rtp).await;
        assert_eq!(got, echoed);
        assert!(is_tone(&decode(&payloads(&got)), 1000.0));
        // Garbage from in-process code is refused and counted like a peer's.
        sender.try_send(Bytes::from_static(b"not rtp")).unwrap();
        silent(&a).await;

        let stats = relay.close().await.unwrap();
        let (leg_a, leg_b) = (stats.leg(LegId::A), stats.leg(LegId::B));
        assert_eq!(leg_a.counters.dropped.get(DropReason::ForeignSource), 5);
        assert_eq!(
            (leg_a.counters.packets_in, leg_a.counters.packets_out),
            (50, 50)
        );
        assert_eq!(leg_b.counters.dropped.get(DropReason::Malformed), 1);
        assert!(leg_b.local.is_none());
        assert_eq!(stats.io.endpoint_overflow, 0);
        assert!(
            endpoint.recv().await.is_none(),
            "endpoint not told of the end"
        );
        assert_eq!(pool.in_use(), 0);
    }

    #[tokio::test]
    async fn tap_sees_every_forwarded_packet_and_rtcp_goes_port_to_port() {
        let pool = pool(22_070, 2);
        let (a, a_addr) = peer().await;
        let (b, b_addr) = peer().await;
        let (b_rtcp, b_rtcp_addr) = peer().await;
        let b_remote = RemoteMedia {
            rtcp: Some(b_rtcp_addr), // a=rtcp (RFC 3605)
            ..RemoteMedia::new(b_addr)
        };
        let (relay, _events) = spawn_relay(
            &pool,
            config(),
            LegSetup::new(RemoteMedia::new(a_addr)),
            LegSetup::new(b_remote),
        )
        .unwrap();
        let mut tap = relay.tap(16).unwrap();
        let (relay_a, relay_b) = (
            relay.local(LegId::A).unwrap(),
            relay.local(LegId::B).unwrap(),
        );
        let sent = send_frames(&a, relay_a.rtp, 1, 0, &tone(1000.0, 0.1)).await;
        assert_eq!(recv_n(&b, 5, relay_b.rtp).await, sent);
        for packet in &sent {
            let tapped = within("tap", tap.recv()).await.unwrap();
            assert_eq!(tapped.from, LegId::A);
            assert_eq!(tapped.packet.bytes(), packet);
        }
        // RTCP (no rtcp-mux) from A's IP to the leg's RTCP port leaves B's RTCP port.
        let rr: &[u8] = &[0x80, 201, 0, 1, 0, 0, 0, 1];
        a.send_to(rr, relay_a.rtcp).await.unwrap();
        assert_eq!(
            recv_n(&b_rtcp, 1, relay_b.rtcp).await,
            vec![Bytes::from_static(rr)]
        );
        let tapped = within("tap rtcp", tap.recv()).await.unwrap();
        assert_eq!(tapped.packet, MediaPacket::Rtcp(Bytes::from_static(rr)));
        let stats = relay.close().await.unwrap();
        assert_eq!(stats.leg(LegId::B).counters.rtcp_out, 1);
    }

    /// An RTP sink takes the peer's audio in the relay's task: the packets queued before it
    /// was installed first (in order), then every new one; what it refuses (here RFC 4733
    /// telephone-events, payload type 101) still comes out of `recv`, in order; the sink is
    /// dropped when the relay ends.
    #[tokio::test]
    async fn an_rtp_sink_takes_the_audio_and_leaves_the_rest_queued() {
        use std::sync::{Arc, Mutex};
        let pool = pool(22_080, 2);
        let (a, a_addr) = peer().await;
        let (relay, mut endpoint, _events) =
            spawn_endpoint(&pool, config(), LegSetup::new(RemoteMedia::new(a_addr))).unwrap();
        let relay_a = relay.local(LegId::A).unwrap();
        let frames = tone(1000.0, 1.0);
        let sent = send_frames(&a, relay_a.rtp, 0xA, 0, &frames[..10]).await;
        let first = within("the first packet", endpoint.recv()).await.unwrap();
        assert_eq!(first.bytes(), &sent[0]);
        // The other nine reach the queue (loopback: well within this).
        tokio::time::sleep(Duration::from_millis(200)).await;

        let taken: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let sink_side = taken.clone();
        endpoint.set_rtp_sink(Box::new(move |p: &RtpPacket| {
            if p.payload_type() != 0 {
                return false;
            }
            sink_side.lock().unwrap().push(p.raw().clone());
            true
        }));
        assert_eq!(
            taken.lock().unwrap().as_slice(),
            &sent[1..10],
            "the queued packets go to the sink at once, in order"
        );
        assert!(endpoint.try_recv().is_none());

        // 40 more audio packets with two telephone-events among them.
        let mut events = Vec::new();
        let mut all = sent;
        for (i, frame) in frames[10..50].iter().enumerate() {
            let seq = 10 + i as u16;
            let packet = rtp(0xA, seq, frame);
            a.send_to(&packet, relay_a.rtp).await.unwrap();
            all.push(packet);
            if i == 5 || i == 25 {
                let mut wire = BytesMut::new();
                RtpHeader::new(101, 1000 + i as u16, 0, 0xA)
                    .write(&[5, 10, 0, 160], &mut wire)
                    .unwrap();
                a.send_to(&wire, relay_a.rtp).await.unwrap();
                events.push(wire.freeze());
            }
            if i % 10 == 9 {
                tokio::task::yield_now().await;
            }
        }
        let got_events = [
            within("an event", endpoint.recv()).await.unwrap(),
            within("an event", endpoint.recv()).await.unwrap(),
        ];
        let got_events: Vec<Bytes> = got_events.iter().map(|p| p.bytes().clone()).collect();
        assert_eq!(
            got_events, events,
            "what the sink leaves stays queued, in order"
        );
        within("the audio", async {
            while taken.lock().unwrap().len() < 49 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(taken.lock().unwrap().as_slice(), &all[1..50]);
        let pcm = decode(&payloads(&taken.lock().unwrap()));
        assert!(is_tone(&pcm, 1000.0));

        relay.close().await.unwrap();
        assert_eq!(
            Arc::strong_count(&taken),
            1,
            "the sink is dropped with the relay"
        );
        assert!(endpoint.recv().await.is_none());
    }
