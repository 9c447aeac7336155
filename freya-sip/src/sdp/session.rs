//! A session description (RFC 8866 §5) kept as the lines received: each line holds its
//! bytes and line end next to its typed value, so an unmodified description serialises to
//! exactly the input, and an edited one rewrites only the lines that changed.

use std::fmt;

use super::address::{Connection, Origin, NO_ORIGIN};
use super::attribute::{Attribute, Direction};
use super::field::{Bandwidth, Field, Timing};
use super::line::{
    attributes, find_direction, insert_ordered, is_direction, set_unique, write_line, Line,
    LineEnding, MLine,
};
use super::media::MediaDescription;
use super::SdpError;

/// A session description (RFC 8866 §5): the session-level lines (`v=` … up to the first
/// `m=`) and the media descriptions, each line kept with the bytes it arrived as.
///
/// Parsing is lenient: unknown line types and attributes are kept, LF and CRLF line ends
/// are both accepted, and an unmodified description serialises ([`to_bytes`]) to exactly
/// the input. Lines that are edited, added or removed through the typed setters are the
/// only ones rendered anew. Equality (`==`) compares the lines and the bytes they were
/// received as; compare [`to_bytes`] to compare what goes on the wire.
///
/// [`to_bytes`]: SessionDescription::to_bytes
///
/// ```
/// use freya_sip::sdp::{Connection, Direction, SessionDescription};
/// let input = b"v=0\r\no=carrier 8721 8721 IN IP4 198.51.100.7\r\ns=-\r\n\
///               c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0 8 101\r\n\
///               a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
///               a=x-carrier-leg:7\r\n";
/// let mut sdp = SessionDescription::parse(input).unwrap();
/// assert_eq!(sdp.to_bytes(), input);
/// assert_eq!(sdp.origin().session_version, 8721);
/// assert_eq!(sdp.connection().unwrap().address, "198.51.100.7");
/// let audio = &sdp.media()[0];
/// assert_eq!(audio.port(), 31000);
/// assert_eq!(audio.payload_format(0).unwrap().encoding, "PCMU"); // static, RFC 3551
/// assert_eq!(audio.ptime(), Some(20));
/// assert_eq!(sdp.media_direction(0), Direction::SendRecv);
///
/// // Editing rewrites only the edited line.
/// sdp.set_connection(Some(Connection::new("192.0.2.1".parse().unwrap())));
/// let out = String::from_utf8(sdp.to_bytes()).unwrap();
/// assert!(out.contains("\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"));
/// assert!(out.ends_with("a=x-carrier-leg:7\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionDescription {
    lines: Vec<Line>,
    media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses an SDP body (RFC 8866 §5). The first line must be `v=0` and an `o=` line must
    /// be present; known lines (`o=`, `c=`, `b=`, `t=`, `m=`) and known attributes
    /// (`rtpmap`, `fmtp`, `ptime`, `maxptime`, `rtcp`) must follow their grammar; every
    /// other line is kept as received. Never panics.
    pub fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
        super::parse::parse(input)
    }

    pub(crate) fn from_parts(lines: Vec<Line>, media: Vec<MediaDescription>) -> SessionDescription {
        SessionDescription { lines, media }
    }

    /// A minimal description: `v=0`, the given `o=`, `s=-` and `t=0 0`, no media.
    pub fn new(origin: Origin) -> SessionDescription {
        SessionDescription {
            lines: vec![
                Line::new(Field::Version(0)),
                Line::new(Field::Origin(origin)),
                Line::new(Field::SessionName("-".to_owned())),
                Line::new(Field::Timing(Timing::default())),
            ],
            media: Vec::new(),
        }
    }

    /// The session-level lines, `v=` first, in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The protocol version (`v=`), always 0 (RFC 8866 §5.1).
    pub fn version(&self) -> u32 {
        0
    }

    /// The `o=` line (RFC 8866 §5.2).
    pub fn origin(&self) -> &Origin {
        self.lines
            .iter()
            .find_map(|l| match &l.field {
                Field::Origin(o) => Some(o),
                _ => None,
            })
            .unwrap_or(&NO_ORIGIN)
    }

    /// Replaces the `o=` line (RFC 3264 §8: a changed description carries the session
    /// version plus one).
    pub fn set_origin(&mut self, origin: Origin) {
        set_unique(&mut self.lines, Some(Field::Origin(origin)), |f| {
            matches!(f, Field::Origin(_))
        });
    }

    fn text(&self, pick: fn(&Field) -> Option<&String>) -> Option<&str> {
        self.lines
            .iter()
            .find_map(|l| pick(&l.field))
            .map(String::as_str)
    }

    /// The session name (`s=`, RFC 8866 §5.3).
    pub fn session_name(&self) -> Option<&str> {
        self.text(|f| match f {
            Field::SessionName(s) => Some(s),
            _ => None,
        })
    }

    /// Replaces the session name (`s=`).
    pub fn set_session_name(&mut self, name: &str) {
        set_unique(
            &mut self.lines,
            Some(Field::SessionName(name.to_owned())),
            |f| matches!(f, Field::SessionName(_)),
        );
    }

    /// The session information (`i=`, RFC 8866 §5.4).
    pub fn information(&self) -> Option<&str> {
        self.text(|f| match f {
            Field::Information(s) => Some(s),
            _ => None,
        })
    }

    /// The URI (`u=`, RFC 8866 §5.5).
    pub fn uri(&self) -> Option<&str> {
        self.text(|f| match f {
            Field::Uri(s) => Some(s),
            _ => None,
        })
    }

    /// The email addresses (`e=`, RFC 8866 §5.6).
    pub fn emails(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match &l.field {
            Field::Email(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The phone numbers (`p=`, RFC 8866 §5.6).
    pub fn phones(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match &l.field {
            Field::Phone(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The session-level connection (`c=`, RFC 8866 §5.7), which applies to every media
    /// description without its own.
    pub fn connection(&self) -> Option<&Connection> {
        self.lines.iter().find_map(|l| match &l.field {
            Field::Connection(c) => Some(c),
            _ => None,
        })
    }

    /// Sets (or with `None` removes) the session-level `c=` line.
    pub fn set_connection(&mut self, connection: Option<Connection>) {
        set_unique(&mut self.lines, connection.map(Field::Connection), |f| {
            matches!(f, Field::Connection(_))
        });
    }

    /// The session-level bandwidth lines (`b=`, RFC 8866 §5.8).
    pub fn bandwidths(&self) -> impl Iterator<Item = &Bandwidth> {
        self.lines.iter().filter_map(|l| match &l.field {
            Field::Bandwidth(b) => Some(b),
            _ => None,
        })
    }

    /// The timing lines (`t=`, RFC 8866 §5.9); SIP uses one, `t=0 0`.
    pub fn timings(&self) -> impl Iterator<Item = &Timing> {
        self.lines.iter().filter_map(|l| match &l.field {
            Field::Timing(t) => Some(t),
            _ => None,
        })
    }

    /// Replaces the `t=` lines (and their `r=` lines) with one (RFC 3264 §6: an answer
    /// repeats the offer's `t=`).
    pub fn set_timing(&mut self, timing: Timing) {
        self.lines.retain(|l| !matches!(l.field, Field::Repeat(_)));
        set_unique(&mut self.lines, Some(Field::Timing(timing)), |f| {
            matches!(f, Field::Timing(_))
        });
    }

    /// The repeat times (`r=`, RFC 8866 §5.10), as text.
    pub fn repeats(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match &l.field {
            Field::Repeat(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The time zone adjustments (`z=`, RFC 8866 §5.11), as text.
    pub fn time_zones(&self) -> Option<&str> {
        self.text(|f| match f {
            Field::TimeZones(s) => Some(s),
            _ => None,
        })
    }

    /// The encryption key (`k=`, RFC 8866 §5.12, obsolete), as text.
    pub fn key(&self) -> Option<&str> {
        self.text(|f| match f {
            Field::Key(s) => Some(s),
            _ => None,
        })
    }

    /// The session-level attributes (`a=`, RFC 8866 §5.13), in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        attributes(&self.lines)
    }

    /// The first session-level attribute named `name` (ASCII case ignored).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Adds a session-level attribute after the last one.
    pub fn push_attribute(&mut self, attribute: Attribute) {
        insert_ordered(&mut self.lines, Line::new(Field::Attribute(attribute)));
    }

    /// Keeps only the session-level attributes for which `keep` returns true.
    pub fn retain_attributes(&mut self, mut keep: impl FnMut(&Attribute) -> bool) {
        self.lines.retain(|l| match &l.field {
            Field::Attribute(a) => keep(a),
            _ => true,
        });
    }

    /// The session-level direction attribute (RFC 8866 §6.7), which applies to every media
    /// description without its own.
    pub fn direction(&self) -> Option<Direction> {
        find_direction(&self.lines)
    }

    /// Sets (or with `None` removes) the session-level direction attribute.
    pub fn set_direction(&mut self, direction: Option<Direction>) {
        let field = direction.map(|d| Field::Attribute(Attribute::Direction(d)));
        set_unique(&mut self.lines, field, is_direction);
    }

    /// The media descriptions, in order.
    pub fn media(&self) -> &[MediaDescription] {
        &self.media
    }

    /// The media descriptions, for editing (RFC 3264 §8: a new offer keeps their number
    /// and order).
    pub fn media_mut(&mut self) -> &mut [MediaDescription] {
        &mut self.media
    }

    /// Removes every media description.
    pub fn clear_media(&mut self) {
        self.media.clear();
    }

    /// Appends a media description.
    pub fn push_media(&mut self, media: MediaDescription) {
        self.media.push(media);
    }

    /// The direction in force for media description `index`: its own attribute, else the
    /// session-level one, else sendrecv (RFC 8866 §6.7). `SendRecv` for an index out of
    /// range.
    pub fn media_direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction)
            .or(self.direction())
            .unwrap_or_default()
    }

    /// The connection in force for media description `index`: its own `c=`, else the
    /// session-level one (RFC 8866 §5.7).
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(MediaDescription::connection)
            .or(self.connection())
    }

    /// The description as bytes: exactly the input for an unmodified parsed description;
    /// new and edited lines end with the line end of the first line (CRLF when built here).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }

    /// Appends [`SessionDescription::to_bytes`] to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let default = match self.lines.first().and_then(Line::line_ending) {
            Some(LineEnding::Lf) => LineEnding::Lf,
            _ => LineEnding::CrLf,
        };
        let total = self.lines.len() + self.media.iter().map(|m| 1 + m.lines.len()).sum::<usize>();
        let mut n = 0;
        for l in &self.lines {
            n += 1;
            l.write(out, default, n == total);
        }
        for m in &self.media {
            n += 1;
            write_line(
                out,
                m.raw.as_ref(),
                !m.is_line_modified(),
                &MLine(&m.line),
                default,
                n == total,
            );
            for l in &m.lines {
                n += 1;
                l.write(out, default, n == total);
            }
        }
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;
    fn from_str(s: &str) -> Result<SessionDescription, SdpError> {
        SessionDescription::parse(s.as_bytes())
    }
}

impl TryFrom<&[u8]> for SessionDescription {
    type Error = SdpError;
    fn try_from(b: &[u8]) -> Result<SessionDescription, SdpError> {
        SessionDescription::parse(b)
    }
}

impl fmt::Display for SessionDescription {
    /// The serialised description ([`SessionDescription::to_bytes`]), invalid UTF-8
    /// replaced by U+FFFD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}
