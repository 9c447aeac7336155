//! Typed parse errors: every refused input names what was wrong and where (RFC 3261 §7, §25).

use std::fmt;

/// What was wrong with a message. Each kind maps to the SIP status a UAS should answer with
/// (see [`ErrorKind::status`]) when the request's essentials can still be recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input holds no start line (empty, or only CRLFs).
    Empty,
    /// The start line is not `Method SP Request-URI SP SIP-Version` nor
    /// `SIP-Version SP Status-Code SP Reason-Phrase` (RFC 3261 §7.1, §7.2).
    InvalidStartLine,
    /// The method is not an RFC 3261 token.
    InvalidMethod,
    /// The Request-URI does not follow RFC 3261 §19.1 / §25.1 (LWS inside, `<>`, escaped
    /// headers in a Request-URI, a bad host or port).
    InvalidRequestUri,
    /// A well-formed SIP version other than 2.0 (answered with 505, RFC 3261 §8.2.2... §21.5.6).
    UnsupportedVersion,
    /// A status code that is not three digits in 100–699.
    InvalidStatusCode,
    /// A header name holding a byte that is not an RFC 3261 token character (non-ASCII
    /// letters included), or an empty name.
    InvalidHeaderName,
    /// A header line without the `:` separating name and value.
    MissingColon,
    /// A header value holding bytes no SIP value may hold (a bare CR, invalid UTF-8).
    InvalidHeaderValue,
    /// A header that is known to the stack but whose value breaks its RFC 3261 grammar
    /// (Via, From, To, Contact, CSeq, Max-Forwards, Date, Route, Record-Route…).
    InvalidHeader,
    /// A request whose CSeq method differs from its Request-Line method (RFC 3261 §8.1.1.5).
    CSeqMethodMismatch,
    /// A folded (continuation) line before any header.
    UnexpectedContinuation,
    /// The header section ends before its terminating empty line.
    UnterminatedHeaders,
    /// Content-Length is not a non-negative decimal number that fits 32 bits.
    InvalidContentLength,
    /// Several Content-Length headers with different values: the framing is ambiguous.
    ConflictingContentLength,
    /// Content-Length announces more octets than the datagram holds (RFC 3261 §18.3).
    BodyTooShort,
    /// A message on a stream transport without Content-Length (RFC 3261 §18.3, §20.14).
    MissingContentLength,
    /// The message exceeds [`Limits::max_message_size`](super::Limits).
    MessageTooLarge,
    /// The message holds more headers than [`Limits::max_headers`](super::Limits).
    TooManyHeaders,
    /// A line is longer than [`Limits::max_line_length`](super::Limits).
    LineTooLong,
}

impl ErrorKind {
    /// Every kind, in declaration order (for counters and metrics).
    pub const ALL: [ErrorKind; 20] = [
        ErrorKind::Empty,
        ErrorKind::InvalidStartLine,
        ErrorKind::InvalidMethod,
        ErrorKind::InvalidRequestUri,
        ErrorKind::UnsupportedVersion,
        ErrorKind::InvalidStatusCode,
        ErrorKind::InvalidHeaderName,
        ErrorKind::MissingColon,
        ErrorKind::InvalidHeaderValue,
        ErrorKind::InvalidHeader,
        ErrorKind::CSeqMethodMismatch,
        ErrorKind::UnexpectedContinuation,
        ErrorKind::UnterminatedHeaders,
        ErrorKind::InvalidContentLength,
        ErrorKind::ConflictingContentLength,
        ErrorKind::BodyTooShort,
        ErrorKind::MissingContentLength,
        ErrorKind::MessageTooLarge,
        ErrorKind::TooManyHeaders,
        ErrorKind::LineTooLong,
    ];

    /// Position in [`ErrorKind::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// A stable snake_case name, used in logs, JSON output and the bindings' `kind` field.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Empty => "empty",
            ErrorKind::InvalidStartLine => "invalid_start_line",
            ErrorKind::InvalidMethod => "invalid_method",
            ErrorKind::InvalidRequestUri => "invalid_request_uri",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::InvalidStatusCode => "invalid_status_code",
            ErrorKind::InvalidHeaderName => "invalid_header_name",
            ErrorKind::MissingColon => "missing_colon",
            ErrorKind::InvalidHeaderValue => "invalid_header_value",
            ErrorKind::InvalidHeader => "invalid_header",
            ErrorKind::CSeqMethodMismatch => "cseq_method_mismatch",
            ErrorKind::UnexpectedContinuation => "unexpected_continuation",
            ErrorKind::UnterminatedHeaders => "unterminated_headers",
            ErrorKind::InvalidContentLength => "invalid_content_length",
            ErrorKind::ConflictingContentLength => "conflicting_content_length",
            ErrorKind::BodyTooShort => "body_too_short",
            ErrorKind::MissingContentLength => "missing_content_length",
            ErrorKind::MessageTooLarge => "message_too_large",
            ErrorKind::TooManyHeaders => "too_many_headers",
            ErrorKind::LineTooLong => "line_too_long",
        }
    }

    /// The status code and reason phrase a UAS answers a request refused for this reason
    /// with (RFC 3261 §8.2, §21): 505 for an unsupported version, 513 for an oversized
    /// message, 400 for everything else.
    pub fn status(self) -> (u16, &'static str) {
        match self {
            ErrorKind::UnsupportedVersion => (505, "Version Not Supported"),
            ErrorKind::MessageTooLarge => (513, "Message Too Large"),
            _ => (400, "Bad Request"),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Most offending bytes kept in an error (enough for any UTF-8 character and some context).
const MAX_OFFENDING: usize = 16;

/// Why a message was refused, and where: the kind, the 1-based line, the byte offset from the
/// start of the input, the header concerned (if any) and the offending bytes.
///
/// ```
/// use freya_sip::message::{parse, ErrorKind};
/// let err = parse(bytes::Bytes::from_static(
///     "OPTIONS sip:a@b SIP/2.0\r\nX-\u{130}d: 1\r\n\r\n".as_bytes(),
/// )).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidHeaderName);
/// assert_eq!(err.line(), Some(2));
/// assert_eq!(err.offset(), 27);
/// assert_eq!(err.offending_hex(), "c4b0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ParseError {
    kind: ErrorKind,
    line: Option<usize>,
    offset: usize,
    header: Option<String>,
    offending: Vec<u8>,
    detail: String,
}

impl ParseError {
    /// Builds an error. `offending` is truncated to a few bytes; `detail` says what the
    /// grammar expected, in words.
    pub fn new(kind: ErrorKind, offset: usize, detail: impl Into<String>) -> Self {
        ParseError {
            kind,
            line: None,
            offset,
            header: None,
            offending: Vec::new(),
            detail: detail.into(),
        }
    }

    pub(crate) fn set_kind(&mut self, kind: ErrorKind) {
        self.kind = kind;
    }

    pub(crate) fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub(crate) fn with_header(mut self, name: &str) -> Self {
        self.header = Some(name.to_owned());
        self
    }

    pub(crate) fn with_offending(mut self, bytes: &[u8]) -> Self {
        self.offending = bytes[..bytes.len().min(MAX_OFFENDING)].to_vec();
        self
    }

    /// What was wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The 1-based line of the input the problem is on (the start line is line 1), when
    /// known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// Byte offset of the problem from the start of the input given to the parser.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The name of the header concerned, as received, when the problem is in a header.
    pub fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// The offending bytes (at most 16), exactly as received.
    pub fn offending(&self) -> &[u8] {
        &self.offending
    }

    /// The offending bytes as lower-case hex without separators (`"c4b0"` for `İ`).
    pub fn offending_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(self.offending.len() * 2);
        for b in &self.offending {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// What the grammar expected, in words (without the location).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The SIP status (and reason phrase) a UAS answers with; see [`ErrorKind::status`].
    pub fn status(&self) -> (u16, &'static str) {
        self.kind.status()
    }

    fn render(&self) -> String {
        let mut s = format!("{}: {}", self.kind.name(), self.detail);
        if let Some(h) = &self.header {
            s.push_str(&format!(" (header {h:?}"));
        } else {
            s.push_str(" (");
        }
        if let Some(l) = self.line {
            if self.header.is_some() {
                s.push_str(", ");
            }
            s.push_str(&format!("line {l}, "));
        } else if self.header.is_some() {
            s.push_str(", ");
        }
        s.push_str(&format!("byte offset {}", self.offset));
        if !self.offending.is_empty() {
            s.push_str(&format!(", offending bytes 0x{}", self.offending_hex()));
        }
        s.push(')');
        s
    }
}
