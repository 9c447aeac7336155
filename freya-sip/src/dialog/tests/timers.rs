//! RFC 4028 session timers through the network emulator.

use super::netem::*;
use super::*;
use crate::dialog::{CauseSource, DialogEvent, EndKind, SessionTimerConfig, Side, Q850};

fn asks(seconds: u32) -> crate::dialog::DialogConfig {
    let mut c = config(0);
    c.session_timer.session_expires = Some(seconds);
    c
}

fn timer_events(w: &World, i: usize) -> Vec<(u64, String)> {
    w.nodes[i]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, DialogEvent::SessionTimer { .. }))
        .map(|(t, e)| (*t, ev_name(e)))
        .collect()
}

/// The caller asks for 90 s; the callee lets the caller refresh (it supports timers). The
/// caller refreshes every 45 s (UPDATE: the callee allows it) for ten minutes and the
/// call stays up.
#[test]
fn caller_refreshes_at_half_the_interval() {
    let caller = Policy {
        hangup_after: Some((secs(600), None)),
        ..Policy::default()
    };
    for seed in [1, 2, 3] {
        let mut w = World::new(
            seed,
            LOSSY,
            vec![
                ("uac", asks(90), caller.clone()),
                ("uas", config(1), Policy::default()),
            ],
        );
        w.call(0, addr(1));
        w.run(secs(900));
        let refreshes = w.nodes[0].layer.stats().refreshes;
        assert!(
            (13..=14).contains(&refreshes),
            "seed {seed}: {refreshes}\n{}",
            w.explain()
        );
        assert_eq!(w.nodes[1].layer.stats().refreshes, 0);
        assert_eq!(w.ended(0).kind, EndKind::Bye, "seed {seed}");
        assert_eq!(w.ended(1).by, Side::Remote);
        let t = timer_events(&w, 1);
        assert!(t.iter().all(|(_, n)| n == "timer:90:false"), "{t:?}");
        assert!(t.len() >= 13);
        w.assert_quiet();
    }
}

/// The caller names the callee as refresher: the callee refreshes.
#[test]
fn callee_refreshes_when_named_refresher() {
    let caller = Policy {
        hangup_after: Some((secs(300), None)),
        ..Policy::default()
    };
    let mut w = World::pair(4, CLEAN, caller, Policy::default());
    w.call_with(0, addr(1), |c| {
        c.header("Session-Expires", "120;refresher=uas")
    });
    w.run(secs(900));
    let refreshes = w.nodes[1].layer.stats().refreshes;
    // 60 s after the answer, then 60 s after each refresh's 2xx; the BYE comes first at 300 s.
    assert_eq!(refreshes, 4, "{}", w.explain());
    assert_eq!(w.nodes[0].layer.stats().refreshes, 0);
    assert!(timer_events(&w, 0)
        .iter()
        .all(|(_, n)| n == "timer:120:false"));
    w.assert_quiet();
}

/// A refresh by re-INVITE when the peer does not allow UPDATE: the callee is refresher and
/// the caller's INVITE lists no UPDATE in Allow.
#[test]
fn refresh_by_reinvite_without_update() {
    let caller = Policy {
        hangup_after: Some((secs(100), None)),
        ..Policy::default()
    };
    let mut w = World::pair(4, CLEAN, caller, Policy::default());
    // The caller's messages list no UPDATE in Allow.
    w.mangle = Some(Box::new(|from, b| {
        let text = String::from_utf8_lossy(&b).into_owned();
        if from != "uac" {
            return b;
        }
        bytes::Bytes::from(text.replace(", INFO, UPDATE, NOTIFY\r\n", ", INFO, NOTIFY\r\n"))
    }));
    w.call_with(0, addr(1), |c| {
        c.header("Session-Expires", "90;refresher=uas")
    });
    w.run(secs(900));
    assert!(
        w.trace.iter().any(|l| l.contains("uas -> uac: INVITE ")),
        "{}",
        w.explain()
    );
    assert!(!w.trace.iter().any(|l| l.contains("uas -> uac: UPDATE ")));
    assert_eq!(w.nodes[1].layer.stats().refreshes, 2);
    assert!(
        !w.names(0).iter().any(|n| n.starts_with("media:")),
        "a refresh with unchanged SDP is no media change"
    );
    w.assert_quiet();
}

/// The caller asked for a session timer (a proxy could have) but never refreshes: the
/// callee sends BYE at the interval minus min(32 s, interval/3) — 60 s for 90 s.
#[test]
fn session_expires_without_refresh() {
    let mut silent = config(0);
    silent.session_timer = SessionTimerConfig {
        enabled: false,
        ..SessionTimerConfig::default()
    };
    let mut w = World::new(
        1,
        CLEAN,
        vec![
            ("uac", silent, Policy::default()),
            ("uas", config(1), Policy::default()),
        ],
    );
    w.call_with(0, addr(1), |c| {
        c.header("Session-Expires", "90;refresher=uac")
    });
    w.run(secs(900));
    let (t, end) = w.nodes[1]
        .events
        .iter()
        .find_map(|(t, e)| match e {
            DialogEvent::Ended { end, .. } => Some((*t, end.clone())),
            _ => None,
        })
        .expect("ended");
    assert_eq!((end.by, end.kind), (Side::Local, EndKind::SessionExpired));
    assert_eq!(t, 1050 + 60_000, "{}", w.explain());
    assert_eq!(w.nodes[1].layer.stats().expired, 1);
    let end = w.ended(0);
    assert_eq!(
        (end.by, end.kind, end.cause, end.cause_source),
        (
            Side::Remote,
            EndKind::Bye,
            Some(Q850::RECOVERY_ON_TIMER_EXPIRY),
            Some(CauseSource::Header)
        )
    );
    w.assert_quiet();
}

/// Below the callee's Min-SE: 422 with Min-SE, and the caller's new INVITE asks for it
/// (RFC 4028 §7.4, §8.1).
#[test]
fn interval_too_small_gets_422_and_a_retry() {
    let mut strict = config(1);
    strict.session_timer.min_se = 300;
    let caller = Policy {
        hangup_after: Some((secs(30), None)),
        ..Policy::default()
    };
    let mut w = World::new(
        2,
        LOSSY,
        vec![
            ("uac", asks(90), caller),
            ("uas", strict, Policy::default()),
        ],
    );
    let id = w.call(0, addr(1));
    w.run(secs(10));
    assert_eq!(w.nodes[1].layer.stats().refused, 1, "{}", w.explain());
    let s = w.nodes[0].layer.session(id).expect("up");
    assert_eq!(
        s.session_timer().map(|t| (t.seconds, t.we_refresh)),
        Some((300, true))
    );
    assert_eq!(s.invite().cseq().map(|c| c.seq), Some(2));
    assert_eq!(s.invite().header("Min-SE").map(|h| h.value()), Some("300"));
    w.run(secs(900));
    assert_eq!(
        w.names(1),
        [
            "incoming",
            "timer:300:false",
            "confirmed",
            "ended:remote:bye:200"
        ]
    );
    w.assert_quiet();
}
