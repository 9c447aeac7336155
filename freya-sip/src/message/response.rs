//! Responses a UAS builds without a transaction: the error response to a request that could
//! not be parsed (RFC 3261 §8.2, §21.4.1, §21.5.6, §21.4.13), the checks §8.2.1–8.2.2 make on
//! a parsed request, and a response to any parsed request (§8.2.6).

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use super::names::HeaderKind;
use super::uri::Uri;
use super::{Message, NameAddr, ParseError};

/// Why a parsed request must be refused before any processing, and with what status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}: {warning}")]
pub struct Rejection {
    /// The status to answer with (400, 416…).
    pub status: u16,
    /// Its reason phrase.
    pub reason: &'static str,
    /// What was wrong, for the `Warning` header and the log line.
    pub warning: String,
}

/// The checks a UAS makes on a parsed request before it looks at the method
/// (RFC 3261 §8.2.1–§8.2.2, RFC 4475 §3.3): the mandatory headers are present and
/// single-valued headers appear once (400), and the Request-URI scheme is one the stack
/// serves — `sip`, `sips` or `tel` (416). Requests without Max-Forwards are accepted for
/// RFC 2543 peers (RFC 4475 §3.4.1). Responses pass.
///
/// ```
/// use freya_sip::message::{check_request, parse};
/// let m = parse(bytes::Bytes::from_static(
///     b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\
///       From: <sip:c@d>;tag=1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n")).unwrap();
/// let r = check_request(&m).unwrap_err();
/// assert_eq!(r.status, 400);
/// assert!(r.warning.contains("Call-ID"));
/// ```
///
/// # Errors
/// The first [`Rejection`] found.
pub fn check_request(m: &Message) -> Result<(), Rejection> {
    if !m.is_request() {
        return Ok(());
    }
    let bad = |w: String| Rejection {
        status: 400,
        reason: "Bad Request",
        warning: w,
    };
    for kind in [
        HeaderKind::Via,
        HeaderKind::From,
        HeaderKind::To,
        HeaderKind::CallId,
        HeaderKind::CSeq,
    ] {
        let n = m.headers.iter().filter(|e| e.kind == kind).count();
        let name = kind.canonical_name().unwrap_or("?");
        if n == 0 {
            return Err(bad(format!("missing {name} header")));
        }
        if n > 1 && kind.is_single_valued() {
            return Err(bad(format!("{n} {name} headers where one is allowed")));
        }
    }
    for kind in [
        HeaderKind::MaxForwards,
        HeaderKind::ContentLength,
        HeaderKind::ContentType,
    ] {
        let n = m.headers.iter().filter(|e| e.kind == kind).count();
        if n > 1 {
            let name = kind.canonical_name().unwrap_or("?");
            return Err(bad(format!("{n} {name} headers where one is allowed")));
        }
    }
    if let Some(uri) = m.request_uri() {
        if let Ok(Uri::Other { scheme, .. }) = Uri::parse(uri) {
            if !scheme.eq_ignore_ascii_case("tel") {
                return Err(Rejection {
                    status: 416,
                    reason: "Unsupported URI Scheme",
                    warning: format!("Request-URI scheme {scheme:?} is not supported"),
                });
            }
        }
    }
    Ok(())
}

/// Builds the response to a parsed request (RFC 3261 §8.2.6): Via rows, From, To (with a
/// To tag added when the request had none, derived from the Call-ID and branch so that a
/// retransmission gets the same one), Call-ID and CSeq copied byte-exact, then
/// `extra` headers, and `Content-Length: 0`. `None` for a response, or an ACK (never
/// answered).
///
/// ```
/// use freya_sip::message::{parse, response_to};
/// let req = parse(bytes::Bytes::from_static(
///     b"BYE sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n\
///       To: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let resp = parse(response_to(&req, 200, "OK", &[]).unwrap()).unwrap();
/// assert_eq!(resp.status_code(), Some(200));
/// assert_eq!(resp.to().unwrap().tag(), Some("2"));
/// ```
pub fn response_to(
    req: &Message,
    status: u16,
    reason: &str,
    extra: &[(&str, &str)],
) -> Option<Bytes> {
    let method = req.method()?;
    if method == "ACK" {
        return None;
    }
    let raw = |kind| {
        req.headers
            .iter()
            .filter(move |e| e.kind == kind)
            .map(|e| (e.name.bytes(&req.buf), e.value.bytes(&req.buf)))
    };
    let branch = req.top_via().and_then(|v| v.branch()).unwrap_or("");
    Some(build(
        status,
        reason,
        raw(HeaderKind::Via),
        raw(HeaderKind::From).next(),
        raw(HeaderKind::To).next(),
        raw(HeaderKind::CallId).next(),
        raw(HeaderKind::CSeq).next(),
        branch.as_bytes(),
        extra,
    ))
}

/// The response a UAS sends for a request the parser refused (RFC 3261 §8.2: 400 with a
/// `Warning: 399` naming the problem; 505 for an unsupported version; 513 for an
/// oversized message), built from whatever of the request's essentials can still be read
/// from `input`. `None` when `input` is a response (a bad response is dropped, never
/// answered), an ACK, or has no readable method or Via (nowhere to send to).
///
/// ```
/// use freya_sip::message::{error_response, parse};
/// let raw = b"INVITE sip:a@b SIP/7.0\r\nVia: SIP/7.0/UDP h;branch=z9hG4bK1\r\n\
///             From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
/// let err = parse(bytes::Bytes::from_static(raw)).unwrap_err();
/// let resp = error_response(raw, &err).unwrap();
/// assert!(resp.starts_with(b"SIP/2.0 505 "));
/// ```
pub fn error_response(input: &[u8], err: &ParseError) -> Option<Bytes> {
    let (status, reason) = err.status();
    let warning = format!("{err}");
    let head_end = memchr::memmem::find(input, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(input, b"\n\n"))
        .unwrap_or(input.len());
    let head = &input[..head_end];
    let head = head
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .map_or(&head[..0], |s| &head[s..]);
    let lines = recover_lines(head);
    let mut lines = lines.iter().map(Vec::as_slice);
    let start = lines.next()?;
    if start.len() >= 4 && start[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let method_end = start.iter().position(|&c| c == b' ')?;
    let method = &start[..method_end];
    if method.is_empty() || method == b"ACK" {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in lines {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        let value = trim(&line[colon + 1..]);
        match HeaderKind::from_name(name) {
            HeaderKind::Via => vias.push((name, value)),
            HeaderKind::From if from.is_none() => from = Some((name, value)),
            HeaderKind::To if to.is_none() => to = Some((name, value)),
            HeaderKind::CallId if call_id.is_none() => call_id = Some((name, value)),
            HeaderKind::CSeq if cseq.is_none() => cseq = Some((name, value)),
            _ => {}
        }
    }
    if vias.is_empty() {
        return None;
    }
    let branch = vias
        .first()
        .and_then(|(_, v)| {
            let s = std::str::from_utf8(v).ok()?;
            let i = s.find("branch=")?;
            Some(
                s[i + 7..]
                    .split([';', ',', ' '])
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .unwrap_or_default();
    let warn_value = format!("399 freya \"{}\"", warning_text(&warning));
    Some(build(
        status,
        reason,
        vias.into_iter(),
        from,
        to,
        call_id,
        cseq,
        branch.as_bytes(),
        &[("Warning", &warn_value)],
    ))
}

/// Splits a malformed header block into logical lines for error recovery: CRLF, a bare LF or
/// a bare CR each end a line, a line starting with SP/HTAB continues the previous one, and
/// each fold becomes one SP — so no CR or LF from the input reaches the response.
fn recover_lines(head: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < head.len() {
        let end = head[i..]
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .map_or(head.len(), |p| i + p);
        let line = &head[i..end];
        i = end;
        if head.get(i) == Some(&b'\r') && head.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else if i < head.len() {
            i += 1;
        }
        match (line.first(), out.last_mut()) {
            (Some(b' ' | b'\t'), Some(prev)) => {
                let cont = trim(line);
                if !cont.is_empty() {
                    prev.push(b' ');
                    prev.extend_from_slice(cont);
                }
            }
            (None, _) => {}
            _ => out.push(line.to_vec()),
        }
    }
    out
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &b[s..e.max(s)]
}

/// Text for a Warning quoted-string: printable ASCII, no quote or backslash, bounded.
fn warning_text(s: &str) -> String {
    s.chars()
        .take(240)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn build<'a>(
    status: u16,
    reason: &str,
    vias: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    from: Option<(&[u8], &[u8])>,
    to: Option<(&[u8], &[u8])>,
    call_id: Option<(&[u8], &[u8])>,
    cseq: Option<(&[u8], &[u8])>,
    branch: &[u8],
    extra: &[(&str, &str)],
) -> Bytes {
    let mut out = BytesMut::with_capacity(512);
    let _ = write!(StrBuf(&mut out), "SIP/2.0 {status} {reason}\r\n");
    let put = |name: &[u8], value: &[u8], out: &mut BytesMut| {
        out.put_slice(name);
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    };
    for (n, v) in vias {
        put(n, v, &mut out);
    }
    if let Some((n, v)) = from {
        put(n, v, &mut out);
    }
    if let Some((n, v)) = to {
        out.put_slice(n);
        out.put_slice(b": ");
        out.put_slice(v);
        let parsed = std::str::from_utf8(v)
            .ok()
            .and_then(|s| NameAddr::parse(s).ok());
        if status > 100 {
            if let Some(a) = parsed {
                if a.tag().is_none() {
                    let seed = call_id.map_or(&b""[..], |(_, v)| v);
                    let _ = write!(StrBuf(&mut out), ";tag={:016x}", fnv1a(&[seed, branch]));
                }
            }
        }
        out.put_slice(b"\r\n");
    }
    if let Some((n, v)) = call_id {
        put(n, v, &mut out);
    }
    if let Some((n, v)) = cseq {
        put(n, v, &mut out);
    }
    for (n, v) in extra {
        put(n.as_bytes(), v.as_bytes(), &mut out);
    }
    out.put_slice(b"Content-Length: 0\r\n\r\n");
    out.freeze()
}

/// FNV-1a over several parts: a stable, dependency-free tag seed.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

struct StrBuf<'a>(&'a mut BytesMut);

impl std::fmt::Write for StrBuf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    #[test]
    fn error_response_copies_essentials_and_adds_warning() {
        let raw = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\
                    From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\
                    X-\xc4\xb0d: 1\r\nContent-Length: 0\r\n\r\n";
        let err = parse(Bytes::from_static(raw)).unwrap_err();
        let resp = parse(error_response(raw, &err).unwrap()).unwrap();
        assert_eq!(resp.status_code(), Some(400));
        assert_eq!(resp.top_via().unwrap().branch(), Some("z9hG4bKx"));
        assert!(resp.to().unwrap().tag().is_some());
        let w = resp.header("Warning").unwrap().value();
        assert!(w.starts_with("399 freya \"invalid_header_name"), "{w}");
        assert!(w.contains("c4b0"), "{w}");
        assert_eq!(resp.call_id(), Some("x"));
    }

    #[test]
    fn responses_are_never_answered() {
        let raw = b"SIP/2.0 4294967301 Nope\r\nVia: SIP/2.0/UDP h\r\n\r\n";
        let err = parse(Bytes::from_static(raw)).unwrap_err();
        assert!(error_response(raw, &err).is_none());
    }

    #[test]
    fn to_tag_is_stable() {
        let raw = Bytes::from_static(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKy\r\nFrom: <sip:c@d>;tag=1\r\n\
              To: <sip:a@b>\r\nCall-ID: q\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
        );
        let req = parse(raw).unwrap();
        let a = response_to(&req, 200, "OK", &[]).unwrap();
        let b = response_to(&req, 200, "OK", &[]).unwrap();
        assert_eq!(a, b);
    }
}
