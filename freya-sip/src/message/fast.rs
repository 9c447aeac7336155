//! The parser's fast path: the head scanned once, 64 bytes at a time (`scan.rs`), the header
//! lines split from the line ends it found, the grammar checked quickly (`check.rs`). It
//! accepts only what the byte-by-byte path (`Parser::run_slow`) accepts, with the same spans;
//! anything else — folded lines, a bare CR, a limit reached, every error — returns `None`,
//! and `parse` runs the byte-by-byte path, which decides and names the error.

use super::grammar::{find_swar, skip_class, TOKEN};
use super::names::HeaderKind;
use super::parse::{Framing, Parser, Parts};
use super::scan::{scan_head, MAX_LINES};
use super::{Entry, Span};

impl Parser<'_> {
    /// Parses a plain message; `None` hands it to the byte-by-byte path.
    pub(super) fn run_fast(&self, framing: Framing) -> Option<Parts> {
        let b = self.b;
        if b.is_empty() || b.len() > self.limits.max_message_size {
            return None;
        }
        let mut ends = [0u32; MAX_LINES];
        let head = scan_head(b, self.limits.max_line_length, &mut ends)?;
        let ends = &ends[..head.lines];
        if ends.len() - 1 > self.limits.max_headers {
            return None;
        }
        // Everything before the first non-ASCII byte is ASCII, so the head is UTF-8 exactly
        // when the rest of it is.
        if let Some(at) = head.first_non_ascii {
            simdutf8::basic::from_utf8(&b[at..head.body_start]).ok()?;
        }
        // Every line recorded is non-empty and holds no bare CR: its terminator is LF or CRLF.
        let line_end = |lf: usize| if b[lf - 1] == b'\r' { lf - 1 } else { lf };
        let start_lf = ends[0] as usize;
        let start = self.start_line(line_end(start_lf)).ok()?;
        let mut headers = Vec::with_capacity(ends.len() - 1);
        let mut pos = start_lf + 1;
        for &lf in &ends[1..] {
            let lf = lf as usize;
            headers.push(self.header_fast(pos, line_end(lf), lf + 1)?);
            pos = lf + 1;
        }
        let body_end = self
            .body_end(&headers, head.body_start, framing, ends.len() + 1)
            .ok()?;
        if self.check {
            self.check_headers(&start, &headers).ok()?;
        }
        Some((start, headers, head.body_start, body_end))
    }

    /// `token *(SP / HTAB) ":" value` on one line (`end` excludes its terminator); `None`
    /// for anything else (a folded continuation line included).
    #[inline(always)]
    fn header_fast(&self, pos: usize, end: usize, next: usize) -> Option<Entry> {
        let b = self.b;
        let line = &b[pos..end];
        let colon = find_swar(line, b':')?;
        let name = line[..colon].trim_ascii_end();
        let ne = name.len();
        if !line[ne..colon].iter().all(|&c| c == b' ' || c == b'\t') {
            // trim_ascii_end also takes other white space (CR cannot occur here; LF, FF, VT
            // can), which must stay in the name and make it invalid.
            return None;
        }
        // The scan found no CR inside a line, so a name the lookup recognises equals a known
        // name up to ASCII case and is a token: only unknown names are checked byte by byte.
        let kind = HeaderKind::from_token(name);
        if ne == 0 || (kind == HeaderKind::Other && skip_class(name, 0, TOKEN) != ne) {
            return None;
        }
        let vs = colon
            + 1
            + line[colon + 1..]
                .iter()
                .position(|&c| c != b' ' && c != b'\t')
                .unwrap_or(line.len() - colon - 1);
        let ve = line[vs..]
            .iter()
            .rposition(|&c| c != b' ' && c != b'\t')
            .map_or(vs, |p| vs + p + 1);
        Some(Entry {
            name: Span::new(pos, pos + ne),
            value: Span::new(pos + vs, pos + ve),
            line: Span::new(pos, next),
            kind,
            folded: false,
        })
    }
}
