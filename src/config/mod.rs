//! The stack's one configuration (DESIGN.md principle 5): serde types loaded from TOML by
//! the server (dicts from Python, objects from Node), validated with errors that name the
//! key. Trunks and endpoints use the UA's types and Asterisk's knob names.
//!
//! ```
//! let c = freya::config::StackConfig::from_toml(freya::config::DEFAULT_CONFIG).unwrap();
//! assert_eq!(c.agents[0].slots, 30);
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use freya_sip::ua::{EndpointConfig, TrunkConfig, UaConfig};

use crate::error::StackError;

mod agents;

pub use agents::{AgentMode, AgentPool, AgentProtocol, AgentServerConfig, BusyPolicy};

/// The embedded default configuration: SIP on 127.0.0.1:5060 (UDP and TCP), every call
/// from 127.0.0.0/8 routed to 30 built-in echo agents, control API on 127.0.0.1:8088.
/// `freya-stack --print-default-config` prints it.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// RTP (the `[media]` table).
///
/// ```
/// let m: freya::config::MediaConfig = toml::from_str("rtp_port_start = 20000\nrtp_port_end = 20099").unwrap();
/// assert_eq!(m.rtp_port_end - m.rtp_port_start + 1, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// The address RTP sockets bind (default 127.0.0.1).
    #[serde(default = "default_media_ip")]
    pub address: IpAddr,
    /// The address written in SDP when it differs (NAT).
    #[serde(default)]
    pub external_media_address: Option<IpAddr>,
    /// The first RTP port (even; default 10000). RTCP uses port + 1.
    #[serde(default = "default_port_start")]
    pub rtp_port_start: u16,
    /// The last RTP port (default 10499).
    #[serde(default = "default_port_end")]
    pub rtp_port_end: u16,
    /// Seconds without RTP before a call is hung up (Asterisk's `rtp_timeout`; 0 = never;
    /// default 30).
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_s: u64,
    /// How B2BUA calls' RTP is relayed: `tokio` (default: a task per call on the stack's
    /// runtime) or `io_uring` (Linux: one thread and one io_uring serve every B2BUA call,
    /// with 20–30 % less CPU per packet in `relay_load`; see freya-media's `RingRelays`).
    /// Read when a call starts: a reload changes new calls only. Calls to agents always use
    /// `tokio`: their audio crosses to the bridge's tasks, and on the ring's thread each
    /// packet became a cross-thread wake each way (`bridge_load --rtp-in --ring`: no less
    /// CPU per frame and a longer tail; BENCHMARKS.md). When io_uring cannot start (a kernel
    /// before 6.1, seccomp), calls fall back to `tokio` and the reason is logged.
    #[serde(default)]
    pub relay_io: RelayIo,
}

/// See [`MediaConfig::relay_io`].
///
/// ```
/// let m: freya::config::MediaConfig = toml::from_str("relay_io = \"io_uring\"").unwrap();
/// assert_eq!(m.relay_io, freya::config::RelayIo::IoUring);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayIo {
    /// A tokio task per call.
    #[default]
    Tokio,
    /// One io_uring thread for every B2BUA call.
    IoUring,
}

fn yes() -> bool {
    true
}

fn default_media_ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_port_start() -> u16 {
    10000
}
fn default_port_end() -> u16 {
    10499
}
fn default_rtp_timeout() -> u64 {
    30
}

impl Default for MediaConfig {
    fn default() -> MediaConfig {
        MediaConfig {
            address: default_media_ip(),
            external_media_address: None,
            rtp_port_start: default_port_start(),
            rtp_port_end: default_port_end(),
            rtp_timeout_s: default_rtp_timeout(),
            relay_io: RelayIo::Tokio,
        }
    }
}

/// A routing rule (`[[routes]]`), tried in order; the first that matches takes the call.
/// Empty conditions match everything.
///
/// ```
/// let r: freya::config::Route = toml::from_str(
///     "name = \"sales\"\ncalled = \"+1415*\"\nagents = \"support\"").unwrap();
/// assert!(r.record == false && r.uri.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The route's name (in events).
    pub name: String,
    /// Only calls entering this context (the trunk's or endpoint's `context`).
    #[serde(default)]
    pub context: Option<String>,
    /// The called number: exact, or a prefix ending in `*`.
    #[serde(default)]
    pub called: Option<String>,
    /// The `X-Freya-Workflow-Id` value the call must carry.
    #[serde(default)]
    pub workflow_id: Option<String>,
    /// Send to this agent pool …
    #[serde(default)]
    pub agents: Option<String>,
    /// … or bridge to this SIP URI (B2BUA, media anchored).
    #[serde(default)]
    pub uri: Option<String>,
    /// The trunk the B2BUA leg goes out on (for `uri`).
    #[serde(default)]
    pub trunk: Option<String>,
    /// Record the call (WAV named by its X-Freya-Call-Id).
    #[serde(default)]
    pub record: bool,
}

/// Call recording (`[recording]`).
///
/// ```
/// let r = freya::config::RecordingConfig::default();
/// assert_eq!(r.dir.to_str(), Some("recordings"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// The directory WAV files go to (default `recordings`).
    #[serde(default = "default_rec_dir")]
    pub dir: PathBuf,
    /// Stereo (caller left, agent right; default) or mixed mono like MixMonitor.
    #[serde(default = "yes")]
    pub stereo: bool,
}

fn default_rec_dir() -> PathBuf {
    PathBuf::from("recordings")
}

impl Default for RecordingConfig {
    fn default() -> RecordingConfig {
        RecordingConfig {
            dir: default_rec_dir(),
            stereo: true,
        }
    }
}

/// The control API (`[control]`): HTTP + JSON, events over SSE/WebSocket.
///
/// ```
/// let c = freya::config::ControlConfig::default();
/// assert_eq!(c.listen.unwrap().port(), 8088);
/// assert_eq!(c.keep_ended_campaigns, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Where it listens (default 127.0.0.1:8088; absent = no control API).
    #[serde(default = "default_control")]
    pub listen: Option<SocketAddr>,
    /// The bearer token requests must carry.
    #[serde(default)]
    pub token: Option<String>,
    /// An environment variable holding the token (read at load time).
    #[serde(default)]
    pub token_env: Option<String>,
    /// On SIGTERM or Ctrl-C (a container stop), how long live calls may go on while new
    /// ones are refused, in seconds, before those still up are hung up (BYE with
    /// `Reason: Q.850;cause=41`); default 8, under Docker's 10 s stop timeout. A second
    /// signal cuts the wait short. See `Stack::drain`.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_s: u64,
    /// How many ended campaigns (finished or cancelled) the stack keeps for
    /// `GET /campaigns` and `GET /campaigns/{id}` (default 100, 1-100000): when one more
    /// ends, the oldest-ended is forgotten (logged) and its id answers 404 like an unknown
    /// one. Running and paused campaigns are always kept. A reload that lowers it forgets
    /// the excess at once.
    #[serde(default = "default_keep_ended_campaigns")]
    pub keep_ended_campaigns: usize,
}

/// The most [`ControlConfig::keep_ended_campaigns`] may be.
pub const MAX_KEEP_ENDED_CAMPAIGNS: usize = 100_000;

fn default_keep_ended_campaigns() -> usize {
    100
}

fn default_shutdown_grace() -> u64 {
    8
}

fn default_control() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 8088)))
}

impl Default for ControlConfig {
    fn default() -> ControlConfig {
        ControlConfig {
            listen: default_control(),
            token: None,
            token_env: None,
            shutdown_grace_s: default_shutdown_grace(),
            keep_ended_campaigns: default_keep_ended_campaigns(),
        }
    }
}

/// Everything the stack runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// SIP listening and policy: the UA's own table (`bind`, `unknown_source`, `t1_ms`,
    /// `ring_timeout_s`, `realm`, …); its trunks and endpoints are the top-level lists.
    #[serde(default)]
    pub sip: UaConfig,
    /// Carrier trunks.
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    /// User endpoints (digest).
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// RTP.
    #[serde(default)]
    pub media: MediaConfig,
    /// Voice-agent pools.
    #[serde(default)]
    pub agents: Vec<AgentPool>,
    /// The routing rules.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Recording.
    #[serde(default)]
    pub recording: RecordingConfig,
    /// The control API.
    #[serde(default)]
    pub control: ControlConfig,
    /// Where agents of `mode = "server"` pools dial in (`[agent_server]`).
    #[serde(default)]
    pub agent_server: AgentServerConfig,
}

impl StackConfig {
    /// Parses and validates TOML.
    ///
    /// # Errors
    /// [`StackError::Config`] with the TOML error (line, column, key) or the key that
    /// fails validation.
    pub fn from_toml(text: &str) -> Result<StackConfig, StackError> {
        let c: StackConfig = toml::from_str(text).map_err(|e| StackError::Config {
            key: String::new(),
            reason: e.to_string(),
        })?;
        c.validate()?;
        Ok(c)
    }

    /// The UA's configuration: the `[sip]` table with the trunks and endpoints.
    pub fn ua(&self) -> UaConfig {
        let mut u = self.sip.clone();
        u.trunks = self.trunks.clone();
        u.endpoints = self.endpoints.clone();
        u
    }

    /// The control token: `token`, else the variable `token_env` names.
    pub fn control_token(&self) -> Option<String> {
        token_of(&self.control.token, &self.control.token_env)
    }

    /// The agent server's token: `token`, else the variable `token_env` names.
    pub fn agent_token(&self) -> Option<String> {
        token_of(&self.agent_server.token, &self.agent_server.token_env)
    }

    /// Builds every `wss://` pool's TLS settings once (the Mozilla roots plus its
    /// `root_ca_file`, read now), for all the dials of the stack that runs this config: the
    /// stack calls it at start and at each reload, so a call's dial reads nothing.
    ///
    /// # Errors
    /// [`StackError::Config`] naming `agents[i].root_ca_file` (and the file) when a file
    /// cannot be read or is not usable PEM; the pools keep what they had.
    pub(crate) fn prepare_agent_tls(&mut self) -> Result<(), StackError> {
        let mut built = Vec::with_capacity(self.agents.len());
        for (i, a) in self.agents.iter().enumerate() {
            let tls = a
                .build_tls()
                .map_err(|reason| err(&format!("agents[{i}].root_ca_file"), reason))?;
            built.push(tls);
        }
        for (a, tls) in self.agents.iter_mut().zip(built) {
            a.tls = agents::PreparedTls(tls);
        }
        Ok(())
    }

    /// Checks every key; the error names it.
    ///
    /// # Errors
    /// [`StackError::Config`].
    pub fn validate(&self) -> Result<(), StackError> {
        if !self.sip.trunks.is_empty() || !self.sip.endpoints.is_empty() {
            return Err(err(
                "sip.trunks",
                "trunks and endpoints are top-level lists ([[trunks]], [[endpoints]])".into(),
            ));
        }
        self.ua().validate().map_err(|e| StackError::Config {
            key: "sip/trunks/endpoints".into(),
            reason: e.to_string(),
        })?;
        let m = &self.media;
        if !m.rtp_port_start.is_multiple_of(2) || m.rtp_port_end <= m.rtp_port_start {
            return Err(err(
                "media.rtp_port_start",
                format!(
                    "{}-{}: the range must start on an even port and hold at least one pair",
                    m.rtp_port_start, m.rtp_port_end
                ),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            let key = format!("agents[{i}]");
            if a.name.is_empty() || !names.insert(a.name.as_str()) {
                return Err(err(
                    &format!("{key}.name"),
                    format!("{:?}: empty or duplicate", a.name),
                ));
            }
            if a.slots == 0 || a.slots > 10_000 {
                return Err(err(
                    &format!("{key}.slots"),
                    format!("{}: must be 1-10000", a.slots),
                ));
            }
            if !a.url.starts_with("ws://") && !a.url.starts_with("wss://") {
                return Err(err(
                    &format!("{key}.url"),
                    format!("{:?}: must be ws:// or wss://", a.url),
                ));
            }
            if u32::from(a.base_port) + a.slots as u32 > 65536 && a.url.contains("{port}") {
                return Err(err(
                    &format!("{key}.base_port"),
                    format!("{} + {} slots passes port 65535", a.base_port, a.slots),
                ));
            }
            if !(300..=699).contains(&a.busy.status) {
                return Err(err(
                    &format!("{key}.busy.status"),
                    format!("{}: must be 300-699", a.busy.status),
                ));
            }
            if a.root_ca_file.is_some() {
                a.build_tls()
                    .map_err(|reason| err(&format!("{key}.root_ca_file"), reason))?;
            }
            a.check_mode(&key, &self.agent_server)?;
        }
        self.agent_server.check()?;
        for (i, r) in self.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            match (&r.agents, &r.uri) {
                (Some(p), None) => {
                    if !self.agents.iter().any(|a| &a.name == p) {
                        return Err(err(
                            &format!("{key}.agents"),
                            format!("{p:?}: no such agent pool"),
                        ));
                    }
                }
                (None, Some(u)) => {
                    if !(u.starts_with("sip:") || u.starts_with("sips:")) {
                        return Err(err(&format!("{key}.uri"), format!("{u:?}: not a SIP URI")));
                    }
                    if let Some(t) = &r.trunk {
                        if !self.trunks.iter().any(|x| &x.name == t) {
                            return Err(err(
                                &format!("{key}.trunk"),
                                format!("{t:?}: no such trunk"),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(err(
                        &key,
                        "a route names exactly one of agents or uri".into(),
                    ));
                }
            }
        }
        let keep = self.control.keep_ended_campaigns;
        if !(1..=MAX_KEEP_ENDED_CAMPAIGNS).contains(&keep) {
            return Err(err(
                "control.keep_ended_campaigns",
                format!(
                    "{keep}: must be 1-{MAX_KEEP_ENDED_CAMPAIGNS} (0 would forget a campaign's \
                     results the moment it ends)"
                ),
            ));
        }
        if self.control.listen.is_some()
            && self.control.token.is_none()
            && self.control.token_env.is_none()
        {
            // Allowed on loopback only: a token-less API on a routable address is refused.
            if self.control.listen.is_some_and(|a| !a.ip().is_loopback()) {
                return Err(err(
                    "control.token",
                    "a control API beyond loopback needs a token".into(),
                ));
            }
        }
        Ok(())
    }
}

/// A secret given inline, else read from the environment variable named (empty = none).
fn token_of(token: &Option<String>, env: &Option<String>) -> Option<String> {
    token.clone().or_else(|| {
        env.as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|t| !t.is_empty())
    })
}

fn err(key: &str, reason: String) -> StackError {
    StackError::Config {
        key: key.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_loopback_only() {
        let c = StackConfig::from_toml(DEFAULT_CONFIG).unwrap();
        assert!(c.sip.bind.ip().is_loopback());
        assert!(c.media.address.is_loopback());
        assert!(c.control.listen.unwrap().ip().is_loopback());
        assert_eq!(c.routes.len(), 1);
        assert!(c.agents[0].builtin_echo);
        assert_eq!(c.trunks[0].match_, ["127.0.0.0/8"]);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = DEFAULT_CONFIG.replace("agents = \"echo\"", "agents = \"nope\"");
        let e = StackConfig::from_toml(&bad).unwrap_err().to_string();
        assert!(e.contains("routes[0].agents") && e.contains("nope"), "{e}");
        let e = StackConfig::from_toml("[media]\nrtp_port_start = 10001")
            .unwrap_err()
            .to_string();
        assert!(e.contains("media.rtp_port_start"), "{e}");
        let e = StackConfig::from_toml("[sip]\nbnid = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bnid"), "{e}");
        let e = StackConfig::from_toml("[control]\nlisten = \"0.0.0.0:8088\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("control.token"), "{e}");
    }

    #[test]
    fn keep_ended_campaigns_defaults_to_100_and_a_bad_value_names_the_key() {
        let c = StackConfig::from_toml(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.control.keep_ended_campaigns, 100);
        let c = StackConfig::from_toml("").unwrap();
        assert_eq!(c.control.keep_ended_campaigns, 100);
        let c = StackConfig::from_toml("[control]\nkeep_ended_campaigns = 1").unwrap();
        assert_eq!(c.control.keep_ended_campaigns, 1);
        let c = StackConfig::from_toml("[control]\nkeep_ended_campaigns = 100000").unwrap();
        assert_eq!(c.control.keep_ended_campaigns, MAX_KEEP_ENDED_CAMPAIGNS);
        for bad in ["0", "100001"] {
            let e = StackConfig::from_toml(&format!("[control]\nkeep_ended_campaigns = {bad}"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("control.keep_ended_campaigns") && e.contains(bad),
                "{e}"
            );
        }
        // Refused by the TOML reader: the error shows the line with the key.
        for bad in ["-1", "\"ten\"", "1.5"] {
            let e = StackConfig::from_toml(&format!("[control]\nkeep_ended_campaigns = {bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("keep_ended_campaigns"), "{e}");
        }
    }

    #[test]
    fn a_root_ca_file_is_checked_at_load() {
        let with = |line: &str| {
            DEFAULT_CONFIG.replacen("[[agents]]\n", &format!("[[agents]]\n{line}\n"), 1)
        };
        let e = StackConfig::from_toml(&with("root_ca_file = \"/nonexistent/ca.pem\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agents[0].root_ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let e = StackConfig::from_toml(&with(&format!("root_ca_file = {:?}", bad)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agents[0].root_ca_file") && e.contains("CERTIFICATE"),
            "{e}"
        );

        let good = dir.path().join("ca.pem");
        let ca = rcgen::generate_simple_self_signed(vec!["agent.internal".to_string()]).unwrap();
        std::fs::write(&good, ca.cert.pem()).unwrap();
        let mut c = StackConfig::from_toml(&with(&format!("root_ca_file = {:?}", good))).unwrap();
        assert_eq!(c.agents[0].root_ca_file.as_deref(), Some(good.as_path()));
        c.prepare_agent_tls().unwrap();
        let client = c.agents[0].client_config(3).unwrap();
        assert!(client.tls.is_some() && client.root_ca_pem.is_none());
    }

    /// A `wss://` pool's TLS settings are built once by `prepare_agent_tls` and shared by
    /// every slot's dial (one `Arc`); the file is not read again (removing it changes
    /// nothing) until the next prepare, which builds anew, and a broken file then is
    /// refused naming the key while the pool keeps the settings it had.
    #[test]
    fn agent_tls_is_built_once_per_prepare_and_a_broken_ca_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca.pem");
        let ca = rcgen::generate_simple_self_signed(vec!["agent.internal".to_string()]).unwrap();
        std::fs::write(&ca_path, ca.cert.pem()).unwrap();
        let text = format!(
            "[[agents]]\nname = \"tls\"\nslots = 3\nurl = \"wss://agent.internal:{{port}}/ws\"\n\
             root_ca_file = {ca_path:?}\n[[agents]]\nname = \"plain\"\nslots = 1\n\
             [[routes]]\nname = \"r\"\nagents = \"tls\"\n"
        );
        let mut c = StackConfig::from_toml(&text).unwrap();
        c.prepare_agent_tls().unwrap();
        let first = c.agents[0].client_config(0).unwrap().tls.unwrap();
        std::fs::remove_file(&ca_path).unwrap();
        for slot in 1..3 {
            let again = c.agents[0].client_config(slot).unwrap();
            assert_eq!(
                again.url,
                format!("wss://agent.internal:{}/ws", 8765 + slot)
            );
            assert_eq!(again.tls.as_ref(), Some(&first), "slot {slot}: a rebuild");
        }
        // ws:// needs none.
        assert!(c.agents[1].client_config(0).unwrap().tls.is_none());

        // A broken file at the next prepare: refused with the key, nothing swapped.
        std::fs::write(&ca_path, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
        let e = c.prepare_agent_tls().unwrap_err().to_string();
        assert!(
            e.contains("agents[0].root_ca_file") && e.contains("ca.pem"),
            "{e}"
        );
        assert_eq!(
            c.agents[0].client_config(0).unwrap().tls,
            Some(first.clone())
        );

        // A good (renewed) file: built anew.
        let renewed =
            rcgen::generate_simple_self_signed(vec!["agent.internal".to_string()]).unwrap();
        std::fs::write(&ca_path, renewed.cert.pem()).unwrap();
        c.prepare_agent_tls().unwrap();
        let second = c.agents[0].client_config(0).unwrap().tls.unwrap();
        assert_ne!(second, first);
    }
}
