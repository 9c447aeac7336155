//! The user agent end to end on loopback: two `UserAgent`s calling each other, and raw
//! UDP sockets probing the policies (unknown source, OPTIONS, REGISTER, unknown methods).

use std::net::SocketAddr;
use std::time::Duration;

use freya_sip::dialog::{DialogEvent, EndKind, Q850};
use freya_sip::message::parse;
use freya_sip::sdp::{Capabilities, Direction};
use freya_sip::ua::{
    Call, IncomingCalls, Originate, PeerKind, TrunkConfig, UaConfig, UaError, UnknownSource,
    UserAgent,
};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn config() -> UaConfig {
    let mut c = UaConfig::new("127.0.0.1:0".parse().unwrap());
    c.unknown_source = UnknownSource::Accept;
    c.t1_ms = 50;
    c
}

async fn pair() -> (UserAgent, UserAgent, IncomingCalls) {
    let (alice, _) = UserAgent::bind(config()).await.unwrap();
    let (bob, incoming) = UserAgent::bind(config()).await.unwrap();
    (alice, bob, incoming)
}

fn media(port: u16) -> Capabilities {
    Capabilities::new("127.0.0.1".parse().unwrap(), port)
}

async fn next(call: &mut Call) -> DialogEvent {
    timeout(WAIT, call.next_event())
        .await
        .expect("an event in time")
        .expect("the call has events")
}

/// Waits for the first event `f` accepts, skipping others.
async fn until<T>(call: &mut Call, mut f: impl FnMut(&DialogEvent) -> Option<T>) -> T {
    loop {
        let ev = next(call).await;
        if let Some(t) = f(&ev) {
            return t;
        }
    }
}

#[tokio::test]
async fn call_with_x_headers_ring_answer_dtmf_hold_bye() {
    let (alice, bob, mut incoming) = pair().await;
    let target = format!("sip:+14155550100@{}", bob.local_addr());
    let mut out = alice
        .originate(
            Originate::new(&target, media(40000))
                .caller_id("+442071838750")
                .header("X-Freya-Direction", "outbound")
                .header("X-Freya-Call-Id", "5b0f8c1e-2f4a-4a57-9c4e-0d6c3f0e8a11")
                .header("X-Freya-Workflow-Id", "wf ünïcode  spaced"),
        )
        .await
        .unwrap();

    let inb = timeout(WAIT, incoming.next()).await.unwrap().unwrap();
    let info = inb.info();
    // Every X- header arrives in order with its exact bytes.
    let xs: Vec<(String, String)> = info
        .invite
        .headers()
        .filter(|h| h.name().starts_with("X-"))
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect();
    assert_eq!(
        xs,
        [
            ("X-Freya-Direction".to_owned(), "outbound".to_owned()),
            (
                "X-Freya-Call-Id".to_owned(),
                "5b0f8c1e-2f4a-4a57-9c4e-0d6c3f0e8a11".to_owned()
            ),
            (
                "X-Freya-Workflow-Id".to_owned(),
                "wf ünïcode  spaced".to_owned()
            ),
        ]
    );
    assert_eq!(
        info.caller.as_ref().unwrap().user.as_deref(),
        Some("+442071838750")
    );
    assert_eq!(
        info.callee.as_ref().unwrap().user.as_deref(),
        Some("+14155550100")
    );
    assert_eq!(info.peer.as_ref().unwrap().kind, PeerKind::Anonymous);
    assert_eq!(info.remote, alice.local_addr());
    let offer = info.offer().expect("the INVITE carried an SDP offer");
    assert!(
        !offer.media().is_empty(),
        "the offer's m= line is parsed from the INVITE"
    );

    inb.ring().unwrap();
    let status = until(&mut out, |e| match e {
        DialogEvent::Progress { status, .. } => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, 180);

    inb.answer(media(40002)).unwrap();
    let agreed = until(&mut out, |e| match e {
        DialogEvent::Answered { media, .. } => Some(media.clone()),
        _ => None,
    })
    .await;
    assert_eq!(agreed.remote_rtp, "127.0.0.1:40002".parse().unwrap());
    let mut inb = inb;
    until(&mut inb, |e| {
        matches!(e, DialogEvent::Confirmed { .. }).then_some(())
    })
    .await;
    assert_eq!(inb.negotiated().unwrap().remote_rtp.port(), 40000);

    out.send_dtmf('7', 160).unwrap();
    let dtmf = until(&mut inb, |e| match e {
        DialogEvent::Dtmf { dtmf, .. } => Some(*dtmf),
        _ => None,
    })
    .await;
    assert_eq!((dtmf.digit, dtmf.duration_ms), ('7', Some(160)));
    assert!(out.send_dtmf('x', 100).is_err());

    out.hold().unwrap();
    let held = until(&mut inb, |e| match e {
        DialogEvent::MediaUpdated { media, .. } => Some(media.clone()),
        _ => None,
    })
    .await;
    assert!(held.remote_hold);
    let ours = until(&mut out, |e| match e {
        DialogEvent::MediaUpdated { media, .. } => Some(media.clone()),
        _ => None,
    })
    .await;
    assert_eq!(ours.direction, Direction::SendOnly);

    out.hangup(None).unwrap();
    let end = ended(&mut inb).await;
    assert_eq!(end.kind, EndKind::Bye);
    assert_eq!(end.cause.map(Q850::number), Some(16));
    let end = ended(&mut out).await;
    assert_eq!(end.status, 200);
    assert!(timeout(WAIT, out.next_event()).await.unwrap().is_none());
    assert_eq!(alice.stats().live_calls, 0);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn rejection_carries_status_and_q850_cause_in_words() {
    let (alice, bob, mut incoming) = pair().await;
    let target = format!("sip:bob@{}", bob.local_addr());
    let mut out = alice
        .originate(Originate::new(&target, media(40010)))
        .await
        .unwrap();
    let inb = timeout(WAIT, incoming.next()).await.unwrap().unwrap();
    inb.reject(603, "Decline", Some(Q850::CALL_REJECTED))
        .unwrap();
    let end = ended(&mut out).await;
    assert_eq!(end.status, 603);
    let cause = end.cause.unwrap();
    assert_eq!((cause.number(), cause.name()), (21, Some("Call rejected")));
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn cancel_while_ringing_gives_487() {
    let (alice, bob, mut incoming) = pair().await;
    let target = format!("sip:bob@{}", bob.local_addr());
    let mut out = alice
        .originate(Originate::new(&target, media(40020)))
        .await
        .unwrap();
    let mut inb = timeout(WAIT, incoming.next()).await.unwrap().unwrap();
    inb.ring().unwrap();
    until(&mut out, |e| {
        matches!(e, DialogEvent::Progress { .. }).then_some(())
    })
    .await;
    out.hangup(None).unwrap();
    let end = ended(&mut out).await;
    assert_eq!(end.status, 487);
    let end = ended(&mut inb).await;
    assert_eq!(end.kind, EndKind::Cancelled);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn non_token_header_name_is_refused_at_the_call_site_and_never_sent() {
    let (alice, bob, mut incoming) = pair().await;
    let target = format!("sip:bob@{}", bob.local_addr());
    let before = alice.stats().transport;
    let err = alice
        .originate(Originate::new(&target, media(40030)).header("X-İd", "1"))
        .await
        .unwrap_err();
    assert!(matches!(err, UaError::Dialog(_)), "{err}");
    assert!(err.to_string().contains("X-İd"), "{err}");
    assert!(alice
        .originate(Originate::new(&target, media(40030)).header("X-Ok", "a\r\nInjected: 1"))
        .await
        .is_err());
    assert!(timeout(Duration::from_millis(300), incoming.next())
        .await
        .is_err());
    assert_eq!(alice.stats().transport, before);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn dropped_handles_hang_up() {
    let (alice, bob, mut incoming) = pair().await;
    let target = format!("sip:bob@{}", bob.local_addr());
    let mut out = alice
        .originate(Originate::new(&target, media(40040)))
        .await
        .unwrap();
    let inb = timeout(WAIT, incoming.next()).await.unwrap().unwrap();
    drop(inb);
    let end = ended(&mut out).await;
    assert_eq!(end.status, 480);
    // With the incoming stream gone, new calls are refused with 480.
    drop(incoming);
    let mut out = alice
        .originate(Originate::new(&target, media(40042)))
        .await
        .unwrap();
    let end = ended(&mut out).await;
    assert_eq!(end.status, 480);
    assert_eq!(bob.stats().incoming_refused, 1);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn ring_timeout_cancels_with_cause_19() {
    let (alice, _) = UserAgent::bind(UaConfig {
        ring_timeout_s: 1,
        ..config()
    })
    .await
    .unwrap();
    let (bob, mut incoming) = UserAgent::bind(config()).await.unwrap();
    let target = format!("sip:bob@{}", bob.local_addr());
    let mut out = alice
        .originate(Originate::new(&target, media(40050)))
        .await
        .unwrap();
    let inb = timeout(WAIT, incoming.next()).await.unwrap().unwrap();
    inb.ring().unwrap();
    let end = ended(&mut out).await;
    assert_eq!(end.status, 487);
    assert_eq!(end.cause.map(Q850::number), Some(19));
    assert_eq!(alice.stats().ring_timeouts, 1);
    drop(inb);
    alice.shutdown().await;
    bob.shutdown().await;
}

/// Waits for the call's end.
async fn ended(call: &mut Call) -> freya_sip::dialog::CallEnd {
    until(call, |e| match e {
        DialogEvent::Ended { end, .. } => Some(end.clone()),
        _ => None,
    })
    .await
}

// ---- raw-socket probes ------------------------------------------------------------------

fn request(method: &str, to: SocketAddr, from: SocketAddr, extra: &str) -> String {
    format!(
        "{method} sip:bob@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-{method}-1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{from}>;tag=p1\r\nTo: <sip:bob@{to}>\r\n\
         Call-ID: probe-{method}@{from}\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

async fn probe(to: SocketAddr, method: &str, extra: &str) -> Option<freya_sip::message::Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    sock.send_to(request(method, to, me, extra).as_bytes(), to)
        .await
        .unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match timeout(Duration::from_millis(700), sock.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return None,
        };
        let m = parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
        if m.status_code().is_some_and(|s| s >= 200) {
            return Some(m);
        }
    }
}

#[tokio::test]
async fn unknown_sources_get_403_or_silence_and_are_counted() {
    let mut c = config();
    c.unknown_source = UnknownSource::Reject;
    c.trunks
        .push(TrunkConfig::new("carrier", &["198.51.100.0/24"]));
    let (ua, _inc) = UserAgent::bind(c.clone()).await.unwrap();
    let r = probe(ua.local_addr(), "INVITE", "").await.unwrap();
    assert_eq!(r.status_code(), Some(403));
    assert_eq!(ua.stats().unknown_source, 1);
    assert_eq!(ua.stats().incoming_calls, 0);

    // Hot reload: the same source becomes a trunk; now it is served.
    let mut c2 = c.clone();
    c2.trunks
        .push(TrunkConfig::new("loopback", &["127.0.0.0/8"]));
    ua.reload(c2).unwrap();
    let r = probe(ua.local_addr(), "OPTIONS", "").await.unwrap();
    assert_eq!(r.status_code(), Some(200));
    // A reload that fails validation is refused and the running config stays.
    let mut bad = c.clone();
    bad.trunks[0].match_ = vec!["not-an-ip".into()];
    assert!(ua.reload(bad).is_err());
    assert_eq!(ua.config().trunks.len(), 2);
    ua.shutdown().await;

    c.unknown_source = UnknownSource::Ignore;
    let (ua, _inc) = UserAgent::bind(c).await.unwrap();
    assert!(probe(ua.local_addr(), "INVITE", "").await.is_none());
    assert_eq!(ua.stats().unknown_source, 1);
    ua.shutdown().await;
}

#[tokio::test]
async fn trusted_trunk_caller_id_comes_from_p_asserted_identity() {
    let mut c = config();
    c.unknown_source = UnknownSource::Reject;
    c.trunks.push(TrunkConfig::new("loopback", &["127.0.0.1"]));
    let (ua, mut inc) = UserAgent::bind(c.clone()).await.unwrap();
    let to = ua.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let invite = request(
        "INVITE",
        to,
        me,
        "P-Asserted-Identity: \"Real Caller\" <sip:+14155551234@carrier.example>\r\n",
    );
    sock.send_to(invite.as_bytes(), to).await.unwrap();
    let call = timeout(WAIT, inc.next()).await.unwrap().unwrap();
    let caller = call.info().caller.clone().unwrap();
    assert_eq!(caller.user.as_deref(), Some("+14155551234"));
    assert_eq!(caller.display_name.as_deref(), Some("Real Caller"));
    let peer = call.info().peer.clone().unwrap();
    assert_eq!(
        (peer.kind, peer.name.as_str()),
        (PeerKind::Trunk, "loopback")
    );
    call.reject(486, "Busy Here", None).unwrap();
    drop(call);

    // Not trusted: From.
    c.trunks[0].trust_id_inbound = false;
    ua.reload(c).unwrap();
    let invite = invite
        .replace("probe-INVITE", "probe-INVITE-2")
        .replace("z9hG4bK-INVITE-1", "z9hG4bK-INVITE-2");
    sock.send_to(invite.as_bytes(), to).await.unwrap();
    let call = timeout(WAIT, inc.next()).await.unwrap().unwrap();
    assert_eq!(
        call.info().caller.as_ref().unwrap().user.as_deref(),
        Some("probe")
    );
    ua.shutdown().await;
}

#[tokio::test]
async fn options_register_and_unknown_methods() {
    let (ua, _inc) = UserAgent::bind(config()).await.unwrap();
    let to = ua.local_addr();
    let r = probe(to, "OPTIONS", "").await.unwrap();
    assert_eq!(r.status_code(), Some(200));
    assert!(r.header("Allow").unwrap().value().contains("INVITE"));
    let r = probe(to, "REGISTER", "Contact: <sip:probe@127.0.0.1>\r\n")
        .await
        .unwrap();
    assert_eq!(r.status_code(), Some(405));
    assert!(r.header("Allow").is_some());
    let r = probe(to, "FROBNICATE", "").await.unwrap();
    assert_eq!(r.status_code(), Some(501));
    assert!(r.header("Allow").is_some());
    // RFC 3261 §8.2.2.3: an extension we do not support is refused with 420 naming it.
    let r = probe(to, "OPTIONS", "Require: foo-bar, timer\r\n")
        .await
        .unwrap();
    assert_eq!(r.status_code(), Some(420));
    assert_eq!(r.header("Unsupported").unwrap().value(), "foo-bar");
    let s = ua.stats();
    assert_eq!(s.method_not_allowed, 2);
    ua.shutdown().await;
}

// ---- digest: user endpoints, trunk credentials, registration ---------------------------

#[tokio::test]
async fn endpoint_is_challenged_and_trunk_credentials_answer() {
    use freya_sip::ua::{AuthConfig, EndpointConfig};
    let mut bc = config();
    bc.unknown_source = UnknownSource::Reject;
    bc.endpoints.push(EndpointConfig {
        username: "alice".into(),
        password: "correct horse".into(),
        context: "from-internal".into(),
        codecs: vec!["ulaw".into()],
        dtmf_mode: Default::default(),
    });
    let (bob, mut incoming) = UserAgent::bind(bc).await.unwrap();

    let trunk = |password: &str| {
        let mut t = TrunkConfig::new("bob", &[]);
        t.host = Some(bob.local_addr().to_string());
        t.from_user = Some("alice".into());
        t.outbound_auth = Some(AuthConfig {
            username: "alice".into(),
            password: password.into(),
            realm: None,
        });
        t
    };
    let mut ac = config();
    ac.trunks.push(trunk("correct horse"));
    ac.trunks.push(TrunkConfig {
        name: "bob-wrong".into(),
        ..trunk("battery staple")
    });
    let (alice, _) = UserAgent::bind(ac).await.unwrap();

    let mut out = alice
        .originate(Originate::new("+14155550100", media(40060)).trunk("bob"))
        .await
        .unwrap();
    let inb = timeout(WAIT, incoming.next()).await.unwrap().unwrap();
    let peer = inb.info().peer.clone().unwrap();
    assert_eq!(
        (peer.kind, peer.name.as_str()),
        (PeerKind::Endpoint, "alice")
    );
    assert!(inb.info().invite.header("Authorization").is_some());
    inb.answer(media(40062)).unwrap();
    until(&mut out, |e| {
        matches!(e, DialogEvent::Answered { .. }).then_some(())
    })
    .await;
    assert_eq!(bob.stats().challenged, 1);
    out.hangup(None).unwrap();

    // The wrong password: challenged, answered once, challenged again: the call fails
    // with 401 and never reaches the application.
    let mut out = alice
        .originate(Originate::new("+14155550100", media(40064)).trunk("bob-wrong"))
        .await
        .unwrap();
    let end = ended(&mut out).await;
    assert_eq!(end.status, 401);
    assert_eq!(bob.stats().challenged, 3);
    assert!(timeout(Duration::from_millis(200), incoming.next())
        .await
        .is_err());
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn trunk_registers_with_digest_and_reports_its_binding() {
    use freya_sip::auth::{Challenger, ChallengerConfig, UserSecret};
    use freya_sip::ua::{AuthConfig, RegistrationConfig};
    // A registrar on a raw socket: challenges, then grants 120 s to the right password.
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let registrar = sock.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut ch = Challenger::new(
            ChallengerConfig::new("carrier.example"),
            std::time::Instant::now(),
        )
        .unwrap();
        let mut buf = vec![0u8; 65536];
        let mut seen = Vec::new();
        loop {
            let Ok(Ok((n, from))) = timeout(WAIT, sock.recv_from(&mut buf)).await else {
                return seen;
            };
            let m = parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
            assert_eq!(m.method(), Some("REGISTER"));
            let now = std::time::Instant::now();
            let verdict = ch.verify(now, &m, |u, _| {
                (u == "acme").then(|| UserSecret::Password("s3cret".into()))
            });
            let resp = match verdict {
                Ok(_) => {
                    let contact = m.header("Contact").unwrap().value().to_owned();
                    let c = format!("{contact};expires=120");
                    freya_sip::message::response_to(&m, 200, "OK", &[("Contact", &c)]).unwrap()
                }
                Err(f) => ch.challenge_response(now, &m, Some(&f)).unwrap(),
            };
            seen.push((m.cseq().map(|c| c.seq).unwrap_or(0), resp[8..11].to_vec()));
            sock.send_to(&resp, from).await.unwrap();
            if resp.starts_with(b"SIP/2.0 200") {
                return seen;
            }
        }
    });
    let mut c = config();
    let mut t = TrunkConfig::new("carrier", &[]);
    t.host = Some(registrar.to_string());
    t.outbound_auth = Some(AuthConfig {
        username: "acme".into(),
        password: "s3cret".into(),
        realm: None,
    });
    t.registration = Some(RegistrationConfig {
        server_uri: "sip:carrier.example".into(),
        client_uri: "sip:acme@carrier.example".into(),
        contact_user: None,
        expiration: 120,
    });
    c.trunks.push(t);
    let (ua, _inc) = UserAgent::bind(c).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2, "a challenge, then the authorised REGISTER");
    assert_eq!(seen[0].1, b"401");
    assert!(seen[1].0 > seen[0].0, "CSeq grows");
    let mut status = ua.registrations();
    for _ in 0..50 {
        if status[0].state == "registered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = ua.registrations();
    }
    assert_eq!(status[0].trunk, "carrier");
    assert_eq!(status[0].state, "registered", "{status:?}");
    let left = status[0].expires_in_s.unwrap();
    assert!((110..=120).contains(&left), "{left}");
    ua.shutdown().await;
}
