//! The jitter buffer's state machine: reorder, schedule, adapt.
//!
//! Internally every time is nanoseconds (`i64`) since the first instant the buffer saw, so
//! the delay arithmetic can go negative without `Instant` underflow.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::window::SlidingExtrema;
use super::{JitterConfig, JitterError};
use crate::rtp::{RtpPacket, SeqUpdate, SequenceTracker};

/// Frames before the playout point remembered to tell duplicates from late packets.
const HISTORY: u64 = 128;

/// The RTP header fields the buffer needs from one packet.
///
/// ```
/// use freya_media::jitter::PacketInfo;
///
/// let info = PacketInfo { ssrc: 0x1234, sequence: 9, timestamp: 1440, marker: false };
/// assert_eq!(info.sequence, 9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// The packet's SSRC; a new one starts a new stream (the buffer resets).
    pub ssrc: u32,
    /// The 16-bit RTP sequence number.
    pub sequence: u16,
    /// The RTP timestamp, in ticks of the payload's clock; passed through untouched.
    pub timestamp: u32,
    /// The marker bit (start of a talkspurt); passed through untouched.
    pub marker: bool,
}

impl PacketInfo {
    /// The fields of a parsed RTP packet.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use freya_media::{jitter::PacketInfo, rtp::RtpPacket};
    ///
    /// let p = RtpPacket::parse(Bytes::from_static(&[0x80, 0, 0, 5, 0, 0, 3, 32, 0, 0, 0, 9]))?;
    /// assert_eq!(PacketInfo::of(&p), PacketInfo { ssrc: 9, sequence: 5, timestamp: 800, marker: false });
    /// # Ok::<(), freya_media::rtp::RtpError>(())
    /// ```
    pub fn of(packet: &RtpPacket) -> Self {
        PacketInfo {
            ssrc: packet.ssrc(),
            sequence: packet.sequence(),
            timestamp: packet.timestamp(),
            marker: packet.marker(),
        }
    }
}

/// A received frame, handed out in sequence order by [`JitterBuffer::pop`].
///
/// ```
/// use bytes::Bytes;
/// use freya_media::jitter::JitterFrame;
///
/// let f = JitterFrame { ssrc: 1, seq: 65_536, timestamp: 0, marker: true, payload: Bytes::new() };
/// assert_eq!(f.seq as u16, 0); // the wire sequence number, after one wrap
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterFrame {
    /// The SSRC of the stream.
    pub ssrc: u32,
    /// Extended sequence number (RFC 3550 A.1: wraps counted); restarts when the stream
    /// resets (new SSRC or sequence restart).
    pub seq: u64,
    /// The RTP timestamp, in ticks of the payload's clock.
    pub timestamp: u32,
    /// The marker bit.
    pub marker: bool,
    /// The payload as received (still encoded), without copy.
    pub payload: Bytes,
}

/// What the buffer hands out for one frame period.
///
/// ```
/// use freya_media::jitter::Playout;
///
/// let lost = Playout::Lost { seq: 42 };
/// assert_eq!(lost.seq(), Some(42));
/// assert_eq!(Playout::Filler.seq(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The frame due now, as received.
    Frame(JitterFrame),
    /// The frame with this extended sequence number was due now and has not arrived: play a
    /// concealment frame ([`Concealer`](super::Concealer)). If it still arrives it is late
    /// and discarded.
    Lost {
        /// Its extended sequence number.
        seq: u64,
    },
    /// No frame is consumed this period: the buffer grows its delay by one frame to absorb
    /// more jitter (or a receiver clock running faster than the sender's). Play a
    /// concealment frame.
    Filler,
}

impl Playout {
    /// The extended sequence number of a frame or a lost frame; `None` for a filler.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Playout::Frame(frame) => Some(frame.seq),
            Playout::Lost { seq } => Some(*seq),
            Playout::Filler => None,
        }
    }
}

/// What [`JitterBuffer::push`] did with a packet.
///
/// ```
/// use std::time::Instant;
/// use bytes::Bytes;
/// use freya_media::jitter::{JitterBuffer, JitterConfig, PacketInfo, PushOutcome};
///
/// let mut jb = JitterBuffer::new(JitterConfig::default())?;
/// let info = PacketInfo { ssrc: 1, sequence: 1, timestamp: 0, marker: false };
/// let now = Instant::now();
/// assert_eq!(jb.push(now, info, Bytes::new()), PushOutcome::Queued);
/// assert_eq!(jb.push(now, info, Bytes::new()), PushOutcome::Duplicate);
/// # Ok::<(), freya_media::jitter::JitterError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Queued,
    /// Discarded: this sequence number is already buffered or was already played.
    Duplicate,
    /// Discarded: its playout time has passed (it was handed out as [`Playout::Lost`]).
    Late,
    /// Discarded: a sequence number far from the stream's (RFC 3550 A.1: more than 3000
    /// ahead or 100 behind). If the next packet follows it in sequence, the sender restarted
    /// its numbering and the buffer resets on that packet.
    Jump,
}

/// Counters of a [`JitterBuffer`]; every packet pushed ends up in exactly one of `queued`,
/// `duplicates`, `late`, `jumps`.
///
/// ```
/// use freya_media::jitter::JitterStats;
///
/// let s = JitterStats::default();
/// assert_eq!(s.late + s.duplicates, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed.
    pub received: u64,
    /// Packets stored for playout.
    pub queued: u64,
    /// Packets discarded as duplicates.
    pub duplicates: u64,
    /// Packets discarded because their playout time had passed.
    pub late: u64,
    /// Packets discarded as wild sequence jumps (see [`PushOutcome::Jump`]).
    pub jumps: u64,
    /// Frames handed out as [`Playout::Frame`].
    pub played: u64,
    /// [`Playout::Lost`] markers handed out.
    pub lost: u64,
    /// [`Playout::Filler`]s handed out (delay grown by one frame each).
    pub fillers: u64,
    /// Received frames discarded unplayed to shrink the delay by one frame each.
    pub dropped: u64,
    /// Missing frames skipped (not concealed) to shrink the delay by one frame each.
    pub skipped: u64,
    /// Frames discarded unplayed by a reset (SSRC change, sequence restart, overflow).
    pub flushed: u64,
    /// Stream resets: SSRC changes and sequence restarts.
    pub stream_resets: u64,
    /// Re-synchronisations on a packet more than `capacity` frames ahead of playout.
    pub overflows: u64,
    /// Times playout stopped after `idle_after` with nothing buffered.
    pub idles: u64,
}

/// The playout schedule while frames are flowing.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// Extended sequence number of the next frame to hand out.
    next_seq: u64,
    /// When it is due, in ns since the epoch.
    next_due: i64,
    /// Sequence number relative to which arrivals are normalised.
    anchor_seq: u64,
    /// Frame periods in a row with nothing buffered.
    empty_run: u64,
    /// Whether anything was handed out since the schedule started.
    handed_out: bool,
}

/// The adaptive jitter buffer. See the [module docs](super) for the model.
///
/// How it works:
/// - **Reorder.** Each packet's sequence number is extended ([`SequenceTracker`], RFC 3550
///   A.1) and the payload is put in the slot of that frame. At most
///   [`capacity`](JitterConfig::capacity) slots exist (bounded memory).
/// - **Schedule.** The first packet of a stream is played [`target_delay`](Self::target_delay)
///   after it arrived; after that one frame is due every [`frame`](JitterConfig::frame) on
///   the receiver's clock. [`poll_timeout`](Self::poll_timeout) says when; [`pop`](Self::pop)
///   hands out the frame, or `Lost` if its slot is empty.
/// - **Adapt.** For each packet the buffer records its arrival time minus its nominal send
///   time (sequence × frame). The spread of that value over the last
///   [`window`](JitterConfig::window) packets is the jitter to absorb; the target delay is
///   that spread plus a [`margin`](JitterConfig::margin), within `min_delay..=max_delay`. It
///   grows at once (a late packet widens the spread) and shrinks by at most one frame per
///   [`shrink_interval`](JitterConfig::shrink_interval) once the spread stayed lower for that
///   long. The actual delay of the earliest packets is held within one frame above the
///   target: a [`Playout::Filler`] adds a frame of delay, skipping a frame removes one. This
///   also absorbs clock drift between sender and receiver.
/// - **Late and duplicate packets** are discarded and counted ([`JitterStats`]).
/// - **Start.** The first packet of a stream (or after a pause) starts the schedule; a
///   packet older than it that arrives before anything was handed out still gets played
///   (the playout point moves back to it).
/// - **Resets.** A new SSRC or a sequence restart (A.1) drops what is buffered and starts
///   over on the new stream, keeping the learned target delay.
///
/// Sans-IO: `now` is an argument everywhere; drive it with a timer at
/// [`poll_timeout`](Self::poll_timeout), or call [`pop`](Self::pop) every frame period.
/// Only audio goes in: filter out RFC 4733 telephone-event and comfort-noise packets first.
///
/// ```
/// use std::time::{Duration, Instant};
/// use bytes::Bytes;
/// use freya_media::jitter::{JitterBuffer, JitterConfig, PacketInfo, Playout};
///
/// let t0 = Instant::now();
/// let mut jb = JitterBuffer::new(JitterConfig::default())?;
/// for seq in [0u16, 1, 3] { // 2 is lost
///     let info = PacketInfo { ssrc: 1, sequence: seq, timestamp: u32::from(seq) * 160, marker: false };
///     jb.push(t0 + Duration::from_millis(u64::from(seq) * 20), info, Bytes::from(vec![seq as u8]));
/// }
/// assert_eq!(jb.poll_timeout(), Some(t0 + Duration::from_millis(40))); // initial delay
/// let mut seen = Vec::new();
/// for i in 0..4 {
///     match jb.pop(t0 + Duration::from_millis(40 + 20 * i)) {
///         Some(Playout::Frame(f)) => seen.push(format!("frame {}", f.seq)),
///         Some(Playout::Lost { seq }) => seen.push(format!("lost {seq}")),
///         other => seen.push(format!("{other:?}")),
///     }
/// }
/// assert_eq!(seen, ["frame 0", "frame 1", "lost 2", "frame 3"]);
/// assert_eq!(jb.stats().lost, 1);
/// # Ok::<(), freya_media::jitter::JitterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    frame_ns: i64,
    epoch: Option<Instant>,
    ssrc: Option<u32>,
    seq: SequenceTracker,
    schedule: Option<Schedule>,
    /// `slots[i]` holds frame `next_seq + i`.
    slots: VecDeque<Option<JitterFrame>>,
    /// Bit `i` set: frame `next_seq - 1 - i` was played from a received packet.
    played: u128,
    /// Arrival minus nominal send time of recent packets, ns.
    spread: SlidingExtrema,
    target_ns: i64,
    /// Since when the wanted target has been below the current one.
    below_since: Option<i64>,
    stats: JitterStats,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl JitterBuffer {
    /// An empty buffer.
    ///
    /// # Errors
    /// [`JitterError::BadConfig`] if [`JitterConfig::validate`] refuses `config`.
    pub fn new(config: JitterConfig) -> Result<Self, JitterError> {
        config.validate()?;
        let target = config
            .initial_delay
            .clamp(config.min_delay, config.max_delay);
        Ok(JitterBuffer {
            frame_ns: nanos(config.frame),
            spread: SlidingExtrema::new(config.window),
            target_ns: nanos(target),
            epoch: None,
            ssrc: None,
            seq: SequenceTracker::with_probation(0),
            schedule: None,
            slots: VecDeque::new(),
            played: 0,
            below_since: None,
            stats: JitterStats::default(),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// Nanoseconds since the epoch (the first instant seen), negative before it.
    fn time(&mut self, now: Instant) -> i64 {
        let epoch = *self.epoch.get_or_insert(now);
        match now.checked_duration_since(epoch) {
            Some(after) => nanos(after),
            None => -nanos(epoch.saturating_duration_since(now)),
        }
    }

    /// Feeds a parsed RTP packet that arrived at `now`; the payload is kept without copy.
    pub fn push_packet(&mut self, now: Instant, packet: &RtpPacket) -> PushOutcome {
        self.push(now, PacketInfo::of(packet), packet.payload().clone())
    }

    /// Feeds one packet's header fields and payload, arrived at `now`. Call in arrival order.
    pub fn push(&mut self, now: Instant, info: PacketInfo, payload: Bytes) -> PushOutcome {
        let t = self.time(now);
        self.stats.received += 1;
        if self.ssrc.is_some_and(|ssrc| ssrc != info.ssrc) {
            self.reset_stream();
            self.seq = SequenceTracker::with_probation(0);
        }
        self.ssrc = Some(info.ssrc);

        let (ext, behind) = match self.seq.update(info.sequence) {
            SeqUpdate::InOrder { extended, .. } => (extended, false),
            SeqUpdate::Late {
                extended: Some(extended),
            } => (extended, true),
            SeqUpdate::Restarted { extended } => {
                self.reset_stream();
                (extended, false)
            }
            SeqUpdate::Late { extended: None } => {
                // Older than the first packet counted (reordered at the start): extend it
                // below the highest; it may still be playable.
                let highest = self.seq.extended_max().unwrap_or(0);
                let back = u64::from((highest as u16).wrapping_sub(info.sequence));
                match highest.checked_sub(back) {
                    Some(extended) => (extended, true),
                    None => {
                        self.stats.late += 1;
                        return PushOutcome::Late;
                    }
                }
            }
            SeqUpdate::Jump | SeqUpdate::Probation => {
                self.stats.jumps += 1;
                return PushOutcome::Jump;
            }
        };

        let mut schedule = match self.schedule {
            Some(schedule) => schedule,
            None if behind => {
                // Playout went idle (`idle_after` with nothing buffered) and this packet is
                // older than one already received: audio from before the pause, stale now.
                // Restarting on it would play it, and then replay what followed it. (A
                // sender resuming after silence, DTX, sends a newer sequence number.)
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            None => self.start(ext, t),
        };
        let back = schedule.next_seq.saturating_sub(ext);
        if back > 0
            && !schedule.handed_out
            && back + self.slots.len() as u64 <= self.config.capacity as u64
        {
            // Nothing played yet and an earlier frame arrived (reordered at the very start):
            // move the playout point back to it, and its due time back on the same schedule
            // (not before now: what is overdue is played at once).
            for _ in 0..back {
                self.slots.push_front(None);
            }
            schedule.next_seq = ext;
            let earlier = (back as i64).saturating_mul(self.frame_ns);
            schedule.next_due = schedule.next_due.saturating_sub(earlier).max(t);
            self.schedule = Some(schedule);
        }
        if ext < schedule.next_seq {
            let back = schedule.next_seq - ext;
            self.record_arrival(ext, t);
            if back <= HISTORY && self.played >> (back - 1) & 1 == 1 {
                self.stats.duplicates += 1;
                return PushOutcome::Duplicate;
            }
            self.stats.late += 1;
            return PushOutcome::Late;
        }
        let mut index = ext - schedule.next_seq;
        if index >= self.config.capacity as u64 {
            // Far ahead of playout (a stalled consumer, or a gap longer than the buffer):
            // start over on this packet rather than hold an unbounded backlog.
            self.stats.overflows += 1;
            self.flush_slots();
            self.start(ext, t);
            index = 0;
        }
        let index = index as usize;
        if self.slots.get(index).is_some_and(Option::is_some) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(JitterFrame {
                ssrc: info.ssrc,
                seq: ext,
                timestamp: info.timestamp,
                marker: info.marker,
                payload,
            });
        }
        self.record_arrival(ext, t);
        self.stats.queued += 1;
        PushOutcome::Queued
    }

    /// Starts playout on frame `ext` arrived at `t`: it is due a target delay later.
    fn start(&mut self, ext: u64, t: i64) -> Schedule {
        let schedule = Schedule {
            next_seq: ext,
            next_due: t.saturating_add(self.target_ns),
            anchor_seq: ext,
            empty_run: 0,
            handed_out: false,
        };
        self.schedule = Some(schedule);
        self.played = 0;
        self.spread.clear();
        self.below_since = None;
        schedule
    }

    /// Arrival minus nominal send time (relative to the anchor), for the delay spread.
    fn record_arrival(&mut self, ext: u64, t: i64) {
        if let Some(schedule) = self.schedule {
            let frames = ext as i64 - schedule.anchor_seq as i64;
            self.spread
                .push(t.saturating_sub(frames.saturating_mul(self.frame_ns)));
        }
    }

    fn flush_slots(&mut self) {
        let held = self.slots.iter().filter(|s| s.is_some()).count() as u64;
        self.stats.flushed += held;
        self.slots.clear();
    }

    /// A new SSRC or a sequence restart: forget the old stream's frames and schedule, keep
    /// the target delay. The caller renews the sequence tracker if needed.
    fn reset_stream(&mut self) {
        self.stats.stream_resets += 1;
        self.flush_slots();
        self.schedule = None;
        self.spread.clear();
        self.played = 0;
    }

    /// When the next frame is due (call [`pop`](Self::pop) then); `None` while there is no
    /// stream (before the first packet, or after `idle_after` with nothing buffered).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let schedule = self.schedule?;
        let epoch = self.epoch?;
        epoch.checked_add(Duration::from_nanos(
            u64::try_from(schedule.next_due).unwrap_or(0),
        ))
    }

    /// The next frame period's output, if one is due at `now`; `None` if not yet (or no
    /// stream). A caller that was late gets the overdue periods one call after another.
    pub fn pop(&mut self, now: Instant) -> Option<Playout> {
        let t = self.time(now);
        let mut schedule = self.schedule?;
        if t < schedule.next_due {
            return None;
        }
        self.adapt_target(t);
        let delay = self.current_delay_ns(&schedule);
        schedule.next_due = schedule.next_due.saturating_add(self.frame_ns);
        schedule.handed_out = true;

        if delay.is_some_and(|d| d < self.target_ns) {
            // Grow the delay by one frame: nothing is consumed this period.
            self.schedule = Some(schedule);
            self.stats.fillers += 1;
            return Some(Playout::Filler);
        }
        let buffered_after_next = self.slots.iter().skip(1).any(Option::is_some);
        if delay.is_some_and(|d| d >= self.target_ns.saturating_add(self.frame_ns))
            && buffered_after_next
        {
            // Shrink the delay by one frame: skip the frame due now, play the next one.
            match self.slots.pop_front() {
                Some(Some(_)) => self.stats.dropped += 1,
                _ => self.stats.skipped += 1,
            }
            self.played <<= 1;
            schedule.next_seq += 1;
        }

        let seq = schedule.next_seq;
        schedule.next_seq += 1;
        let out = match self.slots.pop_front().flatten() {
            Some(frame) => {
                schedule.empty_run = 0;
                self.played = self.played << 1 | 1;
                self.stats.played += 1;
                Playout::Frame(frame)
            }
            None => {
                self.played <<= 1;
                self.stats.lost += 1;
                if self.slots.iter().any(Option::is_some) {
                    schedule.empty_run = 0;
                } else {
                    schedule.empty_run += 1;
                }
                Playout::Lost { seq }
            }
        };
        let idle_frames = (nanos(self.config.idle_after) / self.frame_ns).max(1) as u64;
        if schedule.empty_run >= idle_frames {
            self.stats.idles += 1;
            self.schedule = None;
            self.slots.clear();
        } else {
            self.schedule = Some(schedule);
        }
        Some(out)
    }

    /// Moves the target toward the observed spread + margin: up at once, down slowly.
    fn adapt_target(&mut self, t: i64) {
        let (Some(lo), Some(hi)) = (self.spread.min(), self.spread.max()) else {
            return;
        };
        let wanted = hi
            .saturating_sub(lo)
            .saturating_add(nanos(self.config.margin))
            .clamp(nanos(self.config.min_delay), nanos(self.config.max_delay));
        if wanted >= self.target_ns {
            self.target_ns = wanted;
            self.below_since = None;
            return;
        }
        let since = *self.below_since.get_or_insert(t);
        if t.saturating_sub(since) >= nanos(self.config.shrink_interval) {
            self.target_ns = wanted.max(self.target_ns - self.frame_ns);
            self.below_since = Some(t);
        }
    }

    /// How long the earliest packets of the window wait in the buffer: the playout point's
    /// offset minus the smallest (arrival − nominal send time).
    fn current_delay_ns(&self, schedule: &Schedule) -> Option<i64> {
        let lo = self.spread.min()?;
        let frames = schedule.next_seq as i64 - schedule.anchor_seq as i64;
        let offset = schedule
            .next_due
            .saturating_sub(frames.saturating_mul(self.frame_ns));
        Some(offset.saturating_sub(lo))
    }

    /// The delay the buffer aims for (between `min_delay` and `max_delay`).
    pub fn target_delay(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.target_ns).unwrap_or(0))
    }

    /// How long the earliest-arriving recent packets wait before playout (the buffer's
    /// added latency, within one frame above the target once adapted); `None` without a
    /// stream.
    pub fn current_delay(&self) -> Option<Duration> {
        let delay = self.current_delay_ns(self.schedule.as_ref()?)?;
        Some(Duration::from_nanos(u64::try_from(delay).unwrap_or(0)))
    }

    /// Frames buffered (received, not yet handed out).
    pub fn buffered(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Forgets the stream and everything buffered (counters and target delay are kept), e.g.
    /// when the call is put on hold.
    pub fn reset(&mut self) {
        self.flush_slots();
        self.schedule = None;
        self.ssrc = None;
        self.seq = SequenceTracker::with_probation(0);
        self.spread.clear();
        self.played = 0;
    }
}
