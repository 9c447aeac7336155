//! Cutting messages out of a byte stream (TCP/TLS, RFC 3261 §18.3): the header section ends
//! at the first empty line, and Content-Length — mandatory on streams — gives the body.

use bytes::{Buf, BytesMut};

use super::error::{ErrorKind, ParseError};
use super::names::HeaderKind;
use super::scalar::parse_content_length;
use super::{parse_with, Framing, Limits, Message};

/// A framer fed arbitrary chunks of a stream; yields whole [`Message`]s.
///
/// CRLF keep-alives between messages (RFC 5626 §3.5.1) are skipped and counted. An error
/// (missing or bad Content-Length, a message over the size limit, a message that does not
/// parse) poisons the framer: the stream's framing can no longer be trusted, so the caller
/// must close the connection; further calls return the same error.
///
/// ```
/// use freya_sip::message::StreamFramer;
/// let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
///             From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
///             Content-Length: 2\r\n\r\nhi";
/// let mut f = StreamFramer::new();
/// f.push(b"\r\n\r\n");            // keep-alive
/// f.push(&msg[..10]);
/// assert!(f.next_message().unwrap().is_none());
/// f.push(&msg[10..]);
/// f.push(msg);                    // a second message in the same read
/// assert_eq!(f.next_message().unwrap().unwrap().body(), b"hi");
/// assert!(f.next_message().unwrap().is_some());
/// assert!(f.next_message().unwrap().is_none());
/// assert_eq!(f.keepalives(), 1);
/// ```
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
    /// How far the search for the end of the header section has looked (avoids rescans).
    scanned: usize,
    /// End of the current message's header section, once found.
    /// End of the current message's header section and its Content-Length, once found (so
    /// a message trickling in byte by byte is not rescanned on every read).
    head: Option<(usize, usize)>,
    keepalives: u64,
    /// Stream bytes consumed so far (for error offsets).
    consumed: u64,
    poisoned: Option<ParseError>,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamFramer {
    /// A framer with the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A framer with explicit limits; `max_message_size` bounds the buffered bytes.
    pub fn with_limits(limits: Limits) -> Self {
        StreamFramer {
            buf: BytesMut::new(),
            limits,
            scanned: 0,
            head: None,
            keepalives: 0,
            consumed: 0,
            poisoned: None,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.poisoned.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// CRLF keep-alives (a CRLF pair, or a lone CRLF) skipped so far.
    pub fn keepalives(&self) -> u64 {
        self.keepalives
    }

    /// Whether a framing error has occurred (the connection should be closed).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    fn fail(&mut self, e: ParseError) -> Result<Option<Message>, ParseError> {
        self.buf.clear();
        self.poisoned = Some(e.clone());
        Err(e)
    }

    /// The next whole message, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// [`ErrorKind::MissingContentLength`], [`ErrorKind::InvalidContentLength`],
    /// [`ErrorKind::ConflictingContentLength`], [`ErrorKind::MessageTooLarge`], or any parse
    /// error of the framed message; the framer stays failed afterwards.
    pub fn next_message(&mut self) -> Result<Option<Message>, ParseError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        // Skip keep-alives: CRLFs before a start line.
        let lead = self
            .buf
            .iter()
            .position(|&c| c != b'\r' && c != b'\n')
            .unwrap_or(self.buf.len());
        if lead > 0 {
            // One run of CRLFs between messages is one keep-alive (ping or pong).
            self.keepalives += 1;
            self.buf.advance(lead);
            self.consumed += lead as u64;
            self.scanned = 0;
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let (head_end, length) = match self.head {
            Some(h) => h,
            None => match find_head_end(&self.buf, self.scanned) {
                // The size limit comes first, so the verdict does not depend on how the
                // reads were split.
                Some(h) if h > self.limits.max_message_size => {
                    let e = ParseError::new(
                        ErrorKind::MessageTooLarge,
                        self.consumed as usize,
                        format!(
                            "header section of {h} bytes exceeds the limit of {}",
                            self.limits.max_message_size
                        ),
                    );
                    return self.fail(e);
                }
                Some(h) => match self.content_length(h) {
                    Ok(n) => {
                        self.head = Some((h, n));
                        (h, n)
                    }
                    Err(e) => return self.fail(e),
                },
                None => {
                    // Resume where a terminator could still begin.
                    self.scanned = self.buf.len().saturating_sub(2);
                    if self.buf.len() > self.limits.max_message_size {
                        let e = ParseError::new(
                            ErrorKind::MessageTooLarge,
                            self.consumed as usize,
                            format!(
                                "no end of header section within {} bytes",
                                self.limits.max_message_size
                            ),
                        );
                        return self.fail(e);
                    }
                    return Ok(None);
                }
            },
        };
        let total = head_end + length;
        if total > self.limits.max_message_size {
            let e = ParseError::new(
                ErrorKind::MessageTooLarge,
                self.consumed as usize,
                format!(
                    "message of {total} bytes exceeds the limit of {}",
                    self.limits.max_message_size
                ),
            );
            return self.fail(e);
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let bytes = self.buf.split_to(total).freeze();
        let at = self.consumed as usize;
        self.consumed += total as u64;
        self.scanned = 0;
        self.head = None;
        match parse_with(bytes, &self.limits, Framing::Stream) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                let e = ParseError::new(e.kind(), at + e.offset(), e.detail().to_owned());
                self.fail(e)
            }
        }
    }

    /// Finds the Content-Length in the header section `buf[..head_end]`.
    fn content_length(&self, head_end: usize) -> Result<usize, ParseError> {
        let head = &self.buf[..head_end];
        let mut found: Option<u32> = None;
        // Logical lines: a folded Content-Length ("Content-Length:\r\n 5") reads as one.
        let mut lines = split_logical_lines(head);
        let _start_line = lines.next();
        for line in lines {
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let name = line[..colon].trim_ascii_end();
            if HeaderKind::from_name(name) != HeaderKind::ContentLength {
                continue;
            }
            let value = std::str::from_utf8(&line[colon + 1..]).unwrap_or("x");
            let line_at = line.as_ptr() as usize - head.as_ptr() as usize;
            let at = self.consumed as usize + line_at + colon + 1;
            let n = parse_content_length(value).map_err(|g| {
                ParseError::new(ErrorKind::InvalidContentLength, at, g.what)
                    .with_offending(value.trim().as_bytes())
            })?;
            if let Some(prev) = found {
                if prev != n {
                    return Err(ParseError::new(
                        ErrorKind::ConflictingContentLength,
                        at,
                        format!("Content-Length {n} conflicts with an earlier {prev}"),
                    ));
                }
            }
            found = Some(n);
        }
        match found {
            Some(n) => Ok(n as usize),
            None => Err(ParseError::new(
                ErrorKind::MissingContentLength,
                self.consumed as usize,
                "Content-Length is required on a stream transport",
            )),
        }
    }
}

/// Splits a header block into logical lines: a line starting with SP/HTAB continues the
/// previous one (kept with its fold).
fn split_logical_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = head;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        loop {
            match memchr::memchr(b'\n', &rest[end..]) {
                Some(i) => {
                    let nl = end + i;
                    if matches!(rest.get(nl + 1), Some(b' ' | b'\t')) {
                        end = nl + 1;
                        continue;
                    }
                    let line = &rest[..nl];
                    rest = &rest[nl + 1..];
                    return Some(line.strip_suffix(b"\r").unwrap_or(line));
                }
                None => {
                    let line = rest;
                    rest = &[];
                    return Some(line);
                }
            }
        }
    })
}

/// End (exclusive) of the header section: the first empty line, CRLF or bare LF, searched
/// from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(n) = memchr::memchr(b'\n', buf.get(i..)?) {
        let nl = i + n;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
        From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
        Content-Length: 5\r\n\r\nhello";

    #[test]
    fn byte_by_byte() {
        let mut f = StreamFramer::new();
        let mut got = Vec::new();
        for _ in 0..3 {
            for b in MSG {
                f.push(&[*b]);
                if let Some(m) = f.next_message().unwrap() {
                    got.push(m);
                }
            }
        }
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|m| m.as_bytes() == MSG));
    }

    #[test]
    fn missing_length_is_an_error_not_a_hang() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n");
        let e = f.next_message().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingContentLength);
        assert!(f.is_poisoned());
        assert_eq!(f.next_message().unwrap_err(), e);
    }

    #[test]
    fn negative_and_huge_lengths_fail() {
        for cl in ["-999", "99999999999", "1x"] {
            let mut f = StreamFramer::new();
            f.push(format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {cl}\r\n\r\n").as_bytes());
            assert!(f.next_message().is_err(), "{cl}");
        }
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 1000000\r\n\r\n");
        assert_eq!(
            f.next_message().unwrap_err().kind(),
            ErrorKind::MessageTooLarge
        );
    }

    #[test]
    fn endless_header_section_is_bounded() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\n");
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut result = Ok(None);
        for _ in 0..2000 {
            f.push(line);
            result = f.next_message();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result.unwrap_err().kind(), ErrorKind::MessageTooLarge);
    }
}

#[cfg(test)]
mod trickle_tests {
    use super::*;

    /// A large message trickled byte by byte is framed the same as in one read, and a
    /// header section over the limit fails the same way however it arrives.
    #[test]
    fn trickled_input_frames_identically_and_limits_do_not_depend_on_splits() {
        let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n".to_vec();
        for i in 0..200 {
            msg.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(120)).as_bytes());
        }
        msg.extend_from_slice(b"Content-Length: 3\r\n\r\nabc");
        let mut f = StreamFramer::new();
        let mut got = None;
        for b in &msg {
            f.push(&[*b]);
            if let Some(m) = f.next_message().unwrap() {
                got = Some(m);
            }
        }
        assert_eq!(got.unwrap().as_bytes(), &msg[..]);

        let small = Limits {
            max_message_size: 1024,
            ..Limits::default()
        };
        let mut whole = StreamFramer::with_limits(small);
        whole.push(&msg);
        let e1 = whole.next_message().unwrap_err().kind();
        let mut pieces = StreamFramer::with_limits(small);
        let mut e2 = None;
        for chunk in msg.chunks(100) {
            pieces.push(chunk);
            if let Err(e) = pieces.next_message() {
                e2 = Some(e.kind());
                break;
            }
        }
        assert_eq!(e1, ErrorKind::MessageTooLarge);
        assert_eq!(e2, Some(ErrorKind::MessageTooLarge));
    }
}
