//! Client mode: freya dials the agent's WebSocket URL (as Twilio, jambonz and Asterisk's
//! outgoing `chan_websocket` do), e.g. `ws://127.0.0.1:8765/telephony/ws`, or
//! `wss://agent.example.com/telephony/ws` for an agent behind TLS (RFC 6455 §3: `wss` is
//! WebSocket over TLS, port 443 by default).
//!
//! TLS is rustls with the `ring` provider, passed per connection (no process-wide provider
//! is installed); trusted roots are the Mozilla set from `webpki-roots` plus, optionally, a
//! private CA given as PEM ([`ClientConfig::with_root_ca_pem`]). A host that dials the same
//! agents many times builds those settings once ([`ClientTls`]) and hands the shared copy to
//! every dial ([`ClientConfig::with_tls`]): building them parses the ~150 Mozilla roots and
//! the PEM again, which a dial per call should not pay.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::leg::{spawn_leg, BridgeLeg, LegError, ShellOptions};
use super::upgrade::{self, ClientRequest, Target, UpgradeError};
use super::{jambonz, BridgeConfig, BridgeSession, CallMetadata, ProtocolKind};

/// Where and how to dial the agent.
///
/// ```
/// use freya_media::bridge::ClientConfig;
/// let c = ClientConfig::new("ws://127.0.0.1:8765/telephony/ws")
///     .with_header("Authorization", "Bearer s3cret");
/// assert_eq!(c.connect_timeout.as_secs(), 5);
/// assert!(c.root_ca_pem.is_none()); // wss:// trusts the webpki-roots (Mozilla) set only
/// assert!(c.tls.is_none()); // … built at each wss:// dial, unless prepared ones are given
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
    /// Not used when [`tls`](Self::tls) is set.
    pub root_ca_pem: Option<Vec<u8>>,
    /// TLS settings built beforehand and shared by every dial that carries them (see
    /// [`ClientTls`]); `None` (default): each `wss://` dial builds its own from the
    /// webpki-roots set and `root_ca_pem`. When set, it is the whole trust decision:
    /// `root_ca_pem` is ignored. Ignored for `ws://`.
    pub tls: Option<ClientTls>,
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
            tls: None,
        }
    }

    /// Uses `tls`, built once ([`ClientTls::new`]) and shared, for `wss://` dials instead of
    /// building settings per dial (see [`tls`](Self::tls)).
    ///
    /// ```
    /// use freya_media::bridge::{ClientConfig, ClientTls};
    /// let tls = ClientTls::new(None)?; // the Mozilla roots, parsed once
    /// let a = ClientConfig::new("wss://agent.example/ws?slot=0").with_tls(tls.clone());
    /// let b = ClientConfig::new("wss://agent.example/ws?slot=1").with_tls(tls);
    /// assert_eq!(a.tls, b.tls); // one shared build
    /// # Ok::<(), freya_media::bridge::LegError>(())
    /// ```
    pub fn with_tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
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

    /// The TLS settings of a `wss://` dial: the prepared ones when given, else built now
    /// from webpki-roots and `root_ca_pem`.
    fn tls_for_dial(&self) -> Result<Arc<rustls::ClientConfig>, LegError> {
        match &self.tls {
            Some(tls) => Ok(Arc::clone(&tls.config)),
            None => ClientTls::new(self.root_ca_pem.as_deref()).map(|t| t.config),
        }
    }
}

/// The TLS client settings of `wss://` dials (rustls, ring provider, TLS 1.2 and 1.3,
/// RFC 6455 §3), built once and shared: cloning is an `Arc` increment, and every dial given
/// a clone ([`ClientConfig::with_tls`]) uses that one build, whatever the number of calls.
/// Two values are equal when they are the same build.
///
/// ```
/// use freya_media::bridge::{ClientTls, LegError};
/// let ca = rcgen::generate_simple_self_signed(vec!["agent.internal".to_string()])?;
/// let tls = ClientTls::new(Some(ca.cert.pem().as_bytes()))?; // Mozilla roots + this CA
/// assert_eq!(tls, tls.clone());
/// assert_ne!(tls, ClientTls::new(Some(ca.cert.pem().as_bytes()))?); // another build
/// assert!(matches!(ClientTls::new(Some(b"not a certificate")), Err(LegError::RootCa { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl ClientTls {
    /// Settings trusting the webpki-roots (Mozilla) set plus, when given, the CA
    /// certificate(s) in `root_ca_pem` (PEM text with one or more `CERTIFICATE` sections;
    /// other sections are skipped), with no client certificate.
    ///
    /// # Errors
    /// [`LegError::RootCa`] as [`ClientConfig::with_root_ca_pem`]; [`LegError::Tls`] when
    /// rustls refuses the provider (not with ring).
    pub fn new(root_ca_pem: Option<&[u8]>) -> Result<ClientTls, LegError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = root_ca_pem {
            add_root_ca(&mut roots, pem)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // Only a provider lacking every TLS version's cipher suites fails here; ring has all.
            .map_err(|e| LegError::Tls {
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// Settings the host built itself with rustls (a client certificate, its own verifier,
    /// another provider), used as they are.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use freya_media::bridge::ClientTls;
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let mut roots = rustls::RootCertStore::empty();
    /// roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let config = Arc::new(config);
    /// let tls = ClientTls::from_rustls(Arc::clone(&config));
    /// assert!(Arc::ptr_eq(tls.rustls(), &config));
    /// # Ok::<(), rustls::Error>(())
    /// ```
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> ClientTls {
        ClientTls { config }
    }

    /// The rustls settings themselves.
    pub fn rustls(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }
}

impl PartialEq for ClientTls {
    /// The same build (one shared `Arc`): rustls settings have no value equality.
    fn eq(&self, other: &ClientTls) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ClientTls {}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // rustls' own Debug lists every root and cipher suite: too long for a log line.
        f.debug_struct("ClientTls")
            .field("at", &Arc::as_ptr(&self.config))
            .finish_non_exhaustive()
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

/// Why a dial failed, before the leg exists.
#[derive(Debug, thiserror::Error)]
enum DialError {
    /// The URL, a header, the connection's I/O or the WebSocket handshake.
    #[error(transparent)]
    Upgrade(#[from] UpgradeError),
    /// The TCP connection to `addr` failed (refused, unreachable, no such host).
    #[error("IO error: cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// The URL's host is not a name TLS can check a certificate against.
    #[error("TLS handshake failed: invalid server name {host:?}")]
    ServerName { host: String },
    /// The TLS handshake (`wss://`) failed.
    #[error("{}", describe_tls_error(.0))]
    Tls(std::io::Error),
}

/// A failed TLS handshake as the reason of [`LegError::Connect`]: rustls' error inside the
/// I/O error tokio-rustls returns is named as such, e.g. "TLS handshake failed: invalid
/// peer certificate: UnknownIssuer".
fn describe_tls_error(io: &std::io::Error) -> String {
    match rustls_error(io) {
        // Not a TLS record: the agent answered in plain text, e.g. a ws:// server's 400.
        Some(tls @ rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            return format!(
                "TLS handshake failed: the agent answered in plain text (not a TLS server?): {tls}"
            )
        }
        Some(tls) => return format!("TLS handshake failed: {tls}"),
        None => {}
    }
    // tokio-rustls' "tls handshake eof": the peer hung up mid-handshake, typically a plain
    // ws:// agent that read the ClientHello as bad HTTP.
    if io.kind() == std::io::ErrorKind::UnexpectedEof {
        return format!(
            "TLS handshake failed: the agent closed the connection (not a TLS server?): {io}"
        );
    }
    format!("TLS handshake failed: {io}")
}

fn rustls_error(io: &std::io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A dial error as the reason of [`LegError::Connect`]. A TLS error met after the TLS
/// handshake (an alert during the WebSocket handshake) is named as TLS too.
fn describe_dial_error(e: &DialError) -> String {
    match e {
        DialError::Upgrade(UpgradeError::Io(io)) => match rustls_error(io) {
            Some(tls) => format!("TLS error: {tls}"),
            None => e.to_string(),
        },
        _ => e.to_string(),
    }
}

/// Dials the agent and starts a leg for `metadata`'s call: after the handshake the protocol's
/// start message(s) go out first, then caller audio. For jambonz the subprotocol
/// `audio.jambonz.org` is offered; an agent that does not echo it is accepted (one retry
/// without it, within the same timeout; ws-media §7 rule 16). A `wss://` URL runs TLS first
/// (see [`ClientConfig::root_ca_pem`] for which certificates are trusted).
///
/// # Errors
/// [`LegError::Bridge`] for bad settings; [`LegError::RootCa`] for a `wss://` URL when
/// `client.root_ca_pem` is not usable PEM (and no prepared `client.tls` is given), and
/// [`LegError::Tls`] if the settings cannot be built then (not with ring);
/// [`LegError::Connect`] for a bad URL or header, a refused connection, a failed TLS handshake (the reason starts "TLS handshake failed:" and
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
    // The prepared settings (shared by every dial), else built once for this call and
    // shared by the jambonz retry; `ws://` gets no connector, exactly the plain path it had
    // before TLS existed.
    let connect_error = |e: &DialError| LegError::Connect {
        url: client.url.clone(),
        reason: describe_dial_error(e),
    };
    let target = Target::parse(&client.url).map_err(|e| connect_error(&e.into()))?;
    let tls = if target.tls {
        Some(client.tls_for_dial()?)
    } else {
        None
    };
    let limit = client.connect_timeout;
    let attempt = async {
        match dial(client, &target, jambonz, tls.clone()).await {
            Err(DialError::Upgrade(UpgradeError::NoSubprotocol { .. })) if jambonz => {
                tracing::debug!(url = %client.url, "bridge: agent did not echo audio.jambonz.org, retrying without it");
                dial(client, &target, false, tls.clone()).await
            }
            other => other,
        }
    };
    let ws = match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return Err(connect_error(&e)),
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

type ClientStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One dial: TCP, TLS for `wss://` (over which the rest runs), the opening handshake
/// (RFC 6455 §4.1, ours: see `upgrade`), offering `audio.jambonz.org` when `subprotocol`.
/// The stream is built from the bytes read past the answer's head, so its read buffer is
/// the configured size (1 KiB), not the 4 KiB a tungstenite handshake leaves behind.
async fn dial(
    client: &ClientConfig,
    target: &Target,
    subprotocol: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<ClientStream, DialError> {
    let offer: &[&str] = if subprotocol {
        &[jambonz::SUBPROTOCOL]
    } else {
        &[]
    };
    let request = ClientRequest::new(target, &generate_key(), &client.headers, offer)?;
    let host = target.host.as_str();
    let tcp = TcpStream::connect((host, target.port))
        .await
        .map_err(|source| DialError::Connect {
            addr: format!("{host}:{}", target.port),
            source,
        })?;
    // Media messages are small and latency-bound (as tokio-tungstenite's `disable_nagle`).
    tcp.set_nodelay(true).map_err(UpgradeError::Io)?;
    let mut stream = match tls {
        Some(config) => {
            let name =
                ServerName::try_from(host.to_owned()).map_err(|_| DialError::ServerName {
                    host: host.to_owned(),
                })?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = connector.connect(name, tcp).await.map_err(DialError::Tls)?;
            MaybeTlsStream::Rustls(tls)
        }
        None => MaybeTlsStream::Plain(tcp),
    };
    let (_, leftover) = upgrade::client_handshake(&mut stream, &request).await?;
    drop(request);
    let config = client.shell.ws_config();
    Ok(WebSocketStream::from_partially_read(stream, leftover, Role::Client, Some(config)).await)
}
