//! Call transfer by REFER (RFC 3515), the transferor's side of a blind transfer as RFC 5589
//! §6.1 draws it: we send REFER with `Refer-To` (and `Referred-By`, RFC 3892) in the call's
//! dialog; the peer (the transferee, a carrier's SBC) answers 202, INVITEs the target
//! itself, and reports how that INVITE goes in NOTIFYs of the implicit `refer`
//! subscription, each carrying the status line as a `message/sipfrag` body (RFC 3420).
//!
//! The layer sends the REFER ([`DialogLayer::refer`]), reports its final response as
//! [`DialogEvent::RequestCompleted`] (its key's method is `REFER`), answers the NOTIFYs
//! (200, or a typed refusal: 481 when no REFER of ours is outstanding, 489 for another
//! event package, 415 for a body that is not a sipfrag, 400 for an unreadable one) and
//! reports each accepted one as [`DialogEvent::ReferNotify`]. What to do with the outcome
//! (hang up after a 2xx, keep the call after a failure) is the user's.

use std::time::Instant;

use crate::message::{Message, Uri};
use crate::transaction::TransactionKey;

use super::build::{check_header, warning};
use super::error::DialogError;
use super::event::DialogEvent;
use super::id::SessionId;
use super::layer::{DialogLayer, Purpose};
use super::session::SessionState;

/// What one NOTIFY of a refer subscription said (RFC 3515 §2.4.5): the status line of the
/// transferee's INVITE to the transfer target, and whether the subscription has ended.
///
/// ```
/// use freya_sip::dialog::ReferProgress;
/// let p = ReferProgress::parse("refer", "terminated;reason=noresource",
///     Some("message/sipfrag;version=2.0"), b"SIP/2.0 200 OK\r\n").unwrap();
/// assert_eq!((p.status, p.reason.as_deref(), p.terminated), (Some(200), Some("OK"), true));
/// assert!(p.succeeded());
/// let p = ReferProgress::parse("refer;id=7", "active;expires=60",
///     Some("message/sipfrag"), b"SIP/2.0 100 Trying").unwrap();
/// assert_eq!((p.status, p.terminated), (Some(100), false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferProgress {
    /// The sipfrag's status code (100–699); `None` for a final NOTIFY without a body (a
    /// subscription that ended without saying how the INVITE went).
    pub status: Option<u16>,
    /// The sipfrag's reason phrase, as sent.
    pub reason: Option<String>,
    /// `Subscription-State: terminated`: no further NOTIFY comes for this REFER.
    pub terminated: bool,
}

/// Why a NOTIFY of a dialog was refused; the NOTIFY is answered with
/// [`ReferNotifyError::status`] (RFC 6665 §4.1.3, RFC 3515 §2.4.5) and a Warning.
///
/// ```
/// use freya_sip::dialog::{ReferNotifyError, ReferProgress};
/// let e = ReferProgress::parse("presence", "active", None, b"").unwrap_err();
/// assert_eq!(e, ReferNotifyError::OtherPackage("presence".into()));
/// assert_eq!(e.status(), (489, "Bad Event"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferNotifyError {
    /// No `Event` header (RFC 6665 §8.2.1 makes it mandatory).
    #[error("NOTIFY without an Event header")]
    NoEvent,
    /// An event package other than `refer`: we subscribe to nothing else.
    #[error("event package {0:?} is not refer")]
    OtherPackage(String),
    /// No `Subscription-State` header (RFC 6665 §8.2.3).
    #[error("NOTIFY without a Subscription-State header")]
    NoSubscriptionState,
    /// No REFER of ours is outstanding in this dialog.
    #[error("no refer subscription in this dialog")]
    NoSubscription,
    /// The body is not `message/sipfrag` (RFC 3515 §2.4.5).
    #[error("body of type {0:?} is not message/sipfrag")]
    NotSipfrag(String),
    /// The sipfrag does not start with a SIP status line (RFC 3420 §2).
    #[error("sipfrag {0:?} does not start with a SIP/2.0 status line")]
    BadStatusLine(String),
}

impl ReferNotifyError {
    /// The response this refusal gets: 400, 415, 481 or 489.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            ReferNotifyError::NoEvent
            | ReferNotifyError::NoSubscriptionState
            | ReferNotifyError::BadStatusLine(_) => (400, "Bad Request"),
            ReferNotifyError::OtherPackage(_) => (489, "Bad Event"),
            ReferNotifyError::NoSubscription => (481, "Subscription does not exist"),
            ReferNotifyError::NotSipfrag(_) => (415, "Unsupported Media Type"),
        }
    }
}

impl ReferProgress {
    /// Reads a NOTIFY's parts: its `Event` and `Subscription-State` values, its content
    /// type and body.
    ///
    /// # Errors
    /// [`ReferNotifyError::OtherPackage`] for an event package other than `refer`;
    /// [`ReferNotifyError::NotSipfrag`] for a body of another type (or a missing body
    /// while the subscription is still active); [`ReferNotifyError::BadStatusLine`].
    pub fn parse(
        event: &str,
        subscription_state: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ReferProgress, ReferNotifyError> {
        let package = event.split(';').next().unwrap_or_default().trim();
        if !package.eq_ignore_ascii_case("refer") {
            return Err(ReferNotifyError::OtherPackage(package.to_owned()));
        }
        let state = subscription_state
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let terminated = state.eq_ignore_ascii_case("terminated");
        if body.is_empty() && terminated {
            return Ok(ReferProgress {
                status: None,
                reason: None,
                terminated,
            });
        }
        let media_type = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !media_type.eq_ignore_ascii_case("message/sipfrag") {
            return Err(ReferNotifyError::NotSipfrag(
                content_type.unwrap_or("(none)").to_owned(),
            ));
        }
        let (status, reason) = sipfrag_status(body)?;
        Ok(ReferProgress {
            status: Some(status),
            reason: Some(reason),
            terminated,
        })
    }

    /// Reads a NOTIFY message ([`ReferProgress::parse`] on its headers and body).
    ///
    /// # Errors
    /// [`ReferNotifyError::NoEvent`], [`ReferNotifyError::NoSubscriptionState`], and those
    /// of [`ReferProgress::parse`].
    pub fn from_notify(m: &Message) -> Result<ReferProgress, ReferNotifyError> {
        let event = m.header("Event").ok_or(ReferNotifyError::NoEvent)?;
        let state = m
            .header("Subscription-State")
            .ok_or(ReferNotifyError::NoSubscriptionState)?;
        ReferProgress::parse(event.value(), state.value(), m.content_type(), m.body())
    }

    /// The transfer target answered the transferee (a 2xx status line).
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The transferee's INVITE failed (a final status of 300 or more), or the
    /// subscription ended without a 2xx: the call was not transferred.
    pub fn failed(&self) -> bool {
        match self.status {
            Some(s) => s >= 300 || (self.terminated && s < 200),
            None => self.terminated,
        }
    }
}

/// The status code and reason phrase of a sipfrag's first line (`SIP/2.0 200 OK`).
fn sipfrag_status(body: &[u8]) -> Result<(u16, String), ReferNotifyError> {
    let line_end = body
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..line_end]);
    let bad = || ReferNotifyError::BadStatusLine(line.chars().take(80).collect());
    let rest = line
        .strip_prefix("SIP/2.0 ")
        .or_else(|| {
            // The version is case-insensitive (RFC 3261 §7.1).
            line.get(..8)
                .filter(|v| v.eq_ignore_ascii_case("SIP/2.0 "))
                .map(|_| &line[8..])
        })
        .ok_or_else(bad)?;
    let code = rest.get(..3).ok_or_else(bad)?;
    if !code.bytes().all(|b| b.is_ascii_digit())
        || rest.as_bytes().get(3).is_some_and(|&b| b != b' ')
    {
        return Err(bad());
    }
    let status: u16 = code.parse().map_err(|_| bad())?;
    if !(100..=699).contains(&status) {
        return Err(bad());
    }
    Ok((status, rest.get(4..).unwrap_or_default().trim().to_owned()))
}

impl DialogLayer {
    /// Asks the peer of established call `id` to transfer it to `refer_to` (a `sip:`,
    /// `sips:` or `tel:` URI): a REFER with `Refer-To: <refer_to>` and `Referred-By` our
    /// own address (RFC 3515 §2.1, RFC 3892). Its final response comes as
    /// [`DialogEvent::RequestCompleted`] (202 Accepted, or a refusal); the transferee's
    /// progress as [`DialogEvent::ReferNotify`]. The call stays up meanwhile: hanging it up
    /// once the target answered is the caller's decision (RFC 5589 §6.1).
    ///
    /// # Errors
    /// [`DialogError::NoSuchSession`]; [`DialogError::InvalidState`] before the call is
    /// established; [`DialogError::InvalidUri`] for a target that does not parse.
    pub fn refer(
        &mut self,
        now: Instant,
        id: SessionId,
        refer_to: &str,
    ) -> Result<TransactionKey, DialogError> {
        let target = refer_to.trim();
        let parsed = Uri::parse(target).map_err(|e| DialogError::InvalidUri {
            uri: target.to_owned(),
            reason: format!("{} at offset {}", e.what, e.at),
        })?;
        let telephone =
            matches!(parsed, Uri::Other { scheme, .. } if scheme.eq_ignore_ascii_case("tel"));
        if !matches!(parsed, Uri::Sip(_)) && !telephone {
            return Err(DialogError::InvalidUri {
                uri: target.to_owned(),
                reason: "a transfer target is a sip:, sips: or tel: URI".into(),
            });
        }
        let refer_to = format!("<{target}>");
        check_header("Refer-To", &refer_to)?;
        let s = self.live(id)?;
        if s.state != SessionState::Established {
            return Err(DialogError::InvalidState {
                session: id,
                operation: "transfer the call",
                state: s.state.as_str(),
            });
        }
        let referred_by = s.dialog.as_ref().and_then(|d| d.local_address());
        let mut extra = vec![("Refer-To".to_owned(), refer_to)];
        if let Some(by) = referred_by {
            extra.push(("Referred-By".to_owned(), by));
        }
        let r = self.send_in_dialog(now, id, "REFER", &extra, None, Purpose::Request);
        if r.is_ok() {
            if let Some(s) = self.s_mut(id) {
                s.refers_pending += 1;
            }
        }
        self.finish(now);
        r
    }

    /// Our REFER's final response (or its timeout): a refused one creates no subscription.
    pub(crate) fn refer_completed(&mut self, id: SessionId, key: &TransactionKey, status: u16) {
        if key.method() != "REFER" || status < 300 {
            return;
        }
        if let Some(s) = self.s_mut(id) {
            s.refers_pending = s.refers_pending.saturating_sub(1);
        }
    }

    /// A NOTIFY in the call's dialog: accepted (200) and reported when it belongs to a
    /// refer subscription of ours, else refused with a status and a Warning.
    pub(crate) fn on_notify(
        &mut self,
        now: Instant,
        id: SessionId,
        key: TransactionKey,
        req: Message,
    ) {
        let pending = self.sessions.get(&id).map_or(0, |s| s.refers_pending);
        let parsed = ReferProgress::from_notify(&req).and_then(|p| {
            if pending == 0 {
                Err(ReferNotifyError::NoSubscription)
            } else {
                Ok(p)
            }
        });
        match parsed {
            Ok(progress) => {
                self.auto_reply(now, &key, &req, 200, "OK", None, &[]);
                if progress.terminated {
                    if let Some(s) = self.s_mut(id) {
                        s.refers_pending = s.refers_pending.saturating_sub(1);
                    }
                }
                self.events.push_back(DialogEvent::ReferNotify {
                    session: id,
                    progress,
                });
            }
            Err(e) => {
                self.stats.notify_refused += 1;
                let (status, reason) = e.status();
                tracing::info!(session = %id, error = %e, status, "dialog: NOTIFY refused");
                let mut extra = vec![("Warning".to_owned(), warning(399, &e.to_string()))];
                match e {
                    ReferNotifyError::OtherPackage(_) => {
                        extra.push(("Allow-Events".to_owned(), "refer".to_owned()));
                    }
                    ReferNotifyError::NotSipfrag(_) => {
                        extra.push(("Accept".to_owned(), "message/sipfrag".to_owned()));
                    }
                    _ => {}
                }
                self.auto_reply(now, &key, &req, status, reason, None, &extra);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any body is read or refused, never a panic; a status line written from parts
        /// reads back as those parts.
        #[test]
        fn sipfrag_bodies(body in proptest::collection::vec(any::<u8>(), 0..80),
                          code in 100u16..=699, reason in "[A-Za-z ]{0,20}") {
            if let Ok((status, _)) = sipfrag_status(&body) {
                prop_assert!((100..=699).contains(&status));
            }
            let line = format!("SIP/2.0 {code} {reason}\r\nContact: <sip:x>\r\n");
            prop_assert_eq!(sipfrag_status(line.as_bytes()), Ok((code, reason.trim().to_owned())));
        }
    }

    #[test]
    fn sipfrag_status_lines() {
        assert_eq!(
            sipfrag_status(b"SIP/2.0 180 Ringing\r\nContact: <sip:x>\r\n"),
            Ok((180, "Ringing".into()))
        );
        assert_eq!(
            sipfrag_status(b"sip/2.0 603 Decline"),
            Ok((603, "Decline".into()))
        );
        assert_eq!(sipfrag_status(b"SIP/2.0 200"), Ok((200, String::new())));
        for bad in [
            &b"INVITE sip:a@b SIP/2.0"[..],
            b"SIP/2.0 20 OK",
            b"SIP/2.0 2000 OK",
            b"SIP/2.0 099 Low",
            b"SIP/2.0 700 High",
            b"",
            b"SIP/1.0 200 OK",
        ] {
            assert!(
                matches!(sipfrag_status(bad), Err(ReferNotifyError::BadStatusLine(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn outcomes() {
        let p = |status, terminated| ReferProgress {
            status,
            reason: None,
            terminated,
        };
        assert!(p(Some(200), false).succeeded());
        assert!(!p(Some(180), false).failed());
        assert!(p(Some(180), true).failed(), "ended before a final status");
        assert!(p(Some(486), false).failed());
        assert!(p(None, true).failed());
        assert!(!p(Some(200), true).failed());
    }

    #[test]
    fn refusals() {
        let e = ReferProgress::parse("refer", "active", Some("text/plain"), b"SIP/2.0 200 OK")
            .unwrap_err();
        assert_eq!(e, ReferNotifyError::NotSipfrag("text/plain".into()));
        assert_eq!(e.status().0, 415);
        let e = ReferProgress::parse("refer", "active", None, b"").unwrap_err();
        assert_eq!(e, ReferNotifyError::NotSipfrag("(none)".into()));
        let e =
            ReferProgress::parse("refer", "active", Some("message/sipfrag"), b"hello").unwrap_err();
        assert_eq!(e.status().0, 400);
        assert!(e.to_string().contains("\"hello\""), "{e}");
    }
}
