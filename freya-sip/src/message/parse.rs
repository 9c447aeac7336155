//! The parser's entry points and the parts both paths share: limits, framing, the start line,
//! the body bounds and error building. The received bytes are split into a start line, header
//! lines and a body, recording spans only (RFC 3261 §7), then the headers the stack relies on
//! are checked: by the fast path (`fast.rs`) when the message is plain, else by the
//! byte-by-byte path (`slow.rs`), which names every error.

use bytes::{Buf, Bytes};

use super::error::{ErrorKind, ParseError};
use super::grammar::{is_token, GrammarError};
use super::names::HeaderKind;
use super::quick;
use super::scalar::parse_content_length;
use super::uri::Uri;
use super::{Entry, Message, Span, StartLine};

/// Bounds on what one message may hold. Every bound exceeded is a typed error
/// ([`ErrorKind::MessageTooLarge`], [`ErrorKind::TooManyHeaders`], [`ErrorKind::LineTooLong`]),
/// so no input makes the parser allocate without bound.
///
/// ```
/// use freya_sip::message::Limits;
/// let l = Limits { max_headers: 64, ..Limits::default() };
/// assert_eq!(l.max_message_size, 65536);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message in bytes, start line to end of body (default 64 KiB).
    pub max_message_size: usize,
    /// Most header lines (default 256).
    pub max_headers: usize,
    /// Longest line in bytes, a folded header's continuation lines counted apart
    /// (default 16 KiB).
    pub max_line_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 64 * 1024,
            max_headers: 256,
            max_line_length: 16 * 1024,
        }
    }
}

/// How the message was framed by its transport (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One message per datagram (UDP): without Content-Length the body is the rest of the
    /// datagram; octets after the announced length are ignored (and counted).
    Datagram,
    /// A message cut from a stream (TCP/TLS): Content-Length is required.
    Stream,
}

/// Parses one datagram's worth of bytes into a [`Message`] with the default [`Limits`].
///
/// ```
/// use freya_sip::message::parse;
/// let raw = bytes::Bytes::from_static(
///     b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
///       From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
///       X-Carrier-Trace: \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n");
/// let m = parse(raw.clone()).unwrap();
/// assert_eq!(m.status_code(), Some(180));
/// assert_eq!(m.header("x-carrier-trace").unwrap().value(), "été");
/// assert_eq!(m.to_bytes(), raw);
/// ```
///
/// # Errors
/// A [`ParseError`] naming the kind, line, byte offset and offending bytes.
pub fn parse(data: Bytes) -> Result<Message, ParseError> {
    parse_with(data, &Limits::default(), Framing::Datagram)
}

/// Parses with explicit limits and framing. Leading CRLFs (keep-alives) are skipped; error
/// offsets count from the start of `data`.
///
/// # Errors
/// A [`ParseError`] naming the kind, line, byte offset and offending bytes.
pub fn parse_with(data: Bytes, limits: &Limits, framing: Framing) -> Result<Message, ParseError> {
    parse_impl(data, limits, framing, true, true)
}

/// Indexes one datagram's worth of bytes with the default [`Limits`]: the first half of
/// [`parse`], for callers that read only a few headers and want the index at the least cost.
///
/// It checks everything [`parse`] checks except the grammar of header *values*: the limits,
/// the start line (method, Request-URI, version, status code), every header name as an
/// RFC 3261 §25.1 token, UTF-8, folding, and Content-Length against the body (§20.14). The
/// values of Via, From, To, Contact, Route, Record-Route, CSeq, Call-ID, Max-Forwards and Date
/// are checked by [`Message::check`]; until then the typed accessors (`top_via`, `from`, …)
/// answer `None` for a value that does not parse, as they do for a missing header. This is
/// the work rsip's and parsip's parsers do (neither checks header values), which is why the
/// benchmarks compare it with them; the receive path calls [`parse`].
///
/// `index(b).and_then(|m| m.check().map(|()| m))` gives exactly what `parse(b)` gives: the
/// same message or the same error.
///
/// ```
/// use freya_sip::message::{index, ErrorKind};
/// let raw = bytes::Bytes::from_static(
///     b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
///       From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: one INVITE\r\n\
///       Content-Length: 0\r\n\r\n");
/// let m = index(raw).unwrap();
/// assert_eq!(m.status_code(), Some(180));
/// assert_eq!(m.from().unwrap().tag(), Some("1"));
/// assert!(m.cseq().is_none()); // the value does not parse...
/// assert_eq!(m.check().unwrap_err().kind(), ErrorKind::InvalidHeader); // ...and check names it
/// ```
///
/// # Errors
/// A [`ParseError`] naming the kind, line, byte offset and offending bytes.
pub fn index(data: Bytes) -> Result<Message, ParseError> {
    index_with(data, &Limits::default(), Framing::Datagram)
}

/// [`index`] with explicit limits and framing.
///
/// # Errors
/// A [`ParseError`] naming the kind, line, byte offset and offending bytes.
pub fn index_with(data: Bytes, limits: &Limits, framing: Framing) -> Result<Message, ParseError> {
    parse_impl(data, limits, framing, true, false)
}

/// [`parse_with`] (`check`) or [`index_with`] on the byte-by-byte path only, for tests
/// comparing it with the fast path.
#[cfg(test)]
pub(super) fn slow_path(
    data: Bytes,
    limits: &Limits,
    framing: Framing,
    check: bool,
) -> Result<Message, ParseError> {
    parse_impl(data, limits, framing, false, check)
}

#[inline(always)]
fn parse_impl(
    mut data: Bytes,
    limits: &Limits,
    framing: Framing,
    fast: bool,
    check: bool,
) -> Result<Message, ParseError> {
    let skip = data
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(data.len());
    let skipped_lines = data[..skip].iter().filter(|&&c| c == b'\n').count();
    // `advance` and (below) `truncate` only move the view: no copy, and no allocation for
    // the common case of a message that fills its datagram exactly.
    data.advance(skip);
    let parser = Parser {
        b: &data,
        limits,
        base: skip,
        base_line: skipped_lines,
        fast,
        check,
    };
    let (start, headers, body_start, body_end) = parser.run(framing)?;
    let trailing = data.len() - body_end;
    if trailing > 0 {
        data.truncate(body_end);
    }
    Ok(Message {
        buf: data,
        start,
        headers,
        body_start: body_start as u32,
        trailing: trailing as u32,
        skipped: skip as u32,
        skipped_lines: skipped_lines as u32,
    })
}

/// Start line, header index, body start, body end.
pub(super) type Parts = (StartLine, Vec<Entry>, usize, usize);

pub(super) struct Parser<'a> {
    pub(super) b: &'a [u8],
    pub(super) limits: &'a Limits,
    /// Bytes skipped before the start line (for error offsets).
    pub(super) base: usize,
    pub(super) base_line: usize,
    /// Whether the fast path and the quick grammar checks may be used (always, but for the
    /// tests that compare them with the byte-by-byte path and the precise checks).
    pub(super) fast: bool,
    /// Whether the header values' grammar is checked (`parse`) or left to
    /// [`Message::check`] (`index`).
    pub(super) check: bool,
}

impl<'a> Parser<'a> {
    pub(super) fn err(
        &self,
        kind: ErrorKind,
        at: usize,
        line: usize,
        detail: impl Into<String>,
    ) -> ParseError {
        ParseError::new(kind, at + self.base, detail).with_line(line + self.base_line)
    }

    /// The fast path first (one SIMD pass over the head, quick grammar checks); it accepts
    /// only what the byte-by-byte path accepts, with the same spans, and hands everything
    /// else — every error included — to the byte-by-byte path, which names the error.
    fn run(self, framing: Framing) -> Result<Parts, ParseError> {
        match self.fast.then(|| self.run_fast(framing)).flatten() {
            Some(parts) => Ok(parts),
            None => self.run_slow(framing),
        }
    }

    /// Where the body ends: Content-Length (every copy must agree, RFC 3261 §20.14), or the
    /// end of the datagram; a stream requires Content-Length (§18.3).
    pub(super) fn body_end(
        &self,
        headers: &[Entry],
        body_start: usize,
        framing: Framing,
        line_no: usize,
    ) -> Result<usize, ParseError> {
        let b = self.b;
        let size_limit = self.limits.max_message_size;
        let mut content_length: Option<(u32, usize)> = None;
        for (i, h) in headers.iter().enumerate() {
            if h.kind != HeaderKind::ContentLength {
                continue;
            }
            let v = h.value.str(b);
            let n = parse_content_length(v).map_err(|g| {
                let mut e = self.header_err(headers, i, g);
                e.set_kind(ErrorKind::InvalidContentLength);
                e
            })?;
            match content_length {
                Some((prev, _)) if prev != n => {
                    return Err(self
                        .err(
                            ErrorKind::ConflictingContentLength,
                            h.value.s as usize,
                            header_line_no(b, h),
                            format!(
                            "Content-Length {n} conflicts with an earlier Content-Length {prev}"
                        ),
                        )
                        .with_header(h.name.str(b)))
                }
                _ => content_length = Some((n, i)),
            }
        }
        let available = b.len() - body_start;
        let body_end = match (content_length, framing) {
            (Some((n, i)), _) => {
                let n = n as usize;
                if n > available {
                    let h = &headers[i];
                    return Err(self
                        .err(
                            ErrorKind::BodyTooShort,
                            b.len(),
                            header_line_no(b, h),
                            format!("Content-Length {n} but only {available} body bytes"),
                        )
                        .with_header(h.name.str(b)));
                }
                body_start + n
            }
            (None, Framing::Datagram) => b.len(),
            (None, Framing::Stream) => {
                return Err(self.err(
                    ErrorKind::MissingContentLength,
                    body_start,
                    line_no,
                    "Content-Length is required on a stream transport",
                ))
            }
        };
        if body_end > size_limit {
            return Err(self.err(
                ErrorKind::MessageTooLarge,
                size_limit,
                1,
                format!("message larger than the limit of {size_limit} bytes"),
            ));
        }
        Ok(body_end)
    }

    pub(super) fn start_line(&self, end: usize) -> Result<StartLine, ParseError> {
        let b = self.b;
        let line = &b[..end];
        let bad = |kind, at: usize, detail: &str| {
            self.err(kind, at, 1, detail.to_string())
                .with_offending(&line[at.min(line.len())..(at + 8).min(line.len())])
        };
        if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
            // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
            let sp = memchr::memchr(b' ', line)
                .ok_or_else(|| bad(ErrorKind::InvalidStartLine, 0, "status line without SP"))?;
            self.check_version(&line[..sp], 0)?;
            let rest = &line[sp + 1..];
            let code_len = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
            let code = &rest[..code_len];
            if code_len != 3 || !code.iter().all(u8::is_ascii_digit) {
                return Err(bad(
                    ErrorKind::InvalidStatusCode,
                    sp + 1,
                    "status code is not three digits",
                ));
            }
            let n = u16::from(code[0] - b'0') * 100
                + u16::from(code[1] - b'0') * 10
                + u16::from(code[2] - b'0');
            if !(100..=699).contains(&n) {
                return Err(bad(
                    ErrorKind::InvalidStatusCode,
                    sp + 1,
                    "status code outside 100-699",
                ));
            }
            let reason_start = (sp + 1 + code_len + 1).min(end);
            // Reason-Phrase: text, SP and HTAB; no other control character (RFC 3261 §25.1).
            if let Some(i) = line[reason_start..]
                .iter()
                .position(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
            {
                return Err(bad(
                    ErrorKind::InvalidStartLine,
                    reason_start + i,
                    "control character in the reason phrase",
                ));
            }
            return Ok(StartLine::Response {
                version: Span::new(0, sp),
                code: n,
                reason: Span::new(reason_start, end),
            });
        }
        // Request-Line = Method SP Request-URI SP SIP-Version
        let sp1 = match memchr::memchr(b' ', line) {
            Some(i) => i,
            None => {
                return Err(bad(
                    ErrorKind::InvalidStartLine,
                    0,
                    "request line without SP",
                ))
            }
        };
        if sp1 == 0 {
            return Err(bad(
                ErrorKind::InvalidStartLine,
                0,
                "request line starts with SP",
            ));
        }
        if let Some(i) = line[..sp1].iter().position(|&c| !is_token(c)) {
            return Err(bad(
                ErrorKind::InvalidMethod,
                i,
                "method holds a character that is not a token character",
            ));
        }
        let uri_start = sp1 + 1;
        let sp2 = match memchr::memchr(b' ', &line[uri_start..]) {
            Some(i) => uri_start + i,
            None => {
                return Err(bad(
                    ErrorKind::InvalidStartLine,
                    uri_start,
                    "request line has no SIP version",
                ))
            }
        };
        if sp2 == uri_start {
            return Err(bad(
                ErrorKind::InvalidStartLine,
                uri_start,
                "several SP between Request-Line elements",
            ));
        }
        let ver_start = sp2 + 1;
        if let Some(extra) = memchr::memchr(b' ', &line[ver_start..]) {
            let extra = ver_start + extra;
            let tail_blank = line[extra..].iter().all(|&c| c == b' ');
            let detail = if ver_start == extra {
                "several SP between Request-Line elements"
            } else if tail_blank && looks_like_version(&line[ver_start..extra]) {
                "white space after the SIP version"
            } else {
                return Err(bad(
                    ErrorKind::InvalidRequestUri,
                    sp2,
                    "white space inside the Request-URI",
                ));
            };
            return Err(bad(ErrorKind::InvalidStartLine, extra, detail));
        }
        self.check_version(&line[ver_start..], ver_start)?;
        // The start line is checked for UTF-8 with the headers; the URI must be ASCII anyway.
        let uri_bytes = &line[uri_start..sp2];
        if self.fast && quick::sip_uri(uri_bytes) {
            return Ok(StartLine::Request {
                method: Span::new(0, sp1),
                uri: Span::new(uri_start, sp2),
                version: Span::new(ver_start, end),
            });
        }
        let uri = std::str::from_utf8(uri_bytes).map_err(|e| {
            bad(
                ErrorKind::InvalidRequestUri,
                uri_start + e.valid_up_to(),
                "Request-URI holds a byte that is not allowed in a URI",
            )
        })?;
        match Uri::parse(uri) {
            Ok(Uri::Sip(u)) if !u.headers.is_empty() => {
                return Err(bad(
                    ErrorKind::InvalidRequestUri,
                    uri_start + uri.find('?').unwrap_or(0),
                    "headers ('?…') are not allowed in a Request-URI",
                ))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(bad(ErrorKind::InvalidRequestUri, uri_start + e.at, e.what));
            }
        }
        Ok(StartLine::Request {
            method: Span::new(0, sp1),
            uri: Span::new(uri_start, sp2),
            version: Span::new(ver_start, end),
        })
    }

    fn check_version(&self, v: &[u8], at: usize) -> Result<(), ParseError> {
        if v == b"SIP/2.0" {
            return Ok(());
        }
        if !looks_like_version(v) {
            return Err(self
                .err(ErrorKind::InvalidStartLine, at, 1, "malformed SIP version")
                .with_offending(v));
        }
        if &v[4..] != b"2.0" {
            return Err(self
                .err(
                    ErrorKind::UnsupportedVersion,
                    at,
                    1,
                    "SIP version other than SIP/2.0",
                )
                .with_offending(v));
        }
        Ok(())
    }

    pub(super) fn header_err(&self, headers: &[Entry], i: usize, g: GrammarError) -> ParseError {
        let b = self.b;
        let h = &headers[i];
        let at = h.value.s as usize + g.at;
        let name = h.name.str(b);
        self.err(
            ErrorKind::InvalidHeader,
            at,
            header_line_no(b, h)
                + b[h.line.s as usize..at.min(b.len())]
                    .iter()
                    .filter(|&&c| c == b'\n')
                    .count(),
            format!("{name}: {}", g.what),
        )
        .with_header(name)
        .with_offending(&b[at.min(b.len())..(at + 8).min(h.value.e as usize).max(at.min(b.len()))])
    }
}

fn looks_like_version(v: &[u8]) -> bool {
    // "SIP" "/" 1*DIGIT "." 1*DIGIT
    if v.len() < 7 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return false;
    }
    let rest = &v[4..];
    let Some(dot) = rest.iter().position(|&c| c == b'.') else {
        return false;
    };
    dot > 0
        && dot + 1 < rest.len()
        && rest[..dot].iter().all(u8::is_ascii_digit)
        && rest[dot + 1..].iter().all(u8::is_ascii_digit)
}

/// 1-based line number of a header's first line.
pub(super) fn header_line_no(b: &[u8], h: &Entry) -> usize {
    1 + b[..h.line.s as usize]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
}
