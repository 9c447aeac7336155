//! The caller-bound playout queue of one leg: agent audio (8 kHz samples) waiting for its
//! 20 ms slot, with markers placed between samples (Twilio `mark`, jambonz `mark`/`playDone`,
//! Asterisk `MARK_MEDIA`/`STOP_MEDIA_BUFFERING`). Bounded: past `max` samples the oldest audio
//! is dropped (and counted by the caller), so a flooding or stalled agent never makes latency
//! grow without bound. Sans-IO: the session's clock decides when a frame is taken.

use std::collections::VecDeque;

use super::FRAME_SAMPLES;

/// The queue grows in steps of 100 ms of 8 kHz audio (samples).
const GROW_STEP: usize = 5 * FRAME_SAMPLES;

/// A marker sits after the sample at absolute position `at` (samples ever queued before it).
#[derive(Debug)]
struct Placed<T> {
    at: u64,
    marker: T,
}

#[derive(Debug)]
pub(super) struct Playout<T> {
    samples: VecDeque<i16>,
    max: usize,
    /// Absolute position just after the last queued sample.
    pushed: u64,
    /// Absolute position of the front sample (everything before it played or was dropped).
    played: u64,
    markers: VecDeque<Placed<T>>,
    /// A partial frame (< 160 samples) waited one tick already: it goes out at the next.
    held_partial: bool,
    /// The end of a unit (clip, buffering stop) was queued: a partial goes out at the next tick.
    release_partial: bool,
    /// `PAUSE_MEDIA`: ticks take nothing; the queue is kept (still bounded).
    pub(super) paused: bool,
}

impl<T> Playout<T> {
    pub(super) fn new(max: usize) -> Self {
        Playout {
            // Grown on first use: a leg whose agent has not spoken yet holds no queue memory.
            samples: VecDeque::new(),
            max: max.max(FRAME_SAMPLES),
            pushed: 0,
            played: 0,
            markers: VecDeque::new(),
            held_partial: false,
            release_partial: false,
            paused: false,
        }
    }

    /// Queues `samples` after everything queued so far; returns how many of the oldest
    /// samples were dropped to stay within `max`.
    pub(super) fn push(&mut self, samples: &[i16]) -> usize {
        let need = self.samples.len() + samples.len();
        if need > self.samples.capacity() {
            // Grown in 100 ms steps up to the bound, not doubled: the queue's level is the
            // largest delay the agent's audio met (it only drains at the agent's pauses), and
            // doubling would keep up to twice that resident per leg. At most max/GROW_STEP
            // reallocations of at most `max` samples each, so growth stays linear.
            let cap = need.div_ceil(GROW_STEP) * GROW_STEP;
            let cap = cap.min(self.max + samples.len()).max(need);
            self.samples.reserve_exact(cap - self.samples.len());
        }
        self.samples.extend(samples.iter().copied());
        self.pushed += samples.len() as u64;
        let over = self.samples.len().saturating_sub(self.max);
        if over > 0 {
            self.samples.drain(..over);
            self.played += over as u64;
        }
        over
    }

    /// Places `marker` after the audio queued so far.
    pub(super) fn mark(&mut self, marker: T) {
        self.markers.push_back(Placed {
            at: self.pushed,
            marker,
        });
    }

    /// Lets a queued partial frame go out at the next tick instead of waiting for more audio.
    pub(super) fn release_partial(&mut self) {
        self.release_partial = true;
    }

    /// Fills `out` with the next 20 ms and returns how many samples were agent audio (the rest
    /// is zero). 0 when paused or empty. A partial frame waits one tick for the rest of its
    /// audio (agents send whole 20/40 ms chunks, but a chunk may land just after a tick); it is
    /// never held longer, so the tail of an utterance is never lost or spliced late.
    pub(super) fn take_frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> usize {
        out.fill(0);
        if self.paused {
            return 0;
        }
        let n = self.samples.len();
        let take = if n >= FRAME_SAMPLES {
            FRAME_SAMPLES
        } else if n > 0 && (self.held_partial || self.release_partial) {
            n
        } else {
            self.held_partial = n > 0;
            return 0;
        };
        for (slot, s) in out.iter_mut().zip(self.samples.drain(..take)) {
            *slot = s;
        }
        self.played += take as u64;
        self.held_partial = false;
        if self.samples.is_empty() {
            self.release_partial = false;
            self.release_memory();
        }
        take
    }

    /// Frees an emptied queue that grew past two steps (an utterance sent ahead of real
    /// time): the next utterance grows it again, and a leg between utterances holds none.
    fn release_memory(&mut self) {
        if self.samples.capacity() > 2 * GROW_STEP {
            self.samples = VecDeque::new();
        }
    }

    /// Samples the queue can hold without reallocating (for the memory tests).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.samples.capacity()
    }

    /// The next marker whose audio has all played (or been dropped), in order.
    pub(super) fn pop_reached(&mut self) -> Option<T> {
        if self.markers.front().is_some_and(|m| m.at <= self.played) {
            self.markers.pop_front().map(|m| m.marker)
        } else {
            None
        }
    }

    /// Barge-in: drops every queued sample and returns how many, with every pending marker
    /// (in order) for the caller to report or forget.
    pub(super) fn clear(&mut self) -> (usize, Vec<T>) {
        let dropped = self.samples.len();
        self.samples.clear();
        self.release_memory();
        self.played = self.pushed;
        self.held_partial = false;
        self.release_partial = false;
        (dropped, self.markers.drain(..).map(|m| m.marker).collect())
    }

    /// Forgets the markers `keep` refuses, silently; returns how many.
    pub(super) fn retain_markers(&mut self, mut keep: impl FnMut(&T) -> bool) -> usize {
        let before = self.markers.len();
        self.markers.retain(|m| keep(&m.marker));
        before - self.markers.len()
    }

    /// Samples queued.
    pub(super) fn len(&self) -> usize {
        self.samples.len()
    }

    /// The bound, in samples.
    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// Markers pending.
    pub(super) fn markers(&self) -> usize {
        self.markers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(from: i16, n: usize) -> Vec<i16> {
        (0..n as i16).map(|i| from + i).collect()
    }

    #[test]
    fn frames_come_out_in_order_without_loss() {
        let mut p: Playout<&str> = Playout::new(8000);
        p.push(&ramp(0, 100));
        p.push(&ramp(100, 250));
        let mut f = [0; FRAME_SAMPLES];
        assert_eq!(p.take_frame(&mut f), 160);
        assert_eq!(f.to_vec(), ramp(0, 160));
        assert_eq!(p.take_frame(&mut f), 160);
        assert_eq!(f.to_vec(), ramp(160, 160));
        // 30 left: held one tick, then played padded.
        assert_eq!(p.take_frame(&mut f), 0);
        assert_eq!(p.take_frame(&mut f), 30);
        assert_eq!(&f[..30], &ramp(320, 30)[..]);
        assert!(f[30..].iter().all(|&s| s == 0));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_partial_completed_in_time_is_not_split() {
        let mut p: Playout<()> = Playout::new(8000);
        let mut f = [0; FRAME_SAMPLES];
        p.push(&ramp(0, 80));
        assert_eq!(p.take_frame(&mut f), 0);
        p.push(&ramp(80, 80));
        assert_eq!(p.take_frame(&mut f), 160);
        assert_eq!(f.to_vec(), ramp(0, 160));
    }

    #[test]
    fn release_sends_a_partial_at_once() {
        let mut p: Playout<()> = Playout::new(8000);
        let mut f = [0; FRAME_SAMPLES];
        p.push(&ramp(0, 10));
        p.release_partial();
        assert_eq!(p.take_frame(&mut f), 10);
    }

    #[test]
    fn overflow_drops_the_oldest_and_passes_markers() {
        let mut p = Playout::new(320);
        p.push(&ramp(0, 300));
        p.mark("m1");
        assert_eq!(p.push(&ramp(300, 100)), 80);
        assert_eq!(p.len(), 320);
        assert_eq!(
            p.pop_reached(),
            None,
            "m1 sits after sample 300, 80..300 not played yet"
        );
        let mut f = [0; FRAME_SAMPLES];
        p.take_frame(&mut f);
        assert_eq!(f[0], 80);
        assert_eq!(p.pop_reached(), None);
        p.take_frame(&mut f);
        assert_eq!(p.pop_reached(), Some("m1"));
    }

    #[test]
    fn clear_returns_markers_and_empties() {
        let mut p = Playout::new(8000);
        p.push(&ramp(0, 500));
        p.mark(1);
        p.push(&ramp(0, 100));
        p.mark(2);
        assert_eq!(p.clear(), (600, vec![1, 2]));
        let mut f = [0; FRAME_SAMPLES];
        assert_eq!(p.take_frame(&mut f), 0);
        p.mark(3);
        assert_eq!(
            p.pop_reached(),
            Some(3),
            "a mark on an empty queue is reached at once"
        );
    }

    #[test]
    fn growth_follows_the_level_in_steps_and_an_emptied_queue_is_freed() {
        // 1 s bound (8,000 samples). A level of 2,500 samples (312 ms) holds 3,200 (the
        // next 100 ms step), where doubling would hold 4,096.
        let mut p: Playout<u8> = Playout::new(8000);
        assert_eq!(p.capacity(), 0, "no memory before the agent speaks");
        for _ in 0..15 {
            p.push(&[1; 160]);
        }
        p.push(&[1; 100]);
        assert_eq!(p.len(), 2500);
        assert!(
            p.capacity() >= 2500 && p.capacity() < 2500 + GROW_STEP,
            "{}",
            p.capacity()
        );
        // Held within the bound plus one push at any level.
        for _ in 0..100 {
            p.push(&[2; 320]);
        }
        assert_eq!(p.len(), 8000);
        assert!(p.capacity() <= 8000 + GROW_STEP, "{}", p.capacity());
        // Drained: the memory goes back.
        let mut out = [0i16; FRAME_SAMPLES];
        while p.take_frame(&mut out) > 0 {}
        assert_eq!(p.len(), 0);
        assert_eq!(p.capacity(), 0);
        // A small level keeps its one step (no churn at 20-40 ms of lead).
        p.push(&[3; 320]);
        assert_eq!(p.take_frame(&mut out), 160);
        assert_eq!(p.take_frame(&mut out), 160);
        assert!(p.capacity() > 0 && p.capacity() <= GROW_STEP);
        // Barge-in frees a grown queue too.
        p.push(&[4; 4000]);
        let (dropped, _) = p.clear();
        assert_eq!(dropped, 4000);
        assert_eq!(p.capacity(), 0);
    }

    #[test]
    fn pause_keeps_the_queue() {
        let mut p: Playout<()> = Playout::new(8000);
        p.push(&ramp(0, 160));
        p.paused = true;
        let mut f = [0; FRAME_SAMPLES];
        assert_eq!(p.take_frame(&mut f), 0);
        p.paused = false;
        assert_eq!(p.take_frame(&mut f), 160);
        assert_eq!(p.retain_markers(|_| true), 0);
    }
}
