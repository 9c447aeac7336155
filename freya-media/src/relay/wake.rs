//! Which sources woke a relay task, so that a wake polls only those.
//!
//! A relay task waits on up to seven sources: its command channel, four sockets, the channel
//! from a [`MediaEndpoint`](super::MediaEndpoint) and its timer. With the task's own waker
//! handed to all of them, a wake says nothing about its cause, and each wake (one per packet)
//! had to poll every source: the command channel's queue, the readiness of three idle
//! sockets, the timer. Here each source gets its own [`Waker`] that records its bit in a
//! shared set before waking the task; the task takes the set and polls those sources only.
//! A source that is not polled keeps the waker of its last `Pending` poll, so it is not lost.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use futures_util::task::AtomicWaker;

/// One source of wakes: its bit in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Source {
    Commands = 1 << 0,
    RtpA = 1 << 1,
    RtcpA = 1 << 2,
    RtpB = 1 << 3,
    RtcpB = 1 << 4,
    Endpoint = 1 << 5,
    Timer = 1 << 6,
}

const SOURCES: usize = 7;
const ALL: u32 = (1 << SOURCES) - 1;

impl Source {
    fn index(self) -> usize {
        (self as u32).trailing_zeros() as usize
    }
}

#[derive(Debug, Default)]
struct Shared {
    pending: AtomicU32,
    task: AtomicWaker,
}

#[derive(Debug)]
struct SourceWaker {
    shared: Arc<Shared>,
    bit: u32,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The bit first: the task, once woken, must find it.
        self.shared.pending.fetch_or(self.bit, Ordering::AcqRel);
        self.shared.task.wake();
    }
}

/// The per-source wakers of one task and the set of sources that fired.
#[derive(Debug)]
pub(crate) struct WakeSet {
    shared: Arc<Shared>,
    wakers: [Waker; SOURCES],
}

impl WakeSet {
    /// Every source starts as fired, so the first poll registers them all.
    pub(crate) fn new() -> Self {
        let shared = Arc::new(Shared::default());
        shared.pending.store(ALL, Ordering::Release);
        let wakers = std::array::from_fn(|i| {
            Waker::from(Arc::new(SourceWaker {
                shared: shared.clone(),
                bit: 1 << i,
            }))
        });
        WakeSet { shared, wakers }
    }

    /// Registers the task's waker (`cx`) and takes the sources that fired since the last
    /// call. Register first, then take: a source firing in between wakes the task again.
    pub(crate) fn begin(&self, cx: &Context<'_>) -> Fired {
        self.shared.task.register(cx.waker());
        Fired(self.shared.pending.swap(0, Ordering::AcqRel))
    }

    /// Marks `source` as fired again (it stopped on a batch limit with more to do); the
    /// caller wakes the task.
    pub(crate) fn again(&self, source: Source) {
        self.shared
            .pending
            .fetch_or(source as u32, Ordering::AcqRel);
    }

    /// The context to poll `source` with: its own waker.
    pub(crate) fn context(&self, source: Source) -> Context<'_> {
        Context::from_waker(&self.wakers[source.index()])
    }
}

/// The sources that fired, as taken by [`WakeSet::begin`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fired(u32);

impl Fired {
    pub(crate) fn has(self, source: Source) -> bool {
        self.0 & source as u32 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    use crate::test_util::Count;

    #[test]
    fn a_source_wake_records_its_bit_and_wakes_the_task() {
        let set = WakeSet::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let cx = Context::from_waker(&task);
        let first = set.begin(&cx);
        assert!(
            first.has(Source::Commands) && first.has(Source::Timer),
            "all at first"
        );
        assert!(!set.begin(&cx).has(Source::RtpA), "taken");
        set.context(Source::RtpB).waker().wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let fired = set.begin(&cx);
        assert!(fired.has(Source::RtpB));
        assert!(!fired.has(Source::RtpA) && !fired.has(Source::Commands));
        set.again(Source::Endpoint);
        assert!(set.begin(&cx).has(Source::Endpoint));
    }
}
