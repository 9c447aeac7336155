//! freya's own WebSocket opening handshake (RFC 6455 §4, `bridge/upgrade/`) seen from the
//! wire: hand-written peers on loopback send and check exact bytes. Server mode answers
//! each refusal as a complete HTTP response with the status codes and bodies it always had;
//! client mode sends its headers, names a non-101 answer in its error, retries jambonz
//! without the subprotocol; and on both sides a frame that arrives in the same read as the
//! head (the leftover) reaches the leg. Each test is bounded by timeouts.

mod bridge_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bridge_common::test_metadata;
use freya_media::bridge::{
    connect, AuthRequest, BridgeConfig, BridgeEvent, BridgeLeg, BridgeServer, ClientConfig,
    CloseReason, LegError, LegOutput, ServerConfig,
};
use freya_media::codec::SampleRate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

const LIMIT: Duration = Duration::from_secs(5);

/// A client request for `path` with the RFC 6455 §1.3 key; `extra` lines replace none.
fn request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: freya\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

const KEY_LINE: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// Sends `bytes` to `addr` and reads the whole answer (a refusal closes the connection).
async fn exchange(addr: SocketAddr, bytes: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(LIMIT, tcp.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

/// The whole answer `status` with plain-text `body`, as freya writes a refusal.
fn refusal(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn server_refusals_keep_their_codes_and_bodies_as_whole_http_answers() {
    let config = ServerConfig {
        authorizer: Some(Arc::new(|r: &AuthRequest| {
            r.token.as_deref() == Some("s3cret")
        })),
        ..ServerConfig::default()
    };
    let server = BridgeServer::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let pending = server
        .expect_call(test_metadata("c1"), BridgeConfig::twilio())
        .unwrap();
    let cases = [
        (
            request("/ws", KEY_LINE),
            refusal("404 Not Found", "path must be /call/{call_id}"),
        ),
        (
            request("/call/nope?token=s3cret", KEY_LINE),
            refusal("404 Not Found", "no such call"),
        ),
        (
            request("/call/c1?token=wrong", KEY_LINE),
            refusal("401 Unauthorized", "token refused"),
        ),
        (
            request("/call/c1?token=s3cret", ""),
            refusal("400 Bad Request", "no Sec-WebSocket-Key header"),
        ),
        (
            request(
                "/call/c1",
                &format!("{KEY_LINE}Authorization: Bearer s3cret\r\n"),
            )
            .replace("Connection: Upgrade", "Connection: keep-alive"),
            refusal(
                "400 Bad Request",
                "Connection: \"keep-alive\" is not a list with \"Upgrade\"",
            ),
        ),
    ];
    for (req, want) in cases {
        assert_eq!(exchange(addr, &req).await, want, "{req}");
    }
    let wrong_version = request("/call/c1", KEY_LINE).replace("Version: 13", "Version: 8");
    let answer = exchange(addr, &wrong_version).await;
    assert!(
        answer.starts_with("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"),
        "{answer}"
    );

    // The right token (as a bearer header): 101 with the RFC's accept value, no subprotocol.
    let mut agent = TcpStream::connect(addr).await.unwrap();
    let ok = request(
        "/call/c1",
        &format!("{KEY_LINE}Authorization: Bearer s3cret\r\n"),
    );
    agent.write_all(ok.as_bytes()).await.unwrap();
    assert_eq!(
        read_head(&mut agent).await,
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    // A second agent for the same call while the first is being handed over: 409.
    let second = exchange(addr, &request("/call/c1?token=s3cret", KEY_LINE)).await;
    assert_eq!(second, refusal("409 Conflict", "call already connected"));
    let leg = pending.wait(LIMIT).await.unwrap();
    assert_eq!(leg.call_id, "c1");
}

/// Reads an HTTP head byte by byte (nothing past it).
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let b = tokio::time::timeout(LIMIT, tcp.read_u8())
            .await
            .expect("no HTTP head")
            .unwrap();
        head.push(b);
    }
    String::from_utf8(head).unwrap()
}

/// The value of header `name` in `head`.
fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A hand-written agent on 127.0.0.1:0: for each connection, sends the request head it read
/// to `heads` and writes `answer(head)` (the 101 and maybe more bytes), then holds the
/// socket until the test ends.
async fn raw_agent(
    answer: impl Fn(&str) -> Vec<u8> + Send + 'static,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, heads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut tcp, _)) = listener.accept().await {
            let head = read_head(&mut tcp).await;
            tcp.write_all(&answer(&head)).await.unwrap();
            let _ = tx.send(head);
            held.push(tcp);
        }
    });
    (addr, heads)
}

/// The 101 for `head`'s key, with `extra` header lines.
fn switching(head: &str, extra: &str) -> Vec<u8> {
    let key = header(head, "Sec-WebSocket-Key").expect("no key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        derive_accept_key(key.as_bytes())
    )
    .into_bytes()
}

/// Waits for the leg's end and returns why.
async fn closed(leg: &mut BridgeLeg) -> CloseReason {
    tokio::time::timeout(LIMIT, async {
        loop {
            match leg.recv().await {
                Some(LegOutput::Event(BridgeEvent::Closed { reason })) => return reason,
                Some(_) => {}
                None => panic!("the leg ended without Closed"),
            }
        }
    })
    .await
    .expect("the leg never ended")
}

/// A Close frame, code 1000 (RFC 6455 §5.5.1): a server's is unmasked, a client's masked
/// (with a zero key, so the payload reads the same).
const SERVER_CLOSE: [u8; 4] = [0x88, 0x02, 0x03, 0xE8];
const CLIENT_CLOSE: [u8; 8] = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8];

#[tokio::test]
async fn the_client_sends_its_headers_and_keeps_a_frame_sent_with_the_101() {
    // The agent's Close frame goes out in the same write as its 101: the client reads both
    // at once, and the frame must reach the leg (else the leg would wait forever).
    let (addr, mut heads) = raw_agent(|head| {
        let mut bytes = switching(head, "");
        bytes.extend_from_slice(&SERVER_CLOSE);
        bytes
    })
    .await;
    let client = ClientConfig::new(format!("ws://{addr}/telephony/ws?slot=3"))
        .with_header("Authorization", "Bearer s3cret")
        .with_header("Origin", "https://freya.example");
    let mut leg = connect(&client, BridgeConfig::twilio(), test_metadata("x"))
        .await
        .unwrap();
    let head = heads.recv().await.unwrap();
    assert!(
        head.starts_with("GET /telephony/ws?slot=3 HTTP/1.1\r\n"),
        "{head}"
    );
    assert_eq!(header(&head, "Host"), Some(addr.to_string().as_str()));
    assert_eq!(header(&head, "Authorization"), Some("Bearer s3cret"));
    assert_eq!(header(&head, "Origin"), Some("https://freya.example"));
    assert_eq!(header(&head, "Sec-WebSocket-Version"), Some("13"));
    assert_eq!(header(&head, "Sec-WebSocket-Protocol"), None);
    assert_eq!(
        closed(&mut leg).await,
        CloseReason::AgentClosed {
            code: Some(1000),
            reason: String::new()
        }
    );
}

#[tokio::test]
async fn jambonz_retries_without_its_subprotocol_when_the_agent_does_not_echo_it() {
    let (addr, mut heads) = raw_agent(|head| switching(head, "")).await;
    let client = ClientConfig::new(format!("ws://{addr}/ws"));
    let leg = connect(
        &client,
        BridgeConfig::jambonz(SampleRate::Hz8000),
        test_metadata("j"),
    )
    .await
    .unwrap();
    let first = heads.recv().await.unwrap();
    let second = heads.recv().await.unwrap();
    assert_eq!(
        header(&first, "Sec-WebSocket-Protocol"),
        Some("audio.jambonz.org")
    );
    assert_eq!(header(&second, "Sec-WebSocket-Protocol"), None, "{second}");
    drop(leg);

    // An agent that echoes it: one connection, no retry.
    let (addr, mut heads) =
        raw_agent(|head| switching(head, "Sec-WebSocket-Protocol: audio.jambonz.org\r\n")).await;
    let client = ClientConfig::new(format!("ws://{addr}/ws"));
    let _leg = connect(
        &client,
        BridgeConfig::jambonz(SampleRate::Hz8000),
        test_metadata("j"),
    )
    .await
    .unwrap();
    assert!(heads.recv().await.is_some());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(heads.try_recv().is_err(), "a second connection was made");
}

#[tokio::test]
async fn a_refused_or_wrong_answer_is_named_in_the_connect_error() {
    let cases: [(&str, &str); 3] = [
        (
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
            "HTTP error: 401 Unauthorized",
        ),
        (
            "HTTP/1.1 404 No Such Path\r\nContent-Length: 0\r\n\r\n",
            "HTTP error: 404 No Such Path",
        ),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: bm9wZQ==\r\n\r\n",
            "Sec-WebSocket-Accept \"bm9wZQ==\", expected",
        ),
    ];
    for (answer, says) in cases {
        let (addr, _heads) = raw_agent(move |_| answer.as_bytes().to_vec()).await;
        let url = format!("ws://{addr}/ws");
        let err = connect(
            &ClientConfig::new(&url),
            BridgeConfig::twilio(),
            test_metadata("x"),
        )
        .await
        .unwrap_err();
        let LegError::Connect { url: got, reason } = &err else {
            panic!("expected Connect, got {err:?}");
        };
        assert_eq!(got, &url);
        assert!(reason.starts_with(says), "{reason}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot connect to agent {url}: {says}")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_server_keeps_a_frame_sent_with_the_request() {
    let server = BridgeServer::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let pending = server
        .expect_call(test_metadata("c2"), BridgeConfig::twilio())
        .unwrap();
    let mut agent = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut bytes = request("/call/c2", KEY_LINE).into_bytes();
    bytes.extend_from_slice(&CLIENT_CLOSE);
    agent.write_all(&bytes).await.unwrap();
    let mut leg = pending.wait(LIMIT).await.unwrap();
    assert_eq!(
        closed(&mut leg).await,
        CloseReason::AgentClosed {
            code: Some(1000),
            reason: String::new()
        }
    );
}
