//! Figure 7 (+ RFC 6026): every state, every timer, on UDP and TCP; 100 Trying; CANCEL.

use super::*;
use crate::transaction::{
    Reliability, ServerInvite, ServerInviteState as S, Timer, TimerConfig, TransactionError,
};

fn udp() -> ServerInvite {
    ServerInvite::new(
        invite("z9hG4bKsi1", "UDP"),
        Reliability::Unreliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap()
}

fn tcp() -> ServerInvite {
    ServerInvite::new(
        invite("z9hG4bKsi1", "TCP"),
        Reliability::Reliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap()
}

fn ack() -> crate::message::Message {
    request("ACK", "z9hG4bKsi1", "UDP", 1)
}

#[test]
fn sends_100_trying_after_200_ms_when_the_tu_is_silent() {
    let mut tx = udp();
    assert_eq!(outputs(&mut tx), (vec![], vec![]));
    assert_eq!(tx.poll_timeout(), Some(at(200)));
    tx.handle_timeout(at(199));
    assert!(tx.poll_transmit().is_none(), "not before 200 ms");
    let d = drive_until(&mut tx, at(10_000));
    assert_eq!(d.send_offsets(t0()), [200]);
    let trying = parse(d.sends[0].1.bytes.clone()).unwrap();
    assert_eq!(trying.status_code(), Some(100));
    assert_eq!(
        trying.to().unwrap().tag(),
        None,
        "no To tag on 100 (§8.2.6.1)"
    );
    assert_eq!(trying.vias().count(), 2, "all Vias copied");
    assert!(!d.sends[0].1.retransmission);
    // A retransmitted INVITE gets the 100 again.
    tx.handle_request(at(500), tx.request().clone()).unwrap();
    let (sends, _) = outputs(&mut tx);
    assert_eq!(sends.len(), 1);
    assert!(sends[0].retransmission);
    assert_eq!(status_of(&sends[0]), Some(100));
}

#[test]
fn no_100_when_the_tu_answers_within_200_ms() {
    let mut tx = udp();
    tx.respond(at(150), response(tx.request(), 180)).unwrap();
    assert_eq!(tx.timer(Timer::Trying), None);
    let (sends, _) = outputs(&mut tx);
    assert_eq!(status_of(&sends[0]), Some(180));
    assert!(drive_until(&mut tx, at(10_000)).sends.is_empty());
    // Retransmitted INVITE in Proceeding: the most recent provisional again.
    tx.respond(at(300), response(tx.request(), 183)).unwrap();
    outputs(&mut tx);
    tx.handle_request(at(400), tx.request().clone()).unwrap();
    let (sends, _) = outputs(&mut tx);
    assert_eq!(status_of(&sends[0]), Some(183));
    assert!(sends[0].retransmission);
}

#[test]
fn retransmitted_invite_before_any_response_gets_100_at_once() {
    let mut tx = udp();
    tx.handle_request(at(50), tx.request().clone()).unwrap();
    let (sends, _) = outputs(&mut tx);
    assert_eq!(status_of(&sends[0]), Some(100));
    assert_eq!(tx.timer(Timer::Trying), None);
}

#[test]
fn trying_can_be_immediate_or_disabled() {
    let now = TimerConfig {
        trying_delay: Some(ms(0)),
        ..TimerConfig::default()
    };
    let mut tx = ServerInvite::new(
        invite("z9hG4bK1", "UDP"),
        Reliability::Unreliable,
        now,
        t0(),
    )
    .unwrap();
    assert_eq!(status_of(&tx.poll_transmit().unwrap()), Some(100));
    let never = TimerConfig {
        trying_delay: None,
        ..TimerConfig::default()
    };
    let mut tx = ServerInvite::new(
        invite("z9hG4bK1", "UDP"),
        Reliability::Unreliable,
        never,
        t0(),
    )
    .unwrap();
    assert_eq!(tx.poll_timeout(), None);
    tx.handle_request(at(600), tx.request().clone()).unwrap();
    assert!(tx.poll_transmit().is_none());
}

#[test]
fn udp_non_2xx_is_retransmitted_on_timer_g_up_to_t2_until_timer_h() {
    let mut tx = udp();
    tx.respond(at(1000), response(tx.request(), 486)).unwrap();
    assert_eq!(tx.state(), S::Completed);
    let (first, _) = outputs(&mut tx);
    assert_eq!(tx.timer(Timer::G), Some(at(1500)));
    assert_eq!(tx.timer(Timer::H), Some(at(33_000)));
    let d = drive_until(&mut tx, at(100_000));
    let offsets: Vec<u64> = d.send_offsets(at(1000));
    assert_eq!(
        offsets,
        [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert!(d
        .sends
        .iter()
        .all(|(_, t)| t.retransmission && t.bytes == first[0].bytes));
    // The ACK never came: Timer H reports the failure (§17.2.1).
    assert_eq!(
        d.events,
        [
            (at(33_000), "timeout:Timer H".into()),
            (at(33_000), "terminated".into())
        ]
    );
}

#[test]
fn ack_lost_then_received_moves_to_confirmed_and_timer_i() {
    let mut tx = udp();
    tx.respond(at(0), response(tx.request(), 404)).unwrap();
    outputs(&mut tx);
    // The first two ACKs are lost: G retransmits at 0.5 s and 1.5 s.
    let d = drive_until(&mut tx, at(1500));
    assert_eq!(d.sends.len(), 2);
    // A retransmitted INVITE in Completed gets the final again.
    tx.handle_request(at(1600), tx.request().clone()).unwrap();
    let (sends, _) = outputs(&mut tx);
    assert_eq!(status_of(&sends[0]), Some(404));
    assert!(sends[0].retransmission);
    tx.handle_request(at(1700), ack()).unwrap();
    assert_eq!(tx.state(), S::Confirmed);
    assert_eq!(tx.timer(Timer::G), None);
    assert_eq!(tx.timer(Timer::H), None);
    assert_eq!(tx.timer(Timer::I), Some(at(6700)), "T4 on UDP");
    assert_eq!(outputs(&mut tx).1, ["ack"]);
    // ACK and INVITE retransmissions in Confirmed are absorbed.
    tx.handle_request(at(2000), ack()).unwrap();
    tx.handle_request(at(2100), tx.request().clone()).unwrap();
    assert_eq!(outputs(&mut tx), (vec![], vec![]));
    let d = drive_until(&mut tx, at(100_000));
    assert_eq!(d.events, [(at(6700), "terminated".into())]);
    assert!(d.sends.is_empty());
}

#[test]
fn tcp_no_timer_g_timer_h_still_armed_and_timer_i_zero() {
    let mut tx = tcp();
    tx.respond(at(0), response(tx.request(), 486)).unwrap();
    outputs(&mut tx);
    assert_eq!(tx.timer(Timer::G), None);
    assert_eq!(tx.timer(Timer::H), Some(at(32_000)));
    tx.handle_request(at(10), ack()).unwrap();
    assert_eq!(outputs(&mut tx).1, ["ack", "terminated"]);
    assert!(tx.is_terminated());
    // And without ACK, H fires on TCP too.
    let mut tx = tcp();
    tx.respond(at(0), response(tx.request(), 486)).unwrap();
    outputs(&mut tx);
    let d = drive_until(&mut tx, at(100_000));
    assert!(d.sends.is_empty());
    assert_eq!(d.events[0], (at(32_000), "timeout:Timer H".into()));
}

#[test]
fn two_xx_moves_to_accepted_until_timer_l() {
    let mut tx = udp();
    tx.respond(at(100), response(tx.request(), 180)).unwrap();
    let ok = response(tx.request(), 200);
    tx.respond(at(3000), ok.clone()).unwrap();
    assert_eq!(tx.state(), S::Accepted);
    assert_eq!(tx.timer(Timer::L), Some(at(35_000)));
    let (sends, _) = outputs(&mut tx);
    assert_eq!(sends.len(), 2);
    assert!(!sends[1].retransmission);
    // The transaction itself never retransmits a 2xx (the TU does, §13.3.1.4).
    assert!(drive_until(&mut tx, at(34_000)).sends.is_empty());
    // INVITE retransmissions are absorbed, not passed to the TU.
    tx.handle_request(at(3100), tx.request().clone()).unwrap();
    assert_eq!(outputs(&mut tx), (vec![], vec![]));
    // The TU's 2xx retransmissions are sent, flagged as such.
    tx.respond(at(3500), ok).unwrap();
    let (sends, _) = outputs(&mut tx);
    assert!(sends[0].retransmission);
    // An ACK matched here belongs to the TU.
    tx.handle_request(at(3600), ack()).unwrap();
    assert_eq!(outputs(&mut tx).1, ["ack"]);
    assert_eq!(
        tx.respond(at(3700), response(tx.request(), 486)),
        Err(TransactionError::FinalAlreadySent {
            sent: 200,
            refused: 486
        })
    );
    let d = drive_until(&mut tx, at(100_000));
    assert_eq!(d.events, [(at(35_000), "terminated".into())]);
}

#[test]
fn tcp_timer_l_still_applies() {
    let mut tx = tcp();
    tx.respond(at(0), response(tx.request(), 200)).unwrap();
    assert_eq!(tx.timer(Timer::L), Some(at(32_000)));
}

#[test]
fn finals_after_a_final_are_refused() {
    let mut tx = udp();
    tx.respond(at(0), response(tx.request(), 486)).unwrap();
    assert_eq!(
        tx.respond(at(1), response(tx.request(), 200)),
        Err(TransactionError::FinalAlreadySent {
            sent: 486,
            refused: 200
        })
    );
    assert_eq!(
        tx.respond(at(1), response(tx.request(), 180)),
        Err(TransactionError::FinalAlreadySent {
            sent: 486,
            refused: 180
        })
    );
    tx.handle_request(at(2), ack()).unwrap();
    assert!(tx.respond(at(3), response(tx.request(), 500)).is_err());
}

#[test]
fn cancel_before_final_reports_cancelled_after_final_has_no_effect() {
    let mut tx = udp();
    tx.respond(at(10), response(tx.request(), 180)).unwrap();
    outputs(&mut tx);
    let cancel = request("CANCEL", "z9hG4bKsi1", "UDP", 1);
    assert!(tx.cancel(at(20), cancel.clone()));
    assert_eq!(outputs(&mut tx).1, ["cancelled"]);
    tx.respond(at(30), response(tx.request(), 487)).unwrap();
    assert_eq!(tx.state(), S::Completed);
    assert!(!tx.cancel(at(40), cancel));
    assert_eq!(outputs(&mut tx).1, Vec::<String>::new());
}

#[test]
fn transport_error_and_bad_input() {
    let mut tx = udp();
    assert!(matches!(
        tx.handle_request(at(1), request("BYE", "z9hG4bK1", "UDP", 2)),
        Err(TransactionError::UnexpectedMethod { .. })
    ));
    assert!(matches!(
        tx.respond(at(1), tx.request().clone()),
        Err(TransactionError::NotAResponse(_))
    ));
    tx.handle_transport_error(at(2));
    assert_eq!(outputs(&mut tx).1, ["transport-error", "terminated"]);
    assert_eq!(
        tx.handle_request(at(3), ack()),
        Err(TransactionError::Terminated)
    );
    assert_eq!(
        tx.respond(at(3), response(tx.request(), 200)),
        Err(TransactionError::Terminated)
    );
}
