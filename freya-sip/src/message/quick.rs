//! Quick grammar checks for the header values the parser checks on every message (Via,
//! From/To/Contact/Route/Record-Route, the Request-URI, CSeq, Call-ID; RFC 3261 §25.1).
//!
//! Each answers `true` ("certainly valid") or `false` ("not sure"). `true` must imply that the
//! precise parsers (`uri.rs`, `addr.rs`, `via.rs`, `scalar.rs`) accept the value; `false`
//! only sends the value to them, and they decide and name the error. The quick checks follow
//! the precise grammar step by step for the shapes carriers send (SIP URIs with a user part,
//! a host name or IPv4 address, a port and parameters; display names; header parameters) and
//! give up on the rest: IPv6 references, passwords, URI headers, escapes in a user part,
//! white space other than SP/HTAB, other schemes. White space is SP/HTAB only, so a value
//! holding a fold (CR LF) outside a quoted string is always left to the precise parsers,
//! whose LWS then reads exactly as SP/HTAB does here. Unit tests (`quick_tests.rs`) check the
//! implication on generated, mutated and corpus values.

use super::grammar::{
    find_swar, is_host_char, is_token, skip_class, HOST, PARAM, TOKEN, TOKEN_COLON, USER,
};
use super::uri::parse_port_bytes;

#[inline(always)]
fn skip_sp(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// `SWS c SWS` (SP/HTAB only): the position after it, or `None` when `c` does not follow.
#[inline(always)]
fn sep(b: &[u8], i: usize, c: u8) -> Option<usize> {
    match b.get(i) {
        Some(&x) if x == c => Some(skip_sp(b, i + 1)),
        Some(b' ' | b'\t') => {
            let j = skip_sp(b, i);
            (b.get(j) == Some(&c)).then(|| skip_sp(b, j + 1))
        }
        _ => None,
    }
}

/// A non-empty run of token characters: its end.
#[inline(always)]
fn token(b: &[u8], i: usize) -> Option<usize> {
    let e = skip_class(b, i, TOKEN);
    (e > i).then_some(e)
}

/// `quoted-string` with `b[i]` its opening DQUOTE (as `Cursor::quoted_string`): its end.
#[inline]
fn quoted(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'"' => return Some(j + 1),
            b'\\' => match b.get(j + 1) {
                Some(&c) if c <= 0x7f && c != b'\r' && c != b'\n' => j += 2,
                _ => return None,
            },
            _ => j += 1,
        }
    }
    None
}

/// A dotted-quad IPv4 address, read directly (as `grammar::is_ipv4`: 1–3 digits per octet,
/// at most 255).
#[inline(always)]
fn ipv4(h: &[u8]) -> bool {
    ipv4_at(h, 0) == Some(h.len())
}

/// A dotted quad read from `b[i..]`: its end (what follows is not looked at).
#[inline(always)]
fn ipv4_at(h: &[u8], mut i: usize) -> Option<usize> {
    for part in 0..4 {
        if part > 0 {
            if h.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        i = octet(h, i)?;
    }
    Some(i)
}

/// One to three digits from `i` worth at most 255 (as the loop of `grammar::is_ipv4`): their
/// end. Unrolled: each digit is one subtract and one compare (callgrind: the loop cost about
/// 60 instructions per address, a fifth of the 180 Ringing's quick checks of URIs).
#[inline(always)]
fn octet(h: &[u8], i: usize) -> Option<usize> {
    let digit = |j: usize| {
        h.get(j)
            .map(|&c| c.wrapping_sub(b'0'))
            .filter(|&d| d < 10)
            .map(u32::from)
    };
    let d0 = digit(i)?;
    let Some(d1) = digit(i + 1) else {
        return Some(i + 1);
    };
    let Some(d2) = digit(i + 2) else {
        return Some(i + 2);
    };
    (d0 * 100 + d1 * 10 + d2 <= 255).then_some(i + 3)
}

/// `host` as `uri::check_hostname` reads it: a valid host name or IPv4 address.
fn host_ok(h: &[u8]) -> bool {
    if ipv4(h) {
        return true;
    }
    if h.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
        // All digits and dots but not an IPv4 address (empty included).
        return false;
    }
    // Labels are non-empty and neither start nor end with '-'; one trailing '.' (a fully
    // qualified name) is allowed.
    let name = h.strip_suffix(b".").unwrap_or(h);
    let mut prev = b'.';
    for &c in name {
        if (c == b'.' && (prev == b'.' || prev == b'-')) || (c == b'-' && prev == b'.') {
            return false;
        }
        prev = c;
    }
    prev != b'.' && prev != b'-'
}

/// The host run from `i` (`[A-Za-z0-9._-]`), when it is a valid host: its end. IPv6
/// references are left to the precise parser.
#[inline(always)]
fn host(b: &[u8], i: usize) -> Option<usize> {
    // Most hosts on a trunk are IPv4 addresses: read one, and if no host character follows,
    // that is the whole host run and it is valid.
    if let Some(e) = ipv4_at(b, i) {
        if b.get(e).is_none_or(|&c| !is_host_char(c)) {
            return Some(e);
        }
    }
    let e = skip_class(b, i, HOST);
    host_ok(&b[i..e]).then_some(e)
}

/// `1*5DIGIT` up to 65535 from `i` (as `uri::parse_port`): its end.
#[inline(always)]
fn port(b: &[u8], i: usize) -> Option<usize> {
    let mut e = i;
    while e < b.len() && b[e].is_ascii_digit() {
        e += 1;
    }
    parse_port_bytes(&b[i..e]).map(|_| e)
}

/// `sip:`/`sips:` URI: true ⇒ `Uri::parse` accepts it as a SIP URI without headers.
pub(super) fn sip_uri(s: &[u8]) -> bool {
    let b = match s {
        [a, b, c, b':', rest @ ..] if (a | 0x20, b | 0x20, c | 0x20) == (b's', b'i', b'p') => rest,
        [a, b, c, d, b':', rest @ ..]
            if (a | 0x20, b | 0x20, c | 0x20, d | 0x20) == (b's', b'i', b'p', b's') =>
        {
            rest
        }
        _ => return false,
    };
    let n = b.len();
    // userinfo: the first '@' ends it (as in SipUri::parse_after_scheme); user characters
    // only (no password, no escape).
    let mut i = 0;
    if let Some(at) = find_swar(b, b'@') {
        if at == 0 || skip_class(b, 0, USER) != at {
            return false;
        }
        i = at + 1;
    }
    let Some(e) = host(b, i) else {
        return false;
    };
    i = e;
    if i < n && b[i] == b':' {
        let Some(e) = port(b, i + 1) else {
            return false;
        };
        i = e;
    }
    // uri-parameters, as SipUri::parse_after_scheme checks them.
    while i < n && b[i] == b';' {
        i += 1;
        let ps = i;
        let mut eq: Option<usize> = None;
        loop {
            i = skip_class(b, i, PARAM);
            match b.get(i) {
                None | Some(b';' | b'?') => break,
                Some(b'=') if eq.is_none() => {
                    eq = Some(i);
                    i += 1;
                }
                Some(b'%')
                    if i + 3 <= n
                        && b[i + 1].is_ascii_hexdigit()
                        && b[i + 2].is_ascii_hexdigit() =>
                {
                    i += 3
                }
                Some(_) => return false,
            }
        }
        if eq.unwrap_or(i) == ps || eq.is_some_and(|e| e + 1 == i) {
            return false;
        }
    }
    // URI headers ('?') are left to the precise parser.
    i == n
}

/// `gen-value` from `i` (as `Cursor::gen_value`): its end.
#[inline(always)]
fn gen_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i) {
        Some(b'"') => quoted(b, i),
        Some(b'[') => find_swar(&b[i..], b']').map(|e| i + e + 1),
        _ => {
            let e = skip_class(b, i, TOKEN_COLON);
            (e > i).then_some(e)
        }
    }
}

/// `*( SEMI generic-param )` from `i`, calling `check(name, value)` on each: its end.
#[inline(always)]
fn params(b: &[u8], mut i: usize, check: impl Fn(&[u8], Option<&[u8]>) -> bool) -> Option<usize> {
    while let Some(ns) = sep(b, i, b';') {
        let ne = token(b, ns)?;
        let mut value = None;
        i = ne;
        if let Some(vs) = sep(b, ne, b'=') {
            i = gen_value(b, vs)?;
            value = Some(&b[vs..i]);
        }
        if !check(&b[ns..ne], value) {
            return None;
        }
    }
    Some(i)
}

/// One `(name-addr / addr-spec) *(SEMI generic-param)` from `i` (as `NameAddr::parse_one`):
/// its end.
fn name_addr(b: &[u8], i: usize) -> Option<usize> {
    let n = b.len();
    let start = skip_sp(b, i);
    let mut i = start;
    match b.get(i) {
        Some(b'"') => {
            i = skip_sp(b, quoted(b, i)?);
            if b.get(i) != Some(&b'<') {
                return None;
            }
        }
        Some(b'<') => {}
        _ => {
            // *(token LWS) "<", non-ASCII letters tolerated; else an addr-spec.
            let mut end = start;
            loop {
                let t = i;
                while i < n && (is_token(b[i]) || b[i] >= 0x80) {
                    i += 1;
                }
                if i == t {
                    break;
                }
                end = i;
                i = skip_sp(b, i);
            }
            if !(b.get(i) == Some(&b'<') && end > start) {
                i = start;
            }
        }
    }
    if b.get(i) == Some(&b'<') {
        let us = i + 1;
        let len = find_swar(&b[us..], b'>')?;
        if !sip_uri(&b[us..us + len]) {
            return None;
        }
        i = us + len + 1;
    } else {
        let us = i;
        while i < n && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n' | b';' | b',') {
            i += 1;
        }
        // An addr-spec holds no '?' at all, not even in its user part (RFC 3261 §20.10).
        let uri = &b[us..i];
        if find_swar(uri, b'?').is_some() || !sip_uri(uri) {
            return None;
        }
    }
    params(b, i, |_, _| true)
}

/// From/To: exactly one address (as `NameAddr::parse`).
pub(super) fn name_addr_single(v: &[u8]) -> bool {
    name_addr(v, 0).is_some_and(|e| skip_sp(v, e) == v.len())
}

/// `1#element` with `one` for the element (as `grammar::list_next`). An empty list is left to
/// the precise parser.
#[inline(always)]
fn list(v: &[u8], one: impl Fn(&[u8], usize) -> Option<usize>) -> bool {
    let mut i = skip_sp(v, 0);
    if i == v.len() {
        return false;
    }
    loop {
        let Some(e) = one(v, i) else {
            return false;
        };
        i = skip_sp(v, e);
        if i == v.len() {
            return true;
        }
        if v[i] != b',' {
            return false;
        }
        i = skip_sp(v, i + 1);
        if i == v.len() {
            return false;
        }
    }
}

/// Route, Record-Route: a comma-separated address list.
pub(super) fn name_addr_list(v: &[u8]) -> bool {
    list(v, name_addr)
}

/// Contact: `*` or a comma-separated address list (as `Contact::parse`).
pub(super) fn contact(v: &[u8]) -> bool {
    v == b"*" || list(v, name_addr)
}

/// The via-params with a grammar of their own (as `Via::check_param`); IPv6 `received`
/// values are left to the precise parser.
#[inline(always)]
fn via_param(name: &[u8], value: Option<&[u8]>) -> bool {
    match name.len() {
        8 if name.eq_ignore_ascii_case(b"received") => value.is_some_and(ipv4),
        5 if name.eq_ignore_ascii_case(b"rport") => {
            value.is_none_or(|v| parse_port_bytes(v).is_some())
        }
        3 if name.eq_ignore_ascii_case(b"ttl") => value
            .and_then(|v| std::str::from_utf8(v).ok())
            .is_some_and(|v| v.parse::<u8>().is_ok()),
        6 if name.eq_ignore_ascii_case(b"branch") => value.is_some(),
        _ => true,
    }
}

/// One via-parm from `i` (as `Via::parse_one`): its end.
fn via(b: &[u8], i: usize) -> Option<usize> {
    let i = token(b, skip_sp(b, i))?;
    let i = token(b, sep(b, i, b'/')?)?;
    let t = token(b, sep(b, i, b'/')?)?;
    let hs = skip_sp(b, t);
    if hs == t {
        return None;
    }
    let mut i = host(b, hs)?;
    if let Some(ps) = sep(b, i, b':') {
        i = port(b, ps)?;
    }
    params(b, i, via_param)
}

/// A Via header value: one or more via-parms.
pub(super) fn via_list(v: &[u8]) -> bool {
    list(v, via)
}

/// CSeq `1*DIGIT LWS Method` (as `CSeq::parse`): the method, when certainly valid.
pub(super) fn cseq_method(v: &[u8]) -> Option<&[u8]> {
    let ds = skip_sp(v, 0);
    let mut i = ds;
    let mut n: u64 = 0;
    while i < v.len() && v[i].is_ascii_digit() {
        n = n * 10 + u64::from(v[i] - b'0');
        if n > u64::from(u32::MAX) {
            return None;
        }
        i += 1;
    }
    let ms = skip_sp(v, i);
    if i == ds || ms == i {
        return None;
    }
    let me = token(v, ms)?;
    (skip_sp(v, me) == v.len()).then(|| &v[ms..me])
}

/// Call-ID: non-empty, no white space (as the check in `check.rs`). Every ASCII white space
/// byte is ≤ SP, so a value without such bytes is certainly valid.
#[inline]
pub(super) fn call_id(v: &[u8]) -> bool {
    !v.is_empty() && !v.iter().fold(false, |acc, &c| acc | (c <= b' '))
}
