//! Splitting an SDP body into lines and reading each one (RFC 8866 §5, §9): the line's
//! bytes and line end are kept next to its typed value.

use super::error::error_text;
use super::field::{Field, FieldError};
use super::line::{Line, LineEnding, Raw};
use super::media::MediaDescription;
use super::session::SessionDescription;
use super::SdpError;

/// The error for line `n` whose value broke its grammar (`Some`) or that is not
/// `<type>=<value>` at all (`None`).
pub(crate) fn line_error(n: usize, text: &[u8], e: Option<FieldError>) -> SdpError {
    match e {
        Some(FieldError { field, reason }) => SdpError::InvalidField {
            line: n,
            field,
            reason,
            text: error_text(text),
        },
        None => SdpError::MalformedLine {
            line: n,
            text: error_text(text),
        },
    }
}

/// The error for a value parsed on its own (`"IN IP4"` given to `Connection::from_str`).
pub(crate) fn value_error(value: &str, e: FieldError) -> SdpError {
    SdpError::InvalidField {
        line: 1,
        field: e.field,
        reason: e.reason,
        text: error_text(value.as_bytes()),
    }
}

/// The lines of `input` without their ends, each with the end it had: LF or CRLF, or none
/// for a last line without one.
pub(crate) fn split_lines(input: &[u8]) -> impl Iterator<Item = (&[u8], LineEnding)> {
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let (line, ending) = match rest[..i].strip_suffix(b"\r") {
                    Some(l) => (l, LineEnding::CrLf),
                    None => (&rest[..i], LineEnding::Lf),
                };
                rest = &rest[i + 1..];
                Some((line, ending))
            }
            None => {
                let line = rest;
                rest = &[];
                Some((line, LineEnding::None))
            }
        }
    })
}

/// Parses an SDP body (RFC 8866 §5). See [`SessionDescription::parse`].
pub(crate) fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
    let mut session: Vec<Line> = Vec::new();
    let mut media: Vec<MediaDescription> = Vec::new();
    let mut has_origin = false;
    for (i, (text, ending)) in split_lines(input).enumerate() {
        let n = i + 1;
        if text.iter().any(|&b| b == 0 || b == b'\r') {
            return Err(SdpError::InvalidCharacter {
                line: n,
                text: error_text(text),
            });
        }
        if i == 0 && !text.starts_with(b"v=") {
            return Err(SdpError::MissingVersion {
                line: n,
                text: error_text(text),
            });
        }
        let field = Field::parse_line(text).map_err(|e| line_error(n, text, e))?;
        let duplicate = match &field {
            Field::Version(_) if i > 0 => Some("v="),
            Field::Origin(_) if has_origin || !media.is_empty() => Some("o="),
            _ => None,
        };
        if let Some(field) = duplicate {
            return Err(SdpError::Duplicate {
                line: n,
                field,
                text: error_text(text),
            });
        }
        has_origin |= matches!(field, Field::Origin(_));
        let raw = Raw {
            text: text.to_vec(),
            ending,
        };
        match field {
            Field::Media(m) => media.push(MediaDescription::received(m, raw)),
            field => {
                let line = Line::received(field, raw);
                match media.last_mut() {
                    Some(m) => m.lines.push(line),
                    None => session.push(line),
                }
            }
        }
    }
    if session.is_empty() {
        return Err(SdpError::Empty);
    }
    if !has_origin {
        return Err(SdpError::Missing { field: "o=" });
    }
    Ok(SessionDescription::from_parts(session, media))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_crlf_lf_and_unterminated_last_line() {
        let v: Vec<_> = split_lines(b"a\r\nb\nc").collect();
        assert_eq!(
            v,
            vec![
                (&b"a"[..], LineEnding::CrLf),
                (&b"b"[..], LineEnding::Lf),
                (&b"c"[..], LineEnding::None)
            ]
        );
        assert_eq!(split_lines(b"").count(), 0);
        assert_eq!(
            split_lines(b"\r\n\n").collect::<Vec<_>>(),
            vec![(&b""[..], LineEnding::CrLf), (&b""[..], LineEnding::Lf)]
        );
    }
}
