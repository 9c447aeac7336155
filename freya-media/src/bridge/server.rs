//! Server mode: the agent dials freya and names its call (as with Asterisk's incoming
//! `chan_websocket` connections at `/media/<connection_id>`, ws-media §3.2).
//!
//! The stack first announces a call with [`BridgeServer::expect_call`]; the agent then opens
//! `ws://<freya>/call/<call_id>` (or `/media/<call_id>`), optionally with a token as
//! `Authorization: Bearer <token>` or `?token=<token>`, checked by the [`Authorizer`] hook.
//! Answers: unknown call → HTTP 404, a second connection while the first one's handshake is
//! under way → 409 (Asterisk's codes; once the leg is handed over the call id is forgotten and
//! answers 404), refused token → 401; a request that is not a valid upgrade → 400 (426 for
//! another WebSocket version, RFC 6455 §4.4). Each refusal is a complete HTTP response with the
//! reason as a plain-text body, and is logged. The handshake is freya's own (`upgrade`), so an
//! accepted connection's read buffer is the configured 1 KiB. Once accepted, freya sends the
//! protocol's start message(s) first, exactly as in client mode.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::leg::{spawn_leg, BridgeLeg, LegError, ShellOptions};
use super::upgrade::{self, UpgradeError, UpgradeRequest};
use super::{jambonz, BridgeConfig, BridgeSession, CallMetadata};

/// What the token check sees of an agent's connection attempt.
///
/// ```
/// use freya_media::bridge::AuthRequest;
/// let r = AuthRequest {
///     call_id: "c1".into(),
///     path: "/call/c1".into(),
///     token: Some("s3cret".into()),
///     headers: vec![],
///     peer: "127.0.0.1:40000".parse().unwrap(),
/// };
/// assert_eq!(r.token.as_deref(), Some("s3cret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The call the agent names (from the path).
    pub call_id: String,
    /// The request path, without the query.
    pub path: String,
    /// `Authorization: Bearer <token>`, else the `token` query parameter.
    pub token: Option<String>,
    /// Every request header, in order (values that are not UTF-8 are left out).
    pub headers: Vec<(String, String)>,
    /// The agent's address.
    pub peer: SocketAddr,
}

/// The token check: true lets the agent in. Called on the accepting task; keep it quick.
pub type Authorizer = Arc<dyn Fn(&AuthRequest) -> bool + Send + Sync>;

/// Settings of the server.
///
/// ```
/// use std::sync::Arc;
/// use freya_media::bridge::{AuthRequest, ServerConfig};
/// let mut c = ServerConfig::default();
/// c.authorizer = Some(Arc::new(|r: &AuthRequest| r.token.as_deref() == Some("s3cret")));
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    /// Longest an agent may take from TCP accept to the end of the handshake (default 5 s).
    pub handshake_timeout: Duration,
    /// The token check; `None` lets every agent that names an expected call in.
    pub authorizer: Option<Authorizer>,
    /// The shell's settings for accepted legs.
    pub shell: ShellOptions,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            handshake_timeout: Duration::from_secs(5),
            authorizer: None,
            shell: ShellOptions::default(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("authorizer", &self.authorizer.is_some())
            .field("shell", &self.shell)
            .finish()
    }
}

struct Slot {
    bridge: BridgeConfig,
    meta: CallMetadata,
    tx: oneshot::Sender<Result<BridgeLeg, LegError>>,
}

/// Expected calls; `None` once an agent has named the call (until its `PendingLeg` is gone).
type Registry = Mutex<HashMap<String, Option<Slot>>>;

/// The listening side of server mode. Dropping it stops accepting (legs already running go
/// on).
///
/// ```no_run
/// # async fn demo() -> Result<(), freya_media::bridge::LegError> {
/// use std::time::Duration;
/// use freya_media::bridge::{BridgeConfig, BridgeServer, CallMetadata, Direction, ServerConfig};
///
/// let server = BridgeServer::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await?;
/// let meta = CallMetadata::new("3f2c…", Direction::Inbound, "+1555", "+1666");
/// let pending = server.expect_call(meta, BridgeConfig::twilio())?;
/// // … tell the agent to open ws://{server.local_addr()}/call/3f2c… …
/// let mut leg = pending.wait(Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
pub struct BridgeServer {
    local_addr: SocketAddr,
    registry: Arc<Registry>,
    task: JoinHandle<()>,
}

impl BridgeServer {
    /// Listens on `addr` (port 0 picks a free one).
    ///
    /// # Errors
    /// [`LegError::Bind`] when the address cannot be bound.
    pub async fn bind(addr: SocketAddr, config: ServerConfig) -> Result<Self, LegError> {
        let bind_err = |e: std::io::Error| LegError::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let registry: Arc<Registry> = Arc::new(Mutex::new(HashMap::new()));
        let task = tokio::spawn(accept_loop(listener, Arc::downgrade(&registry), config));
        tracing::info!(%local_addr, "bridge: server listening");
        Ok(BridgeServer {
            local_addr,
            registry,
            task,
        })
    }

    /// The address agents connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Announces a call the agent will connect for (path `/call/{call_id}`).
    ///
    /// # Errors
    /// [`LegError::Bridge`] for bad settings; [`LegError::DuplicateCall`] when the call id is
    /// already expected.
    pub fn expect_call(
        &self,
        meta: CallMetadata,
        bridge: BridgeConfig,
    ) -> Result<PendingLeg, LegError> {
        bridge.validate()?;
        let call_id = meta.call_id.clone();
        let (tx, rx) = oneshot::channel();
        let mut reg = lock(&self.registry);
        if reg.contains_key(&call_id) {
            return Err(LegError::DuplicateCall { call_id });
        }
        reg.insert(call_id.clone(), Some(Slot { bridge, meta, tx }));
        Ok(PendingLeg {
            call_id,
            rx,
            registry: Arc::downgrade(&self.registry),
        })
    }
}

impl Drop for BridgeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A call announced to the server, waiting for its agent. Dropping it withdraws the call.
///
/// ```
/// use std::time::Duration;
/// use freya_media::bridge::{BridgeConfig, BridgeServer, CallMetadata, Direction, LegError, ServerConfig};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let server = BridgeServer::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await.unwrap();
/// let pending = server.expect_call(CallMetadata::new("c7", Direction::Outbound, "a", "b"), BridgeConfig::twilio()).unwrap();
/// assert_eq!(pending.call_id(), "c7");
/// // No agent comes: the wait times out and the call is withdrawn.
/// let err = pending.wait(Duration::from_millis(50)).await.unwrap_err();
/// assert_eq!(err, LegError::Timeout { what: "agent connection", ms: 50 });
/// # });
/// ```
#[derive(Debug)]
pub struct PendingLeg {
    call_id: String,
    rx: oneshot::Receiver<Result<BridgeLeg, LegError>>,
    registry: Weak<Registry>,
}

impl PendingLeg {
    /// The call id the agent must name.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Waits for the agent to connect, at most `limit`.
    ///
    /// # Errors
    /// [`LegError::Timeout`] (the call is withdrawn), [`LegError::Handshake`] when the agent's
    /// connection failed after naming the call, [`LegError::Closed`] when the server is gone.
    pub async fn wait(mut self, limit: Duration) -> Result<BridgeLeg, LegError> {
        match tokio::time::timeout(limit, &mut self.rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(LegError::Closed),
            Err(_) => Err(LegError::Timeout {
                what: "agent connection",
                ms: limit.as_millis() as u64,
            }),
        }
    }
}

impl Drop for PendingLeg {
    fn drop(&mut self) {
        if let Some(reg) = self.registry.upgrade() {
            lock(&reg).remove(&self.call_id);
        }
    }
}

fn lock(reg: &Registry) -> std::sync::MutexGuard<'_, HashMap<String, Option<Slot>>> {
    // A panic while holding this lock cannot leave the map inconsistent: take it anyway.
    reg.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, registry: Weak<Registry>, config: ServerConfig) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(accept_one(tcp, peer, registry.clone(), config.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "bridge: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The call id an agent names: the last path segment after `/call/` or `/media/`.
fn call_id_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/call/")
        .or_else(|| path.strip_prefix("/media/"))?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// A refusal: the status and the body of the answer.
type Refusal = (StatusCode, &'static str);

/// Picks the expected call a valid upgrade request names, or the refusal (logged here):
/// 404 for no call id in the path or an unknown call, 409 for a call whose agent is already
/// connecting, 401 for a token the authorizer refuses, 503 when the server is gone. Returns
/// the call's slot (taken: a second request for it gets 409) and the subprotocol to echo
/// (jambonz's, when offered).
fn admit(
    req: &UpgradeRequest,
    peer: SocketAddr,
    registry: &Weak<Registry>,
    authorizer: Option<&Authorizer>,
) -> Result<(Slot, Option<&'static str>), Refusal> {
    let path = req.path.clone();
    let Some(call_id) = call_id_of(&path).map(str::to_owned) else {
        tracing::warn!(%peer, %path, "bridge: agent connection refused: no call id in the path");
        return Err((StatusCode::NOT_FOUND, "path must be /call/{call_id}"));
    };
    let bearer = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let query_token = req.query.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token=").map(str::to_owned))
    });
    let auth = AuthRequest {
        call_id: call_id.clone(),
        path,
        token: bearer.or(query_token),
        headers: req.headers.clone(),
        peer,
    };
    let Some(reg) = registry.upgrade() else {
        tracing::warn!(%peer, %call_id, "bridge: agent connection refused: server shutting down");
        return Err((StatusCode::SERVICE_UNAVAILABLE, "server shutting down"));
    };
    let mut reg = lock(&reg);
    match reg.get(&call_id) {
        None => {
            tracing::warn!(%peer, %call_id, "bridge: agent named an unknown call");
            return Err((StatusCode::NOT_FOUND, "no such call"));
        }
        Some(None) => {
            tracing::warn!(%peer, %call_id, "bridge: second agent connection for a call");
            return Err((StatusCode::CONFLICT, "call already connected"));
        }
        Some(Some(_)) => {}
    }
    if authorizer.is_some_and(|a| !a(&auth)) {
        tracing::warn!(%peer, %call_id, "bridge: agent token refused");
        return Err((StatusCode::UNAUTHORIZED, "token refused"));
    }
    let Some(slot) = reg.get_mut(&call_id).and_then(Option::take) else {
        // Checked just above under the same lock.
        return Err((StatusCode::CONFLICT, "call already connected"));
    };
    let echo = req
        .offers(jambonz::SUBPROTOCOL)
        .then_some(jambonz::SUBPROTOCOL);
    Ok((slot, echo))
}

/// The server's side of the opening handshake (RFC 6455 §4.2, see `upgrade`): reads the
/// request (a bad one is answered 400/426/431 there), picks the call ([`admit`]; a refusal
/// is answered with its status and body) and answers 101. The call's slot lands in
/// `chosen` as soon as it is picked, so a failure after that reaches the waiting call.
/// Returns the bytes read past the request (the agent's first frames, usually none).
async fn handshake(
    tcp: &mut TcpStream,
    peer: SocketAddr,
    registry: &Weak<Registry>,
    authorizer: Option<&Authorizer>,
    chosen: &mut Option<Slot>,
) -> Result<Vec<u8>, UpgradeError> {
    let (req, leftover) = upgrade::read_request(tcp, peer).await?;
    match admit(&req, peer, registry, authorizer) {
        Ok((slot, subprotocol)) => {
            *chosen = Some(slot);
            upgrade::write_accept(tcp, &req, subprotocol).await?;
            Ok(leftover)
        }
        Err((status, why)) => {
            upgrade::write_refusal(tcp, status, why).await?;
            Err(UpgradeError::Refused {
                status: status.as_u16(),
                why,
            })
        }
    }
}

async fn accept_one(
    mut tcp: TcpStream,
    peer: SocketAddr,
    registry: Weak<Registry>,
    config: ServerConfig,
) {
    let limit = config.handshake_timeout;
    let mut chosen = None;
    let authorizer = config.authorizer.as_ref();
    let result = tokio::time::timeout(
        limit,
        handshake(&mut tcp, peer, &registry, authorizer, &mut chosen),
    )
    .await;
    let Some(slot) = chosen else {
        // Refused (logged in `admit` or `read_request`), or the handshake never got that far.
        if let Ok(Err(e)) = &result {
            tracing::debug!(%peer, error = %e, "bridge: agent handshake ended");
        }
        return;
    };
    let call_id = slot.meta.call_id.clone();
    let leftover = match result {
        Ok(Ok(leftover)) => leftover,
        Ok(Err(e)) => {
            let _ = slot.tx.send(Err(LegError::Handshake {
                call_id,
                reason: e.to_string(),
            }));
            return;
        }
        Err(_) => {
            let _ = slot.tx.send(Err(LegError::Timeout {
                what: "agent handshake",
                ms: limit.as_millis() as u64,
            }));
            return;
        }
    };
    // Built from what was read past the request: the read buffer is the configured size.
    let ws = WebSocketStream::from_partially_read(
        tcp,
        leftover,
        Role::Server,
        Some(config.shell.ws_config()),
    )
    .await;
    let now = tokio::time::Instant::now().into_std();
    match BridgeSession::new(slot.bridge, slot.meta, now) {
        Ok(session) => {
            tracing::info!(%peer, %call_id, "bridge: agent connected");
            let leg = spawn_leg(ws, session, config.shell.clone());
            if let Err(Ok(leg)) = slot.tx.send(Ok(leg)) {
                // Nobody waits any more: end the leg at once.
                let _ = leg.hangup();
            }
        }
        Err(e) => {
            let _ = slot.tx.send(Err(LegError::Bridge(e)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_come_from_the_path() {
        assert_eq!(call_id_of("/call/abc-1"), Some("abc-1"));
        assert_eq!(call_id_of("/media/x"), Some("x"));
        assert_eq!(call_id_of("/call/"), None);
        assert_eq!(call_id_of("/call/a/b"), None);
        assert_eq!(call_id_of("/ws"), None);
    }
}
