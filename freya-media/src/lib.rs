//! # freya-media
//!
//! freya's media layer (RTP/RTCP, relay, codecs, DTMF, jitter buffer, recording, WebSocket
//! media bridge). Independent of `freya-sip`: the root `freya` crate wires the two together.
//!
//! Today it holds the sans-IO building blocks — pure code that takes bytes, samples and the
//! current time as arguments and never touches a socket or a clock:
//!
//! - [`codec`]: G.711 μ-law/A-law (bit-exact with the ITU-T G.191 reference), L16 sample
//!   packing, and an 8/16/24/48 kHz resampler;
//! - [`rtp`]: zero-copy RTP packet parsing and writing (RFC 3550 §5.1, §5.3.1), sequence
//!   number extension (RFC 3550 A.1) and interarrival jitter (RFC 3550 A.8); [`rtp::rtcp`]:
//!   SR/RR/SDES/BYE compound packets (RFC 3550 §6), the rtcp-mux rule (RFC 5761 §4),
//!   per-stream statistics and a report scheduler with RTT;
//! - [`dtmf`]: RFC 4733 telephone-events: the payload, a receiver that yields one event per
//!   key press, and a sender that schedules start, update and end packets;
//! - [`jitter`]: an adaptive jitter buffer (20–200 ms) with loss concealment on PCM;
//! - [`relay`]: the RTP port pool (even ports, RTCP on the next, least-recently-released
//!   reuse) and the symmetric relay of a call (latching with RTP-bleed protection, hold,
//!   no-RTP timeout);
//! - [`record`]: per-call WAV recording, stereo caller/agent or mixed mono, crash-safe to
//!   within a second (it writes files, the one module here that does I/O).
//!
//! Every module has its own `thiserror` error enum; [`Error`] wraps them for callers that
//! handle all media errors in one place.
//!
//! ```
//! use bytes::Bytes;
//! use freya_media::{codec, rtp::RtpPacket};
//!
//! // A 12-byte RTP header (PT 0 = PCMU) followed by two μ-law samples.
//! let wire = Bytes::from_static(&[0x80, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 0xFF, 0x7F]);
//! let packet = RtpPacket::parse(wire)?;
//! let mut pcm = Vec::new();
//! codec::G711Law::Ulaw.decode_into(packet.payload(), &mut pcm);
//! assert_eq!(pcm, [0, 0]);
//! # Ok::<(), freya_media::Error>(())
//! ```

#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bridge;
pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod record;
pub mod relay;
pub mod rtp;
#[cfg(test)]
mod test_util;

/// Any error of this crate: one variant per module, each wrapping that module's error enum.
///
/// ```
/// use freya_media::{rtp::RtpPacket, Error};
///
/// let err: Error = RtpPacket::parse(bytes::Bytes::from_static(&[0x80])).unwrap_err().into();
/// assert!(err.to_string().contains("1 byte"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An RTP packet could not be parsed or written.
    #[error(transparent)]
    Rtp(#[from] rtp::RtpError),
    /// A codec or resampler was given something it cannot handle.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    /// An RFC 4733 telephone-event payload or DTMF request was refused.
    #[error(transparent)]
    Dtmf(#[from] dtmf::DtmfError),
    /// A jitter buffer configuration was refused.
    #[error(transparent)]
    Jitter(#[from] jitter::JitterError),
    /// The RTP port pool refused a request.
    #[error(transparent)]
    Ports(#[from] relay::PortError),
    /// An RTCP packet could not be parsed or written, or an RTCP setting was refused.
    #[error(transparent)]
    Rtcp(#[from] rtp::rtcp::RtcpError),
    /// A relay setting was refused.
    #[error(transparent)]
    Relay(#[from] relay::RelayError),
    /// A call recording could not be created or written.
    #[error(transparent)]
    Record(#[from] record::RecordError),
    /// The relay's tokio shell refused a request (no port, no runtime, a closed call).
    #[error(transparent)]
    RelayShell(#[from] relay::ShellError),
    /// A WebSocket bridge message or setting was refused.
    #[error(transparent)]
    Bridge(#[from] bridge::BridgeError),
    /// A bridge leg could not be set up or used (connect, handshake, closed).
    #[error(transparent)]
    BridgeLeg(#[from] bridge::LegError),
}
