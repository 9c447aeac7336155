//! [`Registration`] against a registrar made of our [`Challenger`], in virtual time.

use std::time::{Duration, Instant};

use crate::auth::{
    Challenger, ChallengerConfig, Credentials, Registration, RegistrationConfig,
    RegistrationEvent as Ev, RegistrationState as St, UserSecret,
};
use crate::message::{parse, response_to, Message};
use crate::transaction::{Remote, TimerConfig, TransactionLayer};

use super::t0;

const CONTACT: &str = "sip:alice@192.0.2.10:5060";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn config(password: Option<&str>) -> RegistrationConfig {
    let c = RegistrationConfig::new(
        "sip:freya.example",
        "sip:alice@freya.example",
        CONTACT,
        Remote::udp("198.51.100.7:5060".parse().unwrap()),
        "192.0.2.10:5060",
    );
    match password {
        Some(p) => c.credentials(Credentials::new("alice", p)),
        None => c,
    }
}

fn reply(req: &Message, status: u16, reason: &str, extra: &[(&str, &str)]) -> Message {
    parse(response_to(req, status, reason, extra).unwrap()).unwrap()
}

fn events(r: &mut Registration) -> Vec<Ev> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn hv<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.header(name).map(|h| h.value())
}

/// A registrar: challenges, verifies alice/wonderland, grants `grant` seconds.
struct Registrar {
    auth: Challenger,
    grant: u32,
    seen: Vec<Message>,
}

impl Registrar {
    fn new(nonce_lifetime: u64) -> Registrar {
        let mut cfg = ChallengerConfig::new("freya.example");
        cfg.nonce_lifetime = secs(nonce_lifetime);
        Registrar {
            auth: Challenger::new(cfg, t0()).unwrap(),
            grant: 600,
            seen: Vec::new(),
        }
    }

    fn answer(&mut self, now: Instant, req: &Message) -> Message {
        self.seen.push(req.clone());
        let lookup =
            |u: &str, _: &str| (u == "alice").then(|| UserSecret::Password("wonderland".into()));
        match self.auth.verify(now, req, lookup) {
            Ok(_) => {
                let contact = format!("<{CONTACT}>;expires={}", self.grant);
                reply(req, 200, "OK", &[("Contact", &contact)])
            }
            Err(f) => parse(self.auth.challenge_response(now, req, Some(&f)).unwrap()).unwrap(),
        }
    }

    /// Sends every due request of `reg` to the registrar and its answers back.
    fn exchange(&mut self, reg: &mut Registration, now: Instant) -> usize {
        let mut n = 0;
        while let Some(req) = reg.poll_request(now) {
            let resp = self.answer(now, &req);
            assert!(reg.handle_response(now, &resp));
            n += 1;
        }
        n
    }
}

/// Runs `reg` until `until`: fires its timers and carries its requests.
fn run(reg: &mut Registration, registrar: &mut Registrar, until: Instant) {
    registrar.exchange(reg, t0());
    while let Some(at) = reg.poll_timeout().filter(|at| *at <= until) {
        reg.handle_timeout(at);
        registrar.exchange(reg, at);
    }
}

#[test]
fn registers_through_a_challenge_and_refreshes_before_expiry() {
    let mut reg = Registration::with_seed(config(Some("wonderland")), 1).unwrap();
    let mut registrar = Registrar::new(300);
    assert_eq!(reg.state(), St::Idle);
    assert_eq!(reg.poll_request(t0()), None, "nothing before register()");
    reg.register(t0());
    assert_eq!(reg.state(), St::Registering);
    let first = reg.poll_request(t0()).unwrap();
    assert_eq!(reg.poll_request(t0()), None, "one REGISTER at a time");
    assert_eq!(first.request_uri(), Some("sip:freya.example"));
    assert_eq!(hv(&first, "Expires"), Some("3600"));
    assert_eq!(hv(&first, "Contact"), Some("<sip:alice@192.0.2.10:5060>"));
    assert_eq!(first.to().unwrap().uri, "sip:alice@freya.example");
    assert!(first.header("Authorization").is_none());
    // 401, answered at once; 200 grants 600 s.
    let challenge = registrar.answer(t0(), &first);
    assert!(reg.handle_response(t0(), &challenge));
    assert_eq!(reg.poll_timeout(), Some(t0()), "the answer is due now");
    assert_eq!(registrar.exchange(&mut reg, t0()), 1);
    assert_eq!(events(&mut reg), [Ev::Registered { expires: 600 }]);
    assert_eq!(reg.state(), St::Registered);
    assert_eq!(reg.bound_until(), Some(t0() + secs(600)));
    // The refresh goes out 64 s before the binding lapses; by then the 300 s nonce is
    // stale, so the registrar challenges with stale=true and the refresh is answered again.
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(536)));
    run(&mut reg, &mut registrar, t0() + secs(536));
    assert_eq!(events(&mut reg), [Ev::Registered { expires: 600 }]);
    assert_eq!(registrar.auth.stats().stale, 1);
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(536 + 536)));

    let seen = &registrar.seen;
    assert_eq!(seen.len(), 4);
    let cseqs: Vec<u32> = seen.iter().map(|m| m.cseq().unwrap().seq).collect();
    assert_eq!(cseqs, [1, 2, 3, 4]);
    assert!(seen.iter().all(|m| m.call_id() == Some(reg.call_id())));
    assert!(seen
        .iter()
        .all(|m| m.from().unwrap().tag() == first.from().unwrap().tag()));
    let mut branches: Vec<_> = seen
        .iter()
        .map(|m| m.top_via().unwrap().branch().unwrap().to_owned())
        .collect();
    branches.dedup();
    assert_eq!(branches.len(), 4, "a fresh branch per request");
    // The refresh carried the kept credentials (second use of the nonce).
    let refresh = hv(&seen[2], "Authorization").unwrap();
    assert!(refresh.contains("nc=00000002"), "{refresh}");
    assert!(hv(&seen[3], "Authorization")
        .unwrap()
        .contains("nc=00000001"));
    assert_eq!(reg.stats().sent, 4);
    assert_eq!(reg.stats().challenges, 2);
}

#[test]
fn kept_credentials_save_the_round_trip() {
    let mut reg = Registration::with_seed(config(Some("wonderland")), 2).unwrap();
    let mut registrar = Registrar::new(3600);
    reg.register(t0());
    run(&mut reg, &mut registrar, t0() + secs(536));
    assert_eq!(
        registrar.seen.len(),
        3,
        "REGISTER, REGISTER+auth, refresh+auth"
    );
    assert_eq!(registrar.auth.stats().accepted, 2);
    assert_eq!(
        events(&mut reg),
        [
            Ev::Registered { expires: 600 },
            Ev::Registered { expires: 600 }
        ]
    );
}

#[test]
fn granted_expiry_and_refresh_time() {
    let other = "<sip:bob@192.0.2.99>;expires=50";
    type Case<'a> = (&'a [(&'a str, &'a str)], u32, u64);
    let cases: [Case; 5] = [
        // Our Contact's expires (parameters aside), among others.
        (
            &[
                ("Contact", other),
                (
                    "Contact",
                    "<sip:alice@192.0.2.10:5060;transport=udp>;expires=120",
                ),
            ],
            120,
            60,
        ),
        // Not ours among several: the Expires header.
        (
            &[
                ("Contact", other),
                ("Contact", "<sip:carol@192.0.2.98>"),
                ("Expires", "90"),
            ],
            90,
            45,
        ),
        // A single Contact the registrar rewrote (NAT): its expires.
        (
            &[("Contact", "<sip:alice@203.0.113.5:40000>;expires=300")],
            300,
            236,
        ),
        // Nothing said: what we asked.
        (&[], 3600, 3536),
        // Very short: half way.
        (&[("Expires", "10")], 10, 5),
    ];
    for (i, (extra, granted, refresh)) in cases.into_iter().enumerate() {
        let mut reg = Registration::with_seed(config(None), 3).unwrap();
        reg.register(t0());
        let req = reg.poll_request(t0()).unwrap();
        reg.handle_response(t0(), &reply(&req, 200, "OK", extra));
        assert_eq!(
            events(&mut reg),
            [Ev::Registered { expires: granted }],
            "case {i}"
        );
        assert_eq!(reg.poll_timeout(), Some(t0() + secs(refresh)), "case {i}");
    }
    // A 2xx granting 0 s kept no binding: a failure.
    let mut reg = Registration::with_seed(config(None), 3).unwrap();
    reg.register(t0());
    let req = reg.poll_request(t0()).unwrap();
    reg.handle_response(t0(), &reply(&req, 200, "OK", &[("Expires", "0")]));
    assert!(matches!(
        &events(&mut reg)[..],
        [Ev::Failed { status: 200, .. }]
    ));
    assert_eq!(reg.state(), St::Retrying);
}

#[test]
fn a_wrong_password_fails_after_one_retry_and_backs_off() {
    let mut reg = Registration::with_seed(config(Some("looking-glass")), 4).unwrap();
    let mut registrar = Registrar::new(300);
    reg.register(t0());
    let mut failed_at = Vec::new();
    let mut now = t0();
    for _ in 0..4 {
        assert_eq!(
            registrar.exchange(&mut reg, now),
            2,
            "REGISTER, then one retry with credentials"
        );
        let ev = events(&mut reg);
        match &ev[..] {
            [Ev::Failed {
                status: 401,
                reason,
            }] => assert!(reason.contains("refused"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(reg.state(), St::Retrying);
        failed_at.push(now);
        now = reg.poll_timeout().unwrap();
        reg.handle_timeout(now);
    }
    let gaps: Vec<u64> = failed_at
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps, [30, 60, 120]);
    // Refused credentials are not sent again unasked: each round starts without them.
    let without = registrar
        .seen
        .iter()
        .filter(|m| m.header("Authorization").is_none())
        .count();
    assert_eq!(without, 4);
    assert_eq!(registrar.auth.stats().wrong_response, 4);
    assert_eq!(reg.stats().failures, 4);
}

#[test]
fn without_credentials_a_challenge_is_a_failure() {
    let mut reg = Registration::with_seed(config(None), 5).unwrap();
    let mut registrar = Registrar::new(300);
    reg.register(t0());
    assert_eq!(registrar.exchange(&mut reg, t0()), 1);
    match &events(&mut reg)[..] {
        [Ev::Failed {
            status: 401,
            reason,
        }] => {
            assert!(reason.contains("no credentials"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(30)));
}

#[test]
fn interval_too_brief_is_asked_again_with_min_expires() {
    let mut reg = Registration::with_seed(config(None), 6).unwrap();
    reg.register(t0());
    let req = reg.poll_request(t0()).unwrap();
    reg.handle_response(
        t0(),
        &reply(&req, 423, "Interval Too Brief", &[("Min-Expires", "7200")]),
    );
    assert!(events(&mut reg).is_empty());
    let again = reg.poll_request(t0()).unwrap();
    assert_eq!(hv(&again, "Expires"), Some("7200"));
    assert_eq!(again.cseq().unwrap().seq, 2);
    reg.handle_response(t0(), &reply(&again, 200, "OK", &[]));
    assert_eq!(events(&mut reg), [Ev::Registered { expires: 7200 }]);
    // A Min-Expires that is not above what we asked cannot help: a failure.
    let mut reg = Registration::with_seed(config(None), 6).unwrap();
    reg.register(t0());
    let req = reg.poll_request(t0()).unwrap();
    reg.handle_response(
        t0(),
        &reply(&req, 423, "Interval Too Brief", &[("Min-Expires", "60")]),
    );
    assert!(matches!(
        &events(&mut reg)[..],
        [Ev::Failed { status: 423, .. }]
    ));
}

#[test]
fn failures_back_off_honour_retry_after_and_reset_on_success() {
    let mut cfg = config(None);
    cfg.retry_max = secs(200);
    let mut reg = Registration::with_seed(cfg, 7).unwrap();
    reg.register(t0());
    let mut now = t0();
    let mut delays = Vec::new();
    for (status, extra) in [
        (503, vec![("Retry-After", "120 (maintenance)")]),
        (500, vec![]),
        (404, vec![]),
        (480, vec![]),
        (200, vec![]),
        (500, vec![]),
    ] {
        let req = reg.poll_request(now).unwrap();
        reg.handle_response(now, &reply(&req, status, "X", &extra));
        let next = reg.poll_timeout().unwrap();
        delays.push((next - now).as_secs());
        now = next;
        reg.handle_timeout(now);
    }
    // 120 (Retry-After over 30), 60, 120, 200 (capped), refresh of 3600 s, 30 again.
    assert_eq!(delays, [120, 60, 120, 200, 3536, 30]);
    assert_eq!(reg.stats().failures, 5);
}

#[test]
fn no_response_is_a_timeout() {
    let mut reg = Registration::with_seed(config(None), 8).unwrap();
    reg.register(t0());
    let lost = reg.poll_request(t0()).unwrap();
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(40)));
    reg.handle_timeout(t0() + secs(40));
    assert_eq!(
        events(&mut reg),
        [Ev::Failed {
            status: 408,
            reason: "Request Timeout".into()
        }]
    );
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(70)));
    // The late answer to the lost request is not ours any more.
    assert!(!reg.handle_response(t0() + secs(41), &reply(&lost, 200, "OK", &[])));
    assert!(events(&mut reg).is_empty());
    // The transaction layer's Timer F and a transport error count the same way.
    let now = t0() + secs(70);
    reg.handle_timeout(now);
    reg.poll_request(now).unwrap();
    reg.handle_request_timeout(now);
    assert!(matches!(
        &events(&mut reg)[..],
        [Ev::Failed { status: 408, .. }]
    ));
    let now = reg.poll_timeout().unwrap();
    assert_eq!(now, t0() + secs(70 + 60));
    reg.poll_request(now).unwrap();
    reg.handle_transport_error(now);
    assert!(matches!(
        &events(&mut reg)[..],
        [Ev::Failed { status: 503, .. }]
    ));
    assert_eq!((reg.stats().timeouts, reg.stats().stray_responses), (2, 1));
}

#[test]
fn unregister_sends_expires_zero() {
    let mut reg = Registration::with_seed(config(Some("wonderland")), 9).unwrap();
    let mut registrar = Registrar::new(3600);
    reg.unregister(t0());
    assert_eq!(
        events(&mut reg),
        [Ev::Unregistered],
        "nothing registered: done at once"
    );
    reg.register(t0());
    registrar.exchange(&mut reg, t0());
    events(&mut reg);
    let now = t0() + secs(100);
    reg.unregister(now);
    assert_eq!(reg.state(), St::Unregistering);
    let req = reg.poll_request(now).unwrap();
    assert_eq!(hv(&req, "Expires"), Some("0"));
    assert!(
        req.header("Authorization").is_some(),
        "kept credentials go along"
    );
    let resp = registrar.answer(now, &req);
    assert!(reg.handle_response(now, &resp));
    assert_eq!(events(&mut reg), [Ev::Unregistered]);
    assert_eq!(
        (reg.state(), reg.poll_timeout(), reg.bound_until()),
        (St::Idle, None, None)
    );
    // A refused unregister is reported and not retried.
    reg.register(now);
    registrar.exchange(&mut reg, now);
    events(&mut reg);
    reg.unregister(now);
    let req = reg.poll_request(now).unwrap();
    reg.handle_response(now, &reply(&req, 403, "Forbidden", &[]));
    assert_eq!(
        events(&mut reg),
        [Ev::Failed {
            status: 403,
            reason: "Forbidden".into()
        }]
    );
    assert_eq!((reg.state(), reg.poll_timeout()), (St::Idle, None));
}

#[test]
fn stray_and_provisional_responses() {
    let mut reg = Registration::with_seed(config(None), 10).unwrap();
    reg.register(t0());
    let req = reg.poll_request(t0()).unwrap();
    assert!(reg.handle_response(t0(), &reply(&req, 100, "Trying", &[])));
    let mut other = req.edit();
    other.set_header("Call-ID", "someone-else").unwrap();
    let other = other.finish().unwrap();
    assert!(!reg.handle_response(t0(), &reply(&other, 200, "OK", &[])));
    let mut old = req.edit();
    old.set_header("CSeq", "0 REGISTER").unwrap();
    let old = old.finish().unwrap();
    assert!(!reg.handle_response(t0(), &reply(&old, 200, "OK", &[])));
    assert_eq!(reg.stats().stray_responses, 2);
    assert_eq!(reg.state(), St::Registering, "still waiting");
    assert!(reg.handle_response(t0(), &reply(&req, 200, "OK", &[])));
    assert!(
        !reg.handle_response(t0(), &reply(&req, 200, "OK", &[])),
        "a duplicate final"
    );
    assert_eq!(events(&mut reg), [Ev::Registered { expires: 3600 }]);
}

#[test]
fn a_lapsed_binding_is_noticed_while_retrying() {
    let mut reg = Registration::with_seed(config(None), 11).unwrap();
    reg.register(t0());
    let req = reg.poll_request(t0()).unwrap();
    reg.handle_response(t0(), &reply(&req, 200, "OK", &[("Expires", "120")]));
    let now = t0() + secs(60);
    assert_eq!(reg.poll_timeout(), Some(now));
    reg.handle_timeout(now);
    assert_eq!(reg.state(), St::Refreshing);
    let req = reg.poll_request(now).unwrap();
    reg.handle_response(now, &reply(&req, 500, "Server Internal Error", &[]));
    assert_eq!(reg.state(), St::Retrying);
    assert_eq!(reg.bound_until(), Some(t0() + secs(120)));
    // Retry at 90 fails again; the binding lapses at 120; the retry at 150 succeeds.
    let now = t0() + secs(90);
    assert_eq!(reg.poll_timeout(), Some(now));
    reg.handle_timeout(now);
    let req = reg.poll_request(now).unwrap();
    reg.handle_response(now, &reply(&req, 500, "Server Internal Error", &[]));
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(120)));
    reg.handle_timeout(t0() + secs(120));
    assert_eq!(reg.bound_until(), None);
    let now = t0() + secs(150);
    assert_eq!(reg.poll_timeout(), Some(now));
    let req = reg.poll_request(now).unwrap();
    reg.handle_response(now, &reply(&req, 200, "OK", &[]));
    assert_eq!(reg.state(), St::Registered);
    let ev = events(&mut reg);
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert_eq!(ev[3], Ev::Registered { expires: 3600 });
}

#[test]
fn requests_are_accepted_by_a_transaction_layer() {
    let mut reg = Registration::new(config(None)).unwrap();
    let mut tx = TransactionLayer::new(TimerConfig::default()).unwrap();
    let remote = reg.config().remote;
    let mut keys = Vec::new();
    for i in 0..3 {
        let now = t0() + secs(i);
        reg.register(now);
        let req = reg.poll_request(now).unwrap();
        keys.push(tx.send_request(now, req.clone(), remote).unwrap());
        reg.handle_response(now, &reply(&req, 500, "X", &[]));
    }
    keys.dedup();
    assert_eq!(keys.len(), 3);
}

#[test]
fn config_is_validated() {
    let check = |f: &dyn Fn(&mut RegistrationConfig), key: &str| {
        let mut c = config(None);
        f(&mut c);
        match Registration::new(c) {
            Err(crate::auth::AuthError::InvalidConfig(m)) => assert!(m.contains(key), "{m}"),
            other => panic!("{key}: {other:?}"),
        }
    };
    check(&|c| c.registrar = "not a uri".into(), "registrar");
    check(
        &|c| c.registrar = "sip:r.example?Route=x".into(),
        "registrar",
    );
    check(&|c| c.contact = "<sip:a@b>".into(), "contact");
    check(&|c| c.aor = "".into(), "aor");
    check(&|c| c.via_sent_by = "a b".into(), "via_sent_by");
    check(&|c| c.expires = 0, "expires");
    check(&|c| c.retry_max = secs(1), "retry_min");
    check(&|c| c.user_agent = Some("x\r\ny".into()), "user_agent");
    check(
        &|c| c.credentials = Some(Credentials::new("a\nb", "p")),
        "username",
    );
}
