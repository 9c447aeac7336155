//! The `m=` line: media type, port, transport protocol and formats (RFC 8866 §5.14).

use std::fmt;

use super::field::{digits, err, FieldError};

/// The media type of an `m=` line (RFC 8866 §5.14, §8.2.2).
///
/// ```
/// use freya_sip::sdp::MediaType;
/// assert_eq!("audio".parse::<MediaType>(), Ok(MediaType::Audio));
/// assert_eq!(MediaType::Other("x-foo".into()).to_string(), "x-foo");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `text` (RFC 4103 real-time text).
    Text,
    /// `application` (e.g. WebRTC data channels).
    Application,
    /// `message` (MSRP).
    Message,
    /// `image` (T.38 fax).
    Image,
    /// Anything else, as received.
    Other(String),
}

impl std::str::FromStr for MediaType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<MediaType, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "audio" => MediaType::Audio,
            "video" => MediaType::Video,
            "text" => MediaType::Text,
            "application" => MediaType::Application,
            "message" => MediaType::Message,
            "image" => MediaType::Image,
            _ => MediaType::Other(s.to_owned()),
        })
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::Text => "text",
            MediaType::Application => "application",
            MediaType::Message => "message",
            MediaType::Image => "image",
            MediaType::Other(s) => s,
        })
    }
}

/// The transport protocol of an `m=` line (RFC 8866 §5.14; RFC 3551, RFC 3711, RFC 4585,
/// RFC 5764).
///
/// ```
/// use freya_sip::sdp::Proto;
/// assert_eq!("RTP/AVP".parse::<Proto>(), Ok(Proto::RtpAvp));
/// assert!(Proto::RtpAvp.is_plain_rtp() && Proto::RtpAvpf.is_plain_rtp());
/// assert!(!"UDP/TLS/RTP/SAVPF".parse::<Proto>().unwrap().is_plain_rtp());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `RTP/AVP`: RTP with the audio/video profile (RFC 3551).
    RtpAvp,
    /// `RTP/AVPF`: with RTCP feedback (RFC 4585).
    RtpAvpf,
    /// `RTP/SAVP`: SRTP (RFC 3711).
    RtpSavp,
    /// `RTP/SAVPF`: SRTP with feedback (RFC 5124).
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVPF`: DTLS-SRTP as WebRTC uses it (RFC 5764, RFC 8827).
    UdpTlsRtpSavpf,
    /// `udp`: unspecified protocol over UDP (e.g. T.38 `udptl` is [`Proto::Other`]).
    Udp,
    /// Anything else, as received.
    Other(String),
}

impl Proto {
    /// Whether this is unencrypted RTP (`RTP/AVP` or `RTP/AVPF`), what freya's media layer
    /// speaks.
    pub fn is_plain_rtp(&self) -> bool {
        matches!(self, Proto::RtpAvp | Proto::RtpAvpf)
    }
}

impl std::str::FromStr for Proto {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Proto, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "RTP/AVP" => Proto::RtpAvp,
            "RTP/AVPF" => Proto::RtpAvpf,
            "RTP/SAVP" => Proto::RtpSavp,
            "RTP/SAVPF" => Proto::RtpSavpf,
            "UDP/TLS/RTP/SAVPF" => Proto::UdpTlsRtpSavpf,
            "UDP" => Proto::Udp,
            _ => Proto::Other(s.to_owned()),
        })
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::RtpAvp => "RTP/AVP",
            Proto::RtpAvpf => "RTP/AVPF",
            Proto::RtpSavp => "RTP/SAVP",
            Proto::RtpSavpf => "RTP/SAVPF",
            Proto::UdpTlsRtpSavpf => "UDP/TLS/RTP/SAVPF",
            Proto::Udp => "udp",
            Proto::Other(s) => s,
        })
    }
}

/// The `m=` line: media type, transport port, protocol and formats (RFC 8866 §5.14). For
/// RTP the formats are payload type numbers (RFC 3551); port 0 marks a rejected or disabled
/// stream (RFC 3264 §6, §8.2).
///
/// ```
/// use freya_sip::sdp::{MediaLine, MediaType, Proto};
/// let m: MediaLine = "audio 49170 RTP/AVP 0 8 101".parse().unwrap();
/// assert_eq!(m.media, MediaType::Audio);
/// assert_eq!((m.port, m.port_count), (49170, None));
/// assert_eq!(m.proto, Proto::RtpAvp);
/// assert_eq!(m.payload_types().collect::<Vec<_>>(), vec![0, 8, 101]);
/// assert_eq!(m.to_string(), "audio 49170 RTP/AVP 0 8 101");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaLine {
    /// `audio`, `video`, …
    pub media: MediaType,
    /// The transport port (RTP port for RTP); 0 for a rejected stream.
    pub port: u16,
    /// The number of ports (`49170/2`), for hierarchically encoded streams.
    pub port_count: Option<u16>,
    /// The transport protocol.
    pub proto: Proto,
    /// The media formats, as received (RTP payload type numbers for RTP).
    pub formats: Vec<String>,
}

impl MediaLine {
    /// An `m=` line with the given formats.
    pub fn new(media: MediaType, port: u16, proto: Proto, formats: Vec<String>) -> MediaLine {
        MediaLine {
            media,
            port,
            port_count: None,
            proto,
            formats,
        }
    }

    /// The formats that are RTP payload type numbers (0–127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| digits::<u8>(f).filter(|pt| *pt <= 127))
    }

    pub(crate) fn parse(v: &str) -> Result<MediaLine, FieldError> {
        let mut t = v.split_ascii_whitespace();
        let (Some(media), Some(port), Some(proto)) = (t.next(), t.next(), t.next()) else {
            return err("m=", "expected <media> <port> <proto> <fmt> ...");
        };
        let (port, count) = match port.split_once('/') {
            Some((p, n)) => (p, Some(n)),
            None => (port, None),
        };
        let Some(port) = digits(port) else {
            return err("m=", "the port is not a number from 0 to 65535");
        };
        let port_count = match count {
            None => None,
            Some(n) => match digits(n) {
                Some(n) => Some(n),
                None => return err("m=", "the port count is not a number from 0 to 65535"),
            },
        };
        Ok(MediaLine {
            media: media.parse().unwrap_or(MediaType::Audio),
            port,
            port_count,
            proto: proto.parse().unwrap_or(Proto::RtpAvp),
            formats: t.map(str::to_owned).collect(),
        })
    }
}

impl std::str::FromStr for MediaLine {
    type Err = super::SdpError;
    /// Parses the value of an `m=` line (without `m=`).
    fn from_str(s: &str) -> Result<MediaLine, super::SdpError> {
        MediaLine::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for MediaLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        Ok(())
    }
}
