//! RFC 4028 §10 for a running call: refreshing at half the interval (UPDATE when the peer
//! allows it, else re-INVITE), the refreshing UPDATE's response, and the BYE when the
//! peer's refresh does not come.

use std::time::{Duration, Instant};

use crate::message::Message;

use super::event::DialogEvent;
use super::event::{CallEnd, EndKind};
use super::id::SessionId;
use super::layer::{DialogLayer, Purpose};
use super::q850::Q850;
use super::session::{Intent, SessionState};
use super::session_timer::{min_se, session_timer_uac, Refresher, SessionExpires, SessionTimer};

impl DialogLayer {
    /// The Session-Expires our re-INVITE / UPDATE carries while a timer runs (we are its
    /// UAC: `uac` when we refresh, `uas` when the peer does).
    pub(crate) fn refresh_headers(&self, id: SessionId, out: &mut Vec<(String, String)>) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if !self.config.session_timer.enabled {
            return;
        }
        out.push(("Supported".into(), "timer".into()));
        if let Some(t) = s.timer {
            let se = SessionExpires {
                seconds: t.seconds,
                refresher: Some(if t.we_refresh {
                    Refresher::Uac
                } else {
                    Refresher::Uas
                }),
            };
            out.push(("Session-Expires".into(), se.to_string()));
            out.push(("Min-SE".into(), s.min_se.to_string()));
        }
    }

    /// The session timer fired: refresh (we are the refresher) or give up (RFC 4028 §10).
    pub(crate) fn session_timer_due(&mut self, now: Instant, id: SessionId) {
        let Some(s) = self.s_mut(id) else {
            return;
        };
        let Some(t) = s.timer else {
            return;
        };
        if t.we_refresh {
            if s.state != SessionState::Established
                || s.reinvite.is_some()
                || s.pending_ack.is_some()
            {
                // An INVITE transaction is in progress: try again shortly.
                if let Some(t) = s.timer.as_mut() {
                    t.due = now + Duration::from_secs(2);
                }
                return;
            }
            // Until the refresh's 2xx restarts it, the timer comes back at half the interval.
            if let Some(t) = s.timer.as_mut() {
                t.due = now + Duration::from_millis(u64::from(t.seconds) * 500);
            }
            self.send_refresh(now, id);
        } else {
            self.stats.expired += 1;
            tracing::info!(session = %id, seconds = t.seconds, "dialog: session expired without refresh; BYE");
            let cause = Q850::RECOVERY_ON_TIMER_EXPIRY;
            if let Err(error) = self.send_bye(now, id, Some(cause)) {
                tracing::warn!(session = %id, %error, "dialog: BYE at session expiry not sent");
            }
            self.end(
                id,
                CallEnd::local(EndKind::SessionExpired, 408, "Session Expired", Some(cause)),
            );
        }
    }

    /// A session refresh: UPDATE when the peer allows it (RFC 4028 §7.4 prefers it),
    /// else a re-INVITE with the current offer.
    fn send_refresh(&mut self, now: Instant, id: SessionId) {
        self.stats.refreshes += 1;
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.peer_allows_update {
            let mut extra = vec![(
                "Contact".to_owned(),
                self.config.contact_value(s.remote.reliability),
            )];
            self.refresh_headers(id, &mut extra);
            if let Err(error) =
                self.send_in_dialog(now, id, "UPDATE", &extra, None, Purpose::Update)
            {
                tracing::warn!(session = %id, %error, "dialog: refreshing UPDATE not sent");
            }
        } else if let Err(error) = self.start_reinvite(now, id, Intent::Refresh) {
            tracing::warn!(session = %id, %error, "dialog: refreshing re-INVITE not sent");
        }
    }

    /// The final response to our refreshing UPDATE.
    pub(crate) fn update_final(&mut self, now: Instant, id: SessionId, r: Message) {
        let status = r.status_code().unwrap_or(500);
        let cfg = self.config.session_timer;
        let Some(s) = self.s_mut(id) else {
            return;
        };
        if s.ended {
            return;
        }
        match status {
            200..=299 => {
                if let Some(d) = s.dialog.as_mut() {
                    d.refresh_target(&r);
                }
                let timer = session_timer_uac(&cfg, &r);
                s.timer = timer.map(|(secs, we)| SessionTimer::start(now, secs, we));
                if let Some((seconds, we_refresh)) = timer {
                    self.events.push_back(DialogEvent::SessionTimer {
                        session: id,
                        seconds,
                        we_refresh,
                    });
                }
            }
            422 => {
                let asked = min_se(&r).unwrap_or(90);
                s.min_se = s.min_se.max(asked);
                if let Some(t) = s.timer.as_mut() {
                    t.seconds = t.seconds.max(asked);
                }
                self.send_refresh(now, id);
            }
            408 | 481 => self.dialog_lost(now, id, status, Some(&r)),
            _ => {
                // The UPDATE is refused (405 from a peer that listed it nonetheless…): fall
                // back to re-INVITE for the next refresh.
                s.peer_allows_update = false;
                if let Some(t) = s.timer.as_mut() {
                    t.due = now;
                }
            }
        }
    }
}
