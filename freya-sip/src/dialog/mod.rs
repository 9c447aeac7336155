//! SIP dialogs and calls (RFC 3261 §12–§15, RFC 6026, RFC 4028), sans-IO, on top of the
//! [`transaction`](crate::transaction) layer.
//!
//! - [`Dialog`]: one dialog's state (§12) — [`DialogId`] (Call-ID, local tag, remote tag),
//!   early or confirmed, route set (Record-Route, reversed on the UAC side), remote target
//!   (Contact, updated by target refreshes), local and remote CSeq (§12.2.1.1, §12.2.2) —
//!   and the requests built inside it (loose and strict routing).
//! - [`DialogLayer`]: calls. It owns a [`TransactionLayer`](crate::transaction::TransactionLayer)
//!   and one [`Session`] per call, hands new calls over ([`IncomingCall`]) and answers or
//!   refuses for them only what RFC 3261 makes the dialog's job: it retransmits our 2xx
//!   until the ACK and releases the call with BYE after 64·T1 without one (§13.3.1.4), ACKs
//!   every 2xx including retransmissions (§13.2.2.4) and releases extra forks with BYE,
//!   answers 481 to requests for no dialog and 500 to out-of-order ones (§12.2.2), 491 on
//!   re-INVITE glare and retries its own after the §14.1 delay, runs RFC 4028 session
//!   timers (422, refresh at half the interval by UPDATE or re-INVITE, BYE on expiry),
//!   applies SDP offer/answer through [`MediaSession`](crate::sdp::MediaSession)
//!   (hold/unhold), reads DTMF from SIP INFO ([`Dtmf`]), and transfers calls by REFER
//!   (RFC 3515, [`DialogLayer::refer`], the NOTIFYs read as [`ReferProgress`]).
//! - Every call ends with one [`DialogEvent::Ended`] carrying a [`CallEnd`]: who ended it,
//!   how, the SIP status, and the Q.850 cause — from the peer's `Reason` header, else
//!   mapped from the status by RFC 3398 ([`Q850`], with the whole Q.850 table).
//!
//! Nothing here reads a clock or owns a socket: input is a parsed message with `now`,
//! output is drained ([`Outgoing`], [`DialogEvent`]) and the next deadline polled, in the
//! style of quinn-proto. See [`DialogLayer`] for a whole call between two layers.

mod build;
mod config;
mod dispatch;
mod error;
mod event;
mod id;
mod in_dialog;
pub(crate) mod info;
mod layer;
mod q850;
mod refer;
mod refresh;
mod reinvite;
mod session;
mod session_timer;
mod standalone;
mod state;
mod uac;
mod uac_auth;
mod uas;

#[cfg(test)]
mod tests;

pub use config::DialogConfig;
pub use error::DialogError;
pub use event::{CallEnd, CauseSource, DialogEvent, EndKind, IncomingCall, IncomingRequest, Side};
pub use id::{DialogId, IdGenerator, SessionId};
pub use info::{Dtmf, DtmfError};
pub use layer::{DialogLayer, DialogStats, Outgoing};
pub use q850::{Q850, Q850_CAUSES};
pub use refer::{ReferNotifyError, ReferProgress};
pub use session::{CallDirection, Session, SessionState};
pub use session_timer::{
    lists_option, min_se, session_timer_uac, session_timer_uas, Refresher, SessionExpires,
    SessionTimer, SessionTimerConfig, UasTimer,
};
pub use state::{Dialog, DialogState};
pub use uac::OutgoingCall;
