//! name-addr / addr-spec headers: From, To, Contact, Route, Record-Route, Reply-To,
//! P-Asserted-Identity, Remote-Party-ID, Diversion, Refer-To (RFC 3261 §20.10, §25.1;
//! RFC 3325; RFC 5806), zero-copy.

use std::borrow::Cow;

use super::grammar::{find_byte, is_lws, is_token, list_next, Cursor, GResult, GrammarError};
use super::params::{unquote, Params};
use super::uri::Uri;

/// One address: optional display name, the URI, and the header parameters after it.
///
/// ```
/// use freya_sip::message::NameAddr;
/// let a = NameAddr::parse(r#""Alice \"A\"" <sip:alice@atlanta.example.com>;tag=1928301774"#)
///     .unwrap();
/// assert_eq!(a.display_name().as_deref(), Some(r#"Alice "A""#));
/// assert_eq!(a.uri, "sip:alice@atlanta.example.com");
/// assert_eq!(a.tag(), Some("1928301774"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as received: quotes kept for a quoted-string, tokens and the white
    /// space between them otherwise; `None` when absent.
    pub display_name_raw: Option<&'a str>,
    /// The URI text (without the angle brackets).
    pub uri: &'a str,
    /// Whether the URI was written in `<>` (name-addr form).
    pub bracketed: bool,
    /// Header parameters after the address (`;tag=…`, `;expires=…`, `;privacy=…`).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses a value holding exactly one address (From, To, P-Asserted-Identity's single
    /// value…).
    ///
    /// # Errors
    /// A [`GrammarError`] when the value is not one `( name-addr / addr-spec ) *( SEMI param )`.
    pub fn parse(value: &'a str) -> GResult<NameAddr<'a>> {
        let mut c = Cursor::new(value);
        let a = Self::parse_one(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(c.err("unexpected text after the address"));
        }
        Ok(a)
    }

    /// Iterates over a comma-separated list of addresses (Contact, Route, Record-Route,
    /// Diversion, P-Asserted-Identity).
    pub fn parse_list(value: &'a str) -> NameAddrIter<'a> {
        NameAddrIter {
            cur: Cursor::new(value),
            done: false,
        }
    }

    fn parse_one(c: &mut Cursor<'a>) -> GResult<NameAddr<'a>> {
        c.skip_ws();
        let start = c.pos();
        let mut display = None;
        match c.peek() {
            Some(b'"') => {
                c.quoted_string()?;
                display = Some(&c.src()[start..c.pos()]);
                c.skip_ws();
                if c.peek() != Some(b'<') {
                    return Err(c.err("expected '<' after the display name"));
                }
            }
            Some(b'<') => {}
            _ => {
                // *(token LWS) "<" — or, if no '<' follows the tokens, an addr-spec.
                // Non-ASCII letters are tolerated in unquoted names: carriers send them.
                let mut end = start;
                loop {
                    let t = c.take_while(|b| is_token(b) || b >= 0x80);
                    if t.is_empty() {
                        break;
                    }
                    end = c.pos();
                    c.skip_ws();
                }
                if c.peek() == Some(b'<') && end > start {
                    display = Some(&c.src()[start..end]);
                } else {
                    c.set_pos(start);
                }
            }
        }
        let (uri, bracketed) = if c.eat(b'<') {
            let us = c.pos();
            let len = c
                .rest_find(b'>')
                .ok_or_else(|| c.err("expected '>' closing the URI"))?;
            let uri = &c.src()[us..us + len];
            // The URI grammar admits no white space, so Uri::parse refuses it; only the
            // message is sharpened here (no separate pass on the good path).
            Uri::parse(uri).map_err(|e| match uri.bytes().position(is_lws) {
                Some(ws) => GrammarError {
                    at: us + ws,
                    what: "white space inside '<>'",
                },
                None => GrammarError {
                    at: us + e.at,
                    what: e.what,
                },
            })?;
            c.set_pos(us + len + 1);
            (uri, true)
        } else {
            // addr-spec: a URI holding ',', '?' or ';' must be in name-addr form (§20.10), so
            // the URI ends at the first of them or at white space.
            let us = c.pos();
            let uri = c.take_while(|b| !is_lws(b) && b != b';' && b != b',');
            if uri.is_empty() {
                return Err(c.err("expected an address"));
            }
            if let Some(q) = find_byte(uri, b'?') {
                return Err(GrammarError {
                    at: us + q,
                    what: "URI with headers ('?') must be enclosed in '<>'",
                });
            }
            Uri::parse(uri).map_err(|e| GrammarError {
                at: us + e.at,
                what: e.what,
            })?;
            (uri, false)
        };
        let params = Params::new(c.generic_params()?);
        Ok(NameAddr {
            display_name_raw: display,
            uri,
            bracketed,
            params,
        })
    }

    /// The display name's text: quotes removed and quoted-pairs resolved.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display_name_raw.map(unquote)
    }

    /// The URI, parsed.
    ///
    /// # Errors
    /// Never for a value the message parser accepted (it checked the URI); the `Result` is
    /// there for values parsed on their own.
    pub fn parsed_uri(&self) -> GResult<Uri<'a>> {
        Uri::parse(self.uri)
    }

    /// The `tag` parameter (dialog id, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }

    /// The user part of a SIP URI (a phone number on trunks), still escaped.
    pub fn user(&self) -> Option<&'a str> {
        match Uri::parse(self.uri) {
            Ok(Uri::Sip(u)) => u.user,
            Ok(Uri::Other { scheme, rest }) if scheme.eq_ignore_ascii_case("tel") => {
                Some(rest.split(';').next().unwrap_or(rest))
            }
            _ => None,
        }
    }
}

/// Iterator over a comma-separated address list; yields an error (and stops) where the
/// grammar breaks.
#[derive(Debug, Clone)]
pub struct NameAddrIter<'a> {
    cur: Cursor<'a>,
    done: bool,
}

impl<'a> Iterator for NameAddrIter<'a> {
    type Item = GResult<NameAddr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        list_next(
            &mut self.cur,
            &mut self.done,
            "expected an address after ','",
            "expected ',' or end of the address list",
            NameAddr::parse_one,
        )
    }
}

/// A Contact header value: `*` (all bindings, REGISTER only) or a list of addresses.
#[derive(Debug, Clone)]
pub enum Contact<'a> {
    /// `Contact: *`.
    Wildcard,
    /// The addresses, in order.
    Addresses(NameAddrIter<'a>),
}

impl<'a> Contact<'a> {
    /// Reads a Contact value.
    pub fn parse(value: &'a str) -> Contact<'a> {
        if value.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) == "*" {
            Contact::Wildcard
        } else {
            Contact::Addresses(NameAddr::parse_list(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let a = NameAddr::parse("sip:user@example.com;tag=98;unknownparam").unwrap();
        assert_eq!(a.uri, "sip:user@example.com");
        assert!(!a.bracketed);
        assert_eq!(a.params.get("unknownparam"), Some(None));
        let a = NameAddr::parse("<sip:user@example.com;unknownparam>").unwrap();
        assert_eq!(a.uri, "sip:user@example.com;unknownparam");
        assert!(a.params.is_empty());
    }

    #[test]
    fn token_display_names() {
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name_raw, Some("caller"));
        let a = NameAddr::parse("token1~` token2'+_ token3*%!.- <sip:m@example.com>").unwrap();
        assert_eq!(a.display_name_raw, Some("token1~` token2'+_ token3*%!.-"));
    }

    #[test]
    fn grammar_errors() {
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "\"Watson\" < sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "\"Joe\" <sip:joe@example.org>;;;;",
            "<sip:a@b",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_split_on_commas_outside_quotes() {
        let v: Vec<_> =
            NameAddr::parse_list("\"a, b\" <sip:a@x>;q=0.5, <sip:b@y>, sip:c@z;expires=60")
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].params.get("expires"), Some(Some("60")));
        assert!(matches!(Contact::parse(" * "), Contact::Wildcard));
    }
}
