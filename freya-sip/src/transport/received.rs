//! Receiving a request (RFC 3261 §18.2.1, RFC 3581 §4): record in its top Via where it
//! really came from, so that the response can find its way back (§18.2.2).

use std::net::{IpAddr, SocketAddr};

use crate::message::{EditError, HeaderKind, Message, Via};

/// Stamps the top Via of a received request with where it came from:
/// - `received=<source IP>` when the sent-by host is not the source IP (a host name, or
///   another address: NAT), and always when `rport` is asked for (RFC 3581 §4 says so);
/// - `rport=<source port>` when the Via carries `rport` (empty, as RFC 3581 asks clients to
///   send it), or on every request when `force_rport` is set (Asterisk's knob).
///
/// A `received` or `rport` the sender filled in itself is overwritten. Only the top Via
/// value changes: the rest of that header row (further comma-separated Vias, a fold turned
/// into one line) and every other header stay byte-exact (the message [`Editor`]'s
/// `set_header_at`). `Ok(None)` when nothing needed to change, and for responses.
///
/// [`Editor`]: crate::message::Editor
///
/// ```
/// use freya_sip::message::parse;
/// use freya_sip::transport::stamp_received;
/// let req = parse(bytes::Bytes::from_static(
///     b"OPTIONS sip:b@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/UDP pbx.example.com:5062;branch=z9hG4bK7;rport\r\n\
///       From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
/// )).unwrap();
/// let stamped = stamp_received(&req, "198.51.100.4:40000".parse().unwrap(), false).unwrap().unwrap();
/// let via = stamped.top_via().unwrap();
/// assert_eq!(via.received(), Some("198.51.100.4"));
/// assert_eq!(via.rport(), Some(Some(40000)));
/// assert_eq!(stamped.header("Via").unwrap().value(),
///            "SIP/2.0/UDP pbx.example.com:5062;branch=z9hG4bK7;rport=40000;received=198.51.100.4");
/// ```
///
/// # Errors
/// What the [`Editor`] refuses (the edited message no longer parses), which a Via the parser
/// accepted does not cause.
pub fn stamp_received(
    msg: &Message,
    source: SocketAddr,
    force_rport: bool,
) -> Result<Option<Message>, EditError> {
    if !msg.is_request() {
        return Ok(None);
    }
    let Some(field) = msg.headers_of(HeaderKind::Via).next() else {
        return Ok(None);
    };
    let value = field.unfolded();
    let Some(Ok(via)) = Via::parse_list(&value).next() else {
        return Ok(None);
    };
    let Some(edits) = plan(&value, &via, source, force_rport) else {
        return Ok(None);
    };
    let mut out = value.to_string();
    for (start, end, text) in edits.into_iter().rev() {
        out.replace_range(start..end, &text);
    }
    let mut editor = msg.edit();
    editor.set_header_at(field.index(), &out)?;
    editor.finish().map(Some)
}

/// The edits (byte range of `value`, replacement), in increasing order; `None` when the
/// Via is already right.
fn plan(
    value: &str,
    via: &Via<'_>,
    source: SocketAddr,
    force_rport: bool,
) -> Option<Vec<(usize, usize, String)>> {
    let src_ip = source.ip().to_canonical();
    let host_ip = host_ip(via.host);
    let want_rport = force_rport || via.rport().is_some();
    let has_received = via.received().is_some();
    let need_received = want_rport || has_received || host_ip != Some(src_ip);
    let ip_text = src_ip.to_string();
    let port_text = source.port().to_string();

    let params = via.params.as_str();
    let params_end = offset_in(value, params)? + params.len();
    let mut edits = Vec::new();
    let (mut rport_seen, mut received_seen) = (false, false);
    for (name, v) in via.params.iter() {
        if name.eq_ignore_ascii_case("rport") && !rport_seen {
            rport_seen = true;
            if !want_rport {
                continue;
            }
            match v {
                None => {
                    let at = offset_in(value, name)? + name.len();
                    edits.push((at, at, format!("={port_text}")));
                }
                Some(v) if v != port_text => {
                    let at = offset_in(value, v)?;
                    edits.push((at, at + v.len(), port_text.clone()));
                }
                Some(_) => {}
            }
        } else if name.eq_ignore_ascii_case("received") && !received_seen {
            received_seen = true;
            if let Some(v) = v {
                let same = received_ip(v) == Some(src_ip);
                if need_received && !same {
                    let at = offset_in(value, v)?;
                    edits.push((at, at + v.len(), ip_text.clone()));
                }
            }
        }
    }
    if want_rport && !rport_seen {
        edits.push((params_end, params_end, format!(";rport={port_text}")));
    }
    if need_received && !received_seen {
        edits.push((params_end, params_end, format!(";received={ip_text}")));
    }
    (!edits.is_empty()).then_some(edits)
}

/// The IP of a sent-by host, when it is a literal (IPv6 in brackets), canonical (an
/// IPv4-mapped IPv6 address counts as IPv4).
pub(crate) fn host_ip(host: &str) -> Option<IpAddr> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The IP of a `received` value (IPv6 bare, as RFC 5118 writes it, or bracketed).
pub(crate) fn received_ip(v: &str) -> Option<IpAddr> {
    host_ip(v)
}

/// Where `sub` (a slice of `base`) starts in `base`.
fn offset_in(base: &str, sub: &str) -> Option<usize> {
    let b = base.as_ptr() as usize;
    let s = sub.as_ptr() as usize;
    (s >= b && s + sub.len() <= b + base.len()).then(|| s - b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;
    use bytes::Bytes;

    fn req(via: &str) -> Message {
        parse(Bytes::from(format!(
            "OPTIONS sip:b@192.0.2.9 SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@x>;tag=1\r\n\
             To: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nX-Keep:  as  is \r\n\
             Content-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    fn stamp(via: &str, src: &str, force: bool) -> Option<String> {
        let m = req(via);
        let out = stamp_received(&m, src.parse().unwrap(), force).unwrap()?;
        let s = String::from_utf8(out.to_bytes().to_vec()).unwrap();
        assert!(s.contains("\r\nX-Keep:  as  is \r\n"), "{s}");
        Some(out.header("Via").unwrap().value().to_owned())
    }

    #[test]
    fn same_host_no_rport_is_untouched() {
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
                "192.0.2.1:5060",
                false
            ),
            None
        );
        // Another source port without rport: RFC 3261 does not record the port.
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
                "192.0.2.1:6000",
                false
            ),
            None
        );
    }

    #[test]
    fn other_host_gets_received() {
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
                "192.0.2.1:5060",
                false
            )
            .as_deref(),
            Some("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.1")
        );
        assert_eq!(
            stamp(
                "SIP/2.0/TCP pbx.example;branch=z9hG4bK1",
                "192.0.2.1:5060",
                false
            )
            .as_deref(),
            Some("SIP/2.0/TCP pbx.example;branch=z9hG4bK1;received=192.0.2.1")
        );
    }

    #[test]
    fn empty_rport_filled_in_place_and_received_always_added() {
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK1",
                "192.0.2.1:6000",
                false
            )
            .as_deref(),
            Some("SIP/2.0/UDP 192.0.2.1:5060;rport=6000;branch=z9hG4bK1;received=192.0.2.1")
        );
    }

    #[test]
    fn force_rport_adds_it() {
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
                "192.0.2.1:6000",
                true
            )
            .as_deref(),
            Some("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=6000;received=192.0.2.1")
        );
    }

    #[test]
    fn senders_own_values_are_overwritten() {
        assert_eq!(
            stamp(
                "SIP/2.0/UDP h;received=1.1.1.1;rport=9;branch=z9hG4bK1",
                "192.0.2.1:6000",
                false
            )
            .as_deref(),
            Some("SIP/2.0/UDP h;received=192.0.2.1;rport=6000;branch=z9hG4bK1")
        );
    }

    #[test]
    fn only_the_top_via_of_a_row_changes() {
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport , SIP/2.0/UDP 10.0.0.2;rport",
                "192.0.2.1:7",
                false
            )
            .as_deref(),
            Some("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=7;received=192.0.2.1 , SIP/2.0/UDP 10.0.0.2;rport")
        );
    }

    #[test]
    fn ipv6_and_mapped_sources() {
        assert_eq!(
            stamp(
                "SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1;rport",
                "[::1]:40000",
                false
            )
            .as_deref(),
            Some("SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1;rport=40000;received=::1")
        );
        let m = req("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1");
        let out = stamp_received(&m, "[2001:db8::2]:5060".parse().unwrap(), false)
            .unwrap()
            .unwrap();
        assert_eq!(out.top_via().unwrap().received(), Some("2001:db8::2"));
        // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d: same host.
        assert_eq!(
            stamp(
                "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
                "[::ffff:192.0.2.1]:5060",
                false
            ),
            None
        );
    }

    #[test]
    fn folded_via_is_unfolded_and_stamped() {
        let m = parse(Bytes::from_static(
            b"OPTIONS sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n  ;branch=z9hG4bK1\r\n\
              From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
        ))
        .unwrap();
        let out = stamp_received(&m, "192.0.2.1:5060".parse().unwrap(), false)
            .unwrap()
            .unwrap();
        assert_eq!(out.top_via().unwrap().received(), Some("192.0.2.1"));
        assert_eq!(out.top_via().unwrap().branch(), Some("z9hG4bK1"));
    }

    #[test]
    fn responses_are_not_stamped() {
        let m = parse(Bytes::from_static(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport\r\n\
              From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
        ))
        .unwrap();
        assert!(stamp_received(&m, "192.0.2.1:5060".parse().unwrap(), true)
            .unwrap()
            .is_none());
    }
}
