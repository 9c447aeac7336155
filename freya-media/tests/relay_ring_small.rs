//! The relay tests of `relay_shell.rs` once more on an io_uring relay thread set up the way
//! a busy or constrained server runs it: ONE shared receive buffer (so nearly every datagram
//! finds the buffer ring empty and its receive is re-armed) and no registered file table
//! (plain descriptors). Every test of the shared body must hold as on the default ring, and a
//! burst far larger than the buffers must arrive whole and in order.

#[cfg(target_os = "linux")]
/// Named `relay_ring_small` so that `cargo test -p freya-media relay` selects these tests.
mod relay_ring_small {
    fn ring() -> &'static freya_media::relay::RingRelays {
        static RING: std::sync::OnceLock<freya_media::relay::RingRelays> =
            std::sync::OnceLock::new();
        RING.get_or_init(|| {
            freya_media::relay::RingRelays::start_with(freya_media::relay::RingOptions {
                buffers: 1,
                registered_files: false,
            })
            .expect("io_uring available")
        })
    }

    include!("relay_cases/ring_shell.rs");
    include!("relay_cases/body.rs");

    /// 100 packets sent back to back (no pause) to one leg: with one buffer the thread
    /// cannot take them as fast as they come, so receives end for want of a buffer and are
    /// re-armed; every packet still reaches the far end, byte for byte and in order.
    #[tokio::test]
    async fn a_burst_larger_than_the_buffers_arrives_whole_and_in_order() {
        let pool = pool(22_100, 2);
        let (a, a_addr) = peer().await;
        let (b, b_addr) = peer().await;
        let (relay, _events) = spawn_relay(
            &pool,
            config(),
            LegSetup::new(RemoteMedia::new(a_addr)),
            LegSetup::new(RemoteMedia::new(b_addr)),
        )
        .unwrap();
        let relay_a = relay.local(LegId::A).unwrap();
        let relay_b = relay.local(LegId::B).unwrap();
        let waits_before = ring().buffer_waits();
        let frames = tone(1000.0, 2.0); // 100 frames of 20 ms
        let a = a.into_std().unwrap();
        a.set_nonblocking(false).unwrap();
        let mut sent = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let packet = rtp(0xA, i as u16, frame);
            a.send_to(&packet, relay_a.rtp).unwrap();
            sent.push(packet);
        }
        let got = recv_n(&b, sent.len(), relay_b.rtp).await;
        assert_eq!(got, sent, "the burst arrived changed, reordered or cut");
        let pcm = decode(&payloads(&got));
        assert!(is_tone(&pcm, 1000.0), "B heard {} Hz", frequency(&pcm));
        assert!(
            ring().buffer_waits() > waits_before,
            "one buffer never ran out under a 100-packet burst: the re-arm path was not taken"
        );
        let stats = within("close", relay.close()).await.unwrap();
        assert_eq!(stats.leg(LegId::A).counters.packets_in, 100);
        assert_eq!(stats.leg(LegId::B).counters.packets_out, 100);
        assert_eq!(pool.in_use(), 0);
    }
}
