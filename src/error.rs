//! The root crate's errors.

/// What the stack refuses.
///
/// ```
/// use freya::StackError;
/// let e = StackError::Config { key: "routes[0].agents".into(), reason: "\"nope\": no such agent pool".into() };
/// assert!(e.to_string().contains("routes[0].agents"));
/// let broken = freya::config::StackConfig::from_toml("[sip\n").unwrap_err().to_string();
/// assert!(broken.starts_with("config: TOML parse error"), "{broken}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The configuration is invalid; `key` names where (`config routes[0].agents: …`, or
    /// `config: TOML parse error …` for broken TOML, whose message says where).
    #[error("config{}: {reason}", key_part(.key))]
    Config {
        /// The key (`routes[0].agents`), empty when the TOML itself is broken.
        key: String,
        /// What is wrong, with the offending value.
        reason: String,
    },
    /// Signaling refused (binding, originate…).
    #[error(transparent)]
    Sip(#[from] freya_sip::ua::UaError),
    /// An I/O failure (binding the control API, reading a file).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Every slot of an agent pool is taken.
    #[error("every slot of agent pool {pool:?} is busy")]
    Busy {
        /// The pool.
        pool: String,
    },
    /// Media could not be set up (no free RTP port…).
    #[error("media: {0}")]
    Media(String),
    /// The stack has shut down.
    #[error("the stack has shut down")]
    Closed,
    /// The stack is draining for a shutdown: it takes no new calls.
    #[error("the stack is shutting down and takes no new calls")]
    Draining,
    /// An outbound campaign refused or not found.
    #[error(transparent)]
    Campaign(#[from] crate::campaign::CampaignError),
    /// No live call has this freya call UUID.
    #[error("no live call {call_id:?}")]
    NoSuchCall {
        /// The call UUID asked for.
        call_id: String,
    },
    /// A transfer cannot be made now ([`Stack::transfer`](crate::stack::Stack::transfer)):
    /// the call is not answered, not served by an agent, or already being transferred.
    #[error("call {call_id:?} cannot be transferred: {reason}")]
    Transfer {
        /// The call UUID.
        call_id: String,
        /// Why.
        reason: String,
    },
    /// Digits cannot be sent now ([`Stack::send_dtmf`](crate::stack::Stack::send_dtmf)):
    /// the call is not answered, not served by an agent, or agreed no way to carry them.
    #[error("call {call_id:?} cannot send DTMF: {reason}")]
    Dtmf {
        /// The call UUID.
        call_id: String,
        /// Why.
        reason: String,
    },
    /// A request's value is refused (a Q.850 cause outside 1–127); the message names the
    /// key and the value. The bindings raise their own argument errors for these instead.
    #[error(transparent)]
    Request(#[from] crate::request::RequestError),
}

impl StackError {
    /// A stable name for the variant, for hosts that branch on it: the bindings' error
    /// `code` (`ERR_FREYA_CONFIG`, `ERR_FREYA_SIP`, `ERR_FREYA_IO`, `ERR_FREYA_BUSY`,
    /// `ERR_FREYA_MEDIA`, `ERR_FREYA_CLOSED`, `ERR_FREYA_DRAINING`, `ERR_FREYA_CAMPAIGN`,
    /// `ERR_FREYA_NO_SUCH_CALL`, `ERR_FREYA_TRANSFER`, `ERR_FREYA_DTMF`, `ERR_FREYA_REQUEST`).
    ///
    /// ```
    /// assert_eq!(freya::StackError::Closed.code(), "ERR_FREYA_CLOSED");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            StackError::Config { .. } => "ERR_FREYA_CONFIG",
            StackError::Sip(_) => "ERR_FREYA_SIP",
            StackError::Io { .. } => "ERR_FREYA_IO",
            StackError::Busy { .. } => "ERR_FREYA_BUSY",
            StackError::Media(_) => "ERR_FREYA_MEDIA",
            StackError::Closed => "ERR_FREYA_CLOSED",
            StackError::Draining => "ERR_FREYA_DRAINING",
            StackError::Campaign(_) => "ERR_FREYA_CAMPAIGN",
            StackError::NoSuchCall { .. } => "ERR_FREYA_NO_SUCH_CALL",
            StackError::Transfer { .. } => "ERR_FREYA_TRANSFER",
            StackError::Dtmf { .. } => "ERR_FREYA_DTMF",
            StackError::Request(_) => "ERR_FREYA_REQUEST",
        }
    }
}

/// ` key` for a config error's message, nothing when the key is empty (broken TOML).
fn key_part(key: &str) -> String {
    match key {
        "" => String::new(),
        k => format!(" {k}"),
    }
}
