//! RFC 3261 §25.1 building blocks: character classes and a cursor over one header value.
//!
//! Values handed to the cursor are the raw bytes between the header's colon and its line end,
//! folding included, so CR and LF count as linear white space here: the line splitter has
//! already checked that every CR/LF inside a value is a fold (CRLF followed by SP or HTAB).

/// Where in a value the grammar broke, and what it expected there. `at` is a byte offset
/// into the value being parsed; the parser turns it into a message offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrammarError {
    /// Byte offset into the value.
    pub at: usize,
    /// What was expected, in words.
    pub what: &'static str,
}

/// Result of a grammar step.
pub type GResult<T> = Result<T, GrammarError>;

const fn class_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        let mut v = 0u16;
        // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
        if alnum
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            v |= TOKEN;
        }
        // unreserved = alphanum / mark; mark = - _ . ! ~ * ' ( )
        if alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            v |= UNRESERVED;
        }
        // user-unreserved = & = + $ , ; ? /   (and '#', tolerated: carriers send it raw)
        if matches!(
            b,
            b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/' | b'#'
        ) {
            v |= USER_EXTRA;
        }
        // param-unreserved = [ ] / : & + $
        if matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            v |= PARAM_EXTRA;
        }
        // hnv-unreserved = [ ] / ? : + $
        if matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            v |= HNV_EXTRA;
        }
        // uric = reserved / unreserved / escaped (RFC 2396), for absoluteURI
        if alnum
            || matches!(
                b,
                b';' | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'-'
                    | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'%'
                    | b'#'
                    | b'['
                    | b']'
            )
        {
            v |= URIC;
        }
        // host characters as the URI parser scans them (hostname / IPv4address)
        if alnum || matches!(b, b'-' | b'.' | b'_') {
            v |= HOST;
        }
        // gen-value's token form, which also takes ':' (unbracketed IPv6 `received`)
        if v & TOKEN != 0 || b == b':' {
            v |= TOKEN_COLON;
        }
        if v & (UNRESERVED | USER_EXTRA) != 0 {
            v |= USER;
        }
        if v & (UNRESERVED | PARAM_EXTRA) != 0 {
            v |= PARAM;
        }
        t[c] = v;
        c += 1;
    }
    t
}

/// Character classes, one bit each, so that a run of one class is checked four bytes at a
/// time by AND-ing their table entries ([`skip_class`]).
pub const TOKEN: u16 = 1;
const UNRESERVED: u16 = 2;
const USER_EXTRA: u16 = 4;
const PARAM_EXTRA: u16 = 8;
const HNV_EXTRA: u16 = 16;
const URIC: u16 = 32;
/// Host name characters: alphanum, `-`, `.`, `_`.
pub const HOST: u16 = 64;
/// `token` or `:` (the unquoted form of `gen-value`).
pub const TOKEN_COLON: u16 = 128;
/// Unescaped URI user-part characters (unreserved / user-unreserved).
pub const USER: u16 = 256;
/// Unescaped URI parameter characters (unreserved / param-unreserved).
pub const PARAM: u16 = 512;
static CLASS: [u16; 256] = class_table();

/// The end of the run of `class` bytes in `s` starting at `i` (`i` itself when `s[i]` is not
/// one). Four bytes per step while the run lasts: parsing time is mostly spent in such runs.
#[inline(always)]
pub fn skip_class(s: &[u8], mut i: usize, class: u16) -> usize {
    while let Some(w) = s.get(i..i + 4) {
        let all = CLASS[w[0] as usize]
            & CLASS[w[1] as usize]
            & CLASS[w[2] as usize]
            & CLASS[w[3] as usize];
        if all & class == 0 {
            break;
        }
        i += 4;
    }
    while i < s.len() && CLASS[s[i] as usize] & class != 0 {
        i += 1;
    }
    i
}

/// Host name character: alphanum, `-`, `.`, `_`.
#[inline(always)]
pub fn is_host_char(b: u8) -> bool {
    CLASS[b as usize] & HOST != 0
}

/// `token` character (RFC 3261 §25.1): what header names, methods and most parameter
/// names are made of.
#[inline(always)]
pub fn is_token(b: u8) -> bool {
    CLASS[b as usize] & TOKEN != 0
}

/// `unreserved` character (alphanum / mark).
#[inline(always)]
pub fn is_unreserved(b: u8) -> bool {
    CLASS[b as usize] & UNRESERVED != 0
}

/// Characters allowed unescaped in a SIP URI's user part.
#[inline(always)]
pub fn is_user_char(b: u8) -> bool {
    CLASS[b as usize] & USER != 0
}

/// `paramchar` less the `%` escapes (checked separately).
#[inline(always)]
pub fn is_param_char(b: u8) -> bool {
    CLASS[b as usize] & PARAM != 0
}

/// `hname`/`hvalue` characters less the `%` escapes.
#[inline(always)]
pub fn is_header_char(b: u8) -> bool {
    CLASS[b as usize] & (UNRESERVED | HNV_EXTRA) != 0
}

/// `uric` (RFC 2396), used for absolute URIs of schemes other than sip/sips.
#[inline(always)]
pub fn is_uric(b: u8) -> bool {
    CLASS[b as usize] & URIC != 0
}

/// Linear white space inside a value: SP, HTAB, and the CR/LF of a fold.
#[inline(always)]
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Position of the first `b` in `s`. A plain loop: the values searched are short, where
/// `str::find`'s searcher setup costs more than the search.
#[inline]
pub fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.as_bytes().iter().position(|&c| c == b)
}

/// Position of the first `x` in `s`, eight bytes at a time (SWAR). Faster than `memchr` on
/// the short values and header names searched by the parser, where memchr's setup costs
/// more than the search.
#[inline(always)]
pub fn find_swar(s: &[u8], x: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO * u64::from(x);
    let mut i = 0;
    while let Some(c) = s.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let y = u64::from_le_bytes(w) ^ pat;
        // The lowest flagged byte is exact (only bytes above a match can be flagged falsely).
        let t = y.wrapping_sub(LO) & !y & HI;
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&c| c == x).map(|p| i + p)
}

/// Whether `s` is a dotted-quad IPv4 address (four decimal octets 0–255, no leading `+`).
pub fn is_ipv4(s: &str) -> bool {
    let mut parts = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &c in s.as_bytes() {
        if c == b'.' {
            if digits == 0 || parts == 3 {
                return false;
            }
            parts += 1;
            value = 0;
            digits = 0;
        } else if c.is_ascii_digit() {
            value = value * 10 + u32::from(c - b'0');
            digits += 1;
            if value > 255 || digits > 3 {
                return false;
            }
        } else {
            return false;
        }
    }
    parts == 3 && digits > 0
}

/// A cursor over one header value (or a part of one).
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `s`.
    pub fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    /// Current offset into the value.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves the cursor to `pos` (a char boundary found by the caller).
    #[inline]
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.s.len());
    }

    /// The whole value.
    pub fn src(&self) -> &'a str {
        self.s
    }

    /// Whether the cursor has reached the end.
    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// The next byte, if any.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Offset (from the cursor) of the next `b`.
    #[inline]
    pub fn rest_find(&self, b: u8) -> Option<usize> {
        find_byte(self.rest(), b)
    }

    /// The rest of the value from the cursor.
    pub fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    /// An error at the cursor.
    pub fn err(&self, what: &'static str) -> GrammarError {
        GrammarError { at: self.pos, what }
    }

    /// Skips SWS (optional linear white space).
    #[inline]
    pub fn skip_ws(&mut self) {
        let b = self.s.as_bytes();
        while self.pos < b.len() && is_lws(b[self.pos]) {
            self.pos += 1;
        }
    }

    /// Consumes `c` if it is next.
    #[inline]
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes SWS `c` SWS (the SEMI, COMMA, EQUAL, SLASH, COLON separators) if `c` comes
    /// after optional white space; otherwise leaves the cursor where it was.
    #[inline]
    pub fn eat_sep(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.eat(c) {
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consumes the longest run of bytes satisfying `f` (may be empty).
    #[inline]
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let b = self.s.as_bytes();
        let start = self.pos;
        while self.pos < b.len() && f(b[self.pos]) {
            self.pos += 1;
        }
        // Every predicate used stops on ASCII, and UTF-8 continuation bytes never satisfy
        // an ASCII predicate, so both ends fall on char boundaries.
        &self.s[start..self.pos]
    }

    /// A non-empty `token`.
    #[inline]
    pub fn token(&mut self, what: &'static str) -> GResult<&'a str> {
        let t = self.take_while(is_token);
        if t.is_empty() {
            Err(self.err(what))
        } else {
            Ok(t)
        }
    }

    /// A `quoted-string` (the cursor on its opening DQUOTE); returns the text between the
    /// quotes, quoted-pairs left escaped (zero-copy).
    pub fn quoted_string(&mut self) -> GResult<&'a str> {
        let b = self.s.as_bytes();
        if !self.eat(b'"') {
            return Err(self.err("expected '\"'"));
        }
        let start = self.pos;
        while self.pos < b.len() {
            match b[self.pos] {
                b'"' => {
                    let inner = &self.s[start..self.pos];
                    self.pos += 1;
                    return Ok(inner);
                }
                b'\\' => {
                    // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                    match b.get(self.pos + 1) {
                        Some(&c) if c <= 0x7f && c != b'\r' && c != b'\n' => self.pos += 2,
                        _ => return Err(self.err("invalid quoted-pair in quoted string")),
                    }
                }
                _ => self.pos += 1,
            }
        }
        Err(GrammarError {
            at: start - 1,
            what: "unterminated quoted string",
        })
    }

    /// `gen-value = token / host / quoted-string`, returned raw (quotes included for a
    /// quoted string).
    pub fn gen_value(&mut self) -> GResult<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.quoted_string()?;
                Ok(&self.s[start..self.pos])
            }
            Some(b'[') => {
                let end = self
                    .rest()
                    .find(']')
                    .ok_or_else(|| self.err("unterminated IPv6 reference"))?;
                self.pos += end + 1;
                Ok(&self.s[start..self.pos])
            }
            // token, plus ':' so that an unbracketed IPv6 `received` (RFC 5118 §4.6) reads.
            _ => {
                let v = self.take_while(|b| is_token(b) || b == b':');
                if v.is_empty() {
                    Err(self.err("expected a parameter value"))
                } else {
                    Ok(v)
                }
            }
        }
    }

    /// `*( SEMI generic-param )`: parameters after a value, returned as one raw span
    /// (starting at the first `;`) for [`Params`](super::Params) to read lazily.
    /// Stops before a `,` or at the end.
    pub fn generic_params(&mut self) -> GResult<&'a str> {
        self.generic_params_with(|_, _, _| Ok(()))
    }

    /// [`Cursor::generic_params`], calling `check(name, value, offset)` on each parameter as
    /// it is read (one pass for parsing and checking).
    #[inline]
    pub fn generic_params_with(
        &mut self,
        mut check: impl FnMut(&'a str, Option<&'a str>, usize) -> GResult<()>,
    ) -> GResult<&'a str> {
        let start = {
            let save = self.pos;
            self.skip_ws();
            let p = self.pos;
            self.pos = save;
            p
        };
        let mut end = start;
        while self.eat_sep(b';') {
            let at = self.pos;
            let name = self.token("expected a parameter name after ';'")?;
            let value = if self.eat_sep(b'=') {
                Some(self.gen_value()?)
            } else {
                None
            };
            check(name, value, at)?;
            end = self.pos;
        }
        Ok(&self.s[start..end])
    }
}

/// One step of a comma-separated header list (`1#element`, RFC 3261 §7.3.1): parses the next
/// element with `one`, then requires `,` (followed by another element) or the end. Sets
/// `done` at the end or on the first error, so the iterator stops there.
pub fn list_next<'a, T>(
    cur: &mut Cursor<'a>,
    done: &mut bool,
    after_comma: &'static str,
    no_comma: &'static str,
    one: impl FnOnce(&mut Cursor<'a>) -> GResult<T>,
) -> Option<GResult<T>> {
    if *done {
        return None;
    }
    cur.skip_ws();
    if cur.at_end() {
        *done = true;
        return None;
    }
    let r = one(cur).and_then(|v| {
        cur.skip_ws();
        if cur.at_end() {
            *done = true;
            Ok(v)
        } else if cur.eat(b',') {
            cur.skip_ws();
            if cur.at_end() {
                Err(cur.err(after_comma))
            } else {
                Ok(v)
            }
        } else {
            Err(cur.err(no_comma))
        }
    });
    if r.is_err() {
        *done = true;
    }
    Some(r)
}

/// Skips `%HH` escapes and characters accepted by `ok`; returns the end offset or an error
/// on a bad escape. Used for URI components.
pub fn check_escaped(s: &str, ok: impl Fn(u8) -> bool, what: &'static str) -> GResult<()> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if i + 3 <= b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
                i += 3;
                continue;
            }
            return Err(GrammarError {
                at: i,
                what: "'%' not followed by two hex digits",
            });
        }
        if !ok(c) {
            return Err(GrammarError { at: i, what });
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_class_matches_rfc3261() {
        for b in 0u8..=255 {
            let expect = b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
            assert_eq!(is_token(b), expect, "byte {b:#04x}");
        }
    }

    #[test]
    fn quoted_string_handles_pairs_and_utf8() {
        let mut c = Cursor::new(r#""a \" b \\" rest"#);
        assert_eq!(c.quoted_string().unwrap(), r#"a \" b \\"#);
        assert_eq!(c.rest(), " rest");
        let mut c = Cursor::new("\"J\u{f6}rg\"");
        assert_eq!(c.quoted_string().unwrap(), "J\u{f6}rg");
        let mut c = Cursor::new("\"open");
        assert_eq!(
            c.quoted_string().unwrap_err().what,
            "unterminated quoted string"
        );
    }

    #[test]
    fn escapes_are_checked() {
        assert!(check_escaped("a%41b", is_user_char, "x").is_ok());
        assert!(check_escaped("a%4", is_user_char, "x").is_err());
        assert!(check_escaped("a%", is_user_char, "x").is_err());
        assert!(check_escaped("a%zz", is_user_char, "x").is_err());
        assert!(check_escaped("a b", is_user_char, "x").is_err());
    }

    #[test]
    fn generic_params_stop_at_comma() {
        let mut c = Cursor::new(" ; tag = 1 ;lr, next");
        assert_eq!(c.generic_params().unwrap(), "; tag = 1 ;lr");
        assert_eq!(c.rest(), ", next");
        let mut c = Cursor::new(";;");
        assert!(c.generic_params().is_err());
    }
}
