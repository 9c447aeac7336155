//! [`UserAgent`]: the async shell (DESIGN.md principle 2) that runs a sans-IO
//! [`DialogLayer`] on a [`Transport`]. One tokio task (the driver) owns the sockets'
//! receiver and the one timer; handles ([`UserAgent`], [`Call`]) lock the core briefly to
//! call the layer and wake the driver, which sends what the layer queued and routes its
//! events to the calls. No lock is held across an `.await`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use crate::auth::{Challenger, ChallengerConfig, Credentials};
use crate::dialog::{DialogConfig, DialogEvent, DialogLayer, OutgoingCall, SessionId};
use crate::message::{parse, Message};
use crate::sdp::Capabilities;
use crate::transaction::{Reliability, Remote};
use crate::transport::{Destination, SentBy, Transport, TransportEvent, TransportKind};

use super::call::{Call, CallInfo};
use super::config::{config_err, parse_host_port, UaConfig};
use super::error::UaError;
use super::filter::{self, Verdict};
use super::identify::{anonymous_peer, callee_of, caller_of, endpoint_peer, identify_source, Peer};
use super::register::{RegistrationStatus, Registrations};
use super::stats::UaStats;

/// The driver's clock: tokio's, so that a paused test clock moves the layer's time too.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What one live call's handle is told.
pub(crate) struct CallSlot {
    /// Boxed: a channel keeps blocks of 32 slots of its item's size, and a `DialogEvent` is
    /// large (a whole message); a call gets a handful of events, so a box each is cheaper
    /// than ~5 KB of slots per call.
    pub(crate) events: mpsc::UnboundedSender<Box<DialogEvent>>,
}

/// The state behind the lock: the sans-IO layer and the UA's own bookkeeping.
pub(crate) struct Core {
    pub(crate) layer: DialogLayer,
    pub(crate) config: Arc<UaConfig>,
    pub(crate) calls: HashMap<SessionId, CallSlot>,
    /// Outgoing calls' ring deadlines (`ring_timeout_s`).
    pub(crate) ring_deadlines: BTreeSet<(Instant, SessionId)>,
    pub(crate) stats: UaStats,
    incoming: mpsc::Sender<Call>,
    /// Digest challenges for user endpoints (RFC 3261 §22.2).
    pub(crate) challenger: Challenger,
    /// Trunks' outbound registrations.
    pub(crate) registrations: Registrations,
    pub(crate) sent_by: SentBy,
}

/// What the handles and the driver share.
pub(crate) struct Shared {
    core: Mutex<Core>,
    /// Wakes the driver after a handle queued work in the layer.
    pub(crate) wake: Notify,
    pub(crate) transport: Transport,
    /// Calls whose handle was dropped while alive: the driver hangs them up.
    pub(crate) dropped: mpsc::UnboundedSender<SessionId>,
    closed: AtomicBool,
    shutdown: Notify,
}

impl Shared {
    /// Locks the core. A panic elsewhere while holding the lock does not make every later
    /// call fail: the layer's state is still consistent between operations.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A SIP user agent bound to a UDP socket and a TCP listener: it answers and places calls.
/// Incoming calls arrive on the [`IncomingCalls`] stream returned by [`UserAgent::bind`]
/// and are rung, answered or rejected there (nothing is accepted implicitly); outgoing
/// calls start with [`UserAgent::originate`]. Requests from sources that match no trunk
/// follow [`UaConfig::unknown_source`]. Dropping the last handle does not stop the UA:
/// call [`UserAgent::shutdown`].
///
/// ```
/// use freya_sip::ua::{UaConfig, UnknownSource, UserAgent, Originate};
/// use freya_sip::sdp::Capabilities;
/// use freya_sip::dialog::DialogEvent;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = UaConfig::new("127.0.0.1:0".parse()?);
/// config.unknown_source = UnknownSource::Accept;
/// let (bob, mut incoming) = UserAgent::bind(config.clone()).await?;
/// let (alice, _) = UserAgent::bind(config).await?;
/// let media = Capabilities::new("127.0.0.1".parse()?, 40000);
/// let target = format!("sip:bob@{}", bob.local_addr());
/// let mut call = alice.originate(Originate::new(&target, media.clone()).header("X-Freya-Workflow-Id", "wf-1")).await?;
/// let inbound = incoming.next().await.unwrap();
/// assert_eq!(inbound.info().invite.header("X-Freya-Workflow-Id").unwrap().value(), "wf-1");
/// inbound.answer(media)?;
/// while let Some(ev) = call.next_event().await {
///     if let DialogEvent::Answered { .. } = ev { break; }
/// }
/// call.hangup(None)?;
/// alice.shutdown().await;
/// bob.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct UserAgent {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgent")
            .field("sent_by", &self.shared.transport.sent_by().to_string())
            .finish()
    }
}

/// The stream of incoming calls of a [`UserAgent`]. Each must be rung, answered or
/// rejected; one dropped untouched is rejected with 480. When this stream is dropped, new
/// calls are refused with 480; when it lags `incoming_queue` calls behind, with 503.
#[derive(Debug)]
pub struct IncomingCalls {
    rx: mpsc::Receiver<Call>,
}

impl IncomingCalls {
    /// The next incoming call; `None` once the UA has shut down.
    pub async fn next(&mut self) -> Option<Call> {
        self.rx.recv().await
    }
}

/// A call to place with [`UserAgent::originate`].
///
/// ```
/// use freya_sip::ua::Originate;
/// use freya_sip::sdp::Capabilities;
/// let o = Originate::new("sip:+14155550100@198.51.100.7", Capabilities::new("192.0.2.10".parse().unwrap(), 10000))
///     .trunk("carrier")
///     .caller_id("+442071838750")
///     .header("X-Freya-Direction", "outbound");
/// assert_eq!(o.headers.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Originate {
    /// The Request-URI: `sip:+14155550100@carrier.example`, or a bare number with a trunk.
    pub target: String,
    /// The trunk to send through (its `host`, transport, `from_user`/`from_domain`, and
    /// `outbound_auth`); `None` sends to the target's host, which must be an IP literal.
    pub trunk: Option<String>,
    /// The caller id: a number or user (`+442071838750`), or a whole From value
    /// (`"Freya" <sip:+4420…@192.0.2.10>`).
    pub caller_id: Option<String>,
    /// Extra headers, sent in this order with exactly these bytes; names must be RFC 3261
    /// tokens (a non-ASCII name is refused here, never sent).
    pub headers: Vec<(String, String)>,
    /// Our media (address, port, codecs): the SDP offer is built from it.
    pub media: Capabilities,
    /// Overrides where the INVITE is sent.
    pub destination: Option<SocketAddr>,
}

impl Originate {
    /// A call to `target` offering `media`.
    pub fn new(target: impl Into<String>, media: Capabilities) -> Originate {
        Originate {
            target: target.into(),
            trunk: None,
            caller_id: None,
            headers: Vec::new(),
            media,
            destination: None,
        }
    }

    /// Sends through trunk `name`.
    pub fn trunk(mut self, name: impl Into<String>) -> Originate {
        self.trunk = Some(name.into());
        self
    }

    /// Sets the caller id.
    pub fn caller_id(mut self, id: impl Into<String>) -> Originate {
        self.caller_id = Some(id.into());
        self
    }

    /// Adds an extra header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Originate {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the INVITE to `addr` whatever the trunk or target say.
    pub fn destination(mut self, addr: SocketAddr) -> Originate {
        self.destination = Some(addr);
        self
    }
}

impl UserAgent {
    /// Validates `config`, binds its sockets and starts the driver task on the current
    /// tokio runtime.
    ///
    /// # Errors
    /// [`UaError::Config`] naming the key at fault; [`UaError::Transport`] when a socket
    /// cannot be bound; [`UaError::Dialog`] for dialog settings the layer refuses.
    pub async fn bind(config: UaConfig) -> Result<(UserAgent, IncomingCalls), UaError> {
        config.validate()?;
        let (transport, events) = Transport::bind(config.transport()).await?;
        let sent_by = transport.sent_by().clone();
        let mut dc = DialogConfig::new(
            transport
                .local_udp()
                .or(transport.local_tcp())
                .unwrap_or(config.bind),
        );
        dc.via_sent_by = sent_by.to_string();
        dc.contact = sent_by.contact_uri(Some("freya"), TransportKind::Udp);
        dc.timers = config.timers();
        dc.user_agent = config.user_agent.clone();
        let layer = DialogLayer::new(dc)?;
        let realm = config.realm.clone().unwrap_or_else(|| sent_by.host.clone());
        let challenger = Challenger::new(ChallengerConfig::new(realm.clone()), now())
            .map_err(|e| config_err("realm", &realm, &e.to_string()))?;
        let mut registrations = Registrations::default();
        registrations.reconcile(&config, &sent_by, now());
        let (incoming_tx, incoming_rx) = mpsc::channel(config.incoming_queue);
        let (dropped_tx, dropped_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                layer,
                config: Arc::new(config),
                calls: HashMap::new(),
                ring_deadlines: BTreeSet::new(),
                stats: UaStats::default(),
                incoming: incoming_tx,
                challenger,
                registrations,
                sent_by,
            }),
            wake: Notify::new(),
            transport,
            dropped: dropped_tx,
            closed: AtomicBool::new(false),
            shutdown: Notify::new(),
        });
        tokio::spawn(drive(shared.clone(), events, dropped_rx));
        Ok((UserAgent { shared }, IncomingCalls { rx: incoming_rx }))
    }

    /// The address we listen on (UDP, else TCP): what peers send to.
    pub fn local_addr(&self) -> SocketAddr {
        let t = &self.shared.transport;
        t.local_udp()
            .or(t.local_tcp())
            .unwrap_or_else(|| self.shared.transport.config().bind)
    }

    /// The counters.
    pub fn stats(&self) -> UaStats {
        let core = self.shared.lock();
        let mut s = core.stats;
        s.dialog = core.layer.stats();
        s.transport = self.shared.transport.stats();
        s.rejected_input = self.shared.transport.rejects().total();
        s.live_calls = core.calls.len() as u64;
        s
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<UaConfig> {
        self.shared.lock().config.clone()
    }

    /// Replaces the trunks, endpoints and policies for new requests and calls (hot
    /// reload: live calls keep going untouched). The listening address and transports
    /// cannot change this way.
    ///
    /// # Errors
    /// [`UaError::Config`] when `config` is invalid or changes `bind`, `udp` or `tcp`; the
    /// running configuration then stays.
    pub fn reload(&self, config: UaConfig) -> Result<(), UaError> {
        config.validate()?;
        let mut core = self.shared.lock();
        let old = &core.config;
        if old.bind != config.bind || old.udp != config.udp || old.tcp != config.tcp {
            return Err(config_err(
                "bind",
                &config.bind.to_string(),
                "listening addresses cannot change on reload; restart instead",
            ));
        }
        core.config = Arc::new(config);
        let c = &mut *core;
        c.registrations.reconcile(&c.config, &c.sent_by, now());
        tracing::info!(trunks = c.config.trunks.len(), "ua: configuration reloaded");
        drop(core);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// The trunks' outbound registrations and their state.
    pub fn registrations(&self) -> Vec<RegistrationStatus> {
        self.shared.lock().registrations.status(now())
    }

    /// Places a call: resolves where the INVITE goes (the trunk's `host`, else the
    /// target's IP literal), builds From from the caller id, sends the INVITE with the
    /// extra headers byte-exact and returns the call, whose events report progress,
    /// answer, failure and hangup.
    ///
    /// # Errors
    /// [`UaError::UnknownTrunk`], [`UaError::NoRoute`], and the dialog layer's refusal of
    /// the target or of a header ([`UaError::Dialog`] with
    /// [`DialogError::InvalidHeader`](crate::dialog::DialogError::InvalidHeader) for a
    /// name that is not a token) — nothing is sent then.
    pub async fn originate(&self, o: Originate) -> Result<Call, UaError> {
        if self.shared.is_closed() {
            return Err(UaError::Closed);
        }
        let config = self.config();
        let trunk = match &o.trunk {
            Some(name) => Some(
                config
                    .trunk(name)
                    .ok_or_else(|| UaError::UnknownTrunk(name.clone()))?
                    .clone(),
            ),
            None => None,
        };
        let sent_by = self.shared.transport.sent_by().clone();
        let target = match (&trunk, o.target.contains(':')) {
            (Some(t), false) => {
                let host = t.host.clone().ok_or(UaError::NoRoute {
                    target: o.target.clone(),
                    reason: "the trunk has no host",
                })?;
                format!("sip:{}@{host}", o.target)
            }
            _ => o.target.clone(),
        };
        let (addr, reliability) = route(&o, trunk.as_ref(), &target)?;
        let from_host = trunk
            .as_ref()
            .and_then(|t| t.from_domain.clone())
            .unwrap_or_else(|| sent_by.to_string());
        let default_user = trunk
            .as_ref()
            .and_then(|t| t.from_user.clone())
            .unwrap_or_else(|| "freya".into());
        let from = match o.caller_id.as_deref() {
            Some(id) if id.contains('<') || id.contains(':') => id.to_owned(),
            Some(id) => format!("<sip:{id}@{from_host}>"),
            None => format!("<sip:{default_user}@{from_host}>"),
        };
        let remote = Remote { addr, reliability };
        let mut media = o.media.clone();
        if let Some(t) = &trunk {
            media.codecs = t.codec_list();
            media.telephone_event = t.dtmf_mode == super::config::DtmfMode::Rfc4733;
        }
        let mut call = OutgoingCall::new(target, from, remote, media);
        call.headers = o.headers.clone();
        if let Some(a) = trunk.as_ref().and_then(|t| t.outbound_auth.as_ref()) {
            let mut c = Credentials::new(a.username.clone(), a.password.clone());
            if let Some(realm) = &a.realm {
                c = c.for_realm(realm.clone());
            }
            call = call.credentials(c);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let info;
        {
            let mut core = self.shared.lock();
            let id = core.layer.invite(now(), call)?;
            core.calls.insert(id, CallSlot { events: tx });
            core.stats.outgoing_calls += 1;
            if config.ring_timeout_s > 0 {
                let at = now() + Duration::from_secs(config.ring_timeout_s);
                core.ring_deadlines.insert((at, id));
            }
            let invite = core
                .layer
                .session(id)
                .map(|s| s.invite().clone())
                .ok_or(UaError::Closed)?;
            info = CallInfo {
                session: id,
                direction: crate::dialog::CallDirection::Outbound,
                call_id: invite.call_id().unwrap_or_default().to_owned(),
                caller: caller_of(&invite, false),
                callee: callee_of(&invite),
                peer: trunk.as_ref().map(Peer::of_trunk),
                remote: addr,
                transport: if reliability == Reliability::Reliable {
                    TransportKind::Tcp
                } else {
                    TransportKind::Udp
                },
                invite,
            };
        }
        self.shared.wake.notify_one();
        Ok(Call::new(self.shared.clone(), Arc::new(info), rx))
    }

    /// Stops the driver and closes the sockets. Live calls are not hung up first: hang
    /// them up before, or let the peers' timers end them.
    pub async fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.shutdown.notify_one();
        self.shared.transport.close();
        tokio::task::yield_now().await;
    }
}

/// Where an outgoing INVITE goes, and over what.
fn route(
    o: &Originate,
    trunk: Option<&super::config::TrunkConfig>,
    target: &str,
) -> Result<(SocketAddr, Reliability), UaError> {
    let uri_tcp = target.to_ascii_lowercase().contains(";transport=tcp");
    let reliability = match trunk {
        Some(t) if t.transport.kind() == TransportKind::Tcp => Reliability::Reliable,
        _ if uri_tcp => Reliability::Reliable,
        _ => Reliability::Unreliable,
    };
    if let Some(a) = o.destination {
        return Ok((a, reliability));
    }
    if let Some(t) = trunk {
        if let Some(a) = t.host_addr()? {
            return Ok((a, reliability));
        }
    }
    let hostport = match crate::message::Uri::parse(target) {
        Ok(crate::message::Uri::Sip(u)) => {
            let host = u.host.trim_start_matches('[').trim_end_matches(']');
            match u.port {
                Some(p) => format!(
                    "{}:{p}",
                    if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host.to_owned()
                    }
                ),
                None => host.to_owned(),
            }
        }
        _ => {
            return Err(UaError::NoRoute {
                target: target.to_owned(),
                reason: "not a sip: URI and no trunk",
            })
        }
    };
    parse_host_port(&hostport, 5060)
        .map(|a| (a, reliability))
        .map_err(|_| UaError::NoRoute {
            target: target.to_owned(),
            reason: "its host is not an IP address (DNS is not done here); give a trunk or a destination",
        })
}

/// The driver task.
async fn drive(
    shared: Arc<Shared>,
    mut events: mpsc::Receiver<TransportEvent>,
    mut dropped: mpsc::UnboundedReceiver<SessionId>,
) {
    loop {
        let deadline = flush(&shared).await;
        if shared.is_closed() {
            break;
        }
        let wake = deadline.map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            tokio::time::Instant::from_std,
        );
        tokio::select! {
            ev = events.recv() => match ev {
                Some(TransportEvent::Message(inc)) => {
                    on_message(&shared, inc).await;
                }
                Some(_) => {}
                None => break,
            },
            id = dropped.recv() => {
                if let Some(id) = id {
                    let mut core = shared.lock();
                    if core.calls.remove(&id).is_some() {
                        tracing::debug!(session = %id, "ua: call handle dropped while alive: hanging up");
                        let _ = core.layer.hangup(now(), id, None);
                    }
                }
            }
            () = shared.wake.notified() => {}
            () = shared.shutdown.notified() => break,
            () = tokio::time::sleep_until(wake), if deadline.is_some() => {
                on_timeout(&shared);
            }
        }
    }
    shared.closed.store(true, Ordering::Release);
    shared.transport.close();
    tracing::debug!("ua: driver stopped");
}

fn on_timeout(shared: &Shared) {
    let t = now();
    let mut core = shared.lock();
    core.layer.handle_timeout(t);
    core.registrations.handle_timeout(t);
    while let Some(&(at, id)) = core.ring_deadlines.first() {
        if at > t {
            break;
        }
        core.ring_deadlines.pop_first();
        let ringing = core
            .layer
            .session(id)
            .is_some_and(|s| !s.state().is_answered());
        if ringing {
            tracing::info!(session = %id, "ua: ring timeout: cancelling the call");
            core.stats.ring_timeouts += 1;
            let _ = core
                .layer
                .hangup(t, id, Some(crate::dialog::Q850::NO_ANSWER));
        }
    }
}

/// Sends everything the layer queued and routes its events, until both are empty; returns
/// the next deadline.
async fn flush(shared: &Arc<Shared>) -> Option<Instant> {
    loop {
        let (out, deadline) = {
            let mut guard = shared.lock();
            let core = &mut *guard;
            let mut out = Vec::new();
            loop {
                core.registrations.pump(&mut core.layer, now());
                while let Some(o) = core.layer.poll_transmit() {
                    out.push(o);
                }
                let mut any = false;
                while let Some(ev) = core.layer.poll_event() {
                    any = true;
                    route_event(shared, core, ev);
                }
                if !any {
                    break;
                }
            }
            let ring = core.ring_deadlines.first().map(|(at, _)| *at);
            let deadline = [
                core.layer.poll_timeout(),
                ring,
                core.registrations.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            (out, deadline)
        };
        if out.is_empty() {
            return deadline;
        }
        for o in out {
            let failed = send(&shared.transport, o.remote, o.bytes).await;
            if failed {
                if let Some(key) = o.transaction {
                    let _ = shared.lock().layer.handle_transport_error(now(), &key);
                }
            }
        }
    }
}

/// Sends bytes the layer produced: a response per RFC 3261 §18.2.2, a request to its
/// remote. Returns whether it failed.
pub(crate) async fn send(transport: &Transport, remote: Remote, bytes: bytes::Bytes) -> bool {
    let result = if bytes.starts_with(b"SIP/2.0 ") {
        match parse(bytes) {
            Ok(resp) => {
                let kind = crate::transport::response_kind(transport, remote);
                transport.send_response(&resp, remote.addr, kind).await
            }
            Err(e) => {
                tracing::error!(error = %e, "ua: a response we built does not parse; not sent");
                return true;
            }
        }
    } else {
        transport
            .send(Destination::from_remote(remote), bytes)
            .await
    };
    match result {
        Ok(_) => false,
        Err(error) => {
            tracing::warn!(remote = %remote.addr, %error, "ua: send failed");
            true
        }
    }
}

/// A message from the transport: requests pass the filter (RFC 3261 §8.2 checks, trunk
/// identification, digest challenge) before the layer sees them.
async fn on_message(shared: &Arc<Shared>, inc: crate::transport::Incoming) {
    let remote = inc.remote();
    let message = if inc.message.is_request() {
        let verdict = {
            let mut core = shared.lock();
            let v = filter::check(&mut core, &inc.message, inc.source);
            if let Verdict::Respond { counter, .. } | Verdict::Drop { counter } = &v {
                core.stats.count(*counter);
            }
            v
        };
        match verdict {
            Verdict::Pass(m) => m,
            Verdict::Respond { response, .. } => {
                send(&shared.transport, remote, response).await;
                return;
            }
            Verdict::Drop { .. } => return,
        }
    } else {
        inc.message
    };
    shared.lock().layer.handle_message(now(), message, remote);
}

/// Hands a layer event to whom it concerns: a new call to the incoming stream, a call's
/// event to its handle, an out-of-dialog request to the UA's own answers.
fn route_event(shared: &Arc<Shared>, core: &mut Core, ev: DialogEvent) {
    match ev {
        DialogEvent::Incoming(ic) => incoming_call(shared, core, ic),
        DialogEvent::Request(r) => filter::answer_request(core, r),
        DialogEvent::StandaloneCompleted {
            key,
            status,
            response,
        } => {
            if !core
                .registrations
                .completed(now(), &key, status, response.as_ref())
            {
                tracing::debug!(%key, status, "ua: standalone request completed");
            }
        }
        ev => {
            let Some(id) = ev.session() else { return };
            let ended = matches!(ev, DialogEvent::Ended { .. });
            if let DialogEvent::Ended { end, .. } = &ev {
                tracing::info!(session = %id, %end, "ua: call ended");
            }
            if let Some(slot) = core.calls.get(&id) {
                let _ = slot.events.send(Box::new(ev));
            }
            if ended {
                core.calls.remove(&id);
                core.ring_deadlines.retain(|(_, s)| *s != id);
            }
        }
    }
}

fn incoming_call(shared: &Arc<Shared>, core: &mut Core, ic: crate::dialog::IncomingCall) {
    let id = ic.session;
    let peer = peer_of(&core.config, &ic.request, ic.remote.addr);
    let trusted = peer.trust_id_inbound;
    let info = CallInfo {
        session: id,
        direction: crate::dialog::CallDirection::Inbound,
        call_id: ic.request.call_id().unwrap_or_default().to_owned(),
        caller: caller_of(&ic.request, trusted),
        callee: callee_of(&ic.request),
        peer: Some(peer),
        remote: ic.remote.addr,
        transport: if ic.remote.reliability == Reliability::Reliable {
            TransportKind::Tcp
        } else {
            TransportKind::Udp
        },
        invite: ic.request,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let call = Call::new(shared.clone(), Arc::new(info), rx);
    core.stats.incoming_calls += 1;
    match core.incoming.try_send(call) {
        Ok(()) => {
            core.calls.insert(id, CallSlot { events: tx });
        }
        Err(e) => {
            let (status, reason, cause) = match &e {
                mpsc::error::TrySendError::Full(_) => {
                    (503, "Service Unavailable", crate::dialog::Q850::new(42))
                }
                mpsc::error::TrySendError::Closed(_) => (
                    480,
                    "Temporarily Unavailable",
                    crate::dialog::Q850::NO_ANSWER,
                ),
            };
            let mut call = e.into_inner();
            call.disarm();
            drop(call);
            core.stats.incoming_refused += 1;
            tracing::warn!(session = %id, status, "ua: incoming call refused: the application is not taking calls");
            let _ = core
                .layer
                .reject(now(), id, status, reason, Some(cause), &[]);
        }
    }
}

/// The peer an INVITE that passed the filter came from.
fn peer_of(config: &UaConfig, request: &Message, source: SocketAddr) -> Peer {
    if let Some(p) = identify_source(config, source) {
        return p;
    }
    // The filter let a request naming an endpoint in From through only with that
    // endpoint's valid credentials.
    if let Some(user) = request.from().and_then(|f| f.user().map(str::to_owned)) {
        if let Some(p) = endpoint_peer(config, &user) {
            return p;
        }
    }
    anonymous_peer()
}
