//! Our INVITE challenged (RFC 3261 §22.2, §22.3): a 401 or 407 is answered with the
//! call's [`Credentials`](crate::auth::Credentials) by sending the INVITE again — same
//! Call-ID, From tag, To and SDP offer, CSeq + 1, a new branch, the `Authorization` /
//! `Proxy-Authorization` header added — once per challenge.

use std::time::Instant;

use crate::message::Message;

use super::error::DialogError;
use super::id::SessionId;
use super::layer::{DialogLayer, Purpose};
use super::session::SessionState;

impl DialogLayer {
    /// Answers the challenge `r` to session `id`'s INVITE; `false` (logged) when the call
    /// has no credentials, the challenge cannot be answered, or the realm refused our
    /// answer (challenged again without `stale=true`): the caller then ends the call with
    /// `r`'s status.
    pub(crate) fn retry_auth(&mut self, now: Instant, id: SessionId, r: &Message) -> bool {
        let Some(s) = self.sessions.get_mut(&id) else {
            return false;
        };
        let Some(auth) = s.auth.as_mut() else {
            return false;
        };
        if let Err(error) = auth.handle_challenge(r) {
            tracing::warn!(session = %id, %error, status = r.status_code(), "dialog: challenge to our INVITE not answered");
            return false;
        }
        let uri = s.invite.request_uri().unwrap_or("").to_owned();
        let headers = match auth.authorize("INVITE", &uri, s.invite.body()) {
            Ok(h) => h,
            Err(error) => {
                tracing::warn!(session = %id, %error, "dialog: credentials for our INVITE not built");
                return false;
            }
        };
        match self.resend_invite(now, id, &headers) {
            Ok(()) => {
                tracing::debug!(session = %id, status = r.status_code(), "dialog: INVITE sent again with credentials");
                true
            }
            Err(error) => {
                tracing::warn!(session = %id, %error, "dialog: INVITE with credentials not sent");
                false
            }
        }
    }

    /// Sends the session's INVITE again with the next CSeq, a new branch and `auth`
    /// replacing any credentials it carried.
    fn resend_invite(
        &mut self,
        now: Instant,
        id: SessionId,
        auth: &[(&str, String)],
    ) -> Result<(), DialogError> {
        let Some(s) = self.sessions.get(&id) else {
            return Err(DialogError::NoSuchSession(id));
        };
        let seq = s.invite.cseq().map_or(1, |c| c.seq.wrapping_add(1));
        let (invite, remote) = (s.invite.clone(), s.remote);
        let via = self.via(remote.reliability);
        let mut e = invite.edit();
        e.set_header("Via", &via)?;
        e.set_header("CSeq", &format!("{seq} INVITE"))?;
        e.remove_header("Authorization");
        e.remove_header("Proxy-Authorization");
        for (name, value) in auth {
            e.add_header(name, value)?;
        }
        let invite = e.finish()?;
        let key = self.tx.send_request(now, invite.clone(), remote)?;
        self.by_tx
            .insert(key.clone(), (id, Purpose::Invite, remote));
        if let Some(s) = self.s_mut(id) {
            s.invite = invite;
            s.invite_key = key;
            s.state = SessionState::Calling;
        }
        Ok(())
    }
}
