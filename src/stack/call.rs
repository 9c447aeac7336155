//! One inbound call's life in the stack: route → agent slot → bridge → answer → media
//! between the call's RTP (through the relay's latching and bleed protection) and the
//! agent's WebSocket → hangup, each step an event.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use freya_media::bridge::{
    BridgeEvent, CallMetadata, Direction as BridgeDirection, LegError, LegOutput, LegReceiver,
    LegSender,
};
use freya_media::record::CallRecorder;
use freya_media::relay::{
    spawn_endpoint, LegSetup, MediaEndpoint, MediaPacket, RelayEvent, RelayEvents, RelayHandle,
    ShellConfig, ShellEvent,
};
use freya_sip::dialog::{CallDirection, CallEnd, DialogEvent, Side as DialogSide, Q850};
use freya_sip::sdp::Capabilities;
use freya_sip::sdp::Negotiated;
use freya_sip::ua::Call;

use super::agent_link::{agent_leg, dial_in_url};
use super::commands::{CallCommand, CallCommands};
use super::dtmf_out::{self, DtmfOut, DtmfRequest};
use super::media::{remote_media, CallMedia, Inbound, RtpOut};
use super::media_sinks::{take_recorder, AgentAudio, CallerAudio, SharedRecorder};
use super::media_stats::{agent_call, PeerRole, PumpCounters};
pub(crate) use super::recording::start_recording;
use super::transfer::{CallTransfer, Next};
use super::{CallSummary, Inner};
use crate::config::{AgentMode, AgentPool, Route, StackConfig};
use crate::event::{CallEvent, CallMediaStats, EventKind};
use crate::routing::{route, CallFacts};

/// How the call ended, for the hangup event.
pub(crate) struct Ending {
    pub(crate) sip_code: u16,
    pub(crate) reason: String,
    pub(crate) cause: Option<Q850>,
    pub(crate) by: &'static str,
}

impl Ending {
    pub(crate) fn from_end(end: &CallEnd) -> Ending {
        Ending {
            sip_code: end.status,
            reason: end.reason_phrase.clone(),
            cause: end.cause,
            by: end.by.as_str(),
        }
    }
}

/// What a call's media leaves for its hangup event: the recording's path and the media
/// counters (both absent for a call that never reached its media).
pub(crate) type MediaEnd = (Option<String>, Option<Box<CallMediaStats>>);

pub(crate) fn hangup_event(
    call_id: &str,
    e: &Ending,
    answered: Option<Instant>,
    (recording, media): MediaEnd,
) -> CallEvent {
    CallEvent::new(
        call_id,
        EventKind::Hangup {
            sip_code: e.sip_code,
            reason: e.reason.clone(),
            q850_cause: e.cause.map(Q850::number),
            q850_text: e.cause.and_then(Q850::name).map(str::to_owned),
            hangup_by: e.by.to_owned(),
            duration_ms: answered.map_or(0, |t| t.elapsed().as_millis() as u64),
            recording,
            media,
        },
    )
}

/// Every `X-` header of a message, in order, with its exact value.
pub(crate) fn x_headers_of(m: &freya_sip::message::Message) -> Vec<(String, String)> {
    m.headers()
        .filter(|h| h.name().len() > 2 && h.name()[..2].eq_ignore_ascii_case("X-"))
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect()
}

/// Gives a call's slot back and reports it.
pub(crate) fn release_slot(inner: &Inner, pool: &str, id: &str) {
    if let Some(slot) = inner.free_slot(pool, id) {
        inner.emit(CallEvent::new(
            id,
            EventKind::SlotFreed {
                pool: pool.to_owned(),
                slot,
            },
        ));
    }
}

/// The freya call UUID: the INVITE's `X-Freya-Call-Id` when it carries a UUID (a call
/// handed over by another freya keeps its id), else a new v4 UUID. A given id that a live
/// call of this stack already has (freya originating a call to itself, or a looping route)
/// is not taken over: two calls under one id would share its agent slot, its events and its
/// API handle. This leg gets a new UUID, and the log says so.
fn call_uuid(inner: &Inner, call: &Call) -> String {
    let given = call
        .info()
        .invite
        .header("X-Freya-Call-Id")
        .map(|h| h.value().trim().to_owned())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok());
    match given {
        Some(id) if inner.id_in_use(&id) => {
            let fresh = uuid::Uuid::new_v4().to_string();
            tracing::warn!(call_id = fresh, given = id, "stack: inbound X-Freya-Call-Id belongs to a live call here (a call to itself?): this leg gets its own id");
            fresh
        }
        Some(id) => id,
        None => uuid::Uuid::new_v4().to_string(),
    }
}

/// Rejects the call and reports it.
fn refuse(inner: &Inner, call: &Call, id: &str, status: u16, reason: &str, cause: Q850) {
    if let Err(error) = call.reject(status, reason, Some(cause)) {
        tracing::warn!(call_id = id, %error, "stack: could not reject");
    }
    let e = Ending {
        sip_code: status,
        reason: reason.to_owned(),
        cause: Some(cause),
        by: "local",
    };
    inner.emit(hangup_event(id, &e, None, (None, None)));
}

pub(crate) async fn inbound(inner: Arc<Inner>, mut call: Call) {
    let config = inner.config();
    let id = call_uuid(&inner, &call);
    let info = call.info_arc();
    let invite = &info.invite;
    let x_headers = x_headers_of(invite);
    let workflow_id = invite
        .header("X-Freya-Workflow-Id")
        .map(|h| h.value().to_owned());
    let peer = info.peer.clone();
    let context = peer
        .as_ref()
        .map_or("default", |p| p.context.as_str())
        .to_owned();
    let caller = info
        .caller
        .as_ref()
        .map(|p| p.user.clone().unwrap_or_else(|| p.uri.clone()));
    let callee = info
        .callee
        .as_ref()
        .map(|p| p.user.clone().unwrap_or_else(|| p.uri.clone()));
    let facts = CallFacts {
        context: &context,
        called: callee.as_deref(),
        workflow_id: workflow_id.as_deref(),
    };
    let chosen: Option<Route> = route(&config.routes, &facts).cloned();
    if inner.is_draining() {
        // A graceful shutdown is under way (`Stack::drain`): the carrier retries elsewhere.
        tracing::info!(call_id = id, "stack: draining for shutdown, call refused");
        refuse(
            &inner,
            &call,
            &id,
            503,
            "Service Unavailable",
            Q850::new(41),
        );
        return;
    }
    inner.emit(CallEvent::new(
        &id,
        EventKind::Started {
            direction: "inbound".into(),
            caller: caller.clone(),
            callee: callee.clone(),
            trunk: peer.as_ref().map(|p| p.name.clone()),
            workflow_id: workflow_id.clone(),
            route: chosen.as_ref().map(|r| r.name.clone()),
            sip_call_id: info.call_id.clone(),
            headers: x_headers.clone(),
        },
    ));
    let Some(chosen) = chosen else {
        tracing::info!(call_id = id, context, called = ?callee, "stack: no route");
        refuse(
            &inner,
            &call,
            &id,
            404,
            "Not Found",
            Q850::UNALLOCATED_NUMBER,
        );
        return;
    };
    inner.controllable(&id, call.control());
    if chosen.uri.is_some() {
        inner.track(CallSummary {
            call_id: id.clone(),
            direction: "inbound".into(),
            caller: caller.clone(),
            callee: callee.clone(),
            state: "b2bua".into(),
            route: Some(chosen.name.clone()),
            slot: None,
        });
        // Boxed: the B2BUA's state would otherwise size every agent call's task too.
        let (ending, answered, media) = Box::pin(super::b2bua::bridge(
            &inner, &config, &mut call, &id, &chosen, &x_headers,
        ))
        .await;
        inner.untrack(&id);
        inner.emit(hangup_event(&id, &ending, answered, (None, media)));
        return;
    }
    let Some(pool) = chosen
        .agents
        .as_ref()
        .and_then(|p| config.agents.iter().find(|a| &a.name == p))
        .cloned()
    else {
        inner.untrack(&id);
        refuse(
            &inner,
            &call,
            &id,
            500,
            "Server Internal Error",
            Q850::new(127),
        );
        return;
    };
    inner.track(CallSummary {
        call_id: id.clone(),
        direction: "inbound".into(),
        caller: caller.clone(),
        callee: callee.clone(),
        state: "ringing".into(),
        route: Some(chosen.name.clone()),
        slot: None,
    });
    // Boxed (as the other setup steps): a task future is as big as its largest await, and
    // this one is resident for the whole call.
    let slot = match Box::pin(take_slot(&inner, &pool, &id, &mut call)).await {
        SlotWait::Taken(s) => s,
        SlotWait::CallerGone(end) => {
            inner.untrack(&id);
            tracing::info!(
                call_id = id,
                pool = pool.name,
                "stack: the caller left while waiting for an agent slot"
            );
            inner.emit(hangup_event(
                &id,
                &Ending::from_end(&end),
                None,
                (None, None),
            ));
            return;
        }
        SlotWait::Busy => {
            inner.untrack(&id);
            let cause = Q850::new(pool.busy.q850_cause);
            let reason = if pool.busy.status == 486 {
                "Busy Here"
            } else {
                "Service Unavailable"
            };
            tracing::warn!(call_id = id, pool = pool.name, "stack: no idle agent slot");
            refuse(&inner, &call, &id, pool.busy.status, reason, cause);
            return;
        }
    };
    inner.emit(CallEvent::new(
        &id,
        EventKind::SlotTaken {
            pool: pool.name.clone(),
            slot,
            connect: dial_in_url(&inner, &pool, &id),
        },
    ));
    inner.track(CallSummary {
        call_id: id.clone(),
        direction: "inbound".into(),
        caller: caller.clone(),
        callee: callee.clone(),
        state: "ringing".into(),
        route: Some(chosen.name.clone()),
        slot: Some((pool.name.clone(), slot)),
    });
    let mut meta = CallMetadata::new(
        &id,
        BridgeDirection::Inbound,
        caller.clone().unwrap_or_default(),
        callee.clone().unwrap_or_default(),
    );
    meta.workflow_id = workflow_id.clone();
    meta.headers = x_headers;
    let record_it = chosen.record;
    drop(chosen);
    let ending = serve(
        &inner, &config, &mut call, &id, &pool, slot, meta, record_it,
    )
    .await;
    release_slot(&inner, &pool.name, &id);
    inner.untrack(&id);
    let (ending, answered, media_end) = ending;
    inner.emit(hangup_event(&id, &ending, answered, media_end));
}

/// The relay settings from `[media]`.
pub(crate) fn shell_config(config: &StackConfig) -> ShellConfig {
    let m = &config.media;
    let mut shell = ShellConfig {
        bind_ip: m.address,
        ..ShellConfig::default()
    };
    shell.relay.rtp_timeout = (m.rtp_timeout_s > 0).then(|| Duration::from_secs(m.rtp_timeout_s));
    shell
}

/// What waiting for an agent slot came to.
enum SlotWait {
    /// This slot of the pool is the call's.
    Taken(usize),
    /// None freed up within `busy.wait_ms` (or the pool does not wait): the call is refused.
    Busy,
    /// The caller gave up meanwhile (CANCEL, answered 487 by the dialog layer): how it ended.
    CallerGone(CallEnd),
}

/// An idle slot, waiting (ringing) up to the pool's `busy.wait_ms` for one to free up,
/// while watching the caller: a CANCEL during the wait ends it at once (the slot is not
/// taken for a caller who is gone, and the call does not linger in `calls()`).
async fn take_slot(inner: &Inner, pool: &AgentPool, id: &str, call: &mut Call) -> SlotWait {
    if let Some(s) = inner.take_slot(&pool.name, id) {
        return SlotWait::Taken(s);
    }
    if pool.busy.wait_ms == 0 {
        return SlotWait::Busy;
    }
    let _ = call.ring();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(pool.busy.wait_ms);
    loop {
        let freed = inner.slot_freed.notified();
        if let Some(s) = inner.take_slot(&pool.name, id) {
            return SlotWait::Taken(s);
        }
        tokio::select! {
            woke = tokio::time::timeout_at(deadline, freed) => if woke.is_err() {
                return inner.take_slot(&pool.name, id).map_or(SlotWait::Busy, SlotWait::Taken);
            },
            end = caller_gone(call, id, "an agent slot") => return SlotWait::CallerGone(end),
        }
    }
}

/// Resolves when the caller ends the call (CANCEL before the answer: the dialog layer has
/// answered 487) while the call waits for something (`waiting_for`, for the log): a slot,
/// the agent. Other dialog events meanwhile are logged, not acted on. Never resolves once
/// the UA is gone (the wait it races then decides).
async fn caller_gone(call: &mut Call, id: &str, waiting_for: &str) -> CallEnd {
    loop {
        match call.next_event().await {
            Some(DialogEvent::Ended { end, .. }) => return end,
            Some(other) => tracing::info!(
                call_id = id,
                event = event_name(&other),
                "stack: a dialog event while the call waits for {waiting_for}, not acted on"
            ),
            None => std::future::pending::<()>().await,
        }
    }
}

/// A dialog event's kind, for a log line.
fn event_name(ev: &DialogEvent) -> &'static str {
    match ev {
        DialogEvent::Incoming(_) => "incoming",
        DialogEvent::Request(_) => "request",
        DialogEvent::Progress { .. } => "progress",
        DialogEvent::Answered { .. } => "answered",
        DialogEvent::Confirmed { .. } => "confirmed",
        DialogEvent::MediaUpdated { .. } => "media updated",
        DialogEvent::ReinviteFailed { .. } => "re-INVITE failed",
        DialogEvent::Dtmf { .. } => "DTMF (INFO)",
        DialogEvent::Info { .. } => "INFO",
        DialogEvent::ReferNotify { .. } => "NOTIFY (refer)",
        DialogEvent::RequestCompleted { .. } => "request completed",
        DialogEvent::SessionTimer { .. } => "session timer",
        DialogEvent::StandaloneCompleted { .. } => "standalone request completed",
        DialogEvent::Ended { .. } => "ended",
    }
}

/// Connects the agent, answers, and runs the media until either side ends. Returns how
/// it ended, when it was answered, and what its media left (recording, counters).
#[allow(clippy::too_many_arguments)]
async fn serve(
    inner: &Inner,
    config: &StackConfig,
    call: &mut Call,
    id: &str,
    pool: &AgentPool,
    slot: usize,
    meta: CallMetadata,
    record_it: bool,
) -> (Ending, Option<Instant>, MediaEnd) {
    let system = |sip_code: u16, reason: &str, cause: Q850| Ending {
        sip_code,
        reason: reason.to_owned(),
        cause: Some(cause),
        by: "system",
    };
    // The agent first: a caller is never answered into silence.
    if pool.mode == AgentMode::Server {
        // The agent may take a moment to dial in.
        let _ = call.ring();
    }
    // Boxed: the WebSocket dial and handshake are big and done before the call's media.
    // Raced against the caller: one who gives up while the agent is dialled (or, in server
    // mode, awaited for up to `connect_timeout_ms`) ends the call then; the dial is dropped
    // (a server-mode expectation is withdrawn with it).
    let dial = Box::pin(agent_leg(inner, pool, slot, meta));
    let dialled = tokio::select! {
        leg = dial => leg,
        end = caller_gone(call, id, "its agent") => {
            tracing::info!(call_id = id, "stack: the caller left while the agent was being connected");
            return (Ending::from_end(&end), None, (None, None));
        }
    };
    let leg = match dialled {
        Ok(leg) => leg,
        Err(error) => {
            tracing::warn!(call_id = id, %error, "stack: agent unreachable");
            let _ = call.reject(503, "Service Unavailable", Some(Q850::TEMPORARY_FAILURE));
            return (
                system(503, "Service Unavailable", Q850::TEMPORARY_FAILURE),
                None,
                (None, None),
            );
        }
    };
    let (agent_tx, agent_rx) = leg.split();

    let media_cfg = &config.media;
    let shell = shell_config(config);
    // The peer's address is learnt from the agreed SDP after the answer.
    let setup = LegSetup::default();
    let (relay, endpoint, relay_events) = match spawn_endpoint(&inner.ports, shell, setup) {
        Ok(x) => x,
        Err(error) => {
            tracing::error!(call_id = id, %error, "stack: no RTP port");
            let _ = agent_tx.hangup();
            let _ = call.reject(503, "Service Unavailable", Some(Q850::new(47)));
            return (
                system(503, "Service Unavailable", Q850::new(47)),
                None,
                (None, None),
            );
        }
    };
    let Some(local) = relay.local(freya_media::relay::LegId::A) else {
        let _ = agent_tx.hangup();
        let _ = call.reject(500, "Server Internal Error", Some(Q850::new(47)));
        return (
            system(500, "Server Internal Error", Q850::new(47)),
            None,
            (None, None),
        );
    };
    let sdp_ip = media_cfg
        .external_media_address
        .unwrap_or(media_cfg.address);
    let mut caps = Capabilities::new(sdp_ip, local.rtp.port());
    if let Some(p) = &call.info().peer {
        caps.codecs = p
            .codecs
            .iter()
            .filter_map(|c| match c.as_str() {
                "alaw" => Some(freya_sip::sdp::Codec::Pcma),
                "ulaw" => Some(freya_sip::sdp::Codec::Pcmu),
                _ => None,
            })
            .collect();
    }
    if let Err(error) = call.answer(caps) {
        tracing::info!(call_id = id, %error, "stack: answer refused (no common codec?)");
        let _ = agent_tx.hangup();
        let _ = relay.close().await;
        // The layer answered 488 itself; its Ended event follows.
        let end = Box::pin(wait_end(call)).await;
        return (
            end.map_or_else(
                || system(488, "Not Acceptable Here", Q850::new(65)),
                |e| Ending::from_end(&e),
            ),
            None,
            (None, None),
        );
    }
    let answered = Instant::now();
    // Reachable by `Stack::transfer` and `send_dtmf` before anyone hears of the answer.
    let commands = CallCommands::register(inner, id);
    inner.emit(CallEvent::new(id, EventKind::Answered {}));
    let Some(agreed) = call.negotiated() else {
        let _ = agent_tx.hangup();
        let _ = call.hangup(Some(Q850::new(47)));
        let _ = relay.close().await;
        return (
            system(500, "Server Internal Error", Q850::new(47)),
            Some(answered),
            (None, None),
        );
    };
    let recorder = record_it.then(|| start_recording(config, id)).flatten();
    let (ending, media_end) = pump(
        inner,
        call,
        id,
        (agent_tx, agent_rx),
        relay,
        endpoint,
        relay_events,
        &agreed,
        recorder,
        commands,
    )
    .await;
    (ending, Some(answered), media_end)
}

/// Runs a connected call's media between its RTP (through the relay) and the agent, and
/// its signaling events, until one side ends; closes the relay. Returns how the call ended,
/// its recording, and its media counters (relay, bridge and this loop's own).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn pump(
    inner: &Inner,
    call: &mut Call,
    id: &str,
    (agent_tx, mut agent_rx): (LegSender, LegReceiver),
    relay: RelayHandle,
    endpoint: MediaEndpoint,
    mut relay_events: RelayEvents,
    agreed: &Negotiated,
    recorder: Option<Box<CallRecorder>>,
    mut commands: CallCommands<'_>,
) -> (Ending, MediaEnd) {
    let system = |sip_code: u16, reason: &str, cause: Q850| Ending {
        sip_code,
        reason: reason.to_owned(),
        cause: Some(cause),
        by: "system",
    };
    let _ = relay.update_remote(freya_media::relay::LegId::A, remote_media(agreed));
    let mut media = CallMedia::new(agreed);
    let (mut from_caller, to_caller) = endpoint.split();
    // The audio itself never passes through this task: it is decoded and encoded in the
    // relay's and the bridge's tasks (media_sinks.rs); this loop gets the rest.
    let recorder: Option<SharedRecorder> = recorder.map(|r| Arc::new(Mutex::new(Some(r))));
    let call_id: Arc<str> = Arc::from(id);
    let out = RtpOut::new(agreed, uuid::Uuid::new_v4().as_u64_pair().0);
    let (agent_audio, agent_counts) =
        AgentAudio::new(out, to_caller, recorder.clone(), call_id.clone());
    // Digits from `Stack::send_dtmf` go out in this stream when the SDP agreed on RFC 4733.
    let dtmf_out = agreed.telephone_event.and_then(DtmfOut::shared);
    agent_rx.set_frame_sink(Box::new(agent_audio.with_dtmf(dtmf_out.clone())));
    from_caller.set_rtp_sink(Box::new(CallerAudio::new(
        media.audio(),
        agent_tx.clone(),
        recorder.clone(),
        call_id,
    )));
    // Whether the peer has the call on hold (RFC 3264 §8.4), for the hold event.
    let mut held = false;
    let mut counted = PumpCounters::default();
    let mut transfer = CallTransfer::new(inner, id);

    let ending = loop {
        // A timer only while a telephone-event is in progress (its end may be lost): with
        // hundreds of calls a standing 20 ms tick per call is thousands of wake-ups a second.
        let dtmf_due = media.dtmf_deadline();
        let transfer_due = transfer.deadline();
        tokio::select! {
            packet = from_caller.recv() => {
                // Telephone-events and foreign payload types (the audio went to the sink).
                let Some(MediaPacket::Rtp(p)) = packet else { continue };
                let now = Instant::now();
                if media.receive(now, &p) == Inbound::Audio {
                    // Cannot happen: the sink takes the agreed audio from its installation
                    // on, queued packets included (`EndpointReceiver::set_rtp_sink`).
                    tracing::error!(call_id = id, "stack: caller audio bypassed its sink, dropped");
                }
                forward_dtmf(inner, id, &agent_tx, &mut media, now, &mut counted);
            }
            out = agent_rx.recv() => match out {
                Some(LegOutput::Frame(_)) => {
                    // Cannot happen: every frame goes to the sink from its installation on
                    // (the frames queued before were handed to it then).
                    tracing::error!(call_id = id, "stack: a bridge frame bypassed its sink");
                }
                Some(LegOutput::Event(BridgeEvent::AgentHangup { reason })) => {
                    tracing::info!(call_id = id, ?reason, "stack: the agent hung up");
                    let _ = call.hangup(None);
                    let end = Box::pin(wait_end(call)).await;
                    break end.map_or_else(|| system(200, "OK", Q850::NORMAL_CALL_CLEARING), |e| Ending { by: "agent", ..Ending::from_end(&e) });
                }
                Some(LegOutput::Event(BridgeEvent::Closed { reason })) => {
                    break Box::pin(agent_gone(call, id, &format!("{reason:?}"))).await;
                }
                None => break Box::pin(agent_gone(call, id, "the leg ended")).await,
                Some(_) => {}
            },
            cmd = commands.next() => match cmd {
                CallCommand::Transfer { to, reply } => transfer.start(call, &to, reply),
                CallCommand::Dtmf { digits, duration_ms, reply } => {
                    let req = DtmfRequest { digits, duration_ms };
                    let _ = reply.send(dtmf_out::send(call, id, dtmf_out.as_ref(), &req));
                }
            },
            _ = wait_until(transfer_due) => transfer.expire(),
            ev = call.next_event() => match ev {
                Some(ev) if transfer.takes(&ev) => {
                    if transfer.on_event(call, &ev) == Next::HangUp {
                        // Transferred: the caller talks to the target now, through its
                        // carrier; our leg and the agent's end (RFC 5589 §6.1).
                        let _ = call.hangup(Some(Q850::NORMAL_CALL_CLEARING));
                        let _ = agent_tx.hangup();
                        let end = Box::pin(wait_end(call)).await;
                        break end.map_or_else(|| system(200, "OK", Q850::NORMAL_CALL_CLEARING), |e| Ending::from_end(&e));
                    }
                }
                Some(DialogEvent::Dtmf { dtmf, .. }) => {
                    pass_dtmf(id, &agent_tx, dtmf.digit, dtmf.duration_ms.unwrap_or(100), &mut counted);
                    inner.emit(CallEvent::new(id, EventKind::Dtmf { digit: dtmf.digit.to_string(), via: "info".into() }));
                }
                Some(DialogEvent::MediaUpdated { media: m, by, .. }) => {
                    let _ = relay.update_remote(freya_media::relay::LegId::A, remote_media(&m));
                    if by == DialogSide::Remote && m.remote_hold != held {
                        held = m.remote_hold;
                        inner.emit(CallEvent::new(id, EventKind::Hold { held, by: peer_role(call).as_str().into() }));
                    }
                }
                Some(DialogEvent::Ended { end, .. }) => {
                    let _ = agent_tx.hangup();
                    break Ending::from_end(&end);
                }
                Some(_) => {}
                None => break system(500, "Server Internal Error", Q850::new(41)),
            },
            ev = relay_events.recv() => {
                if let Some(ShellEvent::Relay(RelayEvent::RtpTimeout { leg: freya_media::relay::LegId::A, .. })) = ev {
                    tracing::warn!(call_id = id, "stack: RTP timeout: hanging up");
                    let _ = agent_tx.hangup();
                    let _ = call.hangup(Some(Q850::RECOVERY_ON_TIMER_EXPIRY));
                    let end = Box::pin(wait_end(call)).await;
                    break end.map_or_else(|| system(408, "Request Timeout", Q850::RECOVERY_ON_TIMER_EXPIRY), |e| Ending { by: "system", ..Ending::from_end(&e) });
                }
            }
            _ = wait_until(dtmf_due) => forward_dtmf(inner, id, &agent_tx, &mut media, Instant::now(), &mut counted),
        }
    };
    // The bridge's counters as of its last 20 ms turn, before the relay's final report.
    let bridge = agent_tx.stats();
    let relay_stats = relay.close().await.ok();
    (counted.frames_from_agent, counted.endpoint_full) = agent_counts.read();
    counted.foreign_payload = media.foreign;
    let recorder = take_recorder(recorder);
    let stats = agent_call(relay_stats.as_ref(), peer_role(call), &bridge, &counted);
    let recording = recorder.and_then(|r| match r.finalize() {
        Ok(summary) => Some(summary.path.display().to_string()),
        Err(error) => {
            tracing::warn!(call_id = id, %error, "stack: the recording could not be finished");
            None
        }
    });
    (ending, (recording, Some(Box::new(stats))))
}

/// Hands the agent every telephone-event (RFC 4733) digit that has ended by `now`, each
/// also a `dtmf` event.
fn forward_dtmf(
    inner: &Inner,
    id: &str,
    agent_tx: &LegSender,
    media: &mut CallMedia,
    now: Instant,
    counted: &mut PumpCounters,
) {
    while let Some(d) = media.poll_dtmf(now) {
        if let Some(digit) = d.code.to_char() {
            pass_dtmf(id, agent_tx, digit, d.duration_ms, counted);
            inner.emit(CallEvent::new(
                id,
                EventKind::Dtmf {
                    digit: digit.to_string(),
                    via: "rfc4733".into(),
                },
            ));
        }
    }
}

/// Hands one digit to the agent's bridge; a refusal (its control queue full behind a
/// stalled leg) is counted for the hangup event and logged. A leg already closed is not
/// counted: the call is ending.
fn pass_dtmf(id: &str, agent_tx: &LegSender, digit: char, ms: u32, counted: &mut PumpCounters) {
    match agent_tx.send_dtmf(digit, ms) {
        Ok(()) | Err(LegError::Closed) => {}
        Err(error) => {
            counted.dtmf_refused += 1;
            tracing::warn!(call_id = id, %digit, %error, refused = counted.dtmf_refused, "stack: DTMF not passed to the agent");
        }
    }
}

/// Who the call's SIP peer is, in the hold event's words: the caller of an inbound call,
/// the callee of an originated one.
fn peer_role(call: &Call) -> PeerRole {
    match call.info().direction {
        CallDirection::Inbound => PeerRole::Caller,
        CallDirection::Outbound => PeerRole::Callee,
    }
}

/// Sleeps until `due`; never wakes without one.
async fn wait_until(due: Option<Instant>) {
    match due {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The agent's socket closed without a hangup request: the caller is hung up with
/// Q.850 41 (temporary failure) and the end reported as the agent's.
async fn agent_gone(call: &mut Call, id: &str, reason: &str) -> Ending {
    tracing::warn!(call_id = id, reason, "stack: the agent's socket closed");
    let _ = call.hangup(Some(Q850::TEMPORARY_FAILURE));
    match wait_end(call).await {
        Some(e) => Ending {
            by: "agent",
            ..Ending::from_end(&e)
        },
        None => Ending {
            sip_code: 200,
            reason: "OK".into(),
            cause: Some(Q850::TEMPORARY_FAILURE),
            by: "agent",
        },
    }
}

/// The call's end event (other events dropped), bounded so a lost BYE never hangs us.
pub(crate) async fn wait_end(call: &mut Call) -> Option<CallEnd> {
    let wait = async {
        while let Some(ev) = call.next_event().await {
            if let DialogEvent::Ended { end, .. } = ev {
                return Some(end);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(40), wait)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod size_tests {
    use super::*;

    fn size2<A, B, Fut, F: FnOnce(A, B) -> Fut>(_: &F) -> usize {
        std::mem::size_of::<Fut>()
    }

    #[allow(clippy::too_many_arguments)]
    fn size8<A, B, C, D, E, G, H, I, Fut, F: FnOnce(A, B, C, D, E, G, H, I) -> Fut>(
        _: &F,
    ) -> usize {
        std::mem::size_of::<Fut>()
    }

    #[allow(clippy::too_many_arguments)]
    fn size10<A, B, C, D, E, G, H, I, J, K, Fut, F: FnOnce(A, B, C, D, E, G, H, I, J, K) -> Fut>(
        _: &F,
    ) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// A call's task future is resident for the whole call, and is as big as its largest
    /// `.await` plus what lives across it. The setup steps (agent dial, slot wait, B2BUA,
    /// end waits) are boxed so the task holds little more than `pump`'s state: in a release
    /// build `inbound` went from 7,120 to 3,680 bytes (`serve` 6,184 → 2,744, `pump` 2,560 →
    /// 1,816). Relative limits, so the test holds in debug builds too.
    #[test]
    fn a_call_task_holds_little_more_than_its_media_pump() {
        let (inbound, serve, pump) = (size2(&inbound), size8(&serve), size10(&pump));
        eprintln!("futures: inbound {inbound} B, serve {serve} B, pump {pump} B");
        assert!(
            serve < pump + pump / 2 + 512,
            "serve {serve} B for pump {pump} B: a big await is back in serve"
        );
        assert!(
            inbound < serve + 1_536,
            "inbound {inbound} B for serve {serve} B: a big await is back in inbound"
        );
    }
}
