//! TCP: framing, keep-alive, connection reuse, idle close, the TLS seam, failures.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::message::{ErrorKind, StreamFramer};
use crate::transaction::{Remote, TransactionEvent};

use super::super::{Driver, TransportKind, TuEvent};
use super::udp::options_echo;
use super::*;

#[tokio::test]
async fn transport_tcp_options_echo_ipv4() {
    options_echo("127.0.0.1:0", TransportKind::Tcp).await;
}

#[tokio::test]
async fn transport_tcp_options_echo_ipv6() {
    options_echo("[::1]:0", TransportKind::Tcp).await;
}

fn tcp_options(call_id: &str, branch: &str) -> String {
    raw_request(
        "OPTIONS",
        &format!("SIP/2.0/TCP 127.0.0.1:9;branch={branch};rport"),
        call_id,
        "",
    )
}

#[tokio::test]
async fn transport_tcp_two_messages_in_one_write() {
    let (server, mut seen) = uas(config("127.0.0.1:0")).await;
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    let both = format!(
        "{}{}",
        tcp_options("two-1", "z9hG4bKtw1"),
        raw_request(
            "OPTIONS",
            "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtw2",
            "two-2",
            "body!"
        )
    );
    c.write(both.as_bytes()).await;
    let a = c.next().await.unwrap();
    let b = c.next().await.unwrap();
    assert_eq!((a.call_id(), b.call_id()), (Some("two-1"), Some("two-2")));
    assert!(a.status_code() == Some(200) && b.status_code() == Some(200));
    let (r1, _, _) = next_request(&mut seen).await;
    let (r2, s2, t2) = next_request(&mut seen).await;
    assert_eq!(r1.call_id(), Some("two-1"));
    assert_eq!(r2.body(), b"body!");
    assert_eq!((s2, t2), (c.local(), TransportKind::Tcp));
}

#[tokio::test]
async fn transport_tcp_one_message_in_many_writes() {
    let (server, _seen) = uas(config("127.0.0.1:0")).await;
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    let msg = raw_request(
        "OPTIONS",
        "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKsp1",
        "split-1",
        "0123456789",
    );
    for piece in msg.as_bytes().chunks(7) {
        c.write(piece).await;
    }
    let resp = c.next().await.unwrap();
    assert_eq!(resp.call_id(), Some("split-1"));
    assert_eq!(resp.status_code(), Some(200));
    assert_eq!(server.transport().stats().stream_received, 1);
}

#[tokio::test]
async fn transport_tcp_bad_content_length_closes_the_connection() {
    let (server, _seen) = uas(config("127.0.0.1:0")).await;
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    let bad = tcp_options("bcl-1", "z9hG4bKbcl").replace("Content-Length: 0", "Content-Length: -3");
    c.write(bad.as_bytes()).await;
    // The 400 (its essentials were readable), then the close.
    let rest = c.read_to_end().await;
    let mut f = StreamFramer::new();
    f.push(&rest);
    let resp = f.next_message().unwrap().expect("a 400 before the close");
    assert_eq!(resp.status_code(), Some(400));
    assert!(resp
        .header("Warning")
        .unwrap()
        .value()
        .contains("invalid_content_length"));
    assert_eq!(f.buffered(), 0, "nothing after the 400");
    let t = server.transport();
    assert_eq!(t.rejects().count(ErrorKind::InvalidContentLength), 1);
    assert_eq!(t.stats().framing_errors, 1);
    assert_eq!(t.connection_count(), 0);
}

#[tokio::test]
async fn transport_tcp_missing_content_length_closes_without_answer_for_a_response() {
    let (server, _seen) = uas(config("127.0.0.1:0")).await;
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    c.write(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKx\r\n\r\n")
        .await;
    assert!(
        c.read_to_end().await.is_empty(),
        "a response is never answered"
    );
    let t = server.transport();
    assert_eq!(t.rejects().count(ErrorKind::MissingContentLength), 1);
    assert_eq!(t.stats().dropped_responses, 1);
}

#[tokio::test]
async fn transport_tcp_crlf_ping_gets_a_pong() {
    let (server, _seen) = uas(config("127.0.0.1:0")).await;
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    c.write(b"\r\n\r\n").await;
    let mut pong = [0u8; 2];
    within("the pong", c.stream.read_exact(&mut pong))
        .await
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    // A ping split over two writes, then a message: one more pong, then its response.
    c.write(b"\r\n").await;
    c.write(b"\r\n").await;
    within("the second pong", c.stream.read_exact(&mut pong))
        .await
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    c.write(tcp_options("ping-1", "z9hG4bKpg1").as_bytes())
        .await;
    assert_eq!(c.next().await.unwrap().call_id(), Some("ping-1"));
    let stats = server.transport().stats();
    assert_eq!(stats.pings, 2);
    assert_eq!(server.transport().rejects().total(), 0);
}

#[tokio::test]
async fn transport_tcp_connection_reuse_both_ways() {
    let (server, mut seen) = uas(config("127.0.0.1:0")).await;
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    // The Via names a port nobody listens on: only the connection can carry the answer.
    c.write(tcp_options("reuse-1", "z9hG4bKre1").as_bytes())
        .await;
    let resp = c.next().await.unwrap();
    assert_eq!(resp.call_id(), Some("reuse-1"));
    let (_, source, _) = next_request(&mut seen).await;
    assert_eq!(source, c.local());

    // A request from the server to the client's address goes on the connection the client
    // opened (RFC 3261 §18), not on a new one.
    let key = server
        .send_request(
            options_from(&server, TransportKind::Tcp, "reuse-2"),
            Remote::tcp(c.local()),
        )
        .await
        .unwrap();
    let req = c.next().await.unwrap();
    assert_eq!(req.method(), Some("OPTIONS"));
    assert_eq!(req.call_id(), Some("reuse-2"));
    let answer = crate::message::response_to(&req, 200, "OK", &[]).unwrap();
    c.write(&answer).await;
    // The UAS helper forwards every event; the client transaction's final is among them.
    loop {
        match within("the 200 to the server's request", seen.recv()).await {
            Some(TuEvent::Transaction(e)) if e.key == key => {
                if let TransactionEvent::Final(m) = e.event {
                    assert_eq!(m.status_code(), Some(200));
                    break;
                }
            }
            Some(_) => continue,
            None => panic!("ended"),
        }
    }
    let stats = server.transport().stats();
    assert_eq!((stats.accepted, stats.connected), (1, 0));
    assert_eq!(server.transport().connection_count(), 1);
}

#[tokio::test]
async fn transport_tcp_response_reconnects_when_the_connection_is_gone() {
    // §18.2.2: the connection closed before the response; a new one goes to the sent-by
    // (here the same IP, so no received) at the sent-by port.
    let (server, mut events) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    let back = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let via = format!(
        "SIP/2.0/TCP 127.0.0.1:{};branch=z9hG4bKgone1",
        back.local_addr().unwrap().port()
    );
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    c.write(raw_request("OPTIONS", &via, "gone-1", "").as_bytes())
        .await;
    let key = loop {
        match within("the request", events.recv()).await {
            Some(TuEvent::Request { key, .. }) => break key,
            Some(_) => continue,
            None => panic!("ended"),
        }
    };
    c.stream.shutdown().await.unwrap();
    assert!(c.read_to_end().await.is_empty()); // the server closed its side too
    server.respond_with(key, 200, "OK", vec![]).await.unwrap();
    let (s, _) = within("the new connection", back.accept()).await.unwrap();
    let mut c2 = TcpClient {
        stream: s,
        framer: StreamFramer::new(),
    };
    let resp = c2.next().await.unwrap();
    assert_eq!(resp.call_id(), Some("gone-1"));
    assert_eq!(resp.status_code(), Some(200));
    assert_eq!(server.transport().stats().connected, 1);
}

#[tokio::test]
async fn transport_tcp_idle_connection_is_closed() {
    let mut cfg = config("127.0.0.1:0");
    cfg.tcp_idle_timeout = Duration::from_millis(200);
    let (server, _seen) = uas(cfg).await;
    let mut c = TcpClient::connect(server.transport().local_tcp().unwrap()).await;
    assert!(c.read_to_end().await.is_empty());
    let stats = server.transport().stats();
    assert_eq!(stats.idle_closed, 1);
    assert_eq!(server.transport().connection_count(), 0);
}

#[tokio::test]
async fn transport_tcp_connect_failure_reaches_the_transaction() {
    let (client, mut events) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    }; // dropped: nobody listens there now
    let key = client
        .send_request(
            options_from(&client, TransportKind::Tcp, "refused-1"),
            Remote::tcp(closed),
        )
        .await
        .unwrap();
    assert_eq!(
        final_response(&mut events, &key).await.unwrap_err(),
        TransactionEvent::TransportError
    );
    let stats = client.stats().await.unwrap();
    assert_eq!(stats.transport.connect_failures, 1);
    assert_eq!(stats.layer.transport_errors, 1);
}

#[tokio::test]
async fn transport_tcp_mtu_switch_sends_large_udp_requests_over_tcp() {
    let (server, mut seen) = uas(config("127.0.0.1:0")).await;
    let mut cfg = config("127.0.0.1:0");
    cfg.udp_mtu_switch = Some(1300);
    let (client, mut events) = Driver::spawn(cfg, timers()).await.unwrap();
    let small = options_from(&client, TransportKind::Udp, "mtu-small");
    let mut e = options_from(&client, TransportKind::Udp, "mtu-big").edit();
    e.add_header("X-Padding", &"p".repeat(1400)).unwrap();
    let big = e.finish().unwrap();
    // Same port for UDP and TCP on the server: the Remote says UDP for both.
    let to = Remote::udp(server.transport().local_udp().unwrap());
    let k1 = client.send_request(small, to).await.unwrap();
    assert_eq!(
        final_response(&mut events, &k1)
            .await
            .unwrap()
            .status_code(),
        Some(200)
    );
    let k2 = client.send_request(big, to).await.unwrap();
    assert_eq!(
        final_response(&mut events, &k2)
            .await
            .unwrap()
            .status_code(),
        Some(200)
    );
    let (r1, _, t1) = next_request(&mut seen).await;
    let (r2, _, t2) = next_request(&mut seen).await;
    assert_eq!((r1.call_id(), t1), (Some("mtu-small"), TransportKind::Udp));
    assert_eq!((r2.call_id(), t2), (Some("mtu-big"), TransportKind::Tcp));
    assert_eq!(r2.top_via().unwrap().transport, "TCP");
}

#[tokio::test]
async fn transport_tls_seam_runs_an_adopted_stream() {
    // A duplex pipe stands in for an established TLS stream.
    let (server, mut seen) = uas(config("127.0.0.1:0")).await;
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let peer = addr("192.0.2.77:5061");
    let id = server
        .transport()
        .adopt_stream(ours, peer, TransportKind::Tls)
        .unwrap();
    assert_eq!(
        server.transport().connection_to(peer),
        Some((id, TransportKind::Tls))
    );
    let req = raw_request(
        "OPTIONS",
        "SIP/2.0/TLS 192.0.2.77:5061;branch=z9hG4bKtls1",
        "tls-1",
        "",
    );
    theirs.write_all(req.as_bytes()).await.unwrap();
    let mut f = StreamFramer::new();
    let mut buf = [0u8; 4096];
    let resp = loop {
        if let Some(m) = f.next_message().unwrap() {
            break m;
        }
        let n = within("the response on the adopted stream", theirs.read(&mut buf))
            .await
            .unwrap();
        assert!(n > 0, "closed early");
        f.push(&buf[..n]);
    };
    assert_eq!(resp.call_id(), Some("tls-1"));
    let (_, source, kind) = next_request(&mut seen).await;
    assert_eq!((source, kind), (peer, TransportKind::Tls));
    // TLS is not dialled: with no adopted connection to an address, sending fails typed.
    let err = server
        .transport()
        .send(
            super::super::Destination {
                kind: TransportKind::Tls,
                addr: addr("192.0.2.78:5061"),
            },
            Bytes::from_static(b"x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            super::super::TransportError::Unsupported(TransportKind::Tls)
        ),
        "{err}"
    );
    // UDP over an adopted stream makes no sense, and is refused.
    let (s, _) = tokio::io::duplex(16);
    assert!(server
        .transport()
        .adopt_stream(s, peer, TransportKind::Udp)
        .is_err());
}
