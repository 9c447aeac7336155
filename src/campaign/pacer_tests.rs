//! The pacer in virtual time: pace, burst, ceiling, the wrong-prefix breaker, counters, and
//! a property test of the pace and ceiling over random campaigns.

use super::*;
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(cps: f64, burst: u32, max: usize) -> PacingConfig {
    PacingConfig {
        calls_per_second: cps,
        burst,
        max_concurrent: max,
        breaker: Some(BreakerConfig::default()),
    }
}

/// Runs a campaign whose calls all last `hold`, waking only at the pacer's deadlines and
/// the calls' ends; the dial instants, in dial order.
fn run(p: &mut Pacer, t0: Instant, hold: Duration) -> Vec<(usize, Instant)> {
    let mut now = t0;
    let mut dials = Vec::new();
    let mut ends: Vec<(Instant, usize)> = Vec::new();
    for _ in 0..100_000 {
        while let Some(i) = p.poll_dial(now) {
            dials.push((i, now));
            ends.push((now + hold, i));
        }
        ends.sort();
        while ends.first().is_some_and(|e| e.0 <= now) {
            let (_, i) = ends.remove(0);
            assert!(p.handle_ended(now, i, Outcome::Answered));
        }
        if p.is_finished() {
            return dials;
        }
        let next_end = ends.first().map(|e| e.0);
        now = match (p.poll_timeout(), next_end) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => panic!("stuck at {:?}", now - t0),
        };
    }
    panic!("did not finish");
}

#[test]
fn calls_start_at_the_pace_and_never_in_a_burst() {
    let t0 = Instant::now();
    let mut p = Pacer::new(cfg(2.0, 1, 100), 10).unwrap();
    let dials = run(&mut p, t0, ms(100));
    let offsets: Vec<u128> = dials.iter().map(|d| (d.1 - t0).as_micros()).collect();
    let want: Vec<u128> = (0..10).map(|i| i * 500_000).collect();
    for (got, want) in offsets.iter().zip(&want) {
        assert!(got.abs_diff(*want) <= 1, "{offsets:?}");
    }
    assert_eq!(
        dials.iter().map(|d| d.0).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>(),
        "list order"
    );
    assert_eq!(p.stats().answered, 10);
}

#[test]
fn a_burst_allows_that_many_back_to_back_then_the_pace() {
    let t0 = Instant::now();
    let mut p = Pacer::new(cfg(1.0, 3, 100), 6).unwrap();
    let dials = run(&mut p, t0, ms(10));
    let offsets: Vec<u128> = dials.iter().map(|d| (d.1 - t0).as_millis()).collect();
    assert_eq!(offsets, [0, 0, 0, 1000, 2000, 3000]);
}

#[test]
fn the_ceiling_holds_and_an_ended_call_makes_room() {
    let t0 = Instant::now();
    let mut p = Pacer::new(cfg(100.0, 10, 2), 5).unwrap();
    assert_eq!(p.poll_dial(t0), Some(0));
    assert_eq!(p.poll_dial(t0), Some(1));
    assert_eq!(p.poll_dial(t0), None);
    assert_eq!(
        p.poll_timeout(),
        None,
        "nothing to wait for but a call's end"
    );
    assert_eq!(p.stats().active, 2);
    assert!(p.handle_ended(t0 + ms(5), 1, Outcome::Answered));
    assert!(
        !p.handle_ended(t0 + ms(5), 1, Outcome::Answered),
        "reported twice"
    );
    assert!(
        !p.handle_ended(t0 + ms(5), 9, Outcome::Answered),
        "never dialed"
    );
    assert_eq!(p.poll_dial(t0 + ms(5)), Some(2));
    assert_eq!(p.stats().answered, 1);
    assert_eq!(p.stats().dialed, 3);
}

#[test]
fn a_wrong_prefix_pauses_the_campaign_until_resumed() {
    let t0 = Instant::now();
    let mut p = Pacer::new(cfg(100.0, 100, 100), 30).unwrap();
    let dialed: Vec<usize> = std::iter::from_fn(|| p.poll_dial(t0)).take(12).collect();
    assert_eq!(dialed.len(), 12);
    // Busy and congestion are not number errors: no pause.
    for &i in &dialed[..3] {
        p.handle_ended(
            t0,
            i,
            Outcome::Failed {
                sip_code: 486,
                q850_cause: Some(17),
            },
        );
    }
    assert_eq!(p.paused(), None);
    // 404 and 484 (Q.850 1 and 28): the eighth number error in the last ten pauses it.
    let mut at = None;
    for (k, &i) in dialed[3..].iter().enumerate() {
        let outcome = if k % 2 == 0 {
            Outcome::Failed {
                sip_code: 404,
                q850_cause: Some(1),
            }
        } else {
            Outcome::Failed {
                sip_code: 484,
                q850_cause: Some(28),
            }
        };
        p.handle_ended(t0, i, outcome);
        if p.paused().is_some() && at.is_none() {
            at = Some(k + 1);
        }
    }
    assert_eq!(at, Some(8), "paused at the eighth number failure");
    // As it tripped: 2 busy and 8 number failures in the window of 10.
    assert_eq!(
        p.paused(),
        Some(PauseReason::NumberFailures {
            failures: 8,
            window: 10
        })
    );
    assert_eq!(p.poll_dial(t0 + ms(1000)), None);
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.stats().number_failures, 9);
    assert_eq!(p.stats().by_sip_code, [(404, 5), (484, 4), (486, 3)]);
    p.resume();
    assert_eq!(p.paused(), None);
    assert_eq!(p.poll_dial(t0 + ms(1000)), Some(12));
    p.pause();
    assert_eq!(p.paused(), Some(PauseReason::Operator));
    assert_eq!(p.poll_dial(t0 + ms(2000)), None);
}

#[test]
fn without_a_breaker_failures_never_pause() {
    let t0 = Instant::now();
    let mut c = cfg(100.0, 100, 100);
    c.breaker = None;
    let mut p = Pacer::new(c, 20).unwrap();
    while let Some(i) = p.poll_dial(t0) {
        p.handle_ended(
            t0,
            i,
            Outcome::Failed {
                sip_code: 404,
                q850_cause: None,
            },
        );
    }
    assert!(p.is_finished());
    assert_eq!(p.stats().failed, 20);
}

#[test]
fn bad_settings_are_refused_by_name() {
    let cases = [
        (cfg(f64::NAN, 1, 1), "calls_per_second = NaN"),
        (cfg(-1.0, 1, 1), "calls_per_second = -1"),
        (cfg(1.0, 0, 1), "burst = 0"),
        (cfg(1.0, 1, 0), "max_concurrent = 0"),
        (
            PacingConfig {
                breaker: Some(BreakerConfig {
                    window: 5,
                    failures: 6,
                }),
                ..cfg(1.0, 1, 1)
            },
            "breaker.failures = 6",
        ),
        (
            PacingConfig {
                breaker: Some(BreakerConfig {
                    window: 0,
                    failures: 0,
                }),
                ..cfg(1.0, 1, 1)
            },
            "breaker.window = 0",
        ),
    ];
    for (c, want) in cases {
        let e = Pacer::new(c, 1).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}");
    }
}

#[test]
fn a_number_handed_back_is_dialed_next_and_counted_once() {
    let t0 = Instant::now();
    let mut p = Pacer::new(cfg(10.0, 1, 5), 3).unwrap();
    assert_eq!(p.poll_dial(t0), Some(0));
    assert!(p.retry(0));
    assert!(!p.retry(0)); // not up any more
    assert_eq!(
        (p.stats().dialed, p.stats().active, p.remaining()),
        (0, 0, 3)
    );
    // Its token was spent: the next call waits for the pace, then is the same number.
    assert_eq!(p.poll_dial(t0), None);
    assert_eq!(p.poll_timeout(), Some(t0 + ms(100)));
    assert_eq!(p.poll_dial(t0 + ms(100)), Some(0));
    assert_eq!(p.poll_dial(t0 + ms(200)), Some(1));
    assert_eq!(p.poll_dial(t0 + ms(300)), Some(2));
    for i in 0..3 {
        assert!(p.handle_ended(t0 + ms(400), i, Outcome::Answered));
    }
    assert!(p.is_finished());
    assert_eq!((p.stats().dialed, p.stats().answered), (3, 3));
}

#[test]
fn an_empty_list_is_finished_at_once() {
    let mut p = Pacer::new(PacingConfig::default(), 0).unwrap();
    assert!(p.is_finished());
    assert_eq!(p.poll_dial(Instant::now()), None);
    assert_eq!(p.poll_timeout(), None);
}

proptest! {
    /// Over random campaigns (pace, burst, ceiling, list length, call lengths): every number
    /// is dialed once, in order; never more than `max_concurrent` calls are up; and in every
    /// window of time no more calls start than `burst` plus the pace allows.
    #[test]
    fn pace_and_ceiling_hold(
        cps in 0.2f64..50.0,
        burst in 1u32..5,
        max in 1usize..8,
        total in 0usize..60,
        holds in proptest::collection::vec(0u64..3_000, 60),
    ) {
        let t0 = Instant::now();
        let mut p = Pacer::new(cfg(cps, burst, max), total).unwrap();
        let mut now = t0;
        let mut dials: Vec<Instant> = Vec::new();
        let mut ends: Vec<(Instant, usize)> = Vec::new();
        let mut order = Vec::new();
        for _ in 0..10_000 {
            while let Some(i) = p.poll_dial(now) {
                order.push(i);
                dials.push(now);
                ends.push((now + ms(holds[i % holds.len()]), i));
                prop_assert!(p.stats().active <= max);
            }
            ends.sort();
            while ends.first().is_some_and(|e| e.0 <= now) {
                let (_, i) = ends.remove(0);
                p.handle_ended(now, i, Outcome::Answered);
            }
            if p.is_finished() {
                break;
            }
            let next_end = ends.first().map(|e| e.0);
            now = match (p.poll_timeout(), next_end) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
        }
        prop_assert!(p.is_finished());
        prop_assert_eq!(order, (0..total).collect::<Vec<_>>());
        for (a, &start) in dials.iter().enumerate() {
            for (b, &end) in dials.iter().enumerate().skip(a) {
                let span = (end - start).as_secs_f64();
                let allowed = f64::from(burst) + span * cps + 1e-6;
                prop_assert!(((b - a + 1) as f64) <= allowed,
                    "{} calls in {span} s at {cps}/s burst {burst}", b - a + 1);
            }
        }
    }
}
