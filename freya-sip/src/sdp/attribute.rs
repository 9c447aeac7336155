//! `a=` attributes (RFC 8866 §5.13, §6): the ones offer/answer for audio needs are typed,
//! every other one is kept as name and value.

use std::fmt;
use std::ops::RangeInclusive;

use super::address::Connection;
use super::field::{digits, err, FieldError};

/// Media direction (RFC 8866 §6.7; RFC 3264 §5.1, §6.1), from the point of view of the
/// side whose SDP carries it. Absent means [`Direction::SendRecv`].
///
/// ```
/// use freya_sip::sdp::Direction;
/// // RFC 3264 §6.1: the answer mirrors the offer.
/// assert_eq!(Direction::SendOnly.reverse(), Direction::RecvOnly);
/// // What we may do is what both allow.
/// assert_eq!(Direction::SendRecv.intersect(Direction::SendOnly), Direction::SendOnly);
/// assert_eq!(Direction::RecvOnly.intersect(Direction::SendOnly), Direction::Inactive);
/// assert_eq!("inactive".parse::<Direction>(), Ok(Direction::Inactive));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`: sends and receives (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`: sends only, e.g. the side putting a call on hold.
    SendOnly,
    /// `a=recvonly`: receives only.
    RecvOnly,
    /// `a=inactive`: neither.
    Inactive,
}

impl Direction {
    /// Builds a direction from whether the side sends and receives.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other side: sendonly ↔ recvonly (RFC 3264 §6.1).
    pub fn reverse(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow: sends if both send, receives if both receive.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The attribute name: `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = ();
    /// Parses `sendrecv`, `sendonly`, `recvonly` or `inactive` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Direction, ()> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(s))
        .ok_or(())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a=rtpmap`: maps an RTP payload type to an encoding (RFC 8866 §6.6; RFC 3551 §6 for the
/// static types that need no rtpmap).
///
/// ```
/// use freya_sip::sdp::Rtpmap;
/// let r: Rtpmap = "101 telephone-event/8000".parse().unwrap();
/// assert_eq!(r, Rtpmap::new(101, "telephone-event", 8000));
/// let opus: Rtpmap = "111 opus/48000/2".parse().unwrap();
/// assert_eq!((opus.clock_rate, opus.channels), (48000, Some(2)));
/// assert_eq!(opus.to_string(), "111 opus/48000/2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtpmap {
    /// The RTP payload type (0–127).
    pub payload_type: u8,
    /// The encoding name as received (`PCMU`, `telephone-event`, `opus`); compare it
    /// ignoring ASCII case.
    pub encoding: String,
    /// The RTP clock rate in Hz (8000 for G.711 and telephone-event with G.711).
    pub clock_rate: u32,
    /// The encoding parameters: for audio, the number of channels (absent means 1).
    pub channels: Option<u16>,
}

impl Rtpmap {
    /// A mono mapping (no encoding parameters).
    pub fn new(payload_type: u8, encoding: &str, clock_rate: u32) -> Rtpmap {
        Rtpmap {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels: None,
        }
    }

    /// Whether the encoding name is `name`, ignoring ASCII case (RFC 4855 §3: media subtype
    /// names are case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.encoding.eq_ignore_ascii_case(name)
    }

    fn parse(v: &str) -> Result<Rtpmap, FieldError> {
        let v = v.trim();
        let Some((pt, rest)) = v.split_once(|c: char| c.is_ascii_whitespace()) else {
            return err(
                "a=rtpmap",
                "expected <payload type> <encoding>/<clock rate>",
            );
        };
        let Some(payload_type) = digits::<u8>(pt).filter(|pt| *pt <= 127) else {
            return err("a=rtpmap", "the payload type is not a number from 0 to 127");
        };
        let mut parts = rest.trim().split('/');
        let encoding = parts.next().unwrap_or_default();
        if encoding.is_empty() || encoding.contains(|c: char| c.is_ascii_whitespace()) {
            return err("a=rtpmap", "the encoding name is empty or holds blanks");
        }
        let Some(clock_rate) = parts.next().and_then(digits::<u32>) else {
            return err("a=rtpmap", "the clock rate is not a number");
        };
        let channels = match parts.next() {
            None => None,
            Some(c) => match digits::<u16>(c) {
                Some(c) => Some(c),
                None => return err("a=rtpmap", "the encoding parameters are not a number"),
            },
        };
        if parts.next().is_some() {
            return err("a=rtpmap", "too many /-separated parts");
        }
        Ok(Rtpmap {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }
}

impl std::str::FromStr for Rtpmap {
    type Err = super::SdpError;
    /// Parses the value of `a=rtpmap:` (after the colon).
    fn from_str(s: &str) -> Result<Rtpmap, super::SdpError> {
        Rtpmap::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Rtpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// `a=fmtp`: format-specific parameters (RFC 8866 §6.15), e.g. `101 0-16` for the
/// telephone events a side accepts (RFC 4733 §2.4.1, §7.1.1) or `18 annexb=no` for G.729.
///
/// ```
/// use freya_sip::sdp::Fmtp;
/// let f: Fmtp = "101 0-15,66".parse().unwrap();
/// assert_eq!(f.format, "101");
/// assert_eq!(f.events(), Some(vec![0..=15, 66..=66]));
/// let g: Fmtp = "111 minptime=10;useinbandfec=1".parse().unwrap();
/// assert_eq!(g.param("useinbandfec"), Some("1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fmtp {
    /// The format (RTP payload type) the parameters apply to, as received.
    pub format: String,
    /// The parameters, as received (leading and trailing blanks removed).
    pub params: String,
}

impl Fmtp {
    /// Parameters for `format`.
    pub fn new(format: impl Into<String>, params: impl Into<String>) -> Fmtp {
        Fmtp {
            format: format.into(),
            params: params.into(),
        }
    }

    /// The format as an RTP payload type, when it is one.
    pub fn payload_type(&self) -> Option<u8> {
        digits::<u8>(&self.format).filter(|pt| *pt <= 127)
    }

    /// The `;`-separated parameters as `(name, value)` pairs (`value` is `None` for a
    /// parameter without `=`), blanks around each trimmed.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (p, None),
            })
    }

    /// The value of parameter `name` (ASCII case ignored).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.parameters()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v)
    }

    /// The parameters read as an RFC 4733 §7.1.1 event list (`0-15,66,70`): the ranges of
    /// telephone events, or `None` when they are not one.
    pub fn events(&self) -> Option<Vec<RangeInclusive<u8>>> {
        parse_events(&self.params)
    }

    fn parse(v: &str) -> Result<Fmtp, FieldError> {
        let v = v.trim();
        let (format, params) = match v.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((f, p)) => (f, p.trim()),
            None => (v, ""),
        };
        if format.is_empty() {
            return err("a=fmtp", "expected <format> <parameters>");
        }
        Ok(Fmtp {
            format: format.to_owned(),
            params: params.to_owned(),
        })
    }
}

/// Parses an RFC 4733 event list: `,`-separated event numbers (0–255) and `a-b` ranges.
pub(crate) fn parse_events(s: &str) -> Option<Vec<RangeInclusive<u8>>> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (digits::<u8>(a.trim())?, digits::<u8>(b.trim())?),
            None => {
                let n = digits::<u8>(item)?;
                (n, n)
            }
        };
        if a > b {
            return None;
        }
        out.push(a..=b);
    }
    Some(out)
}

/// Renders ranges as an RFC 4733 event list (`0-15,66`).
pub(crate) fn format_events(ranges: &[RangeInclusive<u8>]) -> String {
    let mut s = String::new();
    for (i, r) in ranges.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if r.start() == r.end() {
            s.push_str(&r.start().to_string());
        } else {
            s.push_str(&format!("{}-{}", r.start(), r.end()));
        }
    }
    s
}

impl std::str::FromStr for Fmtp {
    type Err = super::SdpError;
    /// Parses the value of `a=fmtp:` (after the colon).
    fn from_str(s: &str) -> Result<Fmtp, super::SdpError> {
        Fmtp::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Fmtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format)?;
        if !self.params.is_empty() {
            write!(f, " {}", self.params)?;
        }
        Ok(())
    }
}

/// `a=rtcp`: the RTCP port (and address) when it is not the RTP port + 1 (RFC 3605).
///
/// ```
/// use freya_sip::sdp::Rtcp;
/// let r: Rtcp = "53021 IN IP4 192.0.2.9".parse().unwrap();
/// assert_eq!(r.port, 53021);
/// assert_eq!(r.connection.unwrap().address, "192.0.2.9");
/// assert_eq!("9".parse::<Rtcp>().unwrap().connection, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the `c=` address.
    pub connection: Option<Connection>,
}

impl Rtcp {
    fn parse(v: &str) -> Result<Rtcp, FieldError> {
        let v = v.trim();
        let (port, rest) = match v.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((p, r)) => (p, Some(r)),
            None => (v, None),
        };
        let Some(port) = digits(port) else {
            return err("a=rtcp", "the port is not a number from 0 to 65535");
        };
        let connection = match rest {
            None => None,
            Some(r) => match r.parse::<Connection>() {
                Ok(c) => Some(c),
                Err(_) => {
                    return err(
                        "a=rtcp",
                        "expected <port> [<nettype> <addrtype> <connection-address>]",
                    )
                }
            },
        };
        Ok(Rtcp { port, connection })
    }
}

impl std::str::FromStr for Rtcp {
    type Err = super::SdpError;
    /// Parses the value of `a=rtcp:` (after the colon).
    fn from_str(s: &str) -> Result<Rtcp, super::SdpError> {
        Rtcp::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Rtcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some(c) = &self.connection {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

/// An `a=` line (RFC 8866 §5.13): typed for the attributes audio offer/answer uses, kept as
/// name and value for every other one (ICE, DTLS, SSRC, extmap, …).
///
/// Attribute names are matched ignoring ASCII case; the line's bytes are kept anyway.
///
/// ```
/// use freya_sip::sdp::{Attribute, Direction};
/// assert_eq!("ptime:20".parse::<Attribute>().unwrap(), Attribute::Ptime(20));
/// assert_eq!("recvonly".parse::<Attribute>().unwrap(), Attribute::Direction(Direction::RecvOnly));
/// let ice: Attribute = "ice-ufrag:8hhY".parse().unwrap();
/// assert_eq!(ice.name(), "ice-ufrag");
/// assert_eq!(ice.value().as_deref(), Some("8hhY"));
/// assert_eq!(ice.to_string(), "ice-ufrag:8hhY");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Attribute {
    /// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]` (RFC 8866 §6.6).
    Rtpmap(Rtpmap),
    /// `a=fmtp:<format> <params>` (RFC 8866 §6.15).
    Fmtp(Fmtp),
    /// `a=ptime:<ms>`: packet duration the sender of this SDP wants to receive, in
    /// milliseconds (RFC 8866 §6.4). A fractional value is read as its integer part.
    Ptime(u32),
    /// `a=maxptime:<ms>`: the longest packet duration it accepts, in milliseconds
    /// (RFC 8866 §6.5). A fractional value is read as its integer part.
    MaxPtime(u32),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive` (RFC 8866 §6.7).
    Direction(Direction),
    /// `a=rtcp:<port> [<address>]` (RFC 3605).
    Rtcp(Rtcp),
    /// `a=rtcp-mux`: RTP and RTCP on one port (RFC 5761 §5.1.1).
    RtcpMux,
    /// Any other attribute, kept as received.
    Other {
        /// The name (before the first `:`).
        name: String,
        /// The value (after the first `:`), `None` for a property attribute.
        value: Option<String>,
    },
}

/// Parses `a=ptime` / `a=maxptime` values: a non-negative decimal number of milliseconds,
/// read as its integer part (some stacks send `20.0`).
fn parse_ms(field: &'static str, v: &str) -> Result<u32, FieldError> {
    let v = v.trim();
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (v, None),
    };
    let int = if int.is_empty() && frac.is_some() {
        Some(0)
    } else {
        digits::<u32>(int)
    };
    match (int, frac) {
        (Some(n), None) => Ok(n),
        (Some(n), Some(f)) if f.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => err(field, "not a number of milliseconds"),
    }
}

impl Attribute {
    /// A property attribute or one with a value, by name: typed when the name is known.
    /// Returns `None` when a known attribute's value breaks its grammar.
    pub fn new(name: &str, value: Option<&str>) -> Option<Attribute> {
        let text = match value {
            Some(v) => format!("{name}:{v}"),
            None => name.to_owned(),
        };
        Attribute::parse(&text).ok()
    }

    pub(crate) fn parse(v: &str) -> Result<Attribute, FieldError> {
        let (name, value) = match v.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (v, None),
        };
        let lower = name.to_ascii_lowercase();
        Ok(match (lower.as_str(), value) {
            ("rtpmap", Some(v)) => Attribute::Rtpmap(Rtpmap::parse(v)?),
            ("fmtp", Some(v)) => Attribute::Fmtp(Fmtp::parse(v)?),
            ("ptime", Some(v)) => Attribute::Ptime(parse_ms("a=ptime", v)?),
            ("maxptime", Some(v)) => Attribute::MaxPtime(parse_ms("a=maxptime", v)?),
            ("rtcp", Some(v)) => Attribute::Rtcp(Rtcp::parse(v)?),
            ("rtcp-mux", None) => Attribute::RtcpMux,
            (d, None) => match d.parse::<Direction>() {
                Ok(d) => Attribute::Direction(d),
                Err(()) => Attribute::Other {
                    name: name.to_owned(),
                    value: None,
                },
            },
            (_, value) => Attribute::Other {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            },
        })
    }

    /// The attribute name: `rtpmap`, `sendonly`, `ice-ufrag`, …
    pub fn name(&self) -> &str {
        match self {
            Attribute::Rtpmap(_) => "rtpmap",
            Attribute::Fmtp(_) => "fmtp",
            Attribute::Ptime(_) => "ptime",
            Attribute::MaxPtime(_) => "maxptime",
            Attribute::Direction(d) => d.as_str(),
            Attribute::Rtcp(_) => "rtcp",
            Attribute::RtcpMux => "rtcp-mux",
            Attribute::Other { name, .. } => name,
        }
    }

    /// The value after the colon (rendered for typed attributes), `None` for a property
    /// attribute.
    pub fn value(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            Attribute::Rtpmap(r) => Some(Cow::Owned(r.to_string())),
            Attribute::Fmtp(f) => Some(Cow::Owned(f.to_string())),
            Attribute::Ptime(n) | Attribute::MaxPtime(n) => Some(Cow::Owned(n.to_string())),
            Attribute::Rtcp(r) => Some(Cow::Owned(r.to_string())),
            Attribute::Direction(_) | Attribute::RtcpMux => None,
            Attribute::Other { value, .. } => value.as_deref().map(Cow::Borrowed),
        }
    }
}

impl std::str::FromStr for Attribute {
    type Err = super::SdpError;
    /// Parses the text after `a=`.
    fn from_str(s: &str) -> Result<Attribute, super::SdpError> {
        Attribute::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Attribute {
    /// The text after `a=` (`rtpmap:0 PCMU/8000`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Attribute::Rtpmap(r) => write!(f, ":{r}"),
            Attribute::Fmtp(x) => write!(f, ":{x}"),
            Attribute::Ptime(n) | Attribute::MaxPtime(n) => write!(f, ":{n}"),
            Attribute::Rtcp(r) => write!(f, ":{r}"),
            Attribute::Direction(_) | Attribute::RtcpMux => Ok(()),
            Attribute::Other { value, .. } => match value {
                Some(v) => write!(f, ":{v}"),
                None => Ok(()),
            },
        }
    }
}
