//! The TransactionLayer: dispatch, CANCEL on both sides, RFC 2543 ACK, aggregated timers.

use std::net::SocketAddr;

use super::*;
use crate::transaction::{
    ClientInviteState, Dispatch, LayerEvent, Remote, ServerInviteState, TimerConfig, Transaction,
    TransactionError, TransactionEvent, TransactionKey, TransactionLayer,
};

fn layer() -> TransactionLayer {
    TransactionLayer::new(TimerConfig::default()).unwrap()
}

fn peer() -> Remote {
    Remote::udp("192.0.2.1:5060".parse::<SocketAddr>().unwrap())
}

fn events(l: &mut TransactionLayer) -> Vec<(TransactionKey, String)> {
    drain(|| l.poll_event())
        .into_iter()
        .map(|LayerEvent { key, event }| (key, ev_name(&event)))
        .collect()
}

fn sent(l: &mut TransactionLayer) -> Vec<crate::transaction::Outbound> {
    drain(|| l.poll_transmit())
}

fn new_request(d: Dispatch) -> TransactionKey {
    match d {
        Dispatch::NewRequest { key, .. } => key,
        other => panic!("expected NewRequest, got {other:?}"),
    }
}

#[test]
fn new_request_then_retransmission_absorbed_then_answered() {
    let mut l = layer();
    let opt = request("OPTIONS", "z9hG4bKl1", "UDP", 1);
    let key = new_request(l.handle_message(at(0), opt.clone(), peer()));
    assert_eq!(l.len(), 1);
    assert!(
        matches!(l.handle_message(at(500), opt.clone(), peer()), Dispatch::Matched(k) if k == key)
    );
    assert!(sent(&mut l).is_empty(), "absorbed in Trying");
    l.respond_with(
        at(600),
        &key,
        200,
        "OK",
        &[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")],
    )
    .unwrap();
    let out = sent(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].remote,
        peer(),
        "answered to where the request came from"
    );
    assert_eq!(out[0].key, key);
    let resp = parse(out[0].transmit.bytes.clone()).unwrap();
    assert_eq!(
        resp.header("Allow").unwrap().value(),
        "INVITE, ACK, BYE, CANCEL, OPTIONS"
    );
    l.handle_message(at(700), opt, peer());
    assert!(sent(&mut l)[0].transmit.retransmission);
    assert_eq!(l.poll_timeout(), Some(at(600 + 32_000)), "Timer J");
    l.handle_timeout(at(32_600));
    assert!(l.is_empty());
    assert_eq!(events(&mut l), [(key, "terminated".into())]);
    let s = l.stats();
    assert_eq!(
        (s.created, s.terminated, s.matched, s.retransmissions),
        (1, 1, 2, 1)
    );
}

#[test]
fn stray_responses_and_invalid_messages_are_counted_not_lost() {
    let mut l = layer();
    let stray = response(&invite("z9hG4bKnobody", "UDP"), 200);
    assert!(matches!(
        l.handle_message(at(0), stray, peer()),
        Dispatch::StrayResponse(_)
    ));
    let bad = msg(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a>;tag=1\r\nTo: <sip:b>\r\n\
                   Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(matches!(
        l.handle_message(at(0), bad, peer()),
        Dispatch::Invalid {
            error: TransactionError::MissingBranch,
            ..
        }
    ));
    let s = l.stats();
    assert_eq!((s.stray_responses, s.invalid), (1, 1));
    assert!(l.is_empty());
}

#[test]
fn ack_for_2xx_goes_to_the_tu() {
    let mut l = layer();
    let inv = invite("z9hG4bKl2", "UDP");
    let key = new_request(l.handle_message(at(0), inv, peer()));
    l.respond_with(at(10), &key, 200, "OK", &[]).unwrap();
    // RFC 3261 2xx ACK: a new branch, so no transaction matches it.
    let ack = request("ACK", "z9hG4bKnewbranch", "UDP", 1);
    assert!(matches!(
        l.handle_message(at(20), ack, peer()),
        Dispatch::Ack(_)
    ));
    assert_eq!(l.stats().unmatched_acks, 1);
    // The same-branch ACK some peers send is passed by the Accepted transaction.
    let ack = request("ACK", "z9hG4bKl2", "UDP", 1);
    assert!(matches!(
        l.handle_message(at(30), ack, peer()),
        Dispatch::Matched(_)
    ));
    let ev = events(&mut l);
    assert_eq!(ev.last().unwrap().1, "ack");
}

#[test]
fn cancel_matched_gets_200_and_the_invite_is_told_then_487_and_ack() {
    let mut l = layer();
    let inv = invite("z9hG4bKl3", "UDP");
    let ikey = new_request(l.handle_message(at(0), inv, peer()));
    l.respond_with(at(10), &ikey, 180, "Ringing", &[]).unwrap();
    sent(&mut l);
    let cancel = request("CANCEL", "z9hG4bKl3", "UDP", 1);
    let d = l.handle_message(at(1000), cancel.clone(), peer());
    let Dispatch::Cancel {
        cancel: ckey,
        invite: Some(found),
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!(found, ikey);
    let out = sent(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key, ckey);
    let ok = parse(out[0].transmit.bytes.clone()).unwrap();
    assert_eq!(
        (ok.status_code(), ok.cseq().unwrap().method),
        (Some(200), "CANCEL")
    );
    assert_eq!(events(&mut l), [(ikey.clone(), "cancelled".into())]);
    // A retransmitted CANCEL gets the 200 again from its own transaction.
    assert!(
        matches!(l.handle_message(at(1500), cancel, peer()), Dispatch::Matched(k) if k == ckey)
    );
    assert!(sent(&mut l)[0].transmit.retransmission);
    // The TU answers 487; the client's ACK completes the INVITE transaction.
    l.respond_with(at(1010), &ikey, 487, "Request Terminated", &[])
        .unwrap();
    let out = sent(&mut l);
    assert_eq!(status_of(&out[0].transmit), Some(487));
    // §9.2: the 200 to the CANCEL and the 487 carry the same To tag.
    let r487 = parse(out[0].transmit.bytes.clone()).unwrap();
    assert_eq!(r487.to().unwrap().tag(), ok.to().unwrap().tag());
    let ack = request("ACK", "z9hG4bKl3", "UDP", 1);
    assert!(matches!(
        l.handle_message(at(1100), ack, peer()),
        Dispatch::Matched(_)
    ));
    let Some(Transaction::ServerInvite(t)) = l.get(&ikey) else {
        panic!()
    };
    assert_eq!(t.state(), ServerInviteState::Confirmed);
}

#[test]
fn cancel_without_invite_gets_481() {
    let mut l = layer();
    let cancel = request("CANCEL", "z9hG4bKlost", "UDP", 1);
    let d = l.handle_message(at(0), cancel, peer());
    assert!(matches!(d, Dispatch::Cancel { invite: None, .. }));
    assert_eq!(status_of(&sent(&mut l)[0].transmit), Some(481));
    assert_eq!(l.stats().unmatched_cancels, 1);
}

#[test]
fn cancel_after_final_response_races() {
    let mut l = layer();
    let ikey = new_request(l.handle_message(at(0), invite("z9hG4bKl4", "UDP"), peer()));
    l.respond_with(at(10), &ikey, 200, "OK", &[]).unwrap();
    sent(&mut l);
    events(&mut l);
    // CANCEL crosses our 200: matched (Accepted), answered 200, no effect on the INVITE.
    let cancel = request("CANCEL", "z9hG4bKl4", "UDP", 1);
    let d = l.handle_message(at(20), cancel.clone(), peer());
    assert!(matches!(
        d,
        Dispatch::Cancel {
            invite: Some(_),
            ..
        }
    ));
    assert_eq!(status_of(&sent(&mut l)[0].transmit), Some(200));
    assert!(events(&mut l).is_empty(), "no Cancelled after a final");
    // After Timer L the INVITE transaction is gone: a late CANCEL (new branch
    // retransmission window over) gets 481.
    l.handle_timeout(at(40_000));
    assert!(l.get(&ikey).is_none());
    let late = request("CANCEL", "z9hG4bKl4", "UDP", 1);
    assert!(matches!(
        l.handle_message(at(40_001), late, peer()),
        Dispatch::Cancel { invite: None, .. }
    ));
    assert_eq!(status_of(&sent(&mut l)[0].transmit), Some(481));
}

fn client_invite(
    l: &mut TransactionLayer,
    branch: &str,
) -> (TransactionKey, crate::message::Message) {
    let inv = invite(branch, "UDP");
    let key = l.send_request(at(0), inv.clone(), peer()).unwrap();
    sent(l);
    (key, inv)
}

#[test]
fn client_cancel_waits_for_a_provisional_then_sends_a_proper_cancel() {
    let mut l = layer();
    let (ikey, inv) = client_invite(&mut l, "z9hG4bKc1");
    let ckey = l
        .cancel(at(100), &ikey, &[("Reason", "SIP;cause=487")])
        .unwrap();
    assert_eq!(ckey, ikey.with_method("CANCEL"));
    assert!(
        sent(&mut l).is_empty(),
        "§9.1: no CANCEL before a provisional"
    );
    assert_eq!(l.cancel(at(150), &ikey, &[]).unwrap(), ckey, "idempotent");
    l.handle_message(at(200), response(&inv, 180), peer());
    let out = sent(&mut l);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key, ckey);
    let c = parse(out[0].transmit.bytes.clone()).unwrap();
    assert_eq!(c.method(), Some("CANCEL"));
    assert_eq!(c.request_uri(), inv.request_uri());
    assert_eq!(c.top_via().unwrap().branch(), Some("z9hG4bKc1"));
    assert_eq!(c.vias().count(), 1);
    assert_eq!(c.cseq().unwrap().seq, inv.cseq().unwrap().seq);
    assert_eq!(c.to(), inv.to());
    assert_eq!(c.from(), inv.from());
    assert_eq!(c.call_id(), inv.call_id());
    assert_eq!(c.routes().count(), 2);
    assert!(c.header("Reason").is_some());
    // 200 to the CANCEL, 487 to the INVITE (which the transaction ACKs).
    l.handle_message(at(300), response(&c, 200), peer());
    l.handle_message(at(310), response(&inv, 487), peer());
    let out = sent(&mut l);
    assert_eq!(method_of(&out[0].transmit).as_deref(), Some("ACK"));
    let ev = events(&mut l);
    assert!(ev.contains(&(ckey.clone(), "final:200".into())));
    assert!(ev.contains(&(ikey.clone(), "final:487".into())));
    assert!(matches!(
        l.cancel(at(400), &ikey, &[]),
        Err(TransactionError::NotCancellable(_))
    ));
}

#[test]
fn client_cancel_never_sent_when_a_final_comes_first() {
    let mut l = layer();
    let (ikey, inv) = client_invite(&mut l, "z9hG4bKc2");
    let ckey = l.cancel(at(100), &ikey, &[]).unwrap();
    // CANCEL race: the 200 arrives before any provisional.
    l.handle_message(at(200), response(&inv, 200), peer());
    assert!(sent(&mut l).is_empty());
    let ev = events(&mut l);
    assert_eq!(
        ev,
        [
            (ikey.clone(), "final:200".into()),
            (ckey.clone(), "terminated".into())
        ]
    );
    assert!(l.get(&ckey).is_none());
    let Some(Transaction::ClientInvite(t)) = l.get(&ikey) else {
        panic!()
    };
    assert_eq!(t.state(), ClientInviteState::Accepted);
}

#[test]
fn client_cancel_crossing_a_200() {
    let mut l = layer();
    let (ikey, inv) = client_invite(&mut l, "z9hG4bKc3");
    l.handle_message(at(100), response(&inv, 180), peer());
    let ckey = l.cancel(at(200), &ikey, &[]).unwrap();
    let cancel = parse(sent(&mut l)[0].transmit.bytes.clone()).unwrap();
    // The UAS had already answered 200; then it answers the CANCEL 200 too.
    l.handle_message(at(250), response(&inv, 200), peer());
    l.handle_message(at(260), response(&cancel, 200), peer());
    let ev = events(&mut l);
    assert!(
        ev.contains(&(ikey.clone(), "final:200".into())),
        "the TU must ACK and BYE"
    );
    assert!(ev.contains(&(ckey, "final:200".into())));
    // The CancelWait timer is gone with the 2xx: Accepted lives until Timer M.
    let Some(Transaction::ClientInvite(t)) = l.get(&ikey) else {
        panic!()
    };
    assert_eq!(t.timer(crate::transaction::Timer::CancelWait), None);
}

#[test]
fn rfc2543_ack_matches_by_the_to_tag_we_sent() {
    let mut l = layer();
    let old = "SIP/2.0/UDP old.example:5060";
    let inv = msg(&format!(
        "INVITE sip:bob@b.example SIP/2.0\r\nVia: {old}\r\nFrom: <sip:a@old.example>;tag=f\r\n\
         To: <sip:bob@b.example>\r\nCall-ID: legacy\r\nCSeq: 9 INVITE\r\nContent-Length: 0\r\n\r\n"
    ));
    let key = new_request(l.handle_message(at(0), inv.clone(), peer()));
    assert!(key.is_rfc2543());
    l.handle_message(at(10), inv.clone(), peer()); // retransmission: matched
    assert_eq!(l.len(), 1);
    l.respond_with(at(20), &key, 486, "Busy Here", &[]).unwrap();
    let sent_resp = parse(sent(&mut l).pop().unwrap().transmit.bytes).unwrap();
    let tag = sent_resp.to().unwrap().tag().unwrap().to_owned();
    let ack_with = |t: &str| {
        msg(&format!(
            "ACK sip:bob@b.example SIP/2.0\r\nVia: {old}\r\nFrom: <sip:a@old.example>;tag=f\r\n\
             To: <sip:bob@b.example>;tag={t}\r\nCall-ID: legacy\r\nCSeq: 9 ACK\r\nContent-Length: 0\r\n\r\n"
        ))
    };
    // An ACK with another To tag is not ours.
    assert!(matches!(
        l.handle_message(at(30), ack_with("wrong"), peer()),
        Dispatch::Ack(_)
    ));
    assert!(
        matches!(l.handle_message(at(40), ack_with(&tag), peer()), Dispatch::Matched(k) if k == key)
    );
    let Some(Transaction::ServerInvite(t)) = l.get(&key) else {
        panic!()
    };
    assert_eq!(t.state(), ServerInviteState::Confirmed);
}

#[test]
fn poll_timeout_is_the_earliest_over_all_transactions_and_terminated_ones_go() {
    let mut l = layer();
    assert_eq!(l.poll_timeout(), None);
    let a = l
        .send_request(at(0), request("OPTIONS", "z9hG4bKt1", "UDP", 1), peer())
        .unwrap();
    let b = l
        .send_request(at(100), request("OPTIONS", "z9hG4bKt2", "UDP", 1), peer())
        .unwrap();
    assert_eq!(l.poll_timeout(), Some(at(500)));
    l.handle_timeout(at(500));
    assert_eq!(l.poll_timeout(), Some(at(600)));
    // Answer `a`: its Timer K (5 s) replaces its Timer E.
    let req_a = l.get(&a).unwrap().request().clone();
    l.handle_message(at(550), response(&req_a, 200), peer());
    l.handle_timeout(at(600));
    // Only b's E remains before a's K.
    let mut seen = vec![];
    while let Some(t) = l.poll_timeout() {
        l.handle_timeout(t);
        seen.push(t);
        if l.get(&a).is_none() {
            break;
        }
    }
    assert_eq!(*seen.last().unwrap(), at(5550), "a's Timer K");
    assert!(l.get(&b).is_some());
    while let Some(t) = l.poll_timeout() {
        l.handle_timeout(t);
    }
    assert!(l.is_empty());
    let ev = events(&mut l);
    assert!(ev.contains(&(b.clone(), "timeout:Timer F".into())));
    assert_eq!(l.stats().timeouts, 1);
}

#[test]
fn many_transactions_in_one_layer_all_end() {
    let mut l = layer();
    for i in 0..500u64 {
        let m = request("OPTIONS", &format!("z9hG4bKm{i}"), "UDP", 1);
        l.send_request(at(i * 7), m, peer()).unwrap();
    }
    for i in 0..200u64 {
        let m = request("MESSAGE", &format!("z9hG4bKs{i}"), "UDP", 1);
        let k = new_request(l.handle_message(at(i * 3), m, peer()));
        l.respond_with(at(i * 3 + 1), &k, 202, "Accepted", &[])
            .unwrap();
    }
    assert_eq!(l.len(), 700);
    let mut last = t0();
    while let Some(t) = l.poll_timeout() {
        assert!(t >= last, "deadlines never go backwards");
        last = t;
        l.handle_timeout(t);
    }
    assert!(l.is_empty());
    let s = l.stats();
    assert_eq!((s.created, s.terminated, s.timeouts), (700, 700, 500));
    assert_eq!(s.retransmissions, 500 * 10);
}

#[test]
fn errors_name_the_problem() {
    let mut l = layer();
    let (ikey, inv) = client_invite(&mut l, "z9hG4bKe1");
    assert!(matches!(
        l.send_request(at(1), inv, peer()),
        Err(TransactionError::Duplicate(k)) if k == ikey
    ));
    assert!(matches!(
        l.respond_with(at(1), &ikey, 200, "OK", &[]),
        Err(TransactionError::WrongKind { .. })
    ));
    let ghost = TransactionKey::client("z9hG4bKghost", "INVITE");
    assert_eq!(
        l.respond_with(at(1), &ghost, 200, "OK", &[])
            .unwrap_err()
            .to_string(),
        "no transaction client INVITE z9hg4bkghost"
    );
    assert_eq!(
        l.respond_with(at(1), &ikey, 99, "x", &[]),
        Err(TransactionError::InvalidStatus(99))
    );
    let skey = new_request(l.handle_message(at(0), request("BYE", "z9hG4bKe2", "UDP", 2), peer()));
    assert!(matches!(
        l.cancel(at(1), &skey, &[]),
        Err(TransactionError::WrongKind { .. })
    ));
    assert!(matches!(
        TransactionLayer::new(TimerConfig {
            t1: ms(0),
            ..TimerConfig::default()
        }),
        Err(TransactionError::InvalidConfig(_))
    ));
    assert!(matches!(
        TransactionLayer::new(TimerConfig {
            t2: ms(100),
            ..TimerConfig::default()
        }),
        Err(TransactionError::InvalidConfig(_))
    ));
}

#[test]
fn discard_ignores_a_request_and_transport_errors_end_transactions() {
    let mut l = layer();
    let key = new_request(l.handle_message(at(0), invite("z9hG4bKd1", "UDP"), peer()));
    assert!(l.discard(&key));
    assert!(!l.discard(&key));
    assert!(sent(&mut l).is_empty());
    assert_eq!(
        l.poll_timeout(),
        None,
        "no 100 Trying for a discarded INVITE"
    );
    let (ikey, _) = client_invite(&mut l, "z9hG4bKd2");
    l.handle_transport_error(at(5), &ikey).unwrap();
    assert_eq!(
        events(&mut l),
        [
            (ikey.clone(), "transport-error".into()),
            (ikey.clone(), "terminated".into())
        ]
    );
    assert!(l.is_empty());
    assert_eq!(l.stats().transport_errors, 1);
    assert!(l.handle_transport_error(at(6), &ikey).is_err());
}

#[test]
fn tcp_transactions_never_retransmit() {
    let mut l = layer();
    let tcp = Remote::tcp("192.0.2.1:5060".parse().unwrap());
    let inv = invite("z9hG4bKtcp", "TCP");
    let k = l.send_request(at(0), inv.clone(), tcp).unwrap();
    let srv = new_request(l.handle_message(at(0), request("BYE", "z9hG4bKtcp2", "TCP", 3), tcp));
    l.respond_with(at(1), &srv, 200, "OK", &[]).unwrap();
    assert!(l.get(&srv).is_none(), "Timer J is zero on TCP");
    l.handle_message(at(2), response(&inv, 180), tcp);
    l.handle_message(at(3), response(&inv, 486), tcp);
    assert!(l.get(&k).is_none(), "Timer D is zero on TCP");
    assert_eq!(l.poll_timeout(), None);
    assert_eq!(l.stats().retransmissions, 0);
    assert!(matches!(
        TransactionEvent::Terminated,
        TransactionEvent::Terminated
    ));
}
