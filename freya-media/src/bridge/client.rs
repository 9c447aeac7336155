//! Client mode: freya dials the agent's WebSocket URL (as Twilio, jambonz and Asterisk's
//! outgoing `chan_websocket` do), e.g. `ws://127.0.0.1:8765/telephony/ws`.

use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::leg::{spawn_leg, BridgeLeg, LegError, ShellOptions};
use super::{jambonz, BridgeConfig, BridgeSession, CallMetadata, ProtocolKind};

/// Where and how to dial the agent.
///
/// ```
/// use freya_media::bridge::ClientConfig;
/// let c = ClientConfig::new("ws://127.0.0.1:8765/telephony/ws")
///     .with_header("Authorization", "Bearer s3cret");
/// assert_eq!(c.connect_timeout.as_secs(), 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The agent's URL, `ws://` (`wss://` needs a TLS-enabled build of tokio-tungstenite,
    /// which freya-media does not enable: such a URL fails with [`LegError::Connect`]).
    pub url: String,
    /// Extra upgrade headers, e.g. `Authorization` (jambonz `wsAuth` Basic auth) or `Origin`
    /// (send one only when the agent's `PIPECAT_ALLOWED_ORIGINS` lists it, ws-media §7 rule 7).
    pub headers: Vec<(String, String)>,
    /// Longest the TCP connect plus WebSocket handshake may take (default 5 s).
    pub connect_timeout: Duration,
    /// The shell's settings.
    pub shell: ShellOptions,
}

impl ClientConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            shell: ShellOptions::default(),
        }
    }

    /// Adds an upgrade header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Dials the agent and starts a leg for `metadata`'s call: after the handshake the protocol's
/// start message(s) go out first, then caller audio. For jambonz the subprotocol
/// `audio.jambonz.org` is offered; an agent that does not echo it is accepted (one retry
/// without it, within the same timeout; ws-media §7 rule 16).
///
/// # Errors
/// [`LegError::Bridge`] for bad settings; [`LegError::Connect`] for a bad URL or header, a
/// refused connection or a failed handshake; [`LegError::Timeout`] after `connect_timeout`.
/// Once it returns `Ok`, every later failure ends the leg with
/// [`BridgeEvent::Closed`](super::BridgeEvent::Closed) instead.
pub async fn connect(
    client: &ClientConfig,
    bridge: BridgeConfig,
    metadata: CallMetadata,
) -> Result<BridgeLeg, LegError> {
    bridge.validate()?;
    let jambonz = bridge.protocol.kind() == ProtocolKind::Jambonz;
    let limit = client.connect_timeout;
    let attempt = async {
        match dial(client, jambonz).await {
            Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
                SubProtocolError::NoSubProtocol,
            ))) if jambonz => {
                tracing::debug!(url = %client.url, "bridge: agent did not echo audio.jambonz.org, retrying without it");
                dial(client, false).await
            }
            other => other,
        }
    };
    let ws = match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            return Err(LegError::Connect {
                url: client.url.clone(),
                reason: e.to_string(),
            })
        }
        Err(_) => {
            return Err(LegError::Timeout {
                what: "connect",
                ms: limit.as_millis() as u64,
            })
        }
    };
    let now = tokio::time::Instant::now().into_std();
    let session = BridgeSession::new(bridge, metadata, now)?;
    tracing::info!(url = %client.url, call_id = %session.metadata().call_id, protocol = %session.config().protocol.kind(), "bridge: connected to agent");
    Ok(spawn_leg(ws, session, client.shell.clone()))
}

type ClientStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn dial(client: &ClientConfig, subprotocol: bool) -> Result<ClientStream, WsError> {
    let mut request = client.url.as_str().into_client_request()?;
    for (name, value) in &client.headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().map_err(|e| {
            WsError::HttpFormat(tokio_tungstenite::tungstenite::http::Error::from(e))
        })?;
        let value = HeaderValue::from_str(value).map_err(|e| WsError::HttpFormat(e.into()))?;
        request.headers_mut().append(name, value);
    }
    if subprotocol {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(jambonz::SUBPROTOCOL),
        );
    }
    let config = client.shell.ws_config();
    let (ws, _response) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    Ok(ws)
}
