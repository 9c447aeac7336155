//! Addresses in SDP: network and address types, the `o=` origin and the `c=` connection
//! (RFC 8866 §5.2, §5.7).

use std::fmt;
use std::net::IpAddr;

use super::field::{digits, err, FieldError};

/// Network type of an address (RFC 8866 §5.2, §8.2.6): `IN` for the Internet.
///
/// ```
/// use freya_sip::sdp::NetType;
/// assert_eq!("IN".parse::<NetType>(), Ok(NetType::In));
/// assert_eq!(NetType::In.to_string(), "IN");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetType {
    /// `IN`: Internet.
    In,
    /// Any other registered or private network type, as received.
    Other(String),
}

impl std::str::FromStr for NetType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<NetType, Self::Err> {
        Ok(if s.eq_ignore_ascii_case("IN") {
            NetType::In
        } else {
            NetType::Other(s.to_owned())
        })
    }
}

impl fmt::Display for NetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetType::In => f.write_str("IN"),
            NetType::Other(s) => f.write_str(s),
        }
    }
}

/// Address type (RFC 8866 §5.2, §8.2.7): `IP4` or `IP6`.
///
/// ```
/// use freya_sip::sdp::AddrType;
/// assert_eq!("IP6".parse::<AddrType>(), Ok(AddrType::Ip6));
/// assert_eq!(AddrType::Ip4.to_string(), "IP4");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
    /// Any other address type, as received.
    Other(String),
}

impl AddrType {
    /// `IP4` or `IP6`, whichever matches the address.
    pub fn of(ip: IpAddr) -> AddrType {
        match ip {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        }
    }
}

impl std::str::FromStr for AddrType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<AddrType, Self::Err> {
        Ok(if s.eq_ignore_ascii_case("IP4") {
            AddrType::Ip4
        } else if s.eq_ignore_ascii_case("IP6") {
            AddrType::Ip6
        } else {
            AddrType::Other(s.to_owned())
        })
    }
}

impl fmt::Display for AddrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrType::Ip4 => f.write_str("IP4"),
            AddrType::Ip6 => f.write_str("IP6"),
            AddrType::Other(s) => f.write_str(s),
        }
    }
}

fn parse_net(tokens: [&str; 2]) -> (NetType, AddrType) {
    let n = tokens[0].parse().unwrap_or(NetType::In);
    let a = tokens[1].parse().unwrap_or(AddrType::Ip4);
    (n, a)
}

/// The `o=` line: who created the session and which version of its description this is
/// (RFC 8866 §5.2; RFC 3264 §5 and §8 for the version rules in offer/answer).
///
/// `session_id` is kept as received (RFC 8866 asks for digits, but only its uniqueness
/// matters and some stacks send more digits than fit 64 bits);
/// `session_version` is a number because an offerer increments it.
///
/// ```
/// use freya_sip::sdp::{AddrType, Origin};
/// let o: Origin = "- 4711 4712 IN IP4 192.0.2.10".parse().unwrap();
/// assert_eq!((o.username.as_str(), o.session_id.as_str(), o.session_version), ("-", "4711", 4712));
/// assert_eq!(o.addr_type, AddrType::Ip4);
/// assert_eq!(o.address, "192.0.2.10");
/// assert_eq!(Origin::new(4711, 4712, "192.0.2.10".parse().unwrap()), o);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The originator's login on its host, `-` when it has none.
    pub username: String,
    /// A globally unique session identifier (digits, kept as received).
    pub session_id: String,
    /// The version of this session's description; increases by one each time it changes.
    pub session_version: u64,
    /// Network type, `IN`.
    pub net_type: NetType,
    /// Address type of [`Origin::address`].
    pub addr_type: AddrType,
    /// The originating host: an IP literal or a domain name.
    pub address: String,
}

impl Origin {
    /// An origin with username `-` for a session created at `address`.
    pub fn new(session_id: u64, session_version: u64, address: IpAddr) -> Origin {
        Origin {
            username: "-".to_owned(),
            session_id: session_id.to_string(),
            session_version,
            net_type: NetType::In,
            addr_type: AddrType::of(address),
            address: address.to_string(),
        }
    }

    pub(crate) fn parse(v: &str) -> Result<Origin, FieldError> {
        let t: Vec<&str> = v.split_ascii_whitespace().collect();
        let [username, id, version, net, addr, address] = t[..] else {
            return err(
                "o=",
                "expected <username> <sess-id> <sess-version> <nettype> <addrtype> <address>",
            );
        };
        let Some(session_version) = digits::<u64>(version) else {
            return err("o=", "the sess-version is not a number below 2^64");
        };
        let (net_type, addr_type) = parse_net([net, addr]);
        Ok(Origin {
            username: username.to_owned(),
            session_id: id.to_owned(),
            session_version,
            net_type,
            addr_type,
            address: address.to_owned(),
        })
    }
}

/// A placeholder origin, returned only if a description somehow lost its `o=` line.
pub(crate) static NO_ORIGIN: Origin = Origin {
    username: String::new(),
    session_id: String::new(),
    session_version: 0,
    net_type: NetType::In,
    addr_type: AddrType::Ip4,
    address: String::new(),
};

impl std::str::FromStr for Origin {
    type Err = super::SdpError;
    /// Parses the value of an `o=` line (without `o=`).
    fn from_str(s: &str) -> Result<Origin, super::SdpError> {
        Origin::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

/// The `c=` line: where media is received (RFC 8866 §5.7). `0.0.0.0` is the RFC 2543 way to
/// put a call on hold (RFC 3264 §8.4), see [`Connection::is_hold`].
///
/// ```
/// use freya_sip::sdp::Connection;
/// let c: Connection = "IN IP4 203.0.113.5".parse().unwrap();
/// assert_eq!(c.ip(), Some("203.0.113.5".parse().unwrap()));
/// assert!(!c.is_hold());
/// assert!("IN IP4 0.0.0.0".parse::<Connection>().unwrap().is_hold());
/// let v6 = Connection::new("2001:db8::7".parse().unwrap());
/// assert_eq!(v6.to_string(), "IN IP6 2001:db8::7");
/// let mc: Connection = "IN IP4 224.2.36.42/127/2".parse().unwrap();
/// assert_eq!((mc.ttl, mc.count), (Some(127), Some(2)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    /// Network type, `IN`.
    pub net_type: NetType,
    /// Address type of [`Connection::address`].
    pub addr_type: AddrType,
    /// The address: an IP literal or a domain name (without `/ttl` and `/count`).
    pub address: String,
    /// IPv4 multicast time-to-live (`/127`).
    pub ttl: Option<u8>,
    /// Number of multicast addresses (`/3`).
    pub count: Option<u32>,
}

impl Connection {
    /// `IN IP4 <ip>` or `IN IP6 <ip>`.
    pub fn new(ip: IpAddr) -> Connection {
        Connection {
            net_type: NetType::In,
            addr_type: AddrType::of(ip),
            address: ip.to_string(),
            ttl: None,
            count: None,
        }
    }

    /// The address as an IP, when it is an IP literal of the announced type.
    pub fn ip(&self) -> Option<IpAddr> {
        let ip: IpAddr = self.address.parse().ok()?;
        match (&self.addr_type, ip) {
            (AddrType::Ip4, IpAddr::V4(_)) | (AddrType::Ip6, IpAddr::V6(_)) => Some(ip),
            _ => None,
        }
    }

    /// Whether the address is `0.0.0.0` (or `::`): the peer asks not to be sent media, the
    /// RFC 2543 hold that RFC 3264 §8.4 says must still be understood.
    pub fn is_hold(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }

    pub(crate) fn parse(v: &str) -> Result<Connection, FieldError> {
        let t: Vec<&str> = v.split_ascii_whitespace().collect();
        let [net, addr, address] = t[..] else {
            return err("c=", "expected <nettype> <addrtype> <connection-address>");
        };
        let (net_type, addr_type) = parse_net([net, addr]);
        let mut c = Connection {
            net_type,
            addr_type,
            address: address.to_owned(),
            ttl: None,
            count: None,
        };
        if matches!(c.addr_type, AddrType::Ip4 | AddrType::Ip6) {
            let mut parts = address.split('/');
            let host = parts.next().unwrap_or_default();
            let a = parts.next();
            let b = parts.next();
            if parts.next().is_some() || host.is_empty() {
                return err("c=", "the address has more than two /-suffixes");
            }
            c.address = host.to_owned();
            match (&c.addr_type, a, b) {
                (_, None, _) => {}
                (AddrType::Ip4, Some(ttl), count) => {
                    let Some(ttl) = digits(ttl) else {
                        return err("c=", "the multicast TTL is not a number from 0 to 255");
                    };
                    c.ttl = Some(ttl);
                    if let Some(n) = count {
                        let Some(n) = digits(n) else {
                            return err("c=", "the address count is not a number");
                        };
                        c.count = Some(n);
                    }
                }
                (_, Some(n), None) => {
                    let Some(n) = digits(n) else {
                        return err("c=", "the address count is not a number");
                    };
                    c.count = Some(n);
                }
                (_, Some(_), Some(_)) => {
                    return err("c=", "an IP6 address takes at most one /count suffix");
                }
            }
        }
        Ok(c)
    }
}

impl std::str::FromStr for Connection {
    type Err = super::SdpError;
    /// Parses the value of a `c=` line (without `c=`).
    fn from_str(s: &str) -> Result<Connection, super::SdpError> {
        Connection::parse(s).map_err(|e| super::parse::value_error(s, e))
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)?;
        if let Some(ttl) = self.ttl {
            write!(f, "/{ttl}")?;
        }
        if let Some(n) = self.count {
            write!(f, "/{n}")?;
        }
        Ok(())
    }
}
