//! Figure 5 (+ RFC 6026): every state, every timer, on UDP and TCP.

use super::*;
use crate::transaction::{
    ClientInvite, ClientInviteState as S, Reliability, Timer, TimerConfig, TransactionError,
};

fn udp() -> ClientInvite {
    ClientInvite::new(
        invite("z9hG4bKci1", "UDP"),
        Reliability::Unreliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap()
}

fn tcp() -> ClientInvite {
    ClientInvite::new(
        invite("z9hG4bKci1", "TCP"),
        Reliability::Reliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap()
}

#[test]
fn sends_invite_once_at_start() {
    let mut tx = udp();
    let (sends, events) = outputs(&mut tx);
    assert_eq!(sends.len(), 1);
    assert!(!sends[0].retransmission);
    assert_eq!(sends[0].bytes, tx.request().to_bytes());
    assert!(events.is_empty());
    assert_eq!(tx.state(), S::Calling);
}

#[test]
fn udp_timer_a_doubles_without_cap_until_timer_b() {
    let mut tx = udp();
    outputs(&mut tx);
    assert_eq!(tx.timer(Timer::A), Some(at(500)));
    assert_eq!(tx.timer(Timer::B), Some(at(32_000)));
    let d = drive_until(&mut tx, at(100_000));
    // §17.1.1.2: intervals 0.5, 1, 2, 4, 8, 16 s (no T2 cap for INVITE); B at 64·T1.
    assert_eq!(
        d.send_offsets(t0()),
        [500, 1500, 3500, 7500, 15_500, 31_500]
    );
    assert!(d.sends.iter().all(|(_, t)| t.retransmission));
    assert!(d
        .sends
        .iter()
        .all(|(_, t)| t.bytes == tx.request().to_bytes()));
    assert_eq!(
        d.events,
        [
            (at(32_000), "timeout:Timer B".into()),
            (at(32_000), "terminated".into())
        ]
    );
    assert_eq!(tx.state(), S::Terminated);
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn tcp_has_no_timer_a_but_timer_b_fires() {
    let mut tx = tcp();
    outputs(&mut tx);
    assert_eq!(tx.timer(Timer::A), None);
    assert_eq!(tx.poll_timeout(), Some(at(32_000)));
    let d = drive_until(&mut tx, at(100_000));
    assert!(
        d.sends.is_empty(),
        "no retransmission on a reliable transport"
    );
    assert_eq!(d.events[0], (at(32_000), "timeout:Timer B".into()));
    assert!(tx.is_terminated());
}

#[test]
fn custom_t1_scales_a_and_b() {
    let cfg = TimerConfig {
        t1: ms(100),
        ..TimerConfig::default()
    };
    let mut tx = ClientInvite::new(
        invite("z9hG4bKx", "UDP"),
        Reliability::Unreliable,
        cfg,
        t0(),
    )
    .unwrap();
    outputs(&mut tx);
    assert_eq!(tx.timer(Timer::A), Some(at(100)));
    assert_eq!(tx.timer(Timer::B), Some(at(6400)));
    let d = drive_until(&mut tx, at(10_000));
    assert_eq!(d.send_offsets(t0()), [100, 300, 700, 1500, 3100, 6300]);
}

#[test]
fn calling_to_proceeding_stops_a_and_b_and_passes_every_1xx() {
    let mut tx = udp();
    outputs(&mut tx);
    drive_until(&mut tx, at(500)); // one retransmission
    tx.handle_response(at(700), response(tx.request(), 100))
        .unwrap();
    assert_eq!(tx.state(), S::Proceeding);
    assert_eq!(tx.poll_timeout(), None, "no timer in Proceeding");
    tx.handle_response(at(800), response(tx.request(), 180))
        .unwrap();
    tx.handle_response(at(900), response(tx.request(), 180))
        .unwrap(); // duplicated 180
    let (sends, events) = outputs(&mut tx);
    assert!(sends.is_empty());
    assert_eq!(events, ["1xx:100", "1xx:180", "1xx:180"]);
    // No timeout however long we wait in Proceeding.
    assert!(drive_until(&mut tx, at(1_000_000)).events.is_empty());
}

#[test]
fn non_2xx_is_acked_inside_the_transaction_per_17_1_1_3() {
    let mut tx = udp();
    outputs(&mut tx);
    tx.handle_response(at(100), response(tx.request(), 180))
        .unwrap();
    let busy = response_with_tag(tx.request(), 486, "callee-tag");
    tx.handle_response(at(200), busy).unwrap();
    assert_eq!(tx.state(), S::Completed);
    let (sends, events) = outputs(&mut tx);
    assert_eq!(events, ["1xx:180", "final:486"]);
    assert_eq!(sends.len(), 1);
    assert!(!sends[0].retransmission);
    let ack = parse(sends[0].bytes.clone()).unwrap();
    let inv = tx.request();
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.request_uri(), inv.request_uri());
    assert_eq!(ack.call_id(), inv.call_id());
    assert_eq!(ack.from(), inv.from());
    let (c, ic) = (ack.cseq().unwrap(), inv.cseq().unwrap());
    assert_eq!((c.seq, c.method), (ic.seq, "ACK"));
    assert_eq!(
        ack.to().unwrap().tag(),
        Some("callee-tag"),
        "To from the response"
    );
    assert_eq!(ack.vias().count(), 1, "top Via only");
    assert_eq!(ack.top_via(), inv.top_via());
    let routes: Vec<_> = ack.routes().map(|r| r.uri).collect();
    assert_eq!(routes, ["sip:edge1.example;lr", "sip:edge2.example;lr"]);
    assert_eq!(
        ack.header("X-Freya-Workflow-Id"),
        None,
        "nothing else copied"
    );
    assert_eq!(ack.body(), b"");
    // Timer D: 32 s on UDP.
    assert_eq!(tx.timer(Timer::D), Some(at(32_200)));
    assert_eq!(tx.poll_timeout(), Some(at(32_200)));
}

#[test]
fn completed_reacks_retransmitted_finals_and_ends_at_timer_d() {
    let mut tx = udp();
    outputs(&mut tx);
    let busy = response(tx.request(), 486);
    tx.handle_response(at(100), busy.clone()).unwrap(); // straight from Calling
    let (first, _) = outputs(&mut tx);
    for i in 0..3 {
        tx.handle_response(at(600 + i * 500), busy.clone()).unwrap();
    }
    let (again, events) = outputs(&mut tx);
    assert_eq!(again.len(), 3);
    assert!(again
        .iter()
        .all(|t| t.retransmission && t.bytes == first[0].bytes));
    assert!(events.is_empty(), "retransmitted finals are absorbed");
    // Late 1xx and 2xx are absorbed too.
    tx.handle_response(at(3000), response(tx.request(), 180))
        .unwrap();
    tx.handle_response(at(3000), response(tx.request(), 200))
        .unwrap();
    assert_eq!(outputs(&mut tx), (vec![], vec![]));
    let d = drive_until(&mut tx, at(100_000));
    assert_eq!(d.events, [(at(32_100), "terminated".into())]);
}

#[test]
fn tcp_timer_d_is_zero() {
    let mut tx = tcp();
    outputs(&mut tx);
    tx.handle_response(at(100), response(tx.request(), 603))
        .unwrap();
    let (sends, events) = outputs(&mut tx);
    assert_eq!(method_of(&sends[0]).as_deref(), Some("ACK"));
    assert_eq!(events, ["final:603", "terminated"]);
    assert_eq!(tx.timer(Timer::D), None);
    assert!(tx.is_terminated());
    assert_eq!(
        tx.handle_response(at(200), response(tx.request(), 603)),
        Err(TransactionError::Terminated)
    );
}

#[test]
fn two_xx_moves_to_accepted_and_passes_retransmissions_and_forks_until_timer_m() {
    let mut tx = udp();
    outputs(&mut tx);
    tx.handle_response(at(100), response(tx.request(), 180))
        .unwrap();
    let ok = response_with_tag(tx.request(), 200, "leg-a");
    tx.handle_response(at(2000), ok.clone()).unwrap();
    assert_eq!(tx.state(), S::Accepted);
    assert_eq!(tx.timer(Timer::M), Some(at(2000 + 32_000)));
    tx.handle_response(at(2500), ok.clone()).unwrap(); // retransmission (our ACK was lost)
    tx.handle_response(at(2600), response_with_tag(tx.request(), 200, "leg-b"))
        .unwrap(); // fork
    tx.handle_response(at(2700), response(tx.request(), 180))
        .unwrap(); // late 1xx: absorbed
    tx.handle_response(at(2800), response(tx.request(), 486))
        .unwrap(); // non-2xx: absorbed
    let (sends, events) = outputs(&mut tx);
    assert!(
        sends.is_empty(),
        "the 2xx ACK is the TU's, not the transaction's"
    );
    assert_eq!(events, ["1xx:180", "final:200", "final:200", "final:200"]);
    let d = drive_until(&mut tx, at(100_000));
    assert_eq!(d.events, [(at(34_000), "terminated".into())]);
}

#[test]
fn reordered_200_before_180_leaves_the_180_absorbed() {
    let mut tx = udp();
    outputs(&mut tx);
    tx.handle_response(at(50), response(tx.request(), 200))
        .unwrap();
    tx.handle_response(at(60), response(tx.request(), 180))
        .unwrap();
    let (_, events) = outputs(&mut tx);
    assert_eq!(events, ["final:200"]);
    assert_eq!(tx.state(), S::Accepted);
    assert_eq!(tx.timer(Timer::A), None);
    assert_eq!(tx.timer(Timer::B), None);
}

#[test]
fn lost_invite_is_recovered_by_timer_a() {
    // The first INVITE is lost; the retransmission at 500 ms gets a 180.
    let mut tx = udp();
    outputs(&mut tx);
    let d = drive_until(&mut tx, at(500));
    assert_eq!(d.send_offsets(t0()), [500]);
    tx.handle_response(at(560), response(tx.request(), 180))
        .unwrap();
    assert_eq!(tx.state(), S::Proceeding);
    assert!(drive_until(&mut tx, at(60_000)).sends.is_empty());
}

#[test]
fn late_handle_timeout_fires_each_due_timer_once_in_order() {
    let mut tx = udp();
    outputs(&mut tx);
    // The driver oversleeps to 40 s: A fires once (not six times), then B.
    tx.handle_timeout(at(40_000));
    let (sends, events) = outputs(&mut tx);
    assert_eq!(sends.len(), 1);
    assert_eq!(events, ["timeout:Timer B", "terminated"]);
}

#[test]
fn transport_error_terminates_in_any_state() {
    for st in [S::Calling, S::Proceeding, S::Completed, S::Accepted] {
        let mut tx = udp();
        match st {
            S::Proceeding => tx
                .handle_response(at(1), response(tx.request(), 180))
                .unwrap(),
            S::Completed => tx
                .handle_response(at(1), response(tx.request(), 500))
                .unwrap(),
            S::Accepted => tx
                .handle_response(at(1), response(tx.request(), 200))
                .unwrap(),
            _ => {}
        }
        assert_eq!(tx.state(), st);
        outputs(&mut tx);
        tx.handle_transport_error(at(2));
        let (_, events) = outputs(&mut tx);
        assert_eq!(events, ["transport-error", "terminated"], "{st:?}");
        assert_eq!(tx.poll_timeout(), None);
        tx.handle_transport_error(at(3));
        assert_eq!(outputs(&mut tx).1, Vec::<String>::new());
    }
}

#[test]
fn cancel_wait_gives_up_64_t1_after_cancel_without_final() {
    let mut tx = udp();
    outputs(&mut tx);
    tx.handle_response(at(100), response(tx.request(), 180))
        .unwrap();
    assert!(tx.can_send_cancel());
    tx.cancel_sent(at(1000));
    assert_eq!(tx.timer(Timer::CancelWait), Some(at(33_000)));
    outputs(&mut tx);
    let d = drive_until(&mut tx, at(100_000));
    assert_eq!(
        d.events,
        [
            (at(33_000), "timeout:CANCEL wait (64*T1)".into()),
            (at(33_000), "terminated".into())
        ]
    );
    // Once a final has arrived, cancel_sent does nothing.
    let mut tx = udp();
    tx.handle_response(at(100), response(tx.request(), 486))
        .unwrap();
    assert!(!tx.can_send_cancel());
    tx.cancel_sent(at(200));
    assert_eq!(tx.timer(Timer::CancelWait), None);
}

#[test]
fn refuses_wrong_input() {
    let err = ClientInvite::new(
        request("BYE", "z9hG4bK1", "UDP", 2),
        Reliability::Unreliable,
        TimerConfig::default(),
        t0(),
    )
    .unwrap_err();
    assert!(matches!(err, TransactionError::UnexpectedMethod { .. }));
    let mut tx = udp();
    let req = tx.request().clone();
    assert_eq!(
        tx.handle_response(at(1), req),
        Err(TransactionError::NotAResponse("INVITE".into()))
    );
}

#[test]
fn tcp_timer_m_still_applies() {
    let mut tx = tcp();
    outputs(&mut tx);
    tx.handle_response(at(100), response(tx.request(), 200))
        .unwrap();
    assert_eq!(tx.state(), S::Accepted);
    assert_eq!(
        tx.timer(Timer::M),
        Some(at(32_100)),
        "RFC 6026: 64*T1 on any transport"
    );
}
