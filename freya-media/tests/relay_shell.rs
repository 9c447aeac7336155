//! The relay's tokio shell on real UDP sockets, on loopback: peers A and B (and an attacker C)
//! are sockets of the test; media is a PCMU tone checked by frequency at the far end.
//! Every wait is bounded.

/// Named `relay` so that `cargo test -p freya-media relay` selects these tests.
mod relay {
    pub use freya_media::relay::{spawn_endpoint, spawn_relay};

    include!("relay_cases/body.rs");
}
