//! The server side: our client's answers verify, and each way to get them wrong is told
//! apart. All in virtual time.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::{
    Algorithm, AuthError, AuthFailure, Authorized, Challenger, ChallengerConfig, Credentials,
    DigestClient, UserSecret,
};
use crate::message::{parse, HeaderKind, Message};

const URI: &str = "sip:+14155550100@freya.example";

use super::t0;

fn request(method: &str, uri: &str, auth: &[(&str, String)], body: &str) -> Message {
    let mut s = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKs1\r\n\
         From: <sip:carrier@198.51.100.7>;tag=f1\r\nTo: <{URI}>\r\nCall-ID: srv-1\r\n\
         CSeq: 7 {method}\r\nMax-Forwards: 70\r\n"
    );
    for (n, v) in auth {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    parse(Bytes::from(s)).unwrap()
}

fn users(user: &str, _realm: &str) -> Option<UserSecret> {
    (user == "alice").then(|| UserSecret::Password("wonderland".into()))
}

/// Challenges `req` with `server` and answers with `client`: the headers to resend with.
fn answer(
    server: &mut Challenger,
    client: &mut DigestClient,
    now: Instant,
    req: &Message,
    method: &str,
    uri: &str,
) -> Result<Vec<(&'static str, String)>, AuthError> {
    let failure = server.verify(now, req, users).err();
    let challenge = parse(
        server
            .challenge_response(now, req, failure.as_ref())
            .unwrap(),
    )
    .unwrap();
    client.handle_challenge(&challenge)?;
    client.authorize(method, uri, req.body())
}

fn challenger(alg: &[Algorithm]) -> Challenger {
    let mut cfg = ChallengerConfig::new("freya.example");
    cfg.algorithms = alg.to_vec();
    Challenger::new(cfg, t0()).unwrap()
}

#[test]
fn challenge_response_is_a_401_with_one_challenge_per_algorithm() {
    let mut s = challenger(&[Algorithm::Sha256, Algorithm::Md5]);
    let req = request("INVITE", URI, &[], "");
    let f = s.verify(t0(), &req, users).unwrap_err();
    assert_eq!(
        f,
        AuthFailure::Missing {
            realm: "freya.example".into()
        }
    );
    let resp = parse(s.challenge_response(t0(), &req, Some(&f)).unwrap()).unwrap();
    assert_eq!(resp.status_code(), Some(401));
    assert_eq!(resp.call_id(), Some("srv-1"));
    assert_eq!(resp.cseq().map(|c| (c.seq, c.method)), Some((7, "INVITE")));
    assert!(resp.to().unwrap().tag().is_some());
    let values: Vec<_> = resp
        .headers_of(HeaderKind::WwwAuthenticate)
        .map(|h| crate::auth::Challenge::parse(h.value()).unwrap())
        .collect();
    assert_eq!(values.len(), 2);
    assert_eq!(values[0].algorithm, Algorithm::Sha256);
    assert_eq!(values[1].algorithm, Algorithm::Md5);
    assert_eq!(values[0].nonce, values[1].nonce);
    assert!(!values[0].stale);
    // Every challenge has a fresh nonce.
    let again = s.challenges(t0(), false);
    assert!(!again[0].contains(&values[0].nonce));
    assert_eq!(s.stats().missing, 1);
    assert_eq!(s.stats().nonces, 2);
}

#[test]
fn our_answers_verify_for_every_algorithm() {
    for alg in [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
    ] {
        let mut s = challenger(&[alg]);
        let mut c = DigestClient::with_seed(Credentials::new("alice", "wonderland"), 9);
        let req = request("INVITE", URI, &[], "v=0\r\n");
        let h = answer(&mut s, &mut c, t0(), &req, "INVITE", URI).unwrap();
        let again = request("INVITE", URI, &h, "v=0\r\n");
        assert_eq!(
            s.verify(t0() + Duration::from_secs(10), &again, users),
            Ok(Authorized {
                username: "alice".into(),
                algorithm: alg,
                nc: Some(1)
            }),
            "{alg}"
        );
    }
}

#[test]
fn a_wrong_password_is_a_wrong_response_even_when_the_nonce_is_old() {
    let mut s = challenger(&[Algorithm::Sha256]);
    let mut c = DigestClient::with_seed(Credentials::new("alice", "looking-glass"), 9);
    let req = request("REGISTER", URI, &[], "");
    let h = answer(&mut s, &mut c, t0(), &req, "REGISTER", URI).unwrap();
    let again = request("REGISTER", URI, &h, "");
    let wrong = AuthFailure::WrongResponse {
        username: "alice".into(),
    };
    assert_eq!(s.verify(t0(), &again, users), Err(wrong.clone()));
    assert_eq!(
        s.verify(t0() + Duration::from_secs(3600), &again, users),
        Err(wrong)
    );
    // Its next challenge is not stale, so our client gives up.
    let f = s.verify(t0(), &again, users).unwrap_err();
    let ch = parse(s.challenge_response(t0(), &again, Some(&f)).unwrap()).unwrap();
    assert_eq!(
        c.handle_challenge(&ch),
        Err(AuthError::Rejected {
            realm: "freya.example".into()
        })
    );
    assert_eq!(s.stats().wrong_response, 3);
}

#[test]
fn an_expired_nonce_is_stale_and_the_client_retries_it() {
    let mut s = challenger(&[Algorithm::Md5]);
    let mut c = DigestClient::with_seed(Credentials::new("alice", "wonderland"), 9);
    let req = request("REGISTER", URI, &[], "");
    let h = answer(&mut s, &mut c, t0(), &req, "REGISTER", URI).unwrap();
    let again = request("REGISTER", URI, &h, "");
    // Accepted up to the lifetime (300 s), stale a millisecond later.
    assert!(s
        .verify(t0() + Duration::from_secs(300), &again, users)
        .is_ok());
    let late = t0() + Duration::from_millis(300_001);
    let f = s.verify(late, &again, users).unwrap_err();
    assert!(
        matches!(&f, AuthFailure::Stale { age_secs: 300, .. }),
        "{f:?}"
    );
    let ch = parse(s.challenge_response(late, &again, Some(&f)).unwrap()).unwrap();
    assert!(ch
        .header("WWW-Authenticate")
        .unwrap()
        .value()
        .ends_with("stale=true"));
    // The client answers the stale challenge within the same request, and it verifies.
    c.handle_challenge(&ch).unwrap();
    let h = c.authorize("REGISTER", URI, b"").unwrap();
    assert!(s
        .verify(late, &request("REGISTER", URI, &h, ""), users)
        .is_ok());
    assert_eq!((s.stats().stale, s.stats().accepted), (1, 2));
}

#[test]
fn each_other_mistake_has_its_own_verdict() {
    let mut s = challenger(&[Algorithm::Sha256]);
    let mut c = DigestClient::with_seed(Credentials::new("alice", "wonderland"), 9);
    let req = request("INVITE", URI, &[], "");
    let h = answer(&mut s, &mut c, t0(), &req, "INVITE", URI).unwrap();
    let value = h[0].1.clone();
    let with = |v: &str| request("INVITE", URI, &[("Authorization", v.to_owned())], "");

    // Credentials computed for another Request-URI.
    let other = c
        .authorize("INVITE", "sip:someone-else@freya.example", b"")
        .unwrap();
    assert_eq!(
        s.verify(t0(), &with(&other[0].1), users),
        Err(AuthFailure::WrongUri {
            got: "sip:someone-else@freya.example".into(),
            expected: URI.into()
        })
    );
    // Another realm.
    let v = value.replace("realm=\"freya.example\"", "realm=\"elsewhere\"");
    assert_eq!(
        s.verify(t0(), &with(&v), users),
        Err(AuthFailure::WrongRealm {
            got: "elsewhere".into(),
            expected: "freya.example".into()
        })
    );
    // A nonce with one digit changed, or one from another server.
    let nonce = value
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let mut forged = nonce.clone().into_bytes();
    forged[3] = if forged[3] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let v = value.replace(&nonce, &forged);
    assert_eq!(
        s.verify(t0(), &with(&v), users),
        Err(AuthFailure::BadNonce { nonce: forged })
    );
    let mut elsewhere = challenger(&[Algorithm::Sha256]);
    let foreign = elsewhere.nonce(t0());
    let v = value.replace(&nonce, &foreign);
    assert!(matches!(
        s.verify(t0(), &with(&v), users),
        Err(AuthFailure::BadNonce { .. })
    ));
    // Unknown user (the response is right for bob's password, but bob is not in the table).
    let mut bob = DigestClient::with_seed(Credentials::new("bob", "x"), 1);
    let hb = answer(&mut s, &mut bob, t0(), &req, "INVITE", URI).unwrap();
    assert_eq!(
        s.verify(t0(), &with(&hb[0].1), users),
        Err(AuthFailure::UnknownUser {
            username: "bob".into()
        })
    );
    // An algorithm not offered; no qop; not Digest at all.
    let v = value.replace("algorithm=SHA-256", "algorithm=MD5");
    assert_eq!(
        s.verify(t0(), &with(&v), users),
        Err(AuthFailure::AlgorithmNotOffered(Algorithm::Md5))
    );
    let v = format!(
        "Digest username=\"alice\", realm=\"freya.example\", nonce=\"{nonce}\", uri=\"{URI}\", \
         response=\"00\", algorithm=SHA-256"
    );
    assert_eq!(
        s.verify(t0(), &with(&v), users),
        Err(AuthFailure::QopMissing {
            username: "alice".into()
        })
    );
    let f = s
        .verify(t0(), &with("Basic YWxpY2U6d29uZGVybGFuZA=="), users)
        .unwrap_err();
    assert!(
        matches!(f, AuthFailure::Malformed(AuthError::NotDigest { .. })),
        "{f:?}"
    );
    // The right one still verifies, and the counters add up.
    assert!(s.verify(t0(), &with(&value), users).is_ok());
    let st = s.stats();
    assert_eq!(
        (
            st.accepted,
            st.bad_nonce,
            st.unknown_user,
            st.malformed,
            st.missing
        ),
        (1, 2, 1, 5, 2)
    );
}

#[test]
fn stored_ha1_serves_its_own_hash_function_only() {
    let ha1 = Algorithm::Md5.ha1("alice", "freya.example", "wonderland");
    let lookup = |_: &str, _: &str| {
        Some(UserSecret::Ha1 {
            algorithm: Algorithm::Md5,
            ha1: ha1.to_uppercase(),
        })
    };
    for (alg, ok) in [(Algorithm::Md5Sess, true), (Algorithm::Sha256, false)] {
        let mut s = challenger(&[alg]);
        let mut c = DigestClient::with_seed(Credentials::new("alice", "wonderland"), 2);
        let req = request("INVITE", URI, &[], "");
        let h = answer(&mut s, &mut c, t0(), &req, "INVITE", URI).unwrap();
        let r = s.verify(t0(), &request("INVITE", URI, &h, ""), lookup);
        if ok {
            assert!(r.is_ok(), "{alg}: {r:?}");
        } else {
            assert_eq!(
                r,
                Err(AuthFailure::NoSecretForAlgorithm {
                    username: "alice".into(),
                    algorithm: alg
                })
            );
        }
    }
}

#[test]
fn a_proxy_challenges_with_407() {
    let mut cfg = ChallengerConfig::new("proxy.example");
    cfg.proxy = true;
    cfg.secret = Some(b"fixed secret".to_vec());
    let mut s = Challenger::new(cfg.clone(), t0()).unwrap();
    let mut c = DigestClient::with_seed(Credentials::new("alice", "wonderland"), 4);
    let req = request("INVITE", URI, &[], "");
    let ch = parse(s.challenge_response(t0(), &req, None).unwrap()).unwrap();
    assert_eq!(ch.status_code(), Some(407));
    assert_eq!(ch.reason_phrase(), Some("Proxy Authentication Required"));
    assert!(ch.header("WWW-Authenticate").is_none());
    c.handle_challenge(&ch).unwrap();
    let h = c.authorize("INVITE", URI, b"").unwrap();
    assert_eq!(h[0].0, "Proxy-Authorization");
    // The same secret and epoch verify each other's nonces (a restart with a configured
    // secret keeps nonces valid only if the epoch is kept too).
    let mut twin = Challenger::new(cfg, t0()).unwrap();
    assert!(twin
        .verify(t0(), &request("INVITE", URI, &h, ""), users)
        .is_ok());
    // Credentials in Authorization do not count for a proxy.
    let as_www: Vec<_> = h
        .iter()
        .map(|(_, v)| ("Authorization", v.clone()))
        .collect();
    assert!(matches!(
        s.verify(t0(), &request("INVITE", URI, &as_www, ""), users),
        Err(AuthFailure::Missing { .. })
    ));
}

#[test]
fn config_is_validated() {
    let mut cfg = ChallengerConfig::new("");
    assert!(
        matches!(Challenger::new(cfg.clone(), t0()), Err(AuthError::InvalidConfig(m)) if m.contains("realm"))
    );
    cfg.realm = "r".into();
    cfg.algorithms.clear();
    assert!(matches!(cfg.validate(), Err(AuthError::InvalidConfig(m)) if m.contains("algorithms")));
    cfg.algorithms = vec![Algorithm::Md5];
    cfg.secret = Some(Vec::new());
    assert!(matches!(cfg.validate(), Err(AuthError::InvalidConfig(m)) if m.contains("secret")));
    cfg.secret = Some(b"k".to_vec());
    assert!(
        !format!("{cfg:?}").contains("[107]"),
        "the secret is not printed"
    );
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        // Printable text including quotes and backslashes (escaped on the wire) and UTF-8.
        proptest::string::string_regex("[ -~é€]{1,24}").unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Whatever the username, password and URI, our answer verifies with the right
        /// password and fails with any other.
        #[test]
        fn answers_verify_only_with_the_right_password(
            user in text(),
            password in text(),
            wrong in text(),
            alg in prop_oneof![Just(Algorithm::Md5), Just(Algorithm::Sha256), Just(Algorithm::Sha256Sess)],
            user_part in "[a-z0-9+]{1,12}",
        ) {
            prop_assume!(wrong != password);
            let uri = format!("sip:{user_part}@freya.example");
            let mut s = challenger(&[alg]);
            let req = request("INVITE", &uri, &[], "");
            let table = |u: &str, _: &str| (u == user).then(|| UserSecret::Password(password.clone()));
            let ch = parse(s.challenge_response(t0(), &req, None).unwrap()).unwrap();
            for (pw, ok) in [(&password, true), (&wrong, false)] {
                let mut c = DigestClient::with_seed(Credentials::new(user.clone(), pw.clone()), 5);
                c.handle_challenge(&ch).unwrap();
                let h = c.authorize("INVITE", &uri, b"").unwrap();
                let r = s.verify(t0(), &request("INVITE", &uri, &h, ""), table);
                prop_assert_eq!(r.is_ok(), ok, "{:?}", r);
                if !ok {
                    prop_assert!(
                        matches!(r, Err(AuthFailure::WrongResponse { .. })),
                        "{:?}",
                        r
                    );
                }
            }
        }
    }
}
