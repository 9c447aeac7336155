//! URIs as SIP carries them (RFC 3261 §19.1, §25.1; RFC 3966 `tel:`; other absolute URIs
//! per RFC 2396), parsed zero-copy: every part is a slice of the text given.

use std::net::Ipv6Addr;

use super::grammar::{
    check_escaped, find_byte, is_header_char, is_ipv4, is_param_char, is_unreserved, is_uric,
    is_user_char, GResult, GrammarError,
};
use super::params::Params;

/// A parsed URI: SIP/SIPS with their parts, or any other absolute URI kept opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// Any other scheme (`tel:`, `urn:`, `isbn:`…): the scheme and the text after its colon.
    Other {
        /// The scheme as written (compare case-insensitively).
        scheme: &'a str,
        /// Everything after `scheme:`.
        rest: &'a str,
    },
}

impl<'a> Uri<'a> {
    /// Parses `s` as an absolute URI; `sip:`/`sips:` are checked against RFC 3261 §25.1.
    ///
    /// ```
    /// use freya_sip::message::Uri;
    /// let Uri::Sip(u) = Uri::parse("sip:+14155550100@[2001:db8::1]:5080;user=phone").unwrap()
    /// else { panic!() };
    /// assert_eq!(u.user, Some("+14155550100"));
    /// assert_eq!(u.host, "[2001:db8::1]");
    /// assert_eq!(u.port, Some(5080));
    /// assert_eq!(u.params().get("user"), Some(Some("phone")));
    /// ```
    ///
    /// # Errors
    /// A [`GrammarError`] with the byte offset into `s` and what was expected.
    pub fn parse(s: &'a str) -> GResult<Uri<'a>> {
        let colon = find_byte(s, b':').ok_or(GrammarError {
            at: 0,
            what: "URI without scheme",
        })?;
        let scheme = &s[..colon];
        let sb = scheme.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(GrammarError {
                at: 0,
                what: "invalid URI scheme",
            });
        }
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            let mut u = SipUri::parse_after_scheme(rest).map_err(|e| GrammarError {
                at: e.at + colon + 1,
                what: e.what,
            })?;
            u.secure = scheme.len() == 4;
            return Ok(Uri::Sip(u));
        }
        if rest.is_empty() {
            return Err(GrammarError {
                at: colon + 1,
                what: "empty URI after scheme",
            });
        }
        check_escaped(rest, is_uric, "character not allowed in a URI").map_err(|e| {
            GrammarError {
                at: e.at + colon + 1,
                what: e.what,
            }
        })?;
        Ok(Uri::Other { scheme, rest })
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }

    /// The scheme as written.
    pub fn scheme(&self) -> &'a str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Other { scheme, .. } => scheme,
        }
    }
}

/// A `sip:`/`sips:` URI split into its parts (RFC 3261 §19.1.1). Escapes (`%HH`) are left as
/// received; compare users after unescaping where it matters (§19.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `true` for `sips:`.
    pub secure: bool,
    /// The user part (before `@`), still escaped; `None` when the URI has no userinfo.
    pub user: Option<&'a str>,
    /// The password after `user:`, if any (deprecated by RFC 3261 but legal).
    pub password: Option<&'a str>,
    /// Host name, IPv4 address, or IPv6 reference with its brackets.
    pub host: &'a str,
    /// The port, when given.
    pub port: Option<u16>,
    /// The URI parameters, raw, starting with `;` (empty when none).
    pub params_raw: &'a str,
    /// The URI headers after `?`, raw (empty when none).
    pub headers: &'a str,
}

impl<'a> SipUri<'a> {
    fn parse_after_scheme(s: &'a str) -> GResult<SipUri<'a>> {
        // '@' cannot appear unescaped in params or headers, so the first one ends userinfo.
        let (user, password, hp_start) = match find_byte(s, b'@') {
            Some(at) => {
                let info = &s[..at];
                let (user, pw) = match find_byte(info, b':') {
                    Some(c) => (&info[..c], Some(&info[c + 1..])),
                    None => (info, None),
                };
                if user.is_empty() {
                    return Err(GrammarError {
                        at: 0,
                        what: "empty user part before '@'",
                    });
                }
                check_escaped(
                    user,
                    is_user_char,
                    "character not allowed in a URI user part",
                )?;
                if let Some(pw) = pw {
                    check_escaped(
                        pw,
                        |c| is_unreserved(c) || b"&=+$,".contains(&c),
                        "character not allowed in a URI password",
                    )
                    .map_err(|e| GrammarError {
                        at: e.at + user.len() + 1,
                        what: e.what,
                    })?;
                }
                (Some(user), pw, at + 1)
            }
            None => (None, None, 0),
        };
        let b = s.as_bytes();
        let mut i = hp_start;
        // host
        let host_start = i;
        if b.get(i) == Some(&b'[') {
            let close = find_byte(&s[i..], b']').ok_or(GrammarError {
                at: i,
                what: "unterminated IPv6 reference",
            })?;
            let inner = &s[i + 1..i + close];
            if inner.parse::<Ipv6Addr>().is_err() {
                return Err(GrammarError {
                    at: i + 1,
                    what: "invalid IPv6 address",
                });
            }
            i += close + 1;
        } else {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'.' | b'_'))
            {
                i += 1;
            }
            check_hostname(&s[host_start..i]).map_err(|e| GrammarError {
                at: e.at + host_start,
                what: e.what,
            })?;
        }
        let host = &s[host_start..i];
        // port
        let mut port = None;
        if b.get(i) == Some(&b':') {
            i += 1;
            let ps = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            port = Some(parse_port(&s[ps..i]).ok_or(GrammarError {
                at: ps,
                what: "invalid port",
            })?);
        }
        // uri-parameters
        let params_start = i;
        // One pass per parameter: split at '=', check characters and escapes as we go.
        while b.get(i) == Some(&b';') {
            i += 1;
            let ps = i;
            let mut eq: Option<usize> = None;
            while i < b.len() {
                let c = b[i];
                if c == b';' || c == b'?' {
                    break;
                }
                if c == b'=' && eq.is_none() {
                    eq = Some(i);
                } else if c == b'%' {
                    if i + 3 <= b.len()
                        && b[i + 1].is_ascii_hexdigit()
                        && b[i + 2].is_ascii_hexdigit()
                    {
                        i += 3;
                        continue;
                    }
                    return Err(GrammarError {
                        at: i,
                        what: "'%' not followed by two hex digits",
                    });
                } else if !is_param_char(c) {
                    return Err(GrammarError {
                        at: i,
                        what: "character not allowed in a URI parameter",
                    });
                }
                i += 1;
            }
            if eq.unwrap_or(i) == ps {
                return Err(GrammarError {
                    at: ps,
                    what: "empty URI parameter name",
                });
            }
            if let Some(e) = eq {
                if e + 1 == i {
                    return Err(GrammarError {
                        at: e + 1,
                        what: "empty URI parameter value after '='",
                    });
                }
            }
        }
        let params_raw = &s[params_start..i];
        // headers
        let mut headers = "";
        if b.get(i) == Some(&b'?') {
            headers = &s[i + 1..];
            for (k, h) in headers.split('&').enumerate() {
                let _ = k;
                let eq = find_byte(h, b'=').ok_or(GrammarError {
                    at: i + 1,
                    what: "URI header without '='",
                })?;
                if eq == 0 {
                    return Err(GrammarError {
                        at: i + 1,
                        what: "empty URI header name",
                    });
                }
                check_escaped(
                    h,
                    |c| c == b'=' || is_header_char(c),
                    "character not allowed in a URI header",
                )
                .map_err(|e| GrammarError {
                    at: e.at + i + 1,
                    what: e.what,
                })?;
            }
            i = s.len();
        }
        if i != s.len() {
            return Err(GrammarError {
                at: i,
                what: "unexpected character in SIP URI",
            });
        }
        Ok(SipUri {
            secure: false,
            user,
            password,
            host,
            port,
            params_raw,
            headers,
        })
    }

    /// The URI parameters (`;transport=tcp;lr`), read lazily.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params_raw)
    }

    /// The host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &'a str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.host)
    }
}

/// Parses a decimal port (1–5 digits, at most 65535).
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    parse_port_bytes(s.as_bytes())
}

/// [`parse_port`] on bytes.
#[inline]
pub(crate) fn parse_port_bytes(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    let mut p: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        p = p * 10 + u32::from(c - b'0');
    }
    u16::try_from(p).ok()
}

/// `host = hostname / IPv4address` (IPv6 references are checked by the caller).
/// Dotted all-digit hosts must be IPv4 addresses; names are `label *("." label) ["."]`.
pub(crate) fn check_hostname(h: &str) -> GResult<()> {
    if h.is_empty() {
        return Err(GrammarError {
            at: 0,
            what: "missing host",
        });
    }
    if h.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return if is_ipv4(h) {
            Ok(())
        } else {
            Err(GrammarError {
                at: 0,
                what: "invalid IPv4 address",
            })
        };
    }
    let name = h.strip_suffix('.').unwrap_or(h).as_bytes();
    // Labels are non-empty and neither start nor end with '-'.
    let mut prev = b'.';
    for (i, &c) in name.iter().enumerate() {
        let bad = match c {
            b'.' => prev == b'.' || prev == b'-',
            b'-' => prev == b'.',
            _ => false,
        };
        if bad {
            return Err(GrammarError {
                at: i,
                what: "invalid host name label",
            });
        }
        prev = c;
    }
    if prev == b'.' || prev == b'-' {
        return Err(GrammarError {
            at: name.len(),
            what: "invalid host name label",
        });
    }
    Ok(())
}

/// Parses `host [":" port]` as found in a Via sent-by (RFC 3261 §20.42).
pub(crate) fn parse_hostport(s: &str) -> GResult<(&str, Option<u16>)> {
    let b = s.as_bytes();
    let (host, rest) = if b.first() == Some(&b'[') {
        let close = find_byte(s, b']').ok_or(GrammarError {
            at: 0,
            what: "unterminated IPv6 reference",
        })?;
        if s[1..close].parse::<Ipv6Addr>().is_err() {
            return Err(GrammarError {
                at: 1,
                what: "invalid IPv6 address",
            });
        }
        (&s[..close + 1], &s[close + 1..])
    } else {
        let end = find_byte(s, b':').unwrap_or(s.len());
        check_hostname(&s[..end])?;
        (&s[..end], &s[end..])
    };
    if rest.is_empty() {
        return Ok((host, None));
    }
    match rest.strip_prefix(':').and_then(parse_port) {
        Some(p) => Ok((host, Some(p))),
        None => Err(GrammarError {
            at: host.len(),
            what: "invalid port",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn user_part_may_hold_semicolons_and_question_marks() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com");
        assert_eq!(u.host, "example.com");
    }

    #[test]
    fn ipv6_needs_brackets() {
        assert_eq!(sip("sip:[2001:db8::10]:5070").port, Some(5070));
        assert_eq!(sip("sip:user@[2001:db8::10:5070]").port, None);
        assert!(Uri::parse("sip:user@2001:db8::10").is_err());
        assert!(Uri::parse("sip:[2001:db8:::192.0.2.1]").is_err());
        assert!(Uri::parse("sip:[::ffff:192.0.2.10]").is_ok());
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "sip:user@example.com; lr",
            "<sip:user@example.com>",
            "sip:user@example.com:99999",
            "sip:user@exa mple.com",
            "sip:@example.com",
            "sip:user@example.com;;",
            "sip:a@b?x",
            "sip:a%4@b",
            "sip:a@192.0.2.300",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_schemes_are_opaque() {
        assert_eq!(
            Uri::parse("tel:+1-415-555-0100;phone-context=example.com").unwrap(),
            Uri::Other {
                scheme: "tel",
                rest: "+1-415-555-0100;phone-context=example.com"
            }
        );
        assert!(Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent").is_ok());
        assert!(Uri::parse("soap.beep://192.0.2.103:3002").is_ok());
        assert!(Uri::parse("1abc:x").is_err());
    }

    #[test]
    fn headers_are_split_off() {
        let u = sip("sip:user@example.com?Route=%3Csip:sip.example.com%3E");
        assert_eq!(u.headers, "Route=%3Csip:sip.example.com%3E");
        assert_eq!(u.params_raw, "");
    }
}
