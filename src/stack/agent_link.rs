//! How a call reaches its agent: in `client` mode freya dials the slot's URL; in `server`
//! mode the call is announced on the agent server and the agent dials in, naming the call
//! (`ws://<agent_server.listen>/call/<X-Freya-Call-Id>`) with the bearer token; in `host`
//! mode the call is handed to the program running the stack ([`super::host`]).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use freya_media::bridge::{
    connect, host_leg, AuthRequest, BridgeConfig, BridgeLeg, BridgeServer, CallMetadata, Protocol,
    ProtocolKind, ServerConfig, ShellOptions,
};
use freya_media::codec::SampleRate;

use super::agents::protocol_kind;
use super::host::HostCall;
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

/// The bridge settings of a pool: its protocol (jambonz framing for a host pool) at its
/// sample rate.
pub(crate) fn bridge_config(pool: &AgentPool) -> BridgeConfig {
    let kind = match pool.mode {
        AgentMode::Host => ProtocolKind::Jambonz,
        _ => protocol_kind(pool.protocol),
    };
    let protocol = match Protocol::default_for(kind) {
        // validate() checked the rate.
        Protocol::Jambonz { .. } => Protocol::Jambonz {
            sample_rate: SampleRate::from_hz(pool.sample_rate).unwrap_or(SampleRate::Hz8000),
        },
        other => other,
    };
    BridgeConfig::new(protocol)
}

/// Where the agent of call `id` in `pool` dials in, for a server-mode pool (the
/// `slot_taken` event carries it).
pub(crate) fn dial_in_url(inner: &Inner, pool: &AgentPool, id: &str) -> Option<String> {
    match pool.mode {
        AgentMode::Client | AgentMode::Host => None,
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
        AgentMode::Host => {
            let host = inner.host_for(&pool.name).ok_or_else(|| {
                format!(
                    "host pool {:?}: no host takes its calls (Stack::host_calls)",
                    pool.name
                )
            })?;
            let call_id = meta.call_id.clone();
            let (leg, agent) = host_leg(bridge_config(pool), meta, ShellOptions::default())
                .await
                .map_err(|e| format!("host pool {:?}: {e}", pool.name))?;
            host.try_send(HostCall { call_id, agent }).map_err(|e| {
                format!(
                    "host pool {:?}: the host is not taking calls ({})",
                    pool.name,
                    match e {
                        tokio::sync::mpsc::error::TrySendError::Full(_) =>
                            "its queue of calls not yet taken is full",
                        tokio::sync::mpsc::error::TrySendError::Closed(_) => "it stopped",
                    }
                )
            })?;
            Ok(leg)
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

#[cfg(test)]
mod tests {
    use crate::config::StackConfig;
    use crate::stack::Stack;

    /// The stack builds a `wss://` pool's TLS settings at start, and every dial's client
    /// settings share that one build (nothing is read per call: the file can be gone). A
    /// reload with a broken CA file is refused naming the key, and the running config (and
    /// its TLS settings) stays; a reload with a renewed file builds new settings.
    #[tokio::test]
    async fn a_reload_with_a_broken_ca_file_is_refused_and_the_running_tls_stays() {
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("agents-ca.pem");
        let ca = rcgen::generate_simple_self_signed(vec!["agent.internal".to_string()]).unwrap();
        std::fs::write(&ca_path, ca.cert.pem()).unwrap();
        let text = format!(
            "[sip]\nbind = \"127.0.0.1:0\"\n\
             [[agents]]\nname = \"tls\"\nslots = 2\nurl = \"wss://agent.internal:{{port}}/ws\"\n\
             root_ca_file = {ca_path:?}\n\
             [[routes]]\nname = \"r\"\nagents = \"tls\"\n"
        );
        let stack = Stack::start(StackConfig::from_toml(&text).unwrap())
            .await
            .unwrap();
        let running = stack.config();
        let tls = running.agents[0].client_config(0).unwrap().tls.unwrap();
        std::fs::remove_file(&ca_path).unwrap();
        let slot1 = running.agents[0].client_config(1).unwrap();
        assert_eq!(slot1.tls, Some(tls.clone()), "one build for every dial");

        // The file broken: the reload is refused, naming the key; nothing changed.
        std::fs::write(&ca_path, "not a certificate").unwrap();
        let parsed: StackConfig = toml::from_str(&text).unwrap();
        let e = stack.reload(parsed).unwrap_err().to_string();
        assert!(
            e.contains("agents[0].root_ca_file") && e.contains("agents-ca.pem"),
            "{e}"
        );
        assert!(std::sync::Arc::ptr_eq(&stack.config(), &running));
        let still = stack.config().agents[0].client_config(0).unwrap().tls;
        assert_eq!(still, Some(tls.clone()));

        // A renewed file: the reload builds the settings anew.
        let renewed =
            rcgen::generate_simple_self_signed(vec!["agent.internal".to_string()]).unwrap();
        std::fs::write(&ca_path, renewed.cert.pem()).unwrap();
        stack
            .reload(StackConfig::from_toml(&text).unwrap())
            .unwrap();
        let new_tls = stack.config().agents[0]
            .client_config(0)
            .unwrap()
            .tls
            .unwrap();
        assert_ne!(new_tls, tls);
        stack.shutdown().await;
    }
}
