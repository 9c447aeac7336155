//! DTMF as RFC 4733 telephone-events: the 4-byte payload ([`TelephoneEvent`]), a receiver
//! that turns a packet stream into one [`DtmfEvent`] per key press ([`DtmfReceiver`]), and a
//! sender that schedules the start, update and end packets of each key press
//! ([`DtmfSender`]).
//!
//! Units: RFC 4733 durations travel in RTP timestamp ticks of the telephone-event clock
//! (8000 Hz unless SDP says otherwise, so 1 ms = 8 ticks); [`DtmfEvent`] reports milliseconds.
//! Sans-IO: the current time is always an argument.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use freya_media::dtmf::{DtmfReceiver, DtmfSender, DtmfSenderConfig, EventCode};
//!
//! let t0 = Instant::now();
//! let mut sender = DtmfSender::new(DtmfSenderConfig::default())?;
//! let mut receiver = DtmfReceiver::new(8000);
//! sender.send(t0, EventCode::from_char('5')?, Duration::from_millis(100))?;
//! let mut now = t0;
//! while let Some(deadline) = sender.poll_timeout() {
//!     now = now.max(deadline);
//!     while let Some(packet) = sender.poll_transmit(now, 1234) {
//!         receiver.handle_payload(now, packet.marker, packet.timestamp, &packet.payload())?;
//!     }
//! }
//! let event = receiver.poll_event().unwrap();
//! assert_eq!(event.code.to_char(), Some('5'));
//! assert_eq!(event.duration_ms, 100);
//! assert!(receiver.poll_event().is_none()); // three end packets, one key press
//! # Ok::<(), freya_media::dtmf::DtmfError>(())
//! ```

mod inband;
mod payload;
mod receiver;
mod sender;

use std::fmt;

pub use inband::{
    InbandConfig, InbandConfigError, InbandDetector, InbandStats, INBAND_BLOCK_SAMPLES,
    INBAND_SAMPLE_RATE,
};
pub use payload::TelephoneEvent;
pub use receiver::{DtmfReceiver, DtmfReceiverStats};
pub use sender::{DtmfPacket, DtmfSender, DtmfSenderConfig};

/// Why a telephone-event payload or a DTMF request was refused.
///
/// ```
/// use freya_media::dtmf::{DtmfError, EventCode, TelephoneEvent};
///
/// assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(DtmfError::PayloadLength { len: 3 }));
/// assert_eq!(EventCode::from_char('x'), Err(DtmfError::NotADtmfDigit { ch: 'x' }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// A telephone-event payload is not exactly 4 bytes (RFC 4733 §2.3).
    #[error("telephone-event payload of {len} byte(s), expected 4")]
    PayloadLength {
        /// The payload's length, in bytes.
        len: usize,
    },
    /// A character that is not a DTMF key (`0-9`, `*`, `#`, `A-D`).
    #[error("{ch:?} is not a DTMF digit (0-9, *, #, A-D)")]
    NotADtmfDigit {
        /// The refused character.
        ch: char,
    },
    /// A volume above 63 (the field is 6 bits of -dBm0).
    #[error("telephone-event volume {volume} is out of range (0..=63, in -dBm0)")]
    VolumeOutOfRange {
        /// The refused volume.
        volume: u8,
    },
    /// A tone duration the sender cannot send: below 40 ms (ITU-T Q.24 minimum) or longer
    /// than the 16-bit duration field holds at the configured clock rate.
    #[error("DTMF duration of {ms} ms is out of range ({min_ms}..={max_ms} ms)")]
    DurationOutOfRange {
        /// The refused duration, in ms.
        ms: u128,
        /// The shortest duration accepted, in ms.
        min_ms: u32,
        /// The longest duration accepted, in ms.
        max_ms: u32,
    },
    /// A sender configuration value that cannot work, named with its value.
    #[error("DTMF sender setting {setting} = {value} is invalid: {reason}")]
    BadSenderConfig {
        /// The field of [`DtmfSenderConfig`].
        setting: &'static str,
        /// Its value, printed.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An RFC 4733 event code (§3.2 for DTMF): 0–9 are the digits, 10 `*`, 11 `#`, 12–15 `A`–`D`,
/// 16 flash; other codes are other telephone events (tones, fax signals, …).
///
/// ```
/// use freya_media::dtmf::EventCode;
///
/// let star = EventCode::from_char('*')?;
/// assert_eq!(star.code(), 10);
/// assert_eq!(star.to_char(), Some('*'));
/// assert_eq!(EventCode::new(16).to_char(), None); // flash has no character
/// assert_eq!(EventCode::new(11).to_string(), "#");
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventCode(u8);

impl EventCode {
    /// The event for a raw code.
    pub const fn new(code: u8) -> Self {
        EventCode(code)
    }

    /// The raw code, as it travels in the payload.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The event for a DTMF key: `0`–`9`, `*`, `#`, `A`–`D` (either case).
    ///
    /// # Errors
    /// [`DtmfError::NotADtmfDigit`] for any other character.
    pub fn from_char(ch: char) -> Result<Self, DtmfError> {
        let code = match ch {
            '0'..='9' => ch as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => ch as u8 - b'A' + 12,
            'a'..='d' => ch as u8 - b'a' + 12,
            _ => return Err(DtmfError::NotADtmfDigit { ch }),
        };
        Ok(EventCode(code))
    }

    /// The key's character for a DTMF code (0–15), `None` for any other event.
    pub fn to_char(self) -> Option<char> {
        match self.0 {
            0..=9 => Some(char::from(b'0' + self.0)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.0 - 12)),
            _ => None,
        }
    }
}

impl fmt::Display for EventCode {
    /// The key's character, or `event N` for codes without one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_char() {
            Some(c) => write!(f, "{c}"),
            None => write!(f, "event {}", self.0),
        }
    }
}

/// One key press, however it arrived: from RFC 4733 packets ([`DtmfReceiver`]) or from a SIP
/// INFO body handed over by the signalling layer ([`DtmfEvent::from_sip_info`]).
///
/// ```
/// use freya_media::dtmf::{DtmfEvent, EventCode};
///
/// let info = DtmfEvent::from_sip_info(EventCode::from_char('#')?, 160);
/// assert_eq!(info.code.to_char(), Some('#'));
/// assert!(info.rtp.is_none());
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// Which key (or other telephone event).
    pub code: EventCode,
    /// How long the key was held, in milliseconds (rounded to nearest).
    pub duration_ms: u32,
    /// Power level in -dBm0 (0 = loudest, 63 = quietest) when the source carries one.
    pub volume: Option<u8>,
    /// RFC 4733 details when the event came in RTP; `None` for SIP INFO.
    pub rtp: Option<RtpEventInfo>,
}

impl DtmfEvent {
    /// A key press reported by SIP INFO (`application/dtmf-relay` `Signal=`/`Duration=`).
    pub fn from_sip_info(code: EventCode, duration_ms: u32) -> Self {
        DtmfEvent {
            code,
            duration_ms,
            volume: None,
            rtp: None,
        }
    }
}

/// The RFC 4733 specifics of a received [`DtmfEvent`].
///
/// ```
/// use std::time::Instant;
/// use freya_media::dtmf::{DtmfReceiver, EventCode, EventEnd, TelephoneEvent};
///
/// let mut rx = DtmfReceiver::new(8000);
/// let end = TelephoneEvent { event: EventCode::new(0), end: true, volume: 10, duration: 800 };
/// rx.handle_payload(Instant::now(), true, 4242, &end.to_bytes())?;
/// let info = rx.poll_event().unwrap().rtp.unwrap();
/// assert_eq!((info.timestamp, info.duration_ticks, info.ended_by), (4242, 800, EventEnd::EndPacket));
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpEventInfo {
    /// The event's RTP timestamp: the media time at which the key went down.
    pub timestamp: u32,
    /// The duration in RTP ticks (summed over segments for events longer than 0xFFFF ticks).
    pub duration_ticks: u32,
    /// What told the receiver that the key was released.
    pub ended_by: EventEnd,
}

/// What ended a received event.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_media::dtmf::{DtmfReceiver, EventCode, EventEnd, TelephoneEvent};
///
/// let t0 = Instant::now();
/// let mut rx = DtmfReceiver::new(8000);
/// let start = TelephoneEvent { event: EventCode::new(8), end: false, volume: 10, duration: 0 };
/// rx.handle_payload(t0, true, 0, &start.to_bytes())?;
/// rx.handle_timeout(t0 + Duration::from_millis(250)); // no end packet ever came
/// assert_eq!(rx.poll_event().unwrap().rtp.unwrap().ended_by, EventEnd::Timeout);
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventEnd {
    /// A packet with the E bit (the normal case).
    EndPacket,
    /// A packet of a later event arrived before any end packet (all end packets lost).
    NextEvent,
    /// No packet of the event arrived for the receiver's end timeout.
    Timeout,
}
