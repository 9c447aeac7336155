//! The client side against the published vectors, and the challenge grammar.

use bytes::Bytes;

use crate::auth::{
    Algorithm, AuthError, Challenge, Credentials, DigestAuthorization, DigestClient, Qop,
    MAX_CHALLENGES_PER_REQUEST,
};
use crate::message::{parse, Message};

/// RFC 2617 §3.5, the challenge exactly as printed (folded over several lines).
const RFC2617_CHALLENGE: &str = "Digest\r\n                 realm=\"testrealm@host.com\",\r\n                 qop=\"auth,auth-int\",\r\n                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

#[test]
fn rfc_2617_section_3_5() {
    let c = Challenge::parse(RFC2617_CHALLENGE).unwrap();
    assert_eq!(c.realm, "testrealm@host.com");
    assert_eq!(c.qop, [Qop::Auth, Qop::AuthInt]);
    assert_eq!(c.algorithm, Algorithm::Md5);
    let creds = Credentials::new("Mufasa", "Circle Of Life");
    let a = c
        .respond(&creds, "GET", "/dir/index.html", b"", "0a4f113b", 1)
        .unwrap();
    assert_eq!(a.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(a.qop, Some(Qop::Auth));
    assert_eq!(a.nc, Some(1));
    assert_eq!(
        a.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    let v = a.to_header_value();
    assert!(v.contains("nc=00000001"), "{v}");
    assert!(v.ends_with(", qop=auth, nc=00000001"), "{v}");
    assert!(v.contains("cnonce=\"0a4f113b\""), "{v}");
    // The RFC's own Authorization value parses to the same thing.
    let printed = DigestAuthorization::parse(
        "Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\",\r\n \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n uri=\"/dir/index.html\",\r\n \
         qop=auth,\r\n nc=00000001,\r\n cnonce=\"0a4f113b\",\r\n \
         response=\"6629fae49393a05397450978507c4ef1\",\r\n \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    assert_eq!(printed, a);
}

/// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5.
#[test]
fn rfc_7616_section_3_9_1() {
    let creds = Credentials::new("Mufasa", "Circle of Life");
    for (alg, expected) in [
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ] {
        let c = Challenge::parse(&format!(
            "Digest\r\n       realm=\"http-auth@example.org\",\r\n       qop=\"auth, auth-int\",\r\n       \
             algorithm={alg},\r\n       nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n       \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
        .unwrap();
        let a = c
            .respond(
                &creds,
                "GET",
                "/dir/index.html",
                b"",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                1,
            )
            .unwrap();
        assert_eq!(a.response, expected, "{alg}");
        assert_eq!(a.algorithm.as_str(), alg);
        assert!(a.to_header_value().contains(&format!("algorithm={alg}")));
    }
}

/// RFC 2069 §2.4 (no qop: the form RFC 3261 §22.4 keeps for RFC 2543 peers).
#[test]
fn rfc_2069_form_without_qop() {
    let c = Challenge::parse(
        "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    assert!(c.qop.is_empty());
    let a = c
        .respond(
            &Credentials::new("Mufasa", "CircleOfLife"),
            "GET",
            "/dir/index.html",
            b"",
            "ignored",
            1,
        )
        .unwrap();
    assert_eq!(a.response, "1949323746fe6a43ef61f9606e7febea");
    assert_eq!((a.qop, a.nc, a.cnonce.as_deref()), (None, None, None));
    let v = a.to_header_value();
    assert!(
        !v.contains("nc=") && !v.contains("cnonce") && !v.contains("qop"),
        "{v}"
    );
}

#[test]
fn auth_int_and_sess_cover_what_they_claim() {
    let creds = Credentials::new("u", "p");
    let answer = |qop: &str, alg: &str, body: &[u8], cnonce: &str| {
        Challenge::parse(&format!(
            "Digest realm=\"r\", nonce=\"n\", qop=\"{qop}\", algorithm={alg}"
        ))
        .unwrap()
        .respond(&creds, "INVITE", "sip:b@h", body, cnonce, 1)
        .unwrap()
        .response
    };
    // auth-int hashes the body; auth does not.
    assert_ne!(
        answer("auth-int", "MD5", b"v=0", "c"),
        answer("auth-int", "MD5", b"v=1", "c")
    );
    assert_eq!(
        answer("auth", "MD5", b"v=0", "c"),
        answer("auth", "MD5", b"v=1", "c")
    );
    // auth is preferred when both are offered.
    assert_eq!(
        answer("auth-int,auth", "MD5", b"v=0", "c"),
        answer("auth", "MD5", b"", "c")
    );
    // -sess puts the cnonce in HA1 too: same request, different algorithm, different answer.
    assert_ne!(
        answer("auth", "MD5-sess", b"", "c"),
        answer("auth", "MD5", b"", "c")
    );
    assert_ne!(
        answer("auth", "SHA-256-sess", b"", "c"),
        answer("auth", "SHA-256", b"", "c")
    );
    assert_eq!(answer("auth", "SHA-256-sess", b"", "c").len(), 64);
}

#[test]
fn challenge_grammar() {
    // Unknown parameters and unknown qop values are ignored; escapes resolved.
    let c = Challenge::parse(
        "digest REALM=\"a \\\"quoted\\\" realm\", nonce=abc, qop=\"auth-conf, auth\", \
         stale=TRUE, future-param=\"x, y\", algorithm=sha-256, userhash=true",
    )
    .unwrap();
    assert_eq!(c.realm, "a \"quoted\" realm");
    assert_eq!(c.nonce, "abc");
    assert_eq!(c.qop, [Qop::Auth]);
    assert!(c.stale && c.userhash);
    assert_eq!(c.algorithm, Algorithm::Sha256);
    // stale is false for anything but "true".
    assert!(
        !Challenge::parse("Digest realm=r, nonce=n, stale=yes")
            .unwrap()
            .stale
    );
    // Round trip through our writer.
    assert_eq!(Challenge::parse(&c.to_header_value()).unwrap(), c);

    let bad = |v: &str| Challenge::parse(v).unwrap_err();
    assert!(
        matches!(bad("Digest nonce=n"), AuthError::MissingParam { param: "realm", value } if value == "Digest nonce=n")
    );
    assert!(matches!(
        bad("Digest realm=r"),
        AuthError::MissingParam { param: "nonce", .. }
    ));
    assert!(
        matches!(bad("Basic realm=\"r\""), AuthError::NotDigest { scheme, .. } if scheme == "Basic")
    );
    assert_eq!(
        bad("Digest realm=r, nonce=n, algorithm=SHA-512-256"),
        AuthError::UnsupportedAlgorithm("SHA-512-256".into())
    );
    assert_eq!(
        bad("Digest realm=r, nonce=n, qop=\"auth-conf\""),
        AuthError::UnsupportedQop("auth-conf".into())
    );
    let e = bad("Digest realm=\"r, nonce=n");
    assert!(
        matches!(&e, AuthError::Malformed { value, .. } if value == "Digest realm=\"r, nonce=n")
    );
    assert!(e.to_string().contains("unterminated quoted-string"), "{e}");
}

#[test]
fn authorization_grammar() {
    let base = "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"00\"";
    let a = DigestAuthorization::parse(base).unwrap();
    assert_eq!((a.qop, a.nc), (None, None));
    let bad = |extra: &str| DigestAuthorization::parse(&format!("{base}, {extra}")).unwrap_err();
    assert!(matches!(
        bad("qop=auth, cnonce=\"c\""),
        AuthError::MissingParam { param: "nc", .. }
    ));
    assert!(matches!(
        bad("qop=auth, nc=00000001"),
        AuthError::MissingParam {
            param: "cnonce",
            ..
        }
    ));
    assert_eq!(
        bad("qop=auth, cnonce=\"c\", nc=1"),
        AuthError::InvalidParam {
            param: "nc",
            got: "1".into()
        }
    );
    assert_eq!(
        bad("qop=auth-conf"),
        AuthError::UnsupportedQop("auth-conf".into())
    );
    assert!(matches!(
        DigestAuthorization::parse("Digest realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0\""),
        Err(AuthError::MissingParam {
            param: "username",
            ..
        })
    ));
}

fn response(status: u16, headers: &[(&str, &str)]) -> Message {
    let mut s = format!(
        "SIP/2.0 {status} Challenge\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
         To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
    );
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    parse(Bytes::from(s)).unwrap()
}

fn param<'a>(header: &'a str, name: &str) -> &'a str {
    let i = header.find(&format!("{name}=")).unwrap() + name.len() + 1;
    header[i..].split(',').next().unwrap().trim_matches('"')
}

#[test]
fn client_counts_nonce_uses_and_makes_fresh_cnonces() {
    let mut c = DigestClient::with_seed(Credentials::new("u", "p"), 3);
    assert!(c.authorize("REGISTER", "sip:r", b"").unwrap().is_empty());
    c.handle_challenge(&response(
        401,
        &[(
            "WWW-Authenticate",
            "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"",
        )],
    ))
    .unwrap();
    let first = c.authorize("REGISTER", "sip:r", b"").unwrap();
    let second = c.authorize("REGISTER", "sip:r", b"").unwrap();
    assert_eq!(first[0].0, "Authorization");
    assert_eq!(param(&first[0].1, "nc"), "00000001");
    assert_eq!(param(&second[0].1, "nc"), "00000002");
    assert_ne!(param(&first[0].1, "cnonce"), param(&second[0].1, "cnonce"));
    assert_eq!(param(&first[0].1, "cnonce").len(), 32);
    // A new nonce starts counting again.
    c.start_request();
    c.handle_challenge(&response(
        401,
        &[(
            "WWW-Authenticate",
            "Digest realm=\"r\", nonce=\"n2\", qop=\"auth\"",
        )],
    ))
    .unwrap();
    let third = c.authorize("REGISTER", "sip:r", b"").unwrap();
    assert_eq!(
        (param(&third[0].1, "nonce"), param(&third[0].1, "nc")),
        ("n2", "00000001")
    );
}

#[test]
fn client_gives_up_on_a_repeated_challenge_unless_stale() {
    let challenge = |nonce: &str, stale: bool| {
        let v = format!("Digest realm=\"r\", nonce=\"{nonce}\", qop=\"auth\", stale={stale}");
        response(401, &[("WWW-Authenticate", v.as_str())])
    };
    let mut c = DigestClient::with_seed(Credentials::new("u", "p"), 1);
    c.handle_challenge(&challenge("n1", false)).unwrap();
    // Stale: the answer was right, the nonce old: answer again.
    c.handle_challenge(&challenge("n2", true)).unwrap();
    // Not stale after we answered: refused, whatever the nonce.
    assert_eq!(
        c.handle_challenge(&challenge("n3", false)),
        Err(AuthError::Rejected { realm: "r".into() })
    );
    assert!(!c.has_challenge(), "refused credentials are not sent again");
    // A new request may answer once more.
    c.start_request();
    c.handle_challenge(&challenge("n4", false)).unwrap();
    // A server that says stale for ever is given up on.
    let mut c = DigestClient::with_seed(Credentials::new("u", "p"), 1);
    for i in 0..MAX_CHALLENGES_PER_REQUEST {
        c.handle_challenge(&challenge(&format!("s{i}"), i > 0))
            .unwrap();
    }
    assert_eq!(
        c.handle_challenge(&challenge("last", true)),
        Err(AuthError::TooManyChallenges(MAX_CHALLENGES_PER_REQUEST))
    );
}

#[test]
fn client_picks_the_topmost_supported_challenge_per_realm() {
    let mut c = DigestClient::with_seed(Credentials::new("u", "p"), 1);
    let r = response(
        401,
        &[
            (
                "WWW-Authenticate",
                "Digest realm=\"r\", nonce=\"a\", algorithm=SHA-512-256, qop=\"auth\"",
            ),
            (
                "WWW-Authenticate",
                "Digest realm=\"r\", nonce=\"a\", algorithm=SHA-256, qop=\"auth\"",
            ),
            (
                "WWW-Authenticate",
                "Digest realm=\"r\", nonce=\"a\", algorithm=MD5, qop=\"auth\"",
            ),
            (
                "Proxy-Authenticate",
                "Digest realm=\"proxy\", nonce=\"p\", qop=\"auth\"",
            ),
            ("WWW-Authenticate", "Basic realm=\"r\""),
        ],
    );
    c.handle_challenge(&r).unwrap();
    let h = c.authorize("INVITE", "sip:b@h", b"").unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].0, "Proxy-Authorization");
    assert_eq!(param(&h[0].1, "realm"), "proxy");
    assert_eq!(h[1].0, "Authorization");
    assert_eq!(param(&h[1].1, "algorithm"), "SHA-256");

    // Only unanswerable challenges: the error names why.
    let r = response(401, &[("WWW-Authenticate", "Basic realm=\"r\"")]);
    let e = c.handle_challenge(&r).unwrap_err();
    assert!(
        matches!(&e, AuthError::NoUsableChallenge { status: 401, detail } if detail.contains("Basic")),
        "{e}"
    );
    let e = c.handle_challenge(&response(403, &[])).unwrap_err();
    assert_eq!(e, AuthError::NotAChallenge(403));
    let e = c.handle_challenge(&response(407, &[])).unwrap_err();
    assert!(matches!(
        e,
        AuthError::NoUsableChallenge { status: 407, .. }
    ));
}

#[test]
fn credentials_for_one_realm_are_not_given_to_another() {
    let mut c = DigestClient::with_seed(Credentials::new("u", "p").for_realm("carrier"), 1);
    let r = response(
        401,
        &[("WWW-Authenticate", "Digest realm=\"evil\", nonce=\"n\"")],
    );
    assert_eq!(
        c.handle_challenge(&r),
        Err(AuthError::NoCredentialsForRealm {
            realm: "evil".into(),
            ours: "carrier".into()
        })
    );
    assert!(c.authorize("INVITE", "sip:b@h", b"").unwrap().is_empty());
    // Injection through our own values is refused.
    let ch = Challenge::parse("Digest realm=r, nonce=n").unwrap();
    let e = ch
        .respond(
            &Credentials::new("u\r\nX: y", "p"),
            "INVITE",
            "sip:b@h",
            b"",
            "c",
            1,
        )
        .unwrap_err();
    assert!(matches!(
        e,
        AuthError::ControlCharacter {
            param: "username",
            ..
        }
    ));
}
