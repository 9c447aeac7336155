//! Interarrival jitter, RFC 3550 §6.4.1 and Appendix A.8.

use std::time::{Duration, Instant};

/// The RFC 3550 interarrival jitter estimate of one source: the smoothed mean deviation of
/// the difference in packet spacing at the receiver compared to the sender (§6.4.1), computed
/// with A.8's integer arithmetic (16× scaled, so it reads out bit-identical to other RFC 3550
/// implementations).
///
/// Sans-IO: the caller passes each packet's arrival `Instant` (from the socket read, or
/// virtual time in tests) and RTP timestamp. Arrivals are converted to RTP ticks of
/// `clock_rate` relative to the first arrival. Feed only packets that are not retransmits;
/// RFC 4733 packets of one event share a timestamp and should not be fed either.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_media::rtp::JitterEstimator;
///
/// let t0 = Instant::now();
/// let mut jitter = JitterEstimator::new(8000);
/// // 20 ms packets (160 ticks) arriving alternately on time and 10 ms (80 ticks) late.
/// for i in 0..2000u32 {
///     let late = if i % 2 == 1 { 10 } else { 0 };
///     jitter.update(t0 + Duration::from_millis(u64::from(i * 20 + late)), i * 160);
/// }
/// // |D| is 80 ticks for every pair; A.8's integer form settles just under it.
/// assert!((79..=80).contains(&jitter.jitter()));
/// assert!(jitter.jitter_duration() > Duration::from_micros(9_800));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterEstimator {
    clock_rate: u32,
    /// Arrival time that maps to tick 0.
    epoch: Option<Instant>,
    /// Previous packet's transit time, in ticks (wrapping).
    last_transit: Option<u32>,
    /// Jitter × 16, in ticks (A.8 `s->jitter`).
    jitter_x16: u64,
}

impl JitterEstimator {
    /// An estimator for a stream whose RTP clock runs at `clock_rate` Hz (8000 for G.711).
    /// A zero rate is taken as 8000.
    pub fn new(clock_rate: u32) -> Self {
        JitterEstimator {
            clock_rate: if clock_rate == 0 { 8000 } else { clock_rate },
            epoch: None,
            last_transit: None,
            jitter_x16: 0,
        }
    }

    /// Feeds one packet: its arrival time and its RTP timestamp (A.8).
    pub fn update(&mut self, arrival: Instant, rtp_timestamp: u32) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let since = arrival.saturating_duration_since(epoch);
        let ticks = since.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
        // The arrival clock wraps like the RTP clock; only differences matter.
        let arrival_ticks = ticks as u32;
        let transit = arrival_ticks.wrapping_sub(rtp_timestamp);
        if let Some(last) = self.last_transit.replace(transit) {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            // A.8: jitter += d - ((jitter + 8) >> 4), on a 16x scaled value.
            self.jitter_x16 = (self.jitter_x16 + d).saturating_sub((self.jitter_x16 + 8) >> 4);
        }
    }

    /// The current estimate in RTP ticks, as the RR "interarrival jitter" field carries it.
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_x16 >> 4).unwrap_or(u32::MAX)
    }

    /// The current estimate as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_nanos(
            (u128::from(self.jitter()) * 1_000_000_000 / u128::from(self.clock_rate)) as u64,
        )
    }

    /// The RTP clock rate, in Hz.
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_stream_has_zero_jitter() {
        let t0 = Instant::now();
        let mut j = JitterEstimator::new(8000);
        // Constant network delay, timestamps starting anywhere, crossing the u32 wrap.
        for i in 0..1000u32 {
            j.update(
                t0 + Duration::from_millis(u64::from(i) * 20 + 37),
                (u32::MAX - 50_000).wrapping_add(i * 160),
            );
        }
        assert_eq!(j.jitter(), 0);
    }

    #[test]
    fn integer_form_tracks_the_floating_point_definition() {
        // §6.4.1: J(i) = J(i-1) + (|D(i-1,i)| - J(i-1)) / 16.
        let t0 = Instant::now();
        let mut j = JitterEstimator::new(8000);
        let mut reference = 0.0f64;
        let mut last_transit: Option<f64> = None;
        // A pseudo-random delay pattern of 0..40 ms in whole milliseconds (8 ticks each).
        let mut x: u32 = 12345;
        for i in 0..500u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let delay_ms = u64::from((x >> 16) % 40);
            let arrival_ms = u64::from(i) * 20 + delay_ms;
            j.update(t0 + Duration::from_millis(arrival_ms), i * 160);
            let transit = arrival_ms as f64 * 8.0 - f64::from(i * 160);
            if let Some(last) = last_transit {
                reference += ((transit - last).abs() - reference) / 16.0;
            }
            last_transit = Some(transit);
        }
        let diff = (f64::from(j.jitter()) - reference).abs();
        assert!(diff <= 1.0, "integer {} vs float {reference}", j.jitter());
        assert!(reference > 10.0);
    }

    #[test]
    fn huge_timestamp_jump_saturates_instead_of_overflowing() {
        let t0 = Instant::now();
        let mut j = JitterEstimator::new(8000);
        j.update(t0, 0);
        j.update(t0 + Duration::from_millis(20), 0x8000_0000);
        assert!(j.jitter() > 0);
        j.update(t0, 0); // arrival before the epoch: clamped, no panic
    }
}
