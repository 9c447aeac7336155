//! The UA's errors.

use crate::dialog::DialogError;
use crate::transport::TransportError;

/// What the [`UserAgent`](super::UserAgent) and its [`Call`](super::Call)s refuse.
///
/// ```
/// use freya_sip::ua::UaError;
/// let e = UaError::UnknownTrunk("carrier2".into());
/// assert_eq!(e.to_string(), "no trunk named \"carrier2\" is configured");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum UaError {
    /// A configuration value is wrong; `key` is its path (`trunks[carrier].match[1]`).
    #[error("config key {key}: {value:?} {reason}")]
    Config {
        /// The key.
        key: String,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The sockets could not be bound (or another transport failure).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The dialog layer refused the operation (a header name that is not a token, a call
    /// already ended, a state that does not allow it…).
    #[error(transparent)]
    Dialog(#[from] DialogError),
    /// `originate` named a trunk that does not exist.
    #[error("no trunk named {0:?} is configured")]
    UnknownTrunk(String),
    /// `originate` has nowhere to send the INVITE: no trunk host and a target whose host
    /// is not an IP literal.
    #[error("cannot route {target:?}: {reason}")]
    NoRoute {
        /// The target URI.
        target: String,
        /// Why.
        reason: &'static str,
    },
    /// The UA has shut down.
    #[error("the user agent has shut down")]
    Closed,
}
