//! What a [`Registration`](super::Registration)(super::Registration) is configured with and what it reports:
//! its settings, states, events and counters (RFC 3261 §10.2).

use std::time::Duration;

use crate::message::Uri;
use crate::transaction::Remote;

use super::digest::Credentials;
use super::error::AuthError;
use super::params::check_text;

/// The longest Min-Expires a 423 may ask for that we follow (one day).
pub(crate) const MAX_EXPIRES: u32 = 86_400;
/// The longest Retry-After we honour (one day).
pub(crate) const MAX_RETRY_AFTER: u64 = 86_400;

/// What to register where.
///
/// ```
/// use freya_sip::auth::{Credentials, RegistrationConfig};
/// use freya_sip::transaction::Remote;
/// let c = RegistrationConfig::new(
///     "sip:carrier.example",
///     "sip:+442071838750@carrier.example",
///     "sip:freya@192.0.2.10:5060",
///     Remote::udp("198.51.100.7:5060".parse().unwrap()),
///     "192.0.2.10:5060",
/// )
/// .credentials(Credentials::new("442071838750", "secret"));
/// assert_eq!(c.expires, 3600);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// The Request-URI: the registrar's domain (`sip:carrier.example`, RFC 3261 §10.2).
    pub registrar: String,
    /// The address-of-record registered (To and From, §10.2).
    pub aor: String,
    /// Our Contact URI, bound to the AOR.
    pub contact: String,
    /// Where the REGISTER goes (the registrar or an outbound proxy) and over what.
    pub remote: Remote,
    /// `host[:port]` for the Via sent-by.
    pub via_sent_by: String,
    /// Answers 401/407 when set; without, a challenge is a failure.
    pub credentials: Option<Credentials>,
    /// The binding lifetime asked for, in seconds (`Expires`; default 3600, §10.2.1.1).
    pub expires: u32,
    /// How long before the binding lapses to refresh it. The refresh goes out at
    /// `max(granted / 2, granted − refresh_margin)` after the 2xx: with the default 64 s,
    /// two whole UDP transaction timeouts (Timer F, 32 s) fit before the binding lapses,
    /// and short bindings are refreshed half way.
    pub refresh_margin: Duration,
    /// The first retry delay after a failure; doubled per consecutive failure.
    pub retry_min: Duration,
    /// The longest retry delay (a `Retry-After` may ask for longer; up to one day).
    pub retry_max: Duration,
    /// How long to wait for a final response before counting a timeout, when the
    /// transaction layer does not report one first (`handle_request_timeout`).
    pub response_timeout: Duration,
    /// The `User-Agent` value, when set.
    pub user_agent: Option<String>,
}

impl RegistrationConfig {
    /// Registers `aor` at `registrar` with `contact`, sending to `remote`; Via sent-by
    /// `via_sent_by`; 3600 s, refresh margin 64 s, retries from 30 s up to 30 min, 40 s
    /// response timeout, no credentials.
    pub fn new(
        registrar: impl Into<String>,
        aor: impl Into<String>,
        contact: impl Into<String>,
        remote: Remote,
        via_sent_by: impl Into<String>,
    ) -> RegistrationConfig {
        RegistrationConfig {
            registrar: registrar.into(),
            aor: aor.into(),
            contact: contact.into(),
            remote,
            via_sent_by: via_sent_by.into(),
            credentials: None,
            expires: 3600,
            refresh_margin: Duration::from_secs(64),
            retry_min: Duration::from_secs(30),
            retry_max: Duration::from_secs(1800),
            response_timeout: Duration::from_secs(40),
            user_agent: None,
        }
    }

    /// Sets the credentials.
    pub fn credentials(mut self, credentials: Credentials) -> RegistrationConfig {
        self.credentials = Some(credentials);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`AuthError::InvalidConfig`] naming the key and value: a registrar, AOR or contact
    /// that is not a URI (or a registrar with headers), a sent-by with blanks, `;` or `,`,
    /// `expires` 0 or above one day, zero or inverted retry delays, a zero response
    /// timeout, control characters in the user agent or the username.
    pub fn validate(&self) -> Result<(), AuthError> {
        let bad = |m: String| Err(AuthError::InvalidConfig(m));
        for (key, v) in [
            ("registrar", &self.registrar),
            ("aor", &self.aor),
            ("contact", &self.contact),
        ] {
            match Uri::parse(v) {
                Ok(Uri::Sip(u)) if key == "registrar" && !u.headers.is_empty() => {
                    return bad(format!("registrar {v:?} must not carry headers"))
                }
                Ok(_) if !v.bytes().any(|b| b == b'<' || b == b'>') => {}
                Ok(_) => return bad(format!("{key} {v:?} must be a bare URI")),
                Err(e) => {
                    return bad(format!(
                        "{key} {v:?} is not a URI: {} at offset {}",
                        e.what, e.at
                    ))
                }
            }
        }
        let s = &self.via_sent_by;
        if s.is_empty()
            || s.bytes()
                .any(|b| b.is_ascii_whitespace() || b == b';' || b == b',')
        {
            return bad(format!("via_sent_by {s:?} must be host[:port]"));
        }
        if self.expires == 0 || self.expires > MAX_EXPIRES {
            return bad(format!(
                "expires {} must be 1..={MAX_EXPIRES}",
                self.expires
            ));
        }
        if self.retry_min.is_zero() || self.retry_max < self.retry_min {
            return bad(format!(
                "retry_min {:?} must be above zero and at most retry_max {:?}",
                self.retry_min, self.retry_max
            ));
        }
        if self.response_timeout.is_zero() {
            return bad("response_timeout must be above zero".into());
        }
        if let Some(ua) = &self.user_agent {
            if check_text("user_agent", ua).is_err() {
                return bad(format!("user_agent {ua:?} holds a control character"));
            }
        }
        if let Some(c) = &self.credentials {
            if check_text("username", &c.username).is_err() {
                return bad(format!(
                    "username {:?} holds a control character",
                    c.username
                ));
            }
        }
        Ok(())
    }
}

/// Where a [`Registration`](super::Registration) is.
///
/// ```
/// use freya_sip::auth::RegistrationState;
/// assert!(RegistrationState::Refreshing.is_bound());
/// assert!(!RegistrationState::Registering.is_bound());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationState {
    /// Not started, or unregistered (or the unregister failed).
    Idle,
    /// A REGISTER is on its way (or due) and no binding is known to hold.
    Registering,
    /// The binding holds; a refresh is scheduled.
    Registered,
    /// The binding holds and its refresh is on its way.
    Refreshing,
    /// The last attempt failed; the next is scheduled after a backoff.
    Retrying,
    /// The `Expires: 0` REGISTER is on its way.
    Unregistering,
}

impl RegistrationState {
    /// Whether a binding is known to hold (Registered or Refreshing).
    pub fn is_bound(self) -> bool {
        matches!(
            self,
            RegistrationState::Registered | RegistrationState::Refreshing
        )
    }
}

/// What a [`Registration`](super::Registration) reports, drained with [`Registration::poll_event`](super::Registration::poll_event).
///
/// ```
/// use freya_sip::auth::RegistrationEvent;
/// let e = RegistrationEvent::Failed { status: 403, reason: "Forbidden".into() };
/// assert!(matches!(e, RegistrationEvent::Failed { status: 403, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// A 2xx granted the binding for `expires` seconds (each refresh reports again).
    Registered {
        /// The lifetime granted, in seconds.
        expires: u32,
    },
    /// An attempt failed: a final response that is not a 2xx (with the challenge refused
    /// or unanswerable for 401/407), or no response (`408 Request Timeout`, `503` for a
    /// transport error). A retry follows after a backoff, except for an unregister.
    Failed {
        /// The SIP status (408 for a timeout, 503 for a transport error).
        status: u16,
        /// The reason phrase, and for an auth failure why the challenge was not answered.
        reason: String,
    },
    /// The `Expires: 0` REGISTER was accepted (or nothing was registered).
    Unregistered,
}

/// A [`Registration`](super::Registration)'s counters.
///
/// ```
/// use freya_sip::auth::RegistrationStats;
/// assert_eq!(RegistrationStats::default().sent, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrationStats {
    /// REGISTER requests built.
    pub sent: u64,
    /// 2xx that granted a binding.
    pub registered: u64,
    /// 401/407 received.
    pub challenges: u64,
    /// Failed attempts (events `Failed`).
    pub failures: u64,
    /// Attempts that got no final response.
    pub timeouts: u64,
    /// Responses that matched no REGISTER in flight (late, duplicated, foreign), dropped.
    pub stray_responses: u64,
}
