//! Whole calls through the network emulator.

use super::netem::*;
use super::*;
use crate::dialog::{CauseSource, DialogEvent, EndKind, Side, Q850};
use crate::sdp::Direction;

fn caller_hangs_up_after(s: u64) -> Policy {
    Policy {
        hangup_after: Some((secs(s), None)),
        ..Policy::default()
    }
}

/// Over 20 % loss, 10 % duplication and reordering, every call is answered, the callee's
/// 2xx is retransmitted until an ACK gets through, lost ACKs are recovered by ACKing the
/// retransmitted 2xx, and both sides report the BYE with the same cause. Nothing stays
/// behind.
#[test]
fn full_calls_over_a_lossy_network() {
    let (mut ok_re, mut ack_re, mut reordered, mut duplicated) = (0, 0, 0, 0);
    for seed in 1..=60 {
        let mut w = World::pair(seed, LOSSY, caller_hangs_up_after(5), Policy::default());
        w.call(0, addr(1));
        w.run(secs(300));
        let uac = w.names(0);
        assert_eq!(
            uac.iter().filter(|n| *n == "answered").count(),
            1,
            "seed {seed}: {uac:?}\n{}",
            w.explain()
        );
        let end = w.ended(0);
        assert_eq!(
            (end.by, end.kind, end.status),
            (Side::Local, EndKind::Bye, 200),
            "seed {seed}"
        );
        let end = w.ended(1);
        assert_eq!(
            (end.by, end.kind, end.status),
            (Side::Remote, EndKind::Bye, 200),
            "seed {seed}\n{}",
            w.explain()
        );
        assert_eq!(end.cause, Some(Q850::NORMAL_CALL_CLEARING));
        assert_eq!(
            end.cause_source,
            Some(CauseSource::Header),
            "our BYE carries Reason: Q.850;cause=16"
        );
        w.assert_quiet();
        ok_re += w.nodes[1].layer.stats().ok_retransmissions;
        ack_re += w.nodes[0].layer.stats().ack_retransmissions;
        reordered += w.net.reordered;
        duplicated += w.net.duplicated;
    }
    assert!(
        ok_re > 0 && ack_re > 0 && reordered > 0 && duplicated > 0,
        "{ok_re} {ack_re} {reordered} {duplicated}"
    );
}

#[test]
fn full_call_over_tcp() {
    let mut w = World::pair(7, TCP, caller_hangs_up_after(2), Policy::default());
    w.call(0, addr(1));
    w.run(secs(300));
    assert_eq!(
        w.names(0),
        ["progress:180", "answered", "ended:local:bye:200"]
    );
    assert_eq!(
        w.names(1),
        ["incoming", "confirmed", "ended:remote:bye:200"]
    );
    w.assert_quiet();
}

/// The first ACK is lost: the UAS retransmits its 2xx at T1 and the UAC ACKs the
/// retransmission (RFC 3261 §13.2.2.4, §13.3.1.4).
#[test]
fn lost_ack_is_recovered() {
    let mut w = World::pair(1, CLEAN, caller_hangs_up_after(5), Policy::default());
    let mut dropped = false;
    w.filter = Some(Box::new(move |_, line| {
        if line.starts_with("ACK ") && !dropped {
            dropped = true;
            return true;
        }
        false
    }));
    w.call(0, addr(1));
    w.run(secs(300));
    assert_eq!(
        w.nodes[1].layer.stats().ok_retransmissions,
        1,
        "{}",
        w.explain()
    );
    assert_eq!(w.nodes[0].layer.stats().ack_retransmissions, 1);
    let confirmed = w.nodes[1]
        .events
        .iter()
        .find(|(_, e)| matches!(e, DialogEvent::Confirmed { .. }))
        .map(|(t, _)| *t);
    // INVITE at 0, 180 and the answer at 1050, 200 lost-ACK, retransmitted at 1550, ACK at 1650.
    assert_eq!(confirmed, Some(1650), "{}", w.explain());
    w.assert_quiet();
}

/// Every ACK is lost, and the caller hangs up while the callee still retransmits its 2xx:
/// the BYE ends the call at the callee at once (RFC 3261 §15: a BYE in a dialog whose 2xx
/// awaits its ACK is taken), and the 2xx retransmissions stop.
#[test]
fn bye_overtaking_every_lost_ack_ends_the_call() {
    let mut w = World::pair(1, CLEAN, caller_hangs_up_after(2), Policy::default());
    w.filter = Some(Box::new(|_, line| line.starts_with("ACK ")));
    w.call(0, addr(1));
    w.run(secs(300));
    let end = w.ended(1);
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Remote, EndKind::Bye, 200),
        "{}",
        w.explain()
    );
    assert_eq!(w.nodes[1].layer.stats().no_ack, 0, "{}", w.explain());
    let end = w.ended(0);
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Local, EndKind::Bye, 200)
    );
    w.assert_quiet();
}

/// No ACK ever arrives: the 2xx is retransmitted at T1, 2T1, 4T1… capped at T2, and at
/// 64·T1 the UAS gives up and sends BYE (RFC 3261 §13.3.1.4).
#[test]
fn missing_ack_releases_the_call_after_64_t1() {
    let mut w = World::pair(1, CLEAN, Policy::default(), Policy::default());
    w.filter = Some(Box::new(|_, line| line.starts_with("ACK ")));
    w.call(0, addr(1));
    w.run(secs(300));
    // Retransmissions at +0.5, 1.5, 3.5, 7.5, 11.5 … 31.5 s.
    assert_eq!(
        w.nodes[1].layer.stats().ok_retransmissions,
        10,
        "{}",
        w.explain()
    );
    assert_eq!(w.nodes[1].layer.stats().no_ack, 1);
    let end = w.ended(1);
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Local, EndKind::NoAck, 408)
    );
    let end = w.ended(0);
    assert_eq!((end.by, end.kind), (Side::Remote, EndKind::Bye));
    assert_eq!(end.cause, Some(Q850::RECOVERY_ON_TIMER_EXPIRY));
    // The UAC ACKed every retransmission.
    assert_eq!(w.nodes[0].layer.stats().ack_retransmissions, 10);
    w.assert_quiet();
}

/// The INVITE forks to two callees that both answer: the UAC reports one answer, ACKs
/// both 2xx and releases the second with BYE (RFC 3261 §13.2.2.4).
#[test]
fn forked_invite_with_two_answers() {
    let slow = Policy {
        on_incoming: OnIncoming::Answer(secs(2)),
        ..Policy::default()
    };
    let mut w = World::new(
        3,
        CLEAN,
        vec![
            ("uac", config(0), caller_hangs_up_after(10)),
            ("uas1", config(1), Policy::default()),
            ("uas2", config(2), slow),
        ],
    );
    let proxy = "192.0.2.100:5060".parse().unwrap();
    w.fork(proxy, vec![1, 2]);
    w.call(0, proxy);
    w.run(secs(300));
    assert_eq!(
        w.names(0),
        [
            "progress:180",
            "progress:180",
            "answered",
            "ended:local:bye:200"
        ],
        "{}",
        w.explain()
    );
    assert_eq!(w.nodes[0].layer.stats().forks_released, 1);
    assert_eq!(w.nodes[0].layer.stats().acks_sent, 2);
    assert_eq!(
        w.names(1),
        ["incoming", "confirmed", "ended:remote:bye:200"]
    );
    assert_eq!(
        w.names(2),
        ["incoming", "confirmed", "ended:remote:bye:200"]
    );
    let end = w.ended(2);
    assert_eq!(end.reason_text.as_deref(), Some("Call completed elsewhere"));
    // The caller's hang-up reached the callee that won, 10 s after the answer.
    let t = w.nodes[1].events.last().map(|(t, _)| *t);
    assert_eq!(t, Some(1100 + 10_000 + 50));
    w.assert_quiet();
}

/// CANCEL while ringing: 487 for the INVITE; both sides report a cancelled call with the
/// cause the CANCEL's Reason carries.
#[test]
fn cancel_while_ringing() {
    let caller = Policy {
        cancel_after_progress: Some(secs(1)),
        ..Policy::default()
    };
    let callee = Policy {
        on_incoming: OnIncoming::Nothing,
        ..Policy::default()
    };
    for seed in 1..=20 {
        let mut w = World::pair(seed, LOSSY, caller.clone(), callee.clone());
        w.call(0, addr(1));
        w.run(secs(300));
        let end = w.ended(0);
        assert_eq!(
            (end.by, end.kind, end.status),
            (Side::Local, EndKind::Cancelled, 487),
            "seed {seed}\n{}",
            w.explain()
        );
        assert_eq!(end.cause, Some(Q850::NORMAL_CALL_CLEARING));
        let end = w.ended(1);
        assert_eq!(
            (end.by, end.kind, end.status),
            (Side::Remote, EndKind::Cancelled, 487),
            "seed {seed}"
        );
        assert_eq!(end.cause_source, Some(CauseSource::Header));
        w.assert_quiet();
    }
}

/// The callee answers as the caller cancels: the CANCEL arrives after the 200 (no
/// effect, RFC 3261 §9.2), the 200 arrives at a caller that is cancelling — it ACKs and
/// sends BYE (§9.1). The caller reports its cancelled call; the callee a BYE.
#[test]
fn cancel_races_with_200() {
    let callee = Policy {
        on_incoming: OnIncoming::Nothing,
        ..Policy::default()
    };
    let mut w = World::pair(1, CLEAN, Policy::default(), callee);
    w.call(0, addr(1));
    w.at(1000, 1, Action::Answer);
    w.at(1000, 0, Action::Hangup(None));
    w.run(secs(300));
    let end = w.ended(0);
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Local, EndKind::Cancelled, 200),
        "{}",
        w.explain()
    );
    assert_eq!(w.nodes[0].layer.stats().forks_released, 1);
    assert_eq!(
        w.names(1),
        ["incoming", "confirmed", "ended:remote:bye:200"],
        "{}",
        w.explain()
    );
    w.assert_quiet();
}

/// Re-INVITE hold and resume from each side (RFC 3264 §8.4), over a lossy network.
#[test]
fn reinvite_hold_and_unhold() {
    for seed in 1..=10 {
        let mut w = World::pair(seed, LOSSY, caller_hangs_up_after(40), Policy::default());
        w.call(0, addr(1));
        w.at(10_000, 0, Action::Hold);
        w.at(17_000, 0, Action::Unhold);
        w.at(24_000, 1, Action::Hold);
        w.at(31_000, 1, Action::Unhold);
        w.run(secs(300));
        let media = |i: usize| -> Vec<String> {
            w.names(i)
                .into_iter()
                .filter(|n| n.starts_with("media:"))
                .collect()
        };
        assert_eq!(
            media(0),
            [
                "media:local:sendonly",
                "media:local:sendrecv",
                "media:remote:recvonly",
                "media:remote:sendrecv"
            ],
            "seed {seed}\n{}",
            w.explain()
        );
        assert_eq!(
            media(1),
            [
                "media:remote:recvonly",
                "media:remote:sendrecv",
                "media:local:sendonly",
                "media:local:sendrecv"
            ],
            "seed {seed}"
        );
        let held = w.nodes[1].events.iter().find_map(|(_, e)| match e {
            DialogEvent::MediaUpdated { media, .. } => Some(media.remote_hold),
            _ => None,
        });
        assert_eq!(held, Some(true));
        assert_eq!(w.ended(0).kind, EndKind::Bye);
        w.assert_quiet();
    }
}

/// Both sides re-INVITE at the same instant: each answers the other's 491 (RFC 3261
/// §14.2) and retries after its §14.1 delay — the callee (not the Call-ID's owner) within
/// 2 s, the caller after 2.1–4 s. Both re-INVITEs then go through (each side reports its
/// own as a media update; the peer's only when it changed what is agreed).
#[test]
fn glare_gets_491_then_both_retry() {
    let mut w = World::pair(5, CLEAN, caller_hangs_up_after(30), Policy::default());
    w.call(0, addr(1));
    w.at(5000, 0, Action::Hold);
    w.at(5000, 1, Action::Hold);
    w.run(secs(300));
    assert_eq!(w.nodes[0].layer.stats().glare, 1, "{}", w.explain());
    assert_eq!(w.nodes[1].layer.stats().glare, 1);
    for i in 0..2 {
        let names = w.names(i);
        assert!(
            !names.iter().any(|n| n.starts_with("reinvite-failed")),
            "{names:?}"
        );
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("media:local"))
                .count(),
            1,
            "{names:?}\n{}",
            w.explain()
        );
    }
    let at = |i: usize, prefix: &str| {
        w.nodes[i]
            .events
            .iter()
            .find(|(_, e)| ev_name(e).starts_with(prefix))
            .map(|(t, _)| *t)
            .unwrap_or(0)
    };
    // The callee's retry completes first (0–2 s), then the caller's (2.1–4 s).
    let (callee_done, caller_done) = (at(1, "media:local"), at(0, "media:local"));
    assert!((5100..=7200).contains(&callee_done), "{callee_done}");
    assert!(
        (7200..=9200).contains(&caller_done) && caller_done > callee_done,
        "{caller_done}"
    );
    w.assert_quiet();
}

/// DTMF in SIP INFO both ways: application/dtmf-relay and application/dtmf.
#[test]
fn info_dtmf_both_ways() {
    let mut w = World::pair(1, LOSSY, caller_hangs_up_after(20), Policy::default());
    w.call(0, addr(1));
    w.at(5000, 0, Action::Dtmf('5'));
    w.at(6000, 1, Action::Info("application/dtmf", "#"));
    w.at(7000, 0, Action::Info("application/json", "{\"x\":1}"));
    w.run(secs(300));
    let d = w.nodes[1].events.iter().find_map(|(_, e)| match e {
        DialogEvent::Dtmf { dtmf, .. } => Some(*dtmf),
        _ => None,
    });
    assert_eq!(
        d.map(|d| (d.digit, d.duration_ms)),
        Some(('5', Some(160))),
        "{}",
        w.explain()
    );
    assert!(w.names(0).contains(&"dtmf:#".to_owned()));
    assert!(w.names(1).contains(&"info".to_owned()));
    assert_eq!(
        w.names(0).iter().filter(|n| *n == "completed:200").count(),
        2
    );
    w.assert_quiet();
}

/// The callee hangs up: the caller reports a remote BYE with the callee's cause.
#[test]
fn bye_from_the_callee() {
    let callee = Policy {
        hangup_after: Some((secs(3), Some(Q850::new(31)))),
        ..Policy::default()
    };
    let mut w = World::pair(2, LOSSY, Policy::default(), callee);
    w.call(0, addr(1));
    w.run(secs(300));
    let end = w.ended(0);
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Remote, EndKind::Bye, 200)
    );
    assert_eq!(
        (end.cause, end.cause_source),
        (Some(Q850::NORMAL_UNSPECIFIED), Some(CauseSource::Header))
    );
    assert_eq!(
        end.to_string(),
        "bye by remote: 200 OK, Q.850 cause 31 Normal, unspecified"
    );
    let end = w.ended(1);
    assert_eq!((end.by, end.kind), (Side::Local, EndKind::Bye));
    w.assert_quiet();
}

/// A rejection with `Reason: Q.850;cause=21` surfaces as "Call rejected" with the 603; one
/// without Reason gets the RFC 3398 mapping.
#[test]
fn rejections_carry_status_and_cause() {
    let callee = Policy {
        on_incoming: OnIncoming::Reject(secs(1), 603, Some(Q850::CALL_REJECTED)),
        ..Policy::default()
    };
    let mut w = World::pair(3, LOSSY, Policy::default(), callee);
    w.call(0, addr(1));
    w.run(secs(300));
    let end = w.ended(0);
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Remote, EndKind::Rejected, 603)
    );
    assert_eq!(end.cause.and_then(Q850::name), Some("Call rejected"));
    assert_eq!(end.cause_source, Some(CauseSource::Header));
    w.assert_quiet();

    let busy = Policy {
        on_incoming: OnIncoming::Reject(secs(1), 486, None),
        ..Policy::default()
    };
    let mut w = World::pair(3, CLEAN, Policy::default(), busy);
    w.call(0, addr(1));
    w.run(secs(300));
    let end = w.ended(0);
    assert_eq!(
        (end.status, end.cause, end.cause_source),
        (486, Some(Q850::USER_BUSY), Some(CauseSource::Mapped))
    );
    w.assert_quiet();
}

/// Nobody answers at all: Timer B, 408, cause 102.
#[test]
fn unanswered_invite_times_out() {
    let mut w = World::pair(1, CLEAN, Policy::default(), Policy::default());
    w.filter = Some(Box::new(|from, _| from == "uac"));
    w.call(0, addr(1));
    w.run(secs(300));
    let end = w.ended(0);
    assert_eq!(
        (end.by, end.kind, end.status),
        (Side::Local, EndKind::Timeout, 408)
    );
    assert_eq!(end.cause, Some(Q850::RECOVERY_ON_TIMER_EXPIRY));
    assert!(w.nodes[0].layer.is_idle());
}

/// The callee hangs up before the ACK arrived: its BYE waits for the ACK (RFC 3261 §15).
#[test]
fn callee_bye_waits_for_the_ack() {
    let callee = Policy {
        on_incoming: OnIncoming::Nothing,
        ..Policy::default()
    };
    let mut w = World::pair(1, CLEAN, Policy::default(), callee);
    let mut acks = 0;
    w.filter = Some(Box::new(move |_, line| {
        if line.starts_with("ACK ") {
            acks += 1;
            return acks == 1;
        }
        false
    }));
    w.call(0, addr(1));
    w.at(1000, 1, Action::Answer);
    w.at(1200, 1, Action::Hangup(None));
    w.run(secs(300));
    assert_eq!(w.names(1), ["incoming", "ended:local:bye:200"]);
    // The BYE left once the retransmitted 2xx got its ACK (1000 + 500 + 50 + 50).
    let bye = w
        .trace
        .iter()
        .find(|l| l.contains("uas -> uac: BYE"))
        .cloned()
        .unwrap_or_default();
    assert!(
        bye.trim_start().starts_with("1600 ms"),
        "{bye}\n{}",
        w.explain()
    );
    assert_eq!(w.ended(0).kind, EndKind::Bye);
    w.assert_quiet();
}

#[test]
fn hold_direction_is_kept_by_media_session() {
    let mut w = World::pair(9, CLEAN, caller_hangs_up_after(20), Policy::default());
    let id = w.call(0, addr(1));
    w.at(5000, 0, Action::Hold);
    w.run(secs(8));
    let s = w.nodes[0].layer.session(id).expect("alive");
    assert_eq!(
        s.negotiated().map(|n| n.direction),
        Some(Direction::SendOnly)
    );
    w.run(secs(300));
    w.assert_quiet();
}
