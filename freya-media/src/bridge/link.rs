//! The link between a leg's call-side handles ([`LegSender`](super::LegSender),
//! [`LegReceiver`](super::LegReceiver)) and its shell task: one small shared state behind one
//! mutex, in place of three tokio channels and a watch.
//!
//! Why not tokio's mpsc: its list blocks hold 32 slots each, and a slot of the caller-bound
//! queue is a whole [`LegOutput`] (~350 bytes), so every leg kept 11–22 KB of blocks resident;
//! and every 20 ms chunk of caller audio was its own `Vec` and its own wake-up. Here caller
//! audio is appended to one buffer the shell swaps out whole (one lock and at most one wake
//! per batch, no allocation once warm), and the caller-bound queue is a `VecDeque` that holds
//! what is actually waiting (one or two frames while the call side keeps up).
//!
//! Bounds are those of the channels it replaces: at most `audio_capacity` caller chunks wait
//! (more are refused and counted), at most `output_capacity` caller-bound frames wait (more
//! are dropped and counted by the shell); events are never dropped.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::{BridgeStats, FrameSink, LegOutput};

/// A call-side request other than audio.
#[derive(Debug)]
pub(super) enum Control {
    Dtmf(char, u32),
    Hangup,
}

/// Control requests that may wait for the shell (as the old channel's capacity).
const CONTROL_CAPACITY: usize = 64;

/// Why a call-side push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The bound was reached; the item was dropped.
    Full,
    /// The shell has ended.
    Closed,
}

/// What the shell took from the call side in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    /// Audio and/or control requests were moved into the shell's buffers.
    Some,
    /// Every sender or the receiver is gone, and nothing is left to take.
    Gone,
}

#[derive(Debug, Default)]
struct State {
    /// Caller samples (8 kHz) waiting, in order.
    audio: Vec<i16>,
    /// `send_audio` calls in `audio` (the bound counts chunks, as the old channel did).
    audio_chunks: usize,
    control: VecDeque<Control>,
    /// Live [`LegSender`](super::LegSender) clones.
    senders: usize,
    receiver_alive: bool,
    shell_waker: Option<Waker>,
    /// Caller-bound frames and events waiting for the call side, in order.
    out: VecDeque<LegOutput>,
    /// Frames in `out`.
    out_frames: usize,
    /// The shell has ended: the receiver gets `None` once `out` is empty.
    shell_done: bool,
    rx_waker: Option<Waker>,
    stats: BridgeStats,
    input_dropped: u64,
}

/// The shared state of one leg.
pub(super) struct Link {
    state: Mutex<State>,
    /// The call side's [`FrameSink`], called by the shell in place of queueing frames. Its
    /// own lock, always taken before `state` (never the other way).
    sink: Mutex<Option<Box<dyn FrameSink>>>,
    audio_capacity: usize,
    output_capacity: usize,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("state", &self.state)
            .field("audio_capacity", &self.audio_capacity)
            .field("output_capacity", &self.output_capacity)
            .finish_non_exhaustive()
    }
}

fn store(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl Link {
    /// A link with one sender and a live receiver.
    pub(super) fn new(audio_capacity: usize, output_capacity: usize, stats: BridgeStats) -> Self {
        Link {
            state: Mutex::new(State {
                senders: 1,
                receiver_alive: true,
                stats,
                ..State::default()
            }),
            sink: Mutex::new(None),
            audio_capacity: audio_capacity.max(1),
            output_capacity: output_capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The call side's frame sink, if any (locked: the shell holds it while it hands frames).
    pub(super) fn sink(&self) -> MutexGuard<'_, Option<Box<dyn FrameSink>>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs the call side's frame sink: the frames already queued go to it first, in
    /// order (events stay queued), then every frame the shell makes.
    pub(super) fn set_sink(&self, mut sink: Box<dyn FrameSink>) {
        let mut slot = self.sink();
        let queued: Vec<LegOutput> = {
            let mut s = self.lock();
            let (frames, events): (VecDeque<LegOutput>, VecDeque<LegOutput>) = s
                .out
                .drain(..)
                .partition(|o| matches!(o, LegOutput::Frame(_)));
            s.out = events;
            s.out_frames = 0;
            frames.into()
        };
        for out in &queued {
            if let LegOutput::Frame(f) = out {
                sink.take(f);
            }
        }
        *slot = Some(sink);
    }

    // ---- call side: sending half ----

    /// Queues one chunk of caller audio for the shell.
    pub(super) fn push_audio(&self, samples: &[i16]) -> Result<(), Refused> {
        let waker = {
            let mut s = self.lock();
            if s.shell_done {
                return Err(Refused::Closed);
            }
            if s.audio_chunks >= self.audio_capacity {
                s.input_dropped += 1;
                let dropped = s.input_dropped;
                drop(s);
                // Logged at 1, 2, 4 … drops: a stalled shell drops 50 chunks a second.
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        capacity = self.audio_capacity,
                        "bridge: the leg's shell is over a second behind, caller audio dropped"
                    );
                }
                return Err(Refused::Full);
            }
            s.audio.extend_from_slice(samples);
            s.audio_chunks += 1;
            s.shell_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues a control request for the shell.
    pub(super) fn push_control(&self, c: Control) -> Result<(), Refused> {
        let waker = {
            let mut s = self.lock();
            if s.shell_done {
                return Err(Refused::Closed);
            }
            if s.control.len() >= CONTROL_CAPACITY {
                return Err(Refused::Full);
            }
            s.control.push_back(c);
            s.shell_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// The counters as of the shell's last publish, with the refused audio chunks.
    pub(super) fn stats(&self) -> BridgeStats {
        let s = self.lock();
        let mut stats = s.stats;
        stats.input_dropped_frames = s.input_dropped;
        stats
    }

    /// True once the shell has ended.
    pub(super) fn is_closed(&self) -> bool {
        self.lock().shell_done
    }

    pub(super) fn add_sender(&self) {
        self.lock().senders += 1;
    }

    /// A sender was dropped; the last one wakes the shell (it ends the leg).
    pub(super) fn drop_sender(&self) {
        let waker = {
            let mut s = self.lock();
            s.senders = s.senders.saturating_sub(1);
            if s.senders == 0 {
                s.shell_waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    // ---- call side: receiving half ----

    /// The next caller-bound frame or event; `None` once the shell has ended and all was
    /// delivered.
    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<LegOutput>> {
        let mut s = self.lock();
        match s.out.pop_front() {
            Some(out) => {
                if matches!(out, LegOutput::Frame(_)) {
                    s.out_frames -= 1;
                }
                Poll::Ready(Some(out))
            }
            None if s.shell_done => Poll::Ready(None),
            None => {
                store(&mut s.rx_waker, cx);
                Poll::Pending
            }
        }
    }

    /// The next caller-bound frame or event if one is waiting.
    pub(super) fn try_recv(&self) -> Option<LegOutput> {
        let mut s = self.lock();
        let out = s.out.pop_front()?;
        if matches!(out, LegOutput::Frame(_)) {
            s.out_frames -= 1;
        }
        Some(out)
    }

    /// The receiver was dropped: the shell is woken (it ends the leg).
    pub(super) fn drop_receiver(&self) {
        drop(self.sink().take());
        let waker = {
            let mut s = self.lock();
            s.receiver_alive = false;
            s.out.clear();
            s.out_frames = 0;
            s.shell_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    // ---- shell side ----

    /// Moves everything the call side queued into `audio` (appended) and `control`;
    /// `Pending` (waker kept) when there is nothing. `Gone` when every sender or the receiver
    /// is gone and nothing is left.
    pub(super) fn poll_input(
        &self,
        cx: &mut Context<'_>,
        audio: &mut Vec<i16>,
        control: &mut Vec<Control>,
    ) -> Poll<Input> {
        let mut s = self.lock();
        if s.audio_chunks == 0 && s.control.is_empty() {
            if s.senders == 0 || !s.receiver_alive {
                return Poll::Ready(Input::Gone);
            }
            store(&mut s.shell_waker, cx);
            return Poll::Pending;
        }
        if audio.is_empty() {
            // Swap buffers: no copy, and both keep their capacity for the next batch.
            std::mem::swap(audio, &mut s.audio);
        } else {
            audio.extend_from_slice(&s.audio);
            s.audio.clear();
        }
        s.audio_chunks = 0;
        control.extend(s.control.drain(..));
        Poll::Ready(Input::Some)
    }

    /// Hands frames and events to the call side, in order, and publishes `stats`. Frames
    /// beyond `output_capacity` are dropped; returns how many. Events are always kept.
    /// `false` in the second place when the receiver is gone.
    pub(super) fn publish(&self, outs: &mut Vec<LegOutput>, mut stats: BridgeStats) -> (u64, bool) {
        let mut dropped = 0u64;
        let (waker, alive) = {
            let mut s = self.lock();
            let alive = s.receiver_alive;
            let had = !outs.is_empty();
            for out in outs.drain(..) {
                if !alive {
                    continue;
                }
                if matches!(out, LegOutput::Frame(_)) {
                    if s.out_frames >= self.output_capacity {
                        dropped += 1;
                        continue;
                    }
                    s.out_frames += 1;
                }
                // ~350 bytes per item and usually one waiting: start with one slot, not
                // `VecDeque`'s first capacity of 4 (BENCHMARKS.md, memory per call); past
                // that it grows by doubling as usual.
                if s.out.capacity() == 0 {
                    s.out.reserve_exact(1);
                }
                s.out.push_back(out);
            }
            if s.out.is_empty() && s.out.capacity() > 64 {
                // A call side that fell behind once does not keep the room forever.
                s.out.shrink_to(8);
            }
            stats.output_dropped_frames += dropped;
            s.stats = stats;
            (if had { s.rx_waker.take() } else { None }, alive)
        };
        if let Some(w) = waker {
            w.wake();
        }
        (dropped, alive)
    }

    /// The shell has ended (after its last [`publish`](Self::publish)): the receiver gets
    /// `None` after what is queued, senders get [`Refused::Closed`].
    pub(super) fn shell_done(&self) {
        // What the sink holds (an RTP sender, a recorder) is released with the leg.
        drop(self.sink().take());
        let waker = {
            let mut s = self.lock();
            s.shell_done = true;
            s.audio = Vec::new();
            s.audio_chunks = 0;
            s.control.clear();
            s.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::bridge::{BridgeEvent, CallerFrame, CloseReason};

    use crate::test_util::Count;

    /// The first sample of a frame (its tag in these tests).
    fn tag(out: Option<LegOutput>) -> Option<i16> {
        match out? {
            LegOutput::Frame(f) => Some(f.samples[0]),
            LegOutput::Event(_) => None,
        }
    }

    fn frame(n: i16) -> LegOutput {
        let mut samples = [0; 160];
        samples[0] = n;
        LegOutput::Frame(CallerFrame {
            samples,
            audio_samples: 160,
            at: Instant::now(),
        })
    }

    #[test]
    fn audio_is_batched_in_order_bounded_and_wakes_once() {
        let link = Link::new(3, 10, BridgeStats::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut audio, mut ctl) = (Vec::new(), Vec::new());
        assert_eq!(
            link.poll_input(&mut cx, &mut audio, &mut ctl),
            Poll::Pending
        );
        link.push_audio(&[1, 2]).unwrap();
        link.push_audio(&[3]).unwrap();
        link.push_control(Control::Hangup).unwrap();
        link.push_audio(&[4]).unwrap();
        assert_eq!(link.push_audio(&[5]), Err(Refused::Full));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake for the batch");
        assert_eq!(link.stats().input_dropped_frames, 1);
        assert_eq!(
            link.poll_input(&mut cx, &mut audio, &mut ctl),
            Poll::Ready(Input::Some)
        );
        assert_eq!(audio, [1, 2, 3, 4]);
        assert!(matches!(ctl.as_slice(), [Control::Hangup]));
        // Room again after the shell took the batch.
        link.push_audio(&[6]).unwrap();
        link.poll_input(&mut cx, &mut audio, &mut ctl).is_ready();
        assert_eq!(audio, [1, 2, 3, 4, 6]);
    }

    #[test]
    fn frames_are_bounded_events_are_not_and_order_is_kept() {
        let link = Link::new(1, 2, BridgeStats::default());
        let mut outs = vec![
            frame(1),
            LegOutput::Event(BridgeEvent::Cleared { dropped_samples: 7 }),
            frame(2),
            frame(3),
        ];
        let (dropped, alive) = link.publish(&mut outs, BridgeStats::default());
        assert_eq!((dropped, alive), (1, true));
        assert_eq!(link.stats().output_dropped_frames, 1);
        assert_eq!(tag(link.try_recv()), Some(1));
        assert!(matches!(
            link.try_recv(),
            Some(LegOutput::Event(BridgeEvent::Cleared {
                dropped_samples: 7
            }))
        ));
        assert_eq!(tag(link.try_recv()), Some(2));
        assert!(link.try_recv().is_none());
        let mut last = vec![LegOutput::Event(BridgeEvent::Closed {
            reason: CloseReason::CallerHangup,
        })];
        link.publish(&mut last, BridgeStats::default());
        link.shell_done();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(
            link.poll_recv(&mut cx),
            Poll::Ready(Some(LegOutput::Event(BridgeEvent::Closed { .. })))
        ));
        assert!(matches!(link.poll_recv(&mut cx), Poll::Ready(None)));
        assert_eq!(link.push_audio(&[1]), Err(Refused::Closed));
        assert!(link.is_closed());
    }

    #[test]
    fn the_last_sender_or_the_receiver_going_ends_the_input() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut audio, mut ctl) = (Vec::new(), Vec::new());
        let link = Link::new(4, 4, BridgeStats::default());
        link.add_sender();
        assert!(link.poll_input(&mut cx, &mut audio, &mut ctl).is_pending());
        link.drop_sender();
        assert!(link.poll_input(&mut cx, &mut audio, &mut ctl).is_pending());
        link.drop_sender();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            link.poll_input(&mut cx, &mut audio, &mut ctl),
            Poll::Ready(Input::Gone)
        );

        let link = Link::new(4, 4, BridgeStats::default());
        link.drop_receiver();
        assert_eq!(
            link.poll_input(&mut cx, &mut audio, &mut ctl),
            Poll::Ready(Input::Gone)
        );
        let (_, alive) = link.publish(&mut vec![frame(1)], BridgeStats::default());
        assert!(!alive);
    }
}
