//! The authentication and registration error type.

/// Why a challenge, a credentials header or a registration setting was refused. Each
/// variant names the offending value, so the log line alone explains it.
///
/// ```
/// use freya_sip::auth::{AuthError, Challenge};
/// let e = Challenge::parse("Digest nonce=\"abc\"").unwrap_err();
/// assert!(matches!(e, AuthError::MissingParam { param: "realm", .. }));
/// assert!(e.to_string().contains("nonce=\\\"abc\\\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header value does not follow the `auth-scheme 1*SP #auth-param` grammar
    /// (RFC 7235 §2.1, RFC 3261 §25.1): an unterminated quoted-string, a parameter without
    /// `=`, text after a value, a parameter given twice…
    #[error("malformed authentication value {value:?} at offset {offset}: {what}")]
    Malformed {
        /// The whole header value.
        value: String,
        /// Byte offset of the problem in `value`.
        offset: usize,
        /// What was expected or found.
        what: &'static str,
    },
    /// The scheme is not `Digest` (Basic, Bearer, …): freya answers Digest only.
    #[error("authentication scheme {scheme:?} is not Digest in {value:?}")]
    NotDigest {
        /// The scheme as received.
        scheme: String,
        /// The whole header value.
        value: String,
    },
    /// A parameter the scheme requires is absent (`realm`, `nonce`, `response`…).
    #[error("missing Digest parameter {param} in {value:?}")]
    MissingParam {
        /// The parameter's name.
        param: &'static str,
        /// The whole header value.
        value: String,
    },
    /// A parameter with a value outside its grammar (`nc` not 8 hex digits, `stale`
    /// neither true nor false…).
    #[error("invalid Digest parameter {param}={got:?}")]
    InvalidParam {
        /// The parameter's name.
        param: &'static str,
        /// The value received.
        got: String,
    },
    /// An `algorithm` freya does not implement (RFC 7616 §3.3 lets a client skip such a
    /// challenge and answer another).
    #[error("unsupported Digest algorithm {0:?} (MD5, MD5-sess, SHA-256, SHA-256-sess are)")]
    UnsupportedAlgorithm(String),
    /// A `qop` list offering neither `auth` nor `auth-int`.
    #[error("unsupported qop {0:?} (auth and auth-int are)")]
    UnsupportedQop(String),
    /// A value we would write holds CR, LF or another control character (a header
    /// injection attempt, or a misconfiguration).
    #[error("{param} {got:?} holds a control character")]
    ControlCharacter {
        /// Which value (`username`, `uri`…).
        param: &'static str,
        /// The value.
        got: String,
    },
    /// A response handed to the client is not a 401 or 407.
    #[error("status {0} is not an authentication challenge (401 or 407)")]
    NotAChallenge(u16),
    /// A 401/407 without any Digest challenge we can answer; `detail` says why the last
    /// one was skipped.
    #[error("no usable Digest challenge in the {status} response: {detail}")]
    NoUsableChallenge {
        /// The response's status.
        status: u16,
        /// Why the last challenge was skipped.
        detail: String,
    },
    /// The credentials are restricted to another realm than the one challenging.
    #[error("no credentials for realm {realm:?} (ours are for {ours:?})")]
    NoCredentialsForRealm {
        /// The realm asking.
        realm: String,
        /// The realm our credentials are for.
        ours: String,
    },
    /// We answered this realm's challenge and it challenged again without `stale=true`:
    /// the credentials were refused (RFC 3261 §22.2: do not retry them).
    #[error("credentials refused by realm {realm:?} (challenged again, not stale)")]
    Rejected {
        /// The realm that refused them.
        realm: String,
    },
    /// More challenges were answered for one request than the limit allows (a server
    /// that keeps saying `stale=true`).
    #[error("gave up after {0} challenges for one request")]
    TooManyChallenges(u8),
    /// A [`RegistrationConfig`](super::RegistrationConfig) or
    /// [`ChallengerConfig`](super::ChallengerConfig) setting is unusable; the message names
    /// the key and the value.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}
