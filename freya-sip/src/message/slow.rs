//! The parser's byte-by-byte path (RFC 3261 §7): the authority on what `parse` accepts and on
//! every error. The fast path (`fast.rs`) hands it everything that is not plain — folded
//! lines, a bare CR, a limit reached, every malformed input — and it decides and names the
//! error. It is also what the equivalence tests (`fast_tests.rs`) compare the fast path with.

use super::error::{ErrorKind, ParseError};
use super::grammar::is_token;
use super::names::HeaderKind;
use super::parse::{Framing, Parser, Parts};
use super::{Entry, Span};

impl Parser<'_> {
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
        if self.check {
            self.check_headers(&start, &headers)?;
        }
        Ok((start, headers, body_start, body_end))
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
