//! RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME, BYE, compound packets; the
//! rtcp-mux demultiplexing rule (RFC 5761 §4); per-stream reception statistics
//! ([`StreamStats`]); and a sans-IO session ([`RtcpSession`]) that schedules a compound report
//! every ~5 s, a BYE on close, and measures the round-trip time from LSR/DLSR.
//!
//! Units: RTP timestamps and interarrival jitter are in ticks of the media clock (8000 Hz for
//! G.711); LSR and DLSR in 1/65536 s (the middle 32 bits of an NTP timestamp); packet and
//! octet counts as RFC 3550 §6.4.1 defines them (octets = payload bytes, no headers).
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use freya_media::rtp::rtcp::{self, ReceiverReport, ReportBlock, RtcpPacket, Sdes};
//!
//! let rr = ReceiverReport {
//!     ssrc: 0x1111,
//!     reports: vec![ReportBlock { ssrc: 0x2222, fraction_lost: 64, cumulative_lost: 5, ..Default::default() }],
//!     extension: Bytes::new(),
//! };
//! let compound = [RtcpPacket::ReceiverReport(rr), RtcpPacket::SourceDescription(Sdes::cname(0x1111, "freya@host"))];
//! let mut wire = BytesMut::new();
//! rtcp::write_compound(&compound, &mut wire)?;
//! assert!(rtcp::is_rtcp(&wire));
//! let parsed = rtcp::parse_compound(wire.freeze())?;
//! assert_eq!(parsed, compound);
//! # Ok::<(), freya_media::rtp::rtcp::RtcpError>(())
//! ```

mod packet;
mod report;
mod sdes;
mod session;
mod stats;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use packet::{parse_compound, write_compound, OtherPacket, RtcpPacket};
pub use report::{ReceiverReport, ReportBlock, SenderInfo, SenderReport};
pub use sdes::{Bye, Sdes, SdesChunk, SdesItem, SDES_CNAME};
pub use session::{RtcpConfig, RtcpEvent, RtcpSession, RtcpSessionStats};
pub use stats::{PacketClass, StreamStats, StreamStatsSnapshot};

/// RTCP packet type of a sender report (RFC 3550 §6.4.1).
pub const PT_SR: u8 = 200;
/// RTCP packet type of a receiver report (RFC 3550 §6.4.2).
pub const PT_RR: u8 = 201;
/// RTCP packet type of a source description (RFC 3550 §6.5).
pub const PT_SDES: u8 = 202;
/// RTCP packet type of a goodbye (RFC 3550 §6.6).
pub const PT_BYE: u8 = 203;
/// RTCP packet type of an application-defined packet (RFC 3550 §6.7).
pub const PT_APP: u8 = 204;

/// Why RTCP bytes were refused or a packet could not be written, naming the field, the
/// value and the byte offset where it applies.
///
/// ```
/// use bytes::Bytes;
/// use freya_media::rtp::rtcp::{parse_compound, RtcpError};
///
/// let err = parse_compound(Bytes::from_static(&[0x80, 201, 0, 7, 0, 0, 0, 1])).unwrap_err();
/// assert_eq!(err, RtcpError::LengthMismatch { offset: 0, declared: 32, available: 8 });
/// assert_eq!(err.to_string(), "RTCP packet at byte 0 declares 32 bytes, only 8 remain");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Fewer than the 4 bytes of a common header at `offset`.
    #[error("RTCP packet at byte {offset}: {len} byte(s) cannot hold the 4-byte header")]
    TooShort {
        /// Where the packet starts in the compound.
        offset: usize,
        /// Bytes left from there.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTCP packet at byte {offset}: version {version}, expected 2")]
    BadVersion {
        /// Where the packet starts.
        offset: usize,
        /// The version found.
        version: u8,
    },
    /// The length field ((words − 1), §6.4.1) runs past the end of the datagram.
    #[error("RTCP packet at byte {offset} declares {declared} bytes, only {available} remain")]
    LengthMismatch {
        /// Where the packet starts.
        offset: usize,
        /// Bytes the length field announces.
        declared: usize,
        /// Bytes left from `offset`.
        available: usize,
    },
    /// The padding bit is set on a packet that is not the last of the compound (§6.4.1:
    /// only the last packet may be padded), or its count is 0 or exceeds the body.
    #[error("RTCP packet at byte {offset}: invalid padding {padding} ({reason})")]
    BadPadding {
        /// Where the packet starts.
        offset: usize,
        /// The padding count (last byte of the packet).
        padding: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// The body is too short for what the header's count announces (report blocks, SDES
    /// chunks, BYE sources).
    #[error("RTCP packet type {packet_type} at byte {offset}: count {count} needs {needed} body bytes, has {len}")]
    Truncated {
        /// Where the packet starts.
        offset: usize,
        /// Its packet type.
        packet_type: u8,
        /// The header's count field.
        count: u8,
        /// Body bytes needed.
        needed: usize,
        /// Body bytes present.
        len: usize,
    },
    /// An SDES item or a BYE reason whose length byte runs past the packet.
    #[error("RTCP packet type {packet_type} at byte {offset}: {what} of {declared} bytes runs past the packet")]
    TextTruncated {
        /// Where the packet starts.
        offset: usize,
        /// Its packet type.
        packet_type: u8,
        /// Which text ("SDES item", "BYE reason").
        what: &'static str,
        /// The length byte's value.
        declared: usize,
    },
    /// Writing: more than 31 report blocks or BYE sources (the 5-bit count field), or more
    /// than 31 SDES chunks.
    #[error("{count} {what} do not fit the 5-bit RTCP count field (at most 31)")]
    TooMany {
        /// What was counted ("report blocks", "SDES chunks", "BYE sources").
        what: &'static str,
        /// How many were given.
        count: usize,
    },
    /// Writing: an SDES item or BYE reason longer than its 8-bit length field (255 bytes).
    #[error("{what} of {len} bytes is longer than 255")]
    TextTooLong {
        /// Which text.
        what: &'static str,
        /// Its length, in bytes.
        len: usize,
    },
    /// Writing: a profile extension or an opaque packet body that is not a whole number of
    /// 32-bit words, or a packet longer than the 16-bit length field allows.
    #[error("{what} of {len} bytes is not a whole number of 32-bit words within 262144 bytes")]
    BadLength {
        /// Which part.
        what: &'static str,
        /// Its length, in bytes.
        len: usize,
    },
    /// An [`RtcpConfig`] setting that cannot work.
    #[error("RTCP setting {setting} = {value} is invalid: {reason}")]
    BadConfig {
        /// The field of [`RtcpConfig`].
        setting: &'static str,
        /// Its value, printed.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// What a datagram on an rtcp-mux port is (RFC 5761 §4; RFC 7983 for the others).
///
/// ```
/// use freya_media::rtp::rtcp::{classify, MuxKind};
///
/// assert_eq!(classify(&[0x80, 0x00, 0, 1]), MuxKind::Rtp);  // PT 0 (PCMU)
/// assert_eq!(classify(&[0x80, 200, 0, 6]), MuxKind::Rtcp); // SR
/// assert_eq!(classify(&[0x00, 0x01, 0, 0]), MuxKind::Other); // a STUN binding request
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MuxKind {
    /// Version 2 and a payload type outside 64–95: RTP.
    Rtp,
    /// Version 2 and the second octet, without its top (marker) bit, in 64–95: RTCP packet
    /// types 192–223.
    Rtcp,
    /// Not version 2, or shorter than 2 bytes: STUN, DTLS, or garbage.
    Other,
}

/// Classifies a datagram received on a port that carries both RTP and RTCP (rtcp-mux):
/// RFC 5761 §4 — RTCP when the second octet masked with 0x7F lies in 64–95, which is why
/// those RTP payload types must not be used with rtcp-mux.
pub fn classify(datagram: &[u8]) -> MuxKind {
    match datagram {
        [first, second, ..] if first >> 6 == 2 => {
            if (64..=95).contains(&(second & 0x7F)) {
                MuxKind::Rtcp
            } else {
                MuxKind::Rtp
            }
        }
        _ => MuxKind::Other,
    }
}

/// Whether a datagram is RTCP by the RFC 5761 §4 rule ([`classify`] is [`MuxKind::Rtcp`]).
///
/// ```
/// assert!(freya_media::rtp::rtcp::is_rtcp(&[0x81, 201, 0, 7]));
/// assert!(!freya_media::rtp::rtcp::is_rtcp(&[0x80, 0x80 | 8, 0, 7])); // PCMA with marker
/// ```
pub fn is_rtcp(datagram: &[u8]) -> bool {
    classify(datagram) == MuxKind::Rtcp
}

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (RFC 3550 §4): seconds since 1900 in the upper 32 bits, the
/// fraction of a second in the lower 32.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use freya_media::rtp::rtcp::NtpTime;
///
/// let t = NtpTime::from_system_time(UNIX_EPOCH + Duration::from_millis(1500));
/// assert_eq!(t.0, (2_208_988_801u64 << 32) | 0x8000_0000);
/// assert_eq!(t.middle32(), ((2_208_988_801u64 & 0xFFFF) << 16) as u32 | 0x8000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// The NTP timestamp of a wall-clock time (times before 1970 map to the Unix epoch).
    pub fn from_system_time(time: SystemTime) -> Self {
        let since_unix = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self::from_unix(since_unix)
    }

    /// The NTP timestamp `since_unix` after the Unix epoch.
    pub fn from_unix(since_unix: Duration) -> Self {
        let secs = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The middle 32 bits (16.16 fixed point seconds), as LSR carries it (§6.4.1).
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

impl std::ops::Add<Duration> for NtpTime {
    type Output = NtpTime;

    /// This time plus `d` (wrapping like NTP time does, in 2036).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use freya_media::rtp::rtcp::NtpTime;
    /// assert_eq!((NtpTime(0) + Duration::from_millis(250)).0, 0x4000_0000);
    /// ```
    fn add(self, d: Duration) -> NtpTime {
        let whole = d.as_secs() << 32;
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime(self.0.wrapping_add(whole).wrapping_add(frac))
    }
}

/// Converts a 16.16 fixed-point value in 1/65536 s (DLSR, or an RTT) to a duration.
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(freya_media::rtp::rtcp::units_to_duration(0x0005_4000), Duration::from_millis(5250));
/// ```
pub fn units_to_duration(units: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / 65_536)
}

/// Converts a duration to 1/65536 s, saturating at `u32::MAX` (18.2 hours), for DLSR.
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(freya_media::rtp::rtcp::duration_to_units(Duration::from_millis(5250)), 0x0005_4000);
/// ```
pub fn duration_to_units(d: Duration) -> u32 {
    u32::try_from(d.as_nanos() * 65_536 / 1_000_000_000).unwrap_or(u32::MAX)
}

/// The round-trip time from a report block about our stream received when our clock read
/// `arrival` (RFC 3550 §6.4.1: A − LSR − DLSR, in 1/65536 s). `None` when the peer has not
/// received a sender report from us yet (LSR = 0) or the result would be negative (clock
/// steps, bogus values).
///
/// ```
/// use std::time::Duration;
/// use freya_media::rtp::rtcp::{round_trip_time, NtpTime, ReportBlock};
///
/// // RFC 3550 §6.4.1, figure 2: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000.
/// let arrival = NtpTime(0xb710_8000 << 16);
/// let block = ReportBlock { last_sr: 0xb705_2000, delay_since_last_sr: 0x0005_4000, ..Default::default() };
/// assert_eq!(round_trip_time(arrival, &block), Some(Duration::from_millis(6125)));
/// ```
pub fn round_trip_time(arrival: NtpTime, block: &ReportBlock) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let since_sr = arrival.middle32().wrapping_sub(block.last_sr);
    let rtt = since_sr.checked_sub(block.delay_since_last_sr)?;
    // More than half the 16.16 range means the subtraction wrapped: a negative RTT.
    (rtt < 0x8000_0000).then(|| units_to_duration(rtt))
}
