//! One line of a description: its typed value next to the bytes and line end it arrived
//! with (RFC 8866 §5), and the helpers that write, insert and replace lines.

use std::fmt;
use std::io::Write as _;

use super::attribute::{Attribute, Direction};
use super::field::Field;
use super::media_line::MediaLine;

/// How a line ended in the input (RFC 8866 §5 asks for CRLF and tells parsers to accept
/// LF).
///
/// ```
/// use freya_sip::sdp::{LineEnding, SessionDescription};
/// let sdp = SessionDescription::parse(b"v=0\no=- 1 1 IN IP4 192.0.2.1\r\ns=-").unwrap();
/// let ends: Vec<_> = sdp.lines().iter().map(|l| l.line_ending()).collect();
/// assert_eq!(ends, vec![Some(LineEnding::Lf), Some(LineEnding::CrLf), Some(LineEnding::None)]);
/// assert_eq!(LineEnding::CrLf.as_bytes(), b"\r\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// `\r\n`, what RFC 8866 §5 asks for and what freya writes.
    CrLf,
    /// A bare `\n`.
    Lf,
    /// The last line of a body that does not end with a line end.
    None,
}

impl LineEnding {
    /// The bytes of the line end (empty for [`LineEnding::None`]).
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::CrLf => b"\r\n",
            LineEnding::Lf => b"\n",
            LineEnding::None => b"",
        }
    }
}

/// A line as received: its bytes without the line end, and the line end.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Raw {
    pub(crate) text: Vec<u8>,
    pub(crate) ending: LineEnding,
}

/// One line of a description: its typed [`Field`] and, for a received line, the bytes it
/// arrived as. Serialising writes the received bytes while the field still reads back from
/// them unchanged, and renders the field otherwise.
///
/// ```
/// use freya_sip::sdp::{Field, Line};
/// let l = Line::new("s=freya".parse::<Field>().unwrap());
/// assert_eq!(l.field(), &Field::SessionName("freya".into()));
/// assert_eq!(l.received_bytes(), None);
/// assert!(l.is_modified());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Line {
    pub(crate) field: Field,
    pub(crate) raw: Option<Raw>,
}

impl Line {
    /// A new line (written with the description's line end).
    pub fn new(field: Field) -> Line {
        Line { field, raw: None }
    }

    pub(crate) fn received(field: Field, raw: Raw) -> Line {
        Line {
            field,
            raw: Some(raw),
        }
    }

    /// The typed value.
    pub fn field(&self) -> &Field {
        &self.field
    }

    /// The typed value, for editing. Serialising renders the line anew only when the edit
    /// changed the value.
    pub fn field_mut(&mut self) -> &mut Field {
        &mut self.field
    }

    /// The bytes received, without the line end; `None` for a line built here.
    pub fn received_bytes(&self) -> Option<&[u8]> {
        self.raw.as_ref().map(|r| r.text.as_slice())
    }

    /// How the received line ended; `None` for a line built here.
    pub fn line_ending(&self) -> Option<LineEnding> {
        self.raw.as_ref().map(|r| r.ending)
    }

    /// Whether serialising renders this line from its field (built here, or edited so that
    /// the received bytes no longer read back as the field).
    pub fn is_modified(&self) -> bool {
        match &self.raw {
            None => true,
            Some(raw) => Field::parse_line(&raw.text).map_or(true, |f| f != self.field),
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>, default: LineEnding, last: bool) {
        let unchanged = !self.is_modified();
        write_line(
            out,
            self.raw.as_ref(),
            unchanged,
            &self.field,
            default,
            last,
        );
    }
}

/// Writes one line: the received bytes when `unchanged`, the rendering otherwise; then the
/// received line end, or `default` for a new line or one that must now be followed by
/// another.
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    raw: Option<&Raw>,
    unchanged: bool,
    render: &dyn fmt::Display,
    default: LineEnding,
    last: bool,
) {
    match raw {
        Some(r) if unchanged => out.extend_from_slice(&r.text),
        // Writing into a Vec cannot fail.
        _ => {
            let _ = write!(out, "{render}");
        }
    }
    let ending = match raw.map(|r| r.ending) {
        Some(LineEnding::None) if last => LineEnding::None,
        Some(LineEnding::None) | None => default,
        Some(e) => e,
    };
    out.extend_from_slice(ending.as_bytes());
}

/// Renders an `m=` line without cloning it.
pub(crate) struct MLine<'a>(pub(crate) &'a MediaLine);

impl fmt::Display for MLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={}", self.0)
    }
}

/// Inserts `line` after the last line that comes before or with it in the RFC 8866 §5
/// order (so a new `c=` goes before `t=`, a new `a=` after the last attribute).
pub(crate) fn insert_ordered(lines: &mut Vec<Line>, line: Line) {
    let rank = line.field.rank();
    let at = lines
        .iter()
        .rposition(|l| l.field.rank() <= rank)
        .map_or(0, |i| i + 1);
    lines.insert(at, line);
}

pub(crate) fn attributes(lines: &[Line]) -> impl Iterator<Item = &Attribute> {
    lines.iter().filter_map(|l| match &l.field {
        Field::Attribute(a) => Some(a),
        _ => None,
    })
}

pub(crate) fn find_direction(lines: &[Line]) -> Option<Direction> {
    attributes(lines).find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

/// Replaces the first line `matches` selects with `field` (or inserts it), removing the
/// other matching lines; with `None`, removes them all.
pub(crate) fn set_unique(
    lines: &mut Vec<Line>,
    field: Option<Field>,
    matches: impl Fn(&Field) -> bool,
) {
    match field {
        None => lines.retain(|l| !matches(&l.field)),
        Some(field) => match lines.iter().position(|l| matches(&l.field)) {
            Some(i) => {
                lines[i].field = field;
                let mut seen = 0;
                lines.retain(|l| {
                    let m = matches(&l.field);
                    seen += usize::from(m);
                    !m || seen == 1
                });
            }
            None => insert_ordered(lines, Line::new(field)),
        },
    }
}

pub(crate) fn is_direction(f: &Field) -> bool {
    matches!(f, Field::Attribute(Attribute::Direction(_)))
}
