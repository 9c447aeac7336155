//! RTP (RFC 3550): packets parsed and written without copying the payload ([`RtpPacket`],
//! [`RtpHeader`]), sequence-number extension and loss accounting ([`SequenceTracker`], RFC 3550
//! A.1/A.3), interarrival jitter ([`JitterEstimator`], RFC 3550 A.8), and RTCP reports,
//! statistics and scheduling ([`rtcp`]).
//!
//! Everything here is sans-IO: bytes and arrival times go in, values come out.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use freya_media::rtp::{RtpHeader, RtpPacket, SequenceTracker};
//!
//! let mut wire = BytesMut::new();
//! RtpHeader::new(0, 65535, 160, 0x1234).write(&[0xFF; 160], &mut wire)?;
//! RtpHeader::new(0, 0, 320, 0x1234).write(&[0xFF; 160], &mut wire)?;
//! let second = wire.split_off(172).freeze();
//! let first = wire.freeze();
//!
//! let mut seq = SequenceTracker::with_probation(0); // count from the first packet
//! for bytes in [first, second] {
//!     let packet = RtpPacket::parse(bytes)?;
//!     seq.update(packet.sequence());
//! }
//! assert_eq!(seq.extended_max(), Some(65536)); // 65535 then 0: one wrap
//! # Ok::<(), freya_media::rtp::RtpError>(())
//! ```

mod header;
mod jitter;
mod packet;
pub mod rtcp;
mod seq;

pub use header::RtpHeader;
pub use jitter::JitterEstimator;
pub use packet::{ExtensionKind, RtpExtension, RtpPacket, RTP_HEADER_LEN};
pub use seq::{SeqUpdate, SequenceTracker};

/// Why an RTP packet was refused, naming the field and its value.
///
/// ```
/// use bytes::Bytes;
/// use freya_media::rtp::{RtpError, RtpPacket};
///
/// let err = RtpPacket::parse(Bytes::from_static(&[0x40; 12])).unwrap_err();
/// assert_eq!(err, RtpError::BadVersion { version: 1 });
/// assert_eq!(err.to_string(), "RTP version field is 1, expected 2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Fewer bytes than the 12-byte fixed header (RFC 3550 §5.1).
    #[error("RTP packet of {len} byte(s) is shorter than the 12-byte fixed header")]
    TooShort {
        /// The packet's length, in bytes.
        len: usize,
    },
    /// The version field (first two bits) is not 2.
    #[error("RTP version field is {version}, expected 2")]
    BadVersion {
        /// The version found (0, 1 or 3).
        version: u8,
    },
    /// The CSRC count (CC) announces more CSRC identifiers than the packet holds.
    #[error("RTP CSRC count {csrc_count} needs {needed} bytes of header, packet has {len}")]
    CsrcListTruncated {
        /// The CC field (0..=15).
        csrc_count: u8,
        /// Bytes needed for the fixed header and the CSRC list.
        needed: usize,
        /// The packet's length, in bytes.
        len: usize,
    },
    /// The X bit is set but the header extension (RFC 3550 §5.3.1) does not fit.
    #[error("RTP header extension of {length_words} 32-bit words needs {needed} bytes, packet has {len}")]
    ExtensionTruncated {
        /// The extension's length field, in 32-bit words (excluding its 4-byte header);
        /// 0 when even the 4-byte extension header is cut.
        length_words: u16,
        /// Bytes needed up to the end of the extension.
        needed: usize,
        /// The packet's length, in bytes.
        len: usize,
    },
    /// The P bit is set but the padding count (the last byte) is 0 or larger than what
    /// follows the header.
    #[error("RTP padding count {padding} is invalid: {available} byte(s) follow the header")]
    BadPadding {
        /// The padding count found in the last byte.
        padding: u8,
        /// Bytes after the header (payload plus padding).
        available: usize,
    },
    /// Writing: a payload type above 127 does not fit the 7-bit PT field.
    #[error("RTP payload type {payload_type} does not fit in 7 bits")]
    PayloadTypeOutOfRange {
        /// The refused payload type.
        payload_type: u8,
    },
    /// Writing: more than 15 CSRCs do not fit the 4-bit CC field.
    #[error("{count} CSRCs do not fit in the 4-bit CSRC count")]
    TooManyCsrcs {
        /// The number of CSRCs given.
        count: usize,
    },
    /// Writing: a header extension body must be a whole number of 32-bit words, at most
    /// 65535 of them.
    #[error("RTP header extension body of {len} bytes is not a whole number of 32-bit words up to 65535")]
    BadExtensionLength {
        /// The body's length, in bytes.
        len: usize,
    },
}
