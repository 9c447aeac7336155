//! Why an SDP body was refused ([`SdpError`]: the 1-based line, the line as received and
//! what is wrong, RFC 8866 §5, §9), and why offer/answer failed ([`NegotiationError`], 488
//! Not Acceptable Here, RFC 3264).

/// Most characters of an offending line kept in an error (enough to recognise it in a log).
const MAX_TEXT: usize = 120;

/// An SDP body that could not be parsed. Every variant that concerns a line names its
/// 1-based number (`v=` is line 1) and the line as received (lossy UTF-8, at most 120
/// characters, without its line end).
///
/// A UAS that receives such a body in an INVITE answers [`SdpError::status`] (400).
///
/// ```
/// use freya_sip::sdp::{SdpError, SessionDescription};
/// let err = SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nm=audio x RTP/AVP 0\r\n")
///     .unwrap_err();
/// assert!(matches!(err, SdpError::InvalidField { line: 3, field: "m=", .. }));
/// assert_eq!(err.line(), Some(3));
/// assert_eq!(err.text(), Some("m=audio x RTP/AVP 0"));
/// assert_eq!(err.status(), 400);
/// assert_eq!(
///     err.to_string(),
///     "SDP line 3: invalid m= line, the port is not a number from 0 to 65535: \"m=audio x RTP/AVP 0\""
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body holds no line at all (RFC 8866 §5: `v=` is required).
    #[error("SDP body is empty (no v= line)")]
    Empty,
    /// The first line is not `v=` (RFC 8866 §5: "An SDP description ... MUST begin with
    /// v=").
    #[error("SDP line {line}: the description must begin with v=0, found {text:?}")]
    MissingVersion {
        /// 1-based line number.
        line: usize,
        /// The line as received.
        text: String,
    },
    /// A line that is not `<type>=<value>` with a single letter type (RFC 8866 §5).
    /// (An empty line is accepted and kept.)
    #[error("SDP line {line}: not a <type>=<value> line: {text:?}")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
        /// The line as received.
        text: String,
    },
    /// A line holding a NUL or a CR that does not end the line (RFC 8866 §9: text excludes
    /// NUL, CR and LF).
    #[error("SDP line {line}: holds a NUL or a bare CR: {text:?}")]
    InvalidCharacter {
        /// 1-based line number.
        line: usize,
        /// The line as received.
        text: String,
    },
    /// A known line (`v=`, `o=`, `c=`, `b=`, `t=`, `m=`) or a known attribute (`a=rtpmap`,
    /// `a=fmtp`, `a=ptime`, `a=maxptime`, `a=rtcp`) whose value breaks its grammar.
    #[error("SDP line {line}: invalid {field} line, {reason}: {text:?}")]
    InvalidField {
        /// 1-based line number.
        line: usize,
        /// Which line or attribute: `"o="`, `"m="`, `"a=rtpmap"`, …
        field: &'static str,
        /// What is wrong, in words.
        reason: &'static str,
        /// The line as received.
        text: String,
    },
    /// A second `v=` or `o=` line, or an `o=` after the first `m=` (RFC 8866 §5: exactly
    /// one of each, at session level).
    #[error("SDP line {line}: a second {field} line (or one at media level): {text:?}")]
    Duplicate {
        /// 1-based line number.
        line: usize,
        /// `"v="` or `"o="`.
        field: &'static str,
        /// The line as received.
        text: String,
    },
    /// A required line is absent (`o=`, RFC 8866 §5.2).
    #[error("SDP has no {field} line")]
    Missing {
        /// `"o="`.
        field: &'static str,
    },
}

impl SdpError {
    /// The 1-based line number the problem is on, when it concerns a line.
    pub fn line(&self) -> Option<usize> {
        match self {
            SdpError::MissingVersion { line, .. }
            | SdpError::MalformedLine { line, .. }
            | SdpError::InvalidCharacter { line, .. }
            | SdpError::InvalidField { line, .. }
            | SdpError::Duplicate { line, .. } => Some(*line),
            SdpError::Empty | SdpError::Missing { .. } => None,
        }
    }

    /// The offending line as received (lossy UTF-8, truncated to 120 characters), when the
    /// problem concerns a line.
    pub fn text(&self) -> Option<&str> {
        match self {
            SdpError::MissingVersion { text, .. }
            | SdpError::MalformedLine { text, .. }
            | SdpError::InvalidCharacter { text, .. }
            | SdpError::InvalidField { text, .. }
            | SdpError::Duplicate { text, .. } => Some(text),
            SdpError::Empty | SdpError::Missing { .. } => None,
        }
    }

    /// The SIP status a UAS answers a request whose SDP body could not be parsed:
    /// 400 Bad Request (RFC 3261 §21.4.1, malformed syntax). A body that parses but offers
    /// nothing acceptable is a [`NegotiationError`] (488).
    pub fn status(&self) -> u16 {
        400
    }
}

/// Why offer/answer failed. Every kind maps to 488 Not Acceptable Here
/// ([`NegotiationError::status`], RFC 3261 §21.4.26) with a Warning code
/// ([`NegotiationError::warning`], RFC 3261 §20.43) — except [`NegotiationError::Glare`],
/// which is 491 Request Pending (RFC 3261 §14.1).
///
/// ```
/// use freya_sip::sdp::{answer, Capabilities, NegotiationError, SessionDescription};
/// let g729: SessionDescription = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\n\
///     c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 31000 RTP/AVP 18\r\n".parse().unwrap();
/// let err = answer(&g729, &Capabilities::new("192.0.2.10".parse().unwrap(), 10000), 1, 1)
///     .unwrap_err();
/// assert!(matches!(err, NegotiationError::NoCommonCodec { index: 0, .. }));
/// assert_eq!(err.status(), 488);
/// assert_eq!(err.warning(), (305, "Incompatible media format"));
/// assert_eq!(
///     err.to_string(),
///     "m= line 1: no codec in common: offered 18 G729/8000, we accept ulaw, alaw"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No `m=audio` line with a port other than 0.
    #[error("no audio stream offered (no m=audio line with a port other than 0)")]
    NoAudio,
    /// The audio stream uses a transport freya does not speak (SRTP, DTLS-SRTP, …).
    #[error("m= line {}: transport {proto} is not supported (RTP/AVP or RTP/AVPF only)", .index + 1)]
    UnsupportedTransport {
        /// 0-based index of the `m=` line.
        index: usize,
        /// The protocol, as received.
        proto: String,
    },
    /// No codec the offer (or answer) carries is one we accept.
    #[error("m= line {}: no codec in common: offered {offered}, we accept {accepted}", .index + 1)]
    NoCommonCodec {
        /// 0-based index of the `m=` line.
        index: usize,
        /// The formats offered, as `<pt> <encoding>/<rate>` (`18 G729/8000`).
        offered: String,
        /// Ours, by Asterisk name (`ulaw, alaw`).
        accepted: String,
    },
    /// Neither the `m=` section nor the session has a `c=` line.
    #[error("m= line {}: no c= line at media or session level", .index + 1)]
    MissingConnection {
        /// 0-based index of the `m=` line.
        index: usize,
    },
    /// The connection address is not an IP literal of its address type (a domain name,
    /// which a sans-IO core cannot resolve).
    #[error("m= line {}: connection address {address:?} is not an IP address", .index + 1)]
    UnresolvedAddress {
        /// 0-based index of the `m=` line.
        index: usize,
        /// The address, as received.
        address: String,
    },
    /// The answer does not have as many `m=` lines as the offer (RFC 3264 §6).
    #[error("the answer has {answer} m= lines, the offer {offer} (RFC 3264 §6)")]
    MediaCountMismatch {
        /// `m=` lines in the offer.
        offer: usize,
        /// `m=` lines in the answer.
        answer: usize,
    },
    /// The answer rejected our audio stream (port 0, RFC 3264 §6).
    #[error("m= line {}: the answer rejected the audio stream", .index + 1)]
    Rejected {
        /// 0-based index of the `m=` line.
        index: usize,
    },
    /// A new offer arrived while ours is waiting for its answer (RFC 3264 §4, RFC 3261
    /// §14.2).
    #[error("an offer arrived while ours waits for its answer")]
    Glare,
    /// An answer arrived but no offer of ours is waiting for one.
    #[error("an answer arrived but no offer is pending")]
    NoPendingOffer,
}

impl NegotiationError {
    /// The SIP status to answer the offering request with: 488 Not Acceptable Here, or 491
    /// Request Pending for [`NegotiationError::Glare`].
    pub fn status(&self) -> u16 {
        match self {
            NegotiationError::Glare => 491,
            _ => 488,
        }
    }

    /// The Warning code and text for the 488 (RFC 3261 §20.43): 304 Media type not
    /// available, 305 Incompatible media format, 302 Incompatible transport protocol, 301
    /// Incompatible network address formats, 399 otherwise.
    pub fn warning(&self) -> (u16, &'static str) {
        match self {
            NegotiationError::NoAudio => (304, "Media type not available"),
            NegotiationError::NoCommonCodec { .. } => (305, "Incompatible media format"),
            NegotiationError::UnsupportedTransport { .. } => {
                (302, "Incompatible transport protocol")
            }
            NegotiationError::UnresolvedAddress { .. } => {
                (301, "Incompatible network address formats")
            }
            _ => (399, "Miscellaneous warning"),
        }
    }
}

/// The line as kept in an error: lossy UTF-8, at most [`MAX_TEXT`] characters.
pub(crate) fn error_text(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.into_owned(),
    }
}
