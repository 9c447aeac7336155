//! [`Pacer`]: when an outbound campaign may place its next call. Sans-IO (DESIGN.md
//! principle 1): the host passes `now`, asks [`Pacer::poll_dial`] for the next number to
//! dial, waits until [`Pacer::poll_timeout`], and reports each call's end with
//! [`Pacer::handle_ended`]. No clock, no sockets, no sleeps: the tests drive it in virtual time.
//!
//! Two lessons are built in. A dialer that fired every call in one burst got its trunk
//! throttled: calls start at most `calls_per_second` apart (a token bucket holding at most
//! `burst` calls), with at most `max_concurrent` up at once. A campaign dialed with a wrong
//! prefix went on failing unnoticed: when most of the recent attempts fail with a "no such
//! number" answer ([`is_number_failure`]), the campaign pauses itself
//! ([`PauseReason::NumberFailures`]) until the host resumes it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The pace and the ceiling of a campaign.
///
/// ```
/// use freya::campaign::PacingConfig;
/// let c = PacingConfig::default();
/// assert_eq!((c.calls_per_second, c.burst, c.max_concurrent), (1.0, 1, 10));
/// assert_eq!(c.breaker.unwrap().window, 10);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PacingConfig {
    /// New calls per second, averaged (a carrier's CPS limit; default 1). Finite, > 0.
    pub calls_per_second: f64,
    /// Calls that may start back to back after an idle spell (default 1: none do).
    pub burst: u32,
    /// Calls of the campaign up at once, ringing or answered (default 10).
    pub max_concurrent: usize,
    /// When the campaign pauses itself on "no such number" answers; `None`: never.
    pub breaker: Option<BreakerConfig>,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            calls_per_second: 1.0,
            burst: 1,
            max_concurrent: 10,
            breaker: Some(BreakerConfig::default()),
        }
    }
}

/// The wrong-prefix breaker: pause when `failures` of the last `window` ended calls failed
/// with a number error ([`is_number_failure`]).
///
/// ```
/// use freya::campaign::BreakerConfig;
/// assert_eq!(BreakerConfig::default(), BreakerConfig { window: 10, failures: 8 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Ended calls looked at (default 10).
    pub window: usize,
    /// Number failures among them that pause the campaign (default 8; 1..=`window`).
    pub failures: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            window: 10,
            failures: 8,
        }
    }
}

/// A refused [`PacingConfig`], naming the setting and its value.
///
/// ```
/// use freya::campaign::{Pacer, PacingConfig, PacingError};
/// let bad = PacingConfig { calls_per_second: 0.0, ..PacingConfig::default() };
/// let e = Pacer::new(bad, 5).unwrap_err();
/// assert_eq!(e.to_string(), "calls_per_second = 0: must be a finite number above 0");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PacingError {
    /// A setting out of its range.
    #[error("{setting} = {value}: {reason}")]
    Setting {
        /// The setting's name.
        setting: &'static str,
        /// Its value, as given.
        value: String,
        /// What it must be.
        reason: &'static str,
    },
}

/// How one call of the campaign ended, as the host saw it (the final SIP status of the
/// INVITE, RFC 3261 §21, and the Q.850 cause of its `Reason` header, RFC 3326, if any).
///
/// ```
/// use freya::campaign::Outcome;
/// assert!(Outcome::Failed { sip_code: 484, q850_cause: Some(28) }.is_number_failure());
/// assert!(!Outcome::Answered.is_number_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The callee answered (2xx).
    Answered,
    /// The call failed before an answer.
    Failed {
        /// The final status (3xx–6xx), or 0 when none came (transport failure, timeout
        /// reported without a response).
        sip_code: u16,
        /// The Q.850 cause, when the far end or freya gave one.
        q850_cause: Option<u16>,
    },
}

impl Outcome {
    /// See [`is_number_failure`].
    pub fn is_number_failure(&self) -> bool {
        match *self {
            Outcome::Answered => false,
            Outcome::Failed {
                sip_code,
                q850_cause,
            } => is_number_failure(sip_code, q850_cause),
        }
    }
}

/// True for answers that say the dialed number itself is wrong, not that the callee is busy
/// or the network congested: SIP 404 Not Found, 410 Gone, 484 Address Incomplete, 485
/// Ambiguous, 604 Does Not Exist Anywhere (RFC 3261 §21); Q.850 causes 1 (unallocated
/// number), 3 (no route to destination), 22 (number changed) and 28 (invalid number format)
/// (RFC 3398 §7.2.4.1 maps them to 404, 404, 410 and 484).
///
/// ```
/// use freya::campaign::is_number_failure;
/// assert!(is_number_failure(404, None));
/// assert!(is_number_failure(500, Some(1)));
/// assert!(!is_number_failure(486, Some(17))); // busy
/// assert!(!is_number_failure(503, Some(34))); // no circuit
/// ```
pub fn is_number_failure(sip_code: u16, q850_cause: Option<u16>) -> bool {
    matches!(sip_code, 404 | 410 | 484 | 485 | 604) || matches!(q850_cause, Some(1 | 3 | 22 | 28))
}

/// Why a campaign does not dial.
///
/// ```
/// use freya::campaign::PauseReason;
/// let r = PauseReason::NumberFailures { failures: 9, window: 10 };
/// assert_eq!(r.to_string(), "9 of the last 10 calls failed with a number error (wrong prefix?)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PauseReason {
    /// The host paused it.
    #[error("paused by the operator")]
    Operator,
    /// The stack is draining for a shutdown: it places no new call (its calls up go on).
    #[error("the stack is draining for a shutdown")]
    Draining,
    /// The breaker tripped ([`BreakerConfig`]).
    #[error("{failures} of the last {window} calls failed with a number error (wrong prefix?)")]
    NumberFailures {
        /// Number failures among the last `window` ended calls.
        failures: usize,
        /// Ended calls looked at.
        window: usize,
    },
}

/// A campaign's counters.
///
/// ```
/// let s = freya::campaign::CampaignStats::default();
/// assert_eq!(s.dialed, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignStats {
    /// Calls started.
    pub dialed: usize,
    /// Calls up now.
    pub active: usize,
    /// Calls answered.
    pub answered: usize,
    /// Calls failed.
    pub failed: usize,
    /// Of the failed, those with a number error.
    pub number_failures: usize,
    /// Failed calls by final SIP status, ascending.
    pub by_sip_code: Vec<(u16, usize)>,
}

/// The pacing core of one campaign over `total` numbers, dialed in list order (index 0 first).
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya::campaign::{Outcome, Pacer, PacingConfig};
///
/// let t0 = Instant::now();
/// let cfg = PacingConfig { calls_per_second: 2.0, max_concurrent: 1, ..PacingConfig::default() };
/// let mut p = Pacer::new(cfg, 3)?;
/// assert_eq!(p.poll_dial(t0), Some(0));
/// assert_eq!(p.poll_dial(t0), None); // one call up at most
/// p.handle_ended(t0, 0, Outcome::Answered);
/// assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_millis(500))); // 2 calls per second
/// assert_eq!(p.poll_dial(t0 + Duration::from_millis(500)), Some(1));
/// # Ok::<(), freya::campaign::PacingError>(())
/// ```
#[derive(Debug)]
pub struct Pacer {
    config: PacingConfig,
    total: usize,
    next: usize,
    /// Numbers handed back with [`Pacer::retry`], dialed before `next`.
    retry: VecDeque<usize>,
    /// Calls that may start now (token bucket, at most `burst`), as of `refilled`.
    tokens: f64,
    refilled: Option<Instant>,
    /// Indexes of the calls up.
    up: Vec<usize>,
    /// The last ended calls, true for a number failure (at most the breaker's window).
    recent: VecDeque<bool>,
    paused: Option<PauseReason>,
    stats: CampaignStats,
}

impl Pacer {
    /// A campaign of `total` numbers, not started: the first [`poll_dial`](Self::poll_dial)
    /// may dial at once.
    ///
    /// # Errors
    /// [`PacingError::Setting`] for `calls_per_second` not finite or ≤ 0 (or above 10,000),
    /// `burst` 0, `max_concurrent` 0, a breaker `window` 0 or `failures` outside
    /// 1..=`window`.
    pub fn new(config: PacingConfig, total: usize) -> Result<Pacer, PacingError> {
        let bad = |setting, value: String, reason| PacingError::Setting {
            setting,
            value,
            reason,
        };
        let cps = config.calls_per_second;
        if !(cps.is_finite() && cps > 0.0 && cps <= 10_000.0) {
            return Err(bad(
                "calls_per_second",
                cps.to_string(),
                "must be a finite number above 0",
            ));
        }
        if config.burst == 0 {
            return Err(bad("burst", "0".into(), "must be at least 1"));
        }
        if config.max_concurrent == 0 {
            return Err(bad("max_concurrent", "0".into(), "must be at least 1"));
        }
        if let Some(b) = config.breaker {
            if b.window == 0 {
                return Err(bad("breaker.window", "0".into(), "must be at least 1"));
            }
            if b.failures == 0 || b.failures > b.window {
                return Err(bad(
                    "breaker.failures",
                    b.failures.to_string(),
                    "must be between 1 and breaker.window",
                ));
            }
        }
        Ok(Pacer {
            tokens: f64::from(config.burst),
            config,
            total,
            next: 0,
            retry: VecDeque::new(),
            refilled: None,
            up: Vec::new(),
            recent: VecDeque::new(),
            paused: None,
            stats: CampaignStats::default(),
        })
    }

    fn refill(&mut self, now: Instant) {
        if let Some(then) = self.refilled {
            let gained =
                now.saturating_duration_since(then).as_secs_f64() * self.config.calls_per_second;
            self.tokens = (self.tokens + gained).min(f64::from(self.config.burst));
        }
        self.refilled = Some(now);
    }

    /// The index of the next number to dial now, or `None` when the pace, the ceiling, a
    /// pause or the end of the list holds it back. Call it until `None` at each wake-up.
    pub fn poll_dial(&mut self, now: Instant) -> Option<usize> {
        self.refill(now);
        if self.paused.is_some()
            || self.remaining() == 0
            || self.up.len() >= self.config.max_concurrent
        {
            return None;
        }
        // A token's worth, allowing float dust (1e-9 of a call) from the refill arithmetic.
        if self.tokens < 1.0 - 1e-9 {
            return None;
        }
        self.tokens = (self.tokens - 1.0).max(0.0);
        let index = match self.retry.pop_front() {
            Some(index) => index,
            None => {
                self.next += 1;
                self.next - 1
            }
        };
        self.up.push(index);
        self.stats.dialed += 1;
        self.stats.active = self.up.len();
        Some(index)
    }

    /// When [`poll_dial`](Self::poll_dial) may next give a number: the instant the pace
    /// allows one more call. `None` while nothing can be dialed until a call ends or the host
    /// acts (ceiling reached, paused, list done): those are events the host already waits on.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.paused.is_some()
            || self.remaining() == 0
            || self.up.len() >= self.config.max_concurrent
        {
            return None;
        }
        let then = self.refilled?;
        let missing = (1.0 - self.tokens).max(0.0);
        // Rounded up to the nanosecond: a deadline a hair early would find the token not
        // quite there and ask for the same instant again.
        let ns = (missing / self.config.calls_per_second * 1e9).ceil();
        Some(then + Duration::from_nanos(ns as u64))
    }

    /// The call of number `index` ended with `outcome`. Unknown or already ended indexes
    /// are ignored (returns false): a host that reports twice does not skew the counters.
    pub fn handle_ended(&mut self, now: Instant, index: usize, outcome: Outcome) -> bool {
        let Some(pos) = self.up.iter().position(|&i| i == index) else {
            return false;
        };
        self.refill(now);
        self.up.swap_remove(pos);
        self.stats.active = self.up.len();
        let number_failure = outcome.is_number_failure();
        match outcome {
            Outcome::Answered => self.stats.answered += 1,
            Outcome::Failed { sip_code, .. } => {
                self.stats.failed += 1;
                match self
                    .stats
                    .by_sip_code
                    .binary_search_by_key(&sip_code, |e| e.0)
                {
                    Ok(i) => self.stats.by_sip_code[i].1 += 1,
                    Err(i) => self.stats.by_sip_code.insert(i, (sip_code, 1)),
                }
            }
        }
        if number_failure {
            self.stats.number_failures += 1;
        }
        if let Some(b) = self.config.breaker {
            self.recent.push_back(number_failure);
            if self.recent.len() > b.window {
                self.recent.pop_front();
            }
            let failures = self.recent.iter().filter(|&&f| f).count();
            if self.paused.is_none() && failures >= b.failures {
                self.paused = Some(PauseReason::NumberFailures {
                    failures,
                    window: self.recent.len(),
                });
            }
        }
        true
    }

    /// The call of number `index` (from [`poll_dial`](Self::poll_dial)) never started —
    /// no agent slot was free, say — so the number goes back to the front of the list
    /// instead of counting as a failure. Its pace token is spent. Unknown indexes are
    /// ignored (returns false).
    pub fn retry(&mut self, index: usize) -> bool {
        let Some(pos) = self.up.iter().position(|&i| i == index) else {
            return false;
        };
        self.up.swap_remove(pos);
        self.retry.push_back(index);
        self.stats.dialed = self.stats.dialed.saturating_sub(1);
        self.stats.active = self.up.len();
        true
    }

    /// Numbers not dialed yet (handed back ones included).
    pub fn remaining(&self) -> usize {
        self.total - self.next + self.retry.len()
    }

    /// Stops dialing (calls up go on) until [`resume`](Self::resume).
    pub fn pause(&mut self) {
        self.pause_for(PauseReason::Operator);
    }

    /// Stops dialing for `reason` (a host's own, such as [`PauseReason::Draining`]); a pause
    /// already in place keeps its first reason. [`resume`](Self::resume) ends it.
    ///
    /// ```
    /// use freya::campaign::{Pacer, PacingConfig, PauseReason};
    /// let mut p = Pacer::new(PacingConfig::default(), 3).unwrap();
    /// p.pause_for(PauseReason::Draining);
    /// p.pause();
    /// assert_eq!(p.paused(), Some(PauseReason::Draining));
    /// assert_eq!(p.poll_dial(std::time::Instant::now()), None);
    /// ```
    pub fn pause_for(&mut self, reason: PauseReason) {
        self.paused.get_or_insert(reason);
    }

    /// Dials again; the breaker starts over (the host has fixed, or accepted, the list).
    pub fn resume(&mut self) {
        self.paused = None;
        self.recent.clear();
    }

    /// Why the campaign is not dialing, if it is paused.
    pub fn paused(&self) -> Option<PauseReason> {
        self.paused
    }

    /// Every number was dialed and every call has ended.
    pub fn is_finished(&self) -> bool {
        self.remaining() == 0 && self.up.is_empty()
    }

    /// The counters so far.
    pub fn stats(&self) -> &CampaignStats {
        &self.stats
    }
}

#[cfg(test)]
#[path = "pacer_tests.rs"]
mod tests;
