//! One media description (RFC 8866 §5.14): the `m=` line and the lines after it.

use super::address::Connection;
use super::attribute::{Attribute, Direction, Fmtp, Rtcp, Rtpmap};
use super::codec::static_payload;
use super::field::{Bandwidth, Field};
use super::line::{
    attributes, find_direction, insert_ordered, is_direction, set_unique, Line, Raw,
};
use super::media_line::{MediaLine, MediaType, Proto};

/// One media description (RFC 8866 §5.14): the `m=` line and the lines after it (`i=`,
/// `c=`, `b=`, `k=`, `a=`) up to the next `m=`.
///
/// ```
/// use freya_sip::sdp::{Attribute, Direction, MediaDescription, MediaLine, MediaType, Proto, Rtpmap};
/// let mut m = MediaDescription::new(MediaLine::new(
///     MediaType::Audio, 40000, Proto::RtpAvp, vec!["8".into(), "101".into()],
/// ));
/// m.push_attribute(Attribute::Rtpmap(Rtpmap::new(101, "telephone-event", 8000)));
/// m.set_direction(Some(Direction::SendOnly));
/// assert_eq!(m.payload_format(8).unwrap().encoding, "PCMA");
/// assert_eq!(m.rtpmap(101).unwrap().clock_rate, 8000);
/// assert_eq!(m.direction(), Some(Direction::SendOnly));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaDescription {
    pub(crate) line: MediaLine,
    pub(crate) raw: Option<Raw>,
    pub(crate) lines: Vec<Line>,
}

impl MediaDescription {
    /// A media description with no line after `m=`.
    pub fn new(line: MediaLine) -> MediaDescription {
        MediaDescription {
            line,
            raw: None,
            lines: Vec::new(),
        }
    }

    pub(crate) fn received(line: MediaLine, raw: Raw) -> MediaDescription {
        MediaDescription {
            line,
            raw: Some(raw),
            lines: Vec::new(),
        }
    }

    pub(crate) fn is_line_modified(&self) -> bool {
        match &self.raw {
            None => true,
            Some(raw) => {
                !matches!(Field::parse_line(&raw.text), Ok(Field::Media(m)) if m == self.line)
            }
        }
    }

    /// The `m=` line.
    pub fn media_line(&self) -> &MediaLine {
        &self.line
    }

    /// The `m=` line, for editing.
    pub fn media_line_mut(&mut self) -> &mut MediaLine {
        &mut self.line
    }

    /// The `m=` line's bytes as received (without line end); `None` when built here.
    pub fn received_bytes(&self) -> Option<&[u8]> {
        self.raw.as_ref().map(|r| r.text.as_slice())
    }

    /// The lines after `m=`, in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The lines after `m=`, for editing. Keep `m=`, `v=` and `o=` lines out of them.
    pub fn lines_mut(&mut self) -> &mut Vec<Line> {
        &mut self.lines
    }

    /// The media type (`audio`, …).
    pub fn media_type(&self) -> &MediaType {
        &self.line.media
    }

    /// The transport port (RTP port for RTP), 0 when the stream is rejected or disabled
    /// (RFC 3264 §6, §8.2).
    pub fn port(&self) -> u16 {
        self.line.port
    }

    /// Sets the transport port.
    pub fn set_port(&mut self, port: u16) {
        self.line.port = port;
    }

    /// The transport protocol (`RTP/AVP`, …).
    pub fn proto(&self) -> &Proto {
        &self.line.proto
    }

    /// The formats as received (RTP payload type numbers for RTP).
    pub fn formats(&self) -> &[String] {
        &self.line.formats
    }

    /// The formats that are RTP payload types (0–127), in the offerer's preference order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.line.payload_types()
    }

    /// Whether the port is 0 (RFC 3264 §6: a rejected stream; §8.2: a disabled one).
    pub fn is_rejected(&self) -> bool {
        self.line.port == 0
    }

    /// The media title (`i=`).
    pub fn information(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| match &l.field {
            Field::Information(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The media-level connection (`c=`, RFC 8866 §5.7); see also
    /// [`SessionDescription::media_connection`](super::SessionDescription::media_connection).
    pub fn connection(&self) -> Option<&Connection> {
        self.lines.iter().find_map(|l| match &l.field {
            Field::Connection(c) => Some(c),
            _ => None,
        })
    }

    /// Sets (or with `None` removes) the media-level `c=` line.
    pub fn set_connection(&mut self, connection: Option<Connection>) {
        set_unique(&mut self.lines, connection.map(Field::Connection), |f| {
            matches!(f, Field::Connection(_))
        });
    }

    /// The media-level bandwidth lines (`b=`).
    pub fn bandwidths(&self) -> impl Iterator<Item = &Bandwidth> {
        self.lines.iter().filter_map(|l| match &l.field {
            Field::Bandwidth(b) => Some(b),
            _ => None,
        })
    }

    /// The media-level attributes (`a=`), in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.lines)
    }

    /// The first media-level attribute named `name` (ASCII case ignored).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Adds an attribute after the last one.
    pub fn push_attribute(&mut self, attribute: Attribute) {
        insert_ordered(&mut self.lines, Line::new(Field::Attribute(attribute)));
    }

    /// Keeps only the attributes for which `keep` returns true.
    pub fn retain_attributes(&mut self, mut keep: impl FnMut(&Attribute) -> bool) {
        self.lines.retain(|l| match &l.field {
            Field::Attribute(a) => keep(a),
            _ => true,
        });
    }

    /// The `a=rtpmap` attributes (RFC 8866 §6.6).
    pub fn rtpmaps(&self) -> impl Iterator<Item = &Rtpmap> {
        self.attributes().filter_map(|a| match a {
            Attribute::Rtpmap(r) => Some(r),
            _ => None,
        })
    }

    /// The `a=rtpmap` for payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<&Rtpmap> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// What payload type `pt` carries: its `a=rtpmap`, else the RFC 3551 §6 static
    /// assignment (0 PCMU/8000, 8 PCMA/8000, 18 G729/8000, …).
    pub fn payload_format(&self, pt: u8) -> Option<Rtpmap> {
        self.rtpmap(pt).cloned().or_else(|| static_payload(pt))
    }

    /// The `a=fmtp` for `format` (a payload type number as text).
    pub fn fmtp(&self, format: &str) -> Option<&Fmtp> {
        self.attributes().find_map(|a| match a {
            Attribute::Fmtp(f) if f.format == format => Some(f),
            _ => None,
        })
    }

    /// `a=ptime`: the packet duration the author of this SDP wants to receive, in
    /// milliseconds (RFC 8866 §6.4).
    pub fn ptime(&self) -> Option<u32> {
        self.attributes().find_map(|a| match a {
            Attribute::Ptime(n) => Some(*n),
            _ => None,
        })
    }

    /// `a=maxptime`: the longest packet duration it accepts, in milliseconds
    /// (RFC 8866 §6.5).
    pub fn maxptime(&self) -> Option<u32> {
        self.attributes().find_map(|a| match a {
            Attribute::MaxPtime(n) => Some(*n),
            _ => None,
        })
    }

    /// The media-level direction attribute (RFC 8866 §6.7); see also
    /// [`SessionDescription::media_direction`](super::SessionDescription::media_direction).
    pub fn direction(&self) -> Option<Direction> {
        find_direction(&self.lines)
    }

    /// Sets (or with `None` removes) the media-level direction attribute.
    pub fn set_direction(&mut self, direction: Option<Direction>) {
        let field = direction.map(|d| Field::Attribute(Attribute::Direction(d)));
        set_unique(&mut self.lines, field, is_direction);
    }

    /// `a=rtcp` (RFC 3605).
    pub fn rtcp(&self) -> Option<&Rtcp> {
        self.attributes().find_map(|a| match a {
            Attribute::Rtcp(r) => Some(r),
            _ => None,
        })
    }

    /// Whether `a=rtcp-mux` is present (RFC 5761 §5.1.1).
    pub fn rtcp_mux(&self) -> bool {
        self.attributes().any(|a| matches!(a, Attribute::RtcpMux))
    }
}
