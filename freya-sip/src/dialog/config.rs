//! The dialog layer's settings.

use std::net::SocketAddr;

use crate::transaction::{Reliability, TimerConfig};

use super::error::DialogError;
use super::session_timer::SessionTimerConfig;

/// What the dialog layer writes about itself and how long it waits.
///
/// ```
/// use freya_sip::dialog::DialogConfig;
/// let c = DialogConfig::new("192.0.2.10:5060".parse().unwrap());
/// assert_eq!(c.via_sent_by, "192.0.2.10:5060");
/// assert_eq!(c.contact, "sip:freya@192.0.2.10:5060");
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogConfig {
    /// The transaction timers (T1, T2, T4…); T1 also paces the UAS's 2xx retransmissions
    /// and 64·T1 bounds the wait for their ACK (RFC 3261 §13.3.1.4).
    pub timers: TimerConfig,
    /// `host[:port]` for the Via sent-by of our requests (the advertised address).
    pub via_sent_by: String,
    /// Our Contact URI (no angle brackets). Over a reliable transport `;transport=tcp` is
    /// added when the URI names no transport.
    pub contact: String,
    /// The `User-Agent` / `Server` value, when set.
    pub user_agent: Option<String>,
    /// RFC 4028 session timers.
    pub session_timer: SessionTimerConfig,
}

impl DialogConfig {
    /// Settings for a stack reachable at `local`: Via sent-by `ip:port`, Contact
    /// `sip:freya@ip:port`, default timers and session timers.
    pub fn new(local: SocketAddr) -> DialogConfig {
        DialogConfig {
            timers: TimerConfig::default(),
            via_sent_by: local.to_string(),
            contact: format!("sip:freya@{local}"),
            user_agent: None,
            session_timer: SessionTimerConfig::default(),
        }
    }

    /// Checks the timers and that the addresses are usable in headers.
    ///
    /// # Errors
    /// [`DialogError::InvalidConfig`] naming the key at fault.
    pub fn validate(&self) -> Result<(), DialogError> {
        self.timers.validate()?;
        let bad = |v: &str| {
            v.is_empty()
                || v.bytes()
                    .any(|b| b.is_ascii_whitespace() || b == b',' || b == b';')
        };
        if bad(&self.via_sent_by) {
            return Err(DialogError::InvalidConfig(format!(
                "via_sent_by {:?} must be host[:port]",
                self.via_sent_by
            )));
        }
        if self.contact.is_empty()
            || self
                .contact
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == b'<' || b == b'>')
        {
            return Err(DialogError::InvalidConfig(format!(
                "contact {:?} must be a bare URI",
                self.contact
            )));
        }
        if self.session_timer.min_se < 90 {
            return Err(DialogError::InvalidConfig(format!(
                "session_timer.min_se {} must be at least 90 (RFC 4028 §5)",
                self.session_timer.min_se
            )));
        }
        if let Some(se) = self.session_timer.session_expires {
            if se < self.session_timer.min_se {
                return Err(DialogError::InvalidConfig(format!(
                    "session_timer.session_expires {se} is below min_se {}",
                    self.session_timer.min_se
                )));
            }
        }
        if let Some(ua) = &self.user_agent {
            super::build::check_header("User-Agent", ua)?;
        }
        Ok(())
    }

    /// The Contact value (`<uri>`) for a transport.
    pub(crate) fn contact_value(&self, reliability: Reliability) -> String {
        let has_transport = self.contact.to_ascii_lowercase().contains(";transport=");
        match reliability {
            Reliability::Reliable if !has_transport => format!("<{};transport=tcp>", self.contact),
            _ => format!("<{}>", self.contact),
        }
    }
}
