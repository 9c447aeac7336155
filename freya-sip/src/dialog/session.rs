//! One call as the dialog layer keeps it: its dialog(s), its media session, its timers and
//! the transactions in flight.

use std::time::{Duration, Instant};

use crate::auth::DigestClient;
use crate::message::Message;
use crate::sdp::{MediaSession, Negotiated};
use crate::transaction::{Remote, TransactionKey};

use super::id::{DialogId, SessionId};
use super::q850::Q850;
use super::session_timer::{SessionExpires, SessionTimer};
use super::state::Dialog;

/// Which way a call goes.
///
/// ```
/// use freya_sip::dialog::CallDirection;
/// assert_eq!(CallDirection::Inbound.as_str(), "inbound"); // X-Freya-Direction's values
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallDirection {
    /// We received the INVITE (we are the UAS of the dialog).
    Inbound,
    /// We sent the INVITE (we are the UAC; we generated the Call-ID).
    Outbound,
}

impl CallDirection {
    /// `inbound` or `outbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
        }
    }
}

/// Where a call is (a live session; an ended one is removed).
///
/// ```
/// use freya_sip::dialog::SessionState;
/// assert!(SessionState::Established.is_answered());
/// assert!(!SessionState::Ringing.is_answered());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Inbound: the INVITE was handed over; nothing but `100 Trying` was sent.
    Incoming,
    /// Inbound: a 1xx with our To tag was sent (an early dialog exists).
    Ringing,
    /// Outbound: the INVITE was sent; no provisional response yet.
    Calling,
    /// Outbound: a provisional response arrived (early dialogs may exist).
    Proceeding,
    /// Inbound: our 2xx was sent; it is retransmitted until the ACK.
    AwaitingAck,
    /// The dialog is confirmed and the call up.
    Established,
    /// Outbound: we asked to hang up before the answer; the CANCEL's outcome is awaited.
    Cancelling,
    /// Inbound: we hung up before the ACK; the BYE waits for it (RFC 3261 §15).
    Ending,
}

impl SessionState {
    /// Whether a 2xx was sent or received.
    pub fn is_answered(self) -> bool {
        matches!(
            self,
            SessionState::AwaitingAck | SessionState::Established | SessionState::Ending
        )
    }

    /// A lower-case name (for errors and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Incoming => "incoming",
            SessionState::Ringing => "ringing",
            SessionState::Calling => "calling",
            SessionState::Proceeding => "proceeding",
            SessionState::AwaitingAck => "awaiting ACK",
            SessionState::Established => "established",
            SessionState::Cancelling => "cancelling",
            SessionState::Ending => "ending",
        }
    }
}

/// A 2xx we sent to an INVITE, retransmitted until its ACK (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone)]
pub(crate) struct PendingAck {
    pub(crate) key: TransactionKey,
    pub(crate) cseq: u32,
    pub(crate) response: Message,
    pub(crate) interval: Duration,
    pub(crate) next: Instant,
    pub(crate) give_up: Instant,
    /// The 2xx carried our offer: the ACK carries the answer.
    pub(crate) offer_in_2xx: bool,
    /// The 2xx answered the initial INVITE (else a re-INVITE).
    pub(crate) initial: bool,
}

/// Why we send a re-INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intent {
    /// A media change asked for by the user (hold, resume, new offer).
    Media,
    /// An RFC 4028 session refresh.
    Refresh,
}

/// Our re-INVITE in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutReinvite {
    pub(crate) intent: Intent,
}

/// One call: its dialog (or early dialogs), media session, session timer and pending work.
/// Read-only to the user, through [`DialogLayer::session`](super::DialogLayer::session).
///
/// ```
/// use freya_sip::dialog::{DialogConfig, DialogLayer, OutgoingCall, SessionState};
/// use freya_sip::sdp::Capabilities;
/// use freya_sip::transaction::Remote;
/// let mut layer = DialogLayer::new(DialogConfig::new("192.0.2.10:5060".parse().unwrap())).unwrap();
/// let call = OutgoingCall::new(
///     "sip:+14155550100@198.51.100.7", "<sip:+442071838750@192.0.2.10>",
///     Remote::udp("198.51.100.7:5060".parse().unwrap()),
///     Capabilities::new("192.0.2.10".parse().unwrap(), 10000));
/// let id = layer.invite(std::time::Instant::now(), call).unwrap();
/// let s = layer.session(id).unwrap();
/// assert_eq!(s.state(), SessionState::Calling);
/// assert!(s.dialog().is_none());                       // no response yet
/// assert!(s.media().unwrap().has_pending_offer());     // our offer is in the INVITE
/// ```
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) id: SessionId,
    pub(crate) direction: CallDirection,
    pub(crate) state: SessionState,
    pub(crate) remote: Remote,
    pub(crate) invite: Message,
    pub(crate) invite_key: TransactionKey,
    pub(crate) local_tag: String,
    pub(crate) dialog: Option<Dialog>,
    pub(crate) early: Vec<Dialog>,
    pub(crate) media: Option<MediaSession>,
    pub(crate) timer: Option<SessionTimer>,
    /// Inbound: what RFC 4028 §9 decided for the INVITE (put in our 2xx).
    pub(crate) uas_timer: Option<(SessionExpires, bool)>,
    /// The Min-SE our requests carry (raised by a 422).
    pub(crate) min_se: u32,
    pub(crate) pending_ack: Option<PendingAck>,
    pub(crate) reinvite: Option<OutReinvite>,
    pub(crate) glare_retry: Option<(Instant, Intent)>,
    pub(crate) hangup_cause: Option<Q850>,
    pub(crate) peer_allows_update: bool,
    pub(crate) retries_422: u8,
    /// Outbound with credentials: answers 401/407 to our INVITE (RFC 3261 §22.2).
    pub(crate) auth: Option<Box<DigestClient>>,
    /// Outbound: the (status, To tag) pairs already reported as progress (retransmitted
    /// provisional responses are not reported again).
    pub(crate) progress_seen: Vec<(u16, String)>,
    /// REFERs of ours not refused whose subscription has not ended (RFC 3515 §2.4.4): the
    /// NOTIFYs they bring are accepted.
    pub(crate) refers_pending: u32,
    /// `Ended` was reported (the session lingers only to send a deferred BYE).
    pub(crate) ended: bool,
    pub(crate) scheduled: Option<Instant>,
}

impl Session {
    /// The session's handle.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Inbound or outbound.
    pub fn direction(&self) -> CallDirection {
        self.direction
    }

    /// Where the call is.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The peer's address: where the INVITE came from or was sent to (in-dialog requests go
    /// to the dialog's next hop when it names an IP address, see [`Dialog::next_hop`]).
    pub fn remote(&self) -> Remote {
        self.remote
    }

    /// The initial INVITE (ours as last sent, or the one received).
    pub fn invite(&self) -> &Message {
        &self.invite
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.invite.call_id().unwrap_or("")
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The dialog: the confirmed one, or (inbound) the early one our 1xx created. `None`
    /// for an outbound call before its 2xx (see [`Session::early_dialogs`]).
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// Outbound: the early dialogs tagged provisional responses created (several when the
    /// INVITE forked), until the 2xx.
    pub fn early_dialogs(&self) -> &[Dialog] {
        &self.early
    }

    /// The offer/answer state (absent for an inbound call not yet answered).
    pub fn media(&self) -> Option<&MediaSession> {
        self.media.as_ref()
    }

    /// What the last offer/answer agreed.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.media.as_ref().and_then(MediaSession::negotiated)
    }

    /// The running RFC 4028 session timer, if any.
    pub fn session_timer(&self) -> Option<&SessionTimer> {
        self.timer.as_ref()
    }

    pub(crate) fn dialog_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        if self.dialog.as_ref().is_some_and(|d| d.id() == id) {
            return self.dialog.as_mut();
        }
        self.early.iter_mut().find(|d| d.id() == id)
    }

    /// The earliest instant this session needs [`handle_timeout`](super::DialogLayer::handle_timeout).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let p = self.pending_ack.as_ref().map(|p| p.next.min(p.give_up));
        let g = self.glare_retry.map(|(at, _)| at);
        let t = if self.ended {
            None
        } else {
            self.timer.map(|t| t.deadline())
        };
        [p, g, t].into_iter().flatten().min()
    }
}
