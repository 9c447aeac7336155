//! The built-in echo agents (`builtin_echo = true`): one WebSocket listener per slot on
//! the slot's own URL, served by freya-media's echo agent, so the stack runs a demo with
//! nothing else installed.

use std::net::SocketAddr;

use freya_media::bridge::echo::serve_echo;
use freya_media::bridge::ProtocolKind;

use crate::config::{AgentPool, AgentProtocol, StackConfig};
use crate::StackError;

/// The freya-media protocol of a pool.
pub(crate) fn protocol_kind(p: AgentProtocol) -> ProtocolKind {
    match p {
        AgentProtocol::Twilio => ProtocolKind::Twilio,
        AgentProtocol::Jambonz => ProtocolKind::Jambonz,
        AgentProtocol::Asterisk => ProtocolKind::Asterisk,
    }
}

/// `host:port` of a `ws://host:port/path` URL, when the host is an IP literal.
pub(crate) fn ws_addr(url: &str) -> Option<SocketAddr> {
    let rest = url.strip_prefix("ws://")?;
    let authority = rest.split('/').next()?;
    authority.parse().ok()
}

/// The built-in agents' listener tasks: aborted (their ports released) when this is
/// dropped — at [`Stack::shutdown`](super::Stack::shutdown), with the stack, or when a start
/// fails after some of them were bound.
#[derive(Debug, Default)]
pub(crate) struct BuiltinAgents(Vec<tokio::task::JoinHandle<()>>);

impl Drop for BuiltinAgents {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Binds and serves every built-in agent slot. On an error, the slots bound before it are
/// released (the partial set is dropped).
pub(crate) async fn start_builtin(config: &StackConfig) -> Result<BuiltinAgents, StackError> {
    let mut agents = BuiltinAgents::default();
    for pool in config.agents.iter().filter(|a| a.builtin_echo) {
        start_pool(pool, &mut agents).await?;
    }
    Ok(agents)
}

async fn start_pool(pool: &AgentPool, agents: &mut BuiltinAgents) -> Result<(), StackError> {
    for slot in 0..pool.slots {
        let url = pool.url_for(slot);
        let addr = ws_addr(&url).ok_or_else(|| StackError::Config {
            key: format!("agents[{}].url", pool.name),
            reason: format!("{url:?}: a built-in agent needs ws://ip:port/…"),
        })?;
        if !addr.ip().is_loopback() {
            return Err(StackError::Config {
                key: format!("agents[{}].url", pool.name),
                reason: format!("{url:?}: built-in agents listen on loopback only"),
            });
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StackError::Io {
                what: format!("built-in echo agent {} slot {slot} on {addr}", pool.name),
                source,
            })?;
        let kind = protocol_kind(pool.protocol);
        agents.0.push(tokio::spawn(async move {
            let error = serve_echo(listener, Some(kind), None).await;
            tracing::error!(%addr, %error, "stack: built-in echo agent stopped");
        }));
    }
    tracing::info!(
        pool = pool.name,
        slots = pool.slots,
        "stack: built-in echo agents listening"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ws_addresses() {
        assert_eq!(
            super::ws_addr("ws://127.0.0.1:8765/telephony/ws"),
            Some("127.0.0.1:8765".parse().unwrap())
        );
        assert_eq!(
            super::ws_addr("ws://[::1]:9000/x"),
            Some("[::1]:9000".parse().unwrap())
        );
        assert_eq!(super::ws_addr("ws://agent.example/x"), None);
        assert_eq!(super::ws_addr("wss://127.0.0.1:1/x"), None);
    }
}
