//! Voice-agent pools (`[[agents]]`) and the agent server (`[agent_server]`): how a call
//! reaches its agent. In `client` mode freya dials the slot's URL (as Asterisk's
//! chan_websocket does); in `server` mode the agent dials freya's agent server and names
//! the call (`ws://<listen>/call/<X-Freya-Call-Id>`), with a bearer token.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use freya_media::bridge::{ClientConfig, ClientTls};

use super::err;
use crate::error::StackError;

/// The WebSocket wire protocol of an agent pool.
///
/// ```
/// use freya::config::AgentProtocol;
/// assert_eq!(toml::from_str::<toml::Value>("p = \"twilio\"").unwrap()["p"].as_str(), Some("twilio"));
/// assert_eq!(AgentProtocol::default(), AgentProtocol::Twilio);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentProtocol {
    /// Twilio Media Streams JSON (pipecat's `TwilioFrameSerializer`).
    #[default]
    Twilio,
    /// jambonz `listen`: JSON metadata, then L16 binary frames.
    Jambonz,
    /// Asterisk chan_websocket: text control messages and binary media.
    Asterisk,
}

/// What a caller hears when every slot of a pool is busy.
///
/// ```
/// let b: freya::config::BusyPolicy = toml::from_str("status = 486").unwrap();
/// assert_eq!((b.status, b.wait_ms), (486, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusyPolicy {
    /// The SIP status (486 Busy Here or 503 Service Unavailable; default 503).
    #[serde(default = "default_busy_status")]
    pub status: u16,
    /// The Q.850 cause in the `Reason` header (default 34, no circuit available).
    #[serde(default = "default_busy_cause")]
    pub q850_cause: u16,
    /// How long a call may wait (ringing) for a slot to free up before that answer, in ms
    /// (default 0: answer at once).
    #[serde(default)]
    pub wait_ms: u64,
}

fn default_busy_status() -> u16 {
    503
}
fn default_busy_cause() -> u16 {
    34
}

impl Default for BusyPolicy {
    fn default() -> BusyPolicy {
        BusyPolicy {
            status: default_busy_status(),
            q850_cause: default_busy_cause(),
            wait_ms: 0,
        }
    }
}

/// A pool of N identical voice-agent slots (`[[agents]]`): a call takes an idle one.
///
/// ```
/// let a: freya::config::AgentPool = toml::from_str(
///     "name = \"support\"\nslots = 2\nurl = \"ws://127.0.0.1:{port}/telephony/ws\"\nbase_port = 9000").unwrap();
/// assert_eq!(a.url_for(1), "ws://127.0.0.1:9001/telephony/ws");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPool {
    /// The pool's name, named by routes.
    pub name: String,
    /// How many slots (default 30).
    #[serde(default = "default_slots")]
    pub slots: usize,
    /// The agent URL of a slot: `{port}` becomes `base_port + slot`, `{slot}` the slot
    /// number (0-based).
    #[serde(default = "default_url")]
    pub url: String,
    /// The port of slot 0 (default 8765).
    #[serde(default = "default_base_port")]
    pub base_port: u16,
    /// The wire protocol (default `twilio`).
    #[serde(default)]
    pub protocol: AgentProtocol,
    /// Start freya's echo agent in-process for every slot (the demo needs nothing else).
    #[serde(default)]
    pub builtin_echo: bool,
    /// What callers get when every slot is busy.
    #[serde(default)]
    pub busy: BusyPolicy,
    /// Who opens the WebSocket (default `client`: freya dials `url`), or `host`: the
    /// program running the stack takes the calls in-process.
    #[serde(default)]
    pub mode: AgentMode,
    /// The audio's sample rate for `jambonz` and `host` pools, in Hz: 8000 (default),
    /// 16000, 24000 or 48000 (the caller's 8 kHz is resampled to it and back). The
    /// `twilio` and `asterisk` wires are 8 kHz G.711 and ignore it.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// For `wss://` agents whose certificate comes from a private or self-signed CA: a PEM
    /// file with that CA's certificate(s), trusted in addition to the Mozilla roots. Read
    /// and checked when the config loads and at every reload (SIGHUP, `POST /reload`): the
    /// TLS settings are built then, once per pool, and every call's dial shares them, so
    /// nothing is read per call and a renewed file takes effect at the next reload (a
    /// broken one is refused there, naming this key, and the running config stays).
    /// `None` (default): the Mozilla roots only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_ca_file: Option<std::path::PathBuf>,
    /// The `wss://` TLS settings built from `url` and `root_ca_file` by
    /// [`StackConfig::prepare_agent_tls`](super::StackConfig::prepare_agent_tls) (the stack
    /// does it at start and reload). Derived state, not configuration: serde skips it and
    /// it takes no part in equality.
    #[serde(skip)]
    pub(crate) tls: PreparedTls,
}

/// A pool's prepared `wss://` TLS settings (shared by its dials), or none: a `ws://` pool,
/// or a config not (yet) run by a stack.
#[derive(Debug, Clone, Default)]
pub(crate) struct PreparedTls(pub(crate) Option<ClientTls>);

impl PartialEq for PreparedTls {
    /// Always equal: the settings follow from the pool's `url` and `root_ca_file` (which
    /// are compared) and the file's content at load time, which no config comparison is
    /// about.
    fn eq(&self, _: &PreparedTls) -> bool {
        true
    }
}

impl Eq for PreparedTls {}

fn default_slots() -> usize {
    30
}
fn default_sample_rate() -> u32 {
    8000
}
fn default_url() -> String {
    "ws://127.0.0.1:{port}/telephony/ws".into()
}
fn default_base_port() -> u16 {
    8765
}

impl AgentPool {
    /// Whether the pool's agents are dialled over TLS (`wss://`, case-insensitive).
    pub(crate) fn is_wss(&self) -> bool {
        self.url
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("wss://"))
    }

    /// The TLS settings of a `wss://` pool, built now: the Mozilla roots plus
    /// `root_ca_file` read now; `None` for a `ws://` pool without `root_ca_file` (one with
    /// it gets them too, unused, so the file is checked all the same).
    ///
    /// # Errors
    /// The file cannot be read, or is not usable PEM (the reason names the file).
    pub(crate) fn build_tls(&self) -> Result<Option<ClientTls>, String> {
        if !self.is_wss() && self.root_ca_file.is_none() {
            return Ok(None);
        }
        let pem = match &self.root_ca_file {
            Some(path) => Some(
                std::fs::read(path).map_err(|e| format!("root_ca_file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let tls = ClientTls::new(pem.as_deref()).map_err(|e| match &self.root_ca_file {
            Some(path) => format!("root_ca_file {}: {e}", path.display()),
            None => e.to_string(),
        })?;
        Ok(Some(tls))
    }

    /// The client settings for dialling slot `slot`: its URL and, for a `wss://` pool, the
    /// TLS settings prepared at load or reload (shared, nothing read now). A pool whose
    /// settings were not prepared (a config no stack ran) builds them now, reading
    /// `root_ca_file`.
    ///
    /// # Errors
    /// Only when building now: as [`build_tls`](Self::build_tls).
    pub(crate) fn client_config(&self, slot: usize) -> Result<ClientConfig, String> {
        let client = ClientConfig::new(self.url_for(slot));
        if let Some(tls) = &self.tls.0 {
            return Ok(client.with_tls(tls.clone()));
        }
        if !self.is_wss() {
            return Ok(client);
        }
        tracing::warn!(
            pool = self.name,
            "stack: TLS settings not prepared; building them for this dial"
        );
        Ok(match self.build_tls()? {
            Some(tls) => client.with_tls(tls),
            None => client,
        })
    }

    /// The URL of slot `slot`.
    pub fn url_for(&self, slot: usize) -> String {
        let port = u32::from(self.base_port) + slot as u32;
        self.url
            .replace("{port}", &port.to_string())
            .replace("{slot}", &slot.to_string())
    }
}

/// Who opens an agent pool's WebSocket.
///
/// ```
/// use freya::config::{AgentMode, AgentPool};
/// let a: AgentPool = toml::from_str("name = \"dialin\"\nmode = \"server\"").unwrap();
/// assert_eq!(a.mode, AgentMode::Server);
/// assert_eq!(AgentMode::default(), AgentMode::Client);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentMode {
    /// freya connects to the slot's `url` when a call takes the slot.
    #[default]
    Client,
    /// The agent connects to `[agent_server]` and names the call; the `slot_taken` event
    /// carries the URL to open. No agent within `connect_timeout_ms` fails the call.
    Server,
    /// The program running the stack takes the calls itself, in-process
    /// ([`Stack::host_calls`](crate::stack::Stack::host_calls): 16-bit PCM frames at the
    /// pool's `sample_rate`, DTMF, barge-in, hang-up; no socket). `url`, `base_port` and
    /// `protocol` are unused. No host taking calls fails the call like an unreachable agent.
    Host,
}

impl AgentPool {
    /// Checks the pool's mode against the agent server's settings.
    pub(crate) fn check_mode(
        &self,
        key: &str,
        server: &AgentServerConfig,
    ) -> Result<(), StackError> {
        if freya_media::codec::SampleRate::from_hz(self.sample_rate).is_err() {
            return Err(err(
                &format!("{key}.sample_rate"),
                format!("{}: must be 8000, 16000, 24000 or 48000", self.sample_rate),
            ));
        }
        if self.mode == AgentMode::Host && self.builtin_echo {
            return Err(err(
                &format!("{key}.builtin_echo"),
                "a host pool's agent is the program running the stack: no built-in echo".into(),
            ));
        }
        if self.mode == AgentMode::Server {
            if server.listen.is_none() {
                return Err(err(
                    &format!("{key}.mode"),
                    "\"server\" needs [agent_server] listen = \"ADDR:PORT\"".into(),
                ));
            }
            if self.builtin_echo {
                return Err(err(
                    &format!("{key}.builtin_echo"),
                    "built-in echo agents are listeners: use mode = \"client\"".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Where agents of `mode = "server"` pools dial in (`[agent_server]`): freya's side of
/// the bridge in server mode (the agent opens `ws://<listen>/call/<X-Freya-Call-Id>` with
/// `Authorization: Bearer <token>` or `?token=<token>`; an unknown call gets 404, a wrong
/// token 401).
///
/// ```
/// let s: freya::config::AgentServerConfig =
///     toml::from_str("listen = \"127.0.0.1:8090\"\ntoken_env = \"FREYA_AGENT_TOKEN\"").unwrap();
/// assert_eq!(s.connect_timeout_ms, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentServerConfig {
    /// The listening address (absent = no agent server). It cannot change on reload.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The bearer token agents must present. Required unless `listen` is loopback.
    #[serde(default)]
    pub token: Option<String>,
    /// An environment variable holding the token (read at load and reload).
    #[serde(default)]
    pub token_env: Option<String>,
    /// How long a call waits for its agent to connect, in ms (default 10,000).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
}

fn default_connect_timeout() -> u64 {
    10_000
}

impl Default for AgentServerConfig {
    fn default() -> AgentServerConfig {
        AgentServerConfig {
            listen: None,
            token: None,
            token_env: None,
            connect_timeout_ms: default_connect_timeout(),
        }
    }
}

impl AgentServerConfig {
    pub(crate) fn check(&self) -> Result<(), StackError> {
        let Some(addr) = self.listen else {
            return Ok(());
        };
        if self.token.is_none() && self.token_env.is_none() && !addr.ip().is_loopback() {
            // As for the control API: without a token, loopback only.
            return Err(err(
                "agent_server.token",
                format!("{addr}: an agent server beyond loopback needs a token"),
            ));
        }
        if !(100..=600_000).contains(&self.connect_timeout_ms) {
            return Err(err(
                "agent_server.connect_timeout_ms",
                format!("{}: must be 100-600000", self.connect_timeout_ms),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::StackConfig;

    fn load(extra: &str) -> Result<StackConfig, String> {
        let text = format!(
            "[[agents]]\nname = \"dialin\"\nmode = \"server\"\n{extra}\n\
             [[routes]]\nname = \"r\"\nagents = \"dialin\"\n"
        );
        StackConfig::from_toml(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn server_mode_needs_the_agent_server() {
        let e = load("").unwrap_err();
        assert!(e.contains("agents[0].mode"), "{e}");
        let c = load("[agent_server]\nlisten = \"127.0.0.1:8090\"").unwrap();
        assert_eq!(c.agent_token(), None);
    }

    #[test]
    fn beyond_loopback_the_agent_server_needs_a_token() {
        let e = load("[agent_server]\nlisten = \"0.0.0.0:8090\"").unwrap_err();
        assert!(
            e.contains("agent_server.token") && e.contains("0.0.0.0:8090"),
            "{e}"
        );
        let c = load("[agent_server]\nlisten = \"0.0.0.0:8090\"\ntoken = \"s\"").unwrap();
        assert_eq!(c.agent_token().as_deref(), Some("s"));
    }

    #[test]
    fn builtin_echo_cannot_dial_in_and_timeouts_are_bounded() {
        let e =
            load("builtin_echo = true\n[agent_server]\nlisten = \"127.0.0.1:8090\"").unwrap_err();
        assert!(e.contains("agents[0].builtin_echo"), "{e}");
        let e = load("[agent_server]\nlisten = \"127.0.0.1:8090\"\nconnect_timeout_ms = 5")
            .unwrap_err();
        assert!(e.contains("connect_timeout_ms") && e.contains('5'), "{e}");
    }
}
