//! The Via header (RFC 3261 §20.42, §18.2.2; RFC 3581 `rport`), zero-copy.

use super::grammar::{is_lws, list_next, Cursor, GResult, GrammarError};
use super::params::Params;
use super::uri::parse_hostport;

/// One Via value (`SIP/2.0/UDP host:port;branch=…;received=…;rport`). A Via header line
/// may carry several, comma-separated; [`Message::vias`](super::Message::vias) yields them
/// all in order, topmost first.
///
/// ```
/// use freya_sip::message::Via;
/// let v = Via::parse_list("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport")
///     .next().unwrap().unwrap();
/// assert_eq!(v.transport, "UDP");
/// assert_eq!(v.sent_by(), ("192.0.2.1", Some(5060)));
/// assert_eq!(v.branch(), Some("z9hG4bK776"));
/// assert_eq!(v.rport(), Some(None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol_name: &'a str,
    /// Protocol version, normally `2.0`.
    pub protocol_version: &'a str,
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`… compare
    /// case-insensitively).
    pub transport: &'a str,
    /// sent-by host: name, IPv4 address, or IPv6 reference in brackets.
    pub host: &'a str,
    /// sent-by port, when given.
    pub port: Option<u16>,
    /// The via-params, raw (`;branch=…;received=…`).
    pub params: Params<'a>,
}

/// The RFC 3261 branch prefix ("magic cookie", §8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

impl<'a> Via<'a> {
    /// Iterates over the comma-separated Via values of one header value.
    pub fn parse_list(value: &'a str) -> ViaIter<'a> {
        ViaIter {
            cur: Cursor::new(value),
            done: false,
        }
    }

    fn parse_one(c: &mut Cursor<'a>) -> GResult<Via<'a>> {
        c.skip_ws();
        let protocol_name = c.token("expected sent-protocol name (SIP)")?;
        if !c.eat_sep(b'/') {
            return Err(c.err("expected '/' after protocol name"));
        }
        let protocol_version = c.token("expected protocol version")?;
        if !c.eat_sep(b'/') {
            return Err(c.err("expected '/' after protocol version"));
        }
        let transport = c.token("expected transport")?;
        let before = c.pos();
        c.skip_ws();
        if c.pos() == before {
            return Err(c.err("expected white space before sent-by"));
        }
        // sent-by = host [ COLON port ]; the COLON may have white space around it.
        let hs = c.pos();
        if c.peek() == Some(b'[') {
            let end = c
                .rest_find(b']')
                .ok_or_else(|| c.err("unterminated IPv6 reference"))?;
            c.set_pos(hs + end + 1);
        } else {
            c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        }
        let host_end = c.pos();
        let mut hostport_end = host_end;
        if c.eat_sep(b':') {
            let ps = c.pos();
            let digits = c.take_while(|b| b.is_ascii_digit());
            if digits.is_empty() {
                return Err(GrammarError {
                    at: ps,
                    what: "expected port after ':'",
                });
            }
            hostport_end = c.pos();
        }
        let src = c.src();
        let host_txt = &src[hs..host_end];
        let port_txt = &src[host_end..hostport_end];
        let port_digits: &str =
            port_txt.trim_start_matches(|ch: char| ch == ':' || is_lws(ch as u8));
        let (host, _) = parse_hostport(host_txt).map_err(|e| GrammarError {
            at: hs + e.at,
            what: e.what,
        })?;
        let port = if port_digits.is_empty() {
            None
        } else {
            Some(super::uri::parse_port(port_digits).ok_or(GrammarError {
                at: host_end,
                what: "invalid port",
            })?)
        };
        let params = Params::new(c.generic_params_with(Self::check_param)?);
        Ok(Via {
            protocol_name,
            protocol_version,
            transport,
            host,
            port,
            params,
        })
    }

    /// The via-params with a grammar of their own (RFC 3261 §20.42, RFC 3581).
    fn check_param(name: &str, value: Option<&str>, at: usize) -> GResult<()> {
        {
            let bad = |what| Err(GrammarError { at, what });
            if name.eq_ignore_ascii_case("received") {
                let Some(v) = value else {
                    return bad("received parameter without value");
                };
                let v = v
                    .strip_prefix('[')
                    .and_then(|x| x.strip_suffix(']'))
                    .unwrap_or(v);
                if !super::grammar::is_ipv4(v) && v.parse::<std::net::Ipv6Addr>().is_err() {
                    return bad("received parameter is not an IP address");
                }
            } else if name.eq_ignore_ascii_case("rport") {
                if let Some(v) = value {
                    if super::uri::parse_port(v).is_none() {
                        return bad("rport parameter is not a port");
                    }
                }
            } else if name.eq_ignore_ascii_case("ttl") {
                if value.and_then(|v| v.parse::<u8>().ok()).is_none() {
                    return bad("ttl parameter is not 0-255");
                }
            } else if name.eq_ignore_ascii_case("branch") && value.is_none() {
                return bad("branch parameter without value");
            }
        }
        Ok(())
    }

    /// The `branch` parameter (transaction id, RFC 3261 §8.1.1.7).
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// Whether the branch starts with the RFC 3261 magic cookie and has more after it;
    /// when not, transactions are matched the RFC 2543 way (§17.2.3).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter (the address the request came from, §18.2.1).
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received").flatten()
    }

    /// RFC 3581 `rport`: `None` when absent, `Some(None)` when present without a value
    /// (a request asking for it), `Some(Some(port))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(super::uri::parse_port))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr").flatten()
    }

    /// sent-by: host and optional port.
    pub fn sent_by(&self) -> (&'a str, Option<u16>) {
        (self.host, self.port)
    }
}

/// Iterator over the Via values of one header value; yields an error (and stops) where the
/// grammar breaks.
#[derive(Debug, Clone)]
pub struct ViaIter<'a> {
    cur: Cursor<'a>,
    done: bool,
}

impl<'a> Iterator for ViaIter<'a> {
    type Item = GResult<Via<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        list_next(
            &mut self.cur,
            &mut self.done,
            "expected a Via value after ','",
            "expected ',' or end of Via value",
            Via::parse_one,
        )
    }
}
