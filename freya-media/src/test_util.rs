//! Helpers shared by the unit tests of the sans-IO queues and wakers (bridge link, relay
//! endpoint, relay wake set): a waker that counts its wake-ups, so a test can tell that a
//! reader was woken exactly when it should be.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Wake;

/// A waker that counts how often it was woken (`.0`).
pub(crate) struct Count(pub(crate) AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
