//! Figure 8: every state, every timer, on UDP and TCP.

use super::*;
use crate::transaction::{
    Reliability, ServerNonInvite, ServerNonInviteState as S, Timer, TimerConfig, TransactionError,
};

fn options(transport: &str) -> crate::message::Message {
    request("OPTIONS", "z9hG4bKsn1", transport, 5)
}

fn udp() -> ServerNonInvite {
    ServerNonInvite::new(
        options("UDP"),
        Reliability::Unreliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap()
}

#[test]
fn trying_absorbs_retransmissions_silently() {
    let mut tx = udp();
    assert_eq!(tx.state(), S::Trying);
    assert_eq!(tx.poll_timeout(), None, "no timer in Trying");
    tx.handle_request(at(500), options("UDP")).unwrap();
    tx.handle_request(at(1500), options("UDP")).unwrap();
    assert_eq!(outputs(&mut tx), (vec![], vec![]));
}

#[test]
fn proceeding_replays_the_last_provisional() {
    let mut tx = udp();
    tx.respond(at(100), response(tx.request(), 100)).unwrap();
    assert_eq!(tx.state(), S::Proceeding);
    tx.respond(at(200), response(tx.request(), 183)).unwrap();
    outputs(&mut tx);
    tx.handle_request(at(500), options("UDP")).unwrap();
    let (sends, _) = outputs(&mut tx);
    assert_eq!(sends.len(), 1);
    assert_eq!(status_of(&sends[0]), Some(183));
    assert!(sends[0].retransmission);
}

#[test]
fn completed_replays_the_final_until_timer_j() {
    let mut tx = udp();
    tx.respond(at(100), response(tx.request(), 200)).unwrap();
    assert_eq!(tx.state(), S::Completed);
    assert_eq!(tx.final_status(), Some(200));
    assert_eq!(tx.timer(Timer::J), Some(at(32_100)), "64*T1 on UDP");
    let (first, _) = outputs(&mut tx);
    assert!(!first[0].retransmission);
    for i in 0..3 {
        tx.handle_request(at(600 + i * 1000), options("UDP"))
            .unwrap();
    }
    let (again, events) = outputs(&mut tx);
    assert_eq!(again.len(), 3);
    assert!(again
        .iter()
        .all(|t| t.retransmission && t.bytes == first[0].bytes));
    assert!(events.is_empty());
    // The server never retransmits on its own.
    let d = drive_until(&mut tx, at(100_000));
    assert!(d.sends.is_empty());
    assert_eq!(d.events, [(at(32_100), "terminated".into())]);
}

#[test]
fn tcp_timer_j_is_zero() {
    let mut tx = ServerNonInvite::new(
        options("TCP"),
        Reliability::Reliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap();
    tx.respond(at(0), response(tx.request(), 404)).unwrap();
    assert_eq!(outputs(&mut tx).1, ["terminated"]);
    assert!(tx.is_terminated());
    assert_eq!(tx.timer(Timer::J), None);
}

#[test]
fn a_second_final_is_refused() {
    let mut tx = udp();
    tx.respond(at(0), response(tx.request(), 200)).unwrap();
    assert_eq!(
        tx.respond(at(1), response(tx.request(), 500)),
        Err(TransactionError::FinalAlreadySent {
            sent: 200,
            refused: 500
        })
    );
}

#[test]
fn transport_error_and_bad_input() {
    assert!(ServerNonInvite::new(
        invite("z9hG4bK1", "UDP"),
        Reliability::Unreliable,
        TimerConfig::default(),
        t0()
    )
    .is_err());
    let mut tx = udp();
    assert!(matches!(
        tx.respond(at(0), options("UDP")),
        Err(TransactionError::NotAResponse(_))
    ));
    tx.handle_transport_error(at(1));
    assert_eq!(outputs(&mut tx).1, ["transport-error", "terminated"]);
    assert_eq!(
        tx.handle_request(at(2), options("UDP")),
        Err(TransactionError::Terminated)
    );
}

#[test]
fn proceeding_to_completed() {
    let mut tx = udp();
    tx.respond(at(10), response(tx.request(), 100)).unwrap();
    assert_eq!(tx.state(), S::Proceeding);
    assert_eq!(tx.final_status(), None);
    tx.respond(at(20), response(tx.request(), 200)).unwrap();
    assert_eq!(tx.state(), S::Completed);
    assert_eq!(tx.timer(Timer::J), Some(at(32_020)));
    tx.handle_request(at(30), options("UDP")).unwrap();
    let (sends, _) = outputs(&mut tx);
    assert_eq!(
        sends.iter().map(status_of).collect::<Vec<_>>(),
        [Some(100), Some(200), Some(200)]
    );
}
