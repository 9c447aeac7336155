//! The UA's configuration: where it listens, the trunks and user endpoints it serves
//! (Asterisk's pjsip.conf knob names, DESIGN.md "Names"), and what happens to a request
//! from an address nobody configured. serde types: TOML for the server, dicts for Python,
//! objects for Node (DESIGN.md principle 5).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sdp::Codec;
use crate::transaction::TimerConfig;
use crate::transport::{TransportConfig, TransportKind};

use super::error::UaError;
use super::identify::Cidr;

/// What the UA does with a request whose source matches no trunk and that names no user
/// endpoint (`unknown_source`). Every such request is counted and logged whatever the policy.
///
/// ```
/// use freya_sip::ua::UnknownSource;
/// assert_eq!(UnknownSource::default(), UnknownSource::Reject);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSource {
    /// Answer `403 Forbidden` (the default).
    #[default]
    Reject,
    /// Send nothing back (scanners learn nothing); still counted and logged.
    Ignore,
    /// Serve it as an anonymous peer (a test UA such as `sip-ua listen`; never on a
    /// public address).
    Accept,
}

/// How a trunk's requests are recognised. Only `ip` (Asterisk's `identify_by=ip`, with
/// `match` addresses) exists: a carrier trunk does not authenticate per call.
///
/// ```
/// use freya_sip::ua::IdentifyBy;
/// assert_eq!(IdentifyBy::default(), IdentifyBy::Ip);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifyBy {
    /// By the source IP address (the trunk's `match` list).
    #[default]
    Ip,
}

/// How DTMF is carried (`dtmf_mode`).
///
/// ```
/// use freya_sip::ua::DtmfMode;
/// assert_eq!(DtmfMode::default(), DtmfMode::Rfc4733);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfMode {
    /// RTP telephone-event (RFC 4733), offered in SDP (the default).
    #[default]
    Rfc4733,
    /// SIP INFO with `application/dtmf-relay` only.
    Info,
}

/// The transport a trunk's outbound requests use.
///
/// ```
/// use freya_sip::ua::TrunkTransport;
/// assert_eq!(TrunkTransport::default(), TrunkTransport::Udp);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrunkTransport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

impl TrunkTransport {
    /// The transport kind.
    pub fn kind(self) -> TransportKind {
        match self {
            TrunkTransport::Udp => TransportKind::Udp,
            TrunkTransport::Tcp => TransportKind::Tcp,
        }
    }
}

/// Credentials we answer a digest challenge with (Asterisk's `type=auth`,
/// `auth_type=userpass`).
///
/// ```
/// use freya_sip::ua::AuthConfig;
/// let a = AuthConfig { username: "acme".into(), password: "s3cret".into(), realm: None };
/// assert!(a.realm.is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// Only answer challenges for this realm (any realm when absent).
    #[serde(default)]
    pub realm: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    // Never print a password into a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// An outbound registration (Asterisk's `type=registration`): REGISTER `client_uri` at
/// `server_uri` every `expiration` seconds, refreshed before it runs out.
///
/// ```
/// use freya_sip::ua::RegistrationConfig;
/// let r: RegistrationConfig = serde_json::from_str(
///     r#"{"server_uri":"sip:sip.carrier.example","client_uri":"sip:acme@sip.carrier.example"}"#).unwrap();
/// assert_eq!(r.expiration, 3600);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// The registrar's URI (the REGISTER's Request-URI).
    pub server_uri: String,
    /// The address of record (To and From).
    pub client_uri: String,
    /// The user part of our Contact (default: the AOR's user).
    #[serde(default)]
    pub contact_user: Option<String>,
    /// The registration interval asked for, in seconds (default 3600).
    #[serde(default = "default_expiration")]
    pub expiration: u32,
}

fn default_expiration() -> u32 {
    3600
}

/// A carrier trunk: who it is (`match`), where our calls to it go (`host`), and the
/// template knobs of DESIGN.md with Asterisk's names and freya's defaults.
///
/// ```
/// use freya_sip::ua::TrunkConfig;
/// let t: TrunkConfig = toml::from_str(r#"
///     name = "carrier"
///     match = ["203.0.113.0/24", "198.51.100.7"]
///     host = "198.51.100.7:5060"
/// "#).unwrap();
/// assert!(t.trust_id_inbound && t.rtp_symmetric && !t.direct_media);
/// assert_eq!(t.codecs, ["ulaw", "alaw"]);
/// assert_eq!(t.context, "from-trunk");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// The trunk's name, in events and log lines.
    pub name: String,
    /// How its requests are recognised (`ip`).
    #[serde(default)]
    pub identify_by: IdentifyBy,
    /// Addresses and CIDR blocks its requests come from (`203.0.113.0/24`, `2001:db8::1`).
    #[serde(rename = "match", default)]
    pub match_: Vec<String>,
    /// Where outbound calls on this trunk go: `ip:port` (or `ip`, port 5060).
    #[serde(default)]
    pub host: Option<String>,
    /// The transport of outbound requests.
    #[serde(default)]
    pub transport: TrunkTransport,
    /// Take the caller's identity from P-Asserted-Identity, then Remote-Party-ID, before
    /// From (default yes: a trunk asserts the caller).
    #[serde(default = "yes")]
    pub trust_id_inbound: bool,
    /// Replace the host and port of the peer's Contact with where its packets came from
    /// (NAT; default no).
    #[serde(default)]
    pub rewrite_contact: bool,
    /// Answer to the source port even without `rport` in the Via (RFC 3581; default no).
    #[serde(default)]
    pub force_rport: bool,
    /// Whether media may flow directly between the endpoints. freya always anchors media
    /// (`no`, the only value accepted): RTP-bleed protection and recording need it.
    #[serde(default)]
    pub direct_media: bool,
    /// Send RTP to where the peer's RTP comes from (default yes).
    #[serde(default = "yes")]
    pub rtp_symmetric: bool,
    /// Codecs in preference order: `ulaw`, `alaw` (default both).
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    /// How DTMF is carried (default `rfc4733`).
    #[serde(default)]
    pub dtmf_mode: DtmfMode,
    /// The routing context its calls enter (default `from-trunk`).
    #[serde(default = "default_trunk_context")]
    pub context: String,
    /// The user part of From on our calls when the caller names no caller id.
    #[serde(default)]
    pub from_user: Option<String>,
    /// The host part of From on our calls (default: our advertised address).
    #[serde(default)]
    pub from_domain: Option<String>,
    /// Credentials for the trunk's challenges (401/407 on INVITE, REGISTER).
    #[serde(default)]
    pub outbound_auth: Option<AuthConfig>,
    /// An outbound registration to keep up.
    #[serde(default)]
    pub registration: Option<RegistrationConfig>,
}

fn yes() -> bool {
    true
}

fn default_codecs() -> Vec<String> {
    vec!["ulaw".into(), "alaw".into()]
}

fn default_trunk_context() -> String {
    "from-trunk".into()
}

fn default_endpoint_context() -> String {
    "from-internal".into()
}

impl TrunkConfig {
    /// A trunk named `name` matching `match_` with every other knob at its default.
    pub fn new(name: impl Into<String>, match_: &[&str]) -> TrunkConfig {
        TrunkConfig {
            name: name.into(),
            identify_by: IdentifyBy::Ip,
            match_: match_.iter().map(|s| (*s).to_owned()).collect(),
            host: None,
            transport: TrunkTransport::Udp,
            trust_id_inbound: true,
            rewrite_contact: false,
            force_rport: false,
            direct_media: false,
            rtp_symmetric: true,
            codecs: default_codecs(),
            dtmf_mode: DtmfMode::Rfc4733,
            context: default_trunk_context(),
            from_user: None,
            from_domain: None,
            outbound_auth: None,
            registration: None,
        }
    }

    /// The codecs as [`Codec`]s (validated by [`UaConfig::validate`]).
    pub fn codec_list(&self) -> Vec<Codec> {
        self.codecs
            .iter()
            .filter_map(|c| codec_by_name(c))
            .collect()
    }

    /// The `host` as an address (port 5060 when absent).
    ///
    /// # Errors
    /// [`UaError::Config`] when it is not `ip[:port]` (names are not resolved here).
    pub fn host_addr(&self) -> Result<Option<SocketAddr>, UaError> {
        self.host
            .as_deref()
            .map(|h| {
                parse_host_port(h, 5060).map_err(|reason| config_err(&self.key("host"), h, reason))
            })
            .transpose()
    }

    fn key(&self, field: &str) -> String {
        format!("trunks[{}].{field}", self.name)
    }
}

/// A user endpoint that registers nothing but calls in with digest credentials
/// (`identify_by=username` plus `auth`): requests naming it in From are challenged
/// (RFC 3261 §22.2) before they are served.
///
/// ```
/// use freya_sip::ua::EndpointConfig;
/// let e: EndpointConfig = toml::from_str("username = \"alice\"\npassword = \"pw\"").unwrap();
/// assert_eq!(e.context, "from-internal");
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The user name (From user and digest username).
    pub username: String,
    /// The password.
    pub password: String,
    /// The routing context its calls enter (default `from-internal`).
    #[serde(default = "default_endpoint_context")]
    pub context: String,
    /// Codecs in preference order (default `ulaw,alaw`).
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    /// How DTMF is carried.
    #[serde(default)]
    pub dtmf_mode: DtmfMode,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("context", &self.context)
            .field("codecs", &self.codecs)
            .field("dtmf_mode", &self.dtmf_mode)
            .finish()
    }
}

/// Everything a [`UserAgent`](super::UserAgent) is bound and run with.
///
/// ```
/// use freya_sip::ua::{UaConfig, UnknownSource};
/// let c: UaConfig = toml::from_str(r#"
///     bind = "127.0.0.1:5060"
///     unknown_source = "ignore"
///     [[trunks]]
///     name = "carrier"
///     match = ["198.51.100.0/24"]
///     host = "198.51.100.7"
/// "#).unwrap();
/// assert_eq!(c.unknown_source, UnknownSource::Ignore);
/// c.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UaConfig {
    /// The address UDP and TCP listen on (default `127.0.0.1:5060`).
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// The host written in Via and Contact (a public IP or name behind NAT; default: the
    /// bind IP).
    #[serde(default)]
    pub external_signaling_address: Option<String>,
    /// The port written in Via and Contact (default: the bound port).
    #[serde(default)]
    pub external_signaling_port: Option<u16>,
    /// Serve UDP (default yes).
    #[serde(default = "yes")]
    pub udp: bool,
    /// Serve TCP (default yes).
    #[serde(default = "yes")]
    pub tcp: bool,
    /// Answer every request at its source port even without `rport` (RFC 3581): for the
    /// transport's own refusals (400 for an unparseable request) and for anonymous peers
    /// (`unknown_source = "accept"`). Trunks have their own `force_rport`. Default no.
    #[serde(default)]
    pub force_rport: bool,
    /// The `User-Agent` / `Server` header value (default `freya`).
    #[serde(default = "default_user_agent")]
    pub user_agent: Option<String>,
    /// What to do with requests from unknown sources (default `reject`: 403).
    #[serde(default)]
    pub unknown_source: UnknownSource,
    /// RFC 3261 T1 in milliseconds (default 500).
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// How long an unanswered outgoing INVITE may ring before we CANCEL it, in seconds
    /// (Asterisk's dial timeout; default 60; 0 = Timer C's 3 minutes only).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_s: u64,
    /// Incoming calls queued for the application before new ones are refused with 503
    /// (default 256).
    #[serde(default = "default_queue")]
    pub incoming_queue: usize,
    /// The carrier trunks.
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    /// The user endpoints (digest-authenticated callers).
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// The realm of our digest challenges (default: the advertised host).
    #[serde(default)]
    pub realm: Option<String>,
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5060))
}

fn default_user_agent() -> Option<String> {
    Some("freya".into())
}

fn default_t1() -> u64 {
    500
}

fn default_ring_timeout() -> u64 {
    60
}

fn default_queue() -> usize {
    256
}

impl Default for UaConfig {
    fn default() -> UaConfig {
        UaConfig::new(default_bind())
    }
}

impl UaConfig {
    /// The defaults, listening on `bind`, with no trunk (so everything from outside is
    /// refused with 403 until trunks or `unknown_source = "accept"` are set).
    pub fn new(bind: SocketAddr) -> UaConfig {
        UaConfig {
            bind,
            external_signaling_address: None,
            external_signaling_port: None,
            udp: true,
            tcp: true,
            force_rport: false,
            user_agent: default_user_agent(),
            unknown_source: UnknownSource::Reject,
            t1_ms: default_t1(),
            ring_timeout_s: default_ring_timeout(),
            incoming_queue: default_queue(),
            trunks: Vec::new(),
            endpoints: Vec::new(),
            realm: None,
        }
    }

    /// Checks every value; the error names the key (`trunks[carrier].match[1]`) and the
    /// offending value.
    ///
    /// # Errors
    /// [`UaError::Config`].
    pub fn validate(&self) -> Result<(), UaError> {
        if !self.udp && !self.tcp {
            return Err(config_err(
                "udp",
                "false",
                "at least one of udp and tcp is needed",
            ));
        }
        if self.incoming_queue == 0 {
            return Err(config_err("incoming_queue", "0", "must be at least 1"));
        }
        self.timers()
            .validate()
            .map_err(|e| config_err("t1_ms", &self.t1_ms.to_string(), &e.to_string()))?;
        let mut names = std::collections::HashSet::new();
        for t in &self.trunks {
            if t.name.is_empty() || !names.insert(t.name.as_str()) {
                return Err(config_err(
                    "trunks[].name",
                    &t.name,
                    "trunk names must be non-empty and unique",
                ));
            }
            for (i, m) in t.match_.iter().enumerate() {
                Cidr::parse(m).map_err(|r| config_err(&t.key(&format!("match[{i}]")), m, r))?;
            }
            if t.direct_media {
                return Err(config_err(
                    &t.key("direct_media"),
                    "yes",
                    "freya always anchors media (direct_media=no)",
                ));
            }
            check_codecs(&t.key("codecs"), &t.codecs)?;
            check_context(&t.key("context"), &t.context)?;
            t.host_addr()?;
            if let Some(r) = &t.registration {
                if t.host.is_none() {
                    return Err(config_err(
                        &t.key("registration"),
                        &r.server_uri,
                        "a registration needs the trunk's host",
                    ));
                }
                if r.expiration < 60 {
                    return Err(config_err(
                        &t.key("registration.expiration"),
                        &r.expiration.to_string(),
                        "must be at least 60 seconds",
                    ));
                }
            }
        }
        let mut users = std::collections::HashSet::new();
        for e in &self.endpoints {
            let key = format!("endpoints[{}]", e.username);
            if e.username.is_empty()
                || !e
                    .username
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"')
                || !users.insert(e.username.as_str())
            {
                return Err(config_err(
                    &format!("{key}.username"),
                    &e.username,
                    "must be non-empty, printable ASCII and unique",
                ));
            }
            if e.password.is_empty() {
                return Err(config_err(
                    &format!("{key}.password"),
                    "",
                    "must not be empty",
                ));
            }
            check_codecs(&format!("{key}.codecs"), &e.codecs)?;
            check_context(&format!("{key}.context"), &e.context)?;
        }
        Ok(())
    }

    /// The transaction timers (T1 from `t1_ms`, T2 and T4 at their RFC defaults).
    pub fn timers(&self) -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(self.t1_ms),
            ..TimerConfig::default()
        }
    }

    /// The transport's settings.
    pub fn transport(&self) -> TransportConfig {
        let mut t = TransportConfig::new(self.bind);
        t.advertised_host = self.external_signaling_address.clone();
        t.advertised_port = self.external_signaling_port;
        t.udp = self.udp;
        t.tcp = self.tcp;
        t.force_rport = self.force_rport;
        t
    }

    /// The trunk named `name`.
    pub fn trunk(&self, name: &str) -> Option<&TrunkConfig> {
        self.trunks.iter().find(|t| t.name == name)
    }
}

/// `ulaw` / `alaw` (Asterisk's names) and their SDP names.
pub(crate) fn codec_by_name(name: &str) -> Option<Codec> {
    match name.to_ascii_lowercase().as_str() {
        "ulaw" | "pcmu" | "g711u" => Some(Codec::Pcmu),
        "alaw" | "pcma" | "g711a" => Some(Codec::Pcma),
        _ => None,
    }
}

fn check_codecs(key: &str, codecs: &[String]) -> Result<(), UaError> {
    if codecs.is_empty() {
        return Err(config_err(
            key,
            "[]",
            "name at least one codec (ulaw, alaw)",
        ));
    }
    for c in codecs {
        if codec_by_name(c).is_none() {
            return Err(config_err(key, c, "unknown codec (ulaw, alaw)"));
        }
    }
    Ok(())
}

fn check_context(key: &str, context: &str) -> Result<(), UaError> {
    if context.is_empty() || context.bytes().any(|b| b.is_ascii_control()) {
        return Err(config_err(key, context, "must be a non-empty name"));
    }
    Ok(())
}

pub(crate) fn config_err(key: &str, value: &str, reason: &str) -> UaError {
    UaError::Config {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// `ip`, `ip:port`, `[v6]:port` or a bare IPv6 address; `default_port` when none.
pub(crate) fn parse_host_port(s: &str, default_port: u16) -> Result<SocketAddr, &'static str> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| "expected ip or ip:port (host names are not resolved)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key_and_value() {
        let mut c = UaConfig::default();
        c.trunks
            .push(TrunkConfig::new("carrier", &["203.0.113.0/33"]));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("trunks[carrier].match[0]"), "{e}");
        assert!(e.contains("203.0.113.0/33"), "{e}");

        let mut c = UaConfig::default();
        let mut t = TrunkConfig::new("carrier", &["203.0.113.1"]);
        t.codecs = vec!["opus".into()];
        c.trunks.push(t);
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("trunks[carrier].codecs") && e.contains("opus"),
            "{e}"
        );

        let mut c = UaConfig::default();
        let mut t = TrunkConfig::new("carrier", &[]);
        t.direct_media = true;
        c.trunks.push(t);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("direct_media"));

        let mut c = UaConfig::default();
        c.trunks.push(TrunkConfig::new("a", &[]));
        c.trunks.push(TrunkConfig::new("a", &[]));
        assert!(c.validate().unwrap_err().to_string().contains("unique"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<UaConfig>("bind = \"127.0.0.1:5060\"\nbnid = 1").unwrap_err();
        assert!(e.to_string().contains("bnid"), "{e}");
    }

    #[test]
    fn host_ports() {
        assert_eq!(parse_host_port("192.0.2.1", 5060).unwrap().port(), 5060);
        assert_eq!(
            parse_host_port("192.0.2.1:5080", 5060).unwrap().port(),
            5080
        );
        assert_eq!(
            parse_host_port("[2001:db8::1]:5070", 5060).unwrap().port(),
            5070
        );
        assert!(parse_host_port("2001:db8::1", 5060).unwrap().is_ipv6());
        assert!(parse_host_port("carrier.example", 5060).is_err());
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let e = EndpointConfig {
            username: "alice".into(),
            password: "hunter2".into(),
            context: "x".into(),
            codecs: default_codecs(),
            dtmf_mode: DtmfMode::Rfc4733,
        };
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}
