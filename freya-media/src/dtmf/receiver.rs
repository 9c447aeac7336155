//! RFC 4733 receiver (§2.5.2): one [`DtmfEvent`] per key press from a stream of
//! telephone-event packets with retransmits, reordering and loss.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{DtmfError, DtmfEvent, EventCode, EventEnd, RtpEventInfo, TelephoneEvent};
use crate::rtp::RtpPacket;

/// Timestamps of reported events remembered to recognise their late packets.
const REMEMBERED: usize = 16;

/// Counters of a [`DtmfReceiver`]: every packet lands in exactly one of `malformed`,
/// `duplicates`, `stale`, or the packets that made or updated an event.
///
/// ```
/// use std::time::Instant;
/// use freya_media::dtmf::DtmfReceiver;
///
/// let mut rx = DtmfReceiver::new(8000);
/// assert!(rx.handle_payload(Instant::now(), true, 0, &[0; 5]).is_err());
/// let stats = rx.stats();
/// assert_eq!((stats.packets, stats.malformed, stats.events), (1, 1, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtmfReceiverStats {
    /// Packets handed in.
    pub packets: u64,
    /// Events reported.
    pub events: u64,
    /// Packets of an event already reported: the second and third end packets, or late
    /// updates after the end.
    pub duplicates: u64,
    /// Packets of an event older than the current one that was never seen (reordered by more
    /// than a whole key press): dropped rather than reported out of order.
    pub stale: u64,
    /// Payloads that were not 4 bytes.
    pub malformed: u64,
}

#[derive(Debug, Clone)]
struct Ongoing {
    code: EventCode,
    /// Timestamp of the first segment: the event's timestamp.
    timestamp: u32,
    /// Timestamp of the current segment (differs only for events longer than 0xFFFF ticks).
    segment_timestamp: u32,
    /// Largest duration seen in the current segment, in ticks.
    segment_duration: u16,
    /// Ticks of the completed earlier segments.
    earlier_segments: u32,
    volume: u8,
    last_packet: Instant,
}

/// Turns RFC 4733 telephone-event packets into one [`DtmfEvent`] per key press.
///
/// All packets of an event share its RTP timestamp (§2.5.1.2), which is how the receiver
/// tells retransmits and updates of one key press from the next press of the same key. An
/// event is reported once, when it ends:
/// - at its first end packet (E bit) — the two retransmits that follow are counted as
///   duplicates;
/// - at the first packet of a later event, if every end packet was lost;
/// - after `end_timeout` (default 250 ms) without a packet of the event
///   ([`handle_timeout`](Self::handle_timeout)).
///
/// The duration reported is the largest seen, so a lost end packet costs at most one update
/// interval of accuracy. Events longer than 0xFFFF ticks (8.19 s at 8 kHz), sent as segments
/// (§2.5.1.3), are joined into one. Call [`reset`](Self::reset) when the stream's SSRC
/// changes.
///
/// Sans-IO: arrival times are arguments; [`poll_timeout`](Self::poll_timeout) says when to
/// call [`handle_timeout`](Self::handle_timeout); events are drained with
/// [`poll_event`](Self::poll_event).
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_media::dtmf::{DtmfReceiver, EventEnd, TelephoneEvent, EventCode};
///
/// let t0 = Instant::now();
/// let mut rx = DtmfReceiver::new(8000);
/// let pkt = |end, duration| TelephoneEvent { event: EventCode::new(1), end, volume: 10, duration }.to_bytes();
/// rx.handle_payload(t0, true, 16000, &pkt(false, 0))?;
/// rx.handle_payload(t0 + Duration::from_millis(50), false, 16000, &pkt(false, 400))?;
/// assert!(rx.poll_event().is_none()); // still held
/// for _ in 0..3 {
///     rx.handle_payload(t0 + Duration::from_millis(80), false, 16000, &pkt(true, 640))?;
/// }
/// let ev = rx.poll_event().unwrap();
/// assert_eq!((ev.code.to_char(), ev.duration_ms), (Some('1'), 80));
/// assert_eq!(ev.rtp.unwrap().ended_by, EventEnd::EndPacket);
/// assert!(rx.poll_event().is_none());
/// assert_eq!(rx.stats().duplicates, 2);
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DtmfReceiver {
    clock_rate: u32,
    end_timeout: Duration,
    current: Option<Ongoing>,
    /// Ring of timestamps (event and segment) of reported events.
    finished: [Option<u32>; REMEMBERED],
    finished_next: usize,
    /// Timestamp of the most recent event started, to recognise stale packets.
    last_started: Option<u32>,
    events: VecDeque<DtmfEvent>,
    stats: DtmfReceiverStats,
}

impl DtmfReceiver {
    /// A receiver for a telephone-event stream whose RTP clock runs at `clock_rate` Hz (8000
    /// unless the SDP `a=rtpmap` says otherwise); a zero rate is taken as 8000.
    pub fn new(clock_rate: u32) -> Self {
        DtmfReceiver {
            clock_rate: if clock_rate == 0 { 8000 } else { clock_rate },
            end_timeout: Duration::from_millis(250),
            current: None,
            finished: [None; REMEMBERED],
            finished_next: 0,
            last_started: None,
            events: VecDeque::new(),
            stats: DtmfReceiverStats::default(),
        }
    }

    /// Sets how long an event may go without packets before it is reported as ended
    /// (default 250 ms: five 50 ms update intervals).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use freya_media::dtmf::DtmfReceiver;
    /// let rx = DtmfReceiver::new(8000).with_end_timeout(Duration::from_millis(400));
    /// ```
    pub fn with_end_timeout(mut self, timeout: Duration) -> Self {
        self.end_timeout = timeout;
        self
    }

    /// Feeds one telephone-event RTP packet's marker bit, timestamp and payload, received at
    /// `now`.
    ///
    /// # Errors
    /// [`DtmfError::PayloadLength`] if the payload is not 4 bytes (counted in
    /// [`DtmfReceiverStats::malformed`]); the receiver's state is unchanged.
    pub fn handle_payload(
        &mut self,
        now: Instant,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), DtmfError> {
        self.stats.packets += 1;
        let event = match TelephoneEvent::parse(payload) {
            Ok(event) => event,
            Err(err) => {
                self.stats.malformed += 1;
                return Err(err);
            }
        };
        if self.finished.contains(&Some(timestamp)) {
            self.stats.duplicates += 1;
            return Ok(());
        }

        if let Some(cur) = self.current.as_mut() {
            if timestamp == cur.segment_timestamp && event.event == cur.code {
                cur.segment_duration = cur.segment_duration.max(event.duration);
                cur.volume = event.volume;
                cur.last_packet = now;
                if event.end {
                    self.finish(EventEnd::EndPacket);
                }
                return Ok(());
            }
            // §2.5.1.3: the next segment of a long event starts 0xFFFF ticks after the
            // previous one, without the marker bit.
            if !marker
                && event.event == cur.code
                && timestamp == cur.segment_timestamp.wrapping_add(u32::from(u16::MAX))
            {
                cur.earlier_segments = cur.earlier_segments.saturating_add(u32::from(u16::MAX));
                cur.segment_timestamp = timestamp;
                cur.segment_duration = event.duration;
                cur.volume = event.volume;
                cur.last_packet = now;
                if event.end {
                    self.finish(EventEnd::EndPacket);
                }
                return Ok(());
            }
            let current_timestamp = cur.segment_timestamp;
            if self.is_stale(timestamp, current_timestamp) {
                self.stats.stale += 1;
                return Ok(());
            }
            self.finish(EventEnd::NextEvent);
        } else if let Some(last) = self.last_started {
            if timestamp == last || self.is_stale(timestamp, last) {
                self.stats.stale += 1;
                return Ok(());
            }
        }

        self.last_started = Some(timestamp);
        self.current = Some(Ongoing {
            code: event.event,
            timestamp,
            segment_timestamp: timestamp,
            segment_duration: event.duration,
            earlier_segments: 0,
            volume: event.volume,
            last_packet: now,
        });
        if event.end {
            // Start and updates lost: the end packet alone still makes the key press.
            self.finish(EventEnd::EndPacket);
        }
        Ok(())
    }

    /// Feeds a parsed RTP packet of the telephone-event payload type (the caller matches the
    /// payload type negotiated in SDP).
    ///
    /// # Errors
    /// As [`handle_payload`](Self::handle_payload).
    pub fn handle_rtp(&mut self, now: Instant, packet: &RtpPacket) -> Result<(), DtmfError> {
        self.handle_payload(now, packet.marker(), packet.timestamp(), packet.payload())
    }

    /// Reports the ongoing event if no packet of it arrived for the end timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.finish(EventEnd::Timeout);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to do, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current
            .as_ref()
            .and_then(|cur| cur.last_packet.checked_add(self.end_timeout))
    }

    /// The next finished key press, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    /// Whether a key is being held right now (an event started and has not ended), and which.
    pub fn ongoing(&self) -> Option<EventCode> {
        self.current.as_ref().map(|cur| cur.code)
    }

    /// The counters.
    pub fn stats(&self) -> DtmfReceiverStats {
        self.stats
    }

    /// Forgets the ongoing event and the remembered timestamps (for a new SSRC); queued
    /// events and counters are kept.
    pub fn reset(&mut self) {
        self.current = None;
        self.finished = [None; REMEMBERED];
        self.last_started = None;
    }

    /// Whether `timestamp` lies before `reference`, by less than 10 s of clock (beyond that
    /// it is taken as a restarted clock, not a late packet).
    fn is_stale(&self, timestamp: u32, reference: u32) -> bool {
        let back = reference.wrapping_sub(timestamp);
        back != 0 && back < self.clock_rate.saturating_mul(10)
    }

    fn finish(&mut self, ended_by: EventEnd) {
        let Some(cur) = self.current.take() else {
            return;
        };
        let ticks = cur
            .earlier_segments
            .saturating_add(u32::from(cur.segment_duration));
        let rate = u64::from(self.clock_rate);
        let duration_ms = ((u64::from(ticks) * 1000 + rate / 2) / rate) as u32;
        self.events.push_back(DtmfEvent {
            code: cur.code,
            duration_ms,
            volume: Some(cur.volume),
            rtp: Some(RtpEventInfo {
                timestamp: cur.timestamp,
                duration_ticks: ticks,
                ended_by,
            }),
        });
        self.stats.events += 1;
        self.remember(cur.segment_timestamp);
        if cur.timestamp != cur.segment_timestamp {
            self.remember(cur.timestamp);
        }
    }

    fn remember(&mut self, timestamp: u32) {
        if let Some(slot) = self.finished.get_mut(self.finished_next) {
            *slot = Some(timestamp);
        }
        self.finished_next = (self.finished_next + 1) % REMEMBERED;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(code: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event: EventCode::new(code),
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn malformed_payload_is_refused_and_counted() {
        let mut rx = DtmfReceiver::new(8000);
        let err = rx.handle_payload(Instant::now(), true, 0, &[1, 2]);
        assert_eq!(err, Err(DtmfError::PayloadLength { len: 2 }));
        assert_eq!(rx.stats().malformed, 1);
        assert_eq!(rx.ongoing(), None);
    }

    #[test]
    fn lost_start_and_updates_end_packet_alone_reports() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::new(8000);
        for i in 0..3 {
            rx.handle_payload(ms(t0, i * 50), false, 800, &pkt(9, true, 960))
                .unwrap();
        }
        let ev = rx.poll_event().unwrap();
        assert_eq!(ev.code.to_char(), Some('9'));
        assert_eq!(ev.duration_ms, 120);
        assert!(rx.poll_event().is_none());
        assert_eq!(rx.stats().duplicates, 2);
    }

    #[test]
    fn all_end_packets_lost_timeout_reports_last_duration() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::new(8000);
        rx.handle_payload(t0, true, 0, &pkt(4, false, 0)).unwrap();
        rx.handle_payload(ms(t0, 50), false, 0, &pkt(4, false, 400))
            .unwrap();
        assert_eq!(rx.poll_timeout(), Some(ms(t0, 300)));
        rx.handle_timeout(ms(t0, 299));
        assert!(rx.poll_event().is_none());
        rx.handle_timeout(ms(t0, 300));
        let ev = rx.poll_event().unwrap();
        assert_eq!(ev.duration_ms, 50);
        assert_eq!(ev.rtp.unwrap().ended_by, EventEnd::Timeout);
        // A late end packet afterwards is a duplicate, not a second press.
        rx.handle_payload(ms(t0, 320), false, 0, &pkt(4, true, 800))
            .unwrap();
        assert!(rx.poll_event().is_none());
        assert_eq!(rx.stats().duplicates, 1);
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn same_key_twice_is_two_events_and_next_event_ends_a_lost_end() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::new(8000);
        rx.handle_payload(t0, true, 1000, &pkt(7, false, 0))
            .unwrap();
        rx.handle_payload(ms(t0, 50), false, 1000, &pkt(7, false, 400))
            .unwrap();
        // End packets lost; the same key again, 200 ms later.
        rx.handle_payload(ms(t0, 200), true, 2600, &pkt(7, false, 0))
            .unwrap();
        let first = rx.poll_event().unwrap();
        assert_eq!(first.rtp.unwrap().ended_by, EventEnd::NextEvent);
        assert_eq!(first.rtp.unwrap().timestamp, 1000);
        rx.handle_payload(ms(t0, 250), false, 2600, &pkt(7, true, 400))
            .unwrap();
        let second = rx.poll_event().unwrap();
        assert_eq!(second.rtp.unwrap().timestamp, 2600);
        assert_eq!(second.code, first.code);
    }

    #[test]
    fn stale_event_is_dropped_not_reported_out_of_order() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::new(8000);
        rx.handle_payload(t0, true, 5000, &pkt(2, false, 0))
            .unwrap();
        // A packet of an older, never seen event.
        rx.handle_payload(ms(t0, 10), false, 3000, &pkt(1, false, 400))
            .unwrap();
        assert_eq!(rx.stats().stale, 1);
        assert_eq!(rx.ongoing(), Some(EventCode::new(2)));
    }

    #[test]
    fn restarted_clock_far_behind_is_a_new_event() {
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::new(8000);
        rx.handle_payload(t0, true, 1_000_000, &pkt(2, true, 800))
            .unwrap();
        rx.handle_payload(ms(t0, 500), true, 10, &pkt(3, true, 800))
            .unwrap();
        assert_eq!(rx.poll_event().unwrap().code.code(), 2);
        assert_eq!(rx.poll_event().unwrap().code.code(), 3);
    }

    #[test]
    fn long_event_segments_are_joined() {
        // §2.5.1.3: a 10 s press at 8 kHz is 80 000 ticks: one full segment of 0xFFFF and a
        // second of 14 465 starting at timestamp + 0xFFFF.
        let t0 = Instant::now();
        let mut rx = DtmfReceiver::new(8000);
        rx.handle_payload(t0, true, 100, &pkt(0, false, 0)).unwrap();
        rx.handle_payload(ms(t0, 8000), false, 100, &pkt(0, false, 0xFFFF))
            .unwrap();
        rx.handle_payload(ms(t0, 8200), false, 100 + 0xFFFF, &pkt(0, false, 1000))
            .unwrap();
        rx.handle_payload(ms(t0, 10_000), false, 100 + 0xFFFF, &pkt(0, true, 14_465))
            .unwrap();
        let ev = rx.poll_event().unwrap();
        assert_eq!(ev.rtp.unwrap().duration_ticks, 80_000);
        assert_eq!(ev.duration_ms, 10_000);
        assert_eq!(ev.rtp.unwrap().timestamp, 100);
        assert!(rx.poll_event().is_none());
        // Retransmitted end packets of the second segment are duplicates.
        rx.handle_payload(ms(t0, 10_050), false, 100 + 0xFFFF, &pkt(0, true, 14_465))
            .unwrap();
        assert!(rx.poll_event().is_none());
    }
}
