//! `Stack::shutdown` as the bindings use it (no `drain` first): the calls still up end (BYE
//! with cause 41), campaigns are cancelled, the built-in agents' and SIP ports are free
//! again (a second stack starts on the same config), and later requests are `Closed`. A
//! start that fails releases the agent ports it had bound. Real sockets on 127.0.0.1.

use std::time::Duration;

use super::{OriginateRequest, Stack};
use crate::campaign::{CampaignRequest, CampaignState};
use crate::config::StackConfig;
use crate::event::{CallEvent, EventKind};
use crate::StackError;

/// A port p < 60000 such that p .. p+n-1 can be bound now (TCP and UDP).
fn free_base(n: u16) -> u16 {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        if p == 0 || p >= 60000 {
            continue;
        }
        if (p..p + n).all(|q| {
            std::net::TcpListener::bind(("127.0.0.1", q)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", q)).is_ok()
        }) {
            return p;
        }
    }
}

/// A stack that dials itself through trunk "self": +1415… reach its two echo agents.
fn self_dialing(sip: u16, agents: u16) -> String {
    let rtp = 2 * (free_base(1) / 2).min(30000);
    format!(
        r#"
[sip]
bind = "127.0.0.1:{sip}"
t1_ms = 100
[[trunks]]
name = "self"
match = ["127.0.0.0/8"]
host = "127.0.0.1:{sip}"
[media]
address = "127.0.0.1"
rtp_port_start = {rtp}
rtp_port_end = {rtp_end}
[[agents]]
name = "echo"
slots = 2
base_port = {agents}
url = "ws://127.0.0.1:{{port}}/telephony/ws"
protocol = "twilio"
builtin_echo = true
busy = {{ status = 503 }}
[[routes]]
name = "sales"
called = "+1415*"
agents = "echo"
"#,
        rtp_end = rtp + 2 * 20 - 1,
    )
}

async fn next(
    events: &mut tokio::sync::broadcast::Receiver<CallEvent>,
    what: &str,
    pred: impl Fn(&CallEvent) -> bool,
) -> CallEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(e) => panic!("{what}: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what}"))
}

#[tokio::test]
async fn shutdown_ends_the_calls_and_campaigns_and_frees_every_port() {
    let (sip, agents) = (free_base(1), free_base(2));
    let text = self_dialing(sip, agents);
    let stack = Stack::start(StackConfig::from_toml(&text).unwrap())
        .await
        .unwrap();
    let mut events = stack.subscribe();
    let req = |to: &str| OriginateRequest {
        to: to.into(),
        caller_id: None,
        trunk: Some("self".into()),
        workflow_id: None,
        headers: vec![],
        agents: None,
        record: false,
    };
    let call_id = stack.originate(req("+14155550100")).await.unwrap();
    next(&mut events, "answer", |e| {
        e.call_id == call_id && matches!(e.kind, EventKind::Answered {})
    })
    .await;
    // A campaign waiting for a slot (both are taken by the call's two legs).
    let campaign: CampaignRequest = serde_json::from_value(serde_json::json!({
        "numbers": ["+14155550101"], "trunk": "self"
    }))
    .unwrap();
    let campaign = stack.start_campaign(campaign).unwrap();
    assert_eq!(stack.calls().len(), 2, "both legs up");

    stack.shutdown().await;
    // Both legs ended, with the shutdown's cause, and nothing is left.
    let mut causes = vec![];
    for _ in 0..2 {
        let e = next(&mut events, "a hangup", |e| {
            matches!(e.kind, EventKind::Hangup { .. })
        })
        .await;
        if let EventKind::Hangup { q850_cause, .. } = e.kind {
            causes.push(q850_cause);
        }
    }
    assert!(causes.contains(&Some(41)), "{causes:?}");
    assert!(stack.calls().is_empty(), "{:?}", stack.calls());
    let info = stack.campaign(&campaign.campaign_id).unwrap();
    assert_eq!(info.state, CampaignState::Cancelled, "{info:?}");
    // Requests after it are refused as Closed.
    let e = stack.originate(req("+14155550102")).await.unwrap_err();
    assert!(matches!(e, StackError::Closed), "{e}");
    stack.shutdown().await; // a second call is harmless
                            // Every port is free again: the same config starts a second stack.
    for p in [agents, agents + 1] {
        tokio::time::timeout(Duration::from_secs(2), async {
            while std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("agent port {p} still bound after shutdown"));
    }
    let again = Stack::start(StackConfig::from_toml(&text).unwrap())
        .await
        .expect("a second stack on the same ports");
    again.shutdown().await;
}

#[tokio::test]
async fn a_start_that_fails_releases_the_agent_ports_it_bound() {
    let (sip, agents) = (free_base(1), free_base(2));
    // The SIP port taken: the start fails after the agents were bound.
    let taken = std::net::UdpSocket::bind(("127.0.0.1", sip)).unwrap();
    let e = match Stack::start(StackConfig::from_toml(&self_dialing(sip, agents)).unwrap()).await {
        Ok(_) => panic!("started with its SIP port taken"),
        Err(e) => e,
    };
    assert!(matches!(e, StackError::Sip(_)), "{e}");
    for p in [agents, agents + 1] {
        tokio::time::timeout(Duration::from_secs(2), async {
            while std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("agent port {p} still bound after a failed start"));
    }
    drop(taken);
}
