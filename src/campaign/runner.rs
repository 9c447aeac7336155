//! A running outbound campaign: the tokio shell around one [`Pacer`]. It dials the checked
//! list through [`originate`](crate::stack::Stack::originate) at the pace, never past the
//! ceiling or the agent pool's free slots, learns each call's end from the stack's events,
//! and pauses itself when the breaker trips. Each of its calls carries
//! `X-Freya-Campaign-Id`, so every call event names its campaign; the campaign's own
//! changes are [`EventKind::Campaign`] events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::numbers::{validate_numbers, NumberRules, RejectedNumber};
use super::pacer::{BreakerConfig, Outcome, Pacer, PacingConfig, PacingError, PauseReason};
use crate::event::{CallEvent, EventKind};
use crate::stack::{Inner, OriginateRequest};
use crate::StackError;

/// The header every call of a campaign carries (its value: the campaign id).
pub const CAMPAIGN_HEADER: &str = "X-Freya-Campaign-Id";

/// A campaign to start (`POST /campaigns`, [`Stack::start_campaign`]).
///
/// ```
/// let r: freya::campaign::CampaignRequest = serde_json::from_str(r#"{
///     "numbers": ["+14155550100", "+14155550101"], "trunk": "carrier",
///     "calls_per_second": 2, "max_concurrent": 5,
///     "rules": {"allowed_prefixes": ["+1415"]}}"#).unwrap();
/// assert_eq!(r.burst, 1);
/// assert_eq!(r.breaker.unwrap().failures, 8);
/// ```
///
/// [`Stack::start_campaign`]: crate::stack::Stack::start_campaign
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    /// A name for people (in events and `GET /campaigns`).
    #[serde(default)]
    pub name: Option<String>,
    /// The phone list: numbers (checked and normalised to E.164 under `rules`) or SIP URIs.
    pub numbers: Vec<String>,
    /// How the list is read (default country code, allowed prefixes).
    #[serde(default)]
    pub rules: NumberRules,
    /// Dial the valid entries even when some are refused (default false: one refused entry
    /// refuses the campaign, with every refused entry listed).
    #[serde(default)]
    pub skip_invalid: bool,
    /// The trunk to call through.
    #[serde(default)]
    pub trunk: Option<String>,
    /// The caller id.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// The workflow (`X-Freya-Workflow-Id`).
    #[serde(default)]
    pub workflow_id: Option<String>,
    /// Extra headers on every call, byte-exact, after `X-Freya-Campaign-Id`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The agent pool answered calls go to (default: the first).
    #[serde(default)]
    pub agents: Option<String>,
    /// Record every call.
    #[serde(default)]
    pub record: bool,
    /// New calls per second (the carrier's CPS limit; default 1).
    #[serde(default = "default_cps")]
    pub calls_per_second: f64,
    /// Calls that may start back to back after an idle spell (default 1).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Calls of this campaign up at once (default 10).
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// Pause when `failures` of the last `window` calls fail with a number error (default
    /// 8 of 10); `null`: never.
    #[serde(default = "default_breaker")]
    pub breaker: Option<BreakerConfig>,
}

fn default_cps() -> f64 {
    1.0
}
fn default_burst() -> u32 {
    1
}
fn default_max_concurrent() -> usize {
    10
}
fn default_breaker() -> Option<BreakerConfig> {
    Some(BreakerConfig::default())
}

/// Why a campaign was not started or cannot be changed.
///
/// ```
/// let e = freya::campaign::CampaignError::NoSuchCampaign { campaign_id: "cmp-1".into() };
/// assert_eq!(e.to_string(), "no campaign \"cmp-1\": unknown, or ended and forgotten \
///     (only the last [control] keep_ended_campaigns ended campaigns are kept)");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// Entries of the list cannot be dialed (all of them are listed).
    #[error("{} of {total} entries cannot be dialed; first: line {}: {}", rejected.len(),
        rejected.first().map_or(0, |r| r.line),
        rejected.first().map_or_else(String::new, |r| r.reason.to_string()))]
    InvalidNumbers {
        /// Every refused entry.
        rejected: Vec<RejectedNumber>,
        /// Entries in the list.
        total: usize,
    },
    /// Nothing to dial.
    #[error("the phone list is empty")]
    EmptyList,
    /// A pacing setting is wrong.
    #[error(transparent)]
    Pacing(#[from] PacingError),
    /// No campaign by that id: never started here, or ended and forgotten since (only the
    /// last `[control] keep_ended_campaigns` ended campaigns are kept).
    #[error(
        "no campaign {campaign_id:?}: unknown, or ended and forgotten \
         (only the last [control] keep_ended_campaigns ended campaigns are kept)"
    )]
    NoSuchCampaign {
        /// The id asked for.
        campaign_id: String,
    },
    /// The request names a trunk or an agent pool the configuration does not have.
    #[error("no {what} {name:?} in the configuration")]
    Unknown {
        /// `trunk` or `agent pool`.
        what: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The campaign has ended; it cannot be paused or resumed.
    #[error("campaign {campaign_id:?} has ended")]
    Ended {
        /// Its id.
        campaign_id: String,
    },
}

impl CampaignError {
    /// The variant as a snake_case word, so that a host can tell a refused list from an
    /// unknown id without reading the message (the bindings' `kind`): `invalid_numbers`,
    /// `empty_list`, `pacing`, `no_such_campaign`, `unknown`, `ended`.
    ///
    /// ```
    /// assert_eq!(freya::campaign::CampaignError::EmptyList.kind(), "empty_list");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            CampaignError::InvalidNumbers { .. } => "invalid_numbers",
            CampaignError::EmptyList => "empty_list",
            CampaignError::Pacing(_) => "pacing",
            CampaignError::NoSuchCampaign { .. } => "no_such_campaign",
            CampaignError::Unknown { .. } => "unknown",
            CampaignError::Ended { .. } => "ended",
        }
    }
}

/// Where a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Dialing (or waiting for the pace, the ceiling or a free agent slot).
    Running,
    /// Not dialing; calls up go on.
    Paused,
    /// Every number dialed, every call ended.
    Finished,
    /// Cancelled: no more dialing; ends when its calls have.
    Cancelled,
}

/// What happened to one number of a campaign.
///
/// ```
/// let r = freya::campaign::NumberResult { number: "+14155550100".into(), ..Default::default() };
/// assert!(r.call_id.is_none() && r.sip_code.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberResult {
    /// The number as dialed (E.164) or the URI.
    pub number: String,
    /// Its call's freya UUID, once dialed.
    pub call_id: Option<String>,
    /// `answered` (from the answer on, while the call is still up too), `failed`, or
    /// absent while pending or ringing.
    pub outcome: Option<String>,
    /// 200 for an answered call; the final SIP status of a failed one (0: the call never
    /// left, see `error`).
    pub sip_code: Option<u16>,
    /// The Q.850 cause of the call's end, when known (absent while an answered call is up).
    pub q850_cause: Option<u16>,
    /// Why the call could not be placed at all.
    pub error: Option<String>,
}

/// A campaign as `GET /campaigns/{id}` shows it.
///
/// ```
/// let i = freya::campaign::CampaignInfo::default();
/// assert_eq!(serde_json::to_value(&i).unwrap()["state"], "running");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignInfo {
    /// Its id (`cmp-<uuid>`), also the `X-Freya-Campaign-Id` of its calls.
    pub campaign_id: String,
    /// The request's name.
    pub name: Option<String>,
    /// Where it is.
    pub state: CampaignState,
    /// Why it is paused (`paused by the operator`, or the breaker's words).
    pub paused_reason: Option<String>,
    /// Numbers to dial (after validation).
    pub total: usize,
    /// Calls started.
    pub dialed: usize,
    /// Calls up now.
    pub active: usize,
    /// Calls answered, those still up included.
    pub answered: usize,
    /// Calls that failed before an answer.
    pub failed: usize,
    /// Of `failed`, number errors (404, 410, 484, 485, 604; Q.850 1, 3, 22, 28).
    pub number_failures: usize,
    /// Failed calls per final SIP status, ascending.
    pub by_sip_code: Vec<(u16, usize)>,
    /// Entries refused by validation and skipped (`skip_invalid`).
    pub rejected: Vec<RejectedNumber>,
    /// Every number and its fate, in list order.
    pub numbers: Vec<NumberResult>,
}

impl Default for CampaignInfo {
    fn default() -> Self {
        CampaignInfo {
            campaign_id: String::new(),
            name: None,
            state: CampaignState::Running,
            paused_reason: None,
            total: 0,
            dialed: 0,
            active: 0,
            answered: 0,
            failed: 0,
            number_failures: 0,
            by_sip_code: Vec::new(),
            rejected: Vec::new(),
            numbers: Vec::new(),
        }
    }
}

/// What the API asks of a running campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Pause,
    Resume,
    Cancel,
}

/// A campaign in the stack's registry.
pub(crate) struct Entry {
    pub(crate) info: Arc<Mutex<CampaignInfo>>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Entry {
    pub(crate) fn info(&self) -> CampaignInfo {
        lock(&self.info).clone()
    }
}

/// Checks the request and starts its task; the campaign's entry for the registry.
pub(crate) fn start(
    inner: &Arc<Inner>,
    req: CampaignRequest,
) -> Result<(String, Entry), CampaignError> {
    let checked = validate_numbers(&req.numbers, &req.rules);
    if !checked.rejected.is_empty() && !req.skip_invalid {
        return Err(CampaignError::InvalidNumbers {
            rejected: checked.rejected,
            total: req.numbers.len(),
        });
    }
    if checked.valid.is_empty() {
        return Err(CampaignError::EmptyList);
    }
    // Checked once here rather than failing every call of the list one by one.
    let config = inner.config();
    if let Some(trunk) = req
        .trunk
        .as_ref()
        .filter(|t| !config.trunks.iter().any(|c| &c.name == *t))
    {
        return Err(CampaignError::Unknown {
            what: "trunk",
            name: trunk.clone(),
        });
    }
    let pool_known = match &req.agents {
        Some(name) => config.agents.iter().any(|a| &a.name == name),
        None => !config.agents.is_empty(),
    };
    if !pool_known {
        return Err(CampaignError::Unknown {
            what: "agent pool",
            name: req.agents.clone().unwrap_or_else(|| "(first)".into()),
        });
    }
    let pacing = PacingConfig {
        calls_per_second: req.calls_per_second,
        burst: req.burst,
        max_concurrent: req.max_concurrent,
        breaker: req.breaker,
    };
    let pacer = Pacer::new(pacing, checked.valid.len())?;
    let id = format!("cmp-{}", uuid::Uuid::new_v4());
    let info = Arc::new(Mutex::new(CampaignInfo {
        campaign_id: id.clone(),
        name: req.name.clone(),
        total: checked.valid.len(),
        rejected: checked.rejected,
        numbers: checked
            .valid
            .iter()
            .map(|n| NumberResult {
                number: n.clone(),
                ..NumberResult::default()
            })
            .collect(),
        ..CampaignInfo::default()
    }));
    let (commands, command_rx) = mpsc::unbounded_channel();
    // Subscribed before the first call is placed, so no call's end can be missed.
    let events = inner.subscribe();
    let runner = Runner {
        inner: Arc::clone(inner),
        id: id.clone(),
        req,
        numbers: checked.valid,
        pacer,
        info: Arc::clone(&info),
        calls: HashMap::new(),
        cancelled: false,
        reported_pause: None,
    };
    tokio::spawn(runner.run(events, command_rx));
    Ok((id, Entry { info, commands }))
}

/// What stops a campaign's task from placing its next call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The pacer: the pace, the ceiling, a pause or the end of the list.
    Pacer,
    /// No agent slot of the campaign's pool is idle.
    NoSlot,
    /// Cancelled, or the stack is draining.
    Stopped,
}

struct Runner {
    inner: Arc<Inner>,
    id: String,
    req: CampaignRequest,
    numbers: Vec<String>,
    pacer: Pacer,
    info: Arc<Mutex<CampaignInfo>>,
    /// The calls up: call id → (number index, answered).
    calls: HashMap<String, (usize, bool)>,
    cancelled: bool,
    /// The pause last announced in an event.
    reported_pause: Option<String>,
}

impl Runner {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<CallEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        self.announce("started", None);
        let mut commands_open = true;
        let inner = Arc::clone(&self.inner);
        loop {
            // Made before the checks they follow up: a slot freed, or a drain begun, after
            // `dial` looked and before the `select!` below still wakes this task.
            let slot_freed = inner.slot_freed.notified();
            let drain_started = inner.drain_started.notified();
            let held = self.dial().await;
            if self.inner.is_draining() {
                self.pacer.pause_for(PauseReason::Draining);
            }
            self.publish();
            if self.pacer.is_finished() || (self.cancelled && self.calls.is_empty()) {
                break;
            }
            // Waiting for a slot, the pace's deadline may be long past: only a freed slot
            // (or a call's end, a command) can let the next call go, so waking at the pace
            // would spin.
            let deadline = self
                .pacer
                .poll_timeout()
                .filter(|_| !self.cancelled && held != Held::NoSlot)
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => self.on_event(ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(campaign = %self.id, missed = n,
                            "campaign: missed call events; checking its calls against the live ones");
                        self.reconcile();
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => commands_open = false,
                },
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {}
                // A slot freed lets a held-back call go.
                _ = slot_freed => {}
                // A drain pauses the campaign (at the top of the loop).
                _ = drain_started => {}
            }
        }
        let state = if self.cancelled {
            CampaignState::Cancelled
        } else {
            CampaignState::Finished
        };
        lock(&self.info).state = state;
        self.publish();
        // Before the event: whoever sees it finds the oldest-ended campaigns past the limit
        // already forgotten (never this one: at least one ended campaign is kept).
        self.inner.campaign_ended(&self.id);
        self.announce(
            if self.cancelled {
                "cancelled"
            } else {
                "finished"
            },
            None,
        );
    }

    /// Places every call the pacer allows now, while the agent pool has a free slot; says
    /// what holds the next one back.
    async fn dial(&mut self) -> Held {
        loop {
            if self.cancelled || self.inner.is_draining() {
                return Held::Stopped;
            }
            if !self.inner.has_free_slot(self.req.agents.as_deref()) {
                return Held::NoSlot;
            }
            let Some(index) = self.pacer.poll_dial(Instant::now()) else {
                return Held::Pacer;
            };
            let mut headers = vec![(CAMPAIGN_HEADER.to_owned(), self.id.clone())];
            headers.extend(self.req.headers.iter().cloned());
            let req = OriginateRequest {
                to: self.numbers[index].clone(),
                caller_id: self.req.caller_id.clone(),
                trunk: self.req.trunk.clone(),
                workflow_id: self.req.workflow_id.clone(),
                headers,
                agents: self.req.agents.clone(),
                record: self.req.record,
            };
            match crate::stack::originate_call(Arc::clone(&self.inner), req).await {
                Ok(call_id) => {
                    lock(&self.info).numbers[index].call_id = Some(call_id.clone());
                    self.calls.insert(call_id, (index, false));
                }
                Err(StackError::Busy { .. }) => {
                    // The slot went to another call first: this number waits its turn.
                    self.pacer.retry(index);
                    return Held::NoSlot;
                }
                Err(StackError::Draining) => {
                    self.pacer.retry(index);
                    return Held::Stopped;
                }
                Err(e) => {
                    tracing::warn!(campaign = %self.id, number = %self.numbers[index], error = %e,
                        "campaign: call not placed");
                    {
                        let mut info = lock(&self.info);
                        let r = &mut info.numbers[index];
                        r.outcome = Some("failed".into());
                        r.sip_code = Some(0);
                        r.error = Some(e.to_string());
                    }
                    let outcome = Outcome::Failed {
                        sip_code: 0,
                        q850_cause: None,
                    };
                    self.pacer.handle_ended(Instant::now(), index, outcome);
                }
            }
        }
    }

    fn on_event(&mut self, ev: CallEvent) {
        let Some(&(index, answered)) = self.calls.get(&ev.call_id) else {
            return;
        };
        match ev.kind {
            EventKind::Answered {} => {
                self.calls.insert(ev.call_id, (index, true));
                // The dashboard sees the answer now, not at the hangup.
                let mut info = lock(&self.info);
                let r = &mut info.numbers[index];
                r.outcome = Some("answered".into());
                r.sip_code = Some(200);
            }
            EventKind::Hangup {
                sip_code,
                q850_cause,
                ..
            } => {
                self.calls.remove(&ev.call_id);
                let outcome = if answered {
                    lock(&self.info).numbers[index].q850_cause = q850_cause;
                    Outcome::Answered
                } else {
                    Outcome::Failed {
                        sip_code,
                        q850_cause,
                    }
                };
                self.ended(index, outcome);
            }
            _ => {}
        }
    }

    fn ended(&mut self, index: usize, outcome: Outcome) {
        {
            let mut info = lock(&self.info);
            let r = &mut info.numbers[index];
            // An answered number was marked when the answer came (`on_event`): a call counts
            // as answered only once that event was seen.
            if let Outcome::Failed {
                sip_code,
                q850_cause,
            } = outcome
            {
                r.outcome = Some("failed".into());
                r.sip_code = Some(sip_code);
                r.q850_cause = q850_cause;
            }
        }
        self.pacer.handle_ended(Instant::now(), index, outcome);
    }

    /// After missed events: a call no longer live has ended, with an unknown status.
    fn reconcile(&mut self) {
        let gone: Vec<_> = self
            .calls
            .iter()
            .filter(|(id, _)| !self.inner.is_live(id))
            .map(|(id, &(index, answered))| (id.clone(), index, answered))
            .collect();
        for (id, index, answered) in gone {
            self.calls.remove(&id);
            let outcome = if answered {
                Outcome::Answered
            } else {
                Outcome::Failed {
                    sip_code: 0,
                    q850_cause: None,
                }
            };
            self.ended(index, outcome);
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Pause => self.pacer.pause(),
            Command::Resume => self.pacer.resume(),
            Command::Cancel => self.cancelled = true,
        }
        tracing::info!(campaign = %self.id, ?cmd, "campaign: operator command");
    }

    /// Copies the pacer's counters into the shared info; announces pause changes.
    fn publish(&mut self) {
        let pause = self.pacer.paused().map(|r| r.to_string());
        {
            let s = self.pacer.stats();
            let mut info = lock(&self.info);
            info.dialed = s.dialed;
            info.active = s.active;
            // The pacer counts a call when it ends; those answered and still up count too.
            info.answered = s.answered + self.calls.values().filter(|(_, up)| *up).count();
            info.failed = s.failed;
            info.number_failures = s.number_failures;
            info.by_sip_code = s.by_sip_code.clone();
            info.paused_reason = pause.clone();
            if matches!(info.state, CampaignState::Running | CampaignState::Paused) {
                info.state = match (self.cancelled, &pause) {
                    (true, _) => CampaignState::Cancelled,
                    (false, Some(_)) => CampaignState::Paused,
                    (false, None) => CampaignState::Running,
                };
            }
        }
        if pause != self.reported_pause {
            let was = std::mem::replace(&mut self.reported_pause, pause.clone());
            match pause {
                Some(reason) => {
                    tracing::warn!(campaign = %self.id, %reason, "campaign paused");
                    self.announce("paused", Some(reason));
                }
                None if was.is_some() => self.announce("resumed", None),
                None => {}
            }
        }
    }

    fn announce(&self, state: &str, reason: Option<String>) {
        let info = lock(&self.info).clone();
        self.inner.emit(CallEvent::new(
            &self.id,
            EventKind::Campaign {
                state: state.to_owned(),
                name: info.name,
                reason,
                total: info.total,
                dialed: info.dialed,
                answered: info.answered,
                failed: info.failed,
                number_failures: info.number_failures,
                by_sip_code: info.by_sip_code,
            },
        ));
    }
}
