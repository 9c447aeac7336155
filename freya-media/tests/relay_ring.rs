//! The relay tests of `relay_shell.rs` again, with every B2BUA relay served by the io_uring
//! relay thread ([`RingRelays`]) instead of a tokio task per call: the same tone both ways,
//! the same bleed attempt dropped, latching, hold, the no-RTP timeout, ports released only
//! once closed, taps. The endpoint tests too (an agent's call): its in-process side, the
//! RTP sink included, runs on the ring's thread.

#[cfg(target_os = "linux")]
/// Named `relay_ring` so that `cargo test -p freya-media relay` selects these tests.
mod relay_ring {
    /// One ring for the whole test binary, as a process would have.
    fn ring() -> &'static freya_media::relay::RingRelays {
        static RING: std::sync::OnceLock<freya_media::relay::RingRelays> =
            std::sync::OnceLock::new();
        RING.get_or_init(|| freya_media::relay::RingRelays::start().expect("io_uring available"))
    }

    include!("relay_cases/ring_shell.rs");
    include!("relay_cases/body.rs");
}
