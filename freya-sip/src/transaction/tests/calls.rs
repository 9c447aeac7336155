//! Whole calls through the emulator of `netem.rs` — INVITE/180/200/ACK then BYE/200, a
//! rejected INVITE, a CANCEL while ringing, over a lossy, duplicating, reordering UDP and
//! over TCP — for hundreds of seeds each, in virtual time.

use std::time::Duration;

use super::netem::{call, quiescent, Callee, NetConfig, LOSSY, TCP};
use super::t0;

#[test]
fn invite_200_ack_bye_200_completes_over_a_lossy_reordering_network() {
    let (mut retransmissions, mut lost, mut reordered, mut duplicated, mut absorbed) =
        (0, 0, 0, 0, 0);
    for seed in 0..200 {
        let w = call(seed, LOSSY, Callee::Answer);
        let why = || format!("seed {seed}\n{}", w.explain());
        assert_eq!(w.uac.final_status, Some(200), "{}", why());
        assert!(w.uas.acked_2xx, "{}", why());
        assert_eq!(w.uac.bye_final, Some(200), "{}", why());
        assert!(w.uas.bye_received, "{}", why());
        assert!(
            w.uac.timeouts.is_empty() && w.uas.timeouts.is_empty(),
            "{}",
            why()
        );
        assert!(w.uac.acks_sent >= 1);
        quiescent(&w);
        retransmissions +=
            w.layers[0].stats().retransmissions + w.layers[1].stats().retransmissions;
        absorbed += w.layers[1].stats().matched;
        lost += w.net.lost;
        reordered += w.net.reordered;
        duplicated += w.net.duplicated;
    }
    // The runs did exercise loss, duplication and reordering, and the transactions
    // recovered by retransmitting and absorbed the duplicates.
    assert!(lost > 100, "lost {lost}");
    assert!(duplicated > 50, "duplicated {duplicated}");
    assert!(reordered > 50, "reordered {reordered}");
    assert!(retransmissions > 100, "retransmissions {retransmissions}");
    assert!(absorbed > 50, "absorbed {absorbed}");
}

#[test]
fn rejected_invite_is_acked_by_the_transaction_over_a_lossy_network() {
    for seed in 0..200 {
        let w = call(seed, LOSSY, Callee::Reject);
        let why = || format!("seed {seed}\n{}", w.explain());
        assert_eq!(w.uac.final_status, Some(486), "{}", why());
        assert!(
            w.uas.acked_non_2xx,
            "the non-2xx ACK reached the server transaction\n{}",
            why()
        );
        assert_eq!(w.uac.acks_sent, 0, "the UA core never ACKs a non-2xx");
        assert!(
            w.uac.timeouts.is_empty() && w.uas.timeouts.is_empty(),
            "{}",
            why()
        );
        quiescent(&w);
    }
}

#[test]
fn cancel_while_ringing_gives_487_over_a_lossy_network() {
    for seed in 0..200 {
        let w = call(seed, LOSSY, Callee::Ring);
        let why = || format!("seed {seed}\n{}", w.explain());
        assert!(w.uas.cancelled, "{}", why());
        assert_eq!(w.uac.cancel_final, Some(200), "{}", why());
        assert_eq!(w.uac.final_status, Some(487), "{}", why());
        assert!(w.uas.acked_non_2xx, "{}", why());
        assert!(
            w.uac.timeouts.is_empty() && w.uas.timeouts.is_empty(),
            "{}",
            why()
        );
        quiescent(&w);
    }
}

#[test]
fn over_tcp_nothing_is_retransmitted_and_wait_timers_are_zero() {
    let w = call(1, TCP, Callee::Answer);
    assert_eq!(w.uac.final_status, Some(200), "{}", w.explain());
    assert_eq!(w.uac.bye_final, Some(200));
    assert_eq!(w.layers[0].stats().retransmissions, 0, "{}", w.explain());
    assert_eq!(w.layers[1].stats().retransmissions, 0, "{}", w.explain());
    quiescent(&w);
    let w = call(2, TCP, Callee::Reject);
    assert_eq!(w.uac.final_status, Some(486));
    assert!(w.uas.acked_non_2xx);
    quiescent(&w);
}

#[test]
fn a_dead_callee_times_out_with_timer_b_after_seven_invites() {
    let cfg = NetConfig {
        loss_per_mille: 1000,
        ..LOSSY
    };
    let w = call(3, cfg, Callee::Answer);
    assert_eq!(w.uac.final_status, None);
    assert_eq!(w.uac.timeouts.len(), 1, "{}", w.explain());
    assert!(w.uac.timeouts[0].ends_with("Timer B"));
    assert_eq!(
        w.net.sent, 7,
        "INVITE at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s"
    );
    quiescent(&w);
}

#[test]
fn emulated_calls_take_microseconds_not_seconds() {
    let started = std::time::Instant::now();
    let w = call(9, LOSSY, Callee::Answer);
    assert!(
        w.now.duration_since(t0()) > Duration::from_secs(30),
        "virtual time ran past Timer L"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "and no real time was spent sleeping"
    );
}
