//! Figure 6: every state, every timer, on UDP and TCP.

use super::*;
use crate::transaction::{
    ClientNonInvite, ClientNonInviteState as S, Reliability, Timer, TimerConfig, TransactionError,
};

fn bye(transport: &str) -> crate::message::Message {
    request("BYE", "z9hG4bKcn1", transport, 2)
}

fn udp() -> ClientNonInvite {
    let mut tx = ClientNonInvite::new(
        bye("UDP"),
        Reliability::Unreliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap();
    let (sends, _) = outputs(&mut tx);
    assert_eq!(sends.len(), 1);
    assert!(!sends[0].retransmission);
    tx
}

fn tcp() -> ClientNonInvite {
    let mut tx = ClientNonInvite::new(
        bye("TCP"),
        Reliability::Reliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap();
    outputs(&mut tx);
    tx
}

#[test]
fn udp_timer_e_doubles_up_to_t2_until_timer_f() {
    let mut tx = udp();
    assert_eq!(tx.timer(Timer::E), Some(at(500)));
    assert_eq!(tx.timer(Timer::F), Some(at(32_000)));
    let d = drive_until(&mut tx, at(100_000));
    // 0.5, 1, 2, 4, then capped at T2 = 4 s (§17.1.2.2).
    assert_eq!(
        d.send_offsets(t0()),
        [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert!(d.sends.iter().all(|(_, t)| t.retransmission));
    assert_eq!(
        d.events,
        [
            (at(32_000), "timeout:Timer F".into()),
            (at(32_000), "terminated".into())
        ]
    );
    assert_eq!(tx.state(), S::Terminated);
}

#[test]
fn small_t2_caps_earlier() {
    let cfg = TimerConfig {
        t2: ms(1000),
        ..TimerConfig::default()
    };
    let mut tx = ClientNonInvite::new(bye("UDP"), Reliability::Unreliable, cfg, t0()).unwrap();
    outputs(&mut tx);
    let d = drive_until(&mut tx, at(5000));
    assert_eq!(d.send_offsets(t0()), [500, 1500, 2500, 3500, 4500]);
}

#[test]
fn tcp_has_no_timer_e_but_timer_f_fires() {
    let mut tx = tcp();
    assert_eq!(tx.timer(Timer::E), None);
    let d = drive_until(&mut tx, at(100_000));
    assert!(d.sends.is_empty());
    assert_eq!(d.events[0], (at(32_000), "timeout:Timer F".into()));
}

#[test]
fn proceeding_keeps_e_schedule_then_retransmits_every_t2() {
    let mut tx = udp();
    tx.handle_response(at(200), response(tx.request(), 100))
        .unwrap();
    assert_eq!(tx.state(), S::Proceeding);
    assert_eq!(
        tx.timer(Timer::E),
        Some(at(500)),
        "entering Proceeding does not reset E"
    );
    assert_eq!(outputs(&mut tx).1, ["1xx:100"]);
    let d = drive_until(&mut tx, at(14_000));
    // §17.1.2.2: in Proceeding, E is reset to T2 each time it fires.
    assert_eq!(d.send_offsets(t0()), [500, 4500, 8500, 12_500]);
    // Timer F still applies in Proceeding.
    let d = drive_until(&mut tx, at(100_000));
    assert_eq!(d.events.last().map(|e| e.1.as_str()), Some("terminated"));
    assert!(d
        .events
        .iter()
        .any(|e| e == &(at(32_000), "timeout:Timer F".to_string())));
}

#[test]
fn completed_absorbs_final_retransmissions_until_timer_k() {
    let mut tx = udp();
    tx.handle_response(at(100), response(tx.request(), 180))
        .unwrap();
    tx.handle_response(at(300), response(tx.request(), 200))
        .unwrap();
    assert_eq!(tx.state(), S::Completed);
    assert_eq!(tx.timer(Timer::E), None);
    assert_eq!(tx.timer(Timer::F), None);
    assert_eq!(tx.timer(Timer::K), Some(at(5300)), "T4 on UDP");
    tx.handle_response(at(800), response(tx.request(), 200))
        .unwrap();
    tx.handle_response(at(900), response(tx.request(), 180))
        .unwrap();
    let (sends, events) = outputs(&mut tx);
    assert!(sends.is_empty());
    assert_eq!(events, ["1xx:180", "final:200"], "finals passed once");
    let d = drive_until(&mut tx, at(100_000));
    assert_eq!(d.events, [(at(5300), "terminated".into())]);
}

#[test]
fn trying_to_completed_directly() {
    let mut tx = udp();
    tx.handle_response(at(100), response(tx.request(), 481))
        .unwrap();
    assert_eq!(tx.state(), S::Completed);
    assert_eq!(outputs(&mut tx).1, ["final:481"]);
}

#[test]
fn tcp_timer_k_is_zero() {
    let mut tx = tcp();
    tx.handle_response(at(100), response(tx.request(), 200))
        .unwrap();
    assert_eq!(outputs(&mut tx).1, ["final:200", "terminated"]);
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn lost_request_recovered_by_timer_e() {
    let mut tx = udp();
    let d = drive_until(&mut tx, at(1500)); // the first two copies are lost
    assert_eq!(d.sends.len(), 2);
    tx.handle_response(at(1520), response(tx.request(), 200))
        .unwrap();
    assert_eq!(tx.state(), S::Completed);
}

#[test]
fn transport_error_terminates() {
    let mut tx = udp();
    tx.handle_transport_error(at(1));
    assert_eq!(outputs(&mut tx).1, ["transport-error", "terminated"]);
    assert_eq!(
        tx.handle_response(at(2), response(tx.request(), 200)),
        Err(TransactionError::Terminated)
    );
}

#[test]
fn refuses_invite_and_ack() {
    let cfg = TimerConfig::default();
    assert!(matches!(
        ClientNonInvite::new(
            invite("z9hG4bK1", "UDP"),
            Reliability::Unreliable,
            cfg,
            t0()
        ),
        Err(TransactionError::UnexpectedMethod { .. })
    ));
    assert_eq!(
        ClientNonInvite::new(
            request("ACK", "z9hG4bK1", "UDP", 1),
            Reliability::Unreliable,
            cfg,
            t0()
        )
        .unwrap_err(),
        TransactionError::AckIsNotATransaction
    );
}
