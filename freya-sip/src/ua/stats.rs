//! The UA's counters (DESIGN.md principle 4: nothing refused without a count).

use crate::dialog::DialogStats;
use crate::transport::TransportStats;

/// What the UA counted, with the dialog layer's and the transport's counters beside.
///
/// ```
/// use freya_sip::ua::UaStats;
/// let s = UaStats::default();
/// assert_eq!(s.unknown_source + s.invalid_requests, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UaStats {
    /// Calls handed to the application.
    pub incoming_calls: u64,
    /// Incoming calls refused because the application was not taking them (503/480).
    pub incoming_refused: u64,
    /// Calls placed.
    pub outgoing_calls: u64,
    /// Outgoing calls cancelled at `ring_timeout_s`.
    pub ring_timeouts: u64,
    /// Requests from sources matching no trunk (403 or ignored per `unknown_source`).
    pub unknown_source: u64,
    /// Requests refused by the RFC 3261 §8.2 checks (400, 416).
    pub invalid_requests: u64,
    /// Requests answered 401 (digest challenge) or 403 (bad credentials).
    pub challenged: u64,
    /// Requests answered 405 or 501, and NOTIFYs outside any dialog (481: we subscribe
    /// only by REFER, in a call; those in a call are the dialog layer's `notify_refused`).
    pub method_not_allowed: u64,
    /// Calls alive now.
    pub live_calls: u64,
    /// Input the transport refused (unparseable messages), all kinds.
    pub rejected_input: u64,
    /// The dialog layer's counters.
    pub dialog: DialogStats,
    /// The transport's counters.
    pub transport: TransportStats,
}

/// Which counter a refusal adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    UnknownSource,
    Invalid,
    Challenged,
    MethodNotAllowed,
}

impl UaStats {
    pub(crate) fn count(&mut self, c: Counter) {
        match c {
            Counter::UnknownSource => self.unknown_source += 1,
            Counter::Invalid => self.invalid_requests += 1,
            Counter::Challenged => self.challenged += 1,
            Counter::MethodNotAllowed => self.method_not_allowed += 1,
        }
    }
}
