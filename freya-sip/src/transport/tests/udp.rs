//! UDP: driver-to-driver transactions, §18.2.1 stamping, §18.2.2 routing, refusals.

use bytes::Bytes;
use tokio::net::UdpSocket;

use crate::message::{parse, ErrorKind};
use crate::transaction::Remote;

use super::super::{Driver, TransportKind, TuEvent};
use super::*;

/// Two drivers: an OPTIONS from one is answered 200 by the other's TU, over `kind`.
pub(super) async fn options_echo(bind: &str, kind: TransportKind) {
    let (server, mut seen) = uas(config(bind)).await;
    let (client, mut events) = Driver::spawn(config(bind), timers()).await.unwrap();
    let to = match kind {
        TransportKind::Udp => Remote::udp(server.transport().local_udp().unwrap()),
        _ => Remote::tcp(server.transport().local_tcp().unwrap()),
    };
    let key = client
        .send_request(options_from(&client, kind, "echo-1"), to)
        .await
        .unwrap();
    let resp = final_response(&mut events, &key).await.unwrap();
    assert_eq!(resp.status_code(), Some(200));
    assert_eq!(resp.call_id(), Some("echo-1"));

    let (req, source, transport) = next_request(&mut seen).await;
    assert_eq!(transport, kind);
    assert_eq!(req.method(), Some("OPTIONS"));
    // The client asked for rport; the server recorded the source port.
    let via = req.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(source.port())));
    assert_eq!(source.ip(), to.addr.ip());
    if kind == TransportKind::Udp {
        assert_eq!(source, client.transport().local_udp().unwrap());
    } else {
        // Reliable: one connection, opened by the client and reused for the response.
        assert_eq!(client.transport().stats().connected, 1);
        assert_eq!(server.transport().stats().accepted, 1);
    }
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn transport_udp_options_echo_ipv4() {
    options_echo("127.0.0.1:0", TransportKind::Udp).await;
}

#[tokio::test]
async fn transport_udp_options_echo_ipv6() {
    options_echo("[::1]:0", TransportKind::Udp).await;
}

async fn raw_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test]
async fn transport_udp_rport_and_received_for_another_source_port() {
    let (server, mut seen) = uas(config("127.0.0.1:0")).await;
    let to = server.transport().local_udp().unwrap();
    let client = raw_socket().await;
    let src = client.local_addr().unwrap();
    // Claims a host name and port 5999 (behind a NAT, say), asks for rport.
    let req = raw_request(
        "OPTIONS",
        "SIP/2.0/UDP pbx.example.invalid:5999;branch=z9hG4bKrp1;rport",
        "rp-1",
        "",
    );
    client.send_to(req.as_bytes(), to).await.unwrap();

    let (resp, from) = recv_msg(&client).await;
    assert_eq!(from, to);
    assert_eq!(resp.status_code(), Some(200));
    let via = resp.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(src.port())));
    assert_eq!(via.received(), Some("127.0.0.1"));

    let (req, source, _) = next_request(&mut seen).await;
    assert_eq!(source, src);
    assert_eq!(
        req.header("Via").unwrap().value(),
        format!(
            "SIP/2.0/UDP pbx.example.invalid:5999;branch=z9hG4bKrp1;rport={};received=127.0.0.1",
            src.port()
        )
    );
    // Nothing else was touched.
    assert_eq!(req.header("X-Freya-Test").unwrap().value(), "keep");
}

#[tokio::test]
async fn transport_udp_response_goes_to_sent_by_port_without_rport() {
    let (server, mut seen) = uas(config("127.0.0.1:0")).await;
    let to = server.transport().local_udp().unwrap();
    let sender = raw_socket().await;
    let listener = raw_socket().await; // the port the Via names
    let via = format!(
        "SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKsb1",
        listener.local_addr().unwrap().port()
    );
    sender
        .send_to(raw_request("OPTIONS", &via, "sb-1", "").as_bytes(), to)
        .await
        .unwrap();
    let (resp, _) = recv_msg(&listener).await;
    assert_eq!(resp.status_code(), Some(200));
    // Same host, no rport: the Via is left as it came.
    let (req, _, _) = next_request(&mut seen).await;
    assert_eq!(req.header("Via").unwrap().value(), via);
}

#[tokio::test]
async fn transport_udp_force_rport() {
    let mut c = config("127.0.0.1:0");
    c.force_rport = true;
    let (server, mut seen) = uas(c).await;
    let to = server.transport().local_udp().unwrap();
    let client = raw_socket().await;
    let src = client.local_addr().unwrap();
    // No rport asked for, and a sent-by port nobody listens on.
    let req = raw_request(
        "OPTIONS",
        "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKfr1",
        "fr-1",
        "",
    );
    client.send_to(req.as_bytes(), to).await.unwrap();
    let (resp, _) = recv_msg(&client).await;
    assert_eq!(resp.status_code(), Some(200));
    let (req, _, _) = next_request(&mut seen).await;
    let via = req.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(src.port())));
    assert_eq!(via.received(), Some("127.0.0.1"));
}

#[tokio::test]
async fn transport_udp_malformed_request_gets_400_with_warning_and_is_counted() {
    let (server, _seen) = uas(config("127.0.0.1:0")).await;
    let to = server.transport().local_udp().unwrap();
    let client = raw_socket().await;
    let bad = "OPTIONS sip:freya@example.invalid SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad1;rport\r\n\
               From: <sip:t@x>;tag=1\r\nTo: <sip:freya@example.invalid>\r\nCall-ID: bad-1\r\nCSeq: 1 OPTIONS\r\n\
               X-\u{130}d: 1\r\nContent-Length: 0\r\n\r\n";
    client.send_to(bad.as_bytes(), to).await.unwrap();
    let (resp, _) = recv_msg(&client).await;
    assert_eq!(resp.status_code(), Some(400));
    assert_eq!(resp.call_id(), Some("bad-1"));
    let warning = resp.header("Warning").unwrap().value().to_owned();
    assert!(
        warning.starts_with("399 freya \"invalid_header_name"),
        "{warning}"
    );
    assert!(warning.contains("byte offset"), "{warning}");
    let rejects = server.transport().rejects();
    assert_eq!(rejects.count(ErrorKind::InvalidHeaderName), 1);
    assert_eq!(rejects.total(), 1);
    assert_eq!(server.transport().stats().error_responses, 1);

    // A version we do not speak: 505.
    let v3 = raw_request(
        "OPTIONS",
        "SIP/3.0/UDP 127.0.0.1:9;branch=z9hG4bKbad2",
        "bad-2",
        "",
    )
    .replace("SIP/2.0\r\n", "SIP/3.0\r\n");
    client.send_to(v3.as_bytes(), to).await.unwrap();
    let (resp, _) = recv_msg(&client).await;
    assert_eq!(resp.status_code(), Some(505));
    assert_eq!(rejects.count(ErrorKind::UnsupportedVersion), 1);
}

#[tokio::test]
async fn transport_udp_malformed_response_gets_nothing() {
    let (server, _seen) = uas(config("127.0.0.1:0")).await;
    let to = server.transport().local_udp().unwrap();
    let client = raw_socket().await;
    let bad = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbr1\r\nFrom: <sip:t@x>;tag=1\r\n\
               To: <sip:f@y>;tag=2\r\nCall-ID: br-1\r\nCSeq: 1 OPTIONS\r\nX-\u{130}d: 1\r\nContent-Length: 0\r\n\r\n";
    client.send_to(bad.as_bytes(), to).await.unwrap();
    // A good request after it: the socket is served in order, so the first datagram back
    // answers this one if the bad response got nothing.
    let good = raw_request(
        "OPTIONS",
        "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbr2;rport",
        "br-2",
        "",
    );
    client.send_to(good.as_bytes(), to).await.unwrap();
    let (resp, _) = recv_msg(&client).await;
    assert_eq!(resp.call_id(), Some("br-2"));
    assert_eq!(resp.status_code(), Some(200));
    assert_eq!(
        server
            .transport()
            .rejects()
            .count(ErrorKind::InvalidHeaderName),
        1
    );
    let stats = server.transport().stats();
    assert_eq!(stats.dropped_responses, 1);
    assert_eq!(stats.error_responses, 0);
}

#[tokio::test]
async fn transport_udp_keepalive_is_not_a_refusal() {
    let (server, _seen) = uas(config("127.0.0.1:0")).await;
    let to = server.transport().local_udp().unwrap();
    let client = raw_socket().await;
    client.send_to(b"\r\n\r\n", to).await.unwrap();
    let good = raw_request(
        "OPTIONS",
        "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKka1;rport",
        "ka-1",
        "",
    );
    client.send_to(good.as_bytes(), to).await.unwrap();
    let (resp, _) = recv_msg(&client).await;
    assert_eq!(resp.call_id(), Some("ka-1"));
    assert_eq!(server.transport().stats().udp_keepalives, 1);
    assert_eq!(server.transport().rejects().total(), 0);
}

#[tokio::test]
async fn transport_udp_unmatchable_request_gets_400() {
    let (server, mut events) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    let to = server.transport().local_udp().unwrap();
    let client = raw_socket().await;
    // RFC 2543 style (no magic cookie) and no CSeq: no transaction can be keyed.
    let req = "OPTIONS sip:freya@example.invalid SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport\r\n\
               From: <sip:t@x>;tag=1\r\nTo: <sip:f@y>\r\nCall-ID: nc-1\r\nContent-Length: 0\r\n\r\n";
    client.send_to(req.as_bytes(), to).await.unwrap();
    let (resp, _) = recv_msg(&client).await;
    assert_eq!(resp.status_code(), Some(400));
    let w = resp.header("Warning").unwrap().value();
    assert!(w.contains("CSeq"), "{w}");
    assert_eq!(server.stats().await.unwrap().layer.invalid, 1);
    assert!(events.try_recv().is_err(), "nothing reaches the TU");
}

#[tokio::test]
async fn transport_udp_stateless_send_and_2xx_ack() {
    // The TU's own messages (ACK for a 2xx): straight to the address given.
    let (a, _ea) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    let (b, mut eb) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    let ack = parse(Bytes::from(raw_request(
        "ACK",
        &a.sent_by().via(TransportKind::Udp, "z9hG4bKack1"),
        "ack-1",
        "",
    )))
    .unwrap();
    a.send_stateless(&ack, Remote::udp(b.transport().local_udp().unwrap()))
        .await
        .unwrap();
    match within("the ACK", eb.recv()).await {
        Some(TuEvent::Ack {
            ack,
            source,
            transport,
        }) => {
            assert_eq!(ack.call_id(), Some("ack-1"));
            assert_eq!(source, a.transport().local_udp().unwrap());
            assert_eq!(transport, TransportKind::Udp);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn transport_udp_invite_with_cancel() {
    // An INVITE the TU leaves ringing, then CANCEL: 200 for the CANCEL, Cancelled for the
    // INVITE, which the TU answers 487 — all over the wire.
    let (server, mut se) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    let (client, mut ce) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    let to = Remote::udp(server.transport().local_udp().unwrap());
    let me = client.sent_by().clone();
    let invite = parse(Bytes::from(raw_request(
        "INVITE",
        &me.via(TransportKind::Udp, &client.new_branch()),
        "cx-1",
        "",
    )))
    .unwrap();
    let key = client.send_request(invite, to).await.unwrap();
    let skey = loop {
        match within("the INVITE", se.recv()).await {
            Some(TuEvent::Request { key, .. }) => break key,
            Some(_) => continue,
            None => panic!("ended"),
        }
    };
    server
        .respond_with(skey.clone(), 180, "Ringing", vec![])
        .await
        .unwrap();
    // Wait for the 180 before cancelling (the CANCEL would wait for it anyway, §9.1).
    loop {
        match within("the 180", ce.recv()).await {
            Some(TuEvent::Transaction(e))
                if e.key == key
                    && matches!(
                        e.event,
                        crate::transaction::TransactionEvent::Provisional(_)
                    ) =>
            {
                break
            }
            Some(_) => continue,
            None => panic!("ended"),
        }
    }
    let ckey = client.cancel(key.clone(), vec![]).await.unwrap();
    loop {
        match within("the Cancelled event", se.recv()).await {
            Some(TuEvent::Transaction(e))
                if e.key == skey
                    && matches!(e.event, crate::transaction::TransactionEvent::Cancelled(_)) =>
            {
                break
            }
            Some(_) => continue,
            None => panic!("ended"),
        }
    }
    server
        .respond_with(skey, 487, "Request Terminated", vec![])
        .await
        .unwrap();
    assert_eq!(
        final_response(&mut ce, &ckey).await.unwrap().status_code(),
        Some(200)
    );
    assert_eq!(
        final_response(&mut ce, &key).await.unwrap().status_code(),
        Some(487)
    );
}

#[tokio::test]
async fn transport_advertised_address_in_via_and_contact() {
    // Behind a NAT: we advertise a name and port nobody can reach from here; the peer
    // still answers, because it records received/rport and routes by them.
    let mut c = config("127.0.0.1:0");
    c.advertised_host = Some("sbc.example.invalid".into());
    c.advertised_port = Some(5999);
    let (client, mut events) = Driver::spawn(c, timers()).await.unwrap();
    assert_eq!(client.sent_by().to_string(), "sbc.example.invalid:5999");
    let (server, mut seen) = uas(config("127.0.0.1:0")).await;
    let key = client
        .send_request(
            options_from(&client, TransportKind::Udp, "adv-1"),
            Remote::udp(server.transport().local_udp().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        final_response(&mut events, &key)
            .await
            .unwrap()
            .status_code(),
        Some(200)
    );
    let (req, source, _) = next_request(&mut seen).await;
    let via = req.top_via().unwrap();
    assert_eq!(via.sent_by(), ("sbc.example.invalid", Some(5999)));
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(source.port())));
    let contact = req.contacts().next().unwrap();
    assert_eq!(contact.uri, "sip:freya@sbc.example.invalid:5999");
}

#[tokio::test]
async fn transport_driver_never_waits_on_a_slow_tu() {
    // A TU channel of 2, ten requests, and a TU that asks for stats before reading any
    // event: the driver keeps answering commands (it queues events, and stops reading
    // the socket while the backlog is long).
    let mut c = config("127.0.0.1:0");
    c.inbound_queue = 2;
    let (server, mut events) = Driver::spawn(c, timers()).await.unwrap();
    let to = server.transport().local_udp().unwrap();
    let client = raw_socket().await;
    for i in 0..10 {
        let via = format!("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKslow{i};rport");
        client
            .send_to(
                raw_request("OPTIONS", &via, &format!("slow-{i}"), "").as_bytes(),
                to,
            )
            .await
            .unwrap();
    }
    within("stats from a driver with a full TU channel", server.stats())
        .await
        .unwrap();
    let mut ids = Vec::new();
    while ids.len() < 10 {
        if let Some(TuEvent::Request { request, .. }) = within("the requests", events.recv()).await
        {
            ids.push(request.call_id().unwrap().to_owned());
        }
    }
    let want: Vec<String> = (0..10).map(|i| format!("slow-{i}")).collect();
    assert_eq!(ids, want, "in order, none lost");
}
