//! Small headers with a fixed grammar: CSeq (§20.16), Max-Forwards (§20.22),
//! Content-Length (§20.14), Date (§20.17) and Reason (RFC 3326).

use std::borrow::Cow;

use super::grammar::{is_lws, Cursor, GResult, GrammarError};
use super::params::{unquote, Params};

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// `CSeq: 4711 INVITE`: the sequence number (32 bits, §8.1.1.5) and the method.
///
/// ```
/// use freya_sip::message::CSeq;
/// let c = CSeq::parse("0009\r\n  INVITE").unwrap();
/// assert_eq!((c.seq, c.method), (9, "INVITE"));
/// assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number, at most 2³²−1.
    pub seq: u32,
    /// Method, case-sensitive.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses `1*DIGIT LWS Method`.
    ///
    /// # Errors
    /// A [`GrammarError`] for a missing or over-32-bit number or a missing method.
    pub fn parse(value: &'a str) -> GResult<CSeq<'a>> {
        let mut c = Cursor::new(value);
        c.skip_ws();
        let ds = c.pos();
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(c.err("expected CSeq sequence number"));
        }
        let seq = parse_u32(digits).ok_or(GrammarError {
            at: ds,
            what: "CSeq number larger than 2^32-1",
        })?;
        let before = c.pos();
        c.skip_ws();
        if c.pos() == before {
            return Err(c.err("expected white space between CSeq number and method"));
        }
        let method = c.token("expected CSeq method")?;
        c.skip_ws();
        if !c.at_end() {
            return Err(c.err("unexpected text after CSeq method"));
        }
        Ok(CSeq { seq, method })
    }
}

/// Parses decimal digits (leading zeros allowed) into a u32; `None` on overflow.
pub(crate) fn parse_u32(digits: &str) -> Option<u32> {
    let mut v: u64 = 0;
    for b in digits.bytes() {
        v = v * 10 + u64::from(b.wrapping_sub(b'0'));
        if v > u64::from(u32::MAX) {
            return None;
        }
    }
    u32::try_from(v).ok()
}

/// Reads a Max-Forwards value (`1*DIGIT`, 0–255, §8.1.1.6).
///
/// # Errors
/// A [`GrammarError`] when it is not a number in that range.
pub fn parse_max_forwards(value: &str) -> GResult<u8> {
    let v = trim(value);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GrammarError {
            at: 0,
            what: "Max-Forwards is not a number",
        });
    }
    parse_u32(v)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or(GrammarError {
            at: 0,
            what: "Max-Forwards larger than 255",
        })
}

/// Reads a Content-Length value (`1*DIGIT`, fits 32 bits).
///
/// # Errors
/// A [`GrammarError`] for a sign, a non-digit or an overflow.
pub fn parse_content_length(value: &str) -> GResult<u32> {
    let v = trim(value);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GrammarError {
            at: 0,
            what: "Content-Length is not a non-negative decimal number",
        });
    }
    parse_u32(v).ok_or(GrammarError {
        at: 0,
        what: "Content-Length larger than 2^32-1",
    })
}

/// Checks a Date value: `rfc1123-date` in GMT only (`Sat, 13 Nov 2010 23:29:00 GMT`).
///
/// # Errors
/// A [`GrammarError`] naming the part that is wrong (another zone than GMT included).
pub fn check_date(value: &str) -> GResult<()> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let v = trim(value);
    let bad = |what| Err(GrammarError { at: 0, what });
    let b = v.as_bytes();
    // "Sat, 13 Nov 2010 23:29:00 GMT" is exactly 29 bytes.
    if b.len() != 29 {
        return bad("Date is not 'wkday, DD Mon YYYY HH:MM:SS GMT'");
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !DAYS.contains(&&v[0..3]) || &v[3..5] != ", " {
        return bad("Date has no valid week day");
    }
    if !digits(5..7) || b[7] != b' ' || !MONTHS.contains(&&v[8..11]) || b[11] != b' ' {
        return bad("Date has no valid day and month");
    }
    if !digits(12..16) || b[16] != b' ' {
        return bad("Date has no valid year");
    }
    if !digits(17..19) || b[19] != b':' || !digits(20..22) || b[22] != b':' || !digits(23..25) {
        return bad("Date has no valid time");
    }
    if &v[25..] != " GMT" {
        return bad("Date is not in GMT (RFC 3261 allows no other zone)");
    }
    Ok(())
}

/// One Reason value (RFC 3326): `Q.850;cause=16;text="Normal call clearing"` or
/// `SIP;cause=487;text="Request Terminated"`.
///
/// ```
/// use freya_sip::message::Reason;
/// let r = Reason::parse_list(r#"SIP;cause=200;text="Call completed elsewhere", Q.850;cause=16"#)
///     .collect::<Result<Vec<_>, _>>().unwrap();
/// assert_eq!(r[1].protocol, "Q.850");
/// assert_eq!(r[1].cause, Some(16));
/// assert_eq!(r[0].text().as_deref(), Some("Call completed elsewhere"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    /// `SIP`, `Q.850`, or another protocol token.
    pub protocol: &'a str,
    /// The `cause` parameter (a SIP status or a Q.850 cause number).
    pub cause: Option<u16>,
    /// The parameters, raw.
    pub params: Params<'a>,
}

impl<'a> Reason<'a> {
    /// Iterates over the comma-separated values of one Reason header value.
    pub fn parse_list(value: &'a str) -> impl Iterator<Item = GResult<Reason<'a>>> + 'a {
        let mut c = Cursor::new(value);
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            c.skip_ws();
            if c.at_end() {
                return None;
            }
            let r = (|| {
                let protocol = c.token("expected Reason protocol")?;
                let params = Params::new(c.generic_params()?);
                let cause = match params.get("cause") {
                    Some(Some(v)) => Some(v.parse::<u16>().map_err(|_| GrammarError {
                        at: 0,
                        what: "Reason cause is not a number",
                    })?),
                    _ => None,
                };
                c.skip_ws();
                if !c.at_end() && !c.eat(b',') {
                    return Err(c.err("expected ',' or end of Reason value"));
                }
                Ok(Reason {
                    protocol,
                    cause,
                    params,
                })
            })();
            if r.is_err() {
                done = true;
            }
            Some(r)
        })
    }

    /// The `text` parameter without its quotes.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        self.params.get("text").flatten().map(unquote)
    }

    /// Whether this is a Q.850 reason (ISDN cause).
    pub fn is_q850(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("Q.850")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(check_date("Sat, 13 Nov 2010 23:29:00 GMT").is_ok());
        assert!(check_date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
        assert!(check_date("yesterday").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_content_length(" 150 ").unwrap(), 150);
        assert!(parse_content_length("-999").is_err());
        assert!(parse_content_length("4294967296").is_err());
        assert_eq!(parse_max_forwards("0068").unwrap(), 68);
        assert!(parse_max_forwards("300").is_err());
    }
}
