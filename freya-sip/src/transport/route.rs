//! Where messages go: responses per RFC 3261 §18.2.2 and RFC 3581 §4, our own sent-by for
//! Via and Contact, and the §18.1.1 rewrite of the top Via when a request changes
//! transport. Pure functions.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::message::{HeaderKind, Message, Via};

use super::error::TransportError;
use super::received::{host_ip, received_ip};
use super::TransportKind;

/// The port a `sip:` sent-by without a port means (RFC 3261 §19.1.2).
pub const DEFAULT_SIP_PORT: u16 = 5060;
/// The port a TLS sent-by without a port means.
pub const DEFAULT_SIPS_PORT: u16 = 5061;

/// Where a response goes (RFC 3261 §18.2.2), as [`response_destination`] decides.
///
/// ```
/// use freya_sip::transport::ResponseRoute;
/// let r = ResponseRoute::Datagram("192.0.2.1:5060".parse().unwrap());
/// assert_eq!(r.address(), "192.0.2.1:5060".parse().unwrap());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseRoute {
    /// Reliable transport: the connection the request came on (keyed by the peer's
    /// address); if it has closed, a new connection to `fallback` (the `received` address,
    /// else the sent-by IP, with the sent-by port or the transport's default).
    Connection {
        /// The peer the request came from.
        peer: SocketAddr,
        /// Where to connect when that connection is gone.
        fallback: Option<SocketAddr>,
    },
    /// Unreliable transport: one datagram to this address.
    Datagram(SocketAddr),
}

impl ResponseRoute {
    /// The address a response is sent to first.
    pub fn address(&self) -> SocketAddr {
        match *self {
            ResponseRoute::Connection { peer, .. } => peer,
            ResponseRoute::Datagram(a) => a,
        }
    }
}

/// Where the response to a request goes, from the request's top Via (as the transport
/// stamped it, see [`stamp_received`](super::stamp_received)), the address the request
/// came from, and the transport it came over (RFC 3261 §18.2.2, RFC 3581 §4):
/// - reliable (TCP, TLS): the connection it came on, else a new one to `received` (or the
///   sent-by IP) at the sent-by port (default 5060, 5061 for TLS);
/// - unreliable (UDP): the `maddr` when it is an IP literal, at the sent-by port;
///   else the `received` address at the `rport` port when filled in (RFC 3581), else at
///   the sent-by port (default 5060); else the sent-by IP itself.
///
/// ```
/// use freya_sip::message::Via;
/// use freya_sip::transport::{response_destination, ResponseRoute, TransportKind};
/// let src = "198.51.100.4:40000".parse().unwrap();
/// let via = |v| Via::parse_list(v).next().unwrap().unwrap();
/// // RFC 3581: rport filled in → back to the source port.
/// let v = via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=40000;received=198.51.100.4");
/// assert_eq!(response_destination(&v, src, TransportKind::Udp).unwrap(),
///            ResponseRoute::Datagram(src));
/// // RFC 3261 alone: received address, sent-by port.
/// let v = via("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1;received=198.51.100.4");
/// assert_eq!(response_destination(&v, src, TransportKind::Udp).unwrap(),
///            ResponseRoute::Datagram("198.51.100.4:5062".parse().unwrap()));
/// ```
///
/// # Errors
/// [`TransportError::NoResponseRoute`] for a Via whose sent-by is a host name with no
/// `received` (DNS is out of scope; a Via stamped on receipt always has `received` then).
pub fn response_destination(
    via: &Via<'_>,
    source: SocketAddr,
    kind: TransportKind,
) -> Result<ResponseRoute, TransportError> {
    let sent_by_port = via.port.unwrap_or(kind.default_port());
    let received = via.received().and_then(received_ip);
    let sent_by_ip = host_ip(via.host);
    if kind.is_stream() {
        let fallback = received
            .or(sent_by_ip)
            .map(|ip| SocketAddr::new(ip, sent_by_port));
        return Ok(ResponseRoute::Connection {
            peer: source,
            fallback,
        });
    }
    if let Some(ip) = via.maddr().and_then(host_ip) {
        return Ok(ResponseRoute::Datagram(SocketAddr::new(ip, sent_by_port)));
    }
    let port = match via.rport() {
        Some(Some(p)) => p,
        // An rport nobody filled in: the request's source port is what it asks for.
        Some(None) => source.port(),
        None => sent_by_port,
    };
    match received.or(sent_by_ip) {
        Some(ip) => Ok(ResponseRoute::Datagram(SocketAddr::new(ip, port))),
        None => Err(TransportError::NoResponseRoute {
            via: format!(
                "{}/{}/{} {}",
                via.protocol_name, via.protocol_version, via.transport, via.host
            ),
            reason:
                "sent-by is a host name and there is no received parameter (DNS is out of scope)",
        }),
    }
}

/// Our own address as written in Via sent-by and Contact: the advertised host (or the
/// bind IP) and port (IPv6 bracketed).
///
/// ```
/// use freya_sip::transport::{SentBy, TransportKind};
/// let s = SentBy { host: "[2001:db8::5]".into(), port: 5070 };
/// assert_eq!(s.to_string(), "[2001:db8::5]:5070");
/// assert_eq!(s.via(TransportKind::Tcp, "z9hG4bK1"), "SIP/2.0/TCP [2001:db8::5]:5070;branch=z9hG4bK1;rport");
/// assert_eq!(s.contact_uri(Some("freya"), TransportKind::Tcp), "sip:freya@[2001:db8::5]:5070;transport=tcp");
/// assert_eq!(s.contact_uri(None, TransportKind::Udp), "sip:[2001:db8::5]:5070");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SentBy {
    /// Host: IPv4 address, bracketed IPv6 address, or host name.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl SentBy {
    /// A top Via value for a request we send over `kind`, with `rport` asked for
    /// (RFC 3581 §3): `SIP/2.0/UDP host:port;branch=…;rport`.
    pub fn via(&self, kind: TransportKind, branch: &str) -> String {
        format!("SIP/2.0/{} {self};branch={branch};rport", kind.via_token())
    }

    /// A Contact URI reaching us over `kind` (`;transport=tcp` unless UDP).
    pub fn contact_uri(&self, user: Option<&str>, kind: TransportKind) -> String {
        let mut s = String::from("sip:");
        if let Some(u) = user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.to_string());
        if let Some(t) = kind.uri_param() {
            s.push_str(";transport=");
            s.push_str(t);
        }
        s
    }
}

impl fmt::Display for SentBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Rewrites the transport token of a request's top Via (RFC 3261 §18.1.1: "if this causes
/// a change in the transport protocol from the one indicated in the top Via, the value in
/// the top Via MUST be changed"). Only that token changes; `Ok(None)` when it already
/// says `kind` or the message has no Via.
///
/// ```
/// use freya_sip::message::parse;
/// use freya_sip::transport::{force_transport, TransportKind};
/// let m = parse(bytes::Bytes::from_static(
///     b"INVITE sip:b@y SIP/2.0\r\nv: SIP/2.0/UDP a:5060;branch=z9hG4bK1;rport\r\n\
///       From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n")).unwrap();
/// let m = force_transport(&m, TransportKind::Tcp).unwrap().unwrap();
/// assert_eq!(m.header("Via").unwrap().value(), "SIP/2.0/TCP a:5060;branch=z9hG4bK1;rport");
/// ```
///
/// # Errors
/// [`TransportError::ViaRewrite`] when the edited message does not parse.
pub fn force_transport(
    msg: &Message,
    kind: TransportKind,
) -> Result<Option<Message>, TransportError> {
    let Some(field) = msg.headers_of(HeaderKind::Via).next() else {
        return Ok(None);
    };
    let value = field.unfolded();
    let Some(Ok(via)) = Via::parse_list(&value).next() else {
        return Ok(None);
    };
    if via.transport.eq_ignore_ascii_case(kind.via_token()) {
        return Ok(None);
    }
    let err = |reason: String| TransportError::ViaRewrite {
        via: value.to_string(),
        reason,
    };
    let start = (via.transport.as_ptr() as usize)
        .checked_sub(value.as_ptr() as usize)
        .filter(|s| s + via.transport.len() <= value.len())
        .ok_or_else(|| err("transport token not inside the Via value".into()))?;
    let mut out = value.to_string();
    out.replace_range(start..start + via.transport.len(), kind.via_token());
    let mut editor = msg.edit();
    editor
        .set_header_at(field.index(), &out)
        .map_err(|e| err(e.to_string()))?;
    editor.finish().map(Some).map_err(|e| err(e.to_string()))
}

/// `ip` as a socket of family `local` can reach it: an IPv4 address from an IPv6 socket
/// becomes IPv4-mapped; `None` for IPv6 from an IPv4 socket.
pub(crate) fn for_socket(local: SocketAddr, dest: SocketAddr) -> Option<SocketAddr> {
    match (local.ip(), dest.ip()) {
        (IpAddr::V6(_), IpAddr::V4(v4)) => Some(SocketAddr::new(
            IpAddr::V6(v4.to_ipv6_mapped()),
            dest.port(),
        )),
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| SocketAddr::new(IpAddr::V4(v4), dest.port())),
        _ => Some(dest),
    }
}

/// An address as the stack shows it: an IPv4-mapped IPv6 address as plain IPv4.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(via: &str, src: &str, kind: TransportKind) -> Result<ResponseRoute, TransportError> {
        let v = Via::parse_list(via).next().unwrap().unwrap();
        response_destination(&v, src.parse().unwrap(), kind)
    }

    fn dgram(a: &str) -> ResponseRoute {
        ResponseRoute::Datagram(a.parse().unwrap())
    }

    #[test]
    fn udp_rules() {
        let src = "198.51.100.4:40000";
        let u = TransportKind::Udp;
        // Plain sent-by, same host: sent-by port, or 5060.
        assert_eq!(
            route("SIP/2.0/UDP 198.51.100.4:5070;branch=z9hG4bK1", src, u).unwrap(),
            dgram("198.51.100.4:5070")
        );
        assert_eq!(
            route("SIP/2.0/UDP 198.51.100.4;branch=z9hG4bK1", src, u).unwrap(),
            dgram("198.51.100.4:5060")
        );
        // received: its address, sent-by port.
        assert_eq!(
            route(
                "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;received=198.51.100.4",
                src,
                u
            )
            .unwrap(),
            dgram("198.51.100.4:5060")
        );
        // rport filled: its port; rport empty: the source port.
        assert_eq!(
            route(
                "SIP/2.0/UDP 10.0.0.1:5070;rport=40000;received=198.51.100.4",
                src,
                u
            )
            .unwrap(),
            dgram(src)
        );
        assert_eq!(
            route("SIP/2.0/UDP 198.51.100.4:5070;rport", src, u).unwrap(),
            dgram(src)
        );
        // maddr (an IP) wins, with the sent-by port.
        assert_eq!(
            route(
                "SIP/2.0/UDP 10.0.0.1:5070;maddr=239.1.2.3;ttl=1;received=198.51.100.4",
                src,
                u
            )
            .unwrap(),
            dgram("239.1.2.3:5070")
        );
        // maddr as a host name: no DNS, received is used.
        assert_eq!(
            route(
                "SIP/2.0/UDP 10.0.0.1:5070;maddr=mc.example;received=198.51.100.4",
                src,
                u
            )
            .unwrap(),
            dgram("198.51.100.4:5070")
        );
        // Host name, no received: no route (and the error names the Via).
        let e = route("SIP/2.0/UDP pbx.example;branch=z9hG4bK1", src, u)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pbx.example"), "{e}");
        // IPv6.
        assert_eq!(
            route(
                "SIP/2.0/UDP [2001:db8::1]:5080;rport=4000;received=2001:db8::9",
                "[2001:db8::9]:4000",
                u
            )
            .unwrap(),
            dgram("[2001:db8::9]:4000")
        );
    }

    #[test]
    fn stream_rules() {
        let r = route(
            "SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK1;received=198.51.100.4;rport=40000",
            "198.51.100.4:40000",
            TransportKind::Tcp,
        )
        .unwrap();
        assert_eq!(
            r,
            ResponseRoute::Connection {
                peer: "198.51.100.4:40000".parse().unwrap(),
                fallback: Some("198.51.100.4:5070".parse().unwrap())
            }
        );
        let r = route(
            "SIP/2.0/TLS [::1];branch=z9hG4bK1",
            "[::1]:40000",
            TransportKind::Tls,
        )
        .unwrap();
        assert_eq!(
            r,
            ResponseRoute::Connection {
                peer: "[::1]:40000".parse().unwrap(),
                fallback: Some("[::1]:5061".parse().unwrap())
            }
        );
        let r = route(
            "SIP/2.0/TCP pbx.example;branch=z9hG4bK1",
            "192.0.2.1:4",
            TransportKind::Tcp,
        )
        .unwrap();
        assert_eq!(
            r,
            ResponseRoute::Connection {
                peer: "192.0.2.1:4".parse().unwrap(),
                fallback: None
            }
        );
    }

    #[test]
    fn families() {
        let v6: SocketAddr = "[::]:5060".parse().unwrap();
        let v4: SocketAddr = "0.0.0.0:5060".parse().unwrap();
        assert_eq!(
            for_socket(v6, "192.0.2.1:5".parse().unwrap()),
            Some("[::ffff:192.0.2.1]:5".parse().unwrap())
        );
        assert_eq!(for_socket(v4, "[::1]:5".parse().unwrap()), None);
        assert_eq!(
            for_socket(v4, "[::ffff:192.0.2.1]:5".parse().unwrap()),
            Some("192.0.2.1:5".parse().unwrap())
        );
        assert_eq!(
            canonical("[::ffff:192.0.2.1]:5".parse().unwrap()),
            "192.0.2.1:5".parse().unwrap()
        );
    }
}
