//! RFC 3261 §17 timer values (Table 4 of Appendix A) and RFC 6026's timers L and M.

use std::time::{Duration, Instant};

use super::error::TransactionError;
use super::Reliability;

/// The transaction timers' base values. Every derived timer (A–K, L, M) is computed from
/// these, as RFC 3261 Appendix A (Table 4) and RFC 6026 §8.7 give them.
///
/// | timer | value (unreliable) | value (reliable) | RFC |
/// | --- | --- | --- | --- |
/// | A | T1, doubling, no cap (INVITE retransmit) | not set | §17.1.1.2 |
/// | B | 64·T1 (INVITE timeout) | 64·T1 | §17.1.1.2 |
/// | D | [`timer_d`](Self::timer_d) ≥ 32 s (wait for final retransmits) | 0 | §17.1.1.2 |
/// | E | T1, doubling up to T2; T2 in Proceeding (non-INVITE retransmit) | not set | §17.1.2.2 |
/// | F | 64·T1 (non-INVITE timeout) | 64·T1 | §17.1.2.2 |
/// | G | T1, doubling up to T2 (INVITE final retransmit) | not set | §17.2.1 |
/// | H | 64·T1 (wait for ACK) | 64·T1 | §17.2.1 |
/// | I | T4 (absorb ACK retransmits) | 0 | §17.2.1 |
/// | J | 64·T1 (absorb non-INVITE retransmits) | 0 | §17.2.2 |
/// | K | T4 (absorb response retransmits) | 0 | §17.1.2.2 |
/// | L | 64·T1 (server Accepted, absorb INVITE retransmits) | 64·T1 | RFC 6026 §7.1 |
/// | M | 64·T1 (client Accepted, take 2xx retransmits) | 64·T1 | RFC 6026 §7.2 |
///
/// ```
/// use std::time::Duration;
/// use freya_sip::transaction::TimerConfig;
/// let c = TimerConfig::default();
/// assert_eq!(c.t1, Duration::from_millis(500));
/// assert_eq!(c.timer_b(), Duration::from_secs(32));
/// let fast = TimerConfig { t1: Duration::from_millis(100), ..TimerConfig::default() };
/// assert_eq!(fast.timer_b(), Duration::from_millis(6400));
/// assert!(fast.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the round-trip time estimate (default 500 ms, RFC 3261 §17.1.1.1).
    pub t1: Duration,
    /// T2, the longest interval between non-INVITE request and INVITE response
    /// retransmissions (default 4 s).
    pub t2: Duration,
    /// T4, the longest time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Timer D on unreliable transports: how long a client INVITE transaction waits for
    /// retransmitted final responses (default 32 s; RFC 3261 says at least 32 s).
    pub timer_d: Duration,
    /// How long the INVITE server transaction waits for the TU's first response before it
    /// sends `100 Trying` itself (default 200 ms, §17.2.1); `None` never sends it.
    pub trying_delay: Option<Duration>,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            trying_delay: Some(Duration::from_millis(200)),
        }
    }
}

/// Shortest retransmission interval the machines use, whatever the configuration: keeps a
/// zero T1 from re-arming a timer at the instant it fired.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

impl TimerConfig {
    /// Checks that T1 and T4 are non-zero and T2 ≥ T1.
    ///
    /// # Errors
    /// [`TransactionError::InvalidConfig`] naming the offending value.
    pub fn validate(&self) -> Result<(), TransactionError> {
        if self.t1.is_zero() {
            return Err(TransactionError::InvalidConfig("t1 must be > 0".into()));
        }
        if self.t4.is_zero() {
            return Err(TransactionError::InvalidConfig("t4 must be > 0".into()));
        }
        if self.t2 < self.t1 {
            return Err(TransactionError::InvalidConfig(format!(
                "t2 ({:?}) must be >= t1 ({:?})",
                self.t2, self.t1
            )));
        }
        Ok(())
    }

    fn t1(&self) -> Duration {
        self.t1.max(MIN_INTERVAL)
    }

    /// 64·T1: timers B, F, H, J (unreliable), L, M and the §9.1 CANCEL wait.
    pub fn timer_b(&self) -> Duration {
        self.t1.checked_mul(64).unwrap_or(Duration::MAX)
    }

    /// First interval of timers A, E and G: T1 on an unreliable transport; `None` (no
    /// retransmission) on a reliable one.
    pub fn first_retransmit(&self, r: Reliability) -> Option<Duration> {
        match r {
            Reliability::Unreliable => Some(self.t1()),
            Reliability::Reliable => None,
        }
    }

    /// The interval after `prev` for timers E and G: 2·prev, capped at T2 (§17.1.2.2, §17.2.1).
    pub fn next_capped(&self, prev: Duration) -> Duration {
        prev.saturating_mul(2)
            .min(self.t2.max(self.t1()))
            .max(MIN_INTERVAL)
    }

    /// Timer D: [`timer_d`](Self::timer_d) on unreliable transports, zero on reliable ones.
    pub fn timer_d(&self, r: Reliability) -> Duration {
        match r {
            Reliability::Unreliable => self.timer_d,
            Reliability::Reliable => Duration::ZERO,
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub fn timer_k(&self, r: Reliability) -> Duration {
        match r {
            Reliability::Unreliable => self.t4,
            Reliability::Reliable => Duration::ZERO,
        }
    }

    /// Timer J: 64·T1 on unreliable transports, zero on reliable ones.
    pub fn timer_j(&self, r: Reliability) -> Duration {
        match r {
            Reliability::Unreliable => self.timer_b(),
            Reliability::Reliable => Duration::ZERO,
        }
    }
}

/// A transaction timer's name, as RFC 3261 §17 (and RFC 6026) names it. Reported with
/// [`TransactionEvent::Timeout`](super::TransactionEvent::Timeout) and used by each
/// machine's `timer()` accessor.
///
/// ```
/// use freya_sip::transaction::Timer;
/// assert_eq!(Timer::B.to_string(), "Timer B");
/// assert_eq!(Timer::Trying.to_string(), "100 Trying delay");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmission (client, Calling).
    A,
    /// INVITE transaction timeout (client, Calling).
    B,
    /// Wait for final response retransmissions (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmission (client, Trying/Proceeding).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmission (server, Completed).
    G,
    /// Wait for ACK (server INVITE, Completed).
    H,
    /// Absorb ACK retransmissions (server INVITE, Confirmed).
    I,
    /// Absorb request retransmissions (server non-INVITE, Completed).
    J,
    /// Absorb response retransmissions (client non-INVITE, Completed).
    K,
    /// Absorb INVITE retransmissions after a 2xx (server INVITE, Accepted; RFC 6026).
    L,
    /// Take 2xx retransmissions and forks (client INVITE, Accepted; RFC 6026).
    M,
    /// Send `100 Trying` when the TU has not answered (server INVITE, §17.2.1).
    Trying,
    /// After sending CANCEL, wait 64·T1 for the INVITE's final response before
    /// giving up on it (client INVITE, §9.1).
    CancelWait,
}

impl std::fmt::Display for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Timer::A => "Timer A",
            Timer::B => "Timer B",
            Timer::D => "Timer D",
            Timer::E => "Timer E",
            Timer::F => "Timer F",
            Timer::G => "Timer G",
            Timer::H => "Timer H",
            Timer::I => "Timer I",
            Timer::J => "Timer J",
            Timer::K => "Timer K",
            Timer::L => "Timer L",
            Timer::M => "Timer M",
            Timer::Trying => "100 Trying delay",
            Timer::CancelWait => "CANCEL wait (64*T1)",
        };
        f.write_str(s)
    }
}

const ALL: [Timer; 14] = [
    Timer::A,
    Timer::B,
    Timer::D,
    Timer::E,
    Timer::F,
    Timer::G,
    Timer::H,
    Timer::I,
    Timer::J,
    Timer::K,
    Timer::L,
    Timer::M,
    Timer::Trying,
    Timer::CancelWait,
];

/// The armed deadlines of one transaction, by timer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timers {
    at: [Option<Instant>; 14],
}

fn slot(t: Timer) -> usize {
    ALL.iter().position(|x| *x == t).unwrap_or(0)
}

impl Timers {
    /// Arms `t` to fire `after` from `now`. A deadline past `Instant`'s range never fires.
    pub(crate) fn arm(&mut self, t: Timer, now: Instant, after: Duration) {
        self.at[slot(t)] = now.checked_add(after);
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        self.at[slot(t)] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.at = [None; 14];
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[slot(t)]
    }

    /// The earliest deadline.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now` (ties in RFC letter order).
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let (i, _) = self
            .at
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.filter(|d| *d <= now).map(|d| (i, d)))
            .min_by_key(|(i, d)| (*d, *i))?;
        self.at[i] = None;
        Some(ALL[i])
    }
}
