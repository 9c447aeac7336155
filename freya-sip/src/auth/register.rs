//! [`Registration`]: an outbound REGISTER client (RFC 3261 §10.2), sans-IO — it builds the
//! requests and reads the responses; a transaction layer carries them, and the caller
//! passes the time in.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::dialog::IdGenerator;
use crate::message::{parse, Message, Uri};
use crate::transaction::{BranchGenerator, Reliability};

use super::client::DigestClient;
use super::error::AuthError;
use super::register_config::{
    RegistrationConfig, RegistrationEvent, RegistrationState, RegistrationStats, MAX_EXPIRES,
    MAX_RETRY_AFTER,
};

#[derive(Debug, Clone, Copy)]
struct Pending {
    cseq: u32,
    deadline: Instant,
}

/// An outbound registration (RFC 3261 §10.2), in the quinn-proto style: the caller sends
/// what [`poll_request`](Self::poll_request) returns (through a client transaction, to
/// [`RegistrationConfig::remote`]), feeds back the final responses
/// ([`handle_response`](Self::handle_response)) and transaction failures
/// ([`handle_request_timeout`](Self::handle_request_timeout)), calls
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout), and
/// drains [`poll_event`](Self::poll_event).
///
/// - One Call-ID and From tag for every REGISTER; CSeq up by one per request; a fresh
///   branch each time (§10.2, §8.1.1.7).
/// - 2xx: the lifetime granted is our Contact's `expires` parameter in the 2xx (the only
///   Contact's when the registrar rewrote it), else its `Expires` header, else what we
///   asked; the refresh is scheduled per [`RegistrationConfig::refresh_margin`].
/// - 401/407: answered with the credentials (a challenge kept from earlier goes out with
///   the next refresh at once). A realm that challenges again without `stale=true` after
///   we answered has refused them: `Failed`.
/// - 423 Interval Too Brief: asked again at once with its `Min-Expires` (§10.2.8).
/// - Any other failure or no response: `Failed`, then a retry after `retry_min · 2ⁿ`
///   (capped at `retry_max`), or the `Retry-After` when longer.
/// - [`unregister`](Self::unregister) sends `Expires: 0` (§10.2.2).
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::auth::{Registration, RegistrationConfig, RegistrationEvent, RegistrationState};
/// use freya_sip::message::{parse, response_to};
/// use freya_sip::transaction::Remote;
///
/// let cfg = RegistrationConfig::new("sip:carrier.example", "sip:alice@carrier.example",
///     "sip:alice@192.0.2.10:5060", Remote::udp("198.51.100.7:5060".parse().unwrap()),
///     "192.0.2.10:5060");
/// let mut reg = Registration::with_seed(cfg, 1).unwrap();
/// let t0 = Instant::now();
/// reg.register(t0);
/// let req = reg.poll_request(t0).unwrap();
/// assert_eq!(req.header("Expires").unwrap().value(), "3600");
/// let ok = parse(response_to(&req, 200, "OK",
///     &[("Contact", "<sip:alice@192.0.2.10:5060>;expires=600")]).unwrap()).unwrap();
/// assert!(reg.handle_response(t0, &ok));
/// assert_eq!(reg.poll_event(), Some(RegistrationEvent::Registered { expires: 600 }));
/// assert_eq!(reg.state(), RegistrationState::Registered);
/// // Refreshed 64 s before the binding lapses.
/// assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(536)));
/// ```
#[derive(Debug, Clone)]
pub struct Registration {
    config: RegistrationConfig,
    call_id: String,
    from_tag: String,
    cseq: u32,
    branches: BranchGenerator,
    auth: Option<DigestClient>,
    state: RegistrationState,
    /// The lifetime asked for (raised by a 423).
    asked: u32,
    send_at: Option<Instant>,
    pending: Option<Pending>,
    refresh_at: Option<Instant>,
    bound_until: Option<Instant>,
    failures: u32,
    events: VecDeque<RegistrationEvent>,
    stats: RegistrationStats,
}

impl Registration {
    /// An idle registration with random Call-ID, tag, branches and client nonces; start it
    /// with [`register`](Self::register).
    ///
    /// # Errors
    /// [`AuthError::InvalidConfig`] (see [`RegistrationConfig::validate`]).
    pub fn new(config: RegistrationConfig) -> Result<Registration, AuthError> {
        let auth = config.credentials.clone().map(DigestClient::new);
        Self::build(config, IdGenerator::new(), BranchGenerator::new(), auth)
    }

    /// As [`new`](Self::new), reproducible from `seed` (tests, traces).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_seed(config: RegistrationConfig, seed: u64) -> Result<Registration, AuthError> {
        let auth = config
            .credentials
            .clone()
            .map(|c| DigestClient::with_seed(c, seed));
        // Another stream than a transaction layer seeded alike, so branches never collide.
        let branches = BranchGenerator::with_seed(seed ^ 0x5245_4749_5354_4552);
        Self::build(config, IdGenerator::with_seed(seed), branches, auth)
    }

    fn build(
        config: RegistrationConfig,
        mut ids: IdGenerator,
        branches: BranchGenerator,
        auth: Option<DigestClient>,
    ) -> Result<Registration, AuthError> {
        config.validate()?;
        let s = &config.via_sent_by;
        let host = s
            .rsplit_once(':')
            .filter(|(h, p)| !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(s.as_str(), |(h, _)| h);
        Ok(Registration {
            call_id: ids.call_id(host),
            from_tag: ids.tag(),
            cseq: 0,
            branches,
            auth,
            state: RegistrationState::Idle,
            asked: config.expires,
            send_at: None,
            pending: None,
            refresh_at: None,
            bound_until: None,
            failures: 0,
            events: VecDeque::new(),
            stats: RegistrationStats::default(),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &RegistrationConfig {
        &self.config
    }

    /// Where the registration is.
    pub fn state(&self) -> RegistrationState {
        self.state
    }

    /// The Call-ID every REGISTER carries.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Until when the registrar keeps our binding, as far as we know.
    pub fn bound_until(&self) -> Option<Instant> {
        self.bound_until
    }

    /// The counters.
    pub fn stats(&self) -> RegistrationStats {
        self.stats
    }

    /// Starts (or restarts) registering: a REGISTER is due at `now`. One in flight is
    /// abandoned (its response will be counted as stray).
    pub fn register(&mut self, now: Instant) {
        self.state = if self.bound_until.is_some() {
            RegistrationState::Refreshing
        } else {
            RegistrationState::Registering
        };
        self.asked = self.config.expires;
        self.failures = 0;
        self.restart(now);
    }

    /// Removes our binding: a REGISTER with `Expires: 0` is due at `now`; the refresh is
    /// cancelled. Ends with [`RegistrationEvent::Unregistered`] or `Failed`, in
    /// [`RegistrationState::Idle`]. When idle already, reports `Unregistered` at once.
    pub fn unregister(&mut self, now: Instant) {
        if self.state == RegistrationState::Idle {
            self.events.push_back(RegistrationEvent::Unregistered);
            return;
        }
        self.state = RegistrationState::Unregistering;
        self.restart(now);
    }

    fn restart(&mut self, now: Instant) {
        self.pending = None;
        self.refresh_at = None;
        self.send_at = Some(now);
        if let Some(a) = self.auth.as_mut() {
            a.start_request();
        }
    }

    /// The REGISTER to send now, if one is due: the caller starts a client transaction
    /// with it (to [`RegistrationConfig::remote`]). At most one is in flight.
    pub fn poll_request(&mut self, now: Instant) -> Option<Message> {
        if self.pending.is_some() || self.send_at.is_none_or(|at| at > now) {
            return None;
        }
        self.send_at = None;
        self.cseq = self.cseq.wrapping_add(1);
        match self.build_request() {
            Ok(m) => {
                self.pending = Some(Pending {
                    cseq: self.cseq,
                    deadline: now + self.config.response_timeout,
                });
                self.stats.sent += 1;
                Some(m)
            }
            Err(error) => {
                tracing::error!(%error, "register: REGISTER could not be built");
                self.fail(
                    now,
                    500,
                    format!("REGISTER could not be built: {error}"),
                    None,
                );
                None
            }
        }
    }

    fn build_request(&mut self) -> Result<Message, String> {
        let c = &self.config;
        let expires = if self.state == RegistrationState::Unregistering {
            0
        } else {
            self.asked
        };
        let transport = match c.remote.reliability {
            Reliability::Unreliable => "UDP",
            Reliability::Reliable => "TCP",
        };
        let mut s = String::with_capacity(640);
        let _ = write!(
            s,
            "REGISTER {reg} SIP/2.0\r\nVia: SIP/2.0/{transport} {sb};branch={br};rport\r\n\
             Max-Forwards: 70\r\nFrom: <{aor}>;tag={tag}\r\nTo: <{aor}>\r\nCall-ID: {cid}\r\n\
             CSeq: {seq} REGISTER\r\nContact: <{contact}>\r\nExpires: {expires}\r\n",
            reg = c.registrar,
            sb = c.via_sent_by,
            br = self.branches.next_branch(),
            aor = c.aor,
            tag = self.from_tag,
            cid = self.call_id,
            seq = self.cseq,
            contact = c.contact,
        );
        if let Some(a) = self.auth.as_mut() {
            for (name, value) in a
                .authorize("REGISTER", &c.registrar, b"")
                .map_err(|e| e.to_string())?
            {
                let _ = write!(s, "{name}: {value}\r\n");
            }
        }
        if let Some(ua) = &c.user_agent {
            let _ = write!(s, "User-Agent: {ua}\r\n");
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        parse(s.into()).map_err(|e| e.to_string())
    }

    /// Takes a response. Returns `false` (and counts it) when it answers no REGISTER of
    /// ours in flight — another Call-ID, an older CSeq — so the caller may route it
    /// elsewhere. Provisional responses are taken and ignored.
    pub fn handle_response(&mut self, now: Instant, response: &Message) -> bool {
        let ours = self.pending.is_some_and(|p| {
            response.call_id() == Some(self.call_id.as_str())
                && response
                    .cseq()
                    .is_some_and(|c| c.seq == p.cseq && c.method == "REGISTER")
        });
        let Some(status) = response.status_code().filter(|_| ours) else {
            self.stats.stray_responses += 1;
            tracing::debug!(
                start_line = response.start_line(),
                call_id = response.call_id(),
                "register: response for no REGISTER in flight, dropped"
            );
            return false;
        };
        if status < 200 {
            return true;
        }
        self.pending = None;
        let phrase = response.reason_phrase().unwrap_or("").to_owned();
        let unregistering = self.state == RegistrationState::Unregistering;
        match status {
            200..=299 if unregistering => {
                self.state = RegistrationState::Idle;
                self.bound_until = None;
                self.events.push_back(RegistrationEvent::Unregistered);
                self.done_request();
                tracing::info!(aor = self.config.aor, "register: unregistered");
            }
            200..=299 => self.registered(now, response),
            401 | 407 => {
                self.stats.challenges += 1;
                let answer = match self.auth.as_mut() {
                    None => Err("no credentials configured".to_owned()),
                    Some(a) => a.handle_challenge(response).map_err(|e| e.to_string()),
                };
                match answer {
                    Ok(()) => self.send_at = Some(now),
                    Err(why) => self.fail(now, status, format!("{phrase}: {why}"), None),
                }
            }
            423 if !unregistering => {
                let min = response
                    .header("Min-Expires")
                    .and_then(|h| h.value().trim().parse::<u32>().ok());
                match min {
                    Some(m) if m > self.asked && m <= MAX_EXPIRES => {
                        tracing::info!(
                            min_expires = m,
                            "register: 423, asking again with Min-Expires"
                        );
                        self.asked = m;
                        self.send_at = Some(now);
                    }
                    _ => self.fail(now, status, format!("{phrase}: unusable Min-Expires"), None),
                }
            }
            _ => {
                let retry_after = response.header("Retry-After").and_then(|h| {
                    let v = h.value().trim_start();
                    let end = v
                        .bytes()
                        .position(|b| !b.is_ascii_digit())
                        .unwrap_or(v.len());
                    v[..end].parse::<u64>().ok()
                });
                self.fail(now, status, phrase, retry_after.map(Duration::from_secs));
            }
        }
        true
    }

    fn registered(&mut self, now: Instant, r: &Message) {
        let granted = self.granted(r);
        if granted == 0 {
            let status = r.status_code().unwrap_or(200);
            self.fail(
                now,
                status,
                "the registrar kept no binding for our Contact".into(),
                None,
            );
            return;
        }
        let g = Duration::from_secs(u64::from(granted));
        self.state = RegistrationState::Registered;
        self.bound_until = Some(now + g);
        self.refresh_at = Some(now + g.saturating_sub(self.config.refresh_margin).max(g / 2));
        self.failures = 0;
        self.stats.registered += 1;
        self.events
            .push_back(RegistrationEvent::Registered { expires: granted });
        self.done_request();
        tracing::info!(
            aor = self.config.aor,
            expires = granted,
            "register: registered"
        );
    }

    /// The lifetime the 2xx grants our binding (RFC 3261 §10.2.4).
    fn granted(&self, r: &Message) -> u32 {
        let contacts: Vec<_> = r.contacts().collect();
        let ours = contacts
            .iter()
            .find(|c| same_uri(c.uri, &self.config.contact))
            .or(if contacts.len() == 1 {
                contacts.first()
            } else {
                None
            });
        let param = ours
            .and_then(|c| c.params.get("expires").flatten())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let header = || {
            r.header("Expires")
                .and_then(|h| h.value().trim().parse::<u32>().ok())
        };
        param.or_else(header).unwrap_or(self.asked)
    }

    fn done_request(&mut self) {
        if let Some(a) = self.auth.as_mut() {
            a.start_request();
        }
    }

    /// Reports a failed attempt and schedules the retry (none for an unregister).
    fn fail(&mut self, now: Instant, status: u16, reason: String, retry_after: Option<Duration>) {
        self.stats.failures += 1;
        self.done_request();
        if self.state == RegistrationState::Unregistering {
            tracing::warn!(status, reason, "register: unregister failed");
            self.state = RegistrationState::Idle;
            self.bound_until = None;
            self.events
                .push_back(RegistrationEvent::Failed { status, reason });
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let exp = self.failures.saturating_sub(1).min(20);
        let backoff = self
            .config
            .retry_min
            .saturating_mul(1 << exp)
            .min(self.config.retry_max);
        let asked = retry_after.map_or(Duration::ZERO, |d| {
            d.min(Duration::from_secs(MAX_RETRY_AFTER))
        });
        let delay = backoff.max(asked);
        tracing::warn!(
            status,
            reason,
            retry_in_s = delay.as_secs(),
            aor = self.config.aor,
            "register: attempt failed"
        );
        self.state = RegistrationState::Retrying;
        self.refresh_at = None;
        self.send_at = Some(now + delay);
        self.events
            .push_back(RegistrationEvent::Failed { status, reason });
    }

    /// The transaction carrying our REGISTER timed out (Timer F): a failed attempt
    /// (`408`).
    pub fn handle_request_timeout(&mut self, now: Instant) {
        if self.pending.take().is_some() {
            self.stats.timeouts += 1;
            self.fail(now, 408, "Request Timeout".into(), None);
        }
    }

    /// The transport could not send our REGISTER: a failed attempt (`503`, RFC 3261
    /// §8.1.3.1).
    pub fn handle_transport_error(&mut self, now: Instant) {
        if self.pending.take().is_some() {
            self.fail(now, 503, "Service Unavailable".into(), None);
        }
    }

    /// Fires what is due at `now`: the response wait (a timeout), the refresh (a REGISTER
    /// becomes due: call [`poll_request`](Self::poll_request)), the binding's end.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.pending.is_some_and(|p| p.deadline <= now) {
            self.handle_request_timeout(now);
        }
        if self.refresh_at.is_some_and(|at| at <= now) {
            self.refresh_at = None;
            if self.state == RegistrationState::Registered {
                self.state = RegistrationState::Refreshing;
                self.send_at = Some(now);
                self.done_request();
            }
        }
        if self.bound_until.is_some_and(|at| at <= now) {
            self.bound_until = None;
            tracing::info!(aor = self.config.aor, "register: binding lapsed");
            if self.state.is_bound() {
                self.state = RegistrationState::Registering;
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) (or [`poll_request`](Self::poll_request),
    /// for a REGISTER due) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.send_at,
            self.pending.map(|p| p.deadline),
            self.refresh_at,
            self.bound_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }
}

/// Whether two Contact URIs name the same place: for SIP URIs scheme, user, host
/// (case-insensitive) and port (RFC 3261 §19.1.4, parameters aside); else the text,
/// case-insensitively.
fn same_uri(a: &str, b: &str) -> bool {
    match (Uri::parse(a), Uri::parse(b)) {
        (Ok(Uri::Sip(x)), Ok(Uri::Sip(y))) => {
            x.secure == y.secure
                && x.user == y.user
                && x.host.eq_ignore_ascii_case(y.host)
                && x.port == y.port
        }
        _ => a.eq_ignore_ascii_case(b),
    }
}
