//! SDP (RFC 8866, formerly RFC 4566) and RFC 3264 offer/answer for audio.
//!
//! - [`SessionDescription`] parses a body into typed lines ([`Field`]: [`Origin`],
//!   [`Connection`], [`MediaLine`], [`Attribute`] with [`Rtpmap`], [`Fmtp`], ptime,
//!   maxptime, [`Direction`], [`Rtcp`], rtcp-mux) while keeping every line's bytes and line
//!   end: unknown lines and attributes survive, and an unmodified description serialises to
//!   exactly the input. Refused bodies give an [`SdpError`] naming the line.
//! - [`SdpBuilder`] writes freya's own offers: PCMU/0, PCMA/8, telephone-event/8000 with
//!   `a=fmtp:101 0-16`, ptime 20, a direction, CRLF line ends.
//! - [`answer`] and [`apply_answer`] run RFC 3264 for one audio stream, given our
//!   [`Capabilities`] (codecs by their Asterisk names, `ulaw,alaw`); they produce a
//!   [`Negotiated`] (codec, payload types, remote RTP address, direction, ptime, hold) or a
//!   [`NegotiationError`] that maps to 488 Not Acceptable Here.
//! - [`MediaSession`] keeps one call's offer/answer state across re-INVITEs (session
//!   version, hold, glare).
//!
//! Everything is sans-IO and never panics on input.
//!
//! ```
//! use freya_sip::sdp::{Capabilities, MediaSession, SessionDescription};
//! let offer = SessionDescription::parse(
//!     b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
//!       m=audio 31000 RTP/AVP 18 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
//! ).unwrap();
//! let mut call = MediaSession::new(Capabilities::new("192.0.2.10".parse().unwrap(), 10000), 1);
//! let answer = call.receive_offer(&offer).unwrap(); // the body of our 200 OK
//! assert_eq!(answer.media()[0].formats(), ["8", "101"]);
//! assert_eq!(call.negotiated().unwrap().remote_rtp.port(), 31000);
//! ```

mod address;
mod attribute;
mod build;
mod codec;
mod error;
mod field;
mod line;
mod media;
mod media_line;
mod media_session;
mod negotiate;
mod parse;
mod session;

pub use address::{AddrType, Connection, NetType, Origin};
pub use attribute::{Attribute, Direction, Fmtp, Rtcp, Rtpmap};
pub use build::SdpBuilder;
pub use codec::{
    parse_codec_list, static_payload, Codec, UnknownCodec, DEFAULT_TELEPHONE_EVENT_PT,
    TELEPHONE_EVENT, TELEPHONE_EVENTS,
};
pub use error::{NegotiationError, SdpError};
pub use field::{Bandwidth, Field, Timing};
pub use line::{Line, LineEnding};
pub use media::MediaDescription;
pub use media_line::{MediaLine, MediaType, Proto};
pub use media_session::MediaSession;
pub use negotiate::{answer, apply_answer, Answer, Capabilities, CodecPreference, Negotiated};
pub use session::SessionDescription;
