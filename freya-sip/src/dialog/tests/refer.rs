//! Blind transfer by REFER (RFC 3515, RFC 5589 §6.1) between two layers wired back to back:
//! a (the transferor) sends REFER, b (standing in for the transferee) answers it and
//! reports its INVITE to the target in NOTIFYs with sipfrag bodies.

use super::direct::Pair;
use crate::dialog::{DialogError, DialogEvent, ReferProgress, SessionId};
use crate::message::Message;

/// b's NOTIFY in the dialog, with `event`, `state`, and a body of `content_type`.
fn notify(p: &mut Pair, sb: SessionId, event: &str, state: &str, body: Option<(&str, &str)>) {
    p.b.send_request(
        p.now,
        sb,
        "NOTIFY",
        &[("Event", event), ("Subscription-State", state)],
        body.map(|(t, b)| (t, b.as_bytes())),
    )
    .expect("NOTIFY sent");
    p.carry();
}

/// The status of a's answer to b's last NOTIFY.
fn last_notify_answer(p: &Pair) -> Option<&Message> {
    p.got[1]
        .iter()
        .rev()
        .find(|m| !m.is_request() && m.cseq().is_some_and(|c| c.method == "NOTIFY"))
}

/// The REFER b's layer handed to its user.
fn handed_refer(p: &mut Pair) -> crate::dialog::IncomingRequest {
    Pair::events(&mut p.b)
        .into_iter()
        .find_map(|e| match e {
            DialogEvent::Request(r) if r.request.method() == Some("REFER") => Some(r),
            _ => None,
        })
        .expect("REFER handed to b's user")
}

fn progress(events: &[DialogEvent]) -> Vec<ReferProgress> {
    events
        .iter()
        .filter_map(|e| match e {
            DialogEvent::ReferNotify { progress, .. } => Some(progress.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn refer_then_notifies_report_the_transferees_invite() {
    let mut p = Pair::new();
    let (sa, sb) = p.established();
    let key =
        p.a.refer(p.now, sa, "sip:+14155550199@carrier.example")
            .expect("REFER");
    assert_eq!(key.method(), "REFER");
    p.carry();
    // What b got: REFER with Refer-To and Referred-By (a's address, no tag).
    let refer = p.got[1]
        .iter()
        .find(|m| m.method() == Some("REFER"))
        .expect("REFER sent")
        .clone();
    assert_eq!(
        refer.header("Refer-To").map(|h| h.value().to_owned()),
        Some("<sip:+14155550199@carrier.example>".to_owned())
    );
    let by = refer
        .header("Referred-By")
        .expect("Referred-By")
        .value()
        .to_owned();
    assert!(by.starts_with("<sip:a@") && !by.contains("tag="), "{by}");
    // b's user accepts it: 202.
    let r = handed_refer(&mut p);
    assert_eq!(r.session, Some(sb));
    p.b.respond(p.now, &r.key, 202, "Accepted", &[], None)
        .expect("202");
    p.carry();
    let events = Pair::events(&mut p.a);
    assert!(
        events.iter().any(
            |e| matches!(e, DialogEvent::RequestCompleted { key: k, status: 202, .. } if k == &key)
        ),
        "{events:?}"
    );
    // NOTIFYs: 100 Trying, 180 Ringing, then 200 OK with the subscription ended.
    notify(
        &mut p,
        sb,
        "refer",
        "active;expires=60",
        Some(("message/sipfrag", "SIP/2.0 100 Trying\r\n")),
    );
    notify(
        &mut p,
        sb,
        "refer",
        "active;expires=60",
        Some(("message/sipfrag;version=2.0", "SIP/2.0 180 Ringing\r\n")),
    );
    notify(
        &mut p,
        sb,
        "refer",
        "terminated;reason=noresource",
        Some(("message/sipfrag", "SIP/2.0 200 OK\r\n")),
    );
    assert_eq!(
        last_notify_answer(&p).and_then(Message::status_code),
        Some(200)
    );
    let got = progress(&Pair::events(&mut p.a));
    assert_eq!(
        got.iter()
            .map(|g| (g.status, g.terminated))
            .collect::<Vec<_>>(),
        vec![(Some(100), false), (Some(180), false), (Some(200), true)]
    );
    assert!(got[2].succeeded());
    // The subscription is over: a further NOTIFY matches nothing.
    notify(
        &mut p,
        sb,
        "refer",
        "active",
        Some(("message/sipfrag", "SIP/2.0 200 OK")),
    );
    assert_eq!(
        last_notify_answer(&p).and_then(Message::status_code),
        Some(481)
    );
    assert_eq!(p.a.stats().notify_refused, 1);
    // The call itself is still up: hanging it up is the transferor's choice.
    p.a.hangup(p.now, sa, None).expect("BYE after the transfer");
    p.carry();
}

#[test]
fn a_refused_refer_creates_no_subscription() {
    let mut p = Pair::new();
    let (sa, sb) = p.established();
    let key = p.a.refer(p.now, sa, "tel:+14155550199").expect("REFER");
    p.carry();
    let r = handed_refer(&mut p);
    p.b.respond(p.now, &r.key, 603, "Decline", &[], None)
        .expect("603");
    p.carry();
    let events = Pair::events(&mut p.a);
    assert!(
        events.iter().any(
            |e| matches!(e, DialogEvent::RequestCompleted { key: k, status: 603, .. } if k == &key)
        ),
        "{events:?}"
    );
    notify(
        &mut p,
        sb,
        "refer",
        "terminated",
        Some(("message/sipfrag", "SIP/2.0 503 Service Unavailable")),
    );
    assert_eq!(
        last_notify_answer(&p).and_then(Message::status_code),
        Some(481)
    );
}

#[test]
fn notifies_that_are_not_ours_are_refused_with_a_reason() {
    let mut p = Pair::new();
    let (sa, sb) = p.established();
    // No REFER yet.
    notify(
        &mut p,
        sb,
        "refer",
        "active",
        Some(("message/sipfrag", "SIP/2.0 100 Trying")),
    );
    assert_eq!(
        last_notify_answer(&p).and_then(Message::status_code),
        Some(481)
    );
    p.a.refer(p.now, sa, "sip:desk@192.0.2.9").expect("REFER");
    p.carry();
    let r = handed_refer(&mut p);
    p.b.respond(p.now, &r.key, 202, "Accepted", &[], None)
        .expect("202");
    p.carry();
    notify(
        &mut p,
        sb,
        "presence",
        "active",
        Some(("application/pidf+xml", "<x/>")),
    );
    let a = last_notify_answer(&p).expect("answered");
    assert_eq!(a.status_code(), Some(489));
    assert_eq!(a.header("Allow-Events").map(|h| h.value()), Some("refer"));
    notify(
        &mut p,
        sb,
        "refer",
        "active",
        Some(("text/plain", "SIP/2.0 100 Trying")),
    );
    let a = last_notify_answer(&p).expect("answered");
    assert_eq!(a.status_code(), Some(415));
    assert_eq!(
        a.header("Accept").map(|h| h.value()),
        Some("message/sipfrag")
    );
    notify(
        &mut p,
        sb,
        "refer",
        "active",
        Some(("message/sipfrag", "garbage")),
    );
    let a = last_notify_answer(&p).expect("answered");
    assert_eq!(a.status_code(), Some(400));
    assert!(a
        .header("Warning")
        .is_some_and(|h| h.value().contains("garbage")));
    assert_eq!(p.a.stats().notify_refused, 4);
    // None of them was reported; the subscription is still there for a good one.
    assert!(progress(&Pair::events(&mut p.a)).is_empty());
    notify(
        &mut p,
        sb,
        "refer",
        "terminated",
        Some(("message/sipfrag", "SIP/2.0 486 Busy Here")),
    );
    let got = progress(&Pair::events(&mut p.a));
    assert_eq!(got.len(), 1);
    assert!(got[0].failed());
}

#[test]
fn refer_is_refused_before_the_answer_and_for_a_bad_target() {
    let mut p = Pair::new();
    let (sa, _) = p.established();
    for bad in ["mailto:x@y", "sip:", "not a uri", "sip:a@b>\r\nX: y"] {
        let e = p.a.refer(p.now, sa, bad).unwrap_err();
        assert!(
            matches!(
                e,
                DialogError::InvalidUri { .. } | DialogError::InvalidHeader { .. }
            ),
            "{bad}: {e}"
        );
    }
    let mut p = Pair::new();
    let call = crate::dialog::OutgoingCall::new(
        format!("sip:b@{}", super::netem::addr(1)),
        format!("<sip:a@{}>", super::netem::addr(0)),
        crate::transaction::Remote::udp(super::netem::addr(1)),
        super::netem::caps(0),
    );
    let sa = p.a.invite(p.now, call).expect("invite");
    let e = p.a.refer(p.now, sa, "sip:x@y").unwrap_err();
    assert!(matches!(e, DialogError::InvalidState { .. }), "{e}");
}
