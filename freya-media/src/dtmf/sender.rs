//! RFC 4733 sender (§2.5.1): schedules the packets of each key press.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{DtmfError, EventCode, TelephoneEvent};

/// Shortest tone the sender accepts (ITU-T Q.24: receivers may ignore shorter ones).
const MIN_TONE: Duration = Duration::from_millis(40);

/// How a [`DtmfSender`] paces and shapes its packets.
///
/// ```
/// use std::time::Duration;
/// use freya_media::dtmf::{DtmfSender, DtmfSenderConfig};
///
/// let config = DtmfSenderConfig { volume: 63, ..DtmfSenderConfig::default() };
/// assert_eq!(config.update_interval, Duration::from_millis(50));
/// let sender = DtmfSender::new(config)?;
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtmfSenderConfig {
    /// The telephone-event RTP clock, in Hz (8000 unless SDP negotiated another rate).
    pub clock_rate: u32,
    /// Power level in -dBm0 (0..=63); default 10.
    pub volume: u8,
    /// Time between the start packet and each update packet, and between the end packet's
    /// retransmits; default 50 ms (RFC 4733 §2.5.1.2 suggests 50 ms).
    pub update_interval: Duration,
    /// How many end packets to send in total (§2.5.1.4: three); default 3.
    pub end_packets: u8,
    /// Silence between the end of one tone and the start of the next queued one; at least
    /// `(end_packets - 1) * update_interval` so that the end retransmits come first, at most
    /// 60 s; default 100 ms.
    pub gap: Duration,
}

impl Default for DtmfSenderConfig {
    fn default() -> Self {
        DtmfSenderConfig {
            clock_rate: 8000,
            volume: 10,
            update_interval: Duration::from_millis(50),
            end_packets: 3,
            gap: Duration::from_millis(100),
        }
    }
}

/// One telephone-event packet to send now: the RTP header fields the event owns plus the
/// payload. The caller's RTP stream adds the sequence number, SSRC and the negotiated
/// telephone-event payload type (and holds back its audio packets while an event is on).
///
/// ```
/// use std::time::{Duration, Instant};
/// use bytes::BytesMut;
/// use freya_media::dtmf::{DtmfSender, DtmfSenderConfig, EventCode};
/// use freya_media::rtp::RtpHeader;
///
/// let now = Instant::now();
/// let mut tx = DtmfSender::new(DtmfSenderConfig::default())?;
/// tx.send(now, EventCode::from_char('#')?, Duration::from_millis(80))?;
/// let packet = tx.poll_transmit(now, 160_000).unwrap();
/// assert!(packet.marker);
/// assert_eq!(packet.payload(), [11, 10, 0, 0]); // '#', volume 10, duration 0
///
/// let mut header = RtpHeader::new(101, 4711, packet.timestamp, 0xABCD);
/// header.marker = packet.marker;
/// let mut wire = BytesMut::new();
/// header.write(&packet.payload(), &mut wire).unwrap();
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The RTP marker bit: set on the first packet of an event only.
    pub marker: bool,
    /// The RTP timestamp: the media time at which the event started, the same for all its
    /// packets.
    pub timestamp: u32,
    /// The payload fields.
    pub event: TelephoneEvent,
    /// When the schedule wanted this packet sent (at or before the `now` it was polled at).
    pub due: Instant,
}

impl DtmfPacket {
    /// The 4-byte RTP payload.
    pub fn payload(&self) -> [u8; 4] {
        self.event.to_bytes()
    }
}

#[derive(Debug, Clone)]
struct Queued {
    code: EventCode,
    duration: Duration,
    ticks: u16,
}

#[derive(Debug, Clone)]
struct Active {
    code: EventCode,
    start: Instant,
    timestamp: u32,
    duration: Duration,
    ticks: u16,
    /// Start and update packets sent so far.
    updates_sent: u32,
    /// End packets sent so far.
    ends_sent: u8,
}

/// Sends key presses as RFC 4733 telephone-events (§2.5.1), one after the other.
///
/// For a tone of duration `D` started at `t` with media timestamp `ts`, it produces:
/// - the start packet at `t`: marker set, duration 0;
/// - an update every `update_interval` (50 ms) while the tone lasts, duration = time since
///   `t` in RTP ticks;
/// - at `t + D` the end packet (E bit, duration = `D` in ticks), sent `end_packets` (3) times
///   `update_interval` apart.
///
/// Every packet of the event carries timestamp `ts`. Queued tones follow each other with
/// `gap` of silence. Sans-IO: [`poll_timeout`](Self::poll_timeout) says when to call
/// [`poll_transmit`](Self::poll_transmit), which takes the current time and the media
/// timestamp of that instant (used when an event starts).
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_media::dtmf::{DtmfSender, DtmfSenderConfig, EventCode};
///
/// let t0 = Instant::now();
/// let mut tx = DtmfSender::new(DtmfSenderConfig::default())?;
/// tx.send(t0, EventCode::from_char('1')?, Duration::from_millis(100))?;
/// let mut sent = Vec::new();
/// while let Some(at) = tx.poll_timeout() {
///     let media_ts = 8000 + 8 * (at - t0).as_millis() as u32; // the audio clock at `at`
///     while let Some(p) = tx.poll_transmit(at, media_ts) {
///         sent.push(((p.due - t0).as_millis(), p.marker, p.timestamp, p.event.end, p.event.duration));
///     }
/// }
/// assert_eq!(sent, [
///     (0, true, 8000, false, 0),
///     (50, false, 8000, false, 400),
///     (100, false, 8000, true, 800),
///     (150, false, 8000, true, 800),
///     (200, false, 8000, true, 800),
/// ]);
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DtmfSender {
    config: DtmfSenderConfig,
    queue: VecDeque<Queued>,
    active: Option<Active>,
    /// Earliest start of the next queued tone.
    next_start: Option<Instant>,
}

impl DtmfSender {
    /// A sender with `config`.
    ///
    /// # Errors
    /// [`DtmfError::VolumeOutOfRange`] for a volume above 63; [`DtmfError::BadSenderConfig`]
    /// for a zero clock rate, an update interval of zero or over 0xFFFF ticks, zero end
    /// packets, or a gap shorter than the end retransmits or longer than 60 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use freya_media::dtmf::{DtmfError, DtmfSender, DtmfSenderConfig};
    ///
    /// let config = DtmfSenderConfig { gap: Duration::from_millis(20), ..Default::default() };
    /// assert!(matches!(DtmfSender::new(config), Err(DtmfError::BadSenderConfig { setting: "gap", .. })));
    /// ```
    pub fn new(config: DtmfSenderConfig) -> Result<Self, DtmfError> {
        if config.volume > 63 {
            return Err(DtmfError::VolumeOutOfRange {
                volume: config.volume,
            });
        }
        let bad = |setting, value: String, reason| DtmfError::BadSenderConfig {
            setting,
            value,
            reason,
        };
        if config.clock_rate == 0 {
            return Err(bad("clock_rate", "0".into(), "must be positive"));
        }
        let interval_ticks = ticks(config.clock_rate, config.update_interval);
        if interval_ticks == 0 || interval_ticks > u64::from(u16::MAX) {
            return Err(bad(
                "update_interval",
                format!("{:?}", config.update_interval),
                "must be at least one RTP tick and at most 0xFFFF ticks",
            ));
        }
        if config.end_packets == 0 {
            return Err(bad("end_packets", "0".into(), "at least one end packet"));
        }
        if config.gap > Duration::from_secs(60) {
            return Err(bad("gap", format!("{:?}", config.gap), "longer than 60 s"));
        }
        if config.gap < config.update_interval * u32::from(config.end_packets - 1) {
            return Err(bad(
                "gap",
                format!("{:?}", config.gap),
                "shorter than the end packets' retransmits ((end_packets - 1) * update_interval)",
            ));
        }
        Ok(DtmfSender {
            config,
            queue: VecDeque::new(),
            active: None,
            next_start: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DtmfSenderConfig {
        &self.config
    }

    /// Queues one key press of `duration` (40 ms up to 0xFFFF ticks: 8191 ms at 8 kHz). It
    /// starts at `now`, or after the tones queued before it.
    ///
    /// # Errors
    /// [`DtmfError::DurationOutOfRange`]; nothing is queued then.
    pub fn send(
        &mut self,
        now: Instant,
        code: EventCode,
        duration: Duration,
    ) -> Result<(), DtmfError> {
        let tone_ticks = ticks(self.config.clock_rate, duration);
        let max_ms = (u64::from(u16::MAX) * 1000 / u64::from(self.config.clock_rate)) as u32;
        let ticks16 = u16::try_from(tone_ticks)
            .ok()
            .filter(|_| duration >= MIN_TONE)
            .ok_or(DtmfError::DurationOutOfRange {
                ms: duration.as_millis(),
                min_ms: MIN_TONE.as_millis() as u32,
                max_ms,
            })?;
        if self.is_idle() {
            self.next_start = Some(self.next_start.map_or(now, |t| t.max(now)));
        }
        self.queue.push_back(Queued {
            code,
            duration,
            ticks: ticks16,
        });
        Ok(())
    }

    /// Queues a string of keys (`0-9`, `*`, `#`, `A-D`), each held for `duration`.
    ///
    /// # Errors
    /// [`DtmfError::NotADtmfDigit`] or [`DtmfError::DurationOutOfRange`]; nothing is queued
    /// then, not even the valid keys before the bad one.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use freya_media::dtmf::{DtmfSender, DtmfSenderConfig};
    /// let mut tx = DtmfSender::new(DtmfSenderConfig::default())?;
    /// assert!(tx.send_digits(Instant::now(), "12x", Duration::from_millis(100)).is_err());
    /// assert!(tx.is_idle());
    /// tx.send_digits(Instant::now(), "12#", Duration::from_millis(100))?;
    /// assert_eq!(tx.queued(), 3);
    /// # Ok::<(), freya_media::dtmf::DtmfError>(())
    /// ```
    pub fn send_digits(
        &mut self,
        now: Instant,
        digits: &str,
        duration: Duration,
    ) -> Result<(), DtmfError> {
        let codes = digits
            .chars()
            .map(EventCode::from_char)
            .collect::<Result<Vec<_>, _>>()?;
        let mut trial = self.clone();
        for code in codes {
            trial.send(now, code, duration)?;
        }
        *self = trial;
        Ok(())
    }

    /// The next packet due at `now`, if any. `media_timestamp` is the RTP timestamp of the
    /// audio stream at `now`; it becomes the event's timestamp when an event starts. Call
    /// repeatedly until `None`.
    pub fn poll_transmit(&mut self, now: Instant, media_timestamp: u32) -> Option<DtmfPacket> {
        if self.active.is_none() {
            let start_at = self.next_start?;
            if now < start_at {
                return None;
            }
            let next = self.queue.pop_front()?;
            self.active = Some(Active {
                code: next.code,
                start: now,
                timestamp: media_timestamp,
                duration: next.duration,
                ticks: next.ticks,
                updates_sent: 0,
                ends_sent: 0,
            });
        }
        let interval = self.config.update_interval;
        let clock_rate = self.config.clock_rate;
        let volume = self.config.volume;
        let end_packets = self.config.end_packets;
        let gap = self.config.gap;
        let active = self.active.as_mut()?;
        let (due, end) = next_due(active, interval);
        if now < due {
            return None;
        }
        let packet = if end {
            active.ends_sent += 1;
            DtmfPacket {
                marker: false,
                timestamp: active.timestamp,
                event: TelephoneEvent {
                    event: active.code,
                    end: true,
                    volume,
                    duration: active.ticks,
                },
                due,
            }
        } else {
            let elapsed = interval * active.updates_sent;
            let so_far = u16::try_from(ticks(clock_rate, elapsed))
                .unwrap_or(u16::MAX)
                .min(active.ticks);
            let marker = active.updates_sent == 0;
            active.updates_sent += 1;
            DtmfPacket {
                marker,
                timestamp: active.timestamp,
                event: TelephoneEvent {
                    event: active.code,
                    end: false,
                    volume,
                    duration: so_far,
                },
                due,
            }
        };
        if active.ends_sent >= end_packets {
            self.next_start = Some(active.start + active.duration + gap);
            self.active = None;
        }
        Some(packet)
    }

    /// When [`poll_transmit`](Self::poll_transmit) next has a packet, or `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.active {
            Some(active) => Some(next_due(active, self.config.update_interval).0),
            None if !self.queue.is_empty() => self.next_start,
            None => None,
        }
    }

    /// Whether nothing is being sent or queued.
    pub fn is_idle(&self) -> bool {
        self.active.is_none() && self.queue.is_empty()
    }

    /// Key presses queued and not started yet.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The key being sent now, if any.
    pub fn sending(&self) -> Option<EventCode> {
        self.active.as_ref().map(|a| a.code)
    }

    /// Drops the queued key presses; the one being sent finishes properly (its end packets
    /// still go out, so the far end does not hear a stuck key).
    pub fn clear_queue(&mut self) {
        self.queue.clear();
    }
}

/// The next packet's due time, and whether it is an end packet.
fn next_due(active: &Active, interval: Duration) -> (Instant, bool) {
    let offset = interval * active.updates_sent;
    if active.updates_sent == 0 || offset < active.duration {
        (active.start + offset, false)
    } else {
        (
            active.start + active.duration + interval * u32::from(active.ends_sent),
            true,
        )
    }
}

/// `duration` in ticks of a `clock_rate` Hz clock, rounded to nearest.
fn ticks(clock_rate: u32, duration: Duration) -> u64 {
    let nanos = duration.as_nanos() * u128::from(clock_rate);
    u64::try_from((nanos + 500_000_000) / 1_000_000_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(tx: &mut DtmfSender, t0: Instant) -> Vec<DtmfPacket> {
        let mut out = Vec::new();
        while let Some(at) = tx.poll_timeout() {
            let ts = 8 * (at - t0).as_millis() as u32;
            while let Some(p) = tx.poll_transmit(at, ts) {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn tone_not_a_multiple_of_the_interval() {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(DtmfSenderConfig::default()).unwrap();
        tx.send(t0, EventCode::new(3), Duration::from_millis(120))
            .unwrap();
        let sent = drain(&mut tx, t0);
        let summary: Vec<_> = sent
            .iter()
            .map(|p| ((p.due - t0).as_millis(), p.event.end, p.event.duration))
            .collect();
        assert_eq!(
            summary,
            [
                (0, false, 0),
                (50, false, 400),
                (100, false, 800),
                (120, true, 960),
                (170, true, 960),
                (220, true, 960)
            ]
        );
        assert!(tx.is_idle());
    }

    #[test]
    fn queued_tones_are_separated_by_the_gap_and_get_their_own_timestamp() {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(DtmfSenderConfig::default()).unwrap();
        tx.send_digits(t0, "12", Duration::from_millis(100))
            .unwrap();
        let sent = drain(&mut tx, t0);
        assert_eq!(sent.len(), 10);
        let second_start = &sent[5];
        assert!(second_start.marker);
        assert_eq!((second_start.due - t0).as_millis(), 200); // 100 ms tone + 100 ms gap
        assert_eq!(second_start.timestamp, 1600);
        assert!(sent[..5].iter().all(|p| p.timestamp == 0));
        assert!(sent[5..].iter().all(|p| p.timestamp == 1600));
        assert_eq!(sent.iter().filter(|p| p.marker).count(), 2);
    }

    #[test]
    fn late_polling_sends_due_packets_in_order() {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(DtmfSenderConfig::default()).unwrap();
        tx.send(t0, EventCode::new(0), Duration::from_millis(100))
            .unwrap();
        // Polled once, a full second late: everything comes out, in schedule order.
        let late = t0 + Duration::from_secs(1);
        let first = tx.poll_transmit(t0, 0).unwrap();
        assert!(first.marker);
        let rest: Vec<_> = std::iter::from_fn(|| tx.poll_transmit(late, 8000)).collect();
        assert_eq!(rest.len(), 4);
        assert!(rest.windows(2).all(|w| w[0].due <= w[1].due));
        assert!(rest.iter().all(|p| p.timestamp == 0));
    }

    #[test]
    fn durations_and_settings_are_checked() {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(DtmfSenderConfig::default()).unwrap();
        assert_eq!(
            tx.send(t0, EventCode::new(1), Duration::from_millis(39)),
            Err(DtmfError::DurationOutOfRange {
                ms: 39,
                min_ms: 40,
                max_ms: 8191
            })
        );
        assert!(tx
            .send(t0, EventCode::new(1), Duration::from_millis(8191))
            .is_ok());
        assert!(tx
            .send(t0, EventCode::new(1), Duration::from_millis(8192))
            .is_err());
        let cfg = |f: fn(&mut DtmfSenderConfig)| {
            let mut c = DtmfSenderConfig::default();
            f(&mut c);
            DtmfSender::new(c).err()
        };
        assert_eq!(
            cfg(|c| c.volume = 64),
            Some(DtmfError::VolumeOutOfRange { volume: 64 })
        );
        assert!(matches!(
            cfg(|c| c.clock_rate = 0),
            Some(DtmfError::BadSenderConfig {
                setting: "clock_rate",
                ..
            })
        ));
        assert!(matches!(
            cfg(|c| c.update_interval = Duration::ZERO),
            Some(DtmfError::BadSenderConfig {
                setting: "update_interval",
                ..
            })
        ));
        assert!(matches!(
            cfg(|c| c.gap = Duration::from_secs(61)),
            Some(DtmfError::BadSenderConfig { setting: "gap", .. })
        ));
        assert!(matches!(
            cfg(|c| c.end_packets = 0),
            Some(DtmfError::BadSenderConfig {
                setting: "end_packets",
                ..
            })
        ));
    }

    #[test]
    fn clear_queue_lets_the_current_tone_end() {
        let t0 = Instant::now();
        let mut tx = DtmfSender::new(DtmfSenderConfig::default()).unwrap();
        tx.send_digits(t0, "123", Duration::from_millis(100))
            .unwrap();
        assert!(tx.poll_transmit(t0, 0).is_some());
        tx.clear_queue();
        let sent = drain(&mut tx, t0);
        assert_eq!(sent.len(), 4);
        assert_eq!(sent.iter().filter(|p| p.event.end).count(), 3);
        assert!(tx.is_idle());
    }
}
