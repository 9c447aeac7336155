//! Our INVITE challenged with 401/407 (RFC 3261 §22.2): two layers back to back, the
//! callee's challenges and verdicts made by a [`Challenger`], in virtual time.

use std::time::{Duration, Instant};

use super::netem::{addr, caps, config};
use super::*;
use crate::auth::{AuthFailure, Challenger, ChallengerConfig, Credentials, UserSecret};
use crate::dialog::{
    CallEnd, DialogEvent, DialogLayer, EndKind, IncomingCall, OutgoingCall, SessionId,
    SessionState, Side,
};
use crate::message::{parse, Message};
use crate::transaction::Remote;

struct Pair {
    now: Instant,
    a: DialogLayer,
    b: DialogLayer,
    auth: Challenger,
    /// Every INVITE b received.
    invites: Vec<Message>,
}

fn users(u: &str, _: &str) -> Option<UserSecret> {
    (u == "alice").then(|| UserSecret::Password("wonderland".into()))
}

impl Pair {
    fn new(proxy: bool) -> Pair {
        let mut cfg = ChallengerConfig::new("freya.example");
        cfg.proxy = proxy;
        Pair {
            now: t0(),
            a: DialogLayer::with_seed(config(0), 1).expect("config"),
            b: DialogLayer::with_seed(config(1), 2).expect("config"),
            auth: Challenger::new(cfg, t0()).expect("challenger"),
            invites: Vec::new(),
        }
    }

    fn carry(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.a.poll_transmit() {
                let m = parse(o.bytes).expect("parses");
                if m.method() == Some("INVITE") {
                    self.invites.push(m.clone());
                }
                self.b.handle_message(self.now, m, Remote::udp(addr(0)));
                moved = true;
            }
            while let Some(o) = self.b.poll_transmit() {
                let m = parse(o.bytes).expect("parses");
                self.a.handle_message(self.now, m, Remote::udp(addr(1)));
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    fn call(&mut self, credentials: Option<Credentials>) -> SessionId {
        let mut call = OutgoingCall::new(
            format!("sip:b@{}", addr(1)),
            format!("<sip:alice@{}>", addr(0)),
            Remote::udp(addr(1)),
            caps(0),
        );
        if let Some(c) = credentials {
            call = call.credentials(c);
        }
        let id = self.a.invite(self.now, call).expect("invite");
        self.carry();
        id
    }

    /// b's next incoming call.
    fn incoming(&mut self) -> Option<IncomingCall> {
        std::iter::from_fn(|| self.b.poll_event()).find_map(|e| match e {
            DialogEvent::Incoming(c) => Some(c),
            _ => None,
        })
    }

    /// b checks the credentials of its incoming call: challenges (401/407) on failure,
    /// answers on success. Returns the verdict.
    fn serve(&mut self, inc: &IncomingCall) -> Result<(), AuthFailure> {
        match self.auth.verify(self.now, &inc.request, users) {
            Ok(ok) => {
                assert_eq!(ok.username, "alice");
                self.b
                    .answer(self.now, inc.session, caps(1), &[])
                    .expect("answer");
                self.carry();
                Ok(())
            }
            Err(f) => {
                let values = self.auth.challenges(self.now, f.is_stale());
                let name = self.auth.challenge_header();
                let extra: Vec<(&str, &str)> = values.iter().map(|v| (name, v.as_str())).collect();
                let (status, reason) = self.auth.status();
                self.b
                    .reject(self.now, inc.session, status, reason, None, &extra)
                    .expect("reject");
                self.carry();
                Err(f)
            }
        }
    }

    fn a_events(&mut self) -> Vec<DialogEvent> {
        std::iter::from_fn(|| self.a.poll_event()).collect()
    }

    fn ended(events: &[DialogEvent]) -> Option<&CallEnd> {
        events.iter().find_map(|e| match e {
            DialogEvent::Ended { end, .. } => Some(end),
            _ => None,
        })
    }
}

fn value<'a>(m: &'a Message, name: &str) -> &'a str {
    m.header(name).map_or("", |h| h.value())
}

fn challenged_call_is_answered(proxy: bool) {
    let mut p = Pair::new(proxy);
    let id = p.call(Some(Credentials::new("alice", "wonderland")));
    let first = p.incoming().expect("first INVITE");
    assert!(matches!(p.serve(&first), Err(AuthFailure::Missing { .. })));
    // The challenge was ACKed by the transaction and the INVITE sent again at once.
    let second = p.incoming().expect("INVITE with credentials");
    assert!(p.a_events().is_empty(), "nothing for the user yet");
    assert_eq!(
        p.a.session(id).map(|s| s.state()),
        Some(SessionState::Calling)
    );
    let (r1, r2) = (&first.request, &second.request);
    assert_eq!(r2.call_id(), r1.call_id());
    assert_eq!(r2.from().unwrap().tag(), r1.from().unwrap().tag());
    assert_eq!(value(r2, "To"), value(r1, "To"));
    assert_eq!(r2.request_uri(), r1.request_uri());
    assert_eq!(r2.cseq().unwrap().seq, r1.cseq().unwrap().seq + 1);
    assert_ne!(
        r2.top_via().unwrap().branch(),
        r1.top_via().unwrap().branch()
    );
    assert_eq!(r2.body(), r1.body(), "the same SDP offer");
    assert!(!r2.body().is_empty());
    let (ours, other) = if proxy {
        ("Proxy-Authorization", "Authorization")
    } else {
        ("Authorization", "Proxy-Authorization")
    };
    assert!(value(r2, ours).starts_with("Digest username=\"alice\", realm=\"freya.example\""));
    assert!(r2.header(other).is_none());
    // b's Challenger accepts them; b answers; a's call is up.
    assert_eq!(p.serve(&second), Ok(()));
    let ev = p.a_events();
    assert!(
        matches!(ev.first(), Some(DialogEvent::Answered { session, .. }) if *session == id),
        "{ev:?}"
    );
    assert_eq!(
        p.a.session(id).map(|s| s.state()),
        Some(SessionState::Established)
    );
    assert_eq!(p.invites.len(), 2);
    // The call hangs up normally.
    p.a.hangup(p.now, id, None).expect("hangup");
    p.carry();
    assert_eq!(
        Pair::ended(&p.a_events()).map(|e| (e.kind, e.status)),
        Some((EndKind::Bye, 200))
    );
}

#[test]
fn challenged_invite_is_sent_again_with_authorization() {
    challenged_call_is_answered(false);
}

#[test]
fn proxy_challenged_invite_is_sent_again_with_proxy_authorization() {
    challenged_call_is_answered(true);
}

#[test]
fn wrong_password_ends_with_401_after_one_retry() {
    let mut p = Pair::new(false);
    let id = p.call(Some(Credentials::new("alice", "looking-glass")));
    let first = p.incoming().expect("first INVITE");
    assert!(p.serve(&first).is_err());
    let second = p.incoming().expect("INVITE with credentials");
    assert_eq!(
        p.serve(&second),
        Err(AuthFailure::WrongResponse {
            username: "alice".into()
        })
    );
    let ev = p.a_events();
    let end = Pair::ended(&ev).expect("the call ended");
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Remote, EndKind::Rejected, 401)
    );
    assert_eq!(p.invites.len(), 2, "one retry only");
    assert!(p.incoming().is_none());
    assert!(p.a.session(id).is_none());
    // Nothing stays behind on the caller's side once Timer D (32 s) has run out.
    p.now += Duration::from_secs(33);
    p.a.handle_timeout(p.now);
    assert!(
        p.a.is_idle(),
        "{} transactions left",
        p.a.transactions().len()
    );
}

#[test]
fn without_credentials_the_call_ends_with_401() {
    let mut p = Pair::new(false);
    let id = p.call(None);
    let first = p.incoming().expect("INVITE");
    assert!(p.serve(&first).is_err());
    let ev = p.a_events();
    let end = Pair::ended(&ev).expect("the call ended");
    assert_eq!(
        (end.kind, end.status, end.reason_phrase.as_str()),
        (EndKind::Rejected, 401, "Unauthorized")
    );
    assert_eq!(p.invites.len(), 1);
    assert!(p.a.session(id).is_none());
}

#[test]
fn credentials_for_another_realm_are_not_sent() {
    let mut p = Pair::new(true);
    p.call(Some(
        Credentials::new("alice", "wonderland").for_realm("carrier.example"),
    ));
    let first = p.incoming().expect("INVITE");
    assert!(p.serve(&first).is_err());
    let end = Pair::ended(&p.a_events()).cloned().expect("the call ended");
    assert_eq!(end.status, 407);
    assert_eq!(p.invites.len(), 1);
}

#[test]
fn a_stale_nonce_is_answered_again() {
    let mut p = Pair::new(false);
    let id = p.call(Some(Credentials::new("alice", "wonderland")));
    let first = p.incoming().expect("INVITE");
    assert!(p.serve(&first).is_err());
    let second = p.incoming().expect("INVITE with credentials");
    // b takes its time: by now the nonce has expired (300 s), so b says stale=true.
    p.now += Duration::from_secs(301);
    assert!(matches!(p.serve(&second), Err(AuthFailure::Stale { .. })));
    let third = p.incoming().expect("INVITE with fresh credentials");
    assert_eq!(third.request.cseq().unwrap().seq, 3);
    assert_eq!(p.serve(&third), Ok(()));
    let ev = p.a_events();
    assert!(
        matches!(ev.first(), Some(DialogEvent::Answered { session, .. }) if *session == id),
        "{ev:?}"
    );
}
