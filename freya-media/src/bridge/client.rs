//! Client mode: freya dials the agent's WebSocket URL (as Twilio, jambonz and Asterisk's
//! outgoing `chan_websocket` do), e.g. `ws://127.0.0.1:8765/telephony/ws`, or
//! `wss://agent.example.com/telephony/ws` for an agent behind TLS (RFC 6455 §3: `wss` is
//! WebSocket over TLS, port 443 by default).
//!
//! TLS is rustls with the `ring` provider, passed per connection (no process-wide provider
//! is installed); trusted roots are the Mozilla set from `webpki-roots` plus, optionally, a
//! private CA given as PEM ([`ClientConfig::with_root_ca_pem`]).

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::Connector;

use super::leg::{spawn_leg, BridgeLeg, LegError, ShellOptions};
use super::{jambonz, BridgeConfig, BridgeSession, CallMetadata, ProtocolKind};

/// Where and how to dial the agent.
///
/// ```
/// use freya_media::bridge::ClientConfig;
/// let c = ClientConfig::new("ws://127.0.0.1:8765/telephony/ws")
///     .with_header("Authorization", "Bearer s3cret");
/// assert_eq!(c.connect_timeout.as_secs(), 5);
/// assert!(c.root_ca_pem.is_none()); // wss:// trusts the webpki-roots (Mozilla) set only
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The agent's URL: `ws://` (plain TCP) or `wss://` (TLS, RFC 6455 §3; the server's
    /// certificate must name the URL's host and chain to a trusted root, see `root_ca_pem`).
    pub url: String,
    /// Extra upgrade headers, e.g. `Authorization` (jambonz `wsAuth` Basic auth) or `Origin`
    /// (send one only when the agent's `PIPECAT_ALLOWED_ORIGINS` lists it, ws-media §7 rule 7).
    pub headers: Vec<(String, String)>,
    /// Longest the TCP connect, the TLS handshake (`wss://`) and the WebSocket handshake may
    /// take together (default 5 s).
    pub connect_timeout: Duration,
    /// The shell's settings.
    pub shell: ShellOptions,
    /// Extra trust anchors for `wss://` agents whose certificate comes from a private or
    /// self-signed CA: PEM text holding one or more `CERTIFICATE` sections (other sections,
    /// e.g. a key, are skipped). Trusted in addition to the webpki-roots set. `None`
    /// (default): webpki-roots only. Ignored for `ws://`. Set it with
    /// [`with_root_ca_pem`](Self::with_root_ca_pem), which checks it; a bad value set
    /// directly makes [`connect`] to a `wss://` URL fail with [`LegError::RootCa`].
    pub root_ca_pem: Option<Vec<u8>>,
}

impl ClientConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            shell: ShellOptions::default(),
            root_ca_pem: None,
        }
    }

    /// Adds an upgrade header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Also trusts the CA certificate(s) in `pem` for `wss://` agents (a private CA, or the
    /// agent's own self-signed certificate): PEM text with one or more
    /// `-----BEGIN CERTIFICATE-----` sections. Calling it again adds more. The certificates
    /// are checked now, so a bad file is reported when the config is built, not per call.
    ///
    /// # Errors
    /// [`LegError::RootCa`] when `pem` has no `CERTIFICATE` section, a section is malformed
    /// (no end line, bad base64), or a certificate's DER does not parse as X.509.
    ///
    /// ```
    /// use freya_media::bridge::{ClientConfig, LegError};
    /// let ca = rcgen::generate_simple_self_signed(vec!["agent.internal".to_string()])?;
    /// let c = ClientConfig::new("wss://agent.internal:8443/telephony/ws")
    ///     .with_root_ca_pem(ca.cert.pem())?;
    /// assert!(c.root_ca_pem.is_some());
    ///
    /// let err = ClientConfig::new("wss://agent.internal/ws").with_root_ca_pem("not a certificate");
    /// assert!(matches!(err, Err(LegError::RootCa { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, LegError> {
        let pem = pem.into();
        // Parsed into a throw-away store now, so a bad file is refused at config time.
        add_root_ca(&mut rustls::RootCertStore::empty(), &pem)
            .inspect_err(|e| tracing::warn!(url = %self.url, "bridge: {e}"))?;
        self.root_ca_pem = Some(match self.root_ca_pem.take() {
            Some(mut old) => {
                old.push(b'\n');
                old.extend_from_slice(&pem);
                old
            }
            None => pem,
        });
        Ok(self)
    }

    /// The rustls settings for a `wss://` dial: the ring provider, TLS 1.2 and 1.3,
    /// webpki-roots plus `root_ca_pem`, no client certificate.
    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, LegError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &self.root_ca_pem {
            add_root_ca(&mut roots, pem)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // Only a provider lacking every TLS version's cipher suites fails here; ring has all.
            .map_err(|e| LegError::Connect {
                url: self.url.clone(),
                reason: format!("TLS setup: {e}"),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// Adds each `CERTIFICATE` section of `pem` to `roots` as a trust anchor (X.509 that webpki
/// can read); `pem` must hold at least one. Sections of other kinds (a key) are skipped.
fn add_root_ca(roots: &mut rustls::RootCertStore, pem: &[u8]) -> Result<(), LegError> {
    let mut added = 0;
    for (i, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let der = item.map_err(|e| LegError::RootCa {
            reason: format!("certificate {}: {}", i + 1, describe_pem_error(&e)),
        })?;
        roots.add(der).map_err(|e| LegError::RootCa {
            reason: format!("certificate {}: {e}", i + 1),
        })?;
        added += 1;
    }
    if added == 0 {
        return Err(LegError::RootCa {
            reason: format!(
                "no -----BEGIN CERTIFICATE----- section in {} bytes",
                pem.len()
            ),
        });
    }
    Ok(())
}

/// `pem::Error` prints the offending line as a list of byte values; show it as text.
fn describe_pem_error(e: &pem::Error) -> String {
    match e {
        // `end_marker` holds the section's label, e.g. `CERTIFICATE`.
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "no \"-----END {}-----\" line",
            String::from_utf8_lossy(end_marker).trim()
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "malformed section start {:?}",
            String::from_utf8_lossy(line).trim()
        ),
        other => other.to_string(),
    }
}

/// Whether `url` asks for TLS (`wss:`; the scheme is case-insensitive, RFC 3986 §3.1).
fn is_wss(url: &str) -> bool {
    url.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("wss:"))
}

/// A dial error as the reason of [`LegError::Connect`]: a TLS failure (rustls' error inside
/// the I/O error tokio-rustls returns) is named as such, e.g. "TLS handshake failed: invalid
/// peer certificate: UnknownIssuer".
fn describe_dial_error(e: &WsError, wss: bool) -> String {
    if let WsError::Io(io) = e {
        let tls = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(tls) = tls {
            return format!("TLS handshake failed: {tls}");
        }
        // tokio-rustls' "tls handshake eof": the peer hung up mid-handshake, typically a
        // plain ws:// agent that read the ClientHello as bad HTTP. (An early EOF in the
        // WebSocket handshake is a protocol error, not this I/O error.)
        if wss && io.kind() == std::io::ErrorKind::UnexpectedEof {
            return format!(
                "TLS handshake failed: the agent closed the connection (not a TLS server?): {io}"
            );
        }
    }
    e.to_string()
}

/// Dials the agent and starts a leg for `metadata`'s call: after the handshake the protocol's
/// start message(s) go out first, then caller audio. For jambonz the subprotocol
/// `audio.jambonz.org` is offered; an agent that does not echo it is accepted (one retry
/// without it, within the same timeout; ws-media §7 rule 16). A `wss://` URL runs TLS first
/// (see [`ClientConfig::root_ca_pem`] for which certificates are trusted).
///
/// # Errors
/// [`LegError::Bridge`] for bad settings; [`LegError::RootCa`] for a `wss://` URL when
/// `client.root_ca_pem` is not usable PEM; [`LegError::Connect`] for a bad URL or header, a
/// refused connection, a failed TLS handshake (the reason starts "TLS handshake failed:" and
/// names rustls' error, e.g. "invalid peer certificate: UnknownIssuer") or a failed
/// WebSocket handshake; [`LegError::Timeout`] after `connect_timeout`.
/// Once it returns `Ok`, every later failure ends the leg with
/// [`BridgeEvent::Closed`](super::BridgeEvent::Closed) instead.
pub async fn connect(
    client: &ClientConfig,
    bridge: BridgeConfig,
    metadata: CallMetadata,
) -> Result<BridgeLeg, LegError> {
    bridge.validate()?;
    let jambonz = bridge.protocol.kind() == ProtocolKind::Jambonz;
    // Built once per call, shared by the jambonz retry; `ws://` gets no connector, exactly
    // the plain path it had before TLS existed.
    let wss = is_wss(&client.url);
    let tls = if wss {
        Some(client.tls_config()?)
    } else {
        None
    };
    let limit = client.connect_timeout;
    let attempt = async {
        match dial(client, jambonz, tls.clone()).await {
            Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
                SubProtocolError::NoSubProtocol,
            ))) if jambonz => {
                tracing::debug!(url = %client.url, "bridge: agent did not echo audio.jambonz.org, retrying without it");
                dial(client, false, tls.clone()).await
            }
            other => other,
        }
    };
    let ws = match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            return Err(LegError::Connect {
                url: client.url.clone(),
                reason: describe_dial_error(&e, wss),
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

async fn dial(
    client: &ClientConfig,
    subprotocol: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<ClientStream, WsError> {
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
    let connector = tls.map(Connector::Rustls);
    let (ws, _response) =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, connector)
            .await?;
    Ok(ws)
}
