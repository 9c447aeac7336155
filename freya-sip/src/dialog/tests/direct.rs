//! Two layers wired back to back (no loss, no delay) and hand-made messages: the checks
//! a dialog makes on what it receives.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::netem::{addr, caps, config};
use super::*;
use crate::dialog::{DialogEvent, DialogLayer, EndKind, OutgoingCall, SessionId, SessionState};
use crate::message::{parse, Message};
use crate::transaction::Remote;

pub(crate) struct Pair {
    pub(crate) now: Instant,
    pub(crate) a: DialogLayer,
    pub(crate) b: DialogLayer,
    /// Every message each side received, in order.
    pub(crate) got: [Vec<Message>; 2],
}

impl Pair {
    pub(crate) fn new() -> Pair {
        Pair {
            now: t0(),
            a: DialogLayer::with_seed(config(0), 1).expect("config"),
            b: DialogLayer::with_seed(config(1), 2).expect("config"),
            got: [Vec::new(), Vec::new()],
        }
    }

    /// Moves messages between the two until neither sends.
    pub(crate) fn carry(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.a.poll_transmit() {
                let m = parse(o.bytes).expect("parses");
                self.got[1].push(m.clone());
                self.b.handle_message(self.now, m, Remote::udp(addr(0)));
                moved = true;
            }
            while let Some(o) = self.b.poll_transmit() {
                let m = parse(o.bytes).expect("parses");
                self.got[0].push(m.clone());
                self.a.handle_message(self.now, m, Remote::udp(addr(1)));
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// Hands `m` to b as if a sent it, and returns b's answers.
    fn send_b(&mut self, m: Message) -> Vec<Message> {
        self.b.handle_message(self.now, m, Remote::udp(addr(0)));
        std::iter::from_fn(|| self.b.poll_transmit())
            .map(|o| parse(o.bytes).expect("parses"))
            .collect()
    }

    pub(crate) fn events(l: &mut DialogLayer) -> Vec<DialogEvent> {
        std::iter::from_fn(|| l.poll_event()).collect()
    }

    /// a calls b, b answers: (a's session, b's session).
    pub(crate) fn established(&mut self) -> (SessionId, SessionId) {
        let call = OutgoingCall::new(
            format!("sip:b@{}", addr(1)),
            format!("<sip:a@{}>", addr(0)),
            Remote::udp(addr(1)),
            caps(0),
        );
        let sa = self.a.invite(self.now, call).expect("invite");
        self.carry();
        let Some(DialogEvent::Incoming(inc)) = self.b.poll_event() else {
            panic!("no incoming call")
        };
        self.b
            .answer(self.now, inc.session, caps(1), &[])
            .expect("answer");
        self.carry();
        assert_eq!(
            self.a.session(sa).map(|s| s.state()),
            Some(SessionState::Established)
        );
        assert_eq!(
            self.b.session(inc.session).map(|s| s.state()),
            Some(SessionState::Established)
        );
        Self::events(&mut self.a);
        Self::events(&mut self.b);
        (sa, inc.session)
    }
}

fn msg(s: &str) -> Message {
    parse(Bytes::from(s.to_owned())).expect("test message parses")
}

fn request(
    method: &str,
    branch: &str,
    to_tag: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> Message {
    let a: SocketAddr = addr(0);
    msg(&format!(
        "{method} sip:b@{b} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
         From: <sip:a@{a}>;tag=ta\r\nTo: <sip:b@{b}>{to_tag}\r\nCall-ID: hand@{a}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:a@{a}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len(),
        b = addr(1)
    ))
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// RFC 3261 §12.2.2: a request whose dialog does not exist gets 481 — with a To tag no
/// dialog knows, or a BYE/INFO without one.
#[test]
fn requests_for_no_dialog_get_481() {
    let mut p = Pair::new();
    let r = p.send_b(request("BYE", "1", ";tag=nope", 2, "", ""));
    assert_eq!(r[0].status_code(), Some(481));
    let r = p.send_b(request("INFO", "2", "", 2, "", ""));
    assert_eq!(r[0].status_code(), Some(481));
    let r = p.send_b(request("INVITE", "3", ";tag=gone", 2, "", ""));
    assert_eq!(r.last().and_then(Message::status_code), Some(481));
    assert_eq!(p.b.stats().unknown_dialog, 3);
    // After a call ends, its dialog is gone too.
    let (sa, _) = p.established();
    p.a.hangup(p.now, sa, None).expect("hangup");
    p.carry();
    let (call_id, from, to) = {
        let bye = p.got[1]
            .iter()
            .rev()
            .find(|m| m.method() == Some("BYE"))
            .expect("BYE");
        (
            bye.call_id().unwrap_or("").to_owned(),
            bye.header("From").map(|h| h.value().to_owned()),
            bye.header("To").map(|h| h.value().to_owned()),
        )
    };
    let late = msg(&format!(
        "INFO sip:b@{b} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKlate\r\nFrom: {}\r\nTo: {}\r\n\
         Call-ID: {call_id}\r\nCSeq: 99 INFO\r\nContent-Length: 0\r\n\r\n",
        from.unwrap_or_default(),
        to.unwrap_or_default(),
        a = addr(0),
        b = addr(1)
    ));
    let r = p.send_b(late);
    assert_eq!(r[0].status_code(), Some(481));
}

/// RFC 3261 §12.2.2: a request with a CSeq below the last one is answered 500.
#[test]
fn out_of_order_cseq_gets_500() {
    let mut p = Pair::new();
    let (sa, sb) = p.established();
    // a sends two INFOs; they arrive in the wrong order.
    let d =
        p.a.session(sa)
            .and_then(|s| s.dialog())
            .cloned()
            .expect("dialog");
    let mut d2 = d.clone();
    let first = d2
        .build_request(
            "INFO",
            &format!("SIP/2.0/UDP {};branch=z9hG4bKo1", addr(0)),
            &[] as &[(&str, &str)],
            None,
        )
        .expect("INFO");
    let second = d2
        .build_request(
            "INFO",
            &format!("SIP/2.0/UDP {};branch=z9hG4bKo2", addr(0)),
            &[] as &[(&str, &str)],
            None,
        )
        .expect("INFO");
    assert_eq!(
        second.cseq().map(|c| c.seq),
        first.cseq().map(|c| c.seq).map(|s| s + 1)
    );
    let r = p.send_b(second);
    assert_eq!(r[0].status_code(), Some(200));
    let r = p.send_b(first);
    assert_eq!(r[0].status_code(), Some(500));
    assert_eq!(p.b.stats().out_of_order, 1);
    // The call goes on.
    assert_eq!(
        p.b.session(sb).map(|s| s.state()),
        Some(SessionState::Established)
    );
}

/// An INVITE without SDP: our 2xx carries the offer, the ACK the answer (RFC 3264 §4).
#[test]
fn delayed_offer_is_answered_in_the_ack() {
    let mut p = Pair::new();
    let r = p.send_b(request("INVITE", "d1", "", 1, "", ""));
    assert!(r.is_empty());
    let Some(DialogEvent::Incoming(inc)) = p.b.poll_event() else {
        panic!()
    };
    assert!(inc.offer.is_none());
    p.b.answer(p.now, inc.session, caps(1), &[])
        .expect("answer");
    let ok = parse(p.b.poll_transmit().expect("200").bytes).expect("parses");
    assert_eq!(ok.status_code(), Some(200));
    assert!(ok.body().starts_with(b"v=0"));
    assert_eq!(
        ok.header("Contact").map(|h| h.value().to_owned()),
        Some(format!("<sip:freya@{}>", addr(1)))
    );
    let tag = ok.to().and_then(|t| t.tag()).expect("tag").to_owned();
    let ack = request(
        "ACK",
        "d2",
        &format!(";tag={tag}"),
        1,
        "Content-Type: application/sdp\r\n",
        SDP,
    );
    assert!(p.send_b(ack).is_empty());
    let ev = Pair::events(&mut p.b);
    assert!(
        matches!(ev.as_slice(), [DialogEvent::Confirmed { .. }]),
        "{ev:?}"
    );
    let n =
        p.b.session(inc.session)
            .and_then(|s| s.negotiated())
            .cloned()
            .expect("negotiated");
    assert_eq!(n.remote_rtp.port(), 4000);
}

/// Extensions we do not support are refused with 420 and Unsupported (RFC 3261 §8.2.2.3);
/// a body we cannot read with 415; broken SDP with 400.
#[test]
fn refused_invites() {
    let mut p = Pair::new();
    let r = p.send_b(request(
        "INVITE",
        "r1",
        "",
        1,
        "Require: 100rel, timer\r\n",
        "",
    ));
    assert_eq!(r[0].status_code(), Some(420));
    assert_eq!(
        r[0].header("Unsupported").map(|h| h.value()),
        Some("100rel")
    );
    let r = p.send_b(request(
        "INVITE",
        "r2",
        "",
        1,
        "Content-Type: text/html\r\n",
        "<p>",
    ));
    assert_eq!(r[0].status_code(), Some(415));
    let r = p.send_b(request(
        "INVITE",
        "r3",
        "",
        1,
        "Content-Type: application/sdp\r\n",
        "v=1\r\n",
    ));
    assert_eq!(r[0].status_code(), Some(400));
    assert!(r[0].header("Warning").is_some());
    assert_eq!(p.b.stats().refused, 3);
    assert!(p.b.poll_event().is_none());
    // The same INVITE again by another path (another branch): 482 (RFC 3261 §8.2.2.2).
    assert!(p.send_b(request("INVITE", "m1", "", 1, "", "")).is_empty());
    assert!(matches!(p.b.poll_event(), Some(DialogEvent::Incoming(_))));
    let r = p.send_b(request("INVITE", "m2", "", 1, "", ""));
    assert_eq!(r[0].status_code(), Some(482));
    assert_eq!(p.b.stats().refused, 4);
}

/// An SDP offer with no codec in common: `answer` rejects with 488 and a Warning.
#[test]
fn answer_without_common_codec_is_488() {
    let mut p = Pair::new();
    let g729 = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
    p.send_b(request(
        "INVITE",
        "g1",
        "",
        1,
        "Content-Type: application/sdp\r\n",
        g729,
    ));
    let Some(DialogEvent::Incoming(inc)) = p.b.poll_event() else {
        panic!()
    };
    let e = p.b.answer(p.now, inc.session, caps(1), &[]).unwrap_err();
    assert!(
        matches!(e, crate::dialog::DialogError::Negotiation(_)),
        "{e}"
    );
    let r = parse(p.b.poll_transmit().expect("488").bytes).expect("parses");
    assert_eq!(r.status_code(), Some(488));
    assert!(r
        .header("Warning")
        .is_some_and(|w| w.value().starts_with("305 ")));
    let Some(DialogEvent::Ended { end, .. }) = p.b.poll_event() else {
        panic!()
    };
    assert_eq!((end.kind, end.status), (EndKind::MediaFailed, 488));
}

/// Out-of-dialog requests other than INVITE are handed over and answered by the user.
#[test]
fn out_of_dialog_options_is_handed_over() {
    let mut p = Pair::new();
    assert!(p.send_b(request("OPTIONS", "o1", "", 1, "", "")).is_empty());
    let Some(DialogEvent::Request(r)) = p.b.poll_event() else {
        panic!()
    };
    assert!(r.session.is_none());
    p.b.respond(
        p.now,
        &r.key,
        200,
        "OK",
        &[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")],
        None,
    )
    .expect("respond");
    let ok = parse(p.b.poll_transmit().expect("200").bytes).expect("parses");
    assert_eq!(ok.status_code(), Some(200));
    assert!(ok.to().and_then(|t| t.tag()).is_some());
    assert!(p
        .b
        .respond(p.now, &r.key, 200, "OK", &[("Bad Name", "x")], None)
        .is_err());
}

/// In-dialog OPTIONS is answered by the layer with what we support.
#[test]
fn in_dialog_options() {
    let mut p = Pair::new();
    let (sa, _) = p.established();
    p.a.send_request(p.now, sa, "OPTIONS", &[], None)
        .expect("OPTIONS");
    p.carry();
    let ok = p.got[0]
        .iter()
        .rev()
        .find(|m| m.status_code().is_some())
        .expect("response");
    assert_eq!(ok.status_code(), Some(200));
    assert!(ok
        .header("Allow")
        .is_some_and(|h| h.value().contains("INFO")));
    let ev = Pair::events(&mut p.a);
    assert!(
        matches!(
            ev.as_slice(),
            [DialogEvent::RequestCompleted { status: 200, .. }]
        ),
        "{ev:?}"
    );
    assert!(p.a.send_request(p.now, sa, "BYE", &[], None).is_err());
    assert!(p
        .a
        .send_request(p.now, sa, "BAD METHOD", &[], None)
        .is_err());
}

/// The INVITE carries the extra headers byte-exact and refuses non-token names.
#[test]
fn invite_headers() {
    let mut p = Pair::new();
    let call = OutgoingCall::new(
        "sip:b@192.0.2.2:5060",
        "\"Fréya\" <sip:a@192.0.2.1>",
        Remote::udp(addr(1)),
        caps(0),
    )
    .header("X-Freya-Workflow-Id", "wf-42 é")
    .header("X-Freya-Call-Id", "5b1e");
    p.a.invite(p.now, call).expect("invite");
    let inv = parse(p.a.poll_transmit().expect("INVITE").bytes).expect("parses");
    let text = String::from_utf8_lossy(inv.as_bytes()).into_owned();
    assert!(
        text.contains("\r\nX-Freya-Workflow-Id: wf-42 é\r\nX-Freya-Call-Id: 5b1e\r\n"),
        "{text}"
    );
    assert!(inv
        .header("Supported")
        .is_some_and(|h| h.value() == "timer"));
    assert_eq!(inv.content_type(), Some("application/sdp"));
    assert!(inv.from().and_then(|f| f.tag()).is_some());
    let bad = OutgoingCall::new(
        "sip:b@192.0.2.2",
        "<sip:a@192.0.2.1>",
        Remote::udp(addr(1)),
        caps(0),
    )
    .header("X-Ünicode", "1");
    assert!(matches!(
        p.a.invite(p.now, bad),
        Err(crate::dialog::DialogError::InvalidHeader { .. })
    ));
    let bad = OutgoingCall::new(
        "not a uri",
        "<sip:a@192.0.2.1>",
        Remote::udp(addr(1)),
        caps(0),
    );
    assert!(matches!(
        p.a.invite(p.now, bad),
        Err(crate::dialog::DialogError::InvalidUri { .. })
    ));
}

/// 183 with early media, then 200 with the same answer.
#[test]
fn early_media_then_answer() {
    let mut p = Pair::new();
    let call = OutgoingCall::new(
        format!("sip:b@{}", addr(1)),
        format!("<sip:a@{}>", addr(0)),
        Remote::udp(addr(1)),
        caps(0),
    );
    let sa = p.a.invite(p.now, call).expect("invite");
    p.carry();
    let Some(DialogEvent::Incoming(inc)) = p.b.poll_event() else {
        panic!()
    };
    p.b.progress(p.now, inc.session, caps(1), &[]).expect("183");
    p.carry();
    let ev = Pair::events(&mut p.a);
    let early = ev.iter().find_map(|e| match e {
        DialogEvent::Progress {
            status: 183,
            early_media,
            ..
        } => early_media.clone(),
        _ => None,
    });
    assert_eq!(early.map(|n| n.remote_rtp.port()), Some(10002));
    assert_eq!(p.a.session(sa).map(|s| s.early_dialogs().len()), Some(1));
    p.b.answer(p.now, inc.session, caps(1), &[]).expect("200");
    p.carry();
    let sdp183 = p.got[0]
        .iter()
        .find(|m| m.status_code() == Some(183))
        .map(|m| m.body().to_vec());
    let sdp200 = p.got[0]
        .iter()
        .find(|m| m.status_code() == Some(200))
        .map(|m| m.body().to_vec());
    assert_eq!(sdp183, sdp200);
    assert!(matches!(
        Pair::events(&mut p.a).as_slice(),
        [DialogEvent::Answered { .. }]
    ));
}

/// An early BYE from the caller ends the INVITE with 487 (RFC 3261 §15.1.2).
#[test]
fn bye_on_the_early_dialog() {
    let mut p = Pair::new();
    let r = p.send_b(request("INVITE", "e1", "", 1, "", ""));
    assert!(r.is_empty());
    let Some(DialogEvent::Incoming(inc)) = p.b.poll_event() else {
        panic!()
    };
    p.b.ring(p.now, inc.session, &[]).expect("ring");
    let ringing = parse(p.b.poll_transmit().expect("180").bytes).expect("parses");
    let tag = ringing.to().and_then(|t| t.tag()).expect("tag").to_owned();
    let r = p.send_b(request("BYE", "e2", &format!(";tag={tag}"), 2, "", ""));
    let statuses: Vec<_> = r.iter().filter_map(Message::status_code).collect();
    assert_eq!(statuses, [200, 487]);
    let Some(DialogEvent::Ended { end, .. }) = p.b.poll_event() else {
        panic!()
    };
    assert_eq!((end.kind, end.status), (EndKind::Cancelled, 487));
}

/// A re-INVITE with a new Contact moves the remote target (RFC 3261 §12.2.2): the next
/// request goes to the new address.
#[test]
fn reinvite_refreshes_the_remote_target() {
    let mut p = Pair::new();
    let (sa, sb) = p.established();
    let mut d =
        p.a.session(sa)
            .and_then(|s| s.dialog())
            .cloned()
            .expect("dialog");
    let reinvite = d
        .build_request(
            "INVITE",
            &format!("SIP/2.0/UDP {};branch=z9hG4bKmove", addr(0)),
            &[("Contact", "<sip:a@192.0.2.77:5080>")],
            Some(("application/sdp", SDP.as_bytes())),
        )
        .expect("re-INVITE");
    let r = p.send_b(reinvite);
    assert_eq!(r[0].status_code(), Some(200));
    let ev = Pair::events(&mut p.b);
    assert!(
        ev.iter()
            .any(|e| matches!(e, DialogEvent::MediaUpdated { .. })),
        "{ev:?}"
    );
    assert_eq!(
        p.b.session(sb)
            .and_then(|s| s.dialog())
            .map(|d| d.remote_target().to_owned()),
        Some("sip:a@192.0.2.77:5080".to_owned())
    );
    p.b.hangup(p.now, sb, None).expect("hangup");
    let bye = p.b.poll_transmit().expect("BYE");
    assert_eq!(bye.remote.addr, "192.0.2.77:5080".parse().expect("addr"));
    let bye = parse(bye.bytes).expect("parses");
    assert_eq!(bye.request_uri(), Some("sip:a@192.0.2.77:5080"));
    assert_eq!(
        bye.header("Reason").map(|h| h.value()),
        Some("Q.850;cause=16;text=\"Normal call clearing\"")
    );
}

/// Every message of a call, damaged in many ways (a header removed, odd CSeq, tags,
/// bodies, session-timer values), fed to both sides of a live call and then to fresh
/// layers: nothing panics, and the timers run out cleanly.
#[test]
fn damaged_messages_never_panic() {
    let mut p = Pair::new();
    let (sa, _) = p.established();
    p.a.hold(p.now, sa).expect("hold");
    p.carry();
    p.a.send_dtmf(p.now, sa, crate::dialog::Dtmf::new('1', 100))
        .expect("dtmf");
    p.carry();
    p.a.hangup(p.now, sa, None).expect("bye");
    p.carry();
    let seen: Vec<(usize, Message)> = p.got[0]
        .iter()
        .map(|m| (0, m.clone()))
        .chain(p.got[1].iter().map(|m| (1, m.clone())))
        .collect();
    let mut variants = Vec::new();
    for (to, m) in &seen {
        for i in 0..m.header_count() {
            let mut e = m.edit();
            if e.remove_header_at(i).is_ok() {
                if let Ok(v) = e.finish() {
                    variants.push((*to, v));
                }
            }
        }
        for (name, value) in [
            ("CSeq", "0 INVITE"),
            ("CSeq", "4294967295 BYE"),
            ("To", "<sip:x@y>;tag="),
            ("From", "<sip:x@y>"),
            ("Session-Expires", "0;refresher=uas"),
            ("Session-Expires", "4294967295"),
            ("Min-SE", "x"),
            ("Require", "timer, 100rel"),
            ("Contact", "*"),
            ("Content-Type", "multipart/mixed;boundary=zz"),
            ("Content-Type", "application/dtmf-relay"),
            ("Record-Route", "<sip:[::1]:1;lr>"),
            ("Reason", "Q.850;cause=99999"),
        ] {
            let mut e = m.edit();
            if e.set_header(name, value).is_ok() {
                if let Ok(v) = e.finish() {
                    variants.push((*to, v));
                }
            }
        }
        for body in [
            &b"v=0\r\n"[..],
            b"--zz\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--zz--",
            b"Signal=\xff",
            b"",
        ] {
            let mut e = m.edit();
            if e.set_body(Bytes::copy_from_slice(body), Some("application/sdp"))
                .is_ok()
            {
                if let Ok(v) = e.finish() {
                    variants.push((*to, v));
                }
            }
        }
    }
    assert!(variants.len() > 200, "{}", variants.len());
    let feed = |a: &mut DialogLayer, b: &mut DialogLayer, now: Instant| {
        for (to, v) in &variants {
            let (layer, from) = if *to == 0 {
                (&mut *a, addr(1))
            } else {
                (&mut *b, addr(0))
            };
            layer.handle_message(now, v.clone(), Remote::udp(from));
            while layer.poll_transmit().is_some() {}
            while let Some(e) = layer.poll_event() {
                if let DialogEvent::Incoming(c) = e {
                    let _ = layer.answer(now, c.session, caps(*to), &[]);
                }
            }
        }
    };
    feed(&mut p.a, &mut p.b, p.now);
    let mut fresh_a = DialogLayer::with_seed(config(0), 9).expect("config");
    let mut fresh_b = DialogLayer::with_seed(config(1), 10).expect("config");
    feed(&mut fresh_a, &mut fresh_b, p.now);
    for l in [&mut p.a, &mut p.b, &mut fresh_a, &mut fresh_b] {
        let mut now = p.now;
        while let Some(t) = l.poll_timeout() {
            now = now.max(t);
            l.handle_timeout(now);
            while l.poll_transmit().is_some() {}
            while l.poll_event().is_some() {}
            if now > p.now + secs(3600) {
                break;
            }
        }
        assert!(l.sessions().all(|s| s.state() != SessionState::Calling));
    }
}
