//! `Stack::shutdown` as the bindings use it (the library, no server, no `drain` first): the
//! calls still up end (BYE with cause 41), campaigns are cancelled, the built-in agents' and
//! SIP ports are free again (a second stack starts on the same config), and later requests
//! are `Closed`. A start that fails releases the agent ports it had bound. Real sockets on
//! 127.0.0.1.

mod common;

use std::time::Duration;

use freya::campaign::{CampaignRequest, CampaignState};
use freya::config::StackConfig;
use freya::event::{CallEvent, EventKind};
use freya::stack::{OriginateRequest, Stack};
use freya::StackError;

/// Waits (at most 2 s) until the two agent ports from `agents` can be bound again.
async fn agent_ports_free(agents: u16, when: &str) {
    for p in [agents, agents + 1] {
        tokio::time::timeout(Duration::from_secs(2), async {
            while std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("agent port {p} still bound {when}"));
    }
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
    let (text, agents) = common::self_dialing(2, "");
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
    // A cause outside Q.850's 1-127 is refused before the call is touched.
    for bad in [0, 128, 500] {
        let e = stack.hangup(&call_id, Some(bad)).unwrap_err();
        assert!(matches!(e, StackError::Request(_)), "{e}");
        assert_eq!(e.code(), "ERR_FREYA_REQUEST");
        assert_eq!(
            e.to_string(),
            format!("q850_cause: {bad} is not a Q.850 cause (1-127)")
        );
    }
    assert_eq!(stack.calls().len(), 2, "both legs still up");

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
    agent_ports_free(agents, "after shutdown").await;
    let again = Stack::start(StackConfig::from_toml(&text).unwrap())
        .await
        .expect("a second stack on the same ports");
    again.shutdown().await;
}

#[tokio::test]
async fn a_start_that_fails_releases_the_agent_ports_it_bound() {
    let (text, agents) = common::self_dialing(2, "");
    let config = StackConfig::from_toml(&text).unwrap();
    // The SIP port taken: the start fails after the agents were bound.
    let taken = std::net::UdpSocket::bind(config.sip.bind).unwrap();
    let e = match Stack::start(config).await {
        Ok(_) => panic!("started with its SIP port taken"),
        Err(e) => e,
    };
    assert!(matches!(e, StackError::Sip(_)), "{e}");
    agent_ports_free(agents, "after a failed start").await;
    drop(taken);
}

/// CPU time (user + system) this thread has used: the test's current-thread runtime runs
/// every task of its stack (the campaign's among them). From /proc, in clock ticks (10 ms).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10)
}

#[tokio::test]
async fn a_campaign_waiting_for_a_slot_sleeps_and_a_drain_pauses_it() {
    let (text, _) = common::self_dialing(2, "");
    let stack = Stack::start(StackConfig::from_toml(&text).unwrap())
        .await
        .unwrap();
    let mut events = stack.subscribe();
    // One call of the campaign takes both slots (it dials this stack itself); the second
    // number waits for a slot, its pace token there after 1 s.
    let campaign: CampaignRequest = serde_json::from_value(serde_json::json!({
        "numbers": ["+14155550101", "+14155550102"], "trunk": "self", "calls_per_second": 1.0
    }))
    .unwrap();
    let campaign = stack.start_campaign(campaign).unwrap().campaign_id;
    next(&mut events, "the first campaign call's answer", |e| {
        matches!(e.kind, EventKind::Answered {})
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (cpu0, t0) = (thread_cpu(), std::time::Instant::now());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (cpu, wall) = (thread_cpu() - cpu0, t0.elapsed());
    // A task spinning on its past pace deadline would use the whole thread (~100 %); the
    // call's media through the stack and its echo agent use a few percent.
    assert!(
        cpu < wall / 2,
        "the stack's thread used {cpu:?} of CPU in {wall:?} while the campaign waited for a slot"
    );
    let info = stack.campaign(&campaign).unwrap();
    assert_eq!(info.state, CampaignState::Running, "{info:?}");
    assert_eq!(info.dialed, 1, "{info:?}");

    // Draining: the campaign pauses with the reason, says so, and dials nothing more.
    let drainer = stack.clone();
    let drain = tokio::spawn(async move { drainer.drain(Duration::from_millis(500)).await });
    let e = next(&mut events, "the campaign's pause", |e| {
        e.call_id == campaign
            && matches!(&e.kind, EventKind::Campaign { state, .. } if state == "paused")
    })
    .await;
    let EventKind::Campaign { reason, .. } = e.kind else {
        unreachable!()
    };
    assert_eq!(
        reason.as_deref(),
        Some("the stack is draining for a shutdown")
    );
    let info = stack.campaign(&campaign).unwrap();
    assert_eq!(info.state, CampaignState::Paused, "{info:?}");
    // An operator's resume does not make it dial while the stack drains.
    stack.resume_campaign(&campaign).unwrap();
    assert_eq!(
        drain.await.unwrap(),
        2,
        "both legs of the call were up at the grace's end"
    );
    let info = stack.campaign(&campaign).unwrap();
    assert_eq!(info.state, CampaignState::Paused, "{info:?}");
    assert_eq!(
        info.paused_reason.as_deref(),
        Some("the stack is draining for a shutdown")
    );
    assert_eq!(info.dialed, 1, "{info:?}");
    assert_eq!(info.numbers[1].outcome, None, "{info:?}");
    stack.shutdown().await;
    let info = stack.campaign(&campaign).unwrap();
    assert_eq!(info.state, CampaignState::Cancelled, "{info:?}");
}
