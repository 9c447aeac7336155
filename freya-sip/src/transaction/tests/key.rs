//! §17.1.3 and §17.2.3 matching, and branch generation.

use std::collections::HashSet;

use super::*;
use crate::transaction::{BranchGenerator, Role, TransactionError, TransactionKey};

fn req_with(method: &str, via: &str, extra: &str) -> crate::message::Message {
    msg(&format!(
        "{method} sip:bob@b.example SIP/2.0\r\nVia: {via}\r\nFrom: <sip:alice@a.example>;tag=ft\r\n\
         {extra}Call-ID: cid\r\nCSeq: 4 {method}\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn server(m: &crate::message::Message) -> TransactionKey {
    TransactionKey::for_incoming_request(m).unwrap()
}

#[test]
fn responses_match_on_branch_and_cseq_method() {
    let inv = invite("z9hG4bKabc", "UDP");
    let k = TransactionKey::for_outgoing_request(&inv).unwrap();
    assert_eq!(k.role(), Role::Client);
    assert_eq!(
        TransactionKey::for_response(&response(&inv, 180)).unwrap(),
        k
    );
    // A CANCEL has the INVITE's branch but its responses carry CSeq CANCEL: distinct.
    let cancel = request("CANCEL", "z9hG4bKabc", "UDP", 1);
    let ck = TransactionKey::for_outgoing_request(&cancel).unwrap();
    assert_ne!(ck, k);
    assert_eq!(ck, k.with_method("CANCEL"));
    assert_eq!(
        TransactionKey::for_response(&response(&cancel, 200)).unwrap(),
        ck
    );
    // Another branch: another transaction.
    let other = response(&invite("z9hG4bKabd", "UDP"), 180);
    assert_ne!(TransactionKey::for_response(&other).unwrap(), k);
    // Branch compared case-insensitively (§7.3.1).
    let upper = response(&invite("Z9HG4BKABC", "UDP"), 180);
    assert_eq!(TransactionKey::for_response(&upper).unwrap(), k);
}

#[test]
fn client_and_server_keys_never_collide() {
    let inv = invite("z9hG4bKabc", "UDP");
    let c = TransactionKey::for_outgoing_request(&inv).unwrap();
    let s = server(&inv);
    assert_ne!(c, s);
    assert_eq!(s.role(), Role::Server);
}

#[test]
fn requests_match_on_branch_sent_by_and_method() {
    let a = req_with(
        "INVITE",
        "SIP/2.0/UDP host.example:5060;branch=z9hG4bK1",
        "To: <sip:bob@b.example>\r\n",
    );
    let same = req_with(
        "INVITE",
        "SIP/2.0/UDP HOST.example:5060 ;branch=z9hG4bK1;received=192.0.2.9",
        "To: <sip:bob@b.example>\r\n",
    );
    assert_eq!(server(&a), server(&same));
    // Same branch from another sent-by: another transaction (§17.2.3).
    let spoof = req_with(
        "INVITE",
        "SIP/2.0/UDP other.example:5060;branch=z9hG4bK1",
        "To: <sip:bob@b.example>\r\n",
    );
    assert_ne!(server(&a), server(&spoof));
    let port = req_with(
        "INVITE",
        "SIP/2.0/UDP host.example:5070;branch=z9hG4bK1",
        "To: <sip:bob@b.example>\r\n",
    );
    assert_ne!(server(&a), server(&port));
    // ACK matches its INVITE; CANCEL is its own transaction but finds the INVITE.
    let ack = req_with(
        "ACK",
        "SIP/2.0/UDP host.example:5060;branch=z9hG4bK1",
        "To: <sip:bob@b.example>;tag=t\r\n",
    );
    assert_eq!(server(&ack), server(&a));
    let cancel = req_with(
        "CANCEL",
        "SIP/2.0/UDP host.example:5060;branch=z9hG4bK1",
        "To: <sip:bob@b.example>\r\n",
    );
    assert_ne!(server(&cancel), server(&a));
    assert_eq!(server(&cancel).with_method("INVITE"), server(&a));
    assert!(!server(&a).is_rfc2543());
    assert_eq!(server(&a).branch(), Some("z9hg4bk1"));
}

#[test]
fn rfc2543_fallback_compares_uri_tags_call_id_cseq_and_top_via() {
    let to = "To: <sip:bob@b.example>\r\n";
    let base = req_with("INVITE", "SIP/2.0/UDP old.example:5060;branch=1234", to);
    let k = server(&base);
    assert!(k.is_rfc2543());
    assert_eq!(k.branch(), None);
    assert_eq!(
        server(&req_with(
            "INVITE",
            "SIP/2.0/UDP old.example:5060;branch=1234",
            to
        )),
        k
    );
    // No branch at all: the same rules.
    let nob = req_with("INVITE", "SIP/2.0/UDP old.example:5060", to);
    assert!(server(&nob).is_rfc2543());
    assert_ne!(server(&nob), k, "top Via differs");
    // Each compared field, changed, gives another transaction.
    let variants = [
        base.edit()
            .set_request_uri("sip:carol@b.example")
            .unwrap()
            .clone()
            .finish()
            .unwrap(),
        base.edit()
            .set_header("Call-ID", "other")
            .unwrap()
            .clone()
            .finish()
            .unwrap(),
        base.edit()
            .set_header("CSeq", "5 INVITE")
            .unwrap()
            .clone()
            .finish()
            .unwrap(),
        base.edit()
            .set_header("From", "<sip:alice@a.example>;tag=zz")
            .unwrap()
            .clone()
            .finish()
            .unwrap(),
        base.edit()
            .set_header("To", "<sip:bob@b.example>;tag=x")
            .unwrap()
            .clone()
            .finish()
            .unwrap(),
        base.edit()
            .set_header("Via", "SIP/2.0/UDP old.example:5061;branch=1234")
            .unwrap()
            .clone()
            .finish()
            .unwrap(),
    ];
    for v in &variants {
        assert_ne!(server(v), k, "{}", String::from_utf8_lossy(v.as_bytes()));
    }
    // An unrelated header does not matter.
    let more = base
        .edit()
        .add_header("Subject", "hi")
        .unwrap()
        .clone()
        .finish()
        .unwrap();
    assert_eq!(server(&more), k);
    // The CANCEL for it finds it by method substitution.
    let cancel = req_with("CANCEL", "SIP/2.0/UDP old.example:5060;branch=1234", to);
    assert_eq!(server(&cancel).with_method("INVITE"), k);
}

#[test]
fn outgoing_requests_need_an_rfc3261_branch_and_a_consistent_cseq() {
    let no_branch = req_with("OPTIONS", "SIP/2.0/UDP h", "To: <sip:b@b>\r\n");
    assert_eq!(
        TransactionKey::for_outgoing_request(&no_branch),
        Err(TransactionError::MissingBranch)
    );
    let old = req_with("OPTIONS", "SIP/2.0/UDP h;branch=abc", "To: <sip:b@b>\r\n");
    assert_eq!(
        TransactionKey::for_outgoing_request(&old),
        Err(TransactionError::NotRfc3261Branch("abc".into()))
    );
    let ack = request("ACK", "z9hG4bK1", "UDP", 1);
    assert_eq!(
        TransactionKey::for_outgoing_request(&ack),
        Err(TransactionError::AckIsNotATransaction)
    );
    // (A CSeq method differing from the request method is refused by the parser already;
    // `for_outgoing_request` checks it again for messages built by other means.)
    let resp = response(&invite("z9hG4bK1", "UDP"), 200);
    assert!(matches!(
        TransactionKey::for_outgoing_request(&resp),
        Err(TransactionError::NotARequest)
    ));
    assert!(matches!(
        TransactionKey::for_response(&ack),
        Err(TransactionError::NotAResponse(_))
    ));
    assert!(matches!(
        TransactionKey::for_incoming_request(&resp),
        Err(TransactionError::NotARequest)
    ));
}

#[test]
fn missing_essentials_are_typed_errors() {
    let no_via = msg(
        "OPTIONS sip:b SIP/2.0\r\nFrom: <sip:a>;tag=1\r\nTo: <sip:b>\r\nCall-ID: c\r\n\
                      CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        TransactionKey::for_incoming_request(&no_via),
        Err(TransactionError::MissingVia)
    );
    let legacy_no_callid = msg(
        "OPTIONS sip:b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a>;tag=1\r\n\
                                To: <sip:b>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        TransactionKey::for_incoming_request(&legacy_no_callid),
        Err(TransactionError::MissingCallId)
    );
    let resp_no_branch = msg(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a>;tag=1\r\nTo: <sip:b>\r\n\
                              Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        TransactionKey::for_response(&resp_no_branch),
        Err(TransactionError::MissingBranch)
    );
}

#[test]
fn display_names_the_transaction() {
    let k = server(&invite("z9hG4bKd1", "UDP"));
    assert_eq!(k.to_string(), "server INVITE z9hg4bkd1 192.0.2.1:5060");
    let legacy = server(&req_with(
        "BYE",
        "SIP/2.0/udp Old.example;branch=1",
        "To: <sip:b@b>;tag=2\r\n",
    ));
    assert_eq!(
        legacy.to_string(),
        "server BYE rfc2543 call-id=cid cseq=4 via=SIP/2.0/UDP old.example;branch=1"
    );
}

#[test]
fn branches_are_unique_and_carry_the_cookie() {
    let mut g = BranchGenerator::new();
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let b = g.next_branch();
        assert!(b.starts_with("z9hG4bK") && b.len() > 7 + 16);
        assert!(b.bytes().all(|c| c.is_ascii_alphanumeric()), "a token: {b}");
        assert!(seen.insert(b));
    }
    // Two generators do not collide either.
    let mut h = BranchGenerator::new();
    assert!((0..1000).all(|_| !seen.contains(&h.next_branch())));
    let (mut s1, mut s2) = (BranchGenerator::with_seed(1), BranchGenerator::with_seed(2));
    assert_ne!(s1.next_branch(), s2.next_branch());
}
