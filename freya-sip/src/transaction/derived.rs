//! Requests derived from an INVITE: the ACK for a non-2xx final response (RFC 3261
//! §17.1.1.3) and the CANCEL (§9.1).

use std::fmt::Write as _;

use bytes::Bytes;

use crate::message::{parse, HeaderKind, Message, Via};

use super::error::TransactionError;

/// The top Via value as received (case and parameters kept), rebuilt from its parts.
fn via_value(v: &Via<'_>) -> String {
    let mut s = format!(
        "{}/{}/{} {}",
        v.protocol_name, v.protocol_version, v.transport, v.host
    );
    if let Some(p) = v.port {
        let _ = write!(s, ":{p}");
    }
    s.push_str(v.params.as_str());
    s
}

fn raw_value(
    m: &Message,
    kind: HeaderKind,
    err: TransactionError,
) -> Result<String, TransactionError> {
    m.headers_of(kind)
        .next()
        .map(|h| h.unfolded().into_owned())
        .ok_or(err)
}

/// Start line, single Via, Route rows, Max-Forwards, From, To, Call-ID and CSeq of a request
/// derived from `req` (§9.1, §17.1.1.3); `to` is the To value to use.
fn derive(req: &Message, method: &str, to: &str) -> Result<String, TransactionError> {
    let ruri = req.request_uri().ok_or(TransactionError::NotARequest)?;
    let via = req.top_via().ok_or(TransactionError::MissingVia)?;
    let cseq = req.cseq().ok_or(TransactionError::MissingCSeq)?;
    req.from().ok_or(TransactionError::MissingFrom)?;
    let from = raw_value(req, HeaderKind::From, TransactionError::MissingFrom)?;
    let call_id = raw_value(req, HeaderKind::CallId, TransactionError::MissingCallId)?;
    let mut s = String::with_capacity(256 + req.as_bytes().len() / 4);
    let _ = write!(s, "{method} {ruri} SIP/2.0\r\nVia: {}\r\n", via_value(&via));
    for r in req.headers_of(HeaderKind::Route) {
        let _ = write!(s, "Route: {}\r\n", r.unfolded());
    }
    let _ = write!(
        s,
        "Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {} {method}\r\n",
        cseq.seq
    );
    Ok(s)
}

/// Builds the ACK a client INVITE transaction sends for a non-2xx final response
/// (RFC 3261 §17.1.1.3): the INVITE's Request-URI, Call-ID, From and CSeq number with
/// method ACK; the To header of the response (with its tag); one Via, equal to the INVITE's
/// top Via; the INVITE's Route headers; `Max-Forwards: 70`; no body.
/// [`ClientInvite`](super::ClientInvite) calls this itself; it is public for dialogs and
/// tests.
///
/// ```
/// use freya_sip::message::parse;
/// use freya_sip::transaction::build_ack;
/// let invite = parse(bytes::Bytes::from_static(
///     b"INVITE sip:+14155550100@trunk.example SIP/2.0\r\n\
///       Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb\r\n\
///       Route: <sip:edge.example;lr>\r\nFrom: <sip:freya@192.0.2.1>;tag=f\r\nTo: <sip:+14155550100@trunk.example>\r\n\
///       Call-ID: c@192.0.2.1\r\nCSeq: 314 INVITE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let busy = parse(bytes::Bytes::from_static(
///     b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport=5060\r\n\
///       From: <sip:freya@192.0.2.1>;tag=f\r\nTo: <sip:+14155550100@trunk.example>;tag=t\r\n\
///       Call-ID: c@192.0.2.1\r\nCSeq: 314 INVITE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let ack = build_ack(&invite, &busy).unwrap();
/// assert_eq!(ack.method(), Some("ACK"));
/// assert_eq!(ack.request_uri(), invite.request_uri());
/// assert_eq!(ack.vias().count(), 1);
/// assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKa"));
/// assert_eq!(ack.to().unwrap().tag(), Some("t"));
/// assert_eq!((ack.cseq().unwrap().seq, ack.cseq().unwrap().method), (314, "ACK"));
/// assert_eq!(ack.routes().count(), 1);
/// ```
///
/// # Errors
/// A [`TransactionError`] naming the header the INVITE or the response lacks.
pub fn build_ack(invite: &Message, response: &Message) -> Result<Message, TransactionError> {
    response.to().ok_or(TransactionError::MissingTo)?;
    let to = raw_value(response, HeaderKind::To, TransactionError::MissingTo)?;
    let mut s = derive(invite, "ACK", &to)?;
    s.push_str("Content-Length: 0\r\n\r\n");
    Ok(parse(Bytes::from(s))?)
}

/// Builds a CANCEL for a pending INVITE (RFC 3261 §9.1): the same Request-URI, Call-ID,
/// From, To (no tag added) and CSeq number as the INVITE, with method CANCEL; one Via,
/// equal to the INVITE's top Via (same branch, so the UAS finds the INVITE by it); the
/// INVITE's Route headers; then `extra` headers (a `Reason`, RFC 3326), checked like the
/// [`Editor`](crate::message::Editor) checks them. The
/// [`TransactionLayer`](super::TransactionLayer) builds and sends it with
/// [`cancel`](super::TransactionLayer::cancel).
///
/// ```
/// use freya_sip::message::parse;
/// use freya_sip::transaction::build_cancel;
/// let invite = parse(bytes::Bytes::from_static(
///     b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/TCP a.example;branch=z9hG4bK77\r\n\
///       From: <sip:alice@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\nCall-ID: k\r\n\
///       CSeq: 2 INVITE\r\nContact: <sip:alice@a.example>\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let cancel = build_cancel(&invite, &[("Reason", "SIP;cause=200;text=\"Call completed elsewhere\"")]).unwrap();
/// assert_eq!(cancel.method(), Some("CANCEL"));
/// assert_eq!(cancel.top_via().unwrap().branch(), Some("z9hG4bK77"));
/// assert_eq!(cancel.cseq().unwrap().method, "CANCEL");
/// assert!(cancel.to().unwrap().tag().is_none());
/// assert!(cancel.header("Reason").is_some());
/// assert!(build_cancel(&invite, &[("Bad Name", "x")]).is_err());
/// ```
///
/// # Errors
/// A [`TransactionError`] naming the header the INVITE lacks, or
/// [`TransactionError::ExtraHeader`] for an extra header refused.
pub fn build_cancel(invite: &Message, extra: &[(&str, &str)]) -> Result<Message, TransactionError> {
    invite.to().ok_or(TransactionError::MissingTo)?;
    let to = raw_value(invite, HeaderKind::To, TransactionError::MissingTo)?;
    let mut s = derive(invite, "CANCEL", &to)?;
    s.push_str("Content-Length: 0\r\n\r\n");
    let m = parse(Bytes::from(s))?;
    if extra.is_empty() {
        return Ok(m);
    }
    let mut e = m.edit();
    for (n, v) in extra {
        // Before Content-Length, which stays last.
        e.insert_header(m.header_count().saturating_sub(1), n, v)?;
    }
    Ok(e.finish()?)
}
