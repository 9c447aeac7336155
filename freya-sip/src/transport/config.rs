//! [`TransportConfig`]: where to listen, what to advertise, and the transport knobs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::message::Limits;

use super::error::TransportError;

/// What a [`Transport`](super::Transport) binds and how it behaves. Plain data: the root
/// crate's serde config maps its trunk/endpoint keys onto it (`force_rport` keeps
/// Asterisk's name).
///
/// ```
/// use std::time::Duration;
/// use freya_sip::transport::TransportConfig;
/// let mut c = TransportConfig::new("0.0.0.0:5060".parse().unwrap());
/// assert!(c.validate().is_err()); // a wildcard bind needs an advertised host
/// c.advertised_host = Some("203.0.113.5".into());
/// c.force_rport = true;
/// c.tcp_idle_timeout = Duration::from_secs(60);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// The local address UDP and TCP bind (both on the same port). Port 0 picks a free
    /// port (UDP first, TCP on the same number). An IPv6 wildcard (`[::]`) also serves
    /// IPv4 peers where the system allows dual-stack sockets (Linux does by default).
    pub bind: SocketAddr,
    /// The host written in our Via sent-by and Contact (a public IP or name, for NAT):
    /// `None` uses the bind IP, which then must not be a wildcard.
    pub advertised_host: Option<String>,
    /// The port written in Via sent-by and Contact: `None` uses the bound port.
    pub advertised_port: Option<u16>,
    /// Whether to serve UDP (default `true`).
    pub udp: bool,
    /// Whether to serve TCP, listening and connecting (default `true`).
    pub tcp: bool,
    /// Asterisk's `force_rport`: treat every request as if its top Via carried an empty
    /// `rport` (RFC 3581): the source port is recorded and responses go back to it
    /// (default `false`).
    pub force_rport: bool,
    /// A TCP connection with no traffic in either direction for this long is closed
    /// (default 300 s).
    pub tcp_idle_timeout: Duration,
    /// How long connecting to a peer may take (default 5 s).
    pub tcp_connect_timeout: Duration,
    /// RFC 3261 §18.1.1: a request larger than this many bytes that would go over UDP is
    /// sent over TCP instead, its top Via rewritten to say so. The RFC's threshold is
    /// 1300 (`Some(1300)`); the default is `None` (off), as Asterisk's
    /// `disable_tcp_switch=yes`, because many trunks do not listen on TCP. Needs `tcp`.
    pub udp_mtu_switch: Option<usize>,
    /// Parser limits, per datagram and per framed stream message.
    pub limits: Limits,
    /// Most simultaneous TCP connections, accepted and opened (default 1024); an accept
    /// beyond it is closed at once and counted.
    pub max_connections: usize,
    /// Messages queued for writing on one connection before a send fails with
    /// [`TransportError::QueueFull`] (default 256).
    pub connection_queue: usize,
    /// Capacity of the channel carrying received messages to their consumer (default
    /// 1024); when full, reading pauses (back-pressure on the sockets).
    pub inbound_queue: usize,
}

impl TransportConfig {
    /// The defaults, bound to `bind`.
    pub fn new(bind: SocketAddr) -> TransportConfig {
        TransportConfig {
            bind,
            advertised_host: None,
            advertised_port: None,
            udp: true,
            tcp: true,
            force_rport: false,
            tcp_idle_timeout: Duration::from_secs(300),
            tcp_connect_timeout: Duration::from_secs(5),
            udp_mtu_switch: None,
            limits: Limits::default(),
            max_connections: 1024,
            connection_queue: 256,
            inbound_queue: 1024,
        }
    }

    /// Checks the values; the error names the key and the offending value.
    ///
    /// # Errors
    /// [`TransportError::Config`].
    pub fn validate(&self) -> Result<(), TransportError> {
        let bad = |key: &'static str, value: String, reason: &'static str| {
            Err(TransportError::Config { key, value, reason })
        };
        if !self.udp && !self.tcp {
            return bad(
                "udp",
                "false".into(),
                "at least one of udp and tcp must be on",
            );
        }
        match &self.advertised_host {
            Some(h) if !valid_host(h) => {
                return bad(
                    "advertised_host",
                    h.clone(),
                    "not an IP address or a host name",
                );
            }
            Some(_) => {}
            None if self.bind.ip().is_unspecified() => {
                return bad(
                    "advertised_host",
                    String::new(),
                    "required when bind is a wildcard address",
                );
            }
            None => {}
        }
        if self.advertised_port == Some(0) {
            return bad("advertised_port", "0".into(), "must be 1-65535");
        }
        if self.tcp_idle_timeout.is_zero() {
            return bad("tcp_idle_timeout", "0s".into(), "must be > 0");
        }
        if self.tcp_connect_timeout.is_zero() {
            return bad("tcp_connect_timeout", "0s".into(), "must be > 0");
        }
        if let Some(n) = self.udp_mtu_switch {
            if !self.tcp {
                return bad("udp_mtu_switch", n.to_string(), "needs tcp = true");
            }
        }
        for (key, v) in [
            ("max_connections", self.max_connections),
            ("connection_queue", self.connection_queue),
            ("inbound_queue", self.inbound_queue),
        ] {
            if v == 0 {
                return bad(key, "0".into(), "must be > 0");
            }
        }
        Ok(())
    }

    /// The host for Via sent-by and Contact: the advertised host (an IPv6 address
    /// bracketed), else the bind IP.
    pub(crate) fn sent_by_host(&self) -> String {
        match &self.advertised_host {
            Some(h) => match h.parse::<IpAddr>() {
                Ok(IpAddr::V6(a)) => format!("[{a}]"),
                _ => h.clone(),
            },
            None => match self.bind.ip() {
                IpAddr::V6(a) => format!("[{a}]"),
                IpAddr::V4(a) => a.to_string(),
            },
        }
    }
}

/// An IP literal (IPv6 with or without brackets) or an RFC 3261 hostname.
fn valid_host(h: &str) -> bool {
    let inner = h
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(h);
    if inner.parse::<IpAddr>().is_ok() {
        return true;
    }
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "203.0.113.5",
            "::1",
            "[2001:db8::1]",
            "sip.example.com",
            "a-b.c",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["", "a b", "-a.com", "a..b", "x;y", "[::1"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn sent_by_host_brackets_ipv6() {
        let mut c = TransportConfig::new("[::1]:5060".parse().unwrap());
        assert_eq!(c.sent_by_host(), "[::1]");
        c.advertised_host = Some("2001:db8::7".into());
        assert_eq!(c.sent_by_host(), "[2001:db8::7]");
        c.advertised_host = Some("sbc.example.com".into());
        assert_eq!(c.sent_by_host(), "sbc.example.com");
    }

    #[test]
    fn errors_name_the_key() {
        let mut c = TransportConfig::new("127.0.0.1:0".parse().unwrap());
        c.udp_mtu_switch = Some(1300);
        c.tcp = false;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("udp_mtu_switch") && e.contains("1300"), "{e}");
        c.tcp = true;
        c.advertised_host = Some("bad host".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("advertised_host") && e.contains("bad host"),
            "{e}"
        );
    }
}
