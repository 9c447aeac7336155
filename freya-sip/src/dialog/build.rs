//! Writing the messages a dialog sends: requests from a head the caller assembled, and
//! responses to received requests (RFC 3261 §8.2.6, §12.1.1), with caller-given headers
//! checked before anything is written.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::{parse, HeaderKind, Message};

use super::error::DialogError;

/// An RFC 3261 token character (§25.1).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Checks a caller-given header: the name a token, the value free of CR/LF.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), DialogError> {
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(DialogError::InvalidHeader {
            name: name.to_owned(),
            reason: "a header name must be an RFC 3261 token (ASCII letters, digits, -.!%*_+`'~)",
        });
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(DialogError::InvalidHeader {
            name: name.to_owned(),
            reason: "a header value must not hold CR or LF",
        });
    }
    Ok(())
}

/// A body and its Content-Type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Body<'a> {
    pub(crate) content_type: &'a str,
    pub(crate) bytes: &'a [u8],
}

/// Ends a message whose start line and headers are in `head` (each line CRLF-terminated):
/// the `extra` headers (checked), Content-Type and Content-Length, the empty line, the
/// body. Parses the result.
pub(crate) fn finish<N: AsRef<str>, V: AsRef<str>>(
    head: String,
    extra: &[(N, V)],
    body: Option<Body<'_>>,
) -> Result<Message, DialogError> {
    let mut s = head;
    for (n, v) in extra {
        let (n, v) = (n.as_ref(), v.as_ref());
        check_header(n, v)?;
        let _ = write!(s, "{n}: {v}\r\n");
    }
    let len = body.map_or(0, |b| b.bytes.len());
    if let Some(b) = body {
        check_header("Content-Type", b.content_type)?;
        let _ = write!(s, "Content-Type: {}\r\n", b.content_type);
    }
    let _ = write!(s, "Content-Length: {len}\r\n\r\n");
    let mut out = BytesMut::with_capacity(s.len() + len);
    out.put_slice(s.as_bytes());
    if let Some(b) = body {
        out.put_slice(b.bytes);
    }
    Ok(parse(out.freeze())?)
}

/// The raw value of the first header of `kind` (folds kept as received).
pub(crate) fn raw_value(m: &Message, kind: HeaderKind) -> Option<&str> {
    m.headers_of(kind).next().map(|h| h.value())
}

/// A response to `req` (RFC 3261 §8.2.6): its Via rows, From, To (with `to_tag` appended
/// when the To has none), Call-ID and CSeq, byte-exact; its Record-Route rows when
/// `record_route` (§12.1.1, dialog-creating responses); then `extra` and the body.
pub(crate) fn response<N: AsRef<str>, V: AsRef<str>>(
    req: &Message,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    record_route: bool,
    extra: &[(N, V)],
    body: Option<Body<'_>>,
) -> Result<Message, DialogError> {
    if !(100..=699).contains(&status) {
        return Err(DialogError::InvalidStatus {
            status,
            reason: "a SIP status is 100-699",
        });
    }
    if reason.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(DialogError::InvalidHeader {
            name: "reason phrase".into(),
            reason: "a reason phrase must not hold CR or LF",
        });
    }
    let mut s = String::with_capacity(512);
    let _ = write!(s, "SIP/2.0 {status} {reason}\r\n");
    for v in req.headers_of(HeaderKind::Via) {
        let _ = write!(s, "Via: {}\r\n", v.value());
    }
    if record_route {
        for v in req.headers_of(HeaderKind::RecordRoute) {
            let _ = write!(s, "Record-Route: {}\r\n", v.value());
        }
    }
    let from = raw_value(req, HeaderKind::From).ok_or(DialogError::MissingHeader("From"))?;
    let to = raw_value(req, HeaderKind::To).ok_or(DialogError::MissingHeader("To"))?;
    let call_id =
        raw_value(req, HeaderKind::CallId).ok_or(DialogError::MissingHeader("Call-ID"))?;
    let cseq = raw_value(req, HeaderKind::CSeq).ok_or(DialogError::MissingHeader("CSeq"))?;
    let has_tag = req.to().is_some_and(|t| t.tag().is_some());
    let _ = write!(s, "From: {from}\r\nTo: {to}");
    if let (Some(tag), false) = (to_tag, has_tag) {
        let _ = write!(s, ";tag={tag}");
    }
    let _ = write!(s, "\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n");
    finish(s, extra, body)
}

/// The Request-URI form of a URI taken from a Contact or a Route: without the URI headers
/// (`?…`), which a Request-URI may not carry (RFC 3261 §19.1.5).
pub(crate) fn request_uri_of(uri: &str) -> &str {
    let b = uri.as_bytes();
    let scheme = |s: &[u8]| b.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s));
    if scheme(b"sip:") || scheme(b"sips:") {
        uri.split('?').next().unwrap_or(uri)
    } else {
        uri
    }
}

/// Bytes of a body, cheaply.
pub(crate) fn body_bytes(m: &Message) -> Bytes {
    let b = m.to_bytes();
    let len = m.body().len();
    b.slice(b.len() - len..)
}

/// The usual reason phrase of a status (RFC 3261 §21).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        410 => "Gone",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        482 => "Loop Detected",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match status / 100 {
            1 => "Trying",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// The Require option tags of `req` that we do not support (RFC 3261 §8.2.2.3), joined for
/// an `Unsupported` header; `None` when all are supported.
pub(crate) fn unsupported_requires(req: &Message, timer: bool) -> Option<String> {
    let tags: Vec<&str> = req
        .headers_of(HeaderKind::Require)
        .flat_map(|h| h.value().split(','))
        .map(str::trim)
        .filter(|t| !(t.is_empty() || timer && t.eq_ignore_ascii_case("timer")))
        .collect();
    (!tags.is_empty()).then(|| tags.join(", "))
}

/// A Warning value (RFC 3261 §20.43) with text safe in a quoted-string.
pub(crate) fn warning(code: u16, text: &str) -> String {
    let t: String = text
        .chars()
        .take(200)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("{code} freya \"{t}\"")
}

pub(crate) fn owned(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    extra
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        assert!(check_header("X-Freya-Call-Id", "a b").is_ok());
        assert!(check_header("X-İd", "1").is_err());
        assert!(check_header("Bad Name", "1").is_err());
        assert!(check_header("X-A", "1\r\nVia: x").is_err());
        assert!(check_header("", "1").is_err());
    }

    #[test]
    fn request_uri_drops_headers() {
        assert_eq!(request_uri_of("sip:a@b;lr?Subject=x"), "sip:a@b;lr");
        assert_eq!(request_uri_of("tel:+1415"), "tel:+1415");
        assert_eq!(request_uri_of("sé:x"), "sé:x");
    }
}
