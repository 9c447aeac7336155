//! One SDP line's typed value (RFC 8866 §5): `<type>=<value>` parsed into a [`Field`] and
//! rendered back.

use std::fmt;

use super::address::{Connection, Origin};
use super::attribute::Attribute;
use super::media_line::MediaLine;

/// Why one line's value breaks its grammar (turned into an [`SdpError`](super::SdpError)
/// with the line number by the parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: &'static str,
    pub(crate) reason: &'static str,
}

pub(crate) fn err<T>(field: &'static str, reason: &'static str) -> Result<T, FieldError> {
    Err(FieldError { field, reason })
}

/// A non-empty run of ASCII digits as a number (no sign, no blanks; `str::parse` alone would
/// accept `+5`).
pub(crate) fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The typed value of one SDP line (RFC 8866 §5). Text fields are decoded as UTF-8
/// (invalid sequences replaced by U+FFFD; the line's bytes are kept anyway, see
/// [`Line`](super::Line)).
///
/// ```
/// use freya_sip::sdp::{Attribute, Direction, Field};
/// let f: Field = "a=sendonly".parse().unwrap();
/// assert_eq!(f, Field::Attribute(Attribute::Direction(Direction::SendOnly)));
/// assert_eq!(f.to_string(), "a=sendonly");
/// assert_eq!(f.type_char(), Some('a'));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `v=`: protocol version, always 0 (RFC 8866 §5.1).
    Version(u32),
    /// `o=`: originator and session identifier (RFC 8866 §5.2).
    Origin(Origin),
    /// `s=`: session name (RFC 8866 §5.3).
    SessionName(String),
    /// `i=`: session or media title (RFC 8866 §5.4).
    Information(String),
    /// `u=`: URI of a description (RFC 8866 §5.5).
    Uri(String),
    /// `e=`: email address (RFC 8866 §5.6).
    Email(String),
    /// `p=`: phone number (RFC 8866 §5.6).
    Phone(String),
    /// `c=`: connection data (RFC 8866 §5.7).
    Connection(Connection),
    /// `b=`: bandwidth (RFC 8866 §5.8).
    Bandwidth(Bandwidth),
    /// `t=`: start and stop times (RFC 8866 §5.9).
    Timing(Timing),
    /// `r=`: repeat times, kept as text (RFC 8866 §5.10).
    Repeat(String),
    /// `z=`: time zone adjustments, kept as text (RFC 8866 §5.11).
    TimeZones(String),
    /// `k=`: encryption key, obsolete, kept as text (RFC 8866 §5.12).
    Key(String),
    /// `a=`: attribute (RFC 8866 §5.13, §6).
    Attribute(Attribute),
    /// `m=`: media description header (RFC 8866 §5.14).
    Media(MediaLine),
    /// A line of a type this stack does not know (`x=…`), kept as received (RFC 8866 §5:
    /// "parsers ... SHOULD ignore" unknown types; we keep them).
    Unknown {
        /// The type letter.
        kind: char,
        /// Everything after `=`.
        value: String,
    },
    /// An empty line (some stacks end the body with an extra CRLF), kept.
    Blank,
}

impl Field {
    /// Parses one line without its line end (`o=- 1 1 IN IP4 192.0.2.1`).
    pub(crate) fn parse_line(line: &[u8]) -> Result<Field, Option<FieldError>> {
        if line.is_empty() {
            return Ok(Field::Blank);
        }
        if line.len() < 2 || line[1] != b'=' || !line[0].is_ascii_alphabetic() {
            return Err(None);
        }
        let value = String::from_utf8_lossy(&line[2..]);
        Field::parse_value(line[0] as char, &value).map_err(Some)
    }

    fn parse_value(kind: char, v: &str) -> Result<Field, FieldError> {
        Ok(match kind {
            'v' => match digits::<u32>(v.trim()) {
                Some(0) => Field::Version(0),
                _ => return err("v=", "the version must be 0"),
            },
            'o' => Field::Origin(Origin::parse(v)?),
            's' => Field::SessionName(v.to_owned()),
            'i' => Field::Information(v.to_owned()),
            'u' => Field::Uri(v.to_owned()),
            'e' => Field::Email(v.to_owned()),
            'p' => Field::Phone(v.to_owned()),
            'c' => Field::Connection(Connection::parse(v)?),
            'b' => Field::Bandwidth(Bandwidth::parse(v)?),
            't' => Field::Timing(Timing::parse(v)?),
            'r' => Field::Repeat(v.to_owned()),
            'z' => Field::TimeZones(v.to_owned()),
            'k' => Field::Key(v.to_owned()),
            // Lenient (RFC 3264 §6: an answerer ignores what it does not understand): an
            // attribute whose value breaks its grammar — `a=rtpmap:31 LPC` from RFC 4475
            // §3.1.1.3 — is kept as an opaque attribute, not a reason to refuse the SDP.
            'a' => Field::Attribute(Attribute::parse(v).unwrap_or_else(|e| {
                tracing::debug!(line = v, error = ?e, "sdp: malformed attribute kept as opaque");
                let (name, value) = match v.split_once(':') {
                    Some((n, val)) => (n.to_owned(), Some(val.to_owned())),
                    None => (v.to_owned(), None),
                };
                Attribute::Other { name, value }
            })),
            'm' => Field::Media(MediaLine::parse(v)?),
            _ => Field::Unknown {
                kind,
                value: v.to_owned(),
            },
        })
    }

    /// The line's type letter (`'o'` for `o=`), `None` for a blank line.
    pub fn type_char(&self) -> Option<char> {
        Some(match self {
            Field::Version(_) => 'v',
            Field::Origin(_) => 'o',
            Field::SessionName(_) => 's',
            Field::Information(_) => 'i',
            Field::Uri(_) => 'u',
            Field::Email(_) => 'e',
            Field::Phone(_) => 'p',
            Field::Connection(_) => 'c',
            Field::Bandwidth(_) => 'b',
            Field::Timing(_) => 't',
            Field::Repeat(_) => 'r',
            Field::TimeZones(_) => 'z',
            Field::Key(_) => 'k',
            Field::Attribute(_) => 'a',
            Field::Media(_) => 'm',
            Field::Unknown { kind, .. } => *kind,
            Field::Blank => return None,
        })
    }

    /// Where a line of this type goes in the RFC 8866 §5 order (v o s i u e p c b t r z k
    /// a; unknown and blank lines last), used to insert new lines.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Field::Version(_) => 0,
            Field::Origin(_) => 1,
            Field::SessionName(_) => 2,
            Field::Information(_) => 3,
            Field::Uri(_) => 4,
            Field::Email(_) => 5,
            Field::Phone(_) => 6,
            Field::Connection(_) => 7,
            Field::Bandwidth(_) => 8,
            Field::Timing(_) | Field::Repeat(_) => 9,
            Field::TimeZones(_) => 10,
            Field::Key(_) => 11,
            Field::Attribute(_) => 12,
            Field::Media(_) => 13,
            Field::Unknown { .. } | Field::Blank => u8::MAX,
        }
    }
}

impl fmt::Display for Field {
    /// The line without its line end (`c=IN IP4 192.0.2.1`); empty for [`Field::Blank`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.type_char() {
            write!(f, "{c}=")?;
        }
        match self {
            Field::Version(v) => write!(f, "{v}"),
            Field::Origin(o) => write!(f, "{o}"),
            Field::SessionName(s)
            | Field::Information(s)
            | Field::Uri(s)
            | Field::Email(s)
            | Field::Phone(s)
            | Field::Repeat(s)
            | Field::TimeZones(s)
            | Field::Key(s)
            | Field::Unknown { value: s, .. } => f.write_str(s),
            Field::Connection(c) => write!(f, "{c}"),
            Field::Bandwidth(b) => write!(f, "{b}"),
            Field::Timing(t) => write!(f, "{t}"),
            Field::Attribute(a) => write!(f, "{a}"),
            Field::Media(m) => write!(f, "{m}"),
            Field::Blank => Ok(()),
        }
    }
}

impl std::str::FromStr for Field {
    type Err = super::SdpError;

    /// Parses one line (without line end) as if it were line 1 of a body.
    fn from_str(s: &str) -> Result<Field, super::SdpError> {
        Field::parse_line(s.as_bytes()).map_err(|e| super::parse::line_error(1, s.as_bytes(), e))
    }
}

/// The `b=` line: proposed bandwidth (RFC 8866 §5.8). `CT` and `AS` are in kilobits per
/// second, `TIAS` (RFC 3890) in bits per second.
///
/// ```
/// use freya_sip::sdp::Bandwidth;
/// let b: Bandwidth = "AS:64".parse().unwrap();
/// assert_eq!((b.kind.as_str(), b.value), ("AS", 64));
/// assert_eq!(b.to_string(), "AS:64");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bandwidth {
    /// The modifier: `CT`, `AS`, `TIAS`, `RS`, `RR` or another token, as received.
    pub kind: String,
    /// The value, in the unit of the modifier.
    pub value: u64,
}

impl Bandwidth {
    fn parse(v: &str) -> Result<Bandwidth, FieldError> {
        let Some((kind, value)) = v.split_once(':') else {
            return err("b=", "expected <bwtype>:<bandwidth>");
        };
        let Some(value) = digits(value.trim()) else {
            return err("b=", "the bandwidth is not a number");
        };
        Ok(Bandwidth {
            kind: kind.trim().to_owned(),
            value,
        })
    }
}

impl std::str::FromStr for Bandwidth {
    type Err = super::SdpError;
    /// Parses the value of a `b=` line (without `b=`).
    fn from_str(s: &str) -> Result<Bandwidth, super::SdpError> {
        Bandwidth::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// The `t=` line: when the session is active, as NTP seconds (RFC 8866 §5.9). SIP sessions
/// use `t=0 0` (unbounded), and an answer repeats the offer's `t=` (RFC 3264 §6).
///
/// ```
/// use freya_sip::sdp::Timing;
/// let t: Timing = "0 0".parse().unwrap();
/// assert_eq!(t, Timing::default());
/// assert_eq!(t.to_string(), "0 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timing {
    /// Start time in NTP seconds (since 1900), 0 for "now".
    pub start: u64,
    /// Stop time in NTP seconds, 0 for unbounded.
    pub stop: u64,
}

impl Timing {
    fn parse(v: &str) -> Result<Timing, FieldError> {
        let t: Vec<&str> = v.split_ascii_whitespace().collect();
        let [start, stop] = t[..] else {
            return err("t=", "expected <start-time> <stop-time>");
        };
        match (digits(start), digits(stop)) {
            (Some(start), Some(stop)) => Ok(Timing { start, stop }),
            _ => err("t=", "the times are not numbers"),
        }
    }
}

impl std::str::FromStr for Timing {
    type Err = super::SdpError;
    /// Parses the value of a `t=` line (without `t=`).
    fn from_str(s: &str) -> Result<Timing, super::SdpError> {
        Timing::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.start, self.stop)
    }
}
