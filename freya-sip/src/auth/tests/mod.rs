//! Tests of the auth module: published vectors, client against server, registration in
//! virtual time.

mod digest;
mod register;
mod server;

use std::sync::OnceLock;
use std::time::Instant;

/// The virtual epoch: an `Instant` taken once; tests add durations to it.
pub(crate) fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}
