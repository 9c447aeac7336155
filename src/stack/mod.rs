//! [`Stack`]: freya-sip's user agent and freya-media's relay and bridge wired together
//! from one [`StackConfig`]: trunk calls routed to voice-agent slots, events out, hot
//! reload. Host-neutral: config in, events out, async handles (the Python and Node
//! bindings expose this).

mod agent_link;
mod agents;
mod b2bua;
mod call;
mod commands;
mod dtmf_out;
mod hold;
mod host;
mod media;
mod media_sinks;
mod media_stats;
mod outbound;
mod recording;
mod transfer;

pub use dtmf_out::{DtmfRequest, MAX_DTMF_DIGITS};
pub use host::{HostCall, HostCalls, HOST_QUEUE};
pub(crate) use outbound::originate as originate_call;
pub use outbound::OriginateRequest;
pub use transfer::{TransferRequest, TRANSFER_TIMEOUT};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::broadcast;

use freya_media::relay::{PortPool, SharedPortPool};
use freya_sip::dialog::{DialogError, Q850};
use freya_sip::ua::{CallControl, IncomingCalls, UserAgent};

use crate::campaign::{CampaignError, CampaignInfo, CampaignRequest};
use crate::config::StackConfig;
use crate::event::{CallEvent, EventKind};
use crate::slots::SlotPool;
use crate::StackError;

/// A call as `freya-stack ctl show calls` lists it.
///
/// ```
/// use freya::stack::CallSummary;
/// let c = CallSummary { call_id: "u".into(), direction: "inbound".into(), caller: None, callee: None,
///     state: "answered".into(), route: Some("default".into()), slot: Some(("echo".into(), 3)) };
/// assert_eq!(serde_json::to_value(&c).unwrap()["slot"][1], 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    /// The freya call UUID.
    pub call_id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The caller.
    pub caller: Option<String>,
    /// The callee.
    pub callee: Option<String>,
    /// `ringing`, `answered` (inbound); `calling`, `ringing`, `answered` (outbound);
    /// `b2bua`.
    pub state: String,
    /// The route that took it.
    pub route: Option<String>,
    /// The agent pool and slot it holds.
    pub slot: Option<(String, usize)>,
}

/// What the stack's tasks share.
pub(crate) struct Inner {
    config: Mutex<Arc<StackConfig>>,
    pub(crate) ua: UserAgent,
    pub(crate) ports: SharedPortPool,
    pools: Mutex<HashMap<String, SlotPool>>,
    calls: Mutex<HashMap<String, CallSummary>>,
    /// What can hang each tracked call up from outside its task (API, shutdown).
    controls: Mutex<HashMap<String, CallControl>>,
    /// Where each host pool's calls go ([`Stack::host_calls`]), by pool name.
    hosts: Mutex<HashMap<String, tokio::sync::mpsc::Sender<HostCall>>>,
    /// Where [`Stack::transfer`] and [`Stack::send_dtmf`] reach the task of each answered
    /// agent call.
    call_commands: Mutex<HashMap<String, tokio::sync::mpsc::Sender<commands::CallCommand>>>,
    /// Set by [`Stack::drain`]: new calls are refused.
    pub(crate) draining: AtomicBool,
    /// Set by [`Stack::shutdown`]: requests are answered [`StackError::Closed`].
    closed: AtomicBool,
    /// The built-in echo agents' listeners, stopped at shutdown.
    builtin: Mutex<Option<agents::BuiltinAgents>>,
    events: broadcast::Sender<CallEvent>,
    /// Wakes calls waiting for a slot.
    pub(crate) slot_freed: tokio::sync::Notify,
    /// Wakes campaigns when [`Stack::drain`] begins (they pause).
    pub(crate) drain_started: tokio::sync::Notify,
    /// Where server-mode agents dial in (`[agent_server]`).
    pub(crate) agent_server: Option<agent_link::AgentServer>,
    /// Outbound campaigns by id: every running or paused one, and the last
    /// `[control] keep_ended_campaigns` ended ones.
    campaigns: Mutex<crate::campaign::registry::Registry>,
    /// The io_uring relay thread for B2BUA calls (`media.relay_io = "io_uring"`), started
    /// by the first such call; `None` inside when it could not start (logged then).
    #[cfg(target_os = "linux")]
    ring: std::sync::OnceLock<Option<freya_media::relay::RingRelays>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(crate) fn config(&self) -> Arc<StackConfig> {
        lock(&self.config).clone()
    }

    pub(crate) fn emit(&self, event: CallEvent) {
        event.log();
        // `GET /calls` and `ctl show calls` follow the call's state from its events.
        let state = match event.kind {
            EventKind::Ringing { .. } => Some("ringing"),
            EventKind::Answered {} => Some("answered"),
            _ => None,
        };
        if let Some(state) = state {
            if let Some(c) = lock(&self.calls).get_mut(&event.call_id) {
                c.state = state.to_owned();
            }
        }
        // No subscriber is not an error: events are also in the log.
        let _ = self.events.send(event);
    }

    pub(crate) fn take_slot(&self, pool: &str, call: &str) -> Option<usize> {
        lock(&self.pools).get_mut(pool)?.take(call)
    }

    pub(crate) fn free_slot(&self, pool: &str, call: &str) -> Option<usize> {
        let r = lock(&self.pools).get_mut(pool).and_then(|p| p.free(call));
        self.slot_freed.notify_waiters();
        r
    }

    /// True when a call of this stack already goes by `call_id` (it holds a slot, is
    /// tracked or controllable): an originate's id is in use from its slot on, before its
    /// INVITE leaves.
    pub(crate) fn id_in_use(&self, call_id: &str) -> bool {
        lock(&self.pools)
            .values()
            .any(|p| p.held_by(call_id).is_some())
            || lock(&self.calls).contains_key(call_id)
            || lock(&self.controls).contains_key(call_id)
    }

    pub(crate) fn track(&self, summary: CallSummary) {
        lock(&self.calls).insert(summary.call_id.clone(), summary);
    }

    pub(crate) fn untrack(&self, call_id: &str) {
        lock(&self.calls).remove(call_id);
        lock(&self.controls).remove(call_id);
    }

    /// Where host pool `pool`'s calls go, while a host takes them.
    pub(crate) fn host_for(&self, pool: &str) -> Option<tokio::sync::mpsc::Sender<HostCall>> {
        lock(&self.hosts)
            .get(pool)
            .filter(|tx| !tx.is_closed())
            .cloned()
    }

    /// The answered agent calls commands can reach, by call id.
    pub(crate) fn call_handles(
        &self,
    ) -> MutexGuard<'_, HashMap<String, tokio::sync::mpsc::Sender<commands::CallCommand>>> {
        lock(&self.call_commands)
    }

    /// Lets the API and a shutdown hang the call up (until [`Inner::untrack`]).
    pub(crate) fn controllable(&self, call_id: &str, control: CallControl) {
        lock(&self.controls).insert(call_id.to_owned(), control);
    }

    /// The io_uring relay thread, started on first use; `None` when it cannot start.
    #[cfg(target_os = "linux")]
    pub(crate) fn ring(&self) -> Option<&freya_media::relay::RingRelays> {
        self.ring
            .get_or_init(|| match freya_media::relay::RingRelays::start() {
                Ok(ring) => {
                    tracing::info!("stack: B2BUA calls relayed by the io_uring thread");
                    Some(ring)
                }
                Err(error) => {
                    tracing::error!(%error,
                        "stack: media.relay_io = \"io_uring\" cannot start; B2BUA calls use tokio tasks");
                    None
                }
            })
            .as_ref()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.events.subscribe()
    }

    /// Whether agent pool `pool` (default: the first) has an idle slot now.
    pub(crate) fn has_free_slot(&self, pool: Option<&str>) -> bool {
        let name = match pool {
            Some(p) => p.to_owned(),
            None => match self.config().agents.first() {
                Some(a) => a.name.clone(),
                None => return false,
            },
        };
        lock(&self.pools)
            .get(&name)
            .is_some_and(|p| p.busy() < p.len())
    }

    /// Whether `call_id` is a call alive here (tracked or still placing).
    pub(crate) fn is_live(&self, call_id: &str) -> bool {
        self.id_in_use(call_id)
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Called by campaign `campaign_id`'s task as it ends (finished or cancelled, its calls
    /// over): it becomes the newest-ended campaign, and the oldest-ended ones past
    /// `[control] keep_ended_campaigns` are forgotten.
    pub(crate) fn campaign_ended(&self, campaign_id: &str) {
        // The config is read before the registry is locked: `start_campaign` takes the
        // registry's lock and then the config's, never the other way round.
        let keep = self.config().control.keep_ended_campaigns;
        let forgotten = lock(&self.campaigns).ended(campaign_id, keep);
        log_forgotten(&forgotten, keep);
    }

    /// Forgets the oldest-ended campaigns past the limit in force (after a reload).
    fn forget_ended_campaigns(&self) {
        let keep = self.config().control.keep_ended_campaigns;
        let forgotten = lock(&self.campaigns).forget_past(keep);
        log_forgotten(&forgotten, keep);
    }
}

fn log_forgotten(forgotten: &[String], keep: usize) {
    for id in forgotten {
        tracing::info!(campaign = %id, keep_ended_campaigns = keep,
            "campaign: forgotten (ended; only the last keep_ended_campaigns ended campaigns are kept)");
    }
}

fn no_campaign(campaign_id: &str) -> StackError {
    StackError::Campaign(CampaignError::NoSuchCampaign {
        campaign_id: campaign_id.to_owned(),
    })
}

/// The running stack. Cloning gives another handle.
///
/// ```no_run
/// # async fn run() -> Result<(), freya::StackError> {
/// let config = freya::config::StackConfig::from_toml(freya::config::DEFAULT_CONFIG)?;
/// let stack = freya::stack::Stack::start(config).await?;
/// let mut events = stack.subscribe();
/// while let Ok(ev) = events.recv().await {
///     println!("{}", serde_json::to_string(&ev).unwrap());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Stack {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("sip", &self.inner.ua.local_addr())
            .finish()
    }
}

impl Stack {
    /// Binds SIP, the RTP port range and the built-in agents, builds the `wss://` agents'
    /// TLS settings (once: every dial shares them), and starts taking calls.
    ///
    /// # Errors
    /// [`StackError::Config`] for an invalid config (or a port range the pool refuses, or a
    /// `root_ca_file` that cannot be read or parsed);
    /// [`StackError::Sip`] when the SIP sockets cannot be bound; [`StackError::Io`] when a
    /// built-in agent cannot listen.
    pub async fn start(mut config: StackConfig) -> Result<Stack, StackError> {
        config.validate()?;
        config.prepare_agent_tls()?;
        let m = &config.media;
        let ports =
            PortPool::new(m.rtp_port_start..=m.rtp_port_end).map_err(|e| StackError::Config {
                key: "media.rtp_port_start".into(),
                reason: e.to_string(),
            })?;
        // Dropped (the agents' ports released) if a step below fails.
        let builtin = agents::start_builtin(&config).await?;
        let agent_server = agent_link::AgentServer::start(&config).await?;
        let (ua, incoming) = UserAgent::bind(config.ua()).await?;
        let pools = config
            .agents
            .iter()
            .map(|a| (a.name.clone(), SlotPool::new(a.name.clone(), a.slots)))
            .collect();
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            config: Mutex::new(Arc::new(config)),
            ua,
            ports: SharedPortPool::new(ports),
            pools: Mutex::new(pools),
            calls: Mutex::new(HashMap::new()),
            controls: Mutex::new(HashMap::new()),
            draining: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            builtin: Mutex::new(Some(builtin)),
            events,
            slot_freed: tokio::sync::Notify::new(),
            call_commands: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            drain_started: tokio::sync::Notify::new(),
            agent_server,
            campaigns: Mutex::new(crate::campaign::registry::Registry::default()),
            #[cfg(target_os = "linux")]
            ring: std::sync::OnceLock::new(),
        });
        tokio::spawn(accept(inner.clone(), incoming));
        Ok(Stack { inner })
    }

    /// Where SIP listens.
    pub fn sip_addr(&self) -> SocketAddr {
        self.inner.ua.local_addr()
    }

    /// Where server-mode agents dial in (`[agent_server]`), when it runs.
    pub fn agent_server_addr(&self) -> Option<SocketAddr> {
        self.inner.agent_server.as_ref().map(|s| s.local_addr())
    }

    /// A stream of every call event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.inner.events.subscribe()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<StackConfig> {
        self.inner.config()
    }

    /// Swaps in `config` for new calls (hot reload): trunks, endpoints, routes, agent
    /// pools and policies. Live calls keep their route, slot and media untouched. The
    /// `wss://` agents' TLS settings are built anew (each `root_ca_file` read again).
    ///
    /// # Errors
    /// [`StackError::Config`] when `config` is invalid (a `root_ca_file` that cannot be read
    /// or parsed names `agents[i].root_ca_file`) or changes what cannot change without a
    /// restart (SIP and RTP addresses); the running config then stays.
    pub fn reload(&self, mut config: StackConfig) -> Result<(), StackError> {
        config.validate()?;
        let old = self.inner.config();
        if old.media != config.media {
            return Err(StackError::Config {
                key: "media".into(),
                reason: "RTP addresses and ports cannot change on reload; restart instead".into(),
            });
        }
        if old.agent_server.listen != config.agent_server.listen {
            return Err(StackError::Config {
                key: "agent_server.listen".into(),
                reason: "the agent server's address cannot change on reload; restart instead"
                    .into(),
            });
        }
        // Before anything is swapped: a CA file broken since the validation above is
        // refused here just the same.
        config.prepare_agent_tls()?;
        self.inner.ua.reload(config.ua())?;
        if let Some(server) = &self.inner.agent_server {
            server.reload(&config);
        }
        {
            let mut pools = lock(&self.inner.pools);
            for a in &config.agents {
                pools
                    .entry(a.name.clone())
                    .or_insert_with(|| SlotPool::new(a.name.clone(), 0))
                    .resize(a.slots);
            }
        }
        *lock(&self.inner.config) = Arc::new(config);
        self.inner.forget_ended_campaigns();
        tracing::info!("stack: configuration reloaded; live calls untouched");
        Ok(())
    }

    /// Places an outbound call (see [`OriginateRequest`]); returns its freya UUID once the
    /// INVITE is on its way. Progress, answer and the end come as events.
    ///
    /// # Errors
    /// [`StackError::Busy`] when the pool has no idle slot; [`StackError::Sip`] for a
    /// target or header refused (nothing sent); [`StackError::Media`] without RTP ports;
    /// [`StackError::Draining`] while draining; [`StackError::Closed`] after
    /// [`Stack::shutdown`].
    pub async fn originate(&self, req: OriginateRequest) -> Result<String, StackError> {
        self.open()?;
        outbound::originate(self.inner.clone(), req).await
    }

    /// Starts an outbound campaign (see [`CampaignRequest`]): the list is checked first
    /// and the campaign refused whole when an entry cannot be dialed (unless
    /// `skip_invalid`); then its calls go out at the pace. Its progress comes as
    /// `campaign` events and from [`Stack::campaign`].
    ///
    /// # Errors
    /// [`CampaignError::InvalidNumbers`] (every refused entry, with its line and reason),
    /// [`CampaignError::EmptyList`], [`CampaignError::Pacing`] for a bad pace setting;
    /// [`StackError::Draining`] while shutting down; [`StackError::Closed`] after
    /// [`Stack::shutdown`].
    pub fn start_campaign(&self, req: CampaignRequest) -> Result<CampaignInfo, StackError> {
        self.open()?;
        if self.inner.is_draining() {
            return Err(StackError::Draining);
        }
        // Registered under the lock its task takes to report its end, so a campaign that
        // ends at once is still in the registry when it does (and is counted as ended).
        let mut campaigns = lock(&self.inner.campaigns);
        let (id, entry) = crate::campaign::runner::start(&self.inner, req)?;
        let info = entry.info();
        campaigns.insert(id, entry);
        Ok(info)
    }

    /// The campaigns kept, by id: every running or paused one and the last
    /// `[control] keep_ended_campaigns` ended ones (older ended ones are forgotten).
    pub fn campaigns(&self) -> Vec<CampaignInfo> {
        let mut v: Vec<_> = lock(&self.inner.campaigns)
            .values()
            .map(|e| e.info())
            .collect();
        v.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
        v
    }

    /// One campaign.
    ///
    /// # Errors
    /// [`CampaignError::NoSuchCampaign`] for an id never started here, or one ended and
    /// forgotten since (see [`ControlConfig::keep_ended_campaigns`]).
    ///
    /// [`ControlConfig::keep_ended_campaigns`]: crate::config::ControlConfig::keep_ended_campaigns
    pub fn campaign(&self, campaign_id: &str) -> Result<CampaignInfo, StackError> {
        lock(&self.inner.campaigns)
            .get(campaign_id)
            .map(|e| e.info())
            .ok_or_else(|| no_campaign(campaign_id))
    }

    /// Stops a campaign dialing (its calls up go on) until [`Stack::resume_campaign`].
    ///
    /// # Errors
    /// [`CampaignError::NoSuchCampaign`], [`CampaignError::Ended`].
    pub fn pause_campaign(&self, campaign_id: &str) -> Result<(), StackError> {
        self.campaign_command(campaign_id, crate::campaign::runner::Command::Pause)
    }

    /// Dials again, after an operator's pause or the wrong-prefix breaker (which starts
    /// over).
    ///
    /// # Errors
    /// [`CampaignError::NoSuchCampaign`], [`CampaignError::Ended`].
    pub fn resume_campaign(&self, campaign_id: &str) -> Result<(), StackError> {
        self.campaign_command(campaign_id, crate::campaign::runner::Command::Resume)
    }

    /// Ends a campaign: nothing more is dialed; it is `cancelled` once its calls end.
    ///
    /// # Errors
    /// [`CampaignError::NoSuchCampaign`], [`CampaignError::Ended`].
    pub fn cancel_campaign(&self, campaign_id: &str) -> Result<(), StackError> {
        self.campaign_command(campaign_id, crate::campaign::runner::Command::Cancel)
    }

    fn campaign_command(
        &self,
        campaign_id: &str,
        command: crate::campaign::runner::Command,
    ) -> Result<(), StackError> {
        let campaigns = lock(&self.inner.campaigns);
        let entry = campaigns
            .get(campaign_id)
            .ok_or_else(|| no_campaign(campaign_id))?;
        entry.commands.send(command).map_err(|_| {
            StackError::Campaign(CampaignError::Ended {
                campaign_id: campaign_id.to_owned(),
            })
        })
    }

    /// Takes the calls of host pool `pool` (`mode = "host"`): each call routed there and
    /// given a slot comes as a [`HostCall`], its audio as 16-bit PCM at the pool's
    /// `sample_rate` (see [`HostCall`] and [`freya_media::bridge::HostAgent`]). At most
    /// [`HOST_QUEUE`] calls wait to be taken; past that, or with no host taking calls, a
    /// call fails as an unreachable agent does (503, cause 41). A pool has one taker at a
    /// time: a second call here while the first [`HostCalls`] lives is refused; once it is
    /// dropped, a new one takes over. The pool's name is looked up in the config running
    /// now (a reload may add host pools).
    ///
    /// # Errors
    /// [`StackError::Config`] naming `agents` for a pool that does not exist or is not in
    /// host mode, or that a live [`HostCalls`] already takes; [`StackError::Closed`] after
    /// shutdown.
    pub fn host_calls(&self, pool: &str) -> Result<HostCalls, StackError> {
        self.open()?;
        let config = self.inner.config();
        let refuse = |reason: String| StackError::Config {
            key: "agents".into(),
            reason,
        };
        match config.agents.iter().find(|a| a.name == pool) {
            None => return Err(refuse(format!("{pool:?}: no such agent pool"))),
            Some(a) if a.mode != crate::config::AgentMode::Host => {
                return Err(refuse(format!(
                    "{pool:?}: not a host pool (mode = \"host\" hands its calls to the program)"
                )))
            }
            Some(_) => {}
        }
        let mut hosts = lock(&self.inner.hosts);
        if hosts.get(pool).is_some_and(|tx| !tx.is_closed()) {
            return Err(refuse(format!(
                "{pool:?}: its calls are already taken by a live HostCalls"
            )));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(HOST_QUEUE);
        hosts.insert(pool.to_owned(), tx);
        tracing::info!(pool, "stack: the host takes this pool's calls");
        Ok(HostCalls {
            rx,
            pool: pool.to_owned(),
        })
    }

    /// Transfers answered agent call `call_id` to `req.to` by REFER (RFC 3515, a blind
    /// transfer as RFC 5589 §6.1 has it): the call's SIP peer (the carrier) is asked to call
    /// the target itself. Resolves with the target URI once the REFER is sent; what follows
    /// comes as `transfer` events ([`EventKind::Transfer`]): on `succeeded` freya hangs up
    /// its own leg (and the agent's), on `refused` or `failed` the call stays with its
    /// agent. One transfer at a time per call; a peer that never reports an outcome fails
    /// the transfer after [`TRANSFER_TIMEOUT`].
    ///
    /// # Errors
    /// [`StackError::NoSuchCall`] for an unknown or ended call; [`StackError::Transfer`]
    /// for a call not answered yet, not served by an agent (B2BUA routes), or already being
    /// transferred; [`StackError::Request`] for a `to` that is neither a number nor a
    /// `sip:`/`sips:`/`tel:` URI; [`StackError::Closed`] after shutdown.
    pub async fn transfer(
        &self,
        call_id: &str,
        req: TransferRequest,
    ) -> Result<String, StackError> {
        self.open()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = commands::CallCommand::Transfer { to: req.to, reply };
        self.command(call_id, "transferred", command).await?;
        answer.await.map_err(|_| self.no_call(call_id))?
    }

    /// Sends `req.digits` toward answered agent call `call_id`'s SIP peer (an agent
    /// navigating an IVR, a dashboard's button): RFC 4733 telephone-events in the call's RTP
    /// (the agent's audio is held back while each tone is on) when the call's SDP agreed on
    /// telephone-event, SIP INFO (`application/dtmf-relay`) when its trunk has
    /// `dtmf_mode = "info"`. Returns once the digits are queued (RFC 4733) or sent (INFO):
    /// each takes `duration_ms` plus 100 ms of silence.
    ///
    /// # Errors
    /// [`StackError::Request`] for digits outside `0-9 * # A-D`, more than
    /// [`MAX_DTMF_DIGITS`], or a duration outside 40–2,000 ms; [`StackError::NoSuchCall`];
    /// [`StackError::Dtmf`] for a call not answered yet, not served by an agent, or whose
    /// SDP agreed no telephone-event on an RFC 4733 trunk; [`StackError::Closed`].
    pub async fn send_dtmf(&self, call_id: &str, req: DtmfRequest) -> Result<(), StackError> {
        self.open()?;
        req.check()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let command = commands::CallCommand::Dtmf {
            digits: req.digits,
            duration_ms: req.duration_ms,
            reply,
        };
        self.command(call_id, "sent DTMF", command).await?;
        answer.await.map_err(|_| self.no_call(call_id))?
    }

    fn no_call(&self, call_id: &str) -> StackError {
        StackError::NoSuchCall {
            call_id: call_id.to_owned(),
        }
    }

    /// Hands `command` to call `call_id`'s task; `what` says what it could not be (for the
    /// refusal of a call that takes no commands: unanswered, or bridged).
    async fn command(
        &self,
        call_id: &str,
        what: &str,
        command: commands::CallCommand,
    ) -> Result<(), StackError> {
        let handle = self.inner.call_handles().get(call_id).cloned();
        let Some(handle) = handle else {
            let Some(summary) = lock(&self.inner.calls).get(call_id).cloned() else {
                return Err(self.no_call(call_id));
            };
            let reason = if summary.state == "b2bua" {
                "only calls served by an agent take commands (this one is bridged to a SIP URI)"
            } else {
                "the call is not answered yet"
            };
            let reason = reason.to_owned();
            return Err(match command {
                commands::CallCommand::Transfer { .. } => StackError::Transfer {
                    call_id: call_id.to_owned(),
                    reason,
                },
                commands::CallCommand::Dtmf { .. } => StackError::Dtmf {
                    call_id: call_id.to_owned(),
                    reason,
                },
            });
        };
        tracing::debug!(call_id, what, "stack: a command for the call's task");
        // Gone between the lookup and here: the call has ended.
        handle
            .send(command)
            .await
            .map_err(|_| self.no_call(call_id))
    }

    /// The calls alive now.
    pub fn calls(&self) -> Vec<CallSummary> {
        let mut v: Vec<CallSummary> = lock(&self.inner.calls).values().cloned().collect();
        v.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        v
    }

    /// Every pool's slots: the call on each (`None` = idle).
    pub fn slots(&self) -> Vec<(String, Vec<Option<String>>)> {
        let pools = lock(&self.inner.pools);
        let mut v: Vec<_> = pools
            .values()
            .map(|p| (p.name().to_owned(), p.slots().to_vec()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The SIP user agent underneath (counters, registrations).
    pub fn ua(&self) -> &UserAgent {
        &self.inner.ua
    }

    /// Stops the stack: running and paused campaigns are cancelled, new calls refused, the
    /// calls still up hung up with Q.850 cause 41 (BYE or CANCEL, as [`Stack::drain`] does
    /// at the end of its grace; call `drain` first to give them time) and their ends
    /// awaited (at most 2 s), the built-in agents stop listening (their ports are free
    /// again), and the SIP sockets are closed. Afterwards requests are answered
    /// [`StackError::Closed`]. A second call does nothing more.
    pub async fn shutdown(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Campaigns first, so that none dials into the shutdown; they end `cancelled` once
        // their calls (hung up just below) have ended.
        for c in self.campaigns() {
            if let Ok(()) = self.cancel_campaign(&c.campaign_id) {
                tracing::info!(campaign = %c.campaign_id, "stack: shutdown: campaign cancelled");
            }
        }
        let left = self.drain(std::time::Duration::ZERO).await;
        tracing::info!(hung_up = left, "stack: shut down");
        drop(lock(&self.inner.builtin).take());
        // The hosts' `HostCalls` end: no call will come.
        lock(&self.inner.hosts).clear();
        self.inner.ua.shutdown().await;
    }

    /// [`StackError::Closed`] once [`Stack::shutdown`] has begun.
    fn open(&self) -> Result<(), StackError> {
        match self.inner.closed.load(Ordering::Acquire) {
            true => Err(StackError::Closed),
            false => Ok(()),
        }
    }

    /// Hangs up live call `call_id` (a freya call UUID) as the control API's
    /// `DELETE /calls/{id}` does: CANCEL before an answer of an originated call, a
    /// rejection of an unanswered inbound one, BYE after (RFC 3261 §15), each with
    /// `Reason: Q.850;cause=N` (`q850_cause`, default 16 normal clearing). The call's
    /// hangup event follows as for any local hang-up.
    ///
    /// # Errors
    /// [`StackError::Request`] for a cause outside 1–127 ([`crate::request::q850_cause`]);
    /// [`StackError::NoSuchCall`] for an unknown or already ended call.
    pub fn hangup(&self, call_id: &str, q850_cause: Option<u16>) -> Result<(), StackError> {
        if let Some(c) = q850_cause {
            crate::request::q850_cause(i64::from(c))?;
        }
        let control = lock(&self.inner.controls).get(call_id).cloned();
        let Some(control) = control else {
            return Err(StackError::NoSuchCall {
                call_id: call_id.to_owned(),
            });
        };
        control
            .hangup(Some(Q850::new(q850_cause.unwrap_or(16))))
            .map_err(|e| match e {
                // Ended between the lookup and the hang-up: as unknown as a call never seen.
                freya_sip::ua::UaError::Dialog(DialogError::NoSuchSession(_)) => {
                    StackError::NoSuchCall {
                        call_id: call_id.to_owned(),
                    }
                }
                other => StackError::Sip(other),
            })
    }

    /// A graceful stop, for SIGTERM/Ctrl-C (a container restart): new calls are refused
    /// from now on (inbound: 503 with `Reason: Q.850;cause=41`; originate:
    /// [`StackError::Draining`]), live calls may go on for up to `grace` (their parties
    /// hang up as usual), then those still up are hung up with cause 41 (BYE or CANCEL),
    /// and the stack waits up to 2 s for their hangup events before returning. Running
    /// campaigns pause ([`PauseReason::Draining`](crate::campaign::PauseReason::Draining):
    /// a `paused` campaign event) and follow their calls up to the end. Call
    /// [`Stack::shutdown`] afterwards to close the sockets. Returns how many calls were
    /// still up at the end of `grace` (and were hung up).
    pub async fn drain(&self, grace: std::time::Duration) -> usize {
        self.inner.draining.store(true, Ordering::Release);
        self.inner.drain_started.notify_waiters();
        let live = || lock(&self.inner.calls).len();
        tracing::info!(
            live = live(),
            grace_s = grace.as_secs_f64(),
            "stack: draining: new calls refused, live calls may finish"
        );
        let deadline = tokio::time::Instant::now() + grace;
        while live() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let left: Vec<(String, CallControl)> = lock(&self.inner.controls)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (id, control) in &left {
            if let Err(error) = control.hangup(Some(Q850::new(41))) {
                tracing::debug!(call_id = id, %error, "stack: drain: call already ending");
            }
        }
        if !left.is_empty() {
            tracing::warn!(
                hung_up = left.len(),
                "stack: drain: grace over, live calls hung up"
            );
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while live() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        left.len()
    }
}

async fn accept(inner: Arc<Inner>, mut incoming: IncomingCalls) {
    while let Some(call) = incoming.next().await {
        tokio::spawn(call::inbound(inner.clone(), call));
    }
}
