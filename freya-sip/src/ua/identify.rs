//! Who sent a request: the trunk whose `match` list holds the source address, a user
//! endpoint named in From, or nobody — and the caller's identity as that peer is trusted
//! to assert it (`trust_id_inbound`: P-Asserted-Identity, RFC 3325; Remote-Party-ID,
//! draft-ietf-sip-privacy-04).

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::message::{Message, NameAddr};

use super::config::{DtmfMode, TrunkConfig, UaConfig};

/// An address block: `203.0.113.0/24`, `2001:db8::/32`, or one address.
///
/// ```
/// use freya_sip::ua::Cidr;
/// let c = Cidr::parse("203.0.113.0/24").unwrap();
/// assert!(c.contains("203.0.113.77".parse().unwrap()));
/// assert!(!c.contains("203.0.114.1".parse().unwrap()));
/// // An IPv4 block matches an IPv4-mapped IPv6 source too.
/// assert!(c.contains("::ffff:203.0.113.9".parse().unwrap()));
/// assert!(Cidr::parse("203.0.113.0/33").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ip` or `ip/prefix`.
    ///
    /// # Errors
    /// A message saying what is wrong (not an address, prefix too long).
    pub fn parse(s: &str) -> Result<Cidr, &'static str> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| "not an IP address or CIDR block")?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err("the prefix length is out of range"),
            },
        };
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` lies in the block (IPv4-mapped IPv6 addresses compared as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// What kind of peer sent a call.
///
/// ```
/// use freya_sip::ua::PeerKind;
/// assert_eq!(serde_json::to_string(&PeerKind::Trunk).unwrap(), "\"trunk\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerKind {
    /// A carrier trunk, identified by source IP.
    Trunk,
    /// A user endpoint that passed a digest challenge.
    Endpoint,
    /// Nobody configured, served because `unknown_source = "accept"`.
    Anonymous,
}

/// The configured peer a request came from, with the knobs that apply to its calls.
///
/// ```
/// use freya_sip::ua::{identify_source, TrunkConfig, UaConfig, PeerKind};
/// let mut c = UaConfig::default();
/// c.trunks.push(TrunkConfig::new("carrier", &["198.51.100.0/24"]));
/// let p = identify_source(&c, "198.51.100.7:5060".parse().unwrap()).unwrap();
/// assert_eq!((p.kind, p.name.as_str(), p.context.as_str()), (PeerKind::Trunk, "carrier", "from-trunk"));
/// assert!(identify_source(&c, "192.0.2.1:5060".parse().unwrap()).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// Trunk, endpoint or anonymous.
    pub kind: PeerKind,
    /// The trunk's name or the endpoint's username (`anonymous` otherwise).
    pub name: String,
    /// The routing context its calls enter.
    pub context: String,
    /// Whether its P-Asserted-Identity / Remote-Party-ID are believed.
    pub trust_id_inbound: bool,
    /// Whether its Contact is rewritten to its source address.
    pub rewrite_contact: bool,
    /// Whether responses go to its source port regardless of `rport`.
    pub force_rport: bool,
    /// Its codecs (`ulaw`, `alaw`), in preference order.
    pub codecs: Vec<String>,
    /// Its DTMF mode.
    pub dtmf_mode: DtmfMode,
}

/// The trunk whose `match` list holds `source`'s IP (the first in config order).
pub fn identify_source(config: &UaConfig, source: SocketAddr) -> Option<Peer> {
    let ip = source.ip();
    config
        .trunks
        .iter()
        .find(|t| {
            t.match_
                .iter()
                .any(|m| Cidr::parse(m).is_ok_and(|c| c.contains(ip)))
        })
        .map(Peer::of_trunk)
}

impl Peer {
    /// The peer a trunk is, with its knobs.
    pub fn of_trunk(t: &TrunkConfig) -> Peer {
        Peer {
            kind: PeerKind::Trunk,
            name: t.name.clone(),
            context: t.context.clone(),
            trust_id_inbound: t.trust_id_inbound,
            rewrite_contact: t.rewrite_contact,
            force_rport: t.force_rport,
            codecs: t.codecs.clone(),
            dtmf_mode: t.dtmf_mode,
        }
    }
}

/// The endpoint named `username`, as a peer.
pub(crate) fn endpoint_peer(config: &UaConfig, username: &str) -> Option<Peer> {
    config
        .endpoints
        .iter()
        .find(|e| e.username == username)
        .map(|e| Peer {
            kind: PeerKind::Endpoint,
            name: e.username.clone(),
            context: e.context.clone(),
            trust_id_inbound: false,
            rewrite_contact: true,
            force_rport: true,
            codecs: e.codecs.clone(),
            dtmf_mode: e.dtmf_mode,
        })
}

/// The peer served when `unknown_source = "accept"`.
pub(crate) fn anonymous_peer() -> Peer {
    Peer {
        kind: PeerKind::Anonymous,
        name: "anonymous".into(),
        context: "default".into(),
        trust_id_inbound: false,
        rewrite_contact: false,
        force_rport: false,
        codecs: vec!["ulaw".into(), "alaw".into()],
        dtmf_mode: DtmfMode::Rfc4733,
    }
}

/// One side of a call as an application shows it: display name, URI and its user part.
///
/// ```
/// use freya_sip::ua::Party;
/// let p = Party::from_name_addr(Some("Alice"), "sip:+14155550100@carrier.example;user=phone");
/// assert_eq!(p.user.as_deref(), Some("+14155550100"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    /// The display name, unquoted, when there is one.
    pub display_name: Option<String>,
    /// The URI, as written.
    pub uri: String,
    /// The URI's user part (the phone number on a trunk), when it has one.
    pub user: Option<String>,
}

impl Party {
    /// From a display name and a URI.
    pub fn from_name_addr(display_name: Option<&str>, uri: &str) -> Party {
        Party {
            display_name: display_name
                .map(|d| d.trim().trim_matches('"').to_owned())
                .filter(|d| !d.is_empty()),
            uri: uri.to_owned(),
            user: uri_user(uri),
        }
    }

    fn of(na: &NameAddr<'_>) -> Party {
        Party {
            user: na.user().map(str::to_owned),
            ..Party::from_name_addr(na.display_name().as_deref(), na.uri)
        }
    }
}

/// The user part of a `sip:`/`sips:` URI, or the number of a `tel:` URI.
fn uri_user(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"));
    let rest = rest?;
    if uri.starts_with("tel:") {
        return Some(rest.split(';').next().unwrap_or(rest).to_owned());
    }
    rest.split_once('@').map(|(u, _)| {
        u.split(';')
            .next()
            .unwrap_or(u)
            .split(':')
            .next()
            .unwrap_or(u)
            .to_owned()
    })
}

/// The caller: the first P-Asserted-Identity, else Remote-Party-ID, else From — the first
/// two only when the peer is trusted (`trust_id_inbound`, RFC 3325 §9.1).
pub(crate) fn caller_of(m: &Message, trusted: bool) -> Option<Party> {
    if trusted {
        if let Some(Ok(p)) = m.p_asserted_identities().next() {
            return Some(Party::of(&p));
        }
        if let Some(Ok(r)) = m.remote_party_ids().next() {
            return Some(Party::of(&r));
        }
    }
    m.from().map(|f| Party::of(&f))
}

/// The callee: the To of the INVITE (its Request-URI when To is odd).
pub(crate) fn callee_of(m: &Message) -> Option<Party> {
    m.to().map(|t| Party::of(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;
    use crate::ua::TrunkConfig;

    fn invite(extra: &str) -> Message {
        let s = format!(
            "INVITE sip:+14155550100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1\r\n\
             From: \"Spoofed\" <sip:+15550000000@198.51.100.7>;tag=a\r\nTo: <sip:+14155550100@192.0.2.10>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        parse(bytes::Bytes::from(s)).unwrap()
    }

    #[test]
    fn cidr_edges() {
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        let one = Cidr::parse("198.51.100.7").unwrap();
        assert!(one.contains("198.51.100.7".parse().unwrap()));
        assert!(!one.contains("198.51.100.8".parse().unwrap()));
        assert!(Cidr::parse("198.51.100.7/").is_err());
        assert!(Cidr::parse("2001:db8::/129").is_err());
        assert!(Cidr::parse("carrier.example").is_err());
    }

    #[test]
    fn first_matching_trunk_wins() {
        let mut c = UaConfig::default();
        c.trunks.push(TrunkConfig::new("narrow", &["198.51.100.7"]));
        c.trunks
            .push(TrunkConfig::new("wide", &["198.51.100.0/24"]));
        let src = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            identify_source(&c, src("198.51.100.7:5060")).unwrap().name,
            "narrow"
        );
        assert_eq!(
            identify_source(&c, src("198.51.100.8:5060")).unwrap().name,
            "wide"
        );
        assert!(identify_source(&c, src("[::ffff:198.51.100.9]:5060")).is_some());
    }

    #[test]
    fn caller_id_follows_trust() {
        let m =
            invite("P-Asserted-Identity: \"Carrier Says\" <sip:+14155551234@carrier.example>\r\n");
        assert_eq!(
            caller_of(&m, true).unwrap().user.as_deref(),
            Some("+14155551234")
        );
        assert_eq!(
            caller_of(&m, true).unwrap().display_name.as_deref(),
            Some("Carrier Says")
        );
        assert_eq!(
            caller_of(&m, false).unwrap().user.as_deref(),
            Some("+15550000000")
        );
        let m = invite("Remote-Party-ID: \"R\" <sip:+14155559999@carrier.example>;party=calling;screen=yes\r\n");
        assert_eq!(
            caller_of(&m, true).unwrap().user.as_deref(),
            Some("+14155559999")
        );
        let m = invite("");
        assert_eq!(
            caller_of(&m, true).unwrap().display_name.as_deref(),
            Some("Spoofed")
        );
        assert_eq!(callee_of(&m).unwrap().user.as_deref(), Some("+14155550100"));
        assert_eq!(
            uri_user("tel:+14155550100;phone-context=x").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(uri_user("sip:carrier.example"), None);
    }
}
