//! ITU-T Q.850 cause values (the ISDN/ISUP "cause" a carrier puts in `Reason: Q.850;cause=N`,
//! RFC 3326) and the SIP ↔ Q.850 mapping of RFC 3398 (§7.2.4.1 cause → status, §8.2.6.1
//! status → cause), used when a peer sends no Reason header.

use std::fmt;

/// A Q.850 cause value (1–127), with its name from the ITU-T Q.850 table.
///
/// Any number 0–127 can be held (carriers send values the table leaves unassigned);
/// [`Q850::name`] is `None` for those.
///
/// ```
/// use freya_sip::dialog::Q850;
/// let c = Q850::new(17);
/// assert_eq!(c.name(), Some("User busy"));
/// assert_eq!(c.to_string(), "17 User busy");
/// assert_eq!(Q850::from_sip_status(486), Some(Q850::USER_BUSY));
/// assert_eq!(Q850::NORMAL_CALL_CLEARING.sip_status(), None); // a BYE, not a failure
/// assert_eq!(Q850::new(34).sip_status(), Some(503));
/// assert_eq!(Q850::new(200).name(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Q850(u16);

/// The Q.850 table (ITU-T Q.850 (05/1998) with its amendments: 14 and 24): cause number
/// and name, in number order.
pub const Q850_CAUSES: &[(u16, &str)] = &[
    (1, "Unallocated number"),
    (2, "No route to specified transit network"),
    (3, "No route to destination"),
    (4, "Send special information tone"),
    (5, "Misdialled trunk prefix"),
    (6, "Channel unacceptable"),
    (
        7,
        "Call awarded and being delivered in an established channel",
    ),
    (8, "Preemption"),
    (9, "Preemption - circuit reserved for reuse"),
    (14, "QoR: ported number"),
    (16, "Normal call clearing"),
    (17, "User busy"),
    (18, "No user responding"),
    (19, "No answer from user"),
    (20, "Subscriber absent"),
    (21, "Call rejected"),
    (22, "Number changed"),
    (23, "Redirection to new destination"),
    (24, "Call rejected due to feature at the destination"),
    (25, "Exchange routing error"),
    (26, "Non-selected user clearing"),
    (27, "Destination out of order"),
    (28, "Invalid number format (address incomplete)"),
    (29, "Facility rejected"),
    (30, "Response to STATUS ENQUIRY"),
    (31, "Normal, unspecified"),
    (34, "No circuit/channel available"),
    (38, "Network out of order"),
    (39, "Permanent frame mode connection out of service"),
    (40, "Permanent frame mode connection operational"),
    (41, "Temporary failure"),
    (42, "Switching equipment congestion"),
    (43, "Access information discarded"),
    (44, "Requested circuit/channel not available"),
    (46, "Precedence call blocked"),
    (47, "Resource unavailable, unspecified"),
    (49, "Quality of service not available"),
    (50, "Requested facility not subscribed"),
    (53, "Outgoing calls barred within CUG"),
    (55, "Incoming calls barred within CUG"),
    (57, "Bearer capability not authorized"),
    (58, "Bearer capability not presently available"),
    (
        62,
        "Inconsistency in designated outgoing access information and subscriber class",
    ),
    (63, "Service or option not available, unspecified"),
    (65, "Bearer capability not implemented"),
    (66, "Channel type not implemented"),
    (69, "Requested facility not implemented"),
    (
        70,
        "Only restricted digital information bearer capability is available",
    ),
    (79, "Service or option not implemented, unspecified"),
    (81, "Invalid call reference value"),
    (82, "Identified channel does not exist"),
    (
        83,
        "A suspended call exists, but this call identity does not",
    ),
    (84, "Call identity in use"),
    (85, "No call suspended"),
    (
        86,
        "Call having the requested call identity has been cleared",
    ),
    (87, "User not member of CUG"),
    (88, "Incompatible destination"),
    (90, "Non-existent CUG"),
    (91, "Invalid transit network selection"),
    (95, "Invalid message, unspecified"),
    (96, "Mandatory information element is missing"),
    (97, "Message type non-existent or not implemented"),
    (
        98,
        "Message not compatible with call state or message type non-existent or not implemented",
    ),
    (
        99,
        "Information element / parameter non-existent or not implemented",
    ),
    (100, "Invalid information element contents"),
    (101, "Message not compatible with call state"),
    (102, "Recovery on timer expiry"),
    (103, "Parameter non-existent or not implemented, passed on"),
    (110, "Message with unrecognized parameter, discarded"),
    (111, "Protocol error, unspecified"),
    (127, "Interworking, unspecified"),
];

impl Q850 {
    /// 1 Unallocated number.
    pub const UNALLOCATED_NUMBER: Q850 = Q850(1);
    /// 16 Normal call clearing: a hang-up.
    pub const NORMAL_CALL_CLEARING: Q850 = Q850(16);
    /// 17 User busy.
    pub const USER_BUSY: Q850 = Q850(17);
    /// 18 No user responding.
    pub const NO_USER_RESPONDING: Q850 = Q850(18);
    /// 19 No answer from user (user alerted).
    pub const NO_ANSWER: Q850 = Q850(19);
    /// 21 Call rejected.
    pub const CALL_REJECTED: Q850 = Q850(21);
    /// 31 Normal, unspecified.
    pub const NORMAL_UNSPECIFIED: Q850 = Q850(31);
    /// 34 No circuit/channel available.
    pub const NO_CIRCUIT_AVAILABLE: Q850 = Q850(34);
    /// 38 Network out of order.
    pub const NETWORK_OUT_OF_ORDER: Q850 = Q850(38);
    /// 41 Temporary failure.
    pub const TEMPORARY_FAILURE: Q850 = Q850(41);
    /// 102 Recovery on timer expiry.
    pub const RECOVERY_ON_TIMER_EXPIRY: Q850 = Q850(102);
    /// 127 Interworking, unspecified.
    pub const INTERWORKING: Q850 = Q850(127);

    /// The cause with number `n` (kept as given, even outside the table).
    pub const fn new(n: u16) -> Q850 {
        Q850(n)
    }

    /// The cause number.
    pub const fn number(self) -> u16 {
        self.0
    }

    /// The cause's name from [`Q850_CAUSES`]; `None` for a number the table does not assign.
    pub fn name(self) -> Option<&'static str> {
        Q850_CAUSES
            .binary_search_by_key(&self.0, |(n, _)| *n)
            .ok()
            .and_then(|i| Q850_CAUSES.get(i))
            .map(|(_, name)| *name)
    }

    /// The SIP status a gateway answers with for this cause (RFC 3398 §7.2.4.1), `None` for
    /// 16 Normal call clearing (not a failure) and for causes the table does not list
    /// (RFC 3398 then says 500 for class 6/7 causes; the caller decides).
    pub fn sip_status(self) -> Option<u16> {
        Some(match self.0 {
            1..=3 | 26 => 404,
            17 => 486,
            18 => 408,
            19 | 20 | 31 => 480,
            21 | 55 | 57 | 87 => 403,
            22 | 23 => 410,
            27 => 502,
            28 => 484,
            29 => 510,
            34 | 38 | 41 | 42 | 47 | 58 | 88 => 503,
            65 | 70 => 488,
            79 => 501,
            102 => 504,
            111 | 127 => 500,
            _ => return None,
        })
    }

    /// The cause a SIP final status maps to (RFC 3398 §8.2.6.1), for a failure or a
    /// hang-up whose message carried no `Reason: Q.850`. `None` for 1xx/2xx and for the
    /// statuses the RFC maps to no cause: 487 (a cancelled request), 488 and 606 (the
    /// Warning header decides). A 3xx–6xx status the table does not list maps to
    /// 127 Interworking, unspecified (ITU-T Q.1912.5's default).
    pub fn from_sip_status(status: u16) -> Option<Q850> {
        let n = match status {
            400 | 481 | 500 | 503 => 41,
            401 | 402 | 403 | 407 | 603 => 21,
            404 | 485 | 604 => 1,
            405 => 63,
            406 | 415 | 501 => 79,
            408 | 504 => 102,
            410 => 22,
            480 => 18,
            482 | 483 => 25,
            484 => 28,
            486 | 600 => 17,
            502 => 38,
            487 | 488 | 606 => return None,
            300..=699 => 127,
            _ => return None,
        };
        Some(Q850(n))
    }

    /// The value of a `Reason` header carrying this cause:
    /// `Q.850;cause=16;text="Normal call clearing"` (RFC 3326).
    pub fn reason_header(self) -> String {
        match self.name() {
            Some(name) => format!("Q.850;cause={};text=\"{name}\"", self.0),
            None => format!("Q.850;cause={}", self.0),
        }
    }
}

impl fmt::Display for Q850 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} {name}", self.0),
            None => write!(f, "{} (unassigned cause)", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_named() {
        assert!(Q850_CAUSES.windows(2).all(|w| w[0].0 < w[1].0));
        for (n, name) in [
            (16, "Normal call clearing"),
            (17, "User busy"),
            (18, "No user responding"),
            (19, "No answer from user"),
            (21, "Call rejected"),
            (1, "Unallocated number"),
            (34, "No circuit/channel available"),
            (38, "Network out of order"),
            (41, "Temporary failure"),
            (127, "Interworking, unspecified"),
        ] {
            assert_eq!(Q850::new(n).name(), Some(name));
        }
        assert_eq!(Q850::new(0).name(), None);
        assert_eq!(Q850::new(128).name(), None);
    }

    #[test]
    fn rfc3398_mappings() {
        for (status, cause) in [
            (404, Some(1)),
            (486, Some(17)),
            (480, Some(18)),
            (603, Some(21)),
            (408, Some(102)),
            (503, Some(41)),
            (502, Some(38)),
            (487, None),
            (488, None),
            (599, Some(127)),
            (200, None),
            (180, None),
        ] {
            assert_eq!(
                Q850::from_sip_status(status).map(Q850::number),
                cause,
                "{status}"
            );
        }
        for (cause, status) in [
            (1, Some(404)),
            (17, Some(486)),
            (19, Some(480)),
            (21, Some(403)),
            (16, None),
            (102, Some(504)),
            (127, Some(500)),
        ] {
            assert_eq!(Q850::new(cause).sip_status(), status, "{cause}");
        }
        assert_eq!(
            Q850::new(21).reason_header(),
            "Q.850;cause=21;text=\"Call rejected\""
        );
    }
}
