//! The caller-bound playout queue of one leg: agent audio (8 kHz samples) waiting for its
//! 20 ms slot, with markers placed between samples (Twilio `mark`, jambonz `mark`/`playDone`,
//! Asterisk `MARK_MEDIA`/`STOP_MEDIA_BUFFERING`). Bounded: past `max` samples the oldest audio
//! is dropped (and counted by the caller), so a flooding or stalled agent never makes latency
//! grow without bound. Sans-IO: the session's clock decides when a frame is taken.
//!
//! Audio that arrives as G.711 (Twilio, Asterisk `ulaw`/`alaw`) is queued as the codes
//! received, one byte per sample, and decoded when its frame is taken: the queue's level is
//! the largest stall the agent met and stays resident for the whole call, so this halves the
//! leg's largest buffer. Decoding is a fixed table, so the samples out are the ones decoding
//! on arrival gave. L16 audio (jambonz, Asterisk `slin`) keeps 16-bit storage: quantising it
//! would lose quality, twice over when the caller's leg is A-law.

use std::collections::VecDeque;

use super::asterisk::AsteriskFormat;
use super::{Protocol, FRAME_SAMPLES};
use crate::codec::{alaw_decode, ulaw_decode, G711Law};

/// The queue grows in steps of 100 ms of 8 kHz audio (samples).
const GROW_STEP: usize = 5 * FRAME_SAMPLES;

/// How the queue holds a sample, chosen per leg from the agent's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Storage {
    /// 16-bit linear, 2 bytes per sample: agents sending L16 (resampled to 8 kHz) or clips.
    Pcm,
    /// G.711 codes as received, 1 byte per sample, decoded when a frame is taken.
    Law(G711Law),
}

impl Storage {
    /// The storage for what `protocol`'s agent sends: its codes for Twilio (μ-law) and
    /// Asterisk `ulaw`/`alaw`, 16-bit samples for jambonz and Asterisk `slin`/`slin16`.
    pub(super) fn for_protocol(protocol: &Protocol) -> Self {
        match protocol {
            Protocol::Twilio { .. } => Storage::Law(G711Law::Ulaw),
            Protocol::Asterisk { format, .. } => match format {
                AsteriskFormat::Ulaw => Storage::Law(G711Law::Ulaw),
                AsteriskFormat::Alaw => Storage::Law(G711Law::Alaw),
                AsteriskFormat::Slin | AsteriskFormat::Slin16 => Storage::Pcm,
            },
            Protocol::Jambonz { .. } => Storage::Pcm,
        }
    }
}

/// The queued audio, in one of the [`Storage`] forms.
#[derive(Debug)]
enum Store {
    Pcm(VecDeque<i16>),
    Law(G711Law, VecDeque<u8>),
}

impl Store {
    /// An empty store holding no memory.
    fn new(storage: Storage) -> Self {
        match storage {
            Storage::Pcm => Store::Pcm(VecDeque::new()),
            Storage::Law(law) => Store::Law(law, VecDeque::new()),
        }
    }

    fn storage(&self) -> Storage {
        match self {
            Store::Pcm(_) => Storage::Pcm,
            Store::Law(law, _) => Storage::Law(*law),
        }
    }

    /// Samples queued.
    fn len(&self) -> usize {
        match self {
            Store::Pcm(q) => q.len(),
            Store::Law(_, q) => q.len(),
        }
    }

    /// Samples held without reallocating.
    fn capacity(&self) -> usize {
        match self {
            Store::Pcm(q) => q.capacity(),
            Store::Law(_, q) => q.capacity(),
        }
    }

    /// Appends 16-bit samples, `max` being the queue's bound (for the growth step).
    fn push_pcm(&mut self, samples: &[i16], max: usize) {
        if samples.is_empty() {
            return;
        }
        match self {
            Store::Pcm(q) => append(q, samples.iter().copied(), max),
            Store::Law(law, q) => {
                let mut pcm = widen(*law, q);
                append(&mut pcm, samples.iter().copied(), max);
                *self = Store::Pcm(pcm);
            }
        }
    }

    /// Appends G.711 codes: kept as they are in a store of the same law, decoded otherwise.
    fn push_codes(&mut self, law: G711Law, codes: &[u8], max: usize) {
        if codes.is_empty() {
            return;
        }
        let decoded = codes.iter().map(|&c| law.decode(c));
        match self {
            Store::Law(kept, q) if *kept == law => append(q, codes.iter().copied(), max),
            Store::Pcm(q) => append(q, decoded, max),
            Store::Law(kept, q) => {
                let mut pcm = widen(*kept, q);
                append(&mut pcm, decoded, max);
                *self = Store::Pcm(pcm);
            }
        }
    }

    /// Drops the `n` oldest samples (`n <= len`).
    fn drop_front(&mut self, n: usize) {
        match self {
            Store::Pcm(q) => drop(q.drain(..n)),
            Store::Law(_, q) => drop(q.drain(..n)),
        }
    }

    /// Moves the `out.len()` oldest samples (`<= len`) into `out`, decoding codes.
    fn take_into(&mut self, out: &mut [i16]) {
        let n = out.len();
        match self {
            Store::Pcm(q) => {
                for (slot, s) in out.iter_mut().zip(q.drain(..n)) {
                    *slot = s;
                }
            }
            // The law is matched once per frame, not per sample.
            Store::Law(G711Law::Ulaw, q) => {
                for (slot, c) in out.iter_mut().zip(q.drain(..n)) {
                    *slot = ulaw_decode(c);
                }
            }
            Store::Law(G711Law::Alaw, q) => {
                for (slot, c) in out.iter_mut().zip(q.drain(..n)) {
                    *slot = alaw_decode(c);
                }
            }
        }
    }

    fn clear(&mut self) {
        match self {
            Store::Pcm(q) => q.clear(),
            Store::Law(_, q) => q.clear(),
        }
    }
}

/// Appends `items` to `q`, growing it in 100 ms steps up to the bound, not doubled: the
/// queue's level is the largest delay the agent's audio met (it only drains at the agent's
/// pauses), and doubling would keep up to twice that resident per leg. At most
/// max/GROW_STEP reallocations of at most `max` samples each, so growth stays linear.
fn append<S>(q: &mut VecDeque<S>, items: impl ExactSizeIterator<Item = S>, max: usize) {
    let need = q.len() + items.len();
    if need > q.capacity() {
        let cap = need.div_ceil(GROW_STEP) * GROW_STEP;
        let cap = cap.min(max + items.len()).max(need);
        q.reserve_exact(cap - q.len());
    }
    q.extend(items);
}

/// The queued `codes` decoded into a 16-bit queue of the same capacity. Only for audio in
/// another form than the leg's wire format gives (none of today's protocols sends any): a
/// mixed queue would be worse than a wide one, and quantising samples would lose quality.
fn widen(law: G711Law, codes: &VecDeque<u8>) -> VecDeque<i16> {
    tracing::debug!(
        ?law,
        queued = codes.len(),
        "bridge: playout queue widened to 16-bit samples"
    );
    let mut pcm = VecDeque::with_capacity(codes.capacity());
    pcm.extend(codes.iter().map(|&c| law.decode(c)));
    pcm
}

/// A marker sits after the sample at absolute position `at` (samples ever queued before it).
#[derive(Debug)]
struct Placed<T> {
    at: u64,
    marker: T,
}

#[derive(Debug)]
pub(super) struct Playout<T> {
    store: Store,
    /// The form an emptied, freed queue starts again in.
    storage: Storage,
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
    /// A queue of at most `max` samples (at least one frame), holding samples as `storage`.
    pub(super) fn new(max: usize, storage: Storage) -> Self {
        Playout {
            // Grown on first use: a leg whose agent has not spoken yet holds no queue memory.
            store: Store::new(storage),
            storage,
            max: max.max(FRAME_SAMPLES),
            pushed: 0,
            played: 0,
            markers: VecDeque::new(),
            held_partial: false,
            release_partial: false,
            paused: false,
        }
    }

    /// Queues 16-bit `samples` after everything queued so far; returns how many of the
    /// oldest samples were dropped to stay within `max`.
    pub(super) fn push(&mut self, samples: &[i16]) -> usize {
        self.store.push_pcm(samples, self.max);
        self.pushed_n(samples.len())
    }

    /// Queues G.711 `codes` (one sample each) after everything queued so far, as [`push`]
    /// of their decoded samples would; returns how many of the oldest samples were dropped.
    ///
    /// [`push`]: Self::push
    pub(super) fn push_codes(&mut self, law: G711Law, codes: &[u8]) -> usize {
        self.store.push_codes(law, codes, self.max);
        self.pushed_n(codes.len())
    }

    /// Accounts for `n` samples just queued and applies the bound.
    fn pushed_n(&mut self, n: usize) -> usize {
        self.pushed += n as u64;
        let over = self.store.len().saturating_sub(self.max);
        if over > 0 {
            self.store.drop_front(over);
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
        let n = self.store.len();
        let take = if n >= FRAME_SAMPLES {
            FRAME_SAMPLES
        } else if n > 0 && (self.held_partial || self.release_partial) {
            n
        } else {
            self.held_partial = n > 0;
            return 0;
        };
        self.store.take_into(&mut out[..take]);
        self.played += take as u64;
        self.held_partial = false;
        if self.store.len() == 0 {
            self.release_partial = false;
            self.release_memory();
        }
        take
    }

    /// Frees an emptied queue that grew past two steps (an utterance sent ahead of real
    /// time), or that was widened from the leg's storage: the next utterance grows it again,
    /// and a leg between utterances holds none.
    fn release_memory(&mut self) {
        if self.store.capacity() > 2 * GROW_STEP || self.store.storage() != self.storage {
            self.store = Store::new(self.storage);
        }
    }

    /// Samples the queue can hold without reallocating (for the memory tests).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.store.capacity()
    }

    /// Heap bytes of the queued audio's buffer (for the memory tests).
    #[cfg(test)]
    pub(super) fn capacity_bytes(&self) -> usize {
        match &self.store {
            Store::Pcm(q) => q.capacity() * std::mem::size_of::<i16>(),
            Store::Law(_, q) => q.capacity() * std::mem::size_of::<u8>(),
        }
    }

    /// The form the queued audio is held in now (for the tests).
    #[cfg(test)]
    pub(super) fn stored_as(&self) -> Storage {
        self.store.storage()
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
        let dropped = self.store.len();
        self.store.clear();
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
        self.store.len()
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
#[path = "playout_tests.rs"]
mod tests;
