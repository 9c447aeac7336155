//! Sequence-number extension, source validation and loss accounting: RFC 3550 Appendix A.1
//! (`init_seq`/`update_seq`) and A.3 (expected, lost, fraction lost).

/// Packets a source must send in sequence before it is valid (A.1 `MIN_SEQUENTIAL`).
const MIN_SEQUENTIAL: u16 = 2;
/// A forward jump up to this many packets is accepted as loss (A.1 `MAX_DROPOUT`).
const MAX_DROPOUT: u16 = 3000;
/// A packet up to this many behind the highest is a late (reordered) one (A.1 `MAX_MISORDER`).
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u64 = 1 << 16;

/// What one sequence number meant to a [`SequenceTracker`].
///
/// ```
/// use freya_media::rtp::{SeqUpdate, SequenceTracker};
///
/// let mut seq = SequenceTracker::with_probation(0);
/// seq.update(100);
/// assert_eq!(seq.update(103), SeqUpdate::InOrder { extended: 103, lost: 2 });
/// assert_eq!(seq.update(101), SeqUpdate::Late { extended: Some(101) });
/// assert_eq!(seq.update(30_000), SeqUpdate::Jump);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqUpdate {
    /// The source is still on probation (A.1: fewer than 2 packets in sequence so far); the
    /// packet is not counted.
    Probation,
    /// The new highest sequence number; `lost` packets were skipped between the previous
    /// highest and this one (0 when in order).
    InOrder {
        /// The extended (wrap-counted) sequence number: `cycles * 65536 + seq`.
        extended: u64,
        /// Sequence numbers skipped since the previous highest.
        lost: u16,
    },
    /// Up to 100 behind the highest: a reordered or duplicated packet. Counted as received
    /// (as A.1 does; duplicates can make the loss count negative).
    Late {
        /// Its extended sequence number, or `None` if it precedes the first packet counted.
        extended: Option<u64>,
    },
    /// A jump of more than 3000 ahead or 100 behind: not counted. If the next packet follows
    /// it in sequence, the stream is taken to have restarted ([`SeqUpdate::Restarted`]).
    Jump,
    /// The packet after a [`SeqUpdate::Jump`] followed it in sequence: the sender restarted
    /// its numbering (A.1), and the statistics start over from this packet.
    Restarted {
        /// Its extended sequence number in the new numbering (the cycle count restarts at 0).
        extended: u64,
    },
}

/// Tracks one source's sequence numbers as RFC 3550 A.1 does: extends them across the 16-bit
/// wrap, validates a new source, tells in-order, late and wild packets apart, and keeps the
/// A.3 counters for RTCP reception reports (cumulative lost, fraction lost).
///
/// Sans-IO: feed it each packet's sequence number in arrival order.
///
/// ```
/// use freya_media::rtp::{SeqUpdate, SequenceTracker};
///
/// let mut seq = SequenceTracker::new();
/// assert_eq!(seq.update(65534), SeqUpdate::Probation);
/// assert_eq!(seq.update(65535), SeqUpdate::InOrder { extended: 65535, lost: 0 });
/// assert_eq!(seq.update(1), SeqUpdate::InOrder { extended: 65537, lost: 1 }); // 0 lost
/// assert_eq!(seq.update(0), SeqUpdate::Late { extended: Some(65536) });        // 0 arrives late
/// assert_eq!(seq.cycles(), 1);
/// assert_eq!(seq.expected(), 3);
/// assert_eq!(seq.received(), 3);
/// assert_eq!(seq.cumulative_lost(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceTracker {
    /// Whether any packet has been seen.
    started: bool,
    /// Highest sequence number seen (A.1 `max_seq`).
    max_seq: u16,
    /// Wraps of the sequence number (A.1 `cycles >> 16`).
    cycles: u64,
    /// First sequence number counted (A.1 `base_seq`).
    base_seq: u16,
    /// The sequence number that would confirm a jump (A.1 `bad_seq`); `None` = none pending.
    bad_seq: Option<u16>,
    /// Packets still needed in sequence before the source is valid (A.1 `probation`).
    probation: u16,
    /// Packets counted (A.1 `received`).
    received: u64,
    /// `expected()` at the last [`take_fraction_lost`](Self::take_fraction_lost) (A.3).
    expected_prior: u64,
    /// `received` at the last [`take_fraction_lost`](Self::take_fraction_lost) (A.3).
    received_prior: u64,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SequenceTracker {
    /// A tracker with RFC 3550's probation: a new source is valid after 2 packets in sequence.
    pub fn new() -> Self {
        Self::with_probation(MIN_SEQUENTIAL)
    }

    /// A tracker whose new source is valid after `packets` in sequence; 0 or 1 counts the
    /// very first packet (for a source already validated by signalling, e.g. a latched peer).
    ///
    /// ```
    /// use freya_media::rtp::{SeqUpdate, SequenceTracker};
    ///
    /// let mut seq = SequenceTracker::with_probation(0);
    /// assert_eq!(seq.update(7), SeqUpdate::InOrder { extended: 7, lost: 0 });
    /// ```
    pub fn with_probation(packets: u16) -> Self {
        SequenceTracker {
            started: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: None,
            probation: packets,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
        }
    }

    /// A.1 `init_seq`: start counting at `seq`.
    fn init(&mut self, seq: u16) {
        self.base_seq = seq;
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Feeds one packet's sequence number (A.1 `update_seq`).
    pub fn update(&mut self, seq: u16) -> SeqUpdate {
        if !self.started {
            self.started = true;
            if self.probation <= 1 {
                self.probation = 0;
                self.init(seq);
                self.received = 1;
                return SeqUpdate::InOrder {
                    extended: u64::from(seq),
                    lost: 0,
                };
            }
            // A.1: init_seq(seq); max_seq = seq - 1; then update_seq below.
            self.init(seq);
            self.max_seq = seq.wrapping_sub(1);
        }

        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if udelta == 1 {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init(seq);
                    self.received = 1;
                    return SeqUpdate::InOrder {
                        extended: u64::from(seq),
                        lost: 0,
                    };
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqUpdate::Probation;
        }

        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap (udelta 0 is a duplicate of the highest).
            if udelta == 0 {
                self.received += 1;
                return SeqUpdate::Late {
                    extended: Some(self.extended(seq)),
                };
            }
            if seq < self.max_seq {
                self.cycles += 1;
            }
            self.max_seq = seq;
            self.received += 1;
            SeqUpdate::InOrder {
                extended: self.extended(seq),
                lost: udelta - 1,
            }
        } else if udelta <= u16::MAX - MAX_MISORDER + 1 {
            // The sequence number made a very large jump.
            if self.bad_seq == Some(seq) {
                // Two sequential packets: assume the other side restarted without telling us.
                self.init(seq);
                self.received = 1;
                SeqUpdate::Restarted {
                    extended: u64::from(seq),
                }
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                SeqUpdate::Jump
            }
        } else {
            // Duplicate or reordered packet.
            self.received += 1;
            let behind_wrap = seq > self.max_seq;
            let extended = if behind_wrap {
                (self.cycles.checked_sub(1)).map(|c| c * SEQ_MOD + u64::from(seq))
            } else {
                Some(self.cycles * SEQ_MOD + u64::from(seq))
            };
            SeqUpdate::Late {
                extended: extended.filter(|&e| e >= u64::from(self.base_seq)),
            }
        }
    }

    fn extended(&self, seq: u16) -> u64 {
        self.cycles * SEQ_MOD + u64::from(seq)
    }

    /// The extended highest sequence number received (RR "extended highest sequence number
    /// received", modulo 2³² there), or `None` before the source is valid.
    pub fn extended_max(&self) -> Option<u64> {
        (self.started && self.probation == 0).then(|| self.extended(self.max_seq))
    }

    /// How many times the sequence number wrapped past 65535.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Packets counted since the source became valid (including late and duplicate ones).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected since the source became valid (A.3: highest − first + 1).
    pub fn expected(&self) -> u64 {
        self.extended_max()
            .map_or(0, |max| (max + 1).saturating_sub(u64::from(self.base_seq)))
    }

    /// Cumulative packets lost (A.3), clamped to the 24-bit signed RR field; negative when
    /// duplicates outnumber losses.
    ///
    /// ```
    /// use freya_media::rtp::SequenceTracker;
    ///
    /// let mut seq = SequenceTracker::with_probation(0);
    /// for s in [10, 11, 14] { seq.update(s); }
    /// assert_eq!(seq.cumulative_lost(), 2);
    /// ```
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i128 - self.received as i128;
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// The RR "fraction lost" since the previous call (A.3): lost/expected in the interval,
    /// as an 8-bit fixed-point fraction (256 = all); 0 when nothing was lost or duplicates
    /// outnumber losses. Starts a new interval.
    ///
    /// ```
    /// use freya_media::rtp::SequenceTracker;
    ///
    /// let mut seq = SequenceTracker::with_probation(0);
    /// for s in [0, 1, 3] { seq.update(s); } // 4 expected, 3 received
    /// assert_eq!(seq.take_fraction_lost(), 64); // 1/4
    /// assert_eq!(seq.take_fraction_lost(), 0);  // nothing new
    /// ```
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        if expected_interval == 0 || received_interval >= expected_interval {
            return 0;
        }
        let lost_interval = expected_interval - received_interval;
        ((lost_interval << 8) / expected_interval).min(255) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn probation_then_valid() {
        let mut s = SequenceTracker::new();
        assert_eq!(s.extended_max(), None);
        assert_eq!(s.update(100), SeqUpdate::Probation);
        assert_eq!(s.update(102), SeqUpdate::Probation); // out of sequence: probation restarts
        assert_eq!(
            s.update(103),
            SeqUpdate::InOrder {
                extended: 103,
                lost: 0
            }
        );
        assert_eq!(s.extended_max(), Some(103));
        assert_eq!(s.expected(), 1);
        assert_eq!(s.received(), 1);
    }

    #[test]
    fn wraps_many_times() {
        let mut s = SequenceTracker::with_probation(0);
        let mut seq: u16 = 65000;
        for _ in 0..300_000u32 {
            s.update(seq);
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.cycles(), 5); // 65000 + 299_999 = 364_999 → 5 wraps
        assert_eq!(s.extended_max(), Some(65000 + 299_999));
        assert_eq!(s.expected(), 300_000);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn large_jump_needs_confirmation_then_restarts() {
        let mut s = SequenceTracker::with_probation(0);
        for q in 0..10 {
            s.update(q);
        }
        assert_eq!(s.update(40_000), SeqUpdate::Jump);
        assert_eq!(
            s.update(10),
            SeqUpdate::InOrder {
                extended: 10,
                lost: 0
            }
        );
        assert_eq!(s.update(40_000), SeqUpdate::Jump);
        assert_eq!(s.update(40_001), SeqUpdate::Restarted { extended: 40_001 });
        assert_eq!(s.extended_max(), Some(40_001));
        assert_eq!(s.received(), 1);
        assert_eq!(
            s.update(40_002),
            SeqUpdate::InOrder {
                extended: 40_002,
                lost: 0
            }
        );
    }

    #[test]
    fn late_packet_before_first_has_no_extended_number() {
        let mut s = SequenceTracker::with_probation(0);
        s.update(5);
        assert_eq!(s.update(3), SeqUpdate::Late { extended: None });
        assert_eq!(s.update(5), SeqUpdate::Late { extended: Some(5) }); // duplicate
        assert_eq!(s.cumulative_lost(), -2);
    }

    #[test]
    fn late_packet_across_the_wrap_gets_previous_cycle() {
        let mut s = SequenceTracker::with_probation(0);
        s.update(65530);
        s.update(2); // wrap, lost 65531..=1
        assert_eq!(s.cycles(), 1);
        assert_eq!(
            s.update(65533),
            SeqUpdate::Late {
                extended: Some(65533)
            }
        );
        assert_eq!(
            s.update(0),
            SeqUpdate::Late {
                extended: Some(65536)
            }
        );
    }

    proptest! {
        /// With no reordering and gaps below MAX_DROPOUT, the extended sequence number counts
        /// exactly, and lost = gaps, across any number of wraps.
        #[test]
        fn extended_numbers_are_exact(start in any::<u16>(), gaps in proptest::collection::vec(0u64..50, 1..3000)) {
            let mut s = SequenceTracker::with_probation(0);
            let mut ext = u64::from(start);
            s.update(start);
            let mut lost = 0;
            for g in gaps {
                ext += g + 1;
                lost += g;
                let r = s.update((ext % SEQ_MOD) as u16);
                prop_assert_eq!(r, SeqUpdate::InOrder { extended: ext, lost: g as u16 });
            }
            prop_assert_eq!(s.extended_max(), Some(ext));
            prop_assert_eq!(s.cumulative_lost() as u64, lost);
        }

        /// Any input sequence is handled without panicking and keeps the counters coherent.
        #[test]
        fn arbitrary_sequences_never_panic(seqs in proptest::collection::vec(any::<u16>(), 0..500)) {
            let mut s = SequenceTracker::new();
            for q in seqs {
                s.update(q);
                let _ = s.take_fraction_lost();
                prop_assert!(s.expected() < u64::MAX / 2);
            }
        }
    }
}
