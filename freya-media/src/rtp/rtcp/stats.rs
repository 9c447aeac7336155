//! Per-stream reception statistics (RFC 3550 §6.4.1, A.1, A.3, A.8) and the report block
//! they produce.

use std::time::{Duration, Instant};

use super::{duration_to_units, ReportBlock, SenderReport};
use crate::rtp::{JitterEstimator, RtpPacket, SeqUpdate, SequenceTracker};

/// Extended sequence numbers remembered below the highest to recognise duplicates.
const SEEN_WINDOW: u64 = 1024;

/// What one received packet was, to [`StreamStats`].
///
/// ```
/// use std::time::Instant;
/// use freya_media::rtp::rtcp::{PacketClass, StreamStats};
///
/// let mut stats = StreamStats::new(1, 8000);
/// let now = Instant::now();
/// assert_eq!(stats.record(now, 10, 0, 160), PacketClass::Probation);
/// assert_eq!(stats.record(now, 11, 160, 160), PacketClass::InOrder);
/// assert_eq!(stats.record(now, 11, 160, 160), PacketClass::Duplicate);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketClass {
    /// The source is not validated yet (RFC 3550 A.1 probation: 2 packets in sequence).
    Probation,
    /// The new highest sequence number (possibly after a gap: loss).
    InOrder,
    /// Older than the highest and not seen before: reordered.
    Late,
    /// A sequence number already received: not counted as received (so duplicates never
    /// make the loss count negative, unlike A.3's plain count).
    Duplicate,
    /// A wild jump (A.1: more than 3000 ahead or 100 behind): not counted until confirmed.
    Jump,
    /// The packet confirmed a jump: the sender restarted its numbering; counters restart.
    Restarted,
}

/// The numbers of one received stream at one moment.
///
/// ```
/// use std::time::Instant;
/// use freya_media::rtp::rtcp::StreamStats;
///
/// let mut stats = StreamStats::new(1, 8000);
/// let now = Instant::now();
/// for seq in [0u16, 1, 2, 4] { stats.record(now, seq, u32::from(seq) * 160, 160); }
/// let s = stats.snapshot();
/// assert_eq!((s.packets, s.bytes, s.expected, s.lost), (4, 640, 4, 1)); // 0 is probation
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamStatsSnapshot {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// Every packet recorded, including duplicates and probation.
    pub packets: u64,
    /// Payload bytes of those packets (headers and padding excluded).
    pub bytes: u64,
    /// Packets expected since the source was validated (A.3: highest − first + 1).
    pub expected: u64,
    /// Distinct packets received since the source was validated.
    pub received: u64,
    /// Packets lost: expected − received (A.3; never negative here, as duplicates are not
    /// counted as received).
    pub lost: i64,
    /// Packets that arrived after a higher sequence number (reordered).
    pub late: u64,
    /// Packets received more than once.
    pub duplicates: u64,
    /// Packets refused as wild sequence jumps.
    pub jumps: u64,
    /// Interarrival jitter in RTP ticks (A.8), as the RR field carries it.
    pub jitter_ticks: u32,
    /// The same jitter in milliseconds.
    pub jitter_ms: f64,
    /// The extended highest sequence number (A.1), `None` before validation.
    pub extended_highest_seq: Option<u64>,
}

/// Reception statistics of one RTP source (one SSRC), fed packet by packet; makes the report
/// block about it for an SR/RR (RFC 3550 §6.4.1).
///
/// Built on [`SequenceTracker`] (A.1 validation and wrap counting, A.3 loss) and
/// [`JitterEstimator`] (A.8), plus a window of the last 1024 sequence numbers to tell
/// duplicates from reordered packets. Sans-IO: arrival times are arguments.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_media::rtp::rtcp::StreamStats;
///
/// let t0 = Instant::now();
/// let mut stats = StreamStats::new(0xCAFE, 8000);
/// for i in 0..100u16 {
///     if i != 50 { // one packet lost
///         stats.record(t0 + Duration::from_millis(u64::from(i) * 20), i, u32::from(i) * 160, 160);
///     }
/// }
/// let block = stats.report_block(t0 + Duration::from_secs(2)).unwrap();
/// assert_eq!(block.ssrc, 0xCAFE);
/// assert_eq!(block.cumulative_lost, 1);
/// assert_eq!(block.extended_highest_seq, 99);
/// assert_eq!(block.fraction_lost, 2); // 1/99 × 256, truncated (A.3)
/// assert_eq!(block.last_sr, 0); // no SR received yet
/// ```
#[derive(Debug, Clone)]
pub struct StreamStats {
    ssrc: u32,
    seq: SequenceTracker,
    jitter: JitterEstimator,
    packets: u64,
    bytes: u64,
    late: u64,
    duplicates: u64,
    jumps: u64,
    /// Bit `e % 1024` set: extended sequence number `e` (within the window) was received.
    seen: [u64; (SEEN_WINDOW / 64) as usize],
    /// The highest extended sequence number marked in `seen`.
    seen_high: Option<u64>,
    /// LSR of the last SR from this source and when it arrived.
    last_sr: Option<(u32, Instant)>,
    last_packet: Option<Instant>,
    /// Packets recorded since the last report block.
    since_report: u64,
}

impl StreamStats {
    /// Statistics for source `ssrc` whose media clock runs at `clock_rate` Hz (0 → 8000).
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        StreamStats {
            ssrc,
            seq: SequenceTracker::new(),
            jitter: JitterEstimator::new(clock_rate),
            packets: 0,
            bytes: 0,
            late: 0,
            duplicates: 0,
            jumps: 0,
            seen: [0; (SEEN_WINDOW / 64) as usize],
            seen_high: None,
            last_sr: None,
            last_packet: None,
            since_report: 0,
        }
    }

    /// The source's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// When the last packet of this source arrived.
    pub fn last_packet(&self) -> Option<Instant> {
        self.last_packet
    }

    /// Records a parsed RTP packet of this source that arrived at `now`.
    pub fn record_packet(&mut self, now: Instant, packet: &RtpPacket) -> PacketClass {
        self.record(
            now,
            packet.sequence(),
            packet.timestamp(),
            packet.payload().len(),
        )
    }

    /// Records one packet: its sequence number, RTP timestamp and payload length in bytes,
    /// arrived at `now`. Call in arrival order.
    pub fn record(
        &mut self,
        now: Instant,
        sequence: u16,
        timestamp: u32,
        payload_len: usize,
    ) -> PacketClass {
        self.packets += 1;
        self.bytes += payload_len as u64;
        self.last_packet = Some(now);
        self.since_report += 1;
        if let Some(ext) = self.extend(sequence) {
            if self.is_seen(ext) {
                self.duplicates += 1;
                return PacketClass::Duplicate;
            }
        }
        let class = match self.seq.update(sequence) {
            SeqUpdate::Probation => PacketClass::Probation,
            SeqUpdate::InOrder { extended, .. } => {
                self.mark_seen(extended);
                PacketClass::InOrder
            }
            SeqUpdate::Late { extended } => {
                if let Some(extended) = extended {
                    self.mark_seen(extended);
                }
                self.late += 1;
                PacketClass::Late
            }
            SeqUpdate::Jump => {
                self.jumps += 1;
                return PacketClass::Jump;
            }
            SeqUpdate::Restarted { extended } => {
                self.seen = [0; (SEEN_WINDOW / 64) as usize];
                self.seen_high = None;
                self.mark_seen(extended);
                PacketClass::Restarted
            }
        };
        self.jitter.update(now, timestamp);
        class
    }

    /// The extended number `sequence` would have, near the highest so far.
    fn extend(&self, sequence: u16) -> Option<u64> {
        let high = self.seq.extended_max()?;
        let base = (high & !0xFFFF) | u64::from(sequence);
        [
            base.checked_sub(0x1_0000),
            Some(base),
            base.checked_add(0x1_0000),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|&c| c.abs_diff(high))
    }

    fn is_seen(&self, ext: u64) -> bool {
        let Some(high) = self.seen_high else {
            return false;
        };
        if ext > high || high - ext >= SEEN_WINDOW {
            return false;
        }
        let bit = ext % SEEN_WINDOW;
        self.seen
            .get((bit / 64) as usize)
            .is_some_and(|w| w >> (bit % 64) & 1 == 1)
    }

    fn mark_seen(&mut self, ext: u64) {
        match self.seen_high {
            Some(high) if ext <= high => {
                if high - ext >= SEEN_WINDOW {
                    return;
                }
            }
            Some(high) => {
                // Clear the bits of the numbers skipped between the old and the new highest.
                if ext - high >= SEEN_WINDOW {
                    self.seen = [0; (SEEN_WINDOW / 64) as usize];
                } else {
                    for e in high + 1..=ext {
                        self.set_bit(e, false);
                    }
                }
                self.seen_high = Some(ext);
            }
            None => {
                self.seen_high = Some(ext);
            }
        }
        self.set_bit(ext, true);
    }

    fn set_bit(&mut self, ext: u64, on: bool) {
        let bit = ext % SEEN_WINDOW;
        if let Some(word) = self.seen.get_mut((bit / 64) as usize) {
            if on {
                *word |= 1 << (bit % 64);
            } else {
                *word &= !(1 << (bit % 64));
            }
        }
    }

    /// Records a sender report from this source that arrived at `now`, for the LSR/DLSR of
    /// the next report block (so the sender can compute the round-trip time).
    pub fn record_sender_report(&mut self, now: Instant, sr: &SenderReport) {
        self.last_sr = Some((sr.info.ntp.middle32(), now));
    }

    /// Whether packets arrived since the last [`report_block`](Self::report_block).
    pub fn has_new_packets(&self) -> bool {
        self.since_report > 0
    }

    /// The report block about this source for an SR/RR sent at `now`, or `None` while the
    /// source is on probation. Starts a new fraction-lost interval (A.3).
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let highest = self.seq.extended_max()?;
        self.since_report = 0;
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (lsr, duration_to_units(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost: self.seq.take_fraction_lost(),
            cumulative_lost: self.seq.cumulative_lost(),
            extended_highest_seq: highest as u32,
            jitter: self.jitter.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }

    /// The current numbers.
    pub fn snapshot(&self) -> StreamStatsSnapshot {
        let jitter_ticks = self.jitter.jitter();
        StreamStatsSnapshot {
            ssrc: self.ssrc,
            packets: self.packets,
            bytes: self.bytes,
            expected: self.seq.expected(),
            received: self.seq.received(),
            // A.3's difference goes negative when a late packet from before a sequence
            // restart is counted as received; the snapshot reports no loss then, never a
            // negative one.
            lost: (self.seq.expected() as i64 - self.seq.received() as i64).max(0),
            late: self.late,
            duplicates: self.duplicates,
            jumps: self.jumps,
            jitter_ticks,
            jitter_ms: f64::from(jitter_ticks) * 1000.0 / f64::from(self.jitter.clock_rate()),
            extended_highest_seq: self.seq.extended_max(),
        }
    }

    /// The interarrival jitter as a duration.
    pub fn jitter(&self) -> Duration {
        self.jitter.jitter_duration()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{NtpTime, SenderInfo};
    use bytes::Bytes;

    #[test]
    fn duplicates_and_reordering_are_told_apart() {
        let t0 = Instant::now();
        let mut s = StreamStats::new(1, 8000);
        let order = [0u16, 1, 2, 4, 3, 3, 5, 2, 7];
        let classes: Vec<_> = order.iter().map(|&q| s.record(t0, q, 0, 10)).collect();
        use PacketClass::*;
        assert_eq!(
            classes,
            [Probation, InOrder, InOrder, InOrder, Late, Duplicate, InOrder, Duplicate, InOrder]
        );
        let snap = s.snapshot();
        assert_eq!((snap.packets, snap.bytes), (9, 90));
        assert_eq!((snap.late, snap.duplicates), (1, 2));
        // Validated at 1: expected 1..=7 = 7, received 1,2,4,3,5,7 = 6.
        assert_eq!((snap.expected, snap.received, snap.lost), (7, 6, 1));
    }

    #[test]
    fn duplicates_across_the_wrap() {
        let t0 = Instant::now();
        let mut s = StreamStats::new(1, 8000);
        for q in [65_533u16, 65_534, 65_535, 0, 1] {
            s.record(t0, q, 0, 0);
        }
        assert_eq!(s.record(t0, 65_535, 0, 0), PacketClass::Duplicate);
        assert_eq!(s.record(t0, 0, 0, 0), PacketClass::Duplicate);
        assert_eq!(s.record(t0, 2, 0, 0), PacketClass::InOrder);
        assert_eq!(s.snapshot().extended_highest_seq, Some(65_538));
    }

    #[test]
    fn lsr_and_dlsr_in_the_report_block() {
        let t0 = Instant::now();
        let mut s = StreamStats::new(9, 8000);
        s.record(t0, 1, 0, 160);
        s.record(t0, 2, 160, 160);
        let sr = SenderReport {
            ssrc: 9,
            info: SenderInfo {
                ntp: NtpTime(0xb705_2000 << 16),
                ..Default::default()
            },
            reports: vec![],
            extension: Bytes::new(),
        };
        s.record_sender_report(t0, &sr);
        let block = s.report_block(t0 + Duration::from_millis(5250)).unwrap();
        assert_eq!(block.last_sr, 0xb705_2000);
        assert_eq!(block.delay_since_last_sr, 0x0005_4000);
        assert!(!s.has_new_packets());
    }

    proptest::proptest! {
        /// Any arrival order, with duplicates, never panics and never makes the loss count
        /// negative; every packet lands in exactly one class.
        #[test]
        fn arbitrary_sequences_keep_counts_coherent(
            seqs in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..400),
            start in proptest::prelude::any::<u16>(),
        ) {
            let t0 = Instant::now();
            let mut s = StreamStats::new(1, 8000);
            let mut classes = 0;
            for (i, q) in seqs.iter().enumerate() {
                // Half the packets near the stream, half anywhere.
                let q = if i % 2 == 0 { start.wrapping_add(q % 64) } else { *q };
                s.record(t0 + Duration::from_millis(i as u64), q, 0, 1);
                classes += 1;
                let snap = s.snapshot();
                proptest::prop_assert!(snap.lost >= 0, "{:?}", snap);
                let _ = s.report_block(t0);
            }
            proptest::prop_assert_eq!(s.snapshot().packets, classes);
        }
    }

    #[test]
    fn jitter_in_ticks_and_ms() {
        let t0 = Instant::now();
        let mut s = StreamStats::new(1, 8000);
        for i in 0..2000u32 {
            let late = if i % 2 == 1 { 10 } else { 0 };
            s.record(
                t0 + Duration::from_millis(u64::from(i * 20 + late)),
                i as u16,
                i * 160,
                160,
            );
        }
        let snap = s.snapshot();
        assert!((79..=80).contains(&snap.jitter_ticks));
        assert!((snap.jitter_ms - 10.0).abs() < 0.2);
    }
}
