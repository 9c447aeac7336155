//! The bridge client over TLS (`wss://`), against freya's echo agent behind a rustls server
//! on loopback, with a private CA made at test time (rcgen): the handshake succeeds only when
//! the CA is given ([`ClientConfig::with_root_ca_pem`]), a 1 kHz caller tone comes back at
//! 1 kHz through TLS, the agent reads the exact call metadata, and every failure (unknown
//! issuer, wrong host name, a plain agent behind a `wss://` URL, malformed PEM) is a typed
//! error naming the problem; TLS settings prepared once ([`ClientTls`]) serve every dial.
//! Loopback only; each test is bounded by timeouts.

mod bridge_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bridge_common::*;
use freya_media::bridge::echo::{echo_over, serve_echo, EchoAgent, EchoNote};
use freya_media::bridge::{
    connect, BridgeConfig, ClientConfig, ClientTls, CloseReason, LegError, ProtocolKind,
};
use freya_media::codec::SampleRate;
use futures_util::StreamExt;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A private CA and a server certificate it signed for `names` (DNS names or IP addresses).
struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn make_pki(names: &[&str]) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!(
            "freya test CA {}",
            CA_SERIAL.fetch_add(1, Ordering::Relaxed)
        ),
    );
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&leaf_key, &*ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// Makes each test CA's name unique: webpki picks a trust anchor by subject name, so two CAs
/// with one name would fail as `BadSignature` instead of `UnknownIssuer`.
static CA_SERIAL: AtomicUsize = AtomicUsize::new(0);

/// The test agent's usual names.
const LOCAL: &[&str] = &["localhost", "127.0.0.1"];

/// What the TLS agent reports: each echo note, and each failed TLS handshake (its error).
struct TlsAgent {
    port: u16,
    notes: mpsc::UnboundedReceiver<EchoNote>,
    tls_failures: mpsc::UnboundedReceiver<String>,
}

/// Starts freya's echo agent (protocol detected per connection) behind rustls on
/// 127.0.0.1:0, presenting `pki`'s server certificate.
async fn tls_echo_agent(pki: &Pki) -> TlsAgent {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (note_tx, notes) = mpsc::unbounded_channel();
    let (fail_tx, tls_failures) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, note_tx, fail_tx) = (acceptor.clone(), note_tx.clone(), fail_tx.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        let _ = fail_tx.send(e.to_string());
                        return;
                    }
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                let mut agent = EchoAgent::new(None);
                let _ = echo_over(&mut ws, &mut agent, |n| {
                    let _ = note_tx.send(n);
                })
                .await;
                // After its hang-up (a Close sent), wait for the client's Close reply before
                // dropping the connection (RFC 6455 §7.1.1): dropping at once can reset the
                // connection under the client's next media write, and its leg would end as
                // `Failed { "Broken pipe" }` instead of `AgentClosed`.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            });
        }
    });
    TlsAgent {
        port,
        notes,
        tls_failures,
    }
}

/// Connects over `wss://{host}:PORT` trusting the test CA, sends 1 s of a 1 kHz tone, checks
/// the echo's frequency, then DTMF `0` makes the agent hang up. Returns the agent's notes and
/// the leg's close reason.
async fn tone_round_trip(
    config: BridgeConfig,
    host: &str,
    call_id: &str,
) -> (Vec<EchoNote>, CloseReason) {
    let pki = make_pki(LOCAL);
    let mut agent = tls_echo_agent(&pki).await;
    let client = ClientConfig::new(format!("wss://{host}:{}/telephony/ws", agent.port))
        .with_root_ca_pem(pki.ca_pem.clone())
        .unwrap();
    let meta = test_metadata(call_id);
    let leg = connect(&client, config, meta.clone())
        .await
        .unwrap_or_else(|e| panic!("wss connect failed: {e}"));
    assert_eq!(leg.call_id, call_id);
    let (sender, mut rx) = split(leg);
    let caller = spawn_caller(sender.clone(), 50);
    let mut rec = Recording::default();
    expect_echoed_tone(&mut rx, &mut rec).await;

    let reason = hang_up_with_digit_0(&sender, &mut rx, &mut rec, Duration::from_secs(5)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), caller).await;
    let mut notes = Vec::new();
    while let Ok(n) = agent.notes.try_recv() {
        notes.push(n);
    }
    assert!(
        agent.tls_failures.try_recv().is_err(),
        "the agent saw a failed TLS handshake"
    );
    assert_eq!(
        notes.first(),
        Some(&EchoNote::Started {
            protocol: config_kind(call_id),
            metadata: Some(meta)
        }),
        "the agent must read the exact metadata first, over TLS"
    );
    (notes, reason)
}

/// The protocol each call id of this file uses (ids name their protocol).
fn config_kind(call_id: &str) -> ProtocolKind {
    if call_id.starts_with("jambonz") {
        ProtocolKind::Jambonz
    } else {
        ProtocolKind::Twilio
    }
}

#[tokio::test]
async fn twilio_over_wss_with_a_private_ca_echoes_the_tone() {
    let (notes, reason) =
        tone_round_trip(BridgeConfig::twilio(), "localhost", "twilio-wss-1").await;
    assert!(notes.contains(&EchoNote::Dtmf("0".into())), "{notes:?}");
    assert_eq!(
        reason,
        CloseReason::AgentClosed {
            code: Some(1000),
            reason: String::new()
        }
    );
}

/// jambonz offers its subprotocol; this agent does not echo it, so the client retries
/// without it: the retry reuses the TLS settings. Binary L16 media over TLS, to an IP host
/// (the certificate's IP address SAN).
#[tokio::test]
async fn jambonz_over_wss_to_an_ip_address_echoes_the_tone() {
    let (_, reason) = tone_round_trip(
        BridgeConfig::jambonz(SampleRate::Hz16000),
        "127.0.0.1",
        "jambonz-wss-1",
    )
    .await;
    assert_eq!(reason, CloseReason::AgentHangup { reason: None });
}

/// Without the private CA (webpki-roots only) the agent's certificate is refused: a
/// `Connect` error that says TLS and names the unknown issuer, and the agent saw the
/// handshake fail (no WebSocket was opened).
#[tokio::test]
async fn wss_without_the_ca_is_refused_with_the_certificate_error() {
    let pki = make_pki(LOCAL);
    let mut agent = tls_echo_agent(&pki).await;
    let url = format!("wss://localhost:{}/telephony/ws", agent.port);
    let err = connect(
        &ClientConfig::new(&url),
        BridgeConfig::twilio(),
        test_metadata("no-ca"),
    )
    .await
    .unwrap_err();
    let LegError::Connect { url: got, reason } = &err else {
        panic!("expected Connect, got {err:?}");
    };
    assert_eq!(got, &url);
    assert!(
        reason.starts_with("TLS handshake failed:") && reason.contains("UnknownIssuer"),
        "{reason}"
    );
    let seen = tokio::time::timeout(Duration::from_secs(3), agent.tls_failures.recv())
        .await
        .expect("the agent never saw the handshake fail");
    assert!(seen.is_some());
    assert!(agent.notes.try_recv().is_err(), "a WebSocket was opened");
}

/// The CA is trusted but the agent's certificate names another host: refused, naming
/// the host asked for and the one presented. Trusting an unrelated CA does not help either.
#[tokio::test]
async fn wss_with_the_wrong_name_or_the_wrong_ca_is_refused() {
    let pki = make_pki(&["agent.example"]);
    let agent = tls_echo_agent(&pki).await;
    let url = format!("wss://localhost:{}/ws", agent.port);
    let client = ClientConfig::new(&url)
        .with_root_ca_pem(pki.ca_pem.clone())
        .unwrap();
    let err = connect(&client, BridgeConfig::twilio(), test_metadata("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LegError::Connect { reason, .. }
            if reason.contains("not valid for name \"localhost\"") && reason.contains("agent.example")),
        "{err:?}"
    );

    let unrelated = make_pki(LOCAL);
    let client = ClientConfig::new(&url)
        .with_root_ca_pem(unrelated.ca_pem)
        .unwrap();
    let err = connect(&client, BridgeConfig::twilio(), test_metadata("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LegError::Connect { reason, .. } if reason.contains("UnknownIssuer")),
        "{err:?}"
    );
}

/// A `wss://` URL pointing at a plain-WebSocket agent: the TLS handshake fails (the reply is
/// HTTP, not a TLS record) and the error says so, well within the connect timeout.
#[tokio::test]
async fn wss_to_a_plain_agent_fails_as_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_echo(listener, None, None));
    let mut client = ClientConfig::new(format!("wss://{addr}/ws"));
    client.connect_timeout = Duration::from_secs(3);
    let t = std::time::Instant::now();
    let err = connect(&client, BridgeConfig::twilio(), test_metadata("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LegError::Connect { reason, .. }
            if reason.starts_with("TLS handshake failed: the agent closed the connection")),
        "{err:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
}

/// Malformed PEM never panics: `with_root_ca_pem` returns `RootCa` naming the problem, and a
/// bad value set on the field directly fails `connect` the same way before any dialing.
#[tokio::test]
async fn a_malformed_root_ca_is_a_typed_error() {
    let pki = make_pki(LOCAL);
    let body: String = pki
        .ca_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not PEM at all",
            b"hello, I am not a certificate".to_vec(),
            "no -----BEGIN CERTIFICATE-----",
        ),
        ("empty", Vec::new(), "in 0 bytes"),
        (
            "a key but no certificate",
            rcgen::KeyPair::generate()
                .unwrap()
                .serialize_pem()
                .into_bytes(),
            "no -----BEGIN CERTIFICATE-----",
        ),
        (
            "no end line",
            format!("-----BEGIN CERTIFICATE-----\n{body}\n").into_bytes(),
            "certificate 1: no \"-----END CERTIFICATE-----\" line",
        ),
        (
            "bad base64",
            b"-----BEGIN CERTIFICATE-----\n!!!!not*base64!!!!\n-----END CERTIFICATE-----\n"
                .to_vec(),
            "certificate 1: base64",
        ),
        (
            "base64 of something that is not X.509",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n".to_vec(),
            "certificate 1:",
        ),
        (
            "second certificate truncated",
            format!(
                "{}-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                pki.ca_pem,
                &body[..body.len() / 2]
            )
            .into_bytes(),
            "certificate 2:",
        ),
    ];
    for (what, pem, expect) in cases {
        let err = ClientConfig::new("wss://localhost/ws")
            .with_root_ca_pem(pem.clone())
            .unwrap_err();
        let LegError::RootCa { reason } = &err else {
            panic!("{what}: expected RootCa, got {err:?}");
        };
        assert!(
            reason.contains(expect),
            "{what}: {reason:?} lacks {expect:?}"
        );
        assert!(
            err.to_string().starts_with("bad agent root CA (PEM): "),
            "{err}"
        );

        // Set directly (skipping the check): refused by connect, before dialing port 1.
        let mut c = ClientConfig::new("wss://127.0.0.1:1/ws");
        c.root_ca_pem = Some(pem);
        let at_connect = tokio::time::timeout(
            Duration::from_secs(3),
            connect(&c, BridgeConfig::twilio(), test_metadata("x")),
        )
        .await
        .expect("connect hung")
        .unwrap_err();
        assert_eq!(at_connect, err, "{what}");
    }

    // The good PEM, twice (two calls add up), with a key section in between: accepted.
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let c = ClientConfig::new("wss://localhost/ws")
        .with_root_ca_pem(format!("{}{key}", pki.ca_pem))
        .unwrap()
        .with_root_ca_pem(make_pki(LOCAL).ca_pem)
        .unwrap();
    let both = String::from_utf8(c.root_ca_pem.unwrap()).unwrap();
    assert_eq!(both.matches("-----BEGIN CERTIFICATE-----").count(), 2);
}

/// Counts the server certificates it checks, then lets rustls' webpki verifier decide.
#[derive(Debug)]
struct CountingVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    checked: Arc<AtomicUsize>,
}

impl rustls::client::danger::ServerCertVerifier for CountingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.checked.fetch_add(1, Ordering::SeqCst);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Opens a leg over `client` and checks the agent read the start message; the leg is then
/// dropped (the agent sees the socket close).
async fn dial_ok(client: &ClientConfig, agent: &mut TlsAgent, call_id: &str) {
    let leg = connect(client, BridgeConfig::twilio(), test_metadata(call_id))
        .await
        .unwrap_or_else(|e| panic!("{call_id}: wss connect failed: {e}"));
    // Notes of an earlier dial's connection (its end) may come first.
    let started = async {
        while let Some(note) = agent.notes.recv().await {
            if matches!(&note, EchoNote::Started { metadata: Some(m), .. } if m.call_id == call_id)
            {
                return true;
            }
        }
        false
    };
    let started = tokio::time::timeout(Duration::from_secs(5), started).await;
    assert_eq!(
        started,
        Ok(true),
        "{call_id}: the agent never read the start"
    );
    drop(leg);
}

/// One prepared [`ClientTls`] serves every dial that carries it: dials whose
/// `ClientConfig` has no `root_ca_pem` succeed only through the prepared trust (the private
/// CA), two dials through one rustls config run its one verifier twice (the same object,
/// not a rebuild), and the prepared settings win over a `root_ca_pem` on the same config.
#[tokio::test]
async fn prepared_tls_is_built_once_and_shared_by_every_dial() {
    let pki = make_pki(LOCAL);
    let mut agent = tls_echo_agent(&pki).await;
    let url = format!("wss://localhost:{}/telephony/ws", agent.port);

    // Through ClientTls::new: the CA's trust lives only in the prepared settings.
    let tls = ClientTls::new(Some(pki.ca_pem.as_bytes())).unwrap();
    for i in 0..2 {
        let client = ClientConfig::new(&url).with_tls(tls.clone());
        assert!(client.root_ca_pem.is_none());
        dial_ok(&client, &mut agent, &format!("prepared-{i}")).await;
    }

    // A host-built rustls config with a counting verifier (no session resumption, so each
    // handshake checks the certificate): two dials, one config, two checks by that verifier.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.chain[1].clone()).unwrap();
    let checked = Arc::new(AtomicUsize::new(0));
    let verifier = CountingVerifier {
        inner: rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .unwrap(),
        checked: Arc::clone(&checked),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    let shared = ClientTls::from_rustls(Arc::clone(&config));
    assert!(Arc::ptr_eq(shared.rustls(), &config));
    let a = ClientConfig::new(&url).with_tls(shared.clone());
    let b = ClientConfig::new(&url).with_tls(shared);
    assert_eq!(a.tls, b.tls, "one build, two configs");
    dial_ok(&a, &mut agent, "counted-0").await;
    dial_ok(&b, &mut agent, "counted-1").await;
    assert_eq!(checked.load(Ordering::SeqCst), 2);

    // The prepared settings are the whole trust decision: webpki-roots only refuses the
    // agent even though root_ca_pem names its CA.
    let client = ClientConfig::new(&url)
        .with_root_ca_pem(pki.ca_pem.clone())
        .unwrap()
        .with_tls(ClientTls::new(None).unwrap());
    let err = connect(&client, BridgeConfig::twilio(), test_metadata("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LegError::Connect { reason, .. } if reason.contains("UnknownIssuer")),
        "{err:?}"
    );
    assert!(agent.tls_failures.recv().await.is_some());
}
