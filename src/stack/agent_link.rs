//! How a call reaches its agent: in `client` mode freya dials the slot's URL; in `server`
//! mode the call is announced on the agent server and the agent dials in, naming the call
//! (`ws://<agent_server.listen>/call/<X-Freya-Call-Id>`) with the bearer token.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use freya_media::bridge::{
    connect, AuthRequest, BridgeConfig, BridgeLeg, BridgeServer, CallMetadata, Protocol,
    ServerConfig,
};

use super::agents::protocol_kind;
use super::Inner;
use crate::config::{AgentMode, AgentPool, StackConfig};
use crate::StackError;

/// The agent server and the token it checks (swapped on reload).
pub(crate) struct AgentServer {
    server: BridgeServer,
    token: Arc<RwLock<Option<String>>>,
}

impl AgentServer {
    /// Binds `[agent_server]` when configured.
    pub(crate) async fn start(config: &StackConfig) -> Result<Option<AgentServer>, StackError> {
        let Some(addr) = config.agent_server.listen else {
            return Ok(None);
        };
        let token = Arc::new(RwLock::new(config.agent_token()));
        let check = token.clone();
        let server_config = ServerConfig {
            authorizer: Some(Arc::new(move |r: &AuthRequest| {
                let want = check.read().unwrap_or_else(|p| p.into_inner());
                let ok = match want.as_deref() {
                    None => true,
                    Some(t) => r.token.as_deref() == Some(t),
                };
                if !ok {
                    tracing::warn!(call_id = r.call_id, peer = %r.peer, "stack: agent refused: no valid token");
                }
                ok
            })),
            ..ServerConfig::default()
        };
        let server =
            BridgeServer::bind(addr, server_config)
                .await
                .map_err(|e| StackError::Config {
                    key: "agent_server.listen".into(),
                    reason: format!("{addr}: {e}"),
                })?;
        tracing::info!(addr = %server.local_addr(), "stack: agent server listening");
        Ok(Some(AgentServer { server, token }))
    }

    /// Takes the reloaded config's token.
    pub(crate) fn reload(&self, config: &StackConfig) {
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = config.agent_token();
    }

    /// Where the agent of call `id` connects.
    pub(crate) fn url_for(&self, id: &str) -> String {
        format!("ws://{}/call/{id}", self.server.local_addr())
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }
}

/// The bridge settings of a pool.
pub(crate) fn bridge_config(pool: &AgentPool) -> BridgeConfig {
    BridgeConfig::new(Protocol::default_for(protocol_kind(pool.protocol)))
}

/// Where the agent of call `id` in `pool` dials in, for a server-mode pool (the
/// `slot_taken` event carries it).
pub(crate) fn dial_in_url(inner: &Inner, pool: &AgentPool, id: &str) -> Option<String> {
    match pool.mode {
        AgentMode::Client => None,
        AgentMode::Server => inner.agent_server.as_ref().map(|s| s.url_for(id)),
    }
}

/// The call's agent leg: dialled (client mode) or awaited (server mode, at most
/// `agent_server.connect_timeout_ms`). The error says which agent and why, for the log.
pub(crate) async fn agent_leg(
    inner: &Inner,
    pool: &AgentPool,
    slot: usize,
    meta: CallMetadata,
) -> Result<BridgeLeg, String> {
    match pool.mode {
        AgentMode::Client => {
            let client = pool.client_config(slot)?;
            connect(&client, bridge_config(pool), meta)
                .await
                .map_err(|e| format!("{}: {e}", client.url))
        }
        AgentMode::Server => {
            let Some(server) = inner.agent_server.as_ref() else {
                // validate() refuses a server-mode pool without [agent_server].
                return Err("no [agent_server] is running".into());
            };
            let id = meta.call_id.clone();
            let pending = server
                .server
                .expect_call(meta, bridge_config(pool))
                .map_err(|e| format!("call {id}: {e}"))?;
            let limit = Duration::from_millis(inner.config().agent_server.connect_timeout_ms);
            pending
                .wait(limit)
                .await
                .map_err(|e| format!("{}: {e}", server.url_for(&id)))
        }
    }
}
