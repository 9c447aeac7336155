//! The parser proper: splits the received bytes into a start line, header lines and a body,
//! recording spans only (RFC 3261 §7), then checks the headers the stack relies on.

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
    parse_impl(data, limits, framing, true)
}

/// [`parse_with`] on the byte-by-byte path only, for tests comparing it with the fast path.
#[cfg(test)]
pub(super) fn parse_with_slow(
    data: Bytes,
    limits: &Limits,
    framing: Framing,
) -> Result<Message, ParseError> {
    parse_impl(data, limits, framing, false)
}

#[inline(always)]
fn parse_impl(
    mut data: Bytes,
    limits: &Limits,
    framing: Framing,
    fast: bool,
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

    /// Finds the end of the line starting at `from`: `(end, next)` where `end` excludes the
    /// terminator and `next` is after it. CRLF ends a line; a bare LF is tolerated; a bare CR
    /// is an error.
    #[inline]
    fn line(&self, from: usize, line_no: usize) -> Result<Option<(usize, usize)>, ParseError> {
        let b = self.b;
        match memchr::memchr2(b'\r', b'\n', &b[from..]) {
            None => Ok(None),
            Some(i) => {
                let i = from + i;
                if i - from > self.limits.max_line_length {
                    return Err(self.err(
                        ErrorKind::LineTooLong,
                        from,
                        line_no,
                        format!(
                            "line of {} bytes exceeds the limit of {}",
                            i - from,
                            self.limits.max_line_length
                        ),
                    ));
                }
                if b[i] == b'\n' {
                    Ok(Some((i, i + 1)))
                } else if b.get(i + 1) == Some(&b'\n') {
                    Ok(Some((i, i + 2)))
                } else if i + 1 == b.len() {
                    Ok(None)
                } else {
                    Err(self
                        .err(
                            ErrorKind::InvalidHeaderValue,
                            i,
                            line_no,
                            "bare CR (not followed by LF)",
                        )
                        .with_offending(&b[i..(i + 2).min(b.len())]))
                }
            }
        }
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

    /// The byte-by-byte path: the authority on what is accepted and on every error.
    pub(super) fn run_slow(&self, framing: Framing) -> Result<Parts, ParseError> {
        let b = self.b;
        if b.is_empty() {
            return Err(self.err(ErrorKind::Empty, 0, 1, "no start line"));
        }
        let size_limit = self.limits.max_message_size;
        let too_large = |at: usize| {
            self.err(
                ErrorKind::MessageTooLarge,
                at,
                1,
                format!("message larger than the limit of {size_limit} bytes"),
            )
        };
        if b.len() > size_limit {
            return Err(too_large(size_limit));
        }
        let (sl_end, mut pos) = match self.line(0, 1)? {
            Some(l) => l,
            None => {
                return Err(self.err(
                    ErrorKind::UnterminatedHeaders,
                    b.len(),
                    1,
                    "start line without line end",
                ))
            }
        };
        let start = self.start_line(sl_end)?;

        // Header lines.
        let mut headers: Vec<Entry> = Vec::with_capacity(24);
        let mut line_no = 2usize;
        let body_start;
        loop {
            if pos > size_limit {
                return Err(too_large(pos));
            }
            let (end, next) = match self.line(pos, line_no)? {
                Some(l) => l,
                None => {
                    return Err(self.err(
                        ErrorKind::UnterminatedHeaders,
                        b.len(),
                        line_no,
                        "header section ends without an empty line",
                    ))
                }
            };
            if end == pos {
                body_start = next;
                break;
            }
            let first = b[pos];
            if first == b' ' || first == b'\t' {
                // Obsolete line folding (RFC 3261 §7.3.1): the line continues the value.
                let Some(last) = headers.last_mut() else {
                    return Err(self.err(
                        ErrorKind::UnexpectedContinuation,
                        pos,
                        line_no,
                        "continuation line before any header",
                    ));
                };
                let mut ve = end;
                while ve > pos && matches!(b[ve - 1], b' ' | b'\t') {
                    ve -= 1;
                }
                if ve > pos {
                    if last.value.s == last.value.e {
                        let mut vs = pos;
                        while vs < ve && matches!(b[vs], b' ' | b'\t') {
                            vs += 1;
                        }
                        last.value = Span::new(vs, ve);
                    } else {
                        last.value.e = ve as u32;
                    }
                    last.folded = true;
                }
                last.line.e = next as u32;
            } else {
                if headers.len() >= self.limits.max_headers {
                    return Err(self.err(
                        ErrorKind::TooManyHeaders,
                        pos,
                        line_no,
                        format!("more than {} headers", self.limits.max_headers),
                    ));
                }
                headers.push(self.header_line(pos, end, next, line_no)?);
            }
            line_no += 1;
            pos = next;
        }

        // Everything up to the body must be UTF-8: header values may hold any UTF-8
        // (names were checked to be tokens above).
        // SIMD validation (simdutf8) first: std's validator cost ~2 instructions per byte here
        // (callgrind); std is asked again only to locate an error.
        let checked = if simdutf8::basic::from_utf8(&b[..body_start]).is_ok() {
            Ok("")
        } else {
            std::str::from_utf8(&b[..body_start])
        };
        if let Err(e) = checked {
            let at = e.valid_up_to();
            let bad_len = e.error_len().unwrap_or(1);
            let (line, name) = locate(b, &headers, at);
            let offending = &b[at..(at + bad_len.max(1)).min(b.len())];
            return Err(match name {
                Some(n) => self
                    .err(
                        ErrorKind::InvalidHeaderValue,
                        at,
                        line,
                        "value is not valid UTF-8",
                    )
                    .with_header(n)
                    .with_offending(offending),
                None => self
                    .err(
                        ErrorKind::InvalidStartLine,
                        at,
                        line,
                        "start line is not valid UTF-8",
                    )
                    .with_offending(offending),
            });
        }

        let body_end = self.body_end(&headers, body_start, framing, line_no)?;
        self.check_headers(&start, &headers)?;
        Ok((start, headers, body_start, body_end))
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

    /// One header line `name HCOLON value` (continuations are added by the caller).
    #[inline]
    pub(super) fn header_line(
        &self,
        pos: usize,
        end: usize,
        next: usize,
        line_no: usize,
    ) -> Result<Entry, ParseError> {
        let b = self.b;
        let mut i = pos;
        while i < end && is_token(b[i]) {
            i += 1;
        }
        let name_end = i;
        while i < end && matches!(b[i], b' ' | b'\t') {
            i += 1;
        }
        if i >= end || b[i] != b':' || name_end == pos {
            if name_end == pos || (i < end && b[i] != b':' && i == name_end) {
                // A byte that is neither a token character, white space nor ':' in the name.
                let bad_at = name_end;
                let bad_end = (bad_at..end)
                    .find(|&j| is_token(b[j]) || b[j] == b':' || b[j] == b' ')
                    .unwrap_or(end)
                    .max(bad_at + 1)
                    .min(end);
                let shown = String::from_utf8_lossy(&b[pos..end.min(pos + 40)]).into_owned();
                let detail = if name_end == pos && b.get(pos) == Some(&b':') {
                    "empty header name".to_string()
                } else {
                    format!(
                        "header name holds a byte that is not an RFC 3261 token character in line {:?}",
                        shown
                    )
                };
                return Err(self
                    .err(ErrorKind::InvalidHeaderName, bad_at, line_no, detail)
                    .with_offending(&b[bad_at..bad_end])
                    .with_header(&String::from_utf8_lossy({
                        // The whole name as written, up to the colon (or the bad run's end).
                        let colon = b[pos..end].iter().position(|&c| c == b':');
                        let name_end = colon.map_or(bad_end, |c| pos + c);
                        b[pos..name_end].trim_ascii_end()
                    })));
            }
            return Err(self
                .err(
                    ErrorKind::MissingColon,
                    i,
                    line_no,
                    "header line without ':' after the name",
                )
                .with_header(&String::from_utf8_lossy(&b[pos..name_end]))
                .with_offending(&b[i..(i + 8).min(end)]));
        }
        let mut vs = i + 1;
        while vs < end && matches!(b[vs], b' ' | b'\t') {
            vs += 1;
        }
        let mut ve = end;
        while ve > vs && matches!(b[ve - 1], b' ' | b'\t') {
            ve -= 1;
        }
        Ok(Entry {
            name: Span::new(pos, name_end),
            value: Span::new(vs, ve),
            line: Span::new(pos, next),
            kind: HeaderKind::from_token(&b[pos..name_end]),
            folded: false,
        })
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

/// The line number and header name holding byte `at`.
fn locate<'b>(b: &'b [u8], headers: &[Entry], at: usize) -> (usize, Option<&'b str>) {
    let line = 1 + b[..at].iter().filter(|&&c| c == b'\n').count();
    let name = headers
        .iter()
        .find(|h| (h.line.s as usize) <= at && at < h.line.e as usize)
        .map(|h| h.name.str(b));
    (line, name)
}
