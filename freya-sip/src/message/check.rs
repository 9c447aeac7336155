//! The grammar checks `parse` runs on the headers the stack relies on (RFC 3261 §25.1): the
//! quick checks of `quick.rs` first, the precise parsers for whatever they are not sure of.
//! The precise parsers decide every rejection and name it.

use super::addr::{Contact, NameAddr};
use super::error::{ErrorKind, ParseError};
use super::grammar::GrammarError;
use super::names::HeaderKind;
use super::parse::{header_line_no, Parser};
use super::quick;
use super::scalar::{check_date, parse_max_forwards, CSeq};
use super::via::Via;
use super::{Entry, StartLine};

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
