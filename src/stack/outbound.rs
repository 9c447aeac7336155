//! Outbound calls (`POST /calls`, [`Stack::originate`](super::Stack::originate)): an
//! INVITE carrying `X-Freya-Direction: outbound`, `X-Freya-Call-Id` and
//! `X-Freya-Workflow-Id` plus the caller's headers; on answer the callee is bridged to an
//! agent slot taken before dialing; every outcome is an event with the SIP code and the
//! Q.850 cause.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use freya_media::bridge::{CallMetadata, Direction as BridgeDirection};

use super::agent_link::{agent_leg, dial_in_url};
use freya_media::relay::{spawn_endpoint, LegId, LegSetup};
use freya_sip::dialog::{DialogEvent, Q850};
use freya_sip::sdp::Capabilities;
use freya_sip::ua::{Call, Originate};

use super::call::{
    hangup_event, pump, release_slot, shell_config, start_recording, wait_end, x_headers_of,
    Ending, MediaEnd,
};
use super::commands::CallCommands;
use super::{CallSummary, Inner};
use crate::event::{CallEvent, EventKind};
use crate::StackError;

/// An outbound call to place.
///
/// ```
/// let r: freya::stack::OriginateRequest = serde_json::from_str(
///     r#"{"to": "+14155550100", "trunk": "carrier", "workflow_id": "wf-7",
///         "headers": [["X-Campaign", "spring sale"]]}"#).unwrap();
/// assert_eq!(r.headers[0].1, "spring sale");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginateRequest {
    /// A number (sent through `trunk`) or a SIP URI.
    pub to: String,
    /// The caller id (number, or a whole From value).
    #[serde(default)]
    pub caller_id: Option<String>,
    /// The trunk to call through.
    #[serde(default)]
    pub trunk: Option<String>,
    /// The workflow (sent as `X-Freya-Workflow-Id`, handed to the agent).
    #[serde(default)]
    pub workflow_id: Option<String>,
    /// Extra headers, sent byte-exact in this order; names must be tokens.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The agent pool that takes the answered call (default: the first pool).
    #[serde(default)]
    pub agents: Option<String>,
    /// Record the call (`<recording.dir>/<call UUID>.wav`).
    #[serde(default)]
    pub record: bool,
}

/// Places the call; returns its freya UUID once the INVITE is on its way.
pub(crate) async fn originate(
    inner: Arc<Inner>,
    req: OriginateRequest,
) -> Result<String, StackError> {
    if inner.is_draining() {
        return Err(StackError::Draining);
    }
    let config = inner.config();
    let pool = match &req.agents {
        Some(name) => config.agents.iter().find(|a| &a.name == name),
        None => config.agents.first(),
    }
    .cloned()
    .ok_or_else(|| StackError::Config {
        key: "agents".into(),
        reason: format!(
            "{:?}: no such agent pool",
            req.agents.as_deref().unwrap_or("(first)")
        ),
    })?;
    let id = uuid::Uuid::new_v4().to_string();
    let slot = inner.take_slot(&pool.name, &id).ok_or(StackError::Busy {
        pool: pool.name.clone(),
    })?;
    let release = |inner: &Inner| {
        inner.free_slot(&pool.name, &id);
    };
    let (relay, endpoint, relay_events) =
        match spawn_endpoint(&inner.ports, shell_config(&config), LegSetup::default()) {
            Ok(x) => x,
            Err(e) => {
                release(&inner);
                return Err(StackError::Media(e.to_string()));
            }
        };
    let Some(local) = relay.local(LegId::A) else {
        release(&inner);
        return Err(StackError::Media("the relay has no socket leg".into()));
    };
    let m = &config.media;
    let caps = Capabilities::new(
        m.external_media_address.unwrap_or(m.address),
        local.rtp.port(),
    );
    let mut o = Originate::new(&req.to, caps)
        .header("X-Freya-Direction", "outbound")
        .header("X-Freya-Call-Id", &id);
    if let Some(wf) = &req.workflow_id {
        o = o.header("X-Freya-Workflow-Id", wf);
    }
    for (n, v) in &req.headers {
        o = o.header(n, v);
    }
    o.trunk = req.trunk.clone();
    o.caller_id = req.caller_id.clone();
    let call = match inner.ua.originate(o).await {
        Ok(c) => c,
        Err(e) => {
            release(&inner);
            let _ = relay.close().await;
            return Err(e.into());
        }
    };
    let x_headers = x_headers_of(&call.info().invite);
    inner.emit(CallEvent::new(
        &id,
        EventKind::Started {
            direction: "outbound".into(),
            caller: req.caller_id.clone(),
            callee: Some(req.to.clone()),
            trunk: req.trunk.clone(),
            workflow_id: req.workflow_id.clone(),
            route: None,
            sip_call_id: call.info().call_id.clone(),
            headers: x_headers.clone(),
        },
    ));
    inner.emit(CallEvent::new(
        &id,
        EventKind::SlotTaken {
            pool: pool.name.clone(),
            slot,
            connect: dial_in_url(&inner, &pool, &id),
        },
    ));
    inner.controllable(&id, call.control());
    inner.track(CallSummary {
        call_id: id.clone(),
        direction: "outbound".into(),
        caller: req.caller_id.clone(),
        callee: Some(req.to.clone()),
        state: "calling".into(),
        route: None,
        slot: Some((pool.name.clone(), slot)),
    });
    let task_id = id.clone();
    tokio::spawn(async move {
        let id = task_id;
        let mut meta = CallMetadata::new(
            &id,
            BridgeDirection::Outbound,
            req.caller_id.clone().unwrap_or_default(),
            req.to.clone(),
        );
        meta.workflow_id = req.workflow_id.clone();
        meta.headers = x_headers;
        let record = req
            .record
            .then(|| start_recording(&inner.config(), &id))
            .flatten();
        let (ending, answered, media_end) = follow(
            &inner,
            call,
            &id,
            &pool,
            slot,
            meta,
            relay,
            endpoint,
            relay_events,
            record,
        )
        .await;
        release_slot(&inner, &pool.name, &id);
        inner.untrack(&id);
        inner.emit(hangup_event(&id, &ending, answered, media_end));
    });
    Ok(id)
}

#[allow(clippy::too_many_arguments)]
async fn follow(
    inner: &Inner,
    mut call: Call,
    id: &str,
    pool: &crate::config::AgentPool,
    slot: usize,
    meta: CallMetadata,
    relay: freya_media::relay::RelayHandle,
    endpoint: freya_media::relay::MediaEndpoint,
    relay_events: freya_media::relay::RelayEvents,
    record: Option<Box<freya_media::record::CallRecorder>>,
) -> (Ending, Option<Instant>, MediaEnd) {
    loop {
        match call.next_event().await {
            Some(DialogEvent::Progress { status, .. }) => {
                inner.emit(CallEvent::new(id, EventKind::Ringing { sip_code: status }));
            }
            Some(DialogEvent::Answered { media, .. }) => {
                let answered = Instant::now();
                // Reachable by `Stack::transfer` before anyone hears of the answer (a
                // transfer asked for now waits for the agent's leg below).
                let commands = CallCommands::register(inner, id);
                inner.emit(CallEvent::new(id, EventKind::Answered {}));
                // Boxed: the WebSocket dial is big and over before the call's media.
                let leg = match Box::pin(agent_leg(inner, pool, slot, meta)).await {
                    Ok(leg) => leg,
                    Err(error) => {
                        tracing::warn!(call_id = id, %error, "stack: agent unreachable: hanging up");
                        let _ = call.hangup(Some(Q850::TEMPORARY_FAILURE));
                        let _ = relay.close().await;
                        let end = Box::pin(wait_end(&mut call)).await;
                        return (
                            end.map_or(
                                Ending {
                                    sip_code: 200,
                                    reason: "OK".into(),
                                    cause: Some(Q850::TEMPORARY_FAILURE),
                                    by: "system",
                                },
                                |e| Ending {
                                    by: "system",
                                    ..Ending::from_end(&e)
                                },
                            ),
                            Some(answered),
                            (None, None),
                        );
                    }
                };
                let (ending, media_end) = pump(
                    inner,
                    &mut call,
                    id,
                    leg.split(),
                    relay,
                    endpoint,
                    relay_events,
                    &media,
                    record,
                    commands,
                )
                .await;
                return (ending, Some(answered), media_end);
            }
            Some(DialogEvent::Ended { end, .. }) => {
                let _ = relay.close().await;
                return (Ending::from_end(&end), None, (None, None));
            }
            Some(_) => {}
            None => {
                let _ = relay.close().await;
                return (
                    Ending {
                        sip_code: 500,
                        reason: "Server Internal Error".into(),
                        cause: Some(Q850::new(41)),
                        by: "system",
                    },
                    None,
                    (None, None),
                );
            }
        }
    }
}
