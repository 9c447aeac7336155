//! The grammar checks `parse` runs on the headers the stack relies on (RFC 3261 §25.1): the
//! quick checks of `quick.rs` first, the precise parsers for whatever they are not sure of.
//! The precise parsers decide every rejection and name it.

use super::addr::{Contact, NameAddr};
use super::error::{ErrorKind, ParseError};
use super::grammar::GrammarError;
use super::names::HeaderKind;
use super::parse::{header_line_no, Limits, Parser};
use super::quick;
use super::scalar::{check_date, parse_max_forwards, CSeq};
use super::via::Via;
use super::{Entry, Message, StartLine};

impl Message {
    /// Checks the grammar of the header values the stack relies on (RFC 3261 §25.1: Via,
    /// From, To, Contact, Route, Record-Route, CSeq — its method against the request's —,
    /// Call-ID, Max-Forwards, Date), the half of [`parse`](super::parse) that
    /// [`index`](super::index) leaves out. A message from `parse` has passed it already.
    ///
    /// ```
    /// use freya_sip::message::index;
    /// let m = index(bytes::Bytes::from_static(
    ///     b"BYE sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@x>;tag=1\r\n\
    ///       To: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n",
    /// )).unwrap();
    /// let e = m.check().unwrap_err();
    /// assert_eq!(e.kind(), freya_sip::message::ErrorKind::CSeqMethodMismatch);
    /// ```
    ///
    /// # Errors
    /// The [`ParseError`] `parse` would have returned for these bytes: the same kind, line,
    /// byte offset (counted from the first byte given to `index`) and offending bytes.
    pub fn check(&self) -> Result<(), ParseError> {
        let limits = Limits::default();
        Parser {
            b: &self.buf,
            limits: &limits,
            base: self.skipped as usize,
            base_line: self.skipped_lines as usize,
            fast: true,
            check: true,
        }
        .check_headers(&self.start, &self.headers)
    }
}

impl Parser<'_> {
    /// Checks the grammar of the headers the stack relies on; other headers are kept
    /// unchecked (their grammar is their consumer's business).
    pub(super) fn check_headers(
        &self,
        start: &StartLine,
        headers: &[Entry],
    ) -> Result<(), ParseError> {
        let b = self.b;
        let method = match start {
            StartLine::Request { method, .. } => Some(method.str(b)),
            StartLine::Response { .. } => None,
        };
        for (i, h) in headers.iter().enumerate() {
            let v = h.value.bytes(b);
            let sure = self.fast
                && match h.kind {
                    HeaderKind::Via => quick::via_list(v),
                    HeaderKind::From | HeaderKind::To => quick::name_addr_single(v),
                    HeaderKind::Contact => quick::contact(v),
                    HeaderKind::Route | HeaderKind::RecordRoute => quick::name_addr_list(v),
                    HeaderKind::CSeq => quick::cseq_method(v)
                        .is_some_and(|m| method.is_none_or(|r| r.as_bytes() == m)),
                    HeaderKind::CallId => quick::call_id(v),
                    HeaderKind::MaxForwards | HeaderKind::Date => false,
                    _ => true,
                };
            if !sure {
                self.check_header(method, headers, i)?;
            }
        }
        Ok(())
    }

    /// The precise check of header `i`: accepts exactly what the grammar allows and names
    /// the error.
    fn check_header(
        &self,
        method: Option<&str>,
        headers: &[Entry],
        i: usize,
    ) -> Result<(), ParseError> {
        let b = self.b;
        let h = &headers[i];
        let v = h.value.str(b);
        let r: Result<(), GrammarError> = match h.kind {
            HeaderKind::Via => Via::parse_list(v).try_for_each(|r| r.map(|_| ())),
            HeaderKind::From | HeaderKind::To => NameAddr::parse(v).map(|_| ()),
            HeaderKind::Contact => match Contact::parse(v) {
                Contact::Wildcard => Ok(()),
                Contact::Addresses(mut it) => it.try_for_each(|r| r.map(|_| ())),
            },
            HeaderKind::Route | HeaderKind::RecordRoute => {
                NameAddr::parse_list(v).try_for_each(|r| r.map(|_| ()))
            }
            HeaderKind::CSeq => match CSeq::parse(v) {
                Ok(c) => {
                    if let Some(method) = method {
                        if c.method != method {
                            return Err(self
                                .err(
                                    ErrorKind::CSeqMethodMismatch,
                                    h.value.s as usize,
                                    header_line_no(b, h),
                                    format!(
                                        "CSeq method {:?} differs from the request method {:?}",
                                        c.method, method
                                    ),
                                )
                                .with_header(h.name.str(b))
                                .with_offending(c.method.as_bytes()));
                        }
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
            HeaderKind::CallId => {
                if v.is_empty() || v.bytes().any(|c| c.is_ascii_whitespace()) {
                    Err(GrammarError {
                        at: 0,
                        what: "Call-ID is empty or holds white space",
                    })
                } else {
                    Ok(())
                }
            }
            HeaderKind::MaxForwards => parse_max_forwards(v).map(|_| ()),
            HeaderKind::Date => check_date(v),
            _ => Ok(()),
        };
        match r {
            Ok(()) => Ok(()),
            Err(g) => Err(self.header_err(headers, i, g)),
        }
    }
}
