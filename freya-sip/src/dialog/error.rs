//! The dialog layer's error type.

use crate::message::{EditError, ParseError};
use crate::sdp::{NegotiationError, SdpError};
use crate::transaction::TransactionError;

use super::id::SessionId;

/// Why the dialog layer refused a call or could not build a message.
///
/// Errors about a session name it; errors about a message name the header or value at
/// fault.
///
/// ```
/// use freya_sip::dialog::{DialogError, SessionId};
/// let e = DialogError::NoSuchSession(SessionId::from_raw(3));
/// assert_eq!(e.to_string(), "no session session-3 (it never existed or has ended)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// No live session has this handle.
    #[error("no session {0} (it never existed or has ended)")]
    NoSuchSession(SessionId),
    /// The operation does not fit the session's state (answering a call twice, a re-INVITE
    /// before the call is confirmed, …).
    #[error("{session}: cannot {operation} while {state}")]
    InvalidState {
        /// The session.
        session: SessionId,
        /// What was asked.
        operation: &'static str,
        /// The state it is in.
        state: &'static str,
    },
    /// An INVITE transaction is in progress on the dialog, in either direction (RFC 3261
    /// §14.1: a UAC must not start another one).
    #[error("{0}: an INVITE transaction is already in progress on this dialog")]
    InviteInProgress(SessionId),
    /// A message lacks a header the dialog needs (Call-ID, From tag, To tag, CSeq, …).
    #[error("message has no usable {0} header")]
    MissingHeader(&'static str),
    /// A header name or value given by the caller was refused: a name that is not an
    /// RFC 3261 token (non-ASCII included), or a value holding CR or LF.
    #[error("header {name:?} refused: {reason}")]
    InvalidHeader {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A URI given by the caller does not parse (RFC 3261 §19.1).
    #[error("invalid URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A response status outside what the operation allows (a reject with 2xx, a
    /// provisional outside 101–199, …).
    #[error("status {status} is not allowed here: {reason}")]
    InvalidStatus {
        /// The status given.
        status: u16,
        /// What was expected.
        reason: &'static str,
    },
    /// An in-dialog request with a CSeq lower than the last one received (RFC 3261
    /// §12.2.2): answered 500.
    #[error("CSeq {cseq} is lower than the remote sequence number {remote}")]
    OutOfOrder {
        /// The request's CSeq number.
        cseq: u32,
        /// The dialog's remote sequence number.
        remote: u32,
    },
    /// The configuration is unusable.
    #[error("invalid dialog configuration: {0}")]
    InvalidConfig(String),
    /// The transaction layer refused.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
    /// A message this layer built does not parse (a caller-given value broke it).
    #[error("built message does not parse: {0}")]
    Build(#[from] ParseError),
    /// An edit of a built message was refused.
    #[error("message edit refused: {0}")]
    Edit(#[from] EditError),
    /// An SDP body does not parse.
    #[error("SDP body refused: {0}")]
    Sdp(#[from] SdpError),
    /// Offer/answer failed (no codec in common, …): the request was answered 488 (or 491).
    #[error("offer/answer failed: {0}")]
    Negotiation(#[from] NegotiationError),
}
