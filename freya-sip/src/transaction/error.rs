//! The transaction layer's error type.

use crate::message::{EditError, ParseError};

use super::key::TransactionKey;

/// Why the transaction layer refused a message or a call.
///
/// Errors about a message name the missing or offending part; errors about a call name the
/// transaction ([`TransactionKey`] displays as `role method id`).
///
/// ```
/// use freya_sip::message::parse;
/// use freya_sip::transaction::{TransactionError, TransactionKey};
/// let req = parse(bytes::Bytes::from_static(
///     b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>;tag=1\r\n\
///       To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
/// )).unwrap();
/// let err = TransactionKey::for_outgoing_request(&req).unwrap_err();
/// assert_eq!(err, TransactionError::MissingBranch);
/// assert_eq!(err.to_string(), "top Via has no branch parameter");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The message has no (parsable) Via header, so it cannot be matched or answered.
    #[error("message has no Via header")]
    MissingVia,
    /// The top Via has no `branch` parameter (required for a request we send and for a
    /// response, RFC 3261 §8.1.1.7, §17.1.3).
    #[error("top Via has no branch parameter")]
    MissingBranch,
    /// A request we are asked to send carries a branch without the RFC 3261 magic cookie
    /// `z9hG4bK` (§8.1.1.7); use [`BranchGenerator`](super::BranchGenerator).
    #[error("branch {0:?} does not start with the RFC 3261 magic cookie z9hG4bK")]
    NotRfc3261Branch(String),
    /// The message has no (parsable) CSeq header (§8.1.1.5).
    #[error("message has no valid CSeq header")]
    MissingCSeq,
    /// The message has no Call-ID header (§8.1.1.4).
    #[error("message has no Call-ID header")]
    MissingCallId,
    /// The message has no (parsable) From header (§8.1.1.3).
    #[error("message has no valid From header")]
    MissingFrom,
    /// The message has no (parsable) To header (§8.1.1.2).
    #[error("message has no valid To header")]
    MissingTo,
    /// A request's CSeq method differs from its request-line method (§8.1.1.5).
    #[error("CSeq method {cseq:?} does not match request method {method:?}")]
    MethodMismatch {
        /// The request-line method.
        method: String,
        /// The CSeq method.
        cseq: String,
    },
    /// A response was given where a request was expected.
    #[error("expected a request, got a response")]
    NotARequest,
    /// A request was given where a response was expected.
    #[error("expected a response, got a {0} request")]
    NotAResponse(String),
    /// A machine was given a request of a method it does not handle (an OPTIONS to
    /// [`ClientInvite`](super::ClientInvite), a BYE to a [`ServerInvite`](super::ServerInvite)…).
    #[error("expected {expected}, got a {got} request")]
    UnexpectedMethod {
        /// What the machine takes.
        expected: &'static str,
        /// The method given.
        got: String,
    },
    /// ACK never starts a client transaction: the ACK for a non-2xx is sent by the INVITE
    /// client transaction itself, the ACK for a 2xx by the dialog (RFC 3261 §17.1.1.3, §13.2.2.4).
    #[error("ACK does not start a transaction")]
    AckIsNotATransaction,
    /// A client transaction with this key already exists (a branch was reused).
    #[error("transaction {0} already exists")]
    Duplicate(TransactionKey),
    /// No transaction has this key (it never existed or has terminated and been removed).
    #[error("no transaction {0}")]
    NoSuchTransaction(TransactionKey),
    /// The operation needs another kind of transaction (for example a response given to a
    /// client transaction, or CANCEL asked of a non-INVITE).
    #[error("transaction {key} is a {kind}, the operation needs a {needed}")]
    WrongKind {
        /// The transaction addressed.
        key: TransactionKey,
        /// What it is (`client INVITE`, …).
        kind: &'static str,
        /// What the operation needs.
        needed: &'static str,
    },
    /// A response status outside 100–699.
    #[error("status {0} is not a SIP response status (100-699)")]
    InvalidStatus(u16),
    /// The server transaction has already sent a final response, and this one may not
    /// follow it (RFC 3261 §17.2.1, §17.2.2: later finals from the TU are discarded).
    #[error("final response already sent ({sent}); {refused} refused")]
    FinalAlreadySent {
        /// Status of the final response already sent.
        sent: u16,
        /// Status of the response refused.
        refused: u16,
    },
    /// CANCEL was asked for an INVITE that already has a final response or has ended
    /// (RFC 3261 §9.1: a CANCEL must not be sent then).
    #[error("INVITE transaction {0} cannot be cancelled: it has a final response or has ended")]
    NotCancellable(TransactionKey),
    /// The transaction has terminated; it takes no more input.
    #[error("transaction has terminated")]
    Terminated,
    /// A [`TimerConfig`](super::TimerConfig) value that would make the timers misbehave.
    #[error("invalid timer configuration: {0}")]
    InvalidConfig(String),
    /// A message this layer built (ACK, CANCEL, 100 Trying, a status response) does not
    /// parse: the request it was built from holds something unusable.
    #[error("built message does not parse: {0}")]
    Build(#[from] ParseError),
    /// An extra header given for a built request (a CANCEL's `Reason`, …) was refused:
    /// a non-token name or a value holding CR/LF.
    #[error("extra header refused: {0}")]
    ExtraHeader(#[from] EditError),
}

/// Checks that `request` can start an INVITE transaction (client or server).
pub(crate) fn require_invite(request: &crate::message::Message) -> Result<(), TransactionError> {
    match request.method() {
        Some("INVITE") => Ok(()),
        Some(m) => Err(TransactionError::UnexpectedMethod {
            expected: "INVITE",
            got: m.to_owned(),
        }),
        None => Err(TransactionError::NotARequest),
    }
}

/// Checks that `request` can start a non-INVITE transaction: any method but INVITE, and
/// never ACK (§17: ACK for a non-2xx belongs to the INVITE transaction, for a 2xx to none).
pub(crate) fn require_non_invite(
    request: &crate::message::Message,
) -> Result<(), TransactionError> {
    match request.method() {
        Some("ACK") => Err(TransactionError::AckIsNotATransaction),
        Some("INVITE") => Err(TransactionError::UnexpectedMethod {
            expected: "a non-INVITE method",
            got: "INVITE".into(),
        }),
        Some(_) => Ok(()),
        None => Err(TransactionError::NotARequest),
    }
}
