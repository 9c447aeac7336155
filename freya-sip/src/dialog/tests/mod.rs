//! Dialog-layer tests, all in virtual time: an `Instant` taken once and advanced by hand.

mod auth;
mod calls;
pub(crate) mod direct;
mod netem;
mod refer;
mod timers;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The virtual epoch.
pub(crate) fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
